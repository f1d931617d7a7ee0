"""`customhouse edifact submit|messages|message|manifest|schema`: a trader's EDIFACT gateway from the shell.

Like `customhouse declarations`, these commands are API clients: they send the token of the user they
act for (--token or CUSTOMHOUSE_TOKEN) to a running server. A refused interchange is listed segment by
segment (tag, number, reason) and the command exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from customhouse.cli_shared import TokenOption, UrlOption, api_client
from customhouse.exchange import wcodm
from customhouse.exchange.edifact.syntax import MEDIA_TYPE

app = typer.Typer(help="UN/EDIFACT: lodge CUSDEC and CUSCAR, read CUSRES responses.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _fail(response: httpx.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        errors.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1) from None
    errors.print(f"[red]{response.status_code} {body.get('title', '')}[/red]: {body.get('detail', '')}")
    segments = body.get("segments") or []
    if segments:
        table = Table("message", "segment", "number", "field", "reason")
        for error in segments:
            table.add_row(
                str(error.get("message", "")),
                error["tag"],
                str(error["position"]),
                error.get("pointer") or "",
                error["reason"],
            )
        errors.print(table)
    else:
        for error in body.get("errors", []):
            errors.print(f"  {error.get('pointer') or error.get('parameter') or '/'}: {error['detail']}")
    raise typer.Exit(1)


@app.command()
def submit(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="an interchange of CUSDEC or CUSCAR messages"
    ),
    token: str = TokenOption,
    url: str | None = UrlOption,
) -> None:
    """Lodge the interchange in FILE: its declarations (CUSDEC) or cargo reports (CUSCAR)."""
    with api_client(url, token) as client:
        response = client.post(
            "/api/v1/edifact", content=file.read_bytes(), headers={"Content-Type": MEDIA_TYPE}
        )
    if response.status_code not in (200, 201):
        _fail(response)
    result = response.json()
    if result["type"] == "CUSDEC":
        table = Table("message", "status", "id", "LRN", "MRN", "state", "lane", title="declarations")
        for lodged in result["declarations"]:
            table.add_row(
                lodged["message"],
                str(lodged["status"]),
                lodged["id"],
                lodged["lrn"],
                lodged["mrn"] or "",
                lodged["state"],
                lodged["lane"] or "",
            )
        console.print(table)
    for manifest in result["manifests"]:
        _print_manifest(manifest)


def _print_manifest(manifest: dict[str, object]) -> None:
    title = f"manifest {manifest['reference']} version {manifest['version']} ({manifest['state']})"
    table = Table("line", "transport document", "containers", "declarations", title=title)
    lines = manifest["lines"]
    assert isinstance(lines, list)
    for line in lines:
        matched = ", ".join(f"{m['lrn']} ({m['mrn'] or m['state']})" for m in line["matches"])
        table.add_row(
            str(line["sequence"]),
            line["transport_document"],
            " ".join(line["containers"]),
            matched or ("declared" if line["declared"] else "[yellow]no declaration yet[/yellow]"),
        )
    console.print(table)
    console.print(f"id {manifest['id']}")


@app.command()
def messages(token: str = TokenOption, url: str | None = UrlOption, after: str | None = None) -> None:
    """List your CUSRES responses, oldest first (--after ID to page on)."""
    with api_client(url, token) as client:
        response = client.get("/api/v1/edifact/messages", params={"after": after} if after else {})
    if response.status_code != 200:
        _fail(response)
    table = Table("id", "type", "status", "reference", "declaration", "at")
    for entry in response.json():
        table.add_row(
            entry["id"],
            entry["message_type"],
            entry["status"],
            entry["reference"],
            entry["declaration_id"],
            entry["created_at"],
        )
    console.print(table)


@app.command()
def message(message_id: str, token: str = TokenOption, url: str | None = UrlOption) -> None:
    """Print one CUSRES interchange as received (pipe it to a file)."""
    with api_client(url, token) as client:
        response = client.get(f"/api/v1/edifact/messages/{message_id}")
    if response.status_code != 200:
        _fail(response)
    typer.echo(response.text)


@app.command()
def manifest(report_id: str, token: str = TokenOption, url: str | None = UrlOption) -> None:
    """Show a cargo report: which declarations each line matches, and which lines have none yet."""
    with api_client(url, token) as client:
        response = client.get(f"/api/v1/edifact/manifests/{report_id}")
    if response.status_code != 200:
        _fail(response)
    _print_manifest(response.json())


@app.command()
def schema() -> None:
    """Print the declaration's JSON Schema with WCO Data Model ids (offline)."""
    typer.echo(json.dumps(wcodm.json_schema(), indent=2))
