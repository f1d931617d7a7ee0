"""Copies of one message arriving at once (a retry racing the first delivery) are processed once, on
both databases with real commits: one answer "processed", the others "duplicate"."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy import Engine, func, select

from customhouse.app import create_app
from customhouse.auth.service import Principal, Role
from customhouse.config import Settings
from customhouse.db import make_session_factory, writing
from customhouse.exchange import service, signing
from customhouse.exchange.models import PreArrival
from customhouse.exchange.schemas import NewAgreement, NewPartner
from tests.exchange.conftest import FIELDS, PARTNER, envelope, post
from tests.exchange.test_api import export_data

SUPERVISOR = Principal("supervisor", frozenset({Role.SUPERVISOR}))


def test_racing_copies_are_processed_once(committing_engine: Engine, settings: Settings, partner_key: OKPKey):
    sessions = make_session_factory(committing_engine)
    with writing(sessions) as session:
        service.add_partner(
            session,
            partner=NewPartner.model_validate(
                {
                    "id": PARTNER,
                    "name": "GACC",
                    "kind": "customs",
                    "country": "CN",
                    "base_url": "http://cn.example",
                    "public_jwk": signing.public_jwk(partner_key),
                }
            ),
            by=SUPERVISOR,
        )
        agreement = service.add_agreement(
            session,
            agreement=NewAgreement(
                partner_id=PARTNER,
                message_types=["export-declaration"],
                fields=FIELDS,
                purpose="risk",
                valid_until=datetime.now(UTC) + timedelta(days=1),
            ),
            by=SUPERVISOR,
        ).id
    token = signing.sign(envelope(str(agreement), export_data()), key=partner_key, sender=PARTNER)
    app = create_app(settings, engine=committing_engine, sessions=sessions, run_dispatcher=False)
    with TestClient(app) as client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(client, token), range(8)))
    assert [answer.status_code for answer in answers] == [200] * 8
    assert sorted(answer.json()["status"] for answer in answers) == ["duplicate"] * 7 + ["processed"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PreArrival)) == 1
