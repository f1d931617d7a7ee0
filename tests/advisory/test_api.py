"""POST /api/v1/advisory/landed-cost on SQLite and PostgreSQL: public, hand-computed, problems by pointer."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from typing import Any

from fastapi.testclient import TestClient

from customhouse.assessment.currency import LOOK_BACK, ecb_rates
from customhouse.problems import MEDIA_TYPE
from customhouse.reference.zones import today_in
from tests.advisory.conftest import body

URL = "/api/v1/advisory/landed-cost"
WINE = {
    "hs_code": "220421",
    "origin": "FR",
    "price": "1650000",
    "quantity": "120",
    "unit": "LTR",
    "alcohol_strength": "12.5",
}


def post(client: TestClient, payload: dict[str, Any]) -> Any:
    return client.post(URL, json=payload)


def test_a_public_estimate_in_the_national_currency(client, demo_in_force):
    response = post(client, body(invoice_currency="KRW", date="2026-06-01", items=[WINE]))
    assert response.status_code == 200, response.text  # no token sent
    answer = response.json()
    # 1,650,000 KRW CIF; duty higher of 15% (247,500) and 1,500/l x 120 l; excise 8,000/l alc. x 15 l alc.;
    # VAT 10% x (1,650,000 + 247,500 + 120,000)
    [item] = answer["items"]
    assert [(line["measure"], line["amount"]) for line in item["lines"]] == [
        ("MFN-2204", {"amount": "247500", "currency": "KRW"}),
        ("EXC-2204", {"amount": "120000", "currency": "KRW"}),
        ("VAT", {"amount": "201750", "currency": "KRW"}),
    ]
    assert item["lines"][2]["formula"] == "10% \u00d7 (1,650,000 + 247,500 + 120,000) KRW = 201,750 KRW"
    assert answer["customs_value"] == {"amount": "1650000", "currency": "KRW"}
    assert answer["duties_and_taxes"] == {"amount": "569250", "currency": "KRW"}
    assert answer["landed_cost"] == {"amount": "2219250", "currency": "KRW"}
    assert answer["exchange_rate"]["source"] == "same currency"
    assert {m["measure"]: m["applies"] for m in item["measures"]} == {
        "MFN-2204": True,
        "EXC-2204": True,
        "FTA-22": False,
        "GSP-22": False,
        "VAT": True,
    }
    assert answer["tariff"].startswith("customhouse demo tariff")


def test_an_estimate_in_euro_at_the_ecb_rate_of_the_date(client, demo_in_force):
    response = post(client, body(date="2026-03-02"))  # 1,000 EUR CIF of T-shirts from China
    assert response.status_code == 200, response.text
    answer = response.json()
    rate = ecb_rates().rate("EUR", "KRW", date(2026, 3, 2))
    assert answer["exchange_rate"] == {
        "base": "EUR",
        "quote": "KRW",
        "rate": str(rate.rate),
        "requested": "2026-03-02",
        "published": "2026-03-02",
        "source": "ECB reference rate",
        "text": rate.describe(),
    }
    # 1,000 EUR at the rate, rounded half up to whole won; MFN 13%; VAT 10% of value + duty
    value = (rate.rate * 1000).quantize(D(1), ROUND_HALF_UP)
    duty = (value * D("0.13")).quantize(D(1), ROUND_HALF_UP)
    vat = ((value + duty) * D("0.10")).quantize(D(1), ROUND_HALF_UP)
    [item] = answer["items"]
    assert [(line["measure"], D(line["amount"]["amount"])) for line in item["lines"]] == [
        ("MFN-61", duty),
        ("VAT", vat),
    ]
    assert D(answer["landed_cost"]["amount"]) == value + duty + vat


def test_bad_input_is_a_problem_naming_the_field(client, demo_in_force):
    response = post(client, body(items=[{"hs_code": "2204", "origin": "FR", "price": "1"}]))
    assert response.status_code == 422
    assert response.headers["content-type"] == MEDIA_TYPE
    [error] = response.json()["errors"]
    assert error["pointer"] == "/goods_items/0/hs_code"
    assert "an HS 2022 subheading (6 digits) and up to 4 national digits" in error["detail"]


def test_a_missing_freight_is_named_like_the_declaration_names_it(client, demo_in_force):
    response = post(client, body(incoterm="FOB", date="2026-03-02"))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/freight"]


def test_a_date_after_the_bundled_rates_says_until_when_they_run(client, demo_in_force):
    last = ecb_rates().last
    response = post(client, body(date=(last + LOOK_BACK + timedelta(days=1)).isoformat()))
    assert response.status_code == 422
    problem = response.json()
    assert problem["rates_until"] == last.isoformat()
    [error] = problem["errors"]
    assert error["pointer"] == "/date"
    assert f"the rate data ends on {last.isoformat()}" in error["detail"]


def test_the_date_defaults_to_today_in_the_administration(client, demo_in_force):
    before = today_in("KR")
    response = post(client, body(invoice_currency="KRW"))
    assert response.status_code == 200, response.text
    assert response.json()["date"] in {before.isoformat(), today_in("KR").isoformat()}


def test_no_tariff_in_force_is_said(client):
    response = post(client, body(invoice_currency="KRW"))
    assert response.status_code == 404
    assert "no tariff is in force" in response.json()["detail"]


def test_the_endpoint_is_documented_and_public(client):
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]
    assert operation["summary"] == "Estimate the landed cost of goods"
    assert "security" not in operation
    assert {"200", "404", "422"} <= set(operation["responses"])
