"""The telemetry processor: every ingestion path (MQTT, HTTP) hands it raw messages.

`handle_many(raws, received_at=...)` verifies each message (telemetry.open_readings), orders each
device's reports by seq, drops replays (a seq already stored), records gaps, stores positions, evaluates
the alert rules (alerts.py) with one vectorised corridor check per corridor, and commits once. It never
raises for a bad message: each message gets an `Outcome` naming what happened (or why it was refused,
counted in `tracking_rejections`). A database failure does raise, with nothing stored, so that an MQTT
adapter does not acknowledge what was not committed.

A report whose seq is below the device's last one but was never stored (it fills a gap: it came late,
out of order) is stored as a position, and a seal breach in it raises its alert (`alerts.late`): a seal
alert is raised once per movement and never forgotten, so the order of reports does not matter to it.
The other rules are not run on it: deviation and stop measure a dwell across consecutive reports, and
the raise-once memory of zone, temperature and battery follows seq order (a condition that ended is
forgotten), where the device's state has moved on past the late report.

On PostgreSQL the device states of a batch are read FOR UPDATE (in device id order), so two processors
(the MQTT adapter and the HTTP endpoint) serialise per device; SQLite has one writer anyway.

`sweep(at)` raises the alerts that need no message: devices gone silent (offline) and movements past
their time limit. `run_sweeper` calls it periodically until stopped.

**Throughput** (issue 6 asks for 20,000 reports/s in process). The work per report is kept out of
Python loops where it can be, with the same results as evaluating report by report:
- telemetry.open_readings reads a message's reports as plain tuples, checked column by column;
- a device's reports that are exactly last_seq + 1, + 2, ... (the usual case) skip the replay and gap
  bookkeeping;
- the alert conditions are computed for all of a corridor's reports at once (numpy, with the corridor
  check); a device none of whose reports meets any condition (nor passes the time limit) gets its new
  state in one step (`alerts.calm`), the others go through `alerts.evaluate` report by report;
- position rows are built column by column, each value through its column's bind processor (what
  SQLAlchemy would send), and inserted with one DB-API executemany, or on PostgreSQL with one COPY;
  the device states, which this transaction has locked, with one UPDATE ... FROM unnest(...) there.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Column, Connection, Float, Table, Uuid, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.db import UTCDateTime, table, utcnow, writing
from customhouse.tracking import alerts as rules
from customhouse.tracking import corridor as geometry
from customhouse.tracking.models import Alert, Device, DeviceState, Gap, Movement, Position, Rejection
from customhouse.tracking.telemetry import (
    Reading,
    Seal,
    Signer,
    TelemetryError,
    open_readings,
    public_key,
)

log = logging.getLogger(__name__)

AGGREGATE = "tracking_movement"
DEVICE_AGGREGATE = "tracking_device"
ACTOR = "tracking"
REPLAY = "replay"
ACTIVE = ("opened", "in_transit", "incident")
CHUNK = 500  # ids per IN list


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one message: reports stored (in order, or `late` to fill a gap), `replayed`
    reports dropped, `gaps` found, alert kinds raised; or `reason` (and `detail`) if it was refused."""

    signer: str | None
    accepted: int = 0
    late: int = 0
    replayed: int = 0
    gaps: int = 0
    alerts: tuple[str, ...] = ()
    reason: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(slots=True)
