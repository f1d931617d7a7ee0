"""RFC 9162 hashing and proofs: the published vectors, a real Certificate Transparency log, properties.

Vectors: the 8-leaf tree of transparency-dev/merkle (proof/verify_test.go, the RFC 6962 vectors that
Trillian and Certificate Transparency share, leaf indexes there counting from 1), the hasher vectors
of transparency-dev/merkle rfc6962/rfc6962_test.go, and Google's Argon 2020 CT log responses kept
by golang.org/x/mod sumdb/tlog/testdata (data/argon2020.json).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customhouse.ledger.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaves,
    root_hash,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    stored_hashes_for_batch,
    subtree_reader,
    verify_consistency,
    verify_inclusion,
)

H = bytes.fromhex
LEAVES = [
    H(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    H("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    H("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    H("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    H("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    H("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf index from 0, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")


def store_of(leaves: list[bytes]) -> MemoryHashStore:
    store = MemoryHashStore()
    for leaf in leaves:
        store.append(leaf_hash(leaf))
    return store


VECTOR_TREE = store_of(LEAVES)
BIG = 1100
BIG_LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(BIG)]
BIG_TREE = MemoryHashStore()
for _leaf in BIG_LEAVES:
    BIG_TREE.append(_leaf)


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def flipped(proof: list[bytes], position: int, bit: int) -> list[bytes]:
    return [flip(h, bit) if i == position else h for i, h in enumerate(proof)]


# -- hashing --------------------------------------------------------------------------------------------


def test_hasher_vectors() -> None:
    assert EMPTY_ROOT == H("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")  # noqa: SIM300
    assert leaf_hash(b"") == H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == H("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    assert node_hash(b"N123", b"N456") == H(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_a_node_is_not_the_leaf_of_its_children() -> None:
    left, right = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_of_the_eight_leaf_tree(size: int) -> None:
    assert VECTOR_TREE.root(size) == ROOTS[size - 1]
    assert root_from_leaves([leaf_hash(leaf) for leaf in LEAVES[:size]]) == ROOTS[size - 1]


def test_the_empty_tree() -> None:
    assert VECTOR_TREE.root(0) == root_from_leaves([]) == EMPTY_ROOT
    assert consistency_proof(old_size=0, new_size=8, read=VECTOR_TREE.read) == []
    verify_consistency(old_size=0, new_size=8, old_root=EMPTY_ROOT, new_root=ROOTS[7], proof=[])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(old_size=0, new_size=8, old_root=ROOTS[0], new_root=ROOTS[7], proof=[])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(old_size=0, new_size=8, old_root=EMPTY_ROOT, new_root=ROOTS[7], proof=[ROOTS[0]])


# -- the published proofs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_of_the_eight_leaf_tree(index: int, size: int, path: list[str]) -> None:
    proof = [H(x) for x in path]
    assert VECTOR_TREE.inclusion_proof(index, size) == proof
    leaf, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
    verify_inclusion(index=index, size=size, leaf=leaf, proof=proof, root=root)
    # transparency-dev/merkle's corruptions of a good proof (verify_test.go, corruptInclusionProof)
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]] if proof else [SOME_HASH], root),
        *[(index, size, leaf, flipped(proof, i, 3), root) for i in range(len(proof))],
    ]  # fmt: skip
    for bad_index, bad_size, bad_leaf, bad_proof, bad_root in probes:
        if (bad_index, bad_size, bad_leaf, bad_proof, bad_root) == (index, size, leaf, proof, root):
            continue  # a "corruption" that changes nothing, e.g. index ^ 2 outside the tree's range
        with pytest.raises(ProofError):
            verify_inclusion(index=bad_index, size=bad_size, leaf=bad_leaf, proof=bad_proof, root=bad_root)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_of_the_eight_leaf_tree(old: int, new: int, path: list[str]) -> None:
    proof = [H(x) for x in path]
    assert VECTOR_TREE.consistency_proof(old, new) == proof
    old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
    verify_consistency(old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof)
    if not proof:
        return
    probes = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (old, new, SOME_HASH, new_root, proof),
        (old, new, old_root, SOME_HASH, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [new_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, proof[:-1]),
        *[(old, new, old_root, new_root, flipped(proof, i, 4)) for i in range(len(proof))],
    ]  # fmt: skip
    for bad_old, bad_new, bad_old_root, bad_new_root, bad_proof in probes:
        with pytest.raises(ProofError):
            verify_consistency(
                old_size=bad_old,
                new_size=bad_new,
                old_root=bad_old_root,
                new_root=bad_new_root,
                proof=bad_proof,
            )


def test_proofs_from_a_real_certificate_transparency_log() -> None:
    data = json.loads((Path(__file__).parent / "data" / "argon2020.json").read_text())
    b64 = base64.b64decode
    root = b64(data["sha256_root_hash"])
    audit_path = [b64(x) for x in data["audit_path"]]
    leaf = leaf_hash(b64(data["leaf_input"]))
    verify_inclusion(index=data["leaf_index"], size=data["tree_size"], leaf=leaf, proof=audit_path, root=root)
    consistency = [b64(x) for x in data["consistency"]]
    old_root = b64(data["consistency_first_root"])
    old_size = data["consistency_first"]
    verify_consistency(
        old_size=old_size, new_size=data["tree_size"], old_root=old_root, new_root=root, proof=consistency
    )
    with pytest.raises(ProofError):
        verify_inclusion(
            index=data["leaf_index"] + 1, size=data["tree_size"], leaf=leaf, proof=audit_path, root=root
        )
    with pytest.raises(ProofError):
        verify_consistency(
            old_size=old_size + 1,
            new_size=data["tree_size"],
            old_root=old_root,
            new_root=root,
            proof=consistency,
        )


# -- storage -------------------------------------------------------------------------------------------


def test_stored_hash_index_is_the_order_of_writing() -> None:
    written: list[tuple[int, int]] = []
    for index in range(300):
        completes = len(stored_hashes(index, leaf_hash(b"x"), lambda wanted: [bytes(32)] * len(wanted)))
        written += [(level, index >> level) for level in range(completes)]
    assert [stored_hash_index(level, n) for level, n in written] == list(range(len(written)))
    assert [split_stored_hash_index(i) for i in range(len(written))] == written
    assert stored_hash_count(300) == len(written)
    with pytest.raises(ValueError, match="negative"):
        split_stored_hash_index(-1)


def test_stored_hashes_are_the_complete_subtrees() -> None:
    assert len(BIG_TREE.hashes) == stored_hash_count(BIG)
    for index, stored in enumerate(BIG_TREE.hashes[:600]):
        level, n = split_stored_hash_index(index)
        assert stored == root_from_leaves(BIG_LEAVES[n << level : (n + 1) << level])


def test_an_append_writes_one_hash_per_completed_subtree() -> None:
    store = MemoryHashStore()
    for index in range(2**10):
        added = store.append(leaf_hash(b"%d" % index))
        trailing_ones = len(bin(index)) - len(bin(index).rstrip("1"))
        assert len(added) == 1 + trailing_ones
    assert store.root() == root_from_leaves([leaf_hash(b"%d" % i) for i in range(2**10)])


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, BIG), max_size=12))
def test_a_batch_stores_what_leaf_by_leaf_appends_store_in_one_read(cuts: list[int]) -> None:
    store = MemoryHashStore()
    calls: list[int] = []

    def read(coordinates: Sequence[tuple[int, int]]) -> list[bytes]:
        calls.append(len(coordinates))
        return store.read(coordinates)

    for start, end in itertools.pairwise([0, *sorted(cuts), BIG]):
        calls.clear()
        added = stored_hashes_for_batch(start=start, leaves=BIG_LEAVES[start:end], read=read)
        assert len(calls) <= 1
        assert added == BIG_TREE.hashes[stored_hash_count(start) : stored_hash_count(end)]
        store.hashes.extend(added)
        store.size = end
    assert store.hashes == BIG_TREE.hashes


def test_extend_appends_a_batch() -> None:
    store = MemoryHashStore()
    store.extend(BIG_LEAVES[:700])
    store.extend([])
    store.extend(BIG_LEAVES[700:])
    assert (store.size, store.hashes) == (BIG, BIG_TREE.hashes)


def test_a_root_needs_at_most_log_n_plus_one_reads() -> None:
    asked: list[int] = []

    def read(coordinates: Sequence[tuple[int, int]]) -> list[bytes]:
        asked.append(len(coordinates))
        return BIG_TREE.read(coordinates)

    for size in range(1, BIG + 1):
        assert root_hash(size, read) == BIG_TREE.root(size)
    assert max(asked) <= BIG.bit_length()
    assert len(asked) == BIG  # one call to the store per root


def test_a_subtree_function_is_a_reader() -> None:
    read = subtree_reader(lambda level, n: BIG_TREE.read([(level, n)])[0])
    assert root_hash(1000, read) == BIG_TREE.root(1000)
    assert inclusion_proof(index=7, size=1000, read=read) == BIG_TREE.inclusion_proof(7, 1000)
    assert consistency_proof(old_size=7, new_size=1000, read=read) == BIG_TREE.consistency_proof(7, 1000)


def test_a_store_that_answers_short_is_an_error() -> None:
    with pytest.raises(ProofError, match="answered 0 hashes for 4 asked"):
        root_hash(15, lambda coordinates: [])
    with pytest.raises(ProofError, match="beyond the"):
        BIG_TREE.root(BIG + 1)


def test_impossible_proofs_are_refused() -> None:
    with pytest.raises(ProofError, match="not in a tree of size 8"):
        VECTOR_TREE.inclusion_proof(8, 8)
    with pytest.raises(ProofError, match="not in a tree of size 0"):
        inclusion_proof(index=0, size=0, read=VECTOR_TREE.read)
    with pytest.raises(ProofError, match="from size 5 to size 4"):
        consistency_proof(old_size=5, new_size=4, read=VECTOR_TREE.read)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(index=0, size=1, leaf=b"short", proof=[], root=ROOTS[0])
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(index=0, size=2, leaf=leaf_hash(b""), proof=[b""], root=ROOTS[1])
    with pytest.raises(ProofError, match="two different roots"):
        verify_consistency(old_size=3, new_size=3, old_root=ROOTS[2], new_root=ROOTS[1], proof=[])


# -- every proof verifies, every flipped bit fails ------------------------------------------------------


def test_every_proof_of_the_first_64_trees_verifies() -> None:
    for size in range(1, 65):
        root = BIG_TREE.root(size)
        for index in range(size):
            proof = BIG_TREE.inclusion_proof(index, size)
            assert len(proof) <= (size - 1).bit_length()
            verify_inclusion(index=index, size=size, leaf=BIG_LEAVES[index], proof=proof, root=root)
        for old in range(0, size + 1):
            proof = BIG_TREE.consistency_proof(old, size)
            verify_consistency(
                old_size=old, new_size=size, old_root=BIG_TREE.root(old), new_root=root, proof=proof
            )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, BIG), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = BIG_TREE.inclusion_proof(index, size)
    root, leaf = BIG_TREE.root(size), BIG_LEAVES[index]
    assert root_from_inclusion_proof(index=index, size=size, leaf=leaf, proof=proof) == root
    verify_inclusion(index=index, size=size, leaf=leaf, proof=proof, root=root)

    parts = [leaf, root, *proof]
    part = data.draw(st.integers(0, len(parts) - 1), label="part")
    parts[part] = flip(parts[part], data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(ProofError):
        verify_inclusion(index=index, size=size, leaf=parts[0], proof=parts[2:], root=parts[1])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_and_any_flipped_bit_fails(data: st.DataObject) -> None:
    new = data.draw(st.integers(1, BIG), label="new size")
    old = data.draw(st.integers(1, new), label="old size")
    proof = BIG_TREE.consistency_proof(old, new)
    old_root, new_root = BIG_TREE.root(old), BIG_TREE.root(new)
    verify_consistency(old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof)

    parts = [old_root, new_root, *proof]
    part = data.draw(st.integers(0, len(parts) - 1), label="part")
    parts[part] = flip(parts[part], data.draw(st.integers(0, 255), label="bit"))
    with pytest.raises(ProofError):
        verify_consistency(old_size=old, new_size=new, old_root=parts[0], new_root=parts[1], proof=parts[2:])


@settings(max_examples=200, deadline=None)
@given(size=st.integers(2, BIG), data=st.data())
def test_a_proof_for_one_leaf_or_size_does_not_serve_another(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    proof, root = BIG_TREE.inclusion_proof(index, size), BIG_TREE.root(size)
    with pytest.raises(ProofError):
        verify_inclusion(index=other, size=size, leaf=BIG_LEAVES[index], proof=proof, root=root)
    with pytest.raises(ProofError):
        verify_inclusion(index=index, size=size, leaf=BIG_LEAVES[other], proof=proof, root=root)


def test_proofs_of_a_huge_tree_agree_with_its_root() -> None:
    """Sizes near 2**63, on a tree whose leaves are all equal, so that any subtree's hash is known."""
    same = [leaf_hash(b"same")]
    for _ in range(63):
        same.append(node_hash(same[-1], same[-1]))

    def read(coordinates: Sequence[tuple[int, int]]) -> list[bytes]:
        return [same[level] for level, _ in coordinates]

    size, index, old = 2**63 - 12345, 2**63 - 12347, 2**40 + 3
    root = root_hash(size, read)
    proof = inclusion_proof(index=index, size=size, read=read)
    assert len(proof) <= 63
    verify_inclusion(index=index, size=size, leaf=same[0], proof=proof, root=root)
    with pytest.raises(ProofError):
        verify_inclusion(index=index, size=size - 1, leaf=same[0], proof=proof, root=root)
    proof = consistency_proof(old_size=old, new_size=size, read=read)
    verify_consistency(old_size=old, new_size=size, old_root=root_hash(old, read), new_root=root, proof=proof)
