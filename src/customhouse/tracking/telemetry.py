"""The telemetry wire format, pure: reports, and the signed messages that carry them.

A report: {"device", "seq" (per device, from 1, +1 per report), "time" (RFC 3339, UTC), "lat", "lon",
"speed" (km/h), "seal" (closed|open|tampered), "door" (closed|open), "battery" (percent), "temperature"
(Celsius)}.

A message is a compact JWS (RFC 7515), alg EdDSA over Ed25519 (RFC 8037), protected header
{"alg": "EdDSA", "kid": <signer id>, "typ": "telemetry+jws"}, whose payload is the UTF-8 JSON
{"reports": [report, ...]}: one report signed by its device, or a batch signed by a gateway for the
devices registered behind it (one signature for many reports: an Ed25519 verification costs 100-200 us
in Python, so throughput needs batches).

`open_message` raises `TelemetryError` with a reason code (`REASONS`) that the processor counts.

**Speed.** The processor opens every message with `open_readings`, which gives the same reports as
plain named tuples (`Reading`) and takes a fast path for the message as `sign` writes it: the canonical
protected header, one Ed25519 verification, orjson, and a check loop that accepts only what the pydantic
models accept and reads it to the same values (RFC 3339 times with `datetime.fromisoformat`). Anything
else (a refusal, an unusual but valid spelling such as a number in a string) goes through joserfc and
pydantic exactly as `open_message` does, so the reasons and details of refusals are theirs. Pydantic's
per-report validation cost 10-20 us a report, most of the processor's budget.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, NamedTuple

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.util import urlsafe_b64decode
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from customhouse.keys import ed25519_jws_registry

ALGORITHM = "EdDSA"
TYPE = "telemetry+jws"
MAX_MESSAGE = 4 * 1024 * 1024  # bytes of one compact JWS
MAX_REPORTS = 10_000  # reports in one message

MALFORMED = "malformed"
UNKNOWN_SIGNER = "unknown-signer"
BAD_SIGNATURE = "bad-signature"
NOT_AUTHORISED = "not-authorised-for-device"
REASONS = (MALFORMED, UNKNOWN_SIGNER, BAD_SIGNATURE, NOT_AUTHORISED)

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


class Seal(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    TAMPERED = "tampered"


class Door(StrEnum):
    CLOSED = "closed"
    OPEN = "open"


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00: a refusal (malformed), not a crash
        raise ValueError("the time is out of range in UTC") from None


class Report(BaseModel):
    """One reading of one device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: Identifier
    seq: Annotated[int, Field(ge=1, le=2**62)]
    time: Annotated[AwareDatetime, AfterValidator(_utc)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    speed: Annotated[float, Field(ge=0, le=400)]
    seal: Seal
    door: Door
    battery: Annotated[float, Field(ge=0, le=100)]
    temperature: Annotated[float, Field(ge=-100, le=150)]


class Reading(NamedTuple):
    """A report as the processor reads it: the same fields and values as `Report`, in a plain tuple
    (cheaper to make and to read than a pydantic model, for tens of thousands of reports a second).
    `seal` and `door` are the values as plain str (equal to the `Seal` and `Door` members): a tuple of
    str, int, float and datetime only is one the garbage collector stops tracking, which matters with
    tens of thousands of them alive in a batch."""

    device: str
    seq: int
    time: datetime
    lat: float
    lon: float
    speed: float
    seal: str
    door: str
    battery: float
    temperature: float

    @classmethod
    def of(cls, report: Report) -> Reading:
        return cls(
            report.device,
            report.seq,
            report.time,
            report.lat,
            report.lon,
            report.speed,
            report.seal.value,
            report.door.value,
            report.battery,
            report.temperature,
        )


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reports: Annotated[list[Report], Field(min_length=1, max_length=MAX_REPORTS)]


class TelemetryError(Exception):
    """A message that cannot be accepted; `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str, signer: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.signer = signer


@dataclass(frozen=True, slots=True)
class Signer:
    """A registered signer: its public key, and the devices it may sign for (itself, or those behind a
    gateway)."""

    id: str
    key: OKPKey
    devices: frozenset[str]


REGISTRY = ed25519_jws_registry(MAX_MESSAGE)


def generate_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def public_key(value: str | bytes | Mapping[str, Any]) -> OKPKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) or a public JWK; ValueError otherwise."""
    try:
        key = OKPKey.import_key(dict(value) if isinstance(value, Mapping) else value)
    except (JoseError, ValueError, TypeError, binascii.Error) as error:
        raise ValueError(f"not an Ed25519 public key in PEM or JWK form: {error}") from None
    if key.curve_name != "Ed25519":
        raise ValueError(f"the key is {key.curve_name}, not Ed25519")
    if key.is_private:
        raise ValueError("this is a private key: register the public key only")
    return key


def public_pem(key: OKPKey) -> str:
    raw = key.public_key
    assert isinstance(raw, Ed25519PublicKey)
    return raw.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def private_pem(key: OKPKey) -> bytes:
    raw = key.private_key
    assert isinstance(raw, Ed25519PrivateKey)
    return raw.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def sign(private_key: OKPKey | Ed25519PrivateKey, signer_id: str, reports: list[dict[str, Any]]) -> bytes:
    """The compact JWS of these reports, signed by `signer_id` (a device, or the gateway they sit behind)."""
    key = (
        private_key
        if isinstance(private_key, OKPKey)
        else OKPKey.import_key(private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    )
    header = {"alg": ALGORITHM, "kid": signer_id, "typ": TYPE}
    payload = orjson.dumps({"reports": reports}, default=_json_default)
    return jws.serialize_compact(header, payload, key, registry=REGISTRY).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"{type(value).__name__} is not JSON")


def open_message(
    raw: bytes, public_key_of: Callable[[str], Signer | OKPKey | None]
) -> tuple[str, list[Report]]:
    """Verify a message and read its reports: (signer id, reports). `public_key_of` gives the signer's
    `Signer` (whose device list is then enforced) or bare key (then the caller checks authorisation),
    or None when it is unknown. Raises TelemetryError."""
    signer_id, found, payload = _verified(raw, public_key_of)
    reports = _validated(payload, signer_id)
    _authorised(signer_id, found, {report.device for report in reports})
    return signer_id, reports


def open_readings(
    raw: bytes, public_key_of: Callable[[str], Signer | OKPKey | None]
) -> tuple[str, list[Reading]]:
    """`open_message` with its reports as `Reading`s: the same answer and the same refusals, faster."""
    if len(raw) <= MAX_MESSAGE:
        fast = _fast(raw, public_key_of)
        if fast is not None:
            signer_id, found, readings = fast
            _authorised(signer_id, found, {reading.device for reading in readings})
            return signer_id, readings
    signer_id, found, payload = _verified(raw, public_key_of)
    reports = _validated(payload, signer_id)
    _authorised(signer_id, found, {report.device for report in reports})
    return signer_id, [Reading.of(report) for report in reports]


def _verified(
    raw: bytes, public_key_of: Callable[[str], Signer | OKPKey | None]
) -> tuple[str, Signer | OKPKey, bytes]:
    """The signer's id, what `public_key_of` gave for it, and the verified payload."""
    if len(raw) > MAX_MESSAGE:
        raise TelemetryError(MALFORMED, f"the message has {len(raw)} bytes, more than {MAX_MESSAGE}")
    try:
        token = jws.extract_compact(raw.strip(), registry=REGISTRY)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError, binascii.Error) as error:
        raise TelemetryError(MALFORMED, f"not a compact JWS: {error}") from None
    header = token.protected
    signer_id = header.get("kid")
    if not isinstance(signer_id, str) or not signer_id:
        raise TelemetryError(MALFORMED, "the protected header has no kid (the signer's id)")
    if header.get("alg") != ALGORITHM or header.get("typ") != TYPE:
        raise TelemetryError(
            MALFORMED, f'the protected header must have "alg": "{ALGORITHM}" and "typ": "{TYPE}"', signer_id
        )
    found = public_key_of(signer_id)
    if found is None:
        raise TelemetryError(UNKNOWN_SIGNER, f"no device or gateway {signer_id!r} is registered", signer_id)
    key = found.key if isinstance(found, Signer) else found
    try:
        valid = jws.validate_compact(token, key, registry=REGISTRY)
    except (JoseError, ValueError) as error:
        raise TelemetryError(BAD_SIGNATURE, f"the signature does not verify: {error}", signer_id) from None
    if not valid:
        raise TelemetryError(BAD_SIGNATURE, f"the signature is not {signer_id}'s", signer_id)
    return signer_id, found, token.payload


