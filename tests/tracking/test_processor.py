"""The processor on both databases: positions stored in order, replays dropped and counted, gaps
recorded, bad messages reported without crashing, every alert rule, the sweep, arrival."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.tracking import schemas, service, telemetry
from customhouse.tracking.models import Alert, DeviceState, Gap, Movement, Position
from customhouse.tracking.processor import Processor
from tests.tracking.conftest import START, SUPERVISOR_P, Fleet, along, corridor, report

pytestmark = pytest.mark.usefixtures("movement")


def positions(session: Session, device: str = "SEAL-1") -> list[int]:
    return list(
        session.scalars(select(Position.seq).where(Position.device_id == device).order_by(Position.id))
    )


def alert_kinds(session: Session) -> list[str]:
    return list(session.scalars(select(Alert.kind).order_by(Alert.raised_at, Alert.kind)))


def drive(fleet: Fleet, first_seq: int, count: int, start_m: float, step_m: float = 1000.0, **overrides):
    """Signed reports of SEAL-1 along the route, one a minute."""
    messages = []
    for i in range(count):
        lon, lat = along(start_m + i * step_m)
        at = START + timedelta(minutes=first_seq + i)
        messages.append(fleet.own(report("SEAL-1", first_seq + i, at, lon, lat, **overrides)))
    return messages


def test_a_clean_track_is_stored_in_order_and_raises_nothing(
    processor: Processor, fleet: Fleet, session: Session, movement: schemas.Movement
):
    outcomes = processor.handle_many(drive(fleet, 1, 20, 5000), received_at=START)
    assert [o.accepted for o in outcomes] == [1] * 20 and all(o.ok for o in outcomes)
    assert positions(session) == list(range(1, 21))
    assert alert_kinds(session) == []
    record = session.get(Movement, movement.id)
    session.refresh(record)
    assert record.state == "in_transit" and record.in_transit_at == START + timedelta(minutes=1)
    state = session.get(DeviceState, "SEAL-1")
    session.refresh(state)
    assert state.last_seq == 20 and state.gaps == 0


def test_reports_out_of_order_in_a_batch_are_put_in_order(
    processor: Processor, fleet: Fleet, session: Session
):
    messages = drive(fleet, 1, 5, 5000)
    outcomes = processor.handle_many([messages[i] for i in (3, 0, 4, 2, 1)], received_at=START)
    assert sum(o.accepted for o in outcomes) == 5 and sum(o.gaps for o in outcomes) == 0
    assert sorted(positions(session)) == [1, 2, 3, 4, 5]
    assert session.scalar(select(func.count()).select_from(Gap)) == 0


def test_replays_are_dropped_and_counted(processor: Processor, fleet: Fleet, session: Session):
    messages = drive(fleet, 1, 3, 5000)
    processor.handle_many(messages, received_at=START)
    before = service.rejections(session).get("replay", 0)
    again = processor.handle_many([messages[1], messages[1]], received_at=START)
    assert [o.reason for o in again] == ["replay", "replay"]
    assert [o.replayed for o in again] == [1, 1]
    assert positions(session) == [1, 2, 3]
    assert service.rejections(session)["replay"] == before + 2


def test_a_gap_is_recorded_and_a_late_report_fills_it(processor: Processor, fleet: Fleet, session: Session):
    messages = drive(fleet, 1, 6, 5000)
    first = processor.handle_many([messages[0], messages[1], messages[4]], received_at=START)
    assert [o.gaps for o in first] == [0, 0, 1]
    (gap,) = session.scalars(select(Gap)).all()
    assert (gap.device_id, gap.after_seq, gap.before_seq) == ("SEAL-1", 2, 5)
    late = processor.handle(messages[2], received_at=START)
    assert late.ok and late.late == 1 and late.accepted == 0
    assert processor.handle(messages[2], received_at=START).reason == "replay"
    assert sorted(positions(session)) == [1, 2, 3, 5]
    state = session.get(DeviceState, "SEAL-1")
    session.refresh(state)
    assert state.last_seq == 5 and state.gaps == 1


def test_a_late_report_of_a_broken_seal_raises_its_alert_once(
    processor: Processor, fleet: Fleet, session: Session, movement: schemas.Movement
):
    """A store-and-forward seal sends its buffered reports after a newer one: the tamper in them counts."""
    clean = drive(fleet, 1, 6, 5000)
    tampered = drive(fleet, 3, 2, 7000, seal="tampered")
    processor.handle_many([clean[0], clean[1], clean[5]], received_at=START)
    (late,) = processor.handle_many([tampered[0]], received_at=START)
    assert late.late == 1 and late.alerts == ("seal-tampered",)
    (again,) = processor.handle_many([tampered[1]], received_at=START)  # raised once per movement
    assert again.late == 1 and again.alerts == ()
    assert alert_kinds(session) == ["seal-tampered"]
    (evidence,) = session.scalars(select(Alert.evidence)).all()
    assert evidence["seq"] == 3 and evidence["late"] is True
    record = session.get(Movement, movement.id)
    session.refresh(record)
    assert record.state == "incident"
    state = session.get(DeviceState, "SEAL-1")
    session.refresh(state)
    assert state.last_seq == 6 and "seal-tampered" in state.raised


def test_bad_messages_are_reported_and_counted_and_the_good_ones_kept(
    processor: Processor, fleet: Fleet, session: Session
):
    good = drive(fleet, 1, 1, 5000)[0]
    stranger = telemetry.generate_key()
    bad = [
        b"\x00\xff not even text",
        b"eyJhbGciOiJub25lIn0.e30.",
        telemetry.sign(stranger, "SEAL-1", [report("SEAL-1", 2, START, 39.0, -3.7)]),
        telemetry.sign(stranger, "SEAL-9", [report("SEAL-9", 1, START, 39.0, -3.7)]),
        fleet.own(report("SEAL-2", 1, START, 39.0, -3.7)),  # SEAL-1 may not sign for SEAL-2
        fleet.own({**report("SEAL-1", 2, START, 39.0, -3.7), "lat": "north"}),
        "text, not bytes",
    ]
    before = service.rejections(session)
    outcomes = processor.handle_many([bad[0], good, *bad[1:]], received_at=START)
    reasons = [o.reason for o in outcomes]
    assert reasons == [
        "malformed",
        None,
        "malformed",
        "bad-signature",
        "unknown-signer",
        "not-authorised-for-device",
        "malformed",
        "malformed",
    ]
    assert all(o.detail for o in outcomes if o.reason)
    assert positions(session) == [1]
    after = service.rejections(session)
    assert after["malformed"] - before["malformed"] == 4
    assert after["bad-signature"] - before["bad-signature"] == 1
    assert after["unknown-signer"] - before["unknown-signer"] == 1
    assert after["not-authorised-for-device"] - before["not-authorised-for-device"] == 1


def test_a_gateway_batch_for_two_seals(processor: Processor, fleet: Fleet, session: Session):
    lon, lat = along(5000)
    batch = [report("SEAL-2", seq, START + timedelta(minutes=seq), lon, lat) for seq in (3, 1, 2)]
    (outcome,) = processor.handle_many([fleet.via_gateway(*batch)], received_at=START)
    assert outcome.signer == "GW-1" and outcome.accepted == 3
    assert positions(session, "SEAL-2") == [1, 2, 3]
    # SEAL-1 signs for itself: it is not behind the gateway
    mixed = fleet.via_gateway(report("SEAL-2", 4, START, lon, lat), report("SEAL-1", 1, START, lon, lat))
    assert processor.handle(mixed, received_at=START).reason == "not-authorised-for-device"
    assert positions(session, "SEAL-2") == [1, 2, 3]


def kinds_of(processor: Processor, messages: list[bytes]) -> list[str]:
    return [kind for outcome in processor.handle_many(messages, received_at=START) for kind in outcome.alerts]


def test_seal_opened_raises_once_and_makes_an_incident(
    processor: Processor, fleet: Fleet, session: Session, movement: schemas.Movement
):
    raised = kinds_of(processor, drive(fleet, 1, 2, 5000) + drive(fleet, 3, 3, 7000, seal="open"))
    assert raised == ["seal-open"]
    record = session.get(Movement, movement.id)
    session.refresh(record)
    assert record.state == "incident" and record.incident_at == START + timedelta(minutes=3)
    types = [event.type for event in events.history(session, "tracking_movement", str(movement.id))]
    assert "tracking.alert_raised" in types and "tracking.movement_incident" in types
    (alert,) = session.scalars(select(Alert)).all()
    assert alert.device_id == "SEAL-1" and alert.evidence["seq"] == 3 and alert.state == "open"


def test_tampering_is_its_own_alert(processor: Processor, fleet: Fleet):
    assert kinds_of(processor, drive(fleet, 1, 2, 5000, seal="tampered")) == ["seal-tampered"]


def off_route(fleet: Fleet, first_seq: int, count: int, lon: float, lat: float, step: timedelta, **overrides):
    return [
        fleet.own(report("SEAL-1", first_seq + i, START + step * (first_seq + i), lon, lat, **overrides))
        for i in range(count)
    ]


def test_route_deviation_after_the_dwell_time_only(processor: Processor, fleet: Fleet, session: Session):
    # 36.0, -2.0 lies some 60 km off the route between Emali and Nairobi
    assert kinds_of(processor, off_route(fleet, 1, 10, 36.0, -2.0, timedelta(minutes=1))) == []
    raised = kinds_of(processor, off_route(fleet, 11, 5, 36.0, -2.0, timedelta(minutes=1)))
    assert raised == ["route-deviation"]
    alert = session.scalars(select(Alert)).one()
    assert alert.evidence["offset_m"] > 50_000


def test_restricted_zone_entry(processor: Processor, fleet: Fleet):
    assert kinds_of(processor, off_route(fleet, 1, 1, 38.0, -3.0, timedelta(minutes=1))) == [
        "restricted-zone"
    ]


def test_unscheduled_stop_outside_approved_stops(processor: Processor, fleet: Fleet):
    lon, lat = along(150_000)
    messages = [
        fleet.own(report("SEAL-1", i, START + timedelta(minutes=5 * i), lon, lat, speed=0.0))
        for i in range(1, 9)
    ]
    assert kinds_of(processor, messages) == ["unscheduled-stop"]


def test_a_long_stop_at_an_approved_stop_is_fine(processor: Processor, fleet: Fleet):
    messages = [
        fleet.own(report("SEAL-1", i, START + timedelta(minutes=10 * i), 36.0667, -0.2833, speed=0.0))
        for i in range(1, 13)
    ]
    assert kinds_of(processor, messages) == []


def test_temperature_and_battery(processor: Processor, fleet: Fleet):
    raised = kinds_of(
        processor,
        drive(fleet, 1, 1, 5000, temperature=58.0)
        + drive(fleet, 2, 1, 6000, temperature=59.0, battery=15.0)
        + drive(fleet, 3, 1, 7000, battery=14.0),
    )
    assert raised == ["temperature-excursion", "low-battery"]


def test_arrival_closes_the_movement(
    processor: Processor, fleet: Fleet, session: Session, movement: schemas.Movement
):
    end = corridor().length_m
    raised = kinds_of(processor, drive(fleet, 1, 3, end - 2500, step_m=1000))
    assert raised == ["arrived"]
    record = session.get(Movement, movement.id)
    session.refresh(record)
    assert record.state == "arrived" and record.arrived_at is not None
    # after arrival nothing is evaluated for this movement any more
    assert kinds_of(processor, off_route(fleet, 4, 30, 36.0, -2.0, timedelta(minutes=1))) == []


def test_sweep_raises_offline_and_time_limit_once(
    processor: Processor, fleet: Fleet, session: Session, movement: schemas.Movement
):
    processor.handle_many(drive(fleet, 1, 1, 5000), received_at=START)
    last = START + timedelta(minutes=1)
    assert processor.sweep(last + timedelta(minutes=29)) == []
    # SEAL-2 never reported: silent since the movement opened; SEAL-1 since its report
    swept = processor.sweep(movement.time_limit + timedelta(minutes=1))
    assert sorted(swept) == ["offline", "offline", "time-limit-exceeded"]
    assert processor.sweep(movement.time_limit + timedelta(hours=2)) == []
    devices = sorted(session.scalars(select(Alert.device_id).where(Alert.kind == "offline")))
    assert devices == ["SEAL-1", "SEAL-2"]
    # reporting again makes the device online; a later silence raises again
    processor.handle_many(drive(fleet, 2, 1, 6000), received_at=START)
    assert processor.sweep(movement.time_limit + timedelta(hours=3)).count("offline") == 1


def test_a_sweep_of_named_movements_leaves_the_others_alone(
    processor: Processor, session: Session, movement: schemas.Movement
):
    """The simulator sweeps at its own clock: only its fleet's movements, never the others."""
    late = movement.time_limit + timedelta(minutes=1)
    assert processor.sweep(late, movements=[uuid.uuid4()]) == []
    assert alert_kinds(session) == []
    assert sorted(processor.sweep(late, movements=[movement.id])) == [
        "offline",
        "offline",
        "time-limit-exceeded",
    ]


