"""The log mounted on the test app (create_app plus `ledger.api.install`), with a log key and two
witness keys of the test's own; `publish` delivers the outbox and sequences what it queued."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.ledger import api, models, note, service  # noqa: F401  (models: the tables' metadata)
from tests.conftest import bearer
from tests.factories import declaration

ORIGIN = "customs.test/log"


@pytest.fixture
def signer() -> note.Signer:
    return note.generate_key(ORIGIN)


@pytest.fixture
def witness_signers() -> list[note.Signer]:
    return [note.generate_key(f"witness-{n}", key_type=note.KEY_COSIGNATURE) for n in (1, 2)]


@pytest.fixture
def ledger(signer: note.Signer, witness_signers: list[note.Signer]) -> service.Ledger:
    return service.Ledger(
        origin=ORIGIN, signer=signer, witnesses=[witness.verifier.vkey for witness in witness_signers]
    )


@pytest.fixture
def app(
    connection: Connection, sessions: sessionmaker[Session], settings: Settings, ledger: service.Ledger
) -> FastAPI:
    app = create_app(settings, engine=connection.engine, sessions=sessions, run_dispatcher=False)
    api.install(app, ledger)
    return app


@pytest.fixture
def log_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def deliver(app: FastAPI) -> None:
    """What the server's dispatcher thread does: deliver the outbox (assess, release, queue leaves)."""
    while app.state.dispatcher.deliver_pending():
        pass


def publish(app: FastAPI) -> list[service.Sequenced]:
    """What the server's two threads do: deliver the outbox, then sequence the queued leaves."""
    deliver(app)
    done: list[service.Sequenced] = app.state.ledger_sequencer.run_once()
    return done


def commitment(number: int, *, kind: str = "test.thing") -> service.Commitment:
    """A leaf of no document (the bench's and the crash test's kind)."""
    return service.Commitment(
        type=kind,
        issuer="tester",
        time=datetime(2026, 11, 28, 12, 0, 0, number % 1_000_000, tzinfo=UTC),
        subject_type="thing",
        subject_id=f"thing-{number}",
        version=None,
        salt=os.urandom(service.SALT_SIZE),
        document_hash=os.urandom(32),
    )


URL = "/api/v1/declarations"


def act(client, token, declaration_id, action, etag, body=None):
    response = client.post(
        f"{URL}/{declaration_id}/{action}", json=body, headers={**bearer(token), "If-Match": etag}
    )
    assert response.status_code == 200, response.text
    return response


def yellow_life(app, client, tokens) -> str:
    """Lodged without its transport document (yellow), documents requested, amended, controlled with
    a correction (a third version), assessed, released: the declaration's id."""
    document = declaration()
    document["documents"] = document["documents"][:1]
    lodged = client.post(URL, json=document, headers=bearer(tokens["trader"]))
    assert lodged.status_code == 201, lodged.text
    declaration_id = lodged.json()["id"]
    requested = act(
        client,
        tokens["officer"],
        declaration_id,
        "request-documents",
        lodged.headers["ETag"],
        {"documents": ["705"], "reason": "bill of lading missing"},
    )
    amended = client.put(
        f"{URL}/{declaration_id}",
        json=declaration(),
        headers={**bearer(tokens["trader"]), "If-Match": requested.headers["ETag"]},
    )
    assert amended.status_code == 200, amended.text
    control = {
        "outcome": "irregularity",
        "irregularity": "misclassification",
        "corrections": [{"pointer": "/goods_items/1/hs_code", "value": "610990"}],
    }
    controlled = act(client, tokens["officer"], declaration_id, "control", amended.headers["ETag"], control)
    deliver(app)  # assessed
    act(client, tokens["officer"], declaration_id, "release", controlled.headers["ETag"])
    return declaration_id
