"""`customhouse risk ...`: targeting profiles, the model registry (train, promote, rollback) on the local
database, and the learned model's evaluation on historical files (no database needed)."""

from __future__ import annotations

import dataclasses
import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from customhouse.auth.service import Principal, Role
from customhouse.config import get_settings
from customhouse.console import local_sessions
from customhouse.db import writing
from customhouse.problems import Problem
from customhouse.risk import evaluate as ev
from customhouse.risk import service
from customhouse.risk.schemas import ProfileChange, ProfileIn, ProfileOut

app = typer.Typer(help="Risk management: targeting profiles, the learned risk model.", no_args_is_help=True)
profiles = typer.Typer(help="Targeting profiles (rules).", no_args_is_help=True)
app.add_typer(profiles, name="profile")

_STEPS_PER_SEED = 3  # calibration model, final model, scoring


@app.callback()
def risk() -> None:
    """Risk management: targeting profiles, the learned risk model."""


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=160)


@app.command()
def evaluate(
    csv: Annotated[
        Path | None,
        typer.Option(
            help="One historical file: train on its earlier part, score its later part.", exists=True
        ),
    ] = None,
    train: Annotated[Path | None, typer.Option(help="Train on this file (with --test).", exists=True)] = None,
    test: Annotated[Path | None, typer.Option(help="Score this file (with --train).", exists=True)] = None,
    mapping: Annotated[str, typer.Option(help=f"Column mapping preset: {', '.join(ev.PRESETS)}.")] = "kcs",
    seeds: Annotated[int, typer.Option(min=1, help="Train this many times (seeds 0..N-1): mean ± sd.")] = 1,
    test_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="With --csv: share of the rows (latest dates) scored.")
    ] = 0.2,
    limit: Annotated[
        int | None, typer.Option(min=10, help="Read only the first N rows of each file.")
    ] = None,
    threads: Annotated[
        int, typer.Option(min=1, help="LightGBM threads (more than 1 is much slower on a busy machine).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Precision, recall (and revenue) at 1, 2, 5 and 10 % inspection rates, and the AUC.

    The model never sees the scored part's outcomes: its entity histories stop at the training data.
    """
    errors = _console(stderr=True)
    if mapping not in ev.PRESETS:
        errors.print(f"[red]unknown mapping {mapping!r}:[/red] presets are {', '.join(ev.PRESETS)}")
        raise typer.Exit(2)
    one_file = csv is not None and train is None and test is None
    two_files = csv is None and train is not None and test is not None
    if not (one_file or two_files):
        errors.print("[red]give either --csv FILE, or both --train FILE and --test FILE[/red]")
        raise typer.Exit(2)
    preset = ev.PRESETS[mapping]
    try:
        if csv is not None:
            training, testing = ev.split_file(*preset.read(csv, limit=limit), test_fraction)
        else:
            assert train is not None and test is not None
            training, testing = preset.read(train, limit=limit), preset.read(test, limit=limit)
    except (ValueError, KeyError) as error:
        errors.print(f"[red]cannot read the data:[/red] {error}")
        raise typer.Exit(1) from error
    if len(set(training[1].tolist())) < 2:
        errors.print("[red]the training part needs both conforming and irregular outcomes[/red]")
        raise typer.Exit(1)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task(
            f"training and scoring ({seeds} seed{'s' * (seeds > 1)})", total=seeds * _STEPS_PER_SEED
        )

        def step(message: str) -> None:
            progress.update(task, advance=1, description=message)

        try:
            result = ev.evaluate(training, testing, seeds=range(seeds), threads=threads, on_step=step)
        except ValueError as error:  # e.g. a training part of a single day: nothing later to calibrate on
            errors.print(f"[red]cannot evaluate:[/red] {error}")
            raise typer.Exit(1) from error

    if as_json:
        typer.echo(json.dumps({"mapping": mapping, **result.to_json()}, indent=2))
        return
    _print(result, mapping)


def _print(result: ev.Evaluation, mapping: str) -> None:
    console = _console()
    console.print(
        f"mapping [bold]{mapping}[/bold]: trained on {result.train_rows:,} declarations "
        f"({result.train_period[0]} to {result.train_period[1]}), scored {result.test_rows:,} "
        f"({result.test_period[0]} to {result.test_period[1]}, irregular rate "
        f"{result.test_irregular_rate:.3f}: the precision of a random selection)"
    )
    summary = result.summary
    several = len(result.seeds) > 1
    table = Table(
        title=f"risk model, {len(result.seeds)} seed{'s' * several}" + (" (mean ± sd)" if several else "")
    )
    table.add_column("inspection rate", justify="right")
    kinds = ["precision", "recall"] + (["revenue"] if result.has_revenue else [])
    for kind in kinds:
        table.add_column(kind, justify="right")
    for rate in ev.RATES:
        cells = [_cell(summary, f"{kind}@{rate:g}%", several) for kind in kinds]
        table.add_row(f"{rate:g} %", *cells)
    console.print(table)
    console.print(f"AUC {_cell(summary, 'auc', several)}")
    console.print(
        f"calibration: mean probability {_cell(summary, 'mean_probability', several)} "
        f"(observed {result.test_irregular_rate:.4f}), Brier score {_cell(summary, 'brier', several)}"
    )
    if not result.has_revenue:
        console.print("no revenue column in this mapping: revenue at n % is not computed")


def _cell(summary: ev.Summary, name: str, several: bool) -> str:
    mean = summary.mean(name)
    return f"{mean:.4f} ± {summary.sd(name):.4f}" if several else f"{mean:.4f}"


# ---------------------------------------------------------------- profiles and the model registry


def _by() -> Principal:
    return Principal(f"cli:{getpass.getuser()}", frozenset({Role.SUPERVISOR}))


def _fail(error: Problem | ValidationError | ValueError) -> typer.Exit:
    errors = _console(stderr=True)
    if isinstance(error, ValidationError):
        for item in error.errors():
            where = "/".join(str(part) for part in item["loc"])
            errors.print(f"[red]{where or '/'}:[/red] {item['msg']}")
    else:
        errors.print(f"[red]{error}[/red]")
    return typer.Exit(1)


def _conditions(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(ValueError(f"--conditions is not JSON: {error}")) from None


def _show(profile: ProfileOut) -> None:
    typer.echo(profile.model_dump_json(indent=2))


@profiles.command("add")
def profile_add(
    code: Annotated[str, typer.Option(help="A short unique code, e.g. CN-TEXTILE-UV.")],
    lane: Annotated[str, typer.Option(help="green, yellow or red.")],
    reason: Annotated[str, typer.Option(help="Why: the text officers and traders see.")],
    conditions: Annotated[
        str | None,
        typer.Option(help='JSON, e.g. \'{"hs_prefixes": ["6109"], "origins": ["CN"]}\' (see risk.schemas).'),
    ] = None,
    priority: Annotated[int, typer.Option(help="The highest priority matching profile decides.")] = 100,
    max_passes: Annotated[
        int | None, typer.Option(help="At most this many matches in a row released without control.")
    ] = None,
    valid_from: Annotated[datetime | None, typer.Option(help="UTC; default: now.")] = None,
    valid_to: Annotated[datetime | None, typer.Option(help="UTC; default: open.")] = None,
) -> None:
    """Add a targeting profile (in force from the next lodgement)."""
    try:
        profile = ProfileIn.model_validate(
            {
                "code": code,
                "lane": lane,
                "reason": reason,
                "priority": priority,
                "max_passes": max_passes,
                "conditions": _conditions(conditions) or {},
                "valid_from": _utc(valid_from),
                "valid_to": _utc(valid_to),
            }
        )
        with writing(local_sessions()) as session:
            created = service.create_profile(session, profile=profile, by=_by())
    except (ValidationError, Problem) as error:
        raise _fail(error) from None
    _show(created)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@profiles.command("set")
def profile_set(
    code: Annotated[str, typer.Argument(help="The profile's code.")],
    lane: Annotated[str | None, typer.Option()] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    conditions: Annotated[str | None, typer.Option(help="JSON: replaces all the conditions.")] = None,
    priority: Annotated[int | None, typer.Option()] = None,
    max_passes: Annotated[int | None, typer.Option()] = None,
    valid_from: Annotated[datetime | None, typer.Option()] = None,
    valid_to: Annotated[datetime | None, typer.Option()] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
) -> None:
    """Change a profile (a new revision, in force from the next lodgement)."""
    given = {
        "lane": lane,
        "reason": reason,
        "conditions": _conditions(conditions),
        "priority": priority,
        "max_passes": max_passes,
        "valid_from": _utc(valid_from),
        "valid_to": _utc(valid_to),
        "active": active,
    }
    try:
        change = ProfileChange.model_validate({k: v for k, v in given.items() if v is not None})
        with writing(local_sessions()) as session:
            found = service.find_profile(session, code=code)
            changed = service.update_profile(session, profile_id=found.id, change=change, by=_by())
    except (ValidationError, Problem) as error:
        raise _fail(error) from None
    _show(changed)


@profiles.command("deactivate")
def profile_deactivate(
    code: Annotated[str, typer.Argument(help="The profile's code.")],
    reason: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Take a profile out of force (it is kept: decisions name it)."""
    try:
        with writing(local_sessions()) as session:
            found = service.find_profile(session, code=code)
            changed = service.deactivate_profile(session, profile_id=found.id, by=_by(), reason=reason)
    except Problem as error:
        raise _fail(error) from None
    _show(changed)


@profiles.command("list")
def profile_list(
    all_: Annotated[bool, typer.Option("--all", help="Also the inactive ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Profiles by priority, with their hits and results."""
    with local_sessions()() as session:
        found = service.list_profiles(session, active=None if all_ else True)
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in found], indent=2))
        return
    table = Table(title="targeting profiles")
    for column in ("code", "rev", "lane", "priority", "valid", "hits", "controls", "irregular", "reason"):
        table.add_column(column)
    for p in found:
        window = f"{p.valid_from or '-'} .. {p.valid_to or '-'}"
        table.add_row(
            p.code + ("" if p.active else " (inactive)"),
            str(p.revision),
            p.lane.value,
            str(p.priority),
            window,
            str(p.hits),
            str(p.controls),
            str(p.irregular),
            p.reason,
        )
    _console().print(table)


@app.command("bands")
def bands() -> None:
    """Recompute the unit-value reference bands (HS6, origin, currency) from the stored declarations."""
    with writing(local_sessions()) as session:
        count = service.refresh_bands(session)
    typer.echo(f"{count} reference bands")


@app.command("train")
def train_command(
    since: Annotated[datetime | None, typer.Option(help="First lodgement date of the window.")] = None,
    until: Annotated[datetime | None, typer.Option(help="Last lodgement date of the window.")] = None,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.5, help="Later share scored for metrics.")] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    promote: Annotated[bool, typer.Option(help="Promote the new version at once.")] = False,
    if_none: Annotated[
        bool, typer.Option("--if-none", help="Do nothing when a model is promoted already (make run).")
    ] = False,
) -> None:
    """Train a model version on stored declarations and their control outcomes (and refresh the bands)."""
    try:
        with writing(local_sessions()) as session:
            if if_none and (current := service.promoted_version(session)) is not None:
                _console().print(f"model v{current} is promoted already: nothing trained (--if-none)")
                return
            model = service.train(
                session,
                by=_by(),
                since=since.date() if since else None,
                until=until.date() if until else None,
                holdout_fraction=holdout,
                seed=seed,
                national_currency=get_settings().national_currency,
            )
            service.refresh_bands(session)
            if promote:
                model = service.promote(session, version=model.version, by=_by())
    except Problem as error:
        raise _fail(error) from None
    metrics = model.metrics
    _console().print(
        f"model v{model.version}: {model.rows:,} controlled declarations {model.trained_from} to "
        f"{model.trained_to}; holdout from {metrics.get('holdout_from')} "
        f"({metrics.get('holdout_rows')} rows): "
        f"AUC {_figure(metrics.get('auc'))}, precision@5% {_figure(metrics.get('precision@5%'))}, "
        f"precision@10% {_figure(metrics.get('precision@10%'))}"
        + (" (promoted)" if model.promoted else f"; promote with `customhouse risk promote {model.version}`"),
        soft_wrap=True,
    )


