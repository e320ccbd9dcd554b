"""The package store: content-addressed, immutable; unsafe or handler-less zips rejected."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.functions import (
    InvalidPackage,
    PackageStore,
    ResourceNotFound,
    check_package,
    digest_of,
    find_handler,
    zip_directory,
)


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_a_zip_without_the_handler_module_is_rejected() -> None:
    with pytest.raises(InvalidPackage, match="no handler module"):
        check_package(_zip({"other.py": "def handler(e, c): pass"}), "app.handler")


def test_package_module_and_nested_module_are_found() -> None:
    check_package(_zip({"app.py": ""}), "app.handler")
    check_package(_zip({"pkg/__init__.py": "", "pkg/mod.py": ""}), "pkg.mod.handler")
    check_package(_zip({"pkg/__init__.py": ""}), "pkg.handler")


@pytest.mark.parametrize("name", ["../evil.py", "/abs.py", "a/../../b.py"])
def test_unsafe_paths_are_rejected(name: str) -> None:
    with pytest.raises(InvalidPackage, match="unsafe"):
        check_package(_zip({"app.py": "", name: "x"}), "app.handler")


def test_garbage_is_not_a_zip() -> None:
    with pytest.raises(InvalidPackage, match="not a zip"):
        check_package(b"hello", "app.handler")


def test_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = PackageStore(tmp_path)
    blob = _zip({"app.py": "x = 1"})
    digest = store.put(blob)
    assert digest == digest_of(blob)
    assert store.put(blob) == digest
    assert store.get(digest) == blob
    assert store.has(digest)
    with pytest.raises(ResourceNotFound):
        store.get("0" * 64)
    with pytest.raises(ResourceNotFound):
        store.get("../../etc/passwd")


def test_zip_directory_is_deterministic_and_skips_caches(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(e, c): return 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    (tmp_path / ".hidden").write_text("secret")
    first = zip_directory(tmp_path)
    assert zip_directory(tmp_path) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["app.py"]
    with pytest.raises(InvalidPackage):
        zip_directory(tmp_path / "missing")


_NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
_TREES = st.dictionaries(st.lists(_NAMES, min_size=1, max_size=3).map("/".join),
                         st.binary(max_size=64), min_size=1, max_size=6).filter(
    lambda tree: not any(a != b and b.startswith(a + "/") for a in tree for b in tree))


def _write(root: Path, tree: dict[str, bytes], order: list[str], mtime: int) -> None:
    for rel in order:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tree[rel])
        os.utime(path, (mtime, mtime))


@settings(max_examples=25, deadline=None)
@given(_TREES, st.randoms(use_true_random=False))
def test_the_same_source_is_one_package_and_other_source_another(
        tree: dict[str, bytes], rnd: Any) -> None:
    """Whatever order the files were written in and whatever their times, the same source
    zips to the same bytes (one stored package); changing one file's bytes makes another
    package; and the store gives back exactly what was put."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c = Path(tmp, "a"), Path(tmp, "b"), Path(tmp, "c")
        names = sorted(tree)
        shuffled = names[:]
        rnd.shuffle(shuffled)
        _write(a, tree, names, 1_000_000)
        _write(b, tree, shuffled, 2_000_000)
        changed = dict(tree)
        first = names[0]
        changed[first] = tree[first] + b"!"
        _write(c, changed, names, 1_000_000)
        store = PackageStore(Path(tmp, "store"))
        za, zb, zc = zip_directory(a), zip_directory(b), zip_directory(c)
        assert store.put(za) == store.put(zb)
        assert store.put(zc) != store.put(za)
        assert len(list(Path(tmp, "store").rglob("*.zip"))) == 2
        assert store.get(digest_of(zc)) == zc
        unpacked = zipfile.ZipFile(io.BytesIO(store.get(digest_of(za))))
        assert {n: unpacked.read(n) for n in unpacked.namelist()} == tree


@settings(max_examples=40, deadline=None)
@given(_TREES, st.lists(_NAMES, min_size=1, max_size=3), st.integers(0, 3))
def test_a_path_that_climbs_out_is_always_rejected(tree: dict[str, bytes], parts: list[str],
                                                   at: int) -> None:
    files = {"app.py": "", **{k: v.decode("latin-1") for k, v in tree.items()}}
    check_package(_zip(files), "app.handler")  # safe paths and the module: accepted
    climbing = "/".join([*parts[:at], "..", *parts[at:]])
    with pytest.raises(InvalidPackage, match="unsafe"):
        check_package(_zip({**files, climbing: "x"}), "app.handler")


def test_the_handler_is_found_in_app_then_handler_then_main(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def handler(event, context):\n    return 3\n")
    assert find_handler(tmp_path) == "main.handler"
    (tmp_path / "handler.py").write_text("async def handler(event, context):\n    pass\n")
    assert find_handler(tmp_path) == "handler.handler"
    (tmp_path / "app.py").write_text("def helper():\n    pass\n")  # no handler: skipped
    assert find_handler(tmp_path) == "handler.handler"
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    assert find_handler(tmp_path) == "app.handler"


def test_no_handler_found_says_what_was_looked_for_and_names_the_option(
        tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def run(event, context):\n    pass\n")
    (tmp_path / "service.py").write_text("def handler(event, context):\n    pass\n")
    with pytest.raises(InvalidPackage) as found:
        find_handler(tmp_path)
    message = str(found.value)
    assert "app.py, handler.py, main.py" in message and "--handler" in message
    assert "app.py define no handler" in message
