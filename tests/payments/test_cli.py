"""`customhouse payments reconcile` and `redeliver` against a database of their own (SQLite)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from customhouse.config import get_settings
from customhouse.db import writing
from customhouse.payments import service
from customhouse.payments.cli import app
from customhouse.payments.demo import DemoGateway
from tests.helpers import cli_database
from tests.payments.helpers import SUPERVISOR_P, TRADER_P, callback, new_order

runner = CliRunner()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    with cli_database(
        tmp_path,
        monkeypatch,
        CUSTOMHOUSE_PORT=str(closed_port()),  # the webhook: nobody listens there
    ) as sessions:
        yield sessions


def test_reconcile_lists_a_charge_whose_callback_never_arrived(sessions):
    gateway = DemoGateway.from_settings(get_settings())
    with writing(sessions) as session:
        order, _ = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
        reference = service.start_payment(session, order_id=order.id, by=TRADER_P, gateway=gateway).reference
    assert runner.invoke(app, ["reconcile"]).exit_code == 0
    with writing(sessions) as session:
        gateway.charge(session, reference=reference, payer="Kim", succeed=True)
    result = runner.invoke(app, ["reconcile"])
    assert result.exit_code == 1
    assert reference in result.output and "pending" in result.output and "1 disagreement" in result.output
    with writing(sessions) as session:
        service.apply_callback(session, gateway="demo", callback=callback(reference))
    result = runner.invoke(app, ["reconcile"])
    assert result.exit_code == 0 and "agree" in result.output


def test_redeliver_sends_what_the_webhook_did_not_acknowledge(sessions):
    sent: list[bytes] = []
    gateway = DemoGateway.from_settings(get_settings())
    with writing(sessions) as session:
        order, _ = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
        reference = service.start_payment(session, order_id=order.id, by=TRADER_P, gateway=gateway).reference
        gateway.charge(session, reference=reference, payer="Kim", succeed=True)
    result = runner.invoke(app, ["redeliver"])  # no server listens: nothing delivered
    assert result.exit_code == 1 and "0 of 1" in result.output
    gateway.send = lambda url, body, headers: sent.append(body) or 200
    assert gateway.deliver(sessions, reference=reference)
    with sessions() as session:
        assert gateway.undelivered(session) == []
    assert len(sent) == 1 and reference.encode() in sent[0]
