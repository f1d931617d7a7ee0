"""Devices, movements, alerts and discharge through the service, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.declarations.service import Policy
from customhouse.payments import service as payments
from customhouse.payments.schemas import NewGuarantee, NewSecurity
from customhouse.problems import Problem
from customhouse.tracking import mqtt, schemas, service, telemetry
from customhouse.tracking.models import DeviceState, Movement
from customhouse.tracking.processor import Processor
from tests import factories
from tests.tracking.conftest import (
    CODE,
    ELSEWHERE_P,
    OFFICER_P,
    START,
    SUPERVISOR_P,
    TRADER_P,
    Fleet,
    along,
    corridor,
    lodge_transit,
    report,
)


def pointers(problem: Problem) -> list[str | None]:
    return [error.pointer for error in problem.errors]


def new_movement(declaration_id: uuid.UUID, **changes) -> schemas.NewMovement:
    fields = {
        "declaration_id": declaration_id,
        "corridor": CODE,
        "time_limit": datetime.now(UTC) + timedelta(days=10),
        "seals": ["SEAL-1"],
        "guarantee_reference": "GUA-1",
    }
    fields.update(changes)
    return schemas.NewMovement.model_validate(fields)


def test_register_devices_with_pem_or_jwk_keys(world: Session):
    key = telemetry.generate_key()
    pem = service.register_device(
        world,
        device=schemas.NewDevice(id="T-1", kind="tracker", public_key=telemetry.public_pem(key)),
        by=OFFICER_P,
    )
    jwk = service.register_device(
        world,
        device=schemas.NewDevice(id="T-2", kind="tracker", public_key=key.as_dict(private=False)),
        by=OFFICER_P,
    )
    assert pem.public_key == jwk.public_key == telemetry.public_pem(key)
    assert pem.last_seq == 0 and pem.movement_id is None
    types = [event.type for event in events.history(world, "tracking_device", "T-1")]
    assert types == ["tracking.device_registered"]


def test_a_device_shows_its_own_mqtt_status_or_else_its_gateways(
    world: Session, fleet: Fleet, sessions: sessionmaker[Session]
):
    """Birth and Last Will, as the ingestor records them (`mqtt.recording_status`), are the device's
    connection; a device that a gateway signs for shows the gateway's until it announces itself."""
    world.commit()  # the fleet, visible to the recorder's own sessions
    assert service.get_device(world, device_id="SEAL-2", by=OFFICER_P).connection is None
    record = mqtt.recording_status(sessions)
    born, died = datetime(2026, 11, 28, 8, tzinfo=UTC), datetime(2026, 11, 28, 9, tzinfo=UTC)
    record("GW-1", mqtt.ONLINE, born)
    record("GW-1", mqtt.OFFLINE, died)
    seal = service.get_device(world, device_id="SEAL-2", by=OFFICER_P)
    assert (seal.connection, seal.connection_of, seal.connection_since) == ("offline", "GW-1", died)
    record("SEAL-2", mqtt.ONLINE, died)
    seal = service.get_device(world, device_id="SEAL-2", by=OFFICER_P)
    assert (seal.connection, seal.connection_of) == ("online", "SEAL-2")
    assert service.get_device(world, device_id="SEAL-1", by=OFFICER_P).connection is None


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"public_key": "not a key"}, "/public_key"),
        ({"public_key": None}, "/public_key"),
        ({"gateway": "NO-SUCH-GW"}, "/gateway"),
    ],
)
def test_a_bad_device_names_the_field_and_stores_nothing(world: Session, fields, pointer):
    body = {"id": "T-9", "kind": "e-seal", "public_key": None, **fields}
    with pytest.raises(Problem) as caught:
        service.register_device(world, device=schemas.NewDevice.model_validate(body), by=OFFICER_P)
    assert caught.value.status == 422 and pointer in pointers(caught.value)
    assert world.get(DeviceState, "T-9") is None


