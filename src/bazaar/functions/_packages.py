"""Package store: function zips, immutable and addressed by their SHA-256.

The store is a directory (``sha256/<2 hex>/<digest>.zip``); the interface is four methods so an
S3-compatible store can replace it later.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path, PurePosixPath

from bazaar.functions._errors import InvalidPackage, ResourceNotFound

MAX_PACKAGE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 250 * 1024 * 1024  # Lambda's unzipped limit


def digest_of(blob: bytes) -> str:
    """A package's address: the hex SHA-256 of its bytes."""
    return hashlib.sha256(blob).hexdigest()


def check_package(blob: bytes, handler: str) -> None:
    """Reject a zip that is unreadable, unsafe (absolute or ``..`` paths), too large, or has no
    module for ``handler`` ("module.function"). Raises InvalidPackage."""
    if len(blob) > MAX_PACKAGE_BYTES:
        raise InvalidPackage(f"package is {len(blob)} bytes; the limit is {MAX_PACKAGE_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InvalidPackage(f"not a zip file: {exc}") from exc
    names = set()
    total = 0
    for info in infos:
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in info.filename:
            raise InvalidPackage(f"unsafe path in package: {info.filename!r}")
        total += info.file_size
        names.add(info.filename.rstrip("/"))
    if total > MAX_UNPACKED_BYTES:
        raise InvalidPackage(f"package unpacks to {total} bytes; limit {MAX_UNPACKED_BYTES}")
    module = handler.rpartition(".")[0].replace(".", "/")
    if f"{module}.py" not in names and f"{module}/__init__.py" not in names:
        raise InvalidPackage(f"no handler module: {module}.py is not in the package "
                             f"(handler {handler!r})")


#: The modules ``find_handler`` looks for, in this order (each must define ``handler``).
HANDLER_MODULES = ("app", "handler", "main")


def find_handler(directory: Path) -> str:
    """The handler of a function's source directory: ``<module>.handler`` for the first of
    ``app.py``, ``handler.py``, ``main.py`` that defines a top-level ``handler`` function.
    Raises InvalidPackage naming what was looked for and how to say it instead."""
    import ast

    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidPackage(f"{directory} is not a directory")
    without = []
    for module in HANDLER_MODULES:
        path = directory / f"{module}.py"
        if not path.is_file():
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError) as exc:
            raise InvalidPackage(f"{path} does not parse: {exc}") from exc
        if any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
               and node.name == "handler" for node in tree.body):
            return f"{module}.handler"
        without.append(path.name)
    found = f" ({', '.join(without)} define no handler function)" if without else ""
    raise InvalidPackage(
        f"no handler found in {directory}: looked for a function 'handler' in "
        f"{', '.join(m + '.py' for m in HANDLER_MODULES)}{found}; name yours with "
        f"--handler module.function")


def zip_directory(directory: Path) -> bytes:
    """Zip a function's source directory deterministically (sorted, fixed timestamps), so the
    same source gives the same digest. Skips caches and hidden files."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidPackage(f"{directory} is not a directory")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts) or path.is_dir():
                continue
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


class PackageStore:
    """Content-addressed zips in a directory. ``put`` is idempotent and atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ResourceNotFound(f"no package {digest!r}")
        return self.root / "sha256" / digest[:2] / f"{digest}.zip"

    def put(self, blob: bytes) -> str:
        """Store ``blob``; return its digest. Written to a temp file, fsync'd, renamed."""
        digest = digest_of(blob)
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise ResourceNotFound(f"no package {digest}") from None

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
