"""`customhouse demo seed`: fill an empty database with the demo administration."""

from __future__ import annotations

import typer

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("seed")
def seed(declarations: int = 2000, seed: int = 7) -> None:
    """Placeholder replaced by the generator."""
    raise typer.Exit(1)
