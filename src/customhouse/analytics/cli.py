"""`customhouse report release-times --from D --to D`: the release-time study as CSV and an SVG chart;
`customhouse report rebuild`: the read model and its rollups rebuilt from the declarations' events;
`customhouse report forecasts`: today's forecasts computed and stored (for cron, after midnight UTC)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from sqlalchemy import func, select

from customhouse.analytics import charts, service
from customhouse.analytics.models import DayRollup, DeclarationFact
from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, utcnow, writing

app = typer.Typer(help="Reports for supervisors and for publication.", no_args_is_help=True)


@app.command("release-times")
def release_times(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="first day (UTC)")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="last day (UTC), included")],
    out: Annotated[Path, typer.Option(help="directory for release-times.csv and release-times.svg")] = Path(),
) -> None:
    """The WTO TFA art. 7.6 release-time study of declarations lodged in a period: lodgement to release,
    median and percentiles per lane, office and transport mode, and the share released within 1 hour."""
    first: date = start.date()
    last: date = end.date()
    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    since = datetime.combine(first, time(), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC) - timedelta(microseconds=1)
    sessions = make_session_factory(make_engine(get_settings().database_url))
    with sessions() as session:
        rows = service.release_csv_rows(session, since=since, until=until)
        by_lane = service.release_times(session, since=since, until=until, by="lane")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "release-times.csv").open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    chart = charts.bars(
        f"Median lodgement to release per lane, {first} to {last}",
        [charts.Bar(row.group, (row.median or 0) / 60, service.minutes(row.median)) for row in by_lane],
    )
    (out / "release-times.svg").write_text(chart, encoding="utf-8")
    typer.echo(f"{len(rows) - 1} rows: {out / 'release-times.csv'}, chart: {out / 'release-times.svg'}")


@app.command("rebuild")
def rebuild(
    batch: Annotated[int, typer.Option(min=1, help="events replayed per transaction step")] = 2000,
) -> None:
    """Rebuild the analytics read model and its daily rollups from the declarations' recorded events
    (declarations accepted before analytics existed). Idempotent: it clears them first."""
    sessions = make_session_factory(make_engine(get_settings().database_url))
    with Progress(transient=True) as progress, writing(sessions) as session:
        task = progress.add_task("replaying events", total=None)
        replayed = service.rebuild(
            session,
            batch=batch,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        facts = session.scalar(select(func.count()).select_from(DeclarationFact)) or 0
        days = session.scalar(select(func.count()).select_from(DayRollup)) or 0
    typer.echo(f"{replayed} events replayed: {facts} declarations, {days} daily rollup rows")


@app.command("forecasts")
def forecasts() -> None:
    """Compute today's forecasts and staffing and store them for the forecasts page, which otherwise
    starts computing them at the day's first view (tens of seconds): run it from cron just after
    midnight UTC."""
    sessions = make_session_factory(make_engine(get_settings().database_url))
    with sessions() as session:
        outlook = service.compute_outlook(session, today=utcnow().date())
    with writing(sessions) as session:
        stored = service.store_outlook(session, outlook)
    if not stored:
        typer.echo(
            f"nothing to forecast for {outlook.day}: the read model has no declarations before it "
            "(the server fills it as it delivers events; `customhouse report rebuild` at once)"
        )
        return
    groups = len(outlook.by_section) + len(outlook.by_origin)
    typer.echo(f"forecasts for {outlook.day} stored: {groups} groups, {len(outlook.staffing)} office shifts")
