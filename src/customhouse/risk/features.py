"""Features of the learned risk model, built only from what was known before each declaration's date.

Records are plain column dicts (`Records`): canonical field name -> one numpy array per field, one row per
declaration (strings for codes and parties, float64 for amounts, `datetime64[D]` for `date`). Which CSV
column feeds which field is the business of `risk.evaluate.Mapping`; this module never sees file columns.

The features:

- Entity history, one *family* per entity or combination (importer, declarant, HS6, origin, route
  departure->origin, office, the exact declared value, ...): `seen` (declarations of that key before the
  record's date: label-free, so it may count declarations whose outcome is not known yet), `n` (control
  outcomes known for that key) and `rate` (irregular share of those outcomes, smoothed towards the overall
  rate known at that time: `(pos + a * p0) / (n + a)`).
- Unit value (value per kg) against the reference distribution of the HS6 and of the HS6 and origin:
  the deviation of the log unit value from the mean of earlier declarations and its z-score.
- The record's own amounts: log value, log mass, log unit value, tax rate.

Labels are 1 (irregular), 0 (conforming) or NaN (no control outcome known: the declaration counts in
`seen` and in the unit-value references, not in `n` and `rate`).

No leakage from the future: `fit_transform(history, labels)` gives each record the features it would have
had on its date: outcomes and declarations of strictly earlier dates only (same-day outcomes are not
known; with `label_lag_days = L` an outcome counts only for declarations dated more than L days later).
`transform(batch)` uses the fitted state (the history's declarations and outcomes) plus the label-free
counts of the batch's own earlier-dated declarations, and never the batch's labels: it assumes the batch
is not older than the history. `observe_declarations` / `observe_outcomes` add to the state
incrementally (lodgement, then the control outcome), so the lodgement path can keep a builder current
without refitting.

Keys are 64-bit hashes (FNV-1a over the code points of strings, the IEEE bits of exact amounts, mixed with
splitmix64 for combinations), stable across processes; the state is sorted key arrays with one row of
counts per key; a batch is grouped by (key, date) with one stable sort per family and its keys looked up
with `searchsorted`: everything is vectorised (about 60,000 declarations/s for the features on one core).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Records = dict[str, npt.NDArray[Any]]
FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[np.uint64]

#: Canonical fields a mapping may fill. `date` is required; the rest feed the families that use them.
CATEGORICAL_FIELDS = (
    "importer",
    "declarant",
    "seller",
    "courier",
    "hs6",
    "origin",
    "departure",
    "office",
    "transport_mode",
    "process_type",
    "import_type",
    "import_use",
    "payment_type",
    "tax_type",
    "origin_indicator",
)
NUMERIC_FIELDS = ("net_mass", "value", "tax_rate")
#: Computed from other fields: HS prefixes and the exact unit value (value / net mass).
DERIVED_FIELDS = {"hs4": ("hs6",), "hs2": ("hs6",), "unit_value": ("value", "net_mass")}


@dataclass(frozen=True)
class Family:
    """One entity (or combination of fields) whose history becomes features.

    `reference`: also keep the distribution of log unit values for this key (HS6, HS6 and origin).
    """

    name: str
    fields: tuple[str, ...]
    reference: bool = False


def _fam(name: str, *fields: str, reference: bool = False) -> Family:
    return Family(name, fields or (name,), reference)


DEFAULT_FAMILIES: tuple[Family, ...] = (
    _fam("importer"),
    _fam("declarant"),
    _fam("seller"),
    _fam("courier"),
    _fam("hs6", reference=True),
    _fam("hs4"),
    _fam("hs2"),
    _fam("origin"),
    _fam("departure"),
    _fam("route", "departure", "origin"),
    _fam("hs6_origin", "hs6", "origin", reference=True),
    _fam("office"),
    _fam("transport_mode"),
    _fam("import_type"),
    _fam("import_use"),
    _fam("payment_type"),
    _fam("tax_type"),
    _fam("origin_indicator"),
    _fam("importer_hs6", "importer", "hs6"),
    _fam("value"),
    _fam("net_mass"),
    _fam("unit_value"),
    _fam("value_mass", "value", "net_mass"),
    _fam("value_hs6", "value", "hs6"),
    _fam("mass_hs6", "net_mass", "hs6"),
    _fam("value_origin", "value", "origin"),
    _fam("value_mass_hs6", "value", "net_mass", "hs6"),
    _fam("unit_value_hs6", "unit_value", "hs6"),
)

_AMOUNT_FEATURES = ("log_value", "log_mass", "log_unit_value", "tax_rate")


@dataclass(frozen=True)
class FeatureConfig:
    families: tuple[Family, ...] = DEFAULT_FAMILIES
    smoothing: float = 1.0  # pseudo-outcomes at the overall rate added to every key's rate
    label_lag_days: int = 0  # an outcome is known this many days after its declaration's date (0: next day)

    def to_json(self) -> dict[str, Any]:
        return {
            "families": [
                {"name": f.name, "fields": list(f.fields), "reference": f.reference} for f in self.families
            ],
            "smoothing": self.smoothing,
            "label_lag_days": self.label_lag_days,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureConfig:
        families = tuple(
            Family(f["name"], tuple(f["fields"]), bool(f["reference"])) for f in data["families"]
        )
        return cls(families, float(data["smoothing"]), int(data["label_lag_days"]))


# --- hashing --------------------------------------------------------------------------------------------

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(h: KeyArray) -> KeyArray:
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def hash_strings(values: npt.NDArray[Any]) -> KeyArray:
    """FNV-1a (64 bit) of each string's code points: the same string gives the same key in any process."""
    text = np.asarray(values).astype(str)
    uniques, inverse = np.unique(text, return_inverse=True)
    hashes = np.full(uniques.size, _FNV_OFFSET, dtype=np.uint64)
    width = uniques.dtype.itemsize // 4
    if uniques.size and width:
        points = uniques.view(np.uint32).reshape(uniques.size, width).astype(np.uint64)
        for column in points.T:  # padding (code point 0) leaves the hash alone: width does not matter
            hashes = np.where(column != 0, (hashes ^ column) * _FNV_PRIME, hashes)
    return _splitmix(hashes)[inverse.reshape(-1)]


