"""A checkout and a cancel can never both win, both ways: hypothesis interleaves checkouts,
customer cancels, saga steps, payment declines and timeouts, and service kills (a worker
dies holding a task; a consumer dies before committing its offset), then drives every saga
to its end and checks the books: the provider's ledger, the shipments and the shop's stock
agree with each order's state.

The shop is real (SQLite, its own services); the saga's services are bazaar.flow.checkout's
on their own SQLite files; orchestration runs the real engine on a hand-moved clock;
choreography delivers the real outboxes through an in-memory log so hypothesis chooses the
delivery order (the broker itself is covered by the choreography and HTTP race tests).
``BAZAAR_RACE_EXAMPLES`` sets the example count (small in the suite; bigger by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.checkout import make_shop, open_services
from tests.support.shop import make_shop as shop_on

from bazaar.flow import NonRetryableError
from bazaar.flow.checkout import orchestrated
from bazaar.flow.checkout.choreographed import Choreography
from bazaar.flow.checkout.events import Event
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Services
from bazaar.flow.choreography import outbox
from bazaar.flow.orchestrator import Orchestrator, Store, Task
from bazaar.flow.orchestrator.client import Task as ClientTask
from bazaar.flow.orchestrator.views import task_json
from bazaar.shop.adapters.checkout import (
    SHOP_ROLES,
    SHOP_TASKS,
    ShopChoreography,
    inventory_handlers,
)
from bazaar.shop.domain import LineRequest, StateConflict, Unavailable
from bazaar.shop.services import Shop, catalog, orders, users
from bazaar.shop.services.checkout import announce_waiting, checkout_state, start_checkout

EXAMPLES = int(os.environ.get("BAZAAR_RACE_EXAMPLES", "12"))
ORDERS = 3
STOCK = 10
SAGA_ROLES = ("payment", "shipping", "notification")
Step = tuple[str, int]


@dataclass
class World:
    """One example's shop, saga services, orders and what each customer was told."""

    shop: Shop
    saga: Services
    uid: int
    products: list[int]
    order_ids: list[int]
    cancelled_by_customer: set[int] = field(default_factory=set)
    checkout_accepted: set[int] = field(default_factory=set)

    def stock(self, pid: int) -> int:
        found = self.shop.queries.product(pid)
        assert found is not None
        return found.stock

    def cancel(self, order_id: int) -> None:
        try:
            orders.cancel_order(self.shop, self.uid, order_id)
        except StateConflict:
            return
        assert order_id not in self.checkout_accepted, \
            "a cancel won after the checkout was accepted"
        self.cancelled_by_customer.add(order_id)

    def checkout(self, starter: Any, order_id: int) -> None:
        try:
            start_checkout(self.shop, starter, self.uid, order_id)
        except Unavailable:  # the request's fate is unknown: the order stays the checkout's
            assert order_id not in self.cancelled_by_customer
            self.checkout_accepted.add(order_id)
            return
        except StateConflict:
            assert order_id in self.cancelled_by_customer or order_id in self.checkout_accepted\
                or orders.get_order(self.shop, self.uid, order_id).status != "placed"
            return
        assert order_id not in self.cancelled_by_customer, "a checkout won after a cancel"
        self.checkout_accepted.add(order_id)


def build_world(tmp: Path, faults: Faults, lines: list[tuple[int, int]]) -> World:
    shop = make_shop(tmp)
    uid = users.register(shop, "buyer", "", "correct horse battery").id
    products = [catalog.create_product(shop, f"SKU-{i}", f"thing {i}", 100 * (i + 1),
                                       STOCK).id for i in range(2)]
    placed = [orders.place_order(shop, uid, [LineRequest(products[p], q)]).order.id
              for p, q in lines]
    return World(shop, open_services(tmp, faults), uid, products, placed)


