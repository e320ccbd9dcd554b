"""Baselines more than one experiment measures against."""

from __future__ import annotations

import sqlite3
import time

from bazaar.lab._experiment import RunContext


def sqlite_set_cost(ctx: RunContext, keys: list[str], probes: list[str]) -> tuple[float, float]:
    """A set kept as a SQLite UNIQUE index: (bytes on disk per key, seconds per lookup of a
    key not in it), on a fresh database under the run's work directory."""
    path = ctx.work_dir / "urls.db"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("CREATE TABLE seen (url TEXT PRIMARY KEY) WITHOUT ROWID")
        db.executemany("INSERT INTO seen VALUES (?)", ((k,) for k in keys))
        db.commit()
        db.execute("VACUUM")
        cur = db.cursor()
        sample = probes[:20_000]
        started = time.perf_counter()
        for p in sample:
            cur.execute("SELECT 1 FROM seen WHERE url = ?", (p,)).fetchone()
        per = (time.perf_counter() - started) / len(sample)
    finally:
        db.close()
    return path.stat().st_size / len(keys), per
