"""A witness: checks that the log only ever grows, and cosigns the checkpoints it has checked.

The witness keeps the last checkpoint it verified in a small file. Each round it fetches the log's
newest checkpoint, verifies the log's signature and origin, refuses a smaller tree (a rollback) or
another root at the same size, fetches the consistency proof from its last tree to the new one and
verifies it (a fork fails here), saves the new checkpoint, and only then hands the log its C2SP
tlog-cosignature (cosignature/v1): a witness that crashes after saving never cosigns a tree it has
not checked against everything it cosigned before.

This is the pull form of C2SP tlog-witness (the witness polls the log, as `customhouse ledger witness`
does); the log keeps the cosignatures of the witnesses it knows and serves them with its checkpoint.
The log is a port (`Log`): over HTTP (`HttpLog`), or in the same database (`service.LocalLog`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from customhouse.ledger import merkle, note


class WitnessError(Exception):
    """The log's checkpoint or proof does not verify; nothing was cosigned."""


class Log(Protocol):
    def checkpoint(self) -> bytes:
        """The newest signed checkpoint, with any cosignatures."""
        ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    def submit(self, message: bytes) -> None:
        """Hand the log a checkpoint that carries our cosignature."""
        ...


class HttpLog:
    """A customhouse log over HTTP: /log/checkpoint, the consistency proof API, /log/cosignature."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client  # with base_url set to the server's address

    def checkpoint(self) -> bytes:
        return self._ok(self.client.get("/log/checkpoint")).content

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        answer = self._ok(
            self.client.get("/api/v1/ledger/proofs/consistency", params={"old": old_size, "new": new_size})
        ).json()
        return [bytes.fromhex(item) for item in answer["proof"]]

    def submit(self, message: bytes) -> None:
        self._ok(
            self.client.post(
                "/log/cosignature", content=message, headers={"Content-Type": "text/plain; charset=utf-8"}
            )
        )

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code != 200:
            detail = response.text[:500]
            with contextlib.suppress(ValueError):
                detail = response.json().get("detail", detail)
            raise WitnessError(
                f"{response.request.method} {response.request.url}: {response.status_code} {detail}"
            )
        return response


@dataclass(frozen=True, slots=True)
class Witnessed:
    old_size: int | None  # None on the first round (trust on first use)
    size: int
    root: bytes
    cosigned: bytes


def cosign(
    log: Log,
    *,
    signer: note.Signer,
    log_key: note.Verifier,
    origin: str,
    state: Path,
    timestamp: int | None = None,
) -> Witnessed:
    """One round: verify the log's newest checkpoint against the last one in `state`, then cosign it."""
    if signer.key_type != note.KEY_COSIGNATURE:
        raise WitnessError(f"witness key {signer.name} is not a cosignature/v1 key (type 0x04)")
    message = log.checkpoint()
    try:
        checkpoint, opened = note.open_checkpoint(message, origin=origin, log=log_key)
    except note.NoteError as error:
        raise WitnessError(f"the log's checkpoint does not verify: {error}") from None
    last = _last(state, origin=origin, log_key=log_key)
    if last is not None:
        if checkpoint.size < last.size:
            raise WitnessError(
                f"the log shows a tree of {checkpoint.size} leaves after one of {last.size}: a rollback"
            )
        proof = log.consistency_proof(last.size, checkpoint.size) if checkpoint.size > last.size else []
        try:
            merkle.verify_consistency(
                old_size=last.size,
                new_size=checkpoint.size,
                old_root=last.root_hash,
                new_root=checkpoint.root_hash,
                proof=proof,
            )
        except merkle.ProofError as error:
            raise WitnessError(
                f"the tree of {checkpoint.size} leaves does not extend the one of {last.size} "
                f"this witness verified: {error}"
            ) from None
    _save(state, note.sign_note(opened.text, signers=[], keep=opened.verified))
    cosigned = note.cosign_note(opened, signer=signer, timestamp=timestamp)
    log.submit(cosigned)
    return Witnessed(last.size if last else None, checkpoint.size, checkpoint.root_hash, cosigned)


def _last(state: Path, *, origin: str, log_key: note.Verifier) -> note.Checkpoint | None:
    if not state.exists():
        return None
    try:
        checkpoint, _ = note.open_checkpoint(state.read_bytes(), origin=origin, log=log_key)
    except note.NoteError as error:
        raise WitnessError(f"{state}: the saved checkpoint does not verify: {error}") from None
    return checkpoint


def _save(state: Path, message: bytes) -> None:
    """Replace the state file atomically and durably: write a temporary file, fsync, rename."""
    state.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=state.parent, prefix=".witness-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(message)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, state)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(state.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
