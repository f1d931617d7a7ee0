"""Scoring stored-declaration documents with a trained `RiskModel`, fast enough for the lodgement path.

`record_of` maps a declaration document to the model's fields (one record per declaration: its
parties, route, office, kind, Incoterm, invoice currency, the highest preference code its items claim,
and the HS6, origin, price and net mass of its most valuable goods item); training (`risk.history`)
and scoring use the same mapping. `STORED_FEATURES` are the families for these fields (the unit-value
reference is per HS6, origin and invoice currency: prices are compared in the same currency).

`FastScorer` scores with a per-entity lookup in the model's fitted state instead of the batch
`FeatureBuilder.transform`: keys are hashed in pure Python (the same 64-bit FNV-1a and splitmix64 as
`risk.features`, so the same keys), each family's counts found with one `searchsorted`, then one
LightGBM prediction. A declaration is scored on the history the model was trained on (declarations
lodged since are not counted in: that is the difference with `transform`, which also counts a batch's
own earlier declarations). `features` (a batch, vectorised) and `features_one` give the same rows.
"""

from __future__ import annotations

import ctypes
import math
import struct
import threading
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.risk.features import (
    Family,
    FeatureConfig,
    FloatArray,
    KeyArray,
    Records,
    combine,
    hash_amounts,
    hash_strings,
    unit_values,
)
from customhouse.risk.model import RiskModel
from customhouse.risk.revenue import RevenueRates

STRING_FIELDS = (
    "importer",
    "declarant",
    "seller",
    "hs6",
    "origin",
    "departure",
    "office",
    "transport_mode",
    "kind",
    "incoterm",
    "currency",
    "preference",
)
NUMBER_FIELDS = ("net_mass", "value")
STRING_CACHE = 200_000  # keys of strings kept by a scorer (party ids, codes); cleared when full


def _fam(name: str, *fields: str, reference: bool = False) -> Family:
    return Family(name, fields or (name,), reference)


STORED_FAMILIES: tuple[Family, ...] = (
    _fam("importer"),
    _fam("declarant"),
    _fam("seller"),
    _fam("hs6"),
    _fam("hs4"),
    _fam("hs2"),
    _fam("origin"),
    _fam("departure"),
    _fam("route", "departure", "origin"),
    _fam("hs6_origin", "hs6", "origin", "currency", reference=True),
    _fam("office"),
    _fam("transport_mode"),
    _fam("kind"),
    _fam("incoterm"),
    _fam("currency"),
    _fam("preference"),
    _fam("origin_preference", "origin", "preference"),
    _fam("route_preference", "departure", "origin", "preference"),
    _fam("importer_hs6", "importer", "hs6"),
    _fam("seller_hs6", "seller", "hs6"),
    _fam("value"),
    _fam("net_mass"),
    _fam("unit_value"),
    _fam("value_mass", "value", "net_mass"),
    _fam("value_hs6", "value", "hs6"),
    _fam("unit_value_hs6", "unit_value", "hs6"),
)
STORED_FEATURES = FeatureConfig(families=STORED_FAMILIES)


def record_of(document: DeclarationDocument, day: date) -> dict[str, Any]:
    """The model's fields of one declaration (see the module docstring)."""
    main = max(document.goods_items, key=lambda item: (item.price, -item.sequence))
    importer = document.importer
    seller = document.seller
    return {
        "date": np.datetime64(day, "D"),
        "importer": (importer.id or importer.name) if importer else document.declarant.id,
        "declarant": document.declarant.id,
        "seller": (seller.id or seller.name) if seller else "",
        "hs6": main.hs_code,
        "origin": main.origin,
        "departure": document.country_of_dispatch,
        "office": document.office_of_lodgement,
        "transport_mode": document.transport_mode,
        "kind": document.kind.value,
        "incoterm": document.incoterm,
        "currency": document.invoice_currency,
        "preference": max(item.preference for item in document.goods_items),
        "net_mass": float(main.net_mass),
        "value": float(main.price),
    }


