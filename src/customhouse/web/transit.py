"""The officers' transit monitor: each corridor with movements under way drawn as inline SVG (server-side,
no map tiles, no JavaScript), the alert queue with acknowledge and resolve forms, and a page per movement.

Everything is read and changed through `tracking.service` with the signed-in principal, so visibility is
the API's: officers see the movements of their offices, supervisors all; other roles get 404.

Drawing: the corridor's own projection (azimuthal equidistant, metres) fitted to the SVG box, north up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from shapely.geometry import MultiPoint
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from customhouse import events
from customhouse.auth.service import Principal
from customhouse.problems import from_validation_errors
from customhouse.tracking import corridor as geometry
from customhouse.tracking import schemas, service
from customhouse.tracking.processor import AGGREGATE
from customhouse.web.pages import CUSTOMS, PREFIX, PageRoute, form_value, read, render, require, write

BASE = f"{PREFIX}/transit"
WIDTH = 900.0
MAX_HEIGHT = 700.0
PAD = 24.0
MOVEMENTS = 500  # movements drawn on the monitor at most
TRACK = 300  # positions of each movement's track on the monitor
DETAIL_TRACK = 5000  # on a movement's own page
CLOSE_UP_MARGIN = 5_000.0  # metres around a movement's track in its close-up
STATE_COLOURS = {
    schemas.MovementState.OPENED: "#6e7781",
    schemas.MovementState.IN_TRANSIT: "#2f6fab",
    schemas.MovementState.INCIDENT: "#b42318",
    schemas.MovementState.ARRIVED: "#1a7f37",
    schemas.MovementState.DISCHARGED: "#57606a",
}
STATE_LABELS = {
    schemas.MovementState.OPENED: "opened, no report yet",
    schemas.MovementState.IN_TRANSIT: "in transit",
    schemas.MovementState.INCIDENT: "incident",
    schemas.MovementState.ARRIVED: "arrived",
    schemas.MovementState.DISCHARGED: "discharged",
}

router = APIRouter(prefix=BASE, route_class=PageRoute, include_in_schema=False)


# ---------------------------------------------------------------- drawing (pure)


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    x: float
    y: float
    r: float
    anchor: str  # where its label stands: "start", "middle" or "end", to stay inside the box


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    d: str


@dataclass(frozen=True, slots=True)
class Truck:
    movement_id: uuid.UUID
    mrn: str
    state: str
    label: str
    colour: str
    x: float | None  # None: no position yet
    y: float | None
    tracks: tuple[str, ...]  # one path per device


@dataclass
class Drawing:
    code: str
    name: str
    width: float
    height: float
    route: str
    buffer: str
    departure: Place
    destination: Place
    stops: list[Place] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    trucks: list[Truck] = field(default_factory=list)


class _Fit:
    """Corridor metres to SVG pixels: one scale for both axes (the projection is conformal enough at this
    size), y pointing down."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        minx, miny, maxx, maxy = bounds
        span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        self.scale = min((WIDTH - 2 * PAD) / span_x, (MAX_HEIGHT - 2 * PAD) / span_y)
        self.minx, self.maxy = minx, maxy
        self.width = WIDTH
        self.height = round(span_y * self.scale + 2 * PAD, 1)

    def xy(self, x: Any, y: Any) -> tuple[Any, Any]:
        return PAD + (np.asarray(x) - self.minx) * self.scale, PAD + (self.maxy - np.asarray(y)) * self.scale

    def path(self, coords: Any, *, close: bool = False) -> str:
        array = np.asarray(coords, dtype=np.float64)
        if len(array) == 0:
            return ""
        px, py = self.xy(array[:, 0], array[:, 1])
        points = " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
        return f"M{points}{' Z' if close else ''}"

    def area(self, shape: Any) -> str:
        """A polygon or multipolygon as one path (even-odd fill keeps holes as holes)."""
        tolerance = 0.5 / self.scale  # half a pixel
        simple = shapely.simplify(shape, tolerance)
        parts = []
        for polygon in getattr(simple, "geoms", [simple]):
            parts.append(self.path(polygon.exterior.coords, close=True))
            parts.extend(self.path(ring.coords, close=True) for ring in polygon.interiors)
        return " ".join(part for part in parts if part)