def _validated(payload: bytes, signer_id: str) -> list[Report]:
    try:
        return Payload.model_validate_json(payload).reports
    except ValidationError as error:
        first = error.errors()[0]
        where = "/" + "/".join(str(part) for part in first["loc"])
        raise TelemetryError(MALFORMED, f"{where}: {first['msg']}", signer_id) from None


def _authorised(signer_id: str, found: Signer | OKPKey, devices: set[str]) -> None:
    if isinstance(found, Signer):
        strangers = sorted(devices - found.devices)
        if strangers:
            raise TelemetryError(
                NOT_AUTHORISED, f"{signer_id} may not sign for {', '.join(strangers[:5])}", signer_id
            )


# ---------------------------------------------------------------- the fast path of open_readings
# Each check accepts a subset of what joserfc and the models accept, and reads it to the same value;
# whatever it does not accept goes the slow way, which then accepts or refuses it in its own words.

_DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")  # Identifier's pattern, anchored by fullmatch
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_FIELDS = ("device", "seq", "time", "lat", "lon", "speed", "seal", "door", "battery", "temperature")
_SEALS = {seal.value: seal.value for seal in Seal}  # the value itself, as a plain str
_DOORS = {door.value: door.value for door in Door}
_MAX_SEQ = 2**62
_known_devices: set[str] = set()  # ids that passed the Identifier check, so that it runs once per id
_KNOWN_DEVICES_MAX = 100_000
_headers: dict[bytes, str] = {}  # canonical protected headers (as encoded) seen: their kid
_HEADERS_MAX = 10_000


