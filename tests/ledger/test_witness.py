"""Witnesses: a witness cosigns what is consistent with what it saw, refuses forks and rollbacks; the log
keeps known witnesses' cosignatures and serves them; a client can require a quorum of them."""

from __future__ import annotations

import base64

import pytest

from customhouse.ledger import merkle, note, service, witness
from tests.ledger.conftest import ORIGIN, commitment


def grow(session, ledger, count: int) -> service.Sequenced:
    service.queue(session, [commitment(number) for number in range(count)])
    done = service.sequence(session, signer=ledger.signer, origin=ORIGIN)
    session.commit()
    assert done is not None
    return done


def test_a_witness_cosigns_and_a_client_requiring_a_quorum_of_one_accepts_of_two_refuses(
    app, log_client, session, ledger, witness_signers, tmp_path
):
    first, second = witness_signers
    grow(session, ledger, 5)
    done = witness.cosign(
        witness.HttpLog(log_client),
        signer=first,
        log_key=ledger.log_key,
        origin=ORIGIN,
        state=tmp_path / "w1",
    )
    assert (done.old_size, done.size) == (None, 5)  # the first checkpoint it sees: trusted on first use

    served = log_client.get("/log/checkpoint").content
    known = [first.verifier, second.verifier]
    checkpoint, opened = note.open_checkpoint(
        served, origin=ORIGIN, log=ledger.log_key, witnesses=known, quorum=1
    )
    assert checkpoint.size == 5 and len(opened.verified) == 2  # the log's signature and the cosignature
    with pytest.raises(note.QuorumError, match="1 of 2 witnesses"):
        note.open_checkpoint(served, origin=ORIGIN, log=ledger.log_key, witnesses=known, quorum=2)

    witness.cosign(
        witness.HttpLog(log_client),
        signer=second,
        log_key=ledger.log_key,
        origin=ORIGIN,
        state=tmp_path / "w2",
    )
    served = log_client.get("/log/checkpoint").content
    note.open_checkpoint(served, origin=ORIGIN, log=ledger.log_key, witnesses=known, quorum=2)
    # Cosigning again adds nothing; the cosignatures stay verifiable by `verify`.
    witness.cosign(
        witness.HttpLog(log_client),
        signer=second,
        log_key=ledger.log_key,
        origin=ORIGIN,
        state=tmp_path / "w2",
    )
    assert log_client.get("/log/checkpoint").content == served
    result = service.verify(session, log_key=ledger.log_key, origin=ORIGIN, witnesses=known)
    assert (result.findings, result.cosignatures) == ([], 2)


def test_a_witness_proves_consistency_from_the_last_checkpoint_it_verified(
    app, log_client, session, ledger, witness_signers, tmp_path
):
    state = tmp_path / "witness" / "state"
    log = witness.HttpLog(log_client)
    grow(session, ledger, 5)
    witness.cosign(log, signer=witness_signers[0], log_key=ledger.log_key, origin=ORIGIN, state=state)
    grow(session, ledger, 7)
    grow(session, ledger, 30)
    done = witness.cosign(log, signer=witness_signers[0], log_key=ledger.log_key, origin=ORIGIN, state=state)
    assert (done.old_size, done.size) == (5, 42)
    saved, _ = note.open_checkpoint(state.read_bytes(), origin=ORIGIN, log=ledger.log_key)
    assert saved.size == 42


class ForgedLog:
    """A log run by someone holding the log's key, showing the witness a tree of its choosing."""

    def __init__(self, signer: note.Signer, leaves: list[bytes]) -> None:
        self.store = merkle.MemoryHashStore()
        self.store.extend([merkle.leaf_hash(leaf) for leaf in leaves])
        self.message = note.sign_checkpoint(
            note.Checkpoint(ORIGIN, self.store.size, self.store.root()), signer=signer
        )
        self.submitted: list[bytes] = []

    def checkpoint(self) -> bytes:
        return self.message

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self.store.consistency_proof(old_size, new_size)

    def submit(self, message: bytes) -> None:
        self.submitted.append(message)


