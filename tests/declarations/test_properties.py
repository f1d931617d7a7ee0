"""Property tests: malformed and random documents posted to the lodge endpoints.

Whatever a client sends to POST /api/v1/declarations or POST /api/v1/declarations/bulk, the answer to a
document that is not a valid declaration is a 4xx problem (RFC 9457, application/problem+json), never a
5xx, and it leaves no row behind in declarations, declaration_versions, goods_items, events or outbox.
A validation problem (422) names each bad field by a JSON pointer that points into the document sent
(or, for a missing field, at a place in its parent object where the field belongs).

Each example runs inside a SAVEPOINT of the test's connection that is rolled back afterwards, so that
examples do not see each other's declarations.
"""

from __future__ import annotations

import copy
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, bindparam, text

from customhouse.declarations.schemas import (
    DeclarationDocument,
    GoodsItem,
    IdentifiedParty,
    SupportingDocument,
)
from customhouse.reference import codes
from tests.conftest import bearer
from tests.factories import OTHER_TRADER, declaration

URL = "/api/v1/declarations"
BULK = f"{URL}/bulk"
PROBLEM = "application/problem+json"
TABLES = (
    "declarations",
    "declaration_versions",
    "goods_items",
    "assessments",
    "payment_orders",
    "payment_securities",
    "events",
    "outbox",
)

Where = tuple[str | int, ...]


def configured(max_examples: int) -> Any:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---------------------------------------------------------------- the database and the answers


def counts(connection: Connection) -> dict[str, int]:
    return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


@contextmanager
def rolled_back(connection: Connection) -> Iterator[None]:
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        if savepoint.is_active:
            savepoint.rollback()


def pointer(path: Where) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _tokens(json_pointer: str) -> list[str]:
    assert json_pointer == "" or json_pointer.startswith("/"), f"not a JSON pointer: {json_pointer!r}"
    return [token.replace("~1", "/").replace("~0", "~") for token in json_pointer.split("/")[1:]]


_MISSING = object()


