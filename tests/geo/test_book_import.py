"""The insured book in: CLI and HTTP imports, upserts, per-row refusals, Chinese coordinates."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy import select

from geo import crs
from store.db import session_scope
from store.models import Asset, Customer
from tests.support import haven, make_user, subprocess_env

CUSTOMERS = """customer_id,name,phone,locale,time_zone,birth_year,vulnerable,sms_opt_out,push_token
C1,Wang,+86 170 0000 0001,zh-CN,Asia/Shanghai,1950,true,false,
C2,Lee,17000000002,,,,,,
C3,Bad phone,12345,,,,,,
C4,Bad zone,+8617000000004,,Mars/Olympus,,,,
C5,Bad year,+8617000000005,,,1700,,,
,No id,+8617000000006,,,,,,
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(url: str, *args: str):
    """The real `haven` command, in this process (start-up of a fresh interpreter costs seconds)."""
    from click.testing import CliRunner

    from cli.main import cli
    from config import reset_settings

    reset_settings()
    try:
        return CliRunner().invoke(cli, list(args), env={"HAVEN_DATABASE_URL": url}, catch_exceptions=False)
    finally:
        reset_settings()


def assets_of(url: str) -> dict[str, tuple[str, float, float]]:
    with session_scope(url) as session:
        return {a.asset_id: (a.customer_id, a.lon, a.lat) for a in session.scalars(select(Asset))}


def load_customers(url: str, tmp_path) -> None:
    result = run(url, "customers", "import", str(write(tmp_path, "customers.csv", CUSTOMERS)))
    assert result.exit_code == 0, result.stderr


def test_customers_import_normalises_phones_and_refuses_bad_rows(db_url, tmp_path):
    result = run(db_url, "customers", "import", "--json", str(write(tmp_path, "customers.csv", CUSTOMERS)))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["received"], summary["loaded"], summary["rejected_count"]) == (6, 2, 4)
    assert "row 3: phone '12345' is not a valid number" in result.stderr
    assert "row 4: unknown time zone 'Mars/Olympus'" in result.stderr
    assert "row 5: birth_year '1700'" in result.stderr and "row 6: missing customer_id" in result.stderr
    with session_scope(db_url) as session:
        stored = {c.customer_id: c for c in session.scalars(select(Customer))}
    assert stored["C1"].phone == "+8617000000001" and stored["C1"].vulnerable and stored["C1"].birth_year == 1950
    assert stored["C2"].phone == "+8617000000002" and stored["C2"].time_zone == "Asia/Shanghai"


def test_assets_import_loads_good_rows_refuses_bad_ones_and_upserts(db_url, tmp_path):
    load_customers(db_url, tmp_path)
    csv = write(tmp_path, "assets.csv", "asset_id,customer_id,lon,lat,kind,insured_value\n"
                "A1,C1,120.7,28.0,home,1500000\n"
                "A2,C2,abc,28.0,,\n"
                "A3,C1,181,28.0,,\n"
                "A4,C1,120.7,NaN,,\n"
                "A5,C9,120.7,28.0,,\n"
                "A6,C1,,28.0,,\n"
                "A7,C2,121.1,28.5,vehicle,\n"
                "A8,C2,121.1\n")
    result = run(db_url, "assets", "import", "--json", str(csv))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["loaded"] == 2
    for expected in ("row 2: lon is not a number: 'abc'", "row 3: lon 181.0 is outside -180..180",
                     "row 4: lat is NaN", "row 5: unknown customer C9", "row 6: missing lon",
                     "row 8: has 3 fields, the header has 6"):
        assert expected in result.stderr
    again = write(tmp_path, "again.csv", "asset_id,customer_id,lon,lat\nA1,C2,121.0,28.2\nA1,C1,121.5,28.4\n")
    result = run(db_url, "assets", "import", str(again))
    assert result.exit_code == 0 and "row 1: asset_id A1 appears again at row 2" in result.stderr
    assert assets_of(db_url) == {"A1": ("C1", 121.5, 28.4), "A7": ("C2", 121.1, 28.5)}


