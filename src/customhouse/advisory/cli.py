"""`customhouse advisory landed-cost`: the estimate for one goods item, as a table of its breakdown.

The options are validated by the API's own model, so the CLI accepts and refuses exactly what the API
does; an error names the option (the API's JSON pointer mapped back to it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from customhouse.advisory import service
from customhouse.assessment import currency
from customhouse.assessment.schemas import Amount, LandedCost, LandedCostRequest
from customhouse.config import get_settings
from customhouse.console import console, errors, local_sessions
from customhouse.problems import Problem, from_validation_errors

app = typer.Typer(help="Traders' advisory: estimates with no declaration needed.", no_args_is_help=True)

OPTIONS = {
    "/invoice_currency": "--currency",
    "/incoterm": "--incoterm",
    "/freight": "--freight",
    "/insurance": "--insurance",
    "/date": "--date",
    "/goods_items/0/hs_code": "--hs",
    "/goods_items/0/origin": "--origin",
    "/goods_items/0/price": "--value",
    "/goods_items/0/quantity": "--quantity",
    "/goods_items/0/unit": "--unit",
    "/goods_items/0/net_mass": "--net-mass",
    "/goods_items/0/alcohol_strength": "--alcohol",
    "/goods_items/0/exporter": "--exporter",
    "/goods_items/0": "--quantity/--unit",
}


@app.callback()
def advisory() -> None:
    """Traders' advisory: estimates with no declaration needed (a group even with one command)."""


def _fail(problem: Problem) -> typer.Exit:
    """Print the problem with each field named by its option; exit 2 for bad input, 1 otherwise."""
    errors.print(problem.detail, highlight=False, markup=False, soft_wrap=True)
    for error in problem.errors:
        where = OPTIONS.get(error.pointer or "", error.pointer or error.parameter or "")
        errors.print(f"  {where}: {error.detail}", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(2 if problem.status == 422 else 1)


def _money(amount: Amount) -> str:
    return f"{amount.amount:,} {amount.currency}"


def show(estimate: LandedCost) -> None:
    """The breakdown as tables: per item its value, tax lines and measures; then the totals."""
    console.print(
        f"[bold]landed cost estimate[/bold] on {estimate.date} under {estimate.tariff}; "
        f"exchange rate {estimate.exchange_rate.text}",
        highlight=False,
    )
    for item in estimate.items:
        console.print(
            f"\nitem {item.sequence}: {item.hs_code} ({item.description}) from {item.origin}", highlight=False
        )
        lines = Table(title_justify="left")
        for column in ("", "measure", "duty", "formula"):
            lines.add_column(column, overflow="fold")
        lines.add_column("amount", justify="right", no_wrap=True)
        lines.add_row("customs value", "", "", item.valuation, _money(item.customs_value))
        for line in item.lines:
            lines.add_row(line.kind, line.measure, line.duty, line.formula, _money(line.amount))
        lines.add_section()
        lines.add_row("duties and taxes", "", "", "", _money(item.duties_and_taxes))
        lines.add_row("[bold]landed cost[/bold]", "", "", "", f"[bold]{_money(item.landed_cost)}[/bold]")
        console.print(lines)
        considered = Table(title="measures considered", title_justify="left")
        for column in ("measure", "type", "line", "duty", "applies", "why"):
            considered.add_column(column, overflow="fold")
        for measure in item.measures:
            applies = "[green]yes[/green]" if measure.applies else "[dim]no[/dim]"
            considered.add_row(
                measure.measure, measure.kind, measure.line, measure.duty, applies, measure.why
            )
        console.print(considered)
        for note in item.notes:
            console.print(f"note: {note}", highlight=False)
    console.print(
        f"\ncustoms value {_money(estimate.customs_value)} + duties and taxes "
        f"{_money(estimate.duties_and_taxes)} = [bold]landed cost {_money(estimate.landed_cost)}[/bold]",
        highlight=False,
    )
    for note in estimate.notes:
        console.print(f"note: {note}", highlight=False)


@app.command("landed-cost")
def landed_cost(
    hs: str = typer.Option(..., "--hs", help="commodity code: HS subheading and national digits, 6 to 10"),
    origin: str = typer.Option(..., "--origin", help="ISO 3166 country of origin, e.g. FR"),
    value: Decimal = typer.Option(..., "--value", help="the price paid, in --currency"),
    invoice_currency: str = typer.Option(..., "--currency", help="ISO 4217 invoice currency, e.g. EUR"),
    incoterm: str = typer.Option(..., "--incoterm", help="Incoterms 2020 rule, e.g. FOB"),
    freight: Decimal | None = typer.Option(None, "--freight", help="freight to the border (EXW/FCA/FAS/FOB)"),
    insurance: Decimal | None = typer.Option(None, "--insurance", help="insurance to the border"),
    quantity: Decimal | None = typer.Option(None, "--quantity", help="the supplementary quantity"),
    unit: str | None = typer.Option(None, "--unit", help="UN/ECE Rec. 20 unit of --quantity, e.g. LTR"),
    net_mass: Decimal | None = typer.Option(None, "--net-mass", help="net mass in kg"),
    alcohol: Decimal | None = typer.Option(None, "--alcohol", help="alcohol strength, % vol"),
    preference: bool = typer.Option(False, "--preference", help="claim the preference for the origin"),
    without_proof: bool = typer.Option(False, "--without-proof", help="claimed, but no proof of origin"),
    exporter: str | None = typer.Option(None, "--exporter", help="the exporter's name (anti-dumping)"),
    on: str | None = typer.Option(None, "--date", help="date of law, YYYY-MM-DD (default: today)"),
) -> None:
    """The landed cost of one goods item: customs value, each duty and tax, and why each measure applies."""
    item: dict[str, Any] = {
        "hs_code": hs,
        "origin": origin,
        "price": value,
        "quantity": quantity,
        "unit": unit,
        "net_mass": net_mass,
        "alcohol_strength": alcohol,
        "preference_claimed": preference,
        "proof_of_origin": preference and not without_proof,
        "exporter": exporter,
    }
    fields: dict[str, Any] = {
        "invoice_currency": invoice_currency,
        "incoterm": incoterm,
        "freight": freight,
        "insurance": insurance,
        "date": on,
        "goods_items": [{key: given for key, given in item.items() if given is not None}],
    }
    try:
        request = LandedCostRequest.model_validate(
            {key: given for key, given in fields.items() if given is not None}
        )
    except ValidationError as error:
        raise _fail(from_validation_errors(error.errors())) from None
    settings = get_settings()
    try:
        with local_sessions()() as session:
            estimate = service.estimate(
                session, request=request, country=settings.country, rates=currency.rates_from(settings)
            )
    except Problem as problem:
        raise _fail(problem) from None
    show(estimate)
