"""SASL users: per user and SCRAM mechanism the salt, iteration count, StoredKey and
ServerKey (never the password), in ``<data_dir>/security/users.json`` (mode 0600).

PLAIN logins are checked against the SCRAM-SHA-256 keys: the password is salted and hashed
the same way and its StoredKey compared, so one stored form serves every mechanism.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from bazaar.broker._errors import ConfigError
from bazaar.broker.security._files import WatchedJson
from bazaar.broker.security.scram import HASHES, Keys, keys_from_salted, salted_password

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
MIN_ITERATIONS = 4096
DEFAULT_ITERATIONS = 8192
_USER = re.compile(r"^[A-Za-z0-9._@-]{1,128}$")


@dataclass(frozen=True, slots=True)
class ScramCredential:
    mechanism: str
    keys: Keys


def derive_credential(mechanism: str, password: str, iterations: int = DEFAULT_ITERATIONS,
                      salt: bytes | None = None) -> ScramCredential:
    if mechanism not in HASHES:
        raise ConfigError(f"unknown SCRAM mechanism {mechanism}")
    if iterations < MIN_ITERATIONS:
        raise ConfigError(f"iterations must be >= {MIN_ITERATIONS}")
    salt = salt or secrets.token_bytes(32)
    name = HASHES[mechanism]
    salted = salted_password(name, password.encode(), salt, iterations)
    return ScramCredential(mechanism, keys_from_salted(name, salted, salt, iterations))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class CredentialStore:
    def __init__(self, path: Path) -> None:
        self.file = WatchedJson(path, {"users": {}}, recheck_s=0.0)

    @classmethod
    def under(cls, data_dir: Path) -> CredentialStore:
        return cls(data_dir / "security" / "users.json")

    def _users(self) -> dict[str, dict[str, dict[str, object]]]:
        users = self.file.data.get("users", {})
        return users if isinstance(users, dict) else {}

    def users(self) -> list[tuple[str, list[str]]]:
        """(user, SCRAM mechanisms with credentials), sorted."""
        self.file.maybe_reload()
        return sorted((u, sorted(m)) for u, m in self._users().items())

    def add(self, user: str, password: str, iterations: int = DEFAULT_ITERATIONS) -> bool:
        """Store (or replace) the user's credentials for both SCRAM mechanisms; True if new."""
        if not _USER.match(user):
            raise ConfigError("user names are 1-128 of A-Z a-z 0-9 . _ @ -")
        if not password:
            raise ConfigError("the password is empty")
        self.file.reload()
        users = self._users()
        new = user not in users
        users[user] = {}
        for mechanism in HASHES:
            keys = derive_credential(mechanism, password, iterations).keys
            users[user][mechanism] = {"salt": _b64(keys.salt), "iterations": keys.iterations,
                                      "stored_key": _b64(keys.stored_key),
                                      "server_key": _b64(keys.server_key)}
        self.file.data["users"] = users
        self.file.save()
        return new

    def remove(self, user: str) -> bool:
        self.file.reload()
        users = self._users()
        if users.pop(user, None) is None:
            return False
        self.file.data["users"] = users
        self.file.save()
        return True

    def keys(self, user: str, mechanism: str) -> Keys | None:
        self.file.maybe_reload()
        entry = self._users().get(user, {}).get(mechanism)
        if not isinstance(entry, dict):
            return None
        try:
            return Keys(base64.b64decode(str(entry["salt"])), int(str(entry["iterations"])),
                        base64.b64decode(str(entry["stored_key"])),
                        base64.b64decode(str(entry["server_key"])))
        except (KeyError, ValueError):
            return None

    def check_password(self, user: str, password: str) -> bool:
        """PLAIN: the password hashed with the user's SCRAM-SHA-256 salt matches."""
        keys = self.keys(user, "SCRAM-SHA-256")
        if keys is None:
            return False
        salted = salted_password("sha256", password.encode(), keys.salt, keys.iterations)
        derived = keys_from_salted("sha256", salted, keys.salt, keys.iterations)
        return hmac.compare_digest(derived.stored_key, keys.stored_key)


__all__ = ["MECHANISMS", "CredentialStore", "ScramCredential", "derive_credential"]
