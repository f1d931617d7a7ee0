"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion and consistency proofs over a stored log.

Hand-written on purpose: no maintained Python library implements the RFC 9162 proof formats over
stored hashes or tiles (pymerkle keeps its own node objects in memory or SQLite and lays out
consistency proofs its own way); pymerkle is the independent implementation the tests compare with.

Storage follows Go's golang.org/x/mod/sumdb/tlog (Crosby and Wallach's layout): the log stores the
hash of every *complete* subtree, addressed by its coordinate ``(level, n)`` -- the n-th subtree of
2**level leaves -- or by one integer, ``stored_hash_index(level, n)``, which numbers them in the
order an append-only log writes them. Appending leaf n writes ``1 + trailing ones of n`` hashes
(under two on average, never more than 1 + log2 n), and every root or proof needs at most about
2 log2 n stored hashes, fetched in one call to a ``HashReader``: a database does one
``WHERE index IN (...)`` query per proof, the in-memory store below a list look-up.

Hashes are 32-byte ``bytes``; tree sizes and leaf indexes are ``int`` (leaves count from 0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() of the empty string, RFC 9162 §2.1.1

Coordinate = tuple[int, int]
"""(level, n): the n-th complete subtree of 2**level leaves, leaves [n << level, (n + 1) << level)."""

HashReader = Callable[[Sequence[Coordinate]], Sequence[bytes]]
"""Returns the stored hashes of the given complete subtrees, in the order asked."""

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof, root or size that does not verify, or a request for a proof that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


# -- stored hash numbering ------------------------------------------------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Position of subtree (level, n) in write order (Go's tlog.StoredHashIndex).

    The hash is written right after the last leaf it covers, leaf m = ((n + 1) << level) - 1, which
    itself sits at sum(m >> k for k >= 0) = 2m - popcount(m); the level-1 .. level hashes follow it.
    """
    m = ((n + 1) << level) - 1
    return 2 * m - m.bit_count() + level


def split_stored_hash_index(index: int) -> Coordinate:
    """The inverse of `stored_hash_index`."""
    if index < 0:
        raise ValueError(f"stored hash index {index} is negative")
    n = index // 2  # stored_hash_index(0, n) <= 2n, so the leaf written last before index is >= index // 2
    start = stored_hash_index(0, n)
    while True:
        following = start + 1 + _trailing_ones(n)  # leaf n writes itself and one hash per trailing 1 bit
        if following > index:
            break
        n += 1
        start = following
    level = index - start
    return level, n >> level


def stored_hash_count(size: int) -> int:
    """How many hashes a log of `size` leaves has stored: 2 * size - popcount(size)."""
    return 2 * size - size.bit_count()


def stored_hashes(index: int, leaf: bytes, read: HashReader) -> list[bytes]:
    """The hashes to store when appending leaf number `index` whose leaf hash is `leaf`.

    The i-th returned hash is subtree (i, index >> i), to be stored at
    stored_hash_index(0, index) + i: the leaf itself, then one node per subtree it completes. Reads
    the left siblings of those subtrees (as many as `index` has trailing 1 bits) in one call.
    """
    _check_hash(leaf, "leaf hash")
    completes = _trailing_ones(index)
    hashes = [leaf]
    if completes:
        siblings = _read(read, [(level, (index >> level) - 1) for level in range(completes)])
        current = leaf
        for level in range(completes):
            current = _sha256(b"\x01" + siblings[level] + current).digest()
            hashes.append(current)
    return hashes


def stored_hashes_for_batch(*, start: int, leaves: Sequence[bytes], read: HashReader) -> list[bytes]:
    """The hashes to store when appending `leaves` as leaf numbers start, start + 1, ...

    In stored order, to be stored from stored_hash_index(0, start) = stored_hash_count(start) on:
    what `stored_hashes` gives leaf by leaf, but reading the hashes from before the batch in one
    call, as a sequencer that writes a batch in one transaction needs. Those are the complete
    subtrees that make up the first `start` leaves (at most log2(start) + 1 of them): every left
    sibling a new leaf completes is one of them or was added by the batch itself, so the batch is
    hashed like `root_from_leaves` does, on a stack of subtree roots, largest first.
    """
    if not leaves:
        return []
    frontier: list[Coordinate] = []
    _cover(0, start, frontier)
    stack = list(_read(read, frontier)) if frontier else []
    new: list[bytes] = []
    for index, leaf in enumerate(leaves, start):
        _check_hash(leaf, "leaf hash")
        new.append(leaf)
        current = leaf
        while index & 1:  # one node per trailing 1 bit: the subtrees this leaf completes
            current = _sha256(b"\x01" + stack.pop() + current).digest()
            new.append(current)
            index >>= 1
        stack.append(current)
    return new


# -- roots and proofs from stored hashes ----------------------------------------------------------


def root_hash(size: int, read: HashReader) -> bytes:
    """MTH of the first `size` leaves, from at most log2(size) + 1 stored hashes."""
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    coordinates: list[Coordinate] = []
    count = _cover(0, size, coordinates)
    return _fold(_read(read, coordinates), 0, count)


def inclusion_proof(*, index: int, size: int, read: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof (audit path, leaf to root) of leaf `index` in tree `size`.

    Walked bottom-up: at each level the sibling of the node holding the leaf is a stored hash, or
    absent (the node is the tree's right edge), or the partial subtree at the right edge, whose
    hash is folded from the complete subtrees that make it up.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    coordinates: list[Coordinate] = []
    counts: list[int] = []  # hashes per proof element, leaf end first
    for level in range((size - 1).bit_length()):
        node = index >> level
        if node & 1:
            coordinates.append((level, node - 1))
            counts.append(1)
            continue
        start = (node + 1) << level
        if start >= size:
            continue
        if start + (1 << level) <= size:
            coordinates.append((level, node + 1))
            counts.append(1)
        else:
            counts.append(_cover(start, size, coordinates))
    hashes = _read(read, coordinates)
    if len(counts) == len(hashes):
        return list(hashes)
    proof = []
    position = 0
    for count in counts:
        proof.append(hashes[position] if count == 1 else _fold(hashes, position, count))
        position += count
    return proof


def consistency_proof(*, old_size: int, new_size: int, read: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof from tree `old_size` to tree `new_size`.

    Empty when old_size is 0 or equals new_size: there is nothing to prove.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    coordinates: list[Coordinate] = []
    counts: list[int] = []
    lo, hi, whole_old_tree = 0, new_size, True
    while old_size != hi:
        level = (hi - lo - 1).bit_length() - 1
        middle = lo + (1 << level)
        if old_size <= middle:
            counts.append(_cover(middle, hi, coordinates))
            hi = middle
        else:
            coordinates.append((level, lo >> level))
            counts.append(1)
            lo = middle
            whole_old_tree = False
    if not whole_old_tree:  # the verifier cannot know this subtree's hash: it starts the proof
        counts.append(_cover(lo, hi, coordinates))
    return _assemble(_read(read, coordinates), counts)


def subtree_reader(subtree_hash: Callable[[int, int], bytes]) -> HashReader:
    """A HashReader from a function (level, n) -> hash, for stores that answer one hash at a time."""

    def read(coordinates: Sequence[Coordinate]) -> list[bytes]:
        return [subtree_hash(level, n) for level, n in coordinates]

    return read


def _cover(lo: int, hi: int, out: list[Coordinate]) -> int:
    """Append the complete subtrees that make up leaves [lo, hi), left to right; return how many.

    Every range a proof asks for starts at a multiple of a power of two at least as large as
    itself, so the largest power of two that fits is always aligned.
    """
    count = 0
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        out.append((level, lo >> level))
        lo += 1 << level
        count += 1
    return count


def _fold(hashes: Sequence[bytes], start: int, count: int) -> bytes:
    """Combine the hashes of consecutive complete subtrees, right to left, into their range's MTH."""
    current = hashes[start + count - 1]
    for position in range(start + count - 2, start - 1, -1):
        current = _sha256(b"\x01" + hashes[position] + current).digest()
    return current


def _assemble(hashes: Sequence[bytes], counts: list[int]) -> list[bytes]:
    proof = []
    position = 0
    for count in counts:
        proof.append(_fold(hashes, position, count))
        position += count
    proof.reverse()  # collected root first; proofs list the leaf end first
    return proof


def _read(read: HashReader, coordinates: list[Coordinate]) -> Sequence[bytes]:
    hashes = read(coordinates)
    if len(hashes) != len(coordinates):
        raise ProofError(f"the hash store answered {len(hashes)} hashes for {len(coordinates)} asked")
    return hashes


def _trailing_ones(n: int) -> int:
    return ((n + 1) & -(n + 1)).bit_length() - 1


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------------


def root_from_inclusion_proof(*, index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for leaf hash `leaf` at `index` in a tree of `size` leaves."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, current = index, size - 1, leaf
    for position, sibling in enumerate(proof):
        _check_hash(sibling, f"proof hash {position}")
        if sn == 0:
            raise ProofError(
                f"inclusion proof has {len(proof)} hashes: more than a tree of size {size} needs"
            )
        if fn & 1 or fn == sn:
            current = _sha256(b"\x01" + sibling + current).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            current = _sha256(b"\x01" + current + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof has {len(proof)} hashes: fewer than a tree of size {size} needs")
    return current


def verify_inclusion(*, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` in the tree of `size` with `root`."""
    _check_hash(root, "root hash")
    if root_from_inclusion_proof(index=index, size=size, leaf=leaf, proof=proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of tree size {size}")


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows tree (old_size, old_root) is a prefix of (new_size, new_root).

    Size 0 is the empty tree (root EMPTY_ROOT), a prefix of every tree with an empty proof; equal
    sizes need equal roots and an empty proof.
    """
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for position, item in enumerate(proof):
        _check_hash(item, f"proof hash {position}")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} cannot be a prefix of size {new_size}")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError(f"a consistency proof from size {old_size} to {new_size} must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of nothing")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for tree size {old_size}")
        return
    if not proof:
        raise ProofError(f"a consistency proof from size {old_size} to {new_size} cannot be empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # the old tree is a complete left subtree: the proof omits it
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof has {len(proof)} hashes: more than sizes {old_size}, {new_size} need"
            )
        if fn & 1 or fn == sn:
            first = _sha256(b"\x01" + sibling + first).digest()
            second = _sha256(b"\x01" + sibling + second).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            second = _sha256(b"\x01" + second + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes: fewer than sizes {old_size}, {new_size} need"
        )
    if first != old_root:
        raise ProofError(f"consistency proof does not lead to the root of tree size {old_size}")
    if second != new_root:
        raise ProofError(f"consistency proof does not lead to the root of tree size {new_size}")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


# -- in memory ------------------------------------------------------------------------------------


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """MTH of the given leaf hashes, computed directly: the reference to check stored roots against."""
    if not leaves:
        return EMPTY_ROOT
    stack: list[bytes] = []  # roots of the complete subtrees so far, largest first
    for count, leaf in enumerate(leaves):
        current = leaf
        for _ in range(_trailing_ones(count)):
            current = _sha256(b"\x01" + stack.pop() + current).digest()
        stack.append(current)
    return _fold(stack, 0, len(stack))


class MemoryHashStore:
    """The stored hashes of a log in a list, in stored-hash order.

    For tests, benchmarks and recomputing a log from its leaves; a database keeps the same hashes
    under the same indexes.
    """

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def read(self, coordinates: Sequence[Coordinate]) -> list[bytes]:
        hashes = self.hashes
        out = []
        for level, n in coordinates:
            m = ((n + 1) << level) - 1  # stored_hash_index, inlined: proofs call this for every hash
            out.append(hashes[2 * m - m.bit_count() + level])
        return out

    def append(self, leaf: bytes) -> list[bytes]:
        """Append one leaf hash; return the hashes it added."""
        added = stored_hashes(self.size, leaf, self.read)
        self.hashes.extend(added)
        self.size += 1
        return added

    def extend(self, leaves: Sequence[bytes]) -> list[bytes]:
        """Append leaf hashes as one batch; return the hashes they added."""
        added = stored_hashes_for_batch(start=self.size, leaves=leaves, read=self.read)
        self.hashes.extend(added)
        self.size += len(leaves)
        return added

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self.size if size is None else self._within(size), self.read)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(
            index=index, size=self.size if size is None else self._within(size), read=self.read
        )

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new = self.size if new_size is None else self._within(new_size)
        return consistency_proof(old_size=old_size, new_size=new, read=self.read)

    def _within(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} is beyond the {self.size} leaves stored")
        return size
