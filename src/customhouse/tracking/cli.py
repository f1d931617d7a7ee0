"""`customhouse tracking ingest` and `customhouse simulate transit`.

`ingest` runs the MQTT ingestor alone (without the API server), with the offline and time-limit sweep,
until interrupted. `simulate transit` drives a fleet along a corridor against the local database: it
registers the e-seals, lodges a transit declaration and opens a movement per truck, then sends the
trucks' reports in simulated time to the processor in this process (default), the HTTP endpoint of a
server on the same database (`--http`), or the MQTT broker (`--mqtt`, with an ingestor running: `serve`
with CUSTOMHOUSE_MQTT_URL, or `customhouse tracking ingest`). It ends with what was injected and detected,
and exits 1 unless every incident was detected and no clean truck raised an alert.
"""

from __future__ import annotations

import gc
import signal
import threading
import uuid
from datetime import UTC, datetime, timedelta
from types import FrameType

import typer
from rich.table import Table

from customhouse.config import get_settings
from customhouse.console import console, errors, local_sessions
from customhouse.db import utcnow, writing
from customhouse.problems import Problem
from customhouse.tracking import corridor as geometry
from customhouse.tracking import mqtt
from customhouse.tracking import simulator as sim
from customhouse.tracking.processor import Processor

app = typer.Typer(help="Transit tracking: telemetry ingestion.", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulations that exercise this installation.", no_args_is_help=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


@app.command()
def ingest(
    url: str | None = typer.Option(None, help="the broker (default CUSTOMHOUSE_MQTT_URL), mqtt://host:1883"),
) -> None:
    """Ingest telemetry from the MQTT broker until interrupted (Ctrl-C), acknowledging each message once
    it is committed; also sweeps for silent devices and overdue movements."""
    from customhouse.observability import configure_logging

    settings = get_settings()
    url = url or settings.mqtt_url
    if not url:
        errors.print("[red]no broker:[/red] give --url or set CUSTOMHOUSE_MQTT_URL")
        raise typer.Exit(2)
    configure_logging(settings.log_level)
    sessions = local_sessions()
    processor = Processor(sessions, sweep_interval=settings.tracking_sweep_seconds)
    try:
        ingestor = mqtt.Ingestor(
            url,
            processor,
            name=settings.mqtt_ingestor,
            on_status=mqtt.recording_status(sessions),
            batch_size=settings.mqtt_batch_size,
            batch_ms=settings.mqtt_batch_ms,
        )
    except ValueError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    stop = _stop_on_signals()
    sweeper = threading.Thread(target=processor.run_sweeper, args=(stop,), name="tracking-sweep", daemon=True)
    sweeper.start()
    console.print(f"ingesting from {url} as customhouse-ingestor-{settings.mqtt_ingestor}; Ctrl-C stops")
    # What is alive by now (modules, SQLAlchemy's and pydantic's structures: long-lived) is moved out of
    # the collector's sight, for this process's life: each batch makes tens of thousands of short-lived
    # objects, and the full collections they trigger would walk all of it again (10-30 % of the
    # processor's time). Here, not in `Ingestor.run`, which also runs inside the server and tests.
    gc.freeze()
    ingestor.run(stop)
    stats = ingestor.stats
    console.print(
        f"{stats.processed} messages processed in {stats.batches} batches, {stats.acked} acknowledged, "
        f"{stats.statuses} status messages, {stats.failures} failed attempts"
    )


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def _delay(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value.total_seconds()), 60)
    return f"{minutes} min {seconds:02d} s"


