"""The lane decision of the risk engine, pure: no database, everything it needs in a `Snapshot`.

Order, as ASYCUDA's selectivity does it:

1. Mandatory rules: the active profiles valid at the time of acceptance, highest priority first (then
   lowest id); the first that matches decides the lane. The others that match are named too.
2. Otherwise the promoted model's calibrated probability against the thresholds (fixed, or set from the
   office's target shares of yellow and red through the model's score distribution on its holdout).
   An authorised economic operator (declarant, importer, exporter or seller: a partner's AEO
   recognised under a mutual recognition agreement is one too) has its probability weighed by
   `aeo_factor` (below 1): a lower control rate, as the WCO SAFE framework asks. Without a promoted
   model, the default rule (`RequiredDocuments`) decides. A missing required document always means at
   least the yellow lane. (The explanation of a model's yellow or red lane, LightGBM's feature
   contributions, costs more than the rest of the decision: `risk.service.on_accepted` computes it
   after the fact and keeps it with the decision.)
3. Random exploration: a declaration that would go green is selected at random with probability
   `exploration` (at least 2 %, per office if set), to the red lane for `exploration_red_share` of
   those, else yellow, so that the model keeps learning from unbiased samples.
4. Passes without control (`limit_passes`, applied by `risk.selector` which keeps the counts per
   profile and office in `risk_passes`): a green declaration matched by a profile that has let its
   maximum of matched declarations in a row go uncontrolled goes to the yellow lane.

A model's reason also carries the expected revenue at stake (`risk.revenue`) when the model version
learnt its rates.

Every decision's first reason names what made it, in a fixed form that `trace` reads back:
`rule CODE (profile ID, revision N): ...`, `model vN: probability of irregularity P ...`,
`random selection (...)`, or a missing document. A model's reason is also kept when something else
decided, so that every lane names the model version that scored it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from customhouse.declarations.schemas import DeclarationDocument, Lane
from customhouse.declarations.selectivity import LaneDecision, missing_documents
from customhouse.risk.revenue import RevenueRates

MIN_EXPLORATION = 0.02
ORDER = {Lane.GREEN: 0, Lane.YELLOW: 1, Lane.RED: 2}
Band = tuple[float, float, int]  # mean and standard deviation of log(price per kg), count
Bands = Mapping[tuple[str, str, str], Band]
MIN_SD = 0.05  # a band narrower than this (a few identical prices) is widened to it


@dataclass(frozen=True)
class Facts:
    """What the conditions look at, computed once per declaration."""

    document: DeclarationDocument
    parties: frozenset[str]
    offices: frozenset[str]
    items: tuple[tuple[str, str, float], ...]  # HS6, origin, log(price per kg)
    missing: tuple[str, ...]
    prefixes: frozenset[str]  # every item's HS2, HS4 and HS6
    origins: frozenset[str]

    @classmethod
    def of(cls, document: DeclarationDocument) -> Facts:
        named = (
            document.declarant,
            document.representative,
            document.importer,
            document.exporter,
            document.seller,
            document.buyer,
        )
        offices = (
            document.office_of_lodgement,
            document.office_of_entry,
            document.office_of_exit,
            document.office_of_destination,
        )
        items = tuple(
            (item.hs_code, item.origin, math.log(float(item.price) / float(item.net_mass)))
            if item.price > 0
            else (item.hs_code, item.origin, -math.inf)
            for item in document.goods_items
        )
        return cls(
            document,
            frozenset(party.id for party in named if party is not None and party.id),
            frozenset(office for office in offices if office),
            items,
            tuple(missing_documents(document)),
            frozenset(hs[:length] for hs, _, _ in items for length in (2, 4, 6)),
            frozenset(origin for _, origin, _ in items),
        )


@dataclass(frozen=True)
class Rule:
    """A profile compiled for matching (see `risk.schemas.Conditions` for what each condition means)."""

    id: int
    code: str
    revision: int
    lane: Lane
    priority: int
    reason: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    max_passes: int | None = None
    kinds: frozenset[str] = frozenset()
    hs_prefixes: tuple[str, ...] = ()
    origins: frozenset[str] = frozenset()
    dispatch_countries: frozenset[str] = frozenset()
    parties: frozenset[str] = frozenset()
    offices: frozenset[str] = frozenset()
    transport_modes: frozenset[str] = frozenset()
    incoterms: frozenset[str] = frozenset()
    currencies: frozenset[str] = frozenset()
    unit_value_sigmas: float | None = None
    unit_value_side: str = "either"
    missing_documents: bool | None = None

    @classmethod
    def compile(
        cls,
        *,
        id: int,
        code: str,
        revision: int,
        lane: str,
        priority: int,
        reason: str,
        conditions: Mapping[str, Any],
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
        max_passes: int | None = None,
    ) -> Rule:
        def codes(name: str) -> frozenset[str]:
            return frozenset(str(value) for value in conditions.get(name) or ())

        return cls(
            id=id,
            code=code,
            revision=revision,
            lane=Lane(lane),
            priority=priority,
            reason=reason,
            valid_from=valid_from,
            valid_to=valid_to,
            max_passes=max_passes,
            kinds=codes("kinds"),
            hs_prefixes=tuple(conditions.get("hs_prefixes") or ()),
            origins=codes("origins"),
            dispatch_countries=codes("dispatch_countries"),
            parties=codes("parties"),
            offices=codes("offices"),
            transport_modes=codes("transport_modes"),
            incoterms=codes("incoterms"),
            currencies=codes("currencies"),
            unit_value_sigmas=conditions.get("unit_value_sigmas"),
            unit_value_side=conditions.get("unit_value_side") or "either",
            missing_documents=conditions.get("missing_documents"),
        )

    @property
    def trace(self) -> str:
        return f"rule {self.code} (profile {self.id}, revision {self.revision})"

    def valid_at(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_to is None or at < self.valid_to
        )

    def matches(self, facts: Facts, bands: Bands) -> bool:
        document = facts.document
        if self.kinds and document.kind.value not in self.kinds:
            return False
        if self.dispatch_countries and document.country_of_dispatch not in self.dispatch_countries:
            return False
        if self.parties and not (facts.parties & self.parties):
            return False
        if self.offices and not (facts.offices & self.offices):
            return False
        if self.transport_modes and document.transport_mode not in self.transport_modes:
            return False
        if self.incoterms and document.incoterm not in self.incoterms:
            return False
        if self.currencies and document.invoice_currency not in self.currencies:
            return False
        if self.missing_documents is not None and bool(facts.missing) != self.missing_documents:
            return False
        if self.hs_prefixes and facts.prefixes.isdisjoint(self.hs_prefixes):
            return False  # no item can match: the per-item test below is for items matching both
        if self.origins and facts.origins.isdisjoint(self.origins):
            return False
        if self.hs_prefixes or self.origins or self.unit_value_sigmas is not None:
            return any(self._item_matches(item, document.invoice_currency, bands) for item in facts.items)
        return True

    def _item_matches(self, item: tuple[str, str, float], currency: str, bands: Bands) -> bool:
        hs6, origin, log_unit_value = item
        if self.hs_prefixes and not hs6.startswith(self.hs_prefixes):
            return False
        if self.origins and origin not in self.origins:
            return False
        if self.unit_value_sigmas is not None:
            band = bands.get((hs6, origin, currency))
            if band is None or band[2] < 2:
                return False  # no reference yet: the condition cannot hold
            z = (log_unit_value - band[0]) / max(band[1], MIN_SD)
            side = self.unit_value_side
            if side == "below":
                return z < -self.unit_value_sigmas
            if side == "above":
                return z > self.unit_value_sigmas
            return abs(z) > self.unit_value_sigmas
        return True


class Scorer(Protocol):
    """What the decision needs of a model: a calibrated probability for one declaration."""

    @property
    def version(self) -> int: ...

    @property
    def quantiles(self) -> list[float]:  # the probability at each percentile 0..100 of its holdout
        ...

    @property
    def revenue(self) -> RevenueRates | None: ...

    def probability(self, document: DeclarationDocument, at: datetime) -> float: ...


@dataclass(frozen=True)
class OfficeShares:
    """Target shares of the yellow and red lanes for an office (from its inspection capacity)."""

    yellow: float
    red: float


@dataclass(frozen=True)
class Parameters:
    """Lane parameters, per office as ASYCUDA sets them where an office is named: `office_shares`
    override the fixed thresholds, `office_exploration` the random selection rate, `office_max_passes`
    the passes without control allowed to a profile that sets none."""

    exploration: float = MIN_EXPLORATION
    exploration_red_share: float = 0.1
    red_threshold: float = 0.5
    yellow_threshold: float = 0.2
    aeo_factor: float = 0.5
    office_shares: Mapping[str, OfficeShares] = field(default_factory=dict)
    default_shares: OfficeShares | None = None  # for offices not named; None: the fixed thresholds
    office_exploration: Mapping[str, float] = field(default_factory=dict)
    max_passes: int | None = None  # for profiles that set none, at offices not named
    office_max_passes: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rate in (self.exploration, *self.office_exploration.values()):
            if not MIN_EXPLORATION <= rate <= 1:
                raise ValueError(
                    f"an exploration rate must be at least {MIN_EXPLORATION:.0%} (and at most 1), not {rate}"
                )
        if any(limit < 0 for limit in (self.max_passes or 0, *self.office_max_passes.values())):
            raise ValueError("a maximum number of passes cannot be negative")
        if not 0 <= self.exploration_red_share <= 1:
            raise ValueError("exploration_red_share must be between 0 and 1")
        if not 0 < self.aeo_factor <= 1:
            raise ValueError("aeo_factor must be in (0, 1]")
        if not 0 <= self.yellow_threshold <= self.red_threshold <= 1:
            raise ValueError("thresholds must satisfy 0 <= yellow <= red <= 1")

    def exploration_at(self, office: str) -> float:
        return self.office_exploration.get(office, self.exploration)

    def max_passes_of(self, rule: Rule, office: str) -> int | None:
        if rule.max_passes is not None:
            return rule.max_passes
        return self.office_max_passes.get(office, self.max_passes)

    def thresholds(self, office: str, quantiles: list[float]) -> tuple[float, float]:
        """(yellow, red) probability thresholds at this office."""
        shares = self.office_shares.get(office, self.default_shares)
        if shares is None or len(quantiles) != 101:
            return self.yellow_threshold, self.red_threshold
        red = _quantile(quantiles, 1.0 - shares.red)
        yellow = _quantile(quantiles, 1.0 - shares.red - shares.yellow)
        return min(yellow, red), red


def _quantile(quantiles: list[float], q: float) -> float:
    position = min(max(q, 0.0), 1.0) * 100
    low = math.floor(position)
    high = min(low + 1, 100)
    weight = position - low
    value = quantiles[low] * (1 - weight) + quantiles[high] * weight
    return math.nextafter(value, math.inf) if q >= 1.0 else value


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision reads: rules by priority, reference bands, AEO parties, the model."""

    rules: tuple[Rule, ...] = ()
    bands: Bands = field(default_factory=dict)
    aeo: frozenset[str] = frozenset()
    scorer: Scorer | None = None

    @classmethod
    def build(
        cls,
        rules: list[Rule],
        bands: Bands | None = None,
        aeo: frozenset[str] = frozenset(),
        scorer: Scorer | None = None,
    ) -> Snapshot:
        ordered = tuple(sorted(rules, key=lambda rule: (-rule.priority, rule.id)))
        return cls(ordered, bands or {}, aeo, scorer)


