"""payments: orders, idempotency keys, gateway callbacks, guarantees and securities (thousandths),
the demo gateway's charges

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:50:23.680643
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demo_gateway_charges",
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("merchant_reference", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payer", sa.String(length=200), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("charged_at", UTCDateTime(), nullable=True),
        sa.Column("callback_delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_demo_gateway_charges")),
    )
    op.create_table(
        "payment_callbacks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column(
            "body",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_callbacks")),
    )
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_callbacks_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_callbacks_reference"), ["reference"], unique=False)

    op.create_table(
        "payment_guarantees",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.String(length=17), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("limit_milli", sa.BigInteger(), nullable=False),
        sa.Column("balance_milli", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "balance_milli <= limit_milli", name=op.f("ck_payment_guarantees_balance_within_limit")
        ),
        sa.CheckConstraint("balance_milli >= 0", name=op.f("ck_payment_guarantees_balance_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_guarantees")),
        sa.UniqueConstraint(
            "party_id", "kind", "currency", name=op.f("uq_payment_guarantees_party_id_kind_currency")
        ),
    )
    op.create_table(
        "payment_idempotency_keys",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key", name=op.f("pk_payment_idempotency_keys")),
    )
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("assessment_version", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.String(length=17), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=True),
        sa.Column("gateway_reference", sa.String(length=64), nullable=True),
        sa.Column("redirect_url", sa.String(length=500), nullable=True),
        sa.Column("payer", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_orders_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_orders")),
        sa.UniqueConstraint(
            "declaration_id",
            "assessment_version",
            name=op.f("uq_payment_orders_declaration_id_assessment_version"),
        ),
        sa.UniqueConstraint("gateway_reference", name=op.f("uq_payment_orders_gateway_reference")),
    )
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_orders_party_id"), ["party_id"], unique=False)

    op.create_table(
        "payment_securities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("guarantee_id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("assessment_version", sa.Integer(), nullable=False),
        sa.Column("amount_milli", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("secured_at", UTCDateTime(), nullable=False),
        sa.Column("secured_by", sa.String(length=128), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("amount_milli > 0", name=op.f("ck_payment_securities_amount_positive")),
        sa.ForeignKeyConstraint(
            ["guarantee_id"],
            ["payment_guarantees.id"],
            name=op.f("fk_payment_securities_guarantee_id_payment_guarantees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_securities")),
        sa.UniqueConstraint(
            "declaration_id",
            "assessment_version",
            name=op.f("uq_payment_securities_declaration_id_assessment_version"),
        ),
    )
    with op.batch_alter_table("payment_securities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_securities_guarantee_id"), ["guarantee_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_securities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_securities_guarantee_id"))

    op.drop_table("payment_securities")
    with op.batch_alter_table("payment_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_orders_party_id"))

    op.drop_table("payment_orders")
    op.drop_table("payment_idempotency_keys")
    op.drop_table("payment_guarantees")
    with op.batch_alter_table("payment_callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_callbacks_reference"))
        batch_op.drop_index(batch_op.f("ix_payment_callbacks_event_id"))

    op.drop_table("payment_callbacks")
    op.drop_table("demo_gateway_charges")
