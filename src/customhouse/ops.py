"""Operational endpoints: the landing page, health, metrics, and the pages that explain problem types."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from customhouse import __version__
from customhouse.db import migrations_current
from customhouse.declarations.models import DeclarationRecord
from customhouse.problems import TYPES, Problem

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


MIGRATIONS_RECHECK_SECONDS = 30.0
_migrations_checked: dict[int, tuple[float, bool]] = {}


def _health(request: Request) -> dict[str, bool]:
    """Database reachable (every call), migrations current (read from Alembic at most every 30 s:
    it reads the migration scripts, too slow for every probe)."""
    checks = {"database": False, "migrations": False}
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = True
        checked_at, current = _migrations_checked.get(id(request.app), (0.0, False))
        if not current or time.monotonic() - checked_at > MIGRATIONS_RECHECK_SECONDS:
            current = migrations_current(engine)
            _migrations_checked[id(request.app)] = (time.monotonic(), current)
        checks["migrations"] = current
    except Exception:
        log.exception("health check failed")
    return checks


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    checks = _health(request)
    ok = all(checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics")
def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    healthy = all(_health(request).values())
    counts: list[tuple[str, int]] = []
    if healthy:
        with request.app.state.sessions() as session:
            counts = [
                (state, count)
                for state, count in session.execute(
                    select(DeclarationRecord.state, func.count())
                    .group_by(DeclarationRecord.state)
                    .order_by(DeclarationRecord.state)
                )
            ]
    settings = request.app.state.settings
    return templates.TemplateResponse(
        request,
        "landing.html",
        {
            "version": __version__,
            "country": settings.country,
            "database": request.app.state.engine.dialect.name,
            "healthy": healthy,
            "counts": counts,
        },
    )


@router.get("/problems/{slug}", response_class=PlainTextResponse)
def problem_type(slug: str) -> PlainTextResponse:
    if slug not in TYPES:
        raise Problem(404, "not-found", f"no problem type {slug!r}")
    return PlainTextResponse(f"{slug}\n\n{TYPES[slug]}\n")
