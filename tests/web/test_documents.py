"""Pay through the demo gateway, download the receipt and the certificate, verify it publicly; the
public tariff look-up and landed-cost estimate."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import orjson
from fastapi.testclient import TestClient

from customhouse.payments import receipts
from customhouse.payments.demo import DemoGateway
from tests import factories
from tests.conftest import bearer
from tests.web.conftest import csrf, deliver, sign_in


def callbacks_through(client: TestClient) -> None:
    """The demo gateway calls the webhook through the test client instead of a socket."""
    gateway = client.app.state.payment_gateway  # type: ignore[attr-defined]
    assert isinstance(gateway, DemoGateway)

    def send(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        return client.post(urlsplit(url).path, content=body, headers=dict(headers)).status_code

    gateway.send = send


def test_a_trader_pays_and_downloads_the_receipt(client: TestClient, tokens: dict[str, str]) -> None:
    callbacks_through(client)
    other = {"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"}
    lodged = client.post(
        "/api/v1/declarations",
        json=factories.declaration(declarant=other, importer=other),
        headers=bearer(tokens["other_trader"]),  # no deferment account: the duties are to be paid
    )
    assert lodged.status_code == 201, lodged.text
    url = f"/web/declarations/{lodged.json()['id']}"
    deliver(client)
    sign_in(client, tokens["other_trader"])
    page = client.get(url)
    assert "Pay " in page.text and '<dd class="settled">no</dd>' in page.text
    started = client.post(f"{url}/pay", data={"csrf_token": csrf(page)}, follow_redirects=False)
    assert started.status_code == 303, started.text
    gateway_page = started.headers["location"]
    paid = client.post(gateway_page, data={"payer": "Kim Minji", "action": "pay"})
    assert "Paid" in paid.text
    deliver(client)
    page = client.get(url).text
    assert '<dd class="settled">yes</dd>' in page and "declaration.released" in page
    receipt = client.get(f"{url}/receipt")
    assert receipt.status_code == 200
    assert "attachment" in receipt.headers["content-disposition"]
    body = orjson.loads(receipt.content)
    assert body["receipt"]["payer"] == "Kim Minji"
    public_key = client.app.state.receipt_signer.public_key()  # type: ignore[attr-defined]
    assert receipts.verify(body, public_key)  # signed, as the payments API signs it
    sign_in(client, tokens["trader"])
    assert client.get(f"{url}/receipt").status_code == 404  # not this trader's declaration


def test_an_officer_issues_a_certificate_the_trader_downloads_and_anyone_verifies(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lodged = client.post(
        "/api/v1/declarations", json=factories.export_document(), headers=bearer(tokens["trader"])
    )
    assert lodged.status_code == 201, lodged.text
    url = f"/web/declarations/{lodged.json()['id']}"
    deliver(client)
    sign_in(client, tokens["officer"])
    page = client.get(url)
    assert "Issue a certificate of origin" in page.text
    issued = client.post(f"{url}/certificate", data={"csrf_token": csrf(page)}, follow_redirects=False)
    assert issued.status_code == 303, issued.text
    deliver(client)
    sign_in(client, tokens["trader"])
    link = re.search(r'href="(/web/certificates/[0-9a-f-]+)"', client.get(url).text)
    assert link
    token = client.get(link.group(1))
    assert token.headers["content-type"].startswith("application/vc+jwt")
    sign_in(client, tokens["other_trader"])
    assert client.get(link.group(1)).status_code == 404
    client.cookies.clear()
    verdict = client.post("/verify", data={"token": token.text})
    assert "VALID" in verdict.text
    assert "VALID" not in client.post("/verify", data={"token": token.text[:-3] + "AAA"}).text


def test_public_tariff_look_up_and_estimate(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/web/tariff")
    assert page.status_code == 200 and "Sign in" in page.text
    fields = {
        "/goods_items/0/hs_code": "610910",
        "/goods_items/0/origin": "CN",
        "/goods_items/0/price": "500.00",
        "/invoice_currency": "USD",
        "/incoterm": "CIF",
    }
    answer = client.post("/web/tariff", data={"csrf_token": csrf(page), **fields})
    assert answer.status_code == 200, answer.text
    assert "Measures considered" in answer.text and "Landed cost" in answer.text
    assert re.search(r'<dd class="total">\d+(\.\d+)? KRW</dd>', answer.text)
    wrong = client.post("/web/tariff", data={"csrf_token": csrf(page), **fields, "/incoterm": "ABC"})
    assert wrong.status_code == 422
    assert re.search(r'id="f-incoterm-error">[^<]*Incoterms 2020', wrong.text)
    assert 'value="610910"' in wrong.text
