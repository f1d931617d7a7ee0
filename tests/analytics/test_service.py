"""The release-time study and the other aggregates, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.analytics import charts, service
from customhouse.analytics.models import DeclarationFact
from customhouse.auth.service import Principal, Role
from customhouse.cli import app
from customhouse.declarations.schemas import Lane
from customhouse.risk import service as risk
from customhouse.risk.schemas import Conditions, ProfileIn
from tests.helpers import cli_database

START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def fact(
    seconds: float | None,
    *,
    lane: str = "green",
    office: str = "KR000040",
    mode: str = "1",
    lodged_at: datetime = START,
    **more: object,
) -> DeclarationFact:
    return DeclarationFact(
        declaration_id=uuid.uuid4(),
        kind="import",
        office=office,
        transport_mode=mode,
        lane=lane,
        lodged_at=lodged_at,
        accepted_at=lodged_at,
        released_at=None if seconds is None else lodged_at + timedelta(seconds=seconds),
        release_seconds=seconds,
        **more,
    )


def period() -> dict[str, datetime]:
    return {"since": START - timedelta(days=1), "until": START + timedelta(days=1)}


def test_release_times_per_lane_with_percentiles_and_the_share_within_an_hour(session: Session) -> None:
    session.add_all(
        [fact(s) for s in (60, 120, 180, 7200)]
        + [fact(s, lane="red", office="KR000010", mode="4") for s in (3600, 10800)]
        + [fact(None, lane="red", office="KR000010", mode="4")]
    )
    session.flush()
    by_lane = {row.group: row for row in service.release_times(session, by="lane", **period())}
    green, red = by_lane["green"], by_lane["red"]
    assert (green.lodged, green.released) == (4, 4)
    assert green.median == pytest.approx(150.0)  # between 120 and 180, as percentile_cont interpolates
    assert green.p90 == pytest.approx(180 + 0.7 * (7200 - 180))
    assert green.within_hour == pytest.approx(0.75)
    assert (red.lodged, red.released, red.within_hour) == (3, 2, 0.5)  # exactly 1 hour counts as within
    assert red.median == pytest.approx(7200.0)
    (overall,) = service.release_times(session, **period())
    assert (overall.lodged, overall.released) == (7, 6)
    assert {row.group for row in service.release_times(session, by="mode", **period())} == {"1", "4"}
    outside = service.release_times(
        session, since=START + timedelta(hours=1), until=START + timedelta(days=1)
    )
    assert outside == []


def test_the_one_pass_study_agrees_with_each_dimension_alone(session: Session) -> None:
    session.add_all(
        [fact(s, lane=lane, office=office, mode=mode)
         for s, lane, office, mode in [(60, "green", "KR000040", "1"), (90, "green", "KR000010", "4"),
                                       (4000, "yellow", "KR000040", "4"), (None, "red", "KR000010", "3"),
                                       (20000, "red", "KR000040", "1")]]
    )  # fmt: skip
    session.flush()
    study = service.release_study(session, **period())
    for by in service.DIMENSIONS:
        assert study[by] == service.release_times(session, by=by, **period()), by
    assert [row.group for row in study["mode"]] == ["1", "3", "4"]


def test_lane_shares_hit_rates_and_workload_from_the_rollups(session: Session) -> None:
    session.add_all(
        [
            fact(60),
            fact(60),
            fact(600, lane="yellow", control_outcome="conforming", controlled_by="kim", released_by="kim"),
            fact(900, lane="red", control_outcome="irregularity", controlled_by="lee", released_by="kim"),
        ]
    )
    session.flush()
    service.rebuild_rollups(session)
    day = {"first": START.date(), "last": START.date()}
    shares = service.shares_of(service.release_summary(session, **day)["lane"])
    assert [(s.group, s.count, s.share) for s in shares] == [
        ("green", 2, 0.5),
        ("yellow", 1, 0.25),
        ("red", 1, 0.25),
    ]
    (office,) = service.hit_rates(session, **day)
    assert (office.controls, office.irregular, office.rate) == (2, 1, 0.5)
    work = {w.officer: (w.controls, w.releases) for w in service.workload(session, **day)}
    assert work == {"kim": (1, 2), "lee": (1, 0)}
    next_day = {"first": START.date() + timedelta(days=1), "last": START.date() + timedelta(days=1)}
    assert service.release_summary(session, **next_day)[None] == []
    assert service.workload(session, **next_day) == []


def test_hit_rates_per_targeting_profile_follow_the_period(session: Session) -> None:
    supervisor = Principal("supervisor", frozenset({Role.SUPERVISOR}))
    made = [
        risk.create_profile(
            session,
            profile=ProfileIn(
                code=code, lane=Lane.RED, priority=50, reason="test", conditions=Conditions(origins=["CN"])
            ),
            by=supervisor,
        )
        for code in ("CN-A", "CN-B")
    ]
    a, b = (profile.id for profile in made)
    next_day = START + timedelta(days=1)
    session.add_all(
        [
            fact(600, lane="red", profiles=[a, b], control_outcome="irregularity", controlled_by="kim"),
            fact(600, lane="red", profiles=[a], control_outcome="conforming", controlled_by="kim"),
            fact(60, profiles=[a]),  # matched, not controlled
            fact(
                600,
                lane="red",
                profiles=[b],
                control_outcome="conforming",
                controlled_by="kim",
                lodged_at=next_day,
            ),
        ]
    )
    session.flush()
    service.rebuild_rollups(session)

    def results(first: datetime, last: datetime) -> dict[str, tuple[int, int, int, float | None]]:
        found = service.profile_results(session, first=first.date(), last=last.date())
        return {r.profile.code: (r.hits, r.controls, r.irregular, r.rate) for r in found}

    assert results(START, START) == {"CN-A": (3, 2, 1, 0.5), "CN-B": (1, 1, 1, 1.0)}
    assert results(next_day, next_day) == {"CN-A": (0, 0, 0, None), "CN-B": (1, 1, 0, 0.0)}
    assert results(START, next_day)["CN-B"] == (2, 2, 1, 0.5)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50), st.floats(0, 1))
def test_percentile_lies_between_the_neighbouring_ranks(values: list[float], q: float) -> None:
    ordered = sorted(values)
    found = service.percentile(ordered, q)
    assert ordered[0] <= found <= ordered[-1]
    assert service.percentile(ordered, 0) == ordered[0] and service.percentile(ordered, 1) == ordered[-1]


def test_chart_escapes_text_and_scales_to_the_largest_value() -> None:
    svg = charts.bars("<b>t</b>", [charts.Bar("a&b", 10, "10"), charts.Bar("c", 5, "5", target=20)])
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a&amp;b" in svg
    widths = [float(w) for w in __import__("re").findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert widths == [charts.BAR_WIDTH / 2, charts.BAR_WIDTH / 4]  # the target (20) sets the scale
    assert "target 20" in svg


@pytest.fixture
def cli_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with cli_database(tmp_path, monkeypatch) as sessions:
        yield sessions


def test_report_release_times_writes_csv_and_svg(cli_sessions: sessionmaker[Session], tmp_path: Path) -> None:
    with cli_sessions.begin() as session:
        session.add_all([fact(60), fact(180), fact(5400, lane="red")])
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", "release-times", "--from", "2026-03-02", "--to", "2026-03-02", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "release-times.csv").open()))
    overall = next(r for r in rows if r["dimension"] == "all")
    assert (overall["lodged"], overall["released"], overall["median_s"]) == ("3", "3", "180")
    assert overall["released_within_1h"] == "0.6667"
    assert {r["group"] for r in rows if r["dimension"] == "lane"} == {"green", "red"}
    assert (out / "release-times.svg").read_text().startswith("<svg")
    empty = CliRunner().invoke(
        app, ["report", "release-times", "--from", "2026-03-03", "--to", "2026-03-03", "--out", str(out)]
    )
    assert empty.exit_code == 0
    assert len(list(csv.reader((out / "release-times.csv").open()))) == 1  # only the header
    backwards = CliRunner().invoke(
        app, ["report", "release-times", "--from", "2026-03-03", "--to", "2026-03-01"]
    )
    assert backwards.exit_code != 0
