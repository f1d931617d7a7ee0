"""EDIFACT over HTTP, with the same bearer tokens as the JSON API, and the WCO DM schema.

- POST /api/v1/edifact: an interchange (Content-Type application/EDIFACT) of CUSDEC messages (lodged
  as declarations) or CUSCAR messages (stored as cargo reports, answered with their matches)
- GET /api/v1/edifact/messages[?after=ID&limit=N]: the reader's CUSRES mailbox, oldest first
- GET /api/v1/edifact/messages/{id}: one response, as application/EDIFACT
- GET /api/v1/edifact/manifests/{id}: a cargo report, each line with the declarations it matches
- GET /api/v1/schema: the declaration's JSON Schema with WCO Data Model ids (public)

`install(app, settings)` mounts the router and subscribes the CUSRES and reference-index handlers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from customhouse.auth.api import CurrentPrincipal
from customhouse.config import Settings
from customhouse.db import writing
from customhouse.exchange import wcodm
from customhouse.exchange.edifact import schemas, service, syntax
from customhouse.problems import FieldError, Problem

router = APIRouter(tags=["edifact"])
ACCEPTED_TYPES = ("application/edifact", "text/plain")


@router.post(
    "/api/v1/edifact",
    response_model=schemas.Submission,
    status_code=201,
    summary="Lodge an EDIFACT interchange (CUSDEC or CUSCAR)",
    openapi_extra={
        "requestBody": {"required": True, "content": {syntax.MEDIA_TYPE: {"schema": {"type": "string"}}}}
    },
)
async def submit(request: Request, by: CurrentPrincipal) -> Response:
    """CUSDEC messages become declarations exactly as POST /api/v1/declarations makes them; CUSCAR messages
    become cargo reports. The interchange is taken whole or not at all: a refusal names each segment
    (tag, number in its message, reason) and stores nothing. 201 when something new was stored, 200 when
    every declaration already existed with the same content, or every manifest message was received
    before (a resend is answered with the version it made)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise Problem(
            415,
            "malformed",
            f"send the interchange as {syntax.MEDIA_TYPE}",
            [FieldError(f"expected {syntax.MEDIA_TYPE}, got {media or 'nothing'}", parameter="Content-Type")],
        )
    body = await request.body()
    if len(body) > syntax.MAX_LENGTH:
        raise Problem(413, "too-large", f"an interchange is at most {syntax.MAX_LENGTH} bytes")
    text = service.decode(body)
    policy = request.app.state.policy

    def work() -> schemas.Submission:
        with writing(request.app.state.sessions) as session:
            return service.submit(session, text=text, by=by, policy=policy)

    result = await run_in_threadpool(work)  # parsing and lodging block: keep them off the event loop
    request.app.state.dispatcher.notify()
    statuses = [item.status for item in result.declarations] + [item.status for item in result.manifests]
    created = 201 in statuses
    return JSONResponse(result.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/api/v1/edifact/messages", response_model=list[schemas.MailboxEntry], summary="Your CUSRES mailbox"
)
def mailbox(
    request: Request,
    by: CurrentPrincipal,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[schemas.MailboxEntry]:
    with request.app.state.sessions() as session:
        return service.messages(session, by=by, after=after, limit=limit)


@router.get(
    "/api/v1/edifact/messages/{message_id}",
    response_class=Response,
    responses={200: {"content": {syntax.MEDIA_TYPE: {}}, "description": "the CUSRES interchange"}},
    summary="One CUSRES, as EDIFACT",
)
def message(request: Request, message_id: uuid.UUID, by: CurrentPrincipal) -> Response:
    with request.app.state.sessions() as session:
        body = service.message(session, message_id=message_id, by=by)
    return Response(body.encode("utf-8"), media_type=syntax.MEDIA_TYPE)


@router.get(
    "/api/v1/edifact/manifests/{report_id}",
    response_model=schemas.Manifest,
    summary="A cargo report and its matches",
)
def manifest(request: Request, report_id: uuid.UUID, by: CurrentPrincipal) -> schemas.Manifest:
    with request.app.state.sessions() as session:
        return service.manifest(session, report_id=report_id, by=by)


@router.get("/api/v1/schema", summary="The declaration's JSON Schema with WCO Data Model ids")
def schema() -> dict[str, Any]:
    return wcodm.json_schema()


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the routes and answer status changes with CUSRES from this administration."""
    service.subscribe(app.state.dispatcher, sender=f"{settings.country}CUSTOMS")
    app.include_router(router)
