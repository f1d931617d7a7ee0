"""Seed a database with the demo administration, through the same service calls the API makes.

The generator (`customhouse.demo.generator`, whose docstring documents the data) says what the
traders declare and what is true; this module registers the parties and mandates, lodges every
declaration with `declarations.service.lodge_many` at its generated time, and then plays the officers
so that later issues find labelled outcomes in the audit trail:

- every declaration in the yellow lane (a required document missing) is controlled;
- besides, `RANDOM_CHECK_SHARE` of all declarations are drawn before lodgement for a random
  documentary check: they are lodged under a policy that does not release green ones at once (a
  released declaration can no longer be controlled), and an officer requests documents;
- each control finds the true irregularity with probability `DETECTION_RATE` and records it with
  the honest values as corrections (a new version by the officer); otherwise it records "conforming";
- then the officer releases. Pre-arrival declarations are accepted by an officer on arrival.

Officers act hours to a few days after lodgement (`ACCEPT_HOURS`, `REQUEST_HOURS`, `CONTROL_HOURS`,
`RELEASE_HOURS`), always in that order; a step that would fall after `at_end` (now, by default) is
not taken, so the last days leave a realistic queue of declarations lodged, accepted or under control.

The actors are built as `Principal`s directly and named as the demo users are: `trader-<party>`,
`broker-<party>`, `officer-<UN/LOCODE>`; a brokered declaration is lodged by its broker. The year of
lodgements ends the day before `at_end`. `lodge_many` takes one lodgement time per call, so each
declaration is lodged by its own call (in day-sized groups between `on_batch` calls).

Like every service, `seed` commits nothing: the caller commits, typically in `on_batch`, which is
called after each day's declarations with their number, so that a large seed stays bounded in memory.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby

from sqlalchemy.orm import Session

from customhouse.auth.service import Principal, Role, create_user
from customhouse.db import utcnow
from customhouse.declarations import service as declaration_service
from customhouse.declarations.schemas import Control, Correction, Declaration, Lane, State
from customhouse.declarations.service import Filters, Policy
from customhouse.demo.generator import DemoDeclaration, DemoWorld, generate
from customhouse.parties import service as parties
from customhouse.payments import service as payments
from customhouse.payments.schemas import NewGuarantee
from customhouse.reference import codes

RANDOM_CHECK_SHARE = 0.10
DETECTION_RATE = 0.90
ACCEPT_HOURS = (12.0, 96.0)  # a pre-arrival declaration waits for the goods
REQUEST_HOURS = (0.5, 8.0)
CONTROL_HOURS = (2.0, 60.0)
RELEASE_HOURS = (0.2, 8.0)
YEAR = timedelta(days=365)  # the generated local year ends the day before `at_end`
BUSY_OFFICE_SHARE = 0.05  # offices with at least this share of the traffic get a demo officer
RANDOM_CHECK_DOCUMENTS = ["380", "271"]  # invoice and packing list: a valuation check

AUDITOR = Principal(name="demo-seed", roles=frozenset({Role.AUDITOR}))
SUPERVISOR = Principal(name="demo-seed", roles=frozenset({Role.SUPERVISOR}))
DEFERMENT_LIMIT = Decimal(10**11)  # a year of a trader's duties, never settled in the demo


class SeedError(RuntimeError):
    """A generated declaration was refused: the generator and the rules disagree."""


@dataclass
class SeedReport:
    world: DemoWorld
    lodged: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    lanes: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    irregular: Counter[str] = field(default_factory=Counter)  # ground truth, by kind
    controlled: int = 0  # a control result was recorded
    random_checks: int = 0  # green declarations controlled because they were drawn
    detected: Counter[str] = field(default_factory=Counter)  # irregularities recorded, by kind
    missed: Counter[str] = field(default_factory=Counter)  # controlled, irregular, recorded as conforming


@dataclass(frozen=True, slots=True)
class DemoUser:
    name: str
    roles: tuple[Role, ...]
    party_id: str | None = None
    offices: tuple[str, ...] = ()


def trader_principal(party_id: str) -> Principal:
    return Principal(name=f"trader-{party_id}", roles=frozenset({Role.TRADER}), party_id=party_id)


def broker_principal(party_id: str) -> Principal:
    return Principal(name=f"broker-{party_id}", roles=frozenset({Role.BROKER}), party_id=party_id)


def officer_principal(office: str) -> Principal:
    return Principal(
        name=f"officer-{codes.offices()[office].unlocode.lower()}",
        roles=frozenset({Role.OFFICER}),
        offices=frozenset({office}),
    )


def declarer(document: dict[str, object]) -> Principal:
    """Who lodges `document`: its representative (a broker) if it names one, else the declarant."""
    representative = document.get("representative")
    if isinstance(representative, dict):
        return broker_principal(str(representative["id"]))
    declarant = document["declarant"]
    assert isinstance(declarant, dict)
    return trader_principal(str(declarant["id"]))


def has_declarations(session: Session) -> bool:
    return bool(declaration_service.list_declarations(session, by=AUDITOR, filters=Filters(), limit=1).items)


def register(session: Session, world: DemoWorld, currency: str) -> None:
    """Register the KR traders and brokers and the brokers' mandates, and give each trader a deferment
    account in `currency` (its duties are secured on it, so its green goods go at once); skip those
    already there."""
    local = [party for party in world.parties if party.role in ("trader", "broker")]
    known = parties.registered(session, [party.id for party in local])
    for party in local:
        if party.id not in known:
            parties.register(
                session, id=party.id, name=party.name, country=party.country, kind=party.role, aeo=party.aeo
            )
            if party.role == "trader":
                account = NewGuarantee(
                    party_id=party.id, kind="deferment", limit=DEFERMENT_LIMIT, currency=currency
                )
                payments.open_guarantee(session, guarantee=account, by=SUPERVISOR)
    for mandate in world.mandates:
        pair = (mandate.representative_id, mandate.client_id)
        if not parties.mandated_pairs(session, [pair], mandate.valid_from):
            parties.grant_mandate(
                session,
                representative_id=mandate.representative_id,
                client_id=mandate.client_id,
                valid_from=mandate.valid_from,
            )


def seed(
    session: Session,
    *,
    declarations: int,
    seed: int,
    policy: Policy,
    at_end: datetime | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SeedReport:
    """Register the demo world and lodge its `declarations` over the year before `at_end`, then play
    the officers (see the module docstring)."""
    at_end = at_end or utcnow()
    world = generate(declarations, seed, start=(at_end - YEAR).date(), country=policy.country)
    report = SeedReport(world=world)
    register(session, world, policy.currency)
    rng = random.Random(seed)  # the officers' own draws, apart from the generator's
    hold = dataclasses.replace(policy, auto_release_green=False)
    for _day, batch in groupby(world.declarations(), key=lambda item: item.lodged_at.date()):
        count = 0
        for item in batch:
            checked = rng.random() < RANDOM_CHECK_SHARE
            declaration = _assessed(
                session, _lodge(session, item, hold if checked else policy), hold if checked else policy
            )
            final = _officers(session, item, declaration, hold if checked else policy, rng, at_end, report)
            _count(report, item, final)
            count += 1
        if on_batch:
            on_batch(count)
    return report


def _lodge(session: Session, item: DemoDeclaration, policy: Policy) -> Declaration:
    (outcome,) = declaration_service.lodge_many(
        session, documents=[item.document], by=declarer(item.document), policy=policy, at=item.lodged_at
    )
    if outcome.declaration is None:
        problem = outcome.problem
        errors = "; ".join(f"{error.pointer} {error.detail}" for error in problem.errors) if problem else ""
        raise SeedError(
            f"demo declaration {item.document['lrn']} was refused: {problem and problem.detail} {errors}"
        )
    return outcome.declaration


def _assessed(session: Session, declaration: Declaration, policy: Policy) -> Declaration:
    """What the event dispatcher does after each change of a running server: assess, and release what
    is green and secured (the seed runs without a dispatcher; later deliveries change nothing more)."""
    at = declaration.updated_at
    declaration_service.assess(session, declaration_id=declaration.id, policy=policy, at=at)
    return declaration_service.get(session, declaration_id=declaration.id, by=AUDITOR)


def _steps(
    start: datetime, rng: random.Random, at_end: datetime, *spans: tuple[float, float]
) -> Iterator[datetime]:
    """Times of successive officer steps, each `span` hours after the last; none after `at_end`."""
    at = start
    for low, high in spans:
        at += timedelta(hours=rng.uniform(low, high))
        if at > at_end:
            return
        yield at


def _officers(
    session: Session,
    item: DemoDeclaration,
    declaration: Declaration,
    policy: Policy,
    rng: random.Random,
    at_end: datetime,
    report: SeedReport,
) -> Declaration:
    """Accept (pre-arrival), then control and release what is under control or drawn for a check."""
    officer = officer_principal(str(item.document["office_of_lodgement"]))
    current = declaration
    start = declaration.lodged_at or item.lodged_at
    if current.state is State.LODGED:
        accepted = next(_steps(start, rng, at_end, ACCEPT_HOURS), None)
        if accepted is None:
            return current
        current = declaration_service.accept(
            session,
            declaration_id=current.id,
            by=officer,
            policy=policy,
            expected_revision=current.revision,
            at=accepted,
        )
        current = _assessed(session, current, policy)
        start = accepted
    if current.state not in (State.ACCEPTED, State.UNDER_CONTROL):
        return current
    random_check = current.lane is Lane.GREEN
    steps = _steps(start, rng, at_end, REQUEST_HOURS, CONTROL_HOURS, RELEASE_HOURS)
    requested = next(steps, None)
    if requested is None:
        return current
    missing = item.truth.missing_document
    current = declaration_service.request_documents(
        session,
        declaration_id=current.id,
        by=officer,
        expected_revision=current.revision,
        documents=[missing] if missing and not random_check else RANDOM_CHECK_DOCUMENTS,
        reason="random documentary check" if random_check else "a required supporting document is missing",
        at=requested,
    )
    controlled = next(steps, None)
    if controlled is None:
        return current
    current = declaration_service.record_control(
        session,
        declaration_id=current.id,
        by=officer,
        policy=policy,
        expected_revision=current.revision,
        control=_control(item, rng, report),
        at=controlled,
    )
    current = _assessed(session, current, policy)
    report.controlled += 1
    report.random_checks += random_check
    released = next(steps, None)
    if released is None:
        return current
    return declaration_service.release(
        session,
        declaration_id=current.id,
        by=officer,
        policy=policy,
        expected_revision=current.revision,
        at=released,
    )


def _control(item: DemoDeclaration, rng: random.Random, report: SeedReport) -> Control:
    """The officer's finding: the true irregularity with DETECTION_RATE, with the honest values."""
    truth = item.truth
    if truth.irregularity is None:
        return Control(outcome="conforming", note="documents checked, no irregularity")
    if rng.random() >= DETECTION_RATE:
        report.missed[truth.irregularity] += 1
        return Control(outcome="conforming", note="documents checked, no irregularity")
    report.detected[truth.irregularity] += 1
    return Control(
        outcome="irregularity",
        irregularity=truth.irregularity,
        corrections=[Correction(pointer=pointer, value=value) for pointer, value in truth.corrections],
        note=f"{truth.irregularity.replace('_', ' ')} found; declared values corrected",
    )


