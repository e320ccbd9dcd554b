"""The crawl's durable state: one SQLite file (WAL) in the state directory.

Every page's outcome is one transaction: its record, the URLs it discovered (queue rows, and
the seen-set's journal) and the removal of its own queue row. A kill -9 therefore leaves
either all of a page's effects or none; a URL that was claimed (sent) but not completed is
fetched again on resume and counted as ``refetched_after_crash``.

WAL with ``synchronous=NORMAL``: a commit is in the OS before it returns, so it survives the
process being killed (not a power cut, which would lose the last few commits — never corrupt).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bazaar.crawler._errors import StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    url TEXT PRIMARY KEY, host TEXT NOT NULL, depth INTEGER NOT NULL, hops INTEGER NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (url TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fingerprints (fp BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS false_positives (url TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, status INTEGER, content_type TEXT, bytes INTEGER, links INTEGER,
    outcome TEXT NOT NULL, fetched_at REAL NOT NULL, seconds REAL NOT NULL);
"""


@dataclass(frozen=True)
class Entry:
    """One queued URL: ``depth`` link hops from a seed, ``hops`` redirects in a row."""

    url: str
    host: str
    depth: int
    hops: int
    seq: int = 0


@dataclass(frozen=True)
class PageRecord:
    url: str
    status: int | None
    content_type: str
    size: int
    links: int
    outcome: str  # "ok", "redirect", "robots", an error reason…
    fetched_at: float
    seconds: float


def fingerprint(url: str) -> bytes:
    return hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CrawlStore:
    """The SQLite state; ``path=None`` keeps it in memory (a crawl that cannot resume)."""

    def __init__(self, path: Path | None) -> None:
        try:
            self.db = sqlite3.connect(":memory:" if path is None else str(path),
                                      isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot open the crawl state {path}: {exc}") from exc
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM queue").fetchone()
        self._seq = int(row[0])

    # -- settings that must not change between runs ----------------------------------------
    def check_meta(self, settings: dict[str, object]) -> bool:
        """Record ``settings`` on a fresh state; on an old one raise if they differ.
        True when the state is fresh."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
        text = json.dumps(settings, sort_keys=True)
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('settings', ?)", (text,))
            return True
        if row[0] != text:
            raise StateError(f"this state directory belongs to a crawl with other settings "
                             f"({row[0]}); use a new --state directory")
        return False

    # -- reads at start-up -------------------------------------------------------------------
    def queued(self) -> list[Entry]:
        rows = self.db.execute("SELECT url, host, depth, hops, seq FROM queue ORDER BY seq")
        return [Entry(*r) for r in rows]

    def claimed(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT url FROM queue WHERE claimed = 1")]

    def exact_seen(self) -> Iterator[str]:
        for (url,) in self.db.execute("SELECT url FROM seen"):
            yield url

    def journal(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT url FROM journal")]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for outcome, n in self.db.execute("SELECT outcome, COUNT(*) FROM pages GROUP BY 1"):
            out[str(outcome)] = int(n)
        return out

    def fetches_per_host(self) -> dict[str, int]:
        """Pages requested so far, by host (for the per-host budget on resume)."""
        from bazaar.crawler._canonical import host_of

        out: dict[str, int] = {}
        for (url,) in self.db.execute(
                "SELECT url FROM pages WHERE outcome NOT IN ('robots', 'host-budget')"):
            host = host_of(url)
            out[host] = out.get(host, 0) + 1
        return out

    def false_positive_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM false_positives").fetchone()[0])

    def pages(self) -> list[PageRecord]:
        rows = self.db.execute("SELECT url, status, content_type, bytes, links, outcome, "
                               "fetched_at, seconds FROM pages ORDER BY fetched_at")
        return [PageRecord(*r) for r in rows]

    # -- writes ------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def claim(self, url: str) -> None:
        self.db.execute("UPDATE queue SET claimed = 1 WHERE url = ?", (url,))

    def commit_page(self, done: Entry | None, record: PageRecord | None,
                    new: Sequence[Entry], *, exact: bool, journal: bool,
                    audit: Iterable[str] = (), false_positives: Iterable[str] = ()) -> None:
        """One transaction: the page's record, what it discovered, its queue row gone."""
        db = self.db
        try:
            db.execute("BEGIN")
            if record is not None:
                db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (record.url, record.status, record.content_type, record.size,
                            record.links, record.outcome, record.fetched_at, record.seconds))
            if new:
                db.executemany("INSERT OR IGNORE INTO queue VALUES (?, ?, ?, ?, 0, ?)",
                               [(e.url, e.host, e.depth, e.hops, e.seq) for e in new])
                if exact:
                    db.executemany("INSERT OR IGNORE INTO seen VALUES (?)",
                                   [(e.url,) for e in new])
                if journal:
                    db.executemany("INSERT INTO journal VALUES (?)", [(e.url,) for e in new])
            fps = [(fingerprint(u),) for u in audit]
            if fps:
                db.executemany("INSERT OR IGNORE INTO fingerprints VALUES (?)", fps)
            fp_rows = [(u,) for u in false_positives]
            if fp_rows:
                db.executemany("INSERT OR IGNORE INTO false_positives VALUES (?)", fp_rows)
            if done is not None:
                db.execute("DELETE FROM queue WHERE url = ?", (done.url,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def known_fingerprints(self, urls: Sequence[str]) -> set[str]:
        """Which of ``urls`` the exact fingerprint log holds (to tell false positives)."""
        out = set()
        for url in urls:
            row = self.db.execute("SELECT 1 FROM fingerprints WHERE fp = ?",
                                  (fingerprint(url),)).fetchone()
            if row is not None:
                out.add(url)
        return out

    def truncate_journal(self) -> None:
        self.db.execute("DELETE FROM journal")

    def close(self) -> None:
        self.db.close()
