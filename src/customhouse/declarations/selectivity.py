"""The lane step, behind a port so that the risk engine can replace the default rule.

The default policy (`RequiredDocuments`) is deliberately plain: a declaration goes to the yellow lane
(documentary control) when a supporting document that its kind or its items require is missing, and
to the green lane otherwise. Required documents:

- every declaration: an invoice (a document of category `invoice` in reference/data/document_types.csv:
  380 commercial invoice or 325 proforma invoice);
- import and transit: a transport document (category `transport`: bills of lading, consignment notes,
  air waybills, despatch notes);
- any item that claims a preference (a preference code other than 100, erga omnes): a proof of origin
  (category `origin`: 861 certificate of origin, 862 declaration of origin, 865 GSP form).
The messages name the codes of each category as the list has them.
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
        missing.append(f"invoice: a commercial or proforma invoice ({_codes('invoice')}) is required")
    if document.kind in (Kind.IMPORT, Kind.TRANSIT) and "transport" not in categories:
        missing.append(f"transport: a transport document ({_codes('transport')}) is required")
    claiming = [item.sequence for item in document.goods_items if item.preference != "100"]
    if claiming and "origin" not in categories:
        missing.append(
            f"origin: items {claiming} claim a preference without a proof of origin ({_codes('origin')})"
        )
    return missing


def _codes(category: str) -> str:
    return ", ".join(code for code, (_, kind) in codes.document_types().items() if kind == category)


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