def _count(report: SeedReport, item: DemoDeclaration, final: Declaration) -> None:
    report.lodged += 1
    report.kinds[str(item.document["kind"])] += 1
    report.lanes[final.lane.value if final.lane else "none"] += 1
    report.states[final.state.value] += 1
    if item.truth.irregularity:
        report.irregular[item.truth.irregularity] += 1


# ---------------------------------------------------------------- demo users


def demo_users(world: DemoWorld) -> list[DemoUser]:
    """A user per role: the busiest self-declaring trader, the busiest broker, an officer per busy
    office, a supervisor, an auditor and an admin. Names match the principals `seed` acts as."""
    traders = [party for party in world.parties if party.role == "trader"]
    brokered = {mandate.client_id for mandate in world.mandates}
    trader = max(
        (party for party in traders if party.id not in brokered),
        key=lambda party: party.traffic,
        default=None,
    )
    trader = trader or max(traders, key=lambda party: party.traffic)
    broker = max(
        (party for party in world.parties if party.role == "broker"), key=lambda party: party.traffic
    )
    users = [
        DemoUser(trader_principal(trader.id).name, (Role.TRADER,), party_id=trader.id),
        DemoUser(broker_principal(broker.id).name, (Role.BROKER,), party_id=broker.id),
    ]
    for office, share in sorted(world.office_weights.items(), key=lambda pair: -pair[1]):
        if share >= BUSY_OFFICE_SHARE:
            users.append(DemoUser(officer_principal(office).name, (Role.OFFICER,), offices=(office,)))
    users += [
        DemoUser("supervisor", (Role.SUPERVISOR,)),
        DemoUser("auditor", (Role.AUDITOR,)),
        DemoUser("admin", (Role.ADMIN,)),
    ]
    return users


def create_demo_users(
    session: Session, world: DemoWorld, users: Iterable[DemoUser] | None = None
) -> dict[str, str]:
    """Create the demo users; return each one's token by name (shown once: only hashes are stored)."""
    return {
        user.name: create_user(
            session,
            name=user.name,
            roles=list(user.roles),
            party_id=user.party_id,
            offices=list(user.offices),
        )
        for user in (users if users is not None else demo_users(world))
    }
