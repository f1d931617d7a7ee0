"""The aggregates behind the supervisors' dashboards and reports.

The read model (`analytics_declarations`) is kept by `on_events`, a batch subscriber to the
declarations' events: acceptance adds a row (with the header read through declarations.service),
control and release fill it in. Aggregates are single SQL statements over it; on PostgreSQL the
percentiles are `percentile_cont` (continuous, as the WTO Time Release Study guide reports medians),
on SQLite the same interpolation is done here over the released rows of the period.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.analytics import charts, forecast
from customhouse.analytics.models import DeclarationFact, ItemFact
from customhouse.assessment import service as assessment
from customhouse.auth.service import Principal, Role
from customhouse.declarations import service as declarations
from customhouse.risk import service as risk

READER = Principal("analytics", frozenset({Role.AUDITOR}))
EVENTS = (
    "declaration.accepted",
    "declaration.released",
    "declaration.control_recorded",
    "declaration.assessed",
)
GROUPS = {
    "lane": DeclarationFact.lane,
    "office": DeclarationFact.office,
    "mode": DeclarationFact.transport_mode,
}
QUANTILES = (0.5, 0.9, 0.95)
HOUR = 3600.0
MODES = {
    "1": "sea",
    "2": "rail",
    "3": "road",
    "4": "air",
    "5": "post",
    "7": "fixed installation",
    "8": "inland water",
}


# ---------------------------------------------------------------- the read model


def _upsert(session: Session, row: dict[str, Any]) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(DeclarationFact).values(row)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[DeclarationFact.declaration_id],
            set_={key: statement.excluded[key] for key in row if key != "declaration_id"},
        )
    )


# HS 2022 sections by their first chapter (WCO nomenclature; chapter 77 is reserved).
SECTIONS = (
    (1, "I"), (6, "II"), (15, "III"), (16, "IV"), (25, "V"), (28, "VI"), (39, "VII"), (41, "VIII"),
    (44, "IX"), (47, "X"), (50, "XI"), (64, "XII"), (68, "XIII"), (71, "XIV"), (72, "XV"), (84, "XVI"),
    (86, "XVII"), (90, "XVIII"), (93, "XIX"), (94, "XX"), (97, "XXI"),
)  # fmt: skip


def hs_section(hs_code: str) -> str:
    """The HS section (Roman numeral) of a code, from its chapter."""
    chapter = int(hs_code[:2])
    return next(section for first, section in reversed(SECTIONS) if chapter >= first)


def _items(session: Session, declaration: Any) -> None:
    document = declaration.document
    session.execute(delete(ItemFact).where(ItemFact.declaration_id == declaration.id))
    session.execute(
        insert(ItemFact),
        [
            {
                "declaration_id": declaration.id,
                "sequence": item.sequence,
                "hs_section": hs_section(item.hs_code),
                "origin": item.origin,
                "office": document.office_of_lodgement,
                "lodged_at": declaration.lodged_at,
                "revenue": None,
            }
            for item in document.goods_items
        ],
    )


def _revenue(session: Session, declaration_id: uuid.UUID) -> None:
    """Each item's duties and taxes from the declaration's newest assessment."""
    found = assessment.assessments(session, declaration_id=declaration_id)
    if not found:
        return
    for item in found[-1].breakdown.items:
        session.execute(
            update(ItemFact)
            .where(ItemFact.declaration_id == declaration_id, ItemFact.sequence == item.sequence)
            .values(revenue=item.duties_and_taxes.amount)
        )


def on_events(session: Session, happened: list[events.DomainEvent]) -> None:
    """Keep the read model: events arrive at least once and in order, so every write is idempotent."""
    for event in happened:
        declaration_id = uuid.UUID(event.aggregate_id)
        if event.type == "declaration.assessed":
            _revenue(session, declaration_id)
            continue
        if event.type == "declaration.accepted":
            declaration = declarations.get(session, declaration_id=declaration_id, by=READER)
            _items(session, declaration)
            document = declaration.document
            _upsert(
                session,
                {
                    "declaration_id": declaration_id,
                    "kind": document.kind.value,
                    "office": document.office_of_lodgement,
                    "transport_mode": document.transport_mode,
                    "lane": event.data["lane"],
                    "lodged_at": declaration.lodged_at or event.occurred_at,
                    "accepted_at": event.occurred_at,
                },
            )
            continue
        fact = session.get(DeclarationFact, declaration_id)
        if fact is None:  # accepted before analytics existed: nothing to add to
            continue
        if event.type == "declaration.released":
            fact.released_at = event.occurred_at
            fact.released_by = event.actor
            fact.release_seconds = (event.occurred_at - fact.lodged_at).total_seconds()
        elif event.type == "declaration.control_recorded":
            fact.control_outcome = event.data.get("outcome")
            fact.controlled_by = event.actor
    session.flush()


def subscribe(dispatcher: events.Dispatcher) -> None:
    dispatcher.subscribe_batch(EVENTS, on_events)


# ---------------------------------------------------------------- aggregates


@dataclass(frozen=True, slots=True)
class ReleaseTimes:
    """Lodgement to release for one group (a lane, an office, a transport mode, or all)."""

    group: str
    lodged: int
    released: int
    median: float | None  # seconds
    p90: float | None
    p95: float | None
    within_hour: float | None  # share of the released goods released within 1 hour of lodgement


def _period(since: datetime, until: datetime) -> Any:
    return DeclarationFact.lodged_at.between(since, until)


def percentile(ordered: Sequence[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def release_times(
    session: Session, *, since: datetime, until: datetime, by: str | None = None
) -> list[ReleaseTimes]:
    """The release-time study (WTO TFA art. 7.6) per `by` ("lane", "office", "mode") or overall."""
    key = GROUPS[by] if by else None
    within = func.sum(case((DeclarationFact.release_seconds <= HOUR, 1), else_=0))
    columns: list[Any] = [func.count(), func.count(DeclarationFact.released_at), within]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        columns += [func.percentile_cont(q).within_group(DeclarationFact.release_seconds) for q in QUANTILES]
    statement = select(*([key] if key is not None else []), *columns).where(_period(since, until))
    if key is not None:
        statement = statement.group_by(key).order_by(key)
    rows = session.execute(statement).all()
    quantiles: dict[str, list[float | None]] = {}
    if not postgres:
        seconds: dict[str, list[float]] = defaultdict(list)
        released = select(key if key is not None else literal("all"), DeclarationFact.release_seconds)
        found = session.execute(
            released.where(_period(since, until), DeclarationFact.release_seconds.is_not(None)).order_by(
                DeclarationFact.release_seconds
            )
        )
        for group, value in found:
            seconds[str(group) if key is not None else "all"].append(float(value or 0))
        quantiles = {group: [percentile(values, q) for q in QUANTILES] for group, values in seconds.items()}
    out = []
    for row in rows:
        group = str(row[0]) if key is not None else "all"
        values = list(row[1 if key is not None else 0 :])
        lodged, count, fast = int(values[0]), int(values[1]), int(values[2] or 0)
        if lodged == 0:
            continue
        if postgres:
            median, p90, p95 = (float(v) if v is not None else None for v in values[3:6])
        else:
            median, p90, p95 = quantiles.get(group, [None, None, None])
        out.append(ReleaseTimes(group, lodged, count, median, p90, p95, fast / count if count else None))
    return out


DIMENSIONS: tuple[str | None, ...] = (None, "lane", "office", "mode")
# One scan for the whole study on PostgreSQL: GROUPING() tells which grouping set a row belongs to
# (a bit set per column not grouped by), percentile_cont as in `release_times`.
STUDY = text(
    """
    SELECT GROUPING(lane, office, transport_mode) AS grouping, lane, office, transport_mode,
           count(*), count(released_at), sum(CASE WHEN release_seconds <= :hour THEN 1 ELSE 0 END),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY release_seconds),
           percentile_cont(0.9) WITHIN GROUP (ORDER BY release_seconds),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY release_seconds)
    FROM analytics_declarations
    WHERE lodged_at BETWEEN :since AND :until
    GROUP BY GROUPING SETS ((lane), (office), (transport_mode), ())
    ORDER BY 1, 2, 3, 4
    """
)
STUDY_SETS = {3: ("lane", 1), 5: ("office", 2), 6: ("mode", 3), 7: (None, None)}


def release_study(
    session: Session, *, since: datetime, until: datetime
) -> dict[str | None, list[ReleaseTimes]]:
    """The whole release-time study: overall (key None), per lane, office and transport mode."""
    if session.get_bind().dialect.name != "postgresql":
        return {by: release_times(session, since=since, until=until, by=by) for by in DIMENSIONS}
    study: dict[str | None, list[ReleaseTimes]] = {by: [] for by in DIMENSIONS}
    for row in session.execute(STUDY, {"since": since, "until": until, "hour": HOUR}):
        by, column = STUDY_SETS[row[0]]
        lodged, count, fast = int(row[4]), int(row[5]), int(row[6] or 0)
        median, p90, p95 = (float(v) if v is not None else None for v in row[7:10])
        group = str(row[column]) if column is not None else "all"
        study[by].append(
            ReleaseTimes(group, lodged, count, median, p90, p95, fast / count if count else None)
        )
    return study


@dataclass(frozen=True, slots=True)
class Share:
    group: str
    count: int
    share: float


def shares_of(by_lane: Sequence[ReleaseTimes]) -> list[Share]:
    """Each lane's share of the declarations lodged, green, yellow, red."""
    total = sum(row.lodged for row in by_lane)
    order = {"green": 0, "yellow": 1, "red": 2}
    return sorted(
        (Share(row.group, row.lodged, row.lodged / total) for row in by_lane),
        key=lambda s: order.get(s.group, 3),
    )


