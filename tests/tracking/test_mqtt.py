"""The MQTT ingestor against the real Mosquitto at 127.0.0.1:1883: QoS 1 messages are processed and
acknowledged once committed, a broker restart mid-stream loses none, bad messages do not stop it, a
failing batch is retried, and birth and death are announced and recorded.

Each test uses its own topic prefix and client ids, so that runs (and other users of the broker) do not
see each other's messages. The restart test restarts the machine's Mosquitto (SIGTERM: with
`persistence true` it saves the sessions and queued messages it holds) and leaves it running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from joserfc.jwk import OKPKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.db import make_session_factory
from customhouse.tracking import mqtt, schemas, service, telemetry
from customhouse.tracking.models import Position
from customhouse.tracking.processor import Processor

URL = "mqtt://127.0.0.1:1883"
CONFIG = "/etc/mosquitto/mosquitto.conf"
PID_FILE = Path("/run/mosquitto/mosquitto.pid")
SUPERVISOR = Principal("supervisor", frozenset({Role.SUPERVISOR}))
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def answering() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


def start_mosquitto() -> None:
    if not answering():
        subprocess.run(["mosquitto", "-d", "-c", CONFIG], check=True)
    deadline = time.monotonic() + 10
    while not answering():
        assert time.monotonic() < deadline, "Mosquitto did not come back"
        time.sleep(0.05)


def restart_mosquitto() -> None:
    pid = int(PID_FILE.read_text())
    os.kill(pid, signal.SIGTERM)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.02)
    start_mosquitto()


@pytest.fixture(autouse=True)
def broker() -> None:
    if not answering():
        if os.environ.get("CI") == "true":
            pytest.fail("Mosquitto is not answering at 127.0.0.1:1883 (.ci/run starts it)")
        pytest.skip("Mosquitto is not answering at 127.0.0.1:1883")


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def prefix(tag: str) -> str:
    return f"test-{tag}/v1"


@pytest.fixture
def db(committing_engine: Engine) -> sessionmaker[Session]:
    """Sessions that really commit: the ingestor works in threads of its own."""
    return make_session_factory(committing_engine)


def register(sessions: sessionmaker[Session], device: str) -> OKPKey:
    key = telemetry.generate_key()
    with sessions.begin() as session:
        service.register_device(
            session,
            device=schemas.NewDevice(
                id=device, kind=schemas.DeviceKind.E_SEAL, public_key=telemetry.public_pem(key)
            ),
            by=SUPERVISOR,
        )
    return key


def report(device: str, seq: int) -> dict[str, Any]:
    return {
        "device": device,
        "seq": seq,
        "time": (START + timedelta(minutes=seq)).isoformat().replace("+00:00", "Z"),
        "lat": -3.8,
        "lon": 39.4,
        "speed": 60.0,
        "seal": "closed",
        "door": "closed",
        "battery": 90.0,
        "temperature": 25.0,
    }


class Publisher:
    """A device-side client: QoS 1, a persistent session, resending what the broker did not acknowledge
    after a reconnection (paho keeps unacknowledged QoS 1 messages and sends them again)."""

    def __init__(self, tag: str, prefix: str) -> None:
        self.prefix = prefix
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-pub-{tag}", protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", 1883, clean_start=False, properties=properties)
        self.client.loop_start()

    def send(self, signer: str, raw: bytes) -> paho.MQTTMessageInfo:
        return self.client.publish(mqtt.telemetry_topic(signer, self.prefix), raw, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(tag: str, prefix: str) -> Iterator[Publisher]:
    publisher = Publisher(tag, prefix)
    yield publisher
    publisher.close()


class Running:
    def __init__(self, ingestor: mqtt.Ingestor) -> None:
        self.ingestor = ingestor
        self.thread, self.stop = mqtt.start(ingestor)
        assert ingestor.connected.wait(10), "the ingestor did not connect"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def ingest(tag: str, prefix: str) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(handler: mqtt.Handler, **options: Any) -> Running:
        ingestor = mqtt.Ingestor(
            URL, handler, name=f"test-{tag}", prefix=prefix, session_expiry=300, **options
        )
        started.append(Running(ingestor))
        return started[-1]

    yield run
    for running in started:
        if running.thread.is_alive():
            running.close()


def stored(sessions: sessionmaker[Session], device: str) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(select(Position.seq).where(Position.device_id == device).order_by(Position.seq))
        )


def wait_for(condition: Callable[[], bool], seconds: float = 30, message: Callable[[], object] = str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {message()}"
        time.sleep(0.05)


def test_parse_url() -> None:
    assert mqtt.parse_url("mqtt://127.0.0.1:1883") == mqtt.Broker("127.0.0.1", 1883)
    assert mqtt.parse_url("mqtts://broker.example:8884") == mqtt.Broker("broker.example", 8884, tls=True)
    assert mqtt.parse_url("mqtt://u:p@host") == mqtt.Broker("host", 1883, False, "u", "p")
    with pytest.raises(ValueError, match="CUSTOMHOUSE_MQTT_URL"):
        mqtt.parse_url("http://host:1883")


def test_qos1_messages_are_processed_then_acknowledged(
    db: sessionmaker[Session], ingest: Callable[..., Running], publisher: Publisher
) -> None:
    key = register(db, "SEAL-M1")
    running = ingest(Processor(db), keep_outcomes=True)
    for seq in range(1, 201):
        publisher.send("SEAL-M1", telemetry.sign(key, "SEAL-M1", [report("SEAL-M1", seq)]))
    wait_for(lambda: running.ingestor.stats.acked >= 200, message=lambda: running.ingestor.stats)
    assert stored(db, "SEAL-M1") == list(range(1, 201))
    stats = running.ingestor.stats
    assert stats.processed == stats.acked == 200
    assert stats.batches < 200  # batched: fewer commits than messages
    assert all(outcome.ok and outcome.accepted == 1 for outcome in stats.outcomes)


def test_restarting_mosquitto_mid_stream_loses_no_qos1_message(
    db: sessionmaker[Session], ingest: Callable[..., Running], publisher: Publisher
) -> None:
    """Published at QoS 1 at a steady rate, with a broker restart after a third: every report is stored,
    exactly once (what the broker sends again after the restart is dropped as a replay)."""
    key = register(db, "SEAL-M2")
    running = ingest(Processor(db))
    total = 600
    try:
        for seq in range(1, total + 1):
            publisher.send("SEAL-M2", telemetry.sign(key, "SEAL-M2", [report("SEAL-M2", seq)]))
            if seq == total // 3:
                restart_mosquitto()
            time.sleep(0.003)
    finally:
        start_mosquitto()
    wait_for(lambda: len(stored(db, "SEAL-M2")) >= total, seconds=60)
    assert stored(db, "SEAL-M2") == list(range(1, total + 1))
    assert running.ingestor.stats.connects >= 2  # it did lose the broker and come back


def test_bad_messages_are_refused_and_the_ingestor_goes_on(
    db: sessionmaker[Session], ingest: Callable[..., Running], publisher: Publisher
) -> None:
    key = register(db, "SEAL-M3")
    stranger = telemetry.generate_key()
    running = ingest(Processor(db), keep_outcomes=True)
    bad = [
        b"",
        b"\xff\xfe not even text",
        b"not.a.jws",
        telemetry.sign(stranger, "SEAL-M3", [report("SEAL-M3", 1)]),  # signed by another key
        telemetry.sign(stranger, "NOBODY", [report("NOBODY", 1)]),  # unknown signer
        telemetry.sign(key, "SEAL-M3", [{"device": "SEAL-M3", "seq": "one"}]),  # not a report
    ]
    for raw in bad:
        publisher.send("SEAL-M3", raw)
    for seq in (1, 2):
        publisher.send("SEAL-M3", telemetry.sign(key, "SEAL-M3", [report("SEAL-M3", seq)]))
    publisher.send("SEAL-M3", telemetry.sign(key, "SEAL-M3", [report("SEAL-M3", 1)]))  # a replay
    wait_for(lambda: running.ingestor.stats.acked >= len(bad) + 3)
    assert running.thread.is_alive()
    assert stored(db, "SEAL-M3") == [1, 2]
    reasons = sorted(outcome.reason or "ok" for outcome in running.ingestor.stats.outcomes)
    assert reasons == sorted(["malformed"] * 4 + ["bad-signature", "unknown-signer", "ok", "ok", "replay"])
    with db() as session:
        counted = service.rejections(session)
    assert counted["malformed"] == 4 and counted["bad-signature"] == 1 and counted["replay"] == 1


def test_a_batch_that_fails_is_not_acknowledged_and_is_retried(
    db: sessionmaker[Session], ingest: Callable[..., Running], publisher: Publisher
) -> None:
    """The database refusing a commit (here: the first two calls) leaves the messages unacknowledged; the
    ingestor retries with back-off and they are stored once it succeeds."""
    key = register(db, "SEAL-M4")
    processor = Processor(db)
    failures = [OperationalError("INSERT", {}, Exception("database is locked"))] * 2
    acked_while_failing: list[int] = []

    class Flaky:
        def handle_many(self, raws: list[bytes], *, received_at: datetime) -> list[Any]:
            if failures:
                acked_while_failing.append(running.ingestor.stats.acked)
                raise failures.pop()
            return processor.handle_many(raws, received_at=received_at)

    running = ingest(Flaky())
    for seq in (1, 2, 3):
        publisher.send("SEAL-M4", telemetry.sign(key, "SEAL-M4", [report("SEAL-M4", seq)]))
    wait_for(lambda: running.ingestor.stats.acked >= 3)
    assert acked_while_failing == [0, 0]
    assert running.ingestor.stats.failures == 2
    assert stored(db, "SEAL-M4") == [1, 2, 3]


def test_birth_and_death_are_announced_and_device_status_recorded(
    db: sessionmaker[Session], ingest: Callable[..., Running], tag: str, prefix: str
) -> None:
    seen: list[tuple[str, str]] = []
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-watch-{tag}", protocol=paho.MQTTv5)
    watcher.on_message = lambda _c, _u, message: seen.append((message.topic, message.payload.decode()))
    watcher.connect("127.0.0.1", 1883)
    watcher.loop_start()
    watcher.subscribe(f"{prefix}/status/+", qos=1)
    # a device that announces itself and then drops off without saying goodbye: its Last Will is sent
    device = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-dev-{tag}", protocol=paho.MQTTv5)
    device.will_set(mqtt.status_topic("SEAL-M5", prefix), mqtt.OFFLINE, qos=1, retain=True)
    device.connect("127.0.0.1", 1883, keepalive=5)
    device.loop_start()
    device.publish(mqtt.status_topic("SEAL-M5", prefix), mqtt.ONLINE, qos=1, retain=True).wait_for_publish(5)
    own = mqtt.status_topic(f"ingestor-test-{tag}", prefix)
    try:
        running = ingest(Processor(db), on_status=mqtt.recording_status(db))
        wait_for(lambda: (own, "online") in seen)
        wait_for(lambda: running.ingestor.stats.statuses >= 1)
        device.loop_stop()
        device.socket().close()  # the connection is lost: the broker publishes the will
        wait_for(lambda: (mqtt.status_topic("SEAL-M5", prefix), "offline") in seen)
        wait_for(lambda: running.ingestor.stats.statuses >= 2)
        with db() as session:
            history = events.history(session, "tracking_device", "SEAL-M5")
        assert [event.data["state"] for event in history] == ["online", "offline"]
        assert all(event.type == "tracking.device_status" for event in history)
        running.close()
        wait_for(lambda: (own, "offline") in seen)  # a clean stop says so itself
    finally:
        watcher.disconnect()
        watcher.loop_stop()
        for topic in (own, mqtt.status_topic("SEAL-M5", prefix)):  # retained: clear them
            publish = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
            publish.connect("127.0.0.1", 1883)
            publish.loop_start()
            publish.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
            publish.disconnect()
            publish.loop_stop()


def test_the_ingestor_thread_starts_with_the_server_when_a_broker_is_configured(
    committing_engine: Engine, settings: Any, tag: str
) -> None:
    from fastapi.testclient import TestClient

    from customhouse.app import create_app

    configured = settings.model_copy(update={"mqtt_url": URL, "mqtt_ingestor": f"test-app-{tag}"})
    app = create_app(configured, engine=committing_engine)
    with TestClient(app):
        wait_for(lambda: any(thread.name == "mqtt-ingestor" for thread in threading.enumerate()), 10)
    unconfigured = create_app(settings, engine=committing_engine)
    with TestClient(unconfigured):
        assert not any(thread.name == "mqtt-ingestor" for thread in threading.enumerate())
