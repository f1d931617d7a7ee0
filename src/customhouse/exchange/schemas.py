"""What crosses the boundary of the exchange: partners, agreements, the signed envelope, requests to
send, and traders' consents."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from customhouse.declarations.schemas import CountryCode, Note


class MessageType(StrEnum):
    """Messages between customs administrations."""

    EXPORT_DECLARATION = "export-declaration"  # a released export, pre-arrival data for the partner
    ORIGIN_REQUEST = "origin-verification-request"
    ORIGIN_ANSWER = "origin-verification-answer"
    AEO_LIST = "aeo-list"  # mutual recognition: the sender's authorised economic operators
    CONTROL_RESULT = "control-result"


class Channel(StrEnum):
    """What partner agencies may ask for, each under an agreement that names it."""

    VAT_FEED = "vat-feed"  # tax authority: released imports with customs value and VAT
    TRANSPORT_STATUS = "transport-status"  # transport agency: arrival and transit status
    EXPORT_HISTORY = "export-history"  # bank: a trader's export history, with its consent


PartnerKind = Literal["customs", "tax", "transport", "bank", "other"]
PartnerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{1,63}$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewPartner(Model):
    id: PartnerId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: PartnerKind
    country: CountryCode
    base_url: HttpUrl | None = Field(None, description="where its exchange API answers (customs partners)")
    public_jwk: dict[str, Any] | None = Field(None, description="its Ed25519 public key as a JWK")


class NewAgreement(Model):
    id: uuid.UUID | None = Field(None, description="the id both sides register; default a new one")
    partner_id: PartnerId
    message_types: Annotated[list[str], Field(min_length=1, max_length=10)]
    fields: Annotated[list[str], Field(min_length=1, max_length=500)]
    purpose: Annotated[str, Field(min_length=1, max_length=2000)]
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime


class Envelope(Model):
    """The signed content of every message between administrations."""

    message_id: uuid.UUID
    type: MessageType
    sender: PartnerId
    receiver: PartnerId
    agreement_id: uuid.UUID
    created_at: AwareDatetime
    in_reply_to: uuid.UUID | None = None
    payload: dict[str, Any]


class NewMessage(Model):
    """A message to send: a declaration's data (export-declaration) or a payload of its own."""

    type: MessageType
    partner_id: PartnerId | None = None
    agreement_id: uuid.UUID | None = None
    declaration_id: uuid.UUID | None = None
    payload: dict[str, Any] | None = None


class NewConsent(Model):
    partner_id: PartnerId
    purpose: Note
