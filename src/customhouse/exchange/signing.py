"""Signed messages between administrations: a compact JWS (RFC 7515), alg EdDSA with Ed25519
(RFC 8037), over the envelope as canonical JSON. The header's `kid` is `<sender id>#<RFC 7638
thumbprint>`: the receiver finds the sender in its partner registry by the part before '#', and the
key by the partner's registered JWK.

Pure: no database. The sender's key is a PEM file made at first use (customhouse.keys).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from customhouse.keys import ed25519_jws_registry

ALGORITHM = "EdDSA"
TYP = "JOSE"  # RFC 7515 section 4.1.9: the compact serialization
MEDIA_TYPE = "application/jose"
MAX_TOKEN = 1024 * 1024


class SignatureError(ValueError):
    """A token that is not a compact JWS of ours, or whose signature does not match."""


REGISTRY = ed25519_jws_registry(MAX_TOKEN)


def load_key(pem: bytes) -> OKPKey:
    key = OKPKey.import_key(pem)
    if not isinstance(key.private_key, Ed25519PrivateKey):
        raise SignatureError("the key file does not hold an Ed25519 private key")
    return key


def public_jwk(key: OKPKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": str(key.as_dict(private=False)["x"])}


def checked_jwk(jwk: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """A public Ed25519 JWK as the registry keeps it (raises SignatureError on anything else). A DID
    document (did:web's did.json) gives the JWK of its first assertion method."""
    if "verificationMethod" in jwk:
        asserting = set(jwk.get("assertionMethod") or [])
        methods = [
            method.get("publicKeyJwk")
            for method in jwk.get("verificationMethod") or []
            if isinstance(method, Mapping) and method.get("id") in asserting
        ]
        if not methods or not isinstance(methods[0], Mapping):
            raise SignatureError("the DID document has no assertion method with a publicKeyJwk")
        jwk = methods[0]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise SignatureError('a partner key is a public JWK {"kty": "OKP", "crv": "Ed25519", "x": ...}')
    if "d" in jwk:
        raise SignatureError("that JWK holds a private key: register the public key only")
    try:
        Ed25519PublicKey.from_public_bytes(_unb64url(jwk["x"]))
    except ValueError:
        raise SignatureError("the JWK's x is not a base64url Ed25519 public key") from None
    return {"kty": "OKP", "crv": "Ed25519", "x": str(jwk["x"])}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    return str(OKPKey.import_key(checked_jwk(jwk)).thumbprint())


def kid(sender: str, key: OKPKey) -> str:
    return f"{sender}#{thumbprint(public_jwk(key))}"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign(envelope: Mapping[str, Any], *, key: OKPKey, sender: str) -> str:
    header = {"alg": ALGORITHM, "typ": TYP, "kid": kid(sender, key)}
    return str(jws.serialize_compact(header, canonical_json(envelope), key, registry=REGISTRY))


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise SignatureError(f"not base64url: {error}") from None


def signer_of(token: str) -> str:
    """The sender named by the (unverified) header's kid: whom to look up in the registry."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_TOKEN:
        raise SignatureError("a compact JWS has three base64url parts separated by dots")
    try:
        header = json.loads(_unb64url(parts[0]))
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("the JWS header is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise SignatureError("the JWS header's alg must be EdDSA")
    named = header.get("kid")
    if not isinstance(named, str) or "#" not in named:
        raise SignatureError("the JWS header's kid must be '<sender id>#<key thumbprint>'")
    return named.split("#", 1)[0]


def verify(token: str, jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The signed envelope, if `jwk` signed it (raises SignatureError otherwise)."""
    signer_of(token)
    try:
        signed = jws.deserialize_compact(token, OKPKey.import_key(checked_jwk(jwk)), registry=REGISTRY)
    except JoseError as error:
        raise SignatureError(
            f"the signature does not match the sender's registered key ({error.error})"
        ) from None
    try:
        envelope = json.loads(signed.payload)
    except (ValueError, UnicodeDecodeError):
        raise SignatureError("the signed content is not JSON") from None
    if not isinstance(envelope, dict):
        raise SignatureError("the signed content is not an envelope (a JSON object)")
    return envelope