def draw(
    corridor: geometry.Corridor, details: list[schemas.MovementDetail], *, close_up: bool = False
) -> Drawing:
    """The corridor with its buffer, stops and zones, and each movement's track and last position.

    The box fits the whole corridor and every track; `close_up` fits the tracks alone, with a margin of
    at least CLOSE_UP_MARGIN metres (the corridor around them is clipped by the box)."""
    spec = corridor.spec
    tracks: dict[uuid.UUID, dict[str, tuple[Any, Any]]] = {}
    extent: list[BaseGeometry] = [] if close_up else [corridor.buffer, *corridor.zones]
    for detail in details:
        by_device: dict[str, list[schemas.Position]] = {}
        for position in detail.track:
            by_device.setdefault(position.device, []).append(position)
        tracks[detail.id] = {}
        for device, positions in by_device.items():
            x, y = corridor.project(
                np.array([p.lon for p in positions]), np.array([p.lat for p in positions])
            )
            tracks[detail.id][device] = (x, y)
            extent.append(MultiPoint(np.column_stack([x, y])))
    if not extent:  # a close-up of no track: the whole corridor
        extent = [corridor.buffer, *corridor.zones]
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(extent))
    if close_up:
        margin = max(CLOSE_UP_MARGIN, (maxx - minx) / 10, (maxy - miny) / 10)
        minx, miny, maxx, maxy = minx - margin, miny - margin, maxx + margin, maxy + margin
    fit = _Fit((minx, miny, maxx, maxy))

    def place(spot: geometry.PlaceSpec) -> Place:
        x, y = corridor.project(np.array([spot.lon]), np.array([spot.lat]))
        px, py = fit.xy(x[0], y[0])
        fraction = (float(px) - PAD) / (fit.width - 2 * PAD)
        anchor = "start" if fraction < 0.25 else "end" if fraction > 0.75 else "middle"
        return Place(
            spot.name,
            round(float(px), 1),
            round(float(py), 1),
            max(3.0, spot.radius_m * fit.scale),
            anchor,
        )

    drawing = Drawing(
        code=spec.code,
        name=spec.name,
        width=fit.width,
        height=fit.height,
        route=fit.path(shapely.simplify(corridor.route_m, 0.5 / fit.scale).coords),
        buffer=fit.area(corridor.buffer),
        departure=place(spec.departure),
        destination=place(spec.destination),
        stops=[place(stop) for stop in spec.approved_stops],
        zones=[
            Zone(zone.name, fit.area(polygon))
            for zone, polygon in zip(spec.restricted_zones, corridor.zones, strict=True)
        ],
    )
    for detail in details:
        last = detail.track[-1] if detail.track else None
        px = py = None
        if last is not None:
            lx, ly = corridor.project(np.array([last.lon]), np.array([last.lat]))
            sx, sy = fit.xy(lx[0], ly[0])
            px, py = round(float(sx), 1), round(float(sy), 1)
        drawing.trucks.append(
            Truck(
                movement_id=detail.id,
                mrn=detail.mrn,
                state=detail.state.value,
                label=STATE_LABELS[detail.state],
                colour=STATE_COLOURS[detail.state],
                x=px,
                y=py,
                tracks=tuple(fit.path(np.column_stack(xy)) for xy in tracks[detail.id].values()),
            )
        )
    return drawing


# ---------------------------------------------------------------- pages


def _queue(session: Session, by: Principal, movement_id: uuid.UUID | None = None) -> list[schemas.Alert]:
    """Open alerts first, then acknowledged ones, each newest first."""
    return [
        alert
        for state in (schemas.AlertState.OPEN, schemas.AlertState.ACKNOWLEDGED)
        for alert in service.list_alerts(session, by=by, state=state, movement_id=movement_id)
    ]


