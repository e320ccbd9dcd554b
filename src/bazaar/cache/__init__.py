"""Cache-aside over an in-process store, Redis or Memcached, with cache-miss-attack defences.

:class:`Cache` reads through a :class:`Backend` (``backend_from_url("memory://" | "redis://…" |
"memcached://…")``), loads a miss once per key (single-flight), stores with a jittered TTL,
caches "not found" briefly, consults an optional Bloom :class:`KeyGuard` before anything else,
and falls back to the database when the cache server is down. :func:`redis_structures` and
:func:`memory_structures` give the explainer's Redis structures: counters, commenters, logins.
"""

from bazaar.cache._aside import Cache, CacheMetrics, CachePolicy
from bazaar.cache._backends import (
    Backend,
    MemcachedBackend,
    MemoryBackend,
    RedisBackend,
    backend_from_url,
    check_key,
)
from bazaar.cache._codec import Codec, MsgpackCodec, OrjsonCodec
from bazaar.cache._errors import (
    CacheBackendError,
    CacheConfigError,
    CacheError,
    CodecError,
    InvalidCacheKeyError,
)
from bazaar.cache._guard import KeyGuard, LocalGuard, RedisGuard
from bazaar.cache._structures import (
    Commenters,
    Counters,
    Logins,
    Structures,
    memory_structures,
    redis_structures,
)

__all__ = [
    "Backend",
    "Cache",
    "CacheBackendError",
    "CacheConfigError",
    "CacheError",
    "CacheMetrics",
    "CachePolicy",
    "Codec",
    "CodecError",
    "Commenters",
    "Counters",
    "InvalidCacheKeyError",
    "KeyGuard",
    "LocalGuard",
    "Logins",
    "MemcachedBackend",
    "MemoryBackend",
    "MsgpackCodec",
    "OrjsonCodec",
    "RedisBackend",
    "RedisGuard",
    "Structures",
    "backend_from_url",
    "check_key",
    "memory_structures",
    "redis_structures",
]
