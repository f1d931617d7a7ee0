"""Migration 0014 numbers the cargo reports stored before it (a manifest stored twice keeps both, the
later in force), computes their digests, matches the models, and goes down and up again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from customhouse.db import _alembic_config, migrations_current, upgrade
from customhouse.exchange.edifact import cuscar
from customhouse.models import metadata
from tests.exchange.edifact.edi import cuscar_interchange

pytestmark = pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning")
MANIFEST = cuscar.Manifest(reference="MAN-1", lines=[cuscar.Line(1, "BL-123", ["CSQU3054383"])])


def test_0014_versions_the_reports_stored_before(committing_engine: Engine):
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0014-1")
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ids = [uuid.uuid4(), uuid.uuid4()]
    with committing_engine.begin() as connection:
        for number, report_id in enumerate(ids):  # the same manifest stored twice, as before 0014
            connection.execute(
                text(
                    "INSERT INTO cargo_reports (id, reference, party_id, submitted_by, received_at, body) "
                    "VALUES (:id, 'MAN-1', 'KR7000000001', 'carrier', :at, :body)"
                ),
                {
                    "id": report_id.hex if committing_engine.dialect.name == "sqlite" else report_id,
                    "at": (at + timedelta(minutes=number)).isoformat(),
                    "body": cuscar_interchange(MANIFEST),
                },
            )
    upgrade(committing_engine)
    assert migrations_current(committing_engine)
    with committing_engine.connect() as connection:
        rows = connection.execute(
            text("SELECT sender, version, function, digest, replaced_by FROM cargo_reports ORDER BY version")
        ).all()
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata) if "cargo_reports" in str(d)]
    assert differences == []
    digest = cuscar.digest(MANIFEST)
    assert [(r.sender, r.version, r.function, r.digest) for r in rows] == [
        ("KR7000000001", 1, "9", digest),
        ("KR7000000001", 2, "5", digest),
    ]
    assert uuid.UUID(str(rows[0].replaced_by)) == ids[1] and rows[1].replaced_by is None
