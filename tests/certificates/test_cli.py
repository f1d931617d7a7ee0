"""`customhouse cert ...` against a database of its own (SQLite file): issue, revoke, and offline
verification from the files the server publishes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.app import policy_from
from customhouse.certificates import credentials as vc
from customhouse.certificates.cli import app
from customhouse.certificates.models import Certificate
from customhouse.config import get_settings
from customhouse.db import writing
from tests import factories
from tests.certificates.conftest import export_document, lodge, page_text_and_codes
from tests.helpers import cli_database

runner = CliRunner()


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with cli_database(
        tmp_path,
        monkeypatch,
        CUSTOMHOUSE_HOST="customs.test",
        CUSTOMHOUSE_COUNTRY="KR",
        CUSTOMHOUSE_NATIONAL_CURRENCY="KRW",
        CUSTOMHOUSE_RATE_LOOK_BACK_DAYS="3660",
    ) as sessions:
        yield sessions


def run(*arguments: str, code: int = 0) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_issue_publish_verify_offline_revoke(sessions: sessionmaker[Session], tmp_path: Path):
    with writing(sessions) as session:
        factories.world(session)
        declaration = lodge(session, policy_from(get_settings()), export_document())
    credential = tmp_path / "coo.jwt"
    run("issue", "--declaration", str(declaration.id), "--out", str(credential))
    did = tmp_path / "did.json"
    did.write_text(run("did"))
    assert json.loads(did.read_text())["id"] == "did:web:customs.test"
    status = tmp_path / "status.jwt"
    status.write_text(run("status-list"))
    later = "2030-01-01T00:00:00Z"
    valid = run("verify", str(credential), "--issuer-key", str(did), "--status-list", str(status))
    assert valid.startswith("valid:")
    jwk = json.dumps(json.loads(did.read_text())["verificationMethod"][0]["publicKeyJwk"])
    assert run("verify", str(credential), "--issuer-key", jwk, "--status-list", str(status)).startswith(
        "valid"
    )
    expired = run(
        "verify",
        str(credential),
        "--issuer-key",
        str(did),
        "--status-list",
        str(status),
        "--at",
        later,
        code=1,
    )
    assert expired.startswith("expired:")
    text = credential.read_text().strip()
    altered = tmp_path / "altered.jwt"
    altered.write_text(text[:40] + ("A" if text[40] != "A" else "B") + text[41:])
    out = run("verify", str(altered), "--issuer-key", str(did), "--status-list", str(status), code=1)
    assert out.startswith("altered:")

    with sessions() as session:
        first = session.scalars(select(Certificate).where(Certificate.declaration_id == declaration.id)).one()
    paper = tmp_path / "coo.pdf"
    run("pdf", str(first.id), "--out", str(paper))
    _, codes = page_text_and_codes(paper.read_bytes())
    assert codes == [f"http://customs.test:8000/verify?id={first.id}"]
    run("revoke", str(first.id), "--reason", "withdrawn")
    status.write_text(run("status-list"))
    out = run("verify", str(credential), "--issuer-key", str(did), "--status-list", str(status), code=1)
    assert out.startswith("revoked:")
    refused = run("revoke", str(first.id), "--reason", "again", code=1)
    assert "already revoked" in refused


def test_with_a_key_that_is_not_the_issuers_nothing_is_accepted(sessions, tmp_path: Path):
    credential = tmp_path / "permit.jwt"
    run("issue", "--kind", "Permit", "--subject", '{"id": "urn:p:2"}', "--out", str(credential))
    status = tmp_path / "status.jwt"
    status.write_text(run("status-list"))
    stranger = json.dumps(vc.public_jwk(vc.generate_key()))
    out = run("verify", str(credential), "--issuer-key", stranger, "--status-list", str(status), code=2)
    assert "status list" in out
