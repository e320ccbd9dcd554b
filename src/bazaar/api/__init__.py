"""The REST API (Starlette + msgspec) over the shop services, with a generated OpenAPI 3.1."""
