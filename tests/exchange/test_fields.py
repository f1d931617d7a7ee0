"""The agreement's field patterns: JSON pointers or dotted paths, wildcards over arrays and objects."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.exchange import fields

DOCUMENT = {
    "mrn": "26KR1",
    "exporter": {"id": "KR1", "name": "Hanbit"},
    "goods_items": [
        {"hs_code": "851713", "price": "1", "quantity": "2"},
        {"hs_code": "610910", "price": "3"},
    ],
}


def test_redact_keeps_only_the_allowed_fields_and_names_the_rest():
    kept, named, dropped = fields.redact(DOCUMENT, ["/mrn", "exporter.id", "/goods_items/*/hs_code"])
    assert kept == {
        "mrn": "26KR1",
        "exporter": {"id": "KR1"},
        "goods_items": [{"hs_code": "851713"}, {"hs_code": "610910"}],
    }
    assert named == ["/exporter/id", "/goods_items/*/hs_code", "/mrn"]
    assert dropped == [
        "/exporter/name",
        "/goods_items/0/price",
        "/goods_items/0/quantity",
        "/goods_items/1/price",
    ]


def test_a_pattern_allows_everything_below_it_and_escapes_follow_rfc_6901():
    assert fields.outside(DOCUMENT, ["/mrn", "/exporter", "/goods_items"]) == []
    assert fields.outside({"a/b": 1, "c": 2}, ["/a~1b"]) == ["/c"]
    assert fields.normalise(["a.b", "/a/b", "x.*.y"]) == ["/a/b", "/x/*/y"]


def test_patterns_below_a_leaf_do_not_allow_the_leaf():
    assert fields.outside({"mrn": "X"}, ["/mrn/part"]) == ["/mrn"]


@pytest.mark.parametrize("pattern", ["", "/", "a..b", "//a"])
def test_bad_patterns_are_refused(pattern):
    with pytest.raises(fields.BadPattern):
        fields.parse(pattern)


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from("abc"), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(st.sampled_from("abc"), json_values, max_size=3),
    st.lists(st.sampled_from(["/a", "/b/*", "/c/a", "*.b"]), max_size=3),
)
def test_what_redact_keeps_is_never_outside(document, patterns):
    kept, _, _ = fields.redact(document, patterns)
    assert fields.outside(kept, patterns) == []
    assert fields.redact(document, ["/a", "/b", "/c"])[2] == []
