"""The Kafka wire protocol, pure: codecs per API key and a frame/request/response core."""

from bazaar.broker.protocol.core import (
    ApiCodec,
    Frame,
    FrameDecoder,
    Request,
    UnsupportedApiVersions,
    decode_request,
    encode_response,
)

__all__ = [
    "ApiCodec",
    "Frame",
    "FrameDecoder",
    "Request",
    "UnsupportedApiVersions",
    "decode_request",
    "encode_response",
]