def _resolve(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and re.fullmatch(r"0|[1-9][0-9]*", token) and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def locates(document: Any, json_pointer: str) -> bool:
    """Whether the pointer names a place in `document`, or a missing member of an object in it."""
    tokens = _tokens(json_pointer)
    if _resolve(document, tokens) is not _MISSING:
        return True
    return bool(tokens) and isinstance(_resolve(document, tokens[:-1]), dict)


def check_problem(status: int, problem: Any, sent: Any = _MISSING) -> list[str]:
    """Assert the shape of a problem; for a 422, that it names fields inside `sent`. Returns the pointers."""
    assert 400 <= status < 500, problem
    assert isinstance(problem, dict), problem
    assert problem["status"] == status, problem
    assert isinstance(problem["title"], str) and isinstance(problem["detail"], str), problem
    assert re.fullmatch(r"/problems/[a-z-]+", problem["type"]), problem
    pointers: list[str] = []
    if status == 422:
        errors = problem.get("errors")
        assert errors, f"a validation problem names no field: {problem}"
        for error in errors:
            assert isinstance(error.get("detail"), str) and error["detail"], problem
            assert "pointer" in error, f"a field error without a JSON pointer: {problem}"
            pointers.append(error["pointer"])
            if sent is not _MISSING:
                assert locates(sent, error["pointer"]), (
                    f"{error['pointer']!r} is not in the document: {problem}"
                )
    return pointers


def answer_problem(response: Any, sent: Any = _MISSING) -> tuple[dict[str, Any], list[str]]:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == PROBLEM, (response.status_code, response.text)
    problem = response.json()
    return problem, check_problem(response.status_code, problem, sent)


def post(client: Any, token: str, body: bytes, **params: str) -> Any:
    headers = {**bearer(token), "Content-Type": "application/json"}
    return client.post(URL, content=body, headers=headers, params=params)


def encode(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity as bare tokens, lone surrogates escaped."""
    return json.dumps(value).encode()


def stored_completely(connection: Connection, declaration_id: str, answer: dict[str, Any]) -> dict[str, int]:
    """Assert that one declaration is stored whole; return how many rows of each table are its own."""
    key = declaration_id.replace("-", "") if connection.dialect.name == "sqlite" else declaration_id
    items = answer["document"]["goods_items"]
    row = connection.execute(
        text("SELECT lrn, state, mrn, version FROM declarations WHERE id = :id"), {"id": key}
    ).one()
    assert (row.lrn, row.state, row.mrn, row.version) == (
        answer["document"]["lrn"],
        answer["state"],
        answer["mrn"],
        1,
    )

    def count(table: str, column: str = "declaration_id") -> int:
        query = text(f"SELECT count(*) FROM {table} WHERE {column} = :id")
        return int(connection.execute(query, {"id": key}).scalar_one())

    orders = [
        str(uuid.UUID(str(order)))
        for order in connection.execute(
            text("SELECT id FROM payment_orders WHERE declaration_id = :id"), {"id": key}
        ).scalars()
    ]
    own = {
        "declarations": 1,
        "assessments": count("assessments"),
        "payment_orders": len(orders),
        "payment_securities": count("payment_securities"),
        "declaration_versions": connection.execute(
            text("SELECT count(*) FROM declaration_versions WHERE declaration_id = :id"), {"id": key}
        ).scalar_one(),
        "goods_items": connection.execute(
            text("SELECT count(*) FROM goods_items WHERE declaration_id = :id"), {"id": key}
        ).scalar_one(),
    }
    # its own events, those of its payment order, and one guarantee.secured per security
    aggregates = {"ids": [declaration_id, *orders]}
    own["events"] = (
        connection.execute(
            text("SELECT count(*) FROM events WHERE aggregate_id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            aggregates,
        ).scalar_one()
        + own["payment_securities"]
    )
    own["outbox"] = own["events"]  # every new event is queued: checked against the totals
    assert own["declaration_versions"] == 1 and own["goods_items"] == len(items), own
    first = "declaration.drafted" if answer["state"] == "draft" else "declaration.lodged"
    lodged = connection.execute(
        text("SELECT count(*) FROM events WHERE aggregate_id = :id AND type = :type"),
        {"id": declaration_id, "type": first},
    ).scalar_one()
    assert lodged == 1, own
    assert own["assessments"] == own["payment_orders"] == 0, own  # assessed after lodgement, not in it
    return own


# ---------------------------------------------------------------- what a declaration document is

BASE = declaration()
PARTIES = ("declarant", "importer", "exporter", "seller", "buyer", "representative")
REQUIRED_TOP = {
    "kind",
    "lrn",
    "declarant",
    "importer",  # on an import declaration
    "office_of_lodgement",
    "transport_mode",
    "incoterm",
    "incoterm_place",
    "invoice_currency",
    "invoice_total",
    "country_of_dispatch",
    "country_of_destination",
    "goods_items",
}
REQUIRED_ITEM = {
    "sequence",
    "hs_code",
    "description",
    "origin",
    "quantity",
    "unit",
    "gross_mass",
    "net_mass",
    "price",
    "procedure",
}
REQUIRED_DOCUMENT = {"type", "reference", "issued_on"}
FIELDS: dict[str, set[str]] = {
    "document": set(DeclarationDocument.model_fields),
    "party": set(IdentifiedParty.model_fields),
    "item": set(GoodsItem.model_fields),
    "supporting": set(SupportingDocument.model_fields),
}


def walk(value: Any, path: Where = ()) -> Iterator[Where]:
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))


PATHS = [path for path in walk(BASE) if path]


def get(document: Any, path: Where) -> Any:
    for part in path:
        document = document[part]
    return document


def required(path: Where) -> bool:
    if len(path) == 1:
        return path[0] in REQUIRED_TOP
    if len(path) == 2 and path[0] in PARTIES:
        return path[1] in {"name", "country"} or path == ("declarant", "id")
    if len(path) == 3 and path[0] == "goods_items":
        return path[2] in REQUIRED_ITEM
    if len(path) == 3 and path[0] == "documents":
        return path[2] in REQUIRED_DOCUMENT
    return False


def object_kind(path: Where) -> str | None:
    """Which model an object of the base document is an instance of."""
    if path == ():
        return "document"
    if len(path) == 1 and path[0] in PARTIES:
        return "party"
    if len(path) == 2 and path[0] == "goods_items":
        return "item"
    if len(path) == 2 and path[0] == "documents":
        return "supporting"
    return None


OBJECTS = [path for path in [(), *PATHS] if object_kind(path)]


def mutated(path: Where, value: Any = _MISSING) -> dict[str, Any]:
    """The base document with the value at `path` replaced (or the member removed)."""
    document = copy.deepcopy(BASE)
    parent = get(document, path[:-1])
    if value is _MISSING:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


# ---------------------------------------------------------------- strategies

texts = st.text(st.characters(categories=("L", "N", "P", "S", "Z", "C")), max_size=30)
keys = st.text(st.characters(categories=("L", "N", "P", "S", "Z", "Cc", "Cf")), max_size=12)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | texts
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
containers_ = st.lists(json_values, max_size=3) | st.dictionaries(keys, json_values, max_size=3)


def _is(lookup: Callable[[], Any]) -> Callable[[str], bool]:
    return lambda value: value in lookup()


def _party_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{2}[A-Z0-9]{1,15}", value)) and value[:2] in codes.countries()


def _pattern(regex: str) -> Callable[[str], bool]:
    return lambda value: re.fullmatch(regex, value) is not None


def _letter_values() -> dict[str, int]:
    values, value = {}, 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        value += value % 11 == 0
        values[letter] = value
        value += 1
    return values


ISO6346 = {**{str(digit): digit for digit in range(10)}, **_letter_values()}


def _container(value: str) -> bool:
    """ISO 6346: owner code, category U/J/Z, serial, and the check digit (sum of value x 2^position)."""
    if not re.fullmatch(r"[A-Z]{3}[UJZ][0-9]{7}", value):
        return False
    total = sum(ISO6346[char] << position for position, char in enumerate(value[:10]))
    return total % 11 % 10 == int(value[10])


# Which values each code field accepts: the code lists the issue names, and the documented shapes.
CODE_RULES: dict[Where, Callable[[str], bool]] = {
    ("kind",): {"import", "export", "transit"}.__contains__,
    ("lrn",): _pattern(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,21}"),
    ("office_of_lodgement",): _is(codes.offices),
    ("office_of_entry",): _is(codes.offices),
    ("transport_mode",): _is(codes.transport_modes),
    ("incoterm",): _is(codes.incoterms),
    ("invoice_currency",): _is(codes.currencies),
    ("country_of_dispatch",): _is(codes.countries),
    ("country_of_destination",): _is(codes.countries),
    ("containers", 0): _container,
    **{(party, "country"): _is(codes.countries) for party in ("declarant", "importer", "seller")},
    **{(party, "id"): _party_id for party in ("declarant", "importer", "seller")},
    **{("goods_items", index, "hs_code"): _is(codes.hs_subheadings) for index in (0, 1)},
    **{("goods_items", index, "origin"): _is(codes.countries) for index in (0, 1)},
    **{("goods_items", index, "unit"): _is(codes.units) for index in (0, 1)},
    **{("goods_items", index, "procedure"): _pattern(r"[0-9]{4}") for index in (0, 1)},
    **{("documents", index, "type"): _is(codes.document_types) for index in (0, 1)},
}
assert set(CODE_RULES) <= set(PATHS)


@st.composite
def wrong_codes(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    path = draw(st.sampled_from(sorted(CODE_RULES, key=str)))
    valid = CODE_RULES[path]
    current = str(get(BASE, path))
    near_misses = st.sampled_from(
        [current.lower(), current + "0", current[:-1], current[1:], current[::-1], current.swapcase()]
    )
    value = draw(
        (texts | near_misses | st.just("CSQU3054384")).filter(lambda value: not valid(value.strip()))
    )
    return mutated(path, value), pointer(path)


MONEY = [("invoice_total",), ("goods_items", 0, "price"), ("goods_items", 1, "price"), ("freight",)]
MASS = [
    (*item, name) for item in [("goods_items", 0), ("goods_items", 1)] for name in ("gross_mass", "net_mass")
]
QUANTITY = [("goods_items", 0, "quantity"), ("goods_items", 1, "quantity")]
COUNTS = [("goods_items", 0, "sequence"), ("goods_items", 1, "package_count")]

non_finite = st.sampled_from(
    [math.nan, math.inf, -math.inf, "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e400"]
)
junk_numbers = st.sampled_from(["", " ", "12,50", "1.500,00", "$5", "0x10", "1e", "--1", "1..0", "abc", "五"])


def too_precise(places: int) -> st.SearchStrategy[Any]:
    """Decimals with more places than allowed (a non-zero digit beyond them), as strings or numbers."""
    step = Decimal(1).scaleb(-places)
    decimals = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=places + 2).filter(
        lambda value: value != value.quantize(step)
    )
    return decimals.map(str) | decimals.map(float)


def huge(digits: int) -> st.SearchStrategy[Any]:
    """Numbers with more digits than the field allows."""
    integers = st.integers(min_value=10**digits, max_value=10**60)
    return (
        integers
        | integers.map(str)
        | st.floats(min_value=10.0**digits, max_value=1e300)
        | st.integers(digits, 5000).map(lambda exponent: f"1e{exponent}")
    )


negative = st.decimals(max_value=Decimal("-0.01"), places=2, allow_nan=False).map(str) | st.integers(
    max_value=-1
)
zero = st.sampled_from([0, 0.0, "0", "0.000", "-0"])

WRONG_NUMBERS: list[tuple[list[Where], st.SearchStrategy[Any]]] = [
    (MONEY, negative | too_precise(2) | non_finite | huge(16) | junk_numbers),
    (MASS + QUANTITY, negative | zero | too_precise(3) | non_finite | huge(15) | junk_numbers),
    (
        COUNTS,
        st.integers(max_value=-1)
        | st.integers(min_value=100_000)
        | st.sampled_from([1.5, "1.5", "one", math.nan, math.inf, "1e400"]),
    ),
]


@st.composite
def wrong_numbers(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    paths, values = draw(st.sampled_from(WRONG_NUMBERS))
    path = draw(st.sampled_from(paths))
    value = draw(values)
    return mutated(path, value), pointer(path)


@st.composite
def removed_required(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    path = draw(st.sampled_from([path for path in PATHS if required(path)]))
    return mutated(path), pointer(path)


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A value of a JSON type that the field can never take (null only where the field is required)."""
    path = draw(st.sampled_from(PATHS))
    current = get(BASE, path)
    if isinstance(current, dict):
        wrong = st.lists(json_values, max_size=3) | texts | st.integers() | st.booleans()
    elif isinstance(current, list):
        wrong = st.dictionaries(keys, json_values, max_size=3) | texts | st.integers() | st.booleans()
    else:
        wrong = containers_
    if required(path):
        wrong = wrong | st.none()
    return mutated(path, draw(wrong)), pointer(path)


@st.composite
def extra_members(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    path = draw(st.sampled_from(OBJECTS))
    kind = object_kind(path)
    assert kind is not None
    key = draw(keys.filter(lambda key: key not in FIELDS[kind]))
    return mutated((*path, key), draw(json_values)), pointer((*path, key))


invalid_documents = removed_required() | wrong_types() | extra_members() | wrong_codes() | wrong_numbers()


@st.composite
def any_mutations(draw: st.DrawFn) -> dict[str, Any]:
    """One to three arbitrary changes: a value of any type anywhere, a member removed or added."""
    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = [path for path in walk(document) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = get(document, path[:-1])
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "remove":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(json_values)
    return document


# ---------------------------------------------------------------- POST /api/v1/declarations


@configured(max_examples=200)
@given(case=invalid_documents)
def test_an_invalid_document_is_a_422_naming_the_field_and_stores_nothing(client, tokens, connection, case):
    document, bad_field = case
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], encode(document))
        problem, pointers = answer_problem(response, document)
        assert response.status_code == 422, problem
        assert bad_field in pointers, problem
        assert counts(connection) == before


@configured(max_examples=150)
@given(document=any_mutations())
def test_any_change_to_a_document_is_lodged_whole_or_refused_without_a_trace(
    client, tokens, connection, document
):
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], encode(document))
        after = counts(connection)
        if response.status_code == 201:
            own = stored_completely(connection, response.json()["id"], response.json())
            assert after == {table: before[table] + own[table] for table in TABLES}
        else:
            answer_problem(response, document)
            assert after == before


