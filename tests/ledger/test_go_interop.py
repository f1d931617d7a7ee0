"""Go's own sumdb code checks what the log publishes: interop with golang.org/x/mod/sumdb/note and
golang.org/x/mod/sumdb/tlog, not only with published test vectors.

The log is built with the project's code (a declaration's life, then batches of leaves, each
checkpoint cosigned by two witnesses) and served over a real socket by a small HTTP proxy in front of
the app's TestClient, so that `interop/verify.go` reads exactly what /log/checkpoint, /log/key,
/log/tile/... and the proof API answer. Go opens the checkpoints with note.Open (the log's key; then
with the witnesses' keys too), rebuilds the root from the tiles through tlog.TileHashReader, proves
leaves with tlog.ProveRecord / CheckRecord and the earlier checkpoints with tlog.ProveTree /
CheckTree, and checks the API's own proofs with the same functions. What Go read is then mirrored
into a directory, and Go checks that too; a flipped byte or a wrong key must make it fail.

Needs `go` and Debian's golang.org/x/mod sources (apt-get install golang-go
golang-golang-x-mod-dev); skips without them, except under CI=true, where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.db import make_engine, make_session_factory, upgrade, writing
from customhouse.ledger import merkle, note, service, witness
from tests import factories
from tests.conftest import bearer
from tests.helpers import free_port
from tests.ledger.conftest import ORIGIN, commitment, publish, yellow_life

GOPATH = Path("/usr/share/gocode")
X_MOD = GOPATH / "src" / "golang.org" / "x" / "mod"
SOURCE = Path(__file__).parent / "interop" / "verify.go"
FINAL_SIZE = 777  # three full level-0 tiles and a partial one; a partial level-1 tile above them


def _go_missing() -> str | None:
    if shutil.which("go") is None:
        return "`go` is not on PATH (apt-get install golang-go golang-golang-x-mod-dev)"
    if not (X_MOD / "sumdb" / "note").is_dir() or not (X_MOD / "sumdb" / "tlog").is_dir():
        return f"golang.org/x/mod is not at {X_MOD} (apt-get install golang-golang-x-mod-dev)"
    return None


@pytest.fixture(scope="session")
def go_verify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """interop/verify.go built in GOPATH mode against Debian's x/mod (no module proxy, no internet)."""
    missing = _go_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Go interop test must run under CI: {missing}")
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("go") / "verify"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
    }
    if not (env.get("GOCACHE") or env.get("XDG_CACHE_HOME") or env.get("HOME")):
        env["GOCACHE"] = str(tmp_path_factory.mktemp("go-build"))
    built = subprocess.run(
        ["go", "build", "-o", str(out), SOURCE.name],
        cwd=SOURCE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"go build failed:\n{built.stdout}{built.stderr}"
    return out


# -- the log over a socket ------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    answers: dict[str, bytes]  # path with query -> body, of every 200 answer
    tamper: dict[str, Callable[[bytes], bytes]]  # path with query -> what to do to its body


@pytest.fixture
def served(log_client: Any) -> Iterator[Served]:
    """The app on 127.0.0.1 through a one-request-at-a-time proxy to its TestClient."""
    answers: dict[str, bytes] = {}
    tamper: dict[str, Callable[[bytes], bytes]] = {}

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            response = log_client.get(self.path)
            body = response.content
            if response.status_code == 200:
                answers[self.path] = body
                if self.path in tamper:
                    body = tamper[self.path](body)
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_address[1]}", answers, tamper)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def mirror(answers: dict[str, bytes], root: Path) -> Path:
    """The answers as files under `root` (a query's "?" becomes "/", as verify.go reads a directory)."""
    for path, body in answers.items():
        file = root / path.lstrip("/").replace("?", "/", 1)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(body)
    return root


@dataclass
class Log:
    sizes: list[int]  # the sizes of the checkpoints, oldest first
    roots: dict[int, bytes]
    old_files: list[Path]  # the earlier checkpoints (cosigned), as a client kept them
    witness_keys: list[str]


