"""Pre-arrival data against an import declaration: which import a partner's export is, and where the
two disagree (value, quantity, origin): the risk signals a supervisor looks at.

Matching: an explicit reference (the import names the export's MRN as a supporting document) is
enough; otherwise at least two of exporter id, container and transport document must agree (one
container alone is shared by too many consignments). Pure: no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# UN/EDIFACT 1001 codes of transport documents (names as in UNTDID D.96B): 703 house waybill, 704 master
# bill of lading, 705 bill of lading, 706 bill of lading original, 710 sea waybill, 714 house bill of
# lading, 720 rail and 730 road consignment note, 740 air waybill, 741 master air waybill, 750 despatch
# note (post parcels).
TRANSPORT_DOCUMENTS = frozenset({"703", "704", "705", "706", "710", "714", "720", "730", "740", "741", "750"})


@dataclass(frozen=True, slots=True)
class Finding:
    field: str  # value, quantity or origin
    pointer: str  # into the import declaration
    exported: str
    declared: str
    detail: str


def export_keys(payload: Mapping[str, Any]) -> dict[str, set[str]]:
    """What identifies the consignment in the partner's export data."""
    exporter = payload.get("exporter") or {}
    return {
        "reference": {str(payload["mrn"])} if payload.get("mrn") else set(),
        "exporter": {str(exporter["id"])} if isinstance(exporter, Mapping) and exporter.get("id") else set(),
        "container": {str(value) for value in payload.get("containers") or []},
        "transport_document": {str(value) for value in payload.get("transport_documents") or []},
    }


def import_keys(document: Mapping[str, Any]) -> dict[str, set[str]]:
    """The same identifiers as an import declaration states them."""
    documents = [item for item in document.get("documents") or [] if isinstance(item, Mapping)]
    exporter = document.get("exporter") or document.get("seller") or {}
    return {
        "reference": {str(item.get("reference")) for item in documents},
        "exporter": {str(exporter["id"])} if isinstance(exporter, Mapping) and exporter.get("id") else set(),
        "container": {str(value) for value in document.get("containers") or []},
        "transport_document": {
            str(item.get("reference")) for item in documents if item.get("type") in TRANSPORT_DOCUMENTS
        },
    }


def matched_by(exported: Mapping[str, set[str]], declared: Mapping[str, set[str]]) -> str | None:
    """How the two match ("reference", or the identifiers that agree joined by '+'), or None."""
    if exported["reference"] & declared["reference"]:
        return "reference"
    agreeing = [
        name for name in ("exporter", "container", "transport_document") if exported[name] & declared[name]
    ]
    return "+".join(agreeing) if len(agreeing) >= 2 else None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def compare(payload: Mapping[str, Any], document: Mapping[str, Any], *, tolerance: Decimal) -> list[Finding]:
    """Where the import declaration disagrees with the export data; only fields the export data
    carries are compared. Values are compared in the same currency only, `tolerance` a share."""
    findings: list[Finding] = []
    exported_total = _decimal(payload.get("invoice_total"))
    declared_total = _decimal(document.get("invoice_total"))
    if (
        exported_total is not None
        and declared_total is not None
        and payload.get("invoice_currency") == document.get("invoice_currency")
        and abs(exported_total - declared_total) > tolerance * exported_total
    ):
        currency = document.get("invoice_currency")
        findings.append(
            Finding(
                "value",
                "/invoice_total",
                f"{_text(exported_total)} {currency}",
                f"{_text(declared_total)} {currency}",
                f"the declared value differs from the exported one by "
                f"{_text(declared_total - exported_total)} {currency}",
            )
        )
    exported_items = [item for item in payload.get("goods_items") or [] if isinstance(item, Mapping)]
    declared_items = list(document.get("goods_items") or [])
    first: dict[str, int] = {}
    for index, item in enumerate(declared_items):
        first.setdefault(str(item.get("hs_code")), index)
    if exported_items and all("quantity" in item and "hs_code" in item for item in exported_items):
        findings += _quantities(exported_items, declared_items, first)
    if exported_items and all("origin" in item and "hs_code" in item for item in exported_items):
        findings += _origins(exported_items, declared_items, first)
    return findings


def _quantities(
    exported: list[Mapping[str, Any]], declared: list[Any], first: dict[str, int]
) -> list[Finding]:
    def totals(items: list[Any]) -> dict[tuple[str, str], Decimal]:
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for item in items:
            out[str(item.get("hs_code")), str(item.get("unit"))] += _decimal(item.get("quantity")) or Decimal(
                0
            )
        return out

    sent, got = totals(exported), totals(declared)
    findings = []
    for hs, unit in sorted(sent.keys() | got.keys()):
        quantity, stated = sent.get((hs, unit), Decimal(0)), got.get((hs, unit), Decimal(0))
        if stated != quantity:  # goods exported but not declared here count, and the other way round
            index = first.get(hs)
            findings.append(
                Finding(
                    "quantity",
                    f"/goods_items/{index}/quantity" if index is not None else "/goods_items",
                    f"{_text(quantity)} {unit} of {hs}",
                    f"{_text(stated)} {unit} of {hs}",
                    f"HS {hs}: {_text(quantity)} {unit} exported, {_text(stated)} declared",
                )
            )
    return findings


def _origins(exported: list[Mapping[str, Any]], declared: list[Any], first: dict[str, int]) -> list[Finding]:
    def origins(items: list[Any]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for item in items:
            out[str(item.get("hs_code"))].add(str(item.get("origin")))
        return out

    sent, got = origins(exported), origins(declared)
    findings = []
    for hs, countries in sorted(sent.items()):
        if hs in got and got[hs] != countries:
            findings.append(
                Finding(
                    "origin",
                    f"/goods_items/{first[hs]}/origin",
                    ",".join(sorted(countries)),
                    ",".join(sorted(got[hs])),
                    f"HS {hs}: exported as of origin {','.join(sorted(countries))}, declared as "
                    f"{','.join(sorted(got[hs]))}",
                )
            )
    return findings
