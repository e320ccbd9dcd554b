"""Every link and image in the README and ``docs/`` points at a file the clone really has.

The check reads ``git ls-files``, not the working tree: a plot that exists only on the machine
that made it (an ignored ``results/`` folder, a forgotten ``git add``) is a broken image for
everyone else, and it fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[3]

# [text](target) and ![alt](target), with an optional "title"; <img src="target"> and <a href>.
_MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_LINK = re.compile(r"<(?:img|a)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`]*`")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def tracked_files() -> set[str]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return {name for name in listing.split("\0") if name}


def tracked_dirs(files: set[str]) -> set[str]:
    return {str(parent) for name in files for parent in PurePosixPath(name).parents}


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link outside code blocks and inline code."""
    found: list[tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        prose = _INLINE_CODE.sub("", line)
        found += [(number, m.group(1)) for m in _MARKDOWN_LINK.finditer(prose)]
        found += [(number, m.group(1)) for m in _HTML_LINK.finditer(prose)]
    return found


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = _INLINE_CODE.sub(lambda m: m.group(0).strip("`"), heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence or not line.startswith("#"):
            continue
        base = github_anchor(line.lstrip("#"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(document: str, text: str, files: set[str], dirs: set[str]) -> list[str]:
    problems = []
    for number, target in links(text):
        if _EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        if path_part:
            joined = PurePosixPath(document).parent / path_part
            resolved = _normalise(joined)
        else:
            resolved = document
        where = f"{document}:{number}: {target}"
        if resolved is None:
            problems.append(f"{where} leaves the repository")
        elif resolved not in files and resolved.rstrip("/") not in dirs:
            problems.append(f"{where} -> {resolved} is not in git ls-files")
        elif fragment and resolved.endswith(".md") and fragment not in anchors(
            (ROOT / resolved).read_text(encoding="utf-8")
        ):
            problems.append(f"{where} -> no heading #{fragment} in {resolved}")
    return problems


def _normalise(path: PurePosixPath) -> str | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts) if parts else "."


def documents(files: set[str]) -> list[str]:
    return sorted(
        f for f in files if f.endswith(".md") and (f == "README.md" or f.startswith("docs/"))
    )


def test_every_readme_and_docs_link_exists_in_the_clone() -> None:
    files = tracked_files()
    dirs = tracked_dirs(files)
    docs = documents(files)
    assert "README.md" in docs and "docs/architecture.md" in docs
    problems = []
    for document in docs:
        text = (ROOT / document).read_text(encoding="utf-8")
        problems += broken_links(document, text, files, dirs)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_lab_page_shows_a_committed_plot() -> None:
    files = tracked_files()
    pages = [f for f in files if f.startswith("docs/lab/") and f.endswith(".md")]
    pages.remove("docs/lab/README.md")
    assert pages
    for page in pages:
        text = (ROOT / page).read_text(encoding="utf-8")
        images = [target for _, target in links(text) if target.endswith(".png")]
        assert images, f"{page} shows no plot"


# The checker itself, on documents made up for the purpose: each kind of break is caught.
FILES = {"README.md", "docs/a.md", "docs/lab/results/plot.png"}
DIRS = tracked_dirs(FILES)


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("![](lab/results/plot.png)", False),
        ("![](lab/results/missing.png)", True),
        ("[back](../README.md) and [dir](lab/results/)", False),
        ("[up too far](../../etc/passwd)", True),
        ('<img src="lab/results/plot.png" width="400">', False),
        ('<img src="lab/plot.png">', True),
        ("[web](https://example.com/x.png) [mail](mailto:a@b.c)", False),
        ("```\n![](not/checked.png)\n```", False),
        ("`[code](not/checked.md)`", False),
        ("[self](#a-heading)\n\n## A heading", False),
        ("[self](#no-such-heading)\n\n## A heading", True),
    ],
)
def test_the_checker_finds_each_kind_of_broken_link(
    text: str, broken: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(text, encoding="utf-8")
    assert bool(broken_links("docs/a.md", text, FILES, DIRS)) is broken
