"""CUSCAR (customs cargo report, UN/EDIFACT D.96B): a carrier's pre-arrival manifest. Pure.

- `BGM+85+reference+function`
    a customs manifest (UNCL 1001 85), its number (1004), and what the message does (1225): `9`
    original, `5` replace (the whole manifest again, corrected), `1` cancellation (no consignment
    needed); absent means 9. Codes and meanings as in UNTDID D.96A/D.96B 1225; the SARS CUSCAR MIG
    (BGM+85:::COM+1234567890+9) uses the same element. 4 (change: only the items changed) is refused:
    this gateway keeps whole versions, so a correction is sent whole, with 5.
- `DTM+132:CCYYMMDDHHMM:203`
    estimated arrival (2005 132)
- `NAD+CA+id::ZZZ++name`
    the carrier (3035 CA), optional
- `TDT+20+voyage+mode+++++means`
    main carriage (8051 20): mode (Rec. 19) and the means of transport (C222 8213)
- `CNI+sequence+transport document`
    a consignment begins: its number and transport document (C503 1004: B/L, AWB, CMR)
- `GID+item+count:kind`
    its packages (7224 count, 7065 kind)
- `FTX+AAA+++text`
    its goods description
- `MEA+AAE+G+KGM:mass`
    its gross mass
- `EQD+CN+container`
    each container it is stuffed in (ISO 6346, check digit verified)

Any other segment or qualifier is refused with its number, as for CUSDEC.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from pydifact.segments import Segment

from customhouse.exchange.edifact.syntax import EdifactError, Located, ParsedMessage, SegmentError, chunks
from customhouse.reference.iso6346 import is_valid_container_number

IDENTIFIER = ("CUSCAR", "D", "96B", "UN")
FUNCTIONS = {"9": "original", "5": "replacement", "1": "cancellation"}  # UNCL 1225


@dataclass
class Line:
    sequence: int
    transport_document: str
    containers: list[str] = field(default_factory=list)
    description: str | None = None
    packages: int | None = None
    package_kind: str | None = None
    gross_mass: Decimal | None = None


@dataclass
class Manifest:
    reference: str
    function: str = "9"  # UNCL 1225: a key of FUNCTIONS
    arrival_at: datetime | None = None
    carrier: str | None = None
    carrier_id: str | None = None
    transport_mode: str | None = None
    voyage: str | None = None
    means_of_transport_id: str | None = None
    lines: list[Line] = field(default_factory=list)


def _decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.replace(",", "."))
    except ArithmeticError:
        return None
    return value if value.is_finite() and value >= 0 else None


def digest(manifest: Manifest) -> str:
    """What the manifest says, as a SHA-256 hex digest, its function left out: a resent message (even
    in a new interchange, with a new date) has the same digest, a corrected one another."""
    content = {key: value for key, value in asdict(manifest).items() if key != "function"}
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read(message: ParsedMessage) -> Manifest:
    """A manifest from a parsed CUSCAR; EdifactError names each segment it cannot read."""
    errors: list[SegmentError] = []
    manifest = Manifest(reference="")

    def fail(located: Located, reason: str) -> None:
        errors.append(message.fail(located, reason))

    for located in message.segments:
        tag, line = located.tag, manifest.lines[-1] if manifest.lines else None
        if tag == "BGM":
            if located.value(0) != "85" or not located.value(1) or len(located.value(1)) > 35:
                fail(located, "expected BGM+85+MANIFEST NUMBER (up to 35 characters)+9")
            manifest.reference = located.value(1)
            manifest.function = located.value(2) or "9"
            if manifest.function not in FUNCTIONS:
                accepted = ", ".join(f"{code} {name}" for code, name in FUNCTIONS.items())
                fail(located, f"message function {manifest.function!r} is not read here: {accepted}")
        elif tag == "DTM" and line is None:
            try:
                if located.value(0, 0) != "132" or located.value(0, 2) != "203":
                    raise ValueError
                manifest.arrival_at = datetime.strptime(located.value(0, 1), "%Y%m%d%H%M").replace(tzinfo=UTC)
            except ValueError:
                fail(located, "expected DTM+132:CCYYMMDDHHMM:203 (estimated arrival)")
        elif tag == "NAD" and line is None:
            if located.value(0) != "CA":
                fail(located, "expected NAD+CA (the carrier)")
            manifest.carrier_id = located.value(1) or None
            manifest.carrier = "".join(located.components(3))[:70] or None
        elif tag == "TDT" and line is None:
            if located.value(0) != "20":
                fail(located, "expected TDT+20 (main carriage)")
            manifest.voyage = located.value(1)[:35] or None
            manifest.transport_mode = located.value(2) or None
            manifest.means_of_transport_id = located.value(7)[:35] or None
        elif tag == "CNI":
            document = located.value(1, 0)
            if not located.value(0).isdigit() or len(located.value(0)) > 6 or not 0 < len(document) <= 70:
                fail(located, "expected CNI+SEQUENCE+TRANSPORT DOCUMENT NUMBER (up to 70 characters)")
                continue
            manifest.lines.append(Line(int(located.value(0)), document))
        elif line is None:
            fail(located, f"segment {tag} is not read before the first consignment (CNI) here")
        elif tag == "GID":
            count = located.value(1, 0)
            if not count.isdigit() or len(count) > 6:
                fail(located, "expected GID+ITEM+COUNT:KIND")
            else:
                line.packages, line.package_kind = int(count), located.value(1, 1) or None
        elif tag == "FTX" and located.value(0) == "AAA":
            line.description = (line.description or "") + "".join(located.components(3))
        elif tag == "MEA" and located.value(0) == "AAE" and located.value(1) == "G":
            mass = _decimal(located.value(2, 1))
            if located.value(2, 0) != "KGM" or mass is None or mass >= Decimal(10) ** 12:
                fail(located, "expected MEA+AAE+G+KGM:MASS (a number of kilograms)")
            else:
                line.gross_mass = mass.quantize(Decimal("0.001"))
        elif tag == "EQD":
            container = located.value(1)
            if located.value(0) != "CN" or not is_valid_container_number(container):
                fail(located, f"{container!r} is not an ISO 6346 container number (EQD+CN+CSQU3054383)")
            else:
                line.containers.append(container)
        else:
            fail(located, f"segment {tag} is not read in a CUSCAR consignment here")
    if not manifest.reference and not errors:
        errors.append(SegmentError("UNH", 1, "a CUSCAR needs BGM+85+manifest number", message.reference))
    if not manifest.lines and manifest.function != "1" and not errors:
        errors.append(SegmentError("UNH", 1, "the manifest lists no consignment (CNI)", message.reference))
    if errors:
        raise EdifactError(errors)
    return manifest


def build(manifest: Manifest) -> list[Segment]:
    """The body of a CUSCAR message, for tests, the bench and carriers' systems."""
    out = [Segment("BGM", "85", manifest.reference, manifest.function)]
    if manifest.arrival_at:
        out.append(Segment("DTM", ["132", manifest.arrival_at.astimezone(UTC).strftime("%Y%m%d%H%M"), "203"]))
    if manifest.carrier_id or manifest.carrier:
        carrier_id = [manifest.carrier_id, "", "ZZZ"] if manifest.carrier_id else ""
        out.append(Segment("NAD", "CA", carrier_id, "", chunks(manifest.carrier or "", 35)))
    if manifest.transport_mode or manifest.means_of_transport_id:
        out.append(
            Segment(
                "TDT",
                "20",
                manifest.voyage or "",
                manifest.transport_mode or "",
                "",
                "",
                "",
                "",
                manifest.means_of_transport_id or "",
            )
        )
    for line in manifest.lines:
        out.append(Segment("CNI", str(line.sequence), line.transport_document))
        if line.packages is not None:
            out.append(Segment("GID", str(line.sequence), [str(line.packages), line.package_kind or "PK"]))
        if line.description:
            parts = chunks(line.description, 70)
            out += [Segment("FTX", "AAA", "", "", parts[i : i + 5]) for i in range(0, len(parts), 5)]
        if line.gross_mass is not None:
            out.append(Segment("MEA", "AAE", "G", ["KGM", format(line.gross_mass, "f")]))
        out += [Segment("EQD", "CN", container) for container in line.containers]
    return out
