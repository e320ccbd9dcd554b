"""SOAP vs REST vs GraphQL vs RPC, measured on the real shop: the same three use cases in
each style, against one ``bazaar up`` (a child process: SQLite, the read cache, auth on).

* **product page**: a product's name, price and stock;
* **order history**: the caller's last orders, each with its lines' quantities and the
  products' *names* (REST has no such resource: the orders, then each product);
* **place an order**: one line, a new idempotency key per call.

For each (use case, style): the bytes on the wire both ways (every byte through a counting
TCP relay, HTTP/2 frames and HPACK included for gRPC), the round trips, the fields received
against the fields the screen needs (over-fetching) and the extra round trips (under-
fetching), the latency p50/p99 with calls started at a fixed rate, and the server's CPU per
call (``/proc/<pid>/stat`` of the server process, user + system, over the timed calls).

Clients: httpx for REST, GraphQL and SOAP (the envelopes written as a SOAP client sends them;
zeep's own cost is not the server's), grpcio's generated stub for gRPC.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STYLES = ("REST", "GraphQL", "gRPC", "SOAP")
CASES = ("product page", "order history", "place an order")
TNS = "urn:bazaar:shop:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
#: The fields each screen shows (what an ideal answer carries): a product's name, price and
#: stock; a placed order's id and total. (The history's depends on the orders.)
NEEDED_PRODUCT_PAGE, NEEDED_PLACED = 3, 2


# --- a byte-counting relay ---------------------------------------------------------------

class Relay:
    """A TCP relay on a loopback port that counts the bytes each way (its own thread)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.up = 0
        self.down = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       upstream: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if upstream:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        tasks: set[asyncio.Task[Any]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tasks.add(asyncio.current_task())  # type: ignore[arg-type]
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target)
            await asyncio.gather(pipe(reader, w2, True), pipe(r2, writer, False))

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._stop = asyncio.Event()
        self._ready.set()
        async with server:
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def reset(self) -> None:
        self.up = self.down = 0


# --- the four clients ----------------------------------------------------------------------

def _leaves(value: Any) -> int:
    """Leaf values in a decoded answer (JSON, a protobuf message, or XML)."""
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    if hasattr(value, "ListFields"):
        return sum(_leaves(v) if hasattr(v, "ListFields") or isinstance(v, list | tuple)
                   else (sum(_leaves(x) for x in v) if hasattr(v, "__len__")
                         and not isinstance(v, str | bytes) else 1)
                   for _, v in value.ListFields())
    if isinstance(value, tuple):
        return sum(_leaves(v) for v in value)
    if hasattr(value, "iterchildren"):
        kids = [c for c in value.iterchildren() if isinstance(c.tag, str)]
        return sum(_leaves(c) for c in kids) if kids else 1
    return 1


@dataclass
class Outcome:
    """One use case done once: the round trips it took and the leaves it received."""

    trips: int
    leaves: int


