"""The composition root: builds the hub's parts, starts them in order, stops them in reverse.

    store ─▶ pipeline ─▶ vendors ─▶ fanout ─▶ broker watch ─▶ supervisor ─▶ test-mode ender
          ─▶ telemetry watch ─▶ notify ─▶ escalation ─▶ http ─▶ mqtt ─▶ mqtt-telemetry
                 ▲                                                              │
                 └──────────── ingest (+ vendors) ◀──────── messages ───────────┘

Start: each part in the order above; the MQTT connections come last, so that everything a message
touches is ready before the first one arrives. A part that fails to start is named in the log and
the parts already started are stopped.

Two connections (docs/BROKER.md): `mqtt`, the persistent session, takes the presses and statuses
and answers PUBACK after commit; `mqtt-telemetry`, a clean session with its own broker user, takes
the heartbeats and vendor check-ins, so that none is queued for the hub while it is away and a
fleet's cannot stall the presses queued behind them. Without a telemetry login
(`mqtt.telemetry_password`) everything comes on `mqtt`.

Hooks: every hook of the pipeline (supervision's clock check, escalation's deadlines) is
registered here, before the pipeline starts, so that no batch is planned without them.

Stop: first the drain (ingest stops taking messages; the pipeline commits and acknowledges all it
has), then the parts in reverse order (the MQTT adapter publishes the hub's clean `offline` status
and disconnects without triggering the last will).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Generator
from typing import Final, Protocol

import uvicorn

from devices.profiles.base import Profile
from devices.topics import Topics
from hub import __version__, sdnotify, web
from hub.api import ApiContext, Readiness, create_app, guard, standby
from hub.broker.fanout import MqttFanout
from hub.broker.ingest import Ingest
from hub.broker.mqtt import Login, MqttAdapter, MqttMessage, Subscription
from hub.broker.repair import TopicRepair
from hub.broker.vendors import VendorRouter
from hub.broker.watch import BrokerWatch, TelemetryWatch
from hub.clock import Clock, SystemClock
from hub.config import Config, HttpSection
from hub.domain.bus import Bus
from hub.domain.model import Trouble, TroubleKind, TroubleState
from hub.domain.state import HubState
from hub.errors import ChuongError
from hub.escalation.engine import EscalationHooks
from hub.escalation.policies import Policies
from hub.escalation.scheduler import Escalator
from hub.looplag import LoopLag
from hub.metrics import Metrics
from hub.notify.dispatcher import Dispatcher
from hub.registry.testmode import TestModeEnder
from hub.store import Store
from hub.store.checkpoint import Checkpointed
from hub.store.retention import Policy, Pruner, lease_fence
from hub.supervision import Supervisor
from hub.upstream.district import DistrictReceiver
from hub.upstream.post import UpstreamHook, UpstreamSender
from hub.upstream.wire import UpTopics
from hub.writer.pipeline import Pipeline

log = logging.getLogger(__name__)

WATCHDOG_STALL_S: Final = 30.0
STANDBY_REFRESH_S: Final = 2.0
"""How often a standby reads the store again for its page (the registry, the devices)."""


class Part(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PortInUse(ChuongError):
    """The page's port is taken: the message says how to choose another."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"{where}: another program (or another hub) has it; choose another port with "
            "[http] port in the configuration, or CHUONG_HTTP__PORT"
        )
        self.where = where


class _UvicornServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the hub owns the signals; uvicorn must not take or re-raise them

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connection (uvicorn closes them again: harmless)
        # Open live streams end now, cleanly; left open, uvicorn would cut them after its grace
        # time and log an ERROR with a traceback for what is a normal stop with pages open.
        self._on_shutdown()
        await super().shutdown(sockets)


