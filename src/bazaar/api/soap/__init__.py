"""SOAP over the shop's services (lxml): a WSDL 1.1, document/literal wrapped, generated from
the operations table; SOAP 1.1 and 1.2; faults carrying the shared error code; XML read with
entities, DTDs and the network off."""

from bazaar.api.soap.app import refusal, soap_routes
from bazaar.api.soap.wsdl import document as wsdl_document

__all__ = ["refusal", "soap_routes", "wsdl_document"]
