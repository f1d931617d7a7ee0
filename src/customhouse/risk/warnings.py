"""Early warning: patterns in recent lodgements that a supervisor should look at, each with its evidence.

Pure: the lodgements, the unit-value bands and the anti-dumping measures come from the caller.

- unit_value_outlier: an item whose price per kg lies `z` or more standard deviations from the band
  of its HS6, origin and invoice currency (log scale, as `risk.history.unit_value_bands` keeps them;
  bands of fewer than `band_minimum` items are not trusted).
- surge: an importer, HS6 or origin with at least `surge_minimum` declarations in the window and at
  least `surge_factor` times what its baseline rate (the `baseline` before the window) predicts.
- new_trader_high_value: an importer with no declaration in the baseline whose declaration in the
  window is among the highest-value ones of its invoice currency (at or above `high_value_quantile`).
- circumvention: goods dispatched from a country whose exports of that product bear anti-dumping
  duty, declared as of another origin that does not.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

Bands = Mapping[tuple[str, str, str], tuple[float, float, int]]  # (hs6, origin, currency) -> mean, sd, n


@dataclass(frozen=True, slots=True)
class Item:
    sequence: int
    hs_code: str
    origin: str
    price: Decimal
    net_mass: Decimal


@dataclass(frozen=True, slots=True)
class Lodged:
    declaration_id: str
    lodged_at: datetime
    importer: str | None
    dispatch: str  # country of dispatch
    currency: str  # invoice currency
    total: Decimal  # invoice total
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Warning:
    kind: str
    subject: str
    text: str
    declarations: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Thresholds:
    z: float = 3.0
    band_minimum: int = 5
    surge_factor: float = 3.0
    surge_minimum: int = 5
    high_value_quantile: float = 0.95


def early_warnings(
    lodged: Sequence[Lodged],
    *,
    since: datetime,
    until: datetime,
    baseline: timedelta,
    bands: Bands,
    dumping: Mapping[str, frozenset[str]],
    thresholds: Thresholds = Thresholds(),
) -> list[Warning]:
    """Warnings about the lodgements of [since, until), judged against those of the baseline before."""
    recent = [one for one in lodged if since <= one.lodged_at < until]
    earlier = [one for one in lodged if since - baseline <= one.lodged_at < since]
    return [
        *_outliers(recent, bands, thresholds),
        *_surges(recent, earlier, (until - since) / baseline, thresholds),
        *_newcomers(recent, earlier, thresholds),
        *_circumvention(recent, dumping),
    ]


def _outliers(recent: Sequence[Lodged], bands: Bands, thresholds: Thresholds) -> list[Warning]:
    found = []
    for one in recent:
        for item in one.items:
            band = bands.get((item.hs_code, item.origin, one.currency))
            if band is None or item.price <= 0 or item.net_mass <= 0:
                continue
            mean, sd, count = band
            if count < thresholds.band_minimum or sd <= 0:
                continue
            unit_value = float(item.price / item.net_mass)
            z = (math.log(unit_value) - mean) / sd
            if abs(z) < thresholds.z:
                continue
            typical = math.exp(mean)
            found.append(
                Warning(
                    kind="unit_value_outlier",
                    subject=f"declaration {one.declaration_id} item {item.sequence}",
                    text=(
                        f"{item.hs_code} from {item.origin} at {unit_value:,.2f} {one.currency}/kg, "
                        f"{'below' if z < 0 else 'above'} the band (typically {typical:,.2f}; "
                        f"{abs(z):.1f} standard deviations, {count} items)"
                    ),
                    declarations=[one.declaration_id],
                    evidence={
                        "unit_value": round(unit_value, 4),
                        "band_typical": round(typical, 4),
                        "z": round(z, 2),
                        "band_items": count,
                    },
                )
            )
    return found


def _keys(one: Lodged) -> set[tuple[str, str]]:
    keys = {("hs6", item.hs_code) for item in one.items} | {("origin", item.origin) for item in one.items}
    if one.importer:
        keys.add(("importer", one.importer))
    return keys


def _surges(
    recent: Sequence[Lodged], earlier: Sequence[Lodged], scale: float, thresholds: Thresholds
) -> list[Warning]:
    now, before = Counter[tuple[str, str]](), Counter[tuple[str, str]]()
    which: dict[tuple[str, str], list[str]] = defaultdict(list)
    for one in recent:
        for key in _keys(one):
            now[key] += 1
            which[key].append(one.declaration_id)
    for one in earlier:
        before.update(_keys(one))
    found = []
    for key, count in sorted(now.items()):
        expected = before[key] * scale
        if count >= thresholds.surge_minimum and count >= thresholds.surge_factor * max(expected, 1.0):
            kind, value = key
            found.append(
                Warning(
                    kind="surge",
                    subject=f"{kind} {value}",
                    text=f"{count} declarations in the window against {expected:.1f} expected from before",
                    declarations=which[key],
                    evidence={"count": count, "expected": round(expected, 2), "before": before[key]},
                )
            )
    return found


def _newcomers(recent: Sequence[Lodged], earlier: Sequence[Lodged], thresholds: Thresholds) -> list[Warning]:
    known = {one.importer for one in earlier if one.importer}
    totals: dict[str, list[Decimal]] = defaultdict(list)
    for one in recent:
        totals[one.currency].append(one.total)
    cut = {
        currency: sorted(values)[min(len(values) - 1, int(thresholds.high_value_quantile * len(values)))]
        for currency, values in totals.items()
    }
    return [
        Warning(
            kind="new_trader_high_value",
            subject=f"importer {one.importer}",
            text=(
                f"first declarations in the baseline; {one.total:,} {one.currency} is among the highest "
                f"{1 - thresholds.high_value_quantile:.0%} in the window (from {cut[one.currency]:,})"
            ),
            declarations=[one.declaration_id],
            evidence={"total": str(one.total), "currency": one.currency, "threshold": str(cut[one.currency])},
        )
        for one in recent
        if one.importer and one.importer not in known and one.total >= cut[one.currency]
    ]


def _circumvention(recent: Sequence[Lodged], dumping: Mapping[str, frozenset[str]]) -> list[Warning]:
    """`dumping`: HS prefix -> the origins its anti-dumping measures name."""
    found = []
    for one in recent:
        for item in one.items:
            if item.origin == one.dispatch:
                continue
            for length in (10, 8, 6, 4, 2):
                named = dumping.get(item.hs_code[:length])
                if named and one.dispatch in named and item.origin not in named:
                    found.append(
                        Warning(
                            kind="circumvention",
                            subject=f"declaration {one.declaration_id} item {item.sequence}",
                            text=(
                                f"{item.hs_code} declared of origin {item.origin} but dispatched from "
                                f"{one.dispatch}, whose {item.hs_code[:length]} bears anti-dumping duty"
                            ),
                            declarations=[one.declaration_id],
                            evidence={
                                "origin": item.origin,
                                "dispatch": one.dispatch,
                                "measure_line": item.hs_code[:length],
                            },
                        )
                    )
                    break
    return found
