"""CUSDEC, CUSRES and CUSCAR without a database: round trips, errors that name their segment, and
hostile input (hypothesis-generated, truncated) that never crashes the reader."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.declarations.schemas import DeclarationDocument, SupportingDocument
from customhouse.exchange.edifact import cuscar, cusdec, cusres, syntax
from customhouse.exchange.edifact.syntax import EdifactError
from tests.exchange.edifact.edi import cuscar_interchange, cusdec_interchange, join, segments
from tests.factories import BROKER, declaration, export_document

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydifact.exceptions.MissingImplementationWarning"),
    pytest.mark.filterwarnings("ignore::SyntaxWarning"),
]


def read_back(text: str) -> list[DeclarationDocument]:
    interchange = syntax.parse(text)
    return [DeclarationDocument.model_validate(cusdec.to_document(m).data) for m in interchange.messages]


def rich_document() -> dict:
    """Every optional field set, and text that needs the release character and several components."""
    document = declaration(
        pre_arrival=True,
        representative={"id": BROKER, "name": "Busan Customs Brokers: 'the best' + co?", "country": "KR"},
        buyer={"name": "B" * 70, "country": "KR"},
        exporter={"name": "Shenzhen Bright Electronics Export Division, Building 7", "country": "CN"},
        freight="120.50",
        insurance="7.25",
        containers=["CSQU3054383", "MSCU1234566"],
    )
    if "credential" in SupportingDocument.model_fields:  # a proof of origin as a signed credential
        document["documents"][0]["credential"] = "eyJhbGciOiJFZERTQSJ9." + "A" * 700 + ".c2ln"
    document["goods_items"][0].update(
        national_code="1020",
        description=("Mobile phones; 'smart' + 5G? " * 17).strip(),  # 509 characters: two FTX segments
        alcohol_strength="12.50",
        preference="300",
        package_count=12,
        package_kind="CT",
        quantity="100.125",
    )
    return document


@pytest.mark.parametrize(
    "document",
    [
        declaration(),
        export_document(),
        rich_document(),
        declaration(kind="transit", office_of_destination="KR000010"),
    ],
    ids=["import", "export", "every-field", "transit"],
)
def test_document_to_cusdec_and_back_is_the_same_document(document):
    original = DeclarationDocument.model_validate(document)
    text = cusdec_interchange(document)
    assert text.startswith("UNA:+.? 'UNB+UNOW:4+")
    assert read_back(text) == [original]


def test_the_qualifiers_written_are_those_of_the_d96b_code_lists():
    """1001 950 transit declaration, 6313 ABQ percentage of alcohol by volume, 1131 116 Customs
    preference: codes a partner's translator finds in UNTDID D.96B."""
    transit = segments(cusdec_interchange(declaration(kind="transit", office_of_destination="KR000010")))
    assert any(part.startswith("BGM+950+") for part in transit)
    assert "LOC+45+KR000010" in transit
    rich = segments(cusdec_interchange(rich_document()))
    assert "MEA+AAE+ABQ+P1:12.50" in rich
    first_item = next(part for part in rich if part.startswith("CST+"))
    assert first_item.endswith("+300:116:ZZZ")


@pytest.mark.parametrize(
    ("written", "replaced", "tag"),
    [
        ("BGM+950+", "BGM+856+", "BGM"),
        ("MEA+AAE+ABQ+", "MEA+AAE+ALC+", "MEA"),
        (":116:ZZZ", ":PRF:ZZZ", "CST"),
    ],
    ids=["inspection-certificate-is-not-a-transit-declaration", "alc-is-no-6313-code", "own-code-list"],
)
def test_a_code_outside_the_lists_is_refused_at_its_segment(written, replaced, tag):
    document = rich_document()
    document["kind"] = "transit"
    document["office_of_destination"] = "KR000010"
    text = cusdec_interchange(document)
    assert written in text
    errors = errors_of(text.replace(written, replaced))
    assert errors and {error.tag for error in errors} == {tag}


def test_several_messages_in_one_interchange_keep_their_order():
    documents = [declaration(lrn=f"L-{n}") for n in range(3)]
    assert [d.lrn for d in read_back(cusdec_interchange(*documents))] == ["L-0", "L-1", "L-2"]


texts = st.text(alphabet=string.ascii_letters + string.digits + " '+:?*,.-", min_size=1, max_size=512).filter(
    lambda text: text.strip() == text
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    description=texts,
    name=texts.filter(lambda text: len(text) <= 70),
    quantity=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("999999"), places=3),
    price=st.decimals(min_value=Decimal("0"), max_value=Decimal("9999999"), places=2),
)
def test_round_trip_holds_for_generated_content(description, name, quantity, price):
    document = declaration()
    document["seller"] = {"name": name, "country": "CN"}
    document["goods_items"][0].update(description=description, quantity=str(quantity), price=str(price))
    document["goods_items"] = document["goods_items"][:1]
    document["invoice_total"] = str(price)
    original = DeclarationDocument.model_validate(document)
    assert read_back(cusdec_interchange(document)) == [original]


def errors_of(text: str, reader=cusdec.to_document) -> list[syntax.SegmentError]:
    with pytest.raises(EdifactError) as raised:
        for message in syntax.parse(text).messages:
            reader(message)
    return raised.value.errors


def test_an_unknown_qualifier_is_named_with_its_segment_and_number():
    parts = segments(cusdec_interchange(declaration()))
    number = next(n for n, part in enumerate(parts) if part.startswith("NAD+SE"))
    parts[number] = parts[number].replace("NAD+SE", "NAD+XX")
    [error] = errors_of(join(parts))
    assert (error.tag, error.position) == ("NAD", number - 1)  # UNA and UNB come before UNH (number 1)
    assert "XX" in error.reason


