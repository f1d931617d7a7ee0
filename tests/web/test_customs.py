"""Officers work the queue, control and release; supervisors read the dashboards."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from customhouse.analytics import service
from customhouse.db import utcnow
from customhouse.declarations.schemas import DeclarationDocument, Lane
from customhouse.declarations.selectivity import LaneDecision
from customhouse.risk.selector import RiskSelector
from customhouse.web import api as web_api
from tests import factories
from tests.analytics.test_read_model import history
from tests.conftest import bearer
from tests.web.conftest import csrf, deliver, sign_in


def lodge(client: TestClient, token: str, **overrides: object) -> dict[str, object]:
    answer = client.post(
        "/api/v1/declarations", json=factories.declaration(**overrides), headers=bearer(token)
    )
    assert answer.status_code == 201, answer.text
    deliver(client)
    return dict(client.get(f"/api/v1/declarations/{answer.json()['id']}", headers=bearer(token)).json())


def test_the_queue_puts_control_lanes_first_and_the_officer_controls_and_releases(
    client: TestClient, tokens: dict[str, str]
) -> None:
    yellow = lodge(client, tokens["trader"], lrn="Q-YELLOW", documents=[])  # a required document missing
    assert yellow["lane"] == "yellow" and yellow["state"] == "under_control"
    sign_in(client, tokens["officer"])
    queue = client.get("/web/queue").text
    assert "Q-YELLOW" in queue
    page = client.get(f"/web/declarations/{yellow['id']}")
    assert "Record a control result" in page.text and "Release the goods" in page.text
    revision = re.search(r'name="revision" value="(\d+)"', page.text)
    assert revision
    controlled = client.post(
        f"/web/declarations/{yellow['id']}/control",
        data={"csrf_token": csrf(page), "revision": revision.group(1), "outcome": "conforming", "note": "ok"},
        follow_redirects=False,
    )
    assert controlled.status_code == 303, controlled.text
    deliver(client)
    page = client.get(f"/web/declarations/{yellow['id']}")
    assert "declaration.control_recorded" in page.text
    revision = re.search(r'name="revision" value="(\d+)"', page.text)
    assert revision
    released = client.post(
        f"/web/declarations/{yellow['id']}/release",
        data={"csrf_token": csrf(page), "revision": revision.group(1)},
        follow_redirects=False,
    )
    assert released.status_code == 303, released.text
    assert "declaration.released" in client.get(f"/web/declarations/{yellow['id']}").text
    assert "Q-YELLOW" not in client.get("/web/queue").text


def test_a_bad_control_answers_the_problem_and_changes_nothing(
    client: TestClient, tokens: dict[str, str]
) -> None:
    yellow = lodge(client, tokens["trader"], lrn="Q-BAD", documents=[])
    sign_in(client, tokens["officer"])
    page = client.get(f"/web/declarations/{yellow['id']}")
    answer = client.post(
        f"/web/declarations/{yellow['id']}/control",
        data={"csrf_token": csrf(page), "revision": str(yellow["revision"]), "outcome": "maybe"},
    )
    assert answer.status_code == 422
    assert "/outcome" in answer.text
    assert "declaration.control_recorded" not in client.get(f"/web/declarations/{yellow['id']}").text


class ByLrn:
    """A lane selector for the test: the LRN's first letter names the lane."""

    def select(self, document: DeclarationDocument, **_context: object) -> LaneDecision:
        lane = {"R": Lane.RED, "Y": Lane.YELLOW}.get(document.lrn[0], Lane.GREEN)
        return LaneDecision(lane, [f"test: {lane.value}"])


def test_the_queue_puts_red_before_yellow(client: TestClient, tokens: dict[str, str]) -> None:
    policy = client.app.state.policy  # type: ignore[attr-defined]
    client.app.state.policy = dataclasses.replace(policy, selector=ByLrn())  # type: ignore[attr-defined]
    lodge(client, tokens["trader"], lrn="Y-FIRST")
    lodge(client, tokens["trader"], lrn="R-LATER")
    sign_in(client, tokens["officer"])
    queue = client.get("/web/queue").text
    assert queue.index("R-LATER") < queue.index("Y-FIRST")  # red first, though it waited less


