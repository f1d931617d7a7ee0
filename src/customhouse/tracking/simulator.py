"""The transit simulator: trucks driving the corridor, with incidents injected at known times.

`plan` (pure) drives each truck along the corridor's route at its own cruising speed (with noise): it
stops at approved places (weighbridges, the border post, a rest stop), makes a short traffic stop below
the unscheduled-stop threshold, and reports every `interval` of simulated time with GPS noise, a diurnal
temperature and a slowly draining battery. A truck with an incident gets exactly one, at a known simulated
time in the middle of the journey; `Truck.incident_at` is when its condition starts (the first report
that shows it; for `offline` the last report before the silence; for the time limit the limit itself).
Reports carry their own simulated times, so a 16-hour journey is generated and processed in seconds.

`prepare` and `run` drive the real system (see below); `score` (pure) compares what was injected with the
alerts raised: detected or missed, with the delay, and every alert on a clean truck (a false alarm).
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import numpy as np
import paho.mqtt.client as paho
import shapely
from joserfc.jwk import OKPKey
from paho.mqtt.enums import CallbackAPIVersion
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from customhouse.auth.service import Principal, Role
from customhouse.db import utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.service import Policy
from customhouse.parties import service as parties
from customhouse.reference import codes
from customhouse.tracking import alerts as rules
from customhouse.tracking import mqtt, schemas, service
from customhouse.tracking.corridor import Corridor
from customhouse.tracking.models import DeviceState
from customhouse.tracking.processor import Processor
from customhouse.tracking.telemetry import generate_key, public_pem, sign

SEAL_OPENED = rules.SEAL_OPEN
SEAL_TAMPERED = rules.SEAL_TAMPERED
ROUTE_DEVIATION = rules.DEVIATION
UNSCHEDULED_STOP = rules.STOP
OFFLINE = rules.OFFLINE
RESTRICTED_ZONE = rules.ZONE
TEMPERATURE = rules.TEMPERATURE
LOW_BATTERY = rules.BATTERY
TIME_LIMIT = rules.TIME_LIMIT
KINDS = (
    SEAL_OPENED,
    SEAL_TAMPERED,
    ROUTE_DEVIATION,
    UNSCHEDULED_STOP,
    OFFLINE,
    RESTRICTED_ZONE,
    TEMPERATURE,
    LOW_BATTERY,
    TIME_LIMIT,
)
GPS_SIGMA_M = 8.0  # standard deviation of the position noise, per axis
APPROVED_STOP_MINUTES = (15, 20, 45, 25, 60)  # dwell at each approved stop, in route order, cycled
DEPARTURE_SPREAD = timedelta(minutes=10)
TRAFFIC_STOP_MINUTES = 10  # one stop outside approved places, well below the unscheduled-stop threshold


@dataclass
class Truck:
    device: str
    departure: datetime
    time_limit: datetime
    incident: str | None = None
    incident_at: datetime | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def arrival(self) -> datetime:
        return _parse(self.reports[-1]["time"])


@dataclass(frozen=True)
class Alert:
    """An alert as the processor raised it: the device, its kind (alerts.KINDS), and the simulated time
    it was raised at."""

    device: str
    kind: str
    at: datetime


@dataclass(frozen=True)
class Verdict:
    device: str
    kind: str
    injected_at: datetime
    detected_at: datetime | None

    @property
    def delay(self) -> timedelta | None:
        return None if self.detected_at is None else self.detected_at - self.injected_at


@dataclass(frozen=True)
class Score:
    verdicts: list[Verdict]
    false_alarms: list[Alert]  # any alert but `arrived` on a truck without incident

    @property
    def missed(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.detected_at is None]

    @property
    def passed(self) -> bool:
        return not self.missed and not self.false_alarms


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class _Segment:
    """A span of reports with a behaviour: seconds long, moving along the route or not."""

    seconds: float
    moving: bool = True
    lateral_m: float = 0.0  # offset to the left of the route (a deviation)
    target: tuple[float, float] | None = None  # x, y metres: drive off the route to here and back
    silent: bool = False  # no reports (offline)
    mark: str | None = None  # the incident whose condition this segment shows


class _Driver:
    """Builds one truck's reports."""

    def __init__(self, corridor: Corridor, rng: random.Random, interval: timedelta) -> None:
        self.corridor = corridor
        self.rng = rng
        self.interval = interval.total_seconds()
        self.cruise_kmh = rng.uniform(55, 75)

    def stops_along(self) -> list[float]:
        """Metres along the route of each approved stop (the departure and destination excluded)."""
        spec = self.corridor.spec
        route = self.corridor.route_m
        along = []
        for place in spec.approved_stops:
            x, y = self.corridor.project(np.array([place.lon]), np.array([place.lat]))
            along.append(float(route.project(Point(float(x[0]), float(y[0])))))
        return sorted(along)

    def drive(
        self, device: str, departure: datetime, incident: str | None, incident_fraction: float
    ) -> tuple[list[dict[str, Any]], datetime | None]:
        corridor = self.corridor
        thresholds = corridor.thresholds
        length = corridor.length_m
        stops = self.stops_along()
        traffic_at = self._free_place(length * self.rng.uniform(0.15, 0.25), stops)
        incident_s = self._free_place(length * incident_fraction, stops) if incident else None
        if incident == RESTRICTED_ZONE:
            incident_s, zone_target = self._zone_approach()
        rng = self.rng
        reports: list[dict[str, Any]] = []
        s = 0.0
        t = departure
        seq = 0
        battery = rng.uniform(92, 100)
        drain_per_hour = rng.uniform(1.0, 2.0)
        seal, door = "closed", "closed"
        incident_at: datetime | None = None
        pending_stops = list(stops)
        plan: list[_Segment] = []
        traffic_done = incident_done = False

        xs: list[float] = []
        ys: list[float] = []

        def emit(x: float, y: float, speed: float, mark: str | None) -> None:
            nonlocal seq, incident_at
            seq += 1
            xs.append(x + rng.gauss(0, GPS_SIGMA_M))  # projected to lon/lat all at once at the end
            ys.append(y + rng.gauss(0, GPS_SIGMA_M))
            hours = (t - departure).total_seconds() / 3600
            temperature = (
                24 + 6 * math.sin(2 * math.pi * (t.hour + t.minute / 60 - 9) / 24) + rng.gauss(0, 0.5)
            )
            level = battery - drain_per_hour * hours
            if incident == TEMPERATURE and mark == TEMPERATURE:
                temperature = rng.uniform(thresholds.temperature_max + 5, thresholds.temperature_max + 10)
            if incident == LOW_BATTERY and incident_at is not None:
                level = thresholds.battery_low - 5 - rng.uniform(0, 2)
            report = {
                "device": device,
                "seq": seq,
                "time": _time(t),
                "lat": 0.0,
                "lon": 0.0,
                "speed": round(max(speed, 0.0), 1),
                "seal": seal,
                "door": door,
                "battery": round(max(level, 0.0), 1),
                "temperature": round(temperature, 1),
            }
            reports.append(report)
            if mark is not None and incident_at is None and mark == incident:
                incident_at = t

        while s < length:
            if not plan:
                if pending_stops and s >= pending_stops[0]:
                    minutes = APPROVED_STOP_MINUTES[
                        (len(stops) - len(pending_stops)) % len(APPROVED_STOP_MINUTES)
                    ]
                    plan.append(_Segment(minutes * 60, moving=False))
                    s = pending_stops.pop(0)  # it pulls in at the stop, not a report's drive past it
                elif not traffic_done and s >= traffic_at:
                    traffic_done = True
                    plan.append(_Segment(TRAFFIC_STOP_MINUTES * 60, moving=False))
                elif incident and not incident_done and incident_s is not None and s >= incident_s:
                    incident_done = True
                    plan.extend(
                        self._incident_segments(
                            incident, zone_target if incident == RESTRICTED_ZONE else None
                        )
                    )
            segment = plan[0] if plan else None
            x_route, y_route = self._at(s)
            if segment is None:
                speed = max(20.0, rng.gauss(self.cruise_kmh, 5))
                emit(x_route, y_route, speed, None)
                s += speed / 3.6 * self.interval
            else:
                mark = segment.mark
                if incident in (SEAL_OPENED, SEAL_TAMPERED) and mark == incident:
                    seal = "open" if incident == SEAL_OPENED else "tampered"
                    door = "open" if incident == SEAL_OPENED else "closed"
                if incident == LOW_BATTERY and mark == LOW_BATTERY:
                    incident_at = incident_at or t
                if segment.target is not None:
                    fraction = segment.lateral_m  # here: share of the way to the target (0..1..0)
                    x = x_route + (segment.target[0] - x_route) * fraction
                    y = y_route + (segment.target[1] - y_route) * fraction
                    speed = 40.0 if fraction < 1 else 0.0
                    inside = any(shapely.contains_xy(zone, x, y) for zone in corridor.zones)
                    emit(x, y, speed, RESTRICTED_ZONE if inside else None)
                elif segment.silent:
                    if incident_at is None and mark == OFFLINE:
                        incident_at = _parse(reports[-1]["time"]) if reports else t
                    s += self.cruise_kmh / 3.6 * self.interval
                elif segment.moving:
                    speed = max(20.0, rng.gauss(self.cruise_kmh, 5))
                    nx, ny = self._normal(s)
                    x, y = x_route + nx * segment.lateral_m, y_route + ny * segment.lateral_m
                    outside = abs(segment.lateral_m) > corridor.spec.buffer_m
                    emit(x, y, speed, mark if outside or mark not in (ROUTE_DEVIATION,) else None)
                    s += speed / 3.6 * self.interval
                else:
                    emit(x_route, y_route, 0.0, mark)
                segment.seconds -= self.interval
                if segment.seconds <= 0:
                    plan.pop(0)
            t += timedelta(seconds=self.interval)
        x, y = self._at(length)
        for _ in range(3):  # at the destination: parked, for the arrival to be seen
            emit(x, y, 0.0, None)
            t += timedelta(seconds=self.interval)
        lons, lats = corridor.unproject(np.array(xs), np.array(ys))
        for report, lon, lat in zip(reports, lons.tolist(), lats.tolist(), strict=True):
            report["lon"], report["lat"] = round(lon, 6), round(lat, 6)
        return reports, incident_at

    def _at(self, s: float) -> tuple[float, float]:
        point = self.corridor.route_m.interpolate(min(s, self.corridor.length_m))
        return float(point.x), float(point.y)

    def _normal(self, s: float) -> tuple[float, float]:
        x0, y0 = self._at(max(s - 50, 0))
        x1, y1 = self._at(s + 50)
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        return -(y1 - y0) / length, (x1 - x0) / length

    def _free_place(self, s: float, stops: list[float]) -> float:
        """A place at or after `s` at least 20 km from any approved stop and the ends of the route."""
        length = self.corridor.length_m
        while any(abs(s - stop) < 20_000 for stop in stops) or s < 20_000 or s > length - 20_000:
            s = (s + 5_000) % length
        return s

    def _zone_approach(self) -> tuple[float, tuple[float, float]]:
        """The route position nearest to a restricted zone, and the zone's inner point to drive to."""
        zone = self.rng.choice(self.corridor.zones)
        inner = zone.representative_point()
        return float(self.corridor.route_m.project(inner)), (float(inner.x), float(inner.y))

    def _incident_segments(self, kind: str, target: tuple[float, float] | None) -> list[_Segment]:
        thresholds = self.corridor.thresholds
        steps = self.interval
        if kind in (SEAL_OPENED, SEAL_TAMPERED):
            return [_Segment(10 * 60, moving=False, mark=kind)]  # stopped while the seal is opened
        if kind == ROUTE_DEVIATION:
            out = self.corridor.spec.buffer_m * 2
            dwell = thresholds.dwell.total_seconds() + 20 * 60
            ramp = [_Segment(steps, lateral_m=out * share) for share in (0.25, 0.4)]
            back = [_Segment(steps, lateral_m=out * share) for share in (0.4, 0.25)]
            return [*ramp, _Segment(dwell, lateral_m=out, mark=ROUTE_DEVIATION), *back]
        if kind == UNSCHEDULED_STOP:
            return [_Segment(thresholds.stop.total_seconds() + 20 * 60, moving=False, mark=kind)]
        if kind == OFFLINE:
            return [_Segment(thresholds.offline.total_seconds() + 30 * 60, silent=True, mark=kind)]
        if kind == RESTRICTED_ZONE:
            assert target is not None
            x, y = self._at(self.corridor.route_m.project(Point(*target)))
            distance = math.hypot(target[0] - x, target[1] - y)
            legs = max(2, math.ceil(distance / (40 / 3.6 * steps)))
            shares = [i / legs for i in range(1, legs + 1)]
            go = [_Segment(steps, target=target, lateral_m=share) for share in shares]
            stay = [_Segment(10 * 60, target=target, lateral_m=1.0)]
            back = [_Segment(steps, target=target, lateral_m=share) for share in reversed(shares[:-1])]
            return [*go, *stay, *back]
        if kind == TEMPERATURE:
            return [_Segment(30 * 60, mark=TEMPERATURE)]
        if kind == LOW_BATTERY:
            return [_Segment(steps, mark=LOW_BATTERY)]
        return []  # time_limit: the movement's limit is set before the arrival instead


