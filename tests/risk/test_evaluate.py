"""Metrics on small cases computed by hand, splits, and the KCS mapping."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from customhouse.risk import evaluate as ev
from customhouse.risk.model import Params
from tests.risk.conftest import synthetic

# Ten declarations, scores descending from index 0; irregular: 0, 1, 3, 6.
LABELS = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
SCORES = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_inspected_counts_round_up_and_inspect_at_least_one() -> None:
    assert ev.inspected(10, 10) == 1
    assert ev.inspected(10, 5) == 1
    assert ev.inspected(8134, 5) == 407  # 406.7
    assert ev.inspected(100, 10) == 10  # exact: no extra row from float error
    assert ev.inspected(1000, 1) == 10


def test_precision_recall_revenue_at_rates() -> None:
    # 20 % of 10 = the first two: both irregular; 40 % = first four: three irregular.
    assert ev.precision_at(LABELS, SCORES, 20) == 1.0
    assert ev.precision_at(LABELS, SCORES, 40) == 0.75
    assert ev.recall_at(LABELS, SCORES, 20) == 0.5
    assert ev.recall_at(LABELS, SCORES, 40) == 0.75
    revenue = np.array([100.0, 0.0, 0.0, 300.0, 0.0, 0.0, 600.0, 0.0, 0.0, 0.0])
    assert ev.revenue_at(revenue, SCORES, 10) == pytest.approx(0.1)
    assert ev.revenue_at(revenue, SCORES, 40) == pytest.approx(0.4)


def test_order_of_the_input_does_not_matter() -> None:
    perm = np.random.default_rng(1).permutation(10)
    assert ev.precision_at(LABELS[perm], SCORES[perm], 40) == 0.75
    assert ev.auc(LABELS[perm], SCORES[perm]) == ev.auc(LABELS, SCORES)


def test_auc_by_hand() -> None:
    # Pairs (irregular, conforming) = 4 * 6 = 24. Irregular 0 and 1 beat all 6; 3 beats 5 (only
    # conforming 2 is above it); 6 beats the 3 below it (7, 8, 9): (6 + 6 + 5 + 3) / 24.
    assert ev.auc(LABELS, SCORES) == pytest.approx(20 / 24)
    assert ev.auc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5  # a tie counts one half
    assert ev.auc(np.array([1, 0, 1, 0]), np.array([2.0, 1.0, 1.0, 0.0])) == pytest.approx(0.875)
    assert np.isnan(ev.auc(np.array([1, 1]), np.array([0.1, 0.2])))


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40))
def test_auc_is_the_share_of_correctly_ordered_pairs(rows: list[tuple[bool, int]]) -> None:
    labels = np.array([r[0] for r in rows])
    scores = np.array([float(r[1]) for r in rows])
    positives = scores[labels]
    negatives = scores[~labels]
    pairs = list(itertools.product(positives, negatives))
    if not pairs:
        assert np.isnan(ev.auc(labels, scores))
        return
    expected = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in pairs) / len(pairs)
    assert ev.auc(labels, scores) == pytest.approx(expected)


def test_metrics_names_revenue_only_when_given() -> None:
    figures = ev.metrics(LABELS, SCORES)
    assert set(figures) == {f"{k}@{r}%" for k in ("precision", "recall") for r in (1, 2, 5, 10)} | {"auc"}
    assert "revenue@5%" in ev.metrics(LABELS, SCORES, np.ones(10))


def test_chronological_split_never_splits_a_day() -> None:
    dates = np.array(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-02", "2024-01-04"], "datetime64[D]")
    assert ev.split_by_date(dates, 0.2) == np.datetime64("2024-01-04")
    assert ev.split_by_date(dates, 0.4) == np.datetime64("2024-01-03")
    assert ev.split_by_date(dates, 0.5) == np.datetime64("2024-01-02")  # 01-03 leaves only 2 of 5 after
    records = {"date": dates, "importer": np.array(list("abcde"))}
    (early, y_early), (late, y_late) = ev.split_file(records, np.array([1, 0, 0, 1, 1]), 0.4)
    assert list(early["importer"]) == ["b", "c", "d"] and list(y_early) == [0, 0, 1]
    assert list(late["importer"]) == ["a", "e"] and list(y_late) == [1, 1]


def test_summary_mean_and_sd() -> None:
    summary = ev.Summary()
    for value in (0.9, 1.0, 0.95):
        summary.add({"auc": value})
    assert summary.to_json() == {"auc": {"mean": pytest.approx(0.95), "sd": pytest.approx(0.05)}}


def test_the_kcs_preset_never_reads_critical_fraud() -> None:
    preset = ev.PRESETS["kcs"]
    assert "Critical Fraud" not in {*preset.columns.values(), preset.label, preset.id, preset.revenue}
    assert preset.revenue is None
    for mapping in ev.PRESETS.values():
        assert "date" in mapping.columns and set(mapping.columns) <= ev.CANONICAL_FIELDS


def test_a_mapping_with_revenue_reads_it_and_reports_revenue_at_rates(tmp_path: Path) -> None:
    records, labels = synthetic(1200, seed=2, days=40)
    path = tmp_path / "history.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ref", "when", "imp", "hs", "kg", "amount", "irregular", "recovered"])
        for i in range(labels.size):
            recovered = records["value"][i] * 0.1 if labels[i] else 0.0
            writer.writerow(
                [f"D{i}", str(records["date"][i]), records["importer"][i], records["hs6"][i],
                 records["net_mass"][i], records["value"][i], "yes" if labels[i] else "no", recovered]
            )  # fmt: skip
    mapping = ev.Mapping(
        name="small",
        columns={"date": "when", "importer": "imp", "hs6": "hs", "net_mass": "kg", "value": "amount"},
        label="irregular",
        positive=frozenset({"yes"}),
        revenue="recovered",
        id="ref",
    )
    read, read_labels = mapping.read(path)
    np.testing.assert_array_equal(read_labels, labels)
    np.testing.assert_array_equal(read["date"], records["date"])
    train, test = ev.split_file(read, read_labels, 0.25)
    result = ev.evaluate(train, test, params=Params(rounds=30, num_leaves=7))
    assert result.has_revenue
    assert {"revenue@1%", "revenue@10%"} <= set(result.to_json()["metrics"])
    with pytest.raises(ValueError, match="no column 'Nope'"):
        ev.Mapping("bad", {"date": "Nope"}, label="irregular").read(path)
