"""The production wiring on a real server (SQLite file, uvicorn on a free port), as a trader uses it:
an import is accepted and assessed, its goods wait for payment, the trader pays through the demo
gateway (which calls the server's own webhook over a socket), and the event dispatcher releases the
goods; with a deferment account, the next import is released at once."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.payments import receipts
from tests import factories
from tests.conftest import bearer
from tests.factories import TRADER
from tests.helpers import free_port

DECLARATIONS = "/api/v1/declarations"


def _eventually(read: Any, wanted: Any) -> Any:
    """What `read()` returns once it equals `wanted` (the dispatcher thread works in the background)."""
    seen = None
    for _ in range(200):
        seen = read()
        if seen == wanted:
            break
        time.sleep(0.05)
    return seen


def test_goods_wait_for_payment_then_are_released_and_a_deferment_account_releases_at_once(tmp_path: Path):
    database = f"sqlite:///{tmp_path / 'server.db'}"
    engine = make_engine(database)
    upgrade(engine)
    with writing(make_session_factory(engine)) as session:
        tokens = factories.world(session, deferment=False)
    port = free_port()
    settings = Settings(database_url=database, var_dir=tmp_path / "var", port=port, rate_look_back_days=3660)
    app = create_app(settings)
    assert not (tmp_path / "var").exists()  # key files are made at first use, not when the app is built
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            trader, officer = bearer(tokens["trader"]), bearer(tokens["officer"])
            supervisor = bearer(tokens["supervisor"])
            lodged = http.post(DECLARATIONS, json=factories.declaration(), headers=trader)
            assert lodged.status_code == 201, lodged.text
            declaration = lodged.json()
            assert (declaration["lane"], declaration["state"]) == ("green", "accepted")  # not released yet
            url = f"{DECLARATIONS}/{declaration['id']}"
            found = _eventually(lambda: http.get(f"{url}/assessment", headers=trader).status_code, 200)
            assert found == 200  # the dispatcher assessed it in the background
            assessment = http.get(f"{url}/assessment", headers=trader).json()
            owed = Decimal(assessment["owed"])
            assert owed > 0 and owed == Decimal(assessment["total"]) and not assessment["settled"]

            early = http.post(f"{url}/release", headers=officer | {"If-Match": '"1"'})
            assert early.status_code == 409 and early.json()["type"].endswith("/not-settled")
            assert early.json()["order_id"] == assessment["order_id"]

            order_url = f"/api/v1/payments/orders/{assessment['order_id']}"
            order = http.get(order_url, headers=trader).json()
            assert Decimal(order["amount"]) == owed and order["party_id"] == TRADER
            payment = http.post(f"{order_url}/payment", headers=trader | {"Idempotency-Key": "p"}).json()
            assert "Pay" in http.get(payment["redirect_url"]).text
            assert "Paid." in http.post(payment["redirect_url"], data={"payer": "Kim", "action": "pay"}).text
            assert http.get(order_url, headers=trader).json()["state"] == "paid"
            state = _eventually(lambda: http.get(url, headers=trader).json()["state"], "released")
            assert state == "released"
            trail = http.get(f"{url}/audit", headers=trader).json()
            assert (trail[-1]["event"], trail[-1]["actor"]) == ("declaration.released", "customhouse")

            envelope = http.get(f"{order_url}/receipt", headers=trader).json()
            key = http.get("/api/v1/payments/receipt-key").json()
            assert receipts.verify(envelope, receipts.unb64(key["public_key"]))

            account = http.post(
                "/api/v1/payments/guarantees",
                json={"party_id": TRADER, "kind": "deferment", "limit": "50000000", "currency": "KRW"},
                headers=supervisor | {"Idempotency-Key": "g"},
            ).json()
            second = http.post(
                DECLARATIONS, json=factories.declaration(lrn="LRN-0002"), headers=trader
            ).json()
            state = _eventually(
                lambda: http.get(f"{DECLARATIONS}/{second['id']}", headers=trader).json()["state"], "released"
            )
            assert state == "released"  # assessed, and what it owes is secured on the deferment account
            secured = http.get(f"{DECLARATIONS}/{second['id']}/assessment", headers=trader).json()
            assert secured["settled"] and Decimal(secured["owed"]) == owed
            balance = http.get(f"/api/v1/payments/guarantees/{account['id']}", headers=trader).json()[
                "balance"
            ]
            assert Decimal(balance) == 50_000_000 - owed
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    assert (tmp_path / "var" / "keys" / "demo-gateway-webhook.secret").stat().st_mode & 0o777 == 0o600