@configured(max_examples=60)
@given(body=json_values)
@example(body=[])
@example(body={})
@example(body=None)
@example(body={"goods_items": [{}]})
def test_any_json_value_is_a_4xx_problem_and_stores_nothing(client, tokens, connection, body):
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], encode(body))
        answer_problem(response, body)
        assert counts(connection) == before


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _MISSING


@configured(max_examples=60)
@given(body=st.binary(max_size=300))
@example(body=b"\xff\xfe{}")
@example(body=b'{"kind": "import"')
def test_random_bytes_are_a_4xx_problem_and_store_nothing(client, tokens, connection, body):
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], body)
        answer_problem(response, _decoded(body))
        assert counts(connection) == before


@configured(max_examples=40)
@given(data=st.data())
def test_truncated_json_is_a_400_malformed_problem(client, tokens, connection, data):
    whole = encode(declaration())
    body = whole[: data.draw(st.integers(1, len(whole) - 1), label="length")]
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], body)
        problem, _ = answer_problem(response)
        assert (response.status_code, problem["type"]) == (400, "/problems/malformed")
        assert counts(connection) == before


@pytest.mark.parametrize(
    "body",
    [b"\x80", b'{"lrn": "\xff"}', b"[" * 100_000, b'{"invoice_total": ' + b"7" * 5000 + b"}"],
    ids=["not-utf8", "not-utf8-in-a-string", "deeper-than-the-parser-recurses", "5000-digit-integer"],
)
def test_bodies_the_json_parser_gives_up_on_are_400_malformed_problems(client, tokens, connection, body):
    """Every problem type the server answers with is explained at its URI (/problems/<slug>); a body
    that is not JSON in UTF-8 is the documented 'malformed' problem."""
    before = counts(connection)
    response = post(client, tokens["trader"], body)
    problem, _ = answer_problem(response)
    assert response.status_code == 400, problem
    assert client.get(problem["type"]).status_code == 200, f"{problem['type']} is not explained"
    assert problem["type"] == "/problems/malformed", problem
    assert counts(connection) == before


