"""One exception tree for :mod:`bazaar.bloom`."""

from __future__ import annotations


class BloomError(Exception):
    """Base class of every error raised by :mod:`bazaar.bloom`."""


class BloomConfigError(BloomError, ValueError):
    """Impossible parameters: capacity, error rate, bit count or hash count out of range."""


class IncompatibleFiltersError(BloomError, ValueError):
    """Union, intersection or copy between filters of different size, hash count or hash."""


class CorruptFilterError(BloomError):
    """A saved filter whose magic, version, header or checksum does not verify."""


class BackendError(BloomError):
    """The shared store (Redis) failed or holds a filter with other parameters."""


class InvalidKeyError(BloomError, TypeError):
    """A key that is not ``str``, ``bytes`` or ``int``, or a ``str`` with a lone surrogate."""
