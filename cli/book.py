"""`haven` commands: the insured book (customers, assets), geo matching and its benchmark.

`haven customers import FILE` and `haven assets import FILE [--crs wgs84|gcj02|bd09]` load what they
can, print one line per refused row (row number and reason) on stderr and a JSON summary with --json
on stdout; they exit 1 only when nothing could be loaded. `haven geo match --assets FILE --alert FILE`
prints {"matched": N, "asset_ids": [...]} (the contract in README.md, Command line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cli.bench import bench
from cli.common import ensure_database, progress
from cli.root import cli

SHOWN_REJECTIONS = 1000


@cli.group()
def customers():
    """The insured customers."""


@cli.group()
def assets():
    """The insured assets (vehicles, homes, shops, factories)."""


@cli.group()
def geo():
    """Spatial matching: which assets an alert reaches."""


def _report(report, as_json: bool) -> None:
    for rejected in report.rejected[:SHOWN_REJECTIONS]:
        click.echo(f"row {rejected.row}: {rejected.reason}", err=True)
    if len(report.rejected) > SHOWN_REJECTIONS:
        click.echo(f"... and {len(report.rejected) - SHOWN_REJECTIONS} more refused rows", err=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        click.echo(f"{report.kind}: {report.loaded} loaded, {len(report.rejected)} refused, "
                   f"{report.received} rows read")
    if report.loaded == 0 and report.received > 0:
        sys.exit(1)


def _table(path: Path, required: tuple[str, ...], file_format: str | None = None):
    from geo.pointfiles import PointFileError, read_table

    try:
        return read_table(path, required, file_format)
    except PointFileError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", default="CN", show_default=True, help="Country of phone numbers written without +.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_customers(file: Path, region: str, as_json: bool) -> None:
    """Load customers from CSV (customer_id and phone required); phones become E.164."""
    from book.service import import_customers as run_import
    from geo.pointfiles import PointFileError, read_csv_text
    from store.db import session_scope

    ensure_database()
    try:
        table = read_csv_text(file.read_text(encoding="utf-8-sig"), ("customer_id", "phone"))
    except (PointFileError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    with progress(len(table.columns), "customers") as bar:
        report = run_import(session_scope, table.columns, table.problems, region, on_progress=bar.update)
    _report(report, as_json)


@assets.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--crs", "system", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84", show_default=True,
              help="Coordinate system of lon/lat: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) become WGS-84.")
@click.option("--format", "file_format", type=click.Choice(["csv", "geojson", "parquet", "gpkg"]), default=None,
              help="Default: from the file name.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_assets(file: Path, system: str, file_format: str | None, as_json: bool) -> None:
    """Load assets from CSV (asset_id,customer_id,lon,lat[,kind,address,admin_code,insured_value]),
    GeoJSON, GeoParquet or GeoPackage. An asset_id seen before is updated."""
    from functools import partial

    from book.service import import_assets as run_import
    from geo.crs import to_wgs84
    from store.db import session_scope

    ensure_database()
    click.echo(f"reading {file} ...", err=True)
    table = _table(file, ("asset_id", "customer_id", "lon", "lat"), file_format)
    with progress(len(table.columns), "assets") as bar:
        report = run_import(session_scope, table.columns, table.problems, partial(to_wgs84, system=system),
                            on_progress=bar.update)
    _report(report, as_json)


@geo.command("match")
@click.option("--assets", "assets_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with asset_id,customer_id,lon,lat (WGS-84).")
@click.option("--alert", "alert_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Any file `haven alerts parse` reads; several infos or alerts: the union of their areas.")
@click.option("--json", "as_json", is_flag=True, help="Compact JSON on one line.")
def geo_match(assets_file: Path, alert_file: Path, as_json: bool) -> None:
    """Which assets in FILE lie inside the alert's area (boundary included)."""
    from alerts.matching.spatial import alert_area
    from alerts.reading.errors import MessageInvalid
    from alerts.reading.parse import parse_message
    from book.rules import RowChecks, coordinate_column
    from geo.areas import combine
    from geo.index import AssetIndex

    try:
        message = parse_message(alert_file.read_bytes())
    except MessageInvalid as exc:
        for problem in exc.problems:
            click.echo(f"{alert_file}: {problem}", err=True)
        sys.exit(2)
    area = combine(alert_area(parsed.alert) for parsed in message.alerts)
    for flag in area.flags():
        click.echo(f"{alert_file}: note: {flag}", err=True)
    table = _table(assets_file, ("asset_id", "lon", "lat"), "csv")
    checks = RowChecks(table.columns, table.problems)
    ids = checks.required("asset_id")
    lon, lat = coordinate_column(checks, "lon", 180.0), coordinate_column(checks, "lat", 90.0)
    for rejected in checks.rejected():
        click.echo(f"{assets_file}: row {rejected.row}: {rejected.reason} (skipped)", err=True)
    ok = checks.ok
    index = AssetIndex.from_arrays(ids[ok].to_numpy(dtype=object), lon[ok], lat[ok])
    matched = sorted(str(i) for i in index.query(area.geometry))
    click.echo(json.dumps({"matched": len(matched), "asset_ids": matched}, ensure_ascii=False,
                          indent=None if as_json else 2))


