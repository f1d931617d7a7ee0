"""MQTT ingestion: telemetry from the broker into the processor, acknowledged only once committed.

Topic scheme (MQTT 5, all under `customhouse/v1`):

- `telemetry/{signer_id}`, QoS 1: one message is a compact JWS of reports (`telemetry.py`);
- `status/{device_or_gateway_id}`, retained: `online` published at connect (birth), `offline` set as
  the Last Will (death). The ingestor announces itself the same way on `status/ingestor-{name}`.

Delivery is at least once and nothing is lost while the ingestor is away: a fixed client id with
clean_start false and a session expiry, so the broker queues QoS 1 messages for it; manual acks sent
only after `Processor.handle_many` committed. A message processed but not acked (a crash, a lost
connection) comes again and the processor drops it as a replay of a seq it has seen. A batch whose
processing fails (the database is down) is retried with back-off and not acked meanwhile.

The broker bounds what it holds for the session: Mosquitto keeps up to the client's Receive Maximum
(asked for here: `receive_maximum`) in flight and `max_queued_messages` (default 1000) queued beyond
them; past that it drops. It keeps queued messages across its own restart only with `persistence true`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.config import Settings
from customhouse.db import utcnow, writing
from customhouse.tracking.processor import DEVICE_AGGREGATE

log = logging.getLogger(__name__)

PREFIX = "customhouse/v1"
ONLINE, OFFLINE = "online", "offline"
STATUS_EVENT = "tracking.device_status"


class Handler(Protocol):
    """What the ingestor feeds: `processor.Processor` (verifies, stores, alerts, commits per call)."""

    def handle_many(self, raws: list[bytes], *, received_at: datetime) -> Sequence[Any]: ...


# A device's, gateway's or another ingestor's status topic changed: (id, "online"|"offline", at);
# the sink commits what it records.
StatusSink = Callable[[str, str, datetime], None]


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None


def parse_url(url: str) -> Broker:
    """`mqtt://[user:password@]host[:1883]` or `mqtts://...[:8883]` (TLS with the system's CAs)."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise ValueError(f"CUSTOMHOUSE_MQTT_URL={url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme == "mqtts"
    return Broker(parts.hostname, parts.port or (8883 if tls else 1883), tls, parts.username, parts.password)


def telemetry_topic(signer_id: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/telemetry/{signer_id}"


def status_topic(ident: str, prefix: str = PREFIX) -> str:
    return f"{prefix}/status/{ident}"


@dataclass
class Stats:
    received: int = 0
    processed: int = 0
    acked: int = 0
    batches: int = 0
    statuses: int = 0
    failures: int = 0
    connects: int = 0
    outcomes: list[Any] = field(default_factory=list)  # kept only with keep_outcomes (tests, benches)
    first_received: float = 0.0  # time.perf_counter() when the first message came (benches)


class _Received(NamedTuple):
    generation: int  # the connection it came on: a mid is only meaningful on that connection
    mid: int
    qos: int
    topic: str
    payload: bytes


class Ingestor:
    """Subscribes to telemetry and status topics and feeds the handler in batches of up to
    `batch_size` messages or `batch_ms` milliseconds, whichever comes first."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        *,
        name: str = "main",
        prefix: str = PREFIX,
        on_status: StatusSink | None = None,
        batch_size: int = 500,
        batch_ms: float = 20.0,
        receive_maximum: int = 1000,
        session_expiry: int = 7 * 24 * 3600,
        keep_outcomes: bool = False,
    ) -> None:
        self.broker = parse_url(url)
        self.handler = handler
        self.name = name
        self.prefix = prefix
        self.on_status = on_status
        self.batch_size = batch_size
        self.batch_ms = batch_ms
        self.keep_outcomes = keep_outcomes
        self.stats = Stats()
        self.connected = threading.Event()  # connected and subscribed
        # filled by paho's network thread, emptied by the worker; the worker is woken only when the
        # inbox stops being empty or holds a full batch, not at every message (a wake-up per message
        # hands the GIL back and forth between the two threads)
        self._inbox: deque[_Received] = deque()
        self._wake = threading.Event()
        self._generation = 0
        self._stopping = False
        self._own_status = status_topic(f"ingestor-{name}", prefix)
        self._telemetry, self._status = f"{prefix}/telemetry/", f"{prefix}/status/"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"customhouse-ingestor-{name}",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self.client.tls_set()
        self.client.will_set(self._own_status, OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)  # doubling back-off between tries
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._connect_properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._connect_properties.SessionExpiryInterval = session_expiry
        self._connect_properties.ReceiveMaximum = receive_maximum

    # --- network thread (paho's loop) ---

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.broker.host, reason)
            return
        self._generation += 1  # (one writer, the network thread; the worker only reads it)
        if self.stats.connects and not flags.session_present:
            log.warning("MQTT broker %s lost this ingestor's session: messages it held are gone", self.name)
        self.stats.connects += 1
        client.subscribe(
            [
                (f"{self.prefix}/telemetry/+", SubscribeOptions(qos=1)),
                (f"{self.prefix}/status/+", SubscribeOptions(qos=1, noLocal=True)),
            ]
        )
        client.publish(self._own_status, ONLINE, qos=1, retain=True)
        log.info("MQTT ingestor %s connected to %s:%s", self.name, self.broker.host, self.broker.port)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("MQTT broker refused the ingestor's subscriptions: %s", reasons)
            return
        self.connected.set()  # subscribed: from now on the broker keeps what is published for it

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self.connected.clear()
        self._generation += 1  # (one writer, the network thread; the worker only reads it)
        if self._stopping:
            log.info("MQTT ingestor %s disconnected", self.name)
        else:
            log.warning(
                "MQTT ingestor %s lost the broker (%s); reconnecting with back-off", self.name, reason
            )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        stats = self.stats
        if not stats.received:
            stats.first_received = time.perf_counter()
        stats.received += 1
        inbox = self._inbox
        inbox.append(
            _Received(self._generation, message.mid, message.qos, message.topic, bytes(message.payload))
        )
        waiting = len(inbox)
        if waiting == 1 or waiting >= self.batch_size:
            self._wake.set()

    # --- worker thread ---

    def run(self, stop: threading.Event) -> None:
        """Ingest until `stop` is set, then announce `offline` and disconnect cleanly."""
        self.client.connect_async(
            self.broker.host, self.broker.port, clean_start=False, properties=self._connect_properties
        )
        self.client.loop_start()
        try:
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._process(batch, stop)
        finally:
            self._stopping = True
            if self.client.is_connected():
                self.client.publish(self._own_status, OFFLINE, qos=1, retain=True).wait_for_publish(2)
            self.client.disconnect()
            self.client.loop_stop()

    def _next_batch(self, stop: threading.Event) -> list[_Received]:
        inbox, wake = self._inbox, self._wake
        wake.clear()  # cleared before looking: a message appended after this sets it again
        if not inbox and (not wake.wait(0.2) or not inbox):
            return []
        deadline = time.monotonic() + self.batch_ms / 1000
        while len(inbox) < self.batch_size and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            wake.clear()
            if len(inbox) >= self.batch_size:
                break
            wake.wait(left)
        return [inbox.popleft() for _ in range(min(len(inbox), self.batch_size))]

    def _process(self, batch: list[_Received], stop: threading.Event) -> None:
        delay = 0.5
        committed = False  # the telemetry part: not handed over twice when only a status failed
        while True:
            try:
                if not committed:
                    self._telemetry_of(batch)
                    committed = True
                self._statuses_of(batch)
                break
            except Exception:
                self.stats.failures += 1
                log.exception("MQTT batch of %d not processed; retrying in %.1f s", len(batch), delay)
                if stop.wait(delay):
                    return  # not acked: the broker sends them again to the next session
                delay = min(delay * 2, 30.0)
        # after a reconnect the broker resends what was not acked; a mid of an older connection may name
        # another message now, so it is never acked
        ack = self.client.ack
        acked = 0
        for item in batch:
            if item.qos and item.generation == self._generation:
                ack(item.mid, item.qos)
                acked += 1
        self.stats.acked += acked

    def _telemetry_of(self, batch: list[_Received]) -> None:
        telemetry = [item.payload for item in batch if item.topic.startswith(self._telemetry)]
        if telemetry:
            outcomes = self.handler.handle_many(telemetry, received_at=utcnow())
            self.stats.processed += len(telemetry)
            if self.keep_outcomes:
                self.stats.outcomes.extend(outcomes)
        self.stats.batches += 1

    def _statuses_of(self, batch: list[_Received]) -> None:
        statuses = [item for item in batch if item.topic.startswith(self._status)]
        for item in statuses:
            ident = item.topic.rsplit("/", 1)[1]
            state = item.payload.decode("utf-8", "replace").strip()
            if self.on_status is not None and state in {ONLINE, OFFLINE}:
                self.on_status(ident, state, utcnow())
            self.stats.statuses += 1


def recording_status(sessions: sessionmaker[Session]) -> StatusSink:
    """A status sink that records each change of a device's (or gateway's) status as a
    `tracking.device_status` event, {"state": "online"|"offline"}: in the audit trail, and delivered to
    subscribers. A retained status the broker sends again at each subscription is recorded once per
    process."""
    known: dict[str, str] = {}

    def record(ident: str, state: str, at: datetime) -> None:
        if known.get(ident) == state:
            return
        with writing(sessions) as session:
            events.record(
                session,
                [
                    events.DomainEvent(
                        type=STATUS_EVENT,
                        aggregate_type=DEVICE_AGGREGATE,
                        aggregate_id=ident,
                        actor="mqtt",
                        data={"state": state},
                        occurred_at=at,
                    )
                ],
            )
        known[ident] = state

    return record


def ingestor_from(settings: Settings, handler: Handler, sessions: sessionmaker[Session]) -> Ingestor:
    """The ingestor the settings name (CUSTOMHOUSE_MQTT_*), recording device status changes as events."""
    return Ingestor(
        settings.mqtt_url,
        handler,
        name=settings.mqtt_ingestor,
        on_status=recording_status(sessions),
        batch_size=settings.mqtt_batch_size,
        batch_ms=settings.mqtt_batch_ms,
    )


def start(ingestor: Ingestor) -> tuple[threading.Thread, threading.Event]:
    """Run an ingestor in a daemon thread; set the event and join the thread to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,), name="mqtt-ingestor", daemon=True)
    thread.start()
    return thread, stop
