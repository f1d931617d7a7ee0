"""The tracking API over HTTP: telemetry ingestion (one JWS or NDJSON), devices, movements, alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from customhouse.declarations.service import Policy
from customhouse.tracking import telemetry
from tests.conftest import bearer
from tests.tracking.conftest import CODE, START, along, lodge_transit, report


def setup_fleet(client: TestClient, tokens: dict[str, str]) -> telemetry.OKPKey:
    key = telemetry.generate_key()
    answer = client.post(
        "/api/v1/tracking/devices",
        json={"id": "SEAL-7", "kind": "e-seal", "public_key": telemetry.public_pem(key)},
        headers=bearer(tokens["officer"]),
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == "/api/v1/tracking/devices/SEAL-7"
    return key


def open_movement(client: TestClient, tokens: dict[str, str], session: Session, policy: Policy) -> str:
    declaration_id = lodge_transit(session, policy)
    session.commit()
    answer = client.post(
        "/api/v1/tracking/movements",
        json={
            "declaration_id": str(declaration_id),
            "corridor": CODE,
            "time_limit": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
            "seals": ["SEAL-7"],
            "guarantee_reference": "GUA-9",
        },
        headers=bearer(tokens["officer"]),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_telemetry_over_http_end_to_end(
    client: TestClient, tokens: dict[str, str], session: Session, policy: Policy
):
    key = setup_fleet(client, tokens)
    movement_id = open_movement(client, tokens, session, policy)
    lon, lat = along(20_000)
    one = telemetry.sign(key, "SEAL-7", [report("SEAL-7", 1, START, lon, lat)])
    answer = client.post(
        "/api/v1/tracking/telemetry", content=one, headers={"content-type": "application/jose"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1

    replay = client.post("/api/v1/tracking/telemetry", content=one)
    assert replay.status_code == 409
    assert (
        replay.headers["content-type"] == "application/problem+json" and replay.json()["reason"] == "replay"
    )

    lines = [
        telemetry.sign(
            key, "SEAL-7", [report("SEAL-7", 3, START + timedelta(minutes=3), lon, lat, seal="tampered")]
        ),
        b"garbage",
        telemetry.sign(key, "SEAL-7", [report("SEAL-7", 2, START + timedelta(minutes=2), lon, lat)]),
    ]
    batch = client.post(
        "/api/v1/tracking/telemetry",
        content=b"\n".join(lines),
        headers={"content-type": "application/x-ndjson"},
    )
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["reason"] for r in results] == [None, "malformed", None]
    assert results[0]["alerts"] == ["seal-tampered"]

    detail = client.get(f"/api/v1/tracking/movements/{movement_id}", headers=bearer(tokens["officer"])).json()
    assert [p["seq"] for p in detail["track"]] == [1, 2, 3]
    assert detail["state"] == "incident"
    (alert,) = detail["alerts"]
    alerts = client.get("/api/v1/tracking/alerts?state=open", headers=bearer(tokens["supervisor"])).json()
    assert [a["id"] for a in alerts] == [alert["id"]]

    forbidden = client.post(
        f"/api/v1/tracking/alerts/{alert['id']}/acknowledge",
        json={"note": "x"},
        headers=bearer(tokens["trader"]),
    )
    assert forbidden.status_code == 404
    empty_note = client.post(
        f"/api/v1/tracking/alerts/{alert['id']}/resolve", json={"note": ""}, headers=bearer(tokens["officer"])
    )
    assert empty_note.status_code == 422 and empty_note.json()["errors"][0]["pointer"] == "/note"
    done = client.post(
        f"/api/v1/tracking/alerts/{alert['id']}/resolve",
        json={"note": "tamper alarm: seal inspected at Malaba"},
        headers=bearer(tokens["officer"]),
    )
    assert done.status_code == 200 and done.json()["state"] == "resolved"

    stats = client.get("/api/v1/tracking/statistics", headers=bearer(tokens["auditor"])).json()
    assert stats["rejected"]["malformed"] >= 1 and stats["rejected"]["replay"] >= 1


def test_refused_messages_are_problems(client: TestClient, tokens: dict[str, str]):
    key = setup_fleet(client, tokens)
    stranger = telemetry.generate_key()
    cases = [
        (b"", 400),
        (b"not a jws", 400),
        (telemetry.sign(stranger, "SEAL-7", [report("SEAL-7", 1, START, 0, 0)]), 401),
        (telemetry.sign(stranger, "NOBODY", [report("NOBODY", 1, START, 0, 0)]), 401),
        (telemetry.sign(key, "SEAL-7", [report("OTHER", 1, START, 0, 0)]), 403),
    ]
    for body, status in cases:
        answer = client.post("/api/v1/tracking/telemetry", content=body)
        assert answer.status_code == status, (body[:20], answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_devices_and_movements_need_customs(client: TestClient, tokens: dict[str, str]):
    key = telemetry.generate_key()
    body = {"id": "SEAL-8", "kind": "e-seal", "public_key": telemetry.public_pem(key)}
    assert client.post("/api/v1/tracking/devices", json=body).status_code == 401
    assert (
        client.post("/api/v1/tracking/devices", json=body, headers=bearer(tokens["trader"])).status_code
        == 403
    )
    bad = client.post(
        "/api/v1/tracking/devices", json={**body, "kind": "drone"}, headers=bearer(tokens["officer"])
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/kind"
    assert client.get("/api/v1/tracking/movements", headers=bearer(tokens["trader"])).status_code == 403
