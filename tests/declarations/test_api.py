"""The declarations API as traders, brokers and officers use it."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from customhouse.declarations.models import DeclarationRecord, DeclarationVersion
from customhouse.events import Event
from tests.conftest import bearer
from tests.factories import BROKER, OTHER_TRADER, TRADER, declaration

URL = "/api/v1/declarations"


def lodge(client, token, document=None, **params):
    return client.post(URL, json=document or declaration(), headers=bearer(token), params=params)


def act(client, token, declaration_id, action, etag, body=None):
    return client.post(
        f"{URL}/{declaration_id}/{action}", json=body, headers={**bearer(token), "If-Match": etag}
    )


def stored(session):
    return (
        session.scalar(select(func.count()).select_from(DeclarationRecord)),
        session.scalar(select(func.count()).select_from(DeclarationVersion)),
        session.scalar(select(func.count()).select_from(Event)),
    )


def deliver(client) -> None:
    """What the server's event dispatcher does in the background: assess, release what is settled."""
    client.app.state.dispatcher.deliver_pending()


def test_green_declaration_is_accepted_at_lodgement_and_released_once_assessed(client, tokens):
    response = lodge(client, tokens["trader"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["state"], body["lane"], body["version"]) == ("accepted", "green", 1)
    deliver(client)  # assessed; the trader's deferment account secures what it owes
    now = client.get(f"{URL}/{body['id']}", headers=bearer(tokens["trader"])).json()
    assert now["state"] == "released" and now["revision"] == 2
    assert len(body["mrn"]) == 18 and body["mrn"].startswith(body["accepted_at"][2:4] + "KR")
    assert response.headers["ETag"] == f'"{body["revision"]}"'
    assert response.headers["Location"] == f"{URL}/{body['id']}"
    assert (
        client.get(response.headers["Location"], headers=bearer(tokens["trader"])).json()["mrn"]
        == body["mrn"]
    )
    assert (
        client.get(f"{URL}/by-mrn/{body['mrn']}", headers=bearer(tokens["officer"])).json()["id"]
        == body["id"]
    )


def test_invalid_declaration_names_each_field_and_stores_nothing(client, tokens, session):
    before = stored(session)
    document = declaration(invoice_currency="XXY", surprise=1)
    document["goods_items"][0]["hs_code"] = "851712"
    del document["goods_items"][1]["origin"]
    response = lodge(client, tokens["trader"], document)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/validation" and problem["status"] == 422
    errors = {error["pointer"]: error["detail"] for error in problem["errors"]}
    assert "ISO 4217" in errors["/invoice_currency"]
    assert "HS 2022 subheading" in errors["/goods_items/0/hs_code"]
    assert errors["/goods_items/1/origin"] == "is required"
    assert "/surprise" in errors
    assert stored(session) == before


def test_cross_field_problems_are_named_by_pointer(client, tokens, session):
    before = stored(session)
    response = lodge(client, tokens["trader"], declaration(invoice_total="9999.00"))
    assert response.status_code == 422
    assert [error["pointer"] for error in response.json()["errors"]] == ["/invoice_total"]
    assert stored(session) == before


def test_malformed_json_is_a_400_problem(client, tokens):
    response = client.post(
        URL,
        content=b'{"kind": "imp',
        headers={**bearer(tokens["trader"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed"


def test_without_a_valid_token_nothing_is_revealed(client, tokens):
    assert lodge(client, "nonsense").status_code == 401
    response = client.get(URL)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthorized"


def test_same_lrn_same_content_returns_the_declaration_different_content_conflicts(client, tokens, session):
    first = lodge(client, tokens["trader"])
    again = lodge(client, tokens["trader"])
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    changed = lodge(client, tokens["trader"], declaration(incoterm_place="Incheon"))
    assert changed.status_code == 409
    assert changed.json()["errors"][0]["pointer"] == "/lrn"
    assert changed.json()["existing"] == first.json()["id"]
    assert stored(session)[0] == 1
    # The same LRN from another declarant is another declaration.
    other = declaration(declarant={"id": OTHER_TRADER, "name": "Daehan Imports", "country": "KR"})
    assert lodge(client, tokens["other_trader"], other).status_code == 201


def test_missing_document_sends_to_yellow_then_amend_control_and_release(client, tokens):
    document = declaration()
    document["documents"] = document["documents"][:1]  # no transport document
    lodged = lodge(client, tokens["trader"], document).json()
    assert (lodged["state"], lodged["lane"]) == ("under_control", "yellow")
    assert any("transport" in reason for reason in lodged["lane_reasons"])
    declaration_id, etag = lodged["id"], f'"{lodged["revision"]}"'

    requested = act(
        client,
        tokens["officer"],
        declaration_id,
        "request-documents",
        etag,
        {"documents": ["705"], "reason": "bill of lading missing"},
    )
    assert requested.status_code == 200, requested.text

    amended = client.put(
        f"{URL}/{declaration_id}",
        json=declaration(),
        headers={**bearer(tokens["trader"]), "If-Match": requested.headers["ETag"]},
    )
    assert amended.status_code == 200, amended.text
    assert (amended.json()["version"], amended.json()["state"], amended.json()["lane"]) == (
        2,
        "under_control",
        "yellow",
    )
    first = client.get(
        f"{URL}/{declaration_id}", params={"version": 1}, headers=bearer(tokens["trader"])
    ).json()
    assert len(first["document"]["documents"]) == 1  # the old version is kept

    control = {
        "outcome": "irregularity",
        "irregularity": "misclassification",
        "corrections": [{"pointer": "/goods_items/1/hs_code", "value": "610990"}],
        "note": "T-shirts of synthetic fibres, not cotton",
    }
    controlled = act(client, tokens["officer"], declaration_id, "control", amended.headers["ETag"], control)
    assert controlled.status_code == 200, controlled.text
    assert controlled.json()["version"] == 3
    assert controlled.json()["document"]["goods_items"][1]["hs_code"] == "610990"

    early = act(client, tokens["officer"], declaration_id, "release", controlled.headers["ETag"])
    assert early.status_code == 409 and early.json()["type"].endswith("/not-settled")  # not assessed yet
    deliver(client)
    released = act(client, tokens["officer"], declaration_id, "release", controlled.headers["ETag"])
    assert released.json()["state"] == "released" and released.json()["released_at"]

    trail = client.get(f"{URL}/{declaration_id}/audit", headers=bearer(tokens["auditor"])).json()
    assessed = [entry for entry in trail if entry["event"] == "declaration.assessed"]
    assert [(entry["actor"], entry["data"]["version"]) for entry in assessed] == [("customhouse", 3)]
    trail = [entry for entry in trail if entry["event"] != "declaration.assessed"]
    assert trail[2]["reason"] == "bill of lading missing"
    assert {"op": "add", "path": "/documents/1", "value": declaration()["documents"][1]} in trail[3]["data"][
        "patch"
    ]
    assert trail[4]["data"]["irregularity"] == "misclassification"
    # Each entry says where the declaration stood after it: state, revision, document version.
    assert [(entry["data"]["state"], entry["data"]["version"]) for entry in trail] == [
        ("under_control", 1),
        ("under_control", 1),
        ("under_control", 1),
        ("under_control", 2),
        ("under_control", 3),
        ("released", 3),
    ]
    assert [entry["data"]["revision"] for entry in trail] == [1, 1, 2, 3, 4, 5]


def test_two_officers_on_one_declaration_never_lose_an_update(client, tokens):
    document = declaration()
    document["documents"] = document["documents"][:1]
    lodged = lodge(client, tokens["trader"], document).json()
    deliver(client)
    etag = f'"{lodged["revision"]}"'
    first = act(client, tokens["officer"], lodged["id"], "release", etag)
    second = act(client, tokens["supervisor"], lodged["id"], "reject", etag, {"reason": "duplicate"})
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/conflict"
    assert second.json()["revision"] == first.json()["revision"]
    assert (
        client.get(f"{URL}/{lodged['id']}", headers=bearer(tokens["officer"])).json()["state"] == "released"
    )


def test_actions_need_if_match_and_a_state_that_allows_them(client, tokens):
    lodged = lodge(client, tokens["trader"]).json()
    deliver(client)  # assessed and released
    missing = client.post(f"{URL}/{lodged['id']}/release", headers=bearer(tokens["officer"]))
    assert missing.status_code == 428
    again = act(client, tokens["officer"], lodged["id"], "release", '"2"')
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-state"


def test_pre_arrival_declaration_waits_for_the_officer_to_accept(client, tokens):
    lodged = lodge(client, tokens["trader"], declaration(pre_arrival=True)).json()
    assert (lodged["state"], lodged["mrn"]) == ("lodged", None)
    accepted = act(client, tokens["officer"], lodged["id"], "accept", f'"{lodged["revision"]}"')
    assert accepted.status_code == 200
    assert accepted.json()["state"] == "accepted" and accepted.json()["mrn"]
    deliver(client)
    assert client.get(f"{URL}/{lodged['id']}", headers=bearer(tokens["trader"])).json()["state"] == "released"


def test_draft_is_checked_in_full_when_lodged(client, tokens):
    draft = lodge(client, tokens["trader"], declaration(invoice_total="1.00"), draft="true")
    assert draft.status_code == 201 and draft.json()["state"] == "draft"
    refused = act(client, tokens["trader"], draft.json()["id"], "lodge", draft.headers["ETag"])
    assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/invoice_total"
    fixed = client.put(
        f"{URL}/{draft.json()['id']}",
        json=declaration(),
        headers={**bearer(tokens["trader"]), "If-Match": draft.headers["ETag"]},
    )
    lodged = act(client, tokens["trader"], draft.json()["id"], "lodge", fixed.headers["ETag"])
    assert lodged.status_code == 200 and lodged.json()["state"] == "accepted" and lodged.json()["mrn"]


def test_cancel_and_reject_record_their_reason(client, tokens):
    document = declaration()
    document["documents"] = []
    first = lodge(client, tokens["trader"], document).json()
    cancelled = act(
        client, tokens["trader"], first["id"], "cancel", f'"{first["revision"]}"', {"reason": "shipment lost"}
    )
    assert cancelled.json()["state"] == "cancelled"
    second = lodge(client, tokens["trader"], {**document, "lrn": "LRN-0002"}).json()
    rejected = act(
        client, tokens["officer"], second["id"], "reject", f'"{second["revision"]}"', {"reason": "no invoice"}
    )
    assert rejected.json()["state"] == "rejected"
    trail = client.get(f"{URL}/{second['id']}/audit", headers=bearer(tokens["trader"])).json()
    assert trail[-1]["reason"] == "no invoice"


def test_a_trader_cannot_reach_another_traders_declaration_through_any_endpoint(client, tokens):
    lodged = lodge(client, tokens["trader"]).json()
    other = bearer(tokens["other_trader"])
    etag = {"If-Match": f'"{lodged["revision"]}"'}
    declaration_id = lodged["id"]
    assert client.get(f"{URL}/{declaration_id}", headers=other).status_code == 404
    assert client.get(f"{URL}/by-mrn/{lodged['mrn']}", headers=other).status_code == 404
    assert client.get(f"{URL}/{declaration_id}/audit", headers=other).status_code == 404
    assert (
        client.put(f"{URL}/{declaration_id}", json=declaration(), headers={**other, **etag}).status_code
        == 404
    )
    assert (
        client.post(
            f"{URL}/{declaration_id}/cancel", json={"reason": "x"}, headers={**other, **etag}
        ).status_code
        == 404
    )
    assert client.get(URL, headers=other).json()["items"] == []
    assert client.get(URL, params={"party": TRADER}, headers=other).json()["items"] == []
    unknown = client.get(f"{URL}/00000000-0000-4000-8000-000000000000", headers=other)
    assert unknown.json()["detail"].replace("00000000-0000-4000-8000-000000000000", "") == client.get(
        f"{URL}/{declaration_id}", headers=other
    ).json()["detail"].replace(declaration_id, "")  # the same answer as for a missing one
    # Lodging in someone else's name is refused too.
    assert lodge(client, tokens["other_trader"]).status_code == 403


def test_officers_see_their_offices_auditors_read_only(client, tokens):
    lodged = lodge(client, tokens["trader"], declaration(pre_arrival=True)).json()
    etag = f'"{lodged["revision"]}"'
    assert client.get(f"{URL}/{lodged['id']}", headers=bearer(tokens["officer_elsewhere"])).status_code == 404
    assert client.get(f"{URL}/{lodged['id']}", headers=bearer(tokens["auditor"])).status_code == 200
    assert act(client, tokens["auditor"], lodged["id"], "accept", etag).status_code == 403
    assert act(client, tokens["trader"], lodged["id"], "accept", etag).status_code == 403


def test_broker_lodges_only_under_a_mandate(client, tokens):
    broker = {"id": BROKER, "name": "Busan Customs Brokers", "country": "KR"}
    lodged = lodge(client, tokens["broker"], declaration(representative=broker))
    assert lodged.status_code == 201, lodged.text
    assert client.get(f"{URL}/{lodged.json()['id']}", headers=bearer(tokens["broker"])).status_code == 200
    assert client.get(f"{URL}/{lodged.json()['id']}", headers=bearer(tokens["trader"])).status_code == 200
    unmandated = declaration(
        lrn="B-2",
        representative=broker,
        declarant={"id": OTHER_TRADER, "name": "Daehan Imports", "country": "KR"},
        importer={"id": OTHER_TRADER, "name": "Daehan Imports", "country": "KR"},
    )
    refused = lodge(client, tokens["broker"], unmandated)
    assert refused.status_code == 422
    assert "no mandate" in refused.json()["errors"][0]["detail"]
    assert lodge(client, tokens["broker"], declaration(lrn="B-3")).status_code == 403  # not as representative


def test_list_filters_and_cursor_pagination(client, tokens):
    ids = []
    for number in range(7):
        document = declaration(lrn=f"L-{number}")
        if number % 2:
            document["documents"] = document["documents"][:1]
        ids.append(lodge(client, tokens["trader"], document).json()["id"])
    deliver(client)
    seen, cursor = [], None
    while True:
        page = client.get(
            URL,
            params={"limit": 3, **({"cursor": cursor} if cursor else {})},
            headers=bearer(tokens["trader"]),
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    yellow = client.get(URL, params={"lane": "yellow"}, headers=bearer(tokens["officer"])).json()["items"]
    assert len(yellow) == 3 and all(item["state"] == "under_control" for item in yellow)
    assert (
        len(client.get(URL, params={"hs_prefix": "6109"}, headers=bearer(tokens["officer"])).json()["items"])
        == 7
    )
    assert (
        client.get(URL, params={"hs_prefix": "0101"}, headers=bearer(tokens["officer"])).json()["items"] == []
    )
    assert (
        len(
            client.get(
                URL, params={"office": "KR000040", "state": "released"}, headers=bearer(tokens["supervisor"])
            ).json()["items"]
        )
        == 4
    )
    lodged_at = client.get(f"{URL}/{ids[3]}", headers=bearer(tokens["trader"])).json()["lodged_at"]
    window = {"lodged_from": lodged_at, "lodged_to": "2999-01-01T00:00:00Z"}
    in_window = client.get(URL, params=window, headers=bearer(tokens["trader"])).json()["items"]
    assert {item["id"] for item in in_window} == set(ids[3:])
    bad = client.get(URL, params={"hs_prefix": "61x"}, headers=bearer(tokens["officer"]))
    assert bad.status_code == 422 and bad.json()["errors"][0]["parameter"] == "hs_prefix"
    assert client.get(URL, params={"cursor": "garbage"}, headers=bearer(tokens["officer"])).status_code == 422


def test_bulk_lodges_each_line_and_reports_each(client, tokens, session):
    lines = [
        json.dumps(declaration(lrn="B-1")),
        "",
        json.dumps(declaration(lrn="B-2", invoice_total="1.00")),
        "{not json",
        json.dumps(declaration(lrn="B-1")),  # the same again: idempotent
        json.dumps(declaration(lrn="B-3")),
    ]
    response = client.post(
        f"{URL}/bulk",
        content="\n".join(lines),
        headers={**bearer(tokens["trader"]), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200
    results = [json.loads(line) for line in response.text.splitlines()]
    assert [(result["line"], result["status"]) for result in results] == [
        (1, 201),
        (3, 422),
        (4, 400),
        (5, 200),
        (6, 201),
    ]
    assert results[0]["id"] == results[3]["id"]
    assert results[1]["problem"]["errors"][0]["pointer"] == "/invoice_total"
    assert stored(session)[0] == 2


def test_operational_endpoints(client, tokens):
    lodge(client, tokens["trader"])
    deliver(client)
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["checks"] == {"database": True, "migrations": True}
    landing = client.get("/")
    assert landing.status_code == 200 and "released" in landing.text and "/docs" in landing.text
    metrics = client.get("/metrics").text
    assert (
        "customhouse_http_request_duration_seconds_count"
        '{method="POST",route="/api/v1/declarations",status="201"} 1.0' in metrics
    )
    assert client.get("/problems/conflict").status_code == 200
    assert client.get("/", headers={"X-Request-ID": "abc"}).headers["X-Request-ID"] == "abc"
    assert "/api/v1/declarations/bulk" in client.get("/openapi.json").json()["paths"]


def test_bulk_stops_reading_past_its_limit(client, tokens, monkeypatch):
    monkeypatch.setattr("customhouse.declarations.api.MAX_BULK", 2)
    lines = [json.dumps(declaration(lrn=f"M-{n}")) for n in range(4)]
    response = client.post(
        f"{URL}/bulk",
        content="\n".join(lines),
        headers={**bearer(tokens["trader"]), "Content-Type": "application/x-ndjson"},
    )
    results = [json.loads(line) for line in response.text.splitlines()]
    assert [(result["line"], result["status"]) for result in results] == [(1, 201), (2, 201), (3, 413)]
    assert results[2]["problem"]["type"] == "/problems/too-large"
