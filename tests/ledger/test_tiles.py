"""C2SP tlog-tiles: paths (Go's sumdb/tlog tile_test.go vectors, without Go's height element), the
spec's tile-count example, tile bytes, proofs computed from tiles, entry bundles."""

from __future__ import annotations

import random

import pytest

from customhouse.ledger.merkle import (
    MemoryHashStore,
    ProofError,
    inclusion_proof,
    leaf_hash,
    root_from_leaves,
    root_hash,
    verify_inclusion,
)
from customhouse.ledger.tiles import (
    ENTRIES,
    Tile,
    TileError,
    check_tile_in_tree,
    entry_bundle,
    format_index,
    new_tiles,
    parse_entry_bundle,
    parse_tile_path,
    tile_bytes,
    tile_hashes,
    tile_reader,
)

SIZE = 70_000  # the spec's example
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(SIZE)]
STORE = MemoryHashStore()
for _leaf in LEAVES:
    STORE.append(_leaf)
TILES = {tile: tile_bytes(tile, STORE.read) for tile in new_tiles(0, SIZE)}


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("tile/4/001", Tile(4, 1)),
        ("tile/4/001.p/5", Tile(4, 1, 5)),
        ("tile/5/x123/x456/078", Tile(5, 123456078)),
        ("tile/5/x123/x456/078.p/2", Tile(5, 123456078, 2)),
        ("tile/0/x003/x057/500", Tile(0, 3057500)),
        ("tile/entries/x003/x057/500", Tile(ENTRIES, 3057500)),
        ("tile/entries/000.p/1", Tile(ENTRIES, 0, 1)),
        ("tile/63/x001/x234/067", Tile(63, 1234067)),
    ],
)
def test_tile_paths(path: str, tile: Tile) -> None:
    assert tile.path == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("tile/5/123/456/078", "begins with x"),  # Go: tile/3/5/123/456/078
        ("tile/-1/123", "level '-1'"),  # Go: tile/3/-1/123/456/078
        ("tile/data/x003/x057/500", "level 'data'"),  # Go's name for entries; C2SP says entries
        ("tile/64/000", "level '64'"),
        ("tile/01/000", "level '01'"),
        ("tile/0/x000/001", "not canonical"),
        ("tile/0/x001", "begins with x"),
        ("tile/0/00", "3-digit"),
        ("tile/0/0001", "3-digit"),
        ("tile/0/000/", "3-digit"),
        ("tile/0/001.p", "3-digit"),
        ("tile/0/000.p/256", "partial width '256'"),
        ("tile/0/000.p/0", "partial width '0'"),
        ("tile/0/000.p/05", "partial width '05'"),
        ("tile/0", "tile/<L>/<N>"),
        ("/tile/0/000", "tile/<L>/<N>"),
        ("checkpoint", "tile/<L>/<N>"),
    ],
)
def test_bad_tile_paths_say_what_is_wrong(path: str, complaint: str) -> None:
    with pytest.raises(TileError, match=complaint):
        parse_tile_path(path)


def test_index_elements() -> None:
    assert format_index(0) == "000"
    assert format_index(999) == "999"
    assert format_index(1000) == "x001/000"
    assert format_index(1234067) == "x001/x234/067"
    with pytest.raises(TileError):
        Tile(0, 0, 0)
    with pytest.raises(TileError):
        Tile(64, 0)