def _monitor(session: Session, by: Principal) -> dict[str, Any]:
    movements = [
        movement
        for movement in service.list_movements(session, by=by, limit=MOVEMENTS)
        if movement.state is not schemas.MovementState.DISCHARGED
    ]
    # tracking.service has no bulk read of tracks: one read per movement, each its last TRACK positions
    details = [
        service.get_movement(session, movement_id=movement.id, by=by, track=TRACK) for movement in movements
    ]
    corridors = geometry.builtin()
    drawings = []
    for code in sorted({detail.corridor for detail in details}):
        if code in corridors:
            drawings.append(draw(corridors[code], [d for d in details if d.corridor == code]))
    mrns = {movement.id: movement.mrn for movement in movements}
    return {"drawings": drawings, "movements": details, "alerts": _queue(session, by), "mrns": mrns}


def _movement(session: Session, by: Principal, movement_id: uuid.UUID) -> dict[str, Any]:
    detail = service.get_movement(session, movement_id=movement_id, by=by, track=DETAIL_TRACK)  # 404
    corridor = geometry.builtin().get(detail.corridor)
    history = events.history(session, AGGREGATE, str(movement_id))
    by_alert: dict[str, list[events.DomainEvent]] = {}
    for event in history:
        alert_id = event.data.get("alert_id") if isinstance(event.data, dict) else None
        if alert_id:
            by_alert.setdefault(str(alert_id), []).append(event)
    alerts = sorted(
        detail.alerts,
        key=lambda a: (
            [schemas.AlertState.OPEN, schemas.AlertState.ACKNOWLEDGED, schemas.AlertState.RESOLVED].index(
                a.state
            ),
            -a.raised_at.timestamp(),
        ),
    )
    return {
        "movement": detail,
        "drawing": draw(corridor, [detail]) if corridor is not None else None,
        "close_up": draw(corridor, [detail], close_up=True) if corridor and detail.track else None,
        "alerts": alerts,
        "alert_history": by_alert,
        "history": history,
        "mrns": {detail.id: detail.mrn},
    }


def _page(
    request: Request,
    by: Principal,
    movement_id: uuid.UUID | None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    common = {
        "errors": errors or {},
        "values": values or {},
        "colours": STATE_COLOURS,
        "labels": STATE_LABELS,
    }
    if movement_id is None:
        context = read(request, lambda s: _monitor(s, by))
        return render(request, "transit.html", status, here=BASE, **common, **context)
    context = read(request, lambda s: _movement(s, by, movement_id))
    return render(request, "transit_movement.html", status, here=f"{BASE}/{movement_id}", **common, **context)


@router.get("", response_class=HTMLResponse)
def monitor(request: Request) -> Response:
    return _page(request, require(request, *CUSTOMS), None)


@router.get("/{movement_id}", response_class=HTMLResponse)
def movement_page(request: Request, movement_id: uuid.UUID) -> Response:
    return _page(request, require(request, *CUSTOMS), movement_id)


def _back(target: str) -> uuid.UUID | None:
    """The page the form came from: the monitor (None) or a movement's page."""
    rest = target.removeprefix(BASE).strip("/")
    try:
        return uuid.UUID(rest) if rest else None
    except ValueError:
        return None


async def _change(request: Request, alert_id: uuid.UUID, *, resolve: bool) -> Response:
    by = require(request, *CUSTOMS)
    form = await request.form()
    note = form_value(form, "note").strip()
    back = _back(form_value(form, "back"))
    if not note and not resolve:
        note = "acknowledged"
    try:
        body = schemas.AlertAction.model_validate({"note": note})
    except ValidationError as error:
        problem = from_validation_errors(error.errors())
        message = "; ".join(e.detail for e in problem.errors) or problem.detail
        return _page(
            request,
            by,
            back,
            status=problem.status,
            errors={f"{alert_id}-resolve": message},
            values={f"{alert_id}-resolve": note},
        )
    change = service.resolve_alert if resolve else service.acknowledge_alert
    await run_in_threadpool(
        write, request, lambda s: change(s, alert_id=alert_id, note=body.note, by=by)
    )  # 404 unless visible, 409 when it changed meanwhile: the error page says so
    target = f"{BASE}/{back}" if back is not None else BASE
    return RedirectResponse(f"{target}#alert-{alert_id}", status_code=303)


@router.post("/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request, alert_id: uuid.UUID) -> Response:
    return await _change(request, alert_id, resolve=False)


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
async def resolve(request: Request, alert_id: uuid.UUID) -> Response:
    return await _change(request, alert_id, resolve=True)
