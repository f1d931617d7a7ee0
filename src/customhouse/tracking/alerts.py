"""Alert rules, pure: a device's previous state and one report (with where the corridor check put it)
give the next state and the alerts to raise.

An alert is raised once when its condition starts; `raised` remembers the conditions that still hold, so
that a truck outside the corridor for an hour raises one deviation, not one per report. A condition
that ends (back in the corridor, moving again, back in range) is forgotten, and raises again if it comes
back. Seal breaches are never forgotten during a movement.

- seal-open / seal-tampered: the seal reports it.
- route-deviation: outside the buffer for longer than the dwell time (so that GPS noise and a short
  crossing of the line do not alarm), measured from the first report outside.
- unscheduled-stop: at or below the stop speed, outside approved stops, for longer than the stop time.
- restricted-zone: inside a restricted zone.
- temperature-excursion, low-battery: a reading outside the corridor's range.
- offline: no report for longer than the offline time (`offline`, called by the periodic sweep).
- arrived: inside the destination's radius (the processor closes the movement).
- time-limit-exceeded: a report or the sweep after the movement's time limit (`overdue`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from customhouse.tracking.corridor import Thresholds
from customhouse.tracking.telemetry import Reading, Report, Seal

SEAL_OPEN = "seal-open"
SEAL_TAMPERED = "seal-tampered"
DEVIATION = "route-deviation"
STOP = "unscheduled-stop"
ZONE = "restricted-zone"
TEMPERATURE = "temperature-excursion"
BATTERY = "low-battery"
OFFLINE = "offline"
ARRIVED = "arrived"
TIME_LIMIT = "time-limit-exceeded"
KINDS = (SEAL_OPEN, SEAL_TAMPERED, DEVIATION, STOP, ZONE, TEMPERATURE, BATTERY, OFFLINE, ARRIVED, TIME_LIMIT)
SEAL_KINDS = frozenset({SEAL_OPEN, SEAL_TAMPERED})
BATTERY_HYSTERESIS = 5.0  # percent above the threshold before a low battery is forgotten


class State(NamedTuple):
    last_seq: int = 0
    last_time: datetime | None = None
    outside_since: datetime | None = None
    stopped_since: datetime | None = None
    raised: frozenset[str] = frozenset()


class Where(NamedTuple):
    """The corridor check's answer for one report."""

    in_corridor: bool
    at_stop: bool
    zone: str | None
    at_destination: bool
    offset_m: float


class Raised(NamedTuple):
    kind: str
    at: datetime
    evidence: dict[str, Any]


def _where_and_when(report: Report | Reading) -> dict[str, Any]:
    return {"seq": report.seq, "time": report.time.isoformat(), "lat": report.lat, "lon": report.lon}


def _seal(report: Report | Reading) -> dict[str, Any]:
    return {"seal": str(report.seal), "door": str(report.door)}  # a Seal's str is its value


def _evidence(
    kind: str,
    report: Report | Reading,
    where: Where,
    limits: Thresholds,
    outside_since: datetime | None,
    stopped_since: datetime | None,
) -> dict[str, Any]:
    evidence = _where_and_when(report)
    if kind in SEAL_KINDS:
        evidence |= _seal(report)
    elif kind == DEVIATION:
        assert outside_since is not None
        evidence |= {"outside_since": outside_since.isoformat(), "offset_m": round(where.offset_m, 1)}
    elif kind == STOP:
        assert stopped_since is not None
        evidence |= {"stopped_since": stopped_since.isoformat(), "speed": report.speed}
    elif kind == ZONE:
        evidence["zone"] = where.zone
    elif kind == TEMPERATURE:
        evidence |= {
            "temperature": report.temperature,
            "range": [limits.temperature_min, limits.temperature_max],
        }
    elif kind == BATTERY:
        evidence |= {"battery": report.battery, "threshold": limits.battery_low}
    return evidence


