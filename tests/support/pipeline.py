"""Lakes filled without a broker (the generator's records written as the ingester would)."""

from __future__ import annotations

from bazaar.pipeline import Lake, Shape, decode_batch, generate


def fill_lake(lake: Lake, n: int, *, seed: int = 0, batch: int = 5_000,
              shape: Shape | None = None, topic: str = "shop.events",
              partition: int = 0) -> int:
    """Write about ``n`` generated events as batches of ``batch`` offsets; returns the count."""
    values = [v for chunk in generate(n, seed=seed, shape=shape or Shape(days=1))
              for _, v in chunk]
    start = lake.next_offset(topic, partition) or 0
    for lo in range(0, len(values), batch):
        part = values[lo:lo + batch]
        offsets = list(range(start + lo, start + lo + len(part)))
        lake.write_batch(topic, partition, offsets[0], offsets[-1],
                         decode_batch(topic, partition, offsets, part, [0] * len(part)))
    return len(values)
