"""OpenAPI 3.1 from the operations table and the msgspec/dataclass types it names."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from bazaar.api.params import Param, query_params
from bazaar.api.problems import PROBLEM_JSON, ShopProblem
from bazaar.api.routes import Operation
from bazaar.api.schemas import Id

_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")
#: The vendored Swagger UI (``static/swagger-ui/VENDORED.md``), served at /docs/static/.
SWAGGER_UI_VERSION = "5.35.0"
SCOPES = {"shop:read": "Read the catalogue, your orders and reservations",
          "shop:write": "Place and cancel orders, book and cancel rooms",
          "shop:admin": "Create products and room types, restock, read statistics"}
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad request (a field missing)",
                401: "No identity",
                403: "Missing scope", 404: "Not found", 409: "Conflict (sold out, or retry)",
                413: "Body too large", 429: "Too many failed logins (Retry-After)",
                422: "Invalid input (field named)", 503: "Database unavailable (Retry-After)"}
AUTH_TEXT = ("Authenticate with `Authorization: Bearer <token>` (from `POST /auth/token`) or "
             "sign the request as an app (RFC 9421 hmac-sha256; `bazaar auth apps create`).")


def openapi_path(path: str) -> str:
    """``/products/{product_id:int}`` → ``/products/{product_id}``."""
    return _CONVERTER.sub(r"{\1}", path)


def _param(p: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required,
                           "schema": p.schema}
    if p.description:
        out["description"] = p.description
    if p.explode is not None:
        out["explode"] = p.explode
    return out


_ID_SCHEMA = msgspec.json.schema(Id)
_ETAG = {"description": "A strong validator of this representation (send it back in "
                        "If-None-Match).", "schema": {"type": "string"}}
_LINK = {"description": 'The next page, `<…?after=N>; rel="next"` (RFC 8288), when there is '
                        "one (the same as next_after).", "schema": {"type": "string"}}
_IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                  "description": "ETags you hold: 304 Not Modified if one is current.",
                  "schema": {"type": "string"}}


def build(operations: Sequence[Operation], *, title: str, version: str) -> dict[str, Any]:
    """The whole document, as plain JSON values."""
    kinds: list[Any] = [ShopProblem]
    for op in operations:
        for kind in (op.body, op.response):
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    schemas, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}")
    schema_of = dict(zip(map(repr, kinds), schemas, strict=True))
    problem_ref = {"content": {PROBLEM_JSON: {"schema": schema_of[repr(ShopProblem)]}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item: dict[str, Any] = {"summary": op.summary, "operationId": op.id,
                                "parameters": [_param(p) for p in op.params]}
        if op.query is not None:
            item["parameters"] += query_params(op.query)
        for name in _CONVERTER.findall(op.path):
            item["parameters"].insert(0, {"name": name, "in": "path", "required": True,
                                          "schema": _ID_SCHEMA})
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {
                media: {"schema": schema_of[repr(op.body)]} for media in op.media}}
        ok: dict[str, Any] = {"description": _STATUS_TEXT.get(op.status, "OK")}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": schema_of[repr(op.response)]}}
        responses: dict[str, Any] = {str(op.status): ok}
        if op.conditional:
            item["parameters"].append(_IF_NONE_MATCH)
            ok["headers"] = {"ETag": _ETAG}
            responses["304"] = {"description": "Not modified: your copy (If-None-Match) is "
                                               "current", "headers": {"ETag": _ETAG}}
        if op.paged:
            ok.setdefault("headers", {})["Link"] = _LINK
        errors = set(op.errors) | {503}
        if op.body is not None:
            errors |= {413, 422}
        if op.query is not None or op.params or _CONVERTER.search(op.path):
            errors.add(422)  # every input is checked against the bounds documented here
        if op.scope is not None:
            item["security"] = [{"oauth2": [op.scope]}, {"bearer": []}, {"signature": []}]
            item["description"] = f"Needs an identity with scope `{op.scope}`."
            errors |= {401, 403}
        for status in sorted(errors):
            responses[str(status)] = {"description": _STATUS_TEXT[status], **problem_ref}
        links = _links(op, operations)
        if links:
            ok["links"] = links
        item["responses"] = responses
        paths.setdefault(openapi_path(op.path), {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Bazaar's shop. Errors are RFC 9457 problem+json. "
                                f"{AUTH_TEXT}"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "description": "Log in with a username and "
                           "password (the OAuth 2 password grant) for a Bearer token.",
                           "flows": {"password": {"tokenUrl": "/auth/token",
                                                  "refreshUrl": "/auth/refresh",
                                                  "scopes": SCOPES}}},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "An EdDSA access token from POST /auth/token."},
                "signature": {"type": "apiKey", "in": "header", "name": "Signature",
                              "description": "RFC 9421 hmac-sha256 over @method, @authority, "
                                             "@path, @query, content-type, content-digest; "
                                             "with Signature-Input (created, nonce, keyid = "
                                             "APP ID) and Content-Digest."}},
        },
    }


def _links(op: Operation, operations: Sequence[Operation]) -> dict[str, Any]:
    """OpenAPI links from a create (201 at ``/things``) to what takes its id
    (``/things/{thing_id}…``): clients and fuzzers can follow the new resource."""
    if op.status != 201 or _CONVERTER.search(op.path):
        return {}
    out: dict[str, Any] = {}
    for other in operations:
        names = _CONVERTER.findall(other.path)
        if len(names) == 1 and other.path.startswith(op.path + "/{"):
            out[other.id] = {"operationId": other.id,
                             "parameters": {names[0]: "$response.body#/id"}}
    return out


def docs_page(operations: Sequence[Operation], title: str) -> str:
    """Swagger UI (vendored, served from the package: no network needed) above a plain list
    of the operations."""
    rows = "\n".join(
        f"<tr><td><code>{op.method}</code></td><td><code>{html.escape(openapi_path(op.path))}"
        f"</code></td><td>{html.escape(op.summary)}</td><td>{html.escape(op.scope or '-')}"
        f"</td></tr>" for op in operations)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css?v={SWAGGER_UI_VERSION}">
<style>body{{font-family:sans-serif;margin:0}} section{{padding:1em 2em}}
table{{border-collapse:collapse}} td{{padding:.2em .8em;border-bottom:1px solid #ddd}}</style>
</head><body>
<section><h1>{html.escape(title)} API</h1>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are
<code>application/problem+json</code>. Authentication: <code>Authorization: Bearer</code>
(from <code>POST /auth/token</code>; <em>Authorize</em> below logs you in with a username and
password) or an RFC 9421 signature.</p>
<table><tr><th>method</th><th>path</th><th>what</th><th>scope</th></tr>
{rows}
</table></section>
<div id="swagger"></div>
<script src="/docs/static/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script>window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger",
  oauth2RedirectUrl: location.origin + "/docs/static/oauth2-redirect.html",
  persistAuthorization: false}});
</script>
</body></html>
"""
