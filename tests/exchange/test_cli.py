"""`customhouse partners ...` and `customhouse exchange ...` against a database of their own (SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.cli import app
from customhouse.exchange import signing
from customhouse.keys import new_ed25519_pem
from tests.helpers import cli_database

runner = CliRunner()


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with cli_database(tmp_path, monkeypatch, CUSTOMHOUSE_EXCHANGE_ID="KR-KCS") as sessions:
        yield sessions


def test_partners_add_agree_list_and_send(sessions: sessionmaker[Session], tmp_path: Path):
    key = runner.invoke(app, ["exchange", "key"])
    assert key.exit_code == 0, key.output
    assert json.loads(key.output)["id"] == "KR-KCS"
    partner_key = tmp_path / "cn.json"
    partner_key.write_text(json.dumps(signing.public_jwk(signing.load_key(new_ed25519_pem()))))
    added = runner.invoke(
        app,
        [
            "partners",
            "add",
            "CN-GACC",
            "--name",
            "GACC",
            "--country",
            "CN",
            "--base-url",
            "http://127.0.0.1:9",
            "--jwk",
            str(partner_key),
        ],
    )
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["partners", "add", "JP", "--name", "Japan", "--country", "JP"])
    assert refused.exit_code == 1 and "/public_jwk" in refused.output and "/base_url" in refused.output
    agreed = runner.invoke(
        app,
        [
            "partners",
            "agree",
            "CN-GACC",
            "--type",
            "control-result",
            "--field",
            "/mrn",
            "--field",
            "outcome",
            "--purpose",
            "control results",
            "--until",
            "2099-01-01",
        ],
    )
    assert agreed.exit_code == 0, agreed.output
    listed = runner.invoke(app, ["partners", "list"])
    assert "CN-GACC" in listed.output and "control-result" in listed.output
    sent = runner.invoke(
        app,
        [
            "exchange",
            "send",
            "control-result",
            "--partner",
            "CN-GACC",
            "--payload",
            '{"mrn": "X", "outcome": "ok", "note": "n"}',
        ],
    )
    assert sent.exit_code == 0, sent.output
    message_id = sent.output.split()[1]
    delivered = runner.invoke(app, ["exchange", "deliver"])  # nobody listens at port 9: retried later
    assert delivered.exit_code == 0 and "0 message(s) delivered" in delivered.output
    status = runner.invoke(app, ["exchange", "status", message_id])
    shown = json.loads(status.output)
    assert shown["state"] == "pending" and shown["attempts"] == 1 and "ConnectError" in shown["last_error"]
    assert shown["answer"] == {"removed": ["/note"]}