@dataclass
class Clients:
    base: str
    grpc_target: str
    token: str
    names: dict[int, str] = field(default_factory=dict)
    counter: int = 0

    def __post_init__(self) -> None:
        import grpc

        from bazaar.api.rpc.gen import shop_pb2_grpc

        self.http = httpx.Client(base_url=self.base, timeout=60,
                                 headers={"Authorization": f"Bearer {self.token}"})
        self.channel = grpc.insecure_channel(self.grpc_target)
        self.stub: Any = shop_pb2_grpc.ShopStub(self.channel)  # type: ignore[no-untyped-call]
        self.meta = (("authorization", f"Bearer {self.token}"),)

    def close(self) -> None:
        self.http.close()
        self.channel.close()

    def key(self) -> str:
        self.counter += 1
        return f"lab-{os.getpid()}-{self.counter}"

    # REST
    def rest(self, case: str, limit: int) -> Outcome:
        if case == "product page":
            r = self.http.get("/products/1")
            r.raise_for_status()
            return Outcome(1, _leaves(r.json()))
        if case == "order history":
            r = self.http.get(f"/orders?limit={limit}")
            r.raise_for_status()
            body = r.json()
            leaves, trips = _leaves(body), 1
            for pid in sorted({ln["product_id"] for o in body["items"] for ln in o["lines"]}):
                p = self.http.get(f"/products/{pid}")  # under-fetching: one trip each
                p.raise_for_status()
                leaves, trips = leaves + _leaves(p.json()), trips + 1
            return Outcome(trips, leaves)
        r = self.http.post("/orders", json={"lines": [{"product_id": 7, "quantity": 1}]},
                           headers={"Idempotency-Key": self.key()})
        r.raise_for_status()
        return Outcome(1, _leaves(r.json()))

    # GraphQL
    def graphql(self, case: str, limit: int) -> Outcome:
        q: dict[str, Any]
        if case == "product page":
            q = {"query": "{ product(id: 1) { name priceCents stock } }"}
        elif case == "order history":
            q = {"query": "query($n: Int!) { myOrders(first: $n) { nodes { id totalCents "
                          "lines { quantity product { name } } } } }", "variables": {"n": limit}}
        else:
            q = {"query": "mutation($k: String) { placeOrder(input: {lines: [{productId: 7, "
                          "quantity: 1}], idempotencyKey: $k}) { order { id totalCents } } }",
                 "variables": {"k": self.key()}}
        r = self.http.post("/graphql", json=q)
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL failed: {body}")
        return Outcome(1, _leaves(body["data"]))

    # gRPC
    def grpc(self, case: str, limit: int) -> Outcome:
        from bazaar.api.rpc.gen import shop_pb2 as pb

        if case == "product page":
            m: Any = self.stub.GetProduct(pb.GetProductRequest(id=1), metadata=self.meta,
                                          timeout=60)
        elif case == "order history":
            m = self.stub.ListOrders(pb.ListOrdersRequest(limit=limit, with_product_names=True),
                                     metadata=self.meta, timeout=60)
        else:
            m = self.stub.PlaceOrder(pb.PlaceOrderRequest(
                lines=[pb.LineRequest(product_id=7, quantity=1)], idempotency_key=self.key()),
                metadata=self.meta, timeout=60)
        return Outcome(1, _leaves(m))

    # SOAP
    def soap(self, case: str, limit: int) -> Outcome:
        from lxml import etree

        if case == "product page":
            op, body = "GetProduct", "<tns:id>1</tns:id>"
        elif case == "order history":
            op, body = "ListOrders", (f"<tns:limit>{limit}</tns:limit>"
                                      "<tns:withProductNames>true</tns:withProductNames>")
        else:
            op, body = "PlaceOrder", ("<tns:line><tns:productId>7</tns:productId><tns:quantity>"
                                      f"1</tns:quantity></tns:line><tns:idempotencyKey>"
                                      f"{self.key()}</tns:idempotencyKey>")
        envelope = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
                    f'"{SOAP11}" xmlns:tns="{TNS}"><soap:Body><tns:{op}>{body}</tns:{op}>'
                    "</soap:Body></soap:Envelope>")
        r = self.http.post("/soap", content=envelope.encode(),
                           headers={"Content-Type": "text/xml; charset=utf-8",
                                    "SOAPAction": f'"{TNS}#{op}"'})
        if r.status_code != 200:
            raise RuntimeError(f"SOAP failed: {r.text[:300]}")
        root = etree.fromstring(r.content)
        answer = root.find(f"{{{SOAP11}}}Body")[0]
        return Outcome(1, _leaves(answer))

    def do(self, style: str, case: str, limit: int) -> Outcome:
        return {"REST": self.rest, "GraphQL": self.graphql, "gRPC": self.grpc,
                "SOAP": self.soap}[style](case, limit)


# --- measuring ---------------------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paced(fn: Callable[[], object], n: int, rate: float) -> list[float]:
    """``n`` calls started at ``rate`` per second (a late call starts at once); their
    latencies in ms."""
    out, start = [], time.perf_counter()
    for i in range(n):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _history_needed(clients: Clients, limit: int) -> int:
    """Leaves the history screen needs: per order id and total; per line quantity and the
    product's name."""
    r = clients.http.get(f"/orders?limit={limit}")
    items = r.json()["items"]
    return sum(2 + 2 * len(o["lines"]) for o in items)


