"""certificates: credentials issued and the status list allocation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=True),
        sa.Column("subject", JSON, nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("status_list", sa.Integer(), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint(
            "status_list", "status_index", name=op.f("uq_certificates_status_list_status_index")
        ),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_declaration_id"), ["declaration_id"], unique=False)
    lists = op.create_table(
        "certificate_status_lists",
        sa.Column("list_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("list_id", name=op.f("pk_certificate_status_lists")),
    )
    op.bulk_insert(lists, [{"list_id": 1, "allocated": 0}])


def downgrade() -> None:
    op.drop_table("certificate_status_lists")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_declaration_id"))
    op.drop_table("certificates")
