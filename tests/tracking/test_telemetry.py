"""The wire format: signing and opening messages, and every way a message is refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.tracking import telemetry
from customhouse.tracking.telemetry import Signer, TelemetryError
from tests.tracking.conftest import report

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
KEY = telemetry.generate_key()
OTHER = telemetry.generate_key()
PUBLIC = telemetry.public_key(telemetry.public_pem(KEY))
SIGNERS = {
    "SEAL-1": Signer("SEAL-1", PUBLIC, frozenset({"SEAL-1"})),
    "GW-1": Signer("GW-1", PUBLIC, frozenset({"GW-1", "SEAL-1", "SEAL-2"})),
}


def refused(raw: bytes) -> TelemetryError:
    with pytest.raises(TelemetryError) as caught:
        telemetry.open_message(raw, SIGNERS.get)
    return caught.value


def b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def test_a_signed_report_opens_to_the_same_report():
    raw = telemetry.sign(KEY, "SEAL-1", [report("SEAL-1", 7, AT, 39.6, -4.0, seal="open", battery=55.5)])
    header = json.loads(base64.urlsafe_b64decode(raw.split(b".")[0] + b"=="))
    assert header == {"alg": "EdDSA", "kid": "SEAL-1", "typ": "telemetry+jws"}
    signer, reports = telemetry.open_message(raw, SIGNERS.get)
    assert signer == "SEAL-1"
    (got,) = reports
    assert (got.device, got.seq, got.time, got.seal, got.battery) == ("SEAL-1", 7, AT, "open", 55.5)


def test_a_gateway_signs_for_the_devices_behind_it():
    raw = telemetry.sign(
        KEY, "GW-1", [report("SEAL-1", 1, AT, 39.6, -4.0), report("SEAL-2", 1, AT, 39.6, -4.0)]
    )
    signer, reports = telemetry.open_message(raw, SIGNERS.get)
    assert signer == "GW-1" and [r.device for r in reports] == ["SEAL-1", "SEAL-2"]


def test_a_cryptography_private_key_signs_too():
    private = Ed25519PrivateKey.generate()
    raw = telemetry.sign(private, "X", [report("X", 1, AT, 0, 0)])
    public = telemetry.public_key(telemetry.public_pem(telemetry.OKPKey.import_key(raw_private(private))))
    assert telemetry.open_message(raw, {"X": public}.get)[0] == "X"


def raw_private(private: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def test_refusals_name_their_reason():
    good = telemetry.sign(KEY, "SEAL-1", [report("SEAL-1", 1, AT, 39.6, -4.0)])
    assert refused(b"not a jws").reason == "malformed"
    assert refused(b"").reason == "malformed"
    assert refused(telemetry.sign(KEY, "NOBODY", [report("NOBODY", 1, AT, 0, 0)])).reason == "unknown-signer"
    assert refused(telemetry.sign(OTHER, "SEAL-1", [report("SEAL-1", 1, AT, 0, 0)])).reason == "bad-signature"
    head, body, signature = good.split(b".")
    altered = telemetry.sign(KEY, "SEAL-1", [report("SEAL-1", 2, AT, 39.6, -4.0)]).split(b".")[1]
    assert refused(b".".join([head, altered, signature])).reason == "bad-signature"
    unsigned = b".".join([b64(json.dumps({"alg": "none", "kid": "SEAL-1"}).encode()).encode(), body, b""])
    assert refused(unsigned).reason == "malformed"
    strangers = telemetry.sign(KEY, "SEAL-1", [report("SEAL-2", 1, AT, 0, 0)])
    error = refused(strangers)
    assert error.reason == "not-authorised-for-device" and "SEAL-2" in error.detail
    no_kid = b".".join(
        [b64(json.dumps({"alg": "EdDSA", "typ": "telemetry+jws"}).encode()).encode(), body, signature]
    )
    assert refused(no_kid).reason == "malformed"


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"seq": 0}, "/reports/0/seq"),
        ({"time": "2026-11-28T10:00:00"}, "/reports/0/time"),  # no zone
        ({"lat": 91}, "/reports/0/lat"),
        ({"seal": "broken"}, "/reports/0/seal"),
        ({"battery": 101}, "/reports/0/battery"),
        ({"extra": 1}, "/reports/0/extra"),
    ],
)
def test_a_signed_but_invalid_report_is_malformed_and_names_the_field(change, pointer):
    error = refused(telemetry.sign(KEY, "SEAL-1", [{**report("SEAL-1", 1, AT, 39.6, -4.0), **change}]))
    assert error.reason == "malformed"
    assert error.detail.startswith(pointer)


def test_times_are_read_as_utc():
    raw = telemetry.sign(KEY, "SEAL-1", [report("SEAL-1", 1, AT, 0, 0, time="2026-11-28T13:00:00+03:00")])
    (got,) = telemetry.open_message(raw, SIGNERS.get)[1]
    assert got.time == AT and got.time.tzinfo is UTC


def test_public_keys_in_pem_and_jwk_and_nothing_else():
    jwk = KEY.as_dict(private=False)
    assert telemetry.public_pem(telemetry.public_key(jwk)) == telemetry.public_pem(PUBLIC)
    with pytest.raises(ValueError, match="private key"):
        telemetry.public_key(KEY.as_dict(private=True))
    with pytest.raises(ValueError, match="Ed25519"):
        telemetry.public_key("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_error(raw: bytes):
    try:
        telemetry.open_message(raw, SIGNERS.get)
    except TelemetryError as error:
        assert error.reason in telemetry.REASONS
