"""The built-in demo gateway: a stand-in payment provider that runs inside the platform.

It keeps its own ledger (`demo_gateway_charges`), serves its own payment page at
/demo-gateway/pay/{reference} (plain HTML: a form whose "Pay" button POSTs, no JavaScript), and after a
charge calls back the platform's webhook with a signed body, as a real provider would over the network.
A callback that could not be delivered stays marked undelivered (`redeliver` sends it again), and until
then reconciliation lists the charge: the gateway took the money, the ledger does not know yet.

Sending is a port too (`Sender`: url, body, headers → HTTP status), so that tests deliver the callback
through the test client instead of a socket.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from customhouse.config import Settings
from customhouse.db import table, utcnow, writing
from customhouse.keys import load_or_create
from customhouse.money import Money
from customhouse.payments.gateway import (
    FAILED,
    SIGNATURE_HEADER,
    SUCCEEDED,
    Callback,
    ChargeRecord,
    Started,
    callback_body,
    parse_callback,
    sign,
    verify_signature,
)
from customhouse.payments.models import DemoGatewayCharge
from customhouse.payments.schemas import amount_text
from customhouse.problems import Problem

log = logging.getLogger(__name__)

Sender = Callable[[str, bytes, Mapping[str, str]], int]
SECRET_FILE = Path("keys") / "demo-gateway-webhook.secret"
WEBHOOK_PATH = "/api/v1/payments/webhook"
PAGE_PATH = "/demo-gateway/pay"
CREATED = "created"


def http_sender(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    try:
        return httpx.post(url, content=body, headers=dict(headers), timeout=10).status_code
    except httpx.HTTPError as error:
        log.warning("demo gateway: callback to %s failed: %s", url, error)
        return 0


class DemoGateway:
    name = "demo"

    def __init__(
        self,
        *,
        secret: bytes | Callable[[], bytes],
        webhook_url: str,
        base_url: str = "",
        send: Sender = http_sender,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.webhook_url = webhook_url
        self.base_url = base_url.rstrip("/")
        self.send = send
        self.clock = clock

    @cached_property
    def secret(self) -> bytes:
        """The shared secret; read at first use when given as a function (a key file)."""
        return self._secret if isinstance(self._secret, bytes) else self._secret()

    @classmethod
    def from_settings(cls, settings: Settings) -> DemoGateway:
        """The shared secret in a file under var_dir (created at first use, mode 600); callbacks to this
        server's own webhook (at `public_url` when set); payment pages on the same origin as the API."""
        path = settings.var_dir / SECRET_FILE
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        public = (settings.public_url or f"http://{host}:{settings.port}").rstrip("/")
        return cls(
            secret=lambda: load_or_create(path, lambda: secrets.token_hex(32).encode()).strip(),
            webhook_url=f"{public}{WEBHOOK_PATH}",
            base_url=settings.public_url or "",
        )

    # ------------------------------------------------------------ the port, as the platform sees it

    def start(self, session: Session, *, order_id: str, amount: Money) -> Started:
        reference = "demo_" + secrets.token_urlsafe(18)
        session.add(
            DemoGatewayCharge(
                reference=reference,
                merchant_reference=order_id,
                amount=amount.amount,
                currency=amount.currency,
                status=CREATED,
                created_at=utcnow(),
            )
        )
        session.flush()
        return Started(reference=reference, redirect_url=f"{self.base_url}{PAGE_PATH}/{reference}")

    def verify(self, *, body: bytes, headers: Mapping[str, str]) -> Callback:
        verify_signature(self.secret, header=headers.get(SIGNATURE_HEADER), body=body, now=self.clock())
        return parse_callback(body)

    def records(self, session: Session) -> list[ChargeRecord]:
        return [
            ChargeRecord(
                row.reference, row.merchant_reference, row.status, Money(Decimal(row.amount), row.currency)
            )
            for row in session.scalars(select(DemoGatewayCharge).order_by(DemoGatewayCharge.created_at))
        ]

    # ------------------------------------------------------------ the gateway's own side

    def charge(self, session: Session, *, reference: str, payer: str | None, succeed: bool) -> bool:
        """Charge (or decline) a payment not yet charged; False when there is nothing to charge."""
        charges = table(DemoGatewayCharge)
        done = session.execute(
            update(charges)
            .where(charges.c.reference == reference, charges.c.status.in_([CREATED, FAILED]))
            .values(
                status=SUCCEEDED if succeed else FAILED,
                payer=payer,
                event_id="evt_" + secrets.token_urlsafe(12),
                charged_at=utcnow(),
                callback_delivered_at=None,
            )
        )
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    def deliver(self, sessions: sessionmaker[Session], *, reference: str) -> bool:
        """Send the callback of a charge, outside any transaction (the webhook writes in its own), and
        mark it delivered when the webhook answered 2xx."""
        with sessions() as session:
            charge = session.get(DemoGatewayCharge, reference)
            if charge is None or charge.event_id is None or charge.charged_at is None:
                return False
            event_id = charge.event_id
            body = callback_body(
                event_id=event_id,
                reference=charge.reference,
                status=charge.status,
                amount=Money(Decimal(charge.amount), charge.currency),
                payer=charge.payer,
                at=charge.charged_at,
            )
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body, int(self.clock())),
        }
        status = self.send(self.webhook_url, body, headers)
        if not 200 <= status < 300:
            log.warning("demo gateway: the webhook answered %s for %s", status, reference)
            return False
        charges = table(DemoGatewayCharge)
        with writing(sessions) as session:
            session.execute(
                update(charges)
                .where(charges.c.reference == reference, charges.c.event_id == event_id)
                .values(callback_delivered_at=utcnow())
            )
        return True

    def undelivered(self, session: Session) -> list[str]:
        return list(
            session.scalars(
                select(DemoGatewayCharge.reference).where(
                    DemoGatewayCharge.status != CREATED, DemoGatewayCharge.callback_delivered_at.is_(None)
                )
            )
        )


