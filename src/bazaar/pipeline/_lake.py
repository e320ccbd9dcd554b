"""The data lake: raw events as partitioned Parquet (type / date / hour) and its manifest.

Every file is written to a temporary name, fsync'd and renamed; the manifest
(``_manifest.json``, replaced atomically the same way) is the one list of the lake's files and,
per log partition, the next offset to read. A file is part of the lake only once the manifest
names it, so a crash between a rename and the manifest commit leaves an orphan that
:meth:`Lake.recover` deletes, and the replay writes the same rows again under the same name.
The ingester commits its consumer-group offsets only after the manifest commit: the manifest
is the truth, the group's offsets follow it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bazaar.pipeline._errors import LakeError

MANIFEST = "_manifest.json"
_SAFE = re.compile(r"[^a-z0-9_]")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LakeFile:
    """One committed file: its path under the lake's root and what it holds (rows per event
    type, and the span of their times in UTC milliseconds)."""

    path: str
    rows: int
    bytes: int
    types: dict[str, int]
    first_at: int | None = None
    last_at: int | None = None

    @classmethod
    def from_entry(cls, path: str, entry: dict[str, Any]) -> LakeFile:
        if "types" in entry:
            return cls(path=path, rows=int(entry["rows"]), bytes=int(entry["bytes"]),
                       types=dict(entry["types"]), first_at=entry.get("first_at"),
                       last_at=entry.get("last_at"))
        # A lake written before batch files: one file per (type, date, hour).
        return cls(path=path, rows=int(entry["rows"]), bytes=int(entry["bytes"]),
                   types={str(entry["type"]): int(entry["rows"])})


class Lake:
    """A directory of partitioned Parquet files and the manifest that names them."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- the manifest ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".manifest.lock", "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def manifest(self) -> dict[str, Any]:
        """The committed state: ``{"version", "offsets": {"topic:p": next}, "files": {…}}``."""
        path = self.root / MANIFEST
        if not path.exists():
            return {"version": 0, "offsets": {}, "files": {}}
        try:
            doc = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise LakeError(f"{path}: not a lake manifest: {exc}") from exc
        if not isinstance(doc, dict) or not {"version", "offsets", "files"} <= doc.keys():
            raise LakeError(f"{path}: not a lake manifest")
        return doc

    def _commit(self, doc: dict[str, Any]) -> None:
        doc["version"] = int(doc["version"]) + 1
        path = self.root / MANIFEST
        tmp = path.with_name(f".tmp-{os.getpid()}-{MANIFEST}")
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.root)

    def next_offset(self, topic: str, partition: int) -> int | None:
        """Where reading ``topic``/``partition`` resumes (None: nothing ingested yet)."""
        value = self.manifest()["offsets"].get(f"{topic}:{partition}")
        return None if value is None else int(value)

    def files(self, type: str | None = None) -> list[LakeFile]:
        """Committed files, in path order (``type``: only that event type's)."""
        out = [LakeFile.from_entry(p, v) for p, v in sorted(self.manifest()["files"].items())]
        return [f for f in out if type is None or type in f.types]

    def paths(self, type: str | None = None) -> list[str]:
        return [str(self.root / f.path) for f in self.files(type)]

    # -- writing -----------------------------------------------------------------------------
    def write_batch(self, topic: str, partition: int, first: int, last: int,
                    table: pa.Table) -> list[str]:
        """Write the rows read from ``topic``/``partition`` offsets ``first``..``last`` as one
        file, ``raw/{topic}+{partition}+{first}+{last}.parquet``, its rows ordered by (type,
        UTC hour, offset) with a row group per type, and commit it with the next offset,
        ``last + 1``: one file and one fsync per batch (a file per (type, date, hour) cost
        over a thousand per batch of a week's events), and readers still skip by type (row
        groups) and time (statistics, page index).

        A batch that starts elsewhere than the committed next offset is refused: that would
        skip or repeat records.
        """
        if first > last:
            raise LakeError(f"empty offset range {first}..{last}")
        name = f"{_SAFE.sub('_', topic)}+{partition}+{first:020d}+{last:020d}.parquet"
        final = self.root / "raw" / name
        tmp: Path | None = None
        try:
            tmp, meta = _write_grouped(table, final)
            with self._locked():
                doc = self.manifest()
                key = f"{topic}:{partition}"
                expected = doc["offsets"].get(key)
                if expected is not None and int(expected) != first:
                    raise LakeError(f"{key}: batch starts at {first}, the lake expects "
                                    f"{expected}")
                os.replace(tmp, final)
                _fsync_dir(final.parent)
                doc["files"][str(final.relative_to(self.root))] = meta
                doc["offsets"][key] = last + 1
                self._commit(doc)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return [str(final)]

    def recover(self) -> int:
        """Delete files the manifest does not name (a crash's leftovers); returns how many."""
        removed = 0
        with self._locked():
            known = set(self.manifest()["files"])
            for path in (self.root / "raw").rglob("*") if (self.root / "raw").exists() else ():
                if not path.is_file():
                    continue
                if path.name.startswith(".tmp-"):
                    pid = path.name.split("-")[1]
                    if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                        continue  # another writer's file in flight
                elif str(path.relative_to(self.root)) in known:
                    continue
                path.unlink()
                removed += 1
        return removed

    # -- compaction --------------------------------------------------------------------------
    def compact(self, *, min_files: int = 4, small_bytes: int = 32 << 20,
                max_bytes: int = 256 << 20) -> int:
        """Merge the small files (fewer than ``small_bytes`` each) of each directory into
        files of up to about ``max_bytes``, when there are at least ``min_files``; returns how
        many files were replaced. The new file is committed before the old ones are deleted,
        so a crash loses nothing."""
        groups: dict[str, list[LakeFile]] = {}
        for f in self.files():
            if f.bytes < small_bytes:
                groups.setdefault(str(Path(f.path).parent), []).append(f)
        runs: list[tuple[str, list[LakeFile]]] = []
        for directory, members in sorted(groups.items()):
            run: list[LakeFile] = []
            for f in members:
                if run and sum(m.bytes for m in run) + f.bytes > max_bytes:
                    runs.append((directory, run))
                    run = []
                run.append(f)
            runs.append((directory, run))
        replaced = 0
        for directory, members in runs:
            if len(members) < min_files:
                continue
            table = read_table([str(self.root / f.path) for f in members])
            with self._locked():
                doc = self.manifest()
                if any(f.path not in doc["files"] for f in members):
                    continue  # changed under us; the next run compacts it
                rel = Path(directory) / f"compacted+{doc['version'] + 1:010d}.parquet"
                tmp, meta = _write_grouped(table, self.root / rel)
                os.replace(tmp, self.root / rel)
                _fsync_dir(self.root / directory)
                for f in members:
                    del doc["files"][f.path]
                doc["files"][str(rel)] = meta
                self._commit(doc)
            for f in members:
                (self.root / f.path).unlink(missing_ok=True)
            replaced += len(members)
        return replaced


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _groups(table: pa.Table) -> tuple[pa.Table, list[tuple[int, int]], dict[str, int]]:
    """``table`` ordered by (type, UTC hour of ``at``, log position), the (start, length) of
    each type's run, and rows per type. Types that differ only in what a directory name
    cannot hold count as one (their rows keep their own spelling)."""
    n = table.num_rows
    kinds = pc.fill_null(table.column("type"), "_unknown").combine_chunks().dictionary_encode()
    labels = [_SAFE.sub("_", str(k).lower())[:64] or "_unknown"
              for k in kinds.dictionary.to_pylist()]
    names = sorted(set(labels))
    to_name = np.array([names.index(label) for label in labels], dtype=np.int64)
    codes = to_name[kinds.indices.to_numpy()] if n else np.zeros(0, dtype=np.int64)
    millis = pc.cast(table.column("at"), pa.int64()).fill_null(0).to_numpy()
    hours = np.floor_divide(millis, 3_600_000)
    where = [table.column(c).to_numpy() for c in ("offset", "partition")]
    order = np.lexsort((*where, hours, codes))  # the last key sorts first
    ordered = table.take(pa.array(order))
    counts = np.bincount(codes, minlength=len(names)).tolist()
    starts = np.r_[0, np.cumsum(counts)[:-1]].tolist() if counts else []
    runs = [(int(lo), int(c)) for lo, c in zip(starts, counts, strict=True) if c]
    types = {names[i]: int(c) for i, c in enumerate(counts) if c}
    return ordered, runs, types


