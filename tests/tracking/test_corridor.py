"""Corridor geometry: the projection against geodesic distances (pyproj.Geod), and the properties the
issue asks for: points on the route never deviate; points beyond the buffer longer than the dwell time
always do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pyproj import Geod

from customhouse.tracking import alerts as rules
from customhouse.tracking import corridor as geometry
from customhouse.tracking.telemetry import Report
from tests.tracking.conftest import CODE, corridor

GEOD = Geod(ellps="WGS84")
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def fine_route() -> tuple[np.ndarray, np.ndarray]:
    """The route's lon/lat lines sampled every ~50 m: geodesic distance to these samples is within ~25 m
    of the distance to the route."""
    spec = corridor().spec
    line = shapely.segmentize(shapely.LineString(spec.route), 0.0004)
    xy = np.asarray(line.coords)
    return xy[:, 0], xy[:, 1]


ROUTE_LON, ROUTE_LAT = fine_route()


def geodesic_offset(lon: float, lat: float) -> float:
    """Geodesic distance to the nearest route sample: the nearest of every 20th sample first, then
    every sample around the five nearest of those."""
    coarse = np.arange(0, len(ROUTE_LON), 20)
    _, _, far = GEOD.inv(
        np.full(len(coarse), lon), np.full(len(coarse), lat), ROUTE_LON[coarse], ROUTE_LAT[coarse]
    )
    near = np.unique(
        np.concatenate([np.arange(c - 40, c + 41) for c in coarse[np.argsort(far)[:5]]]).clip(
            0, len(ROUTE_LON) - 1
        )
    )
    _, _, distances = GEOD.inv(
        np.full(len(near), lon), np.full(len(near), lat), ROUTE_LON[near], ROUTE_LAT[near]
    )
    return float(np.min(distances))


def beside(metres: float, offset: float) -> tuple[float, float]:
    """The point `offset` metres to the side of the route (left positive), `metres` along it."""
    c = corridor()
    s = min(max(metres, 1.0), c.length_m - 1.0)
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(c.route_m, [s - 1.0, s + 1.0]))
    direction = ahead[1] - ahead[0]
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    here = shapely.get_coordinates(shapely.line_interpolate_point(c.route_m, s))[0]
    point = here + normal * offset
    lon, lat = c.unproject(np.array([point[0]]), np.array([point[1]]))
    return float(lon[0]), float(lat[0])


def test_the_demo_corridor_is_the_northern_corridor():
    c = corridor()
    assert c.code == CODE
    assert (
        950_000 < c.length_m < 1_100_000
    )  # Mombasa - Kampala by road is about 1,150 km; the polyline cuts bends
    names = [stop.name for stop in c.spec.approved_stops]
    assert {"Mariakani weighbridge", "Nakuru", "Eldoret", "Malaba border post"} <= set(names)
    # the restricted zones lie off the corridor: entering one is always a deviation too
    assert all(not zone.intersects(c.buffer) for zone in c.zones)
    # Mombasa is the start, Kampala the end
    start, end = c.point_at(np.array([0.0])), c.point_at(np.array([c.length_m]))
    assert start[0][0] == pytest.approx(39.6432, abs=1e-6) and start[1][0] == pytest.approx(-4.0435, abs=1e-6)
    assert end[0][0] == pytest.approx(32.614, abs=1e-6) and end[1][0] == pytest.approx(0.33, abs=1e-6)


def test_route_length_agrees_with_the_geodesic_length():
    geodesic = GEOD.line_length(ROUTE_LON, ROUTE_LAT)
    assert corridor().length_m == pytest.approx(geodesic, rel=2e-3)


@settings(max_examples=150, deadline=None)
@given(along=st.floats(0, 1), offset=st.floats(-6000, 6000))
def test_inside_the_buffer_exactly_when_the_geodesic_distance_says_so(along: float, offset: float):
    c = corridor()
    lon, lat = beside(along * c.length_m, offset)
    truth = geodesic_offset(lon, lat)
    inside = bool(c.check(np.array([lon]), np.array([lat])).in_corridor[0])
    if truth < c.spec.buffer_m - 60:
        assert inside
    elif truth > c.spec.buffer_m + 60:
        assert not inside


def test_stops_zones_and_destination_are_found():
    c = corridor()
    lon = np.array([39.4736, 36.0, 32.6140, 38.0, 34.10])
    lat = np.array([-3.8619, -2.0, 0.3300, -3.0, 0.46])
    checks = c.check(lon, lat)
    assert checks.at_stop.tolist() == [True, False, True, False, False]
    assert checks.at_destination.tolist() == [False, False, True, False, False]
    assert checks.zone.tolist() == [-1, -1, -1, 0, 1]
    assert c.zone_name(1).startswith("Busia")
    assert checks.offset_m[1] > 50_000  # far outside, distance measured
    assert checks.offset_m[0] == 0.0


def reading(seq: int, at: datetime, lon: float, lat: float, speed: float = 60.0) -> Report:
    return Report.model_validate(
        {
            "device": "S",
            "seq": seq,
            "time": at,
            "lat": lat,
            "lon": lon,
            "speed": speed,
            "seal": "closed",
            "door": "closed",
            "battery": 80,
            "temperature": 20,
        }
    )


def run(points: list[tuple[float, float]], step: timedelta) -> list[str]:
    """Feed a track through the corridor check and the rules; the alert kinds raised."""
    c = corridor()
    checks = c.check(np.array([p[0] for p in points]), np.array([p[1] for p in points]))
    state, kinds = rules.State(), []
    for i, (lon, lat) in enumerate(points):
        where = rules.Where(
            bool(checks.in_corridor[i]), bool(checks.at_stop[i]), None, False, float(checks.offset_m[i])
        )
        state, raised = rules.evaluate(state, reading(i + 1, START + i * step, lon, lat), where, c.thresholds)
        kinds += [alert.kind for alert in raised]
    return kinds


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(0.0, 0.95),
    offsets=st.lists(st.floats(-2800, 2800), min_size=2, max_size=60),
    step_s=st.integers(5, 600),
)
def test_points_on_the_route_never_deviate(start: float, offsets: list[float], step_s: int):
    c = corridor()
    base = start * c.length_m
    points = [beside(base + 800.0 * i, offset) for i, offset in enumerate(offsets)]
    assert rules.DEVIATION not in run(points, timedelta(seconds=step_s))


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(0.02, 0.95),
    beyond=st.lists(st.floats(3200, 20_000), min_size=2, max_size=40),
    side=st.sampled_from([-1, 1]),
    step_s=st.integers(5, 600),
)
def test_points_beyond_the_buffer_longer_than_the_dwell_always_deviate(
    start: float, beyond: list[float], side: int, step_s: int
):
    c = corridor()
    dwell = c.thresholds.dwell
    step = timedelta(seconds=step_s)
    # enough reports outside to span more than the dwell time
    needed = int(dwell / step) + 2
    offsets = (beyond * (needed // len(beyond) + 1))[: max(needed, len(beyond))]
    base = start * c.length_m
    points = [beside(base + 100.0 * i, side * offset) for i, offset in enumerate(offsets)]
    # beside a bend's inner side a point can be nearer another stretch of the route: keep tracks whose
    # every point is beyond the buffer (the geodesic test above holds the check to the true distance)
    assume(
        all(
            geodesic_offset(lon, lat) > c.spec.buffer_m + 60
            for lon, lat in points[:: max(1, len(points) // 5)]
        )
    )
    assume(c.check(np.array([p[0] for p in points]), np.array([p[1] for p in points])).offset_m.min() > 0)
    kinds = run(points, step)
    assert kinds.count(rules.DEVIATION) == 1


def test_a_crossing_shorter_than_the_dwell_is_not_a_deviation():
    c = corridor()
    step = timedelta(minutes=1)
    outside = int(c.thresholds.dwell / step)  # exactly the dwell time outside, not longer
    points = [beside(100_000 + 500 * i, 0) for i in range(3)]
    points += [beside(101_500 + 500 * i, 4000) for i in range(outside + 1)]
    points += [beside(110_000 + 500 * i, 0) for i in range(3)]
    assert rules.DEVIATION not in run(points, step)


def test_a_corridor_file_with_errors_names_them():
    with pytest.raises(ValidationError) as caught:
        geometry.load(
            "code: X1\nname: x\nbuffer_m: -5\ndeparture: {name: a, lon: 0, lat: 0, radius_m: 10}\n"
            "destination: {name: b, lon: 1, lat: 0, radius_m: 10}\nroute: [[0, 0]]\n"
            "restricted_zones: [{name: z, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}]\n"
        )
    locations = {error["loc"] for error in caught.value.errors()}
    assert ("buffer_m",) in locations
    assert ("route",) in locations
    assert ("restricted_zones", 0) in locations


def test_thresholds_come_from_the_file():
    c = corridor()
    assert c.thresholds.dwell == timedelta(minutes=10)
    assert c.thresholds.stop == timedelta(minutes=30)
    assert c.thresholds.offline == timedelta(minutes=30)
    assert c.thresholds.battery_low == 20
