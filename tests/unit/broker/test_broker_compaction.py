"""Log compaction against a dict model: the latest record per key survives at its own
offset, tombstones go after delete_retention_ms, aborted transactions and markers are
handled as Kafka's cleaner handles them, a crash at any step of a swap leaves a whole log."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bazaar.broker import LogConfig
from bazaar.broker.log import Log, cleaner
from bazaar.broker.log import batch as rb

COMPACT = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_ms=None,
                    retention_ms=None, cleanup_policy="compact",
                    delete_retention_ms=60_000, min_cleanable_dirty_ratio=0.0)
DAY_MS = 86_400_000


def scan(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every record from the log start, following gaps: (offset, key, value)."""
    out: list[tuple[int, bytes | None, bytes | None]] = []
    offset = log.start_offset
    while offset < log.end_offset:
        data = log.read_bytes(offset, 4096)
        if not data:
            break
        pos = 0
        while pos < len(data):  # every batch whole and checksummed
            header = rb.parse_header(data, pos)
            assert rb.check_crc(data[pos:pos + header.length])
            offset = max(offset, header.next_offset)
            pos += header.length
        out.extend(r for r in rb.read_records(data) if r[0] >= (out[-1][0] + 1 if out else 0))
    return out


def latest(records: list[tuple[int, bytes | None, bytes | None]]) -> dict[bytes, bytes | None]:
    found: dict[bytes, bytes | None] = {}
    for _offset, key, value in records:
        assert key is not None
        found[key] = value
    return found


values = st.one_of(st.none(), st.binary(min_size=1, max_size=40))  # None: a tombstone
records = st.tuples(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), values)
ops = st.lists(st.tuples(st.lists(records, min_size=1, max_size=6),
                         st.sampled_from(["append", "append", "append", "clean", "reopen"])),
               min_size=1, max_size=60)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_compacted_log_matches_a_dict(tmp_path_factory: object,
                                      steps: list[tuple[list[tuple[bytes, bytes | None]], str]]
                                      ) -> None:
    path = tmp_path_factory.mktemp("log")  # type: ignore[attr-defined]
    log = Log(path, COMPACT)
    model: dict[bytes, bytes | None] = {}
    written: dict[int, tuple[bytes, bytes | None]] = {}
    now = 1_000_000
    try:
        for records, action in steps:
            base = log.append(rb.build(records, timestamp_ms=now)).base_offset
            for i, (key, value) in enumerate(records):
                model[key] = value
                written[base + i] = (key, value)
            if action == "clean":
                cleaner.clean(log, now_ms=now)
            elif action == "reopen":
                log.close()
                log = Log(path, COMPACT)
            now += 1000
            seen = scan(log)
            offsets = [o for o, _k, _v in seen]
            assert offsets == sorted(set(offsets))  # increasing, no duplicates
            for offset, key, value in seen:  # every record where and what it was written
                assert written[offset] == (key, value)
            assert latest(seen) == model  # tombstones kept: within delete_retention_ms
            assert log.end_offset == max(written) + 1
        # cleaned part: one record per key; far past the horizon, tombstones are gone too
        cleaner.clean(log, now_ms=now, force=True)
        cleaner.clean(log, now_ms=now + DAY_MS, force=True)
        seen = scan(log)
        clean_upto = cleaner.Checkpoint.load(path).clean_upto
        keys = [k for o, k, _v in seen if o < clean_upto]
        assert len(keys) == len(set(keys))
        assert {k: v for k, v in latest(seen).items() if v is not None} == {
            k: v for k, v in model.items() if v is not None}
        assert not [o for o, _k, v in seen if v is None and o < clean_upto]
        assert log.verify() == []
    finally:
        log.close()


def fill(log: Log, rounds: int, keys: int = 10, now: int = 1_000_000) -> dict[bytes, bytes]:
    model: dict[bytes, bytes] = {}
    for r in range(rounds):
        for k in range(keys):
            key, value = f"k{k}".encode(), f"v{r}-{k}".encode() * 5
            log.append(rb.build([(key, value)], timestamp_ms=now + r))
            model[key] = value
    return model


