"""`customhouse advisory landed-cost` on a SQLite file with the demo tariff: the breakdown as a table,
errors named by option."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from customhouse.advisory.cli import app
from customhouse.assessment.currency import LOOK_BACK, ecb_rates
from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.tariff import service
from tests.tariff.conftest import DEMO_TEXT

runner = CliRunner()
WINE = ["landed-cost", "--hs", "220421", "--origin", "FR", "--incoterm", "FOB", "--freight", "100"]
WINE += ["--quantity", "120", "--unit", "LTR", "--alcohol", "12.5"]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'advisory.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    with writing(make_session_factory(engine)) as session:
        service.replace_tariff(session, text=DEMO_TEXT, source="demo-tariff.yaml", by="test")
    engine.dispose()
    yield url
    get_settings.cache_clear()


def test_the_breakdown_of_a_wine_import(database):
    # 1,650,000 KRW FOB + freight 100 = 1,650,100; duty higher of 15% (247,515) and 1,500/l x 120 l;
    # excise 8,000/l alc. x 15 l alc. = 120,000; VAT 10% x (1,650,100 + 247,515 + 120,000) = 201,762 (half up)
    args = [*WINE, "--value", "1650000", "--currency", "KRW", "--date", "2026-06-01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "item 1: 220421 (Wine; still, in containers holding 2 litres or less) from FR" in out
    assert "FOB 1,650,000 KRW + freight 100 + insurance 0 = 1,650,100 KRW" in out
    for shown in (
        "third-country duty",
        "MFN-2204",
        "247,515 KRW",
        "8,000 KRW/l alc. \u00d7 15 l alc. (120 l at 12.5% vol) = 120,000 KRW",
        "10% \u00d7 (1,650,100 + 247,515 + 120,000) KRW = 201,762 KRW",
        "FTA KR-EU not claimed",
        "customs value 1,650,100 KRW + duties and taxes 569,277 KRW = landed cost 2,219,377 KRW",
    ):
        assert shown in out, shown


def test_a_preference_claimed_with_proof_is_applied(database):
    args = ["landed-cost", "--hs", "610910", "--origin", "DE", "--value", "1500000", "--currency", "KRW"]
    args += ["--incoterm", "CIF", "--date", "2026-06-01", "--preference"]
    proven = runner.invoke(app, args)
    assert proven.exit_code == 0, proven.output
    assert "landed cost 1,650,000 KRW" in proven.output  # FTA 0%, VAT 150,000
    unproven = runner.invoke(app, [*args, "--without-proof"])
    assert "landed cost 1,864,500 KRW" in unproven.output  # MFN 195,000, VAT 169,500
    assert "claimed without a proof of origin" in unproven.output


def test_bad_options_are_named(database):
    result = runner.invoke(app, [*WINE, "--value", "1000", "--currency", "EUR", "--hs", "2204"])
    assert result.exit_code == 2
    assert "--hs: '2204' is not a commodity code" in result.output


def test_a_date_past_the_bundled_rates_asks_for_an_earlier_one(database):
    last = ecb_rates().last
    late = (last + LOOK_BACK + timedelta(days=1)).isoformat()
    result = runner.invoke(app, [*WINE, "--value", "1000", "--currency", "EUR", "--date", late])
    assert result.exit_code == 2
    assert f"--date: no ECB reference rate for KRW on {late}" in result.output
    assert f"ask for an earlier date: give a date on or before {last.isoformat()}" in result.output
