"""SQLAlchemy implementations of the shop's ports: unit of work, repositories, the three
reservation strategies, read queries. Passwords are hashed by ``bazaar.auth.Passwords``
(the composition root passes it in as the ``PasswordHasher`` port)."""

from bazaar.shop.adapters import schema
from bazaar.shop.adapters.errors import shop_error, translated
from bazaar.shop.adapters.orm import start_mappers
from bazaar.shop.adapters.queries import SqlCatalogQueries
from bazaar.shop.adapters.reservations import STRATEGIES, Strategy
from bazaar.shop.adapters.schema import MIGRATIONS
from bazaar.shop.adapters.uow import SqlUnitOfWork, SqlUnitsOfWork

__all__ = [
    "MIGRATIONS",
    "STRATEGIES",
    "SqlCatalogQueries",
    "SqlUnitOfWork",
    "SqlUnitsOfWork",
    "Strategy",
    "schema",
    "shop_error",
    "start_mappers",
    "translated",
]