class _Tally:
    accepted: int = 0
    late: int = 0
    replayed: int = 0
    gaps: int = 0
    alerts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Movement:
    id: uuid.UUID
    corridor: geometry.Corridor
    state: str
    time_limit: datetime
    time_limit_alerted: bool
    arrived: bool
    opened_at: datetime
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Rules run until arrival (an incident that arrives keeps its state for the officers)."""
        return self.state in ACTIVE and not self.arrived

    def incident(self, at: datetime) -> None:
        """A seal was breached at `at`: the movement goes to incident (once)."""
        if self.state != "incident":
            self.state = "incident"
            self.changes.update(state="incident", incident_at=at)

    @classmethod
    def of(cls, row: Any, corridor: geometry.Corridor) -> _Movement:
        """From a row of MOVEMENT_COLUMNS."""
        id_, _, state, time_limit, time_limit_alerted_at, arrived_at, opened_at = row
        return cls(
            id_,
            corridor,
            state,
            time_limit,
            time_limit_alerted_at is not None,
            arrived_at is not None,
            opened_at,
        )


MOVEMENT_COLUMNS = (
    Movement.id,
    Movement.corridor,
    Movement.state,
    Movement.time_limit,
    Movement.time_limit_alerted_at,
    Movement.arrived_at,
    Movement.opened_at,
)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


class Processor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        corridors: dict[str, geometry.Corridor] | None = None,
        key_ttl: float = 30.0,
        on_commit: Callable[[], None] | None = None,
        sweep_interval: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._corridors = corridors if corridors is not None else geometry.builtin()
        self._key_ttl = key_ttl
        self._signers: dict[str, tuple[float, Signer | None]] = {}
        self._on_commit = on_commit  # e.g. wake the event dispatcher
        self.sweep_interval = sweep_interval

    # ------------------------------------------------------------ signers

    def forget(self, *signer_ids: str) -> None:
        """Drop cached keys (after a registration changed them); all when none are named."""
        if not signer_ids:
            self._signers.clear()
        for signer_id in signer_ids:
            self._signers.pop(signer_id, None)

    def signer(self, signer_id: str) -> Signer | None:
        cached = self._signers.get(signer_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._key_ttl:
            return cached[1]
        with self._sessions() as session:
            device = session.get(Device, signer_id)
            found: Signer | None = None
            if device is not None and device.public_key:
                behind = session.scalars(select(Device.id).where(Device.gateway_id == signer_id)).all()
                found = Signer(signer_id, public_key(device.public_key), frozenset([signer_id, *behind]))
        self._signers[signer_id] = (now, found)
        return found

    # ------------------------------------------------------------ messages

    def handle(self, raw: bytes | str, *, received_at: datetime | None = None) -> Outcome:
        return self.handle_many([raw], received_at=received_at)[0]

    def handle_many(
        self, raws: Sequence[bytes | str], *, received_at: datetime | None = None
    ) -> list[Outcome]:
        received_at = received_at or utcnow()
        refused: dict[int, Outcome] = {}
        opened: list[tuple[int, str, list[Reading]]] = []
        for index, raw in enumerate(raws):
            try:
                data = raw.encode() if isinstance(raw, str) else bytes(raw)
                signer_id, reports = open_readings(data, self.signer)
                opened.append((index, signer_id, reports))
            except TelemetryError as error:
                refused[index] = Outcome(error.signer, reason=error.reason, detail=error.detail)
            except (UnicodeError, TypeError, ValueError) as error:
                refused[index] = Outcome(None, reason="malformed", detail=f"unreadable message: {error}")
        tallies = {index: _Tally() for index, _, _ in opened}
        with writing(self._sessions) as session:
            if opened:
                _Batch(session, self._corridors, received_at).run(opened, tallies)
            rejected = Counter(outcome.reason for outcome in refused.values() if outcome.reason)
            rejected[REPLAY] += sum(tally.replayed for tally in tallies.values())
            last = {outcome.reason: outcome.detail for outcome in refused.values() if outcome.reason}
            _count_rejections(session, rejected, last, received_at)
        if self._on_commit is not None:
            self._on_commit()
        outcomes: list[Outcome] = []
        signers = {index: signer for index, signer, _ in opened}
        for index in range(len(raws)):
            if index in refused:
                outcomes.append(refused[index])
                continue
            tally = tallies[index]
            nothing_new = tally.accepted == 0 and tally.late == 0 and tally.replayed > 0
            outcomes.append(
                Outcome(
                    signers[index],
                    accepted=tally.accepted,
                    late=tally.late,
                    replayed=tally.replayed,
                    gaps=tally.gaps,
                    alerts=tuple(tally.alerts),
                    reason=REPLAY if nothing_new else None,
                    detail="every report of this message was stored before" if nothing_new else None,
                )
            )
        return outcomes

    # ------------------------------------------------------------ sweep

    def sweep(self, at: datetime | None = None, *, movements: Iterable[uuid.UUID] | None = None) -> list[str]:
        """Raise offline and time-limit alerts due at `at` (default now); the kinds raised. Over every
        active movement, or only those named (the simulator's: its clock is not the real one, so that
        sweeping other movements at its time would raise false alarms on them)."""
        at = at or utcnow()
        raised: list[tuple[_Movement, str | None, rules.Raised]] = []
        active = select(*MOVEMENT_COLUMNS).where(Movement.state.in_(ACTIVE), Movement.arrived_at.is_(None))
        with writing(self._sessions) as session:
            if movements is None:
                found = list(session.execute(active))
            else:
                named = sorted(movements, key=_uuid_int)
                found = [
                    row
                    for chunk in _chunks(named)
                    for row in session.execute(active.where(Movement.id.in_(chunk)))
                ]
            watched = {
                row.id: _Movement.of(row, self._corridors[row.corridor])
                for row in found
                if row.corridor in self._corridors
            }
            states = table(DeviceState)
            rows = session.execute(
                select(states)
                .where(states.c.movement_id.in_(list(watched)))
                .order_by(states.c.device_id)
                .with_for_update()
            ).all()
            updates = []
            for row in rows:
                movement = watched[row.movement_id]
                state, alert = rules.offline(
                    _state(row), at, movement.corridor.thresholds, movement.opened_at
                )
                if alert is not None:
                    raised.append((movement, row.device_id, alert))
                    updates.append({"b_device": row.device_id, "raised": sorted(state.raised)})
            if updates:
                session.execute(
                    update(states).where(states.c.device_id == bindparam("b_device")),
                    updates,
                    execution_options={"synchronize_session": False},
                )
            for movement in watched.values():
                if not movement.time_limit_alerted and (late := rules.overdue(movement.time_limit, at)):
                    movement.changes["time_limit_alerted_at"] = at
                    raised.append((movement, None, late))
            _write_alerts(session, raised)
            _write_movements(session, watched.values())
        if raised and self._on_commit is not None:
            self._on_commit()
        return [alert.kind for _, _, alert in raised]

    def run_sweeper(self, stop: threading.Event) -> None:
        """Sweep every `sweep_interval` seconds until `stop` is set."""
        while not stop.wait(self.sweep_interval):
            try:
                self.sweep()
            except Exception:
                log.exception("tracking sweep failed")


def _state(row: Any) -> rules.State:
    return rules.State(
        last_seq=row.last_seq,
        last_time=row.last_time,
        outside_since=row.outside_since,
        stopped_since=row.stopped_since,
        raised=frozenset(row.raised or ()),
    )


class _Batch:
    """One call of handle_many inside its transaction."""

    def __init__(
        self, session: Session, corridors: dict[str, geometry.Corridor], received_at: datetime
    ) -> None:
        self.session = session
        self.corridors = corridors
        self.received_at = received_at

    def run(self, opened: list[tuple[int, str, list[Reading]]], tallies: dict[int, _Tally]) -> None:
        session = self.session
        by_device: dict[str, list[tuple[int, Reading]]] = defaultdict(list)
        for index, _signer, readings in opened:
            for reading in readings:
                by_device[reading.device].append((index, reading))
        devices = sorted(by_device)
        states_table = table(DeviceState)
        rows: dict[str, Any] = {}
        for chunk in _chunks(devices):
            for found in session.execute(
                select(states_table)
                .where(states_table.c.device_id.in_(chunk))
                .order_by(states_table.c.device_id)
                .with_for_update()
            ):
                rows[found.device_id] = found
        movement_of = {device: row.movement_id for device, row in rows.items()}
        movements = self._movements({m for m in movement_of.values() if m is not None})

        # order, replays, gaps: each device's fresh reports (above its last seq), in seq order
        runs: list[tuple[str, list[tuple[int, Reading]]]] = []  # in device order
        behind: list[tuple[str, int, Reading]] = []  # seq at or below the last one: late or replayed
        gaps: list[dict[str, Any]] = []
        for device in devices:
            items = by_device[device]
            last = rows[device].last_seq if device in rows else 0
            if [item[1].seq for item in items] == list(range(last + 1, last + 1 + len(items))):
                runs.append((device, items))  # the usual case: last + 1, last + 2, ... each once
                continue
            items.sort(key=_seq)  # stable: of two copies of a seq, the first one counts
            fresh: list[tuple[int, Reading]] = []
            seen: set[int] = set()
            for index, report in items:
                if report.seq in seen:
                    tallies[index].replayed += 1
                    continue
                seen.add(report.seq)
                if report.seq <= last:
                    behind.append((device, index, report))
                    continue
                if report.seq > last + 1:
                    gaps.append(
                        {
                            "device_id": device,
                            "after_seq": last,
                            "before_seq": report.seq,
                            "detected_at": self.received_at,
                        }
                    )
                    tallies[index].gaps += 1
                fresh.append((index, report))
                last = report.seq
            if fresh:
                runs.append((device, fresh))
        late = self._late(behind, tallies)

        # where each fresh report of an active movement is: one corridor check per corridor
        per_corridor: dict[str, list[tuple[str, list[tuple[int, Reading]]]]] = defaultdict(list)
        for device, items in runs:
            movement_id = movement_of.get(device)
            movement = movements.get(movement_id) if movement_id else None
            if movement is not None and movement.active:
                per_corridor[movement.corridor.code].append((device, items))
        placed: dict[str, tuple[_Places, int]] = {}  # device: its corridor's checks, its place in them
        for code, group in per_corridor.items():
            places = _Places(self.corridors[code], group)
            for number, (device, _items) in enumerate(group):
                placed[device] = (places, number)

        # rules, in seq order per device
        raised: list[tuple[_Movement, str | None, rules.Raised]] = []
        states: dict[str, rules.State] = {}
        positions = _PositionRows(session.connection(), self.received_at)
        latest: dict[str, Reading] = {}
        accepted: list[int] = []  # message index of each fresh report
        for device, items in runs:
            movement_id = movement_of.get(device)
            positions.add(items, movement_id)
            accepted.extend(map(_index, items))
            first, final = items[0][1], items[-1][1]
            latest[device] = final
            movement = movements.get(movement_id) if movement_id else None
            if movement is None or not movement.active:
                states[device] = rules.State(last_seq=final.seq, last_time=final.time, raised=frozenset())
                continue
            places, number = placed[device]
            if places.calm[number] and (
                movement.time_limit_alerted
                or max(reading.time for _, reading in items) <= movement.time_limit
            ):
                # nothing holds in any report (the usual case): what evaluate would give, in one step
                if movement.state == "opened":
                    movement.state = "in_transit"
                    movement.changes.update(state="in_transit", in_transit_at=first.time)
                kept = frozenset(rows[device].raised or ()) if device in rows else frozenset()
                states[device] = rules.calm(kept, final, battery_high=places.battery_high[number])
                continue
            state = _state(rows[device]) if device in rows else rules.State()
            for (index, report), where in zip(items, places.where(number), strict=True):
                if not movement.active:
                    state = rules.State(last_seq=report.seq, last_time=report.time, raised=frozenset())
                    continue
                if movement.state == "opened":
                    movement.state = "in_transit"
                    movement.changes.update(state="in_transit", in_transit_at=report.time)
                state, new = rules.evaluate(state, report, where, movement.corridor.thresholds)
                if not movement.time_limit_alerted and (
                    overdue := rules.overdue(movement.time_limit, report.time)
                ):
                    movement.time_limit_alerted = True
                    movement.changes["time_limit_alerted_at"] = report.time
                    new.append(overdue)
                for alert in new:
                    raised.append((movement, device, alert))
                    tallies[index].alerts.append(alert.kind)
                    if alert.kind in rules.SEAL_KINDS:
                        movement.incident(report.time)
                    elif alert.kind == rules.ARRIVED:
                        movement.arrived = True
                        movement.changes["arrived_at"] = report.time
                        if movement.state != "incident":
                            movement.state = "arrived"
                            movement.changes["state"] = "arrived"
            states[device] = state
        for index, count in Counter(accepted).items():
            tallies[index].accepted += count
        for device, index, report in late:
            movement_id = movement_of.get(device)
            positions.add([(index, report)], movement_id)
            movement = movements.get(movement_id) if movement_id else None
            if movement is None or not movement.active or report.seal == Seal.CLOSED:
                continue
            # a seal breach counts whenever it is told: raised once per movement, in any order
            state = states.get(device) or _state(rows[device])  # late: the device has a state row
            states[device], new = rules.late(state, report)
            for alert in new:
                raised.append((movement, device, alert))
                tallies[index].alerts.append(alert.kind)
                movement.incident(report.time)

        # write
        positions.insert()
        if gaps:
            session.execute(insert(table(Gap)), gaps)
        gap_counts = Counter(gap["device_id"] for gap in gaps)
        updates = []
        for device, state in states.items():
            if device not in rows or (
                state.last_seq == rows[device].last_seq
                and state.raised == frozenset(rows[device].raised or ())
            ):
                continue
            last_report = latest.get(device)
            updates.append(
                (
                    state.last_seq,
                    state.last_time,
                    last_report.lat if last_report else rows[device].last_lat,
                    last_report.lon if last_report else rows[device].last_lon,
                    state.outside_since,
                    state.stopped_since,
                    sorted(state.raised),
                    rows[device].gaps + gap_counts.get(device, 0),
                    device,
                )
            )
        _update_locked(session, states_table, STATE_COLUMNS, "device_id", updates)
        _write_alerts(session, raised)
        _write_movements(session, movements.values())

    def _movements(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, _Movement]:
        found: dict[uuid.UUID, _Movement] = {}
        listed = sorted(ids, key=_uuid_int)  # the order of sorted(ids), without UUID.__lt__
        movements = table(Movement)
        columns = [movements.c[column.key] for column in MOVEMENT_COLUMNS]
        for chunk in _chunks(listed):
            for row in self.session.execute(select(*columns).where(movements.c.id.in_(chunk))):
                corridor = self.corridors.get(row.corridor)
                if corridor is None:
                    log.error("movement %s names corridor %s, which is not loaded", row.id, row.corridor)
                    continue
                found[row.id] = _Movement.of(row, corridor)
        return found

    def _late(
        self, behind: list[tuple[str, int, Reading]], tallies: dict[int, _Tally]
    ) -> list[tuple[str, int, Reading]]:
        """Which of the reports at or below their device's last seq were never stored (late), the others
        being replays."""
        if not behind:
            return []
        keys = [(device, report.seq) for device, _, report in behind]
        stored: set[tuple[str, int]] = set()
        for chunk in _chunks(keys):
            stored.update(
                (row.device_id, row.seq)
                for row in self.session.execute(
                    select(Position.device_id, Position.seq).where(
                        tuple_(Position.device_id, Position.seq).in_(chunk)
                    )
                )
            )
        late = []
        for device, index, report in behind:
            if (device, report.seq) in stored:
                tallies[index].replayed += 1
            else:
                tallies[index].late += 1
                late.append((device, index, report))
        return late


def _uuid_int(value: uuid.UUID) -> int:
    return value.int


def _seq(item: tuple[int, Reading]) -> int:
    return item[1].seq


class _Places:
    """The corridor check of one corridor's fresh reports in a batch (devices in `group`, each with its
    reports in seq order), and per device whether every report is calm: no alert condition holds
    (`alerts.calm` then gives the state that `alerts.evaluate` would, report after report)."""

    def __init__(
        self, corridor: geometry.Corridor, group: list[tuple[str, list[tuple[int, Reading]]]]
    ) -> None:
        readings = [reading for _, items in group for _, reading in items]
        _, _, _, lats, lons, speeds, seals, _, batteries, temperatures = zip(*readings, strict=True)
        self.corridor = corridor
        self.counts = [len(items) for _, items in group]
        self.starts = np.zeros(len(group), dtype=np.intp)
        np.cumsum(self.counts[:-1], out=self.starts[1:])
        self.checks = checks = corridor.check(np.array(lons, np.float64), np.array(lats, np.float64))
        limits = corridor.thresholds
        speed = np.array(speeds, np.float64)
        temperature = np.array(temperatures, np.float64)
        battery = np.array(batteries, np.float64)
        closed = np.fromiter(map(Seal.CLOSED.__eq__, seals), np.bool_, len(seals))
        stopped = (speed <= limits.stop_speed_kmh) & ~checks.at_stop
        calm = (
            closed
            & checks.in_corridor
            & ~stopped
            & (checks.zone < 0)
            & (limits.temperature_min <= temperature)
            & (temperature <= limits.temperature_max)
            & (battery >= limits.battery_low)
            & ~checks.at_destination
        )
        high = battery >= limits.battery_low + rules.BATTERY_HYSTERESIS
        self.calm: list[bool] = np.logical_and.reduceat(calm, self.starts).tolist()
        self.battery_high: list[bool] = np.logical_or.reduceat(high, self.starts).tolist()

    def where(self, number: int) -> list[rules.Where]:
        """Where each report of the group's `number`th device is."""
        start = int(self.starts[number])
        end = start + self.counts[number]
        checks = self.checks
        names = [zone.name for zone in self.corridor.spec.restricted_zones]
        return [
            rules.Where(inside, at_stop, names[zone] if zone >= 0 else None, arrived, offset)
            for inside, at_stop, zone, arrived, offset in zip(
                checks.in_corridor[start:end].tolist(),
                checks.at_stop[start:end].tolist(),
                checks.zone[start:end].tolist(),
                checks.at_destination[start:end].tolist(),
                checks.offset_m[start:end].tolist(),
                strict=True,
            )
        ]


