"""CUSDEC (customs declaration, UN/EDIFACT D.96B) to and from the declaration document. Pure.

A CUSDEC read here becomes the same `DeclarationDocument` the JSON API takes, and is lodged through
`declarations.service` with the same rules; `from_document` writes the message back, so that
document -> CUSDEC -> document is the identity. Each segment read is remembered with its number, so
that a field the declaration rules refuse is reported at its segment.

Segments and qualifiers, in message order (header, `UNS+D`, one group per goods item, `UNS+S`):

- `BGM+929/830/950+LRN+9`
    kind by UNCL 1001 document name code (929 goods declaration for importation, 830 goods declaration
    for exportation, 950 goods declaration for Customs transit); LRN (1004); 9 original
- `GIS+PRE::ZZZ`
    pre_arrival (present: true); a processing indicator agreed with the trader (3055 ZZZ)
- `NAD+q+id::ZZZ++name+++++country`
    parties, 3035: `DT` declarant, `AE` declarant's agent/representative, `IM` importer, `EX`
    exporter, `SE` seller, `BY` buyer; id in C082 (an EORI-like id, ZZZ), name in C080 (up to two
    35-character components), country in 3207
- `LOC+q+code`
    3227: `22` customs office of clearance = office_of_lodgement, `41` customs office of entry, `42`
    customs office of exit, `45` customs office of destination (transit), `35` country of
    exportation/despatch = country_of_dispatch, `28` country of destination of goods, `1` place of
    terms of delivery = incoterm_place (in C517 3224, the name)
- `TOD+++incoterm`
    incoterm (C100 4053)
- `TDT+11++mode+++++means`
    transport_mode (C220 8067, UN/ECE Rec. 19) and means_of_transport_id (C222 8213); 8051 `11` at
    border
- `EQD+CN+container`
    containers, one segment each
- `CUX+2:currency:4`
    invoice_currency (6347 2 reference currency, 6343 4 invoicing currency)
- `MOA+39:amount` / `MOA+64:` / `MOA+67:`
    invoice_total (5025 39 invoice total amount), freight (64 freight charge), insurance (67 insurance)
- `DOC+type+reference:::issuer` then `DTM+182:CCYYMMDD:102`
    documents: type 1001, reference 1004, issuer in 1366 (document source); issued_on (2005 182 issue
    date)
- `FTX+ZZZ+++text` after a DOC
    the document as a verifiable credential (compact JWS), in 70-character components over as many
    FTX as it needs (4451 ZZZ: mutually defined)
- `CST+seq+hs[national]:108:ZZZ+procedure:117:ZZZ+preference:116:ZZZ`
    a goods item begins: sequence (1496), HS subheading (first 6 digits) and national digits, procedure,
    preference (1131 code lists 108 tariff schedule, 117 Customs procedure, 116 Customs preference;
    the codes themselves are the administration's, 3055 ZZZ)
- `FTX+AAA+++text`
    description (4451 AAA goods description; 70-character components, more FTX+AAA if longer)
- `LOC+27+country`
    origin (3227 27 country of origin)
- `QTY+47:quantity:unit`
    quantity and unit (6063 47 invoiced quantity, UN/ECE Rec. 20)
- `MEA+AAE+G+KGM:mass` / `MEA+AAE+N+KGM:` / `MEA+AAE+ABQ+P1:`
    gross_mass, net_mass, alcohol_strength (6311 AAE measurement; 6313 G gross weight, N actual net
    weight, ABQ percentage of alcohol (by volume), in P1 percent)
- `MOA+38:amount`
    price (5025 38 invoice item amount)
- `PAC+count++kind`
    package_count (7224) and package_kind (7065, UN/ECE Rec. 21)

Sources. Every UN code above (all but those agreed under 3055 ZZZ) is in the UNTDID D.96B code
lists (UNCL) as extracted from the D.96B batch directory by XML::Edifact (github.com/gitpan/XML-Edifact,
examples/codes.txt; its README: "This database covers the 96b version of the UN/EDIFACT batch
directory"); the D.01B code list text gives their definitions (github.com/funky-thunks/edi-parser,
specification/src/Text/Edifact/D01B/Simples/S<element>.hs). (1001 856, once this gateway's transit
code, is "Inspection certificate" in both.)
5025 also has 70 "Insurance charges (Customs)"; insurance goes as the general 67 "Insurance" (D.01B:
"Insurance amount"), which an administration's MIG may narrow. Customs MIGs use NAD+DT for the
declarant too (Singapore TradeNet CUSDEC, Australian ICS CUSDEC, Spain's AEAT CUSRES).

Monetary amounts, quantities and masses use '.' (or ',') as the decimal mark. A segment this table
does not name, or a qualifier it does not list, is refused: nothing in a declaration is silently
dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from pydifact.segments import Segment

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.exchange.edifact.syntax import EdifactError, Located, ParsedMessage, SegmentError, chunks

IDENTIFIER = ("CUSDEC", "D", "96B", "UN")
KIND_CODES = {"import": "929", "export": "830", "transit": "950"}
KINDS = {code: kind for kind, code in KIND_CODES.items()}
PARTIES = {
    "DT": "declarant",
    "AE": "representative",
    "IM": "importer",
    "EX": "exporter",
    "SE": "seller",
    "BY": "buyer",
}
PARTY_CODES = {name: code for code, name in PARTIES.items()}
HEADER_PLACES = {
    "22": "office_of_lodgement",
    "41": "office_of_entry",
    "42": "office_of_exit",
    "45": "office_of_destination",
    "35": "country_of_dispatch",
    "28": "country_of_destination",
}
PLACE_CODES = {name: code for code, name in HEADER_PLACES.items()}
HEADER_AMOUNTS = {"39": "invoice_total", "64": "freight", "67": "insurance"}
AMOUNT_CODES = {name: code for code, name in HEADER_AMOUNTS.items()}
MASSES = {"G": "gross_mass", "N": "net_mass", "ABQ": "alcohol_strength"}
NUMBER = re.compile(r"-?[0-9]+([.,][0-9]+)?")
NAME_PART = 35
TEXT_PART = 70


@dataclass
class Reading:
    """The document read so far and where each field came from (JSON pointer -> segment)."""

    message: ParsedMessage
    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Located] = field(default_factory=dict)
    errors: list[SegmentError] = field(default_factory=list)

    def put(self, target: dict[str, Any], pointer: str, key: str, value: Any, located: Located) -> None:
        if key in target:
            self.fail(located, f"{pointer} is given twice", pointer)
            return
        target[key] = value
        self.sources[pointer] = located

    def fail(self, located: Located, reason: str, pointer: str | None = None) -> None:
        self.errors.append(self.message.fail(located, reason, pointer))

    def source(self, pointer: str) -> Located:
        """The segment a field came from: the field's own, else its nearest parent's, else UNH."""
        while pointer:
            if pointer in self.sources:
                return self.sources[pointer]
            pointer = pointer.rsplit("/", 1)[0]
        return Located(1, Segment("UNH", self.message.reference))


def _number(reading: Reading, located: Located, raw: str, pointer: str) -> str | None:
    if not NUMBER.fullmatch(raw):
        reading.fail(
            located, f"{raw!r} is not a number: expected digits with '.' or ',' as decimal mark", pointer
        )
        return None
    return raw.replace(",", ".")


def _integer(reading: Reading, located: Located, raw: str, pointer: str) -> int | None:
    if not raw.isdigit() or len(raw) > 6:
        reading.fail(located, f"{raw!r} is not a whole number", pointer)
        return None
    return int(raw)


def _date(reading: Reading, located: Located, pointer: str) -> str | None:
    if located.value(0, 0) != "182" or located.value(0, 2) not in ("102", ""):
        reading.fail(located, "expected DTM+182:CCYYMMDD:102 (the document's issue date)", pointer)
        return None
    raw = located.value(0, 1)
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])).isoformat() if len(raw) == 8 else None
    except ValueError:
        pass
    reading.fail(located, f"{raw!r} is not a date as CCYYMMDD", pointer)
    return None


def _header(reading: Reading, located: Located, documents: list[dict[str, Any]]) -> None:
    data = reading.data
    tag = located.tag
    if tag == "BGM":
        kind = KINDS.get(located.value(0))
        if kind is None:
            reading.fail(
                located, f"document code {located.value(0)!r} is not one of {', '.join(KINDS)}", "/kind"
            )
        else:
            reading.put(data, "/kind", "kind", kind, located)
        reading.put(data, "/lrn", "lrn", located.value(1), located)
    elif tag == "GIS":
        if located.components(0) != ["PRE", "", "ZZZ"]:
            reading.fail(located, "the only indicator read is GIS+PRE::ZZZ (pre-arrival)", "/pre_arrival")
        else:
            reading.put(data, "/pre_arrival", "pre_arrival", True, located)
    elif tag == "NAD":
        role = PARTIES.get(located.value(0))
        if role is None:
            reading.fail(located, f"party qualifier {located.value(0)!r} is not one of {', '.join(PARTIES)}")
            return
        party: dict[str, Any] = {
            "name": "".join(located.components(3)),
            "country": located.value(8),
        }
        if located.value(1):
            party["id"] = located.value(1)
        reading.put(data, f"/{role}", role, party, located)
    elif tag == "LOC":
        if located.value(0) == "1":
            reading.put(data, "/incoterm_place", "incoterm_place", located.value(1, 3), located)
            return
        place = HEADER_PLACES.get(located.value(0))
        if place is None:
            reading.fail(
                located, f"place qualifier {located.value(0)!r} is not one of 1, {', '.join(HEADER_PLACES)}"
            )
            return
        reading.put(data, f"/{place}", place, located.value(1), located)
    elif tag == "TOD":
        reading.put(data, "/incoterm", "incoterm", located.value(2), located)
    elif tag == "TDT":
        if located.value(0) != "11":
            reading.fail(located, "expected TDT+11 (transport at the border)", "/transport_mode")
            return
        reading.put(data, "/transport_mode", "transport_mode", located.value(2), located)
        if located.value(7):
            reading.put(data, "/means_of_transport_id", "means_of_transport_id", located.value(7), located)
    elif tag == "EQD":
        if located.value(0) != "CN":
            reading.fail(located, "expected EQD+CN (a container)", "/containers")
            return
        containers = data.setdefault("containers", [])
        reading.sources[f"/containers/{len(containers)}"] = located
        containers.append(located.value(1))
    elif tag == "CUX":
        if located.value(0, 0) != "2" or located.value(0, 2) != "4":
            reading.fail(located, "expected CUX+2:CURRENCY:4 (the invoicing currency)", "/invoice_currency")
            return
        reading.put(data, "/invoice_currency", "invoice_currency", located.value(0, 1), located)
    elif tag == "MOA":
        name = HEADER_AMOUNTS.get(located.value(0, 0))
        if name is None:
            reading.fail(located, f"amount qualifier {located.value(0, 0)!r} is not 39, 64 or 67")
            return
        amount = _number(reading, located, located.value(0, 1), f"/{name}")
        if amount is not None:
            reading.put(data, f"/{name}", name, amount, located)
    elif tag == "DOC":
        pointer = f"/documents/{len(documents)}"
        document: dict[str, Any] = {"type": located.value(0), "reference": located.value(1, 0)}
        if located.value(1, 3):
            document["issuer"] = located.value(1, 3)
        reading.sources[pointer] = located
        documents.append(document)
    elif tag == "DTM":
        if not documents or "issued_on" in documents[-1]:
            reading.fail(located, "DTM is read only after DOC, as the document's issue date")
            return
        pointer = f"/documents/{len(documents) - 1}/issued_on"
        issued = _date(reading, located, pointer)
        if issued is not None:
            documents[-1]["issued_on"] = issued
            reading.sources[pointer] = located
    elif tag == "FTX" and located.value(0) == "ZZZ":
        if not documents:
            reading.fail(located, "FTX+ZZZ (a document's credential) is read only after its DOC")
            return
        pointer = f"/documents/{len(documents) - 1}/credential"
        documents[-1]["credential"] = documents[-1].get("credential", "") + "".join(located.components(3))
        reading.sources.setdefault(pointer, located)
    else:
        reading.fail(located, f"segment {tag} is not read in a CUSDEC header here")


def _item(reading: Reading, located: Located, item: dict[str, Any], index: int) -> None:
    base = f"/goods_items/{index}"
    tag = located.tag
    if tag == "FTX":
        if located.value(0) != "AAA":
            reading.fail(located, "expected FTX+AAA (the goods description)", f"{base}/description")
            return
        item["description"] = item.get("description", "") + "".join(located.components(3))
        reading.sources.setdefault(f"{base}/description", located)
    elif tag == "LOC":
        if located.value(0) != "27":
            reading.fail(located, "expected LOC+27 (country of origin) in a goods item", f"{base}/origin")
            return
        reading.put(item, f"{base}/origin", "origin", located.value(1), located)
    elif tag == "QTY":
        if located.value(0, 0) != "47":
            reading.fail(located, "expected QTY+47:QUANTITY:UNIT (invoiced quantity)", f"{base}/quantity")
            return
        quantity = _number(reading, located, located.value(0, 1), f"{base}/quantity")
        if quantity is not None:
            reading.put(item, f"{base}/quantity", "quantity", quantity, located)
        reading.put(item, f"{base}/unit", "unit", located.value(0, 2), located)
    elif tag == "MEA":
        name = MASSES.get(located.value(1))
        if located.value(0) != "AAE" or name is None:
            reading.fail(located, f"expected MEA+AAE with one of {', '.join(MASSES)}", base)
            return
        unit = "P1" if name == "alcohol_strength" else "KGM"
        if located.value(2, 0) != unit:
            reading.fail(located, f"expected the unit {unit}", f"{base}/{name}")
            return
        value = _number(reading, located, located.value(2, 1), f"{base}/{name}")
        if value is not None:
            reading.put(item, f"{base}/{name}", name, value, located)
    elif tag == "MOA":
        if located.value(0, 0) != "38":
            reading.fail(located, "expected MOA+38:AMOUNT (the item's invoice amount)", f"{base}/price")
            return
        price = _number(reading, located, located.value(0, 1), f"{base}/price")
        if price is not None:
            reading.put(item, f"{base}/price", "price", price, located)
    elif tag == "PAC":
        count = _integer(reading, located, located.value(0), f"{base}/package_count")
        if count is not None:
            reading.put(item, f"{base}/package_count", "package_count", count, located)
        reading.put(item, f"{base}/package_kind", "package_kind", located.value(2), located)
    else:
        reading.fail(located, f"segment {tag} is not read in a CUSDEC goods item here")


def _goods(reading: Reading, located: Located, index: int) -> dict[str, Any]:
    base = f"/goods_items/{index}"
    reading.sources[base] = located
    item: dict[str, Any] = {}
    sequence = _integer(reading, located, located.value(0), f"{base}/sequence")
    if sequence is not None:
        item["sequence"] = sequence
    code = located.value(1, 0)
    item["hs_code"] = code[:6]
    if code[6:]:
        item["national_code"] = code[6:]
    for element, (name, qualifier) in enumerate((("procedure", "117"), ("preference", "116")), start=2):
        if located.value(element) and located.value(element, 1) != qualifier:
            reading.fail(located, f"element {element + 1} must be qualified {qualifier}", f"{base}/{name}")
        elif located.value(element):
            item[name] = located.value(element)
    for name in ("sequence", "hs_code", "national_code", "procedure", "preference"):
        reading.sources[f"{base}/{name}"] = located
    return item


def to_document(message: ParsedMessage) -> Reading:
    """Read a CUSDEC message into decoded JSON for `DeclarationDocument`; errors name their segment.
    The caller validates the result (declarations.service does, with the same rules as the JSON API)."""
    reading = Reading(message)
    if message.type != IDENTIFIER[0]:
        raise EdifactError(
            [SegmentError("UNH", 1, f"expected a CUSDEC, not {message.type}", message.reference)]
        )
    documents: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    section = "header"
    for located in message.segments:
        if located.tag == "UNS":
            expected = {"header": "D", "items": "S"}.get(section)
            if located.value(0) != expected:
                reading.fail(located, "UNS+D must end the header, UNS+S the goods items")
            section = {"header": "items", "items": "summary"}.get(section, "summary")
        elif located.tag == "CST":
            if section == "summary":
                reading.fail(located, "a goods item after UNS+S")
            section = "items"
            items.append(_goods(reading, located, len(items)))
        elif section == "header":
            _header(reading, located, documents)
        elif section == "items" and items:
            _item(reading, located, items[-1], len(items) - 1)
        else:
            reading.fail(
                located, f"segment {located.tag} is not read here (after UNS+D, a goods item begins with CST)"
            )
    if documents:
        reading.data["documents"] = documents
    if items:
        reading.data["goods_items"] = items
    if reading.errors:
        raise EdifactError(reading.errors)
    return reading


def _party(role: str, party: Any) -> Segment:
    return Segment(
        "NAD",
        PARTY_CODES[role],
        [party.id, "", "ZZZ"] if party.id else "",
        "",
        chunks(party.name, NAME_PART),
        "",
        "",
        "",
        "",
        party.country,
    )


def _amount(value: Decimal) -> str:
    return format(value, "f")


def from_document(document: DeclarationDocument) -> list[Segment]:
    """The body of a CUSDEC message (between UNH and UNT) for a document; `to_document` reads it back."""
    out = [Segment("BGM", KIND_CODES[document.kind], document.lrn, "9")]
    if document.pre_arrival:
        out.append(Segment("GIS", ["PRE", "", "ZZZ"]))
    for role in PARTY_CODES:
        party = getattr(document, role)
        if party is not None:
            out.append(_party(role, party))
    for place, code in PLACE_CODES.items():
        value = getattr(document, place)
        if value is not None:
            out.append(Segment("LOC", code, value))
    out.append(Segment("LOC", "1", ["", "", "", document.incoterm_place]))
    out.append(Segment("TOD", "", "", document.incoterm))
    transport: list[Any] = ["11", "", document.transport_mode]
    if document.means_of_transport_id:
        transport += ["", "", "", "", document.means_of_transport_id]
    out.append(Segment("TDT", *transport))
    out += [Segment("EQD", "CN", container) for container in document.containers]
    out.append(Segment("CUX", ["2", document.invoice_currency, "4"]))
    for name, code in AMOUNT_CODES.items():
        value = getattr(document, name)
        if value is not None:
            out.append(Segment("MOA", [code, _amount(value)]))
    for doc in document.documents:
        out.append(
            Segment("DOC", doc.type, [doc.reference, "", "", doc.issuer] if doc.issuer else doc.reference)
        )
        out.append(Segment("DTM", ["182", doc.issued_on.strftime("%Y%m%d"), "102"]))
        if credential := getattr(doc, "credential", None):
            parts = chunks(credential, TEXT_PART)
            out += [Segment("FTX", "ZZZ", "", "", parts[i : i + 5]) for i in range(0, len(parts), 5)]
    out.append(Segment("UNS", "D"))
    for item in document.goods_items:
        out.append(
            Segment(
                "CST",
                str(item.sequence),
                [item.hs_code + (item.national_code or ""), "108", "ZZZ"],
                [item.procedure, "117", "ZZZ"],
                [item.preference, "116", "ZZZ"],
            )
        )
        parts = chunks(item.description, TEXT_PART)
        out += [Segment("FTX", "AAA", "", "", parts[start : start + 5]) for start in range(0, len(parts), 5)]
        out.append(Segment("LOC", "27", item.origin))
        out.append(Segment("QTY", ["47", _amount(item.quantity), item.unit]))
        out.append(Segment("MEA", "AAE", "G", ["KGM", _amount(item.gross_mass)]))
        out.append(Segment("MEA", "AAE", "N", ["KGM", _amount(item.net_mass)]))
        if item.alcohol_strength is not None:
            out.append(Segment("MEA", "AAE", "ABQ", ["P1", _amount(item.alcohol_strength)]))
        out.append(Segment("MOA", ["38", _amount(item.price)]))
        out.append(Segment("PAC", str(item.package_count), "", item.package_kind))
    out.append(Segment("UNS", "S"))
    return out


def messages(documents: Sequence[DeclarationDocument]) -> list[tuple[str, Sequence[str], Sequence[Segment]]]:
    """CUSDEC messages for `syntax.serialize`, numbered from 1."""
    return [(str(number), IDENTIFIER, from_document(doc)) for number, doc in enumerate(documents, start=1)]
