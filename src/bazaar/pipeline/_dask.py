"""The preparation on a Dask cluster, over the same Parquet lake: the scale path.

Each lake file is one Dask partition, read under the lake's unified schema; cleaning runs per
partition, deduplication after a shuffle on the event id, sessionisation after a shuffle on
the customer — the same frame functions the single-machine baseline runs, so the rows equal
DuckDB's. ``scheduler`` is a running cluster's address (``tcp://host:8786``); without one a
``distributed.LocalCluster`` of ``workers`` processes is started for the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bazaar.pipeline._errors import PipelineError
from bazaar.pipeline._prepare import (
    _mapper,
    _to_arrow,
    clean_frame,
    dedup_frame,
    sessionise_frame,
)


def _read_one(path: str, schema: pa.Schema) -> Any:
    from bazaar.pipeline._lake import _conform

    return _conform(pq.read_table(path), schema).to_pandas(types_mapper=_mapper)


@contextlib.contextmanager
def client(scheduler: str | None = None, *, workers: int = 2) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, or on a LocalCluster made for the block."""
    from distributed import Client, LocalCluster

    try:
        if scheduler:
            with Client(scheduler, timeout="30s") as c:  # type: ignore[no-untyped-call]
                yield c
        else:
            with LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None) as cluster, \
                    Client(cluster) as c:  # type: ignore[no-untyped-call]
                yield c
    except OSError as exc:
        raise PipelineError(f"no Dask scheduler at {scheduler}: {exc}") from exc


def prepare_dask(paths: list[str], dask_client: Any) -> pa.Table:
    """The prepared rows of ``paths`` computed on ``dask_client``'s cluster."""
    import dask.dataframe as dd

    if not paths:
        raise PipelineError("no lake files to prepare")
    schema = pa.unify_schemas([pq.read_schema(p) for p in paths],
                              promote_options="permissive")
    raw = dd.from_map(  # type: ignore[no-untyped-call]
        _read_one, paths, schema=schema, meta=_read_one_meta(schema), enforce_metadata=False)
    cleaned = raw.map_partitions(clean_frame)
    unique = cleaned.shuffle(on="event_id").map_partitions(dedup_frame)
    sessions = unique.shuffle(on="customer_id").map_partitions(sessionise_frame)
    frame = dask_client.compute(sessions, sync=True)
    return _to_arrow(frame)


def _read_one_meta(schema: pa.Schema) -> Any:
    return schema.empty_table().to_pandas(types_mapper=_mapper)
