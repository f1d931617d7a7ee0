"""Partner agencies on both databases: each request needs the agency's token and an agreement in force
for its channel, answers only the agreement's fields and is recorded as a disclosure; a bank sees a
trader's export history only while the trader's consent stands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from customhouse.exchange import signing
from tests import factories
from tests.conftest import bearer

URL = "/api/v1/exchange"


def agency(
    client: TestClient,
    tokens: dict[str, str],
    partner: str,
    kind: str,
    channel: str | None,
    fields: list[str],
) -> dict[str, str]:
    supervisor = bearer(tokens["supervisor"])
    body = {"id": partner, "name": partner, "kind": kind, "country": "KR"}
    assert client.post(f"{URL}/partners", json=body, headers=supervisor).status_code == 201
    if channel:
        agreed = client.post(
            f"{URL}/agreements",
            json={
                "partner_id": partner,
                "message_types": [channel],
                "fields": fields,
                "purpose": channel,
                "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            headers=supervisor,
        )
        assert agreed.status_code == 201, agreed.text
    issued = client.post(f"{URL}/partners/{partner}/tokens", headers=supervisor)
    assert issued.status_code == 201
    return bearer(issued.json()["token"])


def settle(client: TestClient) -> None:
    while client.app.state.dispatcher.deliver_pending():  # type: ignore[attr-defined]
        pass


def disclosures(client: TestClient, tokens: dict[str, str], partner: str) -> list[dict[str, Any]]:
    return list(
        client.get(f"{URL}/disclosures?partner_id={partner}", headers=bearer(tokens["auditor"])).json()
    )


def test_tax_authority_gets_released_imports_with_vat(client: TestClient, tokens: dict[str, str]):
    nts = agency(
        client, tokens, "KR-NTS", "tax", "vat-feed", ["/mrn", "/importer/id", "/customs_value", "/vat"]
    )
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    assert lodged.status_code == 201
    settle(client)
    declaration = client.get(
        f"/api/v1/declarations/{lodged.json()['id']}", headers=bearer(tokens["trader"])
    ).json()
    assert declaration["state"] == "released", declaration["state"]
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert client.get("/api/v1/agency/vat-feed", params={"since": since}).status_code == 401
    feed = client.get("/api/v1/agency/vat-feed", params={"since": since}, headers=nts)
    assert feed.status_code == 200, feed.text
    (record,) = feed.json()
    assessed = client.get(
        f"/api/v1/declarations/{lodged.json()['id']}/assessment", headers=bearer(tokens["trader"])
    ).json()
    assert record == {
        "mrn": declaration["mrn"],
        "importer": {"id": factories.TRADER},
        "customs_value": assessed["breakdown"]["customs_value"],
        "vat": assessed["breakdown"]["by_tax"]["vat"],
    }
    assert float(record["vat"]["amount"]) > 0
    (disclosed,) = disclosures(client, tokens, "KR-NTS")
    assert disclosed["channel"] == "vat-feed" and disclosed["fields"] == [
        "/customs_value",
        "/importer/id",
        "/mrn",
        "/vat",
    ]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert client.get("/api/v1/agency/vat-feed", params={"since": later}, headers=nts).json() == []


def test_agency_without_an_agreement_for_the_channel_is_refused(client: TestClient, tokens: dict[str, str]):
    port = agency(client, tokens, "KR-PORT", "transport", None, [])
    refused = client.get("/api/v1/agency/transport-status", params={"container": "CSQU3054383"}, headers=port)
    assert refused.status_code == 403
    assert disclosures(client, tokens, "KR-PORT") == []


def test_transport_agency_sees_arrival_status_by_container(client: TestClient, tokens: dict[str, str]):
    port = agency(
        client, tokens, "KR-PORT", "transport", "transport-status", ["/mrn", "/state", "/containers", "/kind"]
    )
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    found = client.get(
        "/api/v1/agency/transport-status", params={"container": "CSQU3054383"}, headers=port
    ).json()
    assert found == [
        {
            "mrn": lodged.json()["mrn"],
            "kind": "import",
            "state": lodged.json()["state"],
            "containers": ["CSQU3054383"],
        }
    ]
    assert (
        client.get(
            "/api/v1/agency/transport-status", params={"container": "MSCU1234566"}, headers=port
        ).json()
        == []
    )
    missing = client.get("/api/v1/agency/transport-status", headers=port)
    assert missing.status_code == 422 and {e["parameter"] for e in missing.json()["errors"]} == {
        "container",
        "means",
    }


def test_bank_verifies_export_history_only_with_the_traders_consent(
    client: TestClient, tokens: dict[str, str]
):
    bank = agency(
        client,
        tokens,
        "KR-BANK",
        "bank",
        "export-history",
        ["/party_id", "/exports", "/value_by_currency", "/issuer", "/issued_at"],
    )
    exported = client.post(
        "/api/v1/declarations", json=factories.export_document(), headers=bearer(tokens["trader"])
    )
    assert exported.json()["state"] == "released"
    url = f"/api/v1/agency/export-attestations/{factories.TRADER}"
    assert client.get(url, headers=bank).status_code == 403
    consent = client.post(
        f"{URL}/consents",
        json={"partner_id": "KR-BANK", "purpose": "export credit line"},
        headers=bearer(tokens["trader"]),
    )
    assert consent.status_code == 201, consent.text
    answer = client.get(url, headers=bank)
    assert answer.status_code == 200, answer.text
    assert answer.json()["attestation"]["exports"] == 1
    assert answer.json()["attestation"]["value_by_currency"] == {"USD": "1500.00"}
    assert "destinations" not in answer.json()["attestation"]
    signed = signing.verify(answer.json()["token"], answer.json()["verification_key"]["jwk"])
    assert signed["attestation"] == answer.json()["attestation"] and signed["audience"] == "KR-BANK"
    other = client.get(f"/api/v1/agency/export-attestations/{factories.OTHER_TRADER}", headers=bank)
    assert other.status_code == 403
    assert (
        client.post(
            f"{URL}/consents/{consent.json()['id']}/revoke", headers=bearer(tokens["other_trader"])
        ).status_code
        == 404
    )
    revoked = client.post(f"{URL}/consents/{consent.json()['id']}/revoke", headers=bearer(tokens["trader"]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get(url, headers=bank).status_code == 403
    assert [d["subject"] for d in disclosures(client, tokens, "KR-BANK")] == [factories.TRADER]
