"""The preparation on a Dask cluster, over the same Parquet lake: the scale path.

Each Dask partition is a group of lake files (about :data:`PARTITION_ROWS` rows), read under
the lake's unified schema; cleaning runs per
partition, deduplication after a shuffle on the event id, sessionisation after a shuffle on
the customer — the same frame functions the single-machine baseline runs, so the rows equal
DuckDB's. ``scheduler`` is a running cluster's address (``tcp://host:8786``); without one a
``distributed.LocalCluster`` of ``workers`` processes is started for the call.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

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

#: Rows per Dask partition: a lake of many small files is read a group of files at a time,
#: so the shuffles move a few large partitions rather than thousands of tiny ones.
PARTITION_ROWS = 250_000


def _read_one(paths: list[str], schema: pa.Schema) -> Any:
    from bazaar.pipeline._lake import _conform

    tables = [_conform(pq.read_table(p), schema) for p in paths]
    return pa.concat_tables(tables).to_pandas(types_mapper=_mapper)


def _groups(paths: list[str], rows: list[int], target: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    filled = 0
    for path, n in zip(paths, rows, strict=True):
        if groups[-1] and filled + n > target:
            groups.append([])
            filled = 0
        groups[-1].append(path)
        filled += n
    return groups


def _answers(scheduler: str) -> None:
    """Fail at once when nothing listens at a ``tcp://host:port`` scheduler address (the Dask
    client would retry for its whole timeout before saying so)."""
    parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        return  # another transport (tls://, inproc://): the client says what is wrong
    with socket.create_connection((parts.hostname, parts.port), timeout=5):
        pass


@contextlib.contextmanager
def client(scheduler: str | None = None, *, workers: int = 2) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, or on a LocalCluster made for the block."""
    from distributed import Client, LocalCluster

    try:
        if scheduler:
            _answers(scheduler)
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


def prepare_dask(paths: list[str], dask_client: Any, *,
                 partition_rows: int = PARTITION_ROWS) -> pa.Table:
    """The prepared rows of ``paths`` computed on ``dask_client``'s cluster (partitions of
    about ``partition_rows`` rows)."""
    import dask.dataframe as dd

    if not paths:
        raise PipelineError("no lake files to prepare")
    metas = [pq.read_metadata(p) for p in paths]
    schema = pa.unify_schemas([m.schema.to_arrow_schema() for m in metas],
                              promote_options="permissive")
    groups = _groups(paths, [m.num_rows for m in metas], partition_rows)
    raw = dd.from_map(  # type: ignore[no-untyped-call]
        _read_one, groups, schema=schema, meta=_read_one_meta(schema), enforce_metadata=False)
    cleaned = raw.map_partitions(clean_frame)
    unique = cleaned.shuffle(on="event_id", npartitions=len(groups)).map_partitions(
        dedup_frame)
    sessions = unique.shuffle(on="customer_id", npartitions=len(groups)).map_partitions(
        sessionise_frame)
    frame = dask_client.compute(sessions, sync=True)
    return _to_arrow(frame)


def _read_one_meta(schema: pa.Schema) -> Any:
    return schema.empty_table().to_pandas(types_mapper=_mapper)
