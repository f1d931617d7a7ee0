"""The web pages: server-rendered HTML (Jinja2), forms that work without JavaScript, one stylesheet
served by the app itself. Every page calls the same service functions as the API with the same
principal, so visibility and permissions are the API's: what a role may not see answers 404.

Routes live under /web; `install(app, settings)` mounts them, the static files and the session key.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from customhouse.advisory import service as advisory
from customhouse.analytics import service as analytics
from customhouse.assessment import service as assessment
from customhouse.assessment.schemas import LandedCostRequest
from customhouse.auth.service import Principal, Role, authenticate
from customhouse.certificates import service as certificates
from customhouse.config import Settings
from customhouse.db import utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Control, State
from customhouse.payments import service as payments
from customhouse.problems import FieldError, Problem, from_validation_errors
from customhouse.risk import service as risk
from customhouse.web import forms, transit
from customhouse.web import service as web_service
from customhouse.web.pages import (
    CUSTOMS,
    PREFIX,
    PageRoute,
    form_value,
    principal_of,
    read,
    render,
    require,
    sessions_of,
    set_cookie,
    write,
)
from customhouse.web.session import SESSION_COOKIE, Sessions, new_nonce

router = APIRouter(prefix=PREFIX, route_class=PageRoute, include_in_schema=False)


def install(app: FastAPI, settings: Settings, *, sessions: Sessions | None = None) -> None:
    """Mount the pages and their static files; the session key (default: a key file) is made at first use,
    as the other key files are, not when the app is built."""
    app.state.web_sessions = sessions
    app.state.web_settings = settings
    web_service.subscribe(app.state.dispatcher)  # certificates per declaration
    app.include_router(router)
    app.include_router(transit.router)  # the transit monitor, /web/transit
    app.mount(f"{PREFIX}/static", StaticFiles(packages=[("customhouse.web", "static")]), name="web-static")


def _home(principal: Principal) -> str:
    if principal.has(Role.TRADER, Role.BROKER):
        return f"{PREFIX}/declarations"
    if principal.has(Role.OFFICER):
        return f"{PREFIX}/queue"
    return f"{PREFIX}/dashboards"


# ---------------------------------------------------------------- sign-in


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse(_home(require(request)), status_code=303)


def _safe_next(target: str) -> str | None:
    """Only a page of this site: never an open redirect."""
    if target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "") -> Response:
    return render(request, "sign_in.html", next=_safe_next(next) or "", error=None)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await request.form()
    token, target = form_value(form, "token").strip(), _safe_next(form_value(form, "next"))
    principal = await run_in_threadpool(read, request, lambda s: authenticate(s, token)) if token else None
    if principal is None:
        error = "the token is unknown or revoked" if token else "is required"
        return render(request, "sign_in.html", 401, next=target or "", error=error)
    response = RedirectResponse(target or _home(principal), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, sessions_of(request).seal(token))
    request.state.csrf_nonce = new_nonce()  # a new session gets a new CSRF secret
    return response


@router.post("/sign-out", response_class=HTMLResponse)
def sign_out(request: Request) -> Response:
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    request.state.csrf_nonce = new_nonce()
    return response


# ---------------------------------------------------------------- declarations (every role, as visible)


@router.get("/declarations", response_class=HTMLResponse)
def declaration_list(request: Request, state: str = "", cursor: str | None = None) -> Response:
    by = require(request)
    chosen = State(state) if state in {s.value for s in State} else None
    page = read(
        request,
        lambda s: declarations.list_declarations(
            s, by=by, filters=declarations.Filters(state=chosen), cursor=cursor, limit=50
        ),
    )
    return render(request, "declarations.html", page=page, state=state, states=[s.value for s in State])


@router.get("/declarations/{declaration_id}", response_class=HTMLResponse)
def declaration_page(request: Request, declaration_id: uuid.UUID) -> Response:
    by = require(request)

    def load(session: Session) -> dict[str, Any]:
        declaration = declarations.get(session, declaration_id=declaration_id, by=by)  # 404 unless visible
        customs = by.has(*CUSTOMS) or by.reads_all
        return {
            "declaration": declaration,
            "audit": declarations.audit_trail(session, declaration_id=declaration_id, by=by),
            "assessments": assessment.assessments(session, declaration_id=declaration_id),
            "decisions": risk.decisions(session, declaration_id=declaration_id) if customs else [],
            "certificates": web_service.certificates_of(session, declaration_id=declaration_id),
            "customs": customs,
        }

    context = read(request, load)
    declaration = context["declaration"]
    may_certify = (
        by.has(Role.OFFICER, Role.SUPERVISOR)
        and declaration.state == State.RELEASED
        and declaration.document.kind.value == "export"
    )
    may_act = by.has(Role.OFFICER, Role.SUPERVISOR) and declaration.state in {
        State.ACCEPTED,
        State.UNDER_CONTROL,
    }
    declarant_side = by.party_id is not None and by.party_id in {
        declaration.document.declarant.id,
        declaration.document.representative.id if declaration.document.representative else None,
    }
    return render(
        request,
        "declaration.html",
        **context,
        may_act=may_act,
        may_amend=declarant_side
        and declaration.state not in {State.RELEASED, State.CANCELLED, State.REJECTED},
        may_pay=declarant_side,
        may_certify=may_certify,
        errors={},
        values={},
    )


def _form_page(
    request: Request,
    *,
    title: str,
    action: str,
    values: dict[str, str],
    problem: Problem | None = None,
    revision: int | None = None,
    items: int = 1,
    status: int = 200,
) -> HTMLResponse:
    shown = {field.pointer for field in forms.HEADER_FIELDS} | {
        forms.item_pointer(index, field) for index in range(items) for field in forms.ITEM_FIELDS
    }
    errors, elsewhere = forms.errors_by_pointer(problem.errors if problem else (), shown)
    return render(
        request,
        "form.html",
        status,
        title=title,
        action=action,
        values=values,
        errors=errors,
        elsewhere=elsewhere,
        problem=problem,
        revision=revision,
        items=items,
        header_fields=forms.HEADER_FIELDS,
        item_fields=forms.ITEM_FIELDS,
        item_pointer=forms.item_pointer,
    )


def _submitted(form: FormData) -> tuple[list[tuple[str, str]], dict[str, str]]:
    pairs = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
    return pairs, {name: value for name, value in pairs if name.startswith("/")}


@router.get("/declarations-new", response_class=HTMLResponse)
def new_declaration(request: Request) -> Response:
    by = require(request, Role.TRADER, Role.BROKER)
    values = {"/declarant/id": by.party_id or "", "/kind": "import"}
    return _form_page(
        request, title="Lodge a declaration", action=f"{PREFIX}/declarations-new", values=values
    )


@router.post("/declarations-new", response_class=HTMLResponse)
async def lodge(request: Request) -> Response:
    by = require(request, Role.TRADER, Role.BROKER)
    pairs, values = _submitted(await request.form())
    items = max(1, forms.item_count(pairs))
    action = f"{PREFIX}/declarations-new"
    if form_value(await request.form(), "action") == "add-item":
        return _form_page(request, title="Lodge a declaration", action=action, values=values, items=items + 1)
    policy = request.app.state.policy
    document = forms.document_from(pairs)
    try:
        outcome = await run_in_threadpool(
            write, request, lambda s: declarations.lodge(s, document=document, by=by, policy=policy)
        )
    except Problem as problem:
        return _form_page(
            request,
            title="Lodge a declaration",
            action=action,
            values=values,
            problem=problem,
            items=items,
            status=problem.status,
        )
    assert outcome.declaration is not None
    return RedirectResponse(f"{PREFIX}/declarations/{outcome.declaration.id}", status_code=303)


@router.get("/declarations/{declaration_id}/amend", response_class=HTMLResponse)
def amend_page(request: Request, declaration_id: uuid.UUID) -> Response:
    by = require(request, Role.TRADER, Role.BROKER)
    declaration = read(request, lambda s: declarations.get(s, declaration_id=declaration_id, by=by))
    values = forms.flatten(declaration.document.model_dump(mode="json", exclude_none=True))
    return _form_page(
        request,
        title=f"Amend {declaration.document.lrn}",
        action=f"{PREFIX}/declarations/{declaration_id}/amend",
        values=values,
        revision=declaration.revision,
        items=len(declaration.document.goods_items),
    )


@router.post("/declarations/{declaration_id}/amend", response_class=HTMLResponse)
async def amend(request: Request, declaration_id: uuid.UUID) -> Response:
    by = require(request, Role.TRADER, Role.BROKER)
    form = await request.form()
    pairs, values = _submitted(form)
    items = max(1, forms.item_count(pairs))
    revision = int(form_value(form, "revision") or 0)
    action = f"{PREFIX}/declarations/{declaration_id}/amend"
    if form_value(form, "action") == "add-item":
        return _form_page(
            request, title="Amend", action=action, values=values, revision=revision, items=items + 1
        )
    policy = request.app.state.policy

    def work(session: Session) -> Any:
        document = declarations.parse(forms.document_from(pairs))
        return declarations.amend(
            session,
            declaration_id=declaration_id,
            document=document,
            by=by,
            policy=policy,
            expected_revision=revision,
        )

    try:
        await run_in_threadpool(write, request, work)
    except Problem as problem:
        if problem.status == 404:
            raise
        return _form_page(
            request,
            title="Amend",
            action=action,
            values=values,
            problem=problem,
            revision=revision,
            items=items,
            status=problem.status,
        )
    return RedirectResponse(f"{PREFIX}/declarations/{declaration_id}", status_code=303)


def _documents_in(content: bytes, filename: str) -> list[Any]:
    """The declarations of an uploaded file: one JSON object, a JSON array, or NDJSON (one per line)."""
    text = content.decode("utf-8-sig")
    stripped = text.strip()
    if not stripped:
        raise Problem(400, "malformed", f"{filename} is empty")
    if not filename.endswith(".ndjson") and stripped[0] in "[{":
        try:
            parsed = orjson.loads(stripped)
            return parsed if isinstance(parsed, list) else [parsed]
        except orjson.JSONDecodeError:
            pass  # maybe NDJSON after all
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                documents.append(orjson.loads(line))
            except orjson.JSONDecodeError as error:
                raise Problem(400, "malformed", f"{filename}, line {number}: not JSON ({error})") from None
    return documents


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request) -> Response:
    require(request, Role.TRADER, Role.BROKER)
    return render(request, "upload.html", results=None)


@router.post("/upload", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    by = require(request, Role.TRADER, Role.BROKER)
    file = (await request.form()).get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        problem = Problem(422, "validation", "choose a file", [FieldError("is required", parameter="file")])
        return render(request, "upload.html", 422, results=None, problem=problem)
    documents = _documents_in(await file.read(), file.filename)
    policy = request.app.state.policy
    outcomes = await run_in_threadpool(
        write, request, lambda s: declarations.lodge_many(s, documents=documents, by=by, policy=policy)
    )
    return render(request, "upload.html", results=list(enumerate(outcomes, start=1)))


@router.post("/declarations/{declaration_id}/pay", response_class=HTMLResponse)
async def pay(request: Request, declaration_id: uuid.UUID) -> Response:
    """Open the payment of what the newest assessment owes at the gateway, and send the payer there."""
    by = require(request, Role.TRADER, Role.BROKER)
    gateway = request.app.state.payment_gateway

    def work(session: Session) -> str:
        declarations.get(session, declaration_id=declaration_id, by=by)  # 404 unless visible
        found = assessment.assessments(session, declaration_id=declaration_id)
        if not found or found[-1].order_id is None or found[-1].settled:
            raise Problem(409, "invalid-state", "this declaration has nothing to pay now")
        started = payments.start_payment(session, order_id=found[-1].order_id, by=by, gateway=gateway)
        return started.redirect_url

    return RedirectResponse(await run_in_threadpool(write, request, work), status_code=303)


# ---------------------------------------------------------------- customs


QUEUE_PAGE = 50  # declarations per page of the work queue
LAST_QUEUE_PAGE = 1_000_000  # no queue is longer: a larger number is a mistake (a huge one overflows OFFSET)


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request, office: str = "", page: Annotated[int, Query(le=LAST_QUEUE_PAGE)] = 1
) -> Response:
    """The work queue: declarations waiting for customs at an office (a supervisor with no office: the
    country's), red before yellow before green, the longest waiting first, `QUEUE_PAGE` at a time."""
    by = require(request, *CUSTOMS)
    offices = sorted(by.offices)
    chosen = office if office in by.offices or (by.has(Role.SUPERVISOR) and office) else ""
    chosen = chosen or (offices[0] if offices else "")
    page = max(page, 1)
    first = (page - 1) * QUEUE_PAGE
    found = read(
        request,
        lambda session: declarations.work_queue(
            session, by=by, office=chosen or None, offset=first, limit=QUEUE_PAGE
        ),
    )
    return render(
        request,
        "queue.html",
        waiting=found.items,
        office=chosen,
        offices=offices,
        now=utcnow(),
        page=page,
        first=first + 1,
        more=found.more,
    )


@router.post("/declarations/{declaration_id}/control", response_class=HTMLResponse)
async def control(request: Request, declaration_id: uuid.UUID) -> Response:
    by = require(request, *CUSTOMS)
    form = await request.form()
    raw = {
        "outcome": form_value(form, "outcome") or None,
        "irregularity": form_value(form, "irregularity") or None,
        "note": form_value(form, "note") or None,
    }
    policy = request.app.state.policy

    def work(session: Session) -> Any:
        try:
            body = Control.model_validate({key: value for key, value in raw.items() if value is not None})
        except ValidationError as error:
            raise from_validation_errors(error.errors()) from None
        return declarations.record_control(
            session,
            declaration_id=declaration_id,
            by=by,
            policy=policy,
            expected_revision=int(form_value(form, "revision") or 0),
            control=body,
        )

    await run_in_threadpool(write, request, work)
    return RedirectResponse(f"{PREFIX}/declarations/{declaration_id}", status_code=303)


@router.post("/declarations/{declaration_id}/release", response_class=HTMLResponse)
async def release(request: Request, declaration_id: uuid.UUID) -> Response:
    by = require(request, *CUSTOMS)
    form = await request.form()
    policy = request.app.state.policy
    await run_in_threadpool(
        write,
        request,
        lambda s: declarations.release(
            s,
            declaration_id=declaration_id,
            by=by,
            policy=policy,
            expected_revision=int(form_value(form, "revision") or 0),
        ),
    )
    return RedirectResponse(f"{PREFIX}/declarations/{declaration_id}", status_code=303)


# ---------------------------------------------------------------- supervisors


@router.get("/dashboards", response_class=HTMLResponse)
def dashboards(request: Request, days: int = 30) -> Response:
    """The supervisors' dashboards over the declarations lodged on the last `days` UTC days (today
    included), read from the daily rollups."""
    require(request, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
    days = min(max(days, 1), 3660)
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    context = read(request, lambda s: analytics.dashboard(s, first=first, last=today, today=today))
    currency = request.app.state.settings.national_currency
    return render(
        request, "dashboards.html", days=days, first=first, last=today, currency=currency, **context
    )


@router.get("/declarations/{declaration_id}/receipt")
def receipt(request: Request, declaration_id: uuid.UUID) -> Response:
    """The signed receipt of the declaration's paid order, as the payments API gives it, to keep."""
    by = require(request)
    signer = request.app.state.receipt_signer

    def load(session: Session) -> dict[str, Any]:
        declarations.get(session, declaration_id=declaration_id, by=by)  # 404 unless visible
        orders = [
            a.order_id for a in assessment.assessments(session, declaration_id=declaration_id) if a.order_id
        ]
        if not orders:
            raise Problem(404, "not-found", "this declaration has no payment order")
        return payments.receipt(session, order_id=orders[-1], by=by, signer=signer)

    body = orjson.dumps(read(request, load), option=orjson.OPT_INDENT_2)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{declaration_id}.json"'},
    )


def _authority(request: Request) -> certificates.Authority:
    """The certificates' issuer, built at first use as the certificates API builds it."""
    state = request.app.state
    authority: certificates.Authority | None = state.certificate_authority
    if authority is None:
        authority = state.certificate_authority = certificates.Authority.from_settings(
            state.certificate_settings
        )
    return authority


@router.post("/declarations/{declaration_id}/certificate", response_class=HTMLResponse)
async def issue_certificate(request: Request, declaration_id: uuid.UUID) -> Response:
    """Issue a certificate of origin for a released export declaration (customs)."""
    by = require(request, *CUSTOMS)
    authority = _authority(request)
    preferential = form_value(await request.form(), "preferential") == "on"
    await run_in_threadpool(
        write,
        request,
        lambda s: certificates.issue_origin(
            s, declaration_id=declaration_id, by=by, authority=authority, preferential=preferential
        ),
    )
    return RedirectResponse(f"{PREFIX}/declarations/{declaration_id}", status_code=303)


@router.get("/certificates/{certificate_id}")
def certificate(request: Request, certificate_id: uuid.UUID) -> Response:
    """The signed credential (a VC-JOSE-COSE token) to hand to anybody, who checks it at /verify."""
    by = require(request)
    record = read(request, lambda s: certificates.get(s, certificate_id=certificate_id, by=by))
    return Response(
        record.token,
        media_type="application/vc+jwt",
        headers={"Content-Disposition": f'attachment; filename="certificate-{certificate_id}.jwt"'},
    )


@router.get("/forecasts", response_class=HTMLResponse)
def forecasts_page(request: Request, weeks: int = 4) -> Response:
    """Volume and revenue forecasts by HS section and origin with their backtests; officers per shift.
    Read from the forecasts stored once a day (see analytics.current_outlook)."""
    require(request, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
    weeks = min(max(weeks, 1), analytics.MAX_WEEKS)
    outlook = analytics.current_outlook(request.app.state.sessions, today=utcnow().date())
    currency = request.app.state.settings.national_currency
    return render(
        request, "forecasts.html", weeks=weeks, most=analytics.MAX_WEEKS, currency=currency, outlook=outlook
    )


# ---------------------------------------------------------------- public


ESTIMATE_FIELDS: tuple[forms.Field, ...] = (
    forms.Field("/goods_items/0/hs_code", "HS code", required=True, hint="6 to 10 digits, e.g. 610910"),
    forms.Field("/goods_items/0/origin", "Origin", required=True, hint="ISO 3166 code, e.g. CN"),
    forms.Field("/goods_items/0/price", "Price paid", "number", required=True),
    forms.Field("/invoice_currency", "Invoice currency", required=True, hint="ISO 4217, e.g. USD"),
    forms.Field("/incoterm", "Incoterm", required=True, hint="e.g. CIF"),
    forms.Field("/freight", "Freight to the border", "number"),
    forms.Field("/insurance", "Insurance", "number"),
    forms.Field("/goods_items/0/quantity", "Quantity", "number"),
    forms.Field("/goods_items/0/unit", "Unit of the quantity", hint="UN/ECE Rec. 20, e.g. LTR"),
    forms.Field("/goods_items/0/net_mass", "Net mass (kg)", "number"),
    forms.Field("/goods_items/0/preference_claimed", "Claim a tariff preference", "checkbox"),
    forms.Field("/goods_items/0/proof_of_origin", "A proof of origin will be presented", "checkbox"),
)
ESTIMATE_CHECKBOXES = ("/goods_items/0/preference_claimed", "/goods_items/0/proof_of_origin")


@router.get("/tariff", response_class=HTMLResponse)
def tariff_page(request: Request) -> Response:
    """Public: the measures that apply to goods and their landed cost, without signing in."""
    request.state.principal = principal_of(request)
    values = {"/invoice_currency": "USD", "/incoterm": "CIF"}
    return render(request, "tariff.html", fields=ESTIMATE_FIELDS, values=values, errors={}, result=None)


@router.post("/tariff", response_class=HTMLResponse)
async def tariff_estimate(request: Request) -> Response:
    request.state.principal = principal_of(request)
    pairs, values = _submitted(await request.form())
    document = forms.document_from((name, value) for name, value in pairs if name not in ESTIMATE_CHECKBOXES)
    for name in ESTIMATE_CHECKBOXES:
        if values.get(name):
            document.setdefault("goods_items", [{}])[0][name.rsplit("/", 1)[1]] = True
    document.get("goods_items", [{}])[0].pop("sequence", None)
    state = request.app.state

    def work(session: Session) -> Any:
        try:
            body = LandedCostRequest.model_validate(document)
        except ValidationError as error:
            raise from_validation_errors(error.errors()) from None
        return advisory.estimate(session, request=body, country=state.settings.country, rates=state.rates)

    try:
        result = await run_in_threadpool(read, request, work)
    except Problem as problem:
        errors, elsewhere = forms.errors_by_pointer(problem.errors, {f.pointer for f in ESTIMATE_FIELDS})
        return render(
            request,
            "tariff.html",
            problem.status,
            fields=ESTIMATE_FIELDS,
            values=values,
            errors=errors,
            elsewhere=elsewhere,
            problem=problem,
            result=None,
        )
    return render(request, "tariff.html", fields=ESTIMATE_FIELDS, values=values, errors={}, result=result)
