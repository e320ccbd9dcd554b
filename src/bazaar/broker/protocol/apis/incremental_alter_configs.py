"""IncrementalAlterConfigs (key 44), v0: SET/DELETE single topic configs (the codec is
shared with AlterConfigs)."""

from __future__ import annotations

from bazaar.broker.protocol.apis.alter_configs import decode_incremental, encode_response

API_KEY = 44
VERSIONS = (0, 0)
decode_request = decode_incremental

__all__ = ["API_KEY", "VERSIONS", "decode_request", "encode_response"]