def records_of(rows: Iterable[dict[str, Any]]) -> Records:
    """Column arrays (`risk.features.Records`) from `record_of` dicts."""
    rows = list(rows)
    records: Records = {
        "date": np.array([row["date"] for row in rows], dtype="datetime64[D]").reshape(len(rows))
    }
    for name in STRING_FIELDS:
        records[name] = np.array([row[name] for row in rows], dtype=str).reshape(len(rows))
    for name in NUMBER_FIELDS:
        records[name] = np.array([row[name] for row in rows], dtype=np.float64).reshape(len(rows))
    return records


# --- the same keys as risk.features, one value at a time --------------------------------------------------

_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_GOLDEN = 0x9E3779B97F4A7C15
_NAN_BITS = struct.unpack("<Q", struct.pack("<d", float(np.nan)))[0]


def _splitmix(h: int) -> int:
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK
    return h ^ (h >> 31)


def hash_string(text: str) -> int:
    h = _FNV_OFFSET
    for character in text:
        point = ord(character)
        if point:
            h = ((h ^ point) * _FNV_PRIME) & _MASK
    return _splitmix(h)


def hash_amount(value: float) -> int:
    value = float(value) + 0.0
    bits = _NAN_BITS if math.isnan(value) else struct.unpack("<Q", struct.pack("<d", value))[0]
    return _splitmix(bits)


def combine_one(first: int, second: int) -> int:
    return _splitmix((first * _GOLDEN + second) & _MASK)


def _unit_value(fields: dict[str, Any]) -> float:
    mass = float(fields["net_mass"])
    return float(fields["value"]) / mass if mass > 0 else math.nan


