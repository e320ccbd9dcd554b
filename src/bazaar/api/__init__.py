"""The REST API (Starlette + msgspec) over the shop services, with a generated OpenAPI 3.1
document at ``/openapi.json``, a ``/docs`` page, and RFC 9457 problem+json errors."""

from bazaar.api.app import Identity, create_app
from bazaar.api.principal import SCOPE_KEY, Principal
from bazaar.api.problems import PROBLEM_JSON, ShopProblem

__all__ = [
    "PROBLEM_JSON",
    "SCOPE_KEY",
    "Identity",
    "Principal",
    "ShopProblem",
    "create_app",
]
