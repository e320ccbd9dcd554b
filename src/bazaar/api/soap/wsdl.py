"""The WSDL 1.1 document (document/literal wrapped), generated from :mod:`model`: one
portType, a SOAP 1.1 and a SOAP 1.2 binding, one service with a port for each."""

from __future__ import annotations

from lxml import etree

from bazaar.api.soap.model import OPERATIONS, SERVICE, TNS, TYPES, Field

WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
SOAP11_BINDING = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
NS = {"wsdl": WSDL, "xsd": XSD, "soap": SOAP11_BINDING, "soap12": SOAP12_BINDING, "tns": TNS}


def _q(ns: str, name: str) -> str:
    return f"{{{NS[ns]}}}{name}"


def _sequence(parent: etree._Element, fields: tuple[Field, ...]) -> None:
    seq = etree.SubElement(parent, _q("xsd", "sequence"))
    for f in fields:
        el = etree.SubElement(seq, _q("xsd", "element"), name=f.name,
                              type=f"xsd:{f.kind}" if f.simple else f"tns:{f.kind}")
        if f.optional or f.many:
            el.set("minOccurs", "0")
        if f.many:
            el.set("maxOccurs", "unbounded")


def _binding(defs: etree._Element, ns: str, name: str) -> None:
    binding = etree.SubElement(defs, _q("wsdl", "binding"), name=name, type="tns:ShopPortType")
    etree.SubElement(binding, _q(ns, "binding"), style="document", transport=HTTP_TRANSPORT)
    for op in OPERATIONS:
        o = etree.SubElement(binding, _q("wsdl", "operation"), name=op.name)
        etree.SubElement(o, _q(ns, "operation"), soapAction=op.action, style="document")
        for part in ("input", "output"):
            io = etree.SubElement(o, _q("wsdl", part))
            etree.SubElement(io, _q(ns, "body"), use="literal")
        fault = etree.SubElement(o, _q("wsdl", "fault"), name="ShopFault")
        etree.SubElement(fault, _q(ns, "fault"), name="ShopFault", use="literal")


def document(location: str) -> bytes:
    """The WSDL, its ports at ``location`` (the URL the client reached ``/soap`` at)."""
    defs = etree.Element(_q("wsdl", "definitions"), nsmap=NS, name=SERVICE,
                         targetNamespace=TNS)
    etree.SubElement(defs, _q("wsdl", "documentation")).text = (
        "The Bazaar shop: the same use cases as its REST, GraphQL and gRPC APIs. Every "
        "operation needs Authorization: Bearer <token> (POST /auth/token) or an RFC 9421 "
        "signature in the HTTP headers; faults carry a ShopFault detail whose code is the "
        "shared error code.")
    types = etree.SubElement(defs, _q("wsdl", "types"))
    schema = etree.SubElement(types, _q("xsd", "schema"), targetNamespace=TNS,
                              elementFormDefault="qualified")
    for name, fields in TYPES.items():
        _sequence(etree.SubElement(schema, _q("xsd", "complexType"), name=name), fields)
    for op in OPERATIONS:
        for element, fields in ((op.name, op.inputs), (f"{op.name}Response", op.outputs)):
            el = etree.SubElement(schema, _q("xsd", "element"), name=element)
            _sequence(etree.SubElement(el, _q("xsd", "complexType")), fields)
    etree.SubElement(schema, _q("xsd", "element"), name="ShopFault", type="tns:ShopFault")
    for name, element in [(f"{op.name}{io}", f"{op.name}{suffix}") for op in OPERATIONS
                          for io, suffix in (("Request", ""), ("Response", "Response"))] + [
            ("ShopFault", "ShopFault")]:
        message = etree.SubElement(defs, _q("wsdl", "message"), name=name)
        etree.SubElement(message, _q("wsdl", "part"), name="parameters",
                         element=f"tns:{element}")
    port_type = etree.SubElement(defs, _q("wsdl", "portType"), name="ShopPortType")
    for op in OPERATIONS:
        o = etree.SubElement(port_type, _q("wsdl", "operation"), name=op.name)
        etree.SubElement(o, _q("wsdl", "documentation")).text = op.doc
        etree.SubElement(o, _q("wsdl", "input"), message=f"tns:{op.name}Request")
        etree.SubElement(o, _q("wsdl", "output"), message=f"tns:{op.name}Response")
        etree.SubElement(o, _q("wsdl", "fault"), name="ShopFault", message="tns:ShopFault")
    _binding(defs, "soap", "ShopSoap11")
    _binding(defs, "soap12", "ShopSoap12")
    service = etree.SubElement(defs, _q("wsdl", "service"), name=SERVICE)
    for port, binding, ns in (("ShopSoap11Port", "ShopSoap11", "soap"),
                              ("ShopSoap12Port", "ShopSoap12", "soap12")):
        p = etree.SubElement(service, _q("wsdl", "port"), name=port, binding=f"tns:{binding}")
        etree.SubElement(p, _q(ns, "address"), location=location)
    return bytes(etree.tostring(defs, xml_declaration=True, encoding="utf-8",
                                pretty_print=True))
