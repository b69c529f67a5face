"""Read tabular point files (CSV, GeoJSON, GeoParquet, GeoPackage) into plain columns of text.

Every value comes back as text exactly as written (CSV) or as its text form (spatial files), so the
caller validates one rule set for every format and can name the row and the reason for each refusal.
Spatial files give `lon`/`lat` from their Point geometry (converted to WGS-84 when the file declares
another CRS); a row whose geometry is missing or not a point gets a `geometry_problem`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

# The csv module stops a whole file at its first field over 131,072 characters, and cannot resume
# reliably after that (a quoted field may span lines). Read every field whatever its size instead; the
# importer refuses oversized fields row by row, with a limit per column.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

FORMATS = ("csv", "geojson", "parquet", "gpkg")
SUFFIXES = {".csv": "csv", ".txt": "csv", ".geojson": "geojson", ".json": "geojson", ".parquet": "parquet",
            ".geoparquet": "parquet", ".gpkg": "gpkg"}


class PointFileError(ValueError):
    """The file as a whole cannot be read (unknown format, no header, missing required columns)."""


@dataclass
class PointTable:
    columns: pd.DataFrame  # text columns, one row per record, in file order
    problems: dict[int, str] = field(default_factory=dict)  # row position -> why the record is unreadable


def format_of(path: str | Path, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise PointFileError(f"unknown format {declared!r}: expected one of {', '.join(FORMATS)}")
        return declared
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise PointFileError(f"cannot tell the format of {Path(path).name}: use .csv, .geojson, .parquet or .gpkg")
    return SUFFIXES[suffix]


def read_csv_text(text: str, required: tuple[str, ...]) -> PointTable:
    """CSV with a header row; a record with the wrong number of fields is reported, not dropped."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    except StopIteration:
        raise PointFileError("the file is empty: expected a header row") from None
    missing = [name for name in required if name not in header]
    if missing:
        raise PointFileError(f"missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
    width = len(header)
    records, problems = [], {}
    for position, record in enumerate(reader):
        if len(record) != width:
            if not any(field.strip() for field in record):
                problems[position] = "blank line"
            else:
                problems[position] = f"has {len(record)} fields, the header has {width}"
            record = [""] * width
        records.append(record)
    columns = pd.DataFrame(records, columns=header, dtype=object) if records else pd.DataFrame(columns=header)
    return PointTable(columns, problems)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def read_spatial(path: str | Path, file_format: str, required: tuple[str, ...]) -> PointTable:
    import geopandas as gpd

    try:
        frame = gpd.read_parquet(path) if file_format == "parquet" else gpd.read_file(path)
    except Exception as exc:  # the readers raise many types; the caller only needs why
        raise PointFileError(f"cannot read {Path(path).name} as {file_format}: {exc}") from None
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    attributes = [c for c in frame.columns if c != frame.geometry.name]
    missing = [name for name in required if name not in attributes and name not in ("lon", "lat")]
    if missing:
        raise PointFileError(f"missing propert(ies) {', '.join(missing)} (found: {', '.join(attributes)})")
    columns = pd.DataFrame({c: [_text(v) for v in frame[c]] for c in attributes}, dtype=object)
    geometry = frame.geometry
    kinds = np.asarray(geometry.geom_type.fillna("missing"))
    is_point = (kinds == "Point") & ~np.asarray(geometry.is_empty.fillna(True))
    lon, lat = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
    if is_point.any():
        lon[is_point], lat[is_point] = geometry[is_point].x.to_numpy(), geometry[is_point].y.to_numpy()
    columns["lon"] = [repr(float(v)) if ok else "" for v, ok in zip(lon, is_point, strict=True)]
    columns["lat"] = [repr(float(v)) if ok else "" for v, ok in zip(lat, is_point, strict=True)]
    problems = {int(i): "geometry is missing" if kinds[i] == "missing"
                else f"geometry is an empty {kinds[i]}, expected a Point" if kinds[i] == "Point"
                else f"geometry is {kinds[i]}, expected a Point"
                for i in np.nonzero(~is_point)[0]}
    return PointTable(columns, problems)


def read_table(path: str | Path, required: tuple[str, ...], file_format: str | None = None) -> PointTable:
    file_format = format_of(path, file_format)
    if file_format == "csv":
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PointFileError(f"{Path(path).name} is not UTF-8 text: {exc}") from None
        return read_csv_text(text, required)
    return read_spatial(path, file_format, required)
