"""The broker as a whole: storage opened, server listening, background tasks running."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time
from types import TracebackType

from bazaar.broker._config import BrokerConfig
from bazaar.broker._errors import BrokerError
from bazaar.broker._state import BrokerState
from bazaar.broker.log import Log, cleaner
from bazaar.broker.server import Connection, MemoryPool

log = logging.getLogger("bazaar.broker")


class Broker:
    """A running broker: ``await start()``, use ``bootstrap``, ``await stop()``.

    Also an async context manager. Everything it keeps lives under ``config.data_dir``.
    """

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.state: BrokerState | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_server: object | None = None
        self._connections: set[Connection] = set()
        self._pool = MemoryPool(config.queued_max_request_bytes)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self.state is None:
            raise BrokerError("broker not started")
        return self.state.port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for a Kafka client's ``bootstrap.servers``."""
        return f"{self.config.advertised}:{self.port}"

    async def start(self) -> None:
        tls = _tls_context(self.config)  # a bad certificate fails before anything opens
        state = BrokerState.open(self.config)
        self.state = state
        for (topic, partition), problems in state.topics.recovery.items():
            for p in problems:
                log.warning("recovery truncated %s-%d at %s byte %d: %s", topic, partition,
                            p.path.name, p.position, p.reason)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: Connection(state, self._connections, self._pool), self.config.host,
                self.config.port, ssl=tls, ssl_handshake_timeout=10.0 if tls else None,
                reuse_address=True, backlog=512)
        except (OSError, ssl.SSLError) as exc:
            state.close()
            raise BrokerError(f"cannot listen on {self.config.host}:{self.config.port}: "
                              f"{exc}") from exc
        state.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(loop.create_task(state.group_commit.run()))
        await state.transactions.recover()
        self._tasks.append(loop.create_task(state.coordinator.run_expiry()))
        self._tasks.append(loop.create_task(self._housekeeping()))
        self._tasks.append(loop.create_task(self._clean_logs()))
        if self.config.metrics_port is not None:
            self._start_metrics(state)
        log.info("bazaar broker listening on %s, %s%s (data in %s)", self.bootstrap,
                 self.config.security_protocol,
                 f" ({', '.join(self.config.sasl_mechanisms)}; ACLs enforced)"
                 if self.config.sasl_mechanisms else
                 " (no authentication: every client may do everything)",
                 self.config.data_dir)

    def _start_metrics(self, state: BrokerState) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        from bazaar.broker.metrics import BrokerCollector

        registry = CollectorRegistry()
        registry.register(BrokerCollector(state.metrics, state.lag))
        assert self.config.metrics_port is not None
        self._metrics_server = start_http_server(self.config.metrics_port,
                                                 addr=self.config.host, registry=registry)

    async def _housekeeping(self) -> None:
        assert self.state is not None
        state = self.state
        cfg = self.config
        interval = min(cfg.log.flush_interval_ms / 1000 if cfg.log.flush == "interval" else 1.0,
                       cfg.retention_check_interval_ms / 1000,
                       cfg.connections_max_idle_ms / 2000, cfg.request_timeout_ms / 2000,
                       cfg.write_timeout_ms / 2000)
        next_retention = 0.0
        loop = asyncio.get_running_loop()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(interval)
                if cfg.log.flush == "interval":
                    await asyncio.to_thread(_flush_all, state.topics.all_logs())
                try:
                    await state.transactions.expire()
                except BrokerError as exc:  # a marker could not be written: next round
                    log.error("aborting a timed-out transaction failed: %s", exc)
                now = time.monotonic()
                for connection in list(self._connections):
                    if connection.idle_for(now) * 1000 > cfg.connections_max_idle_ms:
                        log.info("closing idle connection from %s", connection.peer)
                        connection.close()
                    elif connection.write_late_by(now) * 1000 > cfg.write_timeout_ms:
                        log.warning("closing connection from %s: a response unread for %d ms "
                                    "(the client stopped reading)", connection.peer,
                                    cfg.write_timeout_ms)
                        state.metrics.write_timeouts += 1
                        connection.close()
                    elif connection.request_late_by(now) * 1000 > cfg.request_timeout_ms:
                        log.warning("closing connection from %s: a request still incomplete "
                                    "%d ms after its first byte", connection.peer,
                                    cfg.request_timeout_ms)
                        connection.close()
                if loop.time() >= next_retention:
                    next_retention = loop.time() + cfg.retention_check_interval_ms / 1000
                    for lg in state.topics.all_logs():
                        lg.enforce_retention()

    async def _clean_logs(self) -> None:
        """The log cleaner: one compacted partition at a time, its pass in a worker thread
        (reading and writing files of its own), the swap back on the loop."""
        assert self.state is not None
        state = self.state
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.config.cleaner_interval_ms / 1000)
                for lg in state.topics.all_logs():
                    if lg.config.compact:
                        await self._clean_one(state, lg)

    async def _clean_one(self, state: BrokerState, lg: Log) -> None:
        plan = cleaner.plan(lg, max_keys=self.config.cleaner_max_keys)
        if plan is None:
            return
        try:
            outcome = await asyncio.to_thread(cleaner.execute, plan)
        except (OSError, BrokerError, ValueError) as exc:
            plan.close()
            log.error("cleaning %s failed (the log is unchanged): %s", lg.directory.name, exc)
            return
        except asyncio.CancelledError:
            plan.close()
            raise
        try:
            stats = cleaner.install(lg, outcome)
        except OSError as exc:
            log.error("swapping cleaned segments into %s failed: %s (a restart recovers "
                      "a consistent log)", lg.directory.name, exc)
            return
        state.metrics.cleaner_passes += 1
        state.metrics.cleaner_bytes_read += stats.bytes_read
        state.metrics.cleaner_bytes_written += stats.bytes_written
        log.info("cleaned %s: %d segments, %d -> %d bytes, %d of %d records kept, %.3f s",
                 lg.directory.name, stats.segments, stats.bytes_read, stats.bytes_written,
                 stats.records_kept, stats.records_read, stats.seconds)

    async def stop(self) -> None:
        """Stop listening, finish background work, flush and close every file."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None
        for connection in list(self._connections):  # no request may touch closed files
            connection.close()
        await asyncio.sleep(0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._metrics_server is not None:
            server = self._metrics_server[0]  # type: ignore[index]
            server.shutdown()
            self._metrics_server = None
        if self.state is not None:
            self.state.close()
            self.state = None

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


def _tls_context(config: BrokerConfig) -> ssl.SSLContext | None:
    """The listener's TLS (1.2 or later) from PEM files, or None for plaintext."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"cannot load TLS certificate {config.tls_cert} / key "
                          f"{config.tls_key}: {exc}") from exc
    return context


def _flush_all(logs: list[Log]) -> None:
    """The interval flush: a log whose sync fails goes offline, as in the group commit."""
    for lg in logs:
        if lg.failed is not None:
            continue
        try:
            lg.flush()
        except OSError as exc:
            if not lg.closed:  # closed meanwhile (topic deleted): close() synced it
                lg.failed = str(exc)
                log.error("fdatasync of %s failed: %s; the partition is offline until a "
                          "restart", lg.directory.name, exc)


async def serve(config: BrokerConfig, *, ready: asyncio.Event | None = None) -> None:
    """Run a broker until SIGINT/SIGTERM (or cancellation), then stop it cleanly."""
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await broker.stop()