def test_queue_puts_the_longest_waiting_first_within_a_lane(
    client: TestClient, tokens: dict[str, str]
) -> None:
    first = lodge(client, tokens["trader"], lrn="Q-1", documents=[])
    second = lodge(client, tokens["trader"], lrn="Q-2", documents=[])
    sign_in(client, tokens["officer"])
    queue = client.get("/web/queue").text
    assert queue.index("Q-1") < queue.index("Q-2")  # the longest waiting first
    assert first["lane"] == second["lane"] == "yellow"


def test_dashboards_show_the_release_time_study(client: TestClient, tokens: dict[str, str]) -> None:
    lodge(client, tokens["trader"], lrn="D-GREEN")  # green, secured on the deferment account: released
    sign_in(client, tokens["supervisor"])
    page = client.get("/web/dashboards")
    assert page.status_code == 200
    assert "<svg" in page.text and "Median lodgement to release, per lane" in page.text
    rows = re.findall(r"<tr><td>green</td><td>(\d+)</td><td>(\d+)</td>", page.text)
    assert rows and rows[0] == ("1", "1")
    assert "100.0 %" in page.text  # released within the hour


def test_only_supervisors_auditors_and_admins_see_dashboards(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["officer"])
    assert client.get("/web/dashboards").status_code == 404
    sign_in(client, tokens["auditor"])
    assert client.get("/web/dashboards").status_code == 200


def test_forecasts_page_for_supervisors(client: TestClient, tokens: dict[str, str], session: Session) -> None:
    history(session, today=utcnow().date())
    sign_in(client, tokens["officer"])
    assert client.get("/web/forecasts").status_code == 404
    sign_in(client, tokens["supervisor"])
    page = client.get("/web/forecasts?weeks=2")
    assert page.status_code == 200
    assert "By HS section" in page.text and "<td>XVI</td>" in page.text and "<td>CN</td>" in page.text
    assert page.text.count("Week of") == 4  # two weeks, two tables
    assert "too little history" not in page.text  # 120 days: every series has its backtest
    assert "<td>KR000040</td>" in page.text