class FastScorer:
    """A promoted model made ready for the lodgement path (see the module docstring)."""

    def __init__(
        self,
        model: RiskModel,
        *,
        version: int = 0,
        quantiles: list[float] | None = None,
        revenue: RevenueRates | None = None,
    ) -> None:
        self.model = model
        self.version = version
        self.quantiles = list(quantiles or [])
        self.revenue = revenue
        builder = model.builder
        self.families = builder.families
        self.names = builder.feature_names
        self.keys = [builder.tables[f.name].keys for f in self.families]
        self.stats = [builder.tables[f.name].stats for f in self.families]
        self.smoothing = builder.config.smoothing
        self.p0 = (builder.irregular + 1.0) / (builder.outcomes + 2.0)
        self.booster = model.booster
        self.calibration = model.calibration
        self.threads = model.threads
        used = {name for family in self.families for name in family.fields}
        self.string_fields = tuple(name for name in STRING_FIELDS if name in used or name == "hs6")
        self._strings: dict[str, int] = {}
        self._merge()
        self.single_row = SingleRow.of(self.booster, self.width, self.threads)

    # -- one declaration ---------------------------------------------------------------------------------

    def _string_key(self, text: str) -> int:
        key = self._strings.get(text)
        if key is None:
            if len(self._strings) >= STRING_CACHE:
                self._strings.clear()
            key = self._strings[text] = hash_string(text)
        return key

    def field_keys(self, fields: dict[str, Any]) -> dict[str, int]:
        """The key of every field the families use (strings through a bounded cache)."""
        keys = {name: self._string_key(str(fields[name])) for name in self.string_fields}
        hs6 = str(fields["hs6"])
        keys["hs4"] = self._string_key(hs6[:4])
        keys["hs2"] = self._string_key(hs6[:2])
        keys["unit_value"] = hash_amount(_unit_value(fields))
        for name in NUMBER_FIELDS:
            keys[name] = hash_amount(fields[name])
        return keys

    def features_one(self, fields: dict[str, Any]) -> FloatArray:
        """The model's feature row (shape (1, n)) of one `record_of` dict: every family's key looked up
        at once in the merged table (see `_merge`)."""
        field_keys = self.field_keys(fields)
        family_keys = []
        for family in self.families:
            key = field_keys[family.fields[0]]
            for name in family.fields[1:]:
                key = combine_one(key, field_keys[name])
            family_keys.append(key)
        query = combine(np.array(family_keys, dtype=np.uint64), self.salts)
        index = np.minimum(self.merged_keys.searchsorted(query), self.merged_keys.size - 1)
        stats = self.merged_stats[index]
        stats[self.merged_keys[index] != query] = 0.0
        value, mass = float(fields["value"]), float(fields["net_mass"])
        unit_value = _unit_value(fields)
        log_uv = math.log1p(unit_value) if math.isfinite(unit_value) and unit_value > -1 else math.nan
        row = np.empty(self.width)
        row[:4] = (math.log1p(max(value, 0.0)), math.log1p(max(mass, 0.0)), log_uv, math.nan)
        row[self.at_seen] = stats[:, 0]
        row[self.at_n] = stats[:, 1]
        row[self.at_rate] = (stats[:, 2] + self.smoothing * self.p0) / (stats[:, 1] + self.smoothing)
        for family_index, at_deviation in self.references:
            count, total, squares = stats[family_index, 3:6].tolist()
            deviation = z = math.nan
            if count >= 1:
                mean = total / count
                deviation = log_uv - mean
                if count >= 2:
                    variance = (squares - count * mean * mean) / (count - 1)
                    z = deviation / math.sqrt(max(variance, 1e-4))
            row[at_deviation] = deviation
            row[at_deviation + 1] = z
        return row.reshape(1, -1)

    def _merge(self) -> None:
        """One sorted table for all families: each family's keys salted with its name's key, so that one
        `searchsorted` finds a declaration's rows in every family."""
        self.salts = np.array([hash_string(family.name) for family in self.families], dtype=np.uint64)
        keys = [
            combine(k, np.full(k.size, salt, dtype=np.uint64))
            for k, salt in zip(self.keys, self.salts, strict=True)
        ]
        merged = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
        stats = np.vstack(self.stats) if self.stats else np.zeros((0, 6))
        order = np.argsort(merged, kind="stable")
        self.merged_keys = merged[order] if merged.size else np.zeros(1, dtype=np.uint64)
        self.merged_stats = stats[order] if merged.size else np.zeros((1, 6))
        position = 4
        at_seen, references = [], []
        for index, family in enumerate(self.families):
            at_seen.append(position)
            position += 3
            if family.reference:
                references.append((index, position))
                position += 2
        self.at_seen = np.array(at_seen, dtype=np.intp)
        self.at_n = self.at_seen + 1
        self.at_rate = self.at_seen + 2
        self.references = references
        self.width = position

    def margin_one(self, fields: dict[str, Any]) -> float:
        row = self.features_one(fields)
        if self.single_row is not None:
            return self.single_row(row)
        return float(self.booster.predict(row, raw_score=True, num_threads=self.threads)[0])

    def probability(self, document: DeclarationDocument, at: datetime) -> float:
        """Calibrated probability of irregularity of one declaration lodged at `at`."""
        margin = self.margin_one(record_of(document, at.date()))
        x = self.calibration.a * margin + self.calibration.b
        return 0.5 * (1.0 + math.tanh(0.5 * x))  # the same sigmoid as risk.model.Platt

    def explain(self, document: DeclarationDocument, at: datetime, *, top: int = 3) -> list[str]:
        """The features that raised this declaration's score most, as sentences for an officer."""
        row = self.features_one(record_of(document, at.date()))
        (contributions,) = self.model.explain_matrix(row, top=top)
        return [f"{c.text} ({c.contribution:+.2f})" for c in contributions if c.contribution > 0]

    # -- a batch -----------------------------------------------------------------------------------------

    def features(self, records: Records) -> FloatArray:
        """Feature rows of a batch, each on the fitted history only (as `features_one`), vectorised."""
        n = int(np.asarray(records["date"]).shape[0])
        value = np.asarray(records["value"], dtype=np.float64)
        mass = np.asarray(records["net_mass"], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_uv = np.log1p(unit_values(records))
            blocks = [
                np.column_stack(
                    [
                        np.log1p(np.maximum(value, 0.0)),
                        np.log1p(np.maximum(mass, 0.0)),
                        log_uv,
                        np.full(n, np.nan),
                    ]
                )
            ]
        cache: dict[str, KeyArray] = {}

        def field(name: str) -> KeyArray:
            if name not in cache:
                if name in ("hs4", "hs2"):
                    cache[name] = hash_strings(np.asarray(records["hs6"]).astype(f"<U{name[2]}"))
                elif name == "unit_value":
                    cache[name] = hash_amounts(unit_values(records))
                elif name in NUMBER_FIELDS:
                    cache[name] = hash_amounts(records[name])
                else:
                    cache[name] = hash_strings(records[name])
            return cache[name]

        a, p0 = self.smoothing, self.p0
        for family, keys, stats in zip(self.families, self.keys, self.stats, strict=True):
            query = field(family.fields[0])
            for name in family.fields[1:]:
                query = combine(query, field(name))
            found = _lookup(keys, stats, query)
            columns = [found[:, 0], found[:, 1], (found[:, 2] + a * p0) / (found[:, 1] + a)]
            if family.reference:
                count = found[:, 3]
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = found[:, 4] / count
                    variance = (found[:, 5] - count * mean**2) / (count - 1)
                    deviation = np.where(count >= 1, log_uv - mean, np.nan)
                    z = np.where(count >= 2, deviation / np.sqrt(np.maximum(variance, 1e-4)), np.nan)
                columns += [deviation, z]
            blocks.append(np.column_stack(columns))
        return np.column_stack(blocks)

    def margins(self, records: Records) -> FloatArray:
        matrix = self.features(records)
        return np.asarray(
            self.booster.predict(matrix, raw_score=True, num_threads=self.threads), dtype=np.float64
        )

    def probabilities(self, records: Records) -> FloatArray:
        return self.calibration(self.margins(records))


class SingleRow:
    """LightGBM's C API for one row (`LGBM_BoosterPredictForMatSingleRowFast`): the raw margin without
    the Python wrapper's per-call set-up (about half of a bare `Booster.predict` of one row). One fast
    configuration per thread (they hold buffers); `of` gives None where the C API cannot be reached,
    and the scorer then calls `Booster.predict`."""

    def __init__(self, booster: Any, handle: Any, width: int, threads: int) -> None:
        from lightgbm.basic import _safe_call
        from lightgbm.libpath import _LIB

        self.booster = booster  # the configurations refer to it: it must outlive them
        self.handle = handle
        self.width = width
        self.parameter = f"num_threads={threads}".encode()
        self.lib, self.check = _LIB, _safe_call
        self.local = threading.local()
        self.configs: list[ctypes.c_void_p] = []
        self.lock = threading.Lock()

    @classmethod
    def of(cls, booster: Any, width: int, threads: int) -> SingleRow | None:
        handle = getattr(booster, "_handle", None) or getattr(booster, "handle", None)
        if handle is None:
            return None
        try:
            single = cls(booster, handle, width, threads)
            single(np.zeros(width))
        except Exception:  # another LightGBM build: the Python wrapper still works
            return None
        return single

    def _config(self) -> ctypes.c_void_p:
        config: ctypes.c_void_p | None = getattr(self.local, "config", None)
        if config is None:
            config = ctypes.c_void_p()
            self.check(
                self.lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                    self.handle,
                    ctypes.c_int(1),  # C_API_PREDICT_RAW_SCORE
                    ctypes.c_int(0),  # from the first iteration
                    ctypes.c_int(-1),  # to the last
                    ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                    ctypes.c_int32(self.width),
                    ctypes.c_char_p(self.parameter),
                    ctypes.byref(config),
                )
            )
            self.local.config = config
            with self.lock:
                self.configs.append(config)
        return config

    def __call__(self, row: FloatArray) -> float:
        data = np.ascontiguousarray(row, dtype=np.float64)
        if data.size != self.width:
            raise ValueError(f"expected {self.width} features, got {data.size}")
        out = ctypes.c_double()
        length = ctypes.c_int64()
        self.check(
            self.lib.LGBM_BoosterPredictForMatSingleRowFast(
                self._config(), data.ctypes.data_as(ctypes.c_void_p), ctypes.byref(length), ctypes.byref(out)
            )
        )
        return out.value

    def __del__(self) -> None:
        for config in getattr(self, "configs", []):
            self.lib.LGBM_FastConfigFree(config)


def _lookup(keys: KeyArray, stats: FloatArray, query: KeyArray) -> npt.NDArray[np.float64]:
    if keys.size == 0:
        return np.zeros((query.size, stats.shape[1]))
    index = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    found = keys[index] == query
    return np.where(found[:, None], stats[index], 0.0)
