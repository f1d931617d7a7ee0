"""Supervisors manage targeting profiles and models through /api/v1/risk; problems are RFC 9457."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fastapi.testclient import TestClient

from customhouse.problems import MEDIA_TYPE
from customhouse.risk import api, service
from customhouse.risk.selector import RiskSelector
from tests import factories
from tests.conftest import bearer

PROFILES = "/api/v1/risk/profiles"
BODY: dict[str, Any] = {
    "code": "CN-TEXTILES",
    "lane": "red",
    "priority": 50,
    "reason": "textiles from China: undervaluation campaign",
    "conditions": {"hs_prefixes": ["6109"], "origins": ["CN"]},
}


@pytest.fixture
def risk(client: TestClient) -> TestClient:
    client.app.include_router(api.router)  # type: ignore[attr-defined]
    return client


def test_supervisor_creates_reads_changes_and_deactivates_a_profile(
    risk: TestClient, tokens: dict[str, str]
) -> None:
    supervisor = bearer(tokens["supervisor"])
    created = risk.post(PROFILES, json=BODY, headers=supervisor)
    assert created.status_code == 201, created.text
    profile = created.json()
    assert created.headers["Location"] == f"{PROFILES}/{profile['id']}"
    assert (profile["revision"], profile["active"], profile["hits"]) == (1, True, 0)
    url = f"{PROFILES}/{profile['id']}"
    assert risk.get(url, headers=bearer(tokens["auditor"])).json()["code"] == "CN-TEXTILES"

    changed = risk.patch(url, json={"lane": "yellow", "priority": 10}, headers=supervisor)
    assert changed.status_code == 200 and changed.json()["revision"] == 2
    assert changed.json()["conditions"]["hs_prefixes"] == ["6109"]

    evaluated = risk.post("/api/v1/risk/evaluate", json=factories.declaration(), headers=supervisor)
    assert evaluated.status_code == 200
    assert evaluated.json()["lane"] == "yellow"
    assert evaluated.json()["reasons"][0].startswith(
        f"rule CN-TEXTILES (profile {profile['id']}, revision 2)"
    )

    gone = risk.request("DELETE", url, json={"reason": "campaign over"}, headers=supervisor)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert risk.get(PROFILES, params={"active": True}, headers=supervisor).json() == []
    assert len(risk.get(PROFILES, headers=supervisor).json()) == 1


@pytest.mark.parametrize("role", ["trader", "officer", "broker"])
def test_others_may_not_manage_or_read_profiles(risk: TestClient, tokens: dict[str, str], role: str) -> None:
    refused = risk.post(PROFILES, json=BODY, headers=bearer(tokens[role]))
    assert refused.status_code == 403 and refused.headers["content-type"] == MEDIA_TYPE
    assert risk.get(PROFILES, headers=bearer(tokens[role])).status_code == 403
    assert risk.post(PROFILES, json=BODY, headers=bearer(tokens["auditor"])).status_code == 403
    assert risk.get(PROFILES).status_code == 401


def test_bad_profiles_are_problems_naming_the_field(risk: TestClient, tokens: dict[str, str]) -> None:
    supervisor = bearer(tokens["supervisor"])
    bad = {**BODY, "lane": "purple", "conditions": {"hs_prefixes": ["61a"], "origins": ["XX"]}}
    answer = risk.post(PROFILES, json=bad, headers=supervisor)
    assert answer.status_code == 422 and answer.headers["content-type"] == MEDIA_TYPE
    pointers = {error["pointer"] for error in answer.json()["errors"]}
    assert {"/lane", "/conditions/hs_prefixes/0", "/conditions/origins/0"} <= pointers
    assert risk.post(PROFILES, json=BODY, headers=supervisor).status_code == 201
    duplicate = risk.post(PROFILES, json=BODY, headers=supervisor)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["pointer"] == "/code"
    missing = risk.get(f"{PROFILES}/999999", headers=supervisor)
    assert missing.status_code == 404 and missing.json()["type"] == "/problems/not-found"


def test_models_registry_endpoints(risk: TestClient, tokens: dict[str, str]) -> None:
    supervisor = bearer(tokens["supervisor"])
    assert risk.get("/api/v1/risk/models", headers=supervisor).json() == []
    assert risk.post("/api/v1/risk/models/3/promote", headers=supervisor).status_code == 404
    assert risk.post("/api/v1/risk/models/rollback", headers=supervisor).status_code == 409
    assert risk.post("/api/v1/risk/models/rollback", headers=bearer(tokens["auditor"])).status_code == 403


def test_end_to_end_a_profile_made_through_the_api_selects_the_next_lodgement(
    risk: TestClient, tokens: dict[str, str]
) -> None:
    app: Any = risk.app
    app.state.policy = dataclasses.replace(
        app.state.policy, selector=RiskSelector(app.state.sessions, max_age=3600.0, uniform=lambda: 1.0)
    )
    service.subscribe(app.state.dispatcher)
    trader = bearer(tokens["trader"])
    first = risk.post("/api/v1/declarations", json=factories.declaration(lrn="E2E-1"), headers=trader)
    assert first.status_code == 201 and first.json()["lane"] == "green"
    made = risk.post(PROFILES, json=BODY, headers=bearer(tokens["supervisor"])).json()
    second = risk.post("/api/v1/declarations", json=factories.declaration(lrn="E2E-2"), headers=trader)
    assert second.json()["lane"] == "red"
    assert second.json()["lane_reasons"][0].startswith(f"rule CN-TEXTILES (profile {made['id']}, revision 1)")
    while app.state.dispatcher.deliver_pending():
        pass
    decisions = risk.get(f"/api/v1/risk/decisions/{second.json()['id']}", headers=bearer(tokens["auditor"]))
    assert decisions.json()[0]["profile_id"] == made["id"] and decisions.json()[0]["source"] == "rule"
    assert risk.get(f"{PROFILES}/{made['id']}", headers=bearer(tokens["supervisor"])).json()["hits"] == 1


def test_a_validity_window_needs_a_time_zone_and_is_applied(risk: TestClient, tokens: dict[str, str]) -> None:
    supervisor = bearer(tokens["supervisor"])
    naive = risk.post(PROFILES, json={**BODY, "valid_from": "2026-01-01T00:00:00"}, headers=supervisor)
    assert naive.status_code == 422 and naive.json()["errors"][0]["pointer"] == "/valid_from"
    later = {**BODY, "valid_from": "2999-01-01T00:00:00Z"}
    assert risk.post(PROFILES, json=later, headers=supervisor).status_code == 201
    evaluated = risk.post("/api/v1/risk/evaluate", json=factories.declaration(), headers=supervisor)
    assert evaluated.json()["lane"] == "green"  # not in force yet