def _figure(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a"


@app.command("promote")
def promote_command(version: Annotated[int, typer.Argument()]) -> None:
    """Score with this model version from the next lodgement on."""
    try:
        with writing(local_sessions()) as session:
            model = service.promote(session, version=version, by=_by())
    except Problem as error:
        raise _fail(error) from None
    typer.echo(f"model v{model.version} promoted")


@app.command("rollback")
def rollback_command() -> None:
    """Go back to the model version promoted before the current one."""
    try:
        with writing(local_sessions()) as session:
            before = service.promoted_version(session)
            service.rollback(session, by=_by())
            now = service.promoted_version(session)
    except Problem as error:
        raise _fail(error) from None
    typer.echo(f"rolled back from v{before} to " + (f"v{now}" if now else "no model (the default rule)"))


@app.command("models")
def models_command(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The model registry: versions, training windows, holdout metrics, which one is promoted."""
    with local_sessions()() as session:
        found = service.list_models(session)
    if as_json:
        typer.echo(json.dumps([m.model_dump(mode="json") for m in found], indent=2))
        return
    table = Table(title="risk models")
    for column in ("version", "promoted", "window", "rows", "AUC", "P@5%", "P@10%", "created"):
        table.add_column(column)
    for m in found:
        table.add_row(
            str(m.version),
            "yes" if m.promoted else "",
            f"{m.trained_from} .. {m.trained_to}",
            str(m.rows),
            _figure(m.metrics.get("auc")),
            _figure(m.metrics.get("precision@5%")),
            _figure(m.metrics.get("precision@10%")),
            f"{m.created_at:%Y-%m-%d %H:%M} by {m.created_by}",
        )
    _console().print(table)


@app.command("warnings")
def warnings_command(
    days: Annotated[int, typer.Option(min=1, max=366, help="The window: the last N days.")] = 7,
    until: Annotated[datetime | None, typer.Option(help="The window's end (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per warning.")] = False,
) -> None:
    """Early warnings about recent lodgements (unit-value outliers, surges, new traders with high values,
    origin circumvention), each with its evidence."""
    end = (until or datetime.now(UTC)).astimezone(UTC)
    with local_sessions()() as session:
        found = service.warnings(session, since=end - timedelta(days=days), until=end)
    if as_json:
        for warning in found:
            typer.echo(json.dumps(dataclasses.asdict(warning), default=str))
        return
    table = Table(
        "kind", "subject", "what", title=f"{len(found)} early warnings, {days} days to {end:%Y-%m-%d %H:%M}"
    )
    for warning in found:
        table.add_row(warning.kind, warning.subject, warning.text)
    _console().print(table)
