"""The journal under committed offsets and the transaction log: what was appended comes back,
a torn tail is cut (so the next append is not glued to it), a corrupt line is skipped."""

from __future__ import annotations

from pathlib import Path

from bazaar.broker._journal import Journal
from bazaar.broker.groups import OffsetStore


def _replayed(path: Path) -> list[object]:
    j = Journal(path)
    try:
        return list(j.replay())
    finally:
        j.close()


def test_appends_come_back_and_a_torn_tail_is_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    list(j.replay())
    j.append([{"a": 1}, [2, "b"]])
    j.close()
    with path.open("ab") as f:
        f.write(b'1234abcd {"torn":')  # a crash mid-write
    j = Journal(path)
    assert list(j.replay()) == [{"a": 1}, [2, "b"]]
    j.append([3])
    j.close()
    assert _replayed(path) == [{"a": 1}, [2, "b"], 3]


def test_a_line_whose_crc_does_not_match_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    list(j.replay())
    j.append([1, 2])
    j.close()
    data = path.read_bytes().replace(b" 1\n", b" 7\n")
    path.write_bytes(data)
    assert _replayed(path) == [2]


def test_rewrite_replaces_everything_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    list(j.replay())
    j.append(range(50))
    assert j.lines == 50
    j.rewrite(["only"])
    j.append(["after"])
    j.close()
    assert _replayed(path) == ["only", "after"]
    assert not (tmp_path / "j.compact").exists()


def test_a_deleted_topics_offsets_stay_forgotten_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "offsets.jsonl"
    store = OffsetStore(path)
    store.commit("g", [("t", 0, 5, None), ("u", 0, 7, "m")])
    store.forget_topic("t")
    store.close()
    again = OffsetStore(path)
    assert again.get("g", "t", 0) is None
    assert again.get("g", "u", 0) is not None and again.get("g", "u", 0).offset == 7  # type: ignore[union-attr]
    again.close()
