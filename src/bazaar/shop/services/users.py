"""Users: register, read a profile, and the two calls an authentication layer needs."""

from __future__ import annotations

from bazaar.shop.domain import CUSTOMER_SCOPES, NotFound, validate_registration
from bazaar.shop.services import events
from bazaar.shop.services.shop import Shop
from bazaar.shop.services.views import Credentials, UserView


def register(shop: Shop, username: str, display_name: str, password: str,
             scopes: tuple[str, ...] = CUSTOMER_SCOPES) -> UserView:
    """Create a user with an argon2id password hash; ``StateConflict`` if the name is taken."""
    new = validate_registration(username, display_name, password)
    password_hash = shop.hasher.hash(password)  # slow on purpose: outside the transaction
    with shop.uow() as uow:
        user_id = uow.users.add(new.username, new.display_name, password_hash, scopes)
        events.signed_up(uow, user_id)
        uow.commit()
    return UserView(user_id, new.username, new.display_name, tuple(scopes))


def profile(shop: Shop, user_id: int) -> UserView:
    with shop.uow() as uow:
        user = uow.users.get(user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def credentials(shop: Shop, username: str) -> Credentials | None:
    """Id, password hash and scopes for a login; ``None`` if there is no such user."""
    with shop.uow() as uow:
        return uow.users.by_username(username)


def set_password_hash(shop: Shop, user_id: int, password_hash: str) -> None:
    """Replace a user's hash (e.g. rehash on login when the parameters changed)."""
    with shop.uow() as uow:
        if not uow.users.set_password_hash(user_id, password_hash):
            raise NotFound("user", user_id)
        uow.commit()
