"""The stored transparency log: leaves from events, batched sequencing into signed checkpoints, proofs,
tiles, witness cosignatures, and `verify`, which recomputes everything from the database.

**Leaves.** A leaf commits to one document or decision without revealing it:

    commitment = SHA-256(salt || {"actor":"<who acted>",
                                  "document":"<hex SHA-256 of the canonical document bytes>",
                                  "subject":"<aggregate type>/<aggregate id>"[,"version":<n>]})
    leaf       = {"commitment":"<hex>","issuer":"customs","time":"<RFC 3339 UTC, microseconds>Z",
                  "type":"<leaf type>"}

both canonical JSON (sorted keys, no whitespace, UTF-8: `canonical_json`); the RFC 9162 leaf hash is
SHA-256(0x00 || leaf). The salt is 16 random bytes per leaf, kept in the database beside the
commitment's other fields, so that nobody holding only the public leaf can test guesses of the
document. The type and the time are public in the leaf; who acted, the subject and the document are
not (the leaf's issuer is the administration). The document stays where it is: a declaration version in
`declaration_versions` (its canonical bytes are what `declarations.service.canonical` hashes into
`content_hash`), a decision in the append-only `events` table (its canonical bytes are the
canonical JSON of the event's data).

Which events become leaves (`leaves_for`): every declaration version (`declaration.lodged`,
`declaration.amended`, `declaration.control_recorded` with a patch: leaf type `declaration.version`),
and the decisions `declaration.accepted` (lane and reasons), `declaration.control_recorded`,
`declaration.released`, `declaration.assessed`, `payment.succeeded`, `certificate.issued` and
`certificate.revoked` (leaf type = event type). `on_events` queues them in the events' delivery
transaction, so each event is queued exactly once.

**Queueing and sequencing.** `queue` writes each leaf once, into `ledger_leaves`, with the next
leaf index (under a lock to the end of its transaction, so committed leaves are a contiguous run in
queue order). `sequence` takes up to `limit` leaves past the newest checkpoint, writes their stored
hashes (`merkle.stored_hashes_for_batch`, reading the earlier hashes it needs in one query), signs a
C2SP checkpoint of the new tree and stores it, all in the caller's transaction: a crash at any moment
leaves the old tree or the new one. A leaf is in the tree once a checkpoint covers its index; until
then look-ups and proofs do not see it. On PostgreSQL advisory transaction locks serialise queues and
sequencers (one lock each); on SQLite the caller's `db.writing` (BEGIN IMMEDIATE) does.

**Storage.** Leaves keep the commitment's fields (the leaf bytes are rebuilt from them), the leaf
hash, and two look-up keys (8 bytes of the leaf hash, 8 bytes of SHA-256 of the subject), indexed
after the leaf's bucket (idx >> 14): a batch then inserts its random keys into a few index pages
instead of all over the index (SQLite alone, 400,000 rows in 1,000-row transactions with two such
indexes: 105,000 rows/s bucketed, 27,600 not); a look-up probes one index entry per bucket. The
driver's cursor writes leaves and stored hashes and reads stored hashes (the ORM's per-row work cost
more than the rest of sequencing).

**Privacy.** Entry bundles are public: a leaf shows only the kind of record, its time and the
administration as issuer. The actor (a trader's user name, which names its party) is inside the
salted commitment, with the subject and the document.

**Other domains' tables.** `verify` reads the documents read-only (declaration versions via
`customhouse.declarations.models`, event data via `customhouse.events`); the log never changes them.
`on_events` also reads one `declaration_versions.content_hash` for the events that carry only the
version number (`declaration.amended`, `declaration.control_recorded` with a patch): were those
events to carry `content_hash` as `declaration.lodged` does, that read would go.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Dialect, func, insert, select, text, tuple_
from sqlalchemy.orm import Session, sessionmaker

from customhouse.config import Settings
from customhouse.db import table, utcnow, writing
from customhouse.declarations.models import DeclarationVersion
from customhouse.events import DomainEvent, Event
from customhouse.keys import load_or_create
from customhouse.ledger import merkle, note, tiles
from customhouse.ledger.models import BUCKET_BITS, Cosignature, Leaf
from customhouse.ledger.models import Checkpoint as CheckpointRecord

log = logging.getLogger(__name__)

VERSION = "declaration.version"
VERSIONED = frozenset({"declaration.lodged", "declaration.amended", "declaration.control_recorded"})
DECISIONS = frozenset(
    {
        "declaration.accepted",
        "declaration.control_recorded",
        "declaration.released",
        "declaration.assessed",
        "payment.succeeded",
        "certificate.issued",
        "certificate.revoked",
    }
)
LOGGED = VERSIONED | DECISIONS
"""The event types `on_events` subscribes to."""

SALT_SIZE = 16
BATCH = 10_000  # leaves per sequencing transaction
KEY_FILE = Path("keys") / "ledger-note.key"
WITNESS_KEY_FILE = Path("keys") / "witness-note.key"
_LOCK = 0x6C65646765720001  # pg_advisory_xact_lock key of the sequencer ("ledger" + 1)
_QUEUE_LOCK = 0x6C65646765720002  # and of the queue, which numbers leaves


class LedgerError(ValueError):
    """An event that cannot be logged, or a request for what the log does not have."""


class NotFound(LedgerError):
    """A leaf, tree size or tile that the log does not have (yet)."""


# -- leaves ------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that are hashed."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def document_hash(document: Any) -> bytes:
    """SHA-256 of a JSON document's canonical bytes (as `declarations.service.canonical` hashes)."""
    return hashlib.sha256(canonical_json(document)).digest()