_CONVERTED = frozenset({"time", "movement_id", "received_at"})


class _PositionRows:
    """Rows of tracking_positions as the driver takes them, each value as its column's bind processor
    makes it (what SQLAlchemy would send), built column by column from the readings; and their insert:
    one DB-API executemany, or COPY on PostgreSQL with psycopg (an executemany there costs ~80 us a row
    in psycopg's pipeline, a COPY row a few)."""

    def __init__(self, connection: Connection, received_at: datetime) -> None:
        self.connection = connection
        dialect = connection.dialect
        columns = table(Position).c
        processors = {name: _bind_processor(columns[name], dialect) for name in POSITION_COLUMNS}
        self._copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self._mark = PLACEHOLDERS.get(dialect.paramstyle)
        # readings hold str, int and float (telemetry makes sure of it): Float's processor (float())
        # and the absent ones change nothing; only time, movement_id and received_at need theirs.
        # Otherwise (another driver): raw values, through SQLAlchemy.
        self._driver = (self._copy or self._mark is not None) and all(
            convert is None or name in _CONVERTED or isinstance(columns[name].type, Float)
            for name, convert in processors.items()
        )
        if not self._driver:
            processors = {}
        self._time = processors.get("time") or _same
        self._movement = processors.get("movement_id") or _same
        self._received_at = (processors.get("received_at") or _same)(received_at)
        self._readings: list[Reading] = []
        self._movements: list[Any] = []

    def add(self, items: list[tuple[int, Reading]], movement_id: uuid.UUID | None) -> None:
        self._readings.extend(map(_reading, items))
        self._movements.extend(repeat(self._movement(movement_id), len(items)))

    def rows(self) -> list[tuple[Any, ...]]:
        if not self._readings:
            return []
        devices, seqs, times, lats, lons, speeds, seals, doors, batteries, temperatures = zip(
            *self._readings, strict=True
        )
        convert = self._time
        converted = {time: convert(time) for time in set(times)}  # reports share times
        return list(
            zip(
                devices,
                seqs,
                map(converted.__getitem__, times),
                lats,
                lons,
                speeds,
                seals,  # the values, str
                doors,
                batteries,
                temperatures,
                self._movements,
                repeat(self._received_at),
                strict=False,  # repeat() is endless
            )
        )

    def insert(self) -> None:
        rows = self.rows()
        if not rows:
            return
        connection = self.connection
        dialect = connection.dialect
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in POSITION_COLUMNS)
        target = quote(table(Position).name)
        if self._driver and self._copy:
            cursor = connection.connection.cursor()
            try:
                with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                    copy.write(_copy_text(rows))
            finally:
                cursor.close()
            return
        if not self._driver:
            connection.execute(
                insert(table(Position)), [dict(zip(POSITION_COLUMNS, row, strict=True)) for row in rows]
            )
            return
        marks = ", ".join([self._mark or "?"] * len(POSITION_COLUMNS))
        connection.exec_driver_sql(f"INSERT INTO {target} ({names}) VALUES ({marks})", rows)


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows of tracking_positions in COPY's text format, written here rather than row by row through
    psycopg's write_row (~20 us a row). The values are of known kinds: ids matching the Identifier
    pattern and seal and door words (nothing to escape), ints, floats (repr: the same double back),
    UTC datetimes (ISO 8601), UUIDs or None."""
    texts: dict[Any, str] = {}  # times, movements, received_at: each distinct one formatted once

    def text(value: Any) -> str:
        done = texts.get(value)
        if done is None:
            done = texts[value] = (
                "\\N" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
            )
        return done

    return "".join(
        f"{device}\t{seq}\t{text(time)}\t{lat!r}\t{lon!r}\t{speed!r}\t{seal}\t{door}\t{battery!r}\t"
        f"{temperature!r}\t{text(movement)}\t{text(received_at)}\n"
        for (
            device,
            seq,
            time,
            lat,
            lon,
            speed,
            seal,
            door,
            battery,
            temperature,
            movement,
            received_at,
        ) in rows
    )


_index = itemgetter(0)
_reading = itemgetter(1)


def _same(value: Any) -> Any:
    return value


def _bind_processor(column: Column[Any], dialect: Any) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor


POSITION_COLUMNS = (
    "device_id",
    "seq",
    "time",
    "lat",
    "lon",
    "speed",
    "seal",
    "door",
    "battery",
    "temperature",
    "movement_id",
    "received_at",
)
STATE_COLUMNS = (
    "last_seq",
    "last_time",
    "last_lat",
    "last_lon",
    "outside_since",
    "stopped_since",
    "raised",
    "gaps",
)
PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _driver_rows(
    session: Session, columns: list[Column[Any]], rows: list[tuple[Any, ...]]
) -> tuple[Connection, str, list[tuple[Any, ...]]] | None:
    """Rows converted by the columns' own bind processors (UTC datetimes, UUIDs, JSON as the dialect
    stores them), for one DB-API executemany: the per-row cost of the SQL expression layer is most of
    the processor's time otherwise. None when the driver's parameter style is not a positional one."""
    connection = session.connection()
    dialect = connection.dialect
    placeholder = PLACEHOLDERS.get(dialect.paramstyle)
    if placeholder is None:
        return None
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    active = [(index, convert) for index, convert in enumerate(processors) if convert is not None]
    if not active:
        return connection, placeholder, rows
    # datetimes and UUIDs repeat (received_at, a device's movement): each distinct value converted once
    memos: list[dict[Any, Any] | None] = [
        {} if isinstance(columns[index].type, UTCDateTime | Uuid) else None for index, _ in active
    ]
    converted = []
    for row in rows:
        values = list(row)
        for (index, convert), memo in zip(active, memos, strict=True):
            value = values[index]
            if memo is None:
                values[index] = convert(value)
            elif (done := memo.get(value, memo)) is not memo:
                values[index] = done
            else:
                values[index] = memo[value] = convert(value)
        converted.append(tuple(values))
    return connection, placeholder, converted


def _insert_many(
    session: Session, target: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    driver = _driver_rows(session, [target.c[name] for name in columns], rows)
    if driver is None:
        session.execute(insert(target), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    connection, mark, converted = driver
    quote = connection.dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(target.name)} ({', '.join(quote(name) for name in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(sql, converted)


def _update_many(
    session: Session, target: Table, columns: tuple[str, ...], key: str, rows: list[tuple[Any, ...]]
) -> None:
    """UPDATE target SET columns WHERE key = ..., each row being the columns' values then the key's."""
    if not rows:
        return
    driver = _driver_rows(session, [*(target.c[name] for name in columns), target.c[key]], rows)
    if driver is None:
        session.execute(
            update(target).where(target.c[key] == bindparam("b_key")),
            [{**dict(zip(columns, row, strict=False)), "b_key": row[-1]} for row in rows],
            execution_options={"synchronize_session": False},
        )
        return
    connection, mark, converted = driver
    quote = connection.dialect.identifier_preparer.quote
    assignments = ", ".join(f"{quote(name)} = {mark}" for name in columns)
    connection.exec_driver_sql(
        f"UPDATE {quote(target.name)} SET {assignments} WHERE {quote(key)} = {mark}", converted
    )


def _update_locked(
    session: Session, target: Table, columns: tuple[str, ...], key: str, rows: list[tuple[Any, ...]]
) -> None:
    """`_update_many` of rows this transaction has locked already (FOR UPDATE): on PostgreSQL with
    psycopg one UPDATE ... FROM unnest(arrays), one round trip instead of one statement per row in
    psycopg's pipeline (~60 us each); the same values, converted by the same bind processors."""
    connection = session.connection()
    dialect = connection.dialect
    if not rows or dialect.name != "postgresql" or dialect.driver != "psycopg":
        _update_many(session, target, columns, key, rows)
        return
    names = [*columns, key]
    driver = _driver_rows(session, [target.c[name] for name in names], rows)
    assert driver is not None  # psycopg: a positional parameter style
    _, mark, converted = driver
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(f"{mark}::{target.c[name].type.compile(dialect=dialect)}[]" for name in names)
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in columns)
    connection.exec_driver_sql(
        f"UPDATE {quote(target.name)} AS t SET {assignments} "
        f"FROM unnest({arrays}) AS v({', '.join(quote(name) for name in names)}) "
        f"WHERE t.{quote(key)} = v.{quote(key)}",
        tuple(list(column) for column in zip(*converted, strict=True)),
    )


