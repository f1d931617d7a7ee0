"""Forecasts against the seasonal naive baseline, and Erlang C staffing, without a database."""

from __future__ import annotations

import math
import random

import pytest

from customhouse.analytics import forecast

WEEK = [120.0, 130.0, 125.0, 128.0, 140.0, 30.0, 10.0]  # weekdays busy, weekends quiet


def series(days: int, *, trend: float = 0.0, noise: float = 0.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [WEEK[day % 7] + trend * day + rng.gauss(0, noise) for day in range(days)]


def test_seasonal_naive_repeats_the_last_week() -> None:
    history = series(21)
    assert forecast.seasonal_naive(history, 10) == WEEK + WEEK[:3]


def test_holt_winters_learns_the_weekly_pattern_and_the_trend() -> None:
    history = series(140, trend=0.5, noise=3)
    ahead = forecast.holt_winters(history, 14)
    truth = [WEEK[day % 7] + 0.5 * day for day in range(140, 154)]
    assert max(abs(a - b) for a, b in zip(ahead, truth, strict=True)) < 15
    assert ahead[5] < ahead[4] / 2  # the weekend stays quiet


def test_the_backtest_beats_seasonal_naive_on_a_trending_series_and_says_by_how_much() -> None:
    result = forecast.backtest(series(182, trend=1.0, noise=4), holdout=28)
    assert result is not None and result.days == 28
    assert result.ratio is not None and result.ratio < 1  # naive misses a week of trend every day
    assert result.naive_mae > 5


def test_short_or_flat_histories_fall_back_to_seasonal_naive() -> None:
    assert forecast.holt_winters(series(10), 3) == WEEK[3:6]
    assert forecast.holt_winters([0.0] * 60, 5) == [0.0] * 5
    assert forecast.backtest(series(20), holdout=28) is None


def test_weekly_sums() -> None:
    assert forecast.weekly(series(14)) == [sum(WEEK), sum(WEEK)]
    assert forecast.weekly([1.0] * 9) == [7.0, 2.0]


def test_erlang_c_matches_the_textbook() -> None:
    # 2 servers, offered load 1 Erlang: P(wait) = 1/3
    assert forecast.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # a call centre example: 10 Erlangs on 12 agents, P(wait) ~ 0.4494
    assert forecast.erlang_c(12, 10.0) == pytest.approx(0.4494, abs=1e-4)
    assert forecast.erlang_c(3, 3.0) == 1.0


def test_officers_needed_hold_the_target() -> None:
    n = forecast.officers_needed(arrivals_per_hour=12, handling_hours=0.5, target_hours=0.25)
    load = 6.0
    late = forecast.erlang_c(n, load) * math.exp(-(n - load) * 0.25 / 0.5)
    fewer = forecast.erlang_c(n - 1, load) * math.exp(-(n - 1 - load) * 0.25 / 0.5)
    assert late <= 0.2 < fewer or n - 1 <= load
    assert forecast.officers_needed(arrivals_per_hour=0, handling_hours=1, target_hours=1) == 0
