"""`customhouse users ...`: administer users and their tokens on the local database."""

from __future__ import annotations

import typer

from customhouse.auth.service import InvalidUser, Role, create_user
from customhouse.console import local_sessions
from customhouse.db import writing

app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Option(..., help="unique user name"),
    role: list[Role] = typer.Option(
        ..., help="trader, broker, officer, supervisor, auditor or admin; repeatable"
    ),
    party: str | None = typer.Option(None, help="the registered party id a trader or broker acts as"),
    office: list[str] = typer.Option([], help="office code an officer works at; repeatable"),
) -> None:
    """Create a user and print its API token (shown once: only its hash is stored)."""
    sessions = local_sessions()
    try:
        with writing(sessions) as session:
            token = create_user(session, name=name, roles=role, party_id=party, offices=office)
    except InvalidUser as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)
