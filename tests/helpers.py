"""Small helpers that several test modules share."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from customhouse.config import get_settings
from customhouse.db import make_engine, make_session_factory, upgrade


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def own_connections(engine: Engine) -> Engine:
    """An engine on the same database that opens a new connection for every checkout, so that each
    of many threads really has its own (the default pool stops at 15)."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        return make_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        path = connection.exec_driver_sql("SHOW search_path").scalar()
    return make_engine(url, poolclass=NullPool, connect_args={"options": f"-csearch_path={path}"})


@contextmanager
def cli_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **environment: str
) -> Iterator[sessionmaker[Session]]:
    """A migrated SQLite file that the CLI commands of the test use (CUSTOMHOUSE_DATABASE_URL, a
    CUSTOMHOUSE_VAR_DIR of its own and `environment`, settings read again), and sessions on it."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CUSTOMHOUSE_DATABASE_URL", url)
    monkeypatch.setenv("CUSTOMHOUSE_VAR_DIR", str(tmp_path / "var"))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        get_settings.cache_clear()
