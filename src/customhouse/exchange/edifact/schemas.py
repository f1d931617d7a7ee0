"""What the EDIFACT endpoints answer in JSON (the messages themselves travel as application/EDIFACT)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel


class Lodged(BaseModel):
    """One CUSDEC message's declaration: new (status 201) or the existing one with the same content (200)."""

    message: str  # the UNH reference
    status: int
    id: uuid.UUID
    lrn: str
    mrn: str | None
    state: str
    lane: str | None


class Match(BaseModel):
    declaration_id: uuid.UUID
    lrn: str
    mrn: str | None
    state: str
    on: list[str]  # what matched: "transport document BL-123", "container CSQU3054383"


class ManifestLine(BaseModel):
    sequence: int
    transport_document: str
    containers: list[str]
    description: str | None
    packages: int | None
    gross_mass: Decimal | None
    declared: bool  # some declaration names this line's transport document or a container of it
    matches: list[Match]  # those of the matching declarations the reader may see


class Manifest(BaseModel):
    """One version of a carrier's manifest: `function` is the BGM message function (UNCL 1225) that made
    it (9 original, 5 replacement, 1 cancellation); `state` says whether it is in force."""

    id: uuid.UUID
    reference: str
    version: int
    function: str
    state: str  # "in force", "replaced" (by `replaced_by`) or "cancelled"
    replaced_by: uuid.UUID | None
    carrier: str | None
    means_of_transport_id: str | None
    arrival_at: datetime | None
    received_at: datetime
    lines: list[ManifestLine]


class StoredManifest(Manifest):
    """A CUSCAR message's manifest: a new version (status 201) or the one the same message made before
    (200)."""

    message: str  # the UNH reference
    status: int


class Submission(BaseModel):
    """The answer to POST /api/v1/edifact: the declarations lodged, or the manifests stored."""

    type: str  # CUSDEC or CUSCAR
    declarations: list[Lodged] = []
    manifests: list[StoredManifest] = []


class MailboxEntry(BaseModel):
    id: uuid.UUID
    message_type: str
    declaration_id: uuid.UUID
    status: str
    reference: str
    created_at: datetime
