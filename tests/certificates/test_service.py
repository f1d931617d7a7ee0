"""Issuing and revoking certificates in the database, with their events and the status list."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.certificates import credentials as vc
from customhouse.certificates import service
from customhouse.certificates.credentials import Status
from customhouse.certificates.models import Certificate
from customhouse.config import Settings
from customhouse.db import utcnow
from customhouse.problems import Problem
from tests.certificates.conftest import (
    AUDITOR_P,
    ELSEWHERE_P,
    OFFICER_P,
    SUPERVISOR_P,
    TRADER_P,
    export_document,
    lodge,
)
from tests.factories import declaration as import_document


def test_a_released_export_gets_a_verifiable_certificate_of_origin(world, released_export, authority):
    record = service.issue_origin(world, declaration_id=released_export.id, by=OFFICER_P, authority=authority)
    verdict = service.verify(world, token=record.token, authority=authority)
    assert verdict.status is Status.VALID, verdict.reason
    assert verdict.credential is not None
    assert verdict.credential["type"] == ["VerifiableCredential", "CertificateOfOrigin"]
    subject = verdict.credential["credentialSubject"]
    assert subject["mrn"] == released_export.mrn
    assert subject["exporter"]["id"] == "KR1000000001"
    assert [item["countryOfOrigin"] for item in subject["goods"]] == ["KR", "KR"]
    assert verdict.credential["issuer"] == authority.issuer.did == "did:web:127.0.0.1"
    (event,) = events.history(world, "certificate", str(record.id))
    assert event.type == "certificate.issued" and event.actor == "officer"
    assert event.data["credential_sha256"] == hashlib.sha256(record.token.encode()).hexdigest()
    assert event.data["status_index"] == record.status_index


def test_revocation_shows_in_the_signed_status_list_and_is_an_event(world, released_export, authority):
    record = service.issue_origin(
        world, declaration_id=released_export.id, by=OFFICER_P, authority=authority, preferential=True
    )
    assert record.kind == "PreferentialCertificateOfOrigin"
    service.revoke(world, certificate_id=record.id, by=SUPERVISOR_P, reason="origin not proven")
    verdict = service.verify(world, token=record.token, authority=authority)
    assert verdict.status is Status.REVOKED
    token = service.status_list_token(world, authority=authority)
    listed = vc.read_status_list(
        token, public_keys=authority.public_keys(), now=utcnow() + timedelta(seconds=1)
    )
    assert listed.revoked(record.status_index)
    history = events.history(world, "certificate", str(record.id))
    assert [event.type for event in history] == ["certificate.issued", "certificate.revoked"]
    assert history[1].reason == "origin not proven"
    with pytest.raises(Problem) as again:
        service.revoke(world, certificate_id=record.id, by=SUPERVISOR_P, reason="twice")
    assert again.value.status == 409


def test_only_released_exports_seen_by_customs_get_certificates(world, policy, authority):
    imported = lodge(world, policy, import_document())
    with pytest.raises(Problem) as refused:
        service.issue_origin(world, declaration_id=imported.id, by=SUPERVISOR_P, authority=authority)
    assert refused.value.status == 409 and "not an export" in refused.value.detail
    exported = lodge(world, policy, export_document(lrn="LRN-EXP-2"))
    with pytest.raises(Problem) as trader:
        service.issue_origin(world, declaration_id=exported.id, by=TRADER_P, authority=authority)
    assert trader.value.status == 403
    with pytest.raises(Problem) as elsewhere:
        service.issue_origin(world, declaration_id=exported.id, by=ELSEWHERE_P, authority=authority)
    assert elsewhere.value.status == 404
    service.issue_origin(world, declaration_id=exported.id, by=OFFICER_P, authority=authority)
    with pytest.raises(Problem) as twice:
        service.issue_origin(world, declaration_id=exported.id, by=OFFICER_P, authority=authority)
    assert twice.value.status == 409 and twice.value.extra["certificate_id"]


def test_a_generic_licence_and_status_indexes_never_collide(world, authority):
    records = [
        service.issue_generic(
            world,
            kind="Licence",
            subject={"id": f"urn:licence:{n}", "holder": "KR1000000001"},
            by=SUPERVISOR_P,
            authority=authority,
        )
        for n in range(20)
    ]
    indexes = [record.status_index for record in records]
    assert len(set(indexes)) == 20 and indexes != sorted(indexes)
    assert all(0 <= index < vc.STATUS_LIST_SIZE for index in indexes)
    with pytest.raises(Problem) as wrong:
        service.issue_generic(
            world, kind="CertificateOfOrigin", subject={}, by=SUPERVISOR_P, authority=authority
        )
    assert wrong.value.status == 422
    assert service.get(world, certificate_id=records[0].id, by=AUDITOR_P).id == records[0].id
    with pytest.raises(Problem) as hidden:
        service.get(world, certificate_id=records[0].id, by=TRADER_P)
    assert hidden.value.status == 404
    assert world.scalar(select(Certificate.token).where(Certificate.id == records[0].id)) == records[0].token


def test_the_status_index_mapping_is_a_bijection():
    assert sorted(service.status_index(n) for n in range(vc.STATUS_LIST_SIZE)) == list(
        range(vc.STATUS_LIST_SIZE)
    )


def test_the_key_file_is_created_once_and_reused(settings: Settings, session: Session):
    first = service.Authority.from_settings(settings)
    second = service.Authority.from_settings(settings)
    assert first.issuer.kid == second.issuer.kid
    path = settings.var_dir / service.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    public = service.Authority.from_settings(
        settings.model_copy(update={"public_url": "https://customs.example:8443"})
    )
    assert public.issuer.did == "did:web:customs.example%3A8443"
    assert public.issuer.status_list_url == "https://customs.example:8443/credentials/status/1"
