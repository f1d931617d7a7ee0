"""A foreign administration (its own Ed25519 key) registered as partner of the test app, with an
agreement for export data and AEO lists; helpers to sign its messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from customhouse.exchange import signing
from customhouse.keys import new_ed25519_pem
from tests.conftest import bearer

PARTNER = "CN-GACC"
FIELDS = [
    "/mrn",
    "/exporter",
    "/containers",
    "/transport_documents",
    "/invoice_currency",
    "/invoice_total",
    "/goods_items/*/hs_code",
    "/goods_items/*/origin",
    "/goods_items/*/quantity",
    "/goods_items/*/unit",
    "/operators",
    "/mrn_reference",
    "/outcome",
]


@pytest.fixture
def partner_key() -> OKPKey:
    return signing.load_key(new_ed25519_pem())


@pytest.fixture
def agreement(client: TestClient, tokens: dict[str, str], partner_key: OKPKey) -> str:
    supervisor = bearer(tokens["supervisor"])
    added = client.post(
        "/api/v1/exchange/partners",
        json={
            "id": PARTNER,
            "name": "GACC",
            "kind": "customs",
            "country": "CN",
            "base_url": "http://cn.example",
            "public_jwk": signing.public_jwk(partner_key),
        },
        headers=supervisor,
    )
    assert added.status_code == 201, added.text
    agreed = client.post(
        "/api/v1/exchange/agreements",
        json={
            "partner_id": PARTNER,
            "message_types": ["export-declaration", "aeo-list", "control-result"],
            "fields": FIELDS,
            "purpose": "risk management",
            "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        headers=supervisor,
    )
    assert agreed.status_code == 201, agreed.text
    return str(agreed.json()["id"])


def envelope(
    agreement: str, payload: dict[str, Any], type: str = "export-declaration", **changes: Any
) -> dict[str, Any]:
    document = {
        "message_id": str(uuid.uuid4()),
        "type": type,
        "sender": PARTNER,
        "receiver": "KR",
        "agreement_id": agreement,
        "created_at": datetime.now(UTC).isoformat(),
        "payload": payload,
    }
    document.update(changes)
    return document


def post(client: TestClient, token: str) -> Any:
    return client.post("/api/v1/exchange/inbox", content=token, headers={"Content-Type": signing.MEDIA_TYPE})
