"""Exchange over HTTP.

Customs (supervisors manage, officers and supervisors send, auditors read):
- POST/GET /api/v1/exchange/partners, POST/GET /api/v1/exchange/agreements,
  POST /api/v1/exchange/partners/{id}/tokens (an agency's token, shown once)
- POST/GET /api/v1/exchange/messages, GET /api/v1/exchange/messages/{id},
  GET /api/v1/exchange/incoming, /pre-arrivals, /mismatches, /disclosures
Partners: GET /api/v1/exchange/key (our id and public JWK), POST /api/v1/exchange/inbox (a compact JWS)
Agencies (their own bearer token): GET /api/v1/agency/vat-feed?since=, /transport-status?container=,
/export-attestations/{party_id}
Traders: POST/GET /api/v1/exchange/consents, POST /api/v1/exchange/consents/{id}/revoke

`install(app, settings, run=...)` mounts the router, subscribes the dispatcher handlers (a released
export goes to its destination; an import lodged is matched to waiting pre-arrival data) and runs the
delivery courier in the app's lifespan when `run`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from customhouse.auth.api import BEARER, CurrentPrincipal
from customhouse.config import Settings
from customhouse.db import utcnow, writing
from customhouse.exchange import agencies, service, signing
from customhouse.exchange.courier import Courier
from customhouse.exchange.models import (
    Agreement,
    Consent,
    Disclosure,
    IncomingMessage,
    Mismatch,
    OutgoingMessage,
    Partner,
    PreArrival,
)
from customhouse.exchange.schemas import NewAgreement, NewConsent, NewMessage, NewPartner
from customhouse.problems import FieldError, Problem

router = APIRouter(tags=["exchange"])
PREFIX = "/api/v1/exchange"


def install(
    app: FastAPI, settings: Settings, *, run: bool = True, client: httpx.Client | None = None
) -> None:
    """Mount the exchange: router, event handlers, and the courier thread in the lifespan (when `run`)."""
    identity = service.Identity.from_settings(settings)
    courier = Courier(
        app.state.sessions,
        client=client or httpx.Client(timeout=10.0),
        max_attempts=settings.exchange_max_attempts,
    )
    app.state.exchange_identity = identity
    app.state.exchange_courier = courier
    app.state.dispatcher.subscribe("declaration.released", service.on_released(identity))
    app.state.dispatcher.subscribe("declaration.lodged", service.on_lodged(identity))
    app.include_router(router)
    if not run:
        return
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            stop = threading.Event()
            thread = threading.Thread(target=courier.run, args=(stop,), name="exchange-courier", daemon=True)
            thread.start()
            yield state
            stop.set()
            courier.notify()
            thread.join(timeout=5)

    app.router.lifespan_context = lifespan


def _identity(request: Request) -> service.Identity:
    identity: service.Identity = request.app.state.exchange_identity
    return identity


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _partner(record: Partner) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "country": record.country,
        "base_url": record.base_url,
        "public_jwk": record.public_jwk,
        "created_at": _time(record.created_at),
    }


def _agreement(record: Agreement) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "partner_id": record.partner_id,
        "message_types": record.message_types,
        "fields": record.fields,
        "purpose": record.purpose,
        "valid_from": _time(record.valid_from),
        "valid_until": _time(record.valid_until),
        "aeo_list": record.aeo_list,
    }


def _outgoing(record: OutgoingMessage) -> dict[str, Any]:
    return {
        "message_id": str(record.message_id),
        "direction": "out",
        "partner_id": record.partner_id,
        "agreement_id": str(record.agreement_id),
        "type": record.type,
        "subject": record.subject,
        "state": record.state,
        "attempts": record.attempts,
        "next_attempt_at": _time(record.next_attempt_at),
        "last_error": record.last_error,
        "answer": record.answer,
        "created_at": _time(record.created_at),
        "delivered_at": _time(record.delivered_at),
    }


def _incoming(record: IncomingMessage) -> dict[str, Any]:
    return {
        "message_id": str(record.message_id),
        "direction": "in",
        "sender": record.sender,
        "agreement_id": str(record.agreement_id),
        "type": record.type,
        "in_reply_to": str(record.in_reply_to) if record.in_reply_to else None,
        "payload": record.payload,
        "outcome": record.outcome,
        "created_at": _time(record.created_at),
        "received_at": _time(record.received_at),
    }


def _message(record: OutgoingMessage | IncomingMessage) -> dict[str, Any]:
    return _outgoing(record) if isinstance(record, OutgoingMessage) else _incoming(record)


def _pre_arrival(record: PreArrival) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "message_id": str(record.message_id),
        "sender": record.sender,
        "export_mrn": record.export_mrn,
        "declaration_id": str(record.declaration_id) if record.declaration_id else None,
        "matched_by": record.matched_by,
        "received_at": _time(record.received_at),
        "matched_at": _time(record.matched_at),
        "data": record.data,
    }


def _mismatch(record: Mismatch) -> dict[str, Any]:
    return {
        "id": record.id,
        "pre_arrival_id": str(record.pre_arrival_id),
        "declaration_id": str(record.declaration_id),
        "field": record.field,
        "pointer": record.pointer,
        "exported": record.exported,
        "declared": record.declared,
        "detail": record.detail,
        "found_at": _time(record.found_at),
    }


def _disclosure(record: Disclosure) -> dict[str, Any]:
    return {
        "id": record.id,
        "partner_id": record.partner_id,
        "agreement_id": str(record.agreement_id),
        "message_id": str(record.message_id) if record.message_id else None,
        "channel": record.channel,
        "subject": record.subject,
        "fields": record.fields,
        "disclosed_at": _time(record.disclosed_at),
    }


def _consent(record: Consent) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "party_id": record.party_id,
        "partner_id": record.partner_id,
        "purpose": record.purpose,
        "granted_at": _time(record.granted_at),
        "revoked_at": _time(record.revoked_at),
    }


# ---------------------------------------------------------------- registry


@router.post(f"{PREFIX}/partners", status_code=201, summary="Register a partner administration or agency")
def add_partner(request: Request, body: NewPartner, by: CurrentPrincipal) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        return _partner(service.add_partner(session, partner=body, by=by))


@router.get(f"{PREFIX}/partners", summary="The partner registry")
def list_partners(request: Request, by: CurrentPrincipal) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_partner(record) for record in service.partners(session, by=by)]


@router.post(f"{PREFIX}/partners/{{partner_id}}/tokens", status_code=201, summary="An agency's API token")
def agency_token(request: Request, partner_id: str, by: CurrentPrincipal) -> dict[str, str]:
    with writing(request.app.state.sessions) as session:
        token = agencies.issue_token(session, partner_id=partner_id, by=by)
    return {"partner_id": partner_id, "token": token}


@router.post(f"{PREFIX}/agreements", status_code=201, summary="Register an exchange agreement")
def add_agreement(request: Request, body: NewAgreement, by: CurrentPrincipal) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        return _agreement(service.add_agreement(session, agreement=body, by=by))


@router.get(f"{PREFIX}/agreements", summary="Exchange agreements")
def list_agreements(
    request: Request, by: CurrentPrincipal, partner_id: str | None = None
) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_agreement(record) for record in service.agreements(session, by=by, partner_id=partner_id)]


# ---------------------------------------------------------------- messages


@router.post(f"{PREFIX}/messages", status_code=202, summary="Send a message to a partner (queued)")
def send(request: Request, body: NewMessage, by: CurrentPrincipal) -> JSONResponse:
    with writing(request.app.state.sessions) as session:
        record = service.send(
            session,
            identity=_identity(request),
            type=body.type,
            by=by,
            partner_id=body.partner_id,
            agreement_id=body.agreement_id,
            declaration_id=body.declaration_id,
            payload=body.payload,
        )
        answer = _outgoing(record)
    request.app.state.exchange_courier.notify()
    return JSONResponse(
        answer, status_code=202, headers={"Location": f"{PREFIX}/messages/{answer['message_id']}"}
    )


@router.get(f"{PREFIX}/messages", summary="Messages sent, newest first")
def list_messages(request: Request, by: CurrentPrincipal, state: str | None = None) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_outgoing(record) for record in service.outgoing(session, by=by, state=state)]


@router.get(f"{PREFIX}/messages/{{message_id}}", summary="A message sent or received, and where it stands")
def read_message(request: Request, message_id: uuid.UUID, by: CurrentPrincipal) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        return _message(service.message(session, message_id=message_id, by=by))


@router.get(f"{PREFIX}/incoming", summary="Messages received (control results, origin answers, ...)")
def list_incoming(request: Request, by: CurrentPrincipal, type: str | None = None) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_incoming(record) for record in service.incoming(session, by=by, type=type)]


@router.get(f"{PREFIX}/pre-arrivals", summary="Partners' export data and the imports they matched")
def list_pre_arrivals(
    request: Request, by: CurrentPrincipal, matched: bool | None = None
) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_pre_arrival(record) for record in service.pre_arrivals(session, by=by, matched=matched)]


@router.get(f"{PREFIX}/mismatches", summary="Risk signals: partners' export data against our imports")
def list_mismatches(
    request: Request, by: CurrentPrincipal, declaration_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [
            _mismatch(record) for record in service.mismatches(session, by=by, declaration_id=declaration_id)
        ]


@router.get(f"{PREFIX}/disclosures", summary="What was disclosed, to whom, under which agreement")
def list_disclosures(
    request: Request, by: CurrentPrincipal, partner_id: str | None = None
) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_disclosure(record) for record in service.disclosures(session, by=by, partner_id=partner_id)]


@router.get(f"{PREFIX}/key", summary="This administration's exchange id and public key (public)")
def key(request: Request) -> dict[str, Any]:
    return _identity(request).public()


def _receive(request: Request, token: str) -> dict[str, Any]:
    identity = _identity(request)
    try:
        with writing(request.app.state.sessions) as session:
            receipt = service.receive(session, identity=identity, token=token)
    except IntegrityError:  # a copy of the same message committed first: it was processed once
        with request.app.state.sessions() as session:
            envelope, _ = service.verified(session, identity=identity, token=token, now=utcnow())
            seen = session.get(IncomingMessage, envelope.message_id)
            if seen is None:
                raise
            receipt = service.Receipt(envelope.message_id, True, seen.outcome)
    return receipt.as_dict()


@router.post(f"{PREFIX}/inbox", summary="A partner's signed message (application/jose: a compact JWS)")
async def inbox(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > signing.MAX_TOKEN:
        raise Problem(413, "too-large", f"a message has at most {signing.MAX_TOKEN} bytes")
    token = body.decode("ascii", errors="replace").strip()
    answer = await run_in_threadpool(_receive, request, token)
    request.app.state.dispatcher.notify()
    request.app.state.exchange_courier.notify()
    return answer


# ---------------------------------------------------------------- agencies and consent


def current_agency(request: Request) -> Partner:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "unauthorized", "send Authorization: Bearer <agency token>", headers=BEARER)
    with request.app.state.sessions() as session:
        partner = agencies.authenticate(session, token.strip())
    if partner is None:
        raise Problem(401, "unauthorized", "the agency token is unknown or revoked", headers=BEARER)
    return partner


CurrentAgency = Annotated[Partner, Depends(current_agency)]


@router.get(
    "/api/v1/agency/vat-feed", tags=["agencies"], summary="Released imports with customs value and VAT"
)
def vat_feed(
    request: Request, agency: CurrentAgency, since: Annotated[datetime, Query()]
) -> list[dict[str, Any]]:
    if since.tzinfo is None:
        raise Problem(
            422,
            "validation",
            "since needs its time zone",
            [FieldError("an RFC 3339 time with offset", parameter="since")],
        )
    with writing(request.app.state.sessions) as session:
        return agencies.vat_feed(session, partner=agency, since=since)


@router.get("/api/v1/agency/transport-status", tags=["agencies"], summary="Arrival and transit status")
def transport_status(
    request: Request, agency: CurrentAgency, container: str | None = None, means: str | None = None
) -> list[dict[str, Any]]:
    with writing(request.app.state.sessions) as session:
        return agencies.transport_status(session, partner=agency, container=container, means=means)


@router.get(
    "/api/v1/agency/export-attestations/{party_id}", tags=["agencies"], summary="A trader's export history"
)
def export_attestation(request: Request, agency: CurrentAgency, party_id: str) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        return agencies.export_attestation(
            session, partner=agency, party_id=party_id, identity=_identity(request)
        )


@router.post(f"{PREFIX}/consents", status_code=201, summary="Consent that an agency verify my export history")
def grant(request: Request, body: NewConsent, by: CurrentPrincipal) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        return _consent(
            agencies.grant_consent(session, partner_id=body.partner_id, purpose=body.purpose, by=by)
        )


@router.post(f"{PREFIX}/consents/{{consent_id}}/revoke", summary="Withdraw a consent")
def revoke(request: Request, consent_id: uuid.UUID, by: CurrentPrincipal) -> dict[str, Any]:
    with writing(request.app.state.sessions) as session:
        return _consent(agencies.revoke_consent(session, consent_id=consent_id, by=by))


@router.get(f"{PREFIX}/consents", summary="My consents (customs: all)")
def list_consents(request: Request, by: CurrentPrincipal) -> list[dict[str, Any]]:
    with request.app.state.sessions() as session:
        return [_consent(record) for record in agencies.consents(session, by=by)]
