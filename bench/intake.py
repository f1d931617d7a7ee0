"""Intake benchmark (issue 2, "Measured"): how fast declarations get in, each figure beside a comparison
measured in the same run (the machines are shared and noisy: read the ratios, not the absolute times).

1. intake.service: `declarations.service.lodge_many` (decode, validate, registry and LRN checks, MRN
   and lane, persist, write the events to the outbox) of 3-item import declarations on a fresh SQLite
   file migrated with `customhouse.db.upgrade`, one transaction per batch of 500 as the API commits.
   Beside it: json.loads of the same NDJSON lines plus a bare sqlite3 executemany of one row per
   declaration holding its JSON text, into a fresh SQLite file in WAL mode (synchronous=NORMAL, as
   customhouse.db sets), also committed per 500. The issue's floor: 2,000 declarations/s.
1b. intake.assessed: then the event dispatcher's work on the same declarations, as a server does it
   after lodgement: assess each import under the demo tariff at the ECB rate, store the breakdown,
   order what it owes, secure it on the trader's deferment account and release the goods (passes of
   500 events). Beside it: the figure of 1.
2. intake.http_bulk: POST /api/v1/declarations/bulk over loopback HTTP to a real `customhouse serve`
   subprocess (its event dispatcher running), requests of 1,000 NDJSON lines sent one after another
   as `customhouse submit` does, every result line read and checked. Beside it: the figure of 1.
3. intake.http_single.*: POST /api/v1/declarations from 50 concurrent keep-alive connections, each
   sending its next request when the last is answered: p50, p99 and throughput. Beside each: GET
   /healthz under the same concurrency. /healthz is not free (it opens a connection and asks Alembic
   whether the migrations are current), so the table also shows GET /problems/validation, a static
   text page, for the cost of the HTTP stack alone.

The client runs in this process and competes with the server for the machine's two cores. It is a
minimal HTTP/1.1 client on asyncio streams, not httpx.AsyncClient, whose connection pool costs more
than the server at 50 concurrent requests (encode/httpx#3215): with it a static page measured ~165
requests/s here, with plain connections over 1,000. Each HTTP phase stops at a time budget if it has
not finished its count, so that a slow server cannot stretch the run; the table says how many were
measured. After the server stops, the table reports how many events its outbox still held.

    python bench/intake.py           # the full run, two to three minutes
    python bench/intake.py --quick   # a smaller run, for a smoke test

Progress goes to stderr; stdout gets the table, then one JSON object per figure, one per line, last.
A figure that could not be measured has "value": null and an "error"; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.factories holds the reference valid document

import httpx  # noqa: E402
import orjson  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from tests.factories import BASE, TRADER  # noqa: E402

from customhouse.app import policy_from  # noqa: E402
from customhouse.auth.service import Principal, Role, create_user  # noqa: E402
from customhouse.config import Settings  # noqa: E402
from customhouse.db import for_writing, make_engine, make_session_factory, upgrade  # noqa: E402
from customhouse.declarations import service  # noqa: E402
from customhouse.declarations.models import DeclarationRecord  # noqa: E402
from customhouse.declarations.service import ASSESSED_ON, SETTLED_ON, assessing  # noqa: E402
from customhouse.events import Dispatcher  # noqa: E402
from customhouse.parties import service as parties  # noqa: E402
from customhouse.payments import service as payments  # noqa: E402
from customhouse.payments.schemas import NewGuarantee  # noqa: E402
from customhouse.reference import codes  # noqa: E402
from customhouse.tariff import service as tariff  # noqa: E402

FLOOR_SERVICE = 2000.0  # declarations/s, issue 2
SPECIFIC_UNITS = ("22", "2402", "6403")
DEMO_TARIFF = (ROOT / "src" / "customhouse" / "tariff" / "data" / "demo-tariff.yaml").read_text(
    encoding="utf-8"
)
LOOK_BACK_DAYS = 3660  # the bundled ECB rates end at the package's release, as for `make run`
BATCH = 500  # declarations per transaction, as the API's bulk_batch_size
CONCURRENCY = 50
BULK_LINES = 1000  # lines per bulk request, as `customhouse submit` sends
T = TypeVar("T")

err = Console(stderr=True)


@dataclass(frozen=True)
class Scale:
    service: int  # declarations lodged through the service layer (after a warm-up batch)
    bulk: int  # declarations sent to the NDJSON endpoint (after a warm-up request)
    single: int  # single-declaration requests
    health: int  # GET /healthz requests, and as many of the static page
    bulk_seconds: float  # time budgets of the HTTP phases
    single_seconds: float
    health_seconds: float


FULL = Scale(10_000, 20_000, 3_000, 3_000, bulk_seconds=60, single_seconds=40, health_seconds=20)
QUICK = Scale(1_000, 2_000, 300, 300, bulk_seconds=15, single_seconds=10, health_seconds=5)


@dataclass
class Figure:
    bench: str
    value: float | None  # None: not measured, see `error`
    unit: str
    vs: str
    vs_value: float | None
    floor: float | None = None
    count: int | None = None  # how many declarations or requests the value rests on
    error: str | None = None

    def as_json(self) -> str:
        out: dict[str, Any] = {
            "bench": self.bench,
            "value": None if self.value is None else round(self.value, 2),
            "unit": self.unit,
            "vs": self.vs,
            "vs_value": None if self.vs_value is None else round(self.vs_value, 2),
        }
        if self.floor is not None:
            out["floor"] = self.floor
        if self.error:
            out["error"] = self.error
        return json.dumps(out)


class Failed(Exception):
    """A measurement that could not be taken: the endpoint answered wrongly, or not at all."""


# ---------------------------------------------------------------- documents


def generate(count: int, *, prefix: str, seed: int) -> list[bytes]:
    """`count` valid, distinct import declarations of 3 items as NDJSON lines (no newline)."""
    rng = random.Random(seed)
    # not the goods whose duty needs a quantity in litres of alcohol, items or pairs (22, 2402, 6403)
    hs = sorted(code for code in codes.hs_subheadings() if not code.startswith(SPECIFIC_UNITS))
    described = codes.hs_descriptions()
    origins = ["CN", "VN", "JP", "US", "DE", "TH", "IN"]
    today = date.today()
    template = copy.deepcopy(BASE)
    for offset, supporting in zip((30, 28), template["documents"], strict=False):
        supporting["issued_on"] = (today - timedelta(days=offset)).isoformat()  # never after today
    lines = []
    for number in range(count):
        document = dict(template)  # shallow: only top-level fields are replaced below
        items, total = [], 0
        for sequence in (1, 2, 3):
            code = rng.choice(hs)
            cents = rng.randint(1_000, 2_000_000)
            net = rng.randint(100, 2_000_000)  # grams
            gross = net + rng.randint(0, 200_000)
            total += cents
            items.append(
                {
                    "sequence": sequence,
                    "hs_code": code,
                    "description": (described.get(code) or "goods").strip()[:512] or "goods",
                    "origin": rng.choice(origins),
                    "quantity": str(rng.randint(1, 5_000)),
                    "unit": rng.choice(("C62", "KGM")),
                    "gross_mass": f"{gross / 1000:.3f}",
                    "net_mass": f"{net / 1000:.3f}",
                    "price": f"{cents // 100}.{cents % 100:02d}",
                    "procedure": "4000",
                }
            )
        document["lrn"] = f"{prefix}{number:07d}"
        document["goods_items"] = items
        document["invoice_total"] = f"{total // 100}.{total % 100:02d}"
        lines.append(orjson.dumps(document))
    return lines


def chunks(seq: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def principal() -> Principal:
    return Principal(name="bench-trader", roles=frozenset({Role.TRADER}), party_id=TRADER)


def policy(url: str) -> service.Policy:
    return policy_from(Settings(database_url=url, country="KR", rate_look_back_days=LOOK_BACK_DAYS))


def prepare(session: Session) -> None:
    """The demo tariff in force, and the trader registered with a deferment account (release at once)."""
    tariff.replace_tariff(session, text=DEMO_TARIFF, source="demo-tariff.yaml", by="bench")
    parties.register(session, id=TRADER, name=BASE["declarant"]["name"], country="KR")
    account = NewGuarantee(party_id=TRADER, kind="deferment", limit=Decimal(10**11), currency="KRW")
    payments.open_guarantee(session, guarantee=account, by=Principal("bench", frozenset({Role.SUPERVISOR})))


# ---------------------------------------------------------------- 1. service layer and its floor


def floor_sqlite(lines: Sequence[bytes], path: Path, progress: Progress) -> float:
    """json.loads + bare sqlite3 executemany, one row per declaration, a commit per batch; decl/s."""
    task = progress.add_task("floor: json.loads + sqlite3", total=len(lines))
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE declarations (id INTEGER PRIMARY KEY, lrn TEXT NOT NULL, document TEXT NOT NULL)"
    )
    started = time.perf_counter()
    for batch in chunks(lines, BATCH):
        rows = []
        for line in batch:
            document = json.loads(line)
            rows.append((document["lrn"], line.decode()))
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO declarations (lrn, document) VALUES (?, ?)", rows)
        connection.execute("COMMIT")
        progress.advance(task, len(batch))
    elapsed = time.perf_counter() - started
    stored = connection.execute("SELECT count(*) FROM declarations").fetchone()[0]
    connection.close()
    if stored != len(lines):
        raise SystemExit(f"floor: {stored} rows stored of {len(lines)}")
    return len(lines) / elapsed


def service_layer(
    lines: Sequence[bytes], warmup: Sequence[bytes], path: Path, progress: Progress
) -> tuple[float, float]:
    """orjson.loads (as the API decodes) + lodge_many per batch of 500, committed; then the dispatcher's
    assessment and release of them all; (lodged decl/s, assessed decl/s)."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        prepare(session)
    by, rules = principal(), policy(url)

    def lodge(batch: Sequence[bytes]) -> int:
        documents = [orjson.loads(line) for line in batch]
        with factory() as session:
            for_writing(session)
            outcomes = service.lodge_many(session, documents=documents, by=by, policy=rules)
            session.commit()
        bad = [outcome.problem for outcome in outcomes if not outcome.created]
        if bad:
            raise SystemExit(f"service: {len(bad)} of {len(batch)} not created; first: {bad[0]}")
        return len(batch)

    dispatcher = Dispatcher(factory)
    dispatcher.subscribe_batch((*ASSESSED_ON, *SETTLED_ON), assessing(rules))
    lodge(warmup)  # code lists, SQLAlchemy's statement cache, pydantic's validators: warm
    while dispatcher.deliver_pending():
        pass
    task = progress.add_task("service: lodge_many", total=len(lines))
    started = time.perf_counter()
    for batch in chunks(lines, BATCH):
        progress.advance(task, lodge(batch))
    lodged = len(lines) / (time.perf_counter() - started)
    task = progress.add_task("dispatcher: assess and release", total=None)
    started = time.perf_counter()
    while delivered := dispatcher.deliver_pending():
        progress.advance(task, delivered)
    assessed = len(lines) / (time.perf_counter() - started)
    with factory() as session:
        released = session.scalar(
            select(func.count()).select_from(DeclarationRecord).where(DeclarationRecord.state == "released")
        )
    engine.dispose()
    if released != len(lines) + len(warmup):
        raise SystemExit(f"dispatcher: {released} released of {len(lines) + len(warmup)}")
    return lodged, assessed


