"""The lodgement path's scorer gives the model's own features and scores, one at a time or in a batch."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.risk.features import FeatureBuilder, hash_amounts, hash_strings, take
from customhouse.risk.model import Params, train
from customhouse.risk.scoring import (
    STORED_FEATURES,
    FastScorer,
    hash_amount,
    hash_string,
    record_of,
    records_of,
)
from tests import factories


def stored_like(n: int, seed: int = 0) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "date": np.datetime64("2026-01-01") + int(rng.integers(0, 60)),
                "importer": f"KR{int(rng.integers(0, 20)):010d}",
                "declarant": f"KR9{int(rng.integers(0, 4)):09d}",
                "seller": f"Seller {int(rng.integers(0, 15))}",
                "hs6": str(rng.choice(["610910", "851713", "392690", "950300"])),
                "origin": str(rng.choice(["CN", "VN", "KR"])),
                "departure": str(rng.choice(["CN", "HK"])),
                "office": str(rng.choice(["KR000040", "KR000010"])),
                "transport_mode": str(rng.choice(["1", "4"])),
                "kind": "import",
                "incoterm": str(rng.choice(["CIF", "FOB"])),
                "currency": str(rng.choice(["USD", "EUR"])),
                "preference": str(rng.choice(["100", "300"])),
                "net_mass": float(rng.choice([1.0, 10.0, 100.0, 55.5])),
                "value": float(rng.choice([10.0, 250.0, 1000.0, 500.0])) + (i % 3),
            }
        )
    labels = np.array([1 if r["seller"] in ("Seller 1", "Seller 2") or r["value"] < 20 else 0 for r in rows])
    flip = rng.random(n) < 0.1
    return rows, np.where(flip, 1 - labels, labels).astype(np.int8)


@pytest.mark.parametrize("text", ["", "KR1000000001", "Shenzhen Bright Electronics", "Düsseldorf 東京"])
def test_one_key_at_a_time_is_the_batch_key(text: str) -> None:
    assert hash_string(text) == int(hash_strings(np.array([text]))[0])


@pytest.mark.parametrize("amount", [0.0, -0.0, 1.5, 31824000.0, float("nan"), 1e-300])
def test_one_amount_key_is_the_batch_key(amount: float) -> None:
    assert hash_amount(amount) == int(hash_amounts(np.array([amount]))[0])


def test_fast_features_equal_the_feature_builder() -> None:
    rows, labels = stored_like(400)
    records = records_of(rows)
    model = train(records, labels, params=Params(features=STORED_FEATURES, rounds=30))
    scorer = FastScorer(model)
    fresh, _ = stored_like(50, seed=1)
    later = [dict(row, date=np.datetime64("2026-03-15")) for row in fresh]  # after the history
    batch = records_of(later)
    expected = np.vstack([model.features(take(batch, np.array([i]))) for i in range(len(later))])
    one_by_one = np.vstack([scorer.features_one(row) for row in later])
    np.testing.assert_allclose(one_by_one, expected, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(scorer.features(batch), expected, rtol=1e-12, equal_nan=True)
    assert scorer.single_row is not None  # LightGBM's one-row C API is used
    margins = np.array([scorer.margin_one(row) for row in later])
    np.testing.assert_allclose(margins, scorer.margins(batch), rtol=1e-9)
    np.testing.assert_allclose(scorer.probabilities(batch), model.calibration(margins), rtol=1e-9)
    assert expected[:, scorer.names.index("seller.n")].max() > 0  # histories were found, not all zero


def test_record_of_a_declaration_uses_its_most_valuable_item() -> None:
    document = DeclarationDocument.model_validate(factories.declaration())
    record = record_of(document, date(2026, 2, 1))
    assert (record["hs6"], record["origin"], record["value"], record["net_mass"]) == (
        "851713",
        "CN",
        1000.0,
        50.0,
    )
    assert record["seller"] == factories.SELLER and record["currency"] == "USD"
    assert record["importer"] == factories.TRADER and record["incoterm"] == "CIF"


def test_declarations_without_an_outcome_are_history_not_outcomes() -> None:
    rows, labels = stored_like(300)
    records = records_of(rows)
    unknown = np.arange(300) % 3 == 0
    partial = np.where(unknown, np.nan, labels.astype(np.float64))
    builder = FeatureBuilder(STORED_FEATURES)
    matrix = builder.fit_transform(records, partial)
    dropped = FeatureBuilder(STORED_FEATURES).fit_transform(
        take(records, np.flatnonzero(~unknown)), labels[~unknown]
    )
    names = builder.feature_names
    n, seen = names.index("importer.n"), names.index("importer.seen")
    np.testing.assert_array_equal(matrix[~unknown, n], dropped[:, n])  # outcomes: the known ones only
    assert (matrix[~unknown, seen] >= dropped[:, seen]).all() and (
        matrix[~unknown, seen] > dropped[:, seen]
    ).any()
    assert builder.outcomes == float((~unknown).sum())
    model = train(records, partial, params=Params(features=STORED_FEATURES, rounds=20))
    assert model.trained["rows"] == int((~unknown).sum())
