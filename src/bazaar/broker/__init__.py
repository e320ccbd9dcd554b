"""Bazaar Log: a single-node, Kafka-protocol-compatible log broker.

Unmodified Kafka clients (librdkafka/confluent-kafka, aiokafka, kafka-python, kcat) produce,
consume and consume in groups against it; the rest of Bazaar only ever talks to it through
such a client, with ``BAZAAR_KAFKA_BOOTSTRAP`` as the one setting, so pointing that at a real
Kafka cluster changes nothing else.

Embedded::

    async with Broker(BrokerConfig(data_dir=path, port=0)) as broker:
        ... broker.bootstrap ...

As a process (tests, labs)::

    with run_subprocess(tmp_path / "broker") as broker:
        ... broker.bootstrap ...
"""

from bazaar.broker._broker import Broker, serve
from bazaar.broker._config import BrokerConfig, FlushPolicy, LogConfig
from bazaar.broker._errors import (
    BrokerError,
    ConfigError,
    CorruptRecordError,
    ErrorCode,
    FrameTooLargeError,
    OffsetOutOfRangeError,
    ProducerFencedError,
    ProtocolError,
    RecordTooLargeError,
    SequenceError,
    StorageError,
    TopicExistsError,
    UnknownTopicError,
    UnsupportedFormatError,
    UnsupportedVersionError,
)
from bazaar.broker._process import BrokerProcess, answers, run_subprocess, start_subprocess

__all__ = [
    "Broker",
    "BrokerConfig",
    "BrokerError",
    "BrokerProcess",
    "ConfigError",
    "CorruptRecordError",
    "ErrorCode",
    "FlushPolicy",
    "FrameTooLargeError",
    "LogConfig",
    "OffsetOutOfRangeError",
    "ProducerFencedError",
    "ProtocolError",
    "RecordTooLargeError",
    "SequenceError",
    "StorageError",
    "TopicExistsError",
    "UnknownTopicError",
    "UnsupportedFormatError",
    "UnsupportedVersionError",
    "answers",
    "run_subprocess",
    "serve",
    "start_subprocess",
]
