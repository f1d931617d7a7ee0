"""The feature builder: nothing known on or after a record's date reaches its features."""

from __future__ import annotations

import numpy as np
import pytest

from customhouse.risk.features import (
    FeatureBuilder,
    FeatureConfig,
    chronological,
    hash_amounts,
    hash_strings,
    prior_sums,
    take,
)
from tests.risk.conftest import synthetic


def test_prior_sums_count_strictly_earlier_days_of_the_same_key() -> None:
    keys = np.array([7, 7, 7, 9, 7, 9], dtype=np.uint64)
    days = np.array([3, 1, 3, 1, 5, 1])
    values = np.array([[1.0], [10.0], [100.0], [1000.0], [10000.0], [5.0]])
    assert prior_sums(keys, days, values)[:, 0].tolist() == [10.0, 0.0, 10.0, 0.0, 111.0, 0.0]
    # lag 1: an outcome of day 3 is known on day 5 (3 < 5 - 1), one of day 1 is not known on day 2.
    assert prior_sums(keys, days, values, lag=1)[:, 0].tolist() == [10.0, 0.0, 10.0, 0.0, 111.0, 0.0]
    assert prior_sums(keys, days, values, lag=2)[:, 0].tolist() == [0.0, 0.0, 0.0, 0.0, 10.0, 0.0]


def test_keys_are_stable_whatever_the_batch() -> None:
    alone = hash_strings(np.array(["ab"]))
    with_longer = hash_strings(np.array(["abcdefgh", "ab", ""]))
    assert alone[0] == with_longer[1]
    assert len({*with_longer.tolist()}) == 3
    assert int(alone[0]) == reference_hash("ab")  # the same in every process: saved models depend on it
    assert hash_amounts(np.array([0.0]))[0] == hash_amounts(np.array([-0.0]))[0]
    assert hash_amounts(np.array([1.5]))[0] != hash_amounts(np.array([1.25]))[0]


def reference_hash(text: str) -> int:
    """FNV-1a over the code points, then the splitmix64 finaliser, in plain Python."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for char in text:
        h = ((h ^ ord(char)) * 0x100000001B3) & mask
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


@pytest.mark.parametrize("lag", [0, 3])
def test_features_equal_those_built_from_the_history_before_the_record(lag: int) -> None:
    records, labels = synthetic(500, seed=1, days=30)  # dates in random order
    config = FeatureConfig(label_lag_days=lag)
    full = FeatureBuilder(config).fit_transform(records, labels)
    dates = records["date"]
    everything = np.arange(labels.size)
    for i in np.random.default_rng(2).choice(labels.size, 30, replace=False):
        rows = np.flatnonzero((dates < dates[i]) | (everything == i))
        alone = FeatureBuilder(config).fit_transform(take(records, rows), labels[rows])
        np.testing.assert_allclose(alone[np.searchsorted(rows, i)], full[i], rtol=1e-9, equal_nan=True)


def test_changing_outcomes_on_or_after_a_date_changes_no_earlier_or_same_day_feature() -> None:
    records, labels = synthetic(800, seed=3, days=30)
    before = FeatureBuilder().fit_transform(records, labels)
    cut = np.datetime64("2024-01-15")
    mutated = labels.copy()
    future = records["date"] >= cut
    mutated[future] = 1 - mutated[future]
    after = FeatureBuilder().fit_transform(records, mutated)
    settled = records["date"] <= cut
    np.testing.assert_array_equal(before[settled], after[settled])
    assert not np.allclose(before[~settled], after[~settled], equal_nan=True)  # the test can fail


def test_label_lag_hides_recent_outcomes() -> None:
    records, labels = synthetic(800, seed=4, days=30)
    mutated = labels.copy()
    recent = (records["date"] >= np.datetime64("2024-01-20")) & (
        records["date"] < np.datetime64("2024-01-25")
    )
    mutated[recent] = 1 - mutated[recent]
    config = FeatureConfig(label_lag_days=5)
    before = FeatureBuilder(config).fit_transform(records, labels)
    after = FeatureBuilder(config).fit_transform(records, mutated)
    unaffected = records["date"] <= np.datetime64("2024-01-25")  # day 20's outcome counts from day 26
    np.testing.assert_array_equal(before[unaffected], after[unaffected])


def test_transform_of_a_later_day_equals_fit_transform_on_that_day() -> None:
    records, labels = synthetic(700, seed=5, days=20)
    records, labels = chronological(records, labels)
    last = records["date"] == records["date"].max()
    builder = FeatureBuilder().fit(take(records, ~last), labels[~last])
    scored = builder.transform(take(records, last))
    np.testing.assert_allclose(
        scored, FeatureBuilder().fit_transform(records, labels)[last], rtol=1e-9, equal_nan=True
    )


def test_transform_counts_the_batch_s_earlier_declarations_but_never_its_outcomes() -> None:
    records, labels = synthetic(700, seed=6, days=20)
    history = records["date"] < np.datetime64("2024-01-15")
    builder = FeatureBuilder().fit(take(records, history), labels[history])
    batch = take(records, ~history)
    names = builder.feature_names
    scored = builder.transform(batch)
    # Same batch, other order: same features per record.
    perm = np.random.default_rng(0).permutation(int((~history).sum()))
    np.testing.assert_allclose(builder.transform(take(batch, perm)), scored[perm], equal_nan=True)
    # Outcome counts come from the history only; `seen` grows with the batch's earlier declarations.
    n = names.index("importer.n")
    seen = names.index("importer.seen")
    alone = np.vstack([builder.transform(take(batch, np.array([i]))) for i in range(batch["date"].size)])
    np.testing.assert_array_equal(scored[:, n], alone[:, n])
    assert (scored[:, seen] >= alone[:, seen]).all() and (scored[:, seen] > alone[:, seen]).any()


def test_incremental_observation_equals_refitting() -> None:
    records, labels = synthetic(600, seed=7, days=30)
    first = records["date"] < np.datetime64("2024-01-20")
    later = take(records, ~first)
    incremental = FeatureBuilder().fit(take(records, first), labels[first])
    incremental.observe_declarations(later)
    incremental.observe_outcomes(later, labels[~first])
    refitted = FeatureBuilder().fit(records, labels)
    probe, _ = synthetic(50, seed=8, days=1)
    probe["date"] = np.full(50, np.datetime64("2024-03-01"))
    np.testing.assert_allclose(incremental.transform(probe), refitted.transform(probe), equal_nan=True)


def test_state_round_trip() -> None:
    records, labels = synthetic(300, seed=9)
    builder = FeatureBuilder().fit(records, labels)
    copy = FeatureBuilder.from_state(*builder.state())
    np.testing.assert_array_equal(copy.transform(records), builder.transform(records))
    assert copy.feature_names == builder.feature_names


def test_families_need_their_fields() -> None:
    records, labels = synthetic(100)
    del records["seller"]
    builder = FeatureBuilder().fit(records, labels)
    assert not any(name.startswith("seller.") for name in builder.feature_names)
    assert "importer.rate" in builder.feature_names
    with pytest.raises(ValueError, match="date"):
        FeatureBuilder().fit({"importer": records["importer"]}, labels)
