"""Tracking over HTTP.

- POST /api/v1/tracking/telemetry: the embedded ingestion path when no MQTT broker is configured. The
  body is one compact JWS (text/plain or application/jose), or NDJSON of many (application/x-ndjson,
  one JWS a line). No bearer token: the message's own signature authenticates it. One message answers
  its outcome (200), or a problem when it is refused (400 malformed, 401 unknown signer or bad signature,
  403 not authorised for a device, 409 a replay); NDJSON answers {"results": [...]} in line order, every
  message committed in one transaction before the answer.
- POST /api/v1/tracking/devices, GET /api/v1/tracking/devices/{id}
- POST /api/v1/tracking/movements, GET /api/v1/tracking/movements[?state=],
  GET /api/v1/tracking/movements/{id}[?track=N], POST /api/v1/tracking/movements/{id}/discharge
- GET /api/v1/tracking/alerts[?state=&movement_id=], POST /api/v1/tracking/alerts/{id}/acknowledge and
  /resolve with {"note"}
- GET /api/v1/tracking/statistics: rejected messages by reason, positions, gaps, open alerts

`install(app, settings)` builds the processor (app.state.tracking_processor, which the MQTT adapter
shares) and mounts the router; app.py starts its offline sweep in the lifespan.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from customhouse.auth.api import CurrentPrincipal
from customhouse.config import Settings
from customhouse.db import writing
from customhouse.problems import Problem
from customhouse.tracking import schemas, service
from customhouse.tracking.processor import REPLAY, Outcome, Processor
from customhouse.tracking.telemetry import BAD_SIGNATURE, MALFORMED, NOT_AUTHORISED, UNKNOWN_SIGNER

router = APIRouter(prefix="/api/v1/tracking", tags=["tracking"])
MAX_BODY = 32 * 1024 * 1024
MAX_LINES = 10_000
REFUSALS = {
    MALFORMED: (400, "malformed"),
    UNKNOWN_SIGNER: (401, "unauthorized"),
    BAD_SIGNATURE: (401, "unauthorized"),
    NOT_AUTHORISED: (403, "forbidden"),
    REPLAY: (409, "conflict"),
}


def install(app: FastAPI, settings: Settings, *, processor: Processor | None = None) -> None:
    """Mount the tracking API with its processor (default: on the app's sessions, waking the event
    dispatcher after each commit so that alerts reach officers at once)."""
    if processor is None:
        dispatcher = getattr(app.state, "dispatcher", None)
        processor = Processor(
            app.state.sessions,
            on_commit=dispatcher.notify if dispatcher is not None else None,
            sweep_interval=settings.tracking_sweep_seconds,
        )
    app.state.tracking_processor = processor
    if not getattr(app.state, "tracking_installed", False):
        app.state.tracking_installed = True
        app.include_router(router)


def _processor(request: Request) -> Processor:
    processor: Processor = request.app.state.tracking_processor
    return processor


def _ingested(outcome: Outcome) -> dict[str, Any]:
    return schemas.Ingested(
        signer=outcome.signer,
        accepted=outcome.accepted,
        late=outcome.late,
        replayed=outcome.replayed,
        gaps=outcome.gaps,
        alerts=list(outcome.alerts),
        reason=outcome.reason,
        detail=outcome.detail,
    ).model_dump()


@router.post("/telemetry", summary="Ingest signed telemetry (one compact JWS, or NDJSON of many)")
async def ingest(request: Request) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Problem(413, "too-large", f"send at most {MAX_BODY} bytes a request (or use MQTT)")
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if not lines:
        raise Problem(400, "malformed", "the body is empty: send a compact JWS, or NDJSON of them")
    if len(lines) > MAX_LINES:
        raise Problem(413, "too-large", f"send at most {MAX_LINES} messages a request")
    ndjson = "ndjson" in request.headers.get("content-type", "") or len(lines) > 1
    outcomes = await run_in_threadpool(_processor(request).handle_many, lines)
    if ndjson:
        return JSONResponse({"results": [_ingested(outcome) for outcome in outcomes]})
    outcome = outcomes[0]
    if outcome.reason is not None:
        status, slug = REFUSALS.get(outcome.reason, (400, "malformed"))
        raise Problem(status, slug, f"{outcome.reason}: {outcome.detail}", extra={"reason": outcome.reason})
    return JSONResponse(_ingested(outcome))


@router.post("/devices", status_code=201, summary="Register an e-seal, tracker or gateway")
def register_device(request: Request, body: schemas.NewDevice, by: CurrentPrincipal) -> JSONResponse:
    with writing(request.app.state.sessions) as session:
        device = service.register_device(session, device=body, by=by)
    _processor(request).forget(device.id, *([device.gateway] if device.gateway else []))
    return JSONResponse(
        device.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"{router.prefix}/devices/{device.id}"},
    )


@router.get("/devices/{device_id}", summary="A device and where its sequence stands")
def read_device(request: Request, device_id: str, by: CurrentPrincipal) -> schemas.Device:
    with request.app.state.sessions() as session:
        return service.get_device(session, device_id=device_id, by=by)


@router.post("/movements", status_code=201, summary="Open the movement of a transit declaration")
def open_movement(request: Request, body: schemas.NewMovement, by: CurrentPrincipal) -> JSONResponse:
    with writing(request.app.state.sessions) as session:
        movement = service.open_movement(session, movement=body, by=by)
    request.app.state.dispatcher.notify()
    return JSONResponse(
        movement.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"{router.prefix}/movements/{movement.id}"},
    )


@router.get("/movements", summary="Movements, newest first")
def list_movements(
    request: Request,
    by: CurrentPrincipal,
    state: schemas.MovementState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[schemas.Movement]:
    with request.app.state.sessions() as session:
        return service.list_movements(session, by=by, state=state, limit=limit)


@router.get("/movements/{movement_id}", summary="A movement with its track and alerts")
def read_movement(
    request: Request,
    movement_id: uuid.UUID,
    by: CurrentPrincipal,
    track: Annotated[int, Query(ge=0, le=100_000, description="the last N positions")] = 1000,
) -> schemas.MovementDetail:
    with request.app.state.sessions() as session:
        return service.get_movement(session, movement_id=movement_id, by=by, track=track)


@router.post("/movements/{movement_id}/discharge", summary="Discharge an arrived movement")
def discharge(
    request: Request, movement_id: uuid.UUID, by: CurrentPrincipal, body: schemas.Discharge | None = None
) -> schemas.Movement:
    with writing(request.app.state.sessions) as session:
        movement = service.discharge(
            session, movement_id=movement_id, by=by, note=body.note if body else None
        )
    request.app.state.dispatcher.notify()
    return movement


@router.get("/alerts", summary="Alerts, newest first")
def list_alerts(
    request: Request,
    by: CurrentPrincipal,
    state: schemas.AlertState | None = None,
    movement_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[schemas.Alert]:
    with request.app.state.sessions() as session:
        return service.list_alerts(session, by=by, state=state, movement_id=movement_id, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert, with a note")
def acknowledge(
    request: Request, alert_id: uuid.UUID, body: schemas.AlertAction, by: CurrentPrincipal
) -> schemas.Alert:
    with writing(request.app.state.sessions) as session:
        alert = service.acknowledge_alert(session, alert_id=alert_id, note=body.note, by=by)
    request.app.state.dispatcher.notify()
    return alert


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert, with a note")
def resolve(
    request: Request, alert_id: uuid.UUID, body: schemas.AlertAction, by: CurrentPrincipal
) -> schemas.Alert:
    with writing(request.app.state.sessions) as session:
        alert = service.resolve_alert(session, alert_id=alert_id, note=body.note, by=by)
    request.app.state.dispatcher.notify()
    return alert


@router.get("/statistics", summary="Rejected messages by reason, positions, gaps, open alerts")
def statistics(request: Request, by: CurrentPrincipal) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        service.list_movements(session, by=by, limit=1)  # the readers' check
        return service.statistics(session)