def rfc3339(moment: datetime) -> str:
    """UTC with microseconds and a Z: the one spelling of a leaf's time."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return (  # an f-string: isoformat(timespec=...) takes half again as long, and leaves are hashed in bulk
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


ISSUER = "customs"  # the issuer every public leaf names: the administration, not its user


def commitment_hash(
    *, salt: bytes, subject: str, version: int | None, document_hash: bytes, actor: str
) -> bytes:
    opening: dict[str, Any] = {"actor": actor, "document": document_hash.hex(), "subject": subject}
    if version is not None:
        opening["version"] = version
    return hashlib.sha256(salt + canonical_json(opening)).digest()


def leaf_bytes(*, type: str, issuer: str, time: datetime, commitment: bytes) -> bytes:
    return canonical_json(
        {"commitment": commitment.hex(), "issuer": issuer, "time": rfc3339(time), "type": type}
    )


@dataclass(frozen=True, slots=True)
class Commitment:
    """What one leaf commits to; the fields a leaf row keeps."""

    type: str
    issuer: str
    time: datetime
    subject_type: str
    subject_id: str
    version: int | None
    salt: bytes
    document_hash: bytes
    event_id: uuid.UUID | None = None

    @classmethod
    def from_row(cls, row: Any) -> Commitment:
        return cls(
            type=row.type,
            issuer=row.issuer,
            time=row.time,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            version=row.version,
            salt=bytes(row.salt),
            document_hash=bytes(row.document_hash),
            event_id=row.event_id,
        )

    @property
    def subject(self) -> str:
        return f"{self.subject_type}/{self.subject_id}"

    def commitment(self) -> bytes:
        return commitment_hash(
            salt=self.salt,
            subject=self.subject,
            version=self.version,
            document_hash=self.document_hash,
            actor=self.issuer,
        )

    def leaf(self) -> bytes:
        """The public leaf names the administration as issuer: who acted (a trader's user, an officer)
        is committed to, not shown, as trade data is confidential."""
        return leaf_bytes(type=self.type, issuer=ISSUER, time=self.time, commitment=self.commitment())

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.leaf())

    def values(self) -> tuple[Any, ...]:
        """The row's values in the order of `COLUMNS`."""
        leaf_hash = self.leaf_hash()
        return (
            self.event_id,
            self.type,
            self.issuer,
            self.time,
            self.subject_type,
            self.subject_id,
            self.version,
            self.salt,
            self.document_hash,
            leaf_hash,
            lookup_key(leaf_hash),
            subject_key(self.subject_type, self.subject_id),
        )


COLUMNS = (
    "event_id",
    "type",
    "issuer",
    "time",
    "subject_type",
    "subject_id",
    "version",
    "salt",
    "document_hash",
    "leaf_hash",
    "leaf_key",
    "subject_key",
)
"""A leaf row's columns but its index and bucket: the values of `Commitment.values`."""


def lookup_key(digest: bytes) -> int:
    """The first 8 bytes of a hash as a signed 64-bit integer: what the look-up indexes hold."""
    return int.from_bytes(digest[:8], "big", signed=True)


def subject_key(subject_type: str, subject_id: str) -> int:
    return lookup_key(hashlib.sha256(f"{subject_type}/{subject_id}".encode()).digest())


VersionHash = Callable[[str, int], str | None]
"""(declaration id, version) -> the version's content_hash, for events that carry only the version."""


def leaves_for(event: DomainEvent, *, version_hash: VersionHash | None = None) -> list[Commitment]:
    """The leaves an event becomes (none, one, or two for a control that corrected the document).

    A declaration version commits to the version's `content_hash`: from the event's data when it
    carries one (`declaration.lodged`), else looked up by `version_hash` (amendments and corrections
    carry only the version number). A decision commits to the canonical JSON of the event's data.
    """
    out = []
    if event.type in VERSIONED and (event.type != "declaration.control_recorded" or "patch" in event.data):
        version = event.data.get("version")
        content = event.data.get("content_hash")
        if content is None and isinstance(version, int) and version_hash is not None:
            content = version_hash(event.aggregate_id, version)
        if not isinstance(version, int) or not isinstance(content, str):
            raise LedgerError(f"{event.type} {event.event_id} names no document version and content hash")
        out.append(_commitment(event, VERSION, bytes.fromhex(content), version))
    if event.type in DECISIONS:
        out.append(_commitment(event, event.type, document_hash(event.data), None))
    return out


def _commitment(event: DomainEvent, kind: str, digest: bytes, version: int | None) -> Commitment:
    return Commitment(
        type=kind,
        issuer=event.actor,
        time=event.occurred_at,
        subject_type=event.aggregate_type,
        subject_id=event.aggregate_id,
        version=version,
        salt=os.urandom(SALT_SIZE),
        document_hash=digest,
        event_id=event.event_id,
    )


def on_events(session: Session, delivered: Sequence[DomainEvent]) -> None:
    """Batch dispatcher handler: queue the leaves of a pass of events in one statement, in order, in
    their delivery transaction (so each event is queued exactly once)."""
    version_hash = _stored_version_hash(session)
    queue(session, [leaf for event in delivered for leaf in leaves_for(event, version_hash=version_hash)])


def _stored_version_hash(session: Session) -> VersionHash:
    def lookup(declaration_id: str, version: int) -> str | None:
        return session.scalar(
            select(DeclarationVersion.content_hash).where(
                DeclarationVersion.declaration_id == uuid.UUID(declaration_id),
                DeclarationVersion.version == version,
            )
        )

    return lookup


def queue(session: Session, commitments: Sequence[Commitment]) -> None:
    """Queue leaves for the next sequencing, in the caller's transaction: each gets the next leaf
    index now, in queue order, and is written once; `sequence` later integrates them into the tree.

    Indexes are given under a lock held to the end of the transaction (PostgreSQL: an advisory lock;
    SQLite: the caller's `db.writing`, BEGIN IMMEDIATE), so the committed leaves are always a contiguous
    run and one queued after another commits after it.
    One `executemany` on the driver's cursor, the values converted by the columns' own bind
    processors: the ORM's per-row work would cost more than the rest of sequencing together.
    """
    if not commitments:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _QUEUE_LOCK})
    processors = _bind_processors(connection.dialect)
    rows = []
    for index, commitment in enumerate(commitments, next_index(session)):
        values = [index, index >> BUCKET_BITS, *commitment.values()]
        for position, process in processors:
            values[position] = process(values[position])
        rows.append(values)
    mark = _mark(connection.dialect)
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO ledger_leaves (idx, bucket, {', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * (len(COLUMNS) + 2))})",
            rows,
        )
    finally:
        cursor.close()


def next_index(session: Session) -> int:
    """The index the next queued leaf gets: the number of leaves, sequenced or queued."""
    return int(session.scalar(select(func.coalesce(func.max(Leaf.idx) + 1, 0))) or 0)


_processors: dict[str, list[tuple[int, Callable[[Any], Any]]]] = {}


def _bind_processors(dialect: Dialect) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position in a row of `queue`, the column type's bind processor) of the columns whose values the
    driver does not take as they are (the UUID and the time; str, int and bytes pass unchanged)."""
    if dialect.name not in _processors:
        columns = table(Leaf).columns
        found = [
            (2 + COLUMNS.index(name), columns[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in ("event_id", "time")
        ]
        _processors[dialect.name] = [
            (position, process) for position, process in found if process is not None
        ]
    return _processors[dialect.name]


def _mark(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


# -- stored hashes -----------------------------------------------------------------------------------


class StoredHashes:
    """The `ledger_hashes` table as a `merkle.HashReader`, in the session's transaction.

    One query a call (`WHERE idx IN (...)`, or `= ANY(...)` on PostgreSQL), through the driver's
    own cursor: a proof is then one round trip and no ORM work.
    """

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self._dbapi = connection.connection
        self._postgres = connection.dialect.name == "postgresql"
        self._mark = "%s" if self._postgres else "?"

    def read(self, coordinates: Sequence[merkle.Coordinate]) -> list[bytes]:
        indexes = []
        for level, n in coordinates:  # merkle.stored_hash_index, inlined: a proof asks for ~2 log2 n
            last = ((n + 1) << level) - 1
            indexes.append(2 * last - last.bit_count() + level)
        found = self.fetch(indexes)
        try:
            return [found[index] for index in indexes]
        except KeyError as error:
            raise merkle.ProofError(f"stored hash {error.args[0]} is not in the database") from None

    def fetch(self, indexes: Iterable[int]) -> dict[int, bytes]:
        wanted = list(indexes)
        if not wanted:
            return {}
        cursor = self._dbapi.cursor()
        try:
            if self._postgres:
                cursor.execute("SELECT idx, hash FROM ledger_hashes WHERE idx = ANY(%s)", (wanted,))
            else:
                cursor.execute(_select_hashes(len(wanted)), wanted)
            return dict(cursor.fetchall())  # both drivers give BLOB and BYTEA as bytes
        finally:
            cursor.close()

    def range(self, start: int, stop: int) -> dict[int, bytes]:
        """The stored hashes with start <= idx < stop."""
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(
                f"SELECT idx, hash FROM ledger_hashes WHERE idx >= {self._mark} AND idx < {self._mark}",
                (start, stop),
            )
            return dict(cursor.fetchall())
        finally:
            cursor.close()

    def write(self, start: int, hashes: Sequence[bytes]) -> None:
        """Store `hashes` at stored hash indexes start, start + 1, ..."""
        cursor = self._dbapi.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO ledger_hashes (idx, hash) VALUES ({self._mark}, {self._mark})",
                list(enumerate(hashes, start)),
            )
        finally:
            cursor.close()


@cache
def _select_hashes(count: int) -> str:
    return f"SELECT idx, hash FROM ledger_hashes WHERE idx IN ({','.join('?' * count)})"


# -- sequencing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sequenced:
    old_size: int
    size: int
    root: bytes
    note: bytes


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: bytes
    note: str


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def tree_head(session: Session) -> TreeHead | None:
    """The newest checkpoint: the tree's size, root and signed note (without cosignatures)."""
    row = session.execute(
        select(CheckpointRecord.size, CheckpointRecord.root, CheckpointRecord.note)
        .order_by(CheckpointRecord.size.desc())
        .limit(1)
    ).first()
    return TreeHead(row.size, bytes(row.root), row.note) if row else None


def sequence(
    session: Session, *, signer: note.Signer, origin: str, limit: int = BATCH, at: datetime | None = None
) -> Sequenced | None:
    """Integrate up to `limit` queued leaves and sign the new tree's checkpoint, in the caller's
    transaction (on SQLite, one begun by `db.writing`). Returns None when nothing was queued and a
    checkpoint exists; the very first call signs the empty tree even with nothing queued."""
    _lock(session)
    head = tree_head(session)
    start = head.size if head else 0
    connection = session.connection()
    mark = _mark(connection.dialect)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"SELECT idx, leaf_hash FROM ledger_leaves WHERE idx >= {mark} ORDER BY idx LIMIT {mark}",
            (start, limit),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows and head is not None:
        return None
    if rows and (rows[0][0] != start or rows[-1][0] != start + len(rows) - 1):
        raise LedgerError(f"queued leaves {rows[0][0]} to {rows[-1][0]} do not follow the tree's {start}")
    leaves = [bytes(leaf_hash) for _, leaf_hash in rows]
    store = StoredHashes(session)
    base = merkle.stored_hash_count(start)
    added = merkle.stored_hashes_for_batch(start=start, leaves=leaves, read=store.read)
    store.write(base, added)
    size = start + len(leaves)

    def read(coordinates: Sequence[merkle.Coordinate]) -> list[bytes]:
        indexes = [merkle.stored_hash_index(level, n) for level, n in coordinates]
        older = store.fetch(index for index in indexes if index < base)
        return [added[index - base] if index >= base else older[index] for index in indexes]

    root = merkle.root_hash(size, read)
    message = note.sign_checkpoint(note.Checkpoint(origin, size, root), signer=signer)
    session.execute(
        insert(table(CheckpointRecord)).values(
            size=size, root=root, note=message.decode(), created_at=at or utcnow()
        )
    )
    return Sequenced(start, size, root, message)


class Ledger:
    """This log's parameters: its origin, its signing key (read from `key_file`, created there at
    first use, unless given), and the witnesses whose cosignatures it keeps (verifier keys)."""

    def __init__(
        self,
        *,
        origin: str,
        key_file: Path | None = None,
        signer: note.Signer | None = None,
        witnesses: Iterable[str | note.Verifier] = (),
    ) -> None:
        if key_file is None and signer is None:
            raise ValueError("a ledger needs its key file or its signer")
        self.origin = origin
        self.key_file = key_file
        self._signer = signer
        self.witnesses = [
            witness if isinstance(witness, note.Verifier) else note.parse_verifier_key(witness)
            for witness in witnesses
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> Ledger:
        """From CUSTOMHOUSE_LEDGER_ORIGIN, _LEDGER_KEY_FILE and _LEDGER_WITNESSES, else the defaults:
        `default_origin`, var_dir/keys/ledger-note.key, none."""
        origin = settings.ledger_origin or default_origin(public_url=settings.public_url, host=settings.host)
        key_file = settings.ledger_key_file or settings.var_dir / KEY_FILE
        return cls(origin=origin, key_file=Path(key_file), witnesses=settings.ledger_witnesses)

    @cached_property
    def signer(self) -> note.Signer:
        if self._signer is not None:
            return self._signer
        assert self.key_file is not None
        return load_signer(self.key_file, name=self.origin)

    @property
    def log_key(self) -> note.Verifier:
        return self.signer.verifier


class Sequencer:
    """Sequences queued leaves about every `interval` seconds, in a thread of the server.

    `sessions` is called for the session factory at each pass (the app's may be replaced after
    start-up, as tests do). `notify()` wakes it early; it then waits `settle` seconds so that the
    transaction that queued the leaves has committed and more leaves join the batch.
    """

    def __init__(
        self,
        sessions: Callable[[], sessionmaker[Session]],
        ledger: Ledger,
        *,
        limit: int = BATCH,
        settle: float = 0.05,
    ) -> None:
        self._sessions = sessions
        self.ledger = ledger
        self.limit = limit
        self.settle = settle
        self._wake = threading.Event()

    def notify(self) -> None:
        self._wake.set()

    def run_once(self) -> list[Sequenced]:
        """Sequence until nothing is queued; one transaction per batch."""
        done: list[Sequenced] = []
        signer, origin = self.ledger.signer, self.ledger.origin
        while True:
            with writing(self._sessions()) as session:
                result = sequence(session, signer=signer, origin=origin, limit=self.limit)
            if result is None:
                return done
            done.append(result)
            if result.size - result.old_size < self.limit:
                return done

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("ledger sequencing pass failed")
            if self._wake.wait(interval):
                self._wake.clear()
                stop.wait(self.settle)


# -- reading the log -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inclusion:
    index: int
    size: int
    type: str
    entry: bytes
    leaf_hash: bytes
    proof: list[bytes]
    root: bytes


@dataclass(frozen=True, slots=True)
class Consistency:
    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: list[bytes]


def _tree_size(session: Session, size: int | None) -> int:
    head = tree_head(session)
    current = head.size if head else 0
    if size is None:
        return current
    if not 0 <= size <= current:
        raise NotFound(f"the log has {current} leaves: there is no tree of size {size} yet")
    return size


def root_at(session: Session, size: int) -> bytes:
    """The root of the first `size` leaves, from the stored hashes."""
    return merkle.root_hash(_tree_size(session, size), StoredHashes(session).read)


def leaf_indexes(
    session: Session,
    *,
    leaf_hash: bytes | None = None,
    subject_id: str | None = None,
    subject_type: str = "declaration",
    type: str | None = None,
    version: int | None = None,
) -> list[int]:
    """The indexes of the sequenced leaves with this leaf hash, or of this document (aggregate type
    and id, and leaf type and version if given), oldest first (queued leaves are not in the tree yet)."""
    leaves = table(Leaf)
    if leaf_hash is not None:
        wanted = [leaves.c.leaf_key == lookup_key(leaf_hash), leaves.c.leaf_hash == leaf_hash]
    elif subject_id is not None:
        wanted = _of_subject(subject_type, subject_id)
        if type is not None:
            wanted.append(leaves.c.type == type)
        if version is not None:
            wanted.append(leaves.c.version == version)
    else:
        raise LedgerError("name a leaf hash or a document")
    head = tree_head(session)
    size = head.size if head else 0
    return _find(session, range(0, size), wanted)


def _find(session: Session, indexes: range, wanted: list[Any]) -> list[int]:
    """The indexes in `indexes` of the leaves matching `wanted`: one index seek per bucket."""
    leaves = table(Leaf)
    buckets = range(indexes.start >> BUCKET_BITS, (indexes.stop + (1 << BUCKET_BITS) - 1) >> BUCKET_BITS)
    found: list[int] = []
    for first in range(0, len(buckets), 10_000):
        part = list(buckets[first : first + 10_000])
        found += session.scalars(
            select(leaves.c.idx).where(
                leaves.c.bucket.in_(part), *wanted, leaves.c.idx >= indexes.start, leaves.c.idx < indexes.stop
            )
        )
    return sorted(found)


def queued(session: Session, *, subject_id: str, subject_type: str = "declaration") -> int:
    """How many leaves of this document wait for the next checkpoint."""
    head = tree_head(session)
    waiting = range(head.size if head else 0, next_index(session))
    return len(_find(session, waiting, _of_subject(subject_type, subject_id)))


def _of_subject(subject_type: str, subject_id: str) -> list[Any]:
    leaves = table(Leaf)
    return [
        leaves.c.subject_key == subject_key(subject_type, subject_id),
        leaves.c.subject_type == subject_type,
        leaves.c.subject_id == subject_id,
    ]


def commitments(session: Session, start: int, stop: int) -> list[Commitment]:
    """The commitments of leaves start .. stop - 1, in order; NotFound if one is missing."""
    leaves = table(Leaf)
    rows = session.execute(
        select(leaves).where(leaves.c.idx >= start, leaves.c.idx < stop).order_by(leaves.c.idx)
    ).all()
    if [row.idx for row in rows] != list(range(start, stop)):
        raise NotFound(f"the log does not have leaves {start} to {stop - 1}")
    return [Commitment.from_row(row) for row in rows]


def inclusion_proof(session: Session, *, index: int, size: int | None = None) -> Inclusion:
    """The inclusion proof of leaf `index` in the tree of `size` leaves (default: the newest tree)."""
    size = _tree_size(session, size)
    if not 0 <= index < size:
        raise NotFound(f"leaf {index} is not in the tree of size {size}")
    (commitment,) = commitments(session, index, index + 1)
    store = StoredHashes(session)
    entry = commitment.leaf()
    proof = merkle.inclusion_proof(index=index, size=size, read=store.read)
    root = merkle.root_hash(size, store.read)
    return Inclusion(index, size, commitment.type, entry, merkle.leaf_hash(entry), proof, root)


def consistency_proof(session: Session, *, old_size: int, new_size: int | None = None) -> Consistency:
    """The consistency proof from tree `old_size` to tree `new_size` (default: the newest tree)."""
    new_size = _tree_size(session, new_size)
    if not 0 <= old_size <= new_size:
        raise LedgerError(f"no consistency proof from size {old_size} to size {new_size}")
    store = StoredHashes(session)
    proof = merkle.consistency_proof(old_size=old_size, new_size=new_size, read=store.read)
    old_root = merkle.root_hash(old_size, store.read)
    new_root = merkle.root_hash(new_size, store.read)
    return Consistency(old_size, new_size, old_root, new_root, proof)


def tile_data(session: Session, tile: tiles.Tile) -> bytes:
    """A hash tile or entry bundle of the newest tree; any partial tile whose hashes exist is served
    (tlog-tiles asks for those of every checkpointed size)."""
    size = _tree_size(session, None)
    level = max(tile.level, 0) * tiles.TILE_HEIGHT
    first = tile.index * tiles.TILE_WIDTH
    if first + tile.width > size >> level:
        raise NotFound(f"a tree of size {size} has no tile {tile.path}")
    if tile.level == tiles.ENTRIES:
        return tiles.entry_bundle([c.leaf() for c in commitments(session, first, first + tile.width)])
    return tiles.tile_bytes(tile, StoredHashes(session).read)


def checkpoint_message(session: Session, size: int | None = None) -> bytes | None:
    """The checkpoint of `size` leaves (default: the newest) as the log signed it, followed by the
    witnesses' cosignatures; None if the log signed no tree of that size."""
    if size is None:
        head = tree_head(session)
        if head is None:
            return None
        size, signed = head.size, head.note
    else:
        found = session.scalar(select(CheckpointRecord.note).where(CheckpointRecord.size == size))
        if found is None:
            return None
        signed = found
    lines = session.scalars(
        select(Cosignature.signature).where(Cosignature.checkpoint_size == size).order_by(Cosignature.witness)
    )
    return (signed + "".join(lines)).encode()


# -- witnesses ----------------------------------------------------------------------------------------


def add_cosignatures(
    session: Session,
    *,
    message: bytes,
    origin: str,
    log_key: note.Verifier,
    witnesses: Sequence[note.Verifier],
    at: datetime | None = None,
) -> list[str]:
    """Keep the cosignatures of known `witnesses` on one of the log's checkpoints; the names of the
    witnesses whose cosignature is new. NoteError when no known witness cosigned it, or a known
    signature does not verify; NotFound when the log has no such checkpoint."""
    checkpoint, opened = note.open_checkpoint(message, origin=origin, log=log_key, witnesses=witnesses)
    stored = session.get(CheckpointRecord, checkpoint.size)
    if stored is None:
        raise NotFound(f"the log has no checkpoint of size {checkpoint.size}")
    if note.parse_note(stored.note.encode())[0] != opened.text:
        raise note.NoteError(f"the log's checkpoint of size {checkpoint.size} has another text")
    known = {(witness.name, witness.key_hash) for witness in witnesses}
    present = set(
        session.scalars(select(Cosignature.witness).where(Cosignature.checkpoint_size == checkpoint.size))
    )
    found, added = False, []
    for signature, verifier in zip(opened.verified, opened.verifiers, strict=True):
        if (verifier.name, verifier.key_hash) not in known:
            continue
        found = True
        name = f"{verifier.name}+{verifier.key_hash:08x}"
        if name in present:
            continue
        session.add(
            Cosignature(
                checkpoint_size=checkpoint.size,
                witness=name,
                signature=signature.line,
                created_at=at or utcnow(),
            )
        )
        added.append(name)
    if not found:
        raise note.NoteError("the note carries no cosignature of a witness this log knows")
    session.flush()
    return added


class LocalLog:
    """The log in this database as a witness sees it (`witness.Log`): for a witness run beside the
    log, and for tests."""

    def __init__(self, sessions: sessionmaker[Session], ledger: Ledger) -> None:
        self._sessions = sessions
        self._ledger = ledger

    def checkpoint(self) -> bytes:
        with self._sessions() as session:
            message = checkpoint_message(session)
        if message is None:
            raise NotFound("the log has no checkpoint yet")
        return message

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self._sessions() as session:
            return consistency_proof(session, old_size=old_size, new_size=new_size).proof

    def submit(self, message: bytes) -> None:
        with writing(self._sessions) as session:
            add_cosignatures(
                session,
                message=message,
                origin=self._ledger.origin,
                log_key=self._ledger.log_key,
                witnesses=self._ledger.witnesses,
            )


# -- keys and names -----------------------------------------------------------------------------------


def load_signer(path: Path, *, name: str, key_type: int = note.KEY_ED25519) -> note.Signer:
    """The signed-note key in the file at `path`, created at first use (mode 600) with `name`."""

    def create() -> bytes:
        return (note.generate_key(name, key_type=key_type).skey + "\n").encode()

    signer = note.parse_signer_key(load_or_create(path, create).decode().strip())
    if signer.key_type != key_type:
        raise note.KeyFormatError(f"{path} holds a key of type 0x{signer.key_type:02x}, not 0x{key_type:02x}")
    return signer


def default_origin(*, public_url: str | None, host: str) -> str:
    """The checkpoint origin: the log's URL prefix without its scheme (tlog-tiles), or
    <host>/customhouse/log without a public URL. It names the log forever: set it explicitly."""
    if public_url:
        return public_url.split("://", 1)[-1].rstrip("/") + "/log"
    return f"{host}/customhouse/log"


# -- verification -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """Something stored that does not match: `kind` is leaf, document, stored hash, checkpoint,
    cosignature or tree; `subject` names the row."""

    kind: str
    subject: str
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


@dataclass
class Verification:
    size: int = 0
    leaves: int = 0
    documents: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    findings: list[Finding] = field(default_factory=list)


def verify(
    session: Session,
    *,
    log_key: note.Verifier,
    origin: str | None = None,
    witnesses: Sequence[note.Verifier] = (),
    chunk: int = 10_000,
) -> Verification:
    """Recompute the log from the database and name everything that does not match.

    - each leaf's hash from its commitment's fields (kind "leaf");
    - each commitment against its document as stored now: a declaration version's document and
      content_hash, a decision's event data (kind "document");
    - the tree from the leaf hashes, against every stored hash (kind "stored hash": a stored hash
      is named when it differs from the hash recomputed from the leaves below it, not when only a
      hash below it was changed);
    - each checkpoint's signature by `log_key`, its origin, and its root against the recomputed
      root at its size (kind "checkpoint"); cosignatures by the given `witnesses` (kind "cosignature").
    """
    result = Verification()
    found = result.findings
    records = session.execute(select(table(CheckpointRecord)).order_by(CheckpointRecord.size)).all()
    signed: dict[int, bytes] = {}
    for record in records:
        root = _check_checkpoint(record, log_key, origin, found)
        if root is not None:
            signed[record.size] = root
    result.checkpoints = len(records)
    size = records[-1].size if records else 0
    leaves = table(Leaf)
    count = int(session.scalar(select(func.count()).select_from(leaves)) or 0)
    if count < size:
        found.append(
            Finding("tree", "ledger_leaves", f"{count} leaves, but the newest checkpoint has {size}")
        )
    result.size = size

    store = StoredHashes(session)
    stack: list[bytes] = []  # roots of the complete subtrees so far, largest first
    differs: set[merkle.Coordinate] = set()
    expected, broken = 0, False
    while True:
        rows = session.execute(
            select(leaves).where(leaves.c.idx >= expected).order_by(leaves.c.idx).limit(chunk)
        ).all()
        if not rows:
            break
        start = expected
        _check_documents(session, rows, found)
        result.documents += sum(1 for row in rows if row.event_id is not None)
        stored = store.range(merkle.stored_hash_count(start), merkle.stored_hash_count(start + len(rows)))
        for row in rows:
            result.leaves += 1
            if row.idx != expected:
                found.append(
                    Finding("tree", f"leaf {expected}", f"missing (the next stored leaf is {row.idx})")
                )
                broken = True
            expected = row.idx + 1
            commitment = Commitment.from_row(row)
            leaf_hash = bytes(row.leaf_hash)
            if commitment.leaf_hash() != leaf_hash:
                found.append(
                    Finding(
                        "leaf",
                        f"leaf {row.idx} ({row.type} of {commitment.subject})",
                        "its commitment's fields do not hash to its leaf hash: a field was changed",
                    )
                )
            elif (row.bucket, row.leaf_key, row.subject_key) != (
                row.idx >> BUCKET_BITS,
                lookup_key(leaf_hash),
                subject_key(row.subject_type, row.subject_id),
            ):
                found.append(
                    Finding(
                        "leaf",
                        f"leaf {row.idx} ({row.type} of {commitment.subject})",
                        "its look-up keys are not those of its hash and subject: searches miss it",
                    )
                )
            if broken or row.idx >= size:  # a queued leaf: not in the tree yet
                continue
            _check_hashes(row.idx, leaf_hash, stack, stored, differs, found)
            if row.idx + 1 in signed:
                root = _fold(stack)
                if root != signed[row.idx + 1]:
                    found.append(
                        Finding(
                            "checkpoint",
                            f"checkpoint {row.idx + 1}",
                            "its root is not the root of the leaves stored (a leaf hash or the "
                            "checkpoint was changed)",
                        )
                    )
    if not broken:
        if signed.get(0, merkle.EMPTY_ROOT) != merkle.EMPTY_ROOT:
            found.append(Finding("checkpoint", "checkpoint 0", "its root is not the root of the empty tree"))
        tree = min(expected, size)
        extra = store.range(merkle.stored_hash_count(tree), 2**62)
        if extra:
            found.append(
                Finding(
                    "tree", "ledger_hashes", f"{len(extra)} stored hashes beyond the tree's {tree} leaves"
                )
            )
    result.cosignatures = _check_cosignatures(session, records, witnesses, found)
    return result


def _fold(stack: list[bytes]) -> bytes:
    current = stack[-1]
    for left in reversed(stack[:-1]):
        current = merkle.node_hash(left, current)
    return current


def _check_hashes(
    index: int,
    leaf_hash: bytes,
    stack: list[bytes],
    stored: dict[int, bytes],
    differs: set[merkle.Coordinate],
    found: list[Finding],
) -> None:
    """Append leaf `index` to the recomputed tree and compare the hashes it completes with the stored."""
    position = merkle.stored_hash_index(0, index)
    current = leaf_hash
    level = 0
    while True:
        coordinate = (level, index >> level)
        value = stored.get(position + level)
        if value != current:
            differs.add(coordinate)
            below = {(level - 1, 2 * coordinate[1]), (level - 1, 2 * coordinate[1] + 1)} if level else set()
            if not below & differs:
                subject = f"stored hash {position + level} (level {level}, subtree {coordinate[1]})"
                if value is None:
                    found.append(Finding("stored hash", subject, "missing"))
                elif level == 0:
                    found.append(
                        Finding("stored hash", subject, f"differs from the leaf hash of leaf {index}")
                    )
                else:
                    found.append(Finding("stored hash", subject, "differs from the hash of the two below it"))
        if not (index >> level) & 1:
            break
        current = merkle.node_hash(stack.pop(), current)
        level += 1
    stack.append(current)


def _check_checkpoint(
    record: Any, log_key: note.Verifier, origin: str | None, found: list[Finding]
) -> bytes | None:
    """The root the checkpoint signed, or None (with a finding) when it does not verify."""
    subject = f"checkpoint {record.size}"
    try:
        text, _ = note.parse_note(record.note.encode())
        checkpoint = note.parse_checkpoint(text)
        note.open_checkpoint(record.note.encode(), origin=origin or checkpoint.origin, log=log_key)
    except note.NoteError as error:
        found.append(Finding("checkpoint", subject, f"does not verify with the log's key: {error}"))
        return None
    if checkpoint.size != record.size:
        found.append(Finding("checkpoint", subject, f"its note is for tree size {checkpoint.size}"))
        return None
    if checkpoint.root_hash != bytes(record.root):
        found.append(Finding("checkpoint", subject, "its root column differs from the root it signed"))
    return checkpoint.root_hash


def _check_documents(session: Session, rows: Sequence[Any], found: list[Finding]) -> None:
    """Each commitment against its document as stored now."""
    logged = [row for row in rows if row.event_id is not None]  # a leaf of no event names no document
    versions = [row for row in logged if row.type == VERSION]
    decisions = [row for row in logged if row.type != VERSION]
    if versions:
        keys = {(_uuid(row.subject_id), row.version) for row in versions}
        keys = {key for key in keys if key[0] is not None}
        stored = {
            (item.declaration_id, item.version): item
            for item in session.execute(
                select(
                    DeclarationVersion.declaration_id,
                    DeclarationVersion.version,
                    DeclarationVersion.document,
                    DeclarationVersion.content_hash,
                ).where(tuple_(DeclarationVersion.declaration_id, DeclarationVersion.version).in_(keys))
            )
        }
        for row in versions:
            subject = f"declaration {row.subject_id} version {row.version} (leaf {row.idx})"
            item = stored.get((_uuid(row.subject_id), row.version))
            committed = bytes(row.document_hash)
            if item is None:
                found.append(Finding("document", subject, "is missing from declaration_versions"))
                continue
            if document_hash(item.document) != committed:
                found.append(
                    Finding("document", subject, "its stored document is not the one the log committed to")
                )
            if item.content_hash != committed.hex():
                found.append(
                    Finding("document", subject, "its content_hash is not the one the log committed to")
                )
    if decisions:
        wanted = {row.event_id for row in decisions}
        data: dict[uuid.UUID, Any] = {
            item.event_id: item.data
            for item in session.execute(select(Event.event_id, Event.data).where(Event.event_id.in_(wanted)))
        }
        for row in decisions:
            subject = (
                f"event {row.event_id} ({row.type} of {row.subject_type}/{row.subject_id}, leaf {row.idx})"
            )
            if row.event_id not in data:
                found.append(Finding("document", subject, "is missing from events"))
            elif document_hash(data[row.event_id]) != bytes(row.document_hash):
                found.append(Finding("document", subject, "its stored data is not what the log committed to"))


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _check_cosignatures(
    session: Session, records: Sequence[Any], witnesses: Sequence[note.Verifier], found: list[Finding]
) -> int:
    texts = {record.size: record.note for record in records}
    rows = session.execute(select(table(Cosignature))).all()
    if not witnesses:
        return 0
    keys = {f"{witness.name}+{witness.key_hash:08x}": witness for witness in witnesses}
    checked = 0
    for row in rows:
        witness = keys.get(row.witness)
        if witness is None or row.checkpoint_size not in texts:
            continue
        checked += 1
        text, _ = note.parse_note(texts[row.checkpoint_size].encode())
        try:
            note.open_note((text + "\n" + row.signature).encode(), verifiers=[witness])
        except note.NoteError as error:
            found.append(
                Finding(
                    "cosignature",
                    f"cosignature by {row.witness} of checkpoint {row.checkpoint_size}",
                    str(error),
                )
            )
    return checked
