"""Bazaar Log: a single-node, Kafka-protocol-compatible log broker."""

from bazaar.broker._config import BrokerConfig, LogConfig
from bazaar.broker._errors import BrokerError, ErrorCode

__all__ = ["BrokerConfig", "BrokerError", "ErrorCode", "LogConfig"]
