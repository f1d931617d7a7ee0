"""tracking: devices, transit movements, positions, device states, gaps, alerts, rejection counts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REASONS = ("malformed", "unknown-signer", "bad-signature", "not-authorised-for-device", "replay")


def upgrade() -> None:
    op.create_table(
        "tracking_devices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("gateway_id", sa.String(length=64), nullable=True),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["tracking_devices.id"],
            name=op.f("fk_tracking_devices_gateway_id_tracking_devices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_devices")),
    )
    with op.batch_alter_table("tracking_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_devices_gateway_id"), ["gateway_id"], unique=False)

    op.create_table(
        "tracking_movements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.String(length=18), nullable=False),
        sa.Column("office_of_departure", sa.String(length=8), nullable=False),
        sa.Column("office_of_destination", sa.String(length=8), nullable=False),
        sa.Column("corridor", sa.String(length=32), nullable=False),
        sa.Column("time_limit", UTCDateTime(), nullable=False),
        sa.Column("seals", JSON, nullable=False),
        sa.Column("guarantee_reference", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("in_transit_at", UTCDateTime(), nullable=True),
        sa.Column("arrived_at", UTCDateTime(), nullable=True),
        sa.Column("incident_at", UTCDateTime(), nullable=True),
        sa.Column("time_limit_alerted_at", UTCDateTime(), nullable=True),
        sa.Column("discharged_at", UTCDateTime(), nullable=True),
        sa.Column("discharged_by", sa.String(length=128), nullable=True),
        sa.Column("guarantee_released", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_movements")),
        sa.UniqueConstraint("declaration_id", name=op.f("uq_tracking_movements_declaration_id")),
        sa.UniqueConstraint("mrn", name=op.f("uq_tracking_movements_mrn")),
    )
    with op.batch_alter_table("tracking_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_movements_state"), ["state"], unique=False)

    op.create_table(
        "tracking_positions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("time", UTCDateTime(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("seal", sa.String(length=8), nullable=False),
        sa.Column("door", sa.String(length=8), nullable=False),
        sa.Column("battery", sa.Float(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("movement_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_positions")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_tracking_positions_device_id_seq")),
    )
    with op.batch_alter_table("tracking_positions", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_positions_movement_time", ["movement_id", "time"], unique=False)

    op.create_table(
        "tracking_device_states",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("movement_id", sa.Uuid(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_time", UTCDateTime(), nullable=True),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("outside_since", UTCDateTime(), nullable=True),
        sa.Column("stopped_since", UTCDateTime(), nullable=True),
        sa.Column("raised", JSON, nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["tracking_devices.id"],
            name=op.f("fk_tracking_device_states_device_id_tracking_devices"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_tracking_device_states")),
    )
    with op.batch_alter_table("tracking_device_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_device_states_movement_id"), ["movement_id"], unique=False
        )

    op.create_table(
        "tracking_gaps",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("after_seq", sa.BigInteger(), nullable=False),
        sa.Column("before_seq", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_gaps")),
    )
    with op.batch_alter_table("tracking_gaps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_gaps_device_id"), ["device_id"], unique=False)

    op.create_table(
        "tracking_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("movement_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_alerts")),
    )
    with op.batch_alter_table("tracking_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracking_alerts_movement_id"), ["movement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracking_alerts_state"), ["state"], unique=False)

    rejections = op.create_table(
        "tracking_rejections",
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=True),
        sa.Column("last_detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("reason", name=op.f("pk_tracking_rejections")),
    )
    op.bulk_insert(rejections, [{"reason": reason, "count": 0} for reason in REASONS])


def downgrade() -> None:
    op.drop_table("tracking_rejections")
    for name, indexes in (
        ("tracking_alerts", ("ix_tracking_alerts_movement_id", "ix_tracking_alerts_state")),
        ("tracking_gaps", ("ix_tracking_gaps_device_id",)),
        ("tracking_device_states", ("ix_tracking_device_states_movement_id",)),
        ("tracking_positions", ("ix_tracking_positions_movement_time",)),
        ("tracking_movements", ("ix_tracking_movements_state",)),
        ("tracking_devices", ("ix_tracking_devices_gateway_id",)),
    ):
        with op.batch_alter_table(name, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(name)
