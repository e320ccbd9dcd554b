"""One connection's SASL exchange (KIP-43 handshake, KIP-152 SaslAuthenticate): the
mechanism chosen at SaslHandshake, then client tokens in, server tokens out, until the
connection is authenticated as ``User:<name>`` or refused with :class:`AuthFailure`."""

from __future__ import annotations

from bazaar.broker.security.credentials import CredentialStore
from bazaar.broker.security.scram import ScramError, ScramServer


class AuthFailure(Exception):
    """Authentication failed; the message is for the log and the client (no secrets)."""


class SaslSession:
    def __init__(self, credentials: CredentialStore, mechanisms: tuple[str, ...]) -> None:
        self.credentials = credentials
        self.enabled = mechanisms
        self.mechanism: str | None = None
        self.principal: str | None = None
        self.user: str | None = None  # the name claimed, for the log
        self._scram: ScramServer | None = None

    def handshake(self, mechanism: str) -> bool:
        """Choose the mechanism; False if it is not enabled (or a handshake came already)."""
        if self.mechanism is not None or mechanism not in self.enabled:
            return False
        self.mechanism = mechanism
        if mechanism.startswith("SCRAM-"):
            self._scram = ScramServer(mechanism,
                                      lambda user: self.credentials.keys(user, mechanism))
        return True

    def step(self, token: bytes) -> bytes:
        """One client token; the server's answer. :attr:`principal` is set once done."""
        if self.mechanism is None or self.principal is not None:
            raise AuthFailure("SaslAuthenticate without a SaslHandshake first")
        if self._scram is not None:
            try:
                if self._scram.user is None:
                    answer = self._scram.first(token)
                    self.user = self._scram.user
                    return answer
                answer = self._scram.final(token)
            except ScramError as exc:
                raise AuthFailure(f"{self.mechanism}: {exc}") from exc
            self.principal = f"User:{self._scram.user}"
            return answer
        return self._plain(token)

    def _plain(self, token: bytes) -> bytes:
        parts = token.split(b"\0")
        if len(parts) != 3 or len(token) > 1024:
            raise AuthFailure("PLAIN: malformed message")
        try:
            authzid, user, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError as exc:
            raise AuthFailure("PLAIN: not UTF-8") from exc
        self.user = user
        if authzid and authzid != user:
            raise AuthFailure("PLAIN: authorization identity differs from the user")
        if not self.credentials.check_password(user, password):
            raise AuthFailure(f"PLAIN: wrong user name or password for {user!r}")
        self.principal = f"User:{user}"
        return b""
