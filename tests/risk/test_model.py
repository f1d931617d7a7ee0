"""The model: calibrated probabilities, explanations from LightGBM's contributions, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from customhouse.risk import evaluate as ev
from customhouse.risk.features import Records, take
from customhouse.risk.model import Contribution, Params, Platt, RiskModel, describe, train
from tests.risk.conftest import synthetic

Trained = tuple[RiskModel, Records, np.ndarray]
FAST = Params(rounds=40, num_leaves=7, calibration_fraction=0.25)


@pytest.fixture(scope="module")
def trained() -> Trained:
    records, labels = synthetic(3000, seed=11, days=60)
    history = records["date"] < np.datetime64("2024-02-20")
    model = train(take(records, history), labels[history], params=FAST, seed=0, threads=1)
    return model, take(records, ~history), labels[~history]


def test_platt_recovers_a_logistic_relation() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 20_000)
    labels = (rng.random(margin.size) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))).astype(int)
    platt = Platt.fit(margin, labels)
    assert platt.a == pytest.approx(0.5, abs=0.05) and platt.b == pytest.approx(-1.0, abs=0.06)
    assert np.all(np.diff(platt(np.sort(margin))) >= 0)


def test_the_model_ranks_and_its_probabilities_are_calibrated(trained: Trained) -> None:
    model, later, labels = trained
    probability = model.predict_proba(later)
    assert ((probability > 0) & (probability < 1)).all()
    assert ev.auc(labels, probability) > 0.7  # synthetic risk: three importers and one declared value
    assert abs(probability.mean() - labels.mean()) < 0.05
    ranks = np.argsort(model.decision_function(later))
    assert np.all(np.diff(probability[ranks]) >= 0)  # calibration keeps the ranking


def test_explanations_are_the_largest_contributions(trained: Trained) -> None:
    model, later, _ = trained
    batch = take(later, np.arange(20))
    explanations = model.explain(batch, top=3)
    contributions = np.asarray(model.booster.predict(model.features(batch), pred_contrib=True))
    np.testing.assert_allclose(contributions.sum(axis=1), model.decision_function(batch), rtol=1e-6)
    for row, explanation in zip(contributions, explanations, strict=True):
        assert len(explanation) == 3
        assert [c.contribution for c in explanation] == sorted(row[:-1], reverse=True)[:3]
        assert all(isinstance(c, Contribution) and c.text for c in explanation)


def test_save_and_load_score_the_same(trained: Trained, tmp_path: Path) -> None:
    model, later, _ = trained
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = RiskModel.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(later), model.predict_proba(later))
    assert loaded.explain(later, top=2) == model.explain(later, top=2)
    assert loaded.params == model.params and loaded.trained == model.trained


def test_observed_outcomes_reach_the_next_score(trained: Trained, tmp_path: Path) -> None:
    model, later, _ = trained
    model.save(tmp_path / "model.npz")
    copy = RiskModel.load(tmp_path / "model.npz")  # the module's model stays as trained
    one = take(later, np.array([0]))
    n, rate = copy.feature_names.index("importer.n"), copy.feature_names.index("importer.rate")
    before = copy.features(one)[0]
    copy.builder.observe_outcomes(one, np.array([1]))
    after = copy.features(one)[0]
    assert after[n] == before[n] + 1 and after[rate] > before[rate]


def test_descriptions_read_as_sentences() -> None:
    assert (
        describe("importer.rate", 0.42, 12)
        == "importer: irregularity rate 42% in 12 earlier controls (smoothed)"
    )
    assert describe("seller.rate", 0.21, 0) == "seller: never controlled before (overall rate 21% assumed)"
    assert describe("value.seen", 3) == "declared value: 3 earlier declarations"
    assert describe("log_value", np.log1p(1000.0)) == "declared value: 1,000.00"
    assert "no reference" in describe("hs6.uv_dev", float("nan"))
