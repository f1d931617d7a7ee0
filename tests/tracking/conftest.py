"""A released transit declaration, a fleet of registered devices (an e-seal with its own key, a gateway
and an e-seal behind it), an open movement on the Northern Corridor, and helpers to write reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from joserfc.jwk import OKPKey
from sqlalchemy.orm import Session, sessionmaker

from customhouse.auth.service import Principal, Role
from customhouse.declarations import service as declarations
from customhouse.declarations.service import Policy
from customhouse.tracking import corridor as geometry
from customhouse.tracking import schemas, service, telemetry
from customhouse.tracking.processor import Processor
from tests import factories

CODE = "KE-UG-NC"
TRADER_P = Principal("trader", frozenset({Role.TRADER}), party_id=factories.TRADER)
OFFICER_P = Principal("officer", frozenset({Role.OFFICER}), offices=frozenset({"KR000040"}))
ELSEWHERE_P = Principal("officer9", frozenset({Role.OFFICER}), offices=frozenset({"KR000020"}))
SUPERVISOR_P = Principal("supervisor", frozenset({Role.SUPERVISOR}))
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def corridor() -> geometry.Corridor:
    return geometry.builtin()[CODE]


def report(device: str, seq: int, at: datetime, lon: float, lat: float, **overrides: Any) -> dict[str, Any]:
    body = {
        "device": device,
        "seq": seq,
        "time": at.isoformat().replace("+00:00", "Z"),
        "lat": lat,
        "lon": lon,
        "speed": 60.0,
        "seal": "closed",
        "door": "closed",
        "battery": 90.0,
        "temperature": 25.0,
    }
    body.update(overrides)
    return body


def along(metres: float) -> tuple[float, float]:
    """Lon, lat of the point this far along the demo route."""
    lon, lat = corridor().point_at(np.array([metres]))
    return float(lon[0]), float(lat[0])


@dataclass
class Fleet:
    seal_key: OKPKey
    gateway_key: OKPKey

    def own(self, *reports: dict[str, Any]) -> bytes:
        """Reports of SEAL-1 signed by itself."""
        return telemetry.sign(self.seal_key, "SEAL-1", list(reports))

    def via_gateway(self, *reports: dict[str, Any]) -> bytes:
        return telemetry.sign(self.gateway_key, "GW-1", list(reports))


def register_fleet(session: Session) -> Fleet:
    fleet = Fleet(telemetry.generate_key(), telemetry.generate_key())
    service.register_device(
        session,
        device=schemas.NewDevice(id="SEAL-1", kind="e-seal", public_key=telemetry.public_pem(fleet.seal_key)),
        by=OFFICER_P,
    )
    service.register_device(
        session,
        device=schemas.NewDevice(
            id="GW-1", kind="gateway", public_key=fleet.gateway_key.as_dict(private=False)
        ),
        by=OFFICER_P,
    )
    service.register_device(
        session, device=schemas.NewDevice(id="SEAL-2", kind="e-seal", gateway="GW-1"), by=OFFICER_P
    )
    return fleet


def lodge_transit(session: Session, policy: Policy, lrn: str = "TR-1") -> uuid.UUID:
    document = factories.declaration(
        kind="transit",
        lrn=lrn,
        importer=None,
        office_of_destination="KR000010",
        country_of_destination="CN",
    )
    outcome = declarations.lodge(session, document=document, by=TRADER_P, policy=policy)
    assert outcome.declaration is not None and outcome.declaration.state == "released"
    return outcome.declaration.id


@pytest.fixture
def world(session: Session) -> Session:
    factories.world(session)
    return session


@pytest.fixture
def fleet(world: Session) -> Fleet:
    return register_fleet(world)


@pytest.fixture
def transit(world: Session, policy: Policy) -> uuid.UUID:
    return lodge_transit(world, policy)


@pytest.fixture
def movement(world: Session, fleet: Fleet, transit: uuid.UUID) -> schemas.Movement:
    opened = service.open_movement(
        world,
        movement=schemas.NewMovement(
            declaration_id=transit,
            corridor=CODE,
            time_limit=datetime.now(UTC) + timedelta(days=30),
            seals=["SEAL-1", "SEAL-2"],
            guarantee_reference="GUA-PAPER-77",
        ),
        by=OFFICER_P,
    )
    world.commit()
    return opened


@pytest.fixture
def processor(sessions: sessionmaker[Session]) -> Processor:
    return Processor(sessions)