def lane_shares(session: Session, *, since: datetime, until: datetime) -> list[Share]:
    return shares_of(release_times(session, since=since, until=until, by="lane"))


@dataclass(frozen=True, slots=True)
class HitRate:
    group: str
    controls: int
    irregular: int

    @property
    def rate(self) -> float:
        return self.irregular / self.controls if self.controls else 0.0


def hit_rates(session: Session, *, since: datetime, until: datetime) -> list[HitRate]:
    """Controls recorded and how many found an irregularity, per office."""
    irregular = func.sum(case((DeclarationFact.control_outcome == "irregularity", 1), else_=0))
    rows = session.execute(
        select(DeclarationFact.office, func.count(DeclarationFact.control_outcome), irregular)
        .where(_period(since, until), DeclarationFact.control_outcome.is_not(None))
        .group_by(DeclarationFact.office)
        .order_by(DeclarationFact.office)
    ).all()
    return [HitRate(office, int(controls), int(found or 0)) for office, controls, found in rows]


@dataclass(frozen=True, slots=True)
class Workload:
    officer: str
    controls: int
    releases: int  # of declarations sent to a control lane (green ones release themselves)


def workload(session: Session, *, since: datetime, until: datetime) -> list[Workload]:
    controls = dict(
        session.execute(
            select(DeclarationFact.controlled_by, func.count())
            .where(_period(since, until), DeclarationFact.controlled_by.is_not(None))
            .group_by(DeclarationFact.controlled_by)
        ).all()
    )
    releases = dict(
        session.execute(
            select(DeclarationFact.released_by, func.count())
            .where(
                _period(since, until),
                DeclarationFact.released_by.is_not(None),
                DeclarationFact.lane != "green",
            )
            .group_by(DeclarationFact.released_by)
        ).all()
    )
    names = sorted(str(name) for name in set(controls) | set(releases))
    return [Workload(name, int(controls.get(name, 0)), int(releases.get(name, 0))) for name in names]


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR:.1f} h"