def test_only_customs_registers_devices(world: Session):
    key = telemetry.generate_key()
    device = schemas.NewDevice(id="T-3", kind="tracker", public_key=telemetry.public_pem(key))
    with pytest.raises(Problem) as caught:
        service.register_device(world, device=device, by=TRADER_P)
    assert caught.value.status == 403


def test_registering_twice_is_a_conflict(world: Session, fleet: Fleet):
    key = telemetry.generate_key()
    with pytest.raises(Problem) as caught:
        service.register_device(
            world,
            device=schemas.NewDevice(id="SEAL-1", kind="e-seal", public_key=telemetry.public_pem(key)),
            by=OFFICER_P,
        )
    assert caught.value.status == 409


def test_open_a_movement_from_a_released_transit_declaration(
    world: Session, fleet: Fleet, transit: uuid.UUID
):
    movement = service.open_movement(
        world, movement=new_movement(transit, seals=["SEAL-1", "SEAL-2"]), by=OFFICER_P
    )
    assert movement.state == "opened" and movement.mrn and movement.office_of_departure == "KR000040"
    assert movement.office_of_destination == "KR000010"
    assert (
        world.scalar(select(DeviceState.movement_id).where(DeviceState.device_id == "SEAL-2")) == movement.id
    )
    (event,) = events.history(world, "tracking_movement", str(movement.id))
    assert event.type == "tracking.movement_opened" and event.data["seals"] == ["SEAL-1", "SEAL-2"]


def test_a_movement_needs_a_transit_declaration_a_corridor_free_seals_and_a_future_limit(
    world: Session, fleet: Fleet, transit: uuid.UUID, policy: Policy
):
    service.open_movement(world, movement=new_movement(transit), by=OFFICER_P)
    other = lodge_transit(world, policy, lrn="TR-2")
    with pytest.raises(Problem) as caught:
        service.open_movement(
            world,
            movement=new_movement(
                other,
                corridor="NOWHERE",
                seals=["SEAL-1", "SEAL-404"],
                time_limit=datetime.now(UTC) - timedelta(hours=1),
            ),
            by=OFFICER_P,
        )
    assert caught.value.status == 422
    assert set(pointers(caught.value)) == {"/corridor", "/time_limit", "/seals/0", "/seals/1"}
    assert world.scalar(select(Movement.id).where(Movement.declaration_id == other)) is None

    imported = factories.declaration(lrn="IMP-1")
    from customhouse.declarations import service as declarations

    outcome = declarations.lodge(world, document=imported, by=TRADER_P, policy=policy)
    assert outcome.declaration is not None
    with pytest.raises(Problem) as caught:
        service.open_movement(
            world, movement=new_movement(outcome.declaration.id, seals=["SEAL-2"]), by=OFFICER_P
        )
    assert pointers(caught.value) == ["/declaration_id"]
    with pytest.raises(Problem) as caught:
        service.open_movement(world, movement=new_movement(other, seals=["SEAL-2"]), by=TRADER_P)
    assert caught.value.status == 403
    with pytest.raises(Problem) as caught:  # the declaration is not one this officer sees
        service.open_movement(world, movement=new_movement(other, seals=["SEAL-2"]), by=ELSEWHERE_P)
    assert caught.value.status == 404


def test_reading_is_limited_to_the_offices_of_the_movement(world: Session, movement: schemas.Movement):
    assert [m.id for m in service.list_movements(world, by=OFFICER_P)] == [movement.id]
    assert service.list_movements(world, by=ELSEWHERE_P) == []
    with pytest.raises(Problem) as caught:
        service.get_movement(world, movement_id=movement.id, by=ELSEWHERE_P)
    assert caught.value.status == 404
    with pytest.raises(Problem):
        service.list_movements(world, by=TRADER_P)


def run_to_destination(processor: Processor, fleet: Fleet, *, seal: str = "closed") -> None:
    end = corridor().length_m
    messages = []
    for i in range(4):
        lon, lat = along(end - 3500 + 1000 * i)
        messages.append(
            fleet.own(
                report(
                    "SEAL-1", i + 1, START + timedelta(minutes=i), lon, lat, seal=seal if i == 1 else "closed"
                )
            )
        )
    processor.handle_many(messages, received_at=START)


