"""The package store: content-addressed, immutable; unsafe or handler-less zips rejected."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.functions import (
    InvalidPackage,
    NotFound,
    PackageStore,
    check_package,
    digest_of,
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
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(NotFound):
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


@given(st.binary(max_size=200))
def test_digest_changes_with_content(extra: bytes) -> None:
    a = _zip({"app.py": "a"})
    assert digest_of(a) != digest_of(a + extra + b"x")
