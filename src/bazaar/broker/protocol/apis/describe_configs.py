"""DescribeConfigs (key 32), v0-3: a topic's (or the broker's) configs."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 32
VERSIONS = (0, 3)
TOPIC = 2
BROKER = 4
# config_source (v1+): 1 topic override, 4 static broker config, 5 default
SOURCE_TOPIC, SOURCE_STATIC, SOURCE_DEFAULT = 1, 4, 5


@dataclass(frozen=True, slots=True)
class ConfigResource:
    resource_type: int
    name: str
    config_names: list[str] | None


@dataclass(frozen=True, slots=True)
class DescribeConfigsRequest:
    resources: list[ConfigResource]


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    name: str
    value: str | None
    read_only: bool
    source: int  # SOURCE_*


@dataclass(frozen=True, slots=True)
class DescribedResource:
    error_code: int
    error_message: str | None
    resource_type: int
    name: str
    configs: list[ConfigEntry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DescribeConfigsResponse:
    results: list[DescribedResource]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DescribeConfigsRequest:
    resources = r.array(lambda r: ConfigResource(r.int8(), r.string(),
                                                 r.nullable_array(Reader.string)))
    if version >= 1:
        r.boolean()  # include synonyms: we send none
    if version >= 3:
        r.boolean()  # include documentation: none
    return DescribeConfigsRequest(resources)


def encode_response(resp: DescribeConfigsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for res in resp.results:
        w.int16(res.error_code).nullable_string(res.error_message).int8(res.resource_type)
        w.string(res.name).array_len(len(res.configs))
        for c in res.configs:
            w.string(c.name).nullable_string(c.value).boolean(c.read_only)
            if version == 0:
                w.boolean(c.source == SOURCE_DEFAULT)
            else:
                w.int8(c.source)
            w.boolean(False)  # is_sensitive
            if version >= 1:
                w.array_len(0)  # synonyms
            if version >= 3:
                w.int8(0).nullable_string(None)  # config type unknown, no documentation
    return w.getvalue()
