"""One exception tree for :mod:`bazaar.ftl`."""

from __future__ import annotations


class FtlError(Exception):
    """Base class of every error raised by :mod:`bazaar.ftl`."""


class FtlConfigError(FtlError, ValueError):
    """A device or FTL parameter out of range, or a config file that does not parse."""


class AddressError(FtlError, ValueError):
    """A logical page outside the device, or not an integer; nothing was changed."""


class TraceError(FtlError, ValueError):
    """A block trace line that does not parse; the message names the file and line."""


class OutOfSpaceError(FtlError):
    """No free block to write into, or garbage collection that cannot make progress.

    The config check (spare blocks beyond the GC reserve) makes this unreachable for a valid
    device; it exists so a bug ends in an error, never in a hang.
    """
