"""Killing a bulk import with SIGKILL at a random moment: after restart every declaration that was
acknowledged is there, and none is half written.

The real server runs in a subprocess (`customhouse serve`) on a database of its own (SQLite file, or a
PostgreSQL schema of its own). One request streams thousands of distinct declarations as NDJSON; the
acknowledgements (result lines with status 201) are collected as they arrive, and the server is killed
with SIGKILL after a random number of them, or after a random delay. After each kill the database is
checked directly, then the server is started again on it and reads back some acknowledged declarations.

Each round draws its kill moment, its batch size and its documents from a seed, printed at the start;
set CUSTOMHOUSE_CRASH_SEED to replay a run (the three rounds use seed, seed + 1, seed + 2).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from customhouse.assessment.models import AssessmentRecord
from customhouse.declarations.models import DeclarationRecord, DeclarationVersion, GoodsItemRecord
from customhouse.events import Event, OutboxEntry
from customhouse.payments.models import PaymentOrder, Security
from tests import factories
from tests.helpers import free_port

pytestmark = pytest.mark.slow

DECLARATIONS = 4000  # per round
ROUNDS = 3
BATCH_SIZES = (1, 40, 200, 500)  # CUSTOMHOUSE_BULK_BATCH_SIZE: declarations per committed transaction


def _seed() -> int:
    return int(os.environ.get("CUSTOMHOUSE_CRASH_SEED") or random.SystemRandom().randrange(2**31))


# ---------------------------------------------------------------- the server in a subprocess


def _command(port: int) -> list[str]:
    script = shutil.which("customhouse", path=str(Path(sys.executable).parent))
    if script:
        return [script, "serve"]
    return [
        sys.executable,
        *("-m", "uvicorn", "customhouse.app:create_app", "--factory"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]


@dataclass
class Server:
    database_url: str
    workdir: Path
    batch_size: int = 500
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CUSTOMHOUSE_")}
        env |= {
            "CUSTOMHOUSE_DATABASE_URL": self.database_url,
            "CUSTOMHOUSE_HOST": "127.0.0.1",
            "CUSTOMHOUSE_PORT": str(self.port),
            "CUSTOMHOUSE_BULK_BATCH_SIZE": str(self.batch_size),
            "CUSTOMHOUSE_LOG_LEVEL": "WARNING",
            "CUSTOMHOUSE_RATE_LOOK_BACK_DAYS": "3660",  # the bundled ECB rates end at the package's release
        }
        self.log = self.workdir / f"server-{time.monotonic_ns()}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                _command(self.port), env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the server did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log else ""

    def kill(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


# ---------------------------------------------------------------- the import and the kill


def documents(rng: random.Random, prefix: str) -> list[dict[str, Any]]:
    """Distinct valid declarations: one or two items, some missing their transport document (yellow
    lane: under control), some pre-arrival (lodged, no MRN yet)."""
    out = []
    for number in range(DECLARATIONS):
        document = factories.declaration(lrn=f"{prefix}-{number:05d}")
        items = document["goods_items"][: rng.choice((1, 2))]
        document["goods_items"] = items
        document["invoice_total"] = str(sum(Decimal(item["price"]) for item in items))
        roll = rng.random()
        if roll < 0.15:
            document["documents"] = document["documents"][:1]
        elif roll < 0.25:
            document["pre_arrival"] = True
        out.append(document)
    return out


@dataclass
class Round:
    seed: int
    number: int

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.batch_size = rng.choice(BATCH_SIZES)
        # Mostly after some acknowledgements (the server is then inside a later batch); sometimes at a
        # moment counted from the start of the request, acknowledged or not.
        self.by_acks = rng.random() < 0.8
        self.after_acks = rng.randrange(0, min(1000, 3 * self.batch_size) + 1)
        self.delay = rng.uniform(0, 0.5) if self.by_acks else rng.uniform(0.05, 1.5)
        self.documents = documents(rng, f"K{self.number}S{self.seed % 100_000}")

    def __str__(self) -> str:
        moment = f"{self.after_acks} acks + {self.delay:.3f}s" if self.by_acks else f"{self.delay:.3f}s"
        return f"round {self.number}: seed={self.seed} batch_size={self.batch_size} kill after {moment}"


def import_and_kill(server: Server, token: str, plan: Round) -> dict[str, dict[str, Any]]:
    """Stream the round's documents in one request; SIGKILL the server at the planned moment.
    Returns the acknowledged results (status 201) by LRN, as they were read before the connection died."""
    assert server.process is not None
    pid = server.process.pid  # not reaped before Server.kill() waits for it, so never reused meanwhile
    acks: dict[str, dict[str, Any]] = {}
    due = threading.Event()
    killed = threading.Event()

    def kill_when_due() -> None:
        due.wait(timeout=30)  # acknowledgements are late: the kill comes anyway
        time.sleep(plan.delay)
        killed.set()
        os.kill(pid, signal.SIGKILL)

    def body() -> Iterator[bytes]:
        for start in range(0, len(plan.documents), 50):
            chunk = plan.documents[start : start + 50]
            yield b"".join(json.dumps(document, separators=(",", ":")).encode() + b"\n" for document in chunk)

    # httpx writes the whole request body before it reads the response. Large socket buffers let the
    # body be handed to the kernel at once (so results are read as they come), and keep the server
    # from blocking on its answers while the body is still going (the kernel caps them at
    # net.core.wmem_max and rmem_max).
    buffers = [(socket.SOL_SOCKET, option, 8 << 20) for option in (socket.SO_SNDBUF, socket.SO_RCVBUF)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    killer = threading.Thread(target=kill_when_due, daemon=True)
    killer.start()
    if not plan.by_acks or plan.after_acks == 0:
        due.set()
    try:
        with (
            httpx.Client(transport=httpx.HTTPTransport(socket_options=buffers), timeout=60) as client,
            client.stream(
                "POST", f"{server.url}/api/v1/declarations/bulk", content=body(), headers=headers
            ) as r,
        ):
            assert r.status_code == 200, r.read()
            for line in r.iter_lines():
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:
                    assert killed.is_set(), line  # only a line cut short by the kill may be torn
                    break
                assert result["status"] == 201, result
                acks[result["lrn"]] = result
                if len(acks) >= plan.after_acks:
                    due.set()
    except httpx.TransportError:
        assert killed.is_set(), f"the connection broke before the kill:\n{server.output()}"
    finally:
        due.set()
        killer.join(timeout=60)
        returncode = server.kill()
    assert returncode == -signal.SIGKILL, f"the server was not killed but exited:\n{server.output()}"
    return acks


# ---------------------------------------------------------------- what must hold after the kill


def check_database(engine: Engine, acks: dict[str, dict[str, Any]], sent: dict[str, dict[str, Any]]) -> int:
    """Every acknowledged declaration is stored as acknowledged; every stored declaration is whole.
    Returns how many declarations of this round are stored."""
    with Session(engine) as session:
        records = {record.id: record for record in session.scalars(select(DeclarationRecord))}
        versions: dict[uuid.UUID, list[DeclarationVersion]] = defaultdict(list)
        for version in session.scalars(select(DeclarationVersion)):
            versions[version.declaration_id].append(version)
        items: dict[uuid.UUID, list[GoodsItemRecord]] = defaultdict(list)
        for item in session.scalars(select(GoodsItemRecord)):
            items[item.declaration_id].append(item)
        events: dict[str, list[Event]] = defaultdict(list)
        event_ids = set()
        for event in session.scalars(select(Event).order_by(Event.id)):
            if event.aggregate_type == "declaration":
                events[event.aggregate_id].append(event)
            event_ids.add(event.event_id)
        outbox = set(session.scalars(select(OutboxEntry.event_id)))
        assessed = Counter(session.scalars(select(AssessmentRecord.declaration_id)))
        owed = {row.declaration_id: row.owed for row in session.scalars(select(AssessmentRecord))}
        orders = Counter(session.scalars(select(PaymentOrder.declaration_id)))
        secured = Counter(session.scalars(select(Security.declaration_id)))

    by_lrn = {record.lrn: record for record in records.values()}
    assert len(by_lrn) == len(records), "an LRN is stored twice"
    for lrn, ack in acks.items():
        record = by_lrn.get(lrn)
        assert record is not None, f"acknowledged {lrn} ({ack['id']}) is not stored"
        assert (str(record.id), record.mrn, record.lane) == (ack["id"], ack["mrn"], ack["lane"]), ack
        # the state as acknowledged, or released since by the dispatcher (assessed and secured)
        assert record.state in {ack["state"], "released"}, (ack, record.state)

    assert set(versions) <= set(records) and set(items) <= set(records)
    stray = {aggregate for aggregate in events if uuid.UUID(aggregate) not in records}
    assert not stray, f"events of declarations that are not stored: {sorted(stray)[:5]}"
    assert outbox <= event_ids, f"outbox rows without their event: {sorted(outbox - event_ids)[:5]}"
    assert set(assessed) <= set(records), "assessments of declarations that are not stored"
    assert set(orders) | set(secured) <= set(records), (
        "payment orders or securities of declarations not stored"
    )

    this_round = 0
    for identifier, record in records.items():
        if record.lrn in sent:
            this_round += 1
        whole = f"declaration {record.lrn} ({identifier}) is half written"
        assert [version.version for version in versions[identifier]] == [1], whole
        (version,) = versions[identifier]
        assert version.content_hash == record.content_hash, whole
        document = version.document
        assert document["lrn"] == record.lrn, whole
        if record.lrn in sent:
            assert len(document["goods_items"]) == len(sent[record.lrn]["goods_items"]), whole
        stored_items = sorted(
            (item.sequence, item.hs_code, item.origin, Decimal(item.net_mass), Decimal(item.price))
            for item in items[identifier]
        )
        stated_items = sorted(
            (
                item["sequence"],
                item["hs_code"],
                item["origin"],
                Decimal(item["net_mass"]),
                Decimal(item["price"]),
            )
            for item in document["goods_items"]
        )
        assert stored_items == stated_items, whole
        kinds = Counter(event.type for event in events[str(identifier)])
        assert kinds["declaration.lodged"] == 1, (whole, kinds)
        if record.mrn is not None:
            (accepted,) = [event for event in events[str(identifier)] if event.type == "declaration.accepted"]
            assert accepted.data["mrn"] == record.mrn, whole
        else:
            assert record.state == "lodged" and kinds["declaration.accepted"] == 0, (whole, kinds)
        assert kinds["declaration.released"] == (record.state == "released"), (whole, kinds)
        # assessed at most once (by the dispatcher, after lodgement: the kill may come first); what it
        # owes then ordered once and secured once (the trader's account); released only once assessed
        accepted_import = record.mrn is not None and record.kind == "import"
        assert assessed[identifier] == kinds["declaration.assessed"] <= accepted_import, (whole, kinds)
        due = assessed[identifier] == 1 and owed[identifier] > 0
        assert orders[identifier] == secured[identifier] == due, whole
        if record.state == "released":
            assert assessed[identifier] or not accepted_import, whole
    return this_round


def check_sqlite_file(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []


def check_through_the_api(
    server: Server, token: str, acks: dict[str, dict[str, Any]], rng: random.Random
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for ack in rng.sample(sorted(acks.values(), key=lambda ack: ack["lrn"]), min(25, len(acks))):
            response = client.get(f"/api/v1/declarations/{ack['id']}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["mrn"], body["document"]["lrn"]) == (ack["mrn"], ack["lrn"])
            assert body["state"] in {ack["state"], "released"}  # released since, once assessed


# ---------------------------------------------------------------- the test


def _server_url(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    url = engine.url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def test_acknowledged_declarations_survive_sigkill_and_none_is_half_written(committing_engine, tmp_path):
    with Session(committing_engine) as session:
        token = factories.world(session)["trader"]
        session.commit()
    seed = _seed()
    print(f"CUSTOMHOUSE_CRASH_SEED={seed} ({committing_engine.dialect.name})")
    plans = [Round(seed + number, number) for number in range(ROUNDS)]
    server = Server(_server_url(committing_engine), tmp_path, batch_size=plans[0].batch_size)
    try:
        server.start()
        for number, plan in enumerate(plans):
            print(plan)
            started = time.monotonic()
            acks = import_and_kill(server, token, plan)
            print(f"  {len(acks)} acknowledged before the kill, {time.monotonic() - started:.1f}s")
            assert len(acks) < DECLARATIONS, f"{plan}: the import ended before the kill; nothing was tested"

            sent = {document["lrn"]: document for document in plan.documents}
            stored = check_database(committing_engine, acks, sent)
            check_sqlite_file(committing_engine)
            print(f"  {stored} stored of {len(sent)} sent")
            assert len(acks) <= stored <= len(sent)

            # Restart (with the next round's batch size): the server serves what it acknowledged.
            server.batch_size = plans[min(number + 1, ROUNDS - 1)].batch_size
            server.start()
            check_through_the_api(server, token, acks, random.Random(plan.seed))
    finally:
        server.stop()
