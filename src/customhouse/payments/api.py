"""REST API for payments under /api/v1/payments: parse, authorise, call the service, shape the answer.

Every call that changes something needs an `Idempotency-Key` header (any string up to 255 characters,
e.g. a UUID): sent again with the same request it replays the first answer (with
`Idempotent-Replayed: true`); with a different request it is a 409. The webhook needs no bearer
token: its signature is its credential.

`install(app, settings)` mounts this router and, with the demo gateway, its payment pages; app.py calls
it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from customhouse.auth.api import CurrentPrincipal
from customhouse.auth.service import Principal
from customhouse.config import Settings
from customhouse.db import writing
from customhouse.payments import demo, receipts, schemas, service
from customhouse.payments.gateway import SIGNATURE_HEADER, Gateway, InvalidCallback
from customhouse.problems import FieldError, Problem

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

T = TypeVar("T")
KeyHeader = Annotated[
    str | None, Header(alias="Idempotency-Key", description="a new random string per distinct request")
]
REPLAYED = "Idempotent-Replayed"


def install(
    app: FastAPI, settings: Settings, *, gateway: Gateway | None = None, signer: receipts.Signer | None = None
) -> None:
    """Mount the payments API with the gateway (default: the demo gateway) and the receipt signer
    (default: a key file under var_dir); a second call changes nothing."""
    if getattr(app.state, "payment_gateway", None) is not None:
        return
    app.state.payment_gateway = gateway or demo.DemoGateway.from_settings(settings)
    app.state.receipt_signer = signer or receipts.FileSigner.under(settings.var_dir)
    app.include_router(router)
    if isinstance(app.state.payment_gateway, demo.DemoGateway):
        app.include_router(demo.router)
    app.state.dispatcher.subscribe("payment.succeeded", service.on_payment_succeeded)


class Cancellation(schemas.Model):
    reason: str | None = None


def _key(value: str | None) -> str:
    if value is None or not 1 <= len(value.strip()) <= 255:
        raise Problem(
            400,
            "validation",
            "payment calls need an Idempotency-Key header",
            [
                FieldError(
                    "send a new random string (up to 255 characters) per request", parameter="Idempotency-Key"
                )
            ],
        )
    return value.strip()


def _idempotent(
    request: Request,
    by: Principal,
    key: str | None,
    document: BaseModel | None,
    work: Callable[[Session], tuple[int, BaseModel]],
) -> JSONResponse:
    """Run `work` once per idempotency key, in one writing transaction that also stores its answer."""
    owner, claimed = by.name, _key(key)
    body = document.model_dump_json().encode() if document is not None else b""
    fingerprint = service.fingerprint(request.method, request.url.path, body)

    def attempt() -> tuple[service.Replay, bool]:
        with writing(request.app.state.sessions) as session:
            replay = service.claim_key(session, owner=owner, key=claimed, fingerprint=fingerprint)
            if replay is not None:
                return replay, True
            status, result = work(session)
            answer = result.model_dump(mode="json")
            service.remember(session, owner=owner, key=claimed, status=status, body=answer)
        return service.Replay(status, answer), False

    try:
        replay, replayed = attempt()
    except IntegrityError:  # a concurrent twin (same key, or same order) committed first: answer as it did
        replay, replayed = attempt()
    request.app.state.dispatcher.notify()
    return JSONResponse(
        replay.body, status_code=replay.status, headers={REPLAYED: "true"} if replayed else {}
    )


def _read(request: Request, work: Callable[[Session], T]) -> T:
    with request.app.state.sessions() as session:
        return work(session)


# ---------------------------------------------------------------- payment orders


@router.post("/orders", status_code=201, response_model=schemas.Order, summary="Create a payment order")
def create_order(
    request: Request, order: schemas.NewOrder, by: CurrentPrincipal, idempotency_key: KeyHeader = None
) -> JSONResponse:
    """One order per (declaration, assessment version): asked again with the same amount, the existing
    order (200); with another amount or party, 409."""

    def work(session: Session) -> tuple[int, BaseModel]:
        created, new = service.create_order(session, order=order, by=by)
        return (201 if new else 200), created

    return _idempotent(request, by, idempotency_key, order, work)


@router.get("/orders/{order_id}", response_model=schemas.Order, summary="Read a payment order")
def get_order(request: Request, order_id: uuid.UUID, by: CurrentPrincipal) -> schemas.Order:
    return _read(request, lambda session: service.get_order(session, order_id=order_id, by=by))


@router.post(
    "/orders/{order_id}/payment",
    status_code=201,
    response_model=schemas.PaymentStarted,
    summary="Start paying an order online",
)
def start_payment(
    request: Request, order_id: uuid.UUID, by: CurrentPrincipal, idempotency_key: KeyHeader = None
) -> JSONResponse:
    """Opens the payment at the gateway; send the payer to `redirect_url`. The order becomes paid when
    the gateway's callback arrives."""
    gateway = request.app.state.payment_gateway

    def work(session: Session) -> tuple[int, BaseModel]:
        return 201, service.start_payment(session, order_id=order_id, by=by, gateway=gateway)

    return _idempotent(request, by, idempotency_key, None, work)


