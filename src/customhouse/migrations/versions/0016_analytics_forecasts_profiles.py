"""analytics: the forecasts page's content stored once a day; the targeting profiles each declaration
matched, and their daily rollups (hit rates per profile over a period). Declarations already in the
read model get no profiles here: `customhouse report rebuild` fills them from the recorded events.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column(
        "analytics_declarations", sa.Column("profiles", JSON, server_default=sa.text("'[]'"), nullable=False)
    )
    op.create_table(
        "analytics_profile_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("controls", sa.Integer(), nullable=False),
        sa.Column("irregular", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "profile_id", name=op.f("pk_analytics_profile_days")),
    )
    op.create_table(
        "analytics_forecasts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("content", JSON, nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_forecasts")),
    )


def downgrade() -> None:
    op.drop_table("analytics_forecasts")
    op.drop_table("analytics_profile_days")
    op.drop_column("analytics_declarations", "profiles")
