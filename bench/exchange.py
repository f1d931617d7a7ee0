"""Exchange benchmark (issue 8, "Measured"): CUSDEC messages parsed and lodged per second, beside
pydifact's bare parse of the same messages in the same run.

exchange.cusdec_lodge: `edifact.service.submit` on interchanges of 100 CUSDEC messages (3-item import
declarations, each its own LRN): envelope and message checks, segment mapping to the declaration
document, then `declarations.service.lodge_many` (validation, registry, MRN and lane, persist, events),
one committed transaction per interchange as POST /api/v1/edifact does, on a fresh SQLite file
migrated with `customhouse.db.upgrade`.
exchange.cusdec_read: the same interchanges read without a database: `syntax.parse` (pydifact's
parser and the envelope checks) + `cusdec.to_document` + pydantic validation of the document.
Beside both: pydifact's bare `Parser().parse` of the same interchange text into segments, the least
reading them can cost. The issue names no floor.
exchange.pre_arrival_match: a partner's export data matched to our imports (`exchange.service`'s
candidate lookup in the reference index, then `matching.matched_by`), in the same database once the
lodged declarations' events have been delivered to the index; beside it, in the same run, a scan of
the 90 days' imports through `declarations.service.list_declarations` (what matching did before) for
the same export data. Each declaration names its own B/L (BL-n) and no container.

    python bench/exchange.py            # 5,000 messages
    python bench/exchange.py --quick    # 1,000

stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.factories holds the reference valid document

from pydifact.parser import Parser  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402
from tests.factories import BASE, SELLER, TRADER  # noqa: E402

from customhouse.app import policy_from  # noqa: E402
from customhouse.auth.service import Principal, Role  # noqa: E402
from customhouse.config import Settings  # noqa: E402
from customhouse.db import make_engine, make_session_factory, upgrade, writing  # noqa: E402
from customhouse.declarations import service as declarations  # noqa: E402
from customhouse.declarations.models import DeclarationRecord  # noqa: E402
from customhouse.declarations.schemas import DeclarationDocument, Kind  # noqa: E402
from customhouse.events import Dispatcher  # noqa: E402
from customhouse.exchange import matching  # noqa: E402
from customhouse.exchange import service as exchange  # noqa: E402
from customhouse.exchange.edifact import cusdec, service, syntax  # noqa: E402
from customhouse.parties import service as parties  # noqa: E402
from customhouse.tariff import service as tariff  # noqa: E402

PER_INTERCHANGE = 100
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TRADER_P = Principal("bench-trader", frozenset({Role.TRADER}), party_id=TRADER)


def document(n: int) -> DeclarationDocument:
    raw = copy.deepcopy(BASE)
    raw["lrn"] = f"B-{n}"
    raw["containers"] = []
    raw["documents"][1]["reference"] = f"BL-{n}"
    third = copy.deepcopy(raw["goods_items"][1])
    third.update(sequence=3, hs_code="620342", description="Trousers of cotton", price="250.00")
    raw["goods_items"].append(third)
    raw["invoice_total"] = str(Decimal("1750.00") + Decimal(n % 7))
    raw["goods_items"][0]["price"] = str(Decimal("1000.00") + Decimal(n % 7))
    return DeclarationDocument.model_validate(raw)


def interchanges(start: int, count: int) -> list[str]:
    out = []
    for first in range(start, start + count, PER_INTERCHANGE):
        batch = [document(n) for n in range(first, min(first + PER_INTERCHANGE, start + count))]
        out.append(
            syntax.serialize(
                cusdec.messages(batch),
                sender=TRADER,
                recipient="KRCUSTOMS",
                control_reference=str(first),
                at=AT,
            )
        )
    return out


def bare_parse(texts: list[str]) -> float:
    count = 0
    started = time.perf_counter()
    for text in texts:
        count += sum(1 for segment in Parser().parse(text) if segment.tag == "UNH")
    return count / (time.perf_counter() - started)


def read_only(texts: list[str]) -> float:
    count = 0
    started = time.perf_counter()
    for text in texts:
        for message in syntax.parse(text).messages:
            DeclarationDocument.model_validate(cusdec.to_document(message).data)
            count += 1
    return count / (time.perf_counter() - started)


def export_data(n: int) -> dict[str, object]:
    return {"mrn": f"26CN{n:014d}", "exporter": {"id": SELLER}, "transport_documents": [f"BL-{n}"]}


def match_indexed(sessions: sessionmaker[Session], numbers: list[int]) -> float:
    """Export data matched per second through the reference index."""
    dispatcher = Dispatcher(sessions)
    dispatcher.subscribe("declaration.lodged", service.index)
    while dispatcher.deliver_pending(limit=2000):
        pass
    since = datetime.now(UTC) - exchange.MATCH_WINDOW
    started = time.perf_counter()
    with sessions() as session:
        for n in numbers:
            exported = matching.export_keys(export_data(n))
            found = [
                item.document.lrn
                for item in exchange._candidates(session, exported, since)
                if matching.matched_by(exported, matching.import_keys(item.document.model_dump(mode="json")))
            ]
            if found != [f"B-{n}"]:
                raise SystemExit(f"export {n} matched {found}")
    return len(numbers) / (time.perf_counter() - started)


def match_scanning(sessions: sessionmaker[Session], numbers: list[int]) -> float:
    """The same, reading every import lodged in the window, a page at a time."""
    since = datetime.now(UTC) - exchange.MATCH_WINDOW
    started = time.perf_counter()
    with sessions() as session:
        for n in numbers:
            exported = matching.export_keys(export_data(n))
            found, cursor = [], None
            while True:
                page = declarations.list_declarations(
                    session,
                    by=exchange.SYSTEM,
                    filters=declarations.Filters(lodged_from=since),
                    cursor=cursor,
                    limit=500,
                )
                found += [
                    item.document.lrn
                    for item in page.items
                    if item.document.kind == Kind.IMPORT
                    and matching.matched_by(
                        exported, matching.import_keys(item.document.model_dump(mode="json"))
                    )
                ]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            if found != [f"B-{n}"]:
                raise SystemExit(f"export {n} matched {found}")
    return len(numbers) / (time.perf_counter() - started)


def lodge(texts: list[str], warm: list[str], path: Path) -> tuple[float, float, float]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    demo = files("customhouse.tariff").joinpath("data", "demo-tariff.yaml").read_text(encoding="utf-8")
    with sessions.begin() as session:
        tariff.replace_tariff(session, text=demo, source="demo-tariff.yaml", by="bench")
        parties.register(session, id=TRADER, name=BASE["declarant"]["name"], country="KR")
    rules = policy_from(Settings(database_url=url, country="KR", rate_look_back_days=3660))

    def submit(text: str) -> int:
        with writing(sessions) as session:
            result = service.submit(session, text=text, by=TRADER_P, policy=rules)
        return sum(1 for lodged in result.declarations if lodged.status == 201)

    for text in warm:
        submit(text)
    created = 0
    started = time.perf_counter()
    for text in texts:
        created += submit(text)
    rate = created / (time.perf_counter() - started)
    with sessions() as session:
        stored = session.scalar(select(func.count()).select_from(DeclarationRecord))
    expected = sum(text.count("UNH+") for text in texts + warm)
    if stored != expected or created != expected - sum(text.count("UNH+") for text in warm):
        raise SystemExit(f"lodged {stored} declarations of {expected}")
    lodged = sum(text.count("UNH+") for text in texts)
    picked = [lodged * k // 200 for k in range(200)]
    indexed = match_indexed(sessions, picked)
    scanning = match_scanning(sessions, picked[:: max(1, len(picked) // 10)])
    engine.dispose()
    return rate, indexed, scanning


def number(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 messages instead of 5,000")
    count = 1_000 if parser.parse_args().quick else 5_000
    warnings.simplefilter("ignore")  # pydifact warns per segment that it has no directory to check against
    warm = interchanges(10**7, 200)
    texts = interchanges(0, count)
    bare_parse(warm)
    read_only(warm)
    bare = max(bare_parse(texts), bare_parse(texts))
    reading = read_only(texts)
    with tempfile.TemporaryDirectory() as directory:
        lodging, indexed, scanning = lodge(texts, warm, Path(directory) / "bench.db")
    bare_again = bare_parse(texts)
    bare = max(bare, bare_again)

    vs = "pydifact Parser().parse of the same interchanges"
    figures = [
        ("exchange.cusdec_lodge", lodging, "messages/s", vs, bare),
        ("exchange.cusdec_read", reading, "messages/s", vs, bare),
        (
            "exchange.pre_arrival_match",
            indexed,
            "matches/s",
            f"a scan of the {count + 200:,} imports in the window (the same export data)",
            scanning,
        ),
    ]
    size = len(texts[0]) // PER_INTERCHANGE
    title = (
        f"exchange: {count:,} CUSDEC messages (~{size:,} characters each, {PER_INTERCHANGE} per "
        f"interchange), {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    table = Table(title=title)
    for column in ("figure", "value", "unit", "compared with (same run)", "its value", "ratio"):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    for name, value, unit, against, against_value in figures:
        table.add_row(
            name, number(value), unit, against, number(against_value), f"{value / against_value:.3f}"
        )
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    for name, value, unit, against, against_value in figures:
        figure = {
            "bench": name,
            "value": round(value, 2),
            "unit": unit,
            "vs": against,
            "vs_value": round(against_value, 2),
            "floor": None,
        }
        print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
