"""Migration 0009 matches the EDIFACT models, goes down one revision and up again, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from customhouse.db import _alembic_config, migrations_current, upgrade
from customhouse.models import metadata

TABLES = {"edifact_messages", "edifact_declaration_refs", "cargo_reports", "cargo_report_lines"}


def test_0009_matches_the_models_and_downgrades(committing_engine: Engine):
    assert set(inspect(committing_engine).get_table_names()) >= TABLES
    with committing_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            d for d in compare_metadata(context, metadata) if any(name in str(d) for name in TABLES)
        ]
    assert differences == []
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0009-1")
    remaining = set(inspect(committing_engine).get_table_names())
    assert not remaining & TABLES and "declarations" in remaining
    assert not migrations_current(committing_engine)
    upgrade(committing_engine)
    assert migrations_current(committing_engine)
    assert set(inspect(committing_engine).get_table_names()) >= TABLES
