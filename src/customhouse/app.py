"""Composition root: builds the adapters that the settings name and mounts every router."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException

from customhouse import __version__, ops
from customhouse.advisory import api as advisory_api
from customhouse.analytics import service as analytics_service
from customhouse.assessment import api as assessment_api
from customhouse.assessment import currency
from customhouse.assessment.service import TariffAssessor
from customhouse.certificates import api as certificates_api
from customhouse.certificates.proofs import CredentialProofs
from customhouse.certificates.service import Authority as CertificateAuthority
from customhouse.config import Settings, get_settings
from customhouse.db import make_engine, make_session_factory
from customhouse.declarations import api as declarations_api
from customhouse.declarations.selectivity import LaneSelector, RequiredDocuments
from customhouse.declarations.service import ASSESSED_ON, SETTLED_ON, Policy, assessing
from customhouse.events import Dispatcher, DomainEvent
from customhouse.exchange import api as exchange_api
from customhouse.exchange.edifact import api as edifact_api
from customhouse.ledger import api as ledger_api
from customhouse.ledger.service import Ledger
from customhouse.observability import Metrics, RequestContext
from customhouse.payments import api as payments_api
from customhouse.payments.demo import DemoGateway
from customhouse.payments.gateway import Gateway
from customhouse.problems import MEDIA_TYPE, Problem, from_validation_errors
from customhouse.risk import api as risk_api
from customhouse.risk import service as risk_service
from customhouse.risk.selector import RiskSelector
from customhouse.tracking import api as tracking_api
from customhouse.tracking import mqtt as tracking_mqtt
from customhouse.web import api as web_api

log = logging.getLogger(__name__)

SELECTORS: dict[str, Callable[[Settings, sessionmaker[Session] | None], LaneSelector]] = {
    "documents": lambda _settings, _sessions: RequiredDocuments(),
    "risk": RiskSelector.from_settings,
}
GATEWAYS: dict[str, Callable[[Settings], Gateway]] = {"demo": DemoGateway.from_settings}


def _choose(setting: str, value: str, choices: dict[str, Any]) -> Any:
    try:
        return choices[value]
    except KeyError:
        raise ValueError(f"CUSTOMHOUSE_{setting}={value!r}: expected one of {sorted(choices)}") from None


def selector_from(settings: Settings, sessions: sessionmaker[Session] | None = None) -> LaneSelector:
    build: Callable[[Settings, sessionmaker[Session] | None], LaneSelector] = _choose(
        "SELECTIVITY", settings.selectivity, SELECTORS
    )
    return build(settings, sessions)


def gateway_from(settings: Settings) -> Gateway:
    build: Callable[[Settings], Gateway] = _choose("PAYMENT_GATEWAY", settings.payment_gateway, GATEWAYS)
    return build(settings)


def policy_from(settings: Settings, sessions: sessionmaker[Session] | None = None) -> Policy:
    """The lodgement policy with the lane selector and the assessor (tariff, rates) the settings name;
    a selector that reads the database uses `sessions` (default: its own on the settings' database)."""
    rates = currency.rates_from(settings)
    assessor = TariffAssessor(country=settings.country, currency=settings.national_currency, rates=rates)
    authority = functools.cache(lambda: CertificateAuthority.from_settings(settings))
    proofs = CredentialProofs(authority, settings.trusted_issuers_dir)
    return Policy.from_settings(settings, selector_from(settings, sessions), assessor, proofs)


def _problem_response(request: Request, problem: Problem) -> JSONResponse:
    if problem.status >= 500:
        log.error("problem %s: %s", problem.slug, problem.detail)
    return JSONResponse(
        problem.as_dict(instance=request.url.path),
        status_code=problem.status,
        media_type=MEDIA_TYPE,
        headers=problem.headers,
    )


async def _on_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return _problem_response(request, error)


async def _on_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    if any(item["type"] == "json_invalid" for item in errors):
        detail = "; ".join(str(item.get("ctx", {}).get("error", item["msg"])) for item in errors)
        return _problem_response(request, Problem(400, "malformed", f"the body is not valid JSON: {detail}"))
    return _problem_response(request, from_validation_errors(errors, prefix=("body",)))


async def _on_http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    slug = {400: "malformed", 401: "unauthorized", 403: "forbidden", 404: "not-found", 413: "too-large"}.get(
        error.status_code, "http-error"
    )
    return _problem_response(request, Problem(error.status_code, slug, str(error.detail)))


async def _on_crash(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return _problem_response(
        request, Problem(500, "internal", "an internal error; quote the X-Request-ID to the operator")
    )


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    sessions: sessionmaker[Session] | None = None,
    run_dispatcher: bool = True,
) -> FastAPI:
    """The application; `sessions` (tests: sessions inside a transaction rolled back) defaults to the
    engine's."""
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    sessions = sessions or make_session_factory(engine)
    metrics = Metrics()
    dispatcher = Dispatcher(sessions)

    def count_event(_session: Session, event: DomainEvent) -> None:
        metrics.events.labels(event.type).inc()

    dispatcher.subscribe("*", count_event)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        sequencer = _app.state.ledger_sequencer
        threads = [
            threading.Thread(target=dispatcher.run, args=(stop,), name="event-dispatcher", daemon=True),
            threading.Thread(target=sequencer.run, args=(stop,), name="ledger-sequencer", daemon=True),
            threading.Thread(
                target=_app.state.tracking_processor.run_sweeper,
                args=(stop,),
                name="tracking-sweep",
                daemon=True,
            ),
        ]
        if settings.mqtt_url:  # telemetry from the broker, into the processor the HTTP endpoint uses
            ingestor = tracking_mqtt.ingestor_from(settings, _app.state.tracking_processor, sessions)
            ingesting = threading.Thread(target=ingestor.run, args=(stop,), name="mqtt-ingestor", daemon=True)
            threads.append(ingesting)
        if run_dispatcher:
            for thread in threads:
                thread.start()
        yield
        stop.set()
        dispatcher.notify()
        sequencer.notify()
        if run_dispatcher:
            for thread in threads:
                thread.join(timeout=5)

    app = FastAPI(
        title="customhouse",
        version=__version__,
        summary="Single window for customs declarations (WCO Data Model aligned).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.policy = policy = policy_from(settings, sessions)
    app.state.rates = currency.rates_from(settings)
    app.state.dispatcher = dispatcher
    # assessment and release follow acceptance, amendment and payment, a pass of events at a time
    dispatcher.subscribe_batch((*ASSESSED_ON, *SETTLED_ON), assessing(policy))
    ledger_api.install(app, Ledger.from_settings(settings))  # every document and decision, logged
    risk_service.subscribe(dispatcher)  # lane decisions traced, profile hits and results counted
    analytics_service.subscribe(dispatcher)  # the dashboards' read model
    app.state.metrics = metrics
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(Exception, _on_crash)
    app.include_router(declarations_api.router)
    app.include_router(assessment_api.router)
    app.include_router(risk_api.router)
    app.include_router(advisory_api.router)
    payments_api.install(app, settings, gateway=gateway_from(settings))
    certificates_api.install(app, settings)
    tracking_api.install(app, settings)  # transit movements, telemetry over HTTP, alerts
    exchange_api.install(app, settings, run=run_dispatcher)  # partners: signed messages, agencies
    edifact_api.install(app, settings)  # EDIFACT in (CUSDEC, CUSCAR), CUSRES out, the WCO DM schema
    web_api.install(app, settings)  # the web pages under /web
    app.include_router(ops.router)
    app.add_middleware(RequestContext, metrics=metrics)
    return app
