"""edifact: manifest versions (BGM message function) and every document reference indexed

Cargo reports become versions of a sender's manifest number (9 original, 5 replacement, 1
cancellation), one row per version, unique on (sender, reference, version). Rows stored before are
numbered in the order received: a manifest stored twice (the bug this fixes) keeps both, the later in
force. Their digest is computed from the interchange kept in `body`.

`edifact_declaration_refs` gains kind "reference": every document reference a declaration's current
version names, so that partners' export data is matched by an index lookup.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 20:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

REPORTS = sa.table(
    "cargo_reports",
    sa.column("id", sa.Uuid()),
    sa.column("reference", sa.String()),
    sa.column("party_id", sa.String()),
    sa.column("submitted_by", sa.String()),
    sa.column("received_at", sa.String()),
    sa.column("body", sa.Text()),
    sa.column("sender", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("function", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("replaced_by", sa.Uuid()),
)


def _digests(body: str) -> dict[str, str]:
    """Manifest number -> digest of the first message carrying it in a stored interchange."""
    from customhouse.exchange.edifact import cuscar, syntax  # the reader of the time, for old rows

    out: dict[str, str] = {}
    try:
        messages = syntax.parse(body, expected=("CUSCAR",)).messages
    except syntax.EdifactError:
        return out
    for message in messages:
        try:
            manifest = cuscar.read(message)
        except syntax.EdifactError:
            continue
        out.setdefault(manifest.reference, cuscar.digest(manifest))
    return out


def _number_reports(connection: sa.Connection) -> None:
    rows = connection.execute(
        sa.select(
            REPORTS.c.id, REPORTS.c.reference, REPORTS.c.party_id, REPORTS.c.submitted_by, REPORTS.c.body
        ).order_by(REPORTS.c.received_at, REPORTS.c.id)
    ).all()
    last: dict[tuple[str, str], Any] = {}
    versions: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.party_id or row.submitted_by, row.reference)
        versions[key] = versions.get(key, 0) + 1
        connection.execute(
            REPORTS.update()
            .where(REPORTS.c.id == row.id)
            .values(
                sender=key[0],
                version=versions[key],
                function="9" if versions[key] == 1 else "5",
                digest=_digests(row.body).get(row.reference),
            )
        )
        if key in last:
            connection.execute(REPORTS.update().where(REPORTS.c.id == last[key]).values(replaced_by=row.id))
        last[key] = row.id


def _index_references(connection: sa.Connection) -> None:
    current = connection.execute(
        sa.text(
            "SELECT v.declaration_id, v.document FROM declaration_versions v "
            "JOIN declarations d ON d.id = v.declaration_id AND d.version = v.version"
        ).columns(sa.column("declaration_id", sa.Uuid()), sa.column("document", sa.JSON()))
    )
    refs = sa.table(
        "edifact_declaration_refs",
        sa.column("declaration_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("value", sa.String()),
    )
    rows = [
        {"declaration_id": declaration_id, "kind": "reference", "value": str(item["reference"])[:70]}
        for declaration_id, document in current
        for item in (document or {}).get("documents") or []
        if isinstance(item, dict) and item.get("reference")
    ]
    if rows:
        connection.execute(refs.insert(), rows)


def upgrade() -> None:
    with op.batch_alter_table("cargo_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("function", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("replaced_by", sa.Uuid(), nullable=True))
    connection = op.get_bind()
    _number_reports(connection)
    with op.batch_alter_table("cargo_reports", schema=None) as batch_op:
        batch_op.alter_column("sender", existing_type=sa.String(length=128), nullable=False)
        batch_op.alter_column("version", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("function", existing_type=sa.String(length=3), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_cargo_reports_sender_reference_version"), ["sender", "reference", "version"]
        )
    _index_references(connection)


def downgrade() -> None:
    op.execute("DELETE FROM edifact_declaration_refs WHERE kind = 'reference'")
    with op.batch_alter_table("cargo_reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_cargo_reports_sender_reference_version"), type_="unique")
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("digest")
        batch_op.drop_column("function")
        batch_op.drop_column("version")
        batch_op.drop_column("sender")