def test_reports_before_any_movement_are_stored_without_alerts(
    processor: Processor, fleet: Fleet, session: Session
):
    service.register_device(
        session,
        device=schemas.NewDevice(id="SEAL-3", kind="e-seal", gateway="GW-1"),
        by=SUPERVISOR_P,
    )
    session.commit()
    processor.forget("GW-1")
    (outcome,) = processor.handle_many(
        [fleet.via_gateway(report("SEAL-3", 1, START, 10.0, 10.0, seal="open"))], received_at=START
    )
    assert outcome.accepted == 1 and outcome.alerts == ()
    assert session.scalar(select(Position.movement_id).where(Position.device_id == "SEAL-3")) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mix_of_messages_never_crashes_and_stores_each_report_once(
    processor: Processor, session: Session, data: st.DataObject
):
    """Valid, replayed, reordered, truncated, altered and foreign messages in any order and batching."""
    device = f"P-{uuid.uuid4().hex[:8]}"
    key = telemetry.generate_key()
    service.register_device(
        session,
        device=schemas.NewDevice(id=device, kind="tracker", public_key=telemetry.public_pem(key)),
        by=SUPERVISOR_P,
    )
    session.commit()
    lon, lat = along(30_000)
    valid = [
        telemetry.sign(key, device, [report(device, seq, START + timedelta(minutes=seq), lon, lat)])
        for seq in range(1, data.draw(st.integers(1, 12)) + 1)
    ]
    junk = [
        valid[0][: len(valid[0]) // 2],
        valid[0].replace(b".", b"..", 1),
        telemetry.sign(telemetry.generate_key(), device, [report(device, 99, START, lon, lat)]),
        b"",
        "\u00e9\u00e9",
    ]
    pool = valid + junk
    messages = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=40))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(messages)), max_size=4)))
    outcomes = []
    for start, end in zip([0, *cuts], [*cuts, len(messages)], strict=True):
        outcomes += processor.handle_many(messages[start:end], received_at=START)
    assert len(outcomes) == len(messages)
    sent = {valid.index(m) + 1 for m in messages if m in valid}
    assert sorted(positions(session, device)) == sorted(sent)
    assert sum(o.accepted + o.late for o in outcomes) == len(sent)
    for message, outcome in zip(messages, outcomes, strict=True):
        if message not in valid:
            assert outcome.reason in {"malformed", "bad-signature"}