class HttpServer:
    """uvicorn inside the hub's own event loop, on a socket bound here (so a taken port is a
    clear error, not uvicorn's exit), behind the front door of `hub.api.guard`: a request
    deadline, connection caps under the open-file limit, and no log flood."""

    def __init__(
        self,
        app: object,
        config: HttpSection,
        metrics: Metrics,
        on_shutdown: Callable[[], None] = lambda: None,
    ) -> None:
        self._app = app
        self._config = config
        self._metrics = metrics
        self._on_shutdown = on_shutdown
        self._host = config.host
        self._port = config.port
        self._server: _UvicornServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._accept_errors: guard.AcceptErrors | None = None
        self.port = config.port
        self.limits: guard.Limits | None = None

    async def start(self) -> None:
        open_files = guard.raise_open_file_limit()
        cfg = self._config
        cap = guard.connection_cap(cfg.max_connections, open_files)
        if cap < cfg.max_connections:
            log.warning(
                "http: at most %d connections (not %d): the open-file limit is %d",
                cap,
                cfg.max_connections,
                open_files,
            )
        self.limits = guard.Limits(
            max_connections=cap,
            max_per_address=min(cfg.max_connections_per_address, cap),
            request_timeout_s=cfg.request_timeout_s,
        )
        limiter = guard.LogLimiter()
        guard.limit_uvicorn_warnings(limiter, self._metrics.http_log_lines_skipped.inc)
        self._accept_errors = guard.AcceptErrors(self._metrics, limiter)
        self._accept_errors.install(asyncio.get_running_loop())
        sock = self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,  # type: ignore[arg-type]
            http=guard.protocol_for(guard.Guard(self.limits, self._metrics, limiter)),
            ws="none",
            backlog=guard.ACCEPT_BACKLOG,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            server_header=False,
        )
        self._server = _UvicornServer(config, self._on_shutdown)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ChuongError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        log.info(
            "http: serving on http://%s:%d (at most %d connections, %d per address)",
            self._host,
            self.port,
            self.limits.max_connections,
            self.limits.max_per_address,
        )

    def _bind(self) -> socket.socket:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            where = f"http: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(where) from exc
            raise ChuongError(where) from exc
        return sock

    async def stop(self) -> None:
        if self._accept_errors is not None:
            self._accept_errors.uninstall()
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, 5)
        except TimeoutError:
            log.warning("http: the server did not stop in time; cancelling it")
            self._task.cancel()


