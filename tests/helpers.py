"""Small helpers that several test modules share."""

from __future__ import annotations

import socket

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from customhouse.db import make_engine


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