def grow_log(
    app: Any, log_client: Any, tokens: Any, session: Any, ledger: Any, witnesses: Any, tmp: Path
) -> Log:
    """A declaration's life, then plain leaves up to FINAL_SIZE, in three checkpoints, each cosigned by
    both witnesses (each checking consistency from the last checkpoint it saw)."""
    yellow_life(app, log_client, tokens)
    publish(app)
    states = [tmp / f"witness-{number}" for number, _ in enumerate(witnesses)]
    sizes: list[int] = []
    roots: dict[int, bytes] = {}
    for target in (None, 300, FINAL_SIZE):
        if target is not None:
            start = sizes[-1]
            service.queue(session, [commitment(number) for number in range(start, target)])
            service.sequence(session, signer=ledger.signer, origin=ORIGIN)
            session.commit()
        head = service.tree_head(session)
        assert head is not None
        sizes.append(head.size)
        roots[head.size] = head.root
        for signer, state in zip(witnesses, states, strict=True):
            witness.cosign(
                witness.HttpLog(log_client), signer=signer, log_key=ledger.log_key, origin=ORIGIN, state=state
            )
    assert sizes[0] > 1 and sizes[-1] == FINAL_SIZE
    old_files = []
    for size in sizes[:-1]:
        answer = log_client.get("/api/v1/ledger/proofs/inclusion", params={"index": 0, "size": size})
        assert answer.status_code == 200, answer.text
        message = answer.json()["checkpoint"].encode()
        note.open_checkpoint(
            message, origin=ORIGIN, log=ledger.log_key, witnesses=[w.verifier for w in witnesses], quorum=2
        )
        old_files.append(tmp / f"checkpoint-{size}")
        old_files[-1].write_bytes(message)
    return Log(sizes, roots, old_files, [w.verifier.vkey for w in witnesses])


def run_go(
    binary: Path, log_base: str, log: Log, *extra: str, api: str | None = None, quorum: int = 2
) -> tuple[int, dict[str, Any]]:
    command = [str(binary), "-log", log_base, "-quorum", str(quorum)]
    for key in log.witness_keys:
        command += ["-witness", key]
    for file in log.old_files:
        command += ["-old", str(file)]
    if api is not None:
        command += ["-api", api]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=120)
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"verify.go printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.returncode, result


# -- the tests --------------------------------------------------------------------------------------


def test_go_sumdb_verifies_the_checkpoints_tiles_and_proofs_the_log_serves(
    go_verify, app, log_client, served, tokens, session, ledger, witness_signers, tmp_path
):
    log = grow_log(app, log_client, tokens, session, ledger, witness_signers, tmp_path)
    code, result = run_go(go_verify, f"{served.url}/log", log, api=served.url)
    assert code == 0 and result["ok"], json.dumps(result, indent=2)

    # The checkpoint: the log's key from /log/key, the body Go parsed, the three signatures.
    log_key = f"{ledger.log_key.name}+{ledger.log_key.key_hash:08x}"
    witness_names = sorted(f"{w.verifier.name}+{w.verifier.key_hash:08x}" for w in witness_signers)
    assert (result["log_key"], result["log_key_from"]) == (log_key, "<log>/key")
    head = result["checkpoint"]
    assert (head["origin"], head["size"], head["extensions"]) == (ORIGIN, FINAL_SIZE, [])
    assert base64.b64decode(head["root"]) == log.roots[FINAL_SIZE]
    assert base64.b64decode(result["tree_hash_from_tiles"]) == log.roots[FINAL_SIZE]
    assert head["log_signatures"] == [log_key]
    # With only the log's key, note.Open keeps the cosignatures as unknown and accepts the note;
    # with the witnesses' keys too, it verifies all of them.
    assert sorted(head["unverified_signatures_with_log_key_only"]) == witness_names
    assert sorted(head["cosignatures_verified"]) == witness_names
    assert len(head["cosignature_times"]) == 2 and all(t > 1_700_000_000 for t in head["cosignature_times"])
    # x/mod's note.NewVerifier knows only Ed25519 (type 0x01); cosignature/v1 keys are verify.go's own.
    assert {w["note_newverifier_error"] for w in result["witnesses"]} == {"unknown verifier algorithm"}

    # Each earlier checkpoint opens the same way and is proved a prefix of the newest tree.
    assert [(old["size"], base64.b64decode(old["root"])) for old in result["old_checkpoints"]] == [
        (size, log.roots[size]) for size in log.sizes[:-1]
    ]
    assert all(sorted(old["cosignatures_verified"]) == witness_names for old in result["old_checkpoints"])
    assert [(c["old_size"], c["new_size"]) for c in result["consistency"]] == [
        (size, FINAL_SIZE) for size in log.sizes[:-1]
    ]
    assert all(c["api_proof"] == "verified, equal to tlog.ProveTree" for c in result["consistency"])

    # Leaves in every tree: Go's RecordHash of the entry bundle's entry is customhouse's leaf hash.
    proved = {(item["tree_size"], item["index"]) for item in result["inclusion"]}
    assert {(FINAL_SIZE, 0), (FINAL_SIZE, 388), (FINAL_SIZE, FINAL_SIZE - 1), (300, 299)} <= proved
    assert {size for size, _ in proved} == set(log.sizes)
    for item in result["inclusion"]:
        ours = service.inclusion_proof(session, index=item["index"], size=item["tree_size"])
        assert bytes.fromhex(item["leaf_hash"]) == ours.leaf_hash == merkle.leaf_hash(ours.entry)
        assert item["entry_bytes"] == len(ours.entry) and item["proof_hashes"] == len(ours.proof)
        assert item["api_proof"] == "verified, equal to tlog.ProveRecord"
    # Go asked for C2SP paths (no height element, "entries" not "data"), partial tiles included.
    tiles_read = set(result["tiles_read"])
    assert {"tile/0/000", "tile/0/003.p/9", "tile/1/000.p/3", "tile/entries/003.p/9"} <= tiles_read
    assert {"tile/0/001.p/44", "tile/entries/001.p/44"} <= tiles_read  # of the tree of 300
    assert not any(path.startswith(("tile/8/", "tile/data/")) for path in tiles_read)

    # The same files in a directory, with the key given out of band: the same verdict.
    root = mirror(served.answers, tmp_path / "mirror")
    code, again = run_go(go_verify, str(root / "log"), log, "-vkey", ledger.log_key.vkey, api=str(root))
    assert code == 0 and again["ok"], json.dumps(again, indent=2)
    assert (again["inclusion"], again["consistency"]) == (result["inclusion"], result["consistency"])


