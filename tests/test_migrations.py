"""The migrations build exactly the schema the models describe (every table, column, type and index),
on both databases, and there is one head: an upgrade goes through every revision in one line."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from customhouse.db import _alembic_config
from customhouse.models import metadata


def test_the_migrated_schema_is_the_models_schema(committing_engine: Engine) -> None:
    with committing_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
        heads = ScriptDirectory.from_config(_alembic_config(connection)).get_heads()
    assert differences == []
    assert len(heads) == 1
