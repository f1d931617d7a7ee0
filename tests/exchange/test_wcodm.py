"""The WCO Data Model table covers every field of the declaration document, says how sure each id is,
and the JSON Schema carries the ids on every leaf property."""

from __future__ import annotations

import re

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.exchange import wcodm


def test_every_field_of_the_document_has_a_mapping_and_no_entry_is_stale():
    fields = wcodm.field_paths()
    assert "lrn" in fields and "goods_items[].hs_code" in fields and "declarant.id" in fields
    table = wcodm.mapping()
    assert sorted(set(fields) - set(table)) == [], "fields without a WCO DM entry"
    assert sorted(set(table) - set(fields)) == [], "entries for fields the document no longer has"


def test_each_entry_says_how_sure_it_is():
    for path, entry in wcodm.mapping().items():
        assert entry["status"] in wcodm.STATUSES, path
        if entry["status"] == "unknown":
            assert entry["wco"] is None, f"{path}: an unconfirmed class must be left empty, not guessed"
        else:
            assert entry.get("wco"), path
        if entry["status"] in ("unknown", "none"):
            assert entry["id"] is None, f"{path}: an unknown id must be left empty, not guessed"
            assert entry.get("note"), f"{path}: says why there is no id"
        else:
            assert re.fullmatch(r"[A-Z]?[0-9]{3}", str(entry["id"])), path
        if entry["status"] == "verified":
            assert entry.get("source"), f"{path}: a verified id names its source"
    assert wcodm.mapping()["lrn"]["id"] == "D026"


def leaves(node: dict, path: str = "") -> list[tuple[str, dict]]:
    inner = wcodm._object_of(node)
    if inner is None:
        return [(path, node)]
    return [item for name, prop in inner["properties"].items() for item in leaves(prop, f"{path}/{name}")]


def test_the_schema_carries_an_id_on_every_leaf_and_the_same_ids_as_the_table():
    schema = wcodm.json_schema()
    assert "$defs" not in schema and "$ref" not in str(schema)
    found = leaves(schema)
    assert len(found) == len(wcodm.field_paths())
    for pointer, prop in found:
        assert "x-wcodm" in prop and prop["x-wcodm-status"] in wcodm.STATUSES, pointer
    importer = schema["properties"]["importer"]["anyOf"][0]["properties"]["name"]
    exporter = schema["properties"]["exporter"]["anyOf"][0]["properties"]["name"]
    assert importer["x-wcodm-class"] == "Importer.Name" and exporter["x-wcodm"] == "R031"
    assert schema["properties"]["goods_items"]["items"]["properties"]["origin"]["x-wcodm"] == "063"


def test_the_schema_still_describes_the_document():
    schema = wcodm.json_schema()
    assert set(schema["required"]) == {
        name for name, field in DeclarationDocument.model_fields.items() if field.is_required()
    }
    schema["properties"]["lrn"]["x-wcodm"] = "changed"
    assert wcodm.json_schema()["properties"]["lrn"]["x-wcodm"] == "D026"  # callers get a copy


def test_the_invoice_currency_is_the_currency_attribute_of_the_invoice_amount():
    table = wcodm.mapping()
    assert (table["invoice_currency"]["id"], table["invoice_currency"]["status"]) == ("109", "verified")
    assert table["documents[].credential"]["status"] == "none"
    assert [path for path, entry in table.items() if entry["status"] == "recalled"] == []


def test_an_unconfirmed_element_is_published_empty_and_marked_unknown():
    """A partner reading the schema sees no WCO DM id or class where no source confirms one."""
    schema = wcodm.json_schema()
    destination = schema["properties"]["office_of_destination"]
    strength = schema["properties"]["goods_items"]["items"]["properties"]["alcohol_strength"]
    for prop in (destination, strength):
        assert (prop["x-wcodm"], prop["x-wcodm-status"]) == (None, "unknown")
        assert "x-wcodm-class" not in prop
