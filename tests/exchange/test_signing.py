"""Signed envelopes: compact JWS with EdDSA (Ed25519), kid naming the sender; partner keys as a JWK
or from a DID document."""

from __future__ import annotations

import pytest

from customhouse.certificates import credentials as vc
from customhouse.exchange import signing
from customhouse.keys import new_ed25519_pem


def test_sign_and_verify_name_the_sender_and_refuse_other_keys():
    key, other = signing.load_key(new_ed25519_pem()), signing.load_key(new_ed25519_pem())
    token = signing.sign({"message_id": "1", "payload": {"a": 1}}, key=key, sender="KR-KCS")
    assert signing.signer_of(token) == "KR-KCS"
    assert signing.verify(token, signing.public_jwk(key)) == {"message_id": "1", "payload": {"a": 1}}
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(token, signing.public_jwk(other))
    head, _, signature = token.split(".")
    with pytest.raises(signing.SignatureError):
        signing.verify(f"{head}.{vc.b64url(b'{}')}.{signature}", signing.public_jwk(key))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "x.y.z",
        vc.b64url(b'{"alg":"none","kid":"A#b"}') + ".e30.",
        vc.b64url(b'{"alg":"EdDSA"}') + ".e30.x",
    ],
)
def test_anything_but_our_jws_is_refused_before_the_registry_is_asked(token):
    with pytest.raises(signing.SignatureError):
        signing.signer_of(token)


def test_partner_keys_are_public_ed25519_jwks_or_did_documents():
    key = signing.load_key(new_ed25519_pem())
    public = signing.public_jwk(key)
    document = vc.did_document("did:web:customs.example", [key])
    assert signing.checked_jwk(document) == signing.checked_jwk(public) == public
    with pytest.raises(signing.SignatureError, match="private"):
        signing.checked_jwk(key.as_dict(private=True))
    with pytest.raises(signing.SignatureError):
        signing.checked_jwk({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"})
    with pytest.raises(signing.SignatureError, match="assertion"):
        signing.checked_jwk({**document, "assertionMethod": []})
