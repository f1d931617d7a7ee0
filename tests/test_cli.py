"""The `customhouse` command as an administrator and a trader use it, against a real server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from customhouse.app import create_app
from customhouse.cli import app
from customhouse.config import Settings, get_settings
from tests.factories import TRADER, declaration
from tests.helpers import free_port

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    monkeypatch.setenv("CUSTOMHOUSE_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_administrator_sets_up_parties_and_users(database):
    assert invoke("db", "upgrade")[0] == 0
    assert invoke("parties", "add", TRADER, "--name", "Hanbit", "--country", "KR") == (
        0,
        f"registered {TRADER}\n",
    )
    code, output = invoke("parties", "add", "KR1", "--name", "Again", "--country", "XX")
    assert code == 2 and "ISO 3166" in output
    assert invoke("parties", "add", "KR9000000001", "--name", "Broker", "--country", "KR", "--broker")[0] == 0
    assert invoke("parties", "mandate", "KR9000000001", TRADER)[0] == 0
    code, token = invoke("users", "create", "--name", "hanbit", "--role", "trader", "--party", TRADER)
    assert code == 0 and token.startswith("ch_")
    code, output = invoke("users", "create", "--name", "hanbit", "--role", "trader", "--party", TRADER)
    assert code == 2 and "exists already" in output
    code, output = invoke("users", "create", "--name", "o", "--role", "officer")
    assert code == 2 and "at least one office" in output


def test_trader_submits_files_and_reads_them_back(database, tmp_path):
    invoke("db", "upgrade")
    assert invoke("tariff", "import", "--demo")[0] == 0
    invoke("parties", "add", TRADER, "--name", "Hanbit", "--country", "KR")
    token = invoke("users", "create", "--name", "hanbit", "--role", "trader", "--party", TRADER)[1].strip()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(database_url=database, rate_look_back_days=3660)), port=port, log_config=None
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        ndjson = tmp_path / "batch.ndjson"
        ndjson.write_text("\n".join(json.dumps(declaration(lrn=f"N-{n}")) for n in range(5)) + "\n")
        single = tmp_path / "one.json"
        single.write_text(json.dumps(declaration(lrn="J-1", invoice_total="1.00")))
        url = f"http://127.0.0.1:{port}"
        code, output = invoke("submit", str(ndjson), str(single), "--token", token, "--url", url)
        assert code == 1  # one declaration was rejected
        assert "5 lodged" in output and "1 rejected" in output
        assert "one.json:1:" in output and "/invoice_total" in output
        code, output = invoke("submit", str(ndjson), "--token", token, "--url", url)
        assert code == 0 and "5 already lodged" in output
        code, output = invoke("declarations", "list", "--token", token, "--url", url)
        assert code == 0 and output.count("N-") == 5
        code, output = invoke("declarations", "list", "--json", "--token", token, "--url", url)
        listed = [json.loads(line) for line in output.splitlines()]
        mrn = next(item["mrn"] for item in listed if item["document"]["lrn"] == "N-3")
        for _ in range(200):  # the server's dispatcher assesses in the background
            code, output = invoke("declarations", "show", mrn, "--token", token, "--url", url)
            shown = json.loads(output)
            if shown["assessments"]:
                break
            time.sleep(0.05)
        assert shown["declaration"]["document"]["lrn"] == "N-3"
        assert [entry["event"] for entry in shown["audit"]] == [
            "declaration.lodged",
            "declaration.accepted",
            "declaration.assessed",
        ]
        [assessment] = shown["assessments"]  # the goods wait for payment: the trader has no account
        assert shown["declaration"]["state"] == "accepted" and not assessment["settled"]
        assert Decimal(assessment["owed"]) > 0 and assessment["order_id"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
