"""``/soap``: ``GET /soap?wsdl`` (public) serves the WSDL; ``POST /soap`` takes a SOAP 1.1
(``text/xml``) or 1.2 (``application/soap+xml``) envelope, behind the same identity
middleware as REST; every failure is a SOAP fault."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bazaar.api.outcomes import Outcome, classify, invalid
from bazaar.api.principal import SCOPE_KEY
from bazaar.api.refusals import Rendered
from bazaar.api.soap import envelope, wsdl
from bazaar.api.soap.model import BY_NAME
from bazaar.api.soap.service import ShopSoap
from bazaar.shop.services import Shop
from bazaar.shop.services.checkout import CheckoutStarter

WSDL_TYPE = "text/xml; charset=utf-8"


def _fault(version: str, outcome: Outcome, mismatch: bool = False) -> Response:
    status = 500 if mismatch else envelope.fault_status(version, outcome)
    return Response(envelope.fault(version, outcome, mismatch), status,
                    media_type=envelope.CONTENT_TYPE[version])


def soap_routes(shop: Shop, starter: CheckoutStarter | None = None) -> list[BaseRoute]:
    handlers = ShopSoap(shop, starter).table()

    async def describe(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return Response("GET /soap?wsdl for the WSDL; POST SOAP envelopes to /soap\n",
                            404, media_type="text/plain")
        location = str(request.url.replace(query=""))
        return Response(wsdl.document(location), media_type=WSDL_TYPE)

    async def serve(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        version = envelope.version_of(content_type)
        kind = content_type.split(";")[0].strip().lower()
        if kind not in ("text/xml", "application/soap+xml"):
            return _fault(version, invalid("Content-Type", "must be text/xml (SOAP 1.1) or "
                                                           "application/soap+xml (SOAP 1.2)"))
        try:
            parsed = envelope.parse(await request.body(), content_type)
        except envelope.EnvelopeError as exc:
            return _fault(exc.version, invalid("Envelope", str(exc)), exc.version_mismatch)
        op = BY_NAME.get(parsed.operation)
        if op is None:
            return _fault(parsed.version, invalid("Body", f"no operation {parsed.operation}"))
        action = request.headers.get("soapaction", "").strip('"')
        if parsed.version == envelope.SOAP11 and action and action != op.action:
            return _fault(parsed.version, invalid(
                "SOAPAction", f"is {action!r}, but the body is {op.name} ({op.action})"))
        try:
            args = envelope.read(parsed.body, op.inputs)
            result = await handlers[op.name](request.scope.get(SCOPE_KEY), args)
        except Exception as exc:
            return _fault(parsed.version, classify(exc))
        return Response(envelope.response(parsed.version, op.name, op.outputs, result),
                        media_type=envelope.CONTENT_TYPE[parsed.version])

    return [Route("/soap", describe, methods=["GET"]), Route("/soap", serve, methods=["POST"])]


def refusal(outcome: Outcome, headers: Mapping[str, str]) -> Rendered:
    """A refusal before SOAP ran (no identity, body too large…) as a fault."""
    version = envelope.version_of(headers.get("content-type", ""))
    return Rendered(envelope.fault(version, outcome), envelope.CONTENT_TYPE[version])
