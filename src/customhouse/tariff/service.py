"""Tariff operations: replace the tariff in force, load it, allocate and give back quota volume.

Service functions never commit (the CLI does), so a failed import leaves the previous tariff in force.

Quota allocation is first come first served and atomic: `UPDATE ... SET balance = balance - :q WHERE
id = :id AND balance >= :q`. When the balance is smaller than the request, the request takes what is
left (partial allocation) with a compare-and-swap `UPDATE ... SET balance = 0 WHERE balance = :seen`,
retried while other lodgements move the balance; the item is then split pro rata between the in-quota
rate and the duty otherwise due. The balance never goes below zero (also a CHECK constraint).

On re-import, a quota keeps what was already drawn on it: its new balance is the new volume minus
the volume used so far (never below zero), so replacing the tariff mid-period grants nothing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.db import table, utcnow
from customhouse.money import Rounding, from_thousandths, to_thousandths
from customhouse.tariff import schemas
from customhouse.tariff.models import TariffGroup, TariffImport, TariffMeasure, TariffQuota
from customhouse.tariff.selection import (
    Group,
    Measure,
    Quota,
    Role,
    Tariff,
)


@dataclass(frozen=True, slots=True)
class ImportReport:
    name: str
    measures: int
    groups: int
    quotas: int
    sha256: str


def replace_tariff(session: Session, *, text: str, source: str, by: str) -> ImportReport:
    """Validate the whole file, then replace the tariff in force with it (the caller commits)."""
    parsed = schemas.parse(text, file=source)
    used = {
        row.id: row.volume_milli - row.balance_milli
        for row in session.execute(
            select(TariffQuota.id, TariffQuota.volume_milli, TariffQuota.balance_milli)
        )
    }
    session.execute(delete(TariffMeasure))
    session.execute(delete(TariffGroup))
    session.execute(delete(TariffQuota))
    if parsed.groups:
        session.execute(
            insert(table(TariffGroup)),
            [{"id": g.id, "kind": g.kind, "name": g.name, "countries": g.countries} for g in parsed.groups],
        )
    if parsed.quotas:
        session.execute(
            insert(table(TariffQuota)),
            [_quota_row(quota, used.get(quota.id, 0)) for quota in parsed.quotas],
        )
    rows: list[dict[str, object]] = []
    for line in parsed.lines:
        prefix = "" if line.hs == "*" else line.hs
        for record in line.measures:
            rows.append(_measure_row(record, prefix, len(rows)))
    session.execute(insert(table(TariffMeasure)), rows)
    digest = hashlib.sha256(text.encode()).hexdigest()
    at = utcnow()
    session.add(
        TariffImport(
            name=parsed.name,
            country=parsed.country,
            currency=parsed.currency,
            rounding=str(parsed.rounding),
            places=parsed.places,
            source=source,
            sha256=digest,
            measures=len(rows),
            imported_at=at,
            imported_by=by,
        )
    )
    events.record(
        session,
        [
            events.DomainEvent(
                type="tariff.imported",
                aggregate_type="tariff",
                aggregate_id=parsed.country,
                actor=by,
                data={"name": parsed.name, "source": source, "sha256": digest, "measures": len(rows)},
                occurred_at=at,
            )
        ],
    )
    session.flush()
    return ImportReport(parsed.name, len(rows), len(parsed.groups), len(parsed.quotas), digest)


def _quota_row(quota: schemas.QuotaRecord, used_milli: int) -> dict[str, object]:
    volume = to_thousandths(quota.volume, Rounding.HALF_UP)
    return {
        "id": quota.id,
        "description": quota.description,
        "unit": quota.unit,
        "volume_milli": volume,
        "balance_milli": max(volume - used_milli, 0),
        "valid_from": quota.valid_from,
        "valid_to": quota.valid_to,
    }


def _measure_row(record: schemas.MeasureRecord, prefix: str, position: int) -> dict[str, object]:
    return {
        "id": record.id,
        "position": position,
        "hs": prefix,
        "role": str(record.type),
        "duty": schemas.duty_record(record.duty()),
        "valid_from": record.valid_from,
        "valid_to": record.valid_to,
        "origins": sorted(record.origins),
        "excluded_origins": sorted(record.excluded_origins),
        "group_id": record.group,
        "exporter": record.exporter,
        "quota_id": record.quota,
    }


def is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(TariffImport)) == 0


_loaded: dict[str, Tariff] = {}  # by the SHA-256 of the imported file: the same file, the same tariff


def current(session: Session) -> Tariff | None:
    """The tariff in force, in memory, or None before the first import. Built from the database once
    per imported file, not on every call: the public landed-cost estimate asks for it per request."""
    header = session.scalars(select(TariffImport).order_by(TariffImport.id.desc()).limit(1)).first()
    if header is None:
        return None
    if (cached := _loaded.get(header.sha256)) is not None:
        return cached
    lines: dict[str, list[Measure]] = {}
    for row in session.scalars(select(TariffMeasure).order_by(TariffMeasure.position)):
        lines.setdefault(row.hs, []).append(
            Measure(
                id=row.id,
                role=Role(row.role),
                hs=row.hs,
                duty=schemas.duty_from_record(row.duty),
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                origins=frozenset(row.origins),
                excluded_origins=frozenset(row.excluded_origins),
                group=row.group_id,
                exporter=row.exporter,
                quota=row.quota_id,
            )
        )
    groups = {
        g.id: Group(g.id, g.kind, g.name, frozenset(g.countries))
        for g in session.scalars(select(TariffGroup))
    }
    quotas = {
        q.id: Quota(q.id, from_thousandths(q.volume_milli), q.unit, q.valid_from, q.valid_to, q.description)
        for q in session.scalars(select(TariffQuota))
    }
    tariff = Tariff(
        header.name, header.currency, Rounding(header.rounding), header.places, groups, quotas, lines
    )
    if len(_loaded) >= 8:
        _loaded.clear()
    _loaded[header.sha256] = tariff
    return tariff


def balance(session: Session, *, quota_id: str) -> Decimal:
    milli = session.scalar(select(TariffQuota.balance_milli).where(TariffQuota.id == quota_id))
    if milli is None:
        raise KeyError(quota_id)
    return from_thousandths(milli)


def allocate(session: Session, *, quota_id: str, quantity: Decimal, on: date) -> Decimal:
    """Draw `quantity` (in the quota's unit) from the quota, first come first served: all of it when the
    balance allows, else what is left; returns the quantity granted (0 outside the quota's period)."""
    wanted = to_thousandths(quantity, Rounding.HALF_UP)
    if wanted <= 0:
        return Decimal(0)
    quotas = table(TariffQuota)
    in_period = (quotas.c.id == quota_id) & (quotas.c.valid_from <= on) & (quotas.c.valid_to >= on)
    full = session.execute(
        update(quotas)
        .where(in_period & (quotas.c.balance_milli >= wanted))
        .values(balance_milli=quotas.c.balance_milli - wanted)
    )
    if full.rowcount == 1:  # type: ignore[attr-defined]
        return from_thousandths(wanted)
    while True:
        seen = session.scalar(select(quotas.c.balance_milli).where(in_period))
        if not seen or seen <= 0:
            return Decimal(0)
        take = min(int(seen), wanted)  # a re-import may have raised the balance since the first try
        taken = session.execute(
            update(quotas)
            .where(in_period & (quotas.c.balance_milli == seen))
            .values(balance_milli=int(seen) - take)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return from_thousandths(take)


def give_back(session: Session, *, quota_id: str, quantity: Decimal) -> None:
    """Return `quantity` drawn earlier (a declaration reassessed after amendment draws anew); the balance
    never exceeds the quota's volume (a re-import may have lowered it meanwhile)."""
    milli = to_thousandths(quantity, Rounding.HALF_UP)
    quotas = table(TariffQuota)
    returned = quotas.c.balance_milli + milli
    session.execute(
        update(quotas)
        .where(quotas.c.id == quota_id)
        .values(balance_milli=case((returned > quotas.c.volume_milli, quotas.c.volume_milli), else_=returned))
    )
