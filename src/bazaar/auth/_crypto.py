"""The master key, and AES-256-GCM sealing of secrets at rest (app keys, JWT signing keys).

The associated data binds each ciphertext to where it belongs (app, key id, version), so a
sealed key copied onto another row does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bazaar.auth._errors import AuthError, ConfigError
from bazaar.auth._secret import Secret

_NONCE = 12


class MasterKey:
    """A 32-byte AES-256-GCM key; its repr is redacted."""

    __slots__ = ("_aead", "_key")

    def __init__(self, key: Secret[bytes]) -> None:
        if len(key.reveal()) != 32:
            raise ConfigError("the master key must be 32 bytes (base64 of 32 random bytes)")
        self._key = key
        self._aead = AESGCM(key.reveal())

    def __repr__(self) -> str:
        return "MasterKey(**********)"

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(Secret(secrets.token_bytes(32)))

    @classmethod
    def from_base64(cls, text: Secret[str]) -> MasterKey:
        """From config: base64 (standard or urlsafe) of 32 bytes."""
        raw = text.reveal().strip()
        try:
            key = base64.urlsafe_b64decode(raw.replace("+", "-").replace("/", "_")
                                           + "=" * (-len(raw) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("the master key is not valid base64") from exc
        return cls(Secret(key))

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Read the key file, or create it with mode 0600 (never world-readable, never logged)."""
        if path.exists():
            mode = path.stat().st_mode & 0o077
            if mode:
                raise ConfigError(f"{path} must not be readable by group or others (chmod 600)")
            return cls.from_base64(Secret(path.read_text()))
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(key).decode() + "\n")
        return cls(Secret(key))

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``aad``; the 12-byte nonce is prefixed."""
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad.encode())

    def open(self, sealed: bytes, aad: str) -> bytes:
        """Decrypt what :meth:`seal` produced with the same ``aad``."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad.encode())
        except (InvalidTag, ValueError) as exc:
            raise AuthError("a stored secret did not decrypt: wrong master key or moved row"
                            ) from exc
