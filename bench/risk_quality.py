"""Risk model quality (issue 4, "Evaluation on historical data"): the KCS synthetic data, train -> valid.

risk.precision_at_5 / _10: the learned model (`customhouse.risk`: entity-history and unit-value features,
LightGBM, default parameters) trained on `df_syn_train_eng.csv` (2020) and scored on `df_syn_valid_eng.csv`
(2021 Q1), whose outcomes it never sees; mean ± sd over seeds 0-4. Beside it, measured in the same run:
plain LightGBM on the raw columns (every mapped column label-encoded, the same LightGBM parameters and
seeds: only the features differ) and a random selection (its precision is the valid quarter's fraud rate).
The published LightGBM (paper Table 3, on the held-out test quarter) is printed as a constant, labelled so.
The issue's floors: Precision@5% >= 0.94 and Precision@10% >= 0.86.

    python bench/risk_quality.py              # 5 seeds, about a minute on a quiet machine
    python bench/risk_quality.py --seeds 2    # quicker

stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from customhouse.risk import evaluate as ev
from customhouse.risk.features import Records
from customhouse.risk.model import Params, fit_booster

PLACES = [  # beside the checkout, or where this machine keeps it when the checkout is a clone elsewhere
    Path(__file__).resolve().parents[2] / "shared/data/customs-risk",
    Path("/work/shared/data/customs-risk"),
]
DATA = Path(
    os.environ.get("CUSTOMHOUSE_RISK_DATA")
    or next((place for place in PLACES if (place / "df_syn_train_eng.csv").exists()), PLACES[0])
)
FLOORS = {"precision@5%": 0.94, "precision@10%": 0.86}
PUBLISHED = {"precision@5%": 0.762, "precision@10%": 0.641}  # paper Table 3, LightGBM, test quarter
FIGURES = ("precision@5%", "precision@10%", "recall@5%", "recall@10%", "auc")


def label_encoded(train: Records, test: Records) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The raw mapped columns (not the date): amounts as they are, codes numbered in the training file."""
    names = [name for name in train if name not in ("date", "declaration_id")]
    columns_train, columns_test = [], []
    for name in names:
        if train[name].dtype.kind == "f":
            columns_train.append(train[name])
            columns_test.append(test[name])
            continue
        vocabulary = {value: code for code, value in enumerate(np.unique(train[name]).tolist())}
        columns_train.append(np.array([vocabulary[v] for v in train[name].tolist()], dtype=np.float64))
        columns_test.append(np.array([vocabulary.get(v, -1) for v in test[name].tolist()], dtype=np.float64))
    return np.column_stack(columns_train), np.column_stack(columns_test), names


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads (the machine is shared)")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    train = ev.read(DATA / "df_syn_train_eng.csv", "kcs")
    test = ev.read(DATA / "df_syn_valid_eng.csv", "kcs")
    fraud_rate = float(np.mean(test[1]))
    errors = Console(stderr=True)

    started = time.perf_counter()
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("risk model", total=len(seeds) * 3)
        ours = ev.evaluate(
            train, test, seeds=seeds, threads=args.threads, on_step=lambda m: progress.update(task, advance=1)
        ).summary
        ours_seconds = time.perf_counter() - started
        plain = ev.Summary()
        x_train, x_test, names = label_encoded(train[0], test[0])
        plain_task = progress.add_task("plain LightGBM", total=len(seeds))
        for seed in seeds:
            booster = fit_booster(x_train, train[1], Params(), seed=seed, threads=args.threads, names=names)
            plain.add(ev.metrics(test[1], booster.predict(x_test, raw_score=True)))
            progress.update(plain_task, advance=1)

    title = (
        f"risk quality: KCS train ({train[1].size:,}) -> valid ({test[1].size:,}), {len(seeds)} seeds, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    table = Table(title=title)
    for column in ("figure", "risk model", "plain LightGBM, raw columns", "ratio", "published LightGBM*"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_column("random", justify="right")
    table.add_column("floor", justify="right")
    ok = True
    for name in FIGURES:
        mean, plain_mean = ours.mean(name), plain.mean(name)
        floor = FLOORS.get(name)
        verdict = ""
        if floor is not None:
            met = mean >= floor
            ok &= met
            verdict = f"{floor:.2f} [{'green' if met else 'red'}]{'met' if met else 'MISSED'}[/]"
        random_figure = fraud_rate if name.startswith("precision") else (0.5 if name == "auc" else None)
        if name.startswith("recall"):
            random_figure = float(name.split("@")[1].rstrip("%")) / 100
        table.add_row(
            name,
            f"{mean:.4f} ± {ours.sd(name):.4f}",
            f"{plain_mean:.4f} ± {plain.sd(name):.4f}",
            f"{mean / plain_mean:.2f}",
            f"{PUBLISHED[name]:.3f}" if name in PUBLISHED else "",
            f"{random_figure:.3f}" if random_figure is not None else "",
            verdict,
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(
        "* published: paper Table 3 (arXiv:2208.02484), mean of 5 runs on the held-out test quarter, not "
        f"measured here. Risk model: {ours_seconds:.0f} s for {len(seeds)} seeds (calibration and final "
        f"model each); calibration on valid: mean probability {ours.mean('mean_probability'):.4f} vs "
        f"observed {fraud_rate:.4f}, Brier {ours.mean('brier'):.4f}."
    )
    for name in FIGURES:
        figure: dict[str, Any] = {
            "bench": "risk." + name.replace("@", "_at_").rstrip("%"),
            "value": round(ours.mean(name), 4),
            "unit": "AUC" if name == "auc" else name.split("@")[0],
            "vs": "plain LightGBM on raw columns",
            "vs_value": round(plain.mean(name), 4),
        }
        if name in FLOORS:
            figure["floor"] = FLOORS[name]
        print(json.dumps(figure), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
