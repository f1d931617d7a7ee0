"""The officers' work queue read a page at a time: what waits for customs at an office, red before yellow
before green, the longest waiting first, visible only to whom may see it."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from customhouse.auth.service import Principal, Role
from customhouse.db import utcnow
from customhouse.declarations import service
from customhouse.declarations.schemas import Declaration
from tests.factories import TRADER, declaration
from tests.web.test_customs import ByLrn

OFFICE = "KR000040"
OTHER_OFFICE = "KR000010"
TRADER_PRINCIPAL = Principal("trader", frozenset({Role.TRADER}), party_id=TRADER)
OFFICER = Principal("officer", frozenset({Role.OFFICER}), offices=frozenset({OFFICE}))
OFFICER_ELSEWHERE = Principal("officer2", frozenset({Role.OFFICER}), offices=frozenset({OTHER_OFFICE}))
SUPERVISOR = Principal("supervisor", frozenset({Role.SUPERVISOR}))


@pytest.fixture
def lanes_by_lrn(policy: service.Policy, tokens: dict[str, str]) -> service.Policy:
    """The registered world, and a policy whose lane is the LRN's first letter (R red, Y yellow, else
    green: an import that waits for its assessment, as no event is delivered here)."""
    return dataclasses.replace(policy, selector=ByLrn())


def lodge(
    session: Session, policy: service.Policy, lrn: str, minutes_ago: int, office: str = OFFICE
) -> Declaration:
    document = declaration(lrn=lrn, office_of_lodgement=office, office_of_entry=office)
    at = utcnow() - timedelta(minutes=minutes_ago)
    lodged = service.lodge(session, document=document, by=TRADER_PRINCIPAL, policy=policy, at=at)
    assert lodged.declaration is not None
    return lodged.declaration


def lrns(page: service.QueuePage) -> list[str]:
    return [item.document.lrn for item in page.items]


def test_red_before_yellow_before_green_the_longest_waiting_first(
    session: Session, lanes_by_lrn: service.Policy
) -> None:
    waited = {"G-OLDEST": 90, "Y-NEW": 5, "R-NEW": 1, "Y-OLD": 40, "R-OLD": 30, "G-NEW": 2}
    for lrn, minutes in waited.items():
        lodge(session, lanes_by_lrn, lrn, minutes)
    cancelled = lodge(session, lanes_by_lrn, "R-CANCELLED", 120)
    service.cancel(
        session,
        declaration_id=cancelled.id,
        by=TRADER_PRINCIPAL,
        expected_revision=cancelled.revision,
        reason="lodged twice",
    )
    lodge(session, lanes_by_lrn, "R-ELSEWHERE", 100, office=OTHER_OFFICE)

    page = service.work_queue(session, by=OFFICER, office=OFFICE, offset=0, limit=50)

    assert lrns(page) == ["R-OLD", "R-NEW", "Y-OLD", "Y-NEW", "G-OLDEST", "G-NEW"]
    assert [item.state.value for item in page.items] == ["under_control"] * 4 + ["accepted"] * 2
    assert not page.more


def test_pages_follow_one_another_with_no_overlap_or_gap(
    session: Session, lanes_by_lrn: service.Policy
) -> None:
    draw = random.Random(7)
    for number in range(11):
        lodge(session, lanes_by_lrn, f"{draw.choice('RYG')}-{number}", draw.randrange(1, 600))
    whole = service.work_queue(session, by=OFFICER, office=OFFICE, offset=0, limit=50)
    assert len(whole.items) == 11

    pages = [
        service.work_queue(session, by=OFFICER, office=OFFICE, offset=offset, limit=4) for offset in (0, 4, 8)
    ]

    assert [lrn for page in pages for lrn in lrns(page)] == lrns(whole)
    assert [page.more for page in pages] == [True, True, False]
    assert service.work_queue(session, by=OFFICER, office=OFFICE, offset=11, limit=4).items == []


def test_an_officer_of_another_office_sees_nothing_of_this_one(
    session: Session, lanes_by_lrn: service.Policy
) -> None:
    lodge(session, lanes_by_lrn, "R-HERE", 10)
    lodge(session, lanes_by_lrn, "Y-THERE", 20, office=OTHER_OFFICE)

    assert service.work_queue(session, by=OFFICER_ELSEWHERE, office=OFFICE).items == []
    assert lrns(service.work_queue(session, by=OFFICER_ELSEWHERE, office=None)) == ["Y-THERE"]
    assert lrns(service.work_queue(session, by=SUPERVISOR, office=None)) == ["R-HERE", "Y-THERE"]
    assert lrns(service.work_queue(session, by=SUPERVISOR, office=OTHER_OFFICE)) == ["Y-THERE"]
