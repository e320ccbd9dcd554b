"""EVENT tasks on the real broker through aiokafka: a workflow publishes to the log, then
waits on it until a matching record arrives (a non-matching one does not count)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bazaar.broker import run_subprocess
from bazaar.flow.orchestrator import (
    ApiConfig,
    FlowClient,
    KafkaEvents,
    Orchestrator,
    Service,
    Store,
    create_app,
)

DEFINITION = {
    "name": "evented",
    "tasks": [
        {"ref": "announce", "type": "EVENT", "topic": "flow.orders",
         "key": "${workflow.input.order}",
         "payload": {"order": "${workflow.input.order}", "what": "placed"}},
        {"ref": "paid", "type": "EVENT", "action": "wait", "topic": "flow.payments",
         "match": {"order": "${workflow.input.order}", "ok": True}},
    ],
    "output": {"offset": "${announce.output.offset}", "paid": "${paid.output.event}"},
}


@pytest.mark.slow
def test_event_publish_and_wait_through_the_log(tmp_path: Path) -> None:
    with run_subprocess(tmp_path / "broker") as broker:
        async def main() -> None:
            store = Store(f"sqlite:///{tmp_path / 'flow.db'}")
            store.create_schema()
            events = KafkaEvents(broker.bootstrap, ["flow.payments"])
            service = Service(Orchestrator(store), ApiConfig(sweep_interval_s=0.1),
                              events=events)
            app = create_app(service)
            async with service.running():
                client = FlowClient("http://flow", transport=httpx.ASGITransport(app=app))
                await client.register(DEFINITION)
                started = await client.start("evented", {"order": "o-7"})
                producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
                await producer.start()
                shown: dict[str, object] = {}
                for _ in range(300):
                    shown = await client.execution(started["id"])
                    if shown["status"] == "COMPLETED":
                        break
                    # the listener may still be joining its group: offer the events again
                    await producer.send_and_wait("flow.payments",
                                                 orjson.dumps({"order": "o-8", "ok": True}))
                    await producer.send_and_wait("flow.payments",
                                                 orjson.dumps({"order": "o-7", "ok": True}))
                    await asyncio.sleep(0.1)
                await producer.stop()
                await client.aclose()
            assert shown["status"] == "COMPLETED", shown["why"]
            output = shown["output"]
            assert isinstance(output, dict) and output["paid"] == {"order": "o-7", "ok": True}
            consumer = AIOKafkaConsumer("flow.orders", bootstrap_servers=broker.bootstrap,
                                        auto_offset_reset="earliest", group_id=None)
            await consumer.start()
            record = await asyncio.wait_for(consumer.getone(), 30)
            await consumer.stop()
            assert record.key == b"o-7"
            published = orjson.loads(record.value)
            assert published["what"] == "placed" and published["_flow"]["idempotency_key"]

        asyncio.run(main())
