"""The suite runs on SQLite and on PostgreSQL: `backend` is parametrised over both.

Each test runs inside a transaction on one connection that is rolled back at the end; the code under
test commits to SAVEPOINTs (join_transaction_mode="create_savepoint"), as Warehouse's tests do.
PostgreSQL tests skip when no server answers at CUSTOMHOUSE_TEST_POSTGRES (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from customhouse.app import create_app, policy_from
from customhouse.config import Settings
from customhouse.db import make_engine, upgrade
from customhouse.declarations.service import Policy
from tests import factories

POSTGRES_URL = os.environ.get(
    "CUSTOMHOUSE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_engine() -> Engine:
    """A PostgreSQL engine on an emptied `public` schema, or a skip (a failure under CI)."""
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except OperationalError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not answering at {POSTGRES_URL}: {error.orig}")
    return engine


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = postgres_engine()
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def committing_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own on the same backend, for tests whose data must really commit (concurrent
    connections, crashes): on SQLite a new file, on PostgreSQL a new schema, dropped afterwards."""
    if engine.dialect.name == "sqlite":
        own = make_engine(f"sqlite:///{tmp_path / 'own.db'}")
        upgrade(own)
        yield own
        own.dispose()
        return
    schema = f"own_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    own = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    upgrade(own)
    yield own
    own.dispose()
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Declarations lodged "now" are assessed at the newest rate of the bundled ECB history, which stops
    # at the package's release: a training instance's look-back, so that the suite does not age.
    return Settings(
        database_url="sqlite://",
        country="KR",
        national_currency="KRW",
        var_dir=tmp_path / "var",
        rate_look_back_days=3660,
    )


@pytest.fixture
def policy(settings: Settings) -> Policy:
    return policy_from(settings)


@pytest.fixture
def tokens(session: Session) -> dict[str, str]:
    tokens = factories.world(session)
    session.commit()
    return tokens


@pytest.fixture
def client(
    connection: Connection, sessions: sessionmaker[Session], settings: Settings
) -> Iterator[TestClient]:
    app = create_app(settings, engine=connection.engine, sessions=sessions, run_dispatcher=False)
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
