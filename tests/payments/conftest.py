"""The payments API mounted on the test app with a demo gateway whose callbacks go through the test
client (no socket), and a var_dir of the test's own for key files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.payments import api
from customhouse.payments.demo import DemoGateway

SECRET = b"test-webhook-secret"
WEBHOOK = "/api/v1/payments/webhook"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url="sqlite://", country="KR", national_currency="KRW", var_dir=tmp_path / "var")


@pytest.fixture
def gateway() -> DemoGateway:
    return DemoGateway(secret=SECRET, webhook_url=WEBHOOK)


class Recorder:
    """Delivers the demo gateway's callbacks through the test client and keeps each one sent."""

    def __init__(self) -> None:
        self.client: TestClient | None = None
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        self.down = False  # while True, the webhook "cannot be reached"

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append((body, dict(headers)))
        if self.down or self.client is None:
            return 0
        return self.client.post(url, content=body, headers=dict(headers)).status_code


@pytest.fixture
def callbacks(gateway: DemoGateway) -> Recorder:
    recorder = Recorder()
    gateway.send = recorder
    return recorder


@pytest.fixture
def client(
    connection: Connection,
    sessions: sessionmaker[Session],
    settings: Settings,
    gateway: DemoGateway,
    callbacks: Recorder,
) -> Iterator[TestClient]:
    app = create_app(settings, engine=connection.engine, run_dispatcher=False)
    app.state.sessions = sessions
    api.install(app, settings, gateway=gateway)
    app.state.payment_gateway = gateway  # also once app.py installs the payments API itself
    with TestClient(app) as client:
        callbacks.client = client
        yield client
