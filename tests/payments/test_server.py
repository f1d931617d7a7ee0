"""The production wiring on a real server (SQLite file, uvicorn on a free port): the demo gateway made
from settings calls the server's own webhook over a socket, and the event dispatcher releases the
security of the paid assessment."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import uvicorn

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.payments import api, receipts
from tests import factories
from tests.conftest import bearer
from tests.factories import TRADER
from tests.helpers import free_port
from tests.payments.helpers import DECLARATION


def test_pay_through_the_demo_gateway_on_a_running_server(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'server.db'}"
    engine = make_engine(database)
    upgrade(engine)
    with writing(make_session_factory(engine)) as session:
        tokens = factories.world(session)
    port = free_port()
    settings = Settings(database_url=database, var_dir=tmp_path / "var", port=port)
    app = create_app(settings)
    api.install(app, settings)
    assert not (tmp_path / "var").exists()  # key files are made at first use, not when the app is built
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            trader, supervisor = bearer(tokens["trader"]), bearer(tokens["supervisor"])
            guarantee = http.post(
                "/api/v1/payments/guarantees",
                json={"party_id": TRADER, "kind": "deferment", "limit": "200000", "currency": "KRW"},
                headers=supervisor | {"Idempotency-Key": "g"},
            ).json()
            secured = http.post(
                f"/api/v1/payments/guarantees/{guarantee['id']}/securities",
                json={
                    "declaration_id": str(DECLARATION),
                    "assessment_version": 1,
                    "amount": "125000",
                    "currency": "KRW",
                },
                headers=trader | {"Idempotency-Key": "s"},
            )
            assert secured.status_code == 201, secured.text
            order = http.post(
                "/api/v1/payments/orders",
                json={
                    "declaration_id": str(DECLARATION),
                    "assessment_version": 1,
                    "party_id": TRADER,
                    "amount": "125000",
                    "currency": "KRW",
                },
                headers=trader | {"Idempotency-Key": "o"},
            ).json()
            payment = http.post(
                f"/api/v1/payments/orders/{order['id']}/payment", headers=trader | {"Idempotency-Key": "p"}
            ).json()
            assert "Pay" in http.get(payment["redirect_url"]).text
            assert "Paid." in http.post(payment["redirect_url"], data={"payer": "Kim", "action": "pay"}).text
            assert (
                http.get(f"/api/v1/payments/orders/{order['id']}", headers=trader).json()["state"] == "paid"
            )
            envelope = http.get(f"/api/v1/payments/orders/{order['id']}/receipt", headers=trader).json()
            key = http.get("/api/v1/payments/receipt-key").json()
            assert receipts.verify(envelope, receipts.unb64(key["public_key"]))
            balance = ""
            for _ in range(100):  # the dispatcher thread delivers payment.succeeded
                balance = http.get(f"/api/v1/payments/guarantees/{guarantee['id']}", headers=trader).json()[
                    "balance"
                ]
                if balance == "200000":
                    break
                time.sleep(0.05)
            assert balance == "200000"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    assert (tmp_path / "var" / "keys" / "demo-gateway-webhook.secret").stat().st_mode & 0o777 == 0o600
