"""``Shop``: the ports every use case gets, built once by ``bazaar.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.shop.services.ports import CatalogQueries, PasswordHasher, UnitOfWorkFactory
from bazaar.shop.services.reads import (
    CatalogReader,
    DirectReader,
    NoInvalidation,
    ReadInvalidation,
)
from bazaar.shop.services.retry import RetryPolicy


@dataclass
class Shop:
    """The shop's ports. ``reader`` defaults to uncached reads through ``queries``."""

    uow: UnitOfWorkFactory
    queries: CatalogQueries
    hasher: PasswordHasher
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reader: CatalogReader | None = None
    invalidation: ReadInvalidation = field(default_factory=NoInvalidation)

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = DirectReader(self.queries)

    @property
    def catalog_reader(self) -> CatalogReader:
        assert self.reader is not None
        return self.reader
