"""The Kafka wire protocol, pure: codecs per API key and a frame/request/response core."""

from bazaar.broker.protocol.core import (
    APIS,
    Frame,
    FrameDecoder,
    Request,
    UnsupportedApiVersions,
    api_name,
    decode_request,
    encode_response,
    supported_versions,
)

__all__ = [
    "APIS",
    "Frame",
    "FrameDecoder",
    "Request",
    "UnsupportedApiVersions",
    "api_name",
    "decode_request",
    "encode_response",
    "supported_versions",
]
