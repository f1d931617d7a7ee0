"""The risk engine's lane decision, pure (no database): rules, model thresholds, AEO, exploration, trace."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from customhouse.declarations.schemas import DeclarationDocument, Lane
from customhouse.risk.lanes import (
    MIN_EXPLORATION,
    OfficeShares,
    Parameters,
    Rule,
    Snapshot,
    decide,
    limit_passes,
    limited,
    trace,
)
from customhouse.risk.revenue import RevenueRates
from tests import factories

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
NEVER = lambda: 1.0  # noqa: E731  (a uniform draw that never selects at random)


def document(**overrides: Any) -> DeclarationDocument:
    return DeclarationDocument.model_validate(factories.declaration(**overrides))


def rule(id: int, lane: str, priority: int = 100, **conditions: Any) -> Rule:
    window = {k: conditions.pop(k) for k in ("valid_from", "valid_to", "max_passes") if k in conditions}
    return Rule.compile(
        id=id,
        code=f"R{id}",
        revision=1,
        lane=lane,
        priority=priority,
        reason=f"reason {id}",
        conditions=conditions,
        **window,
    )


class FixedScorer:
    def __init__(
        self,
        probability: float,
        version: int = 7,
        quantiles: list[float] | None = None,
        revenue: RevenueRates | None = None,
    ) -> None:
        self.value = probability
        self.version = version
        self.quantiles = quantiles or []
        self.revenue = revenue

    def probability(self, document: DeclarationDocument, at: datetime) -> float:
        return self.value


def lane_of(snapshot: Snapshot, doc: DeclarationDocument, **parameters: Any) -> tuple[Lane, list[str]]:
    decision = decide(snapshot, doc, Parameters(**parameters), at=NOW, uniform=NEVER)
    return decision.lane, decision.reasons


def test_highest_priority_matching_rule_decides_and_names_the_others() -> None:
    snapshot = Snapshot.build(
        [
            rule(1, "yellow", 10, hs_prefixes=["8517"]),
            rule(2, "red", 50, origins=["CN"], hs_prefixes=["6109"]),
            rule(3, "red", 99, origins=["VN"]),  # does not match
        ]
    )
    lane, reasons = lane_of(snapshot, document())
    assert lane is Lane.RED
    assert reasons[0] == "rule R2 (profile 2, revision 1): reason 2"
    assert reasons[1] == "also matched rule R1 (profile 1, revision 1): reason 1"
    assert trace(reasons).source == "rule" and trace(reasons).profile_id == 2
    assert trace(reasons).matched == ((2, 1), (1, 1))


@pytest.mark.parametrize(
    ("conditions", "matches"),
    [
        ({"hs_prefixes": ["61"]}, True),
        ({"hs_prefixes": ["62"]}, False),
        ({"hs_prefixes": ["6109"], "origins": ["CN"]}, True),
        ({"hs_prefixes": ["6109"], "origins": ["VN"]}, False),  # the same item must hold both
        ({"origins": ["CN"], "dispatch_countries": ["CN"]}, True),
        ({"dispatch_countries": ["HK"]}, False),
        ({"parties": [factories.SELLER]}, True),
        ({"parties": ["KR1999999999"]}, False),
        ({"offices": ["KR000040"]}, True),
        ({"offices": ["KR000010"]}, False),
        ({"transport_modes": ["1"]}, True),
        ({"transport_modes": ["4"]}, False),
        ({"incoterms": ["CIF"]}, True),
        ({"incoterms": ["EXW", "FOB"]}, False),
        ({"kinds": ["import"]}, True),
        ({"kinds": ["export"]}, False),
        ({"currencies": ["USD"]}, True),
        ({"missing_documents": True}, False),
        ({"missing_documents": False}, True),
        ({}, True),
    ],
)
def test_each_condition(conditions: dict[str, Any], matches: bool) -> None:
    lane, _ = lane_of(Snapshot.build([rule(1, "red", **conditions)]), document())
    assert (lane is Lane.RED) is matches


def test_missing_documents_condition_and_default_rule() -> None:
    bare = document(documents=[])
    lane, reasons = lane_of(Snapshot.build([rule(1, "red", missing_documents=True)]), bare)
    assert lane is Lane.RED
    lane, reasons = lane_of(Snapshot.build([]), bare)  # no rule, no model: RequiredDocuments' answer
    assert lane is Lane.YELLOW and reasons[0].startswith("missing document invoice")
    assert trace(reasons).source == "documents"


def test_unit_value_outside_the_reference_band() -> None:
    # item 2: 500.00 USD for 100 kg of 610910 from CN: log(5) per kg
    centre = math.log(5.0)
    doc = document()
    cheap = {("610910", "CN", "USD"): (centre + 1.0, 0.2, 40)}  # the declared price is 5 sd below
    usual = {("610910", "CN", "USD"): (centre + 0.1, 0.2, 40)}
    below = rule(1, "red", unit_value_sigmas=3, unit_value_side="below")
    above = rule(1, "red", unit_value_sigmas=3, unit_value_side="above")
    assert lane_of(Snapshot.build([below], cheap), doc)[0] is Lane.RED
    assert lane_of(Snapshot.build([above], cheap), doc)[0] is Lane.GREEN
    assert lane_of(Snapshot.build([below], usual), doc)[0] is Lane.GREEN
    assert lane_of(Snapshot.build([below], {}), doc)[0] is Lane.GREEN  # no reference: no match
    other_currency = {("610910", "CN", "EUR"): (centre + 1.0, 0.2, 40)}
    assert lane_of(Snapshot.build([below], other_currency), doc)[0] is Lane.GREEN


def test_validity_window() -> None:
    future = rule(1, "red", valid_from=NOW + timedelta(days=1))
    past = rule(2, "red", valid_to=NOW)
    current = rule(3, "yellow", valid_from=NOW - timedelta(days=1), valid_to=NOW + timedelta(seconds=1))
    lane, reasons = lane_of(Snapshot.build([future, past, current]), document())
    assert lane is Lane.YELLOW and trace(reasons).profile_id == 3


def test_model_thresholds_and_trace() -> None:
    for probability, expected in ((0.9, Lane.RED), (0.3, Lane.YELLOW), (0.05, Lane.GREEN)):
        lane, reasons = lane_of(Snapshot.build([], scorer=FixedScorer(probability)), document())
        assert lane is expected
        assert reasons[0].startswith(f"model v7: probability of irregularity {probability:.3f}")
        found = trace(reasons)
        assert (found.source, found.model_version, found.probability) == ("model", 7, probability)


def test_a_rule_beats_the_model_and_missing_documents_raise_a_green_score() -> None:
    snapshot = Snapshot.build([rule(1, "green", hs_prefixes=["8517"])], scorer=FixedScorer(0.99))
    lane, reasons = lane_of(snapshot, document())
    assert lane is Lane.GREEN and trace(reasons).source == "rule"
    lane, reasons = lane_of(Snapshot.build([], scorer=FixedScorer(0.01)), document(documents=[]))
    assert lane is Lane.YELLOW and trace(reasons).source == "documents"
    assert trace(reasons).model_version == 7  # the model that scored it is still named


def test_thresholds_from_office_target_shares() -> None:
    quantiles = [i / 100 for i in range(101)]  # probabilities spread evenly
    shares = {"KR000040": OfficeShares(yellow=0.10, red=0.05)}
    snapshot = Snapshot.build([], scorer=FixedScorer(0.96, quantiles=quantiles))
    assert lane_of(snapshot, document(), office_shares=shares)[0] is Lane.RED  # top 5 %: >= 0.95
    snapshot = Snapshot.build([], scorer=FixedScorer(0.90, quantiles=quantiles))
    assert lane_of(snapshot, document(), office_shares=shares)[0] is Lane.YELLOW  # next 10 %: >= 0.85
    snapshot = Snapshot.build([], scorer=FixedScorer(0.80, quantiles=quantiles))
    assert lane_of(snapshot, document(), office_shares=shares)[0] is Lane.GREEN
    other = document(office_of_lodgement="KR000010", office_of_entry="KR000010")
    assert lane_of(snapshot, other, office_shares=shares)[0] is Lane.RED  # fixed thresholds there


def test_aeo_parties_get_a_lower_control_rate() -> None:
    scorer = FixedScorer(0.6)  # red for others (>= 0.5), yellow for an AEO (0.6 x 0.5 = 0.3)
    plain = Snapshot.build([], scorer=scorer)
    aeo = Snapshot.build([], aeo=frozenset({factories.TRADER}), scorer=scorer)
    assert lane_of(plain, document())[0] is Lane.RED
    lane, reasons = lane_of(aeo, document())
    assert lane is Lane.YELLOW
    assert any(reason.startswith("authorised economic operator KR1000000001") for reason in reasons)


def test_a_partners_aeo_seller_recognised_under_mutual_recognition_counts() -> None:
    seller = {"id": "CN5000000001", "name": "Shenzhen Bright Electronics", "country": "CN"}
    recognised = Snapshot.build([], aeo=frozenset({"CN5000000001"}), scorer=FixedScorer(0.6))
    lane, reasons = lane_of(recognised, document(seller=seller))
    assert lane is Lane.YELLOW  # red for others
    assert "authorised economic operator CN5000000001: lower control rate" in reasons


def test_exploration_cannot_be_set_below_two_percent() -> None:
    with pytest.raises(ValueError, match="at least 2%"):
        Parameters(exploration=0.01)
    assert Parameters().exploration == MIN_EXPLORATION


@pytest.mark.parametrize("rate", [0.02, 0.05])
def test_random_selection_rate_over_10000_lodgements(rate: float) -> None:
    """Binomial(10,000, rate): within 4 standard deviations (a false alarm about once in 16,000 runs)."""
    rng = random.Random(20261128)
    snapshot = Snapshot.build([], scorer=FixedScorer(0.01))  # every declaration scores green
    doc = document()
    parameters = Parameters(exploration=rate, exploration_red_share=0.25)
    n = 10_000
    decisions = [decide(snapshot, doc, parameters, at=NOW, uniform=rng.random) for _ in range(n)]
    selected = [d for d in decisions if d.lane is not Lane.GREEN]
    assert all(d.reasons[0].startswith("random selection") for d in selected)
    assert all(trace(d.reasons).source == "random" and trace(d.reasons).model_version == 7 for d in selected)
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(len(selected) - n * rate) < 4 * sd
    red = sum(d.lane is Lane.RED for d in selected)
    red_sd = math.sqrt(len(selected) * 0.25 * 0.75)
    assert abs(red - 0.25 * len(selected)) < 4 * red_sd


def test_random_selection_only_lifts_green() -> None:
    snapshot = Snapshot.build([rule(1, "yellow")])
    decision = decide(snapshot, document(), Parameters(exploration=1.0), at=NOW, uniform=lambda: 0.0)
    assert decision.lane is Lane.YELLOW and trace(decision.reasons).source == "rule"
    green = Snapshot.build([rule(1, "green")])
    decision = decide(green, document(), Parameters(exploration=1.0, exploration_red_share=0.0), at=NOW)
    assert decision.lane is Lane.YELLOW
    assert decision.reasons[0] == "random selection (exploration rate 100.0%)"
    assert trace(decision.reasons).matched == ((1, 1),)


def test_exploration_rate_per_office() -> None:
    snapshot = Snapshot.build([], scorer=FixedScorer(0.01))
    parameters = Parameters(office_exploration={"KR000040": 0.5})
    draw = iter([0.3, 0.9, 0.3, 0.9])  # below 0.5 but above the default 0.02: selected only at KR000040
    here = decide(snapshot, document(), parameters, at=NOW, uniform=lambda: next(draw))
    other = document(office_of_lodgement="KR000010", office_of_entry="KR000010")
    there = decide(snapshot, other, parameters, at=NOW, uniform=lambda: next(draw))
    assert here.lane is Lane.YELLOW and here.reasons[0] == "random selection (exploration rate 50.0%)"
    assert there.lane is Lane.GREEN
    with pytest.raises(ValueError, match="at least 2%"):
        Parameters(office_exploration={"KR000040": 0.01})


def test_a_profile_lets_at_most_max_passes_go_without_control() -> None:
    """ASYCUDA's maximum number of passes: with 3 allowed, the 4th matched green declaration in a row
    goes yellow, named after the profile; a control starts the count again."""
    green = rule(1, "green", hs_prefixes=["8517"], max_passes=3)
    snapshot = Snapshot.build([green, rule(2, "green", priority=1)])
    parameters = Parameters()
    counts: dict[int, int] = {}
    lanes = []
    for _ in range(9):
        decision = decide(snapshot, document(), parameters, at=NOW, uniform=NEVER)
        rules = limited(snapshot, decision, parameters, "KR000040")
        assert [r.id for r in rules] == [1]  # profile 2 sets no limit and the office none
        decision, counts = limit_passes(decision, rules, counts, parameters, "KR000040")
        lanes.append(decision.lane)
        if decision.lane is Lane.YELLOW:
            assert decision.reasons[0] == (
                "rule R1 (profile 1, revision 1): 3 passes without control at KR000040, the most it allows"
            )
            found = trace(decision.reasons)
            assert (found.source, found.profile_id, found.matched) == ("rule", 1, ((1, 1), (2, 1)))
    assert lanes == [Lane.GREEN] * 3 + [Lane.YELLOW] + [Lane.GREEN] * 3 + [Lane.YELLOW, Lane.GREEN]
    controlled = decide(Snapshot.build([rule(1, "yellow")]), document(), parameters, at=NOW, uniform=NEVER)
    assert limit_passes(controlled, [green], {1: 2}, parameters, "KR000040")[1] == {1: 0}


def test_max_passes_per_office_for_profiles_that_set_none() -> None:
    plain = rule(1, "green")
    parameters = Parameters(max_passes=10, office_max_passes={"KR000040": 0})
    assert parameters.max_passes_of(plain, "KR000040") == 0  # every match controlled there
    assert parameters.max_passes_of(plain, "KR000010") == 10
    assert parameters.max_passes_of(rule(2, "green", max_passes=4), "KR000040") == 4
    decision = decide(Snapshot.build([plain]), document(), parameters, at=NOW, uniform=NEVER)
    assert limit_passes(decision, [plain], {}, parameters, "KR000040")[0].lane is Lane.YELLOW
    assert not limited(Snapshot.build([plain]), decision, Parameters(), "KR000040")


def test_the_model_reason_carries_the_revenue_at_stake() -> None:
    rates = RevenueRates("KRW", {"USD": {"": 100.0, "85": 300.0}})
    doc = document()  # HS 851713 at USD 1,000 (chapter 85's rate), 610910 at USD 500 (the currency's)
    _, reasons = lane_of(Snapshot.build([], scorer=FixedScorer(0.4, revenue=rates)), doc)
    expected = round(0.4 * (300.0 * 1000 + 100.0 * 500))
    assert reasons[0].endswith(f"; revenue at stake KRW {expected}")
    assert trace(reasons).revenue_at_stake == expected
    eur = document(invoice_currency="EUR")
    _, reasons = lane_of(Snapshot.build([], scorer=FixedScorer(0.4, revenue=rates)), eur)
    assert "revenue at stake" not in reasons[0] and trace(reasons).revenue_at_stake is None
