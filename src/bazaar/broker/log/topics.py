"""All partitions' logs under one directory: ``<data_dir>/logs/<topic>-<partition>/``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bazaar.broker._config import LogConfig
from bazaar.broker._errors import (
    ConfigError,
    InvalidPartitionsError,
    InvalidTopicError,
    TopicExistsError,
    UnknownTopicError,
)
from bazaar.broker.log import topic_configs
from bazaar.broker.log.log import Log
from bazaar.broker.log.segment import Corruption, verify_file
from bazaar.broker.log.store import sync_directory

_LEGAL = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def check_topic_name(name: str) -> None:
    """Raise :class:`InvalidTopicError` unless Kafka would accept ``name``."""
    if not _LEGAL.match(name) or name in (".", ".."):
        raise InvalidTopicError(f"invalid topic name {name!r}: use 1-249 of [a-zA-Z0-9._-]")


def verify_dir(root: Path) -> list[tuple[str, int, Corruption]]:
    """Every segment under ``root`` checked batch by batch, changing nothing (broker may be
    stopped or running): (topic, partition, problem) for each bad batch."""
    found: list[tuple[str, int, Corruption]] = []
    for path in sorted(root.glob("*-*/*.log")):
        topic, _, part = path.parent.name.rpartition("-")
        if not part.isdigit():
            continue
        found.extend((topic, int(part), p) for p in verify_file(path))
    return found


class TopicLogs:
    """Creates, finds and deletes topics; each topic is a list of partition logs."""

    def __init__(self, root: Path, config: LogConfig, max_partitions: int = 10_000) -> None:
        self.root = root
        self.config = config
        self.max_partitions = max_partitions
        self._topics: dict[str, list[Log]] = {}
        self._overrides: dict[str, dict[str, str]] = {}
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        found: dict[str, dict[int, Path]] = {}
        for path in self.root.iterdir():
            if not path.is_dir() or path.name.endswith(".deleted"):
                continue
            topic, _, part = path.name.rpartition("-")
            if topic and part.isdigit():
                found.setdefault(topic, {})[int(part)] = path
        for topic, parts in found.items():
            count = max(parts) + 1
            overrides = topic_configs.load(self.root, topic)
            try:
                config = topic_configs.apply(self.config, overrides)
            except ConfigError:
                overrides, config = {}, self.config
            self._overrides[topic] = overrides
            self._topics[topic] = [Log(self.root / f"{topic}-{i}", config)
                                   for i in range(count)]
        for leftover in self.root.glob("*.deleted"):
            shutil.rmtree(leftover, ignore_errors=True)

    @property
    def recovery(self) -> dict[tuple[str, int], list[Corruption]]:
        """What each partition's recovery truncated at start-up (empty entries omitted)."""
        return {(t, i): log.recovery for t, logs in self._topics.items()
                for i, log in enumerate(logs) if log.recovery}

    def names(self) -> list[str]:
        return sorted(self._topics)

    def __contains__(self, topic: str) -> bool:
        return topic in self._topics

    def partitions(self, topic: str) -> list[Log]:
        try:
            return self._topics[topic]
        except KeyError:
            raise UnknownTopicError(f"unknown topic {topic!r}") from None

    def get(self, topic: str, partition: int) -> Log:
        """The log of one partition; :class:`UnknownTopicError` if there is none."""
        logs = self._topics.get(topic)
        if logs is None or not 0 <= partition < len(logs):
            raise UnknownTopicError(f"unknown topic-partition {topic}-{partition}")
        return logs[partition]

    def create(self, topic: str, partitions: int,
               overrides: dict[str, str] | None = None, *,
               validate_only: bool = False) -> list[Log]:
        """A new topic of ``partitions`` empty logs, with its config ``overrides`` (checked
        first: :class:`ConfigError` and nothing created if one is bad)."""
        check_topic_name(topic)
        if topic in self._topics:
            raise TopicExistsError(f"topic {topic!r} already exists")
        if not 1 <= partitions <= self.max_partitions:
            raise InvalidPartitionsError(
                f"partitions must be 1..{self.max_partitions}, got {partitions}")
        overrides = dict(overrides or {})
        config = topic_configs.apply(self.config, overrides)
        if validate_only:
            return []
        if overrides:
            topic_configs.save(self.root, topic, overrides)
        logs = [Log(self.root / f"{topic}-{i}", config) for i in range(partitions)]
        sync_directory(self.root)
        self._topics[topic] = logs
        self._overrides[topic] = overrides
        return logs

    def configs(self, topic: str) -> list[tuple[str, str, bool]]:
        """(name, value, is_default) of the topic's configs."""
        self.partitions(topic)
        return topic_configs.describe(self.config, self._overrides.get(topic, {}))

    def set_configs(self, topic: str, overrides: dict[str, str], *,
                    validate_only: bool = False) -> None:
        """Replace the topic's overrides; applied at once to every partition (the next
        roll and retention pass use them). :class:`ConfigError` if one is bad."""
        logs = self.partitions(topic)
        config = topic_configs.apply(self.config, overrides)
        if validate_only:
            return
        topic_configs.save(self.root, topic, overrides)
        self._overrides[topic] = dict(overrides)
        for log in logs:
            log.config = config

    def overrides(self, topic: str) -> dict[str, str]:
        self.partitions(topic)
        return dict(self._overrides.get(topic, {}))

    def add_partitions(self, topic: str, count: int, *, validate_only: bool = False) -> None:
        """Grow ``topic`` to ``count`` partitions (never shrink: keys would move)."""
        logs = self.partitions(topic)
        if count <= len(logs):
            raise InvalidPartitionsError(
                f"topic {topic!r} has {len(logs)} partitions; asked for {count}: "
                "partitions can only be added")
        if count > self.max_partitions:
            raise InvalidPartitionsError(
                f"partitions must be 1..{self.max_partitions}, got {count}")
        if validate_only:
            return
        config = logs[0].config
        logs.extend(Log(self.root / f"{topic}-{i}", config) for i in range(len(logs), count))
        sync_directory(self.root)

    def delete(self, topic: str) -> None:
        """Close and remove a topic's logs (renamed first, so a crash cannot half-revive it)."""
        logs = self._topics.pop(topic, None)
        if logs is None:
            raise UnknownTopicError(f"unknown topic {topic!r}")
        self._overrides.pop(topic, None)
        topic_configs.path_for(self.root, topic).unlink(missing_ok=True)
        for i, log in enumerate(logs):
            log.close()
            src = self.root / f"{topic}-{i}"
            dst = self.root / f"{topic}-{i}.deleted"
            if src.exists():
                src.rename(dst)
                shutil.rmtree(dst, ignore_errors=True)

    def all_logs(self) -> list[Log]:
        return [log for logs in self._topics.values() for log in logs]

    def close(self) -> None:
        for log in self.all_logs():
            log.close()
