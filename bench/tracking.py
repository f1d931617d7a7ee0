"""Tracking benchmark (issue 6, "Measured"): telemetry processed per second, in process and through
Mosquitto, and the latency from publish to stored alert.

tracking.process: `Processor.handle_many` on SQLite (a file, WAL) with everything it does: verify the
signature, order by seq, drop replays, note gaps, the corridor check, the alert rules, positions, device
states and alerts stored, one commit per call. The reports are a simulated fleet's (`simulator.plan`:
stops, GPS noise, one incident on half of the trucks) on open movements, in gateway-signed messages of
100 reports (the agreed wire format: one Ed25519 verification costs 100-200 us, so throughput needs
batches), 10 messages a call. Figure: reports/s (floor 20,000). Beside it: bare sqlite3 executemany of
the same position rows into a table of the same columns, a commit per 1,000 rows.

tracking.mqtt: the same kind of messages (10 reports each, gateway-signed), published at QoS 1 as fast as
a publisher process can to Mosquitto at 127.0.0.1:1883, first to a bare paho subscriber (QoS 1,
automatic acks, nothing done per message), then to the MQTT ingestor feeding the processor (manual acks
after each commit). Figure: messages/s processed, from the first message received to the last committed;
beside it the bare subscriber's rate measured the same way in the same run (floor: 80 % of it).

tracking.alert_latency: single-report messages, each signed by its e-seal, published at 2,000 messages/s
by 200 e-seals in turn; one report per e-seal has its seal tampered. Figure: p99 of the time from the
publish call to the commit of the alert (floor 1 s); beside it the p99 from publish to receipt by the bare
subscriber at the same rate. A marked message the broker dropped (Mosquitto's `max_queued_messages` for a
client that falls behind) counts as an alert that never came: infinitely late.

    python bench/tracking.py            # 400 trucks' worth of reports, 10 s at 2,000 messages/s
    python bench/tracking.py --quick    # fewer: a smoke run

stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from rich.console import Console
from rich.table import Table

from customhouse.app import policy_from
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade
from customhouse.tracking import corridor as geometry
from customhouse.tracking import mqtt
from customhouse.tracking import simulator as sim
from customhouse.tracking.processor import Processor
from customhouse.tracking.telemetry import sign

HOST, PORT = "127.0.0.1", 1883
LATENCY_RATE = 2_000  # messages/s
# Messages published ahead of what the consumer has processed, at most, in the throughput runs. The
# broker holds a subscriber's Receive Maximum (1,000) in flight and `max_queued_messages` (1,000) queued
# beyond, and the ingestor acks a batch (up to 500) only after it was processed: 1,000 ahead keeps the
# queue at most half full, where 1,500 once overflowed it by one (and that message never came).
WINDOW = 1_000
CONSUMED = multiprocessing.get_context("spawn").Value("q", 0)  # what the consumer has taken so far
KEYS = ("device", "seq", "time", "lat", "lon", "speed", "seal", "door", "battery", "temperature")
COLUMNS = ("device_id", "seq", "time", "lat", "lon", "speed", "seal", "door", "battery", "temperature")


def _start() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)


def _fleet(sessions: Any, settings: Settings, *, trucks: int, interval: timedelta, prefix: str) -> sim.Fleet:
    corridor = geometry.builtin()["KE-UG-NC"]
    fleet = sim.Fleet(
        sim.plan(corridor, trucks=trucks, incidents=0.5, start=_start(), interval=interval, prefix=prefix),
        corridor,
    )
    with sessions.begin() as session:
        sim.prepare(session, fleet, policy=policy_from(settings, sessions), gateway=f"{prefix}-GW")
    return fleet


def _batches(fleet: sim.Fleet, gateway: str, size: int) -> list[tuple[bytes, int]]:
    """The fleet's reports in time order, `size` a message, signed by the gateway: (message, reports)."""
    reports = list(sim.timeline(fleet.trucks))
    key = fleet.keys[gateway]
    return [
        (sign(key, gateway, reports[i : i + size]), len(reports[i : i + size]))
        for i in range(0, len(reports), size)
    ]


# ---------------------------------------------------------------- in process