def decide(
    snapshot: Snapshot,
    document: DeclarationDocument,
    parameters: Parameters,
    *,
    at: datetime,
    uniform: Callable[[], float] = random.random,
) -> LaneDecision:
    """The lane and its reasons (the first names what decided); see the module docstring."""
    facts = Facts.of(document)
    matched = [rule for rule in snapshot.rules if rule.valid_at(at) and rule.matches(facts, snapshot.bands)]
    if matched:
        winner = matched[0]
        lane = winner.lane
        reasons = [f"{winner.trace}: {winner.reason}"]
        reasons += [f"also matched {rule.trace}: {rule.reason}" for rule in matched[1:]]
    else:
        lane, reasons = _scored(snapshot, facts, parameters, at)
    exploration = parameters.exploration_at(document.office_of_lodgement)
    if lane is Lane.GREEN and uniform() < exploration:
        lane = Lane.RED if uniform() < parameters.exploration_red_share else Lane.YELLOW
        reasons = [f"random selection (exploration rate {exploration:.1%})", *reasons]
    return LaneDecision(lane, reasons)


def limited(snapshot: Snapshot, decision: LaneDecision, parameters: Parameters, office: str) -> list[Rule]:
    """The profiles that matched this decision and limit their passes without control at `office`."""
    matched = {profile_id for profile_id, _ in trace(decision.reasons).matched}
    return [
        rule
        for rule in snapshot.rules
        if rule.id in matched and parameters.max_passes_of(rule, office) is not None
    ]


