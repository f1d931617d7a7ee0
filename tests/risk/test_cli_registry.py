"""`customhouse risk profile ...`, `risk models|train|promote|rollback|bands` on a local database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, upgrade
from customhouse.declarations.service import Policy
from customhouse.risk.cli import app
from tests import factories
from tests.risk.test_registry import seed_history

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    monkeypatch.setenv("CUSTOMHOUSE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_profiles_through_the_cli(database: str) -> None:
    code, out = invoke(
        "profile",
        "add",
        "--code",
        "CN-TEXTILES",
        "--lane",
        "red",
        "--reason",
        "textiles from China",
        "--conditions",
        '{"hs_prefixes": ["6109"], "origins": ["CN"]}',
        "--priority",
        "50",
    )
    assert code == 0, out
    assert json.loads(out)["revision"] == 1
    code, out = invoke("profile", "set", "CN-TEXTILES", "--lane", "yellow")
    assert code == 0 and json.loads(out)["lane"] == "yellow" and json.loads(out)["revision"] == 2
    code, out = invoke("profile", "set", "CN-TEXTILES", "--lane", "green", "--max-passes", "20")
    assert code == 0 and (json.loads(out)["lane"], json.loads(out)["max_passes"]) == ("green", 20)
    code, out = invoke("profile", "list", "--json")
    assert [p["code"] for p in json.loads(out)] == ["CN-TEXTILES"]
    code, out = invoke("profile", "deactivate", "CN-TEXTILES", "--reason", "over")
    assert code == 0 and json.loads(out)["active"] is False
    assert json.loads(invoke("profile", "list", "--json")[1]) == []
    code, out = invoke("profile", "list", "--all")
    assert code == 0 and "CN-TEXTILES (inactive)" in out


def test_bad_input_and_an_empty_registry(database: str) -> None:
    code, out = invoke("profile", "add", "--code", "X", "--lane", "purple", "--reason", "r")
    assert code == 1 and "lane" in out
    code, out = invoke("profile", "add", "--code", "X", "--lane", "red", "--reason", "r", "--conditions", "{")
    assert code == 1 and "not JSON" in out
    code, out = invoke("profile", "set", "NOPE", "--lane", "red")
    assert code == 1 and "no risk profile NOPE" in out
    code, out = invoke("train")
    assert code == 1 and "too few control outcomes" in out
    assert invoke("rollback")[0] == 1
    assert invoke("promote", "1")[0] == 1
    code, out = invoke("models", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = invoke("bands")
    assert code == 0 and "0 reference bands" in out


def test_train_promote_and_roll_back_through_the_cli(database: str, policy: Policy) -> None:
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        factories.world(session)
        seed_history(session, policy)
    engine.dispose()
    code, out = invoke("train", "--promote")
    assert code == 0, out
    assert "model v1: 90 controlled declarations" in out and "(promoted)" in out
    code, out = invoke("train", "--promote", "--if-none")  # as make run does on its second start
    assert code == 0 and "model v1 is promoted already: nothing trained" in " ".join(out.split())
    code, out = invoke("train", "--seed", "1")
    assert code == 0 and "promote with `customhouse risk promote 2`" in out
    assert invoke("promote", "2") == (0, "model v2 promoted\n")
    models = json.loads(invoke("models", "--json")[1])
    assert [(m["version"], m["promoted"]) for m in models] == [(2, True), (1, False)]
    assert models[0]["metrics"]["holdout_rows"] > 0 and models[0]["rows"] == 90
    assert invoke("rollback") == (0, "rolled back from v2 to v1\n")
    assert invoke("rollback") == (0, "rolled back from v1 to no model (the default rule)\n")
    code, out = invoke("bands")
    assert code == 0 and out == "2 reference bands\n"
