"""Fixtures of the risk tests: small synthetic histories, and the KCS files (skipped where absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from customhouse.risk.features import Records

REPO = Path(__file__).resolve().parents[2]
# Beside the checkout (../shared/data), or where this machine keeps it when the checkout is a clean
# clone elsewhere (CI), unless CUSTOMHOUSE_RISK_DATA says.
PLACES = [REPO.parent / "shared" / "data" / "customs-risk", Path("/work/shared/data/customs-risk")]
KCS = Path(
    os.environ.get("CUSTOMHOUSE_RISK_DATA")
    or next((place for place in PLACES if (place / "df_syn_train_eng.csv").exists()), PLACES[0])
)


def synthetic(n: int = 600, seed: int = 0, days: int = 40) -> tuple[Records, np.ndarray]:
    """Declarations over `days` days, in random order, with few distinct entities so histories overlap."""
    rng = np.random.default_rng(seed)
    pick = lambda prefix, k: np.array([f"{prefix}{i}" for i in rng.integers(0, k, n)])  # noqa: E731
    records: Records = {
        "date": np.datetime64("2024-01-01") + rng.integers(0, days, n).astype("timedelta64[D]"),
        "importer": pick("I", 25),
        "declarant": pick("D", 8),
        "seller": pick("S", 30),
        "courier": np.where(rng.random(n) < 0.7, "", pick("C", 3)),
        "hs6": np.array([f"{code:06d}" for code in rng.choice([392690, 392610, 950300, 71080, 620822], n)]),
        "origin": pick("O", 6),
        "departure": pick("O", 6),
        "office": pick("", 4),
        "transport_mode": pick("", 3),
        "tax_type": pick("T", 4),
        "net_mass": rng.choice([1.0, 2.5, 10.0, 100.0, 0.0], n),
        "value": rng.choice([10.0, 250.0, 1000.0, 31824000.0, 0.0], n),
        "tax_rate": rng.choice([0.0, 8.0, 6.5], n),
    }
    risky = np.isin(records["importer"], ["I1", "I2", "I3"]) | (records["value"] == 250.0)
    labels = (rng.random(n) < np.where(risky, 0.7, 0.1)).astype(np.int8)
    return records, labels


@pytest.fixture(scope="session")
def kcs() -> Path:
    if not (KCS / "df_syn_train_eng.csv").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the KCS synthetic data is not at {KCS}")
        pytest.skip(f"the KCS synthetic data is not at {KCS} (set CUSTOMHOUSE_RISK_DATA)")
    return KCS