def _write_alerts(session: Session, raised: list[tuple[_Movement, str | None, rules.Raised]]) -> None:
    if not raised:
        return
    rows, happened = [], []
    for movement, device, alert in raised:
        alert_id = uuid.uuid4()
        rows.append(
            {
                "id": alert_id,
                "kind": alert.kind,
                "movement_id": movement.id,
                "device_id": device,
                "state": "open",
                "raised_at": alert.at,
                "evidence": alert.evidence,
            }
        )
        happened.append(
            events.DomainEvent(
                type="tracking.alert_raised",
                aggregate_type=AGGREGATE,
                aggregate_id=str(movement.id),
                actor=ACTOR,
                data={
                    "alert_id": str(alert_id),
                    "kind": alert.kind,
                    "device": device,
                    "evidence": alert.evidence,
                },
            )
        )
    session.execute(insert(table(Alert)), rows)
    events.record(session, happened)


def _write_movements(session: Session, movements: Iterable[_Movement]) -> None:
    happened = []
    changed: dict[tuple[str, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for movement in movements:
        if not movement.changes:
            continue
        columns = tuple(sorted(movement.changes))
        changed[columns].append((*(movement.changes[column] for column in columns), movement.id))
        for column, kind in (
            ("in_transit_at", "in_transit"),
            ("incident_at", "incident"),
            ("arrived_at", "arrived"),
        ):
            if column in movement.changes:
                happened.append(
                    events.DomainEvent(
                        type=f"tracking.movement_{kind}",
                        aggregate_type=AGGREGATE,
                        aggregate_id=str(movement.id),
                        actor=ACTOR,
                        data={"at": movement.changes[column].isoformat()},
                    )
                )
        movement.changes = {}
    for columns, rows in changed.items():
        _update_many(session, table(Movement), columns, "id", rows)
    events.record(session, happened)


def _count_rejections(
    session: Session, counts: Counter[str], last: dict[str, str | None], at: datetime
) -> None:
    rejections = table(Rejection)
    for reason, count in sorted(counts.items()):
        if count <= 0:
            continue
        values: dict[str, Any] = {"count": rejections.c.count + count, "last_at": at}
        if last.get(reason):
            values["last_detail"] = last[reason]
        done = session.execute(update(rejections).where(rejections.c.reason == reason).values(**values))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(
                insert(rejections).values(
                    reason=reason, count=count, last_at=at, last_detail=last.get(reason)
                )
            )
