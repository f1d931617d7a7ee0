"""`RiskSelector`: the risk engine behind the declarations' `LaneSelector` port.

It decides with `risk.lanes.decide` on an in-memory `Snapshot` (profiles, reference bands, AEO parties,
the promoted model made ready by `risk.scoring.FastScorer`), so that a lodgement costs no query for
risk. The snapshot is reloaded, part by part, when the counters in `risk_versions` say that profiles,
bands or the model changed. The counters are read:

- at the next lodgement after this process committed a change (`risk.service.generation`): a rule
  change or a promotion takes effect for the next lodgement;
- otherwise at most every `max_age` seconds (other processes' changes; the AEO register is re-read then
  too). `max_age=0` reads them at every lodgement.

The counters are read with the lodgement's own session when the caller passes one, else with a session
of `sessions` (the application's factory).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, utcnow
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.declarations.selectivity import LaneDecision
from customhouse.risk import service
from customhouse.risk.lanes import (
    OfficeShares,
    Parameters,
    Rule,
    Snapshot,
    decide,
    limit_passes,
    limited,
)

log = logging.getLogger(__name__)


class RiskSelector:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        parameters: Parameters | None = None,
        *,
        max_age: float = 1.0,
        uniform: Callable[[], float] | None = None,
        threads: int = 1,
    ) -> None:
        self.sessions = sessions
        self.parameters = parameters or Parameters()
        self.max_age = max_age
        self.uniform = uniform or random.SystemRandom().random
        self.threads = threads
        self.snapshot = Snapshot()
        self._versions: dict[str, int] | None = None
        self._generation = -1
        self._checked = -float("inf")
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session] | None = None) -> RiskSelector:
        """The selector the settings describe (`CUSTOMHOUSE_RISK_*`, see `parameters_from`); without
        `sessions`, sessions on the settings' database."""
        sessions = sessions or make_session_factory(make_engine(settings.database_url))
        return cls(sessions, parameters_from(settings), max_age=settings.risk_refresh_seconds)

    def select(
        self,
        document: DeclarationDocument,
        *,
        session: Session | None = None,
        at: datetime | None = None,
        again: bool = False,
    ) -> LaneDecision:
        """The lane; passes without control are counted (and limited) at acceptance only, not `again`
        for an amended version: the declaration passed once."""
        self.refresh(session)
        snapshot, office = self.snapshot, document.office_of_lodgement
        decision = decide(snapshot, document, self.parameters, at=at or utcnow(), uniform=self.uniform)
        rules = [] if again else limited(snapshot, decision, self.parameters, office)
        if not rules:
            return decision
        if session is not None:
            return self._count(session, decision, rules, office)
        with self.sessions() as own, own.begin():
            return self._count(own, decision, rules, office)

    def _count(
        self, session: Session, decision: LaneDecision, rules: list[Rule], office: str
    ) -> LaneDecision:
        """Passes without control, counted in the caller's transaction (see `risk.lanes.limit_passes`)."""
        ids = sorted(rule.id for rule in rules)
        before = service.passes(session, office=office, profile_ids=ids)
        decision, after = limit_passes(decision, rules, before, self.parameters, office)
        service.count_passes(session, office=office, counts=after)
        return decision

    def refresh(self, session: Session | None = None, *, force: bool = False) -> None:
        """Reload what changed, if it is time to look (see the module docstring)."""
        now = time.monotonic()
        due = force or service.generation.value != self._generation or now - self._checked >= self.max_age
        if not due:
            return
        with self._lock:
            generation = service.generation.value
            if session is not None:
                self._load(session)
            else:
                with self.sessions() as own:
                    self._load(own)
            self._generation, self._checked = generation, now

    def _load(self, session: Session) -> None:
        current = service.versions(session)
        previous = self._versions or {}
        snapshot = replace(self.snapshot, aeo=service.aeo(session))
        if current.get("profiles") != previous.get("profiles"):
            snapshot = Snapshot.build(service.rules(session), snapshot.bands, snapshot.aeo, snapshot.scorer)
        if current.get("bands") != previous.get("bands"):
            snapshot = replace(snapshot, bands=service.bands(session))
        if current.get("model") != previous.get("model"):
            scorer = service.promoted_model(session, threads=self.threads)
            snapshot = replace(snapshot, scorer=scorer)
            log.info("risk model %s in use", scorer.version if scorer else "(none)")
        self.snapshot, self._versions = snapshot, current


def parameters_from(settings: Settings) -> Parameters:
    """Lane parameters from the settings (`CUSTOMHOUSE_RISK_*`, see `config.Settings`)."""
    return Parameters(
        exploration=settings.risk_exploration,
        exploration_red_share=settings.risk_exploration_red_share,
        red_threshold=settings.risk_red_threshold,
        yellow_threshold=settings.risk_yellow_threshold,
        aeo_factor=settings.risk_aeo_factor,
        office_shares={
            office: OfficeShares(*shares) for office, shares in settings.risk_office_shares.items()
        },
        default_shares=OfficeShares(*settings.risk_default_shares) if settings.risk_default_shares else None,
        office_exploration=settings.risk_office_exploration,
        max_passes=settings.risk_max_passes,
        office_max_passes=settings.risk_office_max_passes,
    )