def show(score: sim.Score, fleet: sim.Fleet) -> None:
    """The run's verdict: each injected incident, then any alert on a clean truck."""
    table = Table(title="Injected incidents")
    for column in ("truck", "incident", "injected at (simulated)", "detected at", "delay", "verdict"):
        table.add_column(column)
    for verdict in sorted(score.verdicts, key=lambda item: item.kind):
        table.add_row(
            verdict.device,
            verdict.kind,
            _when(verdict.injected_at),
            _when(verdict.detected_at),
            _delay(verdict.delay),
            "[green]detected[/green]" if verdict.detected_at else "[red]missed[/red]",
        )
    console.print(table)
    clean = [truck for truck in fleet.trucks if truck.incident is None]
    alarms = Table(title=f"Alerts on the {len(clean)} clean trucks (false alarms)")
    for column in ("truck", "alert", "raised at"):
        alarms.add_column(column)
    for alert in score.false_alarms:
        alarms.add_row(alert.device, alert.kind, _when(alert.at))
    if not score.false_alarms:
        alarms.add_row("-", "none", "-")
    console.print(alarms)
    detected = len(score.verdicts) - len(score.missed)
    console.print(
        f"{detected}/{len(score.verdicts)} incidents detected, {len(score.false_alarms)} false alarm(s): "
        + ("[green]pass[/green]" if score.passed else "[red]fail[/red]")
    )


@simulate_app.command()
def transit(
    trucks: int = typer.Option(20, min=1, max=10_000, help="trucks in the fleet"),
    incidents: float = typer.Option(0.5, min=0, max=1, help="share of the trucks given one incident each"),
    mqtt_url: str | None = typer.Option(None, "--mqtt", help="publish to this broker (mqtt://host:1883)"),
    http: str | None = typer.Option(None, help="post to this server (http://127.0.0.1:8000)"),
    speedup: float = typer.Option(0.0, min=0, help="simulated seconds per second (0: as fast as it goes)"),
    corridor: str = typer.Option("KE-UG-NC", help="the corridor's code"),
    interval: int = typer.Option(60, min=10, max=900, help="seconds between two reports of a truck"),
    step: int = typer.Option(300, min=10, help="simulated seconds sent at a time, then swept"),
    seed: int = typer.Option(1, help="the same seed gives the same fleet"),
) -> None:
    """Drive a fleet along a corridor with incidents injected at known times; report what was detected."""
    if mqtt_url and http:
        errors.print("[red]--mqtt and --http:[/red] choose one")
        raise typer.Exit(2)
    corridors = geometry.builtin()
    if corridor not in corridors:
        errors.print(f"[red]--corridor:[/red] expected one of {sorted(corridors)}")
        raise typer.Exit(2)
    from customhouse.app import policy_from

    settings = get_settings()
    sessions = local_sessions()
    route = corridors[corridor]
    start = utcnow().replace(second=0, microsecond=0) + timedelta(minutes=1)
    prefix = f"SIM{start:%y%m%d%H%M}{uuid.uuid4().hex[:3].upper()}"  # the run's own e-seal ids
    with console.status("planning the journeys"):
        planned = sim.plan(
            route,
            trucks=trucks,
            incidents=incidents,
            start=start,
            interval=timedelta(seconds=interval),
            seed=seed,
            prefix=prefix,
        )
    fleet = sim.Fleet(planned, route)
    try:
        with writing(sessions) as session:
            sim.prepare(session, fleet, policy=policy_from(settings, sessions))
    except Problem as problem:
        errors.print(f"[red]setting up the fleet failed:[/red] {problem.title}: {problem.detail}")
        raise typer.Exit(1) from None
    transport: sim.Transport
    if mqtt_url:
        transport = sim.Broker(mqtt_url, sessions)
    elif http:
        transport = sim.Http(http)
    else:
        transport = sim.Direct(Processor(sessions))
    total = sum(len(truck.reports) for truck in planned)
    injected = sum(truck.incident is not None for truck in planned)
    via = f"MQTT {mqtt_url}" if mqtt_url else f"HTTP {http}" if http else "the processor in this process"
    console.print(f"{trucks} trucks ({injected} with an incident), {total} reports, via {via}")
    try:
        with console.status("driving") as status:

            def progress(clock: object, sent: int) -> None:
                status.update(f"driving: simulated {clock}, {sent}/{total} reports sent")

            sim.run(
                fleet,
                transport,
                Processor(sessions),
                step=timedelta(seconds=step),
                speedup=speedup,
                progress=progress,
            )
    except (TimeoutError, OSError) as error:
        errors.print(f"[red]the run stopped:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        transport.close()
    with sessions() as session:
        score = sim.score(planned, sim.raised(session, fleet))
    show(score, fleet)
    if not score.passed:
        raise typer.Exit(1)
