"""Seeding through the service layer, on SQLite and PostgreSQL, and the `customhouse demo` commands."""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from customhouse.auth.service import Principal, Role, authenticate
from customhouse.cli import app
from customhouse.config import get_settings
from customhouse.db import make_engine, upgrade
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import AuditEntry, Declaration
from customhouse.declarations.service import Filters, Policy
from customhouse.demo.generator import Truth
from customhouse.demo.service import SeedReport, create_demo_users, seed
from tests.factories import demo_tariff

COUNT = 180
SEED = 2
AT_END = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
AUDITOR = Principal(name="test-auditor", roles=frozenset({Role.AUDITOR}))


@pytest.fixture
def seeded(session: Session, policy: Policy) -> SeedReport:
    demo_tariff(session)
    return seed(session, declarations=COUNT, seed=SEED, policy=policy, at_end=AT_END)


def stored(session: Session) -> list[Declaration]:
    return declarations.list_declarations(session, by=AUDITOR, filters=Filters(), limit=COUNT + 10).items


def trail(session: Session, declaration: Declaration) -> list[AuditEntry]:
    return declarations.audit_trail(session, declaration_id=declaration.id, by=AUDITOR)


def truths(report: SeedReport) -> dict[tuple[str, str], Truth]:
    return {
        (item.document["declarant"]["id"], item.document["lrn"]): item.truth
        for item in report.world.declarations()
    }


def test_seed_stores_every_declaration_with_the_reported_counts(session: Session, policy: Policy) -> None:
    demo_tariff(session)
    batches: list[int] = []
    report = seed(
        session, declarations=COUNT, seed=SEED, policy=policy, at_end=AT_END, on_batch=batches.append
    )
    found = stored(session)
    assert len(found) == report.lodged == sum(batches) == COUNT
    assert 100 < len(batches) <= 365  # one call per day that has lodgements
    assert Counter(item.state.value for item in found) == report.states
    assert Counter(item.lane.value if item.lane else "none" for item in found) == report.lanes
    assert Counter(item.document.kind.value for item in found) == report.kinds
    assert report.states["released"] > 0.9 * COUNT


def test_controls_record_the_ground_truth_with_its_honest_values(
    session: Session, seeded: SeedReport
) -> None:
    truth = truths(seeded)
    recorded = Counter[str]()
    for declaration in stored(session):
        expected = truth[(declaration.document.declarant.id, declaration.document.lrn)]
        controls = [
            entry for entry in trail(session, declaration) if entry.event == "declaration.control_recorded"
        ]
        assert len(controls) <= 1
        if declaration.lane and declaration.lane.value == "yellow" and declaration.state.value == "released":
            assert controls, "a yellow declaration is released only after a control"
        for control in controls:
            recorded[control.data["outcome"]] += 1
            if control.data["outcome"] == "conforming":
                continue
            assert control.data["irregularity"] == expected.irregularity
            assert declaration.version == 2
            corrected = declaration.document.model_dump(mode="json")
            for pointer, value in expected.corrections:
                parts = pointer.strip("/").split("/")
                node = corrected
                for part in parts:
                    node = node[int(part)] if isinstance(node, list) else node[part]
                assert str(node) == value, pointer
    assert recorded["irregularity"] == sum(seeded.detected.values()) > 0
    assert recorded["irregularity"] + recorded["conforming"] == seeded.controlled
    assert seeded.random_checks > 0


def test_states_and_times_are_consistent_with_the_audit_trail(session: Session, seeded: SeedReport) -> None:
    random_checks = 0
    for declaration in stored(session):
        entries = trail(session, declaration)
        events = [entry.event.removeprefix("declaration.") for entry in entries]
        times = [entry.at for entry in entries]
        assert events[0] == "lodged" and times == sorted(times) and times[-1] <= AT_END
        state = declaration.state.value
        if state == "released":
            assert events[-1] == "released" and declaration.released_at == times[-1]
            assert declaration.lodged_at and declaration.accepted_at
            assert declaration.lodged_at <= declaration.accepted_at <= declaration.released_at
        if "documents_requested" in events:
            assert events.index("accepted") < events.index("documents_requested")
        if "control_recorded" in events:
            assert events.index("documents_requested") < events.index("control_recorded")
        if state == "under_control":
            assert "released" not in events
        if state == "lodged":
            assert declaration.document.pre_arrival and events == ["lodged"]
        assert state in ("lodged", "accepted", "under_control", "released")
        requests = [entry for entry in entries if entry.event == "declaration.documents_requested"]
        if requests and requests[0].reason == "random documentary check":
            random_checks += 1
            accepted = next(entry for entry in entries if entry.event == "declaration.accepted")
            assert accepted.data["lane"] == "green"
    assert random_checks > 0


def test_demo_users_get_tokens_for_their_roles(session: Session, seeded: SeedReport) -> None:
    tokens = create_demo_users(session, seeded.world)
    principals = {name: authenticate(session, token) for name, token in tokens.items()}
    assert all(principal is not None for principal in principals.values())
    roles = {role for principal in principals.values() if principal for role in principal.roles}
    assert roles == set(Role)
    for principal in principals.values():
        assert principal is not None
        if principal.has(Role.TRADER, Role.BROKER, Role.OFFICER):
            visible = declarations.list_declarations(session, by=principal, filters=Filters(), limit=5).items
            assert visible, f"{principal.name} sees none of the demo declarations"
    officers = [p for p in principals.values() if p and p.has(Role.OFFICER)]
    assert {"KR000040", "KR000030", "KR000020"} <= {
        office for officer in officers for office in officer.offices
    }


# ---------------------------------------------------------------- the commands


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A migrated SQLite database and var directory of its own, as `make run` prepares them."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    monkeypatch.setenv("CUSTOMHOUSE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CUSTOMHOUSE_RATE_LOOK_BACK_DAYS", "3660")  # as `make run` sets it
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield tmp_path
    get_settings.cache_clear()


def test_the_commands_seed_once_and_show_the_tokens(scratch: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["demo", "tokens"])
    assert missing.exit_code == 1 and "customhouse demo seed" in missing.output

    untaxed = runner.invoke(app, ["demo", "seed", "--declarations", "60", "--seed", "3"])
    assert untaxed.exit_code == 1 and "tariff import --demo" in " ".join(untaxed.output.split())
    assert runner.invoke(app, ["tariff", "import", "--demo"]).exit_code == 0
    result = runner.invoke(app, ["demo", "seed", "--declarations", "60", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "lodged 60 declarations" in result.output
    path = scratch / "var" / "demo-tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = json.loads(path.read_text())
    assert {role for entry in entries for role in entry["roles"]} == {str(role) for role in Role}

    shown = runner.invoke(app, ["demo", "tokens"])
    assert shown.exit_code == 0
    assert all(entry["token"] in shown.output for entry in entries)
    assert "curl -H" in shown.output

    again = runner.invoke(app, ["demo", "seed", "--if-empty"])
    assert again.exit_code == 0 and "skipped" in again.output
    assert json.loads(path.read_text()) == entries
    refused = runner.invoke(app, ["demo", "seed"])
    assert refused.exit_code == 1 and "already holds declarations" in refused.output
