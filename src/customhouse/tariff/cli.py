"""`customhouse tariff import|show`: replace the tariff in force from a file; show what applies and why.

`import` validates the whole file first and lists every error as FILE:LINE: FIELD: MESSAGE; the tariff
is replaced in one transaction, so a bad file leaves the previous tariff in force. `--demo` imports
the demo tariff shipped in the package (`make run` uses `--demo --if-empty`).
"""

from __future__ import annotations

from datetime import date
from importlib.resources import files
from pathlib import Path

import typer
from rich.table import Table

from customhouse.console import console, errors, local_sessions
from customhouse.db import writing
from customhouse.money import Money
from customhouse.reference import codes
from customhouse.tariff import service
from customhouse.tariff.schemas import TariffFileError, duty_text
from customhouse.tariff.selection import LABELS, Goods, select

app = typer.Typer(help="The tariff in force: import it from a file, show what applies.", no_args_is_help=True)
DEMO = "demo-tariff.yaml"


@app.command("import")
def import_tariff(
    file: Path | None = typer.Argument(None, exists=True, dir_okay=False, help="the tariff file (YAML)"),
    demo: bool = typer.Option(False, "--demo", help="import the demo tariff shipped in the package"),
    if_empty: bool = typer.Option(False, "--if-empty", help="do nothing when a tariff is already in force"),
    by: str = typer.Option("cli", help="who imports it, for the audit trail"),
) -> None:
    """Validate FILE as a whole, then make it the tariff in force (one transaction)."""
    if (file is None) == (not demo):
        errors.print("give a FILE or --demo (not both)")
        raise typer.Exit(2)
    if file is None:
        text, source = files("customhouse.tariff").joinpath("data", DEMO).read_text(encoding="utf-8"), DEMO
    else:
        text, source = file.read_text(encoding="utf-8"), str(file)
    sessions = local_sessions()
    try:
        with writing(sessions) as session:
            if if_empty and not service.is_empty(session):
                console.print("a tariff is already in force: import skipped (--if-empty)")
                return
            report = service.replace_tariff(session, text=text, source=source, by=by)
    except TariffFileError as error:
        for problem in error.errors:
            errors.print(str(problem), highlight=False, markup=False, soft_wrap=True)
        errors.print(f"[red]{len(error.errors)} error(s): the tariff in force is unchanged[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"tariff in force: {report.name}: {report.measures} measures, {report.groups} origin groups, "
        f"{report.quotas} quotas (sha256 {report.sha256[:12]})"
    )


@app.command("show")
def show(
    hs: str = typer.Argument(..., help="the commodity code: 6 to 10 digits"),
    origin: str = typer.Option(..., "--origin", help="ISO 3166 country of origin, e.g. CN"),
    on: str | None = typer.Option(None, "--date", help="the date of law, YYYY-MM-DD; default today"),
    preference: bool = typer.Option(False, "--preference", help="the item claims a preference"),
    without_proof: bool = typer.Option(False, "--without-proof", help="claimed, but no proof of origin"),
    exporter: str | None = typer.Option(None, help="the exporter's name (anti-dumping by exporter)"),
) -> None:
    """Every measure that could apply to HS from ORIGIN on DATE, and why it does or does not."""
    try:
        when = date.fromisoformat(on) if on else date.today()
    except ValueError:
        errors.print(f"--date {on!r} is not a date: YYYY-MM-DD")
        raise typer.Exit(2) from None
    if not (hs.isdigit() and 6 <= len(hs) <= 10) or origin not in codes.countries():
        errors.print("HS is 6 to 10 digits and --origin an ISO 3166 alpha-2 code, e.g. 7208 51 -> 720851, CN")
        raise typer.Exit(2)
    with local_sessions()() as session:
        tariff = service.current(session)
    if tariff is None:
        errors.print("no tariff in force: run `customhouse tariff import FILE` (or --demo)")
        raise typer.Exit(1)
    goods = Goods(
        hs_code=hs,
        origin=origin,
        customs_value=Money.zero(tariff.currency),
        exporter=exporter,
        preference_claimed=preference,
        proof_of_origin=preference and not without_proof,
    )
    chosen = select(tariff, goods=goods, on=when)
    table = Table(title=f"{tariff.name}: {hs} from {origin} on {when}", title_justify="left")
    for column in ("measure", "type", "line", "duty", "in force", "applies", "why"):
        table.add_column(column, overflow="fold")
    for finding in chosen.findings:
        measure = finding.measure
        table.add_row(
            measure.id,
            LABELS[measure.role],
            measure.line,
            duty_text(measure.duty, tariff.currency),
            f"{measure.valid_from} to {measure.valid_to or 'further notice'}",
            "[green]yes[/green]" if finding.applies else "[dim]no[/dim]",
            finding.why,
        )
    console.print(table)
    if chosen.third_country and chosen.preferences:
        console.print("the lowest of the third-country duty and the preferences applies to the goods' value")
    if not chosen.findings:
        console.print(f"no measure of {tariff.name} covers {hs}")