def limit_passes(
    decision: LaneDecision,
    rules: list[Rule],
    passes: Mapping[int, int],
    parameters: Parameters,
    office: str,
) -> tuple[LaneDecision, dict[int, int]]:
    """ASYCUDA's maximum number of passes without control: a green declaration matched by a profile
    that has let `max_passes` matched declarations in a row go without control at this office goes to
    the yellow lane instead. Any control (a yellow or red lane) starts the profiles' counts again.
    Returns the decision and the new counts (`passes`: the counts before, by profile id)."""
    if decision.lane is not Lane.GREEN:
        return decision, {rule.id: 0 for rule in rules}
    for rule in rules:
        limit = parameters.max_passes_of(rule, office)
        if limit is not None and passes.get(rule.id, 0) >= limit:
            reason = f"{rule.trace}: {limit} passes without control at {office}, the most it allows"
            return LaneDecision(Lane.YELLOW, [reason, *decision.reasons]), {r.id: 0 for r in rules}
    return decision, {rule.id: passes.get(rule.id, 0) + 1 for rule in rules}


def _scored(snapshot: Snapshot, facts: Facts, parameters: Parameters, at: datetime) -> tuple[Lane, list[str]]:
    documents = [f"missing document {reason}" for reason in facts.missing]
    documents_lane = Lane.YELLOW if documents else Lane.GREEN
    scorer = snapshot.scorer
    if scorer is None:
        return documents_lane, documents or ["all required supporting documents present"]
    document = facts.document
    probability = scorer.probability(document, at)
    named = (document.declarant, document.importer, document.exporter, document.seller)
    ids = {party.id for party in named if party is not None and party.id}
    aeo = sorted(ids & snapshot.aeo)
    weighed = probability * parameters.aeo_factor if aeo else probability
    yellow, red = parameters.thresholds(document.office_of_lodgement, scorer.quantiles)
    lane = Lane.RED if weighed >= red else Lane.YELLOW if weighed >= yellow else Lane.GREEN
    comparison = (
        f">= red threshold {red:.3f}"
        if lane is Lane.RED
        else f">= yellow threshold {yellow:.3f}"
        if lane is Lane.YELLOW
        else f"< yellow threshold {yellow:.3f}"
    )
    weighing = f" (x{parameters.aeo_factor:g} for AEO = {weighed:.3f})" if aeo else ""
    rates = scorer.revenue
    stake = rates.at_stake(document, probability) if rates else None
    revenue = f"; revenue at stake {rates.currency} {stake}" if rates and stake is not None else ""
    head = f"model v{scorer.version}: probability of irregularity {probability:.3f}{weighing}"
    model = [f"{head} {comparison}{revenue}"]
    if aeo:
        model.append(f"authorised economic operator {', '.join(str(a) for a in aeo)}: lower control rate")
    if ORDER[documents_lane] > ORDER[lane]:
        return documents_lane, [*documents, *model]
    return lane, [*model, *documents]