def check_books(world: World) -> None:
    """After every saga ended: money, shipments, stock and states agree, per order."""
    entries = world.saga.provider.entries()
    shipped = world.saga.shipping.shipped()
    taken = dict.fromkeys(world.products, 0)
    for oid in world.order_ids:
        order = orders.get_order(world.shop, world.uid, oid)
        state = checkout_state(world.shop, world.uid, oid)
        paid = entries.get(f"order:{oid}")
        assert order.status != "checking_out", f"order {oid} still owned by a finished saga"
        if order.status == "fulfilled":
            assert state.status == "completed", (oid, state)
            assert str(oid) in shipped, f"order {oid} fulfilled without a shipment"
            assert paid == ("charged", order.total_cents), f"order {oid} paid {paid}"
            assert oid in world.checkout_accepted and oid not in world.cancelled_by_customer
        else:
            assert str(oid) not in shipped, f"order {oid} is {order.status} but shipped"
            assert paid is None or paid[0] == "refunded", f"order {oid} kept money: {paid}"
            if order.status == "cancelled" and oid not in world.cancelled_by_customer:
                assert state.status == "failed" and state.reason, (oid, state)
        if order.status != "cancelled":
            for line in order.lines:
                taken[line.product_id] += line.quantity
    for pid, n in taken.items():
        assert world.stock(pid) == STOCK - n, f"product {pid}: stock {world.stock(pid)}"
    assert world.saga.orders.all() == [], "the shop's order is the saga's only order record"


class LostStarter:
    """The API committed the checkout, then its request to the saga vanished (a timeout,
    or the API died): the saga never heard of it."""

    mode = "lost"

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        raise Unavailable("the saga did not answer in time")


def common_step(world: World, starter: Any, kind: str, arg: int) -> bool:
    """The steps both ways share; False if ``kind`` is not one of them."""
    if kind == "checkout":
        world.checkout(starter, world.order_ids[arg % ORDERS])
    elif kind == "lost":
        world.checkout(LostStarter(), world.order_ids[arg % ORDERS])
    elif kind == "cancel":
        world.cancel(world.order_ids[arg % ORDERS])
    elif kind == "announce":  # the shop's checkout worker's periodic round
        announce_waiting(world.shop, starter)
    else:
        return False
    return True


# --- orchestration -----------------------------------------------------------------------


class EngineStarter:
    mode = "orchestration"

    def __init__(self, engine: Orchestrator) -> None:
        self.engine = engine

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        sid = str(order_id)
        return self.engine.start("checkout", {"order_id": sid, "items": items,
                                              "amount_cents": amount_cents},
                                 idempotency_key=f"checkout:{sid}").id


def orchestrated_handlers(world: World) -> dict[str, Callable[[Task], Any]]:
    saga = {name: h for name, h in orchestrated.handlers(world.saga).items()
            if name not in SHOP_TASKS}
    return {**saga, **inventory_handlers(world.shop)}


async def run_task(engine: Orchestrator, handlers: dict[str, Any], row: Any, *,
                   report: bool = True) -> None:
    task = ClientTask.from_json(task_json(row))
    try:
        output = await handlers[row.queue](task)
    except Exception as exc:
        if report:
            retryable = not isinstance(exc, NonRetryableError)
            engine.fail(row.id, f"{type(exc).__name__}: {exc}", retryable=retryable,
                        worker_id="w")
        return
    if report:
        engine.complete(row.id, dict(output or {}), worker_id="w")


async def orchestrated_example(world: World, steps: list[Step], tmp: Path) -> None:
    now = [1_000_000.0]
    store = Store(f"sqlite:///{tmp / 'flow.db'}")
    store.create_schema()
    engine = Orchestrator(store, clock=lambda: now[0])
    for definition in orchestrated.DEFINITIONS:
        engine.register(definition)
    handlers = orchestrated_handlers(world)
    queues = sorted(handlers)
    starter = EngineStarter(engine)

    async def one_pass() -> int:
        ran = 0
        for queue in queues:
            for row in engine.poll(queue, "w", 8):
                await run_task(engine, handlers, row)
                ran += 1
        return ran

    for kind, arg in steps:
        if common_step(world, starter, kind, arg):
            continue
        if kind == "run":
            for _ in range(arg):
                await one_pass()
        elif kind == "kill":  # a worker dies holding a task: with or without its effect
            for row in engine.poll(queues[arg % len(queues)], "doomed", 1):
                if arg % 2:
                    await run_task(engine, handlers, row, report=False)
        else:  # time passes: backoffs fall due, lapsed leases are requeued
            now[0] += arg
            engine.sweep()
    announce_waiting(world.shop, starter)  # the worker's round after the last step
    for _ in range(400):  # drive every saga to its end
        if await one_pass() == 0:
            running = [e for e in engine.executions() if e.status == "RUNNING"]
            if not running:
                break
            now[0] += 31.0  # past any backoff and any lease
            engine.sweep()
    assert not [e for e in engine.executions() if e.status == "RUNNING"]
    store.close()


