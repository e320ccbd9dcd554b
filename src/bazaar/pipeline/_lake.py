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
from concurrent.futures import ThreadPoolExecutor
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
_WRITERS = 8
_SAFE = re.compile(r"[^a-z0-9_]")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_parquet(table: pa.Table, final: Path) -> Path:
    """Write ``table`` next to ``final`` under a temporary name, fsync'd; returns that name."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".tmp-{os.getpid()}-{final.name}")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh, compression="zstd")
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


@dataclass(frozen=True)
class LakeFile:
    """One committed file: its path under the lake's root and what it holds."""

    path: str
    rows: int
    bytes: int
    type: str
    date: str
    hour: int


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
        out = [LakeFile(path=p, **{k: v[k] for k in ("rows", "bytes", "type", "date", "hour")})
               for p, v in sorted(self.manifest()["files"].items())]
        return [f for f in out if type is None or f.type == type]

    def paths(self, type: str | None = None) -> list[str]:
        return [str(self.root / f.path) for f in self.files(type)]

    # -- writing -----------------------------------------------------------------------------
    def write_batch(self, topic: str, partition: int, first: int, last: int,
                    table: pa.Table) -> list[str]:
        """Write the rows read from ``topic``/``partition`` offsets ``first``..``last``, one
        file per (type, date, hour), and commit them with the next offset, ``last + 1``.

        A batch that starts elsewhere than the committed next offset is refused: that would
        skip or repeat records.
        """
        if first > last:
            raise LakeError(f"empty offset range {first}..{last}")
        name = f"{_SAFE.sub('_', topic)}+{partition}+{first:020d}+{last:020d}.parquet"
        pending: list[tuple[Path, Path, dict[str, Any]]] = []

        def write(item: tuple[tuple[str, str, int], pa.Table]) -> None:
            (kind, date, hour), part = item
            rel = Path("raw") / f"type={kind}" / f"date={date}" / f"hour={hour:02d}" / name
            tmp = _write_parquet(part, self.root / rel)
            pending.append((tmp, self.root / rel, {
                "rows": part.num_rows, "bytes": tmp.stat().st_size, "type": kind,
                "date": date, "hour": hour}))

        try:
            # Parquet encoding and fsync release the GIL: the files of a batch are written
            # side by side.
            with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
                list(pool.map(write, _split(table)))
            pending.sort(key=lambda item: str(item[1]))
            with self._locked():
                doc = self.manifest()
                key = f"{topic}:{partition}"
                expected = doc["offsets"].get(key)
                if expected is not None and int(expected) != first:
                    raise LakeError(f"{key}: batch starts at {first}, the lake expects "
                                    f"{expected}")
                for tmp, final, _ in pending:
                    os.replace(tmp, final)
                for d in {final.parent for _, final, _ in pending}:
                    _fsync_dir(d)
                for _, final, meta in pending:
                    doc["files"][str(final.relative_to(self.root))] = meta
                doc["offsets"][key] = last + 1
                self._commit(doc)
        finally:
            for tmp, _, _ in pending:
                tmp.unlink(missing_ok=True)
        return [str(final) for _, final, _ in pending]

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
    def compact(self, *, min_files: int = 4, small_bytes: int = 32 << 20) -> int:
        """Merge each partition's small files (fewer than ``small_bytes`` each) into one, when
        it has at least ``min_files``; returns how many files were replaced. The new file is
        committed before the old ones are deleted, so a crash loses nothing."""
        groups: dict[str, list[LakeFile]] = {}
        for f in self.files():
            if f.bytes < small_bytes:
                groups.setdefault(str(Path(f.path).parent), []).append(f)
        replaced = 0
        for directory, members in sorted(groups.items()):
            if len(members) < min_files:
                continue
            table = read_table([str(self.root / f.path) for f in members])
            table = table.sort_by([("topic", "ascending"), ("partition", "ascending"),
                                   ("offset", "ascending")])
            with self._locked():
                doc = self.manifest()
                if any(f.path not in doc["files"] for f in members):
                    continue  # changed under us; the next run compacts it
                rel = Path(directory) / f"compacted+{doc['version'] + 1:010d}.parquet"
                tmp = _write_parquet(table, self.root / rel)
                os.replace(tmp, self.root / rel)
                _fsync_dir(self.root / directory)
                first = members[0]
                for f in members:
                    del doc["files"][f.path]
                doc["files"][str(rel)] = {"rows": table.num_rows,
                                          "bytes": (self.root / rel).stat().st_size,
                                          "type": first.type, "date": first.date,
                                          "hour": first.hour}
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


def _split(table: pa.Table) -> Iterator[tuple[tuple[str, str, int], pa.Table]]:
    """The table cut by (type, UTC date, UTC hour) of ``at``: one sort, then slices."""
    if table.num_rows == 0:
        return
    kinds = pc.fill_null(table.column("type"), "_unknown").combine_chunks().dictionary_encode()
    # Types that differ only in what a directory name cannot hold share a partition.
    names = sorted({_SAFE.sub("_", str(k).lower())[:64] or "_unknown"
                    for k in kinds.dictionary.to_pylist()})
    to_name = np.array([names.index(_SAFE.sub("_", str(k).lower())[:64] or "_unknown")
                        for k in kinds.dictionary.to_pylist()], dtype=np.int64)
    codes = to_name[kinds.indices.to_numpy()]
    millis = pc.cast(table.column("at"), pa.int64()).fill_null(0).to_numpy()
    hours = np.floor_divide(millis, 3_600_000)
    key = codes * (1 << 40) + (hours - hours.min())
    order = np.argsort(key, kind="stable")
    ordered, key_sorted = table.take(pa.array(order)), key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    ends = np.r_[starts[1:], len(key_sorted)]
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        hour_no = int(hours[order[lo]])
        date = str(np.datetime64(hour_no, "h").astype("datetime64[D]"))
        yield (names[codes[order[lo]]], date, hour_no % 24), ordered.slice(lo, hi - lo)


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
