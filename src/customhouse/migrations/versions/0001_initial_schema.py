"""initial schema

The events table is the audit trail: triggers refuse UPDATE and DELETE on it, on both databases.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 11:24:50.336084
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    """CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$""",
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "declarations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lrn", sa.String(length=22), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("pre_arrival", sa.Boolean(), nullable=False),
        sa.Column("declarant_id", sa.String(length=17), nullable=False),
        sa.Column("representative_id", sa.String(length=17), nullable=True),
        sa.Column("importer_id", sa.String(length=17), nullable=True),
        sa.Column("exporter_id", sa.String(length=17), nullable=True),
        sa.Column("office_of_lodgement", sa.String(length=8), nullable=False),
        sa.Column("office_of_destination", sa.String(length=8), nullable=True),
        sa.Column("transport_mode", sa.String(length=1), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=True),
        sa.Column(
            "lane_reasons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("mrn", sa.String(length=18), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("lodged_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declarations")),
        sa.UniqueConstraint("declarant_id", "lrn", name=op.f("uq_declarations_declarant_id_lrn")),
        sa.UniqueConstraint("mrn", name=op.f("uq_declarations_mrn")),
    )
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.create_index("ix_declarations_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_declarations_exporter_id"), ["exporter_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_declarations_importer_id"), ["importer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_declarations_representative_id"), ["representative_id"], unique=False
        )
        batch_op.create_index("ix_declarations_state_office", ["state", "office_of_lodgement"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("aggregate_type", sa.String(length=32), nullable=False),
        sa.Column("aggregate_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_party", sa.String(length=17), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_aggregate", ["aggregate_type", "aggregate_id"], unique=False)

    op.create_table(
        "parties",
        sa.Column("id", sa.String(length=17), nullable=False),
        sa.Column("name", sa.String(length=70), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("aeo", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
    )
    op.create_table(
        "declaration_versions",
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["declarations.id"],
            name=op.f("fk_declaration_versions_declaration_id_declarations"),
        ),
        sa.PrimaryKeyConstraint("declaration_id", "version", name=op.f("pk_declaration_versions")),
    )
    op.create_table(
        "goods_items",
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("hs_code", sa.String(length=6), nullable=False),
        sa.Column("origin", sa.String(length=2), nullable=False),
        sa.Column("net_mass", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("price", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["declaration_id"], ["declarations.id"], name=op.f("fk_goods_items_declaration_id_declarations")
        ),
        sa.PrimaryKeyConstraint("declaration_id", "sequence", name=op.f("pk_goods_items")),
    )
    with op.batch_alter_table("goods_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goods_items_hs_code"), ["hs_code"], unique=False)

    op.create_table(
        "mandates",
        sa.Column("representative_id", sa.String(length=17), nullable=False),
        sa.Column("client_id", sa.String(length=17), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["parties.id"], name=op.f("fk_mandates_client_id_parties")),
        sa.ForeignKeyConstraint(
            ["representative_id"], ["parties.id"], name=op.f("fk_mandates_representative_id_parties")
        ),
        sa.PrimaryKeyConstraint("representative_id", "client_id", name=op.f("pk_mandates")),
    )
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.event_id"], name=op.f("fk_outbox_event_id_events")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_outbox")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("party_id", sa.String(length=17), nullable=True),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "offices",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_users_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    for statement in (
        APPEND_ONLY_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else APPEND_ONLY_SQLITE
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_append_only ON events")
        op.execute("DROP FUNCTION events_append_only()")
    else:
        op.execute("DROP TRIGGER events_no_update")
        op.execute("DROP TRIGGER events_no_delete")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("outbox")
    op.drop_table("mandates")
    with op.batch_alter_table("goods_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goods_items_hs_code"))

    op.drop_table("goods_items")
    op.drop_table("declaration_versions")
    op.drop_table("parties")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_aggregate")

    op.drop_table("events")
    with op.batch_alter_table("declarations", schema=None) as batch_op:
        batch_op.drop_index("ix_declarations_state_office")
        batch_op.drop_index(batch_op.f("ix_declarations_representative_id"))
        batch_op.drop_index(batch_op.f("ix_declarations_importer_id"))
        batch_op.drop_index(batch_op.f("ix_declarations_exporter_id"))
        batch_op.drop_index("ix_declarations_created")

    op.drop_table("declarations")
