"""One exception tree for the broker, and the Kafka error codes it answers with.

Storage and protocol code raise :class:`BrokerError` subclasses; the request handlers map
them once to the wire's error codes (:class:`ErrorCode`), the way aiokafka's ``errors.py``
pairs each code with whether a client may retry.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """The Kafka protocol error codes this broker sends."""

    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    INVALID_FETCH_SIZE = 4
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    MESSAGE_TOO_LARGE = 10
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    INVALID_REQUIRED_ACKS = 21
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    UNSUPPORTED_SASL_MECHANISM = 33
    ILLEGAL_SASL_STATE = 34
    UNSUPPORTED_VERSION = 35
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    SASL_AUTHENTICATION_FAILED = 58
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_CONFIG = 40
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    KAFKA_STORAGE_ERROR = 56
    INVALID_TXN_STATE = 48
    INVALID_PRODUCER_ID_MAPPING = 49
    INVALID_TRANSACTION_TIMEOUT = 50
    CONCURRENT_TRANSACTIONS = 51
    OPERATION_NOT_ATTEMPTED = 55
    UNKNOWN_SERVER_ERROR = -1
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    UNKNOWN_PRODUCER_ID = 59
    MEMBER_ID_REQUIRED = 79
    GROUP_SUBSCRIBED_TO_TOPIC = 86


RETRIABLE: frozenset[ErrorCode] = frozenset({
    ErrorCode.CORRUPT_MESSAGE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.REQUEST_TIMED_OUT,
    ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR,
    ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.REBALANCE_IN_PROGRESS,
    ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, ErrorCode.KAFKA_STORAGE_ERROR,
    ErrorCode.CONCURRENT_TRANSACTIONS,
})


class BrokerError(Exception):
    """Base of every error the broker raises; ``code`` is what a Kafka client is told."""

    code: ErrorCode = ErrorCode.UNKNOWN_SERVER_ERROR

    @property
    def retriable(self) -> bool:
        return self.code in RETRIABLE


class ConfigError(BrokerError, ValueError):
    """A broker setting is out of range."""


class CorruptRecordError(BrokerError):
    """A record batch failed validation: bad length, magic or CRC32C."""

    code = ErrorCode.CORRUPT_MESSAGE


class UnsupportedFormatError(BrokerError):
    """Records not in the RecordBatch v2 format (magic 2)."""

    code = ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT


class RecordTooLargeError(BrokerError):
    """A batch larger than a segment may hold."""

    code = ErrorCode.MESSAGE_TOO_LARGE


class OffsetOutOfRangeError(BrokerError):
    """A read below the log start or above the log end."""

    code = ErrorCode.OFFSET_OUT_OF_RANGE


class UnknownTopicError(BrokerError):
    """No such topic or partition."""

    code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


class InvalidTopicError(BrokerError):
    """A topic name Kafka would reject (empty, too long, bad characters, '.' or '..')."""

    code = ErrorCode.INVALID_TOPIC_EXCEPTION


class TopicExistsError(BrokerError):
    """CreateTopics for a name that is taken."""

    code = ErrorCode.TOPIC_ALREADY_EXISTS


class InvalidPartitionsError(BrokerError):
    """A partition count below one or above the broker's limit."""

    code = ErrorCode.INVALID_PARTITIONS


class SequenceError(BrokerError):
    """An idempotent producer's batch arrived out of sequence."""

    code = ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER


class ProducerFencedError(BrokerError):
    """An idempotent producer's batch carries an older epoch than the broker has seen."""

    code = ErrorCode.INVALID_PRODUCER_EPOCH


class TransactionError(BrokerError):
    """A transactional request that does not fit the transaction's state; ``code`` says
    which (INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS, ...)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class StorageError(BrokerError):
    """The disk failed us (an fdatasync error): the records may not be durable, no ack."""

    code = ErrorCode.KAFKA_STORAGE_ERROR


class ProtocolError(BrokerError):
    """A request frame that cannot be decoded: the connection is closed."""

    code = ErrorCode.INVALID_REQUEST


class FrameTooLargeError(ProtocolError):
    """A frame larger than ``max_request_bytes``: the connection is closed unread."""


class UnsupportedVersionError(ProtocolError):
    """An API key or version this broker does not implement."""

    code = ErrorCode.UNSUPPORTED_VERSION