def _prepare(base: str, admin: str, user: str, orders: int) -> None:
    """Plenty of stock for the orders the lab places, and a history to read."""
    admin_http = httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {admin}"})
    for pid in range(1, 9):
        admin_http.post(f"/products/{pid}/restock", json={"quantity": 100_000}
                        ).raise_for_status()
    http = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {user}"})
    for i in range(orders):
        lines = [{"product_id": 1 + i % 8, "quantity": 1},
                 {"product_id": 1 + (i + 3) % 8, "quantity": 2}]
        http.post("/orders", json={"lines": lines}).raise_for_status()


def _token(base: str, username: str, password: str) -> str:
    r = httpx.post(f"{base}/auth/token", json={"username": username, "password": password},
                   timeout=60)
    r.raise_for_status()
    found: str = r.json()["access_token"]
    return found


def run(ctx: RunContext) -> Report:
    from bazaar import localservers

    calls = int(ctx.params.get("calls", 30 if ctx.quick else 300))
    rate = float(ctx.params.get("rate", 40 if ctx.quick else 100))
    history = int(ctx.params.get("history", 10))
    grpc_port = localservers.free_port()
    env = {"BAZAAR_GRPC_PORT": str(grpc_port), "BAZAAR_RATE_LIMIT_PER_S": "1000000",
           "BAZAAR_RATE_LIMIT_BURST": "1000000", "BAZAAR_LOG_LEVEL": "warning"}
    data_dir = ctx.work_dir / "data"
    rows: list[list[Any]] = []
    with ctx.step("start bazaar up (SQLite, cache, auth; gRPC on its own port)", total=1) as s, \
            localservers.bazaar_up(data_dir, "--no-services", env=env) as shop:
        s.advance()
        admin = _token(shop.url, "demo", (data_dir / "demo-password").read_text().strip())
        httpx.post(f"{shop.url}/users", json={"username": "lab-styles",
                                              "password": "lab-styles-password"},
                   timeout=60).raise_for_status()
        user = _token(shop.url, "lab-styles", "lab-styles-password")
        _prepare(shop.url, admin, user, history)
        port = int(shop.url.rsplit(":", 1)[1])
        pid = shop.process.pid
        with Relay(port) as http_relay, Relay(grpc_port) as grpc_relay:
            counted = Clients(f"http://127.0.0.1:{http_relay.port}",
                              f"127.0.0.1:{grpc_relay.port}", user)
            direct = Clients(shop.url, f"127.0.0.1:{grpc_port}", user)
            needed: dict[str, int] = {
                "product page": NEEDED_PRODUCT_PAGE, "place an order": NEEDED_PLACED,
                "order history": _history_needed(direct, history)}
            with ctx.step("each use case in each style", total=len(CASES) * len(STYLES)) as s:
                for case in CASES:
                    for style in STYLES:
                        relay = grpc_relay if style == "gRPC" else http_relay
                        for _ in range(3):  # connections open, caches warm
                            counted.do(style, case, history)
                            direct.do(style, case, history)
                        relay.reset()
                        sample = 5
                        outcomes = [counted.do(style, case, history) for _ in range(sample)]
                        up, down = relay.up / sample, relay.down / sample
                        cpu0 = _cpu_s(pid)
                        lat = _paced(partial(direct.do, style, case, history), calls, rate)
                        cpu = (_cpu_s(pid) - cpu0) / calls * 1e6
                        got = outcomes[-1]
                        over = got.leaves - needed[case]
                        rows.append([case, style, round(up), round(down), got.trips,
                                     got.leaves, needed[case], max(0, over),
                                     got.trips - 1, round(statistics.median(lat), 2),
                                     round(_pct(lat, 0.99), 2), round(cpu)])
                        s.advance()
            counted.close()
            direct.close()

    by = {(r[0], r[1]): r for r in rows}

    def cell(case: str, style: str, col: int) -> Any:
        return by[(case, style)][col]

    hist = {st: by[("order history", st)] for st in STYLES}

    def wire(case: str, style: str) -> int:
        return int(cell(case, style, 2) + cell(case, style, 3))

    checks = {
        "GraphQL fetched exactly the fields asked for": all(
            cell(c, "GraphQL", 7) == 0 for c in CASES),
        "REST needed extra round trips for the history, the others none": (
            hist["REST"][8] > 0 and all(hist[st][8] == 0 for st in STYLES[1:])),
        "gRPC sent the fewest bytes in every use case": all(
            wire(c, "gRPC") == min(wire(c, st) for st in STYLES) for c in CASES),
        "SOAP sent more bytes than gRPC in every use case": all(
            wire(c, "SOAP") > wire(c, "gRPC") for c in CASES)}
    failed = [name for name, ok in checks.items() if not ok]
    verdict = (
        ("Held" if not failed else "Did not hold (" + "; ".join(failed) + ")") + ". "
        f"Product page: GraphQL fetched exactly the {NEEDED_PRODUCT_PAGE} fields "
        f"shown; REST, gRPC and SOAP each sent {cell('product page', 'REST', 5)} "
        f"(over-fetching). Order history with product names: REST took "
        f"{hist['REST'][4]} round trips ({hist['REST'][8]} extra for the products: "
        "under-fetching), GraphQL, gRPC and SOAP one. Bytes on the wire per history "
        f"(request + response): REST {hist['REST'][2] + hist['REST'][3]:,}, GraphQL "
        f"{hist['GraphQL'][2] + hist['GraphQL'][3]:,}, gRPC {hist['gRPC'][2] + hist['gRPC'][3]:,}, "
        f"SOAP {hist['SOAP'][2] + hist['SOAP'][3]:,}. Median latency of a product page: "
        + ", ".join(f"{st} {cell('product page', st, 9)} ms" for st in STYLES)
        + "; server CPU per product page: "
        + ", ".join(f"{st} {cell('product page', st, 11)} µs" for st in STYLES) + ".")

    def plot(fig: Figure) -> None:
        axes = fig.subplots(2, 2)
        width = 0.2
        panels: list[tuple[Any, Callable[[list[Any]], float], str, bool]] = [
                  (axes[0][0], lambda r: r[2] + r[3], "bytes on the wire per call", True),
                  (axes[0][1], lambda r: r[9], "latency p50 (ms)", False),
                  (axes[1][0], lambda r: r[4], "round trips per screen", False),
                  (axes[1][1], lambda r: r[11], "server CPU µs per call", False)]
        for ax, value, title, log in panels:
            for i, style in enumerate(STYLES):
                ax.bar([c + (i - 1.5) * width for c in range(len(CASES))],  # type: ignore[no-untyped-call]
                       [value(by[(case, style)]) for case in CASES], width, label=style)
            ax.set_xticks(range(len(CASES)), CASES, fontsize=8)
            ax.set_title(title, fontsize=10)
            if log:
                ax.set_yscale("log")
        axes[0][0].legend(fontsize=8)

    return Report(
        columns=["use case", "style", "bytes up", "bytes down", "round trips",
                 "fields received", "fields needed", "over-fetched", "extra trips",
                 "p50 ms", "p99 ms", "server CPU µs/call"],
        rows=rows, verdict=verdict, plot=plot,
        summary={"calls": calls, "rate_per_s": rate, "history_orders": history,
                 "checks": checks},
        notes=[f"{calls} timed calls per row, started at {rate:g}/s, one client, one "
               "connection per style; bytes averaged over 5 calls through a counting TCP relay "
               "(gRPC: HTTP/2 frames and HPACK-compressed headers included).",
               "Server CPU: user + system time of the bazaar up process over the timed calls, "
               "divided by the calls (the event loop, worker threads and gRPC's threads).",
               "fields: leaf values in the decoded answer; 'needed' is what the screen shows. "
               "gRPC's and SOAP's history are RPC-shaped (product names asked for), REST's is "
               "resource-shaped (the orders, then each product)."])


EXPERIMENT = Experiment(
    name="api-styles",
    title="SOAP vs REST vs GraphQL vs RPC: the same use cases in each style",
    explainer="SOAP vs REST vs GraphQL vs RPC",
    claim=("Over the same service layer, REST answers with whole resources (over-fetching, "
           "and extra round trips when a screen needs several: under-fetching), GraphQL "
           "returns exactly the fields asked for in one round trip, gRPC sends compact binary "
           "messages over HTTP/2, and SOAP pays for XML envelopes in bytes and CPU."),
    run=run,
)
