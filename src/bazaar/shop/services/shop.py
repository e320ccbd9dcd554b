"""``Shop``: the ports every use case gets, built once by ``bazaar.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.shop.services.events import NoViews, ViewRecorder
from bazaar.shop.services.ports import CatalogQueries, PasswordHasher, UnitOfWorkFactory
from bazaar.shop.services.reads import CatalogReader, NoInvalidation, ReadInvalidation
from bazaar.shop.services.retry import ConflictRetry


@dataclass
class Shop:
    """The shop's ports. ``catalog_reader`` serves the catalogue's reads (the composition
    root puts the read cache there; ``DirectReader(queries)`` reads uncached)."""

    uow: UnitOfWorkFactory
    queries: CatalogQueries
    hasher: PasswordHasher
    catalog_reader: CatalogReader
    retry: ConflictRetry = field(default_factory=ConflictRetry)
    invalidation: ReadInvalidation = field(default_factory=NoInvalidation)
    #: Product views for the analytics events (the API calls it; no I/O there).
    views: ViewRecorder = field(default_factory=NoViews)