#: Dictionary encoding only where values repeat; ids and sessions are near unique (measured:
#: smaller files and faster writes than dictionary attempts on every column).
_DICTIONARY = ["type", "topic", "customer_id", "product_id", "partition"]


def _write_grouped(table: pa.Table, final: Path) -> tuple[Path, dict[str, Any]]:
    """``table`` as one Parquet file, a row group per event type (rows in time order by hour,
    then log order; a page index for finer skipping), under a temporary name beside
    ``final``, fsync'd; returns that name and the file's manifest entry."""
    ordered, runs, types = _groups(table)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".tmp-{os.getpid()}-{final.name}")
    with open(tmp, "wb") as fh:
        with pq.ParquetWriter(fh, ordered.schema, compression="zstd",
                              use_dictionary=[c for c in _DICTIONARY
                                              if c in ordered.column_names],
                              write_page_index=True) as writer:
            for lo, length in runs:
                writer.write_table(ordered.slice(lo, length), row_group_size=max(length, 1))
        fh.flush()
        os.fsync(fh.fileno())
    at = pc.cast(ordered.column("at"), pa.int64())
    span = pc.min_max(at).as_py() if ordered.num_rows else {"min": None, "max": None}
    return tmp, {"rows": ordered.num_rows, "bytes": tmp.stat().st_size, "types": types,
                 "first_at": span["min"], "last_at": span["max"]}


def read_table(paths: list[str]) -> pa.Table:
    """The rows of ``paths`` under one schema: a field added later is null in older files,
    a widened type (int32 → int64, …) is read as the wider one."""
    if not paths:
        raise LakeError("no files to read")
    tables = [pq.read_table(p) for p in paths]
    try:
        schema = pa.unify_schemas([t.schema for t in tables], promote_options="permissive")
        return pa.concat_tables([_conform(t, schema) for t in tables])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LakeError(f"the lake's files have incompatible schemas: {exc}") from exc


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)
