"""Engine, sessions, the declarative Base, and migrations.

SQLite runs in WAL mode with foreign keys on. pysqlite's own transaction handling is switched off so
that we emit BEGIN ourselves: a session that will write starts with BEGIN IMMEDIATE (take the write
lock up front and wait for it with busy_timeout), because a deferred transaction that reads and then
writes fails at once with SQLITE_BUSY when another writer committed in between.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

WRITE = "customhouse_write"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table(model: type[Base]) -> Table:
    """The Core table of a mapped class, for bulk statements that skip the ORM."""
    return cast(Table, model.__table__)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: customhouse stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert_on_conflict(session: Session, model: Any) -> Any:
    """INSERT into `model`'s table in the session's dialect (PostgreSQL's or SQLite's), the one that
    has `on_conflict_do_nothing` and `on_conflict_do_update`."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=_json, **kwargs
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json, **kwargs)


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see the module docstring
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode across process crashes
    cursor.execute("PRAGMA busy_timeout=30000")
    # pages read through a memory map instead of a read() call each: random look-ups in large tables
    # (the ledger's stored hashes for a proof) run about a quarter faster (bench/ledger.py)
    cursor.execute(f"PRAGMA mmap_size={1 << 30}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def for_writing(session: Session) -> Session:
    """Mark the session's transaction as one that writes; call before its first statement."""
    session.connection(execution_options={WRITE: True})
    return session


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def _writer_lock(factory: sessionmaker[Session]) -> AbstractContextManager[Any]:
    """On SQLite, writers of this process queue on a lock instead of in SQLite's busy loop, which
    sleeps and retries and so lets some waiters be passed over again and again (long tail latency)."""
    bind = factory.kw.get("bind")
    engine = bind.engine if isinstance(bind, Connection) else bind
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return nullcontext()
    return _sqlite_writers.setdefault(engine, threading.RLock())


@contextmanager
def writing(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction writes, committed when the block ends without error."""
    with _writer_lock(factory), factory.begin() as session:
        for_writing(session)
        yield session


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("customhouse").joinpath("migrations")))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)


def migrations_current(engine: Engine) -> bool:
    with engine.connect() as connection:
        heads = set(ScriptDirectory.from_config(_alembic_config(connection)).get_heads())
        return set(MigrationContext.configure(connection).get_current_heads()) == heads