def process(sessions: Any, settings: Settings, trucks: int) -> tuple[float, list[tuple[Any, ...]], int]:
    fleet = _fleet(sessions, settings, trucks=trucks, interval=timedelta(seconds=30), prefix="PR")
    messages = _batches(fleet, "PR-GW", 100)
    processor = Processor(sessions)
    alerts = 0
    started = time.perf_counter()
    for i in range(0, len(messages), 10):
        outcomes = processor.handle_many([raw for raw, _ in messages[i : i + 10]])
        assert all(outcome.ok for outcome in outcomes), outcomes
        alerts += sum(len(outcome.alerts) for outcome in outcomes)
    elapsed = time.perf_counter() - started
    reports = sum(count for _, count in messages)
    rows = [tuple(report[key] for key in KEYS) for truck in fleet.trucks for report in truck.reports]
    return reports / elapsed, rows, alerts


def bare_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE positions (id INTEGER PRIMARY KEY, device_id TEXT, seq INTEGER, time TEXT, lat REAL,"
        " lon REAL, speed REAL, seal TEXT, door TEXT, battery REAL, temperature REAL,"
        " UNIQUE (device_id, seq))"
    )
    started = time.perf_counter()
    for i in range(0, len(rows), 1_000):
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO positions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 10)})",
            rows[i : i + 1_000],
        )
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


# ---------------------------------------------------------------- through the broker


def publisher(
    prefix: str,
    messages: list[tuple[str, bytes]],
    rate: float,
    marked: set[int],
    answer: Connection,
    consumed: Any,
) -> None:
    """Publish at QoS 1, at `rate` messages/s; or when `rate` is 0 as fast as it can while at most WINDOW
    messages are ahead of what the consumer has taken (`consumed`): the broker queues only so many for a
    client and drops the rest. Sends back the publish time of the marked messages and the rate at which
    the publish calls were made (messages/s, first to last call)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(1_000)
    client.max_queued_messages_set(0)
    client.connect(HOST, PORT)
    client.loop_start()
    published: dict[int, float] = {}
    began = time.monotonic()
    infos = []
    for index, (signer, raw) in enumerate(messages):
        if rate:
            delay = began + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        else:
            while index - consumed.value > WINDOW:
                time.sleep(0.0005)
        if index in marked:
            published[index] = time.time()
        infos.append(client.publish(mqtt.telemetry_topic(signer, prefix), raw, qos=1))
    sent = time.monotonic() - began
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    answer.send((published, len(messages) / sent if sent > 0 else float("inf")))


def _publish(
    prefix: str, messages: list[tuple[str, bytes]], rate: float = 0, marked: set[int] | None = None
) -> tuple[BaseProcess, Connection]:
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(
        target=publisher, args=(prefix, messages, rate, marked or set(), sending, CONSUMED)
    )
    process.start()
    return process, receiving


class Bare:
    """A bare paho subscriber: QoS 1, acks by paho, it only notes when each message came."""

    def __init__(self, prefix: str, expected: int) -> None:
        self.expected = expected
        self.times: dict[bytes, float] = {}
        self.first = self.last = 0.0
        self.done = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.ReceiveMaximum = 1_000  # as the ingestor asks: the broker's default window is 20
        self.client.connect(HOST, PORT, properties=properties)
        self.client.loop_start()
        self.client.subscribe(f"{prefix}/telemetry/+", qos=1)
        assert subscribed.wait(10)

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        now = time.time()
        if not self.times:
            self.first = time.perf_counter()
        self.times[bytes(message.payload)] = now
        CONSUMED.value = len(self.times)
        if len(self.times) >= self.expected:
            self.last = time.perf_counter()
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Timed:
    """The processor, noting when each message's outcome committed (the first message's arrival is the
    ingestor's `stats.first_received`)."""

    def __init__(self, processor: Processor, expected: int) -> None:
        self.processor = processor
        self.expected = expected
        self.seen = 0
        self.last = 0.0
        self.committed: dict[bytes, float] = {}
        self.alerts: dict[bytes, float] = {}
        self.done = threading.Event()

    def handle_many(self, raws: list[bytes], *, received_at: datetime) -> Sequence[Any]:
        outcomes = self.processor.handle_many(raws, received_at=received_at)
        now = time.time()
        for raw, outcome in zip(raws, outcomes, strict=True):
            if outcome.alerts:
                self.alerts[raw] = now
        self.seen += len(raws)
        CONSUMED.value = self.seen
        if self.seen >= self.expected:
            self.last = time.perf_counter()
            self.done.set()
        return outcomes


