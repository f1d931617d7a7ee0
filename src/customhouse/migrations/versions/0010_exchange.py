"""exchange: partners, agreements, messages out and in, disclosures, pre-arrival data, mismatches,
agency tokens, consents

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_partners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("public_jwk", JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_partners")),
    )
    op.create_table(
        "exchange_agreements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("message_types", JSON, nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("aeo_list", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchange_agreements_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_agreements")),
    )
    op.create_index(op.f("ix_exchange_agreements_partner_id"), "exchange_agreements", ["partner_id"])
    op.create_table(
        "exchange_outgoing",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("answer", JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["exchange_agreements.id"],
            name=op.f("fk_exchange_outgoing_agreement_id_exchange_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchange_outgoing_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchange_outgoing")),
    )
    op.create_index("ix_exchange_outgoing_due", "exchange_outgoing", ["state", "next_attempt_at"])
    op.create_table(
        "exchange_incoming",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("in_reply_to", sa.Uuid(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("outcome", JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["exchange_agreements.id"],
            name=op.f("fk_exchange_incoming_agreement_id_exchange_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["sender"], ["exchange_partners.id"], name=op.f("fk_exchange_incoming_sender_exchange_partners")
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchange_incoming")),
    )
    op.create_index(op.f("ix_exchange_incoming_in_reply_to"), "exchange_incoming", ["in_reply_to"])
    op.create_table(
        "exchange_disclosures",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("disclosed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["exchange_agreements.id"],
            name=op.f("fk_exchange_disclosures_agreement_id_exchange_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchange_disclosures_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_disclosures")),
    )
    op.create_index(op.f("ix_exchange_disclosures_partner_id"), "exchange_disclosures", ["partner_id"])
    op.create_table(
        "exchange_pre_arrivals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("export_mrn", sa.String(length=32), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=True),
        sa.Column("matched_by", sa.String(length=40), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("matched_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["exchange_incoming.message_id"],
            name=op.f("fk_exchange_pre_arrivals_message_id_exchange_incoming"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_pre_arrivals")),
        sa.UniqueConstraint("message_id", name=op.f("uq_exchange_pre_arrivals_message_id")),
    )
    op.create_index(op.f("ix_exchange_pre_arrivals_export_mrn"), "exchange_pre_arrivals", ["export_mrn"])
    op.create_index(
        op.f("ix_exchange_pre_arrivals_declaration_id"), "exchange_pre_arrivals", ["declaration_id"]
    )
    op.create_table(
        "exchange_mismatches",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("pre_arrival_id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("pointer", sa.String(length=200), nullable=False),
        sa.Column("exported", sa.Text(), nullable=False),
        sa.Column("declared", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("found_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pre_arrival_id"],
            ["exchange_pre_arrivals.id"],
            name=op.f("fk_exchange_mismatches_pre_arrival_id_exchange_pre_arrivals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_mismatches")),
    )
    op.create_index(op.f("ix_exchange_mismatches_pre_arrival_id"), "exchange_mismatches", ["pre_arrival_id"])
    op.create_index(op.f("ix_exchange_mismatches_declaration_id"), "exchange_mismatches", ["declaration_id"])
    op.create_table(
        "exchange_agency_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchange_agency_tokens_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_exchange_agency_tokens")),
    )
    op.create_index(op.f("ix_exchange_agency_tokens_partner_id"), "exchange_agency_tokens", ["partner_id"])
    op.create_table(
        "exchange_consents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("party_id", sa.String(length=17), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["exchange_partners.id"],
            name=op.f("fk_exchange_consents_partner_id_exchange_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_consents")),
    )
    op.create_index(op.f("ix_exchange_consents_party_id"), "exchange_consents", ["party_id"])


def downgrade() -> None:
    for name in (
        "exchange_consents",
        "exchange_agency_tokens",
        "exchange_mismatches",
        "exchange_pre_arrivals",
        "exchange_disclosures",
        "exchange_incoming",
        "exchange_outgoing",
        "exchange_agreements",
        "exchange_partners",
    ):
        op.drop_table(name)
