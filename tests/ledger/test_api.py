"""The public log over HTTP: a declaration's life becomes leaves; the checkpoint verifies with the
published key; tiles and entry bundles rebuild the root; proofs verify; errors are problems."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from customhouse.events import Event
from customhouse.ledger import merkle, note, service, tiles
from tests.ledger.conftest import ORIGIN, commitment, publish, yellow_life


def checkpoint(client, log_key=None) -> note.Checkpoint:
    response = client.get("/log/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    key = log_key or note.parse_verifier_key(client.get("/log/key").text.strip())
    return note.open_checkpoint(response.content, origin=ORIGIN, log=key)[0]


def test_a_declarations_life_is_logged_and_its_checkpoint_verifies_with_the_published_key(
    app, log_client, tokens, ledger, session
):
    declaration_id = yellow_life(app, log_client, tokens)
    assert log_client.get("/log/checkpoint").status_code == 404  # nothing sequenced yet
    publish(app)
    key = log_client.get("/log/key")
    assert key.headers["content-type"] == "text/plain; charset=utf-8"
    assert key.text == ledger.log_key.vkey + "\n"
    head = checkpoint(log_client)

    answer = log_client.get("/api/v1/ledger/proofs/inclusion", params={"aggregate_id": declaration_id})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    kinds = [proof["type"] for proof in body["proofs"]]
    assert kinds.count(service.VERSION) == 3  # lodged, amended, corrected by the control
    decisions = {"declaration.accepted", "declaration.control_recorded", "declaration.assessed"}
    assert decisions | {"declaration.released"} <= set(kinds)
    trail = session.scalars(select(Event).where(Event.aggregate_id == declaration_id)).all()
    documents = {"declaration.lodged", "declaration.amended"}
    decided = decisions | {"declaration.released"}
    assert len(kinds) == sum(
        (event.type in documents)
        + (event.type == "declaration.control_recorded" and "patch" in event.data)
        + (event.type in decided)
        for event in trail
    )
    assert body["tree_size"] == head.size and bytes.fromhex(body["root_hash"]) == head.root_hash
    assert note.open_checkpoint(body["checkpoint"].encode(), origin=ORIGIN, log=ledger.log_key)[0] == head
    for proof in body["proofs"]:
        entry = base64.b64decode(proof["entry"])
        assert merkle.leaf_hash(entry) == bytes.fromhex(proof["leaf_hash"])
        merkle.verify_inclusion(
            index=proof["index"],
            size=head.size,
            leaf=bytes.fromhex(proof["leaf_hash"]),
            proof=[bytes.fromhex(item) for item in proof["proof"]],
            root=head.root_hash,
        )
    for number in (1, 2, 3):
        versions = log_client.get(
            "/api/v1/ledger/proofs/inclusion",
            params={"aggregate_id": declaration_id, "type": service.VERSION, "version": number},
        ).json()["proofs"]
        assert len(versions) == 1
    by_hash = log_client.get(
        "/api/v1/ledger/proofs/inclusion", params={"leaf_hash": versions[0]["leaf_hash"]}
    )
    assert by_hash.json()["proofs"] == versions
    b64 = base64.b64encode(bytes.fromhex(versions[0]["leaf_hash"])).decode()
    assert (
        log_client.get("/api/v1/ledger/proofs/inclusion", params={"leaf_hash": b64}).json()["proofs"]
        == versions
    )
    by_index = log_client.get("/api/v1/ledger/proofs/inclusion", params={"index": versions[0]["index"]})
    assert by_index.json()["proofs"] == versions


def test_tiles_and_entry_bundles_over_http_rebuild_the_root_of_the_checkpoint(
    app, log_client, session, ledger
):
    for start, count in ((0, 300), (300, 1), (301, 299)):  # 600 leaves: two full tiles, partial ones above
        service.queue(session, [commitment(number) for number in range(start, start + count)])
        service.sequence(session, signer=ledger.signer, origin=ORIGIN)
    session.commit()
    head = checkpoint(log_client, ledger.log_key)
    assert head.size == 600
    fetched = []

    def fetch(tile: tiles.Tile) -> bytes:
        response = log_client.get(f"/log/{tile.path}")
        assert response.status_code == 200, (tile.path, response.text)
        assert response.headers["content-type"] == "application/octet-stream"
        assert "immutable" in response.headers["cache-control"]
        fetched.append(tile.path)
        return response.content

    read = tiles.tile_reader(fetch, size=head.size)
    assert merkle.root_hash(head.size, read) == head.root_hash
    assert set(fetched) == {"tile/0/002.p/88", "tile/1/000.p/2"}  # the root needs these two
    for index in (0, 299, 511, 599):
        proof = merkle.inclusion_proof(index=index, size=head.size, read=read)
        leaf = read([(0, index)])[0]
        merkle.verify_inclusion(index=index, size=head.size, leaf=leaf, proof=proof, root=head.root_hash)
    assert {"tile/0/000", "tile/0/001"} <= set(fetched)

    # Entry bundles hold the leaves whose hashes the level-0 tiles hold, full and partial alike.
    for path, hashes_path in (
        ("tile/entries/001", "tile/0/001"),
        ("tile/entries/002.p/88", "tile/0/002.p/88"),
    ):
        entries = tiles.parse_entry_bundle(log_client.get(f"/log/{path}").content)
        hashes = tiles.tile_hashes(
            tiles.parse_tile_path(hashes_path), log_client.get(f"/log/{hashes_path}").content
        )
        assert [merkle.leaf_hash(entry) for entry in entries] == hashes
    # A partial tile of an earlier tree size is served too (a client that holds that checkpoint).
    assert len(log_client.get("/log/tile/0/001.p/44").content) == 44 * 32
    for missing in ("tile/0/002", "tile/0/002.p/89", "tile/2/000.p/1", "tile/entries/003.p/1", "tile/0/2"):
        response = log_client.get(f"/log/{missing}")
        assert response.status_code == 404, missing
        assert response.headers["content-type"] == "application/problem+json"


def test_consistency_proofs_between_checkpoints_verify(app, log_client, session, ledger):
    roots = {}
    for count in (3, 5, 8, 1):
        service.queue(session, [commitment(number) for number in range(count)])
        done = service.sequence(session, signer=ledger.signer, origin=ORIGIN)
        roots[done.size] = done.root
    session.commit()
    sizes = sorted(roots)
    for old in sizes:
        for new in sizes:
            if old > new:
                continue
            answer = log_client.get("/api/v1/ledger/proofs/consistency", params={"old": old, "new": new})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            merkle.verify_consistency(
                old_size=old,
                new_size=new,
                old_root=roots[old],
                new_root=roots[new],
                proof=[bytes.fromhex(item) for item in body["proof"]],
            )
    latest = log_client.get("/api/v1/ledger/proofs/consistency", params={"old": 3}).json()
    assert latest["new_size"] == 17 and bytes.fromhex(latest["new_root"]) == roots[17]


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({}, 422, "index"),
        ({"index": 1, "leaf_hash": "00" * 32}, 422, "leaf_hash"),
        ({"leaf_hash": "not-a-hash"}, 422, "leaf_hash"),
        ({"index": 99}, 404, None),
        ({"leaf_hash": "00" * 32}, 404, None),
        ({"aggregate_id": "nobody"}, 404, None),
        ({"index": 0, "size": 99}, 404, None),
    ],
)
def test_bad_proof_requests_are_problems(app, log_client, session, ledger, params, status, named):
    service.queue(session, [commitment(number) for number in range(4)])
    service.sequence(session, signer=ledger.signer, origin=ORIGIN)
    session.commit()
    response = log_client.get("/api/v1/ledger/proofs/inclusion", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if named:
        assert named in {error.get("parameter") for error in response.json()["errors"]}


def test_a_consistency_proof_to_a_smaller_tree_is_refused(app, log_client, session, ledger):
    service.queue(session, [commitment(number) for number in range(4)])
    service.sequence(session, signer=ledger.signer, origin=ORIGIN)
    session.commit()
    response = log_client.get("/api/v1/ledger/proofs/consistency", params={"old": 3, "new": 2})
    assert response.status_code == 422 and response.json()["errors"][0]["parameter"] == "old"
    assert log_client.get("/api/v1/ledger/proofs/consistency", params={"old": 3, "new": 5}).status_code == 404


def test_a_queued_leaf_is_announced_until_it_is_sequenced(app, log_client, session, ledger):
    service.sequence(session, signer=ledger.signer, origin=ORIGIN)
    leaf = commitment(7)
    service.queue(session, [leaf])
    session.commit()
    response = log_client.get(
        "/api/v1/ledger/proofs/inclusion", params={"aggregate_id": leaf.subject_id, "aggregate_type": "thing"}
    )
    assert response.status_code == 404 and "wait for the next checkpoint" in response.json()["detail"]
    publish(app)
    response = log_client.get(
        "/api/v1/ledger/proofs/inclusion", params={"aggregate_id": leaf.subject_id, "aggregate_type": "thing"}
    )
    assert response.status_code == 200 and response.json()["proofs"][0]["index"] == 0