def dashboard(
    session: Session, *, since: datetime, until: datetime, targets: dict[str, float] | None = None
) -> dict[str, Any]:
    """Everything the supervisors' dashboard shows for a period, with its SVG charts."""
    study = release_study(session, since=since, until=until)
    by_lane = study["lane"]
    shares = shares_of(by_lane)
    targets = targets or {}
    return {
        "overall": study[None],
        "by_lane": by_lane,
        "by_office": study["office"],
        "by_mode": study["mode"],
        "shares": shares,
        "hit_rates": hit_rates(session, since=since, until=until),
        "workload": workload(session, since=since, until=until),
        "profiles": risk.list_profiles(session),
        "models": risk.list_models(session),
        "modes": MODES,
        "minutes": minutes,
        "release_chart": charts.bars(
            "Median lodgement to release, per lane",
            [charts.Bar(row.group, (row.median or 0) / 60, minutes(row.median)) for row in by_lane],
            description="minutes from lodgement to release; the median of the released declarations",
        ),
        "share_chart": charts.bars(
            "Lane shares (marks: targets)",
            [
                charts.Bar(share.group, share.share * 100, f"{share.share:.1%}", targets.get(share.group))
                for share in shares
            ],
        ),
    }


def release_csv_rows(session: Session, *, since: datetime, until: datetime) -> list[list[str]]:
    """The release-time study as CSV rows: a header, then overall, per lane, office and transport mode."""
    rows = [["dimension", "group", "lodged", "released", "median_s", "p90_s", "p95_s", "released_within_1h"]]
    for dimension, found in release_study(session, since=since, until=until).items():
        for item in found:
            rows.append(
                [
                    dimension or "all",
                    item.group,
                    str(item.lodged),
                    str(item.released),
                    *("" if v is None else f"{v:.0f}" for v in (item.median, item.p90, item.p95)),
                    "" if item.within_hour is None else f"{item.within_hour:.4f}",
                ]
            )
    return rows


