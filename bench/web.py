"""Web benchmark (issue 7, "Measured"): the supervisors' dashboard with many declarations in PostgreSQL.

web.dashboard.30d: p95 time to render GET /web/dashboards (the default 30 days: release-time study per
lane, office and transport mode with percentile_cont, lane shares, hit rates, workload, profiles,
models, two SVG charts) through the whole app (TestClient, session cookie, Jinja2), beside the p95 of
the bare SQL aggregates that page needs, run by psycopg in the same run on the same data.
web.dashboard.365d: the same over the whole year of declarations.

The fill: the demo generator (customhouse.demo.generator, one seed per worker process) makes the
declarations (kind, office, transport mode, lodgement time, the truth of irregularities and missing
documents); a seeded model of customs outcome draws each one's lane (missing document: yellow,
irregular: mostly red, 3 % random selection), control result and release time, and the rows are copied
(COPY) into the analytics read model `analytics_declarations` in a schema of its own, dropped at the end.
Lodging through the service is measured by bench/intake.py; this bench measures the dashboards.

    python bench/web.py                  # 1,000,000 declarations (the fill takes minutes: it says how long)
    python bench/web.py --rows 200000
    python bench/web.py --quick          # 50,000 declarations, fewer repetitions

CUSTOMHOUSE_BENCH_POSTGRES names the database (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, text

from customhouse.app import create_app
from customhouse.auth.service import Role, create_user
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.demo.generator import generate

FLOOR_MS = 300.0
SCHEMA = "bench_web"
COLUMNS = (
    "declaration_id, kind, office, transport_mode, lane, lodged_at, accepted_at, released_at, "
    "release_seconds, released_by, control_outcome, controlled_by"
)
Row = tuple[object, ...]


def outcome(
    rng: random.Random, declaration: object, office: str
) -> tuple[str, float | None, str | None, str | None]:
    """Lane, seconds to release (None: not yet), control result and officer, drawn as customs might."""
    truth = declaration.truth  # type: ignore[attr-defined]
    if truth.missing_document:
        lane = "yellow"
    elif truth.irregularity and rng.random() < 0.6:
        lane = "red"
    else:
        draw = rng.random()
        lane = "red" if draw < 0.006 else "yellow" if draw < 0.03 else "green"
    officer = f"officer-{office}-{rng.randrange(6)}"
    if lane == "green":
        return lane, rng.expovariate(1 / 300), None, None
    median = 2 * 3600 if lane == "yellow" else 6 * 3600
    seconds = None if rng.random() < 0.01 else median * math.exp(rng.gauss(0, 0.8))
    result = "irregularity" if truth.irregularity and rng.random() < 0.8 else "conforming"
    return lane, seconds, result, officer


def chunk(args: tuple[int, int, date]) -> list[Row]:
    """One worker's share: `n` declarations of seed `seed`, with their customs outcome."""
    n, seed, start = args
    rng = random.Random(seed * 7919)
    rows: list[Row] = []
    for declaration in generate(n, seed, start=start).declarations():
        document = declaration.document
        office = document["office_of_lodgement"]
        lane, seconds, result, officer = outcome(rng, declaration, office)
        lodged = declaration.lodged_at
        released = None if seconds is None else lodged + timedelta(seconds=seconds)
        rows.append(
            (
                uuid.UUID(int=rng.getrandbits(128)),
                document["kind"],
                office,
                document["transport_mode"],
                lane,
                lodged,
                lodged,
                released,
                seconds,
                officer if seconds is not None and lane != "green" else None,
                result,
                officer,
            )
        )
    return rows


