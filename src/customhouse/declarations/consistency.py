"""Rules across fields of one declaration document; pure, no database.

Each rule names the field it faults by JSON pointer (RFC 6901), so that the client can show the
message next to the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from customhouse.declarations.schemas import DeclarationDocument, Kind
from customhouse.reference import codes


@dataclass(frozen=True, slots=True)
class FieldProblem:
    pointer: str
    detail: str


def check(
    document: DeclarationDocument, *, country: str, tolerance: Decimal, today: date
) -> list[FieldProblem]:
    """Every cross-field problem of `document` for the administration of `country`."""
    problems: list[FieldProblem] = []
    add = problems.append
    offices = codes.offices()

    if offices[document.office_of_lodgement].country != country:
        add(FieldProblem("/office_of_lodgement", f"must be an office of this administration ({country})"))
    for field in ("office_of_entry", "office_of_exit", "office_of_destination"):
        code = getattr(document, field)
        if field != "office_of_destination" and code and offices[code].country != country:
            add(FieldProblem(f"/{field}", f"must be an office of this administration ({country})"))

    if document.kind is Kind.IMPORT:
        if document.importer is None:
            add(FieldProblem("/importer", "is required on an import declaration"))
        if document.country_of_destination != country:
            add(FieldProblem("/country_of_destination", f"must be {country} on an import declaration"))
        if document.pre_arrival and document.office_of_entry is None:
            add(FieldProblem("/office_of_entry", "is required on a pre-arrival declaration"))
    elif document.kind is Kind.EXPORT:
        if document.exporter is None:
            add(FieldProblem("/exporter", "is required on an export declaration"))
        if document.country_of_dispatch != country:
            add(FieldProblem("/country_of_dispatch", f"must be {country} on an export declaration"))
        if document.office_of_exit is None:
            add(FieldProblem("/office_of_exit", "is required on an export declaration"))
    elif document.office_of_destination is None:
        add(FieldProblem("/office_of_destination", "is required on a transit declaration"))
    elif document.office_of_destination == document.office_of_lodgement:
        add(FieldProblem("/office_of_destination", "must differ from the office of departure (lodgement)"))

    if document.representative and document.representative.id == document.declarant.id:
        add(FieldProblem("/representative/id", "must differ from the declarant's id"))
    seen: set[str] = set()
    for index, container in enumerate(document.containers):
        if container in seen:
            add(FieldProblem(f"/containers/{index}", f"{container} is listed twice"))
        seen.add(container)
    for index, supporting in enumerate(document.documents):
        if supporting.issued_on > today:
            add(
                FieldProblem(
                    f"/documents/{index}/issued_on", f"must not be after today ({today.isoformat()})"
                )
            )

    problems += numbering(document)
    total = Decimal(0)
    for index, item in enumerate(document.goods_items):
        if item.net_mass > item.gross_mass:
            add(
                FieldProblem(
                    f"/goods_items/{index}/net_mass", f"must not exceed the gross mass ({item.gross_mass})"
                )
            )
        total += item.price
    allowed = document.invoice_total * tolerance
    if abs(total - document.invoice_total) > allowed:
        add(
            FieldProblem(
                "/invoice_total",
                f"must equal the sum of the items' prices ({total}) within {tolerance:%} "
                f"(at most {allowed:.2f} {document.invoice_currency} apart)",
            )
        )
    return problems


def numbering(document: DeclarationDocument) -> list[FieldProblem]:
    """Items are numbered 1, 2, 3...: checked on drafts too, as the store keys items by number."""
    return [
        FieldProblem(f"/goods_items/{index}/sequence", f"must be {index + 1}: items are numbered 1, 2, 3...")
        for index, item in enumerate(document.goods_items)
        if item.sequence != index + 1
    ]
