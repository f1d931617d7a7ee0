"""`customhouse partners add|list|agree|token` and `customhouse exchange send|status|key|deliver`.

They act on the local database as a supervisor named cli:<login>. `exchange send` queues a signed
message; the server's courier delivers it, or `exchange deliver` makes one delivery pass at once.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
import typer
from pydantic import ValidationError
from rich.table import Table

from customhouse.auth.service import Principal, Role
from customhouse.cli_shared import json_argument
from customhouse.config import get_settings
from customhouse.console import console, errors, local_sessions
from customhouse.db import writing
from customhouse.exchange import agencies, service
from customhouse.exchange.courier import Courier
from customhouse.exchange.schemas import MessageType, NewAgreement, NewPartner
from customhouse.problems import Problem, from_validation_errors

partners_app = typer.Typer(
    help="Partner administrations and agencies, and exchange agreements.", no_args_is_help=True
)
app = typer.Typer(help="Signed messages to partner administrations.", no_args_is_help=True)


def _principal() -> Principal:
    return Principal(f"cli:{getpass.getuser()}", frozenset({Role.SUPERVISOR}))


@contextmanager
def _answering() -> Iterator[None]:
    """A refusal (a Problem or a validation error) is printed with the fields it names, exit status 1."""
    try:
        yield
    except ValidationError as error:
        errors.print(str(from_validation_errors(error.errors())), markup=False, highlight=False)
        raise typer.Exit(1) from None
    except Problem as problem:
        errors.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(1) from None


@partners_app.command("add")
def add(
    partner_id: str = typer.Argument(..., help="the id the partner signs with (its kid's prefix)"),
    name: str = typer.Option(...),
    kind: str = typer.Option("customs", help="customs, tax, transport, bank or other"),
    country: str = typer.Option(..., help="ISO 3166 alpha-2"),
    base_url: str | None = typer.Option(None, help="where its exchange API answers (customs)"),
    jwk: str | None = typer.Option(
        None, help="its public key: a JWK, or its /api/v1/exchange/key answer (file or JSON)"
    ),
) -> None:
    """Register a partner administration or agency."""
    key = json_argument(jwk, "--jwk") if jwk else None
    if isinstance(key, dict) and "jwk" in key:
        key = key["jwk"]
    with _answering():
        partner = NewPartner.model_validate(
            {
                "id": partner_id,
                "name": name,
                "kind": kind,
                "country": country,
                "base_url": base_url,
                "public_jwk": key,
            }
        )
        with writing(local_sessions()) as session:
            service.add_partner(session, partner=partner, by=_principal())
    console.print(f"partner {partner_id} registered")


@partners_app.command("list")
def list_partners() -> None:
    """The partners and their agreements."""
    with local_sessions()() as session:
        rows = [
            (partner, service.agreements(session, by=_principal(), partner_id=partner.id))
            for partner in service.partners(session, by=_principal())
        ]
    table = Table("partner", "kind", "country", "base URL", "agreements (types, until)")
    for partner, agreed in rows:
        table.add_row(
            partner.id,
            partner.kind,
            partner.country,
            partner.base_url or "",
            "\n".join(
                f"{item.id}: {', '.join(item.message_types)} until {item.valid_until:%Y-%m-%d}"
                for item in agreed
            ),
        )
    console.print(table)


@partners_app.command("agree")
def agree(
    partner_id: str = typer.Argument(...),
    type: list[str] = typer.Option(..., "--type", help="a message type or agency channel (repeat)"),
    field: list[str] = typer.Option(
        ..., "--field", help="an allowed field: JSON pointer or dotted path (repeat)"
    ),
    purpose: str = typer.Option(...),
    until: datetime = typer.Option(..., help="end of validity (UTC when no offset is given)"),
    agreement_id: uuid.UUID | None = typer.Option(
        None, "--id", help="the id the partner registered it under"
    ),
) -> None:
    """Register an exchange agreement with a partner."""
    from datetime import UTC

    with _answering():
        agreement = NewAgreement(
            id=agreement_id,
            partner_id=partner_id,
            message_types=type,
            fields=field,
            purpose=purpose,
            valid_until=until if until.tzinfo else until.replace(tzinfo=UTC),
        )
        with writing(local_sessions()) as session:
            record = service.add_agreement(session, agreement=agreement, by=_principal())
            created = record.id
    console.print(f"agreement {created} with {partner_id}")


@partners_app.command("token")
def token(partner_id: str = typer.Argument(..., help="an agency")) -> None:
    """A new API token for a partner agency (shown once)."""
    with _answering(), writing(local_sessions()) as session:
        issued = agencies.issue_token(session, partner_id=partner_id, by=_principal())
    console.print(issued, markup=False, highlight=False)


@app.command("send")
def send(
    type: MessageType = typer.Argument(..., help="the message type"),
    partner: str | None = typer.Option(
        None, help="the partner (default for exports: the destination's customs)"
    ),
    declaration: uuid.UUID | None = typer.Option(None, help="the released export (export-declaration)"),
    payload: str | None = typer.Option(None, help="the payload: a JSON file or JSON"),
) -> None:
    """Queue a signed message for a partner; prints its id."""
    data = json_argument(payload, "--payload") if payload else None
    identity = service.Identity.from_settings(get_settings())
    with _answering(), writing(local_sessions()) as session:
        record = service.send(
            session,
            identity=identity,
            type=type,
            by=_principal(),
            partner_id=partner,
            declaration_id=declaration,
            payload=data,
        )
        message_id = record.message_id
    console.print(f"message {message_id} queued")


@app.command("status")
def status(
    message: uuid.UUID | None = typer.Argument(None, help="one message (default: the latest sent)"),
) -> None:
    """Where messages stand: pending, delivered, refused or failed, with the partner's answer."""
    with _answering(), local_sessions()() as session:
        if message is not None:
            found = service.message(session, message_id=message, by=_principal())
            shown = {column.name: getattr(found, column.name) for column in found.__table__.columns}
            console.print_json(json.dumps(shown, default=str))
            return
        sent = service.outgoing(session, by=_principal(), limit=50)
    table = Table("message", "partner", "type", "state", "attempts", "created", "last error")
    for item in sent:
        table.add_row(
            str(item.message_id),
            item.partner_id,
            item.type,
            item.state,
            str(item.attempts),
            f"{item.created_at:%Y-%m-%d %H:%M:%S}",
            item.last_error or "",
        )
    console.print(table)


@app.command("key")
def key() -> None:
    """This administration's exchange id and public key, to give partners."""
    console.print_json(json.dumps(service.Identity.from_settings(get_settings()).public()))


@app.command("deliver")
def deliver() -> None:
    """One delivery pass now over the due messages."""
    settings = get_settings()
    with httpx.Client(timeout=10.0) as client:
        delivered = Courier(
            local_sessions(), client=client, max_attempts=settings.exchange_max_attempts
        ).deliver_pending()
    console.print(f"{delivered} message(s) delivered")