def test_the_queue_is_paged_in_its_order(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = client.app.state.policy  # type: ignore[attr-defined]
    client.app.state.policy = dataclasses.replace(policy, selector=ByLrn())  # type: ignore[attr-defined]
    monkeypatch.setattr(web_api, "QUEUE_PAGE", 2)
    for lrn in ("Y-OLD", "R-NEW", "Y-NEW"):
        lodge(client, tokens["trader"], lrn=lrn)
    sign_in(client, tokens["supervisor"])
    first = client.get("/web/queue").text
    assert first.index("R-NEW") < first.index("Y-OLD") and "Y-NEW" not in first
    assert 'href="/web/queue?page=2' in first and "Page 1: 1 to 2" in first
    second = client.get("/web/queue?page=2").text
    assert "Y-NEW" in second and "Y-OLD" not in second and "R-NEW" not in second
    assert "Next page" not in second and 'href="/web/queue?page=1' in second


def test_dashboards_show_revenue_against_forecast_and_the_percentiles_bound(
    client: TestClient, tokens: dict[str, str], session: Session
) -> None:
    history(session, today=utcnow().date())  # 1,000 a goods item, the same weekly pattern for 120 days
    service.rebuild_rollups(session)
    session.commit()
    sign_in(client, tokens["supervisor"])
    page = client.get("/web/dashboards").text
    assert "Revenue against forecast" in page and "within 2%" in page
    weeks = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>\s*<td>([^<]+)</td><td>([\d,]+)</td>", page)
    assert len(weeks) == 8  # four weeks past, four to come
    for _, collected, forecast in weeks[:4]:
        assert collected == "70,000"  # 70 items a week at 1,000
        assert abs(int(forecast.replace(",", "")) - 70_000) < 3_000  # a steady history forecasts itself
    assert [collected for _, collected, _ in weeks[4:]] == ["to come"] * 4


def test_forecasts_are_fitted_once_a_day_and_say_when(
    client: TestClient, tokens: dict[str, str], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = utcnow().date()
    history(session, today=today)
    fits: list[int] = []
    fit = service.forecast.holt_winters

    def counting(*args: Any, **kwargs: Any) -> list[float]:
        fits.append(1)
        return fit(*args, **kwargs)

    monkeypatch.setattr(service.forecast, "holt_winters", counting)
    sign_in(client, tokens["supervisor"])
    first = client.get("/web/forecasts")
    assert first.status_code == 200 and fits
    fitted = len(fits)
    second = client.get(f"/web/forecasts?weeks={service.MAX_WEEKS}")
    assert len(fits) == fitted  # read from the store
    assert second.text.count("Week of") == 2 * service.MAX_WEEKS
    shown = re.search(r'Computed <time datetime="([^"]+)">', first.text)
    stored = service.stored_outlook(session)
    assert shown and stored and datetime.fromisoformat(shown.group(1)) == stored.computed_at
    assert f"lodged up to {today - timedelta(days=1)}" in first.text
    tomorrow = utcnow() + timedelta(days=1)
    monkeypatch.setattr(web_api, "utcnow", lambda: tomorrow)
    stale = client.get("/web/forecasts")  # a new day of data: the day before's shows meanwhile
    assert f"lodged up to {today - timedelta(days=1)}" in stale.text
    for thread in threading.enumerate():
        if thread.name == "forecasts":
            thread.join(30)
    assert len(fits) > fitted  # fitted again, in the background
    assert f"lodged up to {today}" in client.get("/web/forecasts").text


def test_dashboards_count_the_hits_and_controls_of_a_targeting_profile(
    client: TestClient, tokens: dict[str, str]
) -> None:
    app: Any = client.app
    app.state.policy = dataclasses.replace(
        app.state.policy, selector=RiskSelector(app.state.sessions, max_age=3600.0, uniform=lambda: 1.0)
    )
    profile = {
        "code": "CN-TEXTILES",
        "lane": "red",
        "priority": 50,
        "reason": "textiles from China: undervaluation campaign",
        "conditions": {"hs_prefixes": ["6109"], "origins": ["CN"]},
    }
    made = client.post("/api/v1/risk/profiles", json=profile, headers=bearer(tokens["supervisor"]))
    assert made.status_code == 201, made.text
    red = lodge(client, tokens["trader"], lrn="P-RED")
    assert red["lane"] == "red"
    sign_in(client, tokens["officer"])
    page = client.get(f"/web/declarations/{red['id']}")
    answer = client.post(
        f"/web/declarations/{red['id']}/control",
        data={
            "csrf_token": csrf(page),
            "revision": str(red["revision"]),
            "outcome": "irregularity",
            "irregularity": "undervaluation",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    deliver(client)
    sign_in(client, tokens["supervisor"])
    dashboard = client.get("/web/dashboards?days=1").text
    row = re.search(r"<td>CN-TEXTILES r1</td><td>red</td><td>yes</td>(.*?)</tr>", dashboard, re.S)
    assert row, dashboard
    assert re.findall(r"<td>([^<]*)</td>", row.group(1)) == ["1", "1", "1", "100.0 %"]


QUEUE_LRN = re.compile(r"<td>([RYG]-\d+)</td>")


def test_the_queue_pages_run_on_with_no_overlap_or_gap(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = client.app.state.policy  # type: ignore[attr-defined]
    client.app.state.policy = dataclasses.replace(policy, selector=ByLrn())  # type: ignore[attr-defined]
    monkeypatch.setattr(web_api, "QUEUE_PAGE", 2)
    other = {"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"}
    for number, lane in enumerate("GRYRGY"):
        if lane == "G":  # green waits for its payment: this trader has no deferment account
            lodge(client, tokens["other_trader"], lrn=f"G-{number}", declarant=other, importer=other)
        else:
            lodge(client, tokens["trader"], lrn=f"{lane}-{number}")
    sign_in(client, tokens["officer"])
    shown: list[str] = []
    for page in (1, 2, 3):
        text = client.get(f"/web/queue?page={page}").text
        shown += QUEUE_LRN.findall(text)
        assert ("Next page" in text) == (page < 3)
    assert shown == ["R-1", "R-3", "Y-2", "Y-5", "G-0", "G-4"]
    beyond = client.get(f"/web/queue?page={10**19}")  # its offset would overflow the database's integers
    assert beyond.status_code == 422 and beyond.json()["errors"][0]["parameter"] == "page"


def test_an_officer_of_another_office_sees_nothing_of_this_office_and_a_trader_no_queue(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lodge(client, tokens["trader"], lrn="Y-1", documents=[])
    sign_in(client, tokens["officer"])
    assert "Y-1" in client.get("/web/queue").text
    sign_in(client, tokens["officer_elsewhere"])
    for url in ("/web/queue", "/web/queue?office=KR000040"):
        page = client.get(url)
        assert page.status_code == 200 and "Nothing waiting." in page.text and "Y-1" not in page.text
    sign_in(client, tokens["trader"])
    assert client.get("/web/queue?office=KR000040").status_code == 404
