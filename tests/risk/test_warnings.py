"""Early warning: each kind found on a crafted history with its evidence, and nothing on a quiet one;
served to supervisors through the API."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from customhouse.risk.warnings import Item, Lodged, early_warnings
from tests.conftest import bearer
from tests.factories import declaration

NOW = datetime(2026, 6, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
BASELINE = timedelta(days=91)
D = Decimal


def lodged(
    number: int,
    days_ago: float,
    *,
    importer: str = "KR1",
    hs: str = "610910",
    origin: str = "CN",
    dispatch: str = "CN",
    price: str = "1000",
    mass: str = "100",
    total: str | None = None,
) -> Lodged:
    return Lodged(
        declaration_id=f"d{number}",
        lodged_at=NOW - timedelta(days=days_ago),
        importer=importer,
        dispatch=dispatch,
        currency="USD",
        total=D(total or price),
        items=(Item(1, hs, origin, D(price), D(mass)),),
    )


def warnings_of(history: list[Lodged], **kwargs: object) -> list:
    options = {"bands": {}, "dumping": {}} | kwargs
    return early_warnings(history, since=NOW - WEEK, until=NOW, baseline=BASELINE, **options)  # type: ignore[arg-type]


QUIET = [lodged(n, 7 + n, importer=f"KR{n % 5}", origin=["CN", "VN"][n % 2]) for n in range(60)] + [
    lodged(100 + n, 0.5 + n, importer=f"KR{n % 5}", origin=["CN", "VN"][n % 2]) for n in range(5)
]


def test_a_quiet_week_raises_nothing():
    band = {
        ("610910", "CN", "USD"): (math.log(10), 0.2, 40),
        ("610910", "VN", "USD"): (math.log(10), 0.2, 40),
    }
    assert warnings_of(QUIET, bands=band) == []


def test_a_unit_value_far_below_its_band_is_named_with_its_evidence():
    history = [*QUIET, lodged(200, 1, price="100", mass="100")]  # 1 USD/kg against a band around 10
    [warning] = warnings_of(history, bands={("610910", "CN", "USD"): (math.log(10), 0.2, 40)})
    assert (warning.kind, warning.subject, warning.declarations) == (
        "unit_value_outlier",
        "declaration d200 item 1",
        ["d200"],
    )
    assert warning.evidence["z"] < -3 and warning.evidence["band_items"] == 40 and "below" in warning.text
    few = {("610910", "CN", "USD"): (math.log(10), 0.2, 3)}  # a band of 3 items is not trusted
    assert warnings_of(history, bands=few) == []


def test_a_surge_of_an_importer_against_its_baseline():
    surge = [lodged(300 + n, 0.1 + n * 0.5, importer="KR9", hs="847130", origin="TH") for n in range(8)]
    before = [lodged(400 + n, 20 + 30 * n, importer="KR9", hs="847130", origin="TH") for n in range(3)]
    found = {w.subject: w for w in warnings_of([*QUIET, *surge, *before]) if w.kind == "surge"}
    assert set(found) == {"importer KR9", "hs6 847130", "origin TH"}  # CN and VN are as usual
    assert found["importer KR9"].evidence == {"count": 8, "expected": 0.23, "before": 3}
    assert sorted(found["importer KR9"].declarations) == sorted(one.declaration_id for one in surge)


def test_a_new_trader_with_one_of_the_highest_values():
    newcomer = lodged(500, 2, importer="KR-NEW", price="90000", total="90000")
    [warning] = [w for w in warnings_of([*QUIET, newcomer]) if w.kind == "new_trader_high_value"]
    assert warning.subject == "importer KR-NEW" and warning.evidence["total"] == "90000"
    known = lodged(501, 2, importer="KR1", price="90000", total="90000")  # KR1 lodged before: not new
    assert [w for w in warnings_of([*QUIET, known]) if w.kind == "new_trader_high_value"] == []


def test_goods_dispatched_from_a_dumping_country_under_another_origin():
    dumping = {"7208": frozenset({"CN"})}
    suspect = lodged(600, 1, hs="720851", origin="VN", dispatch="CN")
    honest = lodged(601, 1, hs="720851", origin="VN", dispatch="VN")
    [warning] = warnings_of([*QUIET, suspect, honest], dumping=dumping)
    assert (warning.kind, warning.declarations) == ("circumvention", ["d600"])
    assert warning.evidence == {"origin": "VN", "dispatch": "CN", "measure_line": "7208"}


def test_supervisors_read_the_warnings_through_the_api(client, tokens):
    document = declaration(lrn="W-1", country_of_dispatch="CN")
    document["goods_items"][1].update(hs_code="720851", description="Flat-rolled steel", origin="VN")
    assert (
        client.post("/api/v1/declarations", json=document, headers=bearer(tokens["trader"])).status_code
        == 201
    )
    found = client.get("/api/v1/risk/warnings?days=7", headers=bearer(tokens["supervisor"]))
    assert found.status_code == 200, found.text
    [warning] = [w for w in found.json() if w["kind"] == "circumvention"]
    assert warning["evidence"] == {"origin": "VN", "dispatch": "CN", "measure_line": "7208"}
    assert client.get("/api/v1/risk/warnings", headers=bearer(tokens["trader"])).status_code == 403
