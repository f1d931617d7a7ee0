"""Fifty import declarations lodged and assessed at once, each on its own connection (as dispatchers of
several server processes would), all drawing on one tariff quota and securing what they owe on one
deferment account: the quota and the account balances are exact, never below zero, and every grant
and security is accounted for (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files

from sqlalchemy import select

from customhouse.assessment.models import AssessmentRecord
from customhouse.auth.service import Principal, Role
from customhouse.db import make_session_factory, writing
from customhouse.declarations import service as declarations
from customhouse.declarations.service import Policy
from customhouse.parties import service as parties
from customhouse.payments import service as payments
from customhouse.payments.models import Security
from customhouse.payments.schemas import NewGuarantee
from customhouse.tariff import service as tariff
from tests.factories import TRADER, declaration
from tests.helpers import own_connections

LODGEMENTS = 50
QUOTA = Decimal("2550")  # kg: 25 declarations of 100 kg in full, one of 50, the rest nothing
LIMIT = Decimal("9000000")  # KRW: room for some of the declarations only
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRADER_P = Principal("trader", frozenset({Role.TRADER}), party_id=TRADER)


def milk(number: int) -> dict[str, object]:
    document = declaration(lrn=f"MILK-{number}", invoice_currency="KRW", invoice_total="1000000")
    document["goods_items"] = [
        {
            **document["goods_items"][1],  # type: ignore[index]
            "sequence": 1,
            "hs_code": "040291",
            "description": "Condensed milk, unsweetened",
            "unit": "KGM",
            "quantity": "100",
            "net_mass": "100",
            "gross_mass": "110",
            "price": "1000000",
        }
    ]
    return document


def test_fifty_concurrent_lodgements_draw_the_quota_and_the_account_exactly(
    committing_engine, policy: Policy
):
    sessions = make_session_factory(committing_engine)
    demo = files("customhouse.tariff").joinpath("data", "demo-tariff.yaml").read_text(encoding="utf-8")
    assert "volume: 1000000\n" in demo
    with writing(sessions) as session:
        tariff.replace_tariff(
            session, text=demo.replace("volume: 1000000\n", f"volume: {QUOTA}\n"), source="t", by="tests"
        )
        parties.register(session, id=TRADER, name="Hanbit Trading Co.", country="KR")
        account = payments.open_guarantee(
            session,
            guarantee=NewGuarantee(party_id=TRADER, kind="deferment", limit=LIMIT, currency="KRW"),
            by=Principal("setup", frozenset({Role.SUPERVISOR})),
        )
    thread_sessions = make_session_factory(own_connections(committing_engine))
    barrier = threading.Barrier(LODGEMENTS)
    failures: list[BaseException] = []

    def lodge(number: int) -> None:
        try:
            barrier.wait()
            with writing(thread_sessions) as session:
                lodged = declarations.lodge(session, document=milk(number), by=TRADER_P, policy=policy, at=AT)
            assert lodged.declaration is not None
            with writing(thread_sessions) as session:
                declarations.assess(session, declaration_id=lodged.declaration.id, policy=policy)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=lodge, args=(number,)) for number in range(LODGEMENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    with sessions() as session:
        assessed = session.scalars(select(AssessmentRecord)).all()
        assert len(assessed) == LODGEMENTS
        drawn = [Decimal(record.quotas.get("Q-0402", "0")) for record in assessed]
        assert sum(drawn) == QUOTA and tariff.balance(session, quota_id="Q-0402") == 0
        assert sorted(drawn, reverse=True)[:27] == [Decimal(100)] * 25 + [Decimal(50), Decimal(0)]
        # the in-quota rate (20 %) for what was granted, the third-country rate (176 %) for the rest
        full = [r.total for r, d in zip(assessed, drawn, strict=True) if d == 100]
        none = [r.total for r, d in zip(assessed, drawn, strict=True) if d == 0]
        assert set(full) == {Decimal(200_000 + 120_000)} and set(none) == {Decimal(1_760_000 + 276_000)}

        held = session.scalars(select(Security)).all()
        balance = payments.balance(session, guarantee_id=account.id).amount
        secured = sum((Decimal(security.amount_milli) / 1000 for security in held), Decimal(0))
        assert balance >= 0 and balance + secured == LIMIT
        owed = {record.declaration_id: record.owed for record in assessed}
        assert all(
            Decimal(security.amount_milli) / 1000 == owed[security.declaration_id] for security in held
        )
        unsecured = set(owed) - {security.declaration_id for security in held}
        assert unsecured and all(balance < owed[declaration_id] for declaration_id in unsecured)
