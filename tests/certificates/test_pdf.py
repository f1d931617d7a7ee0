"""A certificate on paper: the PDF renders, its QR code (read back by an independent decoder from the
rendered page) carries the verification link, and that link verifies the certificate."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from customhouse.app import create_app
from customhouse.certificates import credentials as vc
from customhouse.certificates import pdf
from customhouse.config import Settings
from tests.certificates.conftest import export_document, page_text_and_codes
from tests.conftest import bearer

URL = "/api/v1/certificates"


@pytest.fixture
def web(connection: Connection, sessions: sessionmaker[Session], settings: Settings) -> Iterator[TestClient]:
    configured = settings.model_copy(update={"public_url": "https://customs.example.kr"})
    app: FastAPI = create_app(configured, engine=connection.engine, sessions=sessions, run_dispatcher=False)
    with TestClient(app) as client:
        yield client


def test_the_pdf_of_a_certificate_of_origin_carries_a_link_that_verifies_it(
    web: TestClient, tokens: dict[str, str]
) -> None:
    lodged = web.post("/api/v1/declarations", json=export_document(), headers=bearer(tokens["trader"]))
    assert lodged.status_code == 201, lodged.text
    issued = web.post(URL, json={"declaration_id": lodged.json()["id"]}, headers=bearer(tokens["officer"]))
    assert issued.status_code == 201, issued.text
    certificate = issued.json()

    answer = web.get(f"{URL}/{certificate['id']}/pdf", headers=bearer(tokens["trader"]))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    text, codes = page_text_and_codes(answer.content)
    assert "Certificate of origin" in text and certificate["id"] in text
    for good in certificate["subject"]["goods"]:
        assert good["hsCode"] in text
    expected = pdf.verification_link(
        "https://customs.example.kr", certificate_id=certificate["id"], token=certificate["token"]
    )
    assert codes == [expected]
    # this credential is longer than a QR code should carry: the link names it by id
    assert len(certificate["token"]) > pdf.QR_MAX and expected.endswith(f"/verify?id={certificate['id']}")
    page = web.get(urlsplit(expected).path + "?" + urlsplit(expected).query)
    assert page.status_code == 200 and "VALID" in page.text
    carried = web.get("/verify", params={"credential": certificate["token"]})  # a short one's link
    assert carried.status_code == 200 and "VALID" in carried.text
    assert (
        web.get(f"{URL}/{certificate['id']}/pdf", headers=bearer(tokens["other_trader"])).status_code == 404
    )
    revoked = web.post(
        f"{URL}/{certificate['id']}/revoke",
        json={"reason": "wrong origin"},
        headers=bearer(tokens["supervisor"]),
    )
    assert revoked.status_code == 200, revoked.text
    assert "REVOKED" in web.get(f"/verify?id={certificate['id']}").text  # the paper stays, its verdict not


def test_a_short_credential_travels_in_the_qr_code_a_long_one_by_its_id() -> None:
    short = pdf.verification_link("https://c.example/", certificate_id="0d2a", token="a.b.c")
    assert short == "https://c.example/verify?credential=a.b.c"
    link = pdf.verification_link("https://c.example/", certificate_id="0d2a", token="e" * 2000)
    assert link == "https://c.example/verify?id=0d2a"
    credential = {
        "id": "urn:uuid:0d2a",
        "type": ["VerifiableCredential", vc.LICENCE],
        "issuer": "did:web:c.example",
        "validFrom": "2026-01-01T00:00:00Z",
        "validUntil": "2027-01-01T00:00:00Z",
        "credentialSubject": {"holder": {"name": "Hanbit <Trading> & Co.", "id": "KR1"}, "licence": "L-1"},
    }
    text, codes = page_text_and_codes(pdf.render(credential, link=link))
    assert codes == [link]
    assert "Licence" in text and "Hanbit <Trading> & Co., KR1" in text  # escaped, not markup


def test_an_unknown_id_on_the_verification_page_is_a_404(web: TestClient) -> None:
    answer = web.get("/verify?id=00000000-0000-4000-8000-000000000000")
    assert answer.status_code == 404 and "No certificate" in answer.text
