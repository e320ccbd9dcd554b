"""Experiment name → module holding its ``EXPERIMENT``, imported lazily on use."""

REGISTRY: dict[str, str] = {
    "api-auth": "bazaar.lab.api_auth",
    "bloom-sizing": "bazaar.lab.bloom_sizing",
    "cache-miss-attack": "bazaar.lab.cache_miss_attack",
    "redis-vs-memcached": "bazaar.lab.redis_vs_memcached",
    "race-conditions": "bazaar.lab.race_conditions",
    "zero-copy": "bazaar.lab.zero_copy",
    "sequential-io": "bazaar.lab.sequential_io",
    "cold-vs-warm": "bazaar.lab.cold_vs_warm",
    "isolation": "bazaar.lab.isolation",
    "orchestration-vs-choreography": "bazaar.lab.orchestration_vs_choreography",
    "api-styles": "bazaar.lab.api_styles",
    "ssd-ftl": "bazaar.lab.ssd_ftl",
    "scaling-steps": "bazaar.lab.scaling_steps",
    "big-data-pipeline": "bazaar.lab.big_data_pipeline",
    "url-dedup": "bazaar.lab.url_dedup",
    "replication": "bazaar.lab.replication",
    "http-versions": "bazaar.lab.http_versions",
    # one line per experiment, e.g.
    # "race-conditions": "bazaar.lab.race_conditions",
}
