"""Which fields of a message an agreement allows: JSON pointers (RFC 6901) or dotted paths, with `*`
for every member of an object or every element of an array ("/goods_items/*/quantity",
"goods_items.*.quantity"). A pattern allows its node and everything below it.

Pure: no database. `redact` keeps what the agreement allows before sending; `outside` names what it
does not allow on arrival (each as a JSON pointer into the document).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WILDCARD = "*"
_ALL: dict[str, Any] = {}  # a node allowed whole, with everything below it


class BadPattern(ValueError):
    """A field pattern that is neither a JSON pointer nor a dotted path."""


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def parse(pattern: str) -> tuple[str, ...]:
    """The tokens of a pattern; a JSON pointer starts with '/', anything else is a dotted path."""
    pattern = pattern.strip()
    if not pattern or pattern in {"/", "."}:
        raise BadPattern("an empty pattern would allow the whole message; name the fields")
    tokens = (
        [_unescape(token) for token in pattern[1:].split("/")]
        if pattern.startswith("/")
        else pattern.split(".")
    )
    if any(token == "" for token in tokens):
        raise BadPattern(f"{pattern!r} has an empty step: write '/a/b' or 'a.b'")
    return tuple(tokens)


def normalise(patterns: Iterable[str]) -> list[str]:
    """The patterns as JSON pointers, sorted and without duplicates (raises BadPattern)."""
    return sorted({"/" + "/".join(_escape(token) for token in parse(pattern)) for pattern in patterns})


def _trie(patterns: Iterable[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for tokens in sorted((parse(pattern) for pattern in patterns), key=len):
        node = root
        for token in tokens[:-1]:
            if node.get(token) is _ALL:
                break
            node = node.setdefault(token, {})
        else:
            node[tokens[-1]] = _ALL
    return root


def _child(node: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The patterns that apply below `key`: its own and the wildcard's, merged; None if none."""
    found = [node[name] for name in (key, WILDCARD) if name in node]
    if not found:
        return None
    if any(branch is _ALL for branch in found):
        return _ALL
    merged: dict[str, Any] = {}
    for branch in found:
        for name, below in branch.items():
            merged[name] = below if name not in merged else _child({"a": merged[name], "*": below}, "a")
    return merged


def _walk(
    value: Any, node: dict[str, Any], path: tuple[str | int, ...], kept: list[str], dropped: list[str]
) -> Any:
    if node is _ALL:
        kept.append(pointer(path, generic=True))
        return value
    members: Iterable[tuple[Any, Any]]
    if isinstance(value, Mapping):
        members = value.items()
    elif isinstance(value, list):
        members = enumerate(value)
    else:  # a leaf where the agreement names fields below it: not allowed as a whole
        dropped.append(pointer(path))
        return None
    out: dict[str, Any] = {}
    for key, member in members:
        below = _child(node, str(key))
        if below is None:
            dropped.append(pointer((*path, key)))
            continue
        result = _walk(member, below, (*path, key), kept, dropped)
        if result is not None:
            out[str(key)] = result
    if isinstance(value, list):
        return [out[str(index)] for index in range(len(value)) if str(index) in out] or None
    return out or None


def pointer(path: Iterable[str | int], *, generic: bool = False) -> str:
    """A JSON pointer; `generic` writes array indexes as '*' (the field, not one element of it)."""
    return "".join(
        "/" + (WILDCARD if generic and isinstance(token, int) else _escape(token)) for token in path
    )


def redact(
    document: Mapping[str, Any], patterns: Iterable[str]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The document with only the allowed fields, the fields kept (pointers, arrays as '*') and the
    fields removed (pointers)."""
    kept: list[str] = []
    dropped: list[str] = []
    result = _walk(dict(document), _trie(patterns), (), kept, dropped)
    return result or {}, sorted(set(kept)), dropped


def outside(document: Mapping[str, Any], patterns: Iterable[str]) -> list[str]:
    """The pointers of every field the patterns do not allow (empty: the document is allowed)."""
    return redact(document, patterns)[2]
