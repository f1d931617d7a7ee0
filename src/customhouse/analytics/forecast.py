"""Forecasts and staffing, pure (no database).

Daily series have a strong weekly pattern (few lodgements at weekends), so each series is modelled per
day with additive Holt-Winters exponential smoothing (statsmodels' ExponentialSmoothing, damped trend,
weekly season) and the days are summed into weeks. Every forecast is judged by a backtest on its own
history: the last `holdout` days are forecast from the days before them, by the model and by the
seasonal naive forecast (the same weekday a week earlier), and both mean absolute errors are given.

Staffing uses Erlang C (M/M/n): the fewest officers for which the probability that a declaration waits
longer than the target for an officer stays below the allowed share.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEASON = 7  # days in the weekly pattern


def seasonal_naive(history: Sequence[float], horizon: int, season: int = SEASON) -> list[float]:
    """Each coming day as the same day of the last season seen."""
    last = list(history[-season:])
    return [last[day % len(last)] for day in range(horizon)]


def holt_winters(history: Sequence[float], horizon: int, season: int = SEASON) -> list[float]:
    """Additive Holt-Winters (damped trend, weekly season); non-negative; falls back to the seasonal
    naive forecast when the history is shorter than two seasons or constant."""
    values = np.asarray(history, dtype=float)
    if len(values) < 2 * season + 2 or float(values.std()) == 0.0:
        return seasonal_naive(history, horizon, season)
    # heavy: loaded at the first forecast; statsmodels ships no type information
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes on short series are not errors here
        fitted = ExponentialSmoothing(
            values, trend="add", damped_trend=True, seasonal="add", seasonal_periods=season
        ).fit()
        forecast = fitted.forecast(horizon)
    return [max(0.0, float(value)) for value in forecast]


@dataclass(frozen=True, slots=True)
class Backtest:
    days: int  # held out
    model_mae: float  # Holt-Winters' mean absolute error per day on them
    naive_mae: float  # the seasonal naive forecast's

    @property
    def ratio(self) -> float | None:
        """The model's error relative to the seasonal naive one: below 1, the model does better."""
        return self.model_mae / self.naive_mae if self.naive_mae else None


def backtest(history: Sequence[float], holdout: int = 28, season: int = SEASON) -> Backtest | None:
    """Forecast the last `holdout` days from the days before them, by the model and seasonal naive."""
    if len(history) < holdout + season:
        return None
    train, actual = list(history[:-holdout]), np.asarray(history[-holdout:], dtype=float)
    model = np.asarray(holt_winters(train, holdout, season))
    naive = np.asarray(seasonal_naive(train, holdout, season))
    return Backtest(holdout, float(np.abs(model - actual).mean()), float(np.abs(naive - actual).mean()))


def weekly(days: Sequence[float]) -> list[float]:
    """Consecutive 7-day sums (a last partial week is summed too)."""
    return [float(sum(days[start : start + 7])) for start in range(0, len(days), 7)]


def erlang_c(servers: int, load: float) -> float:
    """The probability that an arrival waits (Erlang C), `load` = arrival rate x service time."""
    if servers <= load:
        return 1.0
    term, total = 1.0, 1.0  # a^k / k!, summed for k < servers
    for k in range(1, servers):
        term *= load / k
        total += term
    top = term * load / servers * servers / (servers - load)
    return top / (total + top)


def officers_needed(
    *, arrivals_per_hour: float, handling_hours: float, target_hours: float, allowed_late: float = 0.2
) -> int:
    """The fewest officers for which P(wait for an officer > target) <= allowed_late (Erlang C)."""
    if arrivals_per_hour <= 0 or handling_hours <= 0:
        return 0
    load = arrivals_per_hour * handling_hours
    servers = max(1, math.ceil(load))
    while True:
        waiting = erlang_c(servers, load)
        late = waiting * math.exp(-(servers - load) * target_hours / handling_hours)
        if servers > load and late <= allowed_late:
            return servers
        servers += 1
