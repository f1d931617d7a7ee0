"""`customhouse risk evaluate` on slices of the KCS files."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from customhouse.risk.cli import app

runner = CliRunner()
ROWS = 2500


def run(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["evaluate", *args, "--limit", str(ROWS), "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_evaluate_train_and_test_files_as_json(kcs: Path) -> None:
    out = run("--train", str(kcs / "df_syn_train_eng.csv"), "--test", str(kcs / "df_syn_valid_eng.csv"))
    assert out["mapping"] == "kcs" and out["seeds"] == [0]
    assert out["train"]["rows"] == ROWS and out["test"]["rows"] == ROWS
    assert out["train"]["to"] < out["test"]["from"]
    expected = {f"{kind}@{rate}%" for kind in ("precision", "recall") for rate in (1, 2, 5, 10)}
    assert expected | {"auc", "brier", "mean_probability"} == set(out["metrics"])  # no revenue column
    for figure in out["metrics"].values():
        assert 0.0 <= figure["mean"] <= 1.0 and figure["sd"] == 0.0
    assert out["metrics"]["auc"]["mean"] > 0.6


def test_evaluate_one_file_split_by_date_and_critical_fraud_changes_nothing(
    kcs: Path, tmp_path: Path
) -> None:
    with (kcs / "df_syn_train_eng.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(ROWS), reader, strict=False)]
        columns = list(reader.fieldnames or ())
    shuffled = [row["Critical Fraud"] for row in rows]
    random.Random(0).shuffle(shuffled)
    paths = []
    for name, leak in (("original", [row["Critical Fraud"] for row in rows]), ("permuted", shuffled)):
        path = tmp_path / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows({**row, "Critical Fraud": value} for row, value in zip(rows, leak, strict=True))
        paths.append(path)
    original, permuted = (run("--csv", str(path), "--test-fraction", "0.3") for path in paths)
    assert original["train"]["to"] < original["test"]["from"]
    assert 0.3 <= original["test"]["rows"] / ROWS < 0.5  # the latest dates, at least 30 % of rows
    assert original == permuted


def test_evaluate_refuses_ambiguous_inputs(kcs: Path) -> None:
    train = str(kcs / "df_syn_train_eng.csv")
    result = runner.invoke(app, ["evaluate", "--csv", train, "--train", train, "--test", train])
    assert result.exit_code == 2 and "either --csv" in result.output
    result = runner.invoke(app, ["evaluate", "--csv", train, "--mapping", "nope"])
    assert result.exit_code == 2 and "unknown mapping" in result.output


def test_human_table(kcs: Path) -> None:
    train, test = str(kcs / "df_syn_train_eng.csv"), str(kcs / "df_syn_valid_eng.csv")
    result = runner.invoke(
        app,
        ["evaluate", "--train", train, "--test", test, "--limit", "1500", "--seeds", "2", "--threads", "1"],
    )
    assert result.exit_code == 0, result.output
    assert "precision" in result.stdout and "AUC" in result.stdout and "±" in result.stdout
