"""The labelled history the model learns from: stored declarations and their officers' control outcomes.

Each declaration as lodged (document version 1: what the trader stated, before any officer's
correction), dated by its lodgement, labelled by the last `declaration.control_recorded` event of it
(irregularity 1, conforming 0). Declarations never controlled are kept with a NaN label (with
`unlabelled=True`): they are history for the features of later ones (counts, unit-value references),
not training rows.

This module reads the declarations' tables and the event log directly (read-only, one query each): the
declarations service has no bulk read of a year of documents, and going through its paged API would
cost a query per page and the visibility checks of a principal. It writes nothing.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.assessment import service as assessment
from customhouse.declarations.models import DeclarationRecord, DeclarationVersion
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.events import Event
from customhouse.risk.features import Records
from customhouse.risk.revenue import Case, cases_of
from customhouse.risk.scoring import record_of, records_of

CONTROL_RECORDED = "declaration.control_recorded"


@dataclass
class History:
    ids: list[uuid.UUID]
    records: Records
    labels: npt.NDArray[np.float64]  # 1 irregular, 0 conforming, NaN never controlled

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def known(self) -> npt.NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.labels), dtype=np.bool_)


def outcomes(session: Session) -> dict[str, str]:
    """The last control outcome of every controlled declaration, by declaration id (text)."""
    rows = session.execute(
        select(Event.aggregate_id, Event.data).where(Event.type == CONTROL_RECORDED).order_by(Event.id)
    )
    return {aggregate_id: str(data.get("outcome")) for aggregate_id, data in rows}


def recoveries(session: Session) -> list[Case]:
    """The goods items of every declaration whose last control found an irregularity that brought
    revenue in, as lodged (version 1), each with its share (see `risk.revenue`). The revenue is what
    the officer recorded, else what the corrected versions added to the first assessment."""
    last: dict[str, Any] = {}
    rows = session.execute(
        select(Event.aggregate_id, Event.data).where(Event.type == CONTROL_RECORDED).order_by(Event.id)
    )
    for aggregate_id, data in rows:
        last[aggregate_id] = data
    irregular = {uuid.UUID(key): data for key, data in last.items() if data.get("outcome") == "irregularity"}
    recorded = {
        key: data["revenue_recovered"] for key, data in irregular.items() if "revenue_recovered" in data
    }
    assessed = assessment.recovered(session, declaration_ids=sorted(set(irregular) - set(recorded)))
    recovered = {key: Decimal(str(value)) for key, value in recorded.items()} | assessed
    recovered = {key: value for key, value in recovered.items() if value > 0}
    cases: list[Case] = []
    ids = sorted(recovered)
    for start in range(0, len(ids), 500):
        query = select(DeclarationVersion.declaration_id, DeclarationVersion.document).where(
            DeclarationVersion.version == 1, DeclarationVersion.declaration_id.in_(ids[start : start + 500])
        )
        for declaration_id, document in session.execute(query):
            cases += cases_of(DeclarationDocument.model_validate(document), recovered[declaration_id])
    return cases


def labelled(
    session: Session, *, since: date | None = None, until: date | None = None, unlabelled: bool = False
) -> History:
    """Declarations lodged in [since, until] with their labels, oldest first: the controlled ones, and
    with `unlabelled` the others too (label NaN)."""
    known = outcomes(session)
    query = (
        select(DeclarationRecord.id, DeclarationRecord.lodged_at, DeclarationVersion.document)
        .join(DeclarationVersion, DeclarationVersion.declaration_id == DeclarationRecord.id)
        .where(DeclarationVersion.version == 1, DeclarationRecord.lodged_at.is_not(None))
        .order_by(DeclarationRecord.lodged_at, DeclarationRecord.id)
    )
    ids: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    labels: list[float] = []
    for declaration_id, lodged_at, data in session.execute(query):
        outcome = known.get(str(declaration_id))
        if outcome not in ("conforming", "irregularity") and not unlabelled:
            continue
        day = lodged_at.date()
        if (since and day < since) or (until and day > until):
            continue
        ids.append(declaration_id)
        rows.append(record_of(DeclarationDocument.model_validate(data), day))
        labels.append(1.0 if outcome == "irregularity" else 0.0 if outcome == "conforming" else float("nan"))
    return History(ids, records_of(rows), np.array(labels, dtype=np.float64))


def unit_value_bands(session: Session) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    """Mean and standard deviation of log(price per kg) per HS6, origin and invoice currency, over the
    goods items of every stored declaration's current version."""
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    query = select(DeclarationVersion.document).join(
        DeclarationRecord,
        (DeclarationRecord.id == DeclarationVersion.declaration_id)
        & (DeclarationRecord.version == DeclarationVersion.version),
    )
    for (data,) in session.execute(query):
        currency = data.get("invoice_currency", "")
        for item in data.get("goods_items", ()):
            price, mass = float(item["price"]), float(item["net_mass"])
            if price <= 0 or mass <= 0:
                continue
            log_unit_value = math.log(price / mass)
            total = sums[(item["hs_code"], item["origin"], currency)]
            total[0] += 1
            total[1] += log_unit_value
            total[2] += log_unit_value * log_unit_value
    bands = {}
    for key, (count, total_log, squares) in sums.items():
        mean = total_log / count
        variance = (squares - count * mean * mean) / (count - 1) if count > 1 else 0.0
        bands[key] = (mean, math.sqrt(max(variance, 0.0)), int(count))
    return bands
