"""Percentiles from the log-spaced release-time histograms stay within the stated bound."""

from __future__ import annotations

import math

import numpy as np
from ddsketch import DDSketch
from hypothesis import given
from hypothesis import strategies as st

from customhouse.analytics import histogram

SECONDS = st.one_of(st.floats(min_value=0, max_value=1.5), st.floats(min_value=1, max_value=3e7))


def exact(values: list[float], q: float) -> float:
    """The value of rank floor(q (n - 1)), the one DDSketch's bound is stated for."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


@given(st.lists(SECONDS, min_size=1, max_size=300), st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_a_percentile_from_summed_histograms_is_within_the_bound(values: list[float], q: float) -> None:
    halves = [values[::2], values[1::2]]  # two rollup rows of one group, summed as the dashboard does
    blobs = [histogram.encode(_counts(half)) for half in halves]
    dense = histogram.sum_by_group(blobs, [0, 0], 1)
    (found,) = histogram.quantiles(dense[0], [q])
    truth = exact(values, q)
    assert found is not None
    if truth < histogram.FLOOR:
        assert found == 0.0
    else:
        assert abs(found - truth) <= histogram.RELATIVE_ACCURACY * truth * (1 + 1e-9)


@given(st.lists(SECONDS, min_size=1, max_size=300), st.sampled_from([0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_a_percentile_is_what_ddsketch_itself_answers(values: list[float], q: float) -> None:
    sketch = DDSketch(histogram.RELATIVE_ACCURACY)  # the library's own quantile, fed the same buckets
    for value in values:
        key = histogram.bucket(value)
        sketch.add(0.0 if key == 0 else histogram.MAPPING.value(key - 1))
    dense = histogram.sum_by_group([histogram.encode(_counts(values))], [0], 1)
    assert histogram.quantiles(dense[0], [q]) == [sketch.get_quantile_value(q)]


def _counts(values: list[float]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for value in values:
        counts[histogram.bucket(value)] = counts.get(histogram.bucket(value), 0) + 1
    return counts


@given(st.dictionaries(st.integers(0, histogram.TOP), st.integers(-5, 10**6)))
def test_encoding_keeps_every_non_zero_count(counts: dict[int, int]) -> None:
    assert histogram.decode(histogram.encode(counts)) == {k: v for k, v in counts.items() if v}


def test_groups_are_summed_apart_and_the_page_says_the_bound() -> None:
    blobs = [histogram.encode({1: 2}), histogram.encode({1: 1, 3: 4}), histogram.encode({2: 5})]
    dense = histogram.sum_by_group(blobs, [0, 0, 1], 2)
    assert dense[0].tolist()[:4] == [0, 3, 0, 4] and dense[1].tolist()[:4] == [0, 0, 5, 0]
    assert histogram.quantiles(np.zeros(3, dtype=np.int64), [0.5]) == [None]
    assert "within 2%" in histogram.ACCURACY_NOTE
