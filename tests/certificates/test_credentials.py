"""The pure credential layer: VC 2.0 + VC-JOSE-COSE, Bitstring Status List, did:web."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customhouse.certificates import credentials as vc
from customhouse.certificates.credentials import Status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ISSUER = vc.Issuer(did=vc.did_web("customs.test"), key=vc.generate_key(), status_base="https://customs.test")
KEYS = vc.keys_from_json(ISSUER.did_document())


def certificate(index: int = 7, *, issuer: vc.Issuer = ISSUER, days: int = 365) -> str:
    _, token = vc.issue(
        issuer,
        kind=vc.CERTIFICATE_OF_ORIGIN,
        id="urn:uuid:0f7e6d8c-1111-4222-8333-944455566677",
        subject={"id": "urn:customhouse:declaration:26KR00004000000012", "country_of_origin": "KR"},
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=days),
        status_index=index,
    )
    return token


def status_list(*revoked: int) -> vc.StatusList:
    token = vc.sign_status_list(ISSUER, revoked=revoked, valid_from=NOW - timedelta(hours=1))
    return vc.read_status_list(token, public_keys=KEYS, now=NOW)


EMPTY = status_list()


def header(token: str) -> dict[str, str]:
    return dict(json.loads(vc.unb64url(token.split(".")[0])))


def test_a_certificate_round_trips_with_the_vc_jose_cose_header_and_vc_2_0_shape():
    token = certificate()
    assert header(token) == {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": ISSUER.kid}
    verdict = vc.verify(token, public_keys=KEYS, status_list=EMPTY, now=NOW)
    assert verdict.status is Status.VALID, verdict.reason
    document = verdict.credential
    assert document is not None
    assert document["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert document["type"] == ["VerifiableCredential", "CertificateOfOrigin"]
    assert document["issuer"] == "did:web:customs.test"
    assert document["validFrom"] == "2026-11-27T12:00:00Z"
    assert document["credentialStatus"] == {
        "id": "https://customs.test/credentials/status/1#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": "https://customs.test/credentials/status/1",
    }


def test_a_changed_byte_of_the_content_is_altered():
    token = certificate()
    head, payload, signature = token.split(".")
    document = json.loads(vc.unb64url(payload))
    document["credentialSubject"]["country_of_origin"] = "CN"
    forged = ".".join([head, vc.b64url(vc.canonical_json(document)), signature])
    verdict = vc.verify(forged, public_keys=KEYS, status_list=EMPTY, now=NOW)
    assert verdict.status is Status.ALTERED
    assert "signature" in verdict.reason


def test_a_revoked_index_is_revoked_and_others_are_not():
    assert vc.verify(certificate(7), public_keys=KEYS, status_list=status_list(7), now=NOW).status is (
        Status.REVOKED
    )
    assert vc.verify(certificate(8), public_keys=KEYS, status_list=status_list(7), now=NOW).status is (
        Status.VALID
    )


def test_past_valid_until_is_expired_and_before_valid_from_is_not_yet_valid():
    token = certificate(days=30)
    assert vc.verify(token, public_keys=KEYS, status_list=EMPTY, now=NOW + timedelta(days=30)).status is (
        Status.EXPIRED
    )
    early = vc.verify(token, public_keys=KEYS, status_list=EMPTY, now=NOW - timedelta(days=2))
    assert early.status is Status.NOT_YET_VALID


def test_another_issuers_key_is_unknown_and_the_same_kid_with_another_key_is_altered():
    stranger = vc.Issuer(did=vc.did_web("evil.test"), key=vc.generate_key(), status_base="https://evil.test")
    verdict = vc.verify(certificate(issuer=stranger), public_keys=KEYS, status_list=EMPTY, now=NOW)
    assert verdict.status is Status.UNKNOWN_ISSUER
    # a forger signing with its own key under our DID URL
    document, _ = vc.issue(
        ISSUER,
        kind=vc.CERTIFICATE_OF_ORIGIN,
        id="urn:uuid:x",
        subject={"id": "x"},
        valid_from=NOW,
        valid_until=NOW + timedelta(days=1),
        status_index=1,
    )
    forged = vc.sign(document, key=stranger.key, kid=ISSUER.kid)
    assert vc.verify(forged, public_keys=KEYS, status_list=EMPTY, now=NOW).status is Status.ALTERED


def test_a_credential_naming_another_issuer_than_its_key_is_unknown_issuer():
    document, _ = vc.issue(
        ISSUER,
        kind=vc.PERMIT,
        id="urn:uuid:y",
        subject={"id": "y"},
        valid_from=NOW,
        valid_until=NOW + timedelta(days=1),
        status_index=1,
    )
    document["issuer"] = "did:web:other.test"
    token = vc.sign(document, key=ISSUER.key, kid=ISSUER.kid)
    assert vc.verify(token, public_keys=KEYS, status_list=EMPTY, now=NOW).status is Status.UNKNOWN_ISSUER


def test_a_status_list_that_is_not_the_verifiers_is_not_reported_valid():
    other = vc.StatusList(url="https://elsewhere.test/status/1", bits=bytes(16384))
    verdict = vc.verify(certificate(), public_keys=KEYS, status_list=other, now=NOW)
    assert verdict.status is Status.UNKNOWN_ISSUER and "status list" in verdict.reason


def test_a_bare_jwk_is_matched_by_its_thumbprint():
    keys = vc.keys_from_json(vc.public_jwk(ISSUER.key))
    assert vc.verify(certificate(), public_keys=keys, status_list=EMPTY, now=NOW).status is Status.VALID
    with pytest.raises(vc.CredentialError, match="private"):
        vc.keys_from_json(ISSUER.key.as_dict(private=True))


def test_the_status_list_is_gzip_base64url_multibase_of_131072_bits_msb_first():
    encoded = vc.encode_list([0, 9, 131_071])
    assert encoded.startswith("u") and "=" not in encoded
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) == 16_384
    assert bits[0] == 0x80 and bits[1] == 0x40 and bits[-1] == 0x01 and sum(bits) == 0x80 + 0x40 + 1
    assert vc.decode_list(encoded) == bits
    with pytest.raises(vc.CredentialError):
        vc.encode_list([131_072])
    with pytest.raises(vc.CredentialError, match="fewer"):
        vc.decode_list("u" + vc.b64url(gzip.compress(bytes(100))))


def test_the_status_list_credential_is_signed_and_shaped_per_the_spec():
    token = vc.sign_status_list(ISSUER, revoked=[3], valid_from=NOW)
    verdict = vc.verify(token, public_keys=KEYS, status_list=None, now=NOW)
    assert verdict.status is Status.VALID
    assert verdict.credential is not None
    assert verdict.credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    subject = verdict.credential["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    head, payload, signature = token.split(".")
    forged = ".".join(
        [head, payload, signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]]
    )
    with pytest.raises(vc.CredentialError, match="altered"):
        vc.read_status_list(forged, public_keys=KEYS, now=NOW)


def test_did_web_and_its_document():
    assert vc.did_web("Customs.Example:8443") == "did:web:customs.example%3A8443"
    assert vc.did_web("customs.example", "issuers/kr") == "did:web:customs.example:issuers:kr"
    document = ISSUER.did_document()
    assert document["id"] == "did:web:customs.test"
    (method,) = document["verificationMethod"]
    assert method["type"] == "JsonWebKey" and method["controller"] == "did:web:customs.test"
    assert method["publicKeyJwk"]["kty"] == "OKP" and method["publicKeyJwk"]["crv"] == "Ed25519"
    assert "d" not in method["publicKeyJwk"]
    assert document["assertionMethod"] == [method["id"]] == [ISSUER.kid]


def test_garbage_is_altered_never_an_exception():
    for junk in ["", "a.b", "a.b.c", "...", "é.é.é", "x" * 70_000, b"\xff.\xfe.\xfd"]:
        assert vc.verify(junk, public_keys=KEYS, status_list=EMPTY, now=NOW).status is Status.ALTERED


TOKEN = certificate()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(min_value=0, max_value=len(TOKEN) * 8 - 1))
def test_any_flipped_bit_of_the_token_is_never_valid(position: int):
    raw = bytearray(TOKEN.encode())
    raw[position // 8] ^= 1 << (position % 8)
    verdict = vc.verify(bytes(raw), public_keys=KEYS, status_list=EMPTY, now=NOW)
    assert verdict.status is not Status.VALID, (position, verdict)


def test_every_last_character_variant_of_the_signature_is_altered():
    """The spare low bits of the last base64url character are not ignored."""
    head, payload, signature = TOKEN.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for char in alphabet.replace(signature[-1], ""):
        token = f"{head}.{payload}.{signature[:-1]}{char}"
        assert vc.verify(token, public_keys=KEYS, status_list=EMPTY, now=NOW).status is Status.ALTERED