@dataclass(frozen=True)
class Trace:
    """What made a lane decision, read back from its reasons."""

    source: str  # rule, model, random, documents
    profile_id: int | None = None
    profile_revision: int | None = None
    matched: tuple[tuple[int, int], ...] = ()
    model_version: int | None = None
    probability: float | None = None
    revenue_at_stake: Decimal | None = None


_RULE = re.compile(r"^(?:also matched )?rule \S+ \(profile (\d+), revision (\d+)\)")
_MODEL = re.compile(r"^model v(\d+): probability of irregularity ([0-9.]+)")
_REVENUE = re.compile(r"; revenue at stake [A-Z]{0,3} ?(\d+)$")


def trace(reasons: list[str]) -> Trace:
    """The source of a decision from its reasons (the forms `decide` writes)."""
    matched: list[tuple[int, int]] = []
    model_version: int | None = None
    probability: float | None = None
    revenue: Decimal | None = None
    for reason in reasons:
        if found := _RULE.match(reason):
            pair = (int(found.group(1)), int(found.group(2)))
            if pair not in matched:
                matched.append(pair)
        elif found := _MODEL.match(reason):
            model_version, probability = int(found.group(1)), float(found.group(2))
            if stake := _REVENUE.search(reason):
                revenue = Decimal(stake.group(1))
    first = reasons[0] if reasons else ""
    if first.startswith("random selection"):
        source = "random"
    elif _RULE.match(first):
        source = "rule"
    elif _MODEL.match(first):
        source = "model"
    else:
        source = "documents"
    winner = matched[0] if source == "rule" else (None, None)
    return Trace(source, winner[0], winner[1], tuple(matched), model_version, probability, revenue)
