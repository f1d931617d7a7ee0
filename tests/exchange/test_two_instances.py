"""Must hold: two instances (country A = KR, country B = CN), each with its own SQLite file, key and
uvicorn server on loopback, exchange over HTTP: A's released export reaches B as pre-arrival data and
is matched to B's import (a quantity mismatch becomes a risk signal); B refuses a message with a bad
signature, a replayed message (answered as a duplicate, processed once) and a field outside the
agreement."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from customhouse.app import create_app
from customhouse.auth.service import Role, create_user
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade
from customhouse.exchange import signing
from customhouse.exchange.models import IncomingMessage, OutgoingMessage
from customhouse.exchange.service import Identity
from customhouse.keys import new_ed25519_pem
from customhouse.parties import service as parties
from tests import factories

AGREEMENT = str(uuid.uuid4())
ALLOWED = [
    "/mrn",
    "/released_at",
    "/exporter",
    "/containers",
    "/transport_documents",
    "/invoice_currency",
    "/invoice_total",
    "/goods_items/*/hs_code",
    "/goods_items/*/origin",
    "/goods_items/*/quantity",
    "/goods_items/*/unit",
]
IMPORTER = "CN7000000001"


@dataclass
class Instance:
    settings: Settings
    url: str
    sessions: Any
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str = "supervisor", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(name: str, country: str, currency: str, seed: Callable[[Any], dict[str, str]]) -> Instance:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / name}.db",
            country=country,
            national_currency=currency,
            var_dir=tmp_path / name,
            rate_look_back_days=3660,
            exchange_id=f"{country}-CUSTOMS",
        )
        engine = make_engine(settings.database_url)
        upgrade(engine)
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            tokens = seed(session)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return Instance(settings, f"http://127.0.0.1:{port}", sessions, tokens)

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def _seed_b(session: Any) -> dict[str, str]:
    factories.demo_tariff(session)
    parties.register(session, id=IMPORTER, name="Shanghai Importers", country="CN")
    return {
        "trader": create_user(session, name="trader", roles=[Role.TRADER], party_id=IMPORTER),
        "supervisor": create_user(session, name="supervisor", roles=[Role.SUPERVISOR]),
    }


def _import_in_b() -> dict[str, Any]:
    importer = {"id": IMPORTER, "name": "Shanghai Importers", "country": "CN"}
    document = factories.declaration(
        lrn="CN-IMP-1",
        declarant=importer,
        importer=importer,
        seller={"id": factories.TRADER, "name": "Hanbit Trading Co.", "country": "KR"},
        office_of_lodgement="CN000100",
        office_of_entry="CN000100",
        country_of_dispatch="KR",
        country_of_destination="CN",
    )
    for item in document["goods_items"]:
        item["origin"] = "KR"
    document["goods_items"][0]["quantity"] = "90"  # A exported 100: a quantity mismatch
    return document


def _register(side: Instance, other: Instance, other_id: str, country: str) -> None:
    key = httpx.get(other.url + "/api/v1/exchange/key", timeout=10).json()
    assert key["id"] == other_id
    added = side.call(
        "POST",
        "/api/v1/exchange/partners",
        json={
            "id": other_id,
            "name": f"Customs of {country}",
            "kind": "customs",
            "country": country,
            "base_url": other.url,
            "public_jwk": key["jwk"],
        },
    )
    assert added.status_code == 201, added.text
    agreed = side.call(
        "POST",
        "/api/v1/exchange/agreements",
        json={
            "id": AGREEMENT,
            "partner_id": other_id,
            "message_types": ["export-declaration", "aeo-list"],
            "fields": ALLOWED,
            "purpose": "pre-arrival risk management (KR-CN CMAA art. 4)",
            "valid_until": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
        },
    )
    assert agreed.status_code == 201, agreed.text


def _wait(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    envelope = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    envelope["payload"]["goods_items"][0]["quantity"] = "90"
    changed = base64.urlsafe_b64encode(signing.canonical_json(envelope)).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


def _post(instance: Instance, token: str) -> httpx.Response:
    return httpx.post(
        instance.url + "/api/v1/exchange/inbox",
        content=token,
        headers={"Content-Type": signing.MEDIA_TYPE},
        timeout=10,
    )


def test_export_to_import_over_http(serve: Callable[..., Instance]) -> None:
    a = serve("a", "KR", "KRW", factories.world)
    b = serve("b", "CN", "CNY", _seed_b)
    _register(a, b, "CN-CUSTOMS", "CN")
    _register(b, a, "KR-CUSTOMS", "KR")

    imported = b.call("POST", "/api/v1/declarations", role="trader", json=_import_in_b())
    assert imported.status_code == 201, imported.text
    exported = a.call("POST", "/api/v1/declarations", role="trader", json=factories.export_document())
    assert exported.status_code == 201, exported.text
    assert exported.json()["state"] == "released"
    export_mrn = exported.json()["mrn"]

    # A's dispatcher queues the export for CN, its courier delivers it, B matches it to the import
    sent = _wait(
        lambda: [m for m in a.call("GET", "/api/v1/exchange/messages").json() if m["state"] == "delivered"],
        "delivery",
    )
    assert sent[0]["type"] == "export-declaration" and sent[0]["partner_id"] == "CN-CUSTOMS"
    arrived = b.call("GET", "/api/v1/exchange/pre-arrivals").json()
    assert len(arrived) == 1 and arrived[0]["export_mrn"] == export_mrn
    assert arrived[0]["declaration_id"] == imported.json()["id"]
    assert arrived[0]["matched_by"] == "exporter+container+transport_document"
    assert "price" not in arrived[0]["data"]["goods_items"][0] and "buyer" not in arrived[0]["data"]
    signals = b.call("GET", "/api/v1/exchange/mismatches").json()
    assert [(s["field"], s["pointer"], s["declared"]) for s in signals] == [
        ("quantity", "/goods_items/0/quantity", "90 C62 of 851713")
    ]
    disclosed = a.call("GET", "/api/v1/exchange/disclosures").json()
    assert disclosed[0]["partner_id"] == "CN-CUSTOMS" and disclosed[0]["agreement_id"] == AGREEMENT
    assert (
        "/goods_items/*/quantity" in disclosed[0]["fields"]
        and "/goods_items/*/price" not in disclosed[0]["fields"]
    )
    assert disclosed[0]["message_id"] == sent[0]["message_id"]

    with a.sessions() as session:
        token = session.scalars(select(OutgoingMessage.token)).one()
    # replay: answered as a duplicate, processed once
    replay = _post(b, token)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert len(b.call("GET", "/api/v1/exchange/pre-arrivals").json()) == 1

    # bad signature: the content changed after signing, or signed by a key B does not know for KR
    for bad in (
        _tampered(token),
        signing.sign({"x": 1}, key=signing.load_key(new_ed25519_pem()), sender="KR-CUSTOMS"),
    ):
        refused = _post(b, bad)
        assert refused.status_code == 401, refused.text
        assert refused.json()["errors"][0]["parameter"] == "signature"

    # a field the agreement does not allow, signed with A's real key: refused, nothing stored
    identity = Identity.from_settings(a.settings)
    envelope = {
        "message_id": str(uuid.uuid4()),
        "type": "export-declaration",
        "sender": "KR-CUSTOMS",
        "receiver": "CN-CUSTOMS",
        "agreement_id": AGREEMENT,
        "created_at": datetime.now(UTC).isoformat(),
        "payload": {"mrn": "X", "goods_items": [{"hs_code": "851713", "price": "1000.00"}]},
    }
    outside = _post(b, signing.sign(envelope, key=identity.key, sender=identity.id))
    assert outside.status_code == 403, outside.text
    assert [error["pointer"] for error in outside.json()["errors"]] == ["/payload/goods_items/0/price"]
    with b.sessions() as session:
        assert len(session.scalars(select(IncomingMessage)).all()) == 1
