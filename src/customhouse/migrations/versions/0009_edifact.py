"""edifact: the CUSRES mailbox, declarations' transport references, cargo reports (CUSCAR)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "edifact_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("declarant_id", sa.String(length=17), nullable=False),
        sa.Column("representative_id", sa.String(length=17), nullable=True),
        sa.Column("message_type", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edifact_messages")),
        sa.UniqueConstraint("event_id", name=op.f("uq_edifact_messages_event_id")),
    )
    with op.batch_alter_table("edifact_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edifact_messages_declaration_id"), ["declaration_id"])
        batch_op.create_index(batch_op.f("ix_edifact_messages_declarant_id"), ["declarant_id"])
        batch_op.create_index(batch_op.f("ix_edifact_messages_representative_id"), ["representative_id"])
    op.create_table(
        "edifact_declaration_refs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=70), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edifact_declaration_refs")),
    )
    with op.batch_alter_table("edifact_declaration_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edifact_declaration_refs_declaration_id"), ["declaration_id"])
        batch_op.create_index("ix_edifact_declaration_refs_kind_value", ["kind", "value"])
    op.create_table(
        "cargo_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.Column("party_id", sa.String(length=17), nullable=True),
        sa.Column("submitted_by", sa.String(length=128), nullable=False),
        sa.Column("carrier", sa.String(length=70), nullable=True),
        sa.Column("means_of_transport_id", sa.String(length=35), nullable=True),
        sa.Column("arrival_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cargo_reports")),
    )
    with op.batch_alter_table("cargo_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cargo_reports_party_id"), ["party_id"])
    op.create_table(
        "cargo_report_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("transport_document", sa.String(length=70), nullable=False),
        sa.Column("containers", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("packages", sa.Integer(), nullable=True),
        sa.Column("gross_mass", sa.Numeric(precision=15, scale=3), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"], ["cargo_reports.id"], name=op.f("fk_cargo_report_lines_report_id_cargo_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cargo_report_lines")),
    )
    with op.batch_alter_table("cargo_report_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cargo_report_lines_report_id"), ["report_id"])
        batch_op.create_index(batch_op.f("ix_cargo_report_lines_transport_document"), ["transport_document"])


def downgrade() -> None:
    op.drop_table("cargo_report_lines")
    op.drop_table("cargo_reports")
    op.drop_table("edifact_declaration_refs")
    op.drop_table("edifact_messages")
