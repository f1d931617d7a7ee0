"""The assessment of accepted declarations: the adapter of the declarations' assessment port.

After acceptance, and again after each amendment or control correction (`declarations.service.assess`
calls it from the event dispatcher), an import declaration is assessed under the tariff in force on
its date of law (the local date of acceptance, where the administration is) with the ECB rate of that
date; the breakdown is stored per document version, never changed after. The difference with what was
already paid becomes what is owed (a payment order, secured at once from the declarant's deferment
account or guarantee when it covers it) or a refund. Exports and transit owe nothing here (a transit
guarantee is the transit procedure's business).

Quotas are drawn on only when an item can use one, and only after the declaration was assessed once
without drawing: an error found then (a missing quantity, say) leaves no quota drawn for a declaration
that is refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.assessment import currency
from customhouse.assessment.breakdown import Grant, landed_cost
from customhouse.assessment.models import AssessmentRecord
from customhouse.assessment.schemas import AdvisoryItem, LandedCost, LandedCostRequest
from customhouse.auth.service import Principal
from customhouse.db import table
from customhouse.declarations.schemas import DeclarationDocument, Kind
from customhouse.declarations.settlement import Settlement, ToAssess
from customhouse.payments import service as payments
from customhouse.problems import Problem
from customhouse.reference import codes
from customhouse.reference.zones import today_in
from customhouse.tariff import service as tariff_service
from customhouse.tariff.measures import number
from customhouse.tariff.selection import Quota, Tariff

NO_TARIFF = "no tariff is in force: an administrator imports one with `customhouse tariff import`"
ERGA_OMNES = "100"  # the preference code of goods that claim no preference


class Assessment(BaseModel):
    """One version's assessment as the trader and the officer see it."""

    declaration_id: uuid.UUID
    version: int
    assessed_at: datetime
    date_of_law: date
    currency: str
    total: Decimal
    difference: Decimal
    paid_before: Decimal
    owed: Decimal
    refund: Decimal
    settled: bool
    order_id: uuid.UUID | None
    breakdown: LandedCost


@dataclass(frozen=True, slots=True)
class _Assessed:
    job: ToAssess
    on: date
    result: LandedCost
    drawn: dict[str, Decimal]  # quota id -> quantity granted


