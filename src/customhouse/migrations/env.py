"""Alembic environment: customhouse runs migrations programmatically (customhouse.db.upgrade), handing
over an open connection; every domain's models are imported so that autogenerate sees all tables."""

from __future__ import annotations

from alembic import context

from customhouse.models import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
