"""What several domains' commands share: the options and HTTP client of the commands that talk to a
running server, and reading a JSON argument given inline or as a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from customhouse.config import get_settings

errors = Console(stderr=True)

TokenOption = typer.Option(..., envvar="CUSTOMHOUSE_TOKEN", help="API token (or set CUSTOMHOUSE_TOKEN)")
UrlOption = typer.Option(
    None, envvar="CUSTOMHOUSE_URL", help="server URL, default http://HOST:PORT from settings"
)


def api_client(url: str | None, token: str) -> httpx.Client:
    """An HTTP client of the server at `url` (default: the settings' host and port), as `token`."""
    settings = get_settings()
    base = url or f"http://{settings.host}:{settings.port}"
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300)


def json_argument(value: str, what: str) -> Any:
    """The JSON in the file named `value`, or `value` itself; exit status 2 naming `what` if neither."""
    path = Path(value)
    try:
        return json.loads(path.read_text() if path.is_file() else value)
    except json.JSONDecodeError as error:
        errors.print(f"[red]{what} is neither a JSON file nor JSON:[/red] {error}")
        raise typer.Exit(2) from None
