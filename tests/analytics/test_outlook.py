"""The forecasts page's outlook is computed once a day and stored; views of the day read it."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.analytics import service
from customhouse.analytics.models import StoredForecasts
from customhouse.cli import app
from customhouse.db import make_session_factory, utcnow
from tests.analytics.test_read_model import TODAY, history
from tests.helpers import cli_database


def stored_days(session: Session) -> list[date]:
    return list(session.scalars(select(StoredForecasts.day)))


def test_the_outlook_comes_back_from_the_store_as_computed(session: Session) -> None:
    history(session)
    outlook = service.compute_outlook(session, today=TODAY)
    assert {f.group for f in outlook.by_section} == {"XVI", "XI"}
    assert all(len(f.weeks) == service.MAX_WEEKS for f in outlook.by_section + outlook.by_origin)
    assert outlook.staffing and outlook.last_day == TODAY - timedelta(days=1)
    service.store_outlook(session, outlook)
    assert service.stored_outlook(session) == outlook
    service.store_outlook(session, outlook)  # again the same day: replaced, not added
    later = service.compute_outlook(session, today=TODAY + timedelta(days=1))
    service.store_outlook(session, later)
    assert stored_days(session) == [later.day]  # only the newest day is kept
    assert service.stored_outlook(session) == later


def test_an_outlook_of_no_history_is_not_kept(sessions: sessionmaker[Session], session: Session) -> None:
    """A new database whose events are not delivered yet has an empty read model: what it forecasts
    (nothing) must not stand for the whole day."""
    empty = service.current_outlook(sessions, today=TODAY)
    assert (empty.by_section, empty.by_origin) == ([], [])
    assert service.stored_outlook(session) is None
    history(session, days=21)
    session.commit()
    assert {f.group for f in service.current_outlook(sessions, today=TODAY).by_section} == {"XVI", "XI"}
    assert service.stored_outlook(session) is not None


def test_an_outlook_stored_in_another_shape_is_computed_again(
    sessions: sessionmaker[Session], session: Session
) -> None:
    history(session, days=21)
    session.add(StoredForecasts(day=TODAY, computed_at=utcnow(), content={"day": str(TODAY), "groups": []}))
    session.commit()
    assert service.stored_outlook(session) is None
    outlook = service.current_outlook(sessions, today=TODAY)
    assert {f.group for f in outlook.by_section} == {"XVI", "XI"}
    assert service.stored_outlook(session) == outlook


def test_views_of_a_day_wait_for_one_computation_and_a_new_day_computes_in_the_background(
    committing_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = make_session_factory(committing_engine)
    with sessions.begin() as session:
        history(session, days=21)
    computed: list[date] = []
    compute = service.compute_outlook

    def slow(session: Session, *, today: date) -> service.Outlook:
        computed.append(today)
        time.sleep(0.2)  # long enough for the other views to come meanwhile
        return compute(session, today=today)

    monkeypatch.setattr(service, "compute_outlook", slow)
    seen: list[service.Outlook] = []
    views = [
        threading.Thread(target=lambda: seen.append(service.current_outlook(sessions, today=TODAY)))
        for _ in range(4)
    ]
    for view in views:
        view.start()
    for view in views:
        view.join()
    assert computed == [TODAY]
    assert len(seen) == 4 and all(outlook == seen[0] for outlook in seen)
    assert service.current_outlook(sessions, today=TODAY) == seen[0]
    assert computed == [TODAY]
    # a new day: the first view shows the day before's while today's is computed in the background
    tomorrow = TODAY + timedelta(days=1)
    assert service.current_outlook(sessions, today=tomorrow) == seen[0]
    for thread in threading.enumerate():
        if thread.name == "forecasts":
            thread.join(30)
    assert computed == [TODAY, tomorrow]
    assert service.current_outlook(sessions, today=tomorrow).day == tomorrow
    assert computed == [TODAY, tomorrow]
    with sessions() as session:
        assert stored_days(session) == [tomorrow]


def test_report_forecasts_stores_todays_and_rebuild_clears_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with cli_database(tmp_path, monkeypatch) as sessions:
        today = utcnow().date()
        with sessions.begin() as session:
            history(session, days=21, today=today)
        result = CliRunner().invoke(app, ["report", "forecasts"])
        assert result.exit_code == 0, result.output
        assert f"forecasts for {today} stored: 4 groups, 3 office shifts" in result.output
        with sessions() as session:
            outlook = service.stored_outlook(session)
            assert outlook is not None and outlook.day == today
            assert {f.group for f in outlook.by_origin} == {"CN", "VN"}
        assert CliRunner().invoke(app, ["report", "rebuild"]).exit_code == 0
        with sessions() as session:  # computed from a read model that is gone
            assert session.scalar(select(func.count()).select_from(StoredForecasts)) == 0