# ---------------------------------------------------------------- the payment page

router = APIRouter(prefix=PAGE_PATH, include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo payment</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}.amount{{font-size:2rem}}</style>
</head><body>
<h1>Demo payment gateway</h1>
<p>No real money moves here: this page stands in for a payment provider.</p>
{content}
</body></html>"""


def _gateway(request: Request) -> DemoGateway:
    gateway = getattr(request.app.state, "payment_gateway", None)
    if not isinstance(gateway, DemoGateway):
        raise Problem(404, "not-found", "the demo gateway is not the payment gateway of this server")
    return gateway


def _charge(session: Session, reference: str) -> DemoGatewayCharge:
    charge = session.get(DemoGatewayCharge, reference)
    if charge is None:
        raise Problem(404, "not-found", f"no payment {reference} at the demo gateway")
    return charge


def _page(charge: DemoGatewayCharge) -> HTMLResponse:
    amount = html.escape(f"{amount_text(charge.amount)} {charge.currency}")
    reference = html.escape(charge.reference)
    if charge.status == SUCCEEDED:
        content = f'<p class="amount">{amount}</p><p id="status">Paid. You may close this page.</p>'
    else:
        declined = (
            '<p id="status">The last attempt was declined; try again.</p>' if charge.status == FAILED else ""
        )
        content = (
            f'<p class="amount">{amount}</p>{declined}'
            f'<form method="post" action="{PAGE_PATH}/{reference}">'
            '<p><label>Card holder <input name="payer" required maxlength="200"></label></p>'
            '<p><button name="action" value="pay">Pay</button> '
            '<button name="action" value="decline">Decline</button></p></form>'
        )
    return HTMLResponse(PAGE.format(content=content))


@router.get("/{reference}", response_class=HTMLResponse)
def payment_page(request: Request, reference: str) -> HTMLResponse:
    _gateway(request)
    with request.app.state.sessions() as session:
        return _page(_charge(session, reference))


@router.post("/{reference}", response_class=HTMLResponse)
async def pay(request: Request, reference: str) -> HTMLResponse:
    """Charge (or decline), commit the gateway's record, then call back the platform's webhook."""
    gateway = _gateway(request)
    form = parse_qs((await request.body()).decode(errors="replace"))
    payer = (form.get("payer") or [""])[0].strip()[:200] or None
    succeed = (form.get("action") or ["pay"])[0] != "decline"

    def charge() -> DemoGatewayCharge:
        sessions = request.app.state.sessions
        with writing(sessions) as session:
            _charge(session, reference)
            gateway.charge(session, reference=reference, payer=payer, succeed=succeed)
        gateway.deliver(sessions, reference=reference)
        with sessions() as session:
            return _charge(session, reference)

    return _page(await run_in_threadpool(charge))