def test_alerts_are_acknowledged_then_resolved_and_the_movement_discharged(
    world: Session, fleet: Fleet, movement: schemas.Movement, processor: Processor
):
    run_to_destination(processor, fleet, seal="open")
    detail = service.get_movement(world, movement_id=movement.id, by=OFFICER_P)
    assert detail.state == "incident" and detail.arrived_at is not None
    assert [alert.kind for alert in detail.alerts] == ["seal-open", "arrived"]
    assert [position.seq for position in detail.track] == [1, 2, 3, 4]
    seal_alert = detail.alerts[0]

    with pytest.raises(Problem) as caught:
        service.discharge(world, movement_id=movement.id, by=OFFICER_P)
    assert caught.value.status == 409 and "seal-open" in caught.value.detail

    with pytest.raises(Problem) as caught:
        service.acknowledge_alert(world, alert_id=seal_alert.id, note="x", by=ELSEWHERE_P)
    assert caught.value.status == 404
    acknowledged = service.acknowledge_alert(world, alert_id=seal_alert.id, note="team sent", by=OFFICER_P)
    assert acknowledged.state == "acknowledged" and acknowledged.acknowledged_by == "officer"
    with pytest.raises(Problem) as caught:
        service.acknowledge_alert(world, alert_id=seal_alert.id, note="again", by=OFFICER_P)
    assert caught.value.status == 409
    resolved = service.resolve_alert(
        world, alert_id=seal_alert.id, note="seal checked, resealed", by=SUPERVISOR_P
    )
    assert resolved.state == "resolved" and resolved.note == "seal checked, resealed"

    discharged = service.discharge(world, movement_id=movement.id, by=OFFICER_P, note="goods presented")
    assert discharged.state == "discharged" and discharged.guarantee_released is False
    assert world.scalar(select(DeviceState.movement_id).where(DeviceState.device_id == "SEAL-1")) is None
    types = [event.type for event in events.history(world, "tracking_movement", str(movement.id))]
    assert types[-3:] == [
        "tracking.alert_acknowledged",
        "tracking.alert_resolved",
        "tracking.movement_discharged",
    ]
    with pytest.raises(Problem) as caught:
        service.discharge(world, movement_id=movement.id, by=OFFICER_P)
    assert caught.value.status == 409


def test_discharge_waits_for_arrival(world: Session, movement: schemas.Movement):
    with pytest.raises(Problem) as caught:
        service.discharge(world, movement_id=movement.id, by=OFFICER_P)
    assert caught.value.status == 409 and "opened" in caught.value.detail


def test_discharge_releases_a_payments_security(
    world: Session, fleet: Fleet, transit: uuid.UUID, processor: Processor
):
    guarantee = payments.open_guarantee(
        world,
        guarantee=NewGuarantee(
            party_id=factories.TRADER, kind="guarantee", limit=Decimal("5000000"), currency="KRW"
        ),
        by=SUPERVISOR_P,
    )
    security, _ = payments.secure(
        world,
        guarantee_id=guarantee.id,
        security=NewSecurity(
            declaration_id=transit, assessment_version=1, amount=Decimal("1000000"), currency="KRW"
        ),
        by=SUPERVISOR_P,
    )
    assert payments.balance(world, guarantee_id=guarantee.id).amount == Decimal("4000000")
    movement = service.open_movement(
        world, movement=new_movement(transit, guarantee_reference=str(security.id)), by=OFFICER_P
    )
    world.commit()
    run_to_destination(processor, fleet)
    discharged = service.discharge(world, movement_id=movement.id, by=OFFICER_P)
    assert discharged.guarantee_released is True
    assert payments.balance(world, guarantee_id=guarantee.id).amount == Decimal("5000000")


def test_statistics_count_what_was_refused(world: Session, movement: schemas.Movement, processor: Processor):
    processor.handle_many([b"junk", b"more junk"], received_at=START)
    numbers = service.statistics(world)
    assert numbers["rejected"]["malformed"] == 2
    assert numbers["active_movements"] == 1
