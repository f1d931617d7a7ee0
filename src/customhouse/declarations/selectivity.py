"""The lane step, behind a port so that the risk engine can replace the default rule.

The default policy (`RequiredDocuments`) is deliberately plain: a declaration goes to the yellow lane
(documentary control) when a supporting document that its kind or its items require is missing, and
to the green lane otherwise. Required documents:

- every declaration: a commercial invoice (380) or a proforma invoice (325);
- import and transit: a transport document (705, 706, 720, 730, 740 or 750);
- any item that claims a preference (a preference code other than 100, erga omnes): a proof of origin
  (861 certificate of origin or 865 origin declaration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from customhouse.declarations.schemas import DeclarationDocument, Kind, Lane
from customhouse.reference import codes


@dataclass(frozen=True, slots=True)
class LaneDecision:
    lane: Lane
    reasons: list[str] = field(default_factory=list)


class LaneSelector(Protocol):
    """`session`: the caller's transaction, when it has one at hand (a selector that reads the database
    may use it, else its own); `at`: the time of the decision (of acceptance); `again`: the selection
    of an amended version, so that what a selector counts per declaration is counted once."""

    def select(
        self,
        document: DeclarationDocument,
        *,
        session: Session | None = None,
        at: datetime | None = None,
        again: bool = False,
    ) -> LaneDecision: ...


def missing_documents(document: DeclarationDocument) -> list[str]:
    """The required document categories that `document` lacks, each with why it is required."""
    categories = {codes.document_types()[supporting.type][1] for supporting in document.documents}
    missing = []
    if "invoice" not in categories:
        missing.append("invoice: a commercial or proforma invoice (380, 325) is required")
    if document.kind in (Kind.IMPORT, Kind.TRANSIT) and "transport" not in categories:
        missing.append("transport: a transport document (705, 706, 720, 730, 740, 750) is required")
    claiming = [item.sequence for item in document.goods_items if item.preference != "100"]
    if claiming and "origin" not in categories:
        missing.append(f"origin: items {claiming} claim a preference without a proof of origin (861, 865)")
    return missing


class RequiredDocuments:
    """Yellow when a required supporting document is missing, otherwise green."""

    def select(
        self,
        document: DeclarationDocument,
        *,
        session: Session | None = None,
        at: datetime | None = None,
        again: bool = False,
    ) -> LaneDecision:
        missing = missing_documents(document)
        if missing:
            return LaneDecision(Lane.YELLOW, [f"missing document {reason}" for reason in missing])
        return LaneDecision(Lane.GREEN, ["all required supporting documents present"])
