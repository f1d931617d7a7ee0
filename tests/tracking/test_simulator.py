"""The transit simulator: its tracks are realistic and clean where they should be, its incidents show at
the times it says, and a run through the real processor (and the HTTP endpoint) detects every injected
incident with no alert on a clean truck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from customhouse.declarations.service import Policy
from customhouse.tracking import alerts as rules
from customhouse.tracking import corridor as geometry
from customhouse.tracking import simulator as sim
from customhouse.tracking.processor import Processor
from customhouse.tracking.telemetry import Report

START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=3)  # between two reports of a truck in the runs: fewer messages, same rules


@pytest.fixture(scope="module")
def corridor() -> geometry.Corridor:
    return geometry.builtin()["KE-UG-NC"]


@pytest.fixture(scope="module")
def planned(corridor: geometry.Corridor) -> list[sim.Truck]:
    """One truck per incident kind and three clean ones, a report every two minutes."""
    trucks = len(sim.KINDS) + 3
    return sim.plan(
        corridor, trucks=trucks, incidents=len(sim.KINDS) / trucks, start=START, interval=timedelta(minutes=2)
    )


def _checks(corridor: geometry.Corridor, truck: sim.Truck) -> geometry.Checks:
    lon = np.array([report["lon"] for report in truck.reports])
    lat = np.array([report["lat"] for report in truck.reports])
    return corridor.check(lon, lat)


def _at(truck: sim.Truck, when: datetime) -> dict[str, object]:
    return next(report for report in truck.reports if sim._parse(str(report["time"])) >= when)


def test_every_kind_is_injected_once_and_the_rest_are_clean(planned: list[sim.Truck]) -> None:
    assert sorted(truck.incident for truck in planned if truck.incident) == sorted(sim.KINDS)
    assert sum(truck.incident is None for truck in planned) == 3
    for truck in planned:
        assert (truck.incident is None) == (truck.incident_at is None)


def test_reports_are_valid_wire_reports_in_sequence(planned: list[sim.Truck]) -> None:
    for truck in planned:
        parsed = [Report.model_validate(report) for report in truck.reports]
        assert [report.seq for report in parsed] == list(range(1, len(parsed) + 1))
        times = [report.time for report in parsed]
        assert times == sorted(times) and len(set(times)) == len(times)


def test_the_same_seed_gives_the_same_fleet(corridor: geometry.Corridor) -> None:
    first = sim.plan(corridor, trucks=2, incidents=0.5, start=START, seed=7, interval=timedelta(minutes=5))
    again = sim.plan(corridor, trucks=2, incidents=0.5, start=START, seed=7, interval=timedelta(minutes=5))
    other = sim.plan(corridor, trucks=2, incidents=0.5, start=START, seed=8, interval=timedelta(minutes=5))
    assert [truck.reports for truck in first] == [truck.reports for truck in again]
    assert [truck.reports for truck in first] != [truck.reports for truck in other]


def test_clean_trucks_drive_the_corridor_and_stop_only_where_approved(
    corridor: geometry.Corridor, planned: list[sim.Truck]
) -> None:
    limits = corridor.thresholds
    for truck in (truck for truck in planned if truck.incident is None):
        checks = _checks(corridor, truck)
        assert checks.in_corridor.all() and (checks.zone < 0).all()
        assert checks.at_destination[-1] and not checks.at_destination[: len(truck.reports) // 2].any()
        speeds = np.array([report["speed"] for report in truck.reports])
        assert 40 < speeds[speeds > 0].mean() < 90
        stopped = speeds <= limits.stop_speed_kmh
        assert (stopped & checks.at_stop).sum() >= 5  # it did stop at the approved places
        # outside approved places it never stays stopped as long as the unscheduled-stop time
        longest = run = 0
        for outside in stopped & ~checks.at_stop:
            run = run + 1 if outside else 0
            longest = max(longest, run)
        assert timedelta(minutes=2) * longest < limits.stop
        assert all(report["seal"] == "closed" for report in truck.reports)
        temperatures = [float(report["temperature"]) for report in truck.reports]
        assert limits.temperature_min < min(temperatures) and max(temperatures) < limits.temperature_max
        assert min(float(report["battery"]) for report in truck.reports) > limits.battery_low


def test_incidents_show_from_the_time_given(corridor: geometry.Corridor, planned: list[sim.Truck]) -> None:
    limits = corridor.thresholds
    by_kind = {truck.incident: truck for truck in planned if truck.incident}
    for kind, truck in by_kind.items():
        assert truck.incident_at is not None
        assert truck.departure < truck.incident_at < truck.arrival, kind
    assert _at(by_kind[sim.SEAL_OPENED], by_kind[sim.SEAL_OPENED].incident_at)["seal"] == "open"  # type: ignore[arg-type]
    assert _at(by_kind[sim.SEAL_TAMPERED], by_kind[sim.SEAL_TAMPERED].incident_at)["seal"] == "tampered"  # type: ignore[arg-type]
    hot = _at(by_kind[sim.TEMPERATURE], by_kind[sim.TEMPERATURE].incident_at)  # type: ignore[arg-type]
    assert float(hot["temperature"]) > limits.temperature_max  # type: ignore[arg-type]
    low = _at(by_kind[sim.LOW_BATTERY], by_kind[sim.LOW_BATTERY].incident_at)  # type: ignore[arg-type]
    assert float(low["battery"]) < limits.battery_low  # type: ignore[arg-type]
    deviating = by_kind[sim.ROUTE_DEVIATION]
    checks = _checks(corridor, deviating)
    outside = [
        sim._parse(str(r["time"]))
        for r, inside in zip(deviating.reports, checks.in_corridor, strict=True)
        if not inside
    ]
    assert outside[0] == deviating.incident_at and outside[-1] - outside[0] > limits.dwell
    zone = by_kind[sim.RESTRICTED_ZONE]
    inside_zone = [
        sim._parse(str(r["time"]))
        for r, z in zip(zone.reports, _checks(corridor, zone).zone, strict=True)
        if z >= 0
    ]
    assert inside_zone[0] == zone.incident_at
    silent = by_kind[sim.OFFLINE]
    times = [sim._parse(str(report["time"])) for report in silent.reports]
    silence = max(later - earlier for earlier, later in pairwise(times))
    assert silence > limits.offline
    assert (
        silent.incident_at in times
        and times[times.index(silent.incident_at) + 1] - silent.incident_at == silence
    )
    late = by_kind[sim.TIME_LIMIT]
    assert late.time_limit == late.incident_at
    assert all(truck.time_limit > truck.arrival for truck in planned if truck.incident != sim.TIME_LIMIT)


def test_score_names_missed_incidents_and_false_alarms(planned: list[sim.Truck]) -> None:
    injected = [truck for truck in planned if truck.incident]
    clean = next(truck for truck in planned if truck.incident is None)
    assert not sim.score(planned, []).passed
    assert len(sim.score(planned, []).missed) == len(sim.KINDS)
    alerts = [sim.Alert(t.device, t.incident, t.incident_at + timedelta(minutes=1)) for t in injected]  # type: ignore[arg-type, operator]
    perfect = sim.score(planned, [*alerts, sim.Alert(clean.device, rules.ARRIVED, clean.arrival)])
    assert perfect.passed and {v.delay for v in perfect.verdicts} == {timedelta(minutes=1)}
    wrong_kind = sim.score(
        planned, [sim.Alert(injected[0].device, "other", injected[0].arrival), *alerts[1:]]
    )
    assert [verdict.device for verdict in wrong_kind.missed] == [injected[0].device]
    alarmed = sim.score(planned, [*alerts, sim.Alert(clean.device, rules.STOP, clean.arrival)])
    assert not alarmed.passed and alarmed.false_alarms == [sim.Alert(clean.device, rules.STOP, clean.arrival)]


def _simulate(
    session: Session, policy: Policy, corridor: geometry.Corridor, trucks: int, incidents: float
) -> sim.Fleet:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    fleet = sim.Fleet(
        sim.plan(
            corridor,
            trucks=trucks,
            incidents=incidents,
            start=start,
            interval=INTERVAL,
        ),
        corridor,
    )
    sim.prepare(session, fleet, policy=policy)
    session.commit()
    return fleet


def test_a_run_through_the_processor_detects_every_incident_and_no_false_alarm(
    session: Session, sessions: sessionmaker[Session], policy: Policy, corridor: geometry.Corridor
) -> None:
    trucks = len(sim.KINDS) + 2
    fleet = _simulate(session, policy, corridor, trucks, len(sim.KINDS) / trucks)
    processor = Processor(sessions)
    sent = sim.run(fleet, sim.Direct(processor), processor, step=timedelta(minutes=10))
    assert sent == sum(len(truck.reports) for truck in fleet.trucks)
    score = sim.score(fleet.trucks, sim.raised(session, fleet))
    assert sorted(verdict.kind for verdict in score.verdicts) == sorted(sim.KINDS)
    assert score.missed == [] and score.false_alarms == []
    limits = corridor.thresholds
    delays = {verdict.kind: verdict.delay for verdict in score.verdicts}
    assert delays[sim.SEAL_OPENED] == timedelta(0)
    assert limits.dwell < delays[sim.ROUTE_DEVIATION] <= limits.dwell + INTERVAL  # type: ignore[operator]
    assert limits.stop < delays[sim.UNSCHEDULED_STOP] <= limits.stop + INTERVAL  # type: ignore[operator]
    assert limits.offline < delays[sim.OFFLINE] <= limits.offline + timedelta(minutes=10)  # type: ignore[operator]
    clean = [truck.device for truck in fleet.trucks if truck.incident is None]
    arrived = [a for a in sim.raised(session, fleet) if a.device in clean and a.kind == rules.ARRIVED]
    assert len(arrived) == len(clean)


def test_a_run_through_the_http_endpoint(
    session: Session,
    sessions: sessionmaker[Session],
    policy: Policy,
    corridor: geometry.Corridor,
    client: TestClient,
) -> None:
    """The same through POST /api/v1/tracking/telemetry (NDJSON), with fewer trucks: two seal incidents
    and a clean truck."""
    fleet = _simulate(session, policy, corridor, 3, 2 / 3)
    transport = sim.Http("http://testserver", client=client)
    sent = sim.run(fleet, transport, Processor(sessions), step=timedelta(minutes=10))
    assert sent == sum(len(truck.reports) for truck in fleet.trucks)
    score = sim.score(fleet.trucks, sim.raised(session, fleet))
    assert sorted(verdict.kind for verdict in score.verdicts) == [sim.SEAL_OPENED, sim.SEAL_TAMPERED]
    assert score.missed == [] and score.false_alarms == []
