"""Tracking operations: register devices, open a transit movement from a transit declaration, read
movements with their track and alerts, acknowledge and resolve alerts, discharge a movement.

The declaration is read through `declarations.service` (its visibility rules apply: an officer opens
movements of declarations lodged at or destined for their offices). Discharge releases the guarantee
through `payments.service.release_security` when the movement's guarantee reference is the id of a
payments security; any other reference (a paper guarantee, another system's number) is recorded as
discharged and the event says the guarantee was not released here.

Customs (officers, supervisors) act; auditors and admins also read. Service functions never commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.db import table, utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Kind, State
from customhouse.payments import service as payments
from customhouse.problems import FieldError, Problem
from customhouse.tracking import alerts as rules
from customhouse.tracking import corridor as geometry
from customhouse.tracking import models, schemas
from customhouse.tracking.mqtt import STATUS_EVENT
from customhouse.tracking.processor import ACTIVE, AGGREGATE, DEVICE_AGGREGATE
from customhouse.tracking.telemetry import public_key, public_pem

ACTORS = (Role.OFFICER, Role.SUPERVISOR)
READERS = (Role.OFFICER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
REGISTRARS = (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)
OPENABLE = (State.ACCEPTED, State.RELEASED)


def _invalid(pointer: str, detail: str) -> Problem:
    return Problem(422, "validation", "1 field(s) are not valid", [FieldError(detail, pointer=pointer)])


def _event(
    name: str, movement_id: uuid.UUID, by: Principal, reason: str | None = None, **data: Any
) -> events.DomainEvent:
    return events.DomainEvent(
        type=f"tracking.{name}",
        aggregate_type=AGGREGATE,
        aggregate_id=str(movement_id),
        actor=by.name,
        actor_party=by.party_id,
        reason=reason,
        data=data,
    )


def _require(by: Principal, roles: tuple[Role, ...], action: str) -> None:
    if not by.has(*roles):
        raise Problem(403, "forbidden", f"only {', '.join(roles)} may {action}")


# ---------------------------------------------------------------- devices


def register_device(session: Session, *, device: schemas.NewDevice, by: Principal) -> schemas.Device:
    _require(by, REGISTRARS, "register devices")
    errors = []
    pem = None
    if device.public_key is not None:
        try:
            pem = public_pem(public_key(device.public_key))
        except ValueError as error:
            errors.append(FieldError(str(error), pointer="/public_key"))
    if device.gateway is not None:
        gateway = session.get(models.Device, device.gateway)
        if gateway is None or gateway.kind != schemas.DeviceKind.GATEWAY:
            errors.append(FieldError("must be the id of a registered gateway", pointer="/gateway"))
        elif device.kind is schemas.DeviceKind.GATEWAY:
            errors.append(
                FieldError("a gateway sits behind no other gateway; leave it out", pointer="/gateway")
            )
    if pem is None and device.gateway is None:
        errors.append(
            FieldError(
                "give the device's Ed25519 public key (PEM or JWK), or its gateway", pointer="/public_key"
            )
        )
    if errors:
        raise Problem(422, "validation", f"{len(errors)} field(s) are not valid", errors)
    if session.get(models.Device, device.id) is not None:
        raise Problem(
            409, "conflict", f"device {device.id} is registered already", extra={"device": device.id}
        )
    now = utcnow()
    record = models.Device(
        id=device.id,
        kind=device.kind.value,
        public_key=pem,
        gateway_id=device.gateway,
        registered_at=now,
        registered_by=by.name,
    )
    session.add(record)
    session.flush()
    session.execute(
        insert(table(models.DeviceState)), [{"device_id": device.id, "last_seq": 0, "raised": [], "gaps": 0}]
    )
    events.record(
        session,
        [
            events.DomainEvent(
                type="tracking.device_registered",
                aggregate_type=DEVICE_AGGREGATE,
                aggregate_id=device.id,
                actor=by.name,
                data={"kind": device.kind.value, "gateway": device.gateway, "public_key": pem},
            )
        ],
    )
    return get_device(session, device_id=device.id, by=by)


def get_device(session: Session, *, device_id: str, by: Principal) -> schemas.Device:
    _require(by, READERS, "read devices")
    row = session.execute(
        select(models.Device, models.DeviceState)
        .join(models.DeviceState, models.DeviceState.device_id == models.Device.id)
        .where(models.Device.id == device_id)
    ).one_or_none()
    if row is None:
        raise Problem(404, "not-found", f"no device {device_id}")
    device, state = row
    connection = _connection(session, [device.id, *([device.gateway_id] if device.gateway_id else [])])
    return schemas.Device(
        id=device.id,
        kind=schemas.DeviceKind(device.kind),
        public_key=device.public_key,
        gateway=device.gateway_id,
        registered_at=device.registered_at,
        registered_by=device.registered_by,
        movement_id=state.movement_id,
        last_seq=state.last_seq,
        last_time=state.last_time,
        gaps=state.gaps,
        **connection,
    )


def _connection(session: Session, idents: list[str]) -> dict[str, Any]:
    """The newest `tracking.device_status` event of the first of `idents` that has one (the device's
    own status topic, then its gateway's): what the ingestor recorded from MQTT birth and Last Will."""
    for ident in idents:
        found = session.execute(
            select(events.Event.data, events.Event.occurred_at)
            .where(
                events.Event.aggregate_type == DEVICE_AGGREGATE,
                events.Event.aggregate_id == ident,
                events.Event.type == STATUS_EVENT,
            )
            .order_by(events.Event.id.desc())
            .limit(1)
        ).first()
        if found is not None:
            return {
                "connection": found.data["state"],
                "connection_of": ident,
                "connection_since": found.occurred_at,
            }
    return {}


# ---------------------------------------------------------------- movements


def _movement(record: models.Movement) -> schemas.Movement:
    return schemas.Movement.model_validate(
        {column: getattr(record, column) for column in schemas.Movement.model_fields}
    )


def open_movement(session: Session, *, movement: schemas.NewMovement, by: Principal) -> schemas.Movement:
    """Open the movement of an accepted or released transit declaration, its seals affixed."""
    _require(by, ACTORS, "open transit movements")
    declaration = declarations.get(session, declaration_id=movement.declaration_id, by=by)
    document = declaration.document
    errors = []
    if document.kind is not Kind.TRANSIT:
        errors.append(
            FieldError(
                f"is a {document.kind.value} declaration, not a transit one", pointer="/declaration_id"
            )
        )
    elif declaration.state not in OPENABLE or declaration.mrn is None:
        errors.append(
            FieldError(
                f"is {declaration.state.value}; a movement opens for an accepted or released declaration",
                pointer="/declaration_id",
            )
        )
    corridors = geometry.builtin()
    if movement.corridor not in corridors:
        errors.append(FieldError(f"must be one of {sorted(corridors)}", pointer="/corridor"))
    now = utcnow()
    if movement.time_limit <= now:
        errors.append(FieldError("must be in the future", pointer="/time_limit"))
    if len(set(movement.seals)) != len(movement.seals):
        errors.append(FieldError("names a device twice", pointer="/seals"))
    states = {
        row.device_id: row
        for row in session.execute(
            select(models.DeviceState.device_id, models.DeviceState.movement_id)
            .where(models.DeviceState.device_id.in_(movement.seals))
            .order_by(models.DeviceState.device_id)  # the processor's lock order
            .with_for_update()
        )
    }
    for index, seal in enumerate(movement.seals):
        if seal not in states:
            errors.append(FieldError(f"{seal} is not a registered device", pointer=f"/seals/{index}"))
        elif states[seal].movement_id is not None:
            errors.append(
                FieldError(
                    f"{seal} is on movement {states[seal].movement_id} still", pointer=f"/seals/{index}"
                )
            )
    if errors:
        raise Problem(422, "validation", f"{len(errors)} field(s) are not valid", errors)
    if session.scalar(select(models.Movement.id).where(models.Movement.declaration_id == declaration.id)):
        raise Problem(409, "conflict", f"declaration {declaration.id} has a movement already")
    assert declaration.mrn is not None and document.office_of_destination is not None
    record = models.Movement(
        id=uuid.uuid4(),
        declaration_id=declaration.id,
        mrn=declaration.mrn,
        office_of_departure=document.office_of_lodgement,
        office_of_destination=document.office_of_destination,
        corridor=movement.corridor,
        time_limit=movement.time_limit,
        seals=list(movement.seals),
        guarantee_reference=movement.guarantee_reference,
        state=schemas.MovementState.OPENED.value,
        opened_at=now,
        opened_by=by.name,
    )
    session.add(record)
    session.flush()
    session.execute(
        update(models.DeviceState)
        .where(models.DeviceState.device_id.in_(movement.seals))
        .values(movement_id=record.id, outside_since=None, stopped_since=None, raised=[])
    )
    events.record(
        session,
        [
            _event(
                "movement_opened",
                record.id,
                by,
                declaration_id=str(declaration.id),
                mrn=declaration.mrn,
                corridor=movement.corridor,
                time_limit=movement.time_limit.isoformat(),
                seals=list(movement.seals),
                guarantee_reference=movement.guarantee_reference,
            )
        ],
    )
    return _movement(record)


def _load(session: Session, movement_id: uuid.UUID, by: Principal) -> models.Movement:
    record = session.get(models.Movement, movement_id)
    if record is None or not _sees(by, record):
        raise Problem(404, "not-found", f"no movement {movement_id}")
    return record


def _sees(by: Principal, record: models.Movement) -> bool:
    if by.reads_all or by.has(Role.SUPERVISOR):
        return True
    return by.has(Role.OFFICER) and bool(
        {record.office_of_departure, record.office_of_destination} & by.offices
    )


def _acts(by: Principal, record: models.Movement, action: str) -> None:
    _require(by, ACTORS, action)
    if not by.has(Role.SUPERVISOR) and not _sees(by, record):
        raise Problem(
            403,
            "forbidden",
            f"only officers of {record.office_of_departure} or {record.office_of_destination} may {action}",
        )


def list_movements(
    session: Session, *, by: Principal, state: schemas.MovementState | None = None, limit: int = 100
) -> list[schemas.Movement]:
    _require(by, READERS, "read movements")
    query = select(models.Movement).order_by(models.Movement.opened_at.desc()).limit(limit)
    if state is not None:
        query = query.where(models.Movement.state == state.value)
    if not (by.reads_all or by.has(Role.SUPERVISOR)):
        offices = list(by.offices)
        query = query.where(
            models.Movement.office_of_departure.in_(offices)
            | models.Movement.office_of_destination.in_(offices)
        )
    return [_movement(record) for record in session.scalars(query)]


def _alert(record: models.Alert) -> schemas.Alert:
    return schemas.Alert(
        id=record.id,
        kind=record.kind,
        movement_id=record.movement_id,
        device=record.device_id,
        state=schemas.AlertState(record.state),
        raised_at=record.raised_at,
        evidence=record.evidence,
        note=record.note,
        acknowledged_at=record.acknowledged_at,
        acknowledged_by=record.acknowledged_by,
        resolved_at=record.resolved_at,
        resolved_by=record.resolved_by,
    )


def get_movement(
    session: Session, *, movement_id: uuid.UUID, by: Principal, track: int = 1000
) -> schemas.MovementDetail:
    """A movement with its last `track` positions (oldest first) and every alert."""
    _require(by, READERS, "read movements")
    record = _load(session, movement_id, by)
    positions = session.scalars(
        select(models.Position)
        .where(models.Position.movement_id == movement_id)
        .order_by(models.Position.time.desc(), models.Position.seq.desc())
        .limit(track)
    ).all()
    found = session.scalars(
        select(models.Alert).where(models.Alert.movement_id == movement_id).order_by(models.Alert.raised_at)
    )
    return schemas.MovementDetail(
        **_movement(record).model_dump(),
        track=[
            schemas.Position(
                device=p.device_id,
                seq=p.seq,
                time=p.time,
                lat=p.lat,
                lon=p.lon,
                speed=p.speed,
                seal=p.seal,
                door=p.door,
                battery=p.battery,
                temperature=p.temperature,
            )
            for p in reversed(positions)
        ],
        alerts=[_alert(alert) for alert in found],
    )


def discharge(
    session: Session, *, movement_id: uuid.UUID, by: Principal, note: str | None = None
) -> schemas.Movement:
    """End an arrived movement: its seals are free again and its guarantee released (see the module)."""
    record = _load(session, movement_id, by)
    _acts(by, record, "discharge movements")
    if record.arrived_at is None or record.state not in ("arrived", "incident"):
        raise Problem(
            409, "invalid-state", f"the movement is {record.state}; only an arrived movement is discharged"
        )
    pending = session.scalars(
        select(models.Alert.kind).where(
            models.Alert.movement_id == movement_id,
            models.Alert.state != schemas.AlertState.RESOLVED.value,
            models.Alert.kind != rules.ARRIVED,
        )
    ).all()
    if pending:
        raise Problem(
            409,
            "invalid-state",
            f"{len(pending)} alert(s) of this movement are not resolved ({', '.join(sorted(set(pending)))}): "
            "resolve them first",
        )
    released = False
    try:
        security_id = uuid.UUID(record.guarantee_reference or "")
    except ValueError:
        security_id = None
    if security_id is not None:
        payments.release_security(session, security_id=security_id, by=by)
        released = True
    now = utcnow()
    done = session.execute(
        update(models.Movement)
        .where(models.Movement.id == movement_id, models.Movement.discharged_at.is_(None))
        .values(state="discharged", discharged_at=now, discharged_by=by.name, guarantee_released=released)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(409, "invalid-state", "the movement was discharged meanwhile")
    session.execute(
        update(models.DeviceState)
        .where(models.DeviceState.movement_id == movement_id)
        .values(movement_id=None)
    )
    session.execute(
        update(models.Alert)
        .where(
            models.Alert.movement_id == movement_id,
            models.Alert.kind == rules.ARRIVED,
            models.Alert.resolved_at.is_(None),
        )
        .values(state="resolved", resolved_at=now, resolved_by=by.name, note=note or "discharged")
    )
    events.record(
        session,
        [
            _event(
                "movement_discharged",
                movement_id,
                by,
                note,
                guarantee_reference=record.guarantee_reference,
                guarantee_released=released,
            )
        ],
    )
    session.refresh(record)
    return _movement(record)


# ---------------------------------------------------------------- alerts


def list_alerts(
    session: Session,
    *,
    by: Principal,
    state: schemas.AlertState | None = None,
    movement_id: uuid.UUID | None = None,
    limit: int = 200,
) -> list[schemas.Alert]:
    _require(by, READERS, "read alerts")
    query = select(models.Alert).order_by(models.Alert.raised_at.desc()).limit(limit)
    if state is not None:
        query = query.where(models.Alert.state == state.value)
    if movement_id is not None:
        query = query.where(models.Alert.movement_id == movement_id)
    if not (by.reads_all or by.has(Role.SUPERVISOR)):
        offices = list(by.offices)
        mine = select(models.Movement.id).where(
            models.Movement.office_of_departure.in_(offices)
            | models.Movement.office_of_destination.in_(offices)
        )
        query = query.where(models.Alert.movement_id.in_(mine))
    return [_alert(record) for record in session.scalars(query)]


def _change_alert(
    session: Session, alert_id: uuid.UUID, by: Principal, note: str, *, resolve: bool
) -> schemas.Alert:
    action = "resolve alerts" if resolve else "acknowledge alerts"
    record = session.get(models.Alert, alert_id)
    movement = session.get(models.Movement, record.movement_id) if record and record.movement_id else None
    if record is None or movement is None or not _sees(by, movement):
        raise Problem(404, "not-found", f"no alert {alert_id}")
    _acts(by, movement, action)
    allowed = ("open", "acknowledged") if resolve else ("open",)
    if record.state not in allowed:
        raise Problem(
            409,
            "invalid-state",
            f"the alert is {record.state}; it cannot be {'resolved' if resolve else 'acknowledged'}",
        )
    now = utcnow()
    values: dict[str, Any] = {"note": note}
    if resolve:
        values |= {"state": "resolved", "resolved_at": now, "resolved_by": by.name}
    else:
        values |= {"state": "acknowledged", "acknowledged_at": now, "acknowledged_by": by.name}
    done = session.execute(
        update(models.Alert)
        .where(models.Alert.id == alert_id, models.Alert.state == record.state)
        .values(**values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(409, "conflict", "the alert changed meanwhile; read it again")
    events.record(
        session,
        [
            _event(
                "alert_resolved" if resolve else "alert_acknowledged",
                movement.id,
                by,
                note,
                alert_id=str(alert_id),
                kind=record.kind,
            )
        ],
    )
    session.refresh(record)
    return _alert(record)


def acknowledge_alert(session: Session, *, alert_id: uuid.UUID, note: str, by: Principal) -> schemas.Alert:
    return _change_alert(session, alert_id, by, note, resolve=False)


def resolve_alert(session: Session, *, alert_id: uuid.UUID, note: str, by: Principal) -> schemas.Alert:
    return _change_alert(session, alert_id, by, note, resolve=True)


# ---------------------------------------------------------------- counters


def rejections(session: Session) -> dict[str, int]:
    """Messages (and replayed reports) refused so far, by reason."""
    rows = session.execute(select(models.Rejection.reason, models.Rejection.count)).all()
    return {reason: int(count) for reason, count in rows}


def statistics(session: Session) -> dict[str, Any]:
    return {
        "rejected": rejections(session),
        "positions": session.scalar(select(func.count()).select_from(models.Position)) or 0,
        "gaps": session.scalar(select(func.count()).select_from(models.Gap)) or 0,
        "open_alerts": session.scalar(
            select(func.count()).select_from(models.Alert).where(models.Alert.state == "open")
        )
        or 0,
        "active_movements": session.scalar(
            select(func.count()).select_from(models.Movement).where(models.Movement.state.in_(ACTIVE))
        )
        or 0,
    }
