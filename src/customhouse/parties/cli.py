"""`customhouse parties ...`: the register of traders and brokers, and mandates."""

from __future__ import annotations

from datetime import date

import typer
from sqlalchemy.exc import IntegrityError

from customhouse.console import local_sessions
from customhouse.db import writing
from customhouse.declarations.schemas import CountryCode, PartyId
from customhouse.parties import service

app = typer.Typer(help="Registered traders and brokers.", no_args_is_help=True)


@app.command("add")
def add(
    party_id: str = typer.Argument(..., help="EORI-like id: country code + up to 15 capitals or digits"),
    name: str = typer.Option(...),
    country: str = typer.Option(..., help="ISO 3166-1 alpha-2"),
    broker: bool = typer.Option(False, help="a customs broker (declares for clients under mandate)"),
    aeo: bool = typer.Option(False, help="an authorised economic operator"),
) -> None:
    """Register a party."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(PartyId).validate_python(party_id)
        TypeAdapter(CountryCode).validate_python(country)
        with writing(local_sessions()) as session:
            service.register(
                session,
                id=party_id,
                name=name,
                country=country,
                kind="broker" if broker else "trader",
                aeo=aeo,
            )
    except ValidationError as error:
        typer.echo(f"error: {error.errors()[0]['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None
    except IntegrityError:
        typer.echo(f"error: {party_id} is registered already", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"registered {party_id}")


@app.command("mandate")
def mandate(
    broker: str = typer.Argument(..., help="the representative's party id"),
    client: str = typer.Argument(..., help="the client's party id"),
    valid_from: str = typer.Option(date.today().isoformat(), help="YYYY-MM-DD"),
    valid_to: str | None = typer.Option(None, help="YYYY-MM-DD; open-ended if left out"),
) -> None:
    """Record that BROKER may declare for CLIENT."""
    try:
        with writing(local_sessions()) as session:
            service.grant_mandate(
                session,
                representative_id=broker,
                client_id=client,
                valid_from=date.fromisoformat(valid_from),
                valid_to=date.fromisoformat(valid_to) if valid_to else None,
            )
    except IntegrityError:
        typer.echo("error: both parties must be registered, and the mandate must be new", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{broker} may declare for {client}")