# --- choreography ------------------------------------------------------------------------


class Log:
    """An in-memory, single-partition log of the outboxes' events, with one offset per
    consumer group; hypothesis picks which group reads next."""

    def __init__(self, stores: list[Store]) -> None:
        self.stores = stores
        self.records: list[Event] = []
        self.offsets: dict[str, int] = {}

    def relay(self) -> int:
        moved = 0
        for store in self.stores:
            with store.begin() as conn:
                rows = conn.execute(sa.select(outbox.outbox.c.seq, outbox.outbox.c.payload)
                                    .where(outbox.outbox.c.sent_at.is_(None))
                                    .order_by(outbox.outbox.c.seq)).all()
                for row in rows:
                    self.records.append(Event.from_bytes(bytes(row.payload)))
                conn.execute(outbox.outbox.update().where(
                    outbox.outbox.c.seq.in_([r.seq for r in rows])).values(sent_at=1.0))
            moved += len(rows)
        return moved

    def pending(self, group: str) -> bool:
        return self.offsets.get(group, 0) < len(self.records)

    async def deliver(self, group: str, react: Any, *, commit: bool = True) -> bool:
        at = self.offsets.get(group, 0)
        if at >= len(self.records):
            return False
        await react(self.records[at])
        if commit:  # a consumer killed before its commit gets the record again
            self.offsets[group] = at + 1
        return True


async def choreography_example(world: World, steps: list[Step], tmp: Path) -> None:
    from bazaar.shop.adapters.checkout import ChoreographedCheckout

    stores = {role: Store(f"sqlite:///{tmp / f'shop-{role}.db'}") for role in SHOP_ROLES}
    the_shop = ShopChoreography(world.shop, stores)
    saga = Choreography(world.saga, attempts=2, backoff_s=0.0)
    reactions = {**{r: saga.reactions[r] for r in SAGA_ROLES}, **the_shop.reactions}
    roles = sorted(reactions)
    log = Log([stores["orders"], stores["inventory"]] + [saga.store(r) for r in SAGA_ROLES])
    starter = ChoreographedCheckout(stores["orders"])
    for kind, arg in steps:
        if common_step(world, starter, kind, arg):
            continue
        if kind == "run":
            log.relay()
            role = roles[arg % len(roles)]
            await log.deliver(role, reactions[role])
        elif kind == "kill":
            role = roles[arg % len(roles)]
            await log.deliver(role, reactions[role], commit=False)
        else:
            log.relay()
    announce_waiting(world.shop, starter)  # the worker's round after the last step
    for _ in range(2000):  # every group reads to the end, until nothing new is emitted
        log.relay()
        busy = [r for r in roles if log.pending(r)]
        if not busy:
            break
        for role in busy:
            await log.deliver(role, reactions[role])
    assert not [r for r in roles if log.pending(r)] and log.relay() == 0
    for store in stores.values():
        store.close()


# --- the properties ----------------------------------------------------------------------

steps = st.lists(st.tuples(st.sampled_from(["checkout", "lost", "announce", "cancel", "run",
                                            "kill", "time"]),
                           st.integers(0, 11)), min_size=1, max_size=25)
faults = st.builds(Faults, decline_rate=st.sampled_from([0.0, 0.5, 1.0]),
                   timeout_rate=st.sampled_from([0.0, 0.3]),
                   charged_on_timeout=st.sampled_from([0.0, 1.0]),
                   ship_fail_rate=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 1000))
lines = st.lists(st.tuples(st.integers(0, 1), st.integers(1, 3)), min_size=ORDERS,
                 max_size=ORDERS)
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _run(example: Callable[..., Any], fault: Faults, order_lines: list[tuple[int, int]],
         plan: list[Step]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp), fault, order_lines)
        try:
            asyncio.run(example(world, plan, Path(tmp)))
            check_books(world)
        finally:
            world.saga.close()


@PROPERTY
@given(fault=faults, order_lines=lines, plan=steps)
def test_orchestrated_checkout_and_cancel_never_both_win(
        fault: Faults, order_lines: list[tuple[int, int]], plan: list[Step]) -> None:
    _run(orchestrated_example, fault, order_lines, plan)


