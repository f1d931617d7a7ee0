"""Migration 0008 goes down one revision and up again on both databases, matches the models, and seeds the
rejection counters."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from customhouse.db import _alembic_config, migrations_current, upgrade
from customhouse.models import metadata

TABLES = {
    "tracking_devices",
    "tracking_movements",
    "tracking_positions",
    "tracking_device_states",
    "tracking_gaps",
    "tracking_alerts",
    "tracking_rejections",
}


def test_0008_matches_the_models_and_downgrades(committing_engine: Engine):
    assert set(inspect(committing_engine).get_table_names()) >= TABLES
    with committing_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, metadata) if "tracking" in str(d)]
    assert differences == []
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0008-1")
    assert not set(inspect(committing_engine).get_table_names()) & TABLES
    assert not migrations_current(committing_engine)
    upgrade(committing_engine)
    with committing_engine.connect() as connection:
        counts = dict(connection.exec_driver_sql("SELECT reason, count FROM tracking_rejections").all())
    assert counts == {
        "malformed": 0,
        "unknown-signer": 0,
        "bad-signature": 0,
        "not-authorised-for-device": 0,
        "replay": 0,
    }
