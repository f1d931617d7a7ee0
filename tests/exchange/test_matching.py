"""Matching a partner's export data to an import declaration, and the mismatches found."""

from __future__ import annotations

from decimal import Decimal

from customhouse.exchange import matching
from tests import factories

EXPORT = {
    "mrn": "26KR000040ABCDEF1",
    "exporter": {"id": "CN5000000001"},
    "containers": ["CSQU3054383"],
    "transport_documents": ["BL-123"],
    "invoice_currency": "USD",
    "invoice_total": "1500.00",
    "goods_items": [
        {"hs_code": "851713", "origin": "CN", "quantity": "100", "unit": "C62"},
        {"hs_code": "610910", "origin": "CN", "quantity": "500", "unit": "C62"},
    ],
}


def keys(document):
    return matching.import_keys(document)


def test_two_identifiers_or_an_explicit_reference_match_one_container_alone_does_not():
    imported = factories.declaration()  # seller CN5000000001, container CSQU3054383, B/L BL-123
    assert (
        matching.matched_by(matching.export_keys(EXPORT), keys(imported))
        == "exporter+container+transport_document"
    )
    lone = {**EXPORT, "exporter": {"id": "CN9"}, "transport_documents": []}
    assert matching.matched_by(matching.export_keys(lone), keys(imported)) is None
    imported["documents"].append({"type": "830", "reference": EXPORT["mrn"], "issued_on": "2026-01-12"})
    assert matching.matched_by(matching.export_keys(lone), keys(imported)) == "reference"


def test_the_same_goods_show_no_mismatch():
    assert matching.compare(EXPORT, factories.declaration(), tolerance=Decimal("0.01")) == []


def test_value_quantity_and_origin_mismatches_name_the_import_field():
    imported = factories.declaration(invoice_total="1000.00")
    imported["goods_items"][1]["quantity"] = "450"
    imported["goods_items"][0]["origin"] = "VN"
    found = matching.compare(EXPORT, imported, tolerance=Decimal("0.01"))
    assert [(f.field, f.pointer, f.exported, f.declared) for f in found] == [
        ("value", "/invoice_total", "1500 USD", "1000 USD"),
        ("quantity", "/goods_items/1/quantity", "500 C62 of 610910", "450 C62 of 610910"),
        ("origin", "/goods_items/0/origin", "CN", "VN"),
    ]


def test_within_tolerance_or_another_currency_is_not_a_value_mismatch():
    assert (
        matching.compare(EXPORT, factories.declaration(invoice_total="1510.00"), tolerance=Decimal("0.01"))
        == []
    )
    other = factories.declaration(invoice_currency="EUR", invoice_total="10.00")
    assert [f.field for f in matching.compare(EXPORT, other, tolerance=Decimal("0.01"))] == []


def test_fields_the_agreement_withheld_are_not_compared():
    bare = {"mrn": "X", "goods_items": [{"hs_code": "851713"}]}
    assert (
        matching.compare(bare, factories.declaration(invoice_total="1.00"), tolerance=Decimal("0.01")) == []
    )
