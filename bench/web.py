"""Web benchmark (issue 7, "Measured"): the supervisors' dashboard with many declarations in PostgreSQL.

web.dashboard.30d: p95 time to render GET /web/dashboards (the default 30 days: release-time study per
lane, office and transport mode, lane shares, hit rates, workload, revenue against forecast, profiles,
models, three SVG charts) through the whole app (TestClient, session cookie, Jinja2), beside the p95 of
the bare SQL the page sends to the daily rollups, replayed by psycopg alone in the same run on the
same data. For scale, the same study aggregated from the facts (percentile_cont over the declarations
of the period, as the page did before the rollups) is timed too, with fewer repetitions.
web.dashboard.365d: the same over the whole year of declarations.

The fill: each worker process draws a sample of declarations from the demo generator
(customhouse.demo.generator: kind, office, transport mode, lodgement time, the truth of
irregularities and missing documents) and makes its share of rows by drawing from that sample (the
lodgement time moved by up to half an hour); a seeded model of customs outcome draws each row's lane
(missing document: yellow, irregular: mostly red, 3 % random selection), control result, release time
and revenue; the worker COPYs its rows into the read model `analytics_declarations`, in a schema of its
own, dropped at the end. The rollups are then built from the facts (analytics.service.rebuild_rollups),
as `customhouse report rebuild` does after replaying events. Lodging through the service is measured
by bench/intake.py; this bench measures the dashboards.

    python bench/web.py                  # 1,000,000 declarations
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
from datetime import time as dt_time
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, event, text

from customhouse.analytics.service import rebuild_rollups, release_study
from customhouse.app import create_app
from customhouse.auth.service import Role, create_user
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.demo.generator import generate

FLOOR_MS = 300.0
SCHEMA = "bench_web"
COLUMNS = (
    "declaration_id, kind, office, transport_mode, lane, lodged_at, accepted_at, released_at, "
    "release_seconds, released_by, control_outcome, controlled_by, revenue"
)


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


SAMPLE = 20_000  # demo declarations drawn per worker


def chunk(args: tuple[int, int, date, str]) -> int:
    """One worker's share: `n` rows drawn from a demo sample of seed `seed`, COPYed; the rows written."""
    n, seed, start, url = args
    rng = random.Random(seed * 7919)
    sample = [
        (d.document["kind"], d.document["office_of_lodgement"], d.document["transport_mode"], d.lodged_at, d)
        for d in generate(min(n, SAMPLE), seed, start=start).declarations()
    ]
    engine = make_engine(url, connect_args={"options": f"-csearch_path={SCHEMA}"})
    raw = engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        with cursor.copy(f"COPY analytics_declarations ({COLUMNS}) FROM STDIN") as copy:
            for _ in range(n):
                kind, office, mode, at, declaration = sample[rng.randrange(len(sample))]
                lodged = at + timedelta(seconds=rng.uniform(-1800, 1800))
                lane, seconds, result, officer = outcome(rng, declaration, office)
                released = None if seconds is None else lodged + timedelta(seconds=seconds)
                revenue = round(rng.lognormvariate(13, 1.2), 2) if kind == "import" else 0.0
                copy.write_row(
                    (
                        uuid.UUID(int=rng.getrandbits(128)), kind, office, mode, lane, lodged, lodged,
                        released, seconds, officer if seconds is not None and lane != "green" else None,
                        result, officer, revenue,
                    )
                )  # fmt: skip
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return n


def fill(engine: Engine, url: str, rows: int, start: date) -> tuple[float, float]:
    """Draw and COPY `rows` declarations, then build the rollups: the seconds each took."""
    started = time.perf_counter()
    workers = max(1, min(os.cpu_count() or 1, 8))
    parts = [
        (rows // workers + (1 if i < rows % workers else 0), 1000 + i, start, url) for i in range(workers)
    ]
    with ProcessPoolExecutor(workers) as pool:
        assert sum(pool.map(chunk, parts)) == rows
    copied = time.perf_counter()
    with writing(make_session_factory(engine)) as session:
        rebuild_rollups(session)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("analytics_declarations", "analytics_days", "analytics_officer_days"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))  # as autovacuum would, soon
    return copied - started, time.perf_counter() - copied


class Recorder:
    """The SQL statements (with their parameters) a render sends that read the read model: the bare
    aggregates the page needs, replayed through psycopg alone for the comparison."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on and ("analytics_days" in statement or "analytics_officer_days" in statement):
            self.statements.append((statement, parameters))


COUNT = text("SELECT count(*) FROM analytics_declarations WHERE lodged_at >= :since")


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
        print(f"filling {rows:,} declarations (demo sample, COPY)...", file=sys.stderr, flush=True)
        fill_seconds, rollup_seconds = fill(engine, url, rows, start)
        print(
            f"copied in {fill_seconds:,.0f} s, rollups in {rollup_seconds:,.0f} s",
            file=sys.stderr,
            flush=True,
        )
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

                since = datetime.combine(today - timedelta(days=days - 1), dt_time(), tzinfo=UTC)
                until = datetime.now(UTC)
                with engine.connect() as connection:
                    in_window = connection.execute(COUNT, {"since": since}).scalar_one()
                page_ms = p95(timed(render, repeat))
                bare_ms = p95(timed(bare, repeat))
                raw.close()

                def facts(since: datetime = since, until: datetime = until) -> None:
                    with sessions() as session:
                        release_study(session, since=since, until=until)

                facts_ms = p95(timed(facts, max(3, repeat // 8)))
                vs = f"its {len(statements)} SQL statements on the rollups alone (psycopg), p95"
                figures.append(
                    (f"web.dashboard.{days}d", page_ms, "ms p95", vs, bare_ms, in_window, facts_ms)
                )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()
        admin.dispose()

    title = (
        f"web: {rows:,} declarations in PostgreSQL (copied in {fill_seconds:,.0f} s, rollups built in "
        f"{rollup_seconds:,.0f} s), {os.cpu_count()} cores"
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
        "study from the facts, p95",
        "floor",
    ):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    for name, value, unit, vs, vs_value, in_window, facts_ms in figures:
        table.add_row(
            name,
            f"{value:,.1f}",
            unit,
            vs,
            f"{vs_value:,.1f}",
            f"{value / vs_value:.2f}",
            f"{in_window:,}",
            f"{facts_ms:,.1f}",
            f"{FLOOR_MS:.0f}",
        )
    Console(width=None if sys.stdout.isatty() else 170).print(table)
    for name, value, unit, vs, vs_value, _, facts_ms in figures:
        figure = {
            "bench": name,
            "value": round(value, 2),
            "unit": unit,
            "vs": vs,
            "vs_value": round(vs_value, 2),
            "floor": FLOOR_MS,
            "facts_study_ms": round(facts_ms, 2),
        }
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
