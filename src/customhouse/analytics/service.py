"""The aggregates behind the supervisors' dashboards and reports.

The read model (`analytics_declarations`) is kept by `on_events`, a batch subscriber to the
declarations' events: acceptance adds a row (with the header read through declarations.service),
control and release fill it in. Aggregates are single SQL statements over it; on PostgreSQL the
percentiles are `percentile_cont` (continuous, as the WTO Time Release Study guide reports medians),
on SQLite the same interpolation is done here over the released rows of the period.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import case, delete, func, insert, literal, select, text, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.analytics import charts, forecast, histogram
from customhouse.analytics.models import (
    DayRollup,
    DeclarationFact,
    ItemFact,
    OfficerDayRollup,
    ProfileDayRollup,
    StoredForecasts,
)
from customhouse.assessment import service as assessment
from customhouse.auth.service import Principal, Role
from customhouse.db import insert_on_conflict, utcnow, writing
from customhouse.declarations import service as declarations
from customhouse.risk import service as risk
from customhouse.risk.lanes import trace
from customhouse.risk.schemas import ProfileOut

log = logging.getLogger(__name__)

READER = Principal("analytics", frozenset({Role.AUDITOR}))
EVENTS = (
    "declaration.accepted",
    "declaration.amended",
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


def _revenue(session: Session, declaration_id: uuid.UUID) -> Decimal | None:
    """Each item's duties and taxes from the declaration's newest assessment; their total."""
    found = assessment.assessments(session, declaration_id=declaration_id)
    if not found:
        return None
    for item in found[-1].breakdown.items:
        session.execute(
            update(ItemFact)
            .where(ItemFact.declaration_id == declaration_id, ItemFact.sequence == item.sequence)
            .values(revenue=item.duties_and_taxes.amount)
        )
    return sum((item.duties_and_taxes.amount for item in found[-1].breakdown.items), Decimal(0))


def _header(fact: DeclarationFact, declaration: Any) -> None:
    """The columns of the fact that mirror the declaration's current version and lane."""
    document = declaration.document
    fact.kind = document.kind.value
    fact.office = document.office_of_lodgement
    fact.transport_mode = document.transport_mode
    if declaration.lane is not None:
        fact.lane = declaration.lane.value


def on_events(session: Session, happened: list[events.DomainEvent]) -> None:
    """Keep the read model and its rollups: events arrive at least once and in order, so every write
    is idempotent; a fact's old contribution to the rollups is taken away before it changes and its
    new one added after, so that a repeated or amending event never counts twice."""
    changes = Rollups()
    facts: dict[uuid.UUID, DeclarationFact] = {}  # of this pass, new ones not yet flushed
    for event in happened:
        declaration_id = uuid.UUID(event.aggregate_id)
        fact = facts.get(declaration_id) or session.get(DeclarationFact, declaration_id)
        if event.type == "declaration.accepted":
            declaration = declarations.get(session, declaration_id=declaration_id, by=READER)
            _items(session, declaration)
            if fact is None:
                fact = DeclarationFact(declaration_id=declaration_id)
                session.add(fact)
            else:
                changes.add(fact, -1)
            _header(fact, declaration)
            fact.lane = event.data["lane"]
            fact.profiles = sorted({profile for profile, _ in trace(event.data.get("reasons", [])).matched})
            fact.lodged_at = declaration.lodged_at or event.occurred_at
            fact.accepted_at = event.occurred_at
            facts[declaration_id] = fact
            changes.add(fact, 1)
            continue
        if fact is None:  # accepted before analytics existed: `rebuild` adds it
            continue
        changes.add(fact, -1)
        if event.type == "declaration.assessed":
            fact.revenue = _revenue(session, declaration_id)
        elif event.type == "declaration.released":
            fact.released_at = event.occurred_at
            fact.released_by = event.actor
            fact.release_seconds = (event.occurred_at - fact.lodged_at).total_seconds()
        elif event.type == "declaration.control_recorded":
            fact.control_outcome = event.data.get("outcome")
            fact.controlled_by = event.actor
        elif event.type == "declaration.amended":
            declaration = declarations.get(session, declaration_id=declaration_id, by=READER)
            _header(fact, declaration)
            _items(session, declaration)  # their revenue comes with the assessment that follows
        changes.add(fact, 1)
    session.flush()
    changes.store(session)


def subscribe(dispatcher: events.Dispatcher) -> None:
    dispatcher.subscribe_batch(EVENTS, on_events)