def test_cleaning_shrinks_keeps_offsets_and_survives_restart(tmp_path: Path) -> None:
    log = Log(tmp_path, COMPACT)
    model = fill(log, rounds=30)
    before = log.size
    end = log.end_offset
    stats = cleaner.clean(log, now_ms=2_000_000)
    assert stats is not None and stats.bytes_written < stats.bytes_read
    assert log.size < before / 2
    assert log.end_offset == end and log.start_offset == 0
    seen = scan(log)
    assert {k: v for _o, k, v in seen} == model
    log.close()
    log = Log(tmp_path, COMPACT)
    assert {k: v for _o, k, v in scan(log)} == model
    assert log.recovery == [] and log.verify() == []
    # nothing new is dirty: no pass is due
    assert cleaner.plan(log, now_ms=2_000_000) is None
    log.close()


def test_dirty_ratio_gates_a_pass(tmp_path: Path) -> None:
    config = dataclasses.replace(COMPACT, min_cleanable_dirty_ratio=0.99)
    log = Log(tmp_path, config)
    fill(log, rounds=30)
    assert cleaner.dirty_ratio(log) == 1.0
    assert cleaner.plan(log) is not None  # all dirty: 1.0 > 0.99
    cleaner.clean(log)
    assert cleaner.dirty_ratio(log) == 0.0
    fill(log, rounds=3)  # a few new segments beside the clean ones
    assert 0 < cleaner.dirty_ratio(log) < 0.99
    assert cleaner.plan(log) is None
    log.close()


def test_delete_policy_is_never_cleaned_and_compact_is_never_retained(tmp_path: Path) -> None:
    plain = Log(tmp_path / "plain", dataclasses.replace(COMPACT, cleanup_policy="delete"))
    fill(plain, rounds=20)
    assert cleaner.plan(plain) is None
    plain.close()
    kept = Log(tmp_path / "kept", dataclasses.replace(COMPACT, retention_bytes=1024,
                                                       retention_ms=1))
    model = fill(kept, rounds=20)
    assert kept.enforce_retention() == 0  # compact alone: no retention by size or age
    both = Log(tmp_path / "both", dataclasses.replace(
        COMPACT, cleanup_policy="compact,delete", retention_bytes=1024))
    fill(both, rounds=20)
    assert both.enforce_retention() > 0
    assert {k: v for _o, k, v in scan(kept)} == model
    kept.close()
    both.close()


def test_aborted_records_go_markers_stay_while_their_records_do(tmp_path: Path) -> None:
    log = Log(tmp_path, COMPACT)
    now = 1_000_000
    log.append(rb.build([(b"k", b"committed")], timestamp_ms=now, producer_id=5,
                        producer_epoch=0, base_sequence=0, attributes=rb.TRANSACTIONAL))
    commit_at = log.append_marker(5, 0, commit=True)
    log.append(rb.build([(b"k", b"aborted")], timestamp_ms=now, producer_id=5,
                        producer_epoch=0, base_sequence=1, attributes=rb.TRANSACTIONAL))
    abort_at = log.append_marker(5, 0, commit=False)
    log.synced(log.end_offset)
    fill(log, rounds=12, keys=3)  # other keys, and enough to roll the segments past the markers
    log.synced(log.end_offset)
    cleaner.clean(log, now_ms=now)
    seen = scan(log)
    values = [v for _o, k, v in seen if k == b"k"]
    assert values == [b"committed"]  # the aborted one is gone, never counted as the latest
    markers = _markers(log)
    assert commit_at in markers and abort_at in markers  # within the horizon: both stay
    cleaner.clean(log, now_ms=now + DAY_MS, force=True)
    markers = _markers(log)
    assert commit_at in markers  # its transaction still has a record in the log
    assert abort_at not in markers  # nothing of its transaction is left
    log.append(rb.build([(b"k", b"newer")], timestamp_ms=now))
    fill(log, rounds=6, keys=3)
    cleaner.clean(log, now_ms=now + DAY_MS)
    cleaner.clean(log, now_ms=now + 3 * DAY_MS, force=True)
    assert commit_at not in _markers(log)  # its record was superseded: the marker goes too
    log.close()


def _markers(log: Log) -> set[int]:
    found: set[int] = set()
    offset = log.start_offset
    while offset < log.end_offset:
        data = log.read_bytes(offset, 4096)
        if not data:
            break
        pos = 0
        while pos < len(data):
            header = rb.parse_header(data, pos)
            if header.attributes & rb.CONTROL:
                found.add(header.base_offset)
            offset = max(offset, header.next_offset)
            pos += header.length
    return found


