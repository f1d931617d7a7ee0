"""Certificates as W3C Verifiable Credentials 2.0 secured with VC-JOSE-COSE; pure, no database.

**Credential.** A JSON object with `@context` ["https://www.w3.org/ns/credentials/v2"], `type`
["VerifiableCredential", <kind>], `id`, `issuer` (a did:web), `validFrom`, `validUntil`,
`credentialSubject` and `credentialStatus` (a `BitstringStatusListEntry`, purpose `revocation`).

**Securing.** The credential itself is the payload of a compact JWS (VC-JOSE-COSE §3.1.1, no JWT
claims wrapper), protected header {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": <DID URL>},
signed with an Ed25519 key. The `kid` is `<issuer DID>#<RFC 7638 thumbprint of the public JWK>`, so a
new key gets a new `kid` and old credentials still name theirs.

**Verification** (`verify`) answers one of VALID, REVOKED, ALTERED, EXPIRED, NOT_YET_VALID or
UNKNOWN_ISSUER with the reason, and never raises for any input. Each segment must be canonical
base64url (re-encoding gives the same characters): JWS libraries decode and ignore the spare low bits
of a segment's last character, which would let a changed token verify; here any changed character is
ALTERED (tested with hypothesis, every bit of the token).

**Bitstring Status List** (W3C Recommendation): the list is a bitstring of at least 131,072 bits
(16 KiB), index 0 the most significant bit of the first byte, GZIP-compressed, base64url without
padding, with the multibase prefix "u". The status list credential (type BitstringStatusListCredential,
subject type BitstringStatusList) is signed the same way as certificates.

**did:web.** `did_web("customs.example:8443")` is "did:web:customs.example%3A8443"; the document
lists the key as a `JsonWebKey` verification method (public JWK: OKP, Ed25519) referenced from
`assertionMethod`.

joserfc flags "EdDSA" as deprecated by RFC 9864 (which prefers the fully specified "Ed25519"); the
VC-JOSE-COSE profile this platform follows asks for EdDSA over Ed25519, so the registry here knows that
one algorithm, limited to Ed25519 keys, without the warning.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from customhouse.keys import ed25519_jws_registry

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
JWK_CONTEXT = "https://w3id.org/security/jwk/v1"
ALGORITHM = "EdDSA"
TYP = "vc+jwt"
CTY = "vc"
MEDIA_TYPE = "application/vc+jwt"

CERTIFICATE_OF_ORIGIN = "CertificateOfOrigin"
PREFERENTIAL_ORIGIN = "PreferentialCertificateOfOrigin"
LICENCE = "Licence"
PERMIT = "Permit"
OTHER = "Certificate"
KINDS = frozenset({CERTIFICATE_OF_ORIGIN, PREFERENTIAL_ORIGIN, LICENCE, PERMIT, OTHER})

STATUS_LIST_SIZE = 131_072  # bits: the specification's minimum (16 KiB), herd privacy
REVOCATION = "revocation"
MAX_TOKEN = 64 * 1024


class Status(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    ALTERED = "altered"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    UNKNOWN_ISSUER = "unknown-issuer"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reason: str
    credential: dict[str, Any] | None = None
    kid: str | None = None

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID


class CredentialError(ValueError):
    """A credential, key, DID document or status list that cannot be built or read; says why."""


# ---------------------------------------------------------------- encoding


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict base64url without padding: only the canonical encoding of some bytes is accepted."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise CredentialError(f"not base64url: {error}") from None
    if b64url(raw) != text:
        raise CredentialError("not canonical base64url")
    return raw


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise CredentialError("times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise CredentialError(f"{value!r} is not a date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CredentialError(f"{value!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise CredentialError(f"{value!r} has no time zone")
    return moment


# ---------------------------------------------------------------- keys and did:web


def did_web(host: str, path: str = "") -> str:
    """The did:web of a host (a port's colon percent-encoded) and optional path ("a/b" → ":a:b")."""
    host = host.strip().lower()
    if not host or "/" in host:
        raise CredentialError(f"{host!r} is not a host name")
    did = "did:web:" + quote(host, safe="")
    parts = [part for part in path.strip("/").split("/") if part]
    return ":".join([did, *(quote(part, safe="") for part in parts)])


def generate_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def private_key_from_pem(pem: bytes) -> OKPKey:
    key = OKPKey.import_key(pem)
    if not isinstance(key.private_key, Ed25519PrivateKey):
        raise CredentialError("the key is not an Ed25519 private key")
    return key


def public_jwk(key: OKPKey) -> dict[str, str]:
    """The public JWK (kty OKP, crv Ed25519, x) of a key."""
    jwk = key.as_dict(private=False)
    return {"kty": "OKP", "crv": "Ed25519", "x": str(jwk["x"])}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an OKP public JWK."""
    return str(_public_key(jwk["crv"], jwk["x"]).thumbprint())


@lru_cache(maxsize=256)
def _public_key(crv: str, x: str) -> OKPKey:
    return OKPKey.import_key({"kty": "OKP", "crv": crv, "x": x})


def key_id(did: str, key: OKPKey) -> str:
    return f"{did}#{thumbprint(public_jwk(key))}"


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who signs: its did:web, its Ed25519 key and the base URL of its status lists."""

    did: str
    key: OKPKey
    status_base: str
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kid", key_id(self.did, self.key))

    @property
    def status_list_url(self) -> str:
        return f"{self.status_base.rstrip('/')}/credentials/status/1"

    def did_document(self) -> dict[str, Any]:
        return did_document(self.did, [self.key])


def did_document(did: str, keys: Iterable[OKPKey]) -> dict[str, Any]:
    """The DID document: each key a JsonWebKey verification method, all of them assertion methods."""
    methods = [
        {"id": key_id(did, key), "type": "JsonWebKey", "controller": did, "publicKeyJwk": public_jwk(key)}
        for key in keys
    ]
    return {
        "@context": [DID_CONTEXT, JWK_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A key a verifier trusts: `kid` the DID URL it is known by (None: any kid of the issuer DID
    whose fragment is this key's thumbprint)."""

    jwk: dict[str, Any]
    kid: str | None = None

    def matches(self, kid: str) -> bool:
        if self.kid is not None:
            return self.kid == kid
        return "#" in kid and kid.split("#", 1)[1] == thumbprint(self.jwk)


def keys_from_json(document: Mapping[str, Any]) -> list[PublicKey]:
    """Trusted keys from a DID document (its assertion methods) or from one public JWK."""
    if "verificationMethod" in document:
        did = document.get("id")
        asserting = set(document.get("assertionMethod") or [])
        keys = []
        for method in document.get("verificationMethod") or []:
            if not isinstance(method, Mapping) or method.get("id") not in asserting:
                continue
            jwk = method.get("publicKeyJwk")
            if method.get("controller") != did or not isinstance(jwk, Mapping):
                continue
            keys.append(PublicKey(_checked_jwk(jwk), kid=str(method["id"])))
        if not keys:
            raise CredentialError("the DID document has no JsonWebKey assertion method")
        return keys
    return [PublicKey(_checked_jwk(document), kid=document.get("kid"))]


def _checked_jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise CredentialError("an issuer key is a public JWK with kty OKP and crv Ed25519")
    if "d" in jwk:
        raise CredentialError("that JWK holds a private key: give the public key only")
    try:
        raw = unb64url(jwk["x"])
        Ed25519PublicKey.from_public_bytes(raw)
    except (CredentialError, ValueError):
        raise CredentialError("the JWK's x is not a base64url Ed25519 public key") from None
    return {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}


# ---------------------------------------------------------------- JWS


REGISTRY = ed25519_jws_registry(MAX_TOKEN)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(credential: Mapping[str, Any], *, key: OKPKey, kid: str) -> str:
    """The credential as a compact JWS (VC-JOSE-COSE), header alg EdDSA, typ vc+jwt, cty vc."""
    header = {"alg": ALGORITHM, "typ": TYP, "cty": CTY, "kid": kid}
    token = jws.serialize_compact(header, canonical_json(credential), key, registry=REGISTRY)
    return str(token)


# ---------------------------------------------------------------- credentials


def status_entry(list_url: str, index: int) -> dict[str, str]:
    if not 0 <= index < STATUS_LIST_SIZE:
        raise CredentialError(f"status index {index} is outside 0 to {STATUS_LIST_SIZE - 1}")
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": REVOCATION,
        "statusListIndex": str(index),
        "statusListCredential": list_url,
    }


def credential(
    *,
    kind: str,
    id: str,
    issuer: str,
    subject: Mapping[str, Any],
    valid_from: datetime,
    valid_until: datetime,
    status: Mapping[str, Any],
    name: str | None = None,
) -> dict[str, Any]:
    """A VC 2.0 of `kind` (CertificateOfOrigin, PreferentialCertificateOfOrigin, Licence, Permit,
    Certificate)."""
    if kind not in KINDS:
        raise CredentialError(f"kind {kind!r}: expected one of {sorted(KINDS)}")
    if valid_until <= valid_from:
        raise CredentialError("validUntil must be after validFrom")
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": id,
        "type": ["VerifiableCredential", kind],
        "issuer": issuer,
        "validFrom": rfc3339(valid_from),
        "validUntil": rfc3339(valid_until),
        "credentialSubject": dict(subject),
        "credentialStatus": dict(status),
    }
    if name is not None:
        document["name"] = name
    return document


def issue(
    issuer: Issuer,
    *,
    kind: str,
    id: str,
    subject: Mapping[str, Any],
    valid_from: datetime,
    valid_until: datetime,
    status_index: int,
    name: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Build and sign a credential: (the credential, its compact JWS)."""
    document = credential(
        kind=kind,
        id=id,
        issuer=issuer.did,
        subject=subject,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status_entry(issuer.status_list_url, status_index),
        name=name,
    )
    return document, sign(document, key=issuer.key, kid=issuer.kid)


# ---------------------------------------------------------------- Bitstring Status List


def bitstring(revoked: Iterable[int], size: int = STATUS_LIST_SIZE) -> bytes:
    """A bitstring of `size` bits with the given indexes set (index 0: the first byte's high bit)."""
    if size < STATUS_LIST_SIZE or size % 8:
        raise CredentialError(f"a status list has a multiple of 8 bits, at least {STATUS_LIST_SIZE}")
    bits = bytearray(size // 8)
    for index in revoked:
        if not 0 <= index < size:
            raise CredentialError(f"status index {index} is outside 0 to {size - 1}")
        bits[index >> 3] |= 0x80 >> (index & 7)
    return bytes(bits)


def encode_list(revoked: Iterable[int], size: int = STATUS_LIST_SIZE) -> str:
    """The encodedList of a bitstring of `size` bits with the given indexes set."""
    return "u" + b64url(gzip.compress(bitstring(revoked, size), mtime=0))


def decode_list(encoded: str) -> bytes:
    """The bitstring of an encodedList ("u" + base64url of GZIP)."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise CredentialError("encodedList must be multibase base64url (prefix 'u')")
    try:
        bits = gzip.decompress(unb64url(encoded[1:]))
    except (OSError, EOFError) as error:
        raise CredentialError(f"encodedList is not GZIP data: {error}") from None
    if len(bits) * 8 < STATUS_LIST_SIZE:
        raise CredentialError(f"the status list has {len(bits) * 8} bits, fewer than {STATUS_LIST_SIZE}")
    return bits


def bit(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise CredentialError(f"status index {index} is outside the list of {len(bits) * 8} bits")
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


@dataclass(frozen=True, slots=True)
class StatusList:
    """A revocation list a verifier has read: its credential URL and its bits."""

    url: str
    bits: bytes
    issuer: str | None = None

    def revoked(self, index: int) -> bool:
        return bit(self.bits, index)


def status_list_credential(
    issuer: Issuer, *, revoked: Iterable[int], valid_from: datetime, valid_until: datetime | None = None
) -> dict[str, Any]:
    url = issuer.status_list_url
    document: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.did,
        "validFrom": rfc3339(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": REVOCATION,
            "encodedList": encode_list(revoked),
        },
    }
    if valid_until is not None:
        document["validUntil"] = rfc3339(valid_until)
    return document


def sign_status_list(
    issuer: Issuer, *, revoked: Iterable[int], valid_from: datetime, valid_until: datetime | None = None
) -> str:
    document = status_list_credential(issuer, revoked=revoked, valid_from=valid_from, valid_until=valid_until)
    return sign(document, key=issuer.key, kid=issuer.kid)


def read_status_list(token: str, *, public_keys: Iterable[PublicKey], now: datetime) -> StatusList:
    """A status list credential's bits, after checking its signature and validity; CredentialError
    says why it is not accepted."""
    verdict = _check(token, public_keys=public_keys, now=now)
    if verdict.status is not Status.VALID or verdict.credential is None:
        raise CredentialError(f"the status list credential is {verdict.status}: {verdict.reason}")
    document = verdict.credential
    subject = document.get("credentialSubject")
    if "BitstringStatusListCredential" not in (document.get("type") or []) or not isinstance(subject, dict):
        raise CredentialError("that credential is not a BitstringStatusListCredential")
    if subject.get("statusPurpose") != REVOCATION:
        raise CredentialError("the status list's purpose is not revocation")
    return StatusList(
        url=str(document.get("id")),
        bits=decode_list(subject.get("encodedList") or ""),
        issuer=document["issuer"],
    )


# ---------------------------------------------------------------- verification


def _check(token: str | bytes, *, public_keys: Iterable[PublicKey], now: datetime) -> Verdict:
    """Signature, issuer and validity period; not the status."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            return Verdict(Status.ALTERED, "the token is not ASCII: it is not a compact JWS")
    token = token.strip()
    if len(token) > MAX_TOKEN:
        return Verdict(Status.ALTERED, f"the token is longer than {MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3:
        return Verdict(Status.ALTERED, "a compact JWS has three parts separated by dots")
    try:
        header = json.loads(unb64url(parts[0]))
        payload = unb64url(parts[1])
        signature = unb64url(parts[2])
    except (CredentialError, ValueError, UnicodeDecodeError) as error:
        return Verdict(Status.ALTERED, f"the token is damaged: {error}")
    if not isinstance(header, dict):
        return Verdict(Status.ALTERED, "the JWS header is not a JSON object")
    if header.get("alg") != ALGORITHM or len(signature) != 64:
        return Verdict(Status.ALTERED, f"the header's alg is {header.get('alg')!r}, not EdDSA (Ed25519)")
    if header.get("typ") != TYP:
        return Verdict(Status.ALTERED, f"the header's typ is {header.get('typ')!r}, not {TYP!r}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        return Verdict(Status.UNKNOWN_ISSUER, "the header names no key (kid)")
    trusted = [key for key in public_keys if key.matches(kid)]
    if not trusted:
        return Verdict(
            Status.UNKNOWN_ISSUER, f"the key {kid} is not one of the trusted issuer's keys", kid=kid
        )
    for key in trusted:
        try:
            jws.deserialize_compact(token, _public_key(key.jwk["crv"], key.jwk["x"]), registry=REGISTRY)
        except JoseError:
            continue
        break
    else:
        return Verdict(Status.ALTERED, "the signature does not match the content: it was changed", kid=kid)
    try:
        document = json.loads(payload)
    except ValueError:
        return Verdict(Status.ALTERED, "the signed content is not JSON", kid=kid)
    if not isinstance(document, dict):
        return Verdict(Status.ALTERED, "the signed content is not a credential", kid=kid)
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if issuer_id != kid.split("#", 1)[0]:
        return Verdict(
            Status.UNKNOWN_ISSUER, f"the credential names issuer {issuer_id!r}, not {kid}", kid=kid
        )
    if (document.get("@context") or [None])[0] != VC_CONTEXT or "VerifiableCredential" not in (
        document.get("type") or []
    ):
        return Verdict(Status.ALTERED, "the signed content is not a W3C VC 2.0", document, kid)
    try:
        valid_from = parse_time(document["validFrom"]) if "validFrom" in document else None
        valid_until = parse_time(document["validUntil"]) if "validUntil" in document else None
    except CredentialError as error:
        return Verdict(Status.ALTERED, str(error), document, kid)
    if valid_from is not None and now < valid_from:
        return Verdict(Status.NOT_YET_VALID, f"valid from {rfc3339(valid_from)} only", document, kid)
    if valid_until is not None and now >= valid_until:
        return Verdict(Status.EXPIRED, f"expired at {rfc3339(valid_until)}", document, kid)
    return Verdict(Status.VALID, f"signed by {kid}", document, kid)


def verify(
    token: str | bytes,
    *,
    public_keys: Iterable[PublicKey],
    status_list: StatusList | Iterable[StatusList] | None,
    now: datetime,
) -> Verdict:
    """Is this credential valid now? Signature by a trusted key, unchanged, within its validity period
    and not revoked in its status list (which must be among `status_list`). Never raises."""
    try:
        verdict = _check(token, public_keys=list(public_keys), now=now)
    except Exception as error:  # a verifier answers; it does not crash on hostile input
        return Verdict(Status.ALTERED, f"the token cannot be read: {type(error).__name__}")
    if verdict.status is not Status.VALID or verdict.credential is None:
        return verdict
    document = verdict.credential
    entries = document.get("credentialStatus")
    if entries is None:
        return Verdict(Status.VALID, f"{verdict.reason}; it has no status list", document, verdict.kid)
    lists = [status_list] if isinstance(status_list, StatusList) else list(status_list or [])
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            return Verdict(Status.ALTERED, "credentialStatus is not a BitstringStatusListEntry", document)
        if entry.get("statusPurpose") != REVOCATION:
            continue
        url = entry.get("statusListCredential")
        known = [candidate for candidate in lists if candidate.url == url]
        if not known:
            return Verdict(
                Status.UNKNOWN_ISSUER,
                f"its status list {url!r} is not one this verifier holds: revocation cannot be checked",
                document,
                verdict.kid,
            )
        try:
            index = int(entry.get("statusListIndex", ""))
            revoked = known[0].revoked(index)
        except (ValueError, CredentialError) as error:
            return Verdict(Status.ALTERED, f"bad statusListIndex: {error}", document, verdict.kid)
        if revoked:
            return Verdict(Status.REVOKED, f"revoked: bit {index} of {url} is set", document, verdict.kid)
    return Verdict(Status.VALID, f"{verdict.reason}; not revoked", document, verdict.kid)
