"""The transit monitor: corridors and trucks drawn as SVG, the alert queue, acknowledge and resolve."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from customhouse.auth.service import Role, create_user
from customhouse.declarations.service import Policy
from customhouse.tracking import schemas, service
from customhouse.tracking.corridor import builtin
from customhouse.web import transit
from tests.tracking.conftest import CODE, OFFICER_P, along, lodge_transit, register_fleet, report
from tests.web.conftest import csrf, post_form, sign_in


@dataclass
class Setup:
    movement_id: uuid.UUID
    alert_id: uuid.UUID
    lon: float
    lat: float


def tampered_truck(client: TestClient, session: Session, policy: Policy) -> Setup:
    """A movement on the Northern Corridor whose seal reported, moved on, then was tampered with."""
    fleet = register_fleet(session)
    declaration_id = lodge_transit(session, policy)
    movement = service.open_movement(
        session,
        movement=schemas.NewMovement(
            declaration_id=declaration_id,
            corridor=CODE,
            time_limit=datetime.now(UTC) + timedelta(days=10),
            seals=["SEAL-1"],
            guarantee_reference="GUA-PAPER-1",
        ),
        by=OFFICER_P,
    )
    session.commit()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    lon1, lat1 = along(20_000)
    lon2, lat2 = along(25_000)
    outcomes = client.app.state.tracking_processor.handle_many(  # type: ignore[attr-defined]
        [
            fleet.own(report("SEAL-1", 1, start, lon1, lat1)),
            fleet.own(report("SEAL-1", 2, start + timedelta(minutes=5), lon2, lat2, seal="tampered")),
        ]
    )
    assert [o.reason for o in outcomes] == [None, None]
    (alert,) = service.list_alerts(session, by=OFFICER_P, movement_id=movement.id)
    assert alert.kind == "seal-tampered" and alert.state == "open"
    return Setup(movement.id, alert.id, lon2, lat2)


def alert_state(text: str, alert_id: uuid.UUID) -> str | None:
    found = re.search(rf'id="alert-{alert_id}" class="alert alert-(\w+)"', text)
    return found.group(1) if found else None


def test_the_monitor_draws_the_corridor_and_the_truck_and_queues_the_alert(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    sign_in(client, tokens["officer"])
    page = client.get("/web/transit")
    assert page.status_code == 200, page.text
    text = page.text
    assert '<a href="/web/transit">Transit monitor</a>' in text  # the navigation
    assert text.count("<svg") == 1 and f'data-corridor="{CODE}"' in text
    assert 'class="route" d="M' in text and 'class="buffer" d="M' in text
    assert text.count('class="zone"') == 2 and text.count('class="stop"') == 5
    assert "Restricted zone: Tsavo West National Park" in text and "Approved stop: Malaba border post" in text
    # the truck: its track and last position, coloured as an incident, linking to its page
    truck = re.search(
        rf'<g class="truck truck-incident" data-movement="{setup.movement_id}">\s*'
        r'<path class="track" d="M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)".*?'
        rf'<a href="/web/transit/{setup.movement_id}">\s*'
        r'<circle class="position" cx="([\d.]+)" cy="([\d.]+)" r="6" fill="#b42318"',
        text,
        re.S,
    )
    assert truck, text
    # where it is drawn is the corridor's projection of the last report, fitted to the box
    corridor = builtin()[CODE]
    drawing = transit.draw(
        corridor, [service.get_movement(session, movement_id=setup.movement_id, by=OFFICER_P)]
    )
    (expected,) = drawing.trucks
    assert (float(truck.group(5)), float(truck.group(6))) == (expected.x, expected.y)
    assert (float(truck.group(3)), float(truck.group(4))) == (expected.x, expected.y)  # the track ends there
    assert 0 < float(truck.group(5)) < drawing.width and 0 < float(truck.group(6)) < drawing.height
    # Mombasa is east and south of Kampala: drawn right of and below it, north up
    assert drawing.departure.x > drawing.destination.x and drawing.departure.y > drawing.destination.y
    # the alert queue
    assert alert_state(text, setup.alert_id) == "open"
    assert "seal-tampered" in text
    assert f'action="/web/transit/alerts/{setup.alert_id}/acknowledge"' in text
    assert f'action="/web/transit/alerts/{setup.alert_id}/resolve"' in text
    assert text.count(f'href="/web/transit/{setup.movement_id}"') >= 3  # the map, the queue, the list


def test_acknowledge_then_resolve_through_the_forms(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    sign_in(client, tokens["officer"])
    alert = f"/web/transit/alerts/{setup.alert_id}"
    done = post_form(
        client, "/web/transit", f"{alert}/acknowledge", {"note": "driver called", "back": "/web/transit"}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/web/transit#alert-{setup.alert_id}"
    monitor = client.get("/web/transit").text
    assert alert_state(monitor, setup.alert_id) == "acknowledged"
    assert f"{alert}/acknowledge" not in monitor and f"{alert}/resolve" in monitor
    again = post_form(client, "/web/transit", f"{alert}/acknowledge", {"note": "twice"})
    assert again.status_code == 409 and "acknowledged" in again.text

    movement_page = f"/web/transit/{setup.movement_id}"
    empty = post_form(client, movement_page, f"{alert}/resolve", {"note": "  ", "back": movement_page})
    assert empty.status_code == 422  # the movement's page again, the problem beside the note
    assert 'aria-invalid="true"' in empty.text and f'id="resolve-{setup.alert_id}-error"' in empty.text
    assert "<h1>Movement" in empty.text

    resolved = post_form(
        client, movement_page, f"{alert}/resolve", {"note": "seal inspected at Malaba", "back": movement_page}
    )
    assert resolved.status_code == 303, resolved.text
    assert resolved.headers["location"] == f"{movement_page}#alert-{setup.alert_id}"
    (stored,) = service.list_alerts(session, by=OFFICER_P, movement_id=setup.movement_id)
    assert stored.state == "resolved" and stored.resolved_by == "officer"
    assert stored.acknowledged_by == "officer"

    assert alert_state(client.get("/web/transit").text, setup.alert_id) is None  # off the queue
    page = client.get(movement_page).text
    assert alert_state(page, setup.alert_id) == "resolved"
    history = page[page.index(f'id="alert-{setup.alert_id}"') :]
    for seen in ("tracking.alert_raised", "tracking.alert_acknowledged", "driver called"):
        assert seen in history
    assert "tracking.alert_resolved" in history and "seal inspected at Malaba" in history
    assert f"{alert}/resolve" not in page  # nothing left to do


def test_the_movement_page_draws_its_track(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    sign_in(client, tokens["supervisor"])
    page = client.get(f"/web/transit/{setup.movement_id}")
    assert page.status_code == 200
    assert page.text.count(f'data-corridor="{CODE}"') == 2  # the whole corridor and a close-up
    assert page.text.count('class="truck truck-incident"') == 2
    detail = service.get_movement(session, movement_id=setup.movement_id, by=OFFICER_P)
    close_up = transit.draw(builtin()[CODE], [detail], close_up=True)
    (truck,) = close_up.trucks
    assert f'cx="{truck.x}" cy="{truck.y}"' in page.text
    # the close-up fits the 5 km track with at least 5 km around it: far larger than on the whole map
    (whole,) = transit.draw(builtin()[CODE], [detail]).trucks
    assert whole.tracks[0] != truck.tracks[0]
    assert transit.PAD < truck.x < close_up.width - transit.PAD
    assert transit.PAD < truck.y < close_up.height - transit.PAD
    assert "seal-tampered" in page.text and "tracking.movement_opened" in page.text
    assert client.get(f"/web/transit/{uuid.uuid4()}").status_code == 404


def test_a_trader_an_auditor_and_an_officer_of_another_office_get_404(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    elsewhere = create_user(session, name="officer9", roles=[Role.OFFICER], offices=["KR000020"])
    session.commit()
    for token in (tokens["trader"], tokens["auditor"]):
        sign_in(client, token)
        assert client.get("/web/transit").status_code == 404
        assert client.get(f"/web/transit/{setup.movement_id}").status_code == 404
        token_ = csrf(client.get("/web/declarations"))
        forged = client.post(
            f"/web/transit/alerts/{setup.alert_id}/resolve",
            data={"csrf_token": token_, "note": "gone"},
            follow_redirects=False,
        )
        assert forged.status_code == 404
        assert "Transit monitor" not in client.get("/web/declarations").text  # not in their navigation
    sign_in(client, elsewhere)
    monitor = client.get("/web/transit")
    assert monitor.status_code == 200 and str(setup.movement_id) not in monitor.text
    assert "No movement under way" in monitor.text
    assert client.get(f"/web/transit/{setup.movement_id}").status_code == 404
    hidden = post_form(client, "/web/transit", f"/web/transit/alerts/{setup.alert_id}/resolve", {"note": "x"})
    assert hidden.status_code == 404
    (stored,) = service.list_alerts(session, by=OFFICER_P, movement_id=setup.movement_id)
    assert stored.state == "open"


def test_pages_need_sign_in_and_forms_need_their_csrf_token(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    answer = client.get("/web/transit", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/web/sign-in?next=/web/transit"
    sign_in(client, tokens["officer"])
    forged = client.post(
        f"/web/transit/alerts/{setup.alert_id}/acknowledge",
        data={"csrf_token": "0" * 64, "note": "x"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    (stored,) = service.list_alerts(session, by=OFFICER_P, movement_id=setup.movement_id)
    assert stored.state == "open"


class Fields(HTMLParser):
    """The form fields a user fills in (not hidden ones) and the ids that labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[str | None] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("input", "select", "textarea") and attributes.get("type") not in ("hidden", "submit"):
            self.fields.append(attributes.get("id"))
        if tag == "label" and attributes.get("for"):
            self.labelled.add(str(attributes["for"]))


def test_every_form_field_has_a_label(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
) -> None:
    setup = tampered_truck(client, session, policy)
    sign_in(client, tokens["officer"])
    for url in ("/web/transit", f"/web/transit/{setup.movement_id}"):
        parser = Fields()
        parser.feed(client.get(url).text)
        assert len(parser.fields) >= 2  # the acknowledge and resolve notes
        assert all(field is not None and field in parser.labelled for field in parser.fields), parser.fields
        assert len(set(parser.fields)) == len(parser.fields)  # ids are unique


def test_draw_fits_the_corridor_in_the_box() -> None:
    corridor = builtin()[CODE]
    drawing = transit.draw(corridor, [])
    numbers = np.array([float(n) for n in re.findall(r"[\d.]+", drawing.buffer)])
    assert numbers.min() >= transit.PAD - 1 and numbers.max() <= drawing.width - transit.PAD + 1
    assert drawing.width == transit.WIDTH and 0 < drawing.height <= transit.MAX_HEIGHT
    assert len(drawing.zones) == 2 and len(drawing.stops) == 5 and drawing.trucks == []