def test_open_transaction_and_active_segment_are_never_cleaned(tmp_path: Path) -> None:
    log = Log(tmp_path, COMPACT)
    fill(log, rounds=3, keys=3)
    log.append(rb.build([(b"k0", b"open")], timestamp_ms=1, producer_id=9, producer_epoch=0,
                        base_sequence=0, attributes=rb.TRANSACTIONAL))
    open_at = log.end_offset - 1
    fill(log, rounds=20, keys=3)
    cleaner.clean(log)
    assert cleaner.Checkpoint.load(tmp_path).clean_upto <= open_at
    assert any(o == open_at for o, _k, _v in scan(log))
    log.close()


def test_a_crash_at_any_step_of_a_swap_leaves_a_whole_log(tmp_path: Path) -> None:
    for step in ("staged", "indexes-gone", "log-swapped"):
        path = tmp_path / step
        log = Log(path, COMPACT)
        model = fill(log, rounds=30)
        plan = cleaner.plan(log)
        assert plan is not None
        outcome = cleaner.execute(plan)
        old, stem = next((o, s) for o, s in outcome.replaced if s is not None)
        target = path / old.store.path.stem
        if step != "staged":
            for suffix in (".index", ".timeindex"):
                target.with_suffix(suffix).unlink()
        if step == "log-swapped":
            os.replace(stem.with_suffix(".log"), target.with_suffix(".log"))
        plan.close()
        log.close()  # the "crash": the process stops here; a restart opens what is on disk
        log = Log(path, COMPACT)
        assert not (path / cleaner.STAGING).exists()
        assert {k: v for _o, k, v in scan(log)} == model
        assert log.verify() == []
        cleaner.clean(log)  # and the next pass finishes the job
        assert {k: v for _o, k, v in scan(log)} == model
        log.close()


def test_a_reader_holding_the_old_file_reads_whole_batches(tmp_path: Path) -> None:
    log = Log(tmp_path, COMPACT)
    fill(log, rounds=30)
    held = log.read(0, 900)  # what a sendfile in flight holds
    assert held is not None
    expected = os.pread(held.fd, held.size, held.position)
    cleaner.clean(log)
    assert os.pread(held.fd, held.size, held.position) == expected  # the old inode, intact
    pos = 0
    while pos < len(expected):
        header = rb.parse_header(expected, pos)
        assert rb.check_crc(expected[pos:pos + header.length])
        pos += header.length
    log.close()


def test_gzip_batches_are_recompressed(tmp_path: Path) -> None:
    import zlib

    log = Log(tmp_path, COMPACT)
    for r in range(40):
        plain = rb.build([(b"a", b"old%d" % r), (b"b", b"x" * 30)], timestamp_ms=5)
        body = zlib.compressobj(wbits=31)
        packed = body.compress(plain[rb.HEADER_SIZE:]) + body.flush()
        log.append(_with_body(plain, packed, codec=1))
    log.append(rb.build([(b"a", b"newest")], timestamp_ms=5))
    fill(log, rounds=10, keys=2)
    cleaner.clean(log)
    seen = scan_gzip(log)
    assert [v for _o, k, v in seen if k == b"b"] == [b"x" * 30]
    log.close()


def _with_body(plain: bytes, body: bytes, codec: int) -> bytes:
    import struct

    from crc32c import crc32c

    header = bytearray(plain[:rb.HEADER_SIZE])
    struct.pack_into(">h", header, 21, codec)
    after = bytes(header[21:]) + body
    struct.pack_into(">i", header, 8, 4 + 1 + 4 + len(after))
    struct.pack_into(">I", header, 17, crc32c(after))
    return bytes(header[:21]) + after


def scan_gzip(log: Log) -> list[tuple[int, bytes | None, bytes | None]]:
    import zlib

    out: list[tuple[int, bytes | None, bytes | None]] = []
    offset = 0
    while offset < log.end_offset:
        data = log.read_bytes(offset, 4096)
        if not data:
            break
        pos = 0
        while pos < len(data):
            header = rb.parse_header(data, pos)
            piece = data[pos:pos + header.length]
            assert rb.check_crc(piece)
            if header.attributes & 7 == 1:
                inner = zlib.decompress(piece[rb.HEADER_SIZE:], 47)
                piece = _with_body(piece, inner, codec=0)
            if header.base_offset >= offset:
                out.extend(rb.read_records(piece))
            offset = max(offset, header.next_offset)
            pos += header.length
    return out
