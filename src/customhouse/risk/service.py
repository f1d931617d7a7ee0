"""Risk management operations: targeting profiles, reference bands, the model registry, lane decisions.

Keyword-only, session first; nothing here commits. Every change writes its event (`risk.*`) and bumps
the counter (`risk_versions`) of what the lane selector caches, in the caller's transaction: a selector
reloads what changed when it sees a newer counter (`risk.selector`). In this process the change is seen
at the next lodgement after the commit (`generation`); other processes see it within the selector's
`max_age`.

Lane decisions are recorded after the fact, from the `declaration.accepted` event (`on_accepted`: one
`risk_decisions` row traced to the rule or model version its reasons name, with the model's explanation
of a yellow or red lane, and a hit for each profile that matched); control outcomes
(`on_control_recorded`) count as the results of those profiles. `subscribe(dispatcher)` wires both.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.db import insert_on_conflict, table, utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.models import DeclarationRecord, DeclarationVersion
from customhouse.declarations.schemas import DeclarationDocument, Lane
from customhouse.declarations.selectivity import LaneDecision
from customhouse.exchange import service as exchange
from customhouse.parties import service as parties
from customhouse.problems import FieldError, Problem
from customhouse.risk import evaluate as ev
from customhouse.risk import history
from customhouse.risk import warnings as early
from customhouse.risk.features import split_by_date, take
from customhouse.risk.lanes import Bands, Parameters, Rule, Snapshot, Trace, decide, trace
from customhouse.risk.model import Params, RiskModel
from customhouse.risk.model import train as train_model
from customhouse.risk.models import Decision, ModelRecord, Passes, Profile, ReferenceBand, RiskVersion
from customhouse.risk.revenue import RevenueRates
from customhouse.risk.schemas import (
    Conditions,
    DecisionOut,
    ModelOut,
    ProfileChange,
    ProfileIn,
    ProfileOut,
)
from customhouse.risk.scoring import STORED_FEATURES, FastScorer
from customhouse.tariff import service as tariff_service
from customhouse.tariff.selection import Role as TariffRole

SYSTEM = Principal("risk", frozenset({Role.SUPERVISOR}))  # reads declarations for explanations
PROFILE = "risk_profile"
MODEL = "risk_model"
COUNTERS = ("profiles", "bands", "model")


# ---------------------------------------------------------------- cache counters


class _Generation:
    """Changes committed by this process: a selector here reloads at its next lodgement."""

    value = 0


generation = _Generation()


def _after_commit(session: Session) -> None:
    if session.info.pop("risk_changed", False):
        generation.value += 1


def _changed(session: Session, *names: str) -> None:
    session.execute(
        update(RiskVersion).where(RiskVersion.name.in_(names)).values(version=RiskVersion.version + 1)
    )
    session.info["risk_changed"] = True
    if not sa_event.contains(session, "after_commit", _after_commit):
        sa_event.listen(session, "after_commit", _after_commit)


def versions(session: Session) -> dict[str, int]:
    return {
        name: int(version) for name, version in session.execute(select(RiskVersion.name, RiskVersion.version))
    }


def _event(
    kind: str, aggregate: str, key: object, by: Principal, reason: str | None = None, **data: Any
) -> events.DomainEvent:
    return events.DomainEvent(
        type=f"risk.{kind}",
        aggregate_type=aggregate,
        aggregate_id=str(key),
        actor=by.name,
        actor_party=by.party_id,
        reason=reason,
        data=data,
        occurred_at=utcnow(),
    )


# ---------------------------------------------------------------- profiles


def _out(profile: Profile) -> ProfileOut:
    return ProfileOut(
        id=profile.id,
        code=profile.code,
        revision=profile.revision,
        active=profile.active,
        lane=Lane(profile.lane),
        priority=profile.priority,
        max_passes=profile.max_passes,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        reason=profile.reason,
        conditions=Conditions.model_validate(profile.conditions),
        hits=profile.hits,
        controls=profile.controls,
        irregular=profile.irregular,
        created_at=profile.created_at,
        created_by=profile.created_by,
        updated_at=profile.updated_at,
        updated_by=profile.updated_by,
    )


def _conditions(conditions: Conditions) -> dict[str, Any]:
    return conditions.model_dump(mode="json", exclude_defaults=True)


def create_profile(session: Session, *, profile: ProfileIn, by: Principal) -> ProfileOut:
    if session.scalar(select(Profile.id).where(Profile.code == profile.code)) is not None:
        raise Problem(
            409,
            "conflict",
            f"a profile {profile.code} exists already; change it, or choose another code",
            [FieldError("already used by another profile", pointer="/code")],
        )
    at = utcnow()
    record = Profile(
        code=profile.code,
        revision=1,
        active=True,
        lane=profile.lane.value,
        priority=profile.priority,
        max_passes=profile.max_passes,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
        reason=profile.reason,
        conditions=_conditions(profile.conditions),
        hits=0,
        controls=0,
        irregular=0,
        created_at=at,
        created_by=by.name,
        updated_at=at,
        updated_by=by.name,
    )
    session.add(record)
    session.flush()
    events.record(
        session, [_event("profile_created", PROFILE, record.id, by, **profile.model_dump(mode="json"))]
    )
    _changed(session, "profiles")
    return _out(record)


def _profile(session: Session, profile_id: int) -> Profile:
    record = session.get(Profile, profile_id)
    if record is None:
        raise Problem(404, "not-found", f"no risk profile {profile_id}")
    return record


def get_profile(session: Session, *, profile_id: int) -> ProfileOut:
    return _out(_profile(session, profile_id))


def find_profile(session: Session, *, code: str) -> ProfileOut:
    record = session.scalar(select(Profile).where(Profile.code == code))
    if record is None:
        raise Problem(404, "not-found", f"no risk profile {code}")
    return _out(record)


def list_profiles(session: Session, *, active: bool | None = None) -> list[ProfileOut]:
    query = select(Profile).order_by(Profile.priority.desc(), Profile.id)
    if active is not None:
        query = query.where(Profile.active.is_(active))
    return [_out(record) for record in session.scalars(query)]


def update_profile(session: Session, *, profile_id: int, change: ProfileChange, by: Principal) -> ProfileOut:
    """Change what a profile decides (a new revision); counters are kept."""
    record = _profile(session, profile_id)
    given = change.model_dump(exclude_unset=True)
    valid_from = given.get("valid_from", record.valid_from)
    valid_to = given.get("valid_to", record.valid_to)
    if valid_from and valid_to and valid_to <= valid_from:
        raise Problem(
            422,
            "validation",
            "the validity window is empty",
            [FieldError("must be after valid_from", pointer="/valid_to")],
        )
    if not given:
        return _out(record)
    for name, value in given.items():
        if name == "lane":
            record.lane = Lane(value).value
        elif name == "conditions":
            record.conditions = _conditions(Conditions.model_validate(value))
        else:
            setattr(record, name, value)
    record.revision += 1
    record.updated_at = utcnow()
    record.updated_by = by.name
    session.flush()
    events.record(
        session,
        [
            _event(
                "profile_changed",
                PROFILE,
                record.id,
                by,
                revision=record.revision,
                change=change.model_dump(mode="json", exclude_unset=True),
            )
        ],
    )
    _changed(session, "profiles")
    return _out(record)


def deactivate_profile(
    session: Session, *, profile_id: int, by: Principal, reason: str | None = None
) -> ProfileOut:
    record = _profile(session, profile_id)
    if not record.active:
        return _out(record)
    record.active = False
    record.revision += 1
    record.updated_at = utcnow()
    record.updated_by = by.name
    session.flush()
    events.record(
        session, [_event("profile_deactivated", PROFILE, record.id, by, reason, revision=record.revision)]
    )
    _changed(session, "profiles")
    return _out(record)


def rules(session: Session) -> list[Rule]:
    """The active profiles, compiled for matching."""
    return [
        Rule.compile(
            id=record.id,
            code=record.code,
            revision=record.revision,
            lane=record.lane,
            priority=record.priority,
            max_passes=record.max_passes,
            reason=record.reason,
            conditions=record.conditions,
            valid_from=record.valid_from,
            valid_to=record.valid_to,
        )
        for record in session.scalars(select(Profile).where(Profile.active.is_(True)))
    ]


# ---------------------------------------------------------------- reference bands, AEO parties


def refresh_bands(session: Session) -> int:
    """Recompute the unit-value reference bands from the stored declarations; return how many."""
    bands = history.unit_value_bands(session)
    session.execute(delete(ReferenceBand))
    if bands:
        session.execute(
            insert(table(ReferenceBand)),
            [
                {"hs6": hs6, "origin": origin, "currency": currency, "count": count, "mean": mean, "sd": sd}
                for (hs6, origin, currency), (mean, sd, count) in bands.items()
            ],
        )
    _changed(session, "bands")
    return len(bands)


def bands(session: Session) -> Bands:
    return {
        (hs6, origin, currency): (float(mean), float(sd), int(count))
        for hs6, origin, currency, mean, sd, count in session.execute(
            select(
                ReferenceBand.hs6,
                ReferenceBand.origin,
                ReferenceBand.currency,
                ReferenceBand.mean,
                ReferenceBand.sd,
                ReferenceBand.count,
            )
        )
    }


# ---------------------------------------------------------------- the model registry


def _model_out(record: ModelRecord) -> ModelOut:
    return ModelOut(
        version=record.version,
        created_at=record.created_at,
        created_by=record.created_by,
        trained_from=record.trained_from,
        trained_to=record.trained_to,
        rows=record.rows,
        metrics=record.metrics,
        revenue=record.revenue,
        sha256=record.sha256,
        promoted=record.promoted,
        promoted_at=record.promoted_at,
    )


def _serialise(model: RiskModel) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.npz"
        model.save(path)
        return path.read_bytes()


def deserialise(blob: bytes, *, threads: int = 1) -> RiskModel:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.npz"
        path.write_bytes(blob)
        return RiskModel.load(path, threads=threads)


def quantiles(probabilities: np.ndarray) -> list[float]:
    return [
        float(q) for q in np.quantile(np.asarray(probabilities, dtype=np.float64), np.linspace(0, 1, 101))
    ]


def train(
    session: Session,
    *,
    by: Principal,
    since: date | None = None,
    until: date | None = None,
    holdout_fraction: float = 0.2,
    params: Params | None = None,
    seed: int = 0,
    threads: int = 1,
    national_currency: str = "",
) -> ModelOut:
    """Train a new model version on stored declarations and their control outcomes (not promoted).

    Controlled declarations are the training rows; the others are history (entity counts, unit-value
    references). Its metrics are those of a model trained on the earlier part of the window and
    scored on the controlled declarations of the later `holdout_fraction` (by date) as the lodgement
    path scores; the stored model is then trained on the whole window. The score quantiles over every
    declaration of the holdout turn target lane shares into thresholds. The revenue recovered by
    controls so far gives the rates of revenue at stake kept with the version (`risk.revenue`)."""
    data = history.labelled(session, since=since, until=until, unlabelled=True)
    known = data.known
    outcomes = data.labels[known]
    if outcomes.size < 20 or len(set(outcomes.tolist())) < 2:
        raise Problem(
            422,
            "validation",
            f"too few control outcomes to train on: {outcomes.size} controlled declarations, "
            f"{int(outcomes.sum())} irregular; record more control results, or widen the window",
        )
    params = params or Params(features=STORED_FEATURES)
    try:
        boundary = split_by_date(data.records["date"], holdout_fraction)
        later = np.asarray(data.records["date"]).astype("datetime64[D]") >= boundary
        early = train_model(
            take(data.records, ~later), data.labels[~later], params=params, seed=seed, threads=threads
        )
        holdout = FastScorer(early).probabilities(take(data.records, later))
        scored = known[later]
        if len(set(data.labels[later][scored].tolist())) < 2:
            raise ValueError("the holdout needs both conforming and irregular outcomes")
        metrics: dict[str, Any] = ev.metrics(data.labels[later][scored], holdout[scored])
        metrics.update(
            holdout_from=str(boundary),
            holdout_rows=int(scored.sum()),
            holdout_declarations=int(later.sum()),
            holdout_irregular_rate=float(data.labels[later][scored].mean()),
            quantiles=quantiles(holdout),  # over every declaration of the holdout: the lodgement traffic
        )
        model = train_model(data.records, data.labels, params=params, seed=seed, threads=threads)
    except ValueError as error:
        raise Problem(422, "validation", f"cannot train on this window: {error}") from None
    revenue = RevenueRates.fit(history.recoveries(session), currency=national_currency)
    return register_model(session, model=model, metrics=metrics, by=by, revenue=revenue)


def register_model(
    session: Session,
    *,
    model: RiskModel,
    metrics: dict[str, Any],
    by: Principal,
    revenue: RevenueRates | None = None,
) -> ModelOut:
    """Keep a trained model as the next version (not promoted); `metrics` should hold `quantiles`."""
    metrics = {
        key: (None if isinstance(value, float) and not np.isfinite(value) else value)
        for key, value in metrics.items()
    }
    blob = _serialise(model)
    version = (session.scalar(select(func.max(ModelRecord.version))) or 0) + 1
    record = ModelRecord(
        version=version,
        created_at=utcnow(),
        created_by=by.name,
        trained_from=date.fromisoformat(str(model.trained["from"])),
        trained_to=date.fromisoformat(str(model.trained["to"])),
        rows=int(model.trained["rows"]),
        metrics=metrics,
        revenue=revenue.dump() if revenue else {},
        blob=blob,
        sha256=hashlib.sha256(blob).hexdigest(),
        promoted=False,
    )
    session.add(record)
    session.flush()
    events.record(
        session,
        [
            _event(
                "model_trained", MODEL, version, by, rows=record.rows, sha256=record.sha256, metrics=metrics
            )
        ],
    )
    return _model_out(record)


def list_models(session: Session) -> list[ModelOut]:
    return [_model_out(r) for r in session.scalars(select(ModelRecord).order_by(ModelRecord.version.desc()))]


def promoted_version(session: Session) -> int | None:
    return session.scalar(select(ModelRecord.version).where(ModelRecord.promoted.is_(True)))


def _promotions(session: Session) -> list[events.DomainEvent]:
    rows = session.scalars(
        select(events.Event).where(events.Event.type == "risk.model_promoted").order_by(events.Event.id)
    )
    return [events.DomainEvent.from_row(row) for row in rows]


def promote(session: Session, *, version: int, by: Principal, reason: str | None = None) -> ModelOut:
    """Score with this version from the next lodgement on."""
    record = session.get(ModelRecord, version)
    if record is None:
        raise Problem(404, "not-found", f"no risk model version {version}")
    current = promoted_version(session)
    if current == version:
        return _model_out(record)
    return _switch(session, record, current, by=by, reason=reason, previous=current)


def _switch(
    session: Session,
    record: ModelRecord,
    current: int | None,
    *,
    by: Principal,
    reason: str | None,
    previous: int | None,
    rollback: bool = False,
) -> ModelOut:
    session.execute(update(ModelRecord).where(ModelRecord.promoted.is_(True)).values(promoted=False))
    session.execute(
        update(ModelRecord)
        .where(ModelRecord.version == record.version)
        .values(promoted=True, promoted_at=utcnow())
    )
    events.record(
        session,
        [
            _event(
                "model_promoted",
                MODEL,
                record.version,
                by,
                reason,
                version=record.version,
                replaced=current,
                previous=previous,
                rollback=rollback,
            )
        ],
    )
    _changed(session, "model")
    session.refresh(record)
    return _model_out(record)


def rollback(session: Session, *, by: Principal, reason: str | None = None) -> ModelOut:
    """Go back to the version promoted before the current one (none before it: no model)."""
    current = promoted_version(session)
    if current is None:
        raise Problem(409, "conflict", "no model is promoted: nothing to roll back")
    made_current = [e for e in _promotions(session) if e.data.get("version") == current]
    before = made_current[-1].data.get("previous") if made_current else None
    if before is None:
        session.execute(update(ModelRecord).where(ModelRecord.promoted.is_(True)).values(promoted=False))
        events.record(session, [_event("model_demoted", MODEL, current, by, reason, version=current)])
        _changed(session, "model")
        return _model_out(session.get(ModelRecord, current))  # type: ignore[arg-type]
    restored = [e for e in _promotions(session) if e.data.get("version") == before]
    chain = restored[-1].data.get("previous") if restored else None
    record = session.get(ModelRecord, before)
    assert record is not None
    return _switch(session, record, current, by=by, reason=reason, previous=chain, rollback=True)


def promoted_model(session: Session, *, threads: int = 1) -> FastScorer | None:
    record = session.scalar(select(ModelRecord).where(ModelRecord.promoted.is_(True)))
    if record is None:
        return None
    model = deserialise(record.blob, threads=threads)
    return FastScorer(
        model,
        version=record.version,
        quantiles=list(record.metrics.get("quantiles") or []),
        revenue=RevenueRates.load(record.revenue),
    )


# ---------------------------------------------------------------- decisions


def passes(session: Session, *, office: str, profile_ids: list[int]) -> dict[int, int]:
    """The profiles' passes without control at an office, their rows locked until the lodgement
    commits (created at 0 when missing), so that concurrent lodgements count one after another."""
    session.execute(
        insert_on_conflict(session, Passes).on_conflict_do_nothing(),
        [{"profile_id": profile_id, "office": office, "passes": 0} for profile_id in profile_ids],
    )
    rows = session.execute(
        select(Passes.profile_id, Passes.passes)
        .where(Passes.office == office, Passes.profile_id.in_(profile_ids))
        .with_for_update()
    )
    return {profile_id: count for profile_id, count in rows}


def count_passes(session: Session, *, office: str, counts: dict[int, int]) -> None:
    for profile_id, count in counts.items():
        where = (Passes.profile_id == profile_id) & (Passes.office == office)
        session.execute(update(Passes).where(where).values(passes=count))


def aeo(session: Session) -> frozenset[str]:
    """Authorised economic operators: this administration's register, and the partners' AEOs it
    recognises under mutual recognition agreements (WCO SAFE)."""
    return parties.aeo_parties(session) | exchange.recognised_aeo(session)


def snapshot(session: Session) -> Snapshot:
    """Everything a lane decision reads, fresh from the database."""
    return Snapshot.build(rules(session), bands(session), aeo(session), promoted_model(session))


def evaluate(
    session: Session,
    *,
    document: DeclarationDocument,
    at: datetime | None = None,
    parameters: Parameters | None = None,
) -> LaneDecision:
    """The lane the risk engine would give this declaration now (a dry run: nothing is stored, and
    random exploration is left out)."""
    return decide(
        snapshot(session), document, parameters or Parameters(), at=at or utcnow(), uniform=lambda: 1.0
    )


_scorers: dict[tuple[int, str], FastScorer] = {}  # (version, sha256): models the explanations used


def _scorer(session: Session, version: int) -> FastScorer | None:
    record = session.get(ModelRecord, version)
    if record is None:
        return None
    key = (version, record.sha256)
    if key not in _scorers:
        if len(_scorers) >= 2:
            _scorers.pop(next(iter(_scorers)))
        _scorers[key] = FastScorer(deserialise(record.blob), version=version)
    return _scorers[key]


def _explanation(session: Session, event: events.DomainEvent, found: Trace) -> list[str]:
    """Why the model sent a declaration to the yellow or red lane: the features that raised its score
    most, computed here (after the fact) because LightGBM's contributions cost more than the rest of
    the lane decision."""
    if found.source != "model" or event.data.get("lane") == Lane.GREEN.value or found.model_version is None:
        return []
    scorer = _scorer(session, found.model_version)
    if scorer is None:
        return []
    declaration = declarations.get(
        session, declaration_id=uuid.UUID(event.aggregate_id), by=SYSTEM, version=1
    )
    return scorer.explain(declaration.document, event.occurred_at)


def on_accepted(session: Session, event: events.DomainEvent) -> None:
    """Record the lane decision of an accepted declaration and count the hits of its profiles."""
    on_accepted_many(session, [event])


def on_accepted_many(session: Session, accepted: list[events.DomainEvent]) -> None:
    """`on_accepted` for a pass of events, in a few statements (idempotent: an event already recorded
    is skipped)."""
    done = set(
        session.scalars(
            select(Decision.event_id).where(Decision.event_id.in_([e.event_id for e in accepted]))
        )
    )
    rows: list[dict[str, Any]] = []
    hits: Counter[int] = Counter()
    for event in accepted:
        if event.event_id in done:
            continue
        done.add(event.event_id)
        reasons = [str(reason) for reason in event.data.get("reasons", [])]
        found = trace(reasons)
        rows.append(
            {
                "event_id": event.event_id,
                "declaration_id": uuid.UUID(event.aggregate_id),
                "decided_at": event.occurred_at,
                "lane": str(event.data.get("lane")),
                "source": found.source,
                "profile_id": found.profile_id,
                "profile_revision": found.profile_revision,
                "matched": [list(pair) for pair in found.matched],
                "model_version": found.model_version,
                "probability": found.probability,
                "revenue_at_stake": found.revenue_at_stake,
                "reasons": reasons,
                "explanation": _explanation(session, event, found),
                "outcome": None,
            }
        )
        hits.update({profile_id for profile_id, _ in found.matched})
    if rows:
        session.execute(insert(table(Decision)), rows)
    by_count: dict[int, list[int]] = {}
    for profile_id, count in hits.items():
        by_count.setdefault(count, []).append(profile_id)
    for count, ids in by_count.items():
        session.execute(update(Profile).where(Profile.id.in_(sorted(ids))).values(hits=Profile.hits + count))


def on_control_recorded(session: Session, event: events.DomainEvent) -> None:
    """Count a control outcome as a result of the profiles that matched the declaration."""
    outcome = event.data.get("outcome")
    if outcome not in ("conforming", "irregularity"):
        return
    decision = session.scalar(
        select(Decision)
        .where(Decision.declaration_id == uuid.UUID(event.aggregate_id))
        .order_by(Decision.id.desc())
        .limit(1)
    )
    if decision is None or decision.outcome == outcome:
        return
    first = decision.outcome is None
    irregular = (1 if outcome == "irregularity" else 0) - (1 if decision.outcome == "irregularity" else 0)
    decision.outcome = outcome
    ids = sorted({int(pair[0]) for pair in decision.matched})
    if ids:
        session.execute(
            update(Profile)
            .where(Profile.id.in_(ids))
            .values(controls=Profile.controls + (1 if first else 0), irregular=Profile.irregular + irregular)
        )
    session.flush()


ACCEPTED, CONTROLLED = "declaration.accepted", "declaration.control_recorded"


def on_events(session: Session, happened: list[events.DomainEvent]) -> None:
    """A dispatcher pass of acceptances and controls, in order (a control may follow its acceptance in
    the same pass): runs of acceptances in bulk, controls one by one."""
    run: list[events.DomainEvent] = []
    for event in happened:
        if event.type == ACCEPTED:
            run.append(event)
            continue
        if run:
            on_accepted_many(session, run)
            run = []
        if event.type == CONTROLLED:
            on_control_recorded(session, event)
    if run:
        on_accepted_many(session, run)


def subscribe(dispatcher: events.Dispatcher) -> None:
    dispatcher.subscribe_batch((ACCEPTED, CONTROLLED), on_events)


def decisions(session: Session, *, declaration_id: uuid.UUID) -> list[DecisionOut]:
    rows = session.scalars(
        select(Decision).where(Decision.declaration_id == declaration_id).order_by(Decision.id)
    )
    return [
        DecisionOut(
            declaration_id=str(row.declaration_id),
            decided_at=row.decided_at,
            lane=Lane(row.lane),
            source=row.source,
            profile_id=row.profile_id,
            profile_revision=row.profile_revision,
            matched=row.matched,
            model_version=row.model_version,
            probability=row.probability,
            revenue_at_stake=row.revenue_at_stake,
            reasons=row.reasons,
            explanation=row.explanation,
            outcome=row.outcome,
        )
        for row in rows
    ]


BASELINE = timedelta(days=90)  # what the window is compared with, before it


# ---------------------------------------------------------------- early warning


def warnings(
    session: Session, *, since: datetime, until: datetime, baseline: timedelta = BASELINE
) -> list[early.Warning]:
    """Early warnings about the declarations lodged in [since, until), against the `baseline` before,
    the unit-value bands (refreshed by `risk train` / `risk bands`; computed now when there are none)
    and the anti-dumping and countervailing measures of the tariff in force; and the mismatches found
    in that window between partners' export data and our imports (`exchange`)."""
    stored = DeclarationVersion
    rows = session.execute(
        select(
            DeclarationRecord.id, DeclarationRecord.lodged_at, DeclarationRecord.importer_id, stored.document
        )
        .join(
            stored,
            (stored.declaration_id == DeclarationRecord.id) & (stored.version == DeclarationRecord.version),
        )
        .where(DeclarationRecord.lodged_at >= since - baseline, DeclarationRecord.lodged_at < until)
    )
    lodged = [
        early.Lodged(
            declaration_id=str(declaration_id),
            lodged_at=lodged_at,
            importer=importer,
            dispatch=document["country_of_dispatch"],
            currency=document["invoice_currency"],
            total=Decimal(document["invoice_total"]),
            items=tuple(
                early.Item(
                    item["sequence"],
                    item["hs_code"],
                    item["origin"],
                    Decimal(item["price"]),
                    Decimal(item["net_mass"]),
                )
                for item in document["goods_items"]
            ),
        )
        for declaration_id, lodged_at, importer, document in rows
    ]
    found = early.early_warnings(
        lodged,
        since=since,
        until=until,
        baseline=baseline,
        bands=bands(session) or history.unit_value_bands(session),
        dumping=_dumping(session, until.date()),
    )
    return found + [
        early.Warning(
            kind="partner_mismatch",
            subject=f"declaration {row.declaration_id}",
            text=f"the partner's export data disagrees on the {row.field}: {row.detail}",
            declarations=[str(row.declaration_id)],
            evidence={"pointer": row.pointer, "exported": row.exported, "declared": row.declared},
        )
        for row in exchange.mismatches(session, by=SYSTEM, found=(since, until), limit=10_000)
    ]


def _dumping(session: Session, on: date) -> dict[str, frozenset[str]]:
    """HS prefix -> the origins named by its anti-dumping and countervailing measures in force."""
    tariff = tariff_service.current(session)
    named: dict[str, set[str]] = {}
    for prefix, measures in (tariff.lines if tariff else {}).items():
        for measure in measures:
            if measure.role in (TariffRole.ANTI_DUMPING, TariffRole.COUNTERVAILING) and measure.in_force(on):
                named.setdefault(prefix, set()).update(measure.origins)
    return {prefix: frozenset(origins) for prefix, origins in named.items() if origins}