class Hub:
    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.bus = Bus()
        self.metrics = Metrics()
        self.topics = Topics(config.mqtt.root)
        self._alarm_prefix = self.topics.alarm("")
        self.store = Store(
            config.store.path,
            url=config.store.url,
            busy_timeout_ms=config.store.busy_timeout_ms,
            rejected_keep=config.store.rejected_keep,
        )
        self.pipeline: Pipeline | None = None
        self.mqtt: MqttAdapter | None = None
        self.telemetry: MqttAdapter | None = None
        """The clean-session connection for heartbeats and check-ins (None: they share `mqtt`)."""
        self.telemetry_watch: TelemetryWatch | None = None
        self.ingest: Ingest | None = None
        self.http: HttpServer | None = None
        self.watch: BrokerWatch | None = None
        self.vendors: VendorRouter | None = None
        self.supervisor: Supervisor | None = None
        self.repair: TopicRepair | None = None
        self.pruner: Pruner | None = None
        self.district: DistrictReceiver | None = None
        self.upstream: UpstreamSender | None = None
        self._up_prefix = UpTopics(config.mqtt.root).prefix
        self.role = "starting"
        """active (writes the store, on the broker), standby (waits for the store's lock;
        docs/HA.md) or starting"""
        self.superseded = asyncio.Event()
        """Set when another hub took the store over: this one must exit (docs/HA.md)."""
        self._started: list[tuple[str, Part]] = []
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the hub: active at once on SQLite, or on PostgreSQL when it gets the store's
        lock; otherwise standby (docs/HA.md): the page and the API read-only, no broker, and a
        background wait for the lock, after which the hub starts as the active one."""
        cfg = self.config
        # The adapters are built first (their constructors do no I/O) and connect last.
        mqtt, profiles = self._make_adapters()
        await self._start_store()
        lock = self.store.lock
        if lock is not None:
            lock.on_lost = self._on_lease_lost
            lock.on_regained = self._on_lease_regained
            lock.on_superseded = self._on_superseded
        leading = await self.store.try_lead()
        state = await self.store.load_state()
        pipeline = Pipeline(
            store=self.store,
            state=state,
            bus=self.bus,
            metrics=self.metrics,
            clock=self.clock,
            acker=mqtt,
            hub_id=cfg.hub.id,
            batch_max=cfg.store.batch_max,
            retry_max_s=cfg.store.retry_max_s,
            probe_interval_s=cfg.store.probe_interval_s,
            press_patterns=cfg.profiles.patterns(),
        )
        self.pipeline = pipeline
        if leading:
            self.role = "active"
            await self._activate(pipeline, state, mqtt, profiles)
            return
        self.role = "standby"
        log.warning(
            "hub: standby: another hub with this hub.id writes the store %s; this one serves "
            "the page read-only, stays off the broker, and takes over when the lock is free",
            self.store.where,
        )
        await self._start_http()
        sdnotify.notify("READY=1\nSTATUS=standby")
        self._spawn(self._standby(pipeline, mqtt, profiles), "standby")
        self._spawn(self._watchdog(), "watchdog")

    async def _standby(
        self, pipeline: Pipeline, mqtt: MqttAdapter, profiles: dict[str, Profile]
    ) -> None:
        """Wait for the store's lock, keeping the page's state fresh; then become active."""
        refresh = asyncio.create_task(self._refresh_standby(pipeline), name="standby-refresh")
        try:
            await self.store.wait_lead()
        finally:
            refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresh
        log.warning("hub: taking over as the active hub (epoch %s)", self.store.epoch)
        try:
            # Everything the previous active hub committed, its deadlines and outbox included.
            pipeline.state = state = await self.store.load_state()
            self.role = "active"
            await self._activate(pipeline, state, mqtt, profiles)
        except Exception:
            log.exception("hub: cannot take over as the active hub")
            self.superseded.set()

    async def _refresh_standby(self, pipeline: Pipeline) -> None:
        while True:
            await asyncio.sleep(STANDBY_REFRESH_S)
            try:
                pipeline.state = await self.store.load_state()
            except Exception as exc:  # the page shows older state; the wait goes on
                log.warning("hub: standby: cannot read the store: %s", exc)

    async def _activate(
        self,
        pipeline: Pipeline,
        state: HubState,
        mqtt: MqttAdapter,
        profiles: dict[str, Profile],
    ) -> None:
        """The store's lock is this hub's: start the parts, the broker's connections last."""
        cfg = self.config
        self.vendors = VendorRouter(
            profiles=profiles,
            listen=cfg.profiles.listen,
            supervision=cfg.supervision,
            state=lambda: pipeline.state,
            subscribe=mqtt.add_subscriptions,
            subscribe_checkins=None if self.telemetry is None else self.telemetry.add_subscriptions,
        )
        self.ingest = Ingest(self.topics, pipeline.submit, self.vendors)
        self.supervisor = Supervisor(
            config=cfg.supervision,
            pipeline=pipeline,
            bus=self.bus,
            clock=self.clock,
            language=cfg.hub.language,
        )
        if cfg.supervision.enabled:
            pipeline.add_press_hook(self.supervisor.check_clock)
        policies = Policies(cfg.escalation, cfg.notifiers)
        escalation_hooks = EscalationHooks(policies)
        pipeline.add_hook(escalation_hooks.on_alarm)
        pipeline.add_trouble_hook(escalation_hooks.on_trouble)
        if cfg.upstream is not None:
            pipeline.add_hook(UpstreamHook().on_alarm)
        await self._start("pipeline", pipeline)
        await self._start("vendors", self.vendors)
        fanout = MqttFanout(bus=self.bus, publisher=mqtt, topics=self.topics)
        await self._start("fanout", fanout)
        self.repair = TopicRepair(
            bus=self.bus,
            link=mqtt,
            topics=self.topics,
            state=state,
            store=self.store,
            clock=self.clock,
            metrics=self.metrics,
            execute=pipeline.execute,
        )
        await self._start("topic-repair", self.repair)
        self.watch = BrokerWatch(pipeline=pipeline, store=self.store, clock=self.clock)
        await self._start("broker-watch", self.watch)
        await self._start("supervisor", self.supervisor)
        await self._start("test-mode-ender", TestModeEnder(pipeline=pipeline, clock=self.clock))
        if self.telemetry is not None:
            self.supervisor.separate_telemetry = True
            supervisor = self.supervisor
            self.telemetry_watch = TelemetryWatch(
                pipeline=pipeline,
                clock=self.clock,
                on_listening=lambda since: setattr(supervisor, "telemetry_since", since),
            )
            await self._start("telemetry-watch", self.telemetry_watch)
        notify = Dispatcher(
            config=cfg,
            store=self.store,
            pipeline=pipeline,
            bus=self.bus,
            clock=self.clock,
            publisher=mqtt,
            metrics=self.metrics,
        )
        await self._start("notify", notify)
        escalator = Escalator(
            policies=policies,
            pipeline=pipeline,
            bus=self.bus,
            store=self.store,
            clock=self.clock,
            on_queued=notify.wake,
        )
        await self._start("escalation", escalator)
        await self._start_links(pipeline, mqtt)
        retention = cfg.store.retention
        self.pruner = Pruner(
            cfg.store.url or cfg.store.path,
            Policy(
                history_days=retention.history_days,
                outbox_days=retention.outbox_days,
                escalations_days=retention.escalations_days,
                interval_s=retention.interval_s,
                batch=retention.batch,
            ),
            clock=self.clock,
            busy_timeout_ms=cfg.store.busy_timeout_ms,
            on_pruned=lambda table, count: self.metrics.pruned.labels(table).inc(count),
            fence=(
                lease_fence(lambda: self.store.epoch, self.store.writer_name)
                if cfg.store.url
                else None
            ),
        )
        await self._start("retention", self.pruner)
        await self._start_http()
        await self._start("mqtt", mqtt)
        if self.telemetry is not None:
            await self._start("mqtt-telemetry", self.telemetry)
        self._spawn(self._announce_ready(), "ready")
        if not any(task.get_name() == "watchdog" for task in self._tasks):  # not as a standby
            self._spawn(self._watchdog(), "watchdog")

    async def _start_http(self) -> None:
        if not self.config.http.enabled or self.http is not None:
            return
        app = create_app(self._api_context())
        standby.refuse_writes(app, lambda: self.role == "standby")
        web.install(app)
        self.http = HttpServer(app, self.config.http, self.metrics, self.bus.end_queues)
        await self._start("http", self.http)

    def _may_connect(self) -> bool:
        """Whether this hub may speak to the broker: active, holding the store's lease."""
        return self.role == "active" and self.store.leads

    def _on_lease_lost(self) -> None:
        """The store's lease is not confirmed: off the broker at once (what is not acknowledged
        stays the broker's); the lock is asked for again."""
        for adapter in (self.mqtt, self.telemetry):
            if adapter is not None:
                adapter.cut()

    def _on_lease_regained(self) -> None:
        log.warning("hub: the store's lock is this hub's again: back on the broker")

    def _on_superseded(self) -> None:
        """Another hub is (or was) active meanwhile: this hub's state is stale; it steps down
        (`chuong run` exits, and systemd starts it again, as a standby)."""
        for adapter in (self.mqtt, self.telemetry):
            if adapter is not None:
                adapter.cut()
        self.superseded.set()

    async def _start_store(self) -> None:
        """The loop's lag monitor, the store and its checkpointer (SQLite)."""
        await self._start("loop-lag", LoopLag(self.metrics))
        await self._start("store", _StoreOpener(self.store))
        checkpointer = self.store.checkpointer(on_checkpoint=self._on_checkpoint)
        if checkpointer is not None:
            await self._start("store-checkpoint", checkpointer)

    def _on_checkpoint(self, done: Checkpointed) -> None:
        self.metrics.checkpoint.observe(done.seconds)
        if done.on_writer:
            log.info(
                "store: the WAL had %d frames; checkpointed on the writer's thread in %.3fs",
                done.frames,
                done.seconds,
            )

    def _make_adapters(self) -> tuple[MqttAdapter, dict[str, Profile]]:
        """The hub's persistent connection and, when it has a login of its own, the telemetry
        connection (`self.telemetry`); with the vendor profiles."""
        cfg = self.config
        if cfg.upstream is not None:
            cfg.upstream.secret()  # an unreadable password file stops the start before any part
        district = cfg.hub.mode == "district"
        # A district has no buttons: it listens to its posts' upstream topics, on one connection.
        login = None if district else cfg.mqtt.telemetry_login()
        profiles = cfg.profiles.make_profiles()
        checkin_filters = [
            *(t for t, _ in self.topics.telemetry_subscriptions),
            *(t for p in profiles.values() for t in p.checkins()),
        ]
        status_topic = self.topics.hub_status(cfg.hub.id)
        mqtt = MqttAdapter(
            cfg.mqtt,
            client_id=cfg.client_id,
            status_topic=status_topic,
            version=__version__,
            subscriptions=[
                Subscription(t, q)
                for t, q in (
                    UpTopics(cfg.mqtt.root).district_subscriptions
                    if district
                    else self.topics.device_subscriptions
                    if login is None
                    else self.topics.event_subscriptions
                )
            ],
            clock=self.clock,
            on_message=self._on_message,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_publication_dropped=self._on_publication_dropped,
            on_publication_too_large=self.metrics.publications_too_large.inc,
            unsubscribe=() if login is None else checkin_filters,
            may_connect=self._may_connect,
        )
        self.mqtt = mqtt
        if login is None and not district:
            log.warning(
                "mqtt: no telemetry login (mqtt.telemetry_password, docs/BROKER.md): the"
                " buttons' heartbeats share the hub's persistent session, where a large"
                " fleet's can stall the presses queued behind them while the hub is away"
            )
        elif login is not None:
            self.telemetry = MqttAdapter(
                cfg.mqtt,
                client_id=cfg.telemetry_client_id,
                status_topic=status_topic,
                version=__version__,
                subscriptions=[Subscription(t, q) for t, q in self.topics.telemetry_subscriptions],
                clock=self.clock,
                on_message=self._on_message,
                on_connected=self._on_telemetry_connected,
                on_disconnected=self._on_telemetry_disconnected,
                clean=True,
                login=Login(*login),
                may_connect=self._may_connect,
            )
        return mqtt, profiles

    async def _start_links(self, pipeline: Pipeline, mqtt: MqttAdapter) -> None:
        """A district's receiver of its posts' changes; the link to the hub above, if any."""
        cfg = self.config
        if cfg.hub.mode == "district":
            self.district = DistrictReceiver(
                config=cfg,
                store=self.store,
                pipeline=pipeline,
                clock=self.clock,
                metrics=self.metrics,
                mqtt=mqtt,
            )
            await self._start("district", self.district)
        if cfg.upstream is not None:
            self.upstream = UpstreamSender(
                config=cfg,
                store=self.store,
                pipeline=pipeline,
                bus=self.bus,
                clock=self.clock,
                metrics=self.metrics,
                broker_connected=lambda: mqtt.connected,
            )
            await self._start("upstream", self.upstream)

    async def stop(self) -> None:
        """Drain, then stop every started part in reverse order. Never raises."""
        for task in self._tasks:
            task.cancel()
        if self.ingest is not None:
            self.ingest.closed = True
        if self.pipeline is not None and ("pipeline", self.pipeline) in self._started:
            try:
                await self.pipeline.stop()
                log.info("hub: drained; every committed message is acknowledged")
            except Exception:
                log.exception("hub: the pipeline failed while draining")
        for name, part in reversed(self._started):
            if part is self.pipeline:
                continue
            try:
                await part.stop()
            except Exception:
                log.exception("hub: %s failed to stop", name)
        self._started.clear()

    def abandon(self) -> None:
        """A forced stop: stop retrying the store; unacked messages stay with the broker."""
        if self.pipeline is not None:
            self.pipeline.abandon()

    async def _start(self, name: str, part: Part) -> None:
        try:
            await part.start()
        except Exception as exc:
            log.error("hub: %s failed to start: %s", name, exc)
            await self.stop()
            if isinstance(exc, ChuongError):
                raise
            raise ChuongError(f"{name} failed to start: {exc}") from exc
        self._started.append((name, part))

    def _spawn(self, coro: object, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]

    def _on_message(self, message: MqttMessage) -> None:
        if message.topic.startswith(self._alarm_prefix):  # the hub's own, read back (repair)
            if self.repair is not None:
                self.repair.seen(message.topic, message.payload, message.retain)
            if message.delivery is not None and self.mqtt is not None:  # read at QoS 0; in case
                self.mqtt.ack(message.delivery)
            return
        if self.district is not None:
            if message.topic.startswith(self._up_prefix):
                self.district.handle(message)
            elif message.delivery is not None and self.mqtt is not None:
                self.mqtt.ack(message.delivery)  # a district takes no button messages
            return
        if self.ingest is not None:
            self.ingest.handle(message)

    def _on_publication_dropped(self) -> None:
        self.metrics.publications_dropped.inc()
        if self.repair is not None:
            self.repair.publication_dropped()

    def _on_connected(self, session_present: bool) -> None:
        self.metrics.mqtt_connected.set(1)
        self.metrics.mqtt_connects.labels("resumed" if session_present else "new").inc()
        if self.watch is not None:
            self.watch.connected(session_present)

    def _on_telemetry_connected(self, session_present: bool) -> None:
        if self.telemetry_watch is not None:
            self.telemetry_watch.connected(session_present)

    def _on_telemetry_disconnected(self, reason: str) -> None:
        if self.telemetry_watch is not None:
            self.telemetry_watch.disconnected(reason)

    def _on_disconnected(self, reason: str) -> None:
        self.metrics.mqtt_connected.set(0)
        if self.watch is not None:
            self.watch.disconnected(reason)

    async def _announce_ready(self) -> None:
        assert self.mqtt is not None
        await self.mqtt.wait_subscribed()
        log.info("hub: ready (store open, subscribed)")
        sdnotify.notify("READY=1\nSTATUS=ready")

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval()
        if interval is None:
            return
        log.info("hub: systemd watchdog on, pinging every %.1fs while healthy", interval)
        while True:
            await asyncio.sleep(interval)
            if self.role == "standby" or self.writer_alive():
                sdnotify.notify("WATCHDOG=1")
            else:
                log.error("hub: the writer has stalled; not pinging the watchdog")

    # -- health ------------------------------------------------------------------------------------

    def writer_alive(self) -> bool:
        pipeline = self.pipeline
        return pipeline is not None and pipeline.alive(WATCHDOG_STALL_S)

    def readiness(self) -> Readiness:
        if self.role == "standby":
            return Readiness(
                False,
                [
                    "standby: another hub with this hub.id is active (it holds the store's "
                    "lock); this one takes over when it stops"
                ],
                role="standby",
            )
        reasons = []
        if not self.store.leads:
            reasons.append("store: this hub's lease of the store is not confirmed")
        mqtt = self.mqtt
        if mqtt is None or not mqtt.connected:
            reasons.append(f"broker: {mqtt.last_error if mqtt else 'not started'}")
        elif not mqtt.subscribed:
            reasons.append("broker: connected, subscription not confirmed")
        pipeline = self.pipeline
        if pipeline is None:
            reasons.append("store: not open")
        elif not pipeline.health.writable:
            reasons.append(f"store: cannot commit: {pipeline.health.error}")
        return Readiness(not reasons, reasons)

    def system_troubles(self) -> list[Trouble]:
        pipeline = self.pipeline
        if pipeline is None or pipeline.health.writable:
            return []
        return [
            Trouble(
                id=0,
                kind=TroubleKind.STORE_UNWRITABLE,
                subject="hub",
                site_id=None,
                state=TroubleState.OPEN,
                raised_at=pipeline.health.since or self.clock.now(),
                cleared_at=None,
                detail=f"the store cannot commit ({pipeline.health.error}); "
                "presses wait in the broker",
            )
        ]

    def _api_context(self) -> ApiContext:
        assert self.pipeline is not None
        return ApiContext(
            config=self.config,
            store=self.store,
            pipeline=self.pipeline,
            bus=self.bus,
            metrics=self.metrics,
            clock=self.clock,
            version=__version__,
            readiness=self.readiness,
            system_troubles=self.system_troubles,
        )


class _StoreOpener:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def start(self) -> None:
        await self._store.open(lead=False)

    async def stop(self) -> None:
        await self._store.close()