class TariffAssessor:
    """Assesses import declarations under the tariff in force and makes the payments domain hold
    what they owe (declarations.settlement.Assessor)."""

    def __init__(self, *, country: str, currency: str, rates: currency.RateTable) -> None:
        self.country = country
        self.currency = currency
        self.rates = rates

    def required(self, document: DeclarationDocument) -> bool:
        return document.kind is Kind.IMPORT

    def assess(
        self, session: Session, *, declarations: Sequence[ToAssess], by: Principal
    ) -> list[Settlement | Problem]:
        nothing = Settlement(Decimal(0), self.currency, True)
        answers: list[Settlement | Problem] = [nothing] * len(declarations)
        imports = [(i, job) for i, job in enumerate(declarations) if self.required(job.document)]
        done = _assessed_versions(session, [job.declaration_id for _, job in imports])
        for index, job in imports:
            if (record := done.get((job.declaration_id, job.version))) is not None:  # delivered twice
                answers[index] = _settlement(payments.standing(session, due=_due(record)))
        imports = [(i, job) for i, job in imports if (job.declaration_id, job.version) not in done]
        if not imports:
            return answers
        earlier: dict[uuid.UUID, AssessmentRecord] = {}  # each declaration's newest assessment, if any
        for record in sorted(done.values(), key=lambda record: record.version):
            earlier[record.declaration_id] = record
        tariff = tariff_service.current(session)
        if tariff is None:
            for index, _job in imports:
                answers[index] = Problem(503, "not-assessable", NO_TARIFF)
            return answers
        assessed: list[tuple[int, _Assessed]] = []
        for index, job in imports:
            try:
                assessed.append(
                    (index, self._assess_one(session, tariff, job, earlier.get(job.declaration_id)))
                )
            except Problem as problem:
                answers[index] = problem
            except currency.RateError as error:  # the administration's rates, not the declarant's doing
                answers[index] = Problem(503, "not-assessable", f"the duties cannot be assessed now: {error}")
        for index, settlement in zip(
            [index for index, _ in assessed],
            self._store(session, [a for _, a in assessed], earlier, by),
            strict=True,
        ):
            answers[index] = settlement
        return answers

    def _assess_one(
        self, session: Session, tariff: Tariff, job: ToAssess, earlier: AssessmentRecord | None
    ) -> _Assessed:
        on = today_in(self.country, job.accepted_at)
        request = _request(job.document)
        wanted: list[str] = []

        def probe(quota: Quota, quantity: Decimal) -> tuple[Decimal, str]:
            wanted.append(quota.id)
            return Decimal(0), ""

        result = landed_cost(tariff, request, on=on, grant=probe, rates=self.rates)
        drawn: dict[str, Decimal] = {}
        for quota_id, quantity in (earlier.quotas if earlier else {}).items():
            # what the previous version drew goes back before this one draws
            tariff_service.give_back(session, quota_id=quota_id, quantity=Decimal(quantity))
        if wanted:  # the declaration is assessable: now draw on the quota for real
            grant = _drawer(session, on, drawn)
            result = landed_cost(tariff, request, on=on, grant=grant, rates=self.rates)
        return _Assessed(job, on, result, drawn)

    def _store(
        self,
        session: Session,
        assessed: list[_Assessed],
        earlier: dict[uuid.UUID, AssessmentRecord],
        by: Principal,
    ) -> list[Settlement]:
        if not assessed:
            return []
        reassessed = [one.job.declaration_id for one in assessed if one.job.declaration_id in earlier]
        previous = {declaration_id: Decimal(earlier[declaration_id].total) for declaration_id in reassessed}
        paid = payments.paid(session, declaration_ids=reassessed) if reassessed else {}
        rows: list[dict[str, Any]] = []
        for one in assessed:
            declaration_id = one.job.declaration_id
            total = one.result.duties_and_taxes.amount
            before = paid.get(declaration_id, Decimal(0))
            rows.append(
                {
                    "declaration_id": declaration_id,
                    "version": one.job.version,
                    "declarant_id": one.job.document.declarant.id,
                    "assessed_at": one.job.at,
                    "assessed_by": by.name,
                    "date_of_law": one.on,
                    "currency": one.result.national_currency,
                    "customs_value": one.result.customs_value.amount,
                    "total": total,
                    "difference": total - previous.get(declaration_id, Decimal(0)),
                    "paid_before": before,
                    "owed": max(total - before, Decimal(0)),
                    "refund": max(before - total, Decimal(0)),
                    "breakdown": one.result.model_dump(mode="json"),
                    "quotas": {quota: f"{quantity.normalize():f}" for quota, quantity in one.drawn.items()},
                }
            )
        session.execute(insert(table(AssessmentRecord)), rows)
        dues = [
            payments.Due(
                row["declaration_id"],
                row["version"],
                row["declarant_id"],
                row["owed"],
                row["currency"],
                row["assessed_at"],
            )
            for row in rows
        ]
        standings = payments.settle(session, dues=dues, actor=by.name, replacing=bool(reassessed))
        return [
            _settlement(standings[due.declaration_id], [_event(row, by)])
            for due, row in zip(dues, rows, strict=True)
        ]

    def settlement(
        self, session: Session, *, declaration_id: uuid.UUID, version: int, document: DeclarationDocument
    ) -> Settlement:
        if not self.required(document):
            return Settlement(Decimal(0), self.currency, True)
        record = _latest(session, declaration_id)
        if record is None or record.version != version:
            return Settlement(Decimal(0), self.currency, False, assessed=False)
        return _settlement(payments.standing(session, due=_due(record)))


def _settlement(standing: payments.Standing, happened: list[events.DomainEvent] | None = None) -> Settlement:
    return Settlement(
        owed=standing.owed,
        currency=standing.currency,
        settled=standing.settled,
        order_id=standing.order_id,
        paid=standing.paid,
        happened=happened or [],
    )


def _due(record: AssessmentRecord) -> payments.Due:
    return payments.Due(
        record.declaration_id, record.version, record.declarant_id, Decimal(record.owed), record.currency
    )


def _event(row: dict[str, Any], by: Principal) -> events.DomainEvent:
    return events.DomainEvent(
        type="declaration.assessed",
        aggregate_type="declaration",
        aggregate_id=str(row["declaration_id"]),
        actor=by.name,
        actor_party=by.party_id,
        data={
            "version": row["version"],
            "date_of_law": row["date_of_law"].isoformat(),
            "currency": row["currency"],
            **{key: f"{row[key].normalize():f}" for key in ("total", "difference", "owed", "refund")},
        },
        occurred_at=row["assessed_at"],
    )