def test_the_tiles_of_the_spec_example() -> None:
    """70,000 leaves: 273 full level-0 tiles, one of width 112, a full level-1 tile, one of width 17,
    and a level-2 tile of width 1; 256 leaves: one full level-0 tile and a level-1 tile of width 1."""
    tiles = new_tiles(0, SIZE)
    assert [tile for tile in tiles if tile.level == 0 and not tile.is_partial] == [
        Tile(0, n) for n in range(273)
    ]
    assert [tile for tile in tiles if tile.level > 0 or tile.is_partial] == [
        Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)
    ]  # fmt: skip
    assert new_tiles(0, 256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert new_tiles(5, 5) == []


def test_new_tiles_are_those_that_changed() -> None:
    assert new_tiles(69_999, SIZE) == [Tile(0, 273, 112)]
    assert new_tiles(65_535, 65_536) == [Tile(0, 255), Tile(1, 0), Tile(2, 0, 1)]
    for old in (0, 1, 255, 256, 4000, 65_536):
        every_new = set(new_tiles(old, SIZE))
        changed = {tile for tile in TILES if tile not in set(new_tiles(0, old))}
        assert every_new == changed
    with pytest.raises(TileError):
        new_tiles(10, 9)


def test_tile_bytes_are_the_hashes_of_their_level() -> None:
    assert TILES[Tile(0, 0)] == b"".join(LEAVES[:256])
    assert TILES[Tile(0, 273, 112)] == b"".join(LEAVES[273 * 256 :])
    assert len(TILES[Tile(1, 0)]) == 8192
    assert tile_hashes(Tile(1, 1, 17), TILES[Tile(1, 1, 17)])[3] == root_from_leaves(
        LEAVES[(256 + 3) * 256 : (256 + 4) * 256]
    )
    assert TILES[Tile(2, 0, 1)] == root_from_leaves(LEAVES[:65_536])
    with pytest.raises(TileError, match="entry bundle holds entries"):
        tile_bytes(Tile(ENTRIES, 0), STORE.read)


def test_which_tiles_a_tree_has() -> None:
    check_tile_in_tree(Tile(0, 272), SIZE)
    check_tile_in_tree(Tile(0, 273, 112), SIZE)
    check_tile_in_tree(Tile(ENTRIES, 273, 112), SIZE)
    for missing in (Tile(0, 273), Tile(0, 273, 111), Tile(0, 274, 1), Tile(2, 0), Tile(3, 0, 1)):
        with pytest.raises(TileError, match="has no tile"):
            check_tile_in_tree(missing, SIZE)


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65_536, 65_537, SIZE])
def test_proofs_from_tiles_equal_proofs_from_stored_hashes(size: int) -> None:
    published = {tile: tile_bytes(tile, STORE.read) for tile in new_tiles(0, size)}
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> bytes:
        fetched.append(tile)
        return published[tile]

    read = tile_reader(fetch, size=size)
    assert root_hash(size, read) == STORE.root(size)
    for index in random.Random(size).sample(range(size), min(size, 50)):
        fetched.clear()
        assert inclusion_proof(index=index, size=size, read=read) == STORE.inclusion_proof(index, size)
        assert len(fetched) == len(set(fetched))  # each tile once per call


def test_a_tampered_tile_gives_a_proof_that_fails() -> None:
    tampered = dict(TILES)
    data = bytearray(tampered[Tile(0, 100)])
    data[5 * 32] ^= 1  # leaf 25605
    tampered[Tile(0, 100)] = bytes(data)
    read = tile_reader(tampered.__getitem__, size=SIZE)
    proof = inclusion_proof(index=25_600, size=SIZE, read=read)
    with pytest.raises(ProofError):
        verify_inclusion(index=25_600, size=SIZE, leaf=LEAVES[25_600], proof=proof, root=STORE.root())


def test_a_tile_of_the_wrong_length_or_a_subtree_outside_the_tree_is_an_error() -> None:
    read = tile_reader(lambda tile: TILES[tile][:-1], size=SIZE)
    with pytest.raises(TileError, match="has 8191 bytes, not 8192"):
        read([(0, 5)])
    with pytest.raises(ProofError, match="not complete"):
        tile_reader(TILES.__getitem__, size=SIZE)([(4, SIZE // 16)])


def test_entry_bundles() -> None:
    entries = [b"", b"a", bytes(range(256)) * 10, b"\xff" * 65_535]
    bundle = entry_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(bundle) == entries
    with pytest.raises(TileError, match="65536 bytes, more than 65535"):
        entry_bundle([b"x" * 65_536])
    with pytest.raises(TileError, match="1 to 256 entries"):
        entry_bundle([])
    with pytest.raises(TileError, match="the bundle ends first"):
        parse_entry_bundle(bundle[:-1])
    with pytest.raises(TileError, match="inside a length prefix"):
        parse_entry_bundle(b"\x00")
