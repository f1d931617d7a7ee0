"""Against pymerkle 7, an independent implementation, on random trees.

pymerkle's InmemoryTree with its default security mode (``disable_security=False``) hashes as RFC
9162 does (0x00 before leaves, 0x01 before nodes), so roots agree at every size, and its inclusion
path is ours with the leaf hash in front. Its consistency path is laid out its own way (it always
starts from a leaf or the old tree's subtree, and splits where the old size meets a power of two
differently), so those proofs are compared by verifying each side's proof with the other side's
roots and verifier, not byte for byte.
"""

from __future__ import annotations

import random

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.ledger.merkle import MemoryHashStore, leaf_hash, verify_consistency, verify_inclusion


def trees(seed: int, size: int) -> tuple[MemoryHashStore, object, list[bytes]]:
    rng = random.Random(seed)
    entries = [rng.randbytes(rng.randrange(0, 64)) for _ in range(size)]
    ours = MemoryHashStore()
    theirs = pymerkle.InmemoryTree(algorithm="sha256")
    for entry in entries:
        ours.append(leaf_hash(entry))
        theirs.append_entry(entry)
    return ours, theirs, entries


def test_pymerkle_is_in_rfc_9162_mode() -> None:
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    assert tree.security
    tree.append_entry(b"")
    assert tree.get_root() == leaf_hash(b"")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 300))
def test_roots_at_every_size_agree(seed: int, size: int) -> None:
    ours, theirs, _ = trees(seed, size)
    for n in range(1, size + 1):
        assert ours.root(n) == theirs.get_root(n)  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 300), data=st.data())
def test_inclusion_proofs_agree(seed: int, size: int, data: st.DataObject) -> None:
    ours, theirs, entries = trees(seed, size)
    for _ in range(10):
        n = data.draw(st.integers(1, size), label="tree size")
        index = data.draw(st.integers(0, n - 1), label="leaf index")
        their_proof = theirs.prove_inclusion(index + 1, n)  # type: ignore[attr-defined]
        assert their_proof.path == [leaf_hash(entries[index]), *ours.inclusion_proof(index, n)]
        pymerkle.verify_inclusion(leaf_hash(entries[index]), ours.root(n), their_proof)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 300), data=st.data())
def test_consistency_proofs_cross_verify(seed: int, size: int, data: st.DataObject) -> None:
    ours, theirs, _ = trees(seed, size)
    for _ in range(10):
        new = data.draw(st.integers(1, size), label="new size")
        old = data.draw(st.integers(1, new), label="old size")
        old_root, new_root = theirs.get_root(old), theirs.get_root(new)  # type: ignore[attr-defined]
        verify_consistency(
            old_size=old,
            new_size=new,
            old_root=old_root,
            new_root=new_root,
            proof=ours.consistency_proof(old, new),
        )
        their_proof = theirs.prove_consistency(old, new)  # type: ignore[attr-defined]
        pymerkle.verify_consistency(ours.root(old), ours.root(new), their_proof)


def test_a_wrong_root_fails_on_both_sides() -> None:
    ours, theirs, entries = trees(7, 100)
    wrong = leaf_hash(b"not the root")
    with pytest.raises(pymerkle.InvalidProof):
        pymerkle.verify_inclusion(leaf_hash(entries[3]), wrong, theirs.prove_inclusion(4, 100))  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        verify_inclusion(
            index=3, size=100, leaf=leaf_hash(entries[3]), proof=ours.inclusion_proof(3), root=wrong
        )