@router.post("/orders/{order_id}/cancel", response_model=schemas.Order, summary="Cancel a pending order")
def cancel_order(
    request: Request,
    order_id: uuid.UUID,
    by: CurrentPrincipal,
    cancellation: Cancellation | None = None,
    idempotency_key: KeyHeader = None,
) -> JSONResponse:
    reason = cancellation.reason if cancellation else None

    def work(session: Session) -> tuple[int, BaseModel]:
        return 200, service.cancel_order(session, order_id=order_id, by=by, reason=reason)

    return _idempotent(request, by, idempotency_key, cancellation, work)


@router.get("/orders/{order_id}/receipt", summary="The signed receipt of a paid order")
def get_receipt(request: Request, order_id: uuid.UUID, by: CurrentPrincipal) -> dict[str, Any]:
    """The receipt document, its Ed25519 signature (base64url) over the document's canonical JSON
    (sorted keys, no whitespace) and the id of the key; check it with /api/v1/payments/receipt-key."""
    signer = request.app.state.receipt_signer
    return _read(request, lambda session: service.receipt(session, order_id=order_id, by=by, signer=signer))


@router.get("/receipt-key", summary="The public key that signs receipts")
def receipt_key(request: Request) -> dict[str, str]:
    public = request.app.state.receipt_signer.public_key()
    return {
        "algorithm": receipts.ALGORITHM,
        "key_id": receipts.key_id(public),
        "public_key": receipts.b64(public),
    }


@router.post("/webhook", response_model=schemas.WebhookResult, summary="Gateway callbacks (signed)")
async def webhook(request: Request) -> schemas.WebhookResult:
    """The gateway's callback, signed in X-Gateway-Signature. Duplicates and late callbacks are
    harmless; each is recorded with what it did."""
    gateway: Gateway = request.app.state.payment_gateway
    body = await request.body()
    try:
        callback = gateway.verify(body=body, headers=request.headers)
    except InvalidCallback as error:
        raise Problem(
            400,
            "validation",
            "the callback is not one of the gateway's",
            [FieldError(str(error), parameter=SIGNATURE_HEADER)],
        ) from None

    def apply() -> str:
        with writing(request.app.state.sessions) as session:
            return service.apply_callback(session, gateway=gateway.name, callback=callback)

    outcome = await run_in_threadpool(apply)
    request.app.state.dispatcher.notify()
    return schemas.WebhookResult(outcome=outcome)


# ---------------------------------------------------------------- guarantees and deferment accounts


@router.post("/guarantees", status_code=201, response_model=schemas.Guarantee, summary="Register a guarantee")
def open_guarantee(
    request: Request, guarantee: schemas.NewGuarantee, by: CurrentPrincipal, idempotency_key: KeyHeader = None
) -> JSONResponse:
    def work(session: Session) -> tuple[int, BaseModel]:
        return 201, service.open_guarantee(session, guarantee=guarantee, by=by)

    return _idempotent(request, by, idempotency_key, guarantee, work)


@router.get(
    "/guarantees/{guarantee_id}", response_model=schemas.Guarantee, summary="A guarantee and its balance"
)
def get_guarantee(request: Request, guarantee_id: uuid.UUID, by: CurrentPrincipal) -> schemas.Guarantee:
    return _read(request, lambda session: service.get_guarantee(session, guarantee_id=guarantee_id, by=by))


@router.post(
    "/guarantees/{guarantee_id}/securities",
    status_code=201,
    response_model=schemas.Security,
    summary="Secure an assessment's amount on a guarantee",
)
def secure(
    request: Request,
    guarantee_id: uuid.UUID,
    security: schemas.NewSecurity,
    by: CurrentPrincipal,
    idempotency_key: KeyHeader = None,
) -> JSONResponse:
    """Takes the amount from the balance, or 409 when the balance is short."""

    def work(session: Session) -> tuple[int, BaseModel]:
        held, new = service.secure(session, guarantee_id=guarantee_id, security=security, by=by)
        return (201 if new else 200), held

    return _idempotent(request, by, idempotency_key, security, work)


@router.post(
    "/securities/{security_id}/release", response_model=schemas.Security, summary="Release a security"
)
def release(
    request: Request, security_id: uuid.UUID, by: CurrentPrincipal, idempotency_key: KeyHeader = None
) -> JSONResponse:
    def work(session: Session) -> tuple[int, BaseModel]:
        return 200, service.release_security(session, security_id=security_id, by=by)

    return _idempotent(request, by, idempotency_key, None, work)
