"""Evaluation of the risk model on historical files: mappings, CSV reading, splits and ranking metrics.

A `Mapping` says which CSV column holds which canonical field (`risk.features`), which column is the
label and which (if any) the revenue recovered. Presets are data: `PRESETS["kcs"]` is the Korea Customs
Service synthetic data set (`shared/data/customs-risk`); another preset is one more `Mapping(...)`. Only
mapped columns are read, so a column that is not mapped (KCS's `Critical Fraud`, which is the label
again) can never become a feature.

Metrics at an inspection rate k % rank the declarations by score (highest first; ties keep file order)
and inspect the first `ceil(k/100 * N)`: precision is the irregular share of those, recall the share of
all irregular declarations found, revenue the share of all revenue recovered. AUC is the rank-based
(Mann-Whitney) area under the ROC curve, ties counted as half.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from customhouse.risk import model as risk_model
from customhouse.risk.features import (
    CATEGORICAL_FIELDS,
    NUMERIC_FIELDS,
    Records,
    chronological,
    split_by_date,
    take,
)

RATES = (1.0, 2.0, 5.0, 10.0)  # inspection rates, %


@dataclass(frozen=True)
class Mapping:
    """CSV column names for the canonical fields of one data source."""

    name: str
    columns: dict[str, str]  # canonical field -> CSV column; must include `date`
    label: str  # CSV column of the control outcome
    positive: frozenset[str] = frozenset({"1"})  # label values meaning "irregular"
    revenue: str | None = None  # CSV column of the revenue recovered, when the source has one
    id: str | None = None  # CSV column of the declaration identifier
    note: str = ""

    def read(self, path: Path, *, limit: int | None = None) -> tuple[Records, npt.NDArray[np.int8]]:
        """The file's records (canonical fields) and labels (1 irregular, 0 not)."""
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            wanted = {**self.columns, "label": self.label}
            if self.revenue:
                wanted["revenue"] = self.revenue
            if self.id:
                wanted["declaration_id"] = self.id
            missing = sorted(set(wanted.values()) - set(reader.fieldnames or ()))
            if missing:
                raise ValueError(f"{path}: no column {', '.join(map(repr, missing))} (mapping {self.name!r})")
            raw: dict[str, list[str]] = {name: [] for name in wanted}
            for number, row in enumerate(reader):
                if limit is not None and number >= limit:
                    break
                for name, column in wanted.items():
                    raw[name].append(row[column])
        return self.convert(raw)

    def convert(self, raw: dict[str, list[str]]) -> tuple[Records, npt.NDArray[np.int8]]:
        records: Records = {}
        for name, values in raw.items():
            if name == "label":
                continue
            if name == "date":
                records[name] = np.array([v[:10] for v in values], dtype="datetime64[D]")
            elif name in NUMERIC_FIELDS or name == "revenue":
                records[name] = np.array([float(v) if v.strip() else np.nan for v in values])
            else:
                records[name] = np.array([v.strip() for v in values], dtype=str)
        labels = np.array([v.strip() in self.positive for v in raw["label"]], dtype=np.int8)
        return records, labels


PRESETS: dict[str, Mapping] = {
    "kcs": Mapping(
        name="kcs",
        columns={
            "date": "Date",
            "office": "Office ID",
            "process_type": "Process Type",
            "import_type": "Import Type",
            "import_use": "Import Use",
            "payment_type": "Payment Type",
            "transport_mode": "Mode of Transport",
            "declarant": "Declarant ID",
            "importer": "Importer ID",
            "seller": "Seller ID",
            "courier": "Courier ID",
            "hs6": "HS6 Code",
            "departure": "Country of Departure",
            "origin": "Country of Origin",
            "tax_rate": "Tax Rate",
            "tax_type": "Tax Type",
            "origin_indicator": "Country of Origin Indicator",
            "net_mass": "Net Mass",
            "value": "Item Price",
        },
        label="Fraud",
        id="Declaration ID",
        note="Korea Customs Service synthetic declarations; `Critical Fraud` repeats the label: not mapped",
    ),
}
CANONICAL_FIELDS = frozenset({"date", *CATEGORICAL_FIELDS, *NUMERIC_FIELDS})


# --- metrics --------------------------------------------------------------------------------------------


def inspected(n: int, rate: float) -> int:
    """How many of `n` declarations an inspection rate of `rate` % controls (at least one)."""
    return max(1, math.ceil(n * rate / 100.0 - 1e-9))


def top(scores: npt.NDArray[Any], rate: float) -> npt.NDArray[np.intp]:
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return order[: inspected(order.size, rate)]


def precision_at(labels: npt.NDArray[Any], scores: npt.NDArray[Any], rate: float) -> float:
    return float(np.mean(np.asarray(labels)[top(scores, rate)]))


def recall_at(labels: npt.NDArray[Any], scores: npt.NDArray[Any], rate: float) -> float:
    y = np.asarray(labels)
    positives = y.sum()
    return float(y[top(scores, rate)].sum() / positives) if positives else float("nan")


