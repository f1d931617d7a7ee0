"""The public log: C2SP tlog-tiles under /log, proofs under /api/v1/ledger. No login: everything here
is public by design (a leaf reveals a type, an issuer, a time and a salted commitment, nothing more).

- GET /log/checkpoint: the newest signed checkpoint with the witnesses' cosignatures (text/plain);
- GET /log/key: the log's verifier key (signed-note vkey format), to check checkpoints with;
- GET /log/tile/<L>/<N>[.p/<W>] and /log/tile/entries/<N>[.p/<W>]: hash tiles and entry bundles;
- POST /log/cosignature: a witness hands in the checkpoint with its cosignature;
- GET /api/v1/ledger/proofs/inclusion?index=|leaf_hash=|aggregate_id=[&type=&version=][&size=]
- GET /api/v1/ledger/proofs/consistency?old=[&new=]

Hashes in JSON are lowercase hex; `leaf_hash` is accepted in hex or base64.

`install(app, ledger)` mounts the router, subscribes `service.on_events` to the app's dispatcher and
returns the `Sequencer` that the server runs in a thread.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from customhouse.db import writing
from customhouse.events import DomainEvent
from customhouse.ledger import merkle, note, service, tiles
from customhouse.problems import FieldError, Problem

router = APIRouter(tags=["ledger"])

T = TypeVar("T")
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_NOTE = 64 * 1024


def install(app: FastAPI, ledger: service.Ledger) -> service.Sequencer:
    """Mount the log on `app` and queue leaves from its dispatcher's events. Returns the sequencer
    (also at `app.state.ledger_sequencer`) for the server to run. A second call only replaces the
    ledger's parameters (origin, key, witnesses): the router is mounted and subscribed once."""
    existing: service.Sequencer | None = getattr(app.state, "ledger_sequencer", None)
    if existing is not None:
        app.state.ledger = existing.ledger = ledger
        return existing
    sequencer = service.Sequencer(lambda: app.state.sessions, ledger)
    app.state.ledger = ledger
    app.state.ledger_sequencer = sequencer
    app.include_router(router)

    def on_events(session: Session, delivered: list[DomainEvent]) -> None:
        service.on_events(session, delivered)
        sequencer.notify()

    app.state.dispatcher.subscribe_batch(service.LOGGED, on_events)
    return sequencer


def _ledger(request: Request) -> service.Ledger:
    ledger: service.Ledger = request.app.state.ledger
    return ledger


def _read(request: Request, work: Callable[[Session], T]) -> T:
    try:
        with request.app.state.sessions() as session:
            return work(session)
    except service.NotFound as error:
        raise Problem(404, "not-found", str(error)) from None


def _hex(values: list[bytes]) -> list[str]:
    return [value.hex() for value in values]


# ---------------------------------------------------------------- tlog-tiles


@router.get("/log/checkpoint", summary="The newest signed checkpoint (C2SP tlog-checkpoint)")
def get_checkpoint(request: Request) -> Response:
    message = _read(request, service.checkpoint_message)
    if message is None:
        raise Problem(404, "not-found", "the log has signed no checkpoint yet")
    return Response(message, media_type=TEXT, headers={"Cache-Control": "no-cache"})


@router.get("/log/key", summary="The log's verifier key (C2SP signed-note)")
def get_key(request: Request) -> Response:
    return Response(_ledger(request).log_key.vkey + "\n", media_type=TEXT)


@router.get("/log/tile/{path:path}", summary="A hash tile or entry bundle (C2SP tlog-tiles)")
def get_tile(request: Request, path: str) -> Response:
    try:
        tile = tiles.parse_tile_path(f"tile/{path}")
    except tiles.TileError as error:
        raise Problem(404, "not-found", str(error)) from None
    data = _read(request, lambda session: service.tile_data(session, tile))
    return Response(data, media_type=OCTETS, headers={"Cache-Control": IMMUTABLE})


@router.post("/log/cosignature", summary="A witness's cosignature (C2SP tlog-cosignature)")
async def post_cosignature(request: Request) -> dict[str, Any]:
    """The body is a checkpoint of this log as a signed note carrying the witness's cosignature
    line(s); cosignatures of witnesses this log knows are kept and served with the checkpoint."""
    body = await request.body()
    if len(body) > MAX_NOTE:
        raise Problem(413, "too-large", f"a cosigned checkpoint has at most {MAX_NOTE} bytes")
    ledger = _ledger(request)

    def keep() -> list[str]:
        with writing(request.app.state.sessions) as session:
            return service.add_cosignatures(
                session,
                message=body,
                origin=ledger.origin,
                log_key=ledger.log_key,
                witnesses=ledger.witnesses,
            )

    try:
        added = await run_in_threadpool(keep)
    except service.NotFound as error:
        raise Problem(404, "not-found", str(error)) from None
    except note.NoteError as error:
        raise Problem(422, "validation", f"the cosigned checkpoint is not accepted: {error}") from None
    return {"added": added}


