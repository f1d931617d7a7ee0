"""Traders lodge, amend, upload and follow their declarations through the pages."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi.testclient import TestClient

from customhouse.web import forms
from tests import factories
from tests.web.conftest import csrf, deliver, post_form


def form_of(document: dict[str, Any]) -> dict[str, str]:
    """The form a person would fill in for `document` (the fields the form shows)."""
    flat = forms.flatten(document)
    shown = {field.pointer for field in forms.HEADER_FIELDS}
    for index in range(len(document["goods_items"])):
        shown |= {forms.item_pointer(index, field) for field in forms.ITEM_FIELDS}
    return {pointer: value for pointer, value in flat.items() if pointer in shown}


def one_item_declaration(**overrides: Any) -> dict[str, Any]:
    document = factories.declaration(**overrides)
    document["goods_items"] = document["goods_items"][:1]
    document["invoice_total"] = document["goods_items"][0]["price"]
    document["documents"] = document["documents"][:1]
    return document


def test_every_form_field_has_a_label(as_trader: TestClient) -> None:
    page = as_trader.get("/web/declarations-new").text
    ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', page)
    labels = set(re.findall(r'<label for="([^"]+)"', page))
    assert ids and set(ids) <= labels


def test_an_invalid_form_keeps_the_input_and_says_what_is_wrong_next_to_the_field(
    as_trader: TestClient,
) -> None:
    data = form_of(one_item_declaration())
    data["/goods_items/0/hs_code"] = "12AB"
    data["/invoice_currency"] = "ZZZ"
    del data["/incoterm_place"]
    answer = post_form(as_trader, "/web/declarations-new", "/web/declarations-new", data)
    assert answer.status_code == 422
    page = answer.text
    assert re.search(r'aria-describedby="f-goods_items-0-hs_code-error"', page)
    assert re.search(r'id="f-goods_items-0-hs_code-error">[^<]*HS 2022 subheading', page)
    assert re.search(r'id="f-invoice_currency-error">[^<]*ISO 4217', page)
    assert re.search(r'id="f-incoterm_place-error">is required', page)
    assert 'value="12AB"' in page and 'value="Mobile phones"' in page  # the user's input is kept
    assert as_trader.get("/web/declarations").text.count("/web/declarations/") == 0  # nothing stored


def test_a_valid_form_lodges_and_the_trader_follows_it(as_trader: TestClient) -> None:
    answer = post_form(
        as_trader, "/web/declarations-new", "/web/declarations-new", form_of(one_item_declaration())
    )
    assert answer.status_code == 303, answer.text
    deliver(as_trader)
    page = as_trader.get(answer.headers["location"]).text
    assert "LRN-0001" in page and "MRN" in page
    assert re.search(r'class="lane lane-(green|yellow|red)"', page)
    assert "Mobile phones" in page and "declaration.accepted" in page
    listing = as_trader.get("/web/declarations").text
    assert answer.headers["location"] in listing


def test_add_item_keeps_what_was_typed(as_trader: TestClient) -> None:
    data = form_of(one_item_declaration())
    answer = post_form(
        as_trader, "/web/declarations-new", "/web/declarations-new", {**data, "action": "add-item"}
    )
    assert answer.status_code == 200
    assert 'name="/goods_items/1/hs_code"' in answer.text
    assert 'value="Mobile phones"' in answer.text


def test_amend_through_the_form(as_trader: TestClient) -> None:
    lodged = post_form(
        as_trader, "/web/declarations-new", "/web/declarations-new", form_of(one_item_declaration())
    )
    url = lodged.headers["location"]
    deliver(as_trader)
    amend_page = as_trader.get(f"{url}/amend")
    assert 'value="Mobile phones"' in amend_page.text  # the current document fills the form
    data = form_of(one_item_declaration())
    data["/goods_items/0/description"] = "Smartphones"
    revision = re.search(r'name="revision" value="(\d+)"', amend_page.text)
    assert revision
    answer = as_trader.post(
        f"{url}/amend",
        data={"csrf_token": csrf(amend_page), "revision": revision.group(1), **data},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    page = as_trader.get(url).text
    assert "Smartphones" in page and "declaration.amended" in page
    stale = as_trader.post(
        f"{url}/amend",
        data={"csrf_token": csrf(amend_page), "revision": revision.group(1), **data},
        follow_redirects=False,
    )
    assert stale.status_code == 409  # an old revision: someone changed it meanwhile
    assert 'value="Smartphones"' in stale.text


def test_upload_ndjson_lodges_each_line_and_reports_each(as_trader: TestClient) -> None:
    good = one_item_declaration(lrn="UP-1")
    bad = one_item_declaration(lrn="UP-2", transport_mode="X")
    body = orjson.dumps(good) + b"\n" + orjson.dumps(bad) + b"\n"
    token = csrf(as_trader.get("/web/upload"))
    answer = as_trader.post(
        "/web/upload",
        data={"csrf_token": token},
        files={"file": ("batch.ndjson", body, "application/x-ndjson")},
    )
    assert answer.status_code == 200
    assert "UP-1" in answer.text and "lodged" in answer.text
    assert "/transport_mode" in answer.text and "Rec. 19" in answer.text
    listing = as_trader.get("/web/declarations").text
    assert "UP-1" in listing and "UP-2" not in listing