def _flip(position: int) -> Callable[[bytes], bytes]:
    def flip(body: bytes) -> bytes:
        changed = bytearray(body)
        changed[position % len(changed)] ^= 0x01
        return bytes(changed)

    return flip


def _flip_api_proof(body: bytes) -> bytes:
    answer = json.loads(body)
    first = answer["proofs"][0]["proof"]
    first[0] = ("0" if first[0][0] != "0" else "1") + first[0][1:]
    return json.dumps(answer).encode()


def _flip_last_cosignature(body: bytes) -> bytes:
    lines = body.decode().split("\n")  # ..., "— witness-2 <base64>", ""
    name, _, encoded = lines[-2].rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01  # a bit of the Ed25519 signature, not of the key hash
    lines[-2] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("path", "tamper", "error"),
    [
        # A hash in a full level-0 tile: the tile no longer hashes to its parent in tile/1. (x/mod
        # 0.7.0's TileHashReader skips that check at this tree size, see verify.go; the proof built
        # from the tile then fails CheckRecord.)
        ("/log/tile/0/000", _flip(5 * 32 + 7), "downloaded inconsistent tile|invalid transparency proof"),
        # A hash in the right-edge partial tile that the tree hash is rebuilt from.
        ("/log/tile/0/003.p/9", _flip(8 * 32), "downloaded inconsistent tile"),
        # An entry: its RecordHash no longer matches the authenticated leaf hash.
        ("/log/tile/entries/000", _flip(40), "the level-0 tile holds"),
        (
            "/api/v1/ledger/proofs/inclusion?index=388&size=777",
            _flip_api_proof,
            "tlog.CheckRecord of the API's proof",
        ),
        ("/log/checkpoint", _flip_last_cosignature, "invalid signature for key witness-2"),
        ("/log/checkpoint", _flip(len(ORIGIN) + 2), "note.Open with the log key: invalid signature"),
    ],
    ids=["tile", "partial-tile", "entry", "api-proof", "cosignature", "checkpoint-size"],
)
def test_go_refuses_a_flipped_byte(
    go_verify,
    app,
    log_client,
    served,
    tokens,
    session,
    ledger,
    witness_signers,
    tmp_path,
    path,
    tamper,
    error,
):
    log = grow_log(app, log_client, tokens, session, ledger, witness_signers, tmp_path)
    served.tamper[path] = tamper
    code, result = run_go(go_verify, f"{served.url}/log", log, api=served.url)
    assert code == 1 and not result["ok"]
    assert re.search(error, result["error"]), result["error"]
    assert path in served.answers  # Go did read what was altered


