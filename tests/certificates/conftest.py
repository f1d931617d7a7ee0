"""An export declaration lodged and released, and the certificate authority of the test's var_dir."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy.orm import Session

from customhouse.auth.service import Principal, Role
from customhouse.certificates.service import Authority
from customhouse.config import Settings
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Declaration
from customhouse.declarations.service import Policy
from tests import factories
from tests.factories import TRADER, export_document

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRADER_P = Principal("trader", frozenset({Role.TRADER}), party_id=TRADER)
OFFICER_P = Principal("officer", frozenset({Role.OFFICER}), offices=frozenset({"KR000040"}))
ELSEWHERE_P = Principal("officer2", frozenset({Role.OFFICER}), offices=frozenset({"KR000010"}))
SUPERVISOR_P = Principal("supervisor", frozenset({Role.SUPERVISOR}))
AUDITOR_P = Principal("auditor", frozenset({Role.AUDITOR}))


@pytest.fixture
def world(session: Session) -> Session:
    factories.world(session)
    return session


@pytest.fixture
def authority(settings: Settings) -> Authority:
    return Authority.from_settings(settings)


def lodge(session: Session, policy: Policy, document: dict[str, Any]) -> Declaration:
    declaration = declarations.lodge(
        session, document=document, by=TRADER_P, policy=policy, at=AT
    ).declaration
    assert declaration is not None
    return declarations.get(session, declaration_id=declaration.id, by=AUDITOR_P)


@pytest.fixture
def released_export(world: Session, policy: Policy) -> Declaration:
    declaration = lodge(world, policy, export_document())
    assert declaration.state == "released", declaration.state
    return declaration


def page_text_and_codes(document: bytes) -> tuple[str, list[str]]:
    """The first page's text, and every QR code found on it rendered at 200 dpi."""
    pages = pdfium.PdfDocument(document)
    assert len(pages) == 1
    page = pages[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=200 / 72).to_pil()
    codes = [
        found.text for found in zxingcpp.read_barcodes(image) if found.format == zxingcpp.BarcodeFormat.QRCode
    ]
    return text, codes
