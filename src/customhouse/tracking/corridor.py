"""Corridor geometry, pure: a route (a polyline of lon/lat waypoints) with a buffer, approved stops,
restricted zones, a departure and a destination, and the alert thresholds of the corridor.

**Metres.** Geometry is done in a projection of the corridor's own: the azimuthal equidistant projection
(PROJ `aeqd`, WGS 84) centred on the middle of the route's bounding box. Distances from the centre are
exact; across it the scale error is under (d/R)^2/6, about 0.1 % at d = 500 km (Mombasa to Kampala is
~950 km end to end), i.e. 3 m on a 3 km buffer. UTM would split this corridor across zones 36 and 37.

**Route.** The waypoints are joined by straight lines in lon/lat (how the file and a simulator read
them), densified to about 1 km before projecting so that the projected route follows those lines.

Checks take arrays of points (`shapely.contains_xy` on prepared geometry): a batch of reports costs one
projection and one call per kind of check, not one per point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

import numpy as np
import shapely
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
DENSIFY_DEGREES = 0.01  # about 1.1 km at the equator

Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaceSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    lon: Lon
    lat: Lat
    radius_m: Annotated[float, Field(gt=0, le=50_000)]


class ZoneSpec(_Strict):
    name: Annotated[str, Field(min_length=1)]
    polygon: Annotated[list[tuple[Lon, Lat]], Field(min_length=4)]

    @model_validator(mode="after")
    def _closed(self) -> ZoneSpec:
        if self.polygon[0] != self.polygon[-1]:
            raise ValueError("a restricted zone's polygon must end where it starts")
        return self


class ThresholdSpec(_Strict):
    dwell_minutes: Annotated[float, Field(gt=0)] = 10
    stop_minutes: Annotated[float, Field(gt=0)] = 30
    stop_speed_kmh: Annotated[float, Field(ge=0)] = 5
    offline_minutes: Annotated[float, Field(gt=0)] = 30
    temperature_min: float = -10
    temperature_max: float = 45
    battery_low: Annotated[float, Field(ge=0, le=100)] = 20

    @model_validator(mode="after")
    def _range(self) -> ThresholdSpec:
        if self.temperature_min >= self.temperature_max:
            raise ValueError("temperature_min must be below temperature_max")
        return self


class CorridorSpec(_Strict):
    """A corridor file as written (YAML)."""

    code: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")]
    name: Annotated[str, Field(min_length=1)]
    buffer_m: Annotated[float, Field(gt=0, le=50_000)]
    thresholds: ThresholdSpec = ThresholdSpec()
    departure: PlaceSpec
    destination: PlaceSpec
    route: Annotated[list[tuple[Lon, Lat]], Field(min_length=2)]
    approved_stops: list[PlaceSpec] = []
    restricted_zones: list[ZoneSpec] = []


@dataclass(frozen=True, slots=True)
class Thresholds:
    dwell: timedelta
    stop: timedelta
    stop_speed_kmh: float
    offline: timedelta
    temperature_min: float
    temperature_max: float
    battery_low: float

    @classmethod
    def of(cls, spec: ThresholdSpec) -> Thresholds:
        return cls(
            dwell=timedelta(minutes=spec.dwell_minutes),
            stop=timedelta(minutes=spec.stop_minutes),
            stop_speed_kmh=spec.stop_speed_kmh,
            offline=timedelta(minutes=spec.offline_minutes),
            temperature_min=spec.temperature_min,
            temperature_max=spec.temperature_max,
            battery_low=spec.battery_low,
        )


@dataclass(frozen=True, slots=True)
class Checks:
    """Where each point of a batch is, index for index."""

    in_corridor: Bools  # inside the buffer around the route
    at_stop: Bools  # inside an approved stop (the departure and destination count as stops)
    zone: NDArray[np.int64]  # index of the restricted zone it is in, -1 for none
    at_destination: Bools
    offset_m: Floats  # distance from the route in metres outside the buffer, 0 inside


@dataclass(eq=False)
class Corridor:
    spec: CorridorSpec
    thresholds: Thresholds = field(init=False)
    _to_m: Transformer = field(init=False, repr=False)
    _to_lonlat: Transformer = field(init=False, repr=False)
    route_m: LineString = field(init=False, repr=False)
    buffer: BaseGeometry = field(init=False, repr=False)
    stops: BaseGeometry = field(init=False, repr=False)
    zones: list[Polygon] = field(init=False, repr=False)
    destination: BaseGeometry = field(init=False, repr=False)

    def __post_init__(self) -> None:
        spec = self.spec
        self.thresholds = Thresholds.of(spec.thresholds)
        lons = [lon for lon, _ in spec.route]
        lats = [lat for _, lat in spec.route]
        centre_lon, centre_lat = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
        aeqd = f"+proj=aeqd +lat_0={centre_lat} +lon_0={centre_lon} +datum=WGS84 +units=m +no_defs"
        self._to_m = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        self._to_lonlat = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
        dense = np.asarray(shapely.segmentize(LineString(spec.route), DENSIFY_DEGREES).coords)
        self.route_m = LineString(np.column_stack(self.project(dense[:, 0], dense[:, 1])))
        self.buffer = self.route_m.buffer(spec.buffer_m, quad_segs=16)
        places = [*spec.approved_stops, spec.departure, spec.destination]
        self.stops = shapely.union_all([self._disc(place) for place in places])
        self.zones = []
        for zone in spec.restricted_zones:
            ring = np.asarray(shapely.segmentize(Polygon(zone.polygon), DENSIFY_DEGREES).exterior.coords)
            self.zones.append(Polygon(np.column_stack(self.project(ring[:, 0], ring[:, 1]))))
        self.destination = self._disc(spec.destination)
        for geometry in (self.buffer, self.stops, self.destination, *self.zones):
            shapely.prepare(geometry)

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def length_m(self) -> float:
        return float(self.route_m.length)

    def _disc(self, place: PlaceSpec) -> BaseGeometry:
        x, y = self.project(np.array([place.lon]), np.array([place.lat]))
        return Point(float(x[0]), float(y[0])).buffer(place.radius_m, quad_segs=16)

    def project(self, lon: Floats, lat: Floats) -> tuple[Floats, Floats]:
        x, y = self._to_m.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def unproject(self, x: Floats, y: Floats) -> tuple[Floats, Floats]:
        lon, lat = self._to_lonlat.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def point_at(self, metres: Floats) -> tuple[Floats, Floats]:
        """Lon/lat of the points this far along the route (for simulators and tests)."""
        points = shapely.line_interpolate_point(self.route_m, np.asarray(metres, dtype=np.float64))
        xy = shapely.get_coordinates(points)
        return self.unproject(xy[:, 0], xy[:, 1])

    def check(self, lon: Floats, lat: Floats) -> Checks:
        x, y = self.project(lon, lat)
        zone = np.full(x.shape, -1, dtype=np.int64)
        for index, polygon in enumerate(self.zones):
            zone[(zone < 0) & shapely.contains_xy(polygon, x, y)] = index
        inside = np.asarray(shapely.contains_xy(self.buffer, x, y), dtype=np.bool_)
        offset = np.zeros(x.shape, dtype=np.float64)  # measured only outside: it is the costly part
        if (~inside).any():
            offset[~inside] = shapely.distance(self.route_m, shapely.points(x[~inside], y[~inside]))
        return Checks(
            in_corridor=inside,
            at_stop=np.asarray(shapely.contains_xy(self.stops, x, y), dtype=np.bool_),
            zone=zone,
            at_destination=np.asarray(shapely.contains_xy(self.destination, x, y), dtype=np.bool_),
            offset_m=offset,
        )

    def zone_name(self, index: int) -> str:
        return self.spec.restricted_zones[index].name


def load(text: str) -> Corridor:
    """A corridor from its YAML text; pydantic's ValidationError names what is wrong."""
    data: Any = yaml.safe_load(text)
    return Corridor(CorridorSpec.model_validate(data))


@cache
def builtin() -> dict[str, Corridor]:
    """The corridors shipped in the package (reference data), by code."""
    folder = files("customhouse.tracking").joinpath("data")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".yaml", ".yml")):
            corridor = load(entry.read_text(encoding="utf-8"))
            found[corridor.code] = corridor
    return found
