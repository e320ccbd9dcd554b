"""Block traces from files: blkparse text output and the MSR Cambridge / SNIA CSV format.

- blkparse (``blkparse -i sda``): ``maj,min cpu seq time pid action rwbs sector + blocks
  [process]``; the queue events (action ``Q``) are replayed, or the issue events (``D``) when
  the trace has no ``Q``; sectors are 512 bytes; ``D``/``T`` in RWBS (discard) is a TRIM.
- MSR Cambridge (SNIA IOTTA): ``Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime``
  with the timestamp in Windows filetime ticks (100 ns), ``Type`` ``Read`` or ``Write``, offset
  and size in bytes.

Byte ranges become page ranges (a partial page counts as a whole page).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bazaar.ftl._errors import TraceError
from bazaar.ftl._workloads import READ, TRIM, WRITE, Workload

#: Small sample traces shipped with the package (synthetic, written by us in each format).
SAMPLES_DIR = Path(__file__).with_name("samples")
_SECTOR = 512
_MAX_LINES = 50_000_000
_MAX_BYTES = 4 << 30


def load_trace(path: str | Path, page_size: int = 4096, fmt: str | None = None) -> Workload:
    """Read a trace file; ``fmt`` is ``blkparse`` or ``msr`` (default: guessed from content)."""
    p = Path(path)
    if not p.is_file():
        named = SAMPLES_DIR / str(path)
        if not named.is_file():
            raise TraceError(f"no trace file {str(path)!r} (samples: "
                             f"{', '.join(sorted(s.name for s in SAMPLES_DIR.iterdir()))})")
        p = named
    if p.stat().st_size > _MAX_BYTES:
        raise TraceError(f"{p}: {p.stat().st_size:,} bytes is more than this simulator reads "
                         f"({_MAX_BYTES:,}); cut the trace (e.g. head -n)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"{p}: not a text trace ({exc})") from exc
    lines = text.splitlines()
    if len(lines) > _MAX_LINES:
        raise TraceError(f"{p}: more than {_MAX_LINES:,} lines")
    if fmt is None:
        head = next((ln for ln in lines if ln.strip() and not ln.startswith("#")), "")
        fmt = "msr" if head.count(",") >= 6 else "blkparse"
    if fmt == "msr":
        rows = _msr(p, lines)
    elif fmt == "blkparse":
        rows = _blkparse(p, lines)
    else:
        raise TraceError(f"unknown trace format {fmt!r} (blkparse or msr)")
    if not rows:
        raise TraceError(f"{p}: no requests in the trace")
    t = np.array([r[0] for r in rows], dtype=np.float64)
    t -= t.min()
    offsets = np.array([r[2] for r in rows], dtype=np.int64)
    sizes = np.array([r[3] for r in rows], dtype=np.int64)
    first = offsets // page_size
    last = (offsets + sizes - 1) // page_size
    return Workload(f"trace {p.name}", np.array([r[1] for r in rows], dtype=np.int8), first,
                    last - first + 1, t)


def _int(value: str, where: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise TraceError(f"{where}: {what} {value!r} is not an integer") from None
    if not 0 <= number < 1 << 62:
        raise TraceError(f"{where}: {what} {number} is out of range")
    return number


def _msr(path: Path, lines: list[str]) -> list[tuple[float, int, int, int]]:
    rows: list[tuple[float, int, int, int]] = []
    for n, row in enumerate(csv.reader(lines), 1):
        if not row or row[0].startswith("#") or row[0].strip().lower() == "timestamp":
            continue
        where = f"{path}:{n}"
        if len(row) < 6:
            raise TraceError(f"{where}: expected Timestamp,Hostname,DiskNumber,Type,Offset,"
                             f"Size[,ResponseTime], got {len(row)} fields")
        kind = row[3].strip().lower()
        if kind not in ("read", "write"):
            raise TraceError(f"{where}: Type must be Read or Write, got {row[3]!r}")
        size = _int(row[5].strip(), where, "Size")
        if size == 0:
            continue
        rows.append((_int(row[0].strip(), where, "Timestamp"),
                     READ if kind == "read" else WRITE,
                     _int(row[4].strip(), where, "Offset"), size))
    if rows:  # filetime ticks (100 ns) to seconds, without losing precision on the way
        origin = min(r[0] for r in rows)
        rows = [((r[0] - origin) * 1e-7, r[1], r[2], r[3]) for r in rows]
    return rows


def _blkparse(path: Path, lines: list[str]) -> list[tuple[float, int, int, int]]:
    by_action: dict[str, list[tuple[float, int, int, int]]] = {"Q": [], "D": []}
    for n, line in enumerate(lines, 1):
        parts = line.split()
        # Event lines have "sector + blocks"; summaries, headers and other events do not.
        if len(parts) < 10 or parts[8] != "+" or "," not in parts[0]:
            continue
        action, rwbs = parts[5], parts[6]
        if action not in by_action:
            continue
        where = f"{path}:{n}"
        try:
            stamp = float(parts[3])
        except ValueError:
            raise TraceError(f"{where}: time {parts[3]!r} is not a number") from None
        blocks = _int(parts[9], where, "block count")
        if blocks == 0:
            continue
        if "D" in rwbs or "T" in rwbs:
            op = TRIM
        elif "W" in rwbs:
            op = WRITE
        elif "R" in rwbs:
            op = READ
        else:
            continue  # flushes and barriers carry no data
        by_action[action].append((stamp, op, _int(parts[7], where, "sector") * _SECTOR,
                                  blocks * _SECTOR))
    return by_action["Q"] or by_action["D"]