# ---------------------------------------------------------------- forecasts and staffing

FORECAST_BY = {"section": ItemFact.hs_section, "origin": ItemFact.origin, "office": ItemFact.office}


@dataclass(frozen=True, slots=True)
class Forecast:
    group: str
    history_days: int
    weeks: list[tuple[date, float, float]]  # week starting, goods items, revenue (national currency)
    volume_backtest: forecast.Backtest | None
    revenue_backtest: forecast.Backtest | None


def daily_series(
    session: Session, *, by: str, since: date, until: date, top: int = 5
) -> dict[str, tuple[list[float], list[float]]]:
    """Goods items and revenue per day (days with none are 0) from `since` to `until` included, for the
    `top` groups with the most items; the date is the UTC day of lodgement."""
    key = FORECAST_BY[by]
    start = datetime.combine(since, time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time(), tzinfo=UTC)
    in_period = ItemFact.lodged_at >= start, ItemFact.lodged_at < end
    leaders = [
        str(group)
        for (group,) in session.execute(
            select(key).where(*in_period).group_by(key).order_by(func.count().desc(), key).limit(top)
        )
    ]
    days = (until - since).days + 1
    series = {group: ([0.0] * days, [0.0] * days) for group in leaders}
    if not leaders:
        return series
    day = _day(session, ItemFact.lodged_at)
    rows = session.execute(
        select(key, day, func.count(), func.coalesce(func.sum(ItemFact.revenue), 0))
        .where(*in_period, key.in_(leaders))
        .group_by(key, day)
    )
    for group, on, count, revenue in rows:
        index = (_as_date(on) - since).days
        if 0 <= index < days:
            series[str(group)][0][index] = float(count)
            series[str(group)][1][index] = float(revenue)
    return series


