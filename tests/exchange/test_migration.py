"""Migration 0010 goes down one revision and up again on both databases, and leaves the schema current."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect

from customhouse.db import _alembic_config, migrations_current, upgrade

TABLES = {
    "exchange_partners",
    "exchange_agreements",
    "exchange_outgoing",
    "exchange_incoming",
    "exchange_disclosures",
    "exchange_pre_arrivals",
    "exchange_mismatches",
    "exchange_agency_tokens",
    "exchange_consents",
}


def test_0010_downgrades_and_upgrades(committing_engine: Engine):
    assert set(inspect(committing_engine).get_table_names()) >= TABLES
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0010-1")
    assert not TABLES & set(inspect(committing_engine).get_table_names())
    assert not migrations_current(committing_engine)
    upgrade(committing_engine)
    assert migrations_current(committing_engine)
    assert set(inspect(committing_engine).get_table_names()) >= TABLES