@bench.command("match")
@click.option("--points", default=1_000_000, show_default=True, help="Synthetic assets over south-east China.")
@click.option("--repeats", default=7, show_default=True, help="Timed queries per area (median reported).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_match(points: int, repeats: int, as_json: bool) -> None:
    """AssetIndex vs warm geopandas.sjoin: median query time, points/s, ratio, build time, memory."""
    from geo import bench as match_bench

    result = match_bench.run(points, repeats=repeats, progress=lambda m: click.echo(f"... {m}", err=True))
    if as_json:
        click.echo(json.dumps({
            "points": result.points, "build_s": result.build_s, "index_mb": result.index_mb,
            "build_peak_mb": result.build_peak_mb, "peak_rss_mb": result.peak_rss_mb,
            "sjoin_setup_s": result.sjoin_setup_s,
            "areas": [{"name": a.name, "vertices": a.vertices, "matched": a.matched,
                       "median_s": a.index_median_s, "points_per_s": result.points / a.index_median_s,
                       "sjoin_median_s": a.sjoin_median_s, "ratio_vs_sjoin": a.ratio, "same_ids": a.same_ids}
                      for a in result.areas]}))
    else:
        click.echo(f"assets: {result.points:,}   index build: {result.build_s:.2f} s   index size: "
                   f"{result.index_mb:.0f} MB   build peak (traced): {result.build_peak_mb:.0f} MB   "
                   f"peak RSS after build: {result.peak_rss_mb:.0f} MB   (sjoin setup: GeoDataFrame + "
                   f"sindex {result.sjoin_setup_s:.1f} s)")
        click.echo(f"{'area':<18}{'vertices':>9}{'matched':>11}{'median s':>11}{'points/s':>12}"
                   f"{'sjoin s':>10}{'x faster':>10}  same ids")
        for a in result.areas:
            click.echo(f"{a.name:<18}{a.vertices:>9,}{a.matched:>11,}{a.index_median_s:>11.4f}"
                       f"{result.points / a.index_median_s:>12.3g}{a.sjoin_median_s:>10.4f}{a.ratio:>10.1f}  "
                       f"{'yes' if a.same_ids else 'NO'}")
    if not all(a.same_ids for a in result.areas):
        sys.exit(1)


@bench.command("import")
@click.option("--rows", default=1_000_000, show_default=True, help="Asset rows in the generated CSV.")
@click.option("--database-url", default=None, help="Default: a fresh SQLite file in a temporary folder.")
def bench_import(rows: int, database_url: str | None) -> None:
    """Time `haven assets import` on a generated CSV (5 bad rows among them) end to end."""
    import subprocess
    import tempfile
    import time

    from geo.bench import write_book_csv

    with tempfile.TemporaryDirectory() as folder:
        customers_csv, assets_csv = Path(folder) / "customers.csv", Path(folder) / "assets.csv"
        write_book_csv(customers_csv, assets_csv, rows)
        env = dict(__import__("os").environ, HAVEN_DATABASE_URL=database_url or f"sqlite:///{folder}/bench.sqlite3")
        haven = str(Path(sys.executable).parent / "haven")
        if database_url and database_url.startswith("postgresql"):
            subprocess.run([haven, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([haven, "customers", "import", str(customers_csv)], env=env, check=True, capture_output=True)
        start = time.perf_counter()
        done = subprocess.run([haven, "assets", "import", "--json", str(assets_csv)], env=env, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - start
    summary = json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr[-2000:]}
    summary.pop("rejected", None)
    click.echo(f"assets import of {rows:,} CSV rows: {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
               f"whole command incl. start-up; {json.dumps(summary)}")
