"""gRPC over the shop's services: ``proto/bazaar/shop/v1/shop.proto``, a grpcio aio server
with the health and reflection services, native status codes with ``google.rpc`` details.
The generated code (``gen/``) is committed; ``python -m bazaar.api.rpc.codegen --check``
(run by a test) proves it is what the proto generates."""

from bazaar.api.rpc.errors import DETAILS_KEY
from bazaar.api.rpc.server import SERVICE, Authenticate, GrpcServer, RpcLimits

__all__ = ["DETAILS_KEY", "SERVICE", "Authenticate", "GrpcServer", "RpcLimits"]
