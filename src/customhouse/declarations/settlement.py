"""The assessment step, behind a port: what a declaration owes after acceptance and after each amendment
or control correction, and whether that is paid or secured, for release waits for it (WTO TFA art. 7.3
lets a guarantee stand for payment). `declarations.service.assess` calls it after each such change.

The adapter (`assessment.service.TariffAssessor`) assesses duties and taxes from the tariff in force and
makes the payments domain hold what is owed; app.py builds it. Declarations see only `Settlement`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy.orm import Session

from customhouse.auth.service import Principal
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.events import DomainEvent
from customhouse.problems import Problem


@dataclass(frozen=True, slots=True)
class ToAssess:
    declaration_id: uuid.UUID
    version: int  # the document version the assessment is of
    document: DeclarationDocument
    accepted_at: datetime  # its local date is the date of law, also for later versions (UCC art. 85)
    at: datetime  # when this version is assessed: acceptance, amendment or correction


@dataclass(frozen=True, slots=True)
class Settlement:
    owed: Decimal  # what is still to pay after this assessment, in `currency` (0: nothing)
    currency: str
    settled: bool  # nothing owed, or paid, or secured by a guarantee
    order_id: uuid.UUID | None = None
    paid: bool = False
    assessed: bool = True  # False: an import whose current version awaits its assessment
    happened: list[DomainEvent] = field(default_factory=list)  # for the declaration's trail, after its own

    def describe(self) -> str:
        if not self.assessed:
            return "an amount not assessed yet"
        if self.owed == 0:
            return "nothing to pay"
        state = "paid" if self.paid else "secured" if self.settled else "to pay"
        return f"{self.owed.normalize():f} {self.currency} {state}"


class Assessor(Protocol):
    def required(self, document: DeclarationDocument) -> bool:
        """Whether the declaration owes duties to assess (an import) before its goods may go."""
        ...

    def assess(
        self, session: Session, *, declarations: Sequence[ToAssess], by: Principal
    ) -> list[Settlement | Problem]:
        """Assess each declaration version and make it owe the result; a version assessed already is not
        assessed again (its settlement, no new events). A problem for one leaves the others and
        stores nothing for it."""
        ...

    def settlement(
        self, session: Session, *, declaration_id: uuid.UUID, version: int, document: DeclarationDocument
    ) -> Settlement:
        """Where version `version` of the declaration stands now: not assessed, paid, secured or owed."""
        ...