@configured(max_examples=30)
@given(sequences=st.lists(st.integers(1, 3), min_size=2, max_size=3))
def test_a_draft_with_clashing_item_numbers_is_not_mistaken_for_an_lrn_conflict(
    client, tokens, connection, sequences
):
    """A draft skips the cross-field checks; item numbers that clash must still not pass for a 409
    'LRN already used' when nothing was ever lodged under that LRN."""
    items = [dict(BASE["goods_items"][index % 2], sequence=number) for index, number in enumerate(sequences)]
    document = declaration(lrn="DRAFT-1", goods_items=items)
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], encode(document), draft="true")
        if response.status_code == 201:
            assert len(set(sequences)) == len(sequences)
            own = stored_completely(connection, response.json()["id"], response.json())
            assert counts(connection) == {table: before[table] + own[table] for table in TABLES}
        else:
            problem, pointers = answer_problem(response, document)
            assert response.status_code == 422, problem
            assert any(re.fullmatch(r"/goods_items/[0-9]+/sequence", item) for item in pointers), problem
            assert counts(connection) == before


# ---------------------------------------------------------------- POST /api/v1/declarations/bulk


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        raise ValueError(f"{literal} is beyond a double")
    return number


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(key) or _has_lone_surrogate(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def strict_json(line: bytes) -> Any:
    """The line's value as RFC 8259 JSON in UTF-8 (no NaN, numbers within a double, no lone surrogate),
    or _MISSING."""
    try:
        decoded = line.decode("utf-8")
        json.loads(decoded, parse_constant=_reject_constant, parse_float=_finite, parse_int=_finite)
        value = json.loads(decoded)
    except (ValueError, RecursionError, OverflowError):
        return _MISSING
    return _MISSING if _has_lone_surrogate(value) else value


def ndjson(content: bytes) -> list[Any]:
    """Result lines, split at LF only: a JSON text may hold U+0085 or U+2028 (str.splitlines splits there)."""
    assert content == b"" or content.endswith(b"\n"), content[-200:]
    return [json.loads(line) for line in content.split(b"\n")[:-1]]


blank_lines = st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t \r"])
line_kinds = st.one_of(
    st.tuples(st.just("valid"), st.integers(1, 2)),
    st.tuples(st.just("invalid"), invalid_documents),
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("bytes"), st.binary(max_size=80).map(lambda raw: raw.replace(b"\n", b" "))),
    st.tuples(st.just("truncated"), st.floats(0.01, 0.99)),
    st.tuples(st.just("blank"), blank_lines),
)


