"""The declaration document against the WCO Data Model: the mapping of each field to its WCO DM data
element (`data/wcodm.yaml`, with how sure each id is) and a JSON Schema of the document that carries
the ids (`x-wcodm`) on every property, served at /api/v1/schema. Pure.

The schema is pydantic's, with every `$ref` inlined: one WCO DM id belongs to a use of a class, not to
the class (a Party is the importer here and the seller there), so shared definitions cannot carry them.
"""

from __future__ import annotations

import copy
import types
import typing
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from pydantic import BaseModel

from customhouse.declarations.schemas import DeclarationDocument

STATUSES = ("verified", "recalled", "unknown", "none")  # none: the WCO DM has no element for it


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The pydantic model in an annotation (through Optional, Annotated, list), and if it is a list."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found, is_list = _model_in(arg)
            if found is not None:
                return found, is_list
        return None, False
    if origin is list:
        found, _ = _model_in(typing.get_args(annotation)[0])
        return found, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def field_paths(model: type[BaseModel] = DeclarationDocument, prefix: str = "") -> list[str]:
    """Every leaf field of the model: dotted names, `[]` for each element of a list."""
    paths = []
    for name, info in model.model_fields.items():
        nested, is_list = _model_in(info.annotation)
        path = f"{prefix}{name}{'[]' if is_list else ''}"
        if nested is None:
            paths.append(path)
        else:
            paths += field_paths(nested, f"{path}.")
    return paths


@cache
def mapping() -> dict[str, dict[str, Any]]:
    """Field path -> {id, wco, status, note?, source?} from the data file."""
    text = files("customhouse.exchange").joinpath("data", "wcodm.yaml").read_text(encoding="utf-8")
    fields: dict[str, dict[str, Any]] = yaml.safe_load(text)["fields"]
    return fields


def _resolve(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return _resolve({**copy.deepcopy(target), **rest}, definitions)
        return {key: _resolve(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, definitions) for item in node]
    return node


def _object_of(node: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema in a property: itself, its list's items, or the non-null branch of anyOf."""
    if "properties" in node:
        return node
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        return _object_of(node["items"])
    for branch in node.get("anyOf", []):
        if found := _object_of(branch):
            return found
    return None


def _annotate(node: dict[str, Any], prefix: str, table: dict[str, dict[str, Any]]) -> None:
    for name, prop in node["properties"].items():
        inner = _object_of(prop)
        is_list = prop.get("type") == "array" or any(b.get("type") == "array" for b in prop.get("anyOf", []))
        path = f"{prefix}{name}{'[]' if is_list else ''}"
        if inner is not None:
            _annotate(inner, f"{path}.", table)
            continue
        entry = table.get(path)
        prop["x-wcodm"] = entry.get("id") if entry else None
        prop["x-wcodm-status"] = entry.get("status", "unknown") if entry else "unmapped"
        if entry and entry.get("wco"):
            prop["x-wcodm-class"] = entry["wco"]


@cache
def _schema() -> dict[str, Any]:
    raw = DeclarationDocument.model_json_schema()
    schema: dict[str, Any] = _resolve({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))
    _annotate(schema, "", mapping())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = (
        "A goods declaration as lodged (JSON or CUSDEC). Each property's x-wcodm is its WCO Data Model "
        "data element id; x-wcodm-status says how sure that id is (verified, recalled), that no source "
        "confirms one and it is left empty rather than guessed (unknown), or that the WCO DM has no element "
        "for the field (none)."
    )
    return schema


def json_schema() -> dict[str, Any]:
    """The declaration document's JSON Schema (2020-12) with WCO DM ids on every leaf property."""
    return copy.deepcopy(_schema())
