"""One exception tree for the pipeline; driver errors are re-raised as these at the adapter."""

from __future__ import annotations


class PipelineError(Exception):
    """Anything the pipeline refuses or cannot do."""


class LakeError(PipelineError):
    """The data lake cannot be read or written (a bad manifest, a missing file, bad input)."""


class IngestError(PipelineError):
    """The ingester cannot reach the log or commit its progress."""


class WarehouseError(PipelineError):
    """The warehouse cannot be opened, loaded or queried."""
