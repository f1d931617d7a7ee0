"""EDIFACT over HTTP on both databases: CUSDEC lodged like JSON, refusals that name the segment and
store nothing, CUSRES in the mailbox at each status change, CUSCAR matched to declarations."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from customhouse.declarations.models import DeclarationRecord
from customhouse.exchange.edifact import cuscar, cusres, syntax
from customhouse.exchange.edifact.models import CargoReport, MailboxMessage
from tests.conftest import bearer
from tests.exchange.edifact.edi import AT, cuscar_interchange, cusdec_interchange, join, recount, segments
from tests.factories import OTHER_TRADER, declaration

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning"),
    pytest.mark.filterwarnings("ignore::SyntaxWarning"),
]
URL = "/api/v1/edifact"
AT2 = AT + timedelta(hours=3)
EDIFACT = {"Content-Type": "application/EDIFACT"}


def post(client, token, text):
    return client.post(URL, content=text.encode(), headers={**bearer(token), **EDIFACT})


def deliver(client) -> None:
    while client.app.state.dispatcher.deliver_pending():
        pass


def declarations_stored(session) -> int:
    return session.scalar(select(func.count()).select_from(DeclarationRecord))


def test_a_cusdec_becomes_the_declaration_the_json_api_makes(client, tokens):
    document = declaration(lrn="EDI-1")
    answer = post(client, tokens["trader"], cusdec_interchange(document))
    assert answer.status_code == 201, answer.text
    [lodged] = answer.json()["declarations"]
    assert (lodged["message"], lodged["status"], lodged["lrn"]) == ("1", 201, "EDI-1")

    as_json = client.post(
        "/api/v1/declarations", json=declaration(lrn="JSON-1"), headers=bearer(tokens["trader"])
    )
    assert as_json.status_code == 201, as_json.text
    via_edi = client.get(f"/api/v1/declarations/{lodged['id']}", headers=bearer(tokens["trader"])).json()
    via_json = as_json.json()
    assert via_edi["document"] == {**via_json["document"], "lrn": "EDI-1"}
    assert (via_edi["state"], via_edi["lane"], via_edi["lane_reasons"]) == (
        via_json["state"],
        via_json["lane"],
        via_json["lane_reasons"],
    )
    assert via_edi["mrn"] and via_edi["mrn"] != via_json["mrn"]

    again = post(client, tokens["trader"], cusdec_interchange(document))
    assert again.status_code == 200 and again.json()["declarations"][0]["id"] == lodged["id"]


def test_a_refused_field_is_named_at_its_segment_and_nothing_is_stored(client, tokens, session):
    before = declarations_stored(session)
    good = declaration(lrn="EDI-OK")
    parts = segments(cusdec_interchange(good, declaration(lrn="EDI-BAD")))
    # the second message's second goods item gets an HS code that does not exist
    unh = [n for n, part in enumerate(parts) if part.startswith("UNH")][1]
    cst = [n for n, part in enumerate(parts) if part.startswith("CST") and n > unh][1]
    parts[cst] = parts[cst].replace("+610910:108", "+123456:108")
    answer = post(client, tokens["trader"], join(parts))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["segments"]
    assert error == {
        "tag": "CST",
        "position": cst - unh + 1,
        "message": "2",
        "pointer": "/goods_items/1/hs_code",
        "reason": error["reason"],
    }
    assert "HS 2022" in error["reason"]
    assert answer.json()["errors"][0]["pointer"] == "/goods_items/1/hs_code"
    assert declarations_stored(session) == before  # the good message was not lodged either


def test_declaring_for_another_party_is_refused_at_the_nad_segment(client, tokens):
    document = declaration(declarant={"id": OTHER_TRADER, "name": "Daehan Imports", "country": "KR"})
    answer = post(client, tokens["trader"], cusdec_interchange(document))
    assert answer.status_code == 403, answer.text
    [error] = answer.json()["segments"]
    assert (error["tag"], error["pointer"]) == ("NAD", "/declarant/id")


def test_a_cross_field_rule_and_a_missing_field_name_their_segments(client, tokens):
    parts = segments(cusdec_interchange(declaration(invoice_total="1.00")))
    parts = [part for part in parts if not part.startswith("LOC+27")]  # goods without origin
    answer = post(client, tokens["trader"], join(recount(parts)))
    assert answer.status_code == 422, answer.text
    by_pointer = {error["pointer"]: error for error in answer.json()["segments"]}
    assert by_pointer["/goods_items/0/origin"]["tag"] == "CST"  # the item the origin is missing from
    assert "required" in by_pointer["/goods_items/0/origin"]["reason"]


def test_syntax_errors_are_400_and_name_the_segment(client, tokens, session):
    before = declarations_stored(session)
    text = cusdec_interchange(declaration())
    truncated = post(client, tokens["trader"], text[: len(text) // 2])
    assert truncated.status_code == 400, truncated.text
    [error] = truncated.json()["segments"]
    assert error["tag"] and error["position"] >= 1 and "cut short" in error["reason"]
    wrong_type = post(client, tokens["trader"], text.replace("CUSDEC", "INVOIC"))
    assert wrong_type.status_code == 400 and wrong_type.json()["segments"][0]["tag"] == "UNH"
    json_body = client.post(URL, json={"lrn": "x"}, headers=bearer(tokens["trader"]))
    assert json_body.status_code == 415 and json_body.json()["errors"][0]["parameter"] == "Content-Type"
    assert client.post(URL, content=text.encode(), headers=EDIFACT).status_code == 401
    assert declarations_stored(session) == before


def read(client, token, entry_id) -> cusres.Response:
    answer = client.get(f"{URL}/messages/{entry_id}", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/EDIFACT")
    [message] = syntax.parse(answer.content.decode()).messages
    return cusres.read(message)


def test_each_status_change_puts_a_cusres_in_the_declarants_mailbox(client, tokens, session):
    document = declaration(lrn="EDI-Y")
    document["documents"] = document["documents"][:1]  # no transport document: yellow lane
    lodged = post(client, tokens["trader"], cusdec_interchange(document)).json()["declarations"][0]
    assert (lodged["state"], lodged["lane"]) == ("under_control", "yellow")
    deliver(client)
    mailbox = client.get(f"{URL}/messages", headers=bearer(tokens["trader"])).json()
    assert [entry["status"] for entry in mailbox] == ["ACC", "CTL"]
    accepted = read(client, tokens["trader"], mailbox[0]["id"])
    assert (accepted.mrn, accepted.lrn, accepted.lane) == (lodged["mrn"], "EDI-Y", "yellow")
    assert accepted.reasons  # why the lane

    declaration_id = lodged["id"]
    current = client.get(f"/api/v1/declarations/{declaration_id}", headers=bearer(tokens["officer"]))
    requested = client.post(
        f"/api/v1/declarations/{declaration_id}/request-documents",
        json={"documents": ["705"], "reason": "bill of lading missing"},
        headers={**bearer(tokens["officer"]), "If-Match": current.headers["ETag"]},
    )
    assert requested.status_code == 200, requested.text
    rejected = client.post(
        f"/api/v1/declarations/{declaration_id}/reject",
        json={"reason": "no bill of lading within the time allowed"},
        headers={**bearer(tokens["officer"]), "If-Match": requested.headers["ETag"]},
    )
    assert rejected.status_code == 200, rejected.text
    deliver(client)
    deliver(client)  # delivery is exactly once: nothing is added by a second pass
    mailbox = client.get(f"{URL}/messages", headers=bearer(tokens["trader"])).json()
    assert [entry["status"] for entry in mailbox] == ["ACC", "CTL", "DRQ", "REJ"]
    asked = read(client, tokens["trader"], mailbox[2]["id"])
    assert (asked.documents, asked.reasons) == (("705",), ("bill of lading missing",))
    refused = read(client, tokens["trader"], mailbox[3]["id"])
    assert (refused.status, refused.mrn, refused.reasons) == (
        "REJ",
        lodged["mrn"],
        ("no bill of lading within the time allowed",),
    )
    page = client.get(f"{URL}/messages", params={"after": mailbox[1]["id"]}, headers=bearer(tokens["trader"]))
    assert [entry["status"] for entry in page.json()] == ["DRQ", "REJ"]

    # nobody else reads them
    assert client.get(f"{URL}/messages", headers=bearer(tokens["other_trader"])).json() == []
    other = client.get(f"{URL}/messages/{mailbox[0]['id']}", headers=bearer(tokens["other_trader"]))
    assert other.status_code == 404
    assert session.scalar(select(func.count()).select_from(MailboxMessage)) == 4


def test_a_released_green_declaration_gets_accepted_then_released(client, tokens):
    lodged = post(client, tokens["trader"], cusdec_interchange(declaration(lrn="EDI-G"))).json()[
        "declarations"
    ][0]
    deliver(client)  # assessment, then release: what it owes is secured on the trader's account
    statuses = [e["status"] for e in client.get(f"{URL}/messages", headers=bearer(tokens["trader"])).json()]
    assert statuses == ["ACC", "REL"], statuses
    state = client.get(f"/api/v1/declarations/{lodged['id']}", headers=bearer(tokens["trader"])).json()[
        "state"
    ]
    assert state == "released"


def test_a_manifest_is_matched_by_transport_document_and_container(client, tokens, session):
    by_document = declaration(lrn="EDI-BL", containers=[])  # names BL-123
    by_container = declaration(lrn="EDI-CN")
    by_container["documents"] = [
        {"type": "705", "reference": "BL-555", "issued_on": "2026-01-12"},
        by_container["documents"][0],
    ]
    by_container["containers"] = ["MSCU1234566"]
    assert post(client, tokens["trader"], cusdec_interchange(by_document, by_container)).status_code == 201
    deliver(client)
    manifest = cuscar.Manifest(
        reference="MAN-7",
        carrier="Hanjin Lines",
        transport_mode="1",
        means_of_transport_id="IMO9321483",
        lines=[
            cuscar.Line(1, "BL-123", ["CSQU3054383"], "Mobile phones", 10, "CT"),
            cuscar.Line(2, "BL-777", ["MSCU1234566"]),
            cuscar.Line(3, "BL-999", []),
        ],
    )
    answer = post(client, tokens["trader"], cuscar_interchange(manifest))
    assert answer.status_code == 201, answer.text
    [stored] = answer.json()["manifests"]
    shown = client.get(f"{URL}/manifests/{stored['id']}", headers=bearer(tokens["officer"])).json()
    lines = {line["sequence"]: line for line in shown["lines"]}
    assert [(m["lrn"], m["on"]) for m in lines[1]["matches"]] == [("EDI-BL", ["transport document BL-123"])]
    assert [(m["lrn"], m["on"]) for m in lines[2]["matches"]] == [("EDI-CN", ["container MSCU1234566"])]
    assert lines[3]["matches"] == [] and lines[3]["declared"] is False
    assert lines[1]["matches"][0]["mrn"]
    # another trader may not read the manifest; a bad container is refused at its segment
    assert (
        client.get(f"{URL}/manifests/{stored['id']}", headers=bearer(tokens["other_trader"])).status_code
        == 404
    )
    bad = cuscar_interchange(manifest).replace("MSCU1234566", "MSCU1234567")
    refused = post(client, tokens["trader"], bad)
    assert refused.status_code == 422 and refused.json()["segments"][0]["tag"] == "EQD"
    assert session.scalar(select(func.count()).select_from(CargoReport)) == 1


def test_the_schema_carries_wco_ids_and_needs_no_login(client):
    schema = client.get("/api/v1/schema").json()
    assert schema["properties"]["lrn"]["x-wcodm"] == "D026"
    hs = schema["properties"]["goods_items"]["items"]["properties"]["hs_code"]
    assert "x-wcodm" in hs and hs["x-wcodm-status"] in ("verified", "recalled", "unknown")


def test_a_resent_manifest_is_answered_with_what_was_stored_and_a_correction_versions_it(
    client, tokens, session
):
    original = cuscar.Manifest(reference="MAN-8", lines=[cuscar.Line(1, "BL-123", ["CSQU3054383"])])

    def reports() -> int:
        return session.scalar(select(func.count()).select_from(CargoReport))

    first = post(client, tokens["trader"], cuscar_interchange(original))
    assert first.status_code == 201, first.text
    [v1] = first.json()["manifests"]
    assert (v1["status"], v1["version"], v1["function"], v1["state"]) == (201, 1, "9", "in force")
    # the same message again, in the same interchange or a new one: what was stored, nothing more
    for text in (cuscar_interchange(original), cuscar_interchange(original, control="10", at=AT2)):
        again = post(client, tokens["trader"], text)
        assert again.status_code == 200, again.text
        assert [(m["status"], m["id"]) for m in again.json()["manifests"]] == [(200, v1["id"])]
    assert reports() == 1
    # another content under the same number as an original: refused at BGM, nothing stored
    changed = replace(original, lines=[cuscar.Line(1, "BL-123", ["CSQU3054383", "MSCU1234566"])])
    refused = post(client, tokens["trader"], cuscar_interchange(changed))
    assert refused.status_code == 409
    [error] = refused.json()["segments"]
    assert (error["tag"], error["position"]) == ("BGM", 2) and "function 5" in error["reason"]
    # the correction, as a replacement: version 2 in force, version 1 replaced by it
    corrected = post(client, tokens["trader"], cuscar_interchange(replace(changed, function="5")))
    assert corrected.status_code == 201, corrected.text
    [v2] = corrected.json()["manifests"]
    assert (v2["version"], v2["function"], v2["state"]) == (2, "5", "in force")
    assert v2["lines"][0]["containers"] == ["CSQU3054383", "MSCU1234566"]
    old = client.get(f"{URL}/manifests/{v1['id']}", headers=bearer(tokens["officer"])).json()
    assert (old["state"], old["replaced_by"]) == ("replaced", v2["id"])
    late = post(client, tokens["trader"], cuscar_interchange(original, control="11"))  # a late resend
    assert late.status_code == 200 and late.json()["manifests"][0]["id"] == v1["id"]
    # another carrier's manifest of the same number is its own
    other = post(client, tokens["other_trader"], cuscar_interchange(original))
    assert other.status_code == 201 and other.json()["manifests"][0]["version"] == 1
    # cancelled: version 3 with no consignment; nothing replaces it afterwards
    cancel = cuscar_interchange(cuscar.Manifest(reference="MAN-8", function="1"), control="12")
    cancelled = post(client, tokens["trader"], cancel)
    assert cancelled.status_code == 201, cancelled.text
    [v3] = cancelled.json()["manifests"]
    assert (v3["version"], v3["state"], v3["lines"]) == (3, "cancelled", [])
    assert post(client, tokens["trader"], cancel).json()["manifests"][0]["id"] == v3["id"]
    after = post(client, tokens["trader"], cuscar_interchange(replace(original, function="5"), control="13"))
    assert after.status_code == 409 and "cancelled" in after.json()["segments"][0]["reason"]
    unknown = post(
        client, tokens["trader"], cuscar_interchange(replace(original, reference="MAN-9", function="5"))
    )
    assert unknown.status_code == 409 and "no manifest MAN-9" in unknown.json()["segments"][0]["reason"]
    assert reports() == 4
