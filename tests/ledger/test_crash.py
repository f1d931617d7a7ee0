"""SIGKILL during sequencing: a subprocess queues leaves and sequences them in a loop on a database of
its own (SQLite file, or a PostgreSQL schema of its own) and is killed at a random moment. Then:

- every checkpoint the subprocess reported committed is stored (nothing acknowledged is lost);
- `verify` finds nothing: no half-written batch, every stored hash and checkpoint matches the leaves;
- the next pass (which integrates whatever was queued and not yet sequenced) signs a checkpoint
  consistent with the last stored one, proven with the two signed roots.

The rounds draw their kill moments and batch sizes from a seed, printed at the start; set
CUSTOMHOUSE_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from customhouse.db import make_session_factory, writing
from customhouse.ledger import merkle, note, service
from tests.ledger.conftest import ORIGIN, commitment

pytestmark = pytest.mark.slow

ROUNDS = 3

CHILD = r"""
import os, random, sys
from datetime import UTC, datetime
from customhouse.db import make_engine, make_session_factory, writing
from customhouse.ledger import note, service

url, key, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
signer = note.parse_signer_key(open(key).read().strip())
sessions = make_session_factory(make_engine(url))
number = 0
print("ready", flush=True)
while True:
    count = rng.choice((1, 17, 256, 1000, 3000))
    leaves = []
    for _ in range(count):
        number += 1
        leaves.append(service.Commitment(
            type="crash.test", issuer="child", time=datetime.now(UTC), subject_type="thing",
            subject_id=f"{seed}-{number}", version=None, salt=os.urandom(16), document_hash=os.urandom(32)))
    if rng.random() < 0.3:  # queued in one transaction, sequenced in another (a crash may leave a queue)
        with writing(sessions) as session:
            service.queue(session, leaves)
        leaves = []
    print("begin", flush=True)
    with writing(sessions) as session:
        service.queue(session, leaves)
        done = service.sequence(session, signer=signer, origin=sys.argv[4], limit=rng.choice((500, 5000)))
    if done is not None:
        print("committed", done.size, flush=True)
"""


def _seed() -> int:
    return int(os.environ.get("CUSTOMHOUSE_CRASH_SEED") or random.SystemRandom().randrange(2**31))


def _url(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return engine.url.render_as_string(hide_password=False)
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    return engine.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def run_and_kill(url: str, key: Path, seed: int, delay: float, workdir: Path) -> tuple[int, bool]:
    """Start the sequencing loop, SIGKILL it `delay` seconds after it is ready; the last size it
    reported committed (0 if none), and whether it had begun a sequencing transaction it did not
    report committed."""
    log = workdir / f"child-{seed}.log"
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url, str(key), str(seed), ORIGIN],
            stdout=subprocess.PIPE,
            stderr=output,
            cwd=workdir,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready", log.read_text()
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        lines = child.stdout.read().decode().split("\n")
        assert child.wait(timeout=30) == -signal.SIGKILL, log.read_text()
    committed = [int(line.split()[1]) for line in lines if line.startswith("committed ")]
    reported = [line for line in lines if line]
    return (committed[-1] if committed else 0), bool(reported) and reported[-1] == "begin"


def test_a_log_killed_while_sequencing_stays_whole_and_grows_consistently(committing_engine, tmp_path):
    signer = note.generate_key(ORIGIN)
    key = tmp_path / "log.key"
    key.write_text(signer.skey + "\n")
    sessions = make_session_factory(committing_engine)
    seed = _seed()
    print(f"CUSTOMHOUSE_CRASH_SEED={seed} ({committing_engine.dialect.name})")
    rng = random.Random(seed)
    inside = 0
    for number in range(ROUNDS):
        delay = rng.uniform(0.3, 2.0)
        acknowledged, begun = run_and_kill(_url(committing_engine), key, seed + number, delay, tmp_path)
        with Session(committing_engine) as session:
            head = service.tree_head(session) or service.TreeHead(0, merkle.EMPTY_ROOT, "")
            queued = service.next_index(session) - head.size
            result = service.verify(session, log_key=signer.verifier, origin=ORIGIN)
        print(
            f"  round {number}: killed after {delay:.2f}s; {acknowledged} acknowledged, {head.size} stored, "
            f"{queued} queued"
        )
        assert head.size >= acknowledged, "a checkpoint reported committed is lost"
        inside += begun and head.size == acknowledged  # killed inside the transaction: rolled back
        assert result.findings == [], [str(finding) for finding in result.findings]
        assert result.size == head.size

        if head.size:
            last, _ = note.open_checkpoint(head.note.encode(), origin=ORIGIN, log=signer.verifier)
        else:
            last = note.Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT)
        with writing(sessions) as session:
            service.queue(session, [commitment(n) for n in range(rng.randrange(1, 50))])
            done = service.sequence(session, signer=signer, origin=ORIGIN, limit=10**6)
        assert done is not None
        new, _ = note.open_checkpoint(done.note, origin=ORIGIN, log=signer.verifier)
        with Session(committing_engine) as session:
            proof = service.consistency_proof(session, old_size=last.size, new_size=new.size).proof
            assert service.verify(session, log_key=signer.verifier, origin=ORIGIN).findings == []
        merkle.verify_consistency(
            old_size=last.size,
            new_size=new.size,
            old_root=last.root_hash,
            new_root=new.root_hash,
            proof=proof,
        )
    print(f"  {inside} of {ROUNDS} kills came inside a sequencing transaction")