# ---------------------------------------------------------------- 2 and 3: the real server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def customhouse_command() -> str:
    beside = Path(sys.executable).parent / "customhouse"
    found = str(beside) if beside.exists() else shutil.which("customhouse")
    if not found:
        raise SystemExit("the `customhouse` command is not installed (pip install -e .)")
    return found


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    database: Path

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def death(self) -> str | None:
        """Why the server is not running, or None while it runs."""
        if self.process.poll() is None:
            return None
        return f"the server exited with status {self.process.returncode}; its log ends:\n{self.log_tail()}"

    def logged_errors(self) -> list[str]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
                    found.append(f"{entry.get('logger')}: {entry.get('message')}")
        return found

    def outbox_backlog(self) -> int | None:
        """Events still waiting in the outbox (read after the server stopped)."""
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(self.database)) as db:
            return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        return None


@contextlib.contextmanager
def running_server(workdir: Path) -> Iterator[Server]:
    """Migrate a fresh SQLite file, register the trader and its user, and serve it until the block ends."""
    database = workdir / "http.db"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CUSTOMHOUSE_")}
    env |= {
        "CUSTOMHOUSE_DATABASE_URL": f"sqlite:///{database}",
        "CUSTOMHOUSE_HOST": "127.0.0.1",
        "CUSTOMHOUSE_PORT": str(port),
        "CUSTOMHOUSE_RATE_LOOK_BACK_DAYS": str(LOOK_BACK_DAYS),
    }
    command = customhouse_command()
    subprocess.run(
        [command, "db", "upgrade"], env=env, cwd=workdir, check=True, capture_output=True, timeout=60
    )
    engine = make_engine(f"sqlite:///{database}")
    with make_session_factory(engine).begin() as session:
        prepare(session)
        token = create_user(session, name="bench-trader", roles=[Role.TRADER], party_id=TRADER)
    engine.dispose()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [command, "serve"], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", token, process, log_path, database)
    try:
        deadline = time.monotonic() + 30
        while True:
            if death := server.death():
                raise SystemExit(death)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer /healthz in 30 s:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def http_bulk(
    server: Server, lines: Sequence[bytes], progress: Progress, budget: float = 3600
) -> tuple[float, int]:
    """Requests of 1,000 NDJSON lines, one after another, every result line read and checked; stops
    after `budget` seconds. Returns (declarations/s, declarations created)."""
    task = progress.add_task("http: POST /bulk", total=len(lines))
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/x-ndjson"}
    created = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
        started = time.perf_counter()
        for batch in chunks(lines, BULK_LINES):
            response = client.post("/api/v1/declarations/bulk", content=b"\n".join(batch))
            if response.status_code != 200:
                raise Failed(f"HTTP {response.status_code}: {response.text[:300]}")
            results = [orjson.loads(text) for text in response.text.splitlines() if text]
            good = sum(1 for result in results if result["status"] == 201)
            if good != len(batch):
                first = next((result for result in results if result["status"] != 201), None)
                raise Failed(
                    f"{len(batch)} lines sent, {len(results)} result lines back, {good} with status 201; "
                    f"first other: {str(first)[:200]}"
                )
            created += good
            progress.advance(task, len(batch))
            if time.perf_counter() - started > budget:
                break
        elapsed = time.perf_counter() - started
    progress.update(task, total=created)  # stops its clock when the budget cut the phase short
    return created / elapsed, created