# ---------------------------------------------------------------- proofs


def _hash_parameter(value: str) -> bytes:
    try:
        raw = (
            bytes.fromhex(value)
            if len(value) == 2 * merkle.HASH_SIZE
            else base64.b64decode(value, validate=True)
        )
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise Problem(
            422,
            "validation",
            "leaf_hash is not a SHA-256 hash",
            [FieldError("64 hexadecimal digits, or 44 characters of base64", parameter="leaf_hash")],
        )
    return raw


@router.get("/api/v1/ledger/proofs/inclusion", summary="Inclusion proofs of a leaf or of a document")
def get_inclusion(
    request: Request,
    index: int | None = None,
    leaf_hash: str | None = None,
    aggregate_id: str | None = None,
    aggregate_type: str = "declaration",
    type: str | None = None,
    version: int | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    """Name one leaf by `index` or `leaf_hash`, or a document by `aggregate_id` (with its
    `aggregate_type`, default declaration, and if wanted the leaf `type`, e.g. declaration.version or
    declaration.accepted, and `version`): the answer holds the proof of every leaf named, in the tree
    of `size` leaves (default: the newest), with that tree's checkpoint."""
    named = [
        name
        for name, value in (("index", index), ("leaf_hash", leaf_hash), ("aggregate_id", aggregate_id))
        if value is not None
    ]
    if len(named) != 1:
        raise Problem(
            422,
            "validation",
            "name exactly one of index, leaf_hash or aggregate_id",
            [
                FieldError("give exactly one of these", parameter=name)
                for name in ("index", "leaf_hash", "aggregate_id")
            ],
        )
    wanted = _hash_parameter(leaf_hash) if leaf_hash is not None else None

    def work(session: Session) -> dict[str, Any]:
        head = service.tree_head(session)
        tree_size = size if size is not None else (head.size if head else 0)
        if index is not None:
            indexes = [index]
        else:
            indexes = service.leaf_indexes(
                session,
                leaf_hash=wanted,
                subject_id=aggregate_id,
                subject_type=aggregate_type,
                type=type,
                version=version,
            )
            indexes = [found for found in indexes if found < tree_size]
            if not indexes:
                waiting = (
                    service.queued(session, subject_id=aggregate_id, subject_type=aggregate_type)
                    if aggregate_id
                    else 0
                )
                later = f"; {waiting} of its leaves wait for the next checkpoint" if waiting else ""
                raise service.NotFound(
                    f"no leaf of the log's tree of size {tree_size} is the one named{later}"
                )
        proofs = [service.inclusion_proof(session, index=found, size=tree_size) for found in indexes]
        message = service.checkpoint_message(session, tree_size)
        return {
            "tree_size": tree_size,
            "root_hash": proofs[0].root.hex(),
            "checkpoint": message.decode() if message else None,
            "proofs": [
                {
                    "index": proof.index,
                    "type": proof.type,
                    "leaf_hash": proof.leaf_hash.hex(),
                    "entry": base64.b64encode(proof.entry).decode(),
                    "proof": _hex(proof.proof),
                }
                for proof in proofs
            ],
        }

    return _read(request, work)


@router.get("/api/v1/ledger/proofs/consistency", summary="A consistency proof between two tree sizes")
def get_consistency(request: Request, old: int, new: int | None = None) -> dict[str, Any]:
    """That the tree of `old` leaves is a prefix of the tree of `new` leaves (default: the newest)."""

    def work(session: Session) -> dict[str, Any]:
        try:
            proof = service.consistency_proof(session, old_size=old, new_size=new)
        except service.NotFound:
            raise
        except service.LedgerError as error:
            raise Problem(
                422, "validation", str(error), [FieldError("0 <= old <= new", parameter="old")]
            ) from None
        message = service.checkpoint_message(session, proof.new_size)
        return {
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "old_root": proof.old_root.hex(),
            "new_root": proof.new_root.hex(),
            "checkpoint": message.decode() if message else None,
            "proof": _hex(proof.proof),
        }

    return _read(request, work)
