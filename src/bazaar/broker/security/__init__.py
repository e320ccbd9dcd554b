"""Bazaar Log's security: SASL (PLAIN, SCRAM-SHA-256/512) credentials, the SCRAM server
exchange, and simple allow-only ACLs, all kept as files under the broker's data dir.

Pure parts (no sockets): the connection shell feeds client tokens to a :class:`SaslSession`
and asks an :class:`Authorizer` before it hands a request's data to anyone.
"""

from bazaar.broker.security.acls import (
    OPERATIONS,
    RESOURCE_TYPES,
    Acl,
    AclStore,
    Authorizer,
)
from bazaar.broker.security.credentials import (
    MECHANISMS,
    CredentialStore,
    ScramCredential,
    derive_credential,
)
from bazaar.broker.security.sasl import AuthFailure, SaslSession
from bazaar.broker.security.scram import ScramError, ScramServer

__all__ = [
    "MECHANISMS",
    "OPERATIONS",
    "RESOURCE_TYPES",
    "Acl",
    "AclStore",
    "AuthFailure",
    "Authorizer",
    "CredentialStore",
    "SaslSession",
    "ScramCredential",
    "ScramError",
    "ScramServer",
    "derive_credential",
]
