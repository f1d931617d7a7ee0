"""An import declaration claiming a preference cites a certificate of origin as a verifiable credential:
lodged when the credential is valid and certifies the claiming items, refused with the reason otherwise
(nothing stored). Partner issuers are trusted through their DID document and status list on disk."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from customhouse.app import policy_from
from customhouse.certificates import credentials as vc
from customhouse.certificates import service
from customhouse.certificates.proofs import CredentialProofs
from customhouse.config import Settings
from customhouse.declarations import service as declarations
from customhouse.declarations.models import DeclarationRecord
from customhouse.declarations.service import Policy
from customhouse.problems import Problem
from tests import factories
from tests.certificates.conftest import AT, SUPERVISOR_P, TRADER_P

PARTNER = vc.Issuer(
    did="did:web:customs.example.cn", key=vc.generate_key(), status_base="https://customs.example.cn"
)
PHONES = {"hsCode": "851713", "countryOfOrigin": "CN", "description": "Mobile phones", "quantity": "100"}


def partner_credential(
    kind: str = vc.PREFERENTIAL_ORIGIN, goods: list[dict[str, Any]] | None = None, index: int = 7
) -> str:
    _, token = vc.issue(
        PARTNER,
        kind=kind,
        id=f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
        subject={"countryOfExport": "CN", "countryOfDestination": "KR", "goods": goods or [PHONES]},
        valid_from=AT - timedelta(days=10),
        valid_until=AT + timedelta(days=365),
        status_index=index,
    )
    return token


def trust(directory: Path, *, revoked: tuple[int, ...] = (), status: bool = True) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "cn.did.json").write_text(json.dumps(PARTNER.did_document()))
    if status:
        token = vc.sign_status_list(PARTNER, revoked=revoked, valid_from=AT - timedelta(days=30))
        (directory / "cn.status.jwt").write_text(token)
    return directory


def claiming(credential: str, *, document_type: str = "861") -> dict[str, Any]:
    """The test import with item 1 (phones from CN) claiming preference 300 on the cited credential."""
    document = factories.declaration(lrn="LRN-PREF-1")
    document["goods_items"][0]["preference"] = "300"
    document["documents"].append(
        {"type": document_type, "reference": "CO-2026-7", "issued_on": "2026-02-20", "credential": credential}
    )
    return document


def with_trust(settings: Settings, directory: Path | None) -> Policy:
    policy = policy_from(settings)
    authority = service.Authority.from_settings(settings)
    return replace(policy, proofs=CredentialProofs(lambda: authority, directory))


def lodge(session: Session, policy: Policy, document: dict[str, Any], at: datetime = AT) -> Problem | None:
    try:
        declarations.lodge(session, document=document, by=TRADER_P, policy=policy, at=at)
    except Problem as problem:
        return problem
    return None


@pytest.fixture
def world(session: Session) -> Session:
    factories.world(session)
    return session


def stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(DeclarationRecord)) or 0)


def test_a_valid_preferential_certificate_from_a_trusted_partner_is_accepted(world, settings, tmp_path):
    policy = with_trust(settings, trust(tmp_path / "trusted"))
    assert lodge(world, policy, claiming(partner_credential())) is None
    assert stored(world) == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("altered", "the credential is altered"),
        ("revoked", "the credential is revoked"),
        ("untrusted", "the credential is unknown-issuer"),
        ("no status list", "the credential is unknown-issuer"),
        ("expired", "the credential is expired"),
    ],
)
def test_a_credential_that_is_not_valid_refuses_the_declaration(world, settings, tmp_path, case, reason):
    token = partner_credential()
    directory: Path | None = trust(tmp_path / "trusted", revoked=(7,) if case == "revoked" else ())
    at = AT
    if case == "altered":
        head, payload, signature = token.split(".")
        body = json.loads(vc.unb64url(payload))
        body["credentialSubject"]["goods"][0]["hsCode"] = "610910"
        token = f"{head}.{vc.b64url(vc.canonical_json(body))}.{signature}"
    elif case == "untrusted":
        directory = None
    elif case == "no status list":
        directory = trust(tmp_path / "keys-only", status=False)
    elif case == "expired":
        at = AT + timedelta(days=400)
    policy = with_trust(settings, directory)
    refused = lodge(world, policy, claiming(token), at)
    assert refused is not None and refused.status == 422, case
    (error,) = refused.errors
    assert error.pointer == "/documents/2/credential" and error.detail.startswith(reason), error.detail
    assert stored(world) == 0  # nothing half done


def test_the_credential_must_certify_the_claiming_items_as_preferential(world, settings, tmp_path):
    policy = with_trust(settings, trust(tmp_path / "trusted"))
    shirts = {**PHONES, "hsCode": "610910"}
    uncovered = lodge(world, policy, claiming(partner_credential(goods=[shirts])))
    assert uncovered is not None and [e.pointer for e in uncovered.errors] == ["/goods_items/0/preference"]
    assert (
        "no valid credential cited certifies goods of HS 851713 originating in CN"
        in uncovered.errors[0].detail
    )
    plain = lodge(world, policy, claiming(partner_credential(kind=vc.CERTIFICATE_OF_ORIGIN)))
    assert plain is not None and "non-preferential" in plain.errors[0].detail
    licence = lodge(world, policy, claiming(partner_credential(kind=vc.LICENCE)))
    assert licence is not None and "must be a certificate of origin" in licence.errors[0].detail
    assert stored(world) == 0


def test_this_administrations_own_credentials_are_checked_against_its_status_list(
    world, settings, released_export
):
    """Goods of Korean origin coming back (a re-import) on the certificate this administration issued."""
    authority = service.Authority.from_settings(settings)
    record = service.issue_origin(
        world,
        declaration_id=released_export.id,
        by=SUPERVISOR_P,
        authority=authority,
        preferential=True,
        now=AT,
    )
    document = claiming(record.token)
    document["goods_items"][0]["origin"] = "KR"
    policy = with_trust(settings, None)
    assert lodge(world, policy, document) is None
    service.revoke(world, certificate_id=record.id, by=SUPERVISOR_P, reason="issued in error")
    refused = lodge(world, policy, {**document, "lrn": "LRN-AGAIN"})
    assert refused is not None and refused.errors[0].detail.startswith("the credential is revoked")


def test_the_application_policy_checks_credentials(settings: Settings) -> None:
    assert isinstance(policy_from(settings).proofs, CredentialProofs)
