"""SOAP 1.1 and 1.2 envelopes: read safely, write responses and faults.

Reading: the body was already bounded by ``bazaar.web``'s limit before anything parsed it;
lxml parses with entity resolution, DTD loading and network access off, and any document
type declaration is refused (SOAP forbids DTDs: SOAP 1.2 part 1 §5, SOAP 1.1 §3), so a
billion-laughs bomb or an external entity (XXE) is a fault, never an expansion or a read.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from bazaar.api.outcomes import Outcome
from bazaar.api.soap.model import TNS, TYPES, Field
from bazaar.shop.domain import InvalidInput

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPE = {SOAP11: "text/xml; charset=utf-8",
                SOAP12: "application/soap+xml; charset=utf-8"}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_comments=True,
                          remove_pis=True)

#: Shared outcome codes the caller caused (SOAP 1.1 Client, 1.2 Sender); the rest: Server.
CALLER_CODES = frozenset({"BAD_USER_INPUT", "IDEMPOTENCY_KEY_REUSED", "NOT_FOUND", "SOLD_OUT",
                          "CONFLICT", "FORBIDDEN", "UNAUTHENTICATED", "RATE_LIMITED"})


class EnvelopeError(Exception):
    """Not a SOAP message we can read; ``version_mismatch`` for a wrong envelope namespace."""

    def __init__(self, message: str, version: str = SOAP11,
                 version_mismatch: bool = False) -> None:
        super().__init__(message)
        self.version = version
        self.version_mismatch = version_mismatch


@dataclass(frozen=True)
class Request:
    version: str
    operation: str
    body: etree._Element


def version_of(content_type: str) -> str:
    return SOAP12 if content_type.split(";")[0].strip().lower() == "application/soap+xml" \
        else SOAP11


def parse(raw: bytes, content_type: str) -> Request:
    expected = version_of(content_type)
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise EnvelopeError(f"not well-formed XML: {exc}", expected) from None
    if root.getroottree().docinfo.doctype or root.getroottree().docinfo.internalDTD:
        raise EnvelopeError("a SOAP message must not contain a document type declaration",
                            expected)
    ns = etree.QName(root).namespace
    if etree.QName(root).localname != "Envelope" or ns not in (SOAP11, SOAP12):
        raise EnvelopeError("the document is not a SOAP Envelope", expected,
                            version_mismatch=etree.QName(root).localname == "Envelope")
    if ns != expected:
        raise EnvelopeError(f"a SOAP {'1.2' if ns == SOAP12 else '1.1'} envelope sent as "
                            f"{content_type or 'no content type'}", expected,
                            version_mismatch=True)
    body = root.find(f"{{{ns}}}Body")
    children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise EnvelopeError("the Body must hold exactly one operation element", ns)
    op = etree.QName(children[0])
    if op.namespace != TNS:
        raise EnvelopeError(f"unknown operation {op.text} (namespace {TNS} expected)", ns)
    return Request(ns, op.localname, children[0])


def _simple(f: Field, text: str, where: str) -> Any:
    try:
        match f.kind:
            case "long" | "int":
                value = int(text.strip())
                bound = 2**63 if f.kind == "long" else 2**31
                if not -bound <= value < bound:
                    raise ValueError
                return value
            case "boolean":
                if text.strip() not in ("true", "false", "1", "0"):
                    raise ValueError
                return text.strip() in ("true", "1")
            case "date":
                return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(where, f"must be an xsd:{f.kind}") from None
    return text


def read(element: etree._Element, fields: tuple[Field, ...], prefix: str = "") -> dict[str, Any]:
    """The children of ``element`` as ``fields`` say (python names as keys); unknown,
    repeated or missing elements and wrong types are :class:`InvalidInput` naming them."""
    by_name = {f.name: f for f in fields}
    found: dict[str, Any] = {f.python: [] for f in fields if f.many}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        f = by_name.get(name)
        where = f"{prefix}{name}"
        if f is None or etree.QName(child).namespace != TNS:
            raise InvalidInput(where, "is not an element of this operation")
        if f.simple:
            value = _simple(f, child.text or "", where)
        else:
            value = read(child, TYPES[f.kind], f"{where}.")
        if f.many:
            found[f.python].append(value)
        elif f.python in found:
            raise InvalidInput(where, "may be given at most once")
        else:
            found[f.python] = value
    for f in fields:
        if not f.optional and not f.many and f.python not in found:
            raise InvalidInput(f"{prefix}{f.name}", "is required")
    return found


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def write(parent: etree._Element, fields: tuple[Field, ...], source: Any) -> None:
    """``source``'s attributes (or keys) as the elements ``fields`` say."""
    for f in fields:
        value = source.get(f.python) if isinstance(source, Mapping) else \
            getattr(source, f.python, None)
        values = list(value or ()) if f.many else [value]
        for item in values:
            if item is None:
                continue
            el = etree.SubElement(parent, f"{{{TNS}}}{f.name}")
            if f.simple:
                el.text = _text(item)
            else:
                write(el, TYPES[f.kind], item)