def hash_amounts(values: npt.NDArray[Any]) -> KeyArray:
    """A key per exact amount (its float64 bits; -0.0 is 0.0, every NaN the same)."""
    amounts = np.asarray(values, dtype=np.float64) + 0.0
    amounts = np.where(np.isnan(amounts), np.nan, amounts)
    return _splitmix(amounts.view(np.uint64).copy())


def combine(first: KeyArray, second: KeyArray) -> KeyArray:
    return _splitmix(first * _GOLDEN + second)


# --- counting before each date ------------------------------------------------------------------------


class Grouping:
    """One batch's rows ordered by (key, day) with one stable sort: the base of every count.

    `by_day` (a stable argsort of `days`) may be shared by all the families of a batch.
    """

    def __init__(
        self, keys: KeyArray, days: npt.NDArray[np.int64], by_day: npt.NDArray[np.intp] | None = None
    ):
        n = keys.size
        by_day = np.argsort(days, kind="stable") if by_day is None else by_day
        self.order = by_day[np.argsort(keys[by_day], kind="stable")]
        self.keys = keys[self.order]
        self.days = days[self.order]
        index = np.arange(n)
        self.first = np.ones(n, dtype=bool)  # first row of its key
        self.first[1:] = self.keys[1:] != self.keys[:-1]
        self.key_start = np.maximum.accumulate(np.where(self.first, index, 0)) if n else index
        self.group = np.cumsum(self.first) - 1  # index of the row's key among `unique`

    @property
    def unique(self) -> KeyArray:
        return self.keys[self.first]

    def spread(self, per_key: FloatArray) -> FloatArray:
        """Rows of `per_key` (one per unique key) back to the batch's rows, in the batch's order."""
        out = np.empty((self.order.size, per_key.shape[1]))
        out[self.order] = per_key[self.group]
        return out

    def prior(self, values: FloatArray, lag: int = 0) -> FloatArray:
        """Per row, column sums of `values` over rows with the same key dated before `day - lag`."""
        n = self.order.size
        cumulative = np.zeros((n + 1, values.shape[1]))
        np.cumsum(values[self.order], axis=0, out=cumulative[1:])
        if n == 0:
            return np.zeros(values.shape)
        index = np.arange(n)
        if lag == 0:
            new_day = self.first.copy()
            new_day[1:] |= self.days[1:] != self.days[:-1]
            stop = np.maximum.accumulate(np.where(new_day, index, 0))
        else:
            offset = self.days - self.days.min()
            composite = self.group * (int(offset.max()) + lag + 2) + offset  # ascending: sorted by key, day
            stop = np.maximum(np.searchsorted(composite, composite - lag, side="left"), self.key_start)
        out = np.empty((n, values.shape[1]))
        out[self.order] = cumulative[stop] - cumulative[self.key_start]
        return out