def _line(kind: str, payload: Any, number: int) -> tuple[bytes, str | None]:
    """The bytes of one input line and the pointer its problem must name (for invalid documents)."""
    if kind == "valid":
        document = declaration(lrn=f"BULK-{number}")
        document["goods_items"] = document["goods_items"][:payload]
        document["invoice_total"] = str(sum(Decimal(item["price"]) for item in document["goods_items"]))
        return encode(document), None
    if kind == "invalid":
        document, bad_field = payload
        return encode(document), bad_field
    if kind == "json":
        return encode(payload), None
    if kind == "truncated":
        whole = encode(declaration(lrn=f"CUT-{number}"))
        return whole[: max(1, int(len(whole) * payload))], None
    return payload, None


@configured(max_examples=50)
@given(kinds=st.lists(line_kinds, min_size=1, max_size=8), trailing_newline=st.booleans())
def test_bulk_answers_each_line_lodging_the_valid_ones_only(
    client, tokens, connection, kinds, trailing_newline
):
    lines = [_line(kind, payload, number) for number, (kind, payload) in enumerate(kinds, start=1)]
    body = b"\n".join(raw for raw, _ in lines) + (b"\n" if trailing_newline else b"")
    with rolled_back(connection):
        before = counts(connection)
        response = client.post(
            BULK, content=body, headers={**bearer(tokens["trader"]), "Content-Type": "application/x-ndjson"}
        )
        assert response.status_code == 200, response.text
        results = ndjson(response.content)
        expected = [number for number, (raw, _) in enumerate(lines, start=1) if raw.strip()]
        assert [result["line"] for result in results] == expected, results
        after = counts(connection)

        owned = dict.fromkeys(TABLES, 0)
        for result in results:
            number = result["line"]
            kind = kinds[number - 1][0]
            raw, bad_field = lines[number - 1]
            if kind == "valid":
                assert result["status"] == 201, result
                assert (result["lrn"], result["state"]) == (f"BULK-{number}", "accepted"), result
                answer = client.get(f"{URL}/{result['id']}", headers=bearer(tokens["trader"])).json()
                assert answer["mrn"] == result["mrn"]
                own = stored_completely(connection, result["id"], answer)
                owned = {table: owned[table] + own[table] for table in TABLES}
                continue
            assert "problem" in result and "id" not in result, result
            sent = strict_json(raw)
            check_problem(result["status"], result["problem"], sent)
            if sent is _MISSING:
                assert (result["status"], result["problem"]["type"]) == (400, "/problems/malformed"), result
            elif kind == "invalid":
                assert result["status"] == 422, result
                assert bad_field in [error["pointer"] for error in result["problem"]["errors"]], result
            else:
                assert result["status"] == 422, result
        assert after == {table: before[table] + owned[table] for table in TABLES}


