"""Declarations from the command line. These commands are API clients, like any trader's system:
they send the token of the user they act for (--token or CUSTOMHOUSE_TOKEN) to a running server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from customhouse.cli_shared import TokenOption, UrlOption, api_client

app = typer.Typer(help="Read declarations through the API.", no_args_is_help=True)
console = Console(stderr=True)

CHUNK = 1000  # lines per bulk request: results come back per request, so none waits on a huge upload


def _lines(path: Path) -> list[bytes]:
    """NDJSON lines of a .ndjson file, or one line per declaration of a .json file (object or array)."""
    raw = path.read_bytes()
    if path.suffix == ".json":
        data = json.loads(raw)
        return [json.dumps(item).encode() for item in (data if isinstance(data, list) else [data])]
    return [line for line in raw.splitlines() if line.strip()]


def _fail(response: httpx.Response) -> None:
    console.print(f"[red]{response.status_code}[/red] {response.text}")
    raise typer.Exit(1)


def submit(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON (object or array) or NDJSON files"
    ),
    token: str = TokenOption,
    url: str | None = UrlOption,
) -> None:
    """Lodge the declarations in FILES, showing progress; problems are listed by file and line."""
    counts: Counter[str] = Counter()
    with (
        api_client(url, token) as client,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress,
    ):
        for path in files:
            lines = _lines(path)
            task = progress.add_task(path.name, total=len(lines))
            for start in range(0, len(lines), CHUNK):
                chunk = lines[start : start + CHUNK]
                response = client.post(
                    "/api/v1/declarations/bulk",
                    content=b"\n".join(chunk),
                    headers={"Content-Type": "application/x-ndjson"},
                )
                if response.status_code != 200:
                    _fail(response)
                for text in filter(None, response.text.split("\n")):  # NDJSON lines end at LF only
                    result = json.loads(text)
                    status = result["status"]
                    counts[
                        "lodged" if status == 201 else "already lodged" if status == 200 else "rejected"
                    ] += 1
                    if status >= 400:
                        problem = result["problem"]
                        where = "; ".join(
                            f"{e.get('pointer') or '/'} {e['detail']}" for e in problem.get("errors", [])
                        )
                        progress.console.print(
                            f"{path}:{start + result['line']}: {problem['detail']} {where}"
                        )
                progress.advance(task, len(chunk))
    console.print(
        ", ".join(f"{count} {what}" for what, count in sorted(counts.items())) or "nothing to submit"
    )
    if counts["rejected"]:
        raise typer.Exit(1)


@app.command("list")
def list_declarations(
    token: str = TokenOption,
    url: str | None = UrlOption,
    state: str | None = None,
    lane: str | None = None,
    office: str | None = None,
    hs_prefix: str | None = None,
    limit: int = 20,
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line instead of a table"),
) -> None:
    """The newest declarations you may see."""
    params: dict[str, Any] = {
        key: value
        for key, value in {
            "state": state,
            "lane": lane,
            "office": office,
            "hs_prefix": hs_prefix,
            "limit": limit,
        }.items()
        if value is not None
    }
    with api_client(url, token) as client:
        response = client.get("/api/v1/declarations", params=params)
    if response.status_code != 200:
        _fail(response)
    items = response.json()["items"]
    if as_json:
        for item in items:
            typer.echo(json.dumps(item))
        return
    table = Table("id", "LRN", "MRN", "kind", "state", "lane", "office", "lodged")
    for item in items:
        document = item["document"]
        table.add_row(
            item["id"],
            document["lrn"],
            item["mrn"] or "",
            document["kind"],
            item["state"],
            item["lane"] or "",
            document["office_of_lodgement"],
            (item["lodged_at"] or "")[:19],
        )
    Console().print(table)


@app.command("show")
def show(
    reference: str = typer.Argument(..., help="the declaration's id or MRN"),
    token: str = TokenOption,
    url: str | None = UrlOption,
) -> None:
    """One declaration as JSON, with its assessments (what it owes, line by line) and its audit trail."""
    with api_client(url, token) as client:
        path = (
            f"/api/v1/declarations/{reference}"
            if len(reference) == 36
            else f"/api/v1/declarations/by-mrn/{reference}"
        )
        response = client.get(path)
        if response.status_code != 200:
            _fail(response)
        declaration = response.json()
        audit = client.get(f"/api/v1/declarations/{declaration['id']}/audit").json()
        assessments = client.get(f"/api/v1/declarations/{declaration['id']}/assessments").json()
    shown = {"declaration": declaration, "assessments": assessments, "audit": audit}
    typer.echo(json.dumps(shown, indent=2))