def _ingest(prefix: str, handler: Timed) -> tuple[mqtt.Ingestor, threading.Thread, threading.Event]:
    gc.freeze()  # as `customhouse tracking ingest` does before it ingests
    ingestor = mqtt.Ingestor(
        f"mqtt://{HOST}:{PORT}",
        handler,
        name=f"bench-{uuid.uuid4().hex[:8]}",
        prefix=prefix,
        session_expiry=60,
    )
    thread, stop = mqtt.start(ingestor)
    assert ingestor.connected.wait(10), "the ingestor did not connect"
    return ingestor, thread, stop


def through_broker(sessions: Any, settings: Settings, trucks: int) -> tuple[float, float, int]:
    fleet = _fleet(sessions, settings, trucks=trucks, interval=timedelta(seconds=60), prefix="MQ")
    messages = [("MQ-GW", raw) for raw, _ in _batches(fleet, "MQ-GW", 10)]
    prefix = f"bench-{uuid.uuid4().hex[:8]}/v1"
    bare = Bare(prefix, len(messages))
    CONSUMED.value = 0
    process, _ = _publish(prefix, messages)
    _settle(bare.done, lambda: len(bare.times))
    if len(bare.times) < len(messages):
        raise SystemExit(f"the broker dropped {len(messages) - len(bare.times)} of {len(messages)} messages")
    process.join(60)
    bare.close()
    relay = len(messages) / (bare.last - bare.first)
    handler = Timed(Processor(sessions), len(messages))
    ingestor, thread, stop = _ingest(prefix, handler)
    CONSUMED.value = 0
    process, _ = _publish(prefix, messages)
    _settle(handler.done, lambda: handler.seen)
    process.join(60)
    stop.set()
    thread.join(10)
    if handler.seen < len(messages):
        raise SystemExit(f"the broker dropped {len(messages) - handler.seen} of {len(messages)} messages")
    # from the first message received, as for the bare subscriber (not from the first batch handed over)
    return len(messages) / (handler.last - ingestor.stats.first_received), relay, len(messages)


def _settle(done: threading.Event, progress: Callable[[], int], quiet: float = 5.0) -> None:
    """Wait until done, or until nothing more came for `quiet` seconds (the broker dropped some: past
    its queue limit for a client that falls behind, `max_queued_messages`, 1000 by default)."""
    last, since = progress(), time.monotonic()
    while not done.wait(0.2):
        if progress() != last:
            last, since = progress(), time.monotonic()
        elif time.monotonic() - since > quiet:
            return


