"""Logs are JSON lines carrying the request id; the id is echoed to the client."""

from __future__ import annotations

import io
import json
import logging

from fastapi.testclient import TestClient

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.db import make_engine, upgrade
from customhouse.observability import JsonFormatter


def test_every_log_line_of_a_request_carries_its_id(client, tokens):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("customhouse")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = client.get(
            "/api/v1/declarations", headers={"Authorization": "Bearer nope", "X-Request-ID": "req-42"}
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert response.headers["X-Request-ID"] == "req-42"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "customhouse.access"]
    assert access and access[-1]["request_id"] == "req-42"
    assert access[-1]["status"] == 401 and access[-1]["route"] == "/api/v1/declarations"


def test_health_says_unavailable_until_migrations_are_current(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with TestClient(create_app(Settings(), engine=engine, run_dispatcher=False)) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"database": True, "migrations": False}
        upgrade(engine)
        assert client.get("/healthz").status_code == 200
