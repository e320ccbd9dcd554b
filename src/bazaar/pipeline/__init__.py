"""Bazaar Pipeline: the shop's events from the log → a Parquet lake → preparation → a DuckDB
warehouse → a live dashboard, exactly once.

- :class:`Ingester` — a Kafka consumer group into the :class:`Lake`, offsets committed after
  the lake's manifest;
- :class:`Lake` — partitioned Parquet (type / date / hour), atomic files, a manifest,
  compaction, schema evolution (:func:`read_table`);
- :func:`prepare_duckdb`, :func:`prepare_pandas`, :func:`prepare_dask` — the same cleaning,
  normalisation, deduplication and sessionisation, compared by :func:`digest`;
- :class:`Warehouse` — the star schema, loaded incrementally and idempotently;
- :func:`dashboard_app` — ``/dashboard``: charts from the warehouse, live notifications;
- :func:`generate` — a synthetic shop's events for scale.
"""

from bazaar.pipeline._alerts import Alert, Rules, Watcher
from bazaar.pipeline._dashboard import (
    Dashboard,
    DashboardConfig,
    dashboard_app,
    serve_dashboard,
)
from bazaar.pipeline._dask import client as dask_client
from bazaar.pipeline._dask import prepare_dask
from bazaar.pipeline._errors import IngestError, LakeError, PipelineError, WarehouseError
from bazaar.pipeline._events import (
    CHECKOUT_TOPIC,
    KNOWN_TYPES,
    RAW_SCHEMA,
    SHOP_TOPIC,
    Record,
    decode,
    decode_batch,
    shop_event,
    to_table,
)
from bazaar.pipeline._generator import Shape, generate, prices
from bazaar.pipeline._ingest import Ingester, IngestStats
from bazaar.pipeline._lake import Lake, LakeFile, read_table
from bazaar.pipeline._prepare import digest, prepare_duckdb, prepare_pandas
from bazaar.pipeline._warehouse import LoadStats, Warehouse

__all__ = [
    "CHECKOUT_TOPIC",
    "KNOWN_TYPES",
    "RAW_SCHEMA",
    "SHOP_TOPIC",
    "Alert",
    "Dashboard",
    "DashboardConfig",
    "IngestError",
    "IngestStats",
    "Ingester",
    "Lake",
    "LakeError",
    "LakeFile",
    "LoadStats",
    "PipelineError",
    "Record",
    "Rules",
    "Shape",
    "Warehouse",
    "WarehouseError",
    "Watcher",
    "dashboard_app",
    "dask_client",
    "decode",
    "decode_batch",
    "digest",
    "generate",
    "prepare_dask",
    "prepare_duckdb",
    "prepare_pandas",
    "prices",
    "read_table",
    "serve_dashboard",
    "shop_event",
    "to_table",
]
