"""The declaration form: every field is named by its JSON pointer into the declaration document, so the
problem details the service returns (errors named by JSON pointer) land next to their fields, and the
user's input is put back exactly as typed. Pure: no database, no HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from customhouse.problems import FieldError


@dataclass(frozen=True, slots=True)
class Field:
    pointer: str  # relative to the document, or to a goods item for ITEM_FIELDS
    label: str
    kind: str = "text"  # text, number, date, checkbox, select
    options: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""


HEADER_FIELDS: tuple[Field, ...] = (
    Field("/kind", "Kind of declaration", "select", ("import", "export", "transit"), True),
    Field("/pre_arrival", "Lodged before the goods arrive", "checkbox"),
    Field("/lrn", "Local reference number (LRN)", required=True, hint="1 to 22 letters, digits, / _ . -"),
    Field("/declarant/id", "Declarant id", required=True, hint="e.g. KR1234567890"),
    Field("/declarant/name", "Declarant name", required=True),
    Field("/declarant/country", "Declarant country", required=True, hint="ISO 3166 code, e.g. KR"),
    Field("/representative/id", "Representative (broker) id"),
    Field("/representative/name", "Representative name"),
    Field("/representative/country", "Representative country"),
    Field("/importer/id", "Importer id"),
    Field("/importer/name", "Importer name"),
    Field("/importer/country", "Importer country"),
    Field("/exporter/id", "Exporter id"),
    Field("/exporter/name", "Exporter name"),
    Field("/exporter/country", "Exporter country"),
    Field("/seller/name", "Seller name"),
    Field("/seller/country", "Seller country"),
    Field("/buyer/name", "Buyer name"),
    Field("/buyer/country", "Buyer country"),
    Field("/office_of_lodgement", "Office of lodgement", required=True, hint="e.g. KR000040"),
    Field("/office_of_entry", "Office of entry"),
    Field("/office_of_exit", "Office of exit"),
    Field("/office_of_destination", "Office of destination (transit)"),
    Field("/transport_mode", "Transport mode", required=True, hint="UN/ECE Rec. 19: 1 sea, 3 road, 4 air"),
    Field("/means_of_transport_id", "Means of transport id"),
    Field("/containers/0", "Container number", hint="ISO 6346, e.g. CSQU3054383"),
    Field("/incoterm", "Incoterm", required=True, hint="e.g. CIF"),
    Field("/incoterm_place", "Incoterm place", required=True),
    Field("/invoice_currency", "Invoice currency", required=True, hint="ISO 4217, e.g. USD"),
    Field("/invoice_total", "Invoice total", "number", required=True),
    Field("/freight", "Freight", "number"),
    Field("/insurance", "Insurance", "number"),
    Field("/country_of_dispatch", "Country of dispatch", required=True),
    Field("/country_of_destination", "Country of destination", required=True),
    Field("/documents/0/type", "Document type", hint="UN/EDIFACT 1001, e.g. 380 invoice"),
    Field("/documents/0/reference", "Document reference"),
    Field("/documents/0/issued_on", "Document issued on", "date"),
)

ITEM_FIELDS: tuple[Field, ...] = (
    Field("/hs_code", "HS code", required=True, hint="6 digits, e.g. 610910"),
    Field("/description", "Description", required=True),
    Field("/origin", "Origin", required=True, hint="ISO 3166 code"),
    Field("/quantity", "Quantity", "number", required=True),
    Field("/unit", "Unit", required=True, hint="UN/ECE Rec. 20, e.g. C62, KGM"),
    Field("/gross_mass", "Gross mass (kg)", "number", required=True),
    Field("/net_mass", "Net mass (kg)", "number", required=True),
    Field("/price", "Price", "number", required=True),
    Field("/procedure", "Procedure", required=True, hint="4 digits, e.g. 4000"),
    Field("/preference", "Preference", hint="3 digits, default 100"),
)


def item_pointer(index: int, field: Field) -> str:
    return f"/goods_items/{index}{field.pointer}"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _place(target: dict[str, Any], tokens: list[str], value: Any) -> None:
    node: Any = target
    for position, token in enumerate(tokens):
        last = position == len(tokens) - 1
        if isinstance(node, list):
            index = int(token)
            while len(node) <= index:
                node.append({})
            if last:
                node[index] = value
            else:
                if not isinstance(node[index], dict | list):
                    node[index] = {}
                node = node[index]
        else:
            if last:
                node[token] = value
            else:
                following_is_index = tokens[position + 1].isdigit()
                node = node.setdefault(token, [] if following_is_index else {})


def _compact(node: Any) -> Any:
    """Drop empty objects and list entries that the form left blank."""
    if isinstance(node, dict):
        out = {key: _compact(value) for key, value in node.items()}
        return {key: value for key, value in out.items() if value not in ({}, [])}
    if isinstance(node, list):
        return [value for value in (_compact(item) for item in node) if value not in ({}, [])]
    return node


def document_from(form: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The declaration document a submitted form describes: blank fields are left out (so a required
    one is reported missing), a goods item gets its sequence from its row."""
    document: dict[str, Any] = {}
    for name, raw in form:
        if not name.startswith("/"):
            continue
        value = raw.strip()
        if name == "/pre_arrival":
            document["pre_arrival"] = value in {"on", "true", "1"}
            continue
        if value:
            _place(document, [_unescape(token) for token in name[1:].split("/")], value)
    document = _compact(document)
    items = document.get("goods_items")
    if isinstance(items, list):
        for number, item in enumerate(items, start=1):
            if isinstance(item, dict):
                item.setdefault("sequence", number)
    return document


def flatten(document: Mapping[str, Any] | list[Any], prefix: str = "") -> dict[str, str]:
    """Pointer → text of every leaf of a document: what an amendment form starts from."""
    out: dict[str, str] = {}
    items: Iterable[tuple[Any, Any]] = (
        document.items() if isinstance(document, Mapping) else enumerate(document)
    )
    for key, value in items:
        pointer = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
        if isinstance(value, Mapping | list):
            out.update(flatten(value, pointer))
        elif isinstance(value, bool):
            out[pointer] = "on" if value else ""
        elif value is not None:
            out[pointer] = str(value)
    return out


def errors_by_pointer(
    errors: Sequence[FieldError], shown: set[str]
) -> tuple[dict[str, list[str]], list[str]]:
    """The problem's field errors keyed by the pointer of the form field they belong to, and the
    messages about fields the form does not show (said above the form, with their pointer)."""
    by_field: dict[str, list[str]] = {}
    elsewhere: list[str] = []
    for error in errors:
        pointer = error.pointer or ""
        if pointer in shown:
            by_field.setdefault(pointer, []).append(error.detail)
        else:
            where = pointer or error.parameter or "the document"
            elsewhere.append(f"{where}: {error.detail}")
    return by_field, elsewhere


def item_count(form: Iterable[tuple[str, str]]) -> int:
    """How many goods item rows the submitted form had."""
    highest = -1
    for name, _value in form:
        if name.startswith("/goods_items/"):
            index = name.split("/")[2]
            if index.isdigit():
                highest = max(highest, int(index))
    return highest + 1
