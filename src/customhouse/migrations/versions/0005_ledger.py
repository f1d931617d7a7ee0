"""ledger: pending and sequenced leaves, stored hashes, checkpoints, cosignatures (append-only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from customhouse.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("ledger_leaves", "ledger_hashes", "ledger_checkpoints")


def _commitment() -> list[sa.Column[object]]:
    return [
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=128), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("document_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_key", sa.BigInteger(), nullable=False),
        sa.Column("subject_key", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ledger_pending",
        sa.Column("id", INT64, autoincrement=True, nullable=False),
        *_commitment(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending")),
        sa.UniqueConstraint("event_id", "type", name=op.f("uq_ledger_pending_event_id_type")),
    )
    op.create_table(
        "ledger_leaves",
        sa.Column("idx", INT64, autoincrement=False, nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        *_commitment(),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_ledger_leaves")),
    )
    with op.batch_alter_table("ledger_leaves", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_leaves_leaf_key", ["bucket", "leaf_key"], unique=False)
        batch_op.create_index("ix_ledger_leaves_subject_key", ["bucket", "subject_key"], unique=False)
    op.create_table(
        "ledger_hashes",
        sa.Column("idx", INT64, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_ledger_hashes")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", INT64, autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_ledger_checkpoints")),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(length=140), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_size"],
            ["ledger_checkpoints.size"],
            name=op.f("fk_ledger_cosignatures_checkpoint_size_ledger_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("checkpoint_size", "witness", name=op.f("pk_ledger_cosignatures")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""
        )
        for name in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
    else:
        for name in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {name}_no_{action} BEFORE {action.upper()} ON {name} "
                    f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {name}_append_only ON {name}")
        op.execute("DROP FUNCTION ledger_append_only()")
    else:
        for name in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {name}_no_{action}")
    op.drop_table("ledger_cosignatures")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_hashes")
    with op.batch_alter_table("ledger_leaves", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_leaves_subject_key")
        batch_op.drop_index("ix_ledger_leaves_leaf_key")
    op.drop_table("ledger_leaves")
    op.drop_table("ledger_pending")
