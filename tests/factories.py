"""Valid documents and a small registered world (parties, mandate, users) for tests."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from importlib.resources import files
from typing import Any

from sqlalchemy.orm import Session

from customhouse.auth.service import Principal, Role, create_user
from customhouse.parties import service as parties
from customhouse.payments import service as payments
from customhouse.payments.schemas import NewGuarantee
from customhouse.tariff import service as tariff

TRADER = "KR1000000001"
OTHER_TRADER = "KR1000000002"
BROKER = "KR9000000001"
SELLER = "CN5000000001"

BASE: dict[str, Any] = {
    "kind": "import",
    "lrn": "LRN-0001",
    "declarant": {"id": TRADER, "name": "Hanbit Trading Co.", "country": "KR"},
    "importer": {"id": TRADER, "name": "Hanbit Trading Co.", "country": "KR"},
    "seller": {"id": SELLER, "name": "Shenzhen Bright Electronics", "country": "CN"},
    "office_of_lodgement": "KR000040",
    "office_of_entry": "KR000040",
    "transport_mode": "1",
    "means_of_transport_id": "IMO9321483",
    "containers": ["CSQU3054383"],
    "incoterm": "CIF",
    "incoterm_place": "Busan",
    "invoice_currency": "USD",
    "invoice_total": "1500.00",
    "country_of_dispatch": "CN",
    "country_of_destination": "KR",
    "documents": [
        {
            "type": "380",
            "reference": "INV-77",
            "issuer": "Shenzhen Bright Electronics",
            "issued_on": "2026-01-10",
        },
        {"type": "705", "reference": "BL-123", "issued_on": "2026-01-12"},
    ],
    "goods_items": [
        {
            "sequence": 1,
            "hs_code": "851713",
            "description": "Mobile phones",
            "origin": "CN",
            "quantity": "100",
            "unit": "C62",
            "gross_mass": "55.5",
            "net_mass": "50",
            "price": "1000.00",
            "procedure": "4000",
        },
        {
            "sequence": 2,
            "hs_code": "610910",
            "description": "T-shirts of cotton, knitted",
            "origin": "CN",
            "quantity": "500",
            "unit": "C62",
            "gross_mass": "110",
            "net_mass": "100",
            "price": "500.00",
            "procedure": "4000",
        },
    ],
}


def declaration(**overrides: Any) -> dict[str, Any]:
    """A valid import declaration; keyword arguments replace top-level fields."""
    document = copy.deepcopy(BASE)
    document.update(overrides)
    return document


def export_document(**overrides: Any) -> dict[str, Any]:
    """A valid export declaration of Korean goods by TRADER; keyword arguments replace top-level fields."""
    document = declaration(
        kind="export",
        exporter={"id": TRADER, "name": "Hanbit Trading Co.", "country": "KR"},
        importer=None,
        seller=None,
        buyer={"name": "Shenzhen Bright Electronics", "country": "CN"},
        country_of_dispatch="KR",
        country_of_destination="CN",
        office_of_exit="KR000040",
        office_of_entry=None,
        **overrides,
    )
    document = {key: value for key, value in document.items() if value is not None}
    for item in document["goods_items"]:
        item["origin"] = "KR"
    return document


def demo_tariff(session: Session) -> None:
    """Put the demo tariff in force: import declarations are assessed under it."""
    demo = files("customhouse.tariff").joinpath("data", "demo-tariff.yaml").read_text(encoding="utf-8")
    tariff.replace_tariff(session, text=demo, source="demo-tariff.yaml", by="tests")


def deferment_account(session: Session, party_id: str, limit: Decimal = Decimal(10**11)) -> None:
    """A deferment account in KRW for a registered party: its declarations' duties are secured on it."""
    payments.open_guarantee(
        session,
        guarantee=NewGuarantee(party_id=party_id, kind="deferment", limit=limit, currency="KRW"),
        by=Principal("setup", frozenset({Role.SUPERVISOR})),
    )


def world(session: Session, *, deferment: bool = True) -> dict[str, str]:
    """The demo tariff in force; two traders and a broker with a mandate from the first; the first
    trader with a deferment account (so its green declarations are released at once: what they owe is
    secured), unless `deferment` is False; return a token per role."""
    demo_tariff(session)
    parties.register(session, id=TRADER, name="Hanbit Trading Co.", country="KR")
    parties.register(session, id=OTHER_TRADER, name="Daehan Imports", country="KR")
    parties.register(session, id=BROKER, name="Busan Customs Brokers", country="KR", kind="broker")
    parties.grant_mandate(session, representative_id=BROKER, client_id=TRADER, valid_from=date(2020, 1, 1))
    if deferment:
        deferment_account(session, TRADER)
    return {
        "trader": create_user(session, name="trader", roles=[Role.TRADER], party_id=TRADER),
        "other_trader": create_user(session, name="other", roles=[Role.TRADER], party_id=OTHER_TRADER),
        "broker": create_user(session, name="broker", roles=[Role.BROKER], party_id=BROKER),
        "officer": create_user(session, name="officer", roles=[Role.OFFICER], offices=["KR000040"]),
        "officer_elsewhere": create_user(
            session, name="officer2", roles=[Role.OFFICER], offices=["KR000010"]
        ),
        "supervisor": create_user(session, name="supervisor", roles=[Role.SUPERVISOR]),
        "auditor": create_user(session, name="auditor", roles=[Role.AUDITOR]),
    }