NUL_AND_FRIENDS = ["a\x00b", "\x00", "tab\there", "\u2028\u2029", "😀" * 20, "\ufeffBOM", "é" * 70]


def test_awkward_characters_in_one_line_do_not_sink_the_others(client, tokens, connection):
    """Text that some databases cannot store (NUL in PostgreSQL's JSONB) is refused or stored; either
    way the lines around it are lodged and every line gets its result."""
    lines = []
    for number, awkward in enumerate(NUL_AND_FRIENDS):
        lines.append(declaration(lrn=f"GOOD-{number}"))
        odd = declaration(lrn=f"ODD-{number}")
        odd["goods_items"][0]["description"] = awkward
        odd["seller"]["name"] = awkward[:70]
        lines.append(odd)
    body = b"\n".join(json.dumps(line, ensure_ascii=False).encode() for line in lines)
    before = counts(connection)
    response = client.post(
        BULK, content=body, headers={**bearer(tokens["trader"]), "Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 200
    results = ndjson(response.content)
    assert [result["line"] for result in results] == list(range(1, len(lines) + 1))
    owned = dict.fromkeys(TABLES, 0)
    for result, sent in zip(results, lines, strict=True):
        if sent["lrn"].startswith("GOOD-"):
            assert result["status"] == 201, result
        if result["status"] == 201:
            answer = client.get(f"{URL}/{result['id']}", headers=bearer(tokens["trader"])).json()
            assert (
                answer["document"]["goods_items"][0]["description"]
                == sent["goods_items"][0]["description"].strip()
            )
            own = stored_completely(connection, result["id"], answer)
            owned = {table: owned[table] + own[table] for table in TABLES}
        else:
            check_problem(result["status"], result["problem"], sent)
    assert counts(connection) == {table: before[table] + owned[table] for table in TABLES}


@configured(max_examples=40)
@given(awkward=texts)
@example(awkward="a\x00b")
def test_any_text_in_a_free_text_field_is_lodged_or_refused_never_a_5xx(client, tokens, connection, awkward):
    document = declaration()
    document["goods_items"][0]["description"] = awkward
    document["incoterm_place"] = awkward[:70]
    with rolled_back(connection):
        before = counts(connection)
        response = post(client, tokens["trader"], encode(document))
        if response.status_code == 201:
            own = stored_completely(connection, response.json()["id"], response.json())
            assert counts(connection) == {table: before[table] + own[table] for table in TABLES}
        else:
            answer_problem(response, document)
            assert counts(connection) == before


def test_another_partys_document_is_refused_and_stores_nothing(client, tokens, connection):
    """The smallest valid change that must still be refused: lodging in another trader's name."""
    document = declaration(declarant={"id": OTHER_TRADER, "name": "Daehan Imports", "country": "KR"})
    before = counts(connection)
    response = post(client, tokens["trader"], encode(document))
    problem, _ = answer_problem(response, document)
    assert response.status_code == 403, problem
    assert counts(connection) == before
