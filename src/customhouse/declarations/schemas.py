"""The goods declaration as it crosses the boundary (API, files), aligned with the WCO Data Model.

Field-level rules live here as pydantic types, each error saying what would be accepted. Rules that
look across fields are in `consistency.py`; rules that need the database (registered parties,
mandates) are in `service.py`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from customhouse.reference import codes
from customhouse.reference.iso6346 import is_valid_container_number


class Kind(StrEnum):
    IMPORT = "import"  # import for home use
    EXPORT = "export"
    TRANSIT = "transit"


class State(StrEnum):
    DRAFT = "draft"
    LODGED = "lodged"
    ACCEPTED = "accepted"
    UNDER_CONTROL = "under_control"
    RELEASED = "released"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Lane(StrEnum):
    GREEN = "green"  # release without control
    YELLOW = "yellow"  # documentary control
    RED = "red"  # physical inspection


def _member_of(lookup: Callable[[], Collection[str]], expected: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in lookup():
            raise ValueError(f"{value!r} is not {expected}")
        return value

    return check


def _matching(pattern: str, expected: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {expected}")
        return value

    return check


PARTY_ID = re.compile(r"[A-Z]{2}[A-Z0-9]{1,15}")


def _party_id(value: str) -> str:
    if not PARTY_ID.fullmatch(value) or value[:2] not in codes.countries():
        raise ValueError(
            f"{value!r} is not a party id: an ISO 3166 country code followed by up to 15 capital letters "
            "or digits (EORI-like), e.g. 'KR1234567890'"
        )
    return value


def _container(value: str) -> str:
    if not is_valid_container_number(value):
        raise ValueError(
            f"{value!r} is not an ISO 6346 container number: owner code (3 letters), category U, J or Z, "
            "6-digit serial and the check digit, e.g. 'CSQU3054383'"
        )
    return value


CountryCode = Annotated[
    str, AfterValidator(_member_of(codes.countries, "an ISO 3166-1 alpha-2 country code, e.g. 'KR'"))
]
CurrencyCode = Annotated[
    str, AfterValidator(_member_of(codes.currencies, "an ISO 4217 currency code, e.g. 'USD'"))
]
OfficeCode = Annotated[
    str, AfterValidator(_member_of(codes.offices, "a customs office in the office list, e.g. 'KR000040'"))
]
TransportMode = Annotated[
    str, AfterValidator(_member_of(codes.transport_modes, "a UN/ECE Rec. 19 transport mode code, '0' to '9'"))
]
UnitCode = Annotated[
    str,
    AfterValidator(
        _member_of(codes.units, "a UN/ECE Rec. 20 unit code of the list, e.g. 'KGM', 'C62', 'LTR'")
    ),
]
Incoterm = Annotated[
    str,
    AfterValidator(
        _member_of(codes.incoterms, "an Incoterms 2020 rule: EXW FCA FAS FOB CPT CIP CFR CIF DAP DPU DDP")
    ),
]
DocumentType = Annotated[
    str,
    AfterValidator(
        _member_of(codes.document_types, "a UN/EDIFACT 1001 document code of the list, e.g. '380'")
    ),
]
HsSubheading = Annotated[
    str, AfterValidator(_member_of(codes.hs_subheadings, "an HS 2022 subheading: 6 digits, e.g. '610910'"))
]
PartyId = Annotated[str, AfterValidator(_party_id)]
ContainerNumber = Annotated[str, AfterValidator(_container)]
Lrn = Annotated[
    str,
    AfterValidator(
        _matching(r"[A-Za-z0-9][A-Za-z0-9/_.-]{0,21}", "an LRN: 1 to 22 letters, digits, / _ . -")
    ),
]


# Unicode's control characters (category Cc: C0, DEL, C1) but tab, line feed and carriage return.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(value: str) -> str:
    """Free text may hold any character but control characters (NUL cannot even be stored in
    PostgreSQL's JSON); line breaks and tabs are allowed."""
    if found := CONTROL_CHARACTER.search(value):
        raise ValueError(f"contains the control character U+{ord(found.group()):04X}; use printable text")
    return value


Printable = AfterValidator(_printable)
Text = Annotated[str, Field(min_length=1, max_length=512), Printable]
Name = Annotated[str, Field(min_length=1, max_length=70), Printable]
Reference = Annotated[str, Field(min_length=1, max_length=70), Printable]
TransportId = Annotated[str, Field(min_length=1, max_length=35), Printable]
Note = Annotated[str, Field(min_length=1, max_length=2000), Printable]
Money = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]
Mass = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3)]
Strength = Annotated[Decimal, Field(gt=0, le=100, decimal_places=2)]  # alcoholic strength, % vol


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Party(Model):
    """A trader named on the declaration; foreign sellers and buyers may have no id here."""

    id: PartyId | None = None
    name: Name
    country: CountryCode


