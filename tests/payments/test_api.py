"""The payment flow end to end over HTTP: order, the demo gateway's page, pay, the signed webhook,
the paid order, a receipt that verifies; and what must not work."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from customhouse import events
from customhouse.payments import receipts
from customhouse.payments.gateway import SIGNATURE_HEADER, sign
from customhouse.payments.models import GatewayCallback, PaymentOrder
from tests.conftest import bearer
from tests.factories import TRADER
from tests.payments.conftest import SECRET, WEBHOOK
from tests.payments.helpers import DECLARATION

ORDERS = "/api/v1/payments/orders"
ORDER: dict[str, Any] = {
    "declaration_id": str(DECLARATION),
    "assessment_version": 1,
    "party_id": TRADER,
    "amount": "125000.00",
    "currency": "KRW",
}


def headers(token: str, key: str | None = None) -> dict[str, str]:
    return bearer(token) | ({"Idempotency-Key": key} if key else {})


def create(client, tokens, key="order-1", **overrides) -> Any:
    """An order issued by hand by a supervisor (assessments issue theirs themselves)."""
    return client.post(ORDERS, json=ORDER | overrides, headers=headers(tokens["supervisor"], key))


def start(client, tokens, order_id: str, key="pay-1") -> dict[str, Any]:
    answer = client.post(f"{ORDERS}/{order_id}/payment", headers=headers(tokens["trader"], key))
    assert answer.status_code == 201, answer.text
    return answer.json()


def paid_order(client, tokens) -> tuple[dict[str, Any], dict[str, Any]]:
    order = create(client, tokens).json()
    payment = start(client, tokens, order["id"])
    client.post(payment["redirect_url"], data={"payer": "Kim Minji", "action": "pay"})
    return order, payment


def test_a_trader_pays_online_and_gets_a_receipt_anyone_can_verify(client, tokens, sessions, callbacks):
    created = create(client, tokens)
    assert created.status_code == 201, created.text
    order = created.json()
    assert (order["state"], order["amount"], order["currency"]) == ("pending", "125000", "KRW")

    payment = start(client, tokens, order["id"])
    assert payment["gateway"] == "demo" and payment["redirect_url"].startswith("/demo-gateway/pay/demo_")
    page = client.get(payment["redirect_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "125000 KRW" in page.text and "<script" not in page.text
    assert f'<form method="post" action="{payment["redirect_url"]}">' in page.text

    done = client.post(payment["redirect_url"], data={"payer": "Kim Minji", "action": "pay"})
    assert done.status_code == 200 and "Paid." in done.text
    assert len(callbacks.sent) == 1  # the gateway called the webhook back, signed
    assert callbacks.sent[0][1][SIGNATURE_HEADER].startswith("t=")

    now = client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()
    assert (now["state"], now["payer"]) == ("paid", "Kim Minji") and now["paid_at"]
    with sessions() as session:
        trail = events.history(session, "payment_order", order["id"])
    assert [event.type for event in trail] == ["payment.ordered", "payment.started", "payment.succeeded"]
    assert trail[-1].data["declaration_id"] == str(DECLARATION)

    receipt = client.get(f"{ORDERS}/{order['id']}/receipt", headers=bearer(tokens["trader"]))
    assert receipt.status_code == 200
    envelope = receipt.json()
    assert envelope["receipt"] | {"paid_at": None} == {
        "type": "customhouse.payment-receipt",
        "order_id": order["id"],
        "declaration_id": str(DECLARATION),
        "assessment_version": 1,
        "party_id": TRADER,
        "amount": "125000",
        "currency": "KRW",
        "payer": "Kim Minji",
        "paid_at": None,
        "gateway": "demo",
        "gateway_reference": payment["reference"],
    }
    key = client.get("/api/v1/payments/receipt-key").json()
    assert key["key_id"] == envelope["key_id"]
    assert receipts.verify(envelope, receipts.unb64(key["public_key"]))
    forged = envelope | {"receipt": envelope["receipt"] | {"amount": "1"}}
    assert not receipts.verify(forged, receipts.unb64(key["public_key"]))


def test_a_declined_payment_leaves_the_order_pending_and_payable(client, tokens):
    order = create(client, tokens).json()
    payment = start(client, tokens, order["id"])
    declined = client.post(payment["redirect_url"], data={"payer": "Kim", "action": "decline"})
    assert "declined" in declined.text
    assert (
        client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()["state"] == "pending"
    )
    client.post(payment["redirect_url"], data={"payer": "Kim", "action": "pay"})
    assert client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()["state"] == "paid"


def test_no_receipt_before_payment(client, tokens):
    order = create(client, tokens).json()
    answer = client.get(f"{ORDERS}/{order['id']}/receipt", headers=bearer(tokens["trader"]))
    assert answer.status_code == 409 and answer.headers["content-type"] == "application/problem+json"


def signed_callback(
    reference: str, status: str = "succeeded", secret: bytes = SECRET, at: float | None = None
):
    body = orjson.dumps(
        {
            "id": "evt_forged",
            "reference": reference,
            "status": status,
            "amount": "125000",
            "currency": "KRW",
            "payer": "Mallory",
            "occurred_at": "2026-03-01T09:30:00+00:00",
        }
    )
    return body, {SIGNATURE_HEADER: sign(secret, body, int(at if at is not None else time.time()))}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, hdrs: (body, {}),
        lambda body, hdrs: (body.replace(b"Mallory", b"Mallorz"), hdrs),
        lambda body, hdrs: (body, {SIGNATURE_HEADER: "t=1,v1=00"}),
        lambda body, hdrs: (body, {SIGNATURE_HEADER: f"t={int(time.time())},v1=\xe9".encode("latin-1")}),
    ],
    ids=["unsigned", "changed-body", "garbage-signature", "non-ascii-signature"],
)
def test_a_callback_not_signed_by_the_gateway_is_refused_and_changes_nothing(
    client, tokens, sessions, tamper
):
    order = create(client, tokens).json()
    payment = start(client, tokens, order["id"])
    body, hdrs = tamper(*signed_callback(payment["reference"]))
    answer = client.post(WEBHOOK, content=body, headers=hdrs)
    assert answer.status_code == 400
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert problem["errors"][0]["parameter"] == SIGNATURE_HEADER
    assert (
        client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()["state"] == "pending"
    )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(GatewayCallback)) == 0


@pytest.mark.parametrize(
    "secret_and_age", [(b"wrong secret", 0), (SECRET, 3600)], ids=["wrong-secret", "too-old"]
)
def test_a_callback_with_another_secret_or_an_old_timestamp_is_refused(client, tokens, secret_and_age):
    secret, age = secret_and_age
    order = create(client, tokens).json()
    payment = start(client, tokens, order["id"])
    body, hdrs = signed_callback(payment["reference"], secret=secret, at=time.time() - age)
    assert client.post(WEBHOOK, content=body, headers=hdrs).status_code == 400
    assert (
        client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()["state"] == "pending"
    )


def test_a_replayed_webhook_and_a_late_failure_are_harmless(client, tokens, sessions, callbacks):
    order, payment = paid_order(client, tokens)
    body, hdrs = callbacks.sent[0]
    hdrs[SIGNATURE_HEADER] = sign(SECRET, body, int(time.time()))  # replayed within the tolerance
    replay = client.post(WEBHOOK, content=body, headers=hdrs)
    assert replay.status_code == 200 and replay.json() == {"outcome": "duplicate"}
    failure_body, failure_headers = signed_callback(payment["reference"], status="failed")
    late = client.post(WEBHOOK, content=failure_body, headers=failure_headers)
    assert late.json() == {"outcome": "ignored"}
    now = client.get(f"{ORDERS}/{order['id']}", headers=bearer(tokens["trader"])).json()
    assert (now["state"], now["payer"]) == ("paid", "Kim Minji")
    with sessions() as session:
        trail = [event.type for event in events.history(session, "payment_order", order["id"])]
        recorded = session.scalars(select(GatewayCallback.outcome).order_by(GatewayCallback.id)).all()
    assert trail.count("payment.succeeded") == 1
    assert recorded == ["applied", "duplicate", "ignored"]


def test_paying_again_on_the_page_charges_nothing_new(client, tokens, callbacks):
    _, payment = paid_order(client, tokens)
    again = client.post(payment["redirect_url"], data={"payer": "Someone else", "action": "pay"})
    assert "Paid." in again.text
    bodies = {body for body, _ in callbacks.sent}
    assert len(bodies) == 1  # the same callback event at most resent, never a second charge


# ---------------------------------------------------------------- idempotency keys


def test_the_same_key_and_request_replay_the_first_answer(client, tokens, sessions):
    first = create(client, tokens, key="k-1")
    again = create(client, tokens, key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PaymentOrder)) == 1


def test_the_same_key_with_another_request_is_a_conflict(client, tokens, sessions):
    create(client, tokens, key="k-1")
    other = create(client, tokens, key="k-1", amount="99")
    assert other.status_code == 409 and other.json()["errors"][0]["parameter"] == "Idempotency-Key"
    elsewhere = client.post(
        f"{ORDERS}/{create(client, tokens, key='k-2').json()['id']}/cancel",
        headers=headers(tokens["supervisor"], "k-1"),
    )
    assert elsewhere.status_code == 409  # the same key on another endpoint is another request
    with sessions() as session:
        assert session.scalar(select(PaymentOrder.amount)) == 125000


def test_a_new_key_for_the_same_order_gets_the_existing_order(client, tokens):
    first = create(client, tokens, key="k-1").json()
    second = create(client, tokens, key="k-2")
    assert second.status_code == 200 and second.json()["id"] == first["id"]


def test_keys_belong_to_their_caller(client, tokens):
    mine = create(client, tokens, key="shared")
    theirs = client.post(f"{ORDERS}/{mine.json()['id']}/payment", headers=headers(tokens["trader"], "shared"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert theirs.json()["order_id"] == mine.json()["id"]


def test_payment_calls_without_a_key_are_refused(client, tokens, sessions):
    answer = client.post(ORDERS, json=ORDER, headers=bearer(tokens["trader"]))
    assert answer.status_code == 400 and answer.json()["errors"][0]["parameter"] == "Idempotency-Key"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PaymentOrder)) == 0


def test_a_refused_call_does_not_use_up_its_key(client, tokens):
    refused = client.post(ORDERS, json=ORDER, headers=headers(tokens["trader"], "k-1"))
    assert refused.status_code == 403  # orders come from assessments, or from a supervisor
    order = create(client, tokens).json()
    paying = client.post(f"{ORDERS}/{order['id']}/payment", headers=headers(tokens["trader"], "k-1"))
    assert paying.status_code == 201


# ---------------------------------------------------------------- access and validation


def test_an_order_needs_a_token_and_a_valid_document(client, tokens):
    assert client.post(ORDERS, json=ORDER, headers={"Idempotency-Key": "k"}).status_code == 401
    bad = create(client, tokens, amount=12.5, currency="XXZ", assessment_version=0)
    assert bad.status_code == 422
    assert {error["pointer"] for error in bad.json()["errors"]} >= {"/currency", "/assessment_version"}
    assert create(client, tokens, amount="-1").status_code == 422
    assert create(client, tokens, amount="1.0001").status_code == 422


def test_another_trader_neither_sees_nor_pays_an_order(client, tokens):
    order = create(client, tokens).json()
    other = tokens["other_trader"]
    assert client.get(f"{ORDERS}/{order['id']}", headers=bearer(other)).status_code == 404
    assert client.post(f"{ORDERS}/{order['id']}/payment", headers=headers(other, "x")).status_code == 404
    assert client.get(f"{ORDERS}/{order['id']}/receipt", headers=bearer(other)).status_code == 404


# ---------------------------------------------------------------- guarantees over HTTP


def test_a_guarantee_secures_and_payment_does_not_touch_other_assessments(client, tokens):
    opened = client.post(
        "/api/v1/payments/guarantees",
        json={"party_id": TRADER, "kind": "guarantee", "limit": "500000", "currency": "KRW"},
        headers=headers(tokens["supervisor"], "g-1"),
    )
    assert opened.status_code == 201, opened.text
    guarantee = opened.json()
    url = f"/api/v1/payments/guarantees/{guarantee['id']}"
    held = client.post(
        f"{url}/securities",
        json={
            "declaration_id": str(DECLARATION),
            "assessment_version": 1,
            "amount": "125000",
            "currency": "KRW",
        },
        headers=headers(tokens["trader"], "s-1"),
    )
    assert held.status_code == 201 and held.json()["state"] == "secured"
    assert client.get(url, headers=bearer(tokens["trader"])).json()["balance"] == "375000"
    too_much = client.post(
        f"{url}/securities",
        json={
            "declaration_id": str(DECLARATION),
            "assessment_version": 2,
            "amount": "375000.001",
            "currency": "KRW",
        },
        headers=headers(tokens["trader"], "s-2"),
    )
    assert too_much.status_code == 409
    release = client.post(
        f"/api/v1/payments/securities/{held.json()['id']}/release", headers=headers(tokens["trader"], "r-1")
    )
    assert release.status_code == 403
    release = client.post(
        f"/api/v1/payments/securities/{held.json()['id']}/release",
        headers=headers(tokens["supervisor"], "r-1"),
    )
    assert release.status_code == 200 and release.json()["state"] == "released"
    assert client.get(url, headers=bearer(tokens["trader"])).json()["balance"] == "500000"
