"""What crosses the boundary of the tracking domain: devices, movements, positions, alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from customhouse.tracking.telemetry import Identifier


class DeviceKind(StrEnum):
    E_SEAL = "e-seal"
    TRACKER = "tracker"
    GATEWAY = "gateway"


class MovementState(StrEnum):
    OPENED = "opened"  # seals affixed at departure, no report yet
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    DISCHARGED = "discharged"  # the guarantee released
    INCIDENT = "incident"  # a seal was opened or tampered with


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewDevice(_In):
    id: Identifier
    kind: DeviceKind
    # Ed25519 public key: PEM (SubjectPublicKeyInfo) or a JWK {"kty": "OKP", "crv": "Ed25519", "x": ...};
    # may be left out for a device whose gateway signs its reports.
    public_key: str | dict[str, Any] | None = None
    gateway: Identifier | None = None


class Device(BaseModel):
    id: str
    kind: DeviceKind
    public_key: str | None
    gateway: str | None
    registered_at: datetime
    registered_by: str
    movement_id: uuid.UUID | None = None
    last_seq: int = 0
    last_time: datetime | None = None
    gaps: int = 0
    # the last birth or death (MQTT Last Will) seen on the status topic of the device, or of its gateway
    # when it has none of its own; None when neither ever announced itself (e.g. it reports over HTTP)
    connection: Literal["online", "offline"] | None = None
    connection_of: str | None = None
    connection_since: datetime | None = None


class NewMovement(_In):
    declaration_id: uuid.UUID
    corridor: Annotated[str, Field(min_length=1, max_length=32)]
    time_limit: AwareDatetime
    seals: Annotated[list[Identifier], Field(min_length=1, max_length=50)]
    guarantee_reference: Annotated[str, Field(min_length=1, max_length=64)]


class Movement(BaseModel):
    id: uuid.UUID
    declaration_id: uuid.UUID
    mrn: str
    office_of_departure: str
    office_of_destination: str
    corridor: str
    time_limit: datetime
    seals: list[str]
    guarantee_reference: str | None
    state: MovementState
    opened_at: datetime
    opened_by: str
    in_transit_at: datetime | None
    arrived_at: datetime | None
    incident_at: datetime | None
    discharged_at: datetime | None
    discharged_by: str | None
    guarantee_released: bool | None


class Position(BaseModel):
    device: str
    seq: int
    time: datetime
    lat: float
    lon: float
    speed: float
    seal: str
    door: str
    battery: float
    temperature: float


class Alert(BaseModel):
    id: uuid.UUID
    kind: str
    movement_id: uuid.UUID | None
    device: str | None
    state: AlertState
    raised_at: datetime
    evidence: dict[str, Any]
    note: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None


class MovementDetail(Movement):
    track: list[Position]
    alerts: list[Alert]


class AlertAction(_In):
    note: Annotated[str, Field(min_length=1, max_length=4000)]


class Discharge(_In):
    note: Annotated[str | None, Field(max_length=4000)] = None


class Ingested(BaseModel):
    """The answer to a message posted over HTTP, one per message."""

    signer: str | None
    accepted: int
    late: int
    replayed: int
    gaps: int
    alerts: list[str]
    reason: str | None
    detail: str | None