def prior_sums(keys: KeyArray, days: npt.NDArray[np.int64], values: FloatArray, lag: int = 0) -> FloatArray:
    """For each row, the column sums of `values` over rows with the same key dated before `day - lag`.

    `lag = 0`: strictly earlier days (the same day does not count). Vectorised: one stable sort by
    (key, day), cumulative sums, run starts.
    """
    return Grouping(keys, days).prior(values, lag)


def day_numbers(dates: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    return np.asarray(dates).astype("datetime64[D]").astype(np.int64)


def unit_values(records: Records) -> FloatArray:
    """Value per kg; NaN where the mass is missing or not positive."""
    value = np.asarray(records["value"], dtype=np.float64)
    mass = np.asarray(records["net_mass"], dtype=np.float64)
    out = np.full(value.shape, np.nan)
    np.divide(value, mass, out=out, where=mass > 0)
    return out


class _Keys:
    """The keys of one batch, each field hashed once."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.cache: dict[str, KeyArray] = {}

    def field(self, name: str) -> KeyArray:
        if name not in self.cache:
            if name in ("hs4", "hs2"):
                self.cache[name] = hash_strings(
                    np.asarray(self.records["hs6"]).astype(str).astype(f"<U{name[2]}")
                )
            elif name == "unit_value":
                self.cache[name] = hash_amounts(unit_values(self.records))
            elif name in NUMERIC_FIELDS:
                self.cache[name] = hash_amounts(self.records[name])
            else:
                self.cache[name] = hash_strings(self.records[name])
        return self.cache[name]

    def family(self, family: Family) -> KeyArray:
        keys = self.field(family.fields[0])
        for name in family.fields[1:]:
            keys = combine(keys, self.field(name))
        return keys


def _available(family: Family, fields: set[str]) -> bool:
    needed = {base for name in family.fields for base in DERIVED_FIELDS.get(name, (name,))}
    return needed <= fields


# --- ordering and splitting -----------------------------------------------------------------------------


def take(records: Records, rows: npt.NDArray[Any]) -> Records:
    return {name: values[rows] for name, values in records.items()}


def chronological(records: Records, labels: npt.NDArray[Any]) -> tuple[Records, npt.NDArray[Any]]:
    """Records and labels sorted by date (stable: same-day records keep their order)."""
    order = np.argsort(np.asarray(records["date"]), kind="stable")
    return take(records, order), np.asarray(labels)[order]


def split_by_date(dates: npt.NDArray[Any], test_fraction: float) -> np.datetime64:
    """The first date of the test part: the latest date with at least `test_fraction` of rows on or after it.

    A date is never split between the parts.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    days = np.sort(np.asarray(dates).astype("datetime64[D]"))
    unique = np.unique(days)
    if unique.size < 2:
        raise ValueError("a chronological split needs at least two dates")
    on_or_after = days.size - np.searchsorted(days, unique, side="left")
    candidates = unique[1:][on_or_after[1:] >= test_fraction * days.size]
    first: np.datetime64 = candidates[-1] if candidates.size else unique[1]
    return first


# --- the builder ----------------------------------------------------------------------------------------

# Columns of a family's state: declarations seen, outcomes known, irregular outcomes, then for reference
# families the count, sum and sum of squares of log unit values.
_SEEN, _LAB, _POS, _UVN, _UVS, _UVQ = range(6)


@dataclass
class _Table:
    keys: KeyArray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    stats: FloatArray = field(default_factory=lambda: np.zeros((0, 6)))

    def lookup(self, query: KeyArray) -> FloatArray:
        """Stats of each key (zeros for unknown keys); sorted queries are the fastest."""
        if self.keys.size == 0:
            return np.zeros((query.size, self.stats.shape[1]))
        index = np.minimum(np.searchsorted(self.keys, query), self.keys.size - 1)
        found = self.keys[index] == query
        return np.where(found[:, None], self.stats[index], 0.0)

    def add(self, keys: KeyArray, columns: dict[int, FloatArray]) -> None:
        merged, inverse = np.unique(np.concatenate([self.keys, keys]), return_inverse=True)
        inverse = inverse.reshape(-1)
        stats = np.zeros((merged.size, self.stats.shape[1]))
        old = inverse[: self.keys.size]
        stats[old] = self.stats
        new = inverse[self.keys.size :]
        for column, values in columns.items():
            stats[:, column] += np.bincount(new, weights=values, minlength=merged.size)
        self.keys, self.stats = merged, stats


class FeatureBuilder:
    """Entity-history and unit-value features; see the module docstring for what is known when."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config or FeatureConfig()
        self.families: tuple[Family, ...] = ()  # those whose fields the fitted records had
        self.tables: dict[str, _Table] = {}
        self.outcomes = 0.0
        self.irregular = 0.0

    # -- state ---------------------------------------------------------------------------------------

    def reset(self, records: Records) -> None:
        fields = set(records)
        if "date" not in fields:
            raise ValueError("records need a `date` field")
        self.families = tuple(f for f in self.config.families if _available(f, fields))
        self.tables = {f.name: _Table() for f in self.families}
        self.outcomes = self.irregular = 0.0

    def fit(self, records: Records, labels: npt.NDArray[Any]) -> FeatureBuilder:
        """Forget everything, then take the records' declarations and outcomes as the history."""
        self.reset(records)
        self.observe_declarations(records)
        self.observe_outcomes(records, labels)
        return self

    def observe_declarations(self, records: Records) -> None:
        """Add declarations (label-free): the `seen` counts and the unit-value references."""
        keys = _Keys(records)
        ones = np.ones(_length(records))
        uv_columns = _unit_value_columns(records)
        for family in self.families:
            columns = {_SEEN: ones}
            if family.reference:
                columns.update(uv_columns)
            self.tables[family.name].add(keys.family(family), columns)

    def observe_outcomes(self, records: Records, labels: npt.NDArray[Any]) -> None:
        """Add control outcomes (1 irregular, 0 conforming, NaN not known: skipped) of declarations
        already observed or not."""
        known, positive = _outcomes(labels)
        keys = _Keys(records)
        for family in self.families:
            self.tables[family.name].add(keys.family(family), {_LAB: known, _POS: positive})
        self.outcomes += float(known.sum())
        self.irregular += float(positive.sum())

    @property
    def feature_names(self) -> list[str]:
        names = list(_AMOUNT_FEATURES)
        for family in self.families:
            names += [f"{family.name}.seen", f"{family.name}.n", f"{family.name}.rate"]
            if family.reference:
                names += [f"{family.name}.uv_dev", f"{family.name}.uv_z"]
        return names

    # -- features ------------------------------------------------------------------------------------

    def fit_transform(self, records: Records, labels: npt.NDArray[Any]) -> FloatArray:
        """Each record's features as on its date (earlier records of `records` only); then `fit`."""
        self.reset(records)
        known, positive = _outcomes(labels)
        days = day_numbers(records["date"])
        lag = self.config.label_lag_days
        keys = _Keys(records)
        n = positive.size
        declared = np.column_stack([np.ones(n), *_unit_value_columns(records).values()])
        outcomes = np.column_stack([known, positive])
        by_day = np.argsort(days, kind="stable")
        overall = Grouping(np.zeros(n, dtype=np.uint64), days, by_day).prior(outcomes, lag)
        blocks = [_amounts(records)]
        for family in self.families:
            grouping = Grouping(keys.family(family), days, by_day)
            stats = np.zeros((n, 6))
            stats[:, [_LAB, _POS]] = grouping.prior(outcomes, lag)
            if family.reference:
                stats[:, [_SEEN, _UVN, _UVS, _UVQ]] = grouping.prior(declared)
            else:
                stats[:, [_SEEN]] = grouping.prior(declared[:, :1])
            blocks.append(self._family_features(family, stats, overall, records))
        self.fit(records, labels)
        return np.column_stack(blocks)

    def transform(self, records: Records) -> FloatArray:
        """Features of new records from the fitted history and the batch's own earlier declarations."""
        if not self.families:
            raise ValueError("the feature builder is not fitted")
        n = _length(records)
        days = day_numbers(records["date"])
        keys = _Keys(records)
        declared = np.column_stack([np.ones(n), *_unit_value_columns(records).values()])
        overall = np.tile([self.outcomes, self.irregular], (n, 1))
        by_day = np.argsort(days, kind="stable")
        blocks = [_amounts(records)]
        for family in self.families:
            grouping = Grouping(keys.family(family), days, by_day)
            stats = grouping.spread(self.tables[family.name].lookup(grouping.unique))
            if family.reference:
                stats[:, [_SEEN, _UVN, _UVS, _UVQ]] += grouping.prior(declared)
            else:
                stats[:, [_SEEN]] += grouping.prior(declared[:, :1])
            blocks.append(self._family_features(family, stats, overall, records))
        return np.column_stack(blocks)

    def _family_features(
        self, family: Family, stats: FloatArray, overall: FloatArray, records: Records
    ) -> FloatArray:
        a = self.config.smoothing
        p0 = (overall[:, 1] + 1.0) / (overall[:, 0] + 2.0)
        rate = (stats[:, _POS] + a * p0) / (stats[:, _LAB] + a)
        columns = [stats[:, _SEEN], stats[:, _LAB], rate]
        if family.reference:
            count = stats[:, _UVN]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = stats[:, _UVS] / count
                variance = (stats[:, _UVQ] - count * mean**2) / (count - 1)
                log_uv = np.log1p(unit_values(records))
                deviation = np.where(count >= 1, log_uv - mean, np.nan)
                z = np.where(count >= 2, deviation / np.sqrt(np.maximum(variance, 1e-4)), np.nan)
            columns += [deviation, z]
        return np.column_stack(columns)

    # -- persistence ---------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
        """(JSON-able metadata, named arrays): everything `from_state` needs."""
        meta = {
            "config": self.config.to_json(),
            "families": [f.name for f in self.families],
            "outcomes": self.outcomes,
            "irregular": self.irregular,
        }
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, table in self.tables.items():
            arrays[f"{name}.keys"] = table.keys
            arrays[f"{name}.stats"] = table.stats
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> FeatureBuilder:
        builder = cls(FeatureConfig.from_json(meta["config"]))
        by_name = {f.name: f for f in builder.config.families}
        builder.families = tuple(by_name[name] for name in meta["families"])
        builder.tables = {
            name: _Table(
                np.asarray(arrays[f"{name}.keys"], dtype=np.uint64), np.asarray(arrays[f"{name}.stats"])
            )
            for name in meta["families"]
        }
        builder.outcomes = float(meta["outcomes"])
        builder.irregular = float(meta["irregular"])
        return builder


def _outcomes(labels: npt.NDArray[Any]) -> tuple[FloatArray, FloatArray]:
    """(1 where the outcome is known, 1 where it is irregular) from labels with NaN for not known."""
    values = np.asarray(labels, dtype=np.float64)
    known = np.isfinite(values)
    return known.astype(np.float64), np.where(known, values, 0.0)


def _length(records: Records) -> int:
    return int(np.asarray(records["date"]).shape[0])


def _unit_value_columns(records: Records) -> dict[int, FloatArray]:
    log_uv = np.log1p(unit_values(records))
    valid = np.isfinite(log_uv)
    clean = np.where(valid, log_uv, 0.0)
    return {_UVN: valid.astype(np.float64), _UVS: clean, _UVQ: clean**2}


def _amounts(records: Records) -> FloatArray:
    value = np.asarray(records["value"], dtype=np.float64) if "value" in records else None
    mass = np.asarray(records["net_mass"], dtype=np.float64) if "net_mass" in records else None
    n = _length(records)
    nan = np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_value = np.log1p(np.maximum(value, 0.0)) if value is not None else nan
        log_mass = np.log1p(np.maximum(mass, 0.0)) if mass is not None else nan
        log_uv = np.log1p(unit_values(records)) if value is not None and mass is not None else nan
    tax = np.asarray(records["tax_rate"], dtype=np.float64) if "tax_rate" in records else nan
    return np.column_stack([log_value, log_mass, log_uv, tax])
