"""`customhouse payments reconcile|redeliver`: compare the gateway's records with the payment orders;
send again the demo gateway's callbacks that did not arrive.

`reconcile` exits 1 when it finds a disagreement, so that a scheduled run can alert.
"""

from __future__ import annotations

import typer
from rich.table import Table

from customhouse.config import get_settings
from customhouse.console import console, local_sessions
from customhouse.payments import service
from customhouse.payments.demo import DemoGateway

app = typer.Typer(help="Payments: reconciliation with the gateway.", no_args_is_help=True)


@app.command()
def reconcile() -> None:
    """List every payment on which the gateway's records and the payment orders disagree."""
    sessions = local_sessions()
    gateway = DemoGateway.from_settings(get_settings())
    with sessions() as session:
        found = service.reconcile(session, gateway=gateway)
    if not found:
        console.print(f"the {gateway.name} gateway and the payment orders agree")
        return
    table = Table("reference", "order", "gateway", "ledger", "problem")
    for item in found:
        table.add_row(
            item.reference,
            item.order_id or "-",
            f"{item.gateway_status or '-'} {item.gateway_amount or ''}".strip(),
            f"{item.ledger_state or '-'} {item.ledger_amount or ''}".strip(),
            item.problem,
        )
    console.print(table)
    console.print(f"{len(found)} disagreement(s)")
    raise typer.Exit(1)


@app.command()
def redeliver() -> None:
    """Send again the demo gateway's callbacks that the webhook has not acknowledged (the server must run)."""
    sessions = local_sessions()
    gateway = DemoGateway.from_settings(get_settings())
    with sessions() as session:
        references = gateway.undelivered(session)
    delivered = sum(gateway.deliver(sessions, reference=reference) for reference in references)
    console.print(f"{delivered} of {len(references)} callback(s) delivered")
    if delivered < len(references):
        raise typer.Exit(1)
