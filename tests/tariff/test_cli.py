"""`customhouse tariff import|show` on a SQLite file: errors by file and line, the old tariff kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, upgrade
from customhouse.tariff import service
from customhouse.tariff.cli import app
from tests.tariff.conftest import SMALL

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    get_settings.cache_clear()


def measures(url: str) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        tariff = service.current(session)
    engine.dispose()
    return 0 if tariff is None else sum(len(line) for line in tariff.lines.values())


def test_import_show_and_a_bad_file_that_changes_nothing(database, tmp_path):
    result = runner.invoke(app, ["import", "--demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "305 measures" in result.output
    assert "import skipped" in runner.invoke(app, ["import", "--demo", "--if-empty"]).output

    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("ad_valorem: 30,", "ad_valorem: thirty,"), encoding="utf-8")
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:14: lines[1].measures[0].ad_valorem: Input should be a valid decimal" in result.output
    assert measures(database) == 305

    args = ["show", "720851", "--origin", "CN", "--date", "2026-06-01", "--exporter", "X"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "AD-7208" in shown.output and "all other exporters" in shown.output