def fill(engine: Engine, rows: int, start: date) -> float:
    """Generate and COPY `rows` declarations; the seconds it took."""
    started = time.perf_counter()
    workers = max(1, min(os.cpu_count() or 1, 8))
    parts = [(rows // workers + (1 if i < rows % workers else 0), 1000 + i, start) for i in range(workers)]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(chunk, parts):
                with cursor.copy(f"COPY analytics_declarations ({COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in part:
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE analytics_declarations"))  # as autovacuum would, soon
    return time.perf_counter() - started


class Recorder:
    """The SQL statements (with their parameters) a render sends that read the read model: the bare
    aggregates the page needs, replayed through psycopg alone for the comparison."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on and "analytics_declarations" in statement:
            self.statements.append((statement, parameters))


COUNT = text("SELECT count(*) FROM analytics_declarations WHERE lodged_at BETWEEN :since AND :until")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]


def timed(work: Callable[[], None], repeat: int) -> list[float]:
    work()  # warm: plans, caches, templates
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="declarations to fill (default 1,000,000)"
    )
    parser.add_argument("--quick", action="store_true", help="50,000 declarations, 10 repetitions")
    parser.add_argument("--repeat", type=int, default=40, help="renders per figure (default 40)")
    options = parser.parse_args()
    rows, repeat = (50_000, 10) if options.quick else (options.rows, options.repeat)
    url = os.environ.get("CUSTOMHOUSE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
    try:
        upgrade(engine)
        today = datetime.now(UTC).date()
        start = today - timedelta(days=365)
        print(f"filling {rows:,} declarations (demo generator, COPY)...", file=sys.stderr, flush=True)
        fill_seconds = fill(engine, rows, start)
        print(f"filled in {fill_seconds:,.0f} s", file=sys.stderr, flush=True)
        sessions = make_session_factory(engine)
        with writing(sessions) as session:
            token = create_user(session, name="bench-supervisor", roles=[Role.SUPERVISOR])
        settings = Settings(database_url=url, var_dir=f"/tmp/bench-web-{os.getpid()}")
        app = create_app(settings, engine=engine, sessions=sessions, run_dispatcher=False)
        figures = []
        with TestClient(app) as client:
            page = client.get("/web/sign-in")
            csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
            assert csrf
            signed = client.post("/web/sign-in", data={"csrf_token": csrf.group(1), "token": token})
            assert signed.status_code == 200, signed.status_code
            recorder = Recorder()
            event.listen(engine, "before_cursor_execute", recorder)
            for days in (30, 365):

                def render(days: int = days) -> None:
                    answer = client.get(f"/web/dashboards?days={days}")
                    assert answer.status_code == 200 and "<svg" in answer.text

                recorder.statements.clear()
                recorder.on = True
                render()
                recorder.on = False
                statements = list(recorder.statements)
                raw = engine.raw_connection()
                cursor: Any = raw.cursor()

                def bare(cursor: Any = cursor, statements: list[tuple[str, Any]] = statements) -> None:
                    for statement, parameters in statements:
                        cursor.execute(statement, parameters)
                        cursor.fetchall()

                since, until = statements[0][1]["since"], statements[0][1]["until"]
                with engine.connect() as connection:
                    in_window = connection.execute(COUNT, {"since": since, "until": until}).scalar_one()
                page_ms = p95(timed(render, repeat))
                bare_ms = p95(timed(bare, repeat))
                raw.close()
                vs = f"its {len(statements)} SQL aggregates alone (psycopg), p95"
                figures.append((f"web.dashboard.{days}d", page_ms, "ms p95", vs, bare_ms, in_window))
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()
        admin.dispose()

    title = (
        f"web: {rows:,} declarations in PostgreSQL (filled in {fill_seconds:,.0f} s), {os.cpu_count()} cores"
    )
    table = Table(title=title)
    for column in (
        "figure",
        "value",
        "unit",
        "compared with (same run)",
        "its value",
        "ratio",
        "rows in window",
        "floor",
    ):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    for name, value, unit, vs, vs_value, in_window in figures:
        table.add_row(
            name,
            f"{value:,.1f}",
            unit,
            vs,
            f"{vs_value:,.1f}",
            f"{value / vs_value:.2f}",
            f"{in_window:,}",
            f"{FLOOR_MS:.0f}",
        )
    Console(width=None if sys.stdout.isatty() else 170).print(table)
    for name, value, unit, vs, vs_value, _ in figures:
        figure = {
            "bench": name,
            "value": round(value, 2),
            "unit": unit,
            "vs": vs,
            "vs_value": round(vs_value, 2),
            "floor": FLOOR_MS,
        }
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
