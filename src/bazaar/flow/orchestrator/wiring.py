"""``${ref.output.path}`` wiring: how one task's input names another task's output.

Expressions: ``${workflow.input.x}``, ``${workflow.id}``, ``${ref.output.a.b[0]}``,
``${ref.input.x}``, ``${ref.output}``. A string that is exactly one expression takes the value
as is (any JSON type); expressions embedded in a longer string are interpolated as text.
A path that does not resolve (a branch not taken, a missing key) yields ``None``, as in Conductor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_EXPR = re.compile(r"\$\{([^}]*)\}")
_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+|\[\d+\]")
_ROOT_FIELDS = {"input", "output"}
_WORKFLOW_FIELDS = {"input", "id", "name", "version"}


def parse_path(expr: str) -> list[str | int]:
    """Split ``a.b[0].c`` into ``["a", "b", 0, "c"]``; raise ``ValueError`` if malformed."""
    expr = expr.strip()
    if not expr:
        raise ValueError("empty expression")
    parts: list[str | int] = []
    pos = 0
    for m in _SEGMENT.finditer(expr):
        gap = expr[pos:m.start()]
        if gap not in ("", ".") or (gap == "" and pos and not m.group().startswith("[")):
            raise ValueError(f"malformed path {expr!r}")
        token = m.group()
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
        pos = m.end()
    if pos != len(expr) or isinstance(parts[0], int):
        raise ValueError(f"malformed path {expr!r}")
    return parts


def expressions(template: Any) -> Iterator[str]:
    """Every ``${...}`` expression inside a JSON-like template."""
    if isinstance(template, str):
        for m in _EXPR.finditer(template):
            yield m.group(1)
    elif isinstance(template, Mapping):
        for value in template.values():
            yield from expressions(value)
    elif isinstance(template, list | tuple):
        for value in template:
            yield from expressions(value)


def check_expression(expr: str) -> tuple[str, str]:
    """Validate one expression; return ``(root, field)``, e.g. ``("pay", "output")``."""
    parts = parse_path(expr)
    root = str(parts[0])
    if len(parts) < 2 or not isinstance(parts[1], str):
        raise ValueError(f"${{{expr}}} must name a field: {root}.input or {root}.output")
    field = parts[1]
    allowed = _WORKFLOW_FIELDS if root == "workflow" else _ROOT_FIELDS
    if field not in allowed:
        raise ValueError(f"${{{expr}}}: {root} has no field {field!r} (one of {sorted(allowed)})")
    return root, field


def _lookup(context: Mapping[str, Any], parts: list[str | int]) -> Any:
    value: Any = context
    for part in parts:
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return None
            value = value[part]
        else:
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
    return value


def resolve(template: Any, context: Mapping[str, Any]) -> Any:
    """Fill a template from ``context`` = ``{"workflow": {...}, ref: {"input", "output"}}``."""
    if isinstance(template, str):
        whole = _EXPR.fullmatch(template)
        if whole:
            return _lookup(context, parse_path(whole.group(1)))

        def text(m: re.Match[str]) -> str:
            value = _lookup(context, parse_path(m.group(1)))
            return "" if value is None else str(value)

        return _EXPR.sub(text, template)
    if isinstance(template, Mapping):
        return {k: resolve(v, context) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return [resolve(v, context) for v in template]
    return template
