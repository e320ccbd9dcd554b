"""The map is true: every path the README and ``docs/architecture.md`` name exists, every
component page has a file map that names each file of its package (and only files that
exist), and the rules ``docs/architecture.md`` states are the import-linter contracts that
CI runs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src" / "bazaar"
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PATHLIKE = re.compile(r"^\.?[A-Za-z0-9_.\-/]+$")
_SUFFIXES = (".py", ".md", ".toml", ".c", ".pyi", ".json", ".yaml", ".png")
_LINK = re.compile(r"\[[^\]]*\]\([^)]*\)")  # [text](target): the link test checks those
# Files a user's run makes in their own directory, not files of the repository.
USER_FILES = {"./.bazaar", ".bazaar/logs/", "./.env", "./bazaar.toml", "bazaar.toml"}

# Component pages and the package each maps (a new component page joins here).
PAGES = {
    "docs/auth.md": "auth", "docs/bloom.md": "bloom", "docs/broker.md": "broker",
    "docs/cache.md": "cache", "docs/flow.md": "flow", "docs/functions.md": "functions",
    "docs/storage.md": "storage", "docs/web.md": "web", "docs/shop.md": "shop",
    "docs/http.md": "serving",
}
MAP_HEADINGS = re.compile(r"^##+ (File map|Files|Where the code lives|Layout)\b")
# What a map need not name: package plumbing and revision folders (storage's page has those).
NOT_MAPPED = {"__init__.py", "__main__.py", "py.typed", "__pycache__", "migrations",
              "_migrations", "_alembic"}


def code_spans(text: str, *, fenced_names: bool = False) -> list[str]:
    """Inline code outside fenced blocks and link texts, on lines that do not say the thing
    is planned. Fenced blocks are examples, not claims — unless ``fenced_names``: then the
    first word of each fenced line counts (a layout drawn as a tree)."""
    spans: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            if fenced_names and line.split():
                spans.append(line.split()[0])
            continue
        if "planned" in line:
            continue
        spans += _INLINE_CODE.findall(_LINK.sub("", line))
    return spans


def path_claims(text: str) -> set[str]:
    """Spans that name a file or folder of the repository (not URLs, globs, env vars, data
    paths such as DATA_DIR/…, commands or Python names)."""
    found = set()
    for span in code_spans(text):
        span = span.strip()
        if not _PATHLIKE.match(span) or span.startswith("/") or "//" in span:
            continue
        if "/" not in span and not span.endswith(_SUFFIXES):
            continue
        if span[0].isupper() or span in USER_FILES or any(
                part.isupper() for part in re.split(r"[/.]", span)):  # DATA_DIR/…, NAME.md
            continue
        found.add(span)
    return found


def _all_paths() -> set[str]:
    found: set[str] = set()
    for top in ("src", "docs", "tests", "bench"):
        for path in (ROOT / top).rglob("*"):
            if "__pycache__" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return found


_PATHS = _all_paths()


def resolves(span: str) -> bool:
    """Whether ``span`` is a path of the repository: from its root, from ``src/bazaar/``,
    ``src/`` or ``docs/``, or (written relative to the package a sentence is about) the tail
    of one."""
    bare = span.removeprefix("./").rstrip("/")
    if any((base / bare).exists() for base in (ROOT, SRC, ROOT / "src", ROOT / "docs")):
        return True
    return any(path == bare or path.endswith("/" + bare) for path in _PATHS)


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md"])
def test_every_path_the_map_names_exists(document: str) -> None:
    claims = path_claims((ROOT / document).read_text(encoding="utf-8"))
    assert claims, f"{document} names no path: the check would prove nothing"
    missing = sorted(c for c in claims if not resolves(c))
    assert not missing, f"{document} names paths that do not exist: {missing}"


def file_map(text: str) -> str:
    """The page's file-map section(s)."""
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith("## ") or MAP_HEADINGS.match(line):
            keep = bool(MAP_HEADINGS.match(line))
        if keep:
            out.append(line)
    return "\n".join(out)


def _relative(span: str, package: str) -> str:
    bare = span.split(" ")[0].rstrip("/")
    for prefix in (f"src/bazaar/{package}/", f"{package}/", "src/bazaar/"):
        if bare.startswith(prefix):
            return bare.removeprefix(prefix)
    return bare


@pytest.mark.parametrize(("page", "package"), sorted(PAGES.items()))
def test_every_component_page_maps_its_files(page: str, package: str) -> None:
    section = file_map((ROOT / page).read_text(encoding="utf-8"))
    assert section, f"{page} has no file map (## File map / Files / Where the code lives)"
    named = {_relative(s, package) for s in code_spans(section, fenced_names=True)}
    root = SRC / package
    entries = sorted(p.name for p in root.iterdir()
                     if p.name not in NOT_MAPPED and not p.name.endswith(".so"))
    unmapped = [e for e in entries
                if not any(n == e or n.startswith(e + "/") or n.endswith("/" + e)
                           for n in named)]
    assert not unmapped, f"{page}'s file map does not name {unmapped}"
    claimed = [s for s in path_claims(section)]
    gone = [s for s in claimed if not ((root / _relative(s, package)).exists() or resolves(s))]
    assert not gone, f"{page}'s file map names files that do not exist: {gone}"


def contracts() -> list[dict[str, object]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, object]] = project["tool"]["importlinter"]["contracts"]
    return found


def rules_section() -> str:
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    return text.split("## Rules (checked in CI)", 1)[1].split("\n## ", 1)[0]


def test_the_rules_architecture_states_are_the_contracts_ci_runs() -> None:
    stated = set(re.findall(r"^- contract: \"([^\"]+)\"", rules_section(), re.MULTILINE))
    assert stated == {str(c["name"]) for c in contracts()}


def test_the_components_architecture_lists_are_the_ones_the_contract_holds() -> None:
    line = re.search(r"^Components \(.*?\): (.+)$", rules_section(), re.MULTILINE)
    assert line is not None, "architecture.md's rules name no list of components"
    stated = set(re.findall(r"`([a-z_.]+)`", line.group(1)))
    first = next(c for c in contracts() if str(c["name"]).startswith("Components never"))
    held = {str(m).removeprefix("bazaar.") for m in first["source_modules"]}  # type: ignore[attr-defined]
    assert stated == held


def test_the_checks_fail_on_a_made_up_map(tmp_path: Path) -> None:
    assert path_claims("see `src/bazaar/nowhere.py` and `docs/x.md`, not `BAZAAR_X` or "
                       "`/products/1` or `bazaar up`") == {"src/bazaar/nowhere.py", "docs/x.md"}
    assert not resolves("src/bazaar/nowhere.py") and resolves("src/bazaar/processes.py")
    assert file_map("# t\n## File map\n`a.py`\n## Next\n`b.py`") == "## File map\n`a.py`"
