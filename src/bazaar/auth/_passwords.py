"""Password hashing with argon2id at OWASP's parameters, and a login check that takes the same
time whether or not the user exists."""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bazaar.auth._ports import Credential, CredentialStore


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost. OWASP (2024): 19 MiB, 2 iterations, 1 lane."""

    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


class Passwords:
    """Hash, verify and upgrade password hashes; verify an unknown user against a dummy hash."""

    def __init__(self, params: Argon2Params = Argon2Params()) -> None:
        self._hasher = PasswordHasher(time_cost=params.time_cost, memory_cost=params.memory_kib,
                                      parallelism=params.parallelism)
        # Hash of a random value: verifying against it costs what a real verify costs.
        self._dummy = self._hasher.hash("not a password: timing equaliser")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def authenticate(self, store: CredentialStore, username: str, password: str
                     ) -> Credential | None:
        """The user if the password matches, else None; rehash on success if parameters changed.

        An unknown username still costs one full argon2 verify, so timing does not tell an
        attacker which usernames exist.
        """
        credential = store.find_by_username(username)
        if credential is None:
            self.verify(self._dummy, password)
            return None
        if not self.verify(credential.password_hash, password):
            return None
        if self.needs_rehash(credential.password_hash):
            store.update_password_hash(credential.user_id, self.hash(password))
        return credential