@dataclass
class Load:
    p50_ms: float
    p99_ms: float
    per_second: float
    count: int


def percentile(sorted_values: Sequence[float], share: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))
    return sorted_values[index]


class Keepalive:
    """One HTTP/1.1 keep-alive connection speaking just enough of the protocol for these requests."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.preamble = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.reader, self.writer
        content = body or b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.preamble}"
        writer.write(f"{head}Content-Length: {len(content)}\r\n\r\n".encode("latin-1") + content)
        raw = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        pairs = (line.split(":", 1) for line in header_lines if ":" in line)
        fields = {name.strip().lower(): value.strip() for name, value in pairs}
        if "content-length" in fields:
            answer = await reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                parts.append((await reader.readexactly(size + 2))[:-2])
            await reader.readuntil(b"\r\n")  # no trailers are sent: the blank line
            answer = b"".join(parts)
        else:
            raise Failed(f"{method} {path}: a response with neither Content-Length nor chunked encoding")
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _hammer(
    server: Server,
    method: str,
    path: str,
    bodies: Sequence[bytes | None],
    headers: dict[str, str],
    expect: int,
    budget: float,
    advance: Callable[[int], None],
) -> Load:
    """Send the bodies from CONCURRENCY connections, each waiting for its answer before sending again,
    until all are sent or `budget` seconds have passed. The first CONCURRENCY are a warm-up."""
    url = httpx.URL(server.url)
    assert url.port is not None
    connections = [Keepalive(url.host, url.port, headers) for _ in range(CONCURRENCY)]
    latencies: list[float] = []

    async def call(connection: Keepalive, body: bytes | None) -> float:
        started = time.perf_counter()
        status, answer = await asyncio.wait_for(connection.request(method, path, body), timeout=120)
        took = time.perf_counter() - started
        if status != expect:
            raise Failed(f"{method} {path}: HTTP {status}: {answer[:300]!r}")
        return took

    try:
        warm = zip(connections, bodies[:CONCURRENCY], strict=False)
        await asyncio.gather(*(call(connection, body) for connection, body in warm))
        todo = iter(bodies[CONCURRENCY:])
        started = time.perf_counter()
        stop_at = started + budget

        async def worker(connection: Keepalive) -> None:
            for done, body in enumerate(todo, 1):  # the workers share one iterator: each body is sent once
                latencies.append(await call(connection, body))
                if done % 10 == 0:
                    advance(10)
                if time.perf_counter() > stop_at:
                    return

        await asyncio.gather(*(worker(connection) for connection in connections))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))
    ordered = sorted(latencies)
    return Load(
        percentile(ordered, 0.50) * 1000,
        percentile(ordered, 0.99) * 1000,
        len(ordered) / elapsed,
        len(ordered),
    )


def hammer(
    server: Server,
    method: str,
    path: str,
    bodies: Sequence[bytes | None],
    headers: dict[str, str],
    expect: int,
    progress: Progress,
    budget: float,
) -> Load:
    task = progress.add_task(f"http: {method} {path} x{CONCURRENCY}", total=len(bodies) - CONCURRENCY)
    load = asyncio.run(
        _hammer(server, method, path, bodies, headers, expect, budget, lambda n: progress.advance(task, n))
    )
    progress.update(task, completed=load.count, total=load.count)
    return load


def attempt(server: Server, errors: dict[str, str], name: str, work: Callable[[], T]) -> T | None:
    """Run one measurement; on failure keep its error (the others still run) and return None."""
    if death := server.death():
        errors[name] = f"not measured: {death}"
        return None
    try:
        return work()
    except (TimeoutError, Failed, httpx.HTTPError, OSError) as error:
        message = f"{type(error).__name__}: {error}"
        time.sleep(0.5)  # let a dying server finish dying
        if death := server.death():
            message += f"; {death}"
        errors[name] = message[:3000]
        err.print(f"[red]{name} failed:[/red] {errors[name]}", highlight=False)
        return None


# ---------------------------------------------------------------- the run


def ratio(value: float | None, other: float | None) -> str:
    return f"{value / other:.3f}" if value is not None and other else "-"


def shown(value: float | None) -> str:
    return "[red]FAILED[/red]" if value is None else f"{value:,.1f}"


def _exit_on_signal(number: int, _frame: Any) -> None:
    raise SystemExit(128 + number)  # unwinds through running_server's finally: the server is stopped


def main() -> int:
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, _exit_on_signal)
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, for a smoke test")
    scale = QUICK if parser.parse_args().quick else FULL

    progress = Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    errors: dict[str, str] = {}
    notes: list[str] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="customhouse-bench-") as scratch, progress:
        workdir = Path(scratch)
        progress.console.print(f"[dim]scratch directory {workdir}; generating documents...[/dim]")
        warmup = generate(BATCH, prefix="W", seed=1)
        lines = generate(scale.service, prefix="S", seed=2)
        bulk_warmup = generate(BATCH, prefix="V", seed=3)
        bulk_lines = generate(scale.bulk, prefix="B", seed=4)
        single_lines = generate(scale.single + CONCURRENCY, prefix="O", seed=5)
        nothing: list[bytes | None] = [None] * (scale.health + CONCURRENCY)
        json_auth: dict[str, str] = {"Content-Type": "application/json"}

        floor = floor_sqlite(lines, workdir / "floor.db", progress)
        through_service, assessed = service_layer(lines, warmup, workdir / "service.db", progress)

        with running_server(workdir) as server:
            json_auth["Authorization"] = f"Bearer {server.token}"

            def bulk() -> tuple[float, int]:
                http_bulk(server, bulk_warmup, Progress(disable=True))
                return http_bulk(server, bulk_lines, progress, scale.bulk_seconds)

            bulk_result = attempt(server, errors, "intake.http_bulk", bulk)
            single = attempt(
                server,
                errors,
                "intake.http_single",
                lambda: hammer(
                    server, "POST", "/api/v1/declarations", single_lines, json_auth, 201, progress,
                    scale.single_seconds,
                ),
            )  # fmt: skip
            health = attempt(
                server,
                errors,
                "GET /healthz",
                lambda: hammer(server, "GET", "/healthz", nothing, {}, 200, progress, scale.health_seconds),
            )
            static = attempt(
                server,
                errors,
                "GET /problems/validation",
                lambda: hammer(
                    server, "GET", "/problems/validation", nothing, {}, 200, progress, scale.health_seconds
                ),
            )
        logged = server.logged_errors()
        if logged:
            notes.append(f"the server logged {len(logged)} error(s); the first: {logged[0][:300]}")
        backlog = server.outbox_backlog()
        if backlog is not None:
            notes.append(f"events left undelivered in the server's outbox when it stopped: {backlog:,}")
        progress.console.print(f"[dim]done in {time.perf_counter() - began:.0f} s[/dim]")

    same = f"GET /healthz at {CONCURRENCY} concurrent"
    through_bulk, bulk_count = bulk_result if bulk_result else (None, None)
    single_error = errors.get("intake.http_single") or errors.get("GET /healthz")
    n_single = single.count if single else None
    p50, p99, rate = (single.p50_ms, single.p99_ms, single.per_second) if single else (None, None, None)
    h50, h99, hrate = (health.p50_ms, health.p99_ms, health.per_second) if health else (None, None, None)
    figures = [
        Figure(
            "intake.service", through_service, "declarations/s", "json.loads + sqlite3 executemany", floor,
            floor=FLOOR_SERVICE, count=len(lines),
        ),
        Figure(
            "intake.assessed", assessed, "declarations/s", "lodgement (intake.service)", through_service,
            count=len(lines),
        ),
        Figure(
            "intake.http_bulk", through_bulk, "declarations/s", "service layer (intake.service)",
            through_service, count=bulk_count, error=errors.get("intake.http_bulk"),
        ),
        Figure("intake.http_single.p50", p50, "ms", f"{same}, p50", h50, count=n_single, error=single_error),
        Figure("intake.http_single.p99", p99, "ms", f"{same}, p99", h99, count=n_single, error=single_error),
        Figure(
            "intake.http_single.throughput", rate, "requests/s", f"{same}, requests/s", hrate,
            count=n_single, error=single_error,
        ),
    ]  # fmt: skip
    out = Console(width=None if sys.stdout.isatty() else 160)
    run = "quick" if scale is QUICK else "full"
    table = Table(title=f"intake: {run} run, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("n", justify="right")
    table.add_column("compared with (same run)")
    table.add_column("its value", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("floor", justify="right")
    for figure in figures:
        verdict = ""
        if figure.floor is not None and figure.value is not None:
            ok = figure.value >= figure.floor
            verdict = f"{figure.floor:,.0f} [{'green' if ok else 'red'}]{'met' if ok else 'MISSED'}[/]"
        table.add_row(
            figure.bench, shown(figure.value), figure.unit, f"{figure.count:,}" if figure.count else "",
            figure.vs, shown(figure.vs_value), ratio(figure.value, figure.vs_value), verdict,
        )  # fmt: skip
    if static is not None:
        table.add_row(
            "(info) GET /problems/validation", f"{static.p50_ms:,.1f} / {static.p99_ms:,.1f}", "ms p50 / p99",
            f"{static.count:,}", "a static page: the HTTP stack alone", f"{static.per_second:,.0f}",
            "requests/s", "",
        )  # fmt: skip
    out.print(table)
    for note in notes:
        out.print(f"note: {note}", highlight=False)
    for name, error in errors.items():
        out.print(f"[red]{name} failed:[/red] {error}", highlight=False)
    for figure in figures:
        print(figure.as_json(), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
