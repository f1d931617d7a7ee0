"""`customhouse ledger ...` against a database of its own (SQLite file), with the log key under var/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.app import create_app
from customhouse.config import get_settings
from customhouse.db import writing
from customhouse.ledger import api, merkle, note, service
from customhouse.ledger import cli as ledger_cli
from customhouse.ledger.cli import app
from tests.helpers import cli_database
from tests.ledger.conftest import commitment

runner = CliRunner()


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with cli_database(tmp_path, monkeypatch, CUSTOMHOUSE_HOST="customs.test") as sessions:
        yield sessions


def queue(sessions: sessionmaker[Session], count: int) -> None:
    with writing(sessions) as session:
        service.queue(session, [commitment(number) for number in range(count)])


def invoke(*arguments: str, code: int = 0) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == code, result.output
    return result.output


def test_sequence_checkpoint_key_and_proofs(sessions):
    assert "nothing queued" not in invoke("sequence")  # the first pass signs the empty tree
    assert "nothing queued" in invoke("sequence")
    queue(sessions, 25)
    assert "25 leaves sequenced in 3 checkpoint(s): tree size 25" in invoke("sequence", "--limit", "10")
    vkey = invoke("key").strip()
    log_key = note.parse_verifier_key(vkey)
    assert log_key.name == "customs.test/customhouse/log"
    message = invoke("checkpoint").encode()
    checkpoint, _ = note.open_checkpoint(message, origin=log_key.name, log=log_key)
    assert checkpoint.size == 25

    proof = json.loads(invoke("proof", "inclusion", "--index", "7"))
    (leaf,) = proof["proofs"]
    merkle.verify_inclusion(
        index=7,
        size=25,
        leaf=bytes.fromhex(leaf["leaf_hash"]),
        proof=[bytes.fromhex(item) for item in leaf["proof"]],
        root=checkpoint.root_hash,
    )
    by_hash = json.loads(invoke("proof", "inclusion", "--leaf-hash", leaf["leaf_hash"]))
    assert by_hash["proofs"] == proof["proofs"]
    consistency = json.loads(invoke("proof", "consistency", "10", "25"))
    with sessions() as session:
        old_root = service.root_at(session, 10)
    merkle.verify_consistency(
        old_size=10,
        new_size=25,
        old_root=old_root,
        new_root=checkpoint.root_hash,
        proof=[bytes.fromhex(item) for item in consistency["proof"]],
    )
    assert "no sequenced leaf" in invoke("proof", "inclusion", "--leaf-hash", "00" * 32, code=1)
    assert "exactly one" in invoke("proof", "inclusion", code=2)
    invoke("proof", "consistency", "10", "26", code=1)


def test_verify_exits_1_and_lists_what_was_altered(sessions):
    queue(sessions, 40)
    invoke("sequence")
    assert "tree size 40: 40 leaves" in invoke("verify") and "everything matches" in invoke("verify")
    with writing(sessions) as session:
        session.execute(text("DROP TRIGGER ledger_hashes_no_update"))
        session.execute(text("UPDATE ledger_hashes SET hash = zeroblob(32) WHERE idx = 10"))
        session.execute(text("DROP TRIGGER ledger_leaves_no_update"))
        session.execute(text("UPDATE ledger_leaves SET issuer = 'mallory' WHERE idx = 33"))
    output = invoke("verify", code=1)
    assert "stored hash 10 (level" in output and "leaf 33 (test.thing" in output
    assert "2 finding(s)" in output
    other = note.generate_key("customs.test/customhouse/log").verifier.vkey
    assert "does not verify" in invoke("verify", "--log-key", other, code=1)


def test_witness_round_over_http(sessions, tmp_path, monkeypatch):
    key_file = tmp_path / "witness" / "key"
    witness_vkey = invoke("witness-key", "--key", str(key_file), "--name", "w1").strip()
    queue(sessions, 6)
    invoke("sequence")
    log_vkey = invoke("key").strip()
    settings = get_settings()
    ledger = service.Ledger.from_settings(settings)
    server = create_app(settings, sessions=sessions, run_dispatcher=False)
    api.install(
        server, service.Ledger(origin=ledger.origin, key_file=ledger.key_file, witnesses=[witness_vkey])
    )
    client = TestClient(server)
    monkeypatch.setattr(ledger_cli, "_http", lambda url: client)

    arguments = ("witness", "--url", "http://testserver", "--key", str(key_file), "--log-key", log_vkey)
    assert "cosigned tree size 6 (first checkpoint seen)" in invoke(*arguments)
    queue(sessions, 4)
    invoke("sequence")
    assert "cosigned tree size 10 (consistent with size 6)" in invoke(*arguments)
    message = invoke("checkpoint").encode()
    note.open_checkpoint(
        message,
        origin=ledger.origin,
        log=note.parse_verifier_key(log_vkey),
        witnesses=[note.parse_verifier_key(witness_vkey)],
        quorum=1,
    )
    other = note.generate_key(ledger.origin).verifier.vkey
    assert "not cosigned" in invoke("witness", *arguments[1:-1], other, code=1)
