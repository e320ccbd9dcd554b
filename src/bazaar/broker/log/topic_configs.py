"""Per-topic config overrides (Kafka's topic configs): validated, stored durably beside the
logs as ``<topic>.config.json``, and applied live to every partition's :class:`Log`.

Kafka names and units: ``retention.ms`` and ``segment.ms`` (-1: none), ``retention.bytes``
(-1: none), ``segment.bytes``, ``cleanup.policy`` (``delete``, ``compact``,
``compact,delete``), ``delete.retention.ms``, ``min.cleanable.dirty.ratio``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

from bazaar.broker._config import LogConfig
from bazaar.broker._errors import ConfigError

_FIELDS = {"retention.ms": "retention_ms", "retention.bytes": "retention_bytes",
           "segment.ms": "segment_ms", "segment.bytes": "segment_bytes",
           "delete.retention.ms": "delete_retention_ms"}
_POLICIES = {"delete": "delete", "compact": "compact", "compact,delete": "compact,delete",
             "delete,compact": "compact,delete"}


def describe(base: LogConfig, overrides: Mapping[str, str]) -> list[tuple[str, str, bool]]:
    """(name, value, is_default) of every topic config we know."""
    out: list[tuple[str, str, bool]] = []
    for name, attr in _FIELDS.items():
        value = getattr(base, attr)
        default = "-1" if value is None else str(value)
        out.append((name, overrides.get(name, default), name not in overrides))
    out.append(("cleanup.policy", overrides.get("cleanup.policy", base.cleanup_policy),
                "cleanup.policy" not in overrides))
    out.append(("min.cleanable.dirty.ratio",
                overrides.get("min.cleanable.dirty.ratio", str(base.min_cleanable_dirty_ratio)),
                "min.cleanable.dirty.ratio" not in overrides))
    return out


def apply(base: LogConfig, overrides: Mapping[str, str]) -> LogConfig:
    """``base`` with ``overrides``; :class:`ConfigError` naming the bad entry."""
    changes: dict[str, int | float | str | None] = {}
    for name, value in overrides.items():
        if name == "cleanup.policy":
            policy = _POLICIES.get(value.replace(" ", "").lower())
            if policy is None:
                raise ConfigError(f"cleanup.policy={value!r}: use delete, compact or "
                                  "compact,delete")
            changes["cleanup_policy"] = policy
            continue
        if name == "min.cleanable.dirty.ratio":
            try:
                ratio = float(value)
            except ValueError as exc:
                raise ConfigError(f"{name}={value!r} is not a number") from exc
            if not 0.0 <= ratio <= 1.0:  # also refuses nan
                raise ConfigError(f"{name}={value!r} must be between 0 and 1")
            changes["min_cleanable_dirty_ratio"] = ratio
            continue
        attr = _FIELDS.get(name)
        if attr is None:
            raise ConfigError(f"unknown or unsupported topic config {name!r}")
        try:
            number = int(value)
        except ValueError as exc:
            raise ConfigError(f"{name}={value!r} is not a number") from exc
        if (number < 0 and number != -1) or number > 2**63 - 1:
            raise ConfigError(f"{name}={value!r} is out of range")
        if number == -1 and attr in ("segment_bytes", "delete_retention_ms"):
            raise ConfigError(f"{name} cannot be -1")
        changes[attr] = None if number == -1 else number
    try:
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    except ConfigError as exc:  # LogConfig's own checks (segment.bytes < 1024, …)
        raise ConfigError(f"invalid topic config: {exc}") from exc


def path_for(root: Path, topic: str) -> Path:
    return root / f"{topic}.config.json"


def load(root: Path, topic: str) -> dict[str, str]:
    try:
        data = json.loads(path_for(root, topic).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save(root: Path, topic: str, overrides: Mapping[str, str]) -> None:
    """Write atomically and durably (a crash leaves the old or the new set)."""
    target = path_for(root, topic)
    if not overrides:
        target.unlink(missing_ok=True)
        return
    tmp = target.with_suffix(".tmp")
    with tmp.open("w") as f:
        json.dump(dict(overrides), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
