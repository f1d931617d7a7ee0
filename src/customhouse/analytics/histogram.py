"""Release times as histograms with log-spaced buckets, so that percentiles can be summed from rollups.

The buckets are DDSketch's logarithmic mapping (Datadog's `ddsketch`, Masson et al., VLDB 2019) with a
relative accuracy of 2 %: a percentile read from the histogram lies within 2 % of the exact value of
rank floor(q (n - 1)) among the released declarations. Times under 1 second share bucket 0 and read
as 0. A histogram is stored as bytes: (bucket, count) pairs in bucket order, little-endian, so that a
year of daily rollups is decoded and summed by numpy in one pass. Pure: no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.02
FLOOR = 1.0  # seconds; below it, a time counts as 0
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
PAIR = np.dtype([("bucket", "<u2"), ("count", "<i4")])
TOP = int(np.iinfo(np.uint16).max)  # the last bucket: about 10^11 years, never reached
ACCURACY_NOTE = f"within {RELATIVE_ACCURACY:.0%}; times under {FLOOR:.0f} s read as 0"


def bucket(seconds: float) -> int:
    """The bucket of a release time: 0 under FLOOR, else 1 + DDSketch's key."""
    if seconds < FLOOR:
        return 0
    return min(MAPPING.key(seconds) + 1, TOP)


def encode(counts: Mapping[int, int]) -> bytes:
    """The non-zero counts as (bucket, count) pairs in bucket order."""
    pairs = sorted((key, count) for key, count in counts.items() if count)
    return np.array(pairs, dtype=PAIR).tobytes()


def decode(blob: bytes) -> dict[int, int]:
    return {int(pair["bucket"]): int(pair["count"]) for pair in np.frombuffer(blob, dtype=PAIR)}


def sum_by_group(blobs: Sequence[bytes], groups: Sequence[int], size: int) -> np.ndarray:
    """Dense counts per group (rows: `size` groups, columns: buckets) of many encoded histograms, each
    belonging to the group of the same position."""
    pairs = np.frombuffer(b"".join(blobs), dtype=PAIR)
    if not len(pairs):
        return np.zeros((size, 1), dtype=np.int64)
    owners = np.repeat(np.asarray(groups, dtype=np.int64), [len(blob) // PAIR.itemsize for blob in blobs])
    width = int(pairs["bucket"].max()) + 1
    flat = np.bincount(owners * width + pairs["bucket"], weights=pairs["count"], minlength=size * width)
    return flat.round().astype(np.int64).reshape(size, width)


def quantiles(counts: np.ndarray, qs: Sequence[float]) -> list[float | None]:
    """The quantiles `qs` of a histogram (dense counts by bucket), as DDSketch answers them: the
    representative value of the bucket that holds rank q (n - 1). Read off the cumulative counts: adding
    a year's buckets to a DDSketch one by one allocated enough to set off the collector's full passes."""
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    if total <= 0:
        return [None for _ in qs]
    keys = np.searchsorted(cumulative, [q * (total - 1) for q in qs], side="right")
    return [0.0 if key == 0 else float(MAPPING.value(int(key) - 1)) for key in keys]
