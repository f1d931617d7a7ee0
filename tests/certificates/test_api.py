"""The certificates API mounted on the test app: issue, revoke, read with the ledger's proof, and the
public side (DID document, status list, verification API and page)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from customhouse.app import create_app
from customhouse.certificates import credentials as vc
from customhouse.config import Settings
from customhouse.ledger import merkle
from tests.certificates.conftest import export_document
from tests.conftest import bearer

URL = "/api/v1/certificates"


@pytest.fixture
def app(connection: Connection, sessions: sessionmaker[Session], settings: Settings) -> FastAPI:
    return create_app(settings, engine=connection.engine, sessions=sessions, run_dispatcher=False)


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def publish(app: FastAPI) -> None:
    while app.state.dispatcher.deliver_pending():
        pass
    app.state.ledger_sequencer.run_once()


@pytest.fixture
def released(web: TestClient, tokens: dict[str, str]) -> str:
    lodged = web.post("/api/v1/declarations", json=export_document(), headers=bearer(tokens["trader"]))
    assert lodged.status_code == 201, lodged.text
    assert lodged.json()["state"] == "released"
    return str(lodged.json()["id"])


def issue(web: TestClient, tokens: dict[str, str], declaration_id: str) -> dict:
    issued = web.post(URL, json={"declaration_id": declaration_id}, headers=bearer(tokens["officer"]))
    assert issued.status_code == 201, issued.text
    return dict(issued.json())


def check(web: TestClient, token: str) -> dict:
    answer = web.post(f"{URL}/verify", content=token, headers={"Content-Type": "application/vc+jwt"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_issue_verify_revoke_end_to_end(web, tokens, released):
    certificate = issue(web, tokens, released)
    assert check(web, certificate["token"])["status"] == "valid"
    assert web.post(f"{URL}/verify", json={"token": certificate["token"]}).json()["status"] == "valid"
    head, payload, signature = certificate["token"].split(".")
    body = json.loads(vc.unb64url(payload))
    body["credentialSubject"]["goods"][0]["quantity"] = "1000"
    altered = check(web, f"{head}.{vc.b64url(vc.canonical_json(body))}.{signature}")
    assert altered["status"] == "altered" and "signature" in altered["reason"]
    refused = web.post(
        f"{URL}/{certificate['id']}/revoke", json={"reason": "x"}, headers=bearer(tokens["trader"])
    )
    assert refused.status_code == 403
    revoked = web.post(
        f"{URL}/{certificate['id']}/revoke",
        json={"reason": "wrong origin"},
        headers=bearer(tokens["supervisor"]),
    )
    assert revoked.status_code == 200, revoked.text
    answer = check(web, certificate["token"])
    assert answer["status"] == "revoked" and str(certificate["status_index"]) in answer["reason"]


def test_the_public_side_needs_no_login(web, tokens, released):
    certificate = issue(web, tokens, released)
    did = web.get("/.well-known/did.json")
    assert did.status_code == 200 and did.headers["content-type"] == "application/did+json"
    keys = vc.keys_from_json(did.json())
    status = web.get("/credentials/status/1")
    assert status.headers["content-type"] == "application/vc+jwt"
    now = vc.parse_time(certificate["valid_from"])
    later = now + timedelta(minutes=5)
    listed = vc.read_status_list(status.text, public_keys=keys, now=later)
    verdict = vc.verify(certificate["token"], public_keys=keys, status_list=listed, now=later)
    assert verdict.status is vc.Status.VALID  # offline, from what the server publishes
    page = web.get("/verify")
    assert page.status_code == 200 and "<form" in page.text
    answered = web.post("/verify", data={"token": certificate["token"]})
    assert answered.status_code == 200 and "VALID" in answered.text
    forged = web.post("/verify", data={"token": certificate["token"][:-3] + "AAA"})
    assert "ALTERED" in forged.text
    assert "<script>" not in web.post("/verify", data={"token": "<script>alert(1)</script>"}).text


def test_read_with_the_ledgers_inclusion_proof(app, web, tokens, released):
    certificate = issue(web, tokens, released)
    before = web.get(f"{URL}/{certificate['id']}?proof=true", headers=bearer(tokens["officer"])).json()
    assert before["inclusion"]["proofs"] == []
    publish(app)
    read = web.get(f"{URL}/{certificate['id']}?proof=true", headers=bearer(tokens["trader"]))
    assert read.status_code == 200, read.text  # the exporter sees its certificate
    inclusion = read.json()["inclusion"]
    (proof,) = inclusion["proofs"]
    assert proof["type"] == "certificate.issued"
    assert merkle.leaf_hash(proof["entry"].encode()).hex() == proof["leaf_hash"]
    merkle.verify_inclusion(
        index=proof["index"],
        size=inclusion["tree_size"],
        leaf=bytes.fromhex(proof["leaf_hash"]),
        proof=[bytes.fromhex(step) for step in proof["proof"]],
        root=bytes.fromhex(inclusion["root_hash"]),
    )
    assert inclusion["checkpoint"].splitlines()[1] == str(inclusion["tree_size"])
    hidden = web.get(f"{URL}/{certificate['id']}", headers=bearer(tokens["other_trader"]))
    assert hidden.status_code == 404


def test_a_generic_permit_and_bad_requests(web, tokens):
    permit = web.post(
        URL,
        json={"kind": "Permit", "subject": {"id": "urn:permit:7", "goods": "explosives"}},
        headers=bearer(tokens["supervisor"]),
    )
    assert permit.status_code == 201, permit.text
    assert check(web, permit.json()["token"])["status"] == "valid"
    wrong = web.post(URL, json={"kind": "Passport", "subject": {}}, headers=bearer(tokens["supervisor"]))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["pointer"] == "/kind"
    both = web.post(
        URL,
        json={"kind": "Permit", "declaration_id": "00000000-0000-4000-8000-000000000000"},
        headers=bearer(tokens["supervisor"]),
    )
    assert both.status_code == 422
    assert web.post(URL, json={"kind": "Permit", "subject": {}}).status_code == 401
    assert web.post(f"{URL}/verify", content="{not json").status_code == 400
