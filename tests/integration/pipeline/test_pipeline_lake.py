"""The lake on disk: partitioned files named by offsets, the manifest, recovery of a crash's
leftovers, compaction, schema evolution."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.support.pipeline import fill_lake

from bazaar.pipeline import Lake, LakeError, digest, prepare_duckdb, read_table
from bazaar.pipeline._lake import _SAFE


def test_one_file_per_batch_named_by_offsets_with_a_row_group_per_type_in_time_order(
        tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    n = fill_lake(lake, 4_000, batch=1_000)
    files = lake.files()
    assert len(files) == -(-n // 1_000)  # one file per batch of offsets
    assert sum(f.rows for f in files) == n
    assert lake.next_offset("shop.events", 0) == n
    assert lake.next_offset("shop.events", 1) is None
    for f in files:
        path = Path(f.path)
        assert path.parent == Path("raw")
        topic, partition, first, last = path.stem.split("+")
        assert (topic, partition) == ("shop_events", "0")
        table = pq.read_table(lake.root / f.path)
        assert sorted(table.column("offset").to_pylist()) == list(range(int(first),
                                                                        int(last) + 1))
        kinds = [_SAFE.sub("_", t.lower())[:64] for t in table.column("type").to_pylist()]
        assert f.types == {k: kinds.count(k) for k in set(kinds)}
        meta = pq.ParquetFile(lake.root / f.path).metadata
        seen: set[str] = set()
        for g in range(meta.num_row_groups):  # each row group: one type, by hour
            group = pq.ParquetFile(lake.root / f.path).read_row_group(g)
            hours = [int(t.timestamp()) // 3600 for t in group.column("at").to_pylist()]
            labels = {_SAFE.sub("_", t.lower())[:64] for t in group.column("type").to_pylist()}
            assert hours == sorted(hours) and len(labels) == 1
            assert labels.isdisjoint(seen)
            seen |= labels
        assert meta.num_row_groups == len(seen) == len(f.types) > 1
        at = pc.cast(table.column("at"), pa.int64())
        assert (f.first_at, f.last_at) == (pc.min(at).as_py(), pc.max(at).as_py())
    assert not list(lake.root.rglob(".tmp-*"))


def test_a_batch_that_skips_or_repeats_offsets_is_refused(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 1_000, batch=1_000)
    before = lake.manifest()
    table = read_table(lake.paths())
    nxt = lake.next_offset("shop.events", 0)
    assert nxt is not None
    for first in (0, nxt + 1):
        with pytest.raises(LakeError, match="expects"):
            lake.write_batch("shop.events", 0, first, first + 5, table.slice(0, 5))
    assert lake.manifest() == before
    assert not list(lake.root.rglob(".tmp-*"))  # the refused batch's files are gone too


def test_recover_deletes_what_the_manifest_does_not_name(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 2_000, batch=1_000)
    kept = set(lake.paths())
    some = Path(next(iter(kept)))
    orphan = some.with_name("shop_events+0+00000000000000099999+00000000000000100000.parquet")
    orphan.write_bytes(some.read_bytes())
    dead_tmp = some.with_name(".tmp-999999999-x.parquet")  # a writer that no longer exists
    dead_tmp.write_bytes(b"half")
    assert lake.recover() == 2
    assert not orphan.exists() and not dead_tmp.exists()
    assert {str(p) for p in lake.root.rglob("*.parquet")} == kept


def test_a_corrupt_manifest_is_a_clear_error(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    (lake.root / "_manifest.json").write_bytes(b"{not json")
    with pytest.raises(LakeError, match="not a lake manifest"):
        lake.files()


def test_compaction_merges_small_files_and_keeps_every_row(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 6_000, batch=300)
    before_files = len(lake.files())
    before = digest(prepare_duckdb(lake.paths()))
    raw_rows = read_table(lake.paths()).num_rows
    replaced = lake.compact(min_files=2)
    assert replaced > 0
    after_files = lake.files()
    assert len(after_files) < before_files
    assert sum(f.rows for f in after_files) == raw_rows
    assert digest(prepare_duckdb(lake.paths())) == before
    assert {str(p) for p in lake.root.rglob("*.parquet")} == set(lake.paths())


def test_schema_evolution_new_optional_field_and_widened_type(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 1_000, batch=1_000)
    old = read_table(lake.paths())
    prepared_before = prepare_duckdb(lake.paths()).num_rows
    # A newer producer: quantity as int32 in one file, then a new optional field "coupon".
    narrow = old.slice(0, 10).set_column(
        old.schema.get_field_index("quantity"), "quantity",
        old.column("quantity").slice(0, 10).cast(pa.int32()))
    nxt = lake.next_offset("shop.events", 0)
    assert nxt is not None
    offsets = pa.array(range(nxt, nxt + 10), pa.int64())
    narrow = narrow.set_column(narrow.schema.get_field_index("offset"), "offset", offsets)
    lake.write_batch("shop.events", 0, nxt, nxt + 9, narrow)
    newer = narrow.append_column("coupon", pa.array(["SAVE10"] * 10)).set_column(
        narrow.schema.get_field_index("offset"), "offset",
        pa.array(range(nxt + 10, nxt + 20), pa.int64()))
    lake.write_batch("shop.events", 0, nxt + 10, nxt + 19, newer)
    table = read_table(lake.paths())
    assert table.schema.field("quantity").type == pa.int64()
    assert table.schema.field("coupon").type == pa.string()
    coupons = table.column("coupon").to_pylist()
    assert coupons.count("SAVE10") == 10 and coupons.count(None) == table.num_rows - 10
    assert table.num_rows == old.num_rows + 20
    # DuckDB reads the evolved lake too; the 20 re-sent events (same ids) are deduplicated.
    assert prepare_duckdb(lake.paths()).num_rows == prepared_before
