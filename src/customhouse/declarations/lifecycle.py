"""Which action may move a declaration from which state; pure.

draft --lodge--> lodged --accept--> accepted --(yellow/red lane)--> under_control --release--> released
accepted --release--> released (green lane)
lodged, accepted, under_control --reject--> rejected
draft, lodged, accepted, under_control --cancel--> cancelled
request_documents and record_control keep or put the declaration under control.
"""

from __future__ import annotations

from customhouse.declarations.schemas import State

OPEN = frozenset({State.DRAFT, State.LODGED, State.ACCEPTED, State.UNDER_CONTROL})

ALLOWED: dict[str, frozenset[State]] = {
    "lodge": frozenset({State.DRAFT}),
    "amend": OPEN,
    "cancel": OPEN,
    "accept": frozenset({State.LODGED}),
    "request_documents": frozenset({State.ACCEPTED, State.UNDER_CONTROL}),
    "record_control": frozenset({State.ACCEPTED, State.UNDER_CONTROL}),
    "release": frozenset({State.ACCEPTED, State.UNDER_CONTROL}),
    "reject": frozenset({State.LODGED, State.ACCEPTED, State.UNDER_CONTROL}),
}


def allowed(action: str, state: State) -> bool:
    return state in ALLOWED[action]


def expected_states(action: str) -> str:
    return ", ".join(sorted(ALLOWED[action]))
