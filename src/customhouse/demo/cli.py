"""`customhouse demo seed|tokens`: fill an empty database with the demo administration, show its tokens.

`make run` migrates first (`customhouse db upgrade`), then runs `demo seed --if-empty` and
`demo tokens`. The tokens are written to `<var_dir>/demo-tokens.json` (mode 600): the database keeps
only their hashes, so this file is the one place they can be read again.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from customhouse.config import Settings, get_settings
from customhouse.db import for_writing, make_engine, make_session_factory, migrations_current
from customhouse.demo import service
from customhouse.demo.generator import IRREGULARITY_SHARES
from customhouse.tariff import service as tariff_service

app = typer.Typer(
    help="Demo data: a reproducible administration with traders, brokers and a year of declarations.",
    no_args_is_help=True,
)
console = Console()
WIDE = 160  # piped output (make run's log) is not wrapped at 80 columns: tokens must stay whole

TOKENS_FILE = "demo-tokens.json"


def _console() -> Console:
    return console if console.is_terminal else Console(width=WIDE)


def tokens_path(settings: Settings) -> Path:
    return settings.var_dir / TOKENS_FILE


@app.command("seed")
def seed(
    declarations: int = typer.Option(
        2000, min=1, max=1_000_000, help="how many declarations to lodge over the year"
    ),
    seed: int = typer.Option(7, help="the random seed: the same seed gives the same demo data"),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="do nothing when the database already holds declarations"
    ),
) -> None:
    """Register demo traders and brokers, lodge a year of declarations, act as officers, create users."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    if not migrations_current(engine):
        console.print(
            "[red]the database is not at the newest migration:[/red] run `customhouse db upgrade` first"
        )
        raise typer.Exit(1)
    sessions = make_session_factory(engine)
    with sessions() as session:
        occupied = service.has_declarations(session)
        untaxed = tariff_service.is_empty(session)
    if untaxed and not (occupied and if_empty):
        console.print(
            "[red]no tariff is in force:[/red] imports are assessed at lodgement; "
            "run `customhouse tariff import --demo` first"
        )
        raise typer.Exit(1)
    if occupied:
        if if_empty:
            console.print("the database already holds declarations: demo seed skipped (--if-empty)")
            return
        console.print("[red]the database already holds declarations:[/red] demo seed fills an empty one")
        raise typer.Exit(1)

    from customhouse.app import policy_from  # the composition root pulls in FastAPI: only seed needs it

    policy = policy_from(settings)
    started = time.perf_counter()
    with (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
        sessions() as session,
    ):
        task = progress.add_task("lodging demo declarations", total=declarations)
        for_writing(session)
        uncommitted = 0

        def on_batch(count: int) -> None:
            nonlocal uncommitted
            uncommitted += count
            progress.advance(task, count)
            if uncommitted >= settings.bulk_batch_size:  # bounded memory and a short write lock
                session.commit()
                for_writing(session)
                uncommitted = 0

        report = service.seed(session, declarations=declarations, seed=seed, policy=policy, on_batch=on_batch)
        users = service.demo_users(report.world)
        tokens = service.create_demo_users(session, report.world, users)
        session.commit()
    seconds = time.perf_counter() - started
    path = _write_tokens(settings, [_token_entry(user, tokens[user.name], report) for user in users])
    _print_report(report, seconds)
    _console().print(f"demo users' tokens written to {path}; show them with `customhouse demo tokens`")


def _token_entry(user: service.DemoUser, token: str, report: service.SeedReport) -> dict[str, Any]:
    party = report.world.party(user.party_id) if user.party_id else None
    return {
        "name": user.name,
        "roles": [str(role) for role in user.roles],
        "party": user.party_id,
        "party_name": party.name if party else None,
        "offices": list(user.offices),
        "token": token,
    }


def _write_tokens(settings: Settings, entries: list[dict[str, Any]]) -> Path:
    """Write the tokens readable by the owner only (created 600, then chmod in case it existed)."""
    path = tokens_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(entries, file, indent=2)
        file.write("\n")
    path.chmod(0o600)
    return path


def _counts_table(title: str, counts: Counter[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(title.split()[-1])
    table.add_column("declarations", justify="right")
    for key, count in sorted(counts.items()):
        table.add_row(key, str(count))
    return table


def _print_report(report: service.SeedReport, seconds: float) -> None:
    console = _console()
    rate = report.lodged / seconds if seconds else 0.0
    console.print(f"lodged {report.lodged} declarations in {seconds:.1f} s ({rate:.0f}/s)")
    for title, counts in (("by kind", report.kinds), ("by lane", report.lanes), ("by state", report.states)):
        console.print(_counts_table(title, counts))
    imports = report.kinds.get("import", 0) or 1
    table = Table(
        title="irregularities of imports (ground truth; found or missed by a control)", title_justify="left"
    )
    for column in ("kind", "count", "share", "documented", "found", "missed"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, share in IRREGULARITY_SHARES.items():
        count = report.irregular.get(kind, 0)
        table.add_row(
            kind,
            str(count),
            f"{count / imports:.1%}",
            f"{share:.0%}",
            str(report.detected.get(kind, 0)),
            str(report.missed.get(kind, 0)),
        )
    console.print(table)
    console.print(
        f"controls recorded: {report.controlled}, of which {report.random_checks} random checks of green ones"
    )


@app.command("tokens")
def tokens() -> None:
    """Show the demo users and their tokens (written by `customhouse demo seed`)."""
    settings = get_settings()
    path = tokens_path(settings)
    if not path.exists():
        console.print(f"no demo tokens at {path}: run `customhouse demo seed` first")
        raise typer.Exit(1)
    entries = json.loads(path.read_text(encoding="utf-8"))
    table = Table(title=f"demo users ({path})", title_justify="left")
    for column in ("user", "roles", "party / offices"):
        table.add_column(column, overflow="fold")
    table.add_column("token", no_wrap=True)
    for entry in entries:
        scope = (
            f"{entry['party']} {entry['party_name']}"
            if entry.get("party")
            else ", ".join(entry.get("offices") or []) or "all"
        )
        table.add_row(entry["name"], ", ".join(entry["roles"]), scope, entry["token"])
    out = _console()
    out.print(table)
    example = next((entry for entry in entries if "trader" in entry["roles"]), entries[0])
    out.print(
        f'try: curl -H "Authorization: Bearer {example["token"]}" http://{settings.host}:{settings.port}/api/v1/declarations?limit=5',
        soft_wrap=True,
        highlight=False,
    )