def revenue_at(revenue: npt.NDArray[Any], scores: npt.NDArray[Any], rate: float) -> float:
    amounts = np.nan_to_num(np.asarray(revenue, dtype=np.float64))
    total = amounts.sum()
    return float(amounts[top(scores, rate)].sum() / total) if total else float("nan")


def auc(labels: npt.NDArray[Any], scores: npt.NDArray[Any]) -> float:
    """Rank-based AUC: P(score of an irregular > score of a conforming), ties counted as one half."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if not positives or not negatives:
        return float("nan")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average_rank = upper - (counts - 1) / 2.0  # 1-based mid-rank of each distinct score
    rank_sum = average_rank[inverse.reshape(-1)][y].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def metrics(
    labels: npt.NDArray[Any], scores: npt.NDArray[Any], revenue: npt.NDArray[Any] | None = None
) -> dict[str, float]:
    """Precision, recall (and revenue) at each inspection rate of `RATES`, and the AUC."""
    out: dict[str, float] = {}
    for rate in RATES:
        out[f"precision@{rate:g}%"] = precision_at(labels, scores, rate)
        out[f"recall@{rate:g}%"] = recall_at(labels, scores, rate)
        if revenue is not None:
            out[f"revenue@{rate:g}%"] = revenue_at(revenue, scores, rate)
    out["auc"] = auc(labels, scores)
    return out


@dataclass
class Summary:
    """Mean and standard deviation (over seeds) of each figure."""

    runs: list[dict[str, float]] = field(default_factory=list)

    def add(self, figures: dict[str, float]) -> None:
        self.runs.append(figures)

    def mean(self, name: str) -> float:
        return statistics.fmean(run[name] for run in self.runs)

    def sd(self, name: str) -> float:
        values = [run[name] for run in self.runs]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def names(self) -> list[str]:
        return list(self.runs[0]) if self.runs else []

    def to_json(self) -> dict[str, dict[str, float]]:
        return {name: {"mean": self.mean(name), "sd": self.sd(name)} for name in self.names()}


# --- the evaluation -------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What `evaluate` measured: the split, the figures (mean and sd over seeds) and a calibration check."""

    train_rows: int
    test_rows: int
    train_period: tuple[str, str]
    test_period: tuple[str, str]
    test_irregular_rate: float
    seeds: list[int]
    summary: Summary
    has_revenue: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "train": {"rows": self.train_rows, "from": self.train_period[0], "to": self.train_period[1]},
            "test": {
                "rows": self.test_rows,
                "from": self.test_period[0],
                "to": self.test_period[1],
                "irregular_rate": self.test_irregular_rate,
            },
            "seeds": self.seeds,
            "metrics": self.summary.to_json(),
        }


def period(records: Records) -> tuple[str, str]:
    dates = np.asarray(records["date"]).astype("datetime64[D]")
    return str(dates.min()), str(dates.max())


def evaluate(
    train: tuple[Records, npt.NDArray[Any]],
    test: tuple[Records, npt.NDArray[Any]],
    *,
    seeds: Iterable[int] = (0,),
    params: risk_model.Params | None = None,
    threads: int = 1,
    on_step: Callable[[str], None] | None = None,
) -> Evaluation:
    """Train on `train`, score `test` (its labels are used only to measure), once per seed."""
    train_records, train_labels = chronological(*train)
    test_records, test_labels = chronological(*test)
    revenue = test_records.get("revenue")
    summary = Summary()
    seed_list = list(seeds)
    for seed in seed_list:
        trained = risk_model.train(
            train_records, train_labels, params=params, seed=seed, threads=threads, on_step=on_step
        )
        margin = trained.decision_function(test_records)
        figures = metrics(test_labels, margin, revenue)
        figures.update(calibration_figures(test_labels, trained.calibration(margin)))
        summary.add(figures)
        if on_step:
            on_step(f"seed {seed} scored")
    return Evaluation(
        train_rows=int(train_labels.size),
        test_rows=int(test_labels.size),
        train_period=period(train_records),
        test_period=period(test_records),
        test_irregular_rate=float(np.mean(test_labels)),
        seeds=seed_list,
        summary=summary,
        has_revenue=revenue is not None,
    )


def calibration_figures(labels: npt.NDArray[Any], probability: npt.NDArray[Any]) -> dict[str, float]:
    """Brier score and mean predicted probability (to set beside the observed irregular rate)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    return {"brier": float(np.mean((p - y) ** 2)), "mean_probability": float(np.mean(p))}


def split_file(
    records: Records, labels: npt.NDArray[Any], test_fraction: float
) -> tuple[tuple[Records, npt.NDArray[Any]], tuple[Records, npt.NDArray[Any]]]:
    """Earlier part / later part of one file, at a date boundary."""
    boundary = split_by_date(records["date"], test_fraction)
    later = np.asarray(records["date"]).astype("datetime64[D]") >= boundary
    y = np.asarray(labels)
    return (take(records, ~later), y[~later]), (take(records, later), y[later])


def read(path: Path, mapping: Mapping | str, *, limit: int | None = None) -> tuple[Records, npt.NDArray[Any]]:
    preset = PRESETS[mapping] if isinstance(mapping, str) else mapping
    return preset.read(path, limit=limit)
