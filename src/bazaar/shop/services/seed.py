"""The demo catalogue ``bazaar up`` starts with. Seeding twice adds nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bazaar.shop.domain import ADMIN_SCOPE, CUSTOMER_SCOPES
from bazaar.shop.services import catalog, users
from bazaar.shop.services.shop import Shop

DEMO_PRODUCTS: tuple[tuple[str, str, int, int], ...] = (
    ("MUG-001", "Stoneware mug", 1200, 40),
    ("TEA-GRN", "Green tea, 100 g", 850, 120),
    ("BAG-TOTE", "Canvas tote bag", 1500, 25),
    ("LAMP-DESK", "Desk lamp", 4900, 8),
    ("BOOK-SDI", "System design notebook", 2200, 60),
    ("KEY-MECH", "Mechanical keyboard", 11900, 5),
    ("SOCK-WOOL", "Wool socks", 1400, 200),
    ("CAM-INST", "Instant camera", 8900, 3),
)

DEMO_ROOMS: tuple[tuple[str, str, int, int], ...] = (
    ("SGL", "Single room", 7900, 4),
    ("DBL", "Double room", 11900, 10),
    ("STE", "Suite", 29900, 2),
)

DEMO_USER = "demo"


@dataclass(frozen=True)
class SeedResult:
    products_added: int
    rooms_added: int
    demo_user_id: int
    #: Only set when the demo user was created now; the caller stores it, never logs it.
    demo_password: str | None


def seed_demo(shop: Shop) -> SeedResult:
    """Add whatever of the demo catalogue and the ``demo`` admin user is missing."""
    products_added = rooms_added = 0
    for sku, name, price, stock in DEMO_PRODUCTS:
        with shop.uow() as uow:
            exists = uow.products.by_sku(sku) is not None
        if not exists:
            catalog.create_product(shop, sku, name, price, stock)
            products_added += 1
    for code, name, price, count in DEMO_ROOMS:
        with shop.uow() as uow:
            exists = uow.rooms.by_code(code) is not None
        if not exists:
            catalog.create_room(shop, code, name, price, count)
            rooms_added += 1
    found = users.credentials(shop, DEMO_USER)
    password = None
    if found is None:
        password = secrets.token_urlsafe(12)
        user = users.register(shop, DEMO_USER, "Demo admin", password,
                              scopes=(*CUSTOMER_SCOPES, ADMIN_SCOPE))
        user_id = user.id
    else:
        user_id = found.user_id
    return SeedResult(products_added, rooms_added, user_id, password)