# ---------------------------------------------------------------- rollups

CellKey = tuple[date, str, str, str]  # day of lodgement (UTC), lane, office, transport mode
OfficerKey = tuple[date, str]
ProfileKey = tuple[date, int]
CELL_COUNTS = ("lodged", "released", "within_hour", "controls", "irregular")
CELL_KEY = (DayRollup.day, DayRollup.lane, DayRollup.office, DayRollup.transport_mode)
OFFICER_KEY = (OfficerDayRollup.day, OfficerDayRollup.officer)
PROFILE_KEY = (ProfileDayRollup.day, ProfileDayRollup.profile_id)
OFFICER_COUNTS = ("controls", "releases")
PROFILE_COUNTS = ("hits", "controls", "irregular")
STORE_BATCH = 500


@dataclass
class Cell:
    """What some declarations add to one rollup row (negative: what they take away)."""

    counts: Counter[str] = field(default_factory=Counter)
    revenue: Decimal = Decimal(0)
    buckets: Counter[int] = field(default_factory=Counter)  # histogram.bucket of release seconds

    def empty(self) -> bool:
        return not any(self.counts.values()) and not self.revenue and not any(self.buckets.values())


@dataclass
class Rollups:
    """Rollup rows as numbers, summed from facts: a change to apply, or the whole rollups recomputed."""

    cells: defaultdict[CellKey, Cell] = field(default_factory=lambda: defaultdict(Cell))
    officers: defaultdict[OfficerKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    profiles: defaultdict[ProfileKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, fact: DeclarationFact, sign: int) -> None:
        """Add (sign 1) or take away (-1) what one declaration counts for."""
        day = fact.lodged_at.astimezone(UTC).date()
        control = Counter(
            {"controls": sign, "irregular": sign if fact.control_outcome == "irregularity" else 0}
            if fact.control_outcome is not None
            else {}
        )
        cell = self.cells[(day, fact.lane, fact.office, fact.transport_mode)]
        cell.counts["lodged"] += sign
        if fact.released_at is not None and fact.release_seconds is not None:
            cell.counts["released"] += sign
            cell.counts["within_hour"] += sign if fact.release_seconds <= HOUR else 0
            cell.buckets[histogram.bucket(fact.release_seconds)] += sign
        cell.counts.update(control)
        if fact.revenue:
            cell.revenue += sign * fact.revenue
        if fact.controlled_by is not None:
            self.officers[(day, fact.controlled_by)]["controls"] += sign
        if fact.released_by is not None and fact.lane != "green":
            self.officers[(day, fact.released_by)]["releases"] += sign
        for profile in fact.profiles:
            self.profiles[(day, profile)].update(control, hits=sign)

    def store(self, session: Session) -> None:
        """Add these numbers to the rollup rows (rows that come to nothing are removed)."""
        cells = sorted(key for key, cell in self.cells.items() if not cell.empty())
        for start in range(0, len(cells), STORE_BATCH):  # a bounded IN list per statement
            _store_cells(session, {key: self.cells[key] for key in cells[start : start + STORE_BATCH]})
        _store_counts(session, OfficerDayRollup, OFFICER_KEY, OFFICER_COUNTS, self.officers)
        _store_counts(session, ProfileDayRollup, PROFILE_KEY, PROFILE_COUNTS, self.profiles)


def _insert_missing(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    session.execute(insert_on_conflict(session, model).on_conflict_do_nothing(), rows)


def _store_cells(session: Session, cells: dict[CellKey, Cell]) -> None:
    keys = sorted(cells)
    zero = {name: 0 for name in CELL_COUNTS} | {"revenue": Decimal(0), "release_histogram": b""}
    _insert_missing(
        session,
        DayRollup,
        [dict(zip(("day", "lane", "office", "transport_mode"), key, strict=True)) | zero for key in keys],
    )
    rows = session.execute(
        select(
            *CELL_KEY, *(getattr(DayRollup, name) for name in (*CELL_COUNTS, "revenue", "release_histogram"))
        )
        .where(tuple_(*CELL_KEY).in_(keys))
        .order_by(*CELL_KEY)
        .with_for_update()
    ).all()
    changed, gone = [], []
    for row in rows:
        key = (row.day, row.lane, row.office, row.transport_mode)
        cell = cells[key]
        counts = {name: getattr(row, name) + cell.counts[name] for name in CELL_COUNTS}
        if counts["lodged"] == 0:
            gone.append(key)
            continue
        buckets = Counter(histogram.decode(row.release_histogram))
        buckets.update(cell.buckets)
        changed.append(
            dict(zip(("day", "lane", "office", "transport_mode"), key, strict=True))
            | counts
            | {"revenue": row.revenue + cell.revenue, "release_histogram": histogram.encode(buckets)}
        )
    if changed:
        session.execute(update(DayRollup), changed)
    if gone:
        session.execute(delete(DayRollup).where(tuple_(*CELL_KEY).in_(gone)))


def _store_counts(
    session: Session,
    model: Any,
    key: tuple[Any, ...],
    names: tuple[str, ...],
    counts: Mapping[Any, Counter[str]],
) -> None:
    """Add `counts` (per value of the `key` columns) to a rollup of plain counters, a batch at a time."""
    changed = sorted(at for at, found in counts.items() if any(found.values()))
    for start in range(0, len(changed), STORE_BATCH):
        _store_count_batch(
            session, model, key, names, {at: counts[at] for at in changed[start : start + STORE_BATCH]}
        )


def _store_count_batch(
    session: Session,
    model: Any,
    key: tuple[Any, ...],
    names: tuple[str, ...],
    counts: dict[Any, Counter[str]],
) -> None:
    keys = sorted(counts)
    columns = [column.key for column in key]
    _insert_missing(
        session, model, [dict(zip(columns, at, strict=True)) | dict.fromkeys(names, 0) for at in keys]
    )
    rows = session.execute(
        select(*key, *(getattr(model, name) for name in names))
        .where(tuple_(*key).in_(keys))
        .order_by(*key)
        .with_for_update()
    ).all()
    changed, gone = [], []
    for row in rows:
        at, before = tuple(row[: len(key)]), row[len(key) :]
        now = {name: value + counts[at][name] for name, value in zip(names, before, strict=True)}
        if any(now.values()):
            changed.append(dict(zip(columns, at, strict=True)) | now)
        else:
            gone.append(at)
    if changed:
        session.execute(update(model), changed)
    if gone:
        session.execute(delete(model).where(tuple_(*key).in_(gone)))


def recompute(session: Session) -> Rollups:
    """The rollups summed afresh from the facts (what the incremental rollups must equal)."""
    found = Rollups()
    for fact in session.scalars(select(DeclarationFact).execution_options(yield_per=5000)):
        found.add(fact, 1)
        session.expunge(fact)
    return found


def stored(session: Session) -> Rollups:
    """The rollup rows as they are."""
    found = Rollups()
    for row in session.execute(select(DayRollup)).scalars():
        found.cells[(row.day, row.lane, row.office, row.transport_mode)] = Cell(
            Counter({name: getattr(row, name) for name in CELL_COUNTS}),
            row.revenue,
            Counter(histogram.decode(row.release_histogram)),
        )
    for officer in session.execute(select(OfficerDayRollup)).scalars():
        found.officers[(officer.day, officer.officer)] = Counter(
            {name: getattr(officer, name) for name in OFFICER_COUNTS}
        )
    for profile in session.execute(select(ProfileDayRollup)).scalars():
        found.profiles[(profile.day, profile.profile_id)] = Counter(
            {name: getattr(profile, name) for name in PROFILE_COUNTS}
        )
    return found


def rebuild_rollups(session: Session) -> int:
    """Replace the rollups by their recomputation from the facts; the rollup rows written."""
    for model in (DayRollup, OfficerDayRollup, ProfileDayRollup):
        session.execute(delete(model))
    found = recompute(session)
    found.store(session)
    return len(found.cells) + len(found.officers) + len(found.profiles)


def rebuild(
    session: Session, *, batch: int = 2000, progress: Callable[[int, int], None] | None = None
) -> int:
    """The read model and its rollups rebuilt from the declarations' recorded events (for declarations
    accepted before analytics existed, or after a change of what it keeps): everything is cleared,
    then every event is replayed through `on_events` in order. Idempotent. `progress(done, total)` is
    told after each batch; returns the events replayed."""
    for model in (DayRollup, OfficerDayRollup, ProfileDayRollup, ItemFact, DeclarationFact, StoredForecasts):
        session.execute(delete(model))
    wanted = (events.Event.aggregate_type == declarations.AGGREGATE, events.Event.type.in_(EVENTS))
    total = session.scalar(select(func.count()).select_from(events.Event).where(*wanted)) or 0
    done, last = 0, 0
    while True:
        rows = session.scalars(
            select(events.Event).where(*wanted, events.Event.id > last).order_by(events.Event.id).limit(batch)
        ).all()
        if not rows:
            return done
        on_events(session, [events.DomainEvent.from_row(row) for row in rows])
        done, last = done + len(rows), rows[-1].id
        session.expunge_all()
        if progress:
            progress(done, total)


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


def _combinations(session: Session, first: date, last: date) -> list[Any]:
    """The rollups of the days `first` to `last` summed per lane, office and transport mode."""
    return list(
        session.execute(
            select(
                DayRollup.lane,
                DayRollup.office,
                DayRollup.transport_mode,
                *(func.sum(getattr(DayRollup, name)).label(name) for name in CELL_COUNTS),
            )
            .where(DayRollup.day.between(first, last))
            .group_by(DayRollup.lane, DayRollup.office, DayRollup.transport_mode)
            .order_by(DayRollup.lane, DayRollup.office, DayRollup.transport_mode)
        ).all()
    )


def release_summary(
    session: Session, *, first: date, last: date, combinations: list[Any] | None = None
) -> dict[str | None, list[ReleaseTimes]]:
    """The release-time study of the declarations lodged on the UTC days `first` to `last`, from the
    rollups: overall (key None), per lane, office and transport mode. Counts are exact; percentiles
    come from the summed histograms (histogram.ACCURACY_NOTE)."""
    combinations = combinations if combinations is not None else _combinations(session, first, last)
    position = {tuple(row[:3]): n for n, row in enumerate(combinations)}
    combination = (DayRollup.lane, DayRollup.office, DayRollup.transport_mode)
    query = select(*combination, DayRollup.release_histogram)
    if session.get_bind().dialect.name == "postgresql":
        # one blob per combination, concatenated by the database: a year is then 45 rows, not 10,000
        # (row objects enough to set off the collector's full passes of a few hundred ms)
        joined = func.string_agg(DayRollup.release_histogram, literal(b""))
        query = select(*combination, joined).group_by(*combination)
    found = session.execute(query.where(DayRollup.day.between(first, last), DayRollup.released > 0)).all()
    dense = histogram.sum_by_group(
        [row[3] for row in found], [position[tuple(row[:3])] for row in found], len(combinations)
    )
    study: dict[str | None, list[ReleaseTimes]] = {}
    for by in DIMENSIONS:
        members: dict[str, list[int]] = defaultdict(list)
        for n, row in enumerate(combinations):
            members["all" if by is None else str(row[COLUMN_OF[by]])].append(n)
        rows = []
        for group in sorted(members):
            lodged, released, fast = (
                sum(int(getattr(combinations[n], name)) for n in members[group])
                for name in ("lodged", "released", "within_hour")
            )
            median, p90, p95 = (
                histogram.quantiles(dense[members[group]].sum(axis=0), QUANTILES)
                if released
                else [None, None, None]
            )
            rows.append(
                ReleaseTimes(group, lodged, released, median, p90, p95, fast / released if released else None)
            )
        study[by] = rows
    return study


COLUMN_OF = {"lane": 0, "office": 1, "mode": 2}


@dataclass(frozen=True, slots=True)
class HitRate:
    group: str
    controls: int
    irregular: int

    @property
    def rate(self) -> float:
        return self.irregular / self.controls if self.controls else 0.0


def hit_rates(
    session: Session, *, first: date, last: date, combinations: list[Any] | None = None
) -> list[HitRate]:
    """Controls recorded and how many found an irregularity, per office, from the rollups."""
    combinations = combinations if combinations is not None else _combinations(session, first, last)
    controls: Counter[str] = Counter()
    irregular: Counter[str] = Counter()
    for row in combinations:
        controls[row.office] += int(row.controls)
        irregular[row.office] += int(row.irregular)
    return [
        HitRate(office, controls[office], irregular[office])
        for office in sorted(controls)
        if controls[office]
    ]


@dataclass(frozen=True, slots=True)
class ProfileResults:
    """What a targeting profile matched among the declarations lodged in a period, and what the controls
    of those found."""

    profile: ProfileOut
    hits: int
    controls: int
    irregular: int

    @property
    def rate(self) -> float | None:
        return self.irregular / self.controls if self.controls else None


def profile_results(session: Session, *, first: date, last: date) -> list[ProfileResults]:
    """Every targeting profile (as risk lists them) with its hits, controls and irregularities among the
    declarations lodged on the days `first` to `last`, from the rollups."""
    found = {
        int(profile_id): (int(hits), int(controls), int(irregular))
        for profile_id, hits, controls, irregular in session.execute(
            select(
                ProfileDayRollup.profile_id, *(func.sum(getattr(ProfileDayRollup, n)) for n in PROFILE_COUNTS)
            )
            .where(ProfileDayRollup.day.between(first, last))
            .group_by(ProfileDayRollup.profile_id)
        )
    }
    return [
        ProfileResults(profile, *found.get(profile.id, (0, 0, 0))) for profile in risk.list_profiles(session)
    ]


@dataclass(frozen=True, slots=True)
class Workload:
    officer: str
    controls: int
    releases: int  # of declarations sent to a control lane (green ones release themselves)


def workload(session: Session, *, first: date, last: date) -> list[Workload]:
    """Per officer, from the rollups of the declarations lodged on the days `first` to `last`."""
    rows = session.execute(
        select(
            OfficerDayRollup.officer, func.sum(OfficerDayRollup.controls), func.sum(OfficerDayRollup.releases)
        )
        .where(OfficerDayRollup.day.between(first, last))
        .group_by(OfficerDayRollup.officer)
        .order_by(OfficerDayRollup.officer)
    ).all()
    return [Workload(str(officer), int(controls), int(releases)) for officer, controls, releases in rows]


@dataclass(frozen=True, slots=True)
class RevenueWeek:
    starts: date
    collected: Decimal | None  # None: a week to come
    forecast: float


@functools.lru_cache(maxsize=16)
def _forecast_weeks(history: tuple[float, ...], weeks: int) -> list[float]:
    """Holt-Winters over a daily history, summed per week; memoised by the history itself (a fit
    takes longer than the rest of the dashboard, and a day's history changes little)."""
    return forecast.weekly(forecast.holt_winters(history, 7 * weeks))[:weeks]


def revenue_weeks(
    session: Session, *, today: date, weeks: int = 4, history_days: int = 364
) -> list[RevenueWeek]:
    """Duties and taxes assessed on the declarations lodged in each of the last `weeks` whole weeks
    (the days before `today`; what is collected before release), beside the forecast made for those
    weeks from the `history_days` before them; then the forecast for the coming `weeks`."""
    window = today - timedelta(days=7 * weeks)
    start = window - timedelta(days=history_days)
    daily = [Decimal(0)] * (history_days + 7 * weeks)
    for day, revenue in session.execute(
        select(DayRollup.day, func.sum(DayRollup.revenue))
        .where(DayRollup.day >= start, DayRollup.day < today)
        .group_by(DayRollup.day)
    ):
        daily[(_as_date(day) - start).days] = Decimal(revenue or 0)
    values = tuple(float(value) for value in daily)
    before = _forecast_weeks(values[:history_days], weeks)
    coming = _forecast_weeks(values[-history_days:], weeks)
    out = [
        RevenueWeek(
            window + timedelta(days=7 * n),
            sum(daily[history_days + 7 * n : history_days + 7 * (n + 1)], Decimal(0)),
            before[n],
        )
        for n in range(weeks)
    ]
    return out + [RevenueWeek(today + timedelta(days=7 * n), None, coming[n]) for n in range(weeks)]


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / HOUR:.1f} h"


def dashboard(
    session: Session, *, first: date, last: date, today: date, targets: dict[str, float] | None = None
) -> dict[str, Any]:
    """Everything the supervisors' dashboard shows for the declarations lodged on the UTC days `first`
    to `last`, with its SVG charts; read from the rollups only (and risk's profiles and models)."""
    combinations = _combinations(session, first, last)
    study = release_summary(session, first=first, last=last, combinations=combinations)
    by_lane = study["lane"]
    shares = shares_of(by_lane)
    targets = targets or {}
    revenue = revenue_weeks(session, today=today)
    return {
        "overall": study[None],
        "by_lane": by_lane,
        "by_office": study["office"],
        "by_mode": study["mode"],
        "shares": shares,
        "hit_rates": hit_rates(session, first=first, last=last, combinations=combinations),
        "workload": workload(session, first=first, last=last),
        "revenue": revenue,
        "profiles": profile_results(session, first=first, last=last),
        "models": risk.list_models(session),
        "modes": MODES,
        "minutes": minutes,
        "accuracy": histogram.ACCURACY_NOTE,
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
        "revenue_chart": charts.bars(
            "Revenue per week (marks: forecast)",
            [
                charts.Bar(str(week.starts), float(week.collected), f"{week.collected:,.0f}", week.forecast)
                for week in revenue
                if week.collected is not None
            ],
            description="duties and taxes assessed per week of lodgement; the mark is the forecast made "
            "before the week from the year before it",
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


# ---------------------------------------------------------------- forecasts computed once a day

MAX_WEEKS = 12  # the forecasts page shows up to this many weeks ahead: all of them are fitted at once


@dataclass(frozen=True, slots=True)
class Outlook:
    """Everything the forecasts page shows, computed on one day from the whole days before it."""

    day: date  # the first day forecast: the history ends the day before
    computed_at: datetime
    by_section: list[Forecast]
    by_origin: list[Forecast]
    staffing: list[Staffing]

    @property
    def last_day(self) -> date:
        """The last day of the history it was computed from."""
        return self.day - timedelta(days=1)


OUTLOOK = TypeAdapter(Outlook)  # to and from the stored JSON


def compute_outlook(session: Session, *, today: date) -> Outlook:
    """Fit every forecast of the page for `today` (seconds: two models and two backtests a group)."""
    return Outlook(
        today,
        utcnow(),
        forecasts(session, by="section", today=today, weeks=MAX_WEEKS),
        forecasts(session, by="origin", today=today, weeks=MAX_WEEKS),
        allocation(session, today=today),
    )


def store_outlook(session: Session, outlook: Outlook) -> bool:
    """Keep `outlook` as the stored one (replacing one of the same day; older days go). One that
    forecasts nothing is not kept (False): the read model had no history yet (a new database whose
    events are still being delivered), and the day's next view should look again."""
    if not (outlook.by_section or outlook.by_origin):
        return False
    row = {
        "day": outlook.day,
        "computed_at": outlook.computed_at,
        "content": OUTLOOK.dump_python(outlook, mode="json"),
    }
    session.execute(
        insert_on_conflict(session, StoredForecasts)
        .values(row)
        .on_conflict_do_update(index_elements=[StoredForecasts.day], set_=row)
    )
    session.execute(delete(StoredForecasts).where(StoredForecasts.day < outlook.day))
    return True


def stored_outlook(session: Session) -> Outlook | None:
    """The newest stored outlook, if any; one stored by a release that shaped it differently counts as
    none (it is computed again rather than failing the page until the next day)."""
    content = session.scalar(select(StoredForecasts.content).order_by(StoredForecasts.day.desc()).limit(1))
    try:
        return None if content is None else OUTLOOK.validate_python(content)
    except ValidationError:
        return None


_computing = threading.Lock()


def current_outlook(sessions: sessionmaker[Session], *, today: date) -> Outlook:
    """The outlook of `today` if it is stored; else the newest stored one while today's is computed in
    a background thread; else (nothing stored yet) computed now and stored.

    Its history is whole UTC days, so it is stale only when a new day begins; there is no scheduler in
    the app, so the first page view of the day starts the computation (tens of seconds on a year of
    declarations) and shows yesterday's meanwhile; `customhouse report forecasts` run from cron just
    after midnight does it ahead. The lock keeps this process to one computation at a time."""
    with sessions() as session:
        found = stored_outlook(session)
    if found is not None and found.day == today:
        return found
    if found is not None:
        if _computing.acquire(blocking=False):
            threading.Thread(target=_refresh, args=(sessions, today), name="forecasts", daemon=True).start()
        return found
    with _computing:  # another view of this process may have computed it meanwhile
        with sessions() as session:
            found = stored_outlook(session)
            if found is not None and found.day == today:
                return found
            found = compute_outlook(session, today=today)
        with writing(sessions) as session:
            store_outlook(session, found)
        return found


def _refresh(sessions: sessionmaker[Session], today: date) -> None:
    """Compute and store `today`'s outlook, then let the next computation start (holds `_computing`)."""
    try:
        with sessions() as session:
            fresh = compute_outlook(session, today=today)
        with writing(sessions) as session:
            store_outlook(session, fresh)
    except Exception:
        log.exception("the forecasts of %s were not computed", today)
    finally:
        _computing.release()
