"""Interchanges for the EDIFACT tests, written by the modules under test and by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.exchange.edifact import cuscar, cusdec, syntax

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def cusdec_interchange(*documents: dict[str, Any], control: str = "1") -> str:
    parsed = [DeclarationDocument.model_validate(document) for document in documents]
    return syntax.serialize(
        cusdec.messages(parsed),
        sender=parsed[0].declarant.id,
        recipient="KRCUSTOMS",
        control_reference=control,
        at=AT,
    )


def cuscar_interchange(manifest: cuscar.Manifest, *, control: str = "9", at: datetime = AT) -> str:
    return syntax.serialize(
        [("1", cuscar.IDENTIFIER, cuscar.build(manifest))],
        sender="KR7000000001",
        recipient="KRCUSTOMS",
        control_reference=control,
        at=at,
    )


def segments(text: str) -> list[str]:
    """The interchange's segments as text, for tests that edit one by hand (no release characters in
    the test data)."""
    return [segment for segment in text.split("'") if segment]


def join(parts: list[str]) -> str:
    return "'".join(parts) + "'"


def recount(parts: list[str]) -> list[str]:
    """The segments with each UNT's count set to its message's segments again (after an edit)."""
    out, start = [], 0
    for number, part in enumerate(parts):
        if part.startswith("UNH"):
            start = number
        if part.startswith("UNT+"):
            reference = part.split("+")[2]
            part = f"UNT+{number - start + 1}+{reference}"
        out.append(part)
    return out