def _fast(
    raw: bytes, public_key_of: Callable[[str], Signer | OKPKey | None]
) -> tuple[str, Signer | OKPKey, list[Reading]] | None:
    """The message's signer and readings when it is an ordinary valid message; None otherwise (then
    the slow path decides, and words any refusal)."""
    try:
        value = raw.strip()
        parts = value.split(b".")
        if len(parts) != 3:
            return None
        head, body, signature = parts
        REGISTRY.validate_compact_value_size(value)
        REGISTRY.validate_header_size(head)
        REGISTRY.validate_signature_size(signature)
        REGISTRY.validate_payload_size(body)
        signer_id = _headers.get(head)
        if signer_id is None:
            header = json.loads(urlsafe_b64decode(head))  # as joserfc reads it
            if type(header) is not dict or len(header) != 3:
                return None
            signer_id = header.get("kid")
            if header.get("alg") != ALGORITHM or header.get("typ") != TYPE or type(signer_id) is not str:
                return None
            if not signer_id:
                return None
            if len(_headers) >= _HEADERS_MAX:
                _headers.clear()
            _headers[head] = signer_id  # a signer's messages all have the same protected header
        found = public_key_of(signer_id)
        if found is None:
            return None
        key = found.key if isinstance(found, Signer) else found
        if not isinstance(key, OKPKey):
            return None
        algorithm = REGISTRY.algorithms[ALGORITHM]
        algorithm.check_key(key)
        if not algorithm.verify(head + b"." + body, urlsafe_b64decode(signature), key):
            return None
        readings = _fast_readings(urlsafe_b64decode(body))
    except (JoseError, ValueError, TypeError, KeyError, binascii.Error, OverflowError):
        return None
    if readings is None:
        return None
    return signer_id, found, readings


def _fast_readings(payload: bytes) -> list[Reading] | None:
    """Column by column, with C loops (map, set, min, max) where pydantic would check each value."""
    data = orjson.loads(payload)
    if type(data) is not dict or len(data) != 1:
        return None
    items = data.get("reports")
    if type(items) is not list or not 1 <= len(items) <= MAX_REPORTS:
        return None
    if set(map(type, items)) != {dict}:
        return None
    columns: list[Sequence[Any]]
    if set(map(tuple, items)) == {_FIELDS}:  # in the documented order, as `sign` writes them
        columns = list(zip(*map(dict.values, items), strict=True))
    elif set(map(len, items)) == {len(_FIELDS)}:  # then a missing field is a KeyError: slow path
        columns = [[item[name] for item in items] for name in _FIELDS]
    else:
        return None
    devices, seqs, whens, lats, lons, speeds, seals, doors, batteries, temperatures = columns
    known = _known_devices
    if not known.issuperset(devices):
        for device in set(devices) - known:
            if type(device) is not str or len(device) > 64 or not _DEVICE.fullmatch(device):
                return None
        if len(known) >= _KNOWN_DEVICES_MAX:
            known.clear()
        known.update(devices)
    if set(map(type, seqs)) != {int} or min(seqs) < 1 or max(seqs) > _MAX_SEQ:
        return None
    times = {}
    for when in set(whens):  # a gateway's reports often share their time
        if type(when) is not str or not _TIME.fullmatch(when):
            return None
        times[when] = datetime.fromisoformat(when).astimezone(UTC)
    numbers: list[Sequence[float]] = []
    for column, low, high in (
        (lats, -90, 90),
        (lons, -180, 180),
        (speeds, 0, 400),
        (batteries, 0, 100),
        (temperatures, -100, 150),
    ):
        kinds = set(map(type, column))
        if kinds != {float}:  # JSON numbers: orjson gives float or int (a float to the models)
            if not kinds <= {float, int}:
                return None
            column = list(map(float, column))
        if min(column) < low or max(column) > high:
            return None
        numbers.append(column)
    lats, lons, speeds, batteries, temperatures = numbers
    return list(
        map(
            _new_reading,
            zip(
                devices,
                seqs,
                map(times.__getitem__, whens),
                lats,
                lons,
                speeds,
                map(_SEALS.__getitem__, seals),
                map(_DOORS.__getitem__, doors),
                batteries,
                temperatures,
                strict=True,
            ),
        )
    )


_new_reading = partial(tuple.__new__, Reading)
