"""`customhouse edifact` as a trader uses it, against a real server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from customhouse.app import create_app
from customhouse.cli import app
from customhouse.config import Settings, get_settings
from tests.exchange.edifact.edi import cusdec_interchange, join, segments
from tests.factories import TRADER, declaration
from tests.helpers import free_port

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning"),
    pytest.mark.filterwarnings("ignore::SyntaxWarning"),
]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    monkeypatch.setenv("CUSTOMHOUSE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    invoke("db", "upgrade")
    assert invoke("tariff", "import", "--demo")[0] == 0
    invoke("parties", "add", TRADER, "--name", "Hanbit", "--country", "KR")
    token = invoke("users", "create", "--name", "hanbit", "--role", "trader", "--party", TRADER)[1].strip()
    port = free_port()
    uv = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(database_url=url, rate_look_back_days=3660)), port=port, log_config=None
        )
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", token
    uv.should_exit = True
    thread.join(timeout=10)
    get_settings.cache_clear()


def test_trader_lodges_a_cusdec_file_and_reads_the_cusres(server, tmp_path):
    url, token = server
    good = tmp_path / "good.edi"
    good.write_text(cusdec_interchange(declaration(lrn="CLI-EDI-1")))
    code, output = invoke("edifact", "submit", str(good), "--token", token, "--url", url)
    assert code == 0, output
    assert "CLI-EDI-1" in output and "201" in output

    parts = segments(cusdec_interchange(declaration(lrn="CLI-EDI-2")))
    number = next(n for n, part in enumerate(parts) if part.startswith("TOD"))
    parts[number] = "TOD+++XYZ"
    bad = tmp_path / "bad.edi"
    bad.write_text(join(parts))
    code, output = invoke("edifact", "submit", str(bad), "--token", token, "--url", url)
    assert code == 1
    assert "TOD" in output and "/incoterm" in output and "Incoterms" in output

    for _ in range(200):  # the server's dispatcher answers in the background
        code, output = invoke("edifact", "messages", "--token", token, "--url", url)
        if "ACC" in output:
            break
        time.sleep(0.05)
    assert code == 0 and "ACC" in output and "CUSRES" in output
    message_id = next(word for line in output.splitlines() for word in line.split() if word.count("-") == 4)
    code, output = invoke("edifact", "message", message_id, "--token", token, "--url", url)
    assert code == 0 and "UNH+1+CUSRES:D:96B:UN'" in output and "RFF+ABE:CLI-EDI-1'" in output