def _envelope(version: str) -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{version}}}Envelope", nsmap={"soap": version, "tns": TNS})
    return env, etree.SubElement(env, f"{{{version}}}Body")


def _bytes(env: etree._Element) -> bytes:
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def response(version: str, operation: str, fields: tuple[Field, ...], result: Any) -> bytes:
    env, body = _envelope(version)
    write(etree.SubElement(body, f"{{{TNS}}}{operation}Response"), fields, result)
    return _bytes(env)


def fault(version: str, outcome: Outcome, version_mismatch: bool = False) -> bytes:
    """A fault: SOAP 1.1 ``faultcode``/``faultstring``/``detail``, SOAP 1.2
    ``Code``/``Subcode``/``Reason``/``Detail``; the detail is a ``tns:ShopFault`` with the
    shared code and its details."""
    env, body = _envelope(version)
    caller = outcome.code in CALLER_CODES
    node = etree.SubElement(body, f"{{{version}}}Fault")
    if version == SOAP11:
        code = "VersionMismatch" if version_mismatch else ("Client" if caller else "Server")
        etree.SubElement(node, "faultcode").text = f"soap:{code}"
        etree.SubElement(node, "faultstring").text = outcome.message
        detail = etree.SubElement(node, "detail")
    else:
        code_el = etree.SubElement(node, f"{{{version}}}Code")
        code = "VersionMismatch" if version_mismatch else ("Sender" if caller else "Receiver")
        etree.SubElement(code_el, f"{{{version}}}Value").text = f"soap:{code}"
        sub = etree.SubElement(code_el, f"{{{version}}}Subcode")
        etree.SubElement(sub, f"{{{version}}}Value").text = f"tns:{outcome.code}"
        reason = etree.SubElement(node, f"{{{version}}}Reason")
        text = etree.SubElement(reason, f"{{{version}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = outcome.message
        detail = etree.SubElement(node, f"{{{version}}}Detail")
    info = {"code": outcome.code, "message": outcome.message, "field": outcome.field,
            "retryable": outcome.retryable, **{k: outcome.details.get(k) for k in
                                               ("reason", "requested", "available")}}
    write(etree.SubElement(detail, f"{{{TNS}}}ShopFault"), TYPES["ShopFault"], info)
    return _bytes(env)


def fault_status(version: str, outcome: Outcome) -> int:
    """SOAP over HTTP: 1.1 faults are 500; 1.2 sender faults 400, receiver faults 500. An
    HTTP-level refusal (401, 413, 429, 503) keeps its own status."""
    if outcome.code == "UNAUTHENTICATED":
        return 401
    if outcome.code == "RATE_LIMITED":
        return 429
    if outcome.code == "UNAVAILABLE":
        return 503
    if version == SOAP12 and outcome.code in CALLER_CODES:
        return 400
    return 500
