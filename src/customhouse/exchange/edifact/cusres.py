"""CUSRES (customs response, UN/EDIFACT D.96B): what customs answers a declarant at each status change.
Pure: `build` writes one message, `read` reads it back (a trader's system does the same).

- `BGM+962+reference+9+AP/RE`
    a customs response about the declaration (1001 962 document response (Customs): "to permit the
    transfer of data from Customs to the transmitter of the previous message"); 4343 response type AP
    accepted, RE rejected
- `DTM+137:CCYYMMDDHHMM:203`
    when the status changed (2005 137 document date, 2379 203)
- `GIS+status:STA:ZZZ`
    the new status: ACC accepted, CTL under control, REL released, REJ rejected, DRQ documents
    requested, CAN cancelled (agreed codes, 3055 ZZZ)
- `GIS+lane:LAN:ZZZ`
    the lane when accepted: GRN, YEL, RED
- `FTX+ACB++n::ZZZ+text` / `FTX+AAO++n::ZZZ+text`
    reasons (lane reasons, or why rejected / what is asked), 70-character components; a reason longer
    than five components goes on in the next FTX with the same number n (C107, an agreed use)
- `DOC+type`
    each supporting document requested (UNCL 1001)
- `RFF+ABT:MRN` / `RFF+ABE:LRN`
    the declaration: 1153 ABT customs declaration number ("number, assigned or accepted by Customs, to
    identify a goods declaration": the MRN), ABE declarant's reference number (the LRN)

Every UN code above (the status and lane codes are agreed, 3055 ZZZ) is in the UNTDID D.96B code
lists, as extracted from the D.96B batch directory by XML::Edifact (github.com/gitpan/XML-Edifact,
examples/codes.txt), with the definitions quoted from the D.01B code list text
(github.com/funky-thunks/edi-parser, specification/src/Text/Edifact/D01B/Simples/S1001.hs, S1153.hs).
MIGs use them so: Spain's AEAT answers declarations with CUSRES D:96B carrying the declaration's
number in `RFF+ABT:20ES...` and its NCTS/TIR CUSRES begins `BGM+962+...`; Singapore's TradeNet puts
its permit number in `RFF+ABT`. 1153 `AAE` "goods declaration number" is in the D.96B list too; ABT is
the one whose definition names Customs as the assigner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydifact.segments import Segment

from customhouse.exchange.edifact.syntax import ParsedMessage, chunks

IDENTIFIER = ("CUSRES", "D", "96B", "UN")
STATUSES = {
    "ACC": "accepted",
    "CTL": "under_control",
    "REL": "released",
    "REJ": "rejected",
    "DRQ": "documents_requested",
    "CAN": "cancelled",
}
LANES = {"green": "GRN", "yellow": "YEL", "red": "RED"}
LANE_NAMES = {code: lane for lane, code in LANES.items()}


@dataclass(frozen=True)
class Response:
    """One response as a trader reads it."""

    status: str  # a key of STATUSES
    lrn: str
    at: datetime
    mrn: str | None = None
    lane: str | None = None
    reasons: Sequence[str] = ()
    documents: Sequence[str] = ()


def build(response: Response) -> list[Segment]:
    """The body of a CUSRES message (between UNH and UNT)."""
    out = [
        Segment("BGM", "962", response.mrn or response.lrn, "9", "RE" if response.status == "REJ" else "AP"),
        Segment("DTM", ["137", response.at.astimezone(UTC).strftime("%Y%m%d%H%M"), "203"]),
        Segment("GIS", [response.status, "STA", "ZZZ"]),
    ]
    if response.lane:
        out.append(Segment("GIS", [LANES[response.lane], "LAN", "ZZZ"]))
    qualifier = "ACB" if response.status in ("ACC", "CTL") else "AAO"
    for number, reason in enumerate(response.reasons, start=1):
        parts = chunks(reason, 70)
        out += [
            Segment("FTX", qualifier, "", [str(number), "", "ZZZ"], parts[start : start + 5])
            for start in range(0, len(parts), 5)
        ]
    out += [Segment("DOC", document) for document in response.documents]
    if response.mrn:
        out.append(Segment("RFF", ["ABT", response.mrn]))
    out.append(Segment("RFF", ["ABE", response.lrn]))
    return out


@dataclass
class _Read:
    status: str = ""
    lrn: str = ""
    mrn: str | None = None
    lane: str | None = None
    at: datetime | None = None
    reasons: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)


def read(message: ParsedMessage) -> Response:
    """A response from a parsed CUSRES; ValueError names the segment it cannot read."""
    got = _Read()
    numbers: list[str] = []
    for located in message.segments:
        tag = located.tag
        if tag == "GIS" and located.value(0, 1) == "STA":
            got.status = located.value(0, 0)
        elif tag == "GIS" and located.value(0, 1) == "LAN":
            got.lane = LANE_NAMES.get(located.value(0, 0))
        elif tag == "DTM" and located.value(0, 0) == "137":
            got.at = datetime.strptime(located.value(0, 1), "%Y%m%d%H%M").replace(tzinfo=UTC)
        elif tag == "FTX":
            text = "".join(located.components(3))
            if numbers and numbers[-1] == located.value(2):  # the same reason goes on
                got.reasons[-1] += text
            else:
                numbers.append(located.value(2))
                got.reasons.append(text)
        elif tag == "DOC":
            got.documents.append(located.value(0))
        elif tag == "RFF" and located.value(0, 0) == "ABT":
            got.mrn = located.value(0, 1)
        elif tag == "RFF" and located.value(0, 0) == "ABE":
            got.lrn = located.value(0, 1)
        elif tag != "BGM":
            raise ValueError(f"segment {tag} (number {located.position}) is not read in a CUSRES here")
    if got.status not in STATUSES or got.at is None or not got.lrn:
        raise ValueError("a CUSRES needs GIS+status:STA:ZZZ, DTM+137 and RFF+ABE")
    return Response(
        status=got.status,
        lrn=got.lrn,
        at=got.at,
        mrn=got.mrn,
        lane=got.lane,
        reasons=tuple(got.reasons),
        documents=tuple(got.documents),
    )