def forecasts(
    session: Session, *, by: str, today: date, weeks: int = 4, history_days: int = 364
) -> list[Forecast]:
    """Goods items and revenue for the coming `weeks` per HS section, origin or office, each with its
    backtest against the seasonal naive forecast."""
    since, until = today - timedelta(days=history_days), today - timedelta(days=1)
    out = []
    for group, (volume, revenue) in daily_series(session, by=by, since=since, until=until).items():
        horizon = weeks * 7
        volume_weeks = forecast.weekly(forecast.holt_winters(volume, horizon))
        revenue_weeks = forecast.weekly(forecast.holt_winters(revenue, horizon))
        out.append(
            Forecast(
                group,
                len(volume),
                [(today + timedelta(days=7 * n), volume_weeks[n], revenue_weeks[n]) for n in range(weeks)],
                forecast.backtest(volume),
                forecast.backtest(revenue),
            )
        )
    return out


SHIFTS = ((0, "00-08"), (8, "08-16"), (16, "16-24"))  # UTC hours


@dataclass(frozen=True, slots=True)
class Staffing:
    office: str
    shift: str
    declarations_per_shift: float  # forecast, the coming week's daily average
    controlled_per_shift: float  # of them, sent to a control lane
    handling_hours: float  # measured: acceptance to release, median, of controlled declarations
    officers: int


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return func.date(func.timezone("UTC", column))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def allocation(
    session: Session, *, today: date, target_hours: float = 1.0, allowed_late: float = 0.2
) -> list[Staffing]:
    """Officers per office and shift for the coming week to hold the release-time target: each office's
    declarations a day forecast from its last 364 days (Holt-Winters), each shift's measured share of
    them and of those sent to a control lane (last 90 days), and the measured handling time of
    controlled declarations (acceptance to release, median), through Erlang C."""
    start = datetime.combine(today - timedelta(days=364), time(), tzinfo=UTC)
    recent = datetime.combine(today - timedelta(days=90), time(), tzinfo=UTC)
    until = datetime.combine(today, time(), tzinfo=UTC)
    day = _day(session, DeclarationFact.lodged_at)
    daily: dict[str, list[float]] = defaultdict(lambda: [0.0] * 364)
    for office, on, count in session.execute(
        select(DeclarationFact.office, day, func.count())
        .where(DeclarationFact.lodged_at >= start, DeclarationFact.lodged_at < until)
        .group_by(DeclarationFact.office, day)
    ):
        index = (_as_date(on) - start.date()).days
        if 0 <= index < 364:
            daily[office][index] = float(count)
    rows = session.execute(
        select(
            DeclarationFact.office,
            DeclarationFact.lodged_at,
            DeclarationFact.lane,
            DeclarationFact.accepted_at,
            DeclarationFact.released_at,
        ).where(DeclarationFact.lodged_at >= recent, DeclarationFact.lodged_at < until)
    ).all()
    handling: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {name: [0, 0] for _, name in SHIFTS})
    for office, lodged, lane, accepted, released in rows:
        shift = next(name for first, name in reversed(SHIFTS) if lodged.hour >= first)
        counts[office][shift][0] += 1
        if lane != "green":
            counts[office][shift][1] += 1
            if released is not None:
                handling[office].append((released - accepted).total_seconds() / HOUR)
    out = []
    for office in sorted(counts):
        per_day = sum(forecast.holt_winters(daily[office], 7)) / 7
        total = sum(in_shift for in_shift, _ in counts[office].values())
        hours = sorted(handling[office])
        handling_hours = percentile(hours, 0.5) if hours else 0.0
        for _, shift in SHIFTS:
            in_shift, controlled = counts[office][shift]
            expected = per_day * in_shift / total if total else 0.0
            controls = expected * controlled / in_shift if in_shift else 0.0
            officers = forecast.officers_needed(
                arrivals_per_hour=controls / 8,
                handling_hours=handling_hours,
                target_hours=target_hours,
                allowed_late=allowed_late,
            )
            out.append(Staffing(office, shift, expected, controls, handling_hours, officers))
    return out