@PROPERTY
@given(fault=faults, order_lines=lines, plan=steps)
def test_choreographed_checkout_and_cancel_never_both_win(
        fault: Faults, order_lines: list[tuple[int, int]], plan: list[Step]) -> None:
    _run(choreography_example, fault, order_lines, plan)


def test_the_books_check_catches_a_cancel_that_won_during_a_checkout(tmp_path: Path) -> None:
    """The property's check can fail: an order cancelled behind the saga's back (the old
    bug: cancel while checking out) is reported."""
    world = build_world(tmp_path, Faults(), [(0, 1), (1, 1), (0, 2)])
    oid = world.order_ids[0]
    asyncio.run(orchestrated_example(world, [("checkout", 0)], tmp_path))
    with world.shop.uow() as uow:  # the shipped order is cancelled and its stock returned
        order = uow.orders.get(oid)
        assert order is not None
        order.status = "cancelled"
        for line in order.lines:
            uow.stock.put_stock(line.product_id, line.quantity)
        uow.commit()
    try:
        check_books(world)
    except AssertionError as exc:
        assert "shipped" in str(exc) or "kept money" in str(exc)
    else:
        raise AssertionError("the books check missed a cancelled order that shipped")
    finally:
        world.saga.close()


def test_a_checkout_the_saga_never_heard_of_is_asked_again_and_completes(
        tmp_path: Path) -> None:
    world = build_world(tmp_path, Faults(), [(0, 1), (1, 1), (0, 2)])
    oid = world.order_ids[0]
    try:
        world.checkout(LostStarter(), oid)
        assert checkout_state(world.shop, world.uid, oid).status == "pending"
        world.cancel(oid)  # refused: the checkout owns the order
        asyncio.run(orchestrated_example(world, [], tmp_path))  # its round announces it
        assert checkout_state(world.shop, world.uid, oid).status == "completed"
        check_books(world)
    finally:
        world.saga.close()


class RecordingStarter:
    """A saga that only remembers who asked, so the race is the shop's alone."""

    mode = "recording"

    def __init__(self) -> None:
        self.started: set[int] = set()
        self.lock = threading.Lock()

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        with self.lock:
            self.started.add(order_id)
        return str(order_id)


def test_racing_checkouts_and_cancels_have_one_winner_on_sqlite_and_postgresql(
        engine: Any) -> None:
    """Real threads, real row locks and version checks: per order, a checkout and a cancel
    sent at the same moment — exactly one wins, and the stock says which."""
    shop = shop_on(engine)
    uid = users.register(shop, "racer", "", "correct horse battery").id
    pid = catalog.create_product(shop, "RACE-1", "thing", 100, 100).id
    ids = [orders.place_order(shop, uid, [LineRequest(pid, 1)]).order.id for _ in range(30)]
    starter = RecordingStarter()
    won: dict[int, list[str]] = {oid: [] for oid in ids}

    def race(oid: int, first: str | None = None) -> None:
        # first=None: both at the same moment; otherwise that side runs to the end first
        # (each outcome is then certain to be seen at least once).
        go = threading.Barrier(2 if first is None else 1)

        def checkout() -> None:
            go.wait()
            with contextlib.suppress(StateConflict):
                start_checkout(shop, starter, uid, oid)
                won[oid].append("checkout")

        def cancel() -> None:
            go.wait()
            with contextlib.suppress(StateConflict):
                orders.cancel_order(shop, uid, oid)
                won[oid].append("cancel")

        threads = [threading.Thread(target=checkout), threading.Thread(target=cancel)]
        if first == "cancel":
            threads.reverse()
        for thread in threads:
            thread.start()
            if first is not None:
                thread.join(30)
        for thread in threads:
            thread.join(30)

    race(ids[0], first="checkout")
    race(ids[1], first="cancel")
    for oid in ids[2:]:
        race(oid)
    assert all(len(w) == 1 for w in won.values()), won
    assert won[ids[0]] == ["checkout"] and won[ids[1]] == ["cancel"]
    checked_out = {oid for oid, w in won.items() if w == ["checkout"]}
    assert starter.started == checked_out
    for oid in ids:
        status = orders.get_order(shop, uid, oid).status
        assert status == ("checking_out" if oid in checked_out else "cancelled"), oid
    found = shop.queries.product(pid)
    assert found is not None and found.stock == 100 - 30 + (30 - len(checked_out))