def evaluate(
    state: State, report: Report | Reading, where: Where, limits: Thresholds
) -> tuple[State, list[Raised]]:
    """The state after `report` and the alerts it raises (called for every report: kept cheap)."""
    at = report.time
    outside_since = None if where.in_corridor else (state.outside_since or at)
    stopped = report.speed <= limits.stop_speed_kmh and not where.at_stop
    stopped_since = (state.stopped_since or at) if stopped else None
    if report.battery < limits.battery_low:
        low_battery: bool | None = True
    elif report.battery >= limits.battery_low + BATTERY_HYSTERESIS:
        low_battery = False
    else:
        low_battery = None  # between the two: the condition stays as it was
    conditions = (
        *_seal_conditions(report),
        (DEVIATION, outside_since is not None and at - outside_since > limits.dwell),
        (STOP, stopped_since is not None and at - stopped_since > limits.stop),
        (ZONE, where.zone is not None),
        (TEMPERATURE, not limits.temperature_min <= report.temperature <= limits.temperature_max),
        (BATTERY, low_battery),
        (ARRIVED, where.at_destination),
    )
    raised = set(state.raised)
    raised.discard(OFFLINE)  # it reported: online again
    out: list[Raised] = []
    for kind, holds in conditions:
        if holds:
            if kind not in raised:
                raised.add(kind)
                out.append(
                    Raised(kind, at, _evidence(kind, report, where, limits, outside_since, stopped_since))
                )
        elif holds is False and kind not in SEAL_KINDS:
            raised.discard(kind)
    after = State(
        report.seq,
        at,
        outside_since,
        stopped_since,
        state.raised if raised == state.raised else frozenset(raised),
    )
    return after, out


def _seal_conditions(report: Report | Reading) -> tuple[tuple[str, bool], ...]:
    """Which seal alert each seal state raises (`report.seal` is a Seal, or its value in a Reading)."""
    return ((SEAL_OPEN, report.seal == Seal.OPEN), (SEAL_TAMPERED, report.seal == Seal.TAMPERED))


def late(state: State, report: Report | Reading) -> tuple[State, list[Raised]]:
    """The seal alerts of a report that came late (below the device's last seq): a seal breach is
    raised once per movement and never forgotten, whatever the order of the reports; the other rules
    follow seq order and are not run on it. The state is otherwise unchanged."""
    out = [
        Raised(kind, report.time, {**_where_and_when(report), **_seal(report), "late": True})
        for kind, holds in _seal_conditions(report)
        if holds and kind not in state.raised
    ]
    if not out:
        return state, out
    return state._replace(raised=state.raised | {alert.kind for alert in out}), out


CALM_FORGETS = frozenset({OFFLINE, DEVIATION, STOP, ZONE, TEMPERATURE, ARRIVED})


def calm(raised: frozenset[str], last: Report | Reading, *, battery_high: bool) -> State:
    """The state after reports in none of which a condition holds (the seal closed, inside the buffer,
    moving or at an approved stop, in no restricted zone, not at the destination, temperature in range,
    battery at or above the threshold, not past the time limit), from a state whose `raised` this is,
    `last` being the last of the reports: what `evaluate` gives report after report (it raises
    nothing), in one step. `battery_high`: one of them was at or above the threshold plus the
    hysteresis (which forgets a low battery). Nothing else of the earlier state survives them."""
    forget = CALM_FORGETS | {BATTERY} if battery_high else CALM_FORGETS
    return State(last.seq, last.time, None, None, raised - forget)


def offline(state: State, at: datetime, limits: Thresholds, since: datetime) -> tuple[State, Raised | None]:
    """At `at`, the offline alert of a device silent since its last report (or `since`, when the movement
    opened, if it never reported)."""
    last = state.last_time or since
    if OFFLINE in state.raised or at - last <= limits.offline:
        return state, None
    evidence = {
        "last_seq": state.last_seq,
        "last_time": last.isoformat(),
        "silent_seconds": int((at - last).total_seconds()),
    }
    return state._replace(raised=state.raised | {OFFLINE}), Raised(OFFLINE, at, evidence)


def overdue(time_limit: datetime, at: datetime) -> Raised | None:
    """The time-limit alert, when `at` is past the movement's time limit."""
    if at <= time_limit:
        return None
    return Raised(
        TIME_LIMIT,
        at,
        {"time_limit": time_limit.isoformat(), "late_seconds": int((at - time_limit).total_seconds())},
    )
