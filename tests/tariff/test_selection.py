"""Measure selection and assessment against the shipped demo tariff, hand-computed: preferences,
anti-dumping by exporter, excise, the VAT base, longest prefix, dates, quotas; and properties."""

# ruff: noqa: RUF001  (formulas use the multiplication sign, as customs notices print them)

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.money import Money, Rounding
from customhouse.tariff.measures import AdValorem
from customhouse.tariff.selection import Goods, Measure, Role, Tariff, assess, select

ON = date(2026, 6, 1)


def goods(hs: str, origin: str, value: str, **fields) -> Goods:
    return Goods(hs_code=hs, origin=origin, customs_value=Money(D(value), "KRW"), **fields)


def amounts(assessment) -> dict[str, int]:
    return {line.measure: int(line.amount.amount) for line in assessment.lines}


@pytest.mark.parametrize(
    ("claimed", "proven", "customs", "customs_measure"),
    [
        (True, True, 0, "FTA-61"),  # FTA 0% replaces MFN 13%
        (True, False, 130_000, "MFN-61"),  # claimed without proof: no preference
        (False, True, 130_000, "MFN-61"),  # not claimed
    ],
)
def test_a_preference_needs_a_claim_and_a_proof(demo, claimed, proven, customs, customs_measure):
    item = goods("610910", "DE", "1000000", preference_claimed=claimed, proof_of_origin=proven)
    result = assess(demo, goods=item, on=ON)
    assert amounts(result) == {customs_measure: customs, "VAT": (1_000_000 + customs) // 10}
    assert result.total == Money(D(customs + (1_000_000 + customs) // 10), "KRW")
    why = {finding.measure.id: (finding.applies, finding.why) for finding in result.findings}
    if not claimed:
        assert why["FTA-61"] == (False, "FTA KR-EU not claimed")
    elif not proven:
        assert why["FTA-61"] == (False, "FTA KR-EU claimed without a proof of origin")


def test_a_preference_for_another_origin_is_not_granted(demo):
    item = goods("610910", "CN", "1000000", preference_claimed=True, proof_of_origin=True)
    result = assess(demo, goods=item, on=ON)
    assert amounts(result)["MFN-61"] == 130_000
    assert any(f.why == "origin CN is not in FTA KR-EU" for f in result.findings)


def test_a_preference_replaces_the_mfn_duty_only_when_lower(demo):
    # chapter 04: MFN 27%, FTA half (13.5%); heading 0402: MFN 176% overrides the chapter's MFN
    item = goods("040210", "FR", "1000000", net_mass=D(500), preference_claimed=True, proof_of_origin=True)
    assert amounts(assess(demo, goods=item, on=ON))["FTA-04"] == 135_000


def test_anti_dumping_named_exporter_gets_its_own_rate(demo):
    item = goods("720851", "CN", "2000000", exporter="  baoshan DEMO steel co. ")
    result = assess(demo, goods=item, on=ON)
    # MFN 8% = 160,000; AD 4% = 80,000; VAT 10% x (2,000,000 + 160,000 + 80,000) = 224,000
    assert amounts(result) == {"MFN-72": 160_000, "AD-7208-BAO": 80_000, "VAT": 224_000}
    assert result.total.amount == 464_000


def test_anti_dumping_other_exporters_pay_the_residual_rate(demo):
    result = assess(demo, goods=goods("720851", "CN", "2000000", exporter="Another Mill"), on=ON)
    # AD 28.7% = 574,000; VAT 10% x 2,734,000 = 273,400
    assert amounts(result) == {"MFN-72": 160_000, "AD-7208": 574_000, "VAT": 273_400}
    vat = next(line for line in result.lines if line.tax == "vat")
    assert vat.formula == "10% × (2,000,000 + 734,000 + 0) KRW = 273,400 KRW"  # value + duties + excise


def test_anti_dumping_is_by_origin_and_in_force_dates(demo):
    assert "AD-7208" not in amounts(assess(demo, goods=goods("720851", "JP", "2000000"), on=ON))
    assert "AD-7208" not in amounts(
        assess(demo, goods=goods("720851", "CN", "2000000"), on=date(2023, 12, 31))
    )


def test_excise_on_spirits_per_litre_of_pure_alcohol_and_the_vat_base(demo):
    item = goods("220830", "GB", "500000", quantity=D(70), unit="LTR", alcohol_strength=D(40))
    result = assess(demo, goods=item, on=ON)
    # MFN 30% = 150,000; excise 12,000/LPA x 28 LPA = 336,000; VAT 10% x 986,000 = 98,600
    assert amounts(result) == {"MFN-22": 150_000, "EXC-2208": 336_000, "VAT": 98_600}
    assert [line.tax for line in result.lines] == ["customs", "excise", "vat"]


def test_tobacco_excise_longest_prefix_wins(demo):
    cigarettes = assess(demo, goods=goods("240220", "US", "1000000", quantity=D(10000), unit="C62"), on=ON)
    # 2402's specific excise (50/item) overrides chapter 24's ad valorem excise
    assert amounts(cigarettes) == {"MFN-24": 400_000, "EXC-2402": 500_000, "VAT": 190_000}
    pipe = assess(demo, goods=goods("240311", "US", "100000"), on=ON)
    # ad valorem excise 40% x (100,000 + 40,000) = 56,000; VAT 10% x 196,000
    assert amounts(pipe) == {"MFN-24": 40_000, "EXC-24": 56_000, "VAT": 19_600}


def test_safeguard_spares_excluded_origins(demo):
    assert amounts(assess(demo, goods=goods("845011", "CN", "100000"), on=ON))["SG-845011"] == 20_000
    assert "SG-845011" not in amounts(assess(demo, goods=goods("845011", "BD", "100000"), on=ON))


def test_quota_in_full_and_split_when_partly_granted(demo):
    item = goods("040210", "NZ", "1000000", net_mass=D(500))
    assert amounts(assess(demo, goods=item, on=ON)) == {"MFN-0402": 1_760_000, "VAT": 276_000}
    full = assess(demo, goods=item, on=ON, granted={"Q-0402": D(500)})
    assert amounts(full) == {"TQ-0402": 200_000, "VAT": 120_000}
    part = assess(demo, goods=item, on=ON, granted={"Q-0402": D(200)})
    # 40% in quota: 20% x 400,000 = 80,000; the rest at 176% x 600,000 = 1,056,000
    assert [(line.measure, int(line.amount.amount)) for line in part.lines][:2] == [
        ("TQ-0402", 80_000),
        ("MFN-0402", 1_056_000),
    ]
    # A mass finer than the quota's thousandths is granted in full: no stray third-country line.
    fine = goods("040210", "NZ", "1000000", net_mass=D("1234.5674"))
    assert set(amounts(assess(demo, goods=fine, on=ON, granted={"Q-0402": D("1234.567")}))) == {
        "TQ-0402",
        "VAT",
    }


def test_selection_says_why_for_every_measure(demo):
    chosen = select(demo, goods=goods("720851", "CN", "0", exporter="Baoshan Demo Steel Co."), on=ON)
    reasons = [finding.reason for finding in chosen.findings]
    assert "AD-7208 (anti-dumping duty, line 7208): the exporter has its own rate" in reasons
    assert chosen.third_country is not None and chosen.third_country.role is Role.THIRD_COUNTRY


def test_every_hs_chapter_has_a_third_country_rate(demo):
    from customhouse.reference import codes

    for chapter in (code for code in codes.hs_descriptions() if len(code) == 2):
        assert any(m.role is Role.THIRD_COUNTRY for m in demo.lines[chapter]), chapter


subheadings = st.sampled_from(
    ["610910", "720851", "220830", "240220", "040210", "845011", "010121", "854142"]
)


@settings(max_examples=200, deadline=None)
@given(
    hs=subheadings,
    origin=st.sampled_from(["CN", "DE", "BD", "US", "ID"]),
    value=st.decimals(min_value=0, max_value=10**10, places=2, allow_nan=False, allow_infinity=False),
    mass=st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False, allow_infinity=False),
    quantity=st.decimals(min_value=1, max_value=10**5, places=3, allow_nan=False, allow_infinity=False),
    claimed=st.booleans(),
    proven=st.booleans(),
    granted=st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False, allow_infinity=False),
)
def test_lines_are_never_negative_and_sum_to_the_total(
    demo, hs, origin, value, mass, quantity, claimed, proven, granted
):
    item = goods(
        hs, origin, str(value), net_mass=mass, quantity=quantity, unit="C62" if hs == "240220" else "LTR",
        alcohol_strength=D(40), preference_claimed=claimed, proof_of_origin=proven,
    )  # fmt: skip
    result = assess(demo, goods=item, on=ON, granted={"Q-0402": granted})
    assert all(line.amount.amount >= 0 for line in result.lines)
    assert sum(line.amount.amount for line in result.lines) == result.total.amount


def _small_tariff(*measures: Measure) -> Tariff:
    lines: dict[str, list[Measure]] = {}
    for measure in measures:
        lines.setdefault(measure.hs, []).append(measure)
    return Tariff(
        name="t", currency="KRW", rounding=Rounding.HALF_UP, places=0, groups={}, quotas={}, lines=lines
    )


def _measure(id: str, role: Role, hs: str, percent: str, **fields) -> Measure:
    return Measure(id=id, role=role, hs=hs, duty=AdValorem(D(percent)), valid_from=date(2020, 1, 1), **fields)


def test_a_longer_line_for_other_origins_does_not_hide_a_shorter_one_for_this_origin():
    tariff = _small_tariff(
        _measure("MFN-72", Role.THIRD_COUNTRY, "72", "8"),
        _measure("MFN-US", Role.THIRD_COUNTRY, "72085100", "0", origins=frozenset({"US"})),
        _measure("AD-VN", Role.ANTI_DUMPING, "720851", "20", origins=frozenset({"VN"})),
        _measure("AD-CN", Role.ANTI_DUMPING, "7208510010", "30", origins=frozenset({"CN"})),
    )
    from_vietnam = amounts(assess(tariff, goods=goods("7208510010", "VN", "1000000"), on=ON))
    assert from_vietnam == {"MFN-72": 80_000, "AD-VN": 200_000}
    from_us = amounts(assess(tariff, goods=goods("7208510010", "US", "1000000"), on=ON))
    assert from_us == {"MFN-US": 0}


def test_a_named_exporter_on_a_longer_line_does_not_hide_the_rate_for_all_others():
    tariff = _small_tariff(
        _measure("MFN-72", Role.THIRD_COUNTRY, "72", "0"),
        _measure("AD-ALL", Role.ANTI_DUMPING, "720851", "25", origins=frozenset({"CN"})),
        _measure(
            "AD-BAO", Role.ANTI_DUMPING, "7208510010", "5", origins=frozenset({"CN"}), exporter="Bao Steel"
        ),
    )
    named = assess(tariff, goods=goods("7208510010", "CN", "1000000", exporter="bao  steel"), on=ON)
    other = assess(tariff, goods=goods("7208510010", "CN", "1000000", exporter="Other Mill"), on=ON)
    assert amounts(named) == {"MFN-72": 0, "AD-BAO": 50_000}
    assert amounts(other) == {"MFN-72": 0, "AD-ALL": 250_000}
