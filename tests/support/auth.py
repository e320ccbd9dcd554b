"""Auth test set-up shared by the unit, integration and e2e auth tests: an injectable clock
and a keyring database opened the way production opens it (``bazaar.storage`` + auth's
migrations)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from bazaar import storage
from bazaar.auth import MasterKey, SigningKeys, install

#: A fixed, far-future instant: tokens issued "now" are valid whatever the wall clock says.
T0 = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand (``clock.t += 60``): no sleeping."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def auth_engine(path: Path) -> Engine:
    """A SQLite database at ``path`` with auth's tables migrated to head."""
    engine = storage.make_engine(f"sqlite:///{path}")
    install(engine)
    return engine


def signing_keys(path: Path, clock: Clock | None = None, *,
                 token_lifetime: float = 900) -> SigningKeys:
    """A keyring on a fresh database at ``path`` with a new master key."""
    return SigningKeys(auth_engine(path), MasterKey.generate(), token_lifetime=token_lifetime,
                       clock=clock or Clock())