def latency(
    sessions: Any, settings: Settings, seconds: float, devices: int
) -> tuple[float, float, int, dict[str, int], dict[str, int]]:
    corridor = geometry.builtin()["KE-UG-NC"]
    start = _start()
    trucks = [sim.Truck(f"LT-{n:04d}", start, start + timedelta(days=2)) for n in range(devices)]
    fleet = sim.Fleet(trucks, corridor)
    with sessions.begin() as session:
        sim.prepare(session, fleet, policy=policy_from(settings, sessions))
    per_device = int(LATENCY_RATE * seconds / devices)
    lon, lat = corridor.point_at(np.arange(1, per_device + 1, dtype=np.float64) * 1_000.0)
    messages: list[tuple[str, bytes]] = []
    marked: set[int] = set()
    for seq in range(1, per_device + 1):
        for truck in trucks:
            report = {
                "device": truck.device, "seq": seq, "time": sim._time(start + timedelta(minutes=seq)),
                "lat": float(lat[seq - 1]), "lon": float(lon[seq - 1]), "speed": 60.0,
                "seal": "tampered" if seq == per_device // 2 else "closed", "door": "closed",
                "battery": 90.0, "temperature": 25.0,
            }  # fmt: skip
            if seq == per_device // 2:
                marked.add(len(messages))
            messages.append((truck.device, sign(fleet.keys[truck.device], truck.device, [report])))
    prefix = f"bench-{uuid.uuid4().hex[:8]}/v1"
    bare = Bare(prefix, len(messages))
    process, answer = _publish(prefix, messages, LATENCY_RATE, marked)
    published, bare_rate = answer.recv()
    _settle(bare.done, lambda: len(bare.times))
    process.join(60)
    bare.close()
    relay = [bare.times[messages[i][1]] - at for i, at in published.items() if messages[i][1] in bare.times]
    handler = Timed(Processor(sessions), len(messages))
    _, thread, stop = _ingest(prefix, handler)
    process, answer = _publish(prefix, messages, LATENCY_RATE, marked)
    published, ingest_rate = answer.recv()
    _settle(handler.done, lambda: handler.seen)
    process.join(60)
    stop.set()
    thread.join(10)
    stored = [
        handler.alerts[messages[i][1]] - at for i, at in published.items() if messages[i][1] in handler.alerts
    ]
    lost = {"bare subscriber": len(published) - len(relay), "ingestor": len(published) - len(stored)}
    rates = {"bare subscriber": round(bare_rate), "ingestor": round(ingest_rate)}
    # a marked message never stored (the broker dropped it: the ingestor fell behind) counts as an
    # alert that never came, not as one left out of the percentile
    never = [math.inf] * lost["ingestor"], [math.inf] * lost["bare subscriber"]
    return _p99(stored + never[0]), _p99(relay + never[1]), len(stored), lost, rates


def _p99(values: list[float]) -> float:
    return float(np.percentile(values, 99, method="higher")) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer trucks, 3 s of latency")
    quick = parser.parse_args().quick
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite:///{folder}/bench.db", var_dir=Path(folder), rate_look_back_days=3660
        )
        engine = make_engine(settings.database_url)
        upgrade(engine)
        sessions = make_session_factory(engine)
        began = time.perf_counter()
        processing, rows, alerts = process(sessions, settings, 10 if quick else 40)
        bare_rate = bare_sqlite(Path(folder) / "bare.db", rows)
        print(f"in process: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
        ingest_rate, relay_rate, relayed = through_broker(sessions, settings, 10 if quick else 40)
        print(f"through the broker: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
        p99, relay_p99, samples, lost, rates = latency(
            sessions, settings, 3 if quick else 10, 100 if quick else 200
        )
        print(f"latency: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)
        engine.dispose()

    bare_sqlite_vs = "bare sqlite3 executemany of the positions"
    relay_vs = "bare paho subscriber (same broker, same run)"
    receipt_vs = "bare subscriber's receipt p99 at the same rate"
    figures = [
        ("tracking.process", processing, "reports/s", bare_sqlite_vs, bare_rate, 20_000),
        ("tracking.mqtt", ingest_rate, "messages/s", relay_vs, relay_rate, round(0.8 * relay_rate, 2)),
        ("tracking.alert_latency", p99, "s (p99)", receipt_vs, relay_p99, 1.0),
    ]
    title = f"tracking: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    table = Table(title=title)
    for column in ("figure", "value", "unit", "compared with (same run)", "its value", "ratio", "floor"):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    for name, value, unit, vs, vs_value, floor in figures:
        shown = f"{value:,.3f}" if unit.startswith("s") else f"{value:,.0f}"
        other = f"{vs_value:,.3f}" if unit.startswith("s") else f"{vs_value:,.0f}"
        table.add_row(name, shown, unit, vs, other, f"{value / vs_value:.3f}", f"{floor:,}")
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    print(
        f"{len(rows):,} reports in process ({alerts} alerts raised); {relayed:,} messages of 10 reports"
        f" through the broker; latency: {samples} alerts stored; marked messages lost: {lost}; published at"
        f" (messages/s, first to last publish call): {rates}",
        file=sys.stderr,
    )
    for name, value, unit, vs, vs_value, floor in figures:
        figure = {
            "bench": name,
            "value": round(value, 4),
            "unit": unit,
            "vs": vs,
            "vs_value": round(vs_value, 4),
            "floor": floor,
        }
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
