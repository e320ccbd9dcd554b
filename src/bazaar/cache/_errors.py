"""One exception tree for :mod:`bazaar.cache`."""

from __future__ import annotations


class CacheError(Exception):
    """Base class of every error raised by :mod:`bazaar.cache`."""


class CacheConfigError(CacheError, ValueError):
    """A bad cache URL, TTL or policy value."""


class InvalidCacheKeyError(CacheError, ValueError):
    """A key the backends cannot store (empty, too long, spaces or control characters)."""


class CacheBackendError(CacheError):
    """The cache server failed. :class:`Cache` catches it and reads the database instead."""


class CodecError(CacheError):
    """A value that cannot be serialised, or cached bytes that cannot be decoded."""
