"""C2SP tlog-tiles: tile and entry-bundle paths, tile bytes from stored hashes, hashes back from tiles.

A tile at tile level L, index N, holds the hashes of tree level 8L, numbers N*256 .. N*256+W-1,
concatenated (W = 256 for a full tile, 1..255 for the partial one at the right edge). Entry bundles
(``tile/entries/<N>``) hold the leaves themselves, each prefixed by its length as a big-endian
uint16. Paths are relative to the log's prefix: ``tile/1/x001/x234/067.p/8``.

As Go's sumdb/tlog does, a `Tile` whose level is ``ENTRIES`` (-1) stands for an entry bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from customhouse.ledger.merkle import HASH_SIZE, Coordinate, HashReader, ProofError, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes
ENTRIES = -1
MAX_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF

_NUMBER = re.compile(r"0|[1-9][0-9]*")
_SEGMENT = re.compile(r"x?[0-9]{3}")


class TileError(ValueError):
    """A tile path, tile or entry bundle that is malformed, or asks for what the tree does not have."""


@dataclass(frozen=True, slots=True)
class Tile:
    level: int  # tile level (tree level 8 * level), or ENTRIES for an entry bundle
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES or 0 <= self.level <= MAX_LEVEL):
            raise TileError(f"tile level {self.level} is not between 0 and {MAX_LEVEL}")
        if self.index < 0:
            raise TileError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"tile width {self.width} is not between 1 and {TILE_WIDTH}")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.level == ENTRIES else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{level}/{format_index(self.index)}{suffix}"

    def coordinates(self) -> list[Coordinate]:
        """The (tree level, n) of the hashes this tile holds, left to right."""
        if self.level == ENTRIES:
            raise TileError("an entry bundle holds entries, not hashes")
        start = self.index * TILE_WIDTH
        level = self.level * TILE_HEIGHT
        return [(level, n) for n in range(start, start + self.width)]


def format_index(index: int) -> str:
    """N as zero-padded 3-digit path elements, all but the last prefixed by x: 1234067 -> x001/x234/067."""
    if index < 0:
        raise TileError(f"tile index {index} is negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> Tile:
    """The Tile that a canonical path ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` names."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"{path!r}: a tile path is tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")
    level_text, rest = parts[1], parts[2:]
    if level_text == "entries":
        level = ENTRIES
    elif _NUMBER.fullmatch(level_text) and int(level_text) <= MAX_LEVEL:
        level = int(level_text)
    else:
        raise TileError(f"{path!r}: level {level_text!r} is not 'entries' or a number from 0 to {MAX_LEVEL}")
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width_text = rest[-1]
        if not _NUMBER.fullmatch(width_text) or not 1 <= int(width_text) < TILE_WIDTH:
            raise TileError(
                f"{path!r}: partial width {width_text!r} is not a number from 1 to {TILE_WIDTH - 1}"
            )
        width = int(width_text)
        rest = [*rest[:-2], rest[-2][: -len(".p")]]
    if not all(_SEGMENT.fullmatch(segment) for segment in rest):
        raise TileError(f"{path!r}: the index must be 3-digit path elements")
    if rest[-1].startswith("x") or not all(segment.startswith("x") for segment in rest[:-1]):
        raise TileError(f"{path!r}: every index element but the last begins with x")
    index = int("".join(segment.lstrip("x") for segment in rest))
    tile = Tile(level, index, width)
    if tile.path != path:
        raise TileError(f"{path!r} is not canonical: the same tile is {tile.path!r}")
    return tile


# -- which tiles a tree has -------------------------------------------------------------------------


def tile_count(level: int, size: int) -> tuple[int, int]:
    """(full tiles, width of the partial tile or 0) at tile `level` for a tree of `size` leaves."""
    hashes = size >> (TILE_HEIGHT * max(level, 0))
    return hashes >> TILE_HEIGHT, hashes & (TILE_WIDTH - 1)


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The hash tiles that growing the tree from `old_size` to `new_size` creates or widens.

    new_tiles(0, size) is every tile of the tree. Entry bundles have the same indexes and widths
    as the level-0 tiles.
    """
    if not 0 <= old_size <= new_size:
        raise TileError(f"a tree does not shrink from size {old_size} to {new_size}")
    tiles = []
    for level in range(MAX_LEVEL + 1):
        old_hashes = old_size >> (TILE_HEIGHT * level)
        new_hashes = new_size >> (TILE_HEIGHT * level)
        if old_hashes == new_hashes:
            break
        for index in range(old_hashes >> TILE_HEIGHT, (new_hashes >> TILE_HEIGHT) + 1):
            width = min(TILE_WIDTH, new_hashes - index * TILE_WIDTH)
            if width > 0:
                tiles.append(Tile(level, index, width))
    return tiles


def check_tile_in_tree(tile: Tile, size: int) -> None:
    """Raise TileError unless a tree of `size` leaves has this tile (full, or partial at the right edge)."""
    full, partial = tile_count(tile.level, size)
    if tile.index < full and tile.width == TILE_WIDTH:
        return
    if tile.index == full and tile.width == partial:
        return
    raise TileError(f"a tree of size {size} has no tile {tile.path}")


# -- tile bytes -------------------------------------------------------------------------------------


def tile_bytes(tile: Tile, read: HashReader) -> bytes:
    """The body of a hash tile: its hashes concatenated, read from the stored hashes in one call."""
    coordinates = tile.coordinates()
    hashes = read(coordinates)
    if len(hashes) != len(coordinates):
        raise TileError(f"the hash store answered {len(hashes)} hashes for tile {tile.path}")
    return b"".join(hashes)


def tile_hashes(tile: Tile, data: bytes) -> list[bytes]:
    """Split a hash tile's body into its hashes, checking its length against the tile's width."""
    if len(data) != tile.width * HASH_SIZE:
        raise TileError(f"tile {tile.path} has {len(data)} bytes, not {tile.width * HASH_SIZE}")
    return [data[position : position + HASH_SIZE] for position in range(0, len(data), HASH_SIZE)]


def tile_reader(fetch: Callable[[Tile], bytes], *, size: int) -> HashReader:
    """A HashReader answering from the tiles of a tree of `size` leaves, each tile fetched once a call.

    A hash between tile levels (tree level 8L + r, r > 0) is rebuilt from the 2**r hashes below it
    in its tile. The hashes are as trustworthy as the tiles: check what they prove against a signed
    checkpoint (verify_inclusion and verify_consistency do).
    """

    def read(coordinates: Sequence[Coordinate]) -> list[bytes]:
        fetched: dict[Tile, list[bytes]] = {}
        out = []
        for level, n in coordinates:
            if n < 0 or ((n + 1) << level) > size:
                raise ProofError(f"subtree ({level}, {n}) is not complete in a tree of size {size}")
            tile_level, below = divmod(level, TILE_HEIGHT)
            first = n << below  # in hashes of tree level 8 * tile_level
            index, offset = divmod(first, TILE_WIDTH)
            full, partial = tile_count(tile_level, size)
            tile = Tile(tile_level, index, TILE_WIDTH if index < full else partial)
            if tile not in fetched:
                fetched[tile] = tile_hashes(tile, fetch(tile))
            out.append(_subtree_of(fetched[tile][offset : offset + (1 << below)]))
        return out

    return read


def _subtree_of(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


# -- entry bundles ------------------------------------------------------------------------------------


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries, each prefixed by its length as a big-endian uint16, concatenated."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, not {len(entries)}")
    parts = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry {position} has {len(entry)} bytes, more than {MAX_ENTRY_SIZE}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(entry)
    return b"".join(parts)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; TileError if a length runs past the end."""
    return list(_entries(data))


def _entries(data: bytes) -> Iterator[bytes]:
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise TileError(f"entry bundle ends inside a length prefix at byte {position}")
        length = int.from_bytes(data[position : position + 2], "big")
        start = position + 2
        if start + length > len(data):
            raise TileError(f"entry at byte {position} claims {length} bytes; the bundle ends first")
        yield data[start : start + length]
        position = start + length
