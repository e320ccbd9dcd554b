"""The gRPC server (grpcio aio) over the shop's services: ``bazaar.shop.v1.Shop``, the
standard health service and server reflection, on its own port.

Handlers take the request's raw bytes and parse them here, so a truncated or garbled message
is an ``INVALID_ARGUMENT`` with a ``BadRequest`` detail (grpcio would call a failed
deserialisation ``INTERNAL``). Every call needs ``authorization: Bearer …`` metadata, checked
by the same authenticator as the HTTP styles; its deadline is honoured (a call whose deadline
has passed is refused before the use case runs; a running one is cancelled when it passes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from google.protobuf import message as pb_message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bazaar.api.outcomes import Outcome, classify, invalid
from bazaar.api.principal import Principal
from bazaar.api.rpc.errors import DETAILS_KEY, status_of
from bazaar.api.rpc.gen import shop_pb2
from bazaar.api.rpc.service import ShopRpc
from bazaar.shop.services import Shop
from bazaar.shop.services.checkout import CheckoutStarter

log = logging.getLogger("bazaar.api.rpc")

SERVICE = "bazaar.shop.v1.Shop"


class Authenticate(Protocol):
    """``bazaar.auth``'s ``Authenticator.authenticate`` (method, path, query, headers, body,
    client) → principal, raising its typed errors."""

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str],
                 body: bytes | None, client: str) -> Awaitable[Principal]: ...


@dataclass(frozen=True)
class RpcLimits:
    """The largest message the server reads (before decoding it) and sends."""

    max_receive_bytes: int = 64 * 1024
    max_send_bytes: int = 4 * 1024 * 1024
    max_concurrent_streams: int = 100


class Refused(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


async def _abort(context: grpc.aio.ServicerContext[Any, Any], outcome: Outcome) -> None:
    status = status_of(outcome)
    await context.abort(grpc.StatusCode(_code(status.code)), outcome.message,
                        trailing_metadata=((DETAILS_KEY, status.SerializeToString()),))


def _code(number: int) -> tuple[int, str]:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code.value  # type: ignore[no-any-return]
    return grpc.StatusCode.UNKNOWN.value  # type: ignore[no-any-return]


class Handlers:
    """The method table: for each RPC of the service, raw bytes in, the parsed request and
    the caller to :class:`ShopRpc`, the response (or a native error) out."""

    def __init__(self, rpc: ShopRpc, authenticate: Authenticate) -> None:
        self.rpc = rpc
        self.authenticate = authenticate

    async def caller(self, context: grpc.aio.ServicerContext[Any, Any],
                     method: str) -> Principal:
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())
                    if isinstance(v, str)}
        headers = {"authorization": metadata["authorization"]} \
            if "authorization" in metadata else {}
        return await self.authenticate("POST", f"/{SERVICE}/{method}", "", headers, None,
                                       context.peer() or "-")

    def parse_request(self, kind: type[pb_message.Message], raw: bytes) -> Any:
        try:
            return kind.FromString(raw)
        except (pb_message.DecodeError, RuntimeWarning, ValueError) as exc:
            raise Refused(invalid("request", f"is not a valid {kind.DESCRIPTOR.full_name} "
                                             f"message ({exc})")) from None

    def _deadline_passed(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        remaining = context.time_remaining()
        return remaining is not None and remaining <= 0

    def unary(self, method: str, kind: type[pb_message.Message],
              call: Callable[[Principal, Any], Awaitable[pb_message.Message]]
              ) -> grpc.RpcMethodHandler:
        async def handle(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                if self._deadline_passed(context):
                    await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                        "the deadline passed before the call started")
                request = self.parse_request(kind, raw)
                caller = await self.caller(context, method)
                remaining = context.time_remaining()
                return await asyncio.wait_for(call(caller, request), remaining)
            except TimeoutError:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed")
            except Refused as exc:
                await _abort(context, exc.outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                await _abort(context, classify(exc))

        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=None, response_serializer=_serialize)

    def stream(self, method: str, kind: type[pb_message.Message],
               call: Callable[[Principal, Any], AsyncIterator[pb_message.Message]]
               ) -> grpc.RpcMethodHandler:
        async def handle(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]
                         ) -> AsyncIterator[Any]:
            try:
                request = self.parse_request(kind, raw)
                caller = await self.caller(context, method)
                async for item in call(caller, request):
                    if self._deadline_passed(context):
                        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                            "the deadline passed")
                    yield item
            except Refused as exc:
                await _abort(context, exc.outcome)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                await _abort(context, classify(exc))

        return grpc.unary_stream_rpc_method_handler(
            handle, request_deserializer=None, response_serializer=_serialize)

    def table(self) -> dict[str, grpc.RpcMethodHandler]:
        r, pb = self.rpc, shop_pb2
        return {
            "GetProduct": self.unary("GetProduct", pb.GetProductRequest, r.get_product),
            "ListProducts": self.unary("ListProducts", pb.ListProductsRequest,
                                       r.list_products),
            "GetRoom": self.unary("GetRoom", pb.GetRoomRequest, r.get_room),
            "SearchRooms": self.unary("SearchRooms", pb.SearchRoomsRequest, r.search_rooms),
            "ReserveRoom": self.unary("ReserveRoom", pb.ReserveRoomRequest, r.reserve_room),
            "CancelReservation": self.unary("CancelReservation", pb.CancelReservationRequest,
                                            r.cancel_reservation),
            "PlaceOrder": self.unary("PlaceOrder", pb.PlaceOrderRequest, r.place_order),
            "GetOrder": self.unary("GetOrder", pb.GetOrderRequest, r.get_order),
            "ListOrders": self.unary("ListOrders", pb.ListOrdersRequest, r.list_orders),
            "StreamOrders": self.stream("StreamOrders", pb.StreamOrdersRequest,
                                        r.stream_orders),
            "CancelOrder": self.unary("CancelOrder", pb.CancelOrderRequest, r.cancel_order),
            "StartCheckout": self.unary("StartCheckout", pb.StartCheckoutRequest,
                                        r.start_checkout),
            "GetCheckout": self.unary("GetCheckout", pb.GetCheckoutRequest, r.get_checkout),
        }


def _serialize(message: pb_message.Message) -> bytes:
    return message.SerializeToString()


class GrpcServer:
    """The shop's gRPC server; ``await start()`` binds and returns the port (0: a free one)."""

    def __init__(self, shop: Shop, authenticate: Authenticate,
                 starter: CheckoutStarter | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, limits: RpcLimits | None = None) -> None:
        self.limits = limits or RpcLimits()
        self.address = f"[{host}]" if ":" in host else host
        self.port = port
        self.handlers = Handlers(ShopRpc(shop, starter), authenticate)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None

    async def start(self) -> int:
        options = [("grpc.max_receive_message_length", self.limits.max_receive_bytes),
                   ("grpc.max_send_message_length", self.limits.max_send_bytes),
                   ("grpc.max_concurrent_streams", self.limits.max_concurrent_streams),
                   ("grpc.so_reuseport", 0)]
        server = grpc.aio.server(options=options)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, self.handlers.table()),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        bound = server.add_insecure_port(f"{self.address}:{self.port}")
        if bound == 0:
            raise OSError(f"the gRPC port {self.address}:{self.port} is not available")
        await server.start()
        for name in ("", SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.server, self.port = server, int(bound)
        log.info("gRPC serving on %s:%d", self.address, bound)
        return self.port

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.server is not None:
            await self.health.enter_graceful_shutdown()
            await self.server.stop(grace_s)
            self.server = None