def plan(
    corridor: Corridor,
    *,
    trucks: int,
    incidents: float,
    start: datetime,
    interval: timedelta = timedelta(minutes=1),
    seed: int = 1,
    prefix: str = "SIM",
) -> list[Truck]:
    """`trucks` journeys departing within DEPARTURE_SPREAD of `start` (a convoy leaving the port, well
    inside the offline time, which runs from the movement's opening until the first report); a share
    `incidents` of them (rounded to the nearest truck) get one incident each, the kinds taken in turn so
    that every kind is injected once there are at least as many incident trucks as kinds."""
    if not 0 <= incidents <= 1:
        raise ValueError("incidents is a share of the trucks, from 0 to 1")
    rng = random.Random(seed)
    with_incident = round(trucks * incidents)
    chosen = set(rng.sample(range(trucks), with_incident))
    kinds = iter(KINDS * (with_incident // len(KINDS) + 1))
    fleet = []
    for number in range(trucks):
        incident = next(kinds) if number in chosen else None
        departure = start + timedelta(seconds=round(DEPARTURE_SPREAD.total_seconds() * number / trucks))
        driver = _Driver(corridor, random.Random(rng.random()), interval)
        reports, incident_at = driver.drive(
            f"{prefix}-{number + 1:04d}", departure, incident, rng.uniform(0.35, 0.65)
        )
        arrival = _parse(reports[-1]["time"])
        truck = Truck(
            reports[0]["device"], departure, arrival + timedelta(hours=12), incident, incident_at, reports
        )
        if incident == TIME_LIMIT:
            late = (arrival - departure).total_seconds() * rng.uniform(0.4, 0.7)
            truck.time_limit = truck.incident_at = departure + timedelta(seconds=round(late))
        fleet.append(truck)
    return fleet


def timeline(fleet: Iterable[Truck]) -> Iterator[dict[str, Any]]:
    """Every report of the fleet in time order (as devices would send them)."""
    merged = sorted(
        (report for truck in fleet for report in truck.reports),
        key=lambda report: (report["time"], report["device"]),
    )
    yield from merged


def score(fleet: Iterable[Truck], alerts: Iterable[Alert]) -> Score:
    by_device: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_device.setdefault(alert.device, []).append(alert)
    verdicts: list[Verdict] = []
    false_alarms: list[Alert] = []
    for truck in fleet:
        raised = sorted(by_device.get(truck.device, []), key=lambda alert: alert.at)
        if truck.incident is None:
            false_alarms.extend(alert for alert in raised if alert.kind != rules.ARRIVED)
            continue
        assert truck.incident_at is not None
        hits = [alert.at for alert in raised if alert.kind == truck.incident]
        verdicts.append(Verdict(truck.device, truck.incident, truck.incident_at, min(hits) if hits else None))
    return Score(verdicts, false_alarms)


# ---------------------------------------------------------------- running a simulation
#
# What follows drives the real system: the fleet's e-seals are registered, a transit declaration is
# lodged and a movement opened per truck (as a supervisor named `simulator`), the reports are signed by
# their e-seals and sent through a transport (the processor in this process, the HTTP endpoint, or the
# MQTT broker) a slice of simulated time at a time; after each slice the processor's sweep runs at the
# slice's simulated time (offline and time-limit alerts need a clock, and the reports carry their own).


class Transport(Protocol):
    def send(self, raws: list[bytes], devices: list[str]) -> None:
        """Deliver the messages (raws[i] signed by devices[i]); return once they are processed."""

    def close(self) -> None: ...


class Direct:
    """The processor in this process."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    def send(self, raws: list[bytes], devices: list[str]) -> None:
        self.processor.handle_many(raws)

    def close(self) -> None:
        pass


class Http:
    """POST /api/v1/tracking/telemetry, NDJSON of the slice's messages; committed when it answers."""

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(base_url=url, timeout=60)
        self.path = "/api/v1/tracking/telemetry"

    def send(self, raws: list[bytes], devices: list[str]) -> None:
        response = self.client.post(
            self.path, content=b"\n".join(raws), headers={"Content-Type": "application/x-ndjson"}
        )
        response.raise_for_status()

    def close(self) -> None:
        self.client.close()


class Broker:
    """Publishes to the MQTT broker at QoS 1, each message on its e-seal's telemetry topic, then waits
    until an ingestor has processed them (the devices' last seq in the database caught up)."""

    def __init__(
        self, url: str, sessions: sessionmaker[Session], *, prefix: str = mqtt.PREFIX, timeout: float = 60
    ) -> None:
        broker = mqtt.parse_url(url)
        self.sessions = sessions
        self.prefix = prefix
        self.timeout = timeout
        self.expected: dict[str, int] = {}
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"customhouse-simulator-{uuid.uuid4().hex[:8]}"
        )
        self.client.max_inflight_messages_set(1000)
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, raws: list[bytes], devices: list[str]) -> None:
        sent = [
            self.client.publish(mqtt.telemetry_topic(device, self.prefix), raw, qos=1)
            for raw, device in zip(raws, devices, strict=True)
        ]
        for info in sent:
            info.wait_for_publish(self.timeout)
        for device in devices:
            self.expected[device] = self.expected.get(device, 0) + 1
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with self.sessions() as session:
                done = dict(
                    session.execute(
                        select(DeviceState.device_id, DeviceState.last_seq).where(
                            DeviceState.device_id.in_(list(self.expected))
                        )
                    )
                    .tuples()
                    .all()
                )
            if all(done.get(device, 0) >= seq for device, seq in self.expected.items()):
                return
            time.sleep(0.01)
        raise TimeoutError(f"the ingestor did not process the messages within {self.timeout} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


SIMULATOR = Principal("simulator", frozenset({Role.SUPERVISOR}))


def _transit_document(truck: Truck, *, country: str, declarant: str, today: str) -> dict[str, Any]:
    """A transit declaration of a truck's cargo, from the administration's first seaport (Mombasa when
    the administration is Kenya's) to Kampala."""
    offices = codes.offices()
    departure = (
        "KE000100"
        if country == "KE"
        else min(code for code, office in offices.items() if office.country == country)
    )
    party = {"id": declarant, "name": "Simulated Transit Hauliers", "country": country}
    return {
        "kind": "transit",
        "lrn": truck.device[-22:],
        "declarant": party,
        "exporter": party,
        "office_of_lodgement": departure,
        "office_of_destination": "UG000200",
        "transport_mode": "3",
        "means_of_transport_id": f"KCA{int(truck.device.rsplit('-', 1)[-1]):03d}X"[:17],
        "incoterm": "FCA",
        "incoterm_place": "Mombasa",
        "invoice_currency": "USD",
        "invoice_total": "20000.00",
        "country_of_dispatch": country,
        "country_of_destination": "UG",
        "documents": [
            {"type": "380", "reference": f"INV-{truck.device}", "issued_on": today},
            {"type": "730", "reference": f"CMR-{truck.device}", "issued_on": today},
        ],
        "goods_items": [
            {
                "sequence": 1,
                "hs_code": "100630",
                "description": "Rice, milled",
                "origin": "TH",
                "quantity": "20000",
                "unit": "KGM",
                "gross_mass": "20400",
                "net_mass": "20000",
                "price": "20000.00",
                "procedure": "8000",
            }
        ],
    }


@dataclass
class Fleet:
    """A planned fleet with its keys and, once prepared, its movements."""

    trucks: list[Truck]
    corridor: Corridor
    keys: dict[str, OKPKey] = field(default_factory=dict)
    movements: dict[str, uuid.UUID] = field(default_factory=dict)  # device -> movement


def prepare(session: Session, fleet: Fleet, *, policy: Policy, gateway: str | None = None) -> None:
    """Register the e-seals, lodge a transit declaration per truck and open its movement (the caller
    commits). The declarant, a party of the administration's country, is registered if it is not. With
    a `gateway`, it is registered (its key in `fleet.keys`) and the e-seals sit behind it, keyless."""
    declarant = f"{policy.country}7000000001"
    if not parties.registered(session, [declarant]):
        parties.register(session, id=declarant, name="Simulated Transit Hauliers", country=policy.country)
    haulier = Principal("simulator", frozenset({Role.TRADER}), party_id=declarant)
    today = utcnow().date().isoformat()
    if gateway is not None:
        key = fleet.keys.setdefault(gateway, generate_key())
        service.register_device(
            session,
            device=schemas.NewDevice(id=gateway, kind=schemas.DeviceKind.GATEWAY, public_key=public_pem(key)),
            by=SIMULATOR,
        )
    for truck in fleet.trucks:
        if gateway is None:
            key = fleet.keys.setdefault(truck.device, generate_key())
            device = schemas.NewDevice(
                id=truck.device, kind=schemas.DeviceKind.E_SEAL, public_key=public_pem(key)
            )
        else:
            device = schemas.NewDevice(id=truck.device, kind=schemas.DeviceKind.E_SEAL, gateway=gateway)
        service.register_device(session, device=device, by=SIMULATOR)
        document = _transit_document(truck, country=policy.country, declarant=declarant, today=today)
        lodged = declarations.lodge(session, document=document, by=haulier, policy=policy).declaration
        assert lodged is not None
        movement = service.open_movement(
            session,
            movement=schemas.NewMovement(
                declaration_id=lodged.id,
                corridor=fleet.corridor.code,
                time_limit=truck.time_limit,
                seals=[truck.device],
                guarantee_reference=f"SIM-GUARANTEE-{truck.device}",
            ),
            by=SIMULATOR,
        )
        fleet.movements[truck.device] = movement.id


def run(
    fleet: Fleet,
    transport: Transport,
    sweeper: Processor,
    *,
    step: timedelta = timedelta(minutes=5),
    speedup: float = 0.0,
    progress: Callable[[datetime, int], None] | None = None,
) -> int:
    """Send the fleet's reports a slice of `step` simulated time at a time, each signed by its e-seal,
    sweeping at the end of each slice; with `speedup` > 0, paced at that many simulated seconds per
    second. Returns the number of messages sent."""
    reports = list(timeline(fleet.trucks))
    if not reports:
        return 0
    clock = _parse(reports[0]["time"])
    began, wall = clock, time.monotonic()
    sent = 0
    index = 0
    while index < len(reports):
        clock += step
        edge = _time(clock)
        batch = []
        while index < len(reports) and reports[index]["time"] < edge:
            batch.append(reports[index])
            index += 1
        if batch:
            raws = [sign(fleet.keys[report["device"]], report["device"], [report]) for report in batch]
            transport.send(raws, [report["device"] for report in batch])
            sent += len(raws)
        sweeper.sweep(clock, movements=fleet.movements.values())  # the fleet's only: its clock
        if progress is not None:
            progress(clock, sent)
        if speedup > 0:
            ahead = (clock - began).total_seconds() / speedup - (time.monotonic() - wall)
            if ahead > 0:
                time.sleep(ahead)
    return sent


def raised(session: Session, fleet: Fleet) -> list[Alert]:
    """The alerts raised on the fleet's movements (a time-limit alert names its movement, not a device)."""
    device_of = {movement: device for device, movement in fleet.movements.items()}
    found: list[Alert] = []
    for movement in fleet.movements.values():
        detail = service.get_movement(session, movement_id=movement, by=SIMULATOR, track=0)
        found.extend(
            Alert(alert.device or device_of[movement], alert.kind, alert.raised_at) for alert in detail.alerts
        )
    return found
