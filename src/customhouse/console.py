"""What every `customhouse` command shares: the consoles and the local database's sessions."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, migrations_current

console = Console() if Console().is_terminal else Console(width=160)  # piped: no wrapping at 80
errors = Console(stderr=True)


def local_sessions() -> sessionmaker[Session]:
    """Sessions on the database the settings name, once its migrations are current (else exit 1)."""
    engine = make_engine(get_settings().database_url)
    if not migrations_current(engine):
        errors.print(
            "[red]the database is not at the newest migration:[/red] run `customhouse db upgrade` first"
        )
        raise typer.Exit(1)
    return make_session_factory(engine)