def test_counts_and_references_of_the_envelope_are_checked():
    text = cusdec_interchange(declaration())
    [error] = errors_of(text.replace("UNZ+1+1'", "UNZ+2+1'"))
    assert error.tag == "UNZ" and "2" in error.reason
    parts = segments(text)
    del parts[5]  # a segment of the message: UNT's count no longer holds
    [error] = errors_of(join(parts))
    assert error.tag == "UNT" and "counts" in error.reason


@pytest.mark.parametrize("cut", [1, 2, 50, 300, -1, -2, -3])
def test_a_truncated_interchange_is_refused_naming_the_segment(cut):
    text = cusdec_interchange(declaration())
    truncated = text[:cut]
    errors = errors_of(truncated)
    assert errors and all(len(error.tag) <= 3 and error.position >= 1 and error.reason for error in errors)


def test_every_prefix_of_an_interchange_is_refused_or_read_never_crashes():
    text = cusdec_interchange(declaration())
    for end in range(len(text)):
        try:
            for message in syntax.parse(text[:end]).messages:
                cusdec.to_document(message)
        except EdifactError as error:
            assert all(e.tag and e.position >= 1 and e.reason for e in error.errors)
        else:  # pragma: no cover - a strict prefix of one interchange is never complete
            pytest.fail(f"the prefix of {end} characters was read")


edifact_alphabet = st.sampled_from(list("UNHBGMCSTLOQ+:'?. 0123456789AZ\n\x00é"))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=200), st.text(alphabet=edifact_alphabet, max_size=200)))
def test_arbitrary_text_never_crashes_the_reader(text):
    for reader in (cusdec.to_document, cuscar.read):
        try:
            for message in syntax.parse(text, expected=("CUSDEC", "CUSCAR")).messages:
                reader(message)
        except EdifactError as error:
            assert error.errors
            assert all(e.tag and e.position >= 1 and e.reason for e in error.errors)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_interchanges_never_crash_and_name_a_segment(data):
    text = cusdec_interchange(declaration())
    position = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.text(alphabet="+:'?ABC9 ", max_size=3))
    mutated = text[:position] + replacement + text[position + 1 :]
    try:
        for message in syntax.parse(mutated).messages:
            cusdec.to_document(message)
    except EdifactError as error:
        assert all(e.tag and e.position >= 1 and e.reason for e in error.errors)


def test_cusres_reads_back_what_it_wrote():
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    response = cusres.Response(
        "REJ",
        "LRN-0001",
        at,
        "26KR00000000000017",
        reasons=("x" * 400, "y" * 350, "third reason: 'quoted' + more"),
    )
    text = syntax.serialize(
        [("1", cusres.IDENTIFIER, cusres.build(response))],
        sender="KRCUSTOMS",
        recipient="KR1",
        control_reference="5",
        at=at,
    )
    [message] = syntax.parse(text).messages
    assert message.type == "CUSRES"
    assert cusres.read(message) == response
    accepted = cusres.Response(
        "ACC", "LRN-0001", at, "26KR00000000000017", "yellow", ("no transport document",)
    )
    [message] = syntax.parse(
        syntax.serialize(
            [("1", cusres.IDENTIFIER, cusres.build(accepted))],
            sender="C",
            recipient="T",
            control_reference="6",
            at=at,
        )
    ).messages
    assert cusres.read(message) == accepted


def test_cuscar_reads_back_and_refuses_a_bad_container_by_segment():
    manifest = cuscar.Manifest(
        reference="MAN-1",
        arrival_at=datetime(2026, 3, 3, 6, 0, tzinfo=UTC),
        carrier="Hanjin Lines",
        carrier_id="KR7000000001",
        transport_mode="1",
        voyage="V12",
        means_of_transport_id="IMO9321483",
        lines=[
            cuscar.Line(1, "BL-123", ["CSQU3054383"], "Mobile phones", 10, "CT", Decimal("55.500")),
            cuscar.Line(2, "BL-999", [], None, None, None, None),
        ],
    )
    text = cuscar_interchange(manifest)
    [message] = syntax.parse(text).messages
    assert cuscar.read(message) == manifest
    [error] = errors_of(text.replace("CSQU3054383", "CSQU3054384"), cuscar.read)
    assert error.tag == "EQD" and "ISO 6346" in error.reason


def test_cuscar_message_functions_round_trip_and_others_are_refused_at_bgm():
    correction = cuscar.Manifest(reference="MAN-1", function="5", lines=[cuscar.Line(1, "BL-123")])
    cancellation = cuscar.Manifest(reference="MAN-1", function="1")  # needs no consignment
    for manifest in (correction, cancellation):
        [message] = syntax.parse(cuscar_interchange(manifest)).messages
        assert cuscar.read(message) == manifest
    assert cuscar.digest(correction) == cuscar.digest(replace(correction, function="9"))
    assert cuscar.digest(correction) != cuscar.digest(replace(correction, voyage="V13"))
    change = cuscar_interchange(correction).replace("BGM+85+MAN-1+5", "BGM+85+MAN-1+4")
    [error] = errors_of(change, cuscar.read)
    assert error.tag == "BGM" and error.position == 2 and "'4'" in error.reason
    [error] = errors_of(cuscar_interchange(replace(cancellation, function="9")), cuscar.read)
    assert error.tag == "UNH" and "no consignment" in error.reason
