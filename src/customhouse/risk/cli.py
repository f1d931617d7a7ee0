"""`customhouse risk ...`: the learned model's evaluation on historical files (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from customhouse.risk import evaluate as ev

app = typer.Typer(help="Risk management: the learned risk model.", no_args_is_help=True)

_STEPS_PER_SEED = 3  # calibration model, final model, scoring


@app.callback()
def risk() -> None:
    """Risk management: the learned risk model."""


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
