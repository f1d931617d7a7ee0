"""Principals, roles and tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.auth.models import ApiToken, User
from customhouse.reference import codes

TOKEN_PREFIX = "ch_"


class Role(StrEnum):
    TRADER = "trader"  # declares for its own party
    BROKER = "broker"  # declares for the clients that gave it a mandate
    OFFICER = "officer"  # acts on declarations lodged at its offices
    SUPERVISOR = "supervisor"  # acts on every declaration, manages targeting later
    AUDITOR = "auditor"  # reads everything, changes nothing
    ADMIN = "admin"  # manages users; reads everything


PARTY_ROLES = frozenset({Role.TRADER, Role.BROKER})
READ_ALL_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    roles: frozenset[Role]
    party_id: str | None = None
    offices: frozenset[str] = frozenset()

    def has(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def reads_all(self) -> bool:
        return self.has(*READ_ALL_ROLES)


class InvalidUser(ValueError):
    """A user that cannot be created as asked; the message says why."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    name: str,
    roles: list[Role],
    party_id: str | None = None,
    offices: list[str] | None = None,
) -> str:
    """Create a user and return its first token (shown once, stored only as a hash)."""
    offices = offices or []
    if not roles:
        raise InvalidUser("a user needs at least one role")
    if not PARTY_ROLES.isdisjoint(roles) and party_id is None:
        raise InvalidUser("traders and brokers must be bound to a party (--party)")
    if Role.OFFICER in roles and not offices:
        raise InvalidUser("an officer must be assigned at least one office (--office)")
    unknown = [office for office in offices if office not in codes.offices()]
    if unknown:
        raise InvalidUser(f"unknown offices {unknown}; see the office list")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise InvalidUser(f"a user named {name!r} exists already")
    user = User(name=name, roles=[str(role) for role in roles], party_id=party_id, offices=offices)
    session.add(user)
    session.flush()
    return issue_token(session, user=user)


def issue_token(session: Session, *, user: User) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_hash(token), user_id=user.id))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal behind a bearer token, or None if the token is unknown or revoked."""
    user = session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None))
    )
    if user is None:
        return None
    return Principal(
        name=user.name,
        roles=frozenset(Role(role) for role in user.roles),
        party_id=user.party_id,
        offices=frozenset(user.offices),
    )
