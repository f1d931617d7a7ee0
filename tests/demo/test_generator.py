"""The demo generator: reproducible, valid, and with the documented shares and seasonality."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, date, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import jsonpatch
import pytest

from customhouse.declarations import consistency
from customhouse.declarations.schemas import DeclarationDocument, Lane
from customhouse.declarations.selectivity import RequiredDocuments
from customhouse.demo import generator
from customhouse.demo.generator import DemoDeclaration, DemoWorld, generate
from customhouse.reference import codes

START = date(2025, 3, 1)
KST = timezone(timedelta(hours=9))


@cache
def world(n: int = 3000, seed: int = 7) -> DemoWorld:
    return generate(n, seed, start=START)


@cache
def declarations(n: int = 3000, seed: int = 7) -> tuple[DemoDeclaration, ...]:
    return tuple(world(n, seed).declarations())


def dump(world: DemoWorld) -> str:
    """Everything a world yields, as canonical JSON text."""
    return json.dumps(
        {
            "parties": [dataclasses.asdict(party) for party in world.parties],
            "mandates": [dataclasses.asdict(mandate) for mandate in world.mandates],
            "declarations": [
                {
                    "document": item.document,
                    "at": item.lodged_at.isoformat(),
                    "truth": dataclasses.asdict(item.truth),
                }
                for item in world.declarations()
            ],
        },
        default=str,
        sort_keys=True,
    )


def imports() -> list[DemoDeclaration]:
    return [item for item in declarations() if item.document["kind"] == "import"]


def corrected(item: DemoDeclaration) -> dict[str, Any]:
    patch = [{"op": "replace", "path": pointer, "value": value} for pointer, value in item.truth.corrections]
    result: dict[str, Any] = jsonpatch.apply_patch(item.document, patch)
    return result


def test_the_same_seed_gives_byte_identical_output() -> None:
    first = dump(generate(400, 11, start=START))
    assert first == dump(generate(400, 11, start=START))
    assert '"declarations": [{' in first


def test_declarations_can_be_iterated_again_with_the_same_result() -> None:
    demo = generate(200, 5, start=START)
    assert [item.document for item in demo.declarations()] == [item.document for item in demo.declarations()]


def test_different_seeds_give_different_data() -> None:
    one, other = generate(200, 1, start=START), generate(200, 2, start=START)
    assert [item.document for item in one.declarations()] != [item.document for item in other.declarations()]
    assert one.lodgement_times != other.lodgement_times


def test_every_document_validates_and_is_consistent_for_kr() -> None:
    for item in declarations():
        document = DeclarationDocument.model_validate(item.document)
        problems = consistency.check(
            document, country="KR", tolerance=Decimal("0.01"), today=item.lodged_at.date()
        )
        assert problems == [], (item.document["lrn"], problems)


def test_kinds_come_in_the_documented_shares_with_their_required_offices() -> None:
    kinds = Counter(item.document["kind"] for item in declarations())
    for kind, share in generator.KIND_SHARES.items():
        assert kinds[kind] / len(declarations()) == pytest.approx(share, abs=0.02)
    offices = codes.offices()
    for item in declarations():
        document = item.document
        assert offices[document["office_of_lodgement"]].country == "KR"
        assert 1 <= len(document["goods_items"]) <= 5
        if document["kind"] == "export":
            assert offices[document["office_of_exit"]].country == "KR"
            assert document["exporter"]["country"] == "KR"
        if document["kind"] == "transit":
            assert offices[document["office_of_destination"]].country == "KR"
            assert document["office_of_destination"] != document["office_of_lodgement"]


def test_lodgement_times_are_utc_spread_over_the_year_in_order() -> None:
    times = world().lodgement_times
    assert len(times) == 3000
    assert all(at.tzinfo is UTC for at in times)
    assert list(times) == sorted(times)
    local_days = {at.astimezone(KST).date() for at in times}
    assert min(local_days) >= START
    assert max(local_days) < START + timedelta(days=365)
    assert len(local_days) > 300


def test_weekdays_are_busier_than_weekends_and_holidays_have_a_run_up() -> None:
    times = generate(20_000, 3, start=date(2025, 1, 1)).lodgement_times
    per_day = Counter(at.astimezone(KST).date() for at in times)
    days = [date(2025, 1, 1) + timedelta(days=offset) for offset in range(365)]
    weekday = [per_day[day] for day in days if day.weekday() < 5]
    weekend = [per_day[day] for day in days if day.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 3 * sum(weekend) / len(weekend)
    chuseok = date(2025, 10, 6)
    run_up = [
        per_day[chuseok - timedelta(days=k)]
        for k in range(2, 12)
        if (chuseok - timedelta(days=k)).weekday() < 5
    ]
    holiday = [per_day[chuseok + timedelta(days=k)] for k in (-1, 0, 1)]
    ordinary = [
        per_day[day] for day in days if day.weekday() < 5 and date(2025, 6, 1) <= day < date(2025, 8, 1)
    ]
    assert sum(run_up) / len(run_up) > 1.2 * sum(ordinary) / len(ordinary)
    assert max(holiday) < 0.3 * sum(ordinary) / len(ordinary)


def test_irregularity_shares_match_the_documented_constants() -> None:
    found = Counter(item.truth.irregularity for item in imports())
    for kind, share in generator.IRREGULARITY_SHARES.items():
        assert found[kind] / len(imports()) == pytest.approx(share, abs=max(0.01, share * 0.25)), kind
    others = [item for item in declarations() if item.document["kind"] != "import"]
    assert all(item.truth.irregularity is None for item in others)


def test_risky_importers_are_irregular_far_more_often() -> None:
    risky = {party.id for party in world().parties if party.risky and party.role == "trader"}
    rate = {}
    for flag in (True, False):
        chosen = [item for item in imports() if (item.document["importer"]["id"] in risky) is flag]
        rate[flag] = sum(item.truth.irregularity is not None for item in chosen) / len(chosen)
    assert rate[True] > 2 * rate[False]


def test_missing_documents_come_in_the_documented_share_and_send_exactly_those_to_yellow() -> None:
    selector = RequiredDocuments()
    missing = 0
    for item in declarations():
        lane = selector.select(DeclarationDocument.model_validate(item.document)).lane
        assert (lane is Lane.YELLOW) == (item.truth.missing_document is not None), item.document["lrn"]
        missing += item.truth.missing_document is not None
    assert missing / len(declarations()) == pytest.approx(generator.MISSING_DOCUMENT_SHARE, abs=0.015)


def test_undervaluation_declares_low_unit_values_and_corrections_restore_the_honest_ones() -> None:
    products = world().products
    for item in imports():
        if item.truth.irregularity != generator.UNDERVALUATION:
            continue
        honest = corrected(item)
        DeclarationDocument.model_validate(honest)
        assert Decimal(honest["invoice_total"]) == sum(
            Decimal(line["price"]) for line in honest["goods_items"]
        )
        for declared, truthful in zip(item.document["goods_items"], honest["goods_items"], strict=True):
            ratio = Decimal(declared["price"]) / Decimal(truthful["price"])
            low, high = generator.UNDERVALUATION_RANGE
            assert Decimal(low) - Decimal("0.01") <= ratio <= Decimal(high) + Decimal("0.01")
            assert products[declared["hs_code"]].reference_price > 0


def test_misclassification_declares_a_sibling_code_with_a_lower_duty() -> None:
    products = world().products
    cases = [item for item in imports() if item.truth.irregularity == generator.MISCLASSIFICATION]
    assert cases
    for item in cases:
        (index,) = item.truth.items
        declared = item.document["goods_items"][index]["hs_code"]
        true_code = corrected(item)["goods_items"][index]["hs_code"]
        assert declared[:4] == true_code[:4] and declared != true_code
        assert products[declared].duty_rate < products[true_code].duty_rate


def test_false_origin_claims_a_preference_the_true_origin_does_not_have() -> None:
    cases = [item for item in imports() if item.truth.irregularity == generator.FALSE_ORIGIN]
    assert cases
    for item in cases:
        honest = corrected(item)
        for index in item.truth.items:
            line, truthful = item.document["goods_items"][index], honest["goods_items"][index]
            assert line["origin"] in generator.PREFERENTIAL_ORIGINS and line["preference"] == "300"
            assert truthful["origin"] in generator.FALSE_ORIGIN_COVER and truthful["preference"] == "100"
            assert generator.FALSE_ORIGIN_COVER[truthful["origin"]] == line["origin"]


def test_importers_specialise_in_a_few_subheadings() -> None:
    by_importer: dict[str, Counter[str]] = {}
    for item in imports():
        codes_seen = by_importer.setdefault(item.document["importer"]["id"], Counter())
        codes_seen.update(line["hs_code"] for line in item.document["goods_items"])
    busy = [seen for seen in by_importer.values() if sum(seen.values()) >= 50]
    assert busy
    assert all(len(seen) <= 25 for seen in busy)  # a catalogue of 4 to 20, plus misclassified codes


def test_brokers_declare_only_for_clients_that_gave_them_a_mandate_before_the_year() -> None:
    mandates = {(mandate.representative_id, mandate.client_id): mandate for mandate in world().mandates}
    brokers = {party.id for party in world().parties if party.role == "broker"}
    assert len(brokers) == generator.BROKER_COUNT
    represented = 0
    for item in declarations():
        representative = item.document.get("representative")
        if representative:
            represented += 1
            mandate = mandates[(representative["id"], item.document["declarant"]["id"])]
            assert mandate.valid_from <= item.lodged_at.date()
    assert 0.3 < represented / len(declarations()) < 0.9


def test_lrns_are_unique_per_declarant() -> None:
    keys = [(item.document["declarant"]["id"], item.document["lrn"]) for item in declarations()]
    assert len(keys) == len(set(keys))