def test_a_witness_refuses_a_fork_and_a_rollback_and_cosigns_nothing(signer, witness_signers, tmp_path):
    state = tmp_path / "state"
    cosigner = witness_signers[0]
    honest = ForgedLog(signer, [b"leaf %d" % n for n in range(5)])
    witness.cosign(honest, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state)
    assert len(honest.submitted) == 1
    before = state.read_bytes()

    fork = ForgedLog(signer, [b"other %d" % n for n in range(8)])  # same key, another history
    with pytest.raises(witness.WitnessError, match="does not extend"):
        witness.cosign(fork, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state)
    rollback = ForgedLog(signer, [b"leaf %d" % n for n in range(3)])
    with pytest.raises(witness.WitnessError, match="rollback"):
        witness.cosign(rollback, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state)
    same_size = ForgedLog(signer, [b"other %d" % n for n in range(5)])
    with pytest.raises(witness.WitnessError, match="does not extend"):
        witness.cosign(same_size, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state)
    impostor = ForgedLog(note.generate_key(ORIGIN), [b"leaf %d" % n for n in range(9)])
    with pytest.raises(witness.WitnessError, match="does not verify"):
        witness.cosign(impostor, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state)
    assert fork.submitted == rollback.submitted == same_size.submitted == impostor.submitted == []
    assert state.read_bytes() == before

    grown = ForgedLog(signer, [b"leaf %d" % n for n in range(9)])
    assert (
        witness.cosign(grown, signer=cosigner, log_key=signer.verifier, origin=ORIGIN, state=state).old_size
        == 5
    )


def test_the_log_keeps_only_valid_cosignatures_of_the_witnesses_it_knows(
    app, log_client, session, ledger, witness_signers
):
    grow(session, ledger, 3)
    signed = log_client.get("/log/checkpoint").content
    opened = note.open_note(signed, verifiers=[ledger.log_key])

    stranger = note.generate_key("stranger", key_type=note.KEY_COSIGNATURE)
    response = log_client.post("/log/cosignature", content=note.cosign_note(opened, signer=stranger))
    assert response.status_code == 422 and "no cosignature of a witness" in response.json()["detail"]

    cosigned = note.cosign_note(opened, signer=witness_signers[0]).decode()
    head, _, line = cosigned.rstrip("\n").rpartition("\n")
    name, encoded = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    broken = f"{head}\n{name} {base64.b64encode(bytes(raw)).decode()}\n".encode()
    response = log_client.post("/log/cosignature", content=broken)
    assert response.status_code == 422 and "invalid signature" in response.json()["detail"]

    unknown_size = note.sign_checkpoint(note.Checkpoint(ORIGIN, 99, bytes(32)), signer=ledger.signer)
    message = note.cosign_note(
        note.open_note(unknown_size, verifiers=[ledger.log_key]), signer=witness_signers[0]
    )
    assert log_client.post("/log/cosignature", content=message).status_code == 404

    assert log_client.post("/log/cosignature", content=b"not a note").status_code == 422
    assert log_client.get("/log/checkpoint").content == signed  # nothing was kept

    response = log_client.post("/log/cosignature", content=cosigned.encode())
    assert response.status_code == 200 and response.json()["added"] == [
        f"{witness_signers[0].name}+{witness_signers[0].key_hash:08x}"
    ]


def test_a_witness_beside_the_log_uses_the_database(sessions, session, ledger, witness_signers, tmp_path):
    grow(session, ledger, 4)
    local = service.LocalLog(sessions, ledger)
    done = witness.cosign(
        local, signer=witness_signers[1], log_key=ledger.log_key, origin=ORIGIN, state=tmp_path / "s"
    )
    assert done.size == 4
    with sessions() as reader:
        message = service.checkpoint_message(reader)
    assert message is not None
    note.open_checkpoint(
        message, origin=ORIGIN, log=ledger.log_key, witnesses=[witness_signers[1].verifier], quorum=1
    )
