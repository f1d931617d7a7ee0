from datetime import date
from decimal import Decimal

from customhouse.declarations.consistency import check
from customhouse.declarations.schemas import DeclarationDocument
from tests.factories import declaration

TODAY = date(2026, 6, 1)


def problems(**overrides):
    document = DeclarationDocument.model_validate(declaration(**overrides))
    return {
        p.pointer: p.detail for p in check(document, country="KR", tolerance=Decimal("0.01"), today=TODAY)
    }


def test_valid_declaration_has_no_problems():
    assert problems() == {}


def test_net_mass_above_gross_mass_is_named():
    items = declaration()["goods_items"]
    items[1]["net_mass"] = "120"
    assert "must not exceed the gross mass" in problems(goods_items=items)["/goods_items/1/net_mass"]


def test_prices_must_add_up_to_invoice_total_within_tolerance():
    assert problems(invoice_total="1510.00") == {}  # 10 apart, tolerance 15.10
    found = problems(invoice_total="1600.00")
    assert "sum of the items' prices (1500.00)" in found["/invoice_total"]


def test_item_sequence_must_count_from_one():
    items = declaration()["goods_items"]
    items[1]["sequence"] = 3
    assert "/goods_items/1/sequence" in problems(goods_items=items)


def test_dates_must_not_be_in_the_future():
    documents = declaration()["documents"]
    documents[0]["issued_on"] = "2026-06-02"
    assert "/documents/0/issued_on" in problems(documents=documents)


def test_kind_specific_rules():
    assert "/importer" in problems(importer=None)
    assert "/country_of_destination" in problems(country_of_destination="JP")
    export = problems(kind="export", country_of_dispatch="KR", country_of_destination="CN")
    assert {"/exporter", "/office_of_exit"} <= set(export)
    transit = problems(kind="transit")
    assert "/office_of_destination" in transit
    assert "/office_of_lodgement" in problems(office_of_lodgement="KE000100")


def test_duplicate_container_and_self_representation():
    found = problems(containers=["CSQU3054383", "CSQU3054383"], representative=declaration()["declarant"])
    assert "/containers/1" in found and "/representative/id" in found