def _drawer(session: Session, on: date, drawn: dict[str, Decimal]) -> Grant:
    """Draws on quotas for real, first come first served, and notes in `drawn` what was granted."""

    def draw(quota: Quota, wanted: Decimal) -> tuple[Decimal, str]:
        granted = tariff_service.allocate(session, quota_id=quota.id, quantity=wanted, on=on)
        drawn[quota.id] = drawn.get(quota.id, Decimal(0)) + granted
        return granted, (
            f"quota {quota.id}: {number(granted)} {quota.unit} granted of {number(wanted)} asked, "
            "first come first served"
        )

    return draw


def _request(document: DeclarationDocument) -> LandedCostRequest:
    """The goods of a declaration as the breakdown reads them; pointers stay the declaration's."""
    proven = any(codes.document_types()[d.type][1] == "origin" for d in document.documents)
    exporter = document.exporter or document.seller
    return LandedCostRequest.model_construct(
        invoice_currency=document.invoice_currency,
        incoterm=document.incoterm,
        freight=document.freight,
        insurance=document.insurance,
        date=None,
        goods_items=[
            AdvisoryItem.model_construct(
                hs_code=item.hs_code + (item.national_code or ""),
                origin=item.origin,
                price=item.price,
                quantity=item.quantity,
                unit=item.unit,
                net_mass=item.net_mass,
                alcohol_strength=item.alcohol_strength,
                preference_claimed=item.preference != ERGA_OMNES,
                proof_of_origin=proven,
                exporter=exporter.name if exporter else None,
            )
            for item in document.goods_items
        ],
    )


def _assessed_versions(
    session: Session, declaration_ids: list[uuid.UUID]
) -> dict[tuple[uuid.UUID, int], AssessmentRecord]:
    if not declaration_ids:
        return {}
    records = session.scalars(
        select(AssessmentRecord).where(AssessmentRecord.declaration_id.in_(declaration_ids))
    )
    return {(record.declaration_id, record.version): record for record in records}


def _latest(session: Session, declaration_id: uuid.UUID) -> AssessmentRecord | None:
    return session.scalars(
        select(AssessmentRecord)
        .where(AssessmentRecord.declaration_id == declaration_id)
        .order_by(AssessmentRecord.version.desc())
        .limit(1)
    ).first()


def recovered(session: Session, *, declaration_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """What the later versions of each declaration added to its first assessment (a control's
    corrections, an amendment), where they added anything: revenue an irregularity brought in."""
    first: dict[uuid.UUID, Decimal] = {}
    last: dict[uuid.UUID, Decimal] = {}
    for start in range(0, len(declaration_ids), 500):
        rows = session.execute(
            select(AssessmentRecord.declaration_id, AssessmentRecord.total)
            .where(AssessmentRecord.declaration_id.in_(declaration_ids[start : start + 500]))
            .order_by(AssessmentRecord.declaration_id, AssessmentRecord.version)
        )
        for declaration_id, total in rows:
            first.setdefault(declaration_id, total)
            last[declaration_id] = total
    return {key: last[key] - total for key, total in first.items() if last[key] > total}


def assessments(session: Session, *, declaration_id: uuid.UUID) -> list[Assessment]:
    """Every assessment of a declaration, oldest first, with where the newest stands. The caller has
    checked that its principal may see the declaration."""
    records = session.scalars(
        select(AssessmentRecord)
        .where(AssessmentRecord.declaration_id == declaration_id)
        .order_by(AssessmentRecord.version)
    ).all()
    answers = []
    for record in records:
        standing = payments.standing(session, due=_due(record))
        answers.append(
            Assessment(
                declaration_id=record.declaration_id,
                version=record.version,
                assessed_at=record.assessed_at,
                date_of_law=record.date_of_law,
                currency=record.currency,
                total=record.total,
                difference=record.difference,
                paid_before=record.paid_before,
                owed=record.owed,
                refund=record.refund,
                settled=standing.settled,
                order_id=standing.order_id,
                breakdown=LandedCost.model_validate(record.breakdown),
            )
        )
    return answers
