"""The `customhouse` command: a Typer root to which each domain adds its sub-commands."""

from __future__ import annotations

import typer

from customhouse.advisory.cli import app as advisory_app
from customhouse.analytics.cli import app as report_app
from customhouse.auth.cli import app as users_app
from customhouse.certificates.cli import app as cert_app
from customhouse.config import get_settings
from customhouse.db import make_engine, upgrade
from customhouse.declarations.cli import app as declarations_app
from customhouse.declarations.cli import submit
from customhouse.demo.cli import app as demo_app
from customhouse.exchange.cli import app as exchange_app
from customhouse.exchange.cli import partners_app
from customhouse.exchange.edifact.cli import app as edifact_app
from customhouse.ledger.cli import app as ledger_app
from customhouse.ledger.cli import witness_round
from customhouse.parties.cli import app as parties_app
from customhouse.payments.cli import app as payments_app
from customhouse.risk.cli import app as risk_app
from customhouse.tariff.cli import app as tariff_app
from customhouse.tracking.cli import app as tracking_app
from customhouse.tracking.cli import simulate_app

app = typer.Typer(help="customhouse: an open-source digital customs platform.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(parties_app, name="parties")
app.add_typer(declarations_app, name="declarations")
app.add_typer(demo_app, name="demo")
app.add_typer(tariff_app, name="tariff")
app.add_typer(advisory_app, name="advisory")
app.add_typer(payments_app, name="payments")
app.add_typer(risk_app, name="risk")
app.add_typer(ledger_app, name="ledger")
app.add_typer(cert_app, name="cert")
app.add_typer(tracking_app, name="tracking")
app.add_typer(simulate_app, name="simulate")
app.add_typer(partners_app, name="partners")
app.add_typer(exchange_app, name="exchange")
app.add_typer(edifact_app, name="edifact")
app.add_typer(report_app, name="report")
app.command("witness")(witness_round)
app.command()(submit)


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    settings = get_settings()
    upgrade(make_engine(settings.database_url), revision)
    typer.echo(f"database at {revision}: {settings.database_url}")


@app.command()
def serve(host: str | None = None, port: int | None = None, reload: bool = False) -> None:
    """Run the API server (migrations must be current: run `customhouse db upgrade`)."""
    import uvicorn

    from customhouse.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "customhouse.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        log_config=None,
        access_log=False,
    )
