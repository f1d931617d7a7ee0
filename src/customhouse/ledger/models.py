"""The transparency log as stored: the leaves (numbered when queued; those past the newest checkpoint
wait for the sequencer), the tree's stored hashes, the signed checkpoints and the witnesses'
cosignatures.

`ledger_leaves`, `ledger_hashes` and `ledger_checkpoints` are append-only (triggers refuse UPDATE and
DELETE, on SQLite and on PostgreSQL, as for `events`): the queue and the sequencer only ever add rows,
and `customhouse ledger verify` finds what was changed behind the triggers' back.

A leaf keeps the fields of its commitment (see `service.leaf_bytes`), not its bytes: the bytes are
rebuilt from them, so a changed field changes the leaf hash and is found.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, UTCDateTime

# INTEGER PRIMARY KEY on SQLite is the rowid itself: the stored hashes table is then one B-tree.
Int64 = BigInteger().with_variant(Integer, "sqlite")
BUCKET_BITS = 14


class Leaf(Base):
    """Leaf number `idx` of the log: its commitment's fields and its RFC 9162 leaf hash. It is in the
    tree once a checkpoint's size is above `idx`; until then it is queued."""

    __tablename__ = "ledger_leaves"
    __table_args__ = (
        Index("ix_ledger_leaves_leaf_key", "bucket", "leaf_key"),
        Index("ix_ledger_leaves_subject_key", "bucket", "subject_key"),
    )

    idx: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=False)
    # idx >> BUCKET_BITS, first in both look-up indexes: a batch inserts its random keys into the
    # newest bucket's few index pages instead of all over the index (about 4 times the inserts a second
    # at 400,000 leaves); a look-up probes each bucket (one index seek per 16,384 leaves).
    bucket: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[uuid.UUID | None]
    type: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(128))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None]
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    document_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Look-up keys, not part of the commitment: the first 8 bytes (signed, big-endian) of the leaf
    # hash and of SHA-256("<subject type>/<subject id>"); indexes of 8-byte integers are a third the
    # size of indexes of the hashes or UUIDs themselves.
    leaf_key: Mapped[int] = mapped_column(BigInteger)
    subject_key: Mapped[int] = mapped_column(BigInteger)


class StoredHash(Base):
    """One hash of a complete subtree, at its `merkle.stored_hash_index`."""

    __tablename__ = "ledger_hashes"

    idx: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Checkpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint) of the tree at `size` leaves, as the log signed it."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Cosignature(Base):
    """A witness's cosignature line (C2SP tlog-cosignature) on the checkpoint of `checkpoint_size`."""

    __tablename__ = "ledger_cosignatures"

    checkpoint_size: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ledger_checkpoints.size"), primary_key=True
    )
    witness: Mapped[str] = mapped_column(String(140), primary_key=True)  # <name>+<key hash>
    signature: Mapped[str] = mapped_column(Text)  # the line: "— <name> <base64>\n"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