def test_go_refuses_the_checkpoint_under_another_key_and_a_missing_cosignature(
    go_verify, app, log_client, served, tokens, session, ledger, witness_signers, tmp_path
):
    log = grow_log(app, log_client, tokens, session, ledger, witness_signers, tmp_path)
    impostor = note.generate_key(ORIGIN)  # the same name, another key: another key hash
    code, result = run_go(go_verify, f"{served.url}/log", log, "-vkey", impostor.verifier.vkey)
    assert code == 1 and "note.Open with the log key: note has no verifiable signatures" in result["error"]

    other_witness = note.generate_key("witness-2", key_type=note.KEY_COSIGNATURE)
    log.witness_keys = [log.witness_keys[0], other_witness.verifier.vkey]
    code, result = run_go(go_verify, f"{served.url}/log", log)
    assert code == 1 and "1 witnesses cosigned, the quorum is 2" in result["error"]


SETTLED = "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM ledger_leaves)"


def test_go_sumdb_verifies_a_running_server_with_its_own_key_file(go_verify, tmp_path):
    """The production wiring: a server on a socket, its log key made at first start in var_dir, the
    dispatcher and sequencer threads logging two lodged declarations, a witness that the server knows
    cosigning over HTTP; Go reads it all by URL."""
    database = f"sqlite:///{tmp_path / 'server.db'}"
    engine = make_engine(database)
    upgrade(engine)
    with writing(make_session_factory(engine)) as session:
        tokens = factories.world(session)
    cosigner = note.generate_key("witness.test", key_type=note.KEY_COSIGNATURE)
    port = free_port()
    settings = Settings(
        database_url=database,
        var_dir=tmp_path / "var",
        port=port,
        rate_look_back_days=3660,
        ledger_origin="customs.test/live/log",
        ledger_witnesses=[cosigner.verifier.vkey],
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:

            def lodge_and_wait(bigger_than: int) -> bytes:
                """Lodge a declaration and wait until the log has settled: every event delivered
                and the checkpoint covering every leaf. A lodging makes several
                events, sequenced in more than one batch, so a checkpoint merely bigger than before
                may be followed by another that the witness has not cosigned."""
                lodged = http.post(
                    "/api/v1/declarations",
                    json=factories.declaration(lrn=f"LRN-GO-{bigger_than}"),
                    headers=bearer(tokens["trader"]),
                )
                assert lodged.status_code == 201, lodged.text
                for _ in range(400):
                    answer = http.get("/log/checkpoint")
                    if answer.status_code == 200:
                        size = int(answer.text.split("\n")[1])
                        with engine.connect() as connection:
                            waiting, leaves = connection.execute(text(SETTLED)).one()
                        if size > bigger_than and waiting == 0 and size == leaves:
                            return answer.content
                    time.sleep(0.05)
                pytest.fail(f"no settled checkpoint beyond {bigger_than} leaves")

            key = note.parse_verifier_key(http.get("/log/key").text.strip())
            assert (settings.var_dir / service.KEY_FILE).exists()  # made at first start
            first = lodge_and_wait(0)
            size = int(first.decode().split("\n")[1])
            state = tmp_path / "witness-state"
            cosign = {"signer": cosigner, "log_key": key, "origin": settings.ledger_origin, "state": state}
            witness.cosign(witness.HttpLog(http), **cosign)
            old = tmp_path / "checkpoint-old"
            old.write_bytes(http.get("/log/checkpoint").content)  # the first tree, cosigned
            lodge_and_wait(size)
            witness.cosign(witness.HttpLog(http), **cosign)
            served = http.get("/log/checkpoint").content
            live = Log([], {}, [old], [cosigner.verifier.vkey])
            code, result = run_go(go_verify, f"{base}/log", live, api=base, quorum=1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()

    assert code == 0 and result["ok"], json.dumps(result, indent=2)
    head = result["checkpoint"]
    opened, _ = note.open_checkpoint(
        served, origin=settings.ledger_origin, log=key, witnesses=[cosigner.verifier]
    )
    assert (head["origin"], head["size"], base64.b64decode(head["root"])) == (
        opened.origin,
        opened.size,
        opened.root_hash,
    )
    assert (
        head["log_signatures"] == [f"{key.name}+{key.key_hash:08x}"] and result["log_key_from"] == "<log>/key"
    )
    assert head["cosignatures_verified"] == [f"witness.test+{cosigner.key_hash:08x}"]
    assert [(c["old_size"], c["new_size"]) for c in result["consistency"]] == [(size, opened.size)]
    assert result["consistency"][0]["api_proof"] == "verified, equal to tlog.ProveTree"
    assert {item["tree_size"] for item in result["inclusion"]} == {size, opened.size}
    assert all(item["api_proof"] == "verified, equal to tlog.ProveRecord" for item in result["inclusion"])