class IdentifiedParty(Party):
    id: PartyId


Credential = Annotated[
    str,
    Field(
        max_length=65_536,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
        description="a verifiable credential as a compact JWS (vc+jwt)",
    ),
]


class SupportingDocument(Model):
    type: DocumentType
    reference: Reference
    issuer: Name | None = None
    issued_on: date
    # the document as a verifiable credential (a compact JWS, `vc+jwt`), checked at lodgement: a proof
    # of origin that carries one must be valid and cover the items claiming the preference
    credential: Credential | None = None


class GoodsItem(Model):
    sequence: Annotated[int, Field(ge=1, le=999)]
    hs_code: HsSubheading
    national_code: (
        Annotated[str, AfterValidator(_matching(r"[0-9]{2,4}", "2 to 4 national tariff digits"))] | None
    ) = None
    description: Text
    origin: CountryCode
    preference: Annotated[
        str, AfterValidator(_matching(r"[0-9]{3}", "a 3-digit preference code, e.g. '100'"))
    ] = "100"
    quantity: Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3)]
    unit: UnitCode
    gross_mass: Mass
    net_mass: Mass
    alcohol_strength: Strength | None = None  # % vol, for excise per litre of pure alcohol
    price: Money
    procedure: Annotated[str, AfterValidator(_matching(r"[0-9]{4}", "a 4-digit procedure code, e.g. '4000'"))]
    package_count: Annotated[int, Field(ge=0, le=99_999)] = 1
    package_kind: Annotated[
        str, AfterValidator(_matching(r"[0-9A-Z]{2}", "a UN/ECE Rec. 21 package code, e.g. 'CT'"))
    ] = "PK"


class DeclarationDocument(Model):
    """What the declarant states; every field the trader can set, nothing the customs system adds."""

    kind: Kind
    pre_arrival: bool = False
    lrn: Lrn
    declarant: IdentifiedParty
    representative: IdentifiedParty | None = None
    importer: Party | None = None
    exporter: Party | None = None
    seller: Party | None = None
    buyer: Party | None = None
    office_of_lodgement: OfficeCode
    office_of_entry: OfficeCode | None = None
    office_of_exit: OfficeCode | None = None
    office_of_destination: OfficeCode | None = None
    transport_mode: TransportMode
    means_of_transport_id: TransportId | None = None
    containers: Annotated[list[ContainerNumber], Field(max_length=999)] = []
    incoterm: Incoterm
    incoterm_place: Name
    invoice_currency: CurrencyCode
    invoice_total: Money
    freight: Money | None = None
    insurance: Money | None = None
    country_of_dispatch: CountryCode
    country_of_destination: CountryCode
    documents: Annotated[list[SupportingDocument], Field(max_length=99)] = []
    goods_items: Annotated[list[GoodsItem], Field(min_length=1, max_length=999)]


class Correction(Model):
    """A corrected value, by JSON pointer into the declaration document, e.g. /goods_items/0/hs_code."""

    pointer: Annotated[str, Field(pattern=r"^(/[^/]+)+$")]
    value: Any


class Control(Model):
    """The result an officer records after a documentary or physical control."""

    outcome: Literal["conforming", "irregularity"]
    irregularity: (
        Literal["undervaluation", "misclassification", "false_origin", "quantity", "prohibited", "other"]
        | None
    ) = None
    corrections: Annotated[list[Correction], Field(max_length=999)] = []
    # duties, taxes and penalties the irregularity brought in, in the national currency: what the risk
    # model learns the revenue at stake from
    revenue_recovered: Money | None = None
    note: Note | None = None


class Reason(Model):
    reason: Note


class DocumentRequest(Model):
    documents: Annotated[list[DocumentType], Field(min_length=1)]
    reason: Note


class Declaration(BaseModel):
    """A declaration as customs holds it: the trader's document plus what customs decided."""

    id: uuid.UUID
    mrn: str | None
    state: State
    lane: Lane | None
    lane_reasons: list[str]
    version: int
    revision: int
    lodged_at: datetime | None
    accepted_at: datetime | None
    released_at: datetime | None
    updated_at: datetime
    document: DeclarationDocument


class AuditEntry(BaseModel):
    at: datetime
    event: str
    actor: str
    actor_party: str | None
    reason: str | None
    data: dict[str, Any]


class Page(BaseModel):
    items: list[Declaration]
    next_cursor: str | None
