"""Storage: store → index → segment → log → topics, each usable and tested alone."""

from bazaar.broker.log.log import EARLIEST, LATEST, MAX_TIMESTAMP, AppendResult, Log
from bazaar.broker.log.segment import Corruption, FileRange, Segment
from bazaar.broker.log.topics import TopicLogs, check_topic_name, verify_dir

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_TIMESTAMP",
    "AppendResult",
    "Corruption",
    "FileRange",
    "Log",
    "Segment",
    "TopicLogs",
    "check_topic_name",
    "verify_dir",
]