def test_import_exits_non_zero_only_when_nothing_loads(sqlite_url, tmp_path):
    load_customers(sqlite_url, tmp_path)
    result = run(sqlite_url, "assets", "import", str(write(tmp_path, "bad.csv", "asset_id,customer_id,lon,lat\nA1,C1,x,y\n")))
    assert result.exit_code == 1 and "row 1: lon is not a number" in result.stderr
    result = haven("assets", "import", str(write(tmp_path, "nohead.csv", "id,lon\n1,2\n")),
                   env=subprocess_env(HAVEN_DATABASE_URL=sqlite_url))  # once as a real process: exit code
    assert result.returncode != 0 and "missing column(s) asset_id, customer_id, lat" in result.stderr


def test_gcj02_and_bd09_coordinates_are_stored_as_wgs84(sqlite_url, tmp_path):
    load_customers(sqlite_url, tmp_path)
    wgs_lon, wgs_lat = 121.5272106, 31.1774276
    (gcj_lon,), (gcj_lat,) = crs.wgs84_to_gcj02([wgs_lon], [wgs_lat])
    (bd_lon,), (bd_lat,) = crs.wgs84_to_bd09([wgs_lon], [wgs_lat])
    for system, (lon, lat) in {"gcj02": (gcj_lon, gcj_lat), "bd09": (bd_lon, bd_lat)}.items():
        path = write(tmp_path, f"{system}.csv", f"asset_id,customer_id,lon,lat\n{system},C1,{float(lon)!r},{float(lat)!r}\n")
        assert run(sqlite_url, "assets", "import", "--crs", system, str(path)).exit_code == 0
    stored = assets_of(sqlite_url)
    for system in ("gcj02", "bd09"):
        assert stored[system][1] == pytest.approx(wgs_lon, abs=1e-7)
        assert stored[system][2] == pytest.approx(wgs_lat, abs=1e-7)


@pytest.mark.parametrize("suffix", ["geojson", "parquet", "gpkg"])
def test_spatial_files_import_with_their_crs_converted(sqlite_url, tmp_path, suffix):
    load_customers(sqlite_url, tmp_path)
    frame = gpd.GeoDataFrame({"asset_id": ["G1", "G2", "G3"], "customer_id": ["C1", "C1", "C2"],
                              "kind": ["shop", "home", "home"]},
                             geometry=[Point(120.7, 28.0), Point(121.0, 28.5).buffer(0.1), Point(121.2, 28.1)],
                             crs="EPSG:4326").to_crs("EPSG:3857")
    path = tmp_path / f"book.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path)
    result = run(sqlite_url, "assets", "import", str(path))
    assert result.exit_code == 0, result.stderr
    assert "row 2: geometry is Polygon, expected a Point" in result.stderr
    stored = assets_of(sqlite_url)
    assert set(stored) == {"G1", "G3"}
    assert stored["G1"][1] == pytest.approx(120.7) and stored["G1"][2] == pytest.approx(28.0)


def test_http_import_for_managers_only(api_server, db_url, tmp_path):
    load_customers(db_url, tmp_path)
    api = api_server(db_url)
    manager = api.as_user(make_user(db_url, "manager"))
    adjuster = api.as_user(make_user(db_url, "adjuster"))
    body = "asset_id,customer_id,lon,lat\nH1,C1,120.7,28.0\nH2,C1,120.7,95\n"
    assert adjuster.post("/v1/assets/import", data=body, headers={"Content-Type": "text/csv"}).status_code == 403
    answer = manager.post("/v1/assets/import", data=body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["loaded"] == 1
    assert answer.json()["rejected"] == [{"row": 2, "field": "lat", "reason": "lat 95.0 is outside -90..90"}]
    nothing = manager.post("/v1/assets/import", data="asset_id,customer_id,lon,lat\nH3,C404,1,1\n",
                           headers={"Content-Type": "text/csv"})
    assert nothing.status_code == 422 and nothing.json()["rejected"][0]["reason"] == "unknown customer C404"
    unknown = manager.post("/v1/assets/import", data=b"x", headers={"Content-Type": "application/pdf"})
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "format"
    customers = manager.post("/v1/customers/import", data="customer_id,phone\nC7,+8617000000007\n",
                             headers={"Content-Type": "text/csv"})
    assert customers.status_code == 200 and customers.json()["loaded"] == 1
