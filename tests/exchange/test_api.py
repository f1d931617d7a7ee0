"""The exchange API on both databases: registry and agreements (supervisors only, problems naming the
field), the inbox's checks and exactly-once processing, pre-arrival matching with mismatches as risk
signals, AEO lists, sending with the agreement's cut and its disclosure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.events import Event
from customhouse.exchange import service, signing
from customhouse.exchange.models import OutgoingMessage
from customhouse.exchange.service import recognised_aeo
from customhouse.keys import new_ed25519_pem
from customhouse.risk import service as risk
from tests import factories
from tests.conftest import bearer
from tests.exchange.conftest import PARTNER, envelope, post

URL = "/api/v1/exchange"


def deliver(client: TestClient) -> None:
    while client.app.state.dispatcher.deliver_pending():  # type: ignore[attr-defined]
        pass


def export_data(**changes: Any) -> dict[str, Any]:
    data = {
        "mrn": "26CN0001234567890",
        "exporter": {"id": "CN5000000001", "name": "Shenzhen Bright Electronics", "country": "CN"},
        "containers": ["CSQU3054383"],
        "transport_documents": ["BL-123"],
        "invoice_currency": "USD",
        "invoice_total": "1500.00",
        "goods_items": [
            {"hs_code": "851713", "origin": "CN", "quantity": "100", "unit": "C62"},
            {"hs_code": "610910", "origin": "CN", "quantity": "500", "unit": "C62"},
        ],
    }
    data.update(changes)
    return data


def test_only_supervisors_manage_partners_and_bad_input_names_the_field(
    client: TestClient, tokens: dict[str, str]
):
    body = {"id": "JP-CUSTOMS", "name": "Japan Customs", "kind": "customs", "country": "JP"}
    assert client.post(f"{URL}/partners", json=body, headers=bearer(tokens["trader"])).status_code == 403
    refused = client.post(f"{URL}/partners", json=body, headers=bearer(tokens["supervisor"]))
    assert refused.status_code == 422
    assert {e["pointer"] for e in refused.json()["errors"]} == {"/public_jwk", "/base_url"}
    bad_key = client.post(
        f"{URL}/partners",
        json={**body, "base_url": "http://jp.example", "public_jwk": {"kty": "RSA"}},
        headers=bearer(tokens["supervisor"]),
    )
    assert bad_key.status_code == 422 and bad_key.json()["errors"][0]["pointer"] == "/public_jwk"
    agency = client.post(
        f"{URL}/partners",
        json={"id": "KR-NTS", "name": "National Tax Service", "kind": "tax", "country": "KR"},
        headers=bearer(tokens["supervisor"]),
    )
    assert agency.status_code == 201, agency.text
    agreement = client.post(
        f"{URL}/agreements",
        json={
            "partner_id": "KR-NTS",
            "message_types": ["vat-feed", "export-declaration"],
            "fields": ["/mrn", "a..b"],
            "purpose": "VAT",
            "valid_until": "2020-01-01T00:00:00Z",
        },
        headers=bearer(tokens["supervisor"]),
    )
    assert agreement.status_code == 422
    assert {e["pointer"] for e in agreement.json()["errors"]} == {
        "/message_types/1",
        "/fields/1",
        "/valid_until",
    }
    listed = client.get(f"{URL}/partners", headers=bearer(tokens["auditor"])).json()
    assert [p["id"] for p in listed] == ["KR-NTS"]
    assert client.get(f"{URL}/agreements", headers=bearer(tokens["supervisor"])).json() == []


def test_inbox_processes_once_and_matches_the_import(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey, session: Session
):
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    assert lodged.status_code == 201, lodged.text
    deliver(client)  # the lodgement's events, as the dispatcher delivers them: the references indexed
    token = signing.sign(
        envelope(agreement, export_data(invoice_total="1800.00")), key=partner_key, sender=PARTNER
    )
    first = post(client, token)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "processed"
    assert first.json()["outcome"]["declaration_id"] == lodged.json()["id"]
    again = post(client, token)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["outcome"] == first.json()["outcome"]
    arrived = client.get(f"{URL}/pre-arrivals", headers=bearer(tokens["supervisor"])).json()
    assert len(arrived) == 1 and arrived[0]["matched_by"] == "exporter+container+transport_document"
    signals = client.get(f"{URL}/mismatches", headers=bearer(tokens["supervisor"])).json()
    assert [(s["field"], s["exported"], s["declared"]) for s in signals] == [
        ("value", "1800 USD", "1500 USD")
    ]
    assert client.get(f"{URL}/mismatches", headers=bearer(tokens["trader"])).status_code == 403
    now = datetime.now(UTC)
    (warning,) = [  # a risk signal among the early warnings
        w
        for w in risk.warnings(session, since=now - timedelta(days=1), until=now + timedelta(minutes=1))
        if w.kind == "partner_mismatch"
    ]
    assert warning.declarations == [lodged.json()["id"]] and warning.evidence["exported"] == "1800 USD"
    found = session.scalars(select(Event).where(Event.type == "exchange.mismatch_found")).all()
    assert (
        len(found) == 1 and found[0].aggregate_id == lodged.json()["id"] and found[0].data["field"] == "value"
    )


def test_import_lodged_after_the_pre_arrival_data_is_matched(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey
):
    data = export_data(goods_items=[{"hs_code": "851713", "origin": "VN", "quantity": "100", "unit": "C62"}])
    assert (
        post(client, signing.sign(envelope(agreement, data), key=partner_key, sender=PARTNER)).status_code
        == 200
    )
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    assert lodged.status_code == 201
    deliver(client)
    arrived = client.get(f"{URL}/pre-arrivals?matched=true", headers=bearer(tokens["supervisor"])).json()
    assert [item["declaration_id"] for item in arrived] == [lodged.json()["id"]]
    signals = client.get(f"{URL}/mismatches", headers=bearer(tokens["auditor"])).json()
    assert sorted((s["field"], s["pointer"]) for s in signals) == [
        ("origin", "/goods_items/0/origin"),
        ("quantity", "/goods_items/1/quantity"),
    ]


def test_inbox_refuses_what_the_agreement_or_the_registry_does_not_allow(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey
):
    def refused(document: dict[str, Any], key: OKPKey = partner_key, sender: str = PARTNER) -> dict[str, Any]:
        answer = post(client, signing.sign(document, key=key, sender=sender))
        assert answer.status_code in (401, 403, 422), answer.text
        return {
            "status": answer.status_code,
            "at": [e.get("pointer") or e.get("parameter") for e in answer.json()["errors"]],
        }

    price = export_data(goods_items=[{"hs_code": "851713", "price": "1.00"}])
    assert refused(envelope(agreement, price)) == {"status": 403, "at": ["/payload/goods_items/0/price"]}
    assert refused(envelope(agreement, {"mrn": "X"}, type="origin-verification-request")) == {
        "status": 403,
        "at": ["/type"],
    }
    assert refused(envelope(agreement, {"mrn": "X"}, receiver="JP")) == {"status": 422, "at": ["/receiver"]}
    other = "6f1f3c52-4a55-4a39-9d5e-0d2a7f0d6b11"
    assert refused(envelope(other, {"mrn": "X"})) == {"status": 403, "at": ["/agreement_id"]}
    assert refused(envelope(agreement, {"mrn": "X"}), sender="XX-UNKNOWN") == {"status": 403, "at": ["kid"]}
    stranger = signing.load_key(new_ed25519_pem())
    assert refused(envelope(agreement, {"mrn": "X"}), key=stranger) == {"status": 401, "at": ["signature"]}
    assert refused({**envelope(agreement, {"mrn": "X"}), "message_id": "nope"}) == {
        "status": 422,
        "at": ["/message_id"],
    }
    assert post(client, "not a jws").status_code == 400
    assert client.get(f"{URL}/pre-arrivals", headers=bearer(tokens["supervisor"])).json() == []


def test_aeo_list_is_recognised_and_control_results_are_kept(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey, session: Session
):
    listed = envelope(agreement, {"operators": ["CN5000000001", "CN5000000002"]}, type="aeo-list")
    assert post(client, signing.sign(listed, key=partner_key, sender=PARTNER)).json()["outcome"] == {
        "operators": 2
    }
    assert recognised_aeo(session) == frozenset({"CN5000000001", "CN5000000002"})
    assert {"CN5000000001", "CN5000000002"} <= risk.aeo(session)  # the lanes weigh them as AEOs
    result = envelope(agreement, {"mrn_reference": "26KR1", "outcome": "irregularity"}, type="control-result")
    assert post(client, signing.sign(result, key=partner_key, sender=PARTNER)).status_code == 200
    kept = client.get(f"{URL}/incoming?type=control-result", headers=bearer(tokens["officer"])).json()
    assert [item["payload"]["outcome"] for item in kept] == ["irregularity"]


def test_sending_cuts_to_the_agreement_and_records_the_disclosure(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey
):
    exported = client.post(
        "/api/v1/declarations", json=factories.export_document(), headers=bearer(tokens["trader"])
    )
    assert exported.json()["state"] == "released"
    asked = {"type": "export-declaration", "declaration_id": exported.json()["id"]}
    assert client.post(f"{URL}/messages", json=asked, headers=bearer(tokens["trader"])).status_code == 403
    sent = client.post(f"{URL}/messages", json=asked, headers=bearer(tokens["officer"]))
    assert sent.status_code == 202, sent.text
    assert sent.json()["partner_id"] == PARTNER and sent.json()["state"] == "pending"
    assert "/goods_items/0/price" in sent.json()["answer"]["removed"]
    disclosed = client.get(f"{URL}/disclosures", headers=bearer(tokens["supervisor"])).json()
    assert (
        disclosed[0]["message_id"] == sent.json()["message_id"]
        and disclosed[0]["subject"] == exported.json()["id"]
    )
    assert (
        "/goods_items/*/quantity" in disclosed[0]["fields"]
        and "/goods_items/*/price" not in disclosed[0]["fields"]
    )
    status = client.get(f"{URL}/messages/{sent.json()['message_id']}", headers=bearer(tokens["supervisor"]))
    assert status.json()["state"] == "pending" and status.json()["direction"] == "out"
    imported = client.post(
        "/api/v1/declarations", json=factories.declaration(lrn="LRN-X"), headers=bearer(tokens["trader"])
    )
    wrong = client.post(
        f"{URL}/messages",
        json={"type": "export-declaration", "declaration_id": imported.json()["id"]},
        headers=bearer(tokens["officer"]),
    )
    assert wrong.status_code == 409


def test_origin_verification_request_is_verified_and_answered(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey
):
    supervisor = bearer(tokens["supervisor"])
    origin = client.post(
        f"{URL}/agreements",
        json={
            "partner_id": PARTNER,
            "message_types": ["origin-verification-request", "origin-verification-answer"],
            "fields": ["/token", "/question", "/status", "/reason"],
            "purpose": "origin verification",
            "valid_until": "2099-01-01T00:00:00Z",
        },
        headers=supervisor,
    )
    assert origin.status_code == 201, origin.text
    exported = client.post(
        "/api/v1/declarations", json=factories.export_document(), headers=bearer(tokens["trader"])
    )
    certificate = client.post(
        "/api/v1/certificates",
        json={"declaration_id": exported.json()["id"]},
        headers=bearer(tokens["officer"]),
    )
    assert certificate.status_code == 201, certificate.text
    asked = envelope(
        origin.json()["id"],
        {"token": certificate.json()["token"], "question": "Q-1"},
        type="origin-verification-request",
    )
    answer = post(client, signing.sign(asked, key=partner_key, sender=PARTNER))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"]["status"] == "valid"
    reply = client.get(f"{URL}/messages/{answer.json()['outcome']['answer_id']}", headers=supervisor).json()
    assert reply["type"] == "origin-verification-answer" and reply["partner_id"] == PARTNER
    forged = {
        **asked,
        "message_id": "0b5a6f8e-7a39-4a53-8d0e-1b3c1c2e9f10",
        "payload": {"token": certificate.json()["token"][:-4] + "AAAA", "question": "Q-2"},
    }
    refused = post(client, signing.sign(forged, key=partner_key, sender=PARTNER)).json()["outcome"]
    assert refused["status"] != "valid"


def test_a_control_result_is_shared_under_the_agreement(
    client: TestClient, tokens: dict[str, str], agreement: str, partner_key: OKPKey, session: Session
):
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    declaration_id = lodged.json()["id"]
    asked = {"type": "control-result", "partner_id": PARTNER, "declaration_id": declaration_id}
    assert client.post(f"{URL}/messages", json=asked, headers=bearer(tokens["officer"])).status_code == 409
    controlled = client.post(
        f"/api/v1/declarations/{declaration_id}/control",
        json={"outcome": "irregularity", "irregularity": "undervaluation", "note": "invoice altered"},
        headers={**bearer(tokens["officer"]), "If-Match": lodged.headers["ETag"]},
    )
    assert controlled.status_code == 200, controlled.text
    sent = client.post(f"{URL}/messages", json=asked, headers=bearer(tokens["officer"]))
    assert sent.status_code == 202, sent.text
    assert {"/irregularity", "/note"} <= set(sent.json()["answer"]["removed"])
    token = session.get(OutgoingMessage, uuid.UUID(sent.json()["message_id"])).token  # type: ignore[union-attr]
    signed = signing.verify(token, client.get(f"{URL}/key").json()["jwk"])
    assert signed["payload"] == {
        "mrn": lodged.json()["mrn"],
        "outcome": "irregularity",
        "containers": ["CSQU3054383"],
    }
    (disclosed,) = client.get(f"{URL}/disclosures", headers=bearer(tokens["auditor"])).json()
    assert (
        disclosed["fields"] == ["/containers", "/mrn", "/outcome"] and disclosed["subject"] == declaration_id
    )


def test_pre_arrival_data_is_matched_through_the_reference_index_without_reading_other_imports(
    client: TestClient,
    tokens: dict[str, str],
    agreement: str,
    partner_key: OKPKey,
    monkeypatch: pytest.MonkeyPatch,
):
    trader = bearer(tokens["trader"])
    for n in range(5):  # imports that name nothing the export data names
        other = factories.declaration(
            lrn=f"OTHER-{n}",
            containers=[],
            documents=[{"type": "705", "reference": f"BL-OTHER-{n}", "issued_on": "2026-01-12"}],
        )
        assert client.post("/api/v1/declarations", json=other, headers=trader).status_code == 201
    naming_mrn = factories.declaration(  # names the export's MRN; shares no container or B/L
        lrn="NAMES-MRN",
        containers=[],
        documents=[
            {"type": "705", "reference": "BL-555", "issued_on": "2026-01-12"},
            {"type": "271", "reference": "26CN0001234567890", "issued_on": "2026-01-12"},
        ],
    )
    explicit = client.post("/api/v1/declarations", json=naming_mrn, headers=trader)
    shared_container = factories.declaration(  # the export's container, another seller and B/L
        lrn="SHARES-CONTAINER",
        seller={"id": "CN5999999999", "name": "Another Seller", "country": "CN"},
        documents=[{"type": "705", "reference": "BL-888", "issued_on": "2026-01-12"}],
    )
    lone = client.post("/api/v1/declarations", json=shared_container, headers=trader)
    assert explicit.status_code == 201 and lone.status_code == 201
    deliver(client)

    read: list[str] = []
    real_get = service.declarations.get

    def spying_get(session: Session, *, declaration_id: uuid.UUID, by: Any) -> Any:
        read.append(str(declaration_id))
        return real_get(session, declaration_id=declaration_id, by=by)

    def no_listing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pre-arrival matching listed the declarations")

    monkeypatch.setattr(service.declarations, "get", spying_get)
    monkeypatch.setattr(service.declarations, "list_declarations", no_listing)

    by_reference = export_data(containers=[], transport_documents=["BL-NONE"])
    answer = post(client, signing.sign(envelope(agreement, by_reference), key=partner_key, sender=PARTNER))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"]["declaration_id"] == explicit.json()["id"]
    assert read == [explicit.json()["id"]]  # the five others were not read

    read.clear()
    container_only = export_data(
        mrn="26CN0009999999999", exporter={"id": "CN5000000002"}, transport_documents=[]
    )
    answer = post(client, signing.sign(envelope(agreement, container_only), key=partner_key, sender=PARTNER))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"]["declaration_id"] is None  # one container alone does not match
    assert read == [lone.json()["id"]]
    arrived = client.get(f"{URL}/pre-arrivals?matched=true", headers=bearer(tokens["supervisor"])).json()
    assert [(item["declaration_id"], item["matched_by"]) for item in arrived] == [
        (explicit.json()["id"], "reference")
    ]
