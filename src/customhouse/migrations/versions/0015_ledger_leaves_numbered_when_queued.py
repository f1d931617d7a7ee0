"""ledger: a leaf is numbered when queued and written once; the pending table goes

Queued leaves used to wait in `ledger_pending` and be copied into `ledger_leaves` (and deleted) when
sequenced. Now the queue writes each leaf into `ledger_leaves` with its index at once, and sequencing
only writes the stored hashes and the checkpoint. Leaves still pending are moved over here, numbered
after the last leaf in queue order.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from customhouse.db import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLUMNS = (
    "event_id, type, issuer, time, subject_type, subject_id, version, salt, document_hash, leaf_hash, "
    "leaf_key, subject_key"
)
BUCKET = 1 << 14  # models.BUCKET_BITS


def upgrade() -> None:
    number = "(SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_leaves) + ROW_NUMBER() OVER (ORDER BY id) - 1"
    op.execute(
        f"INSERT INTO ledger_leaves (idx, bucket, {COLUMNS}) "
        f"SELECT {number}, ({number}) / {BUCKET}, {COLUMNS} FROM ledger_pending"
    )
    op.drop_table("ledger_pending")


def downgrade() -> None:
    """Leaves queued but not sequenced cannot go back to the pending table (leaves are append-only):
    sequence them first (`customhouse ledger sequence`)."""
    queued = op.get_bind().scalar(
        sa.text(
            "SELECT COUNT(*) FROM ledger_leaves "
            "WHERE idx >= (SELECT COALESCE(MAX(size), 0) FROM ledger_checkpoints)"
        )
    )
    if queued:
        raise RuntimeError(f"{queued} leaves are queued: run `customhouse ledger sequence` first")
    op.create_table(
        "ledger_pending",
        sa.Column("id", INT64, autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_pending")),
        sa.UniqueConstraint("event_id", "type", name=op.f("uq_ledger_pending_event_id_type")),
    )
