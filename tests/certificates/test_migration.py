"""Migration 0007 goes down to 0006 and up again on both databases, and leaves the schema current."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect

from customhouse.db import _alembic_config, migrations_current, upgrade


def test_0007_downgrades_and_upgrades(committing_engine: Engine):
    assert {"certificates", "certificate_status_lists"} <= set(inspect(committing_engine).get_table_names())
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0006")
    assert "certificates" not in inspect(committing_engine).get_table_names()
    assert not migrations_current(committing_engine)
    upgrade(committing_engine)
    assert migrations_current(committing_engine)
    with committing_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT allocated FROM certificate_status_lists").scalar_one() == 0
