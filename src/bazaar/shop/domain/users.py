"""Users: a unique username, a display name, scopes. The password hash is an opaque string."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bazaar.shop.domain.errors import InvalidInput

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024

#: Every registered user may browse and buy.
CUSTOMER_SCOPES = ("shop:read", "shop:write")
#: Manage the catalogue (create products and rooms, restock).
ADMIN_SCOPE = "shop:admin"


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str


def validate_registration(username: str, display_name: str, password: str) -> NewUser:
    """Check a registration; the password is checked here and hashed by the service."""
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput("username", "must be 3-32 characters of a-z, 0-9, '_', '.', '-', "
                                       "starting with a letter or digit")
    display_name = display_name.strip() or username
    if len(display_name) > 100:
        raise InvalidInput("display_name", "must be at most 100 characters")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return NewUser(username=username, display_name=display_name)
