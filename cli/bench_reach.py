"""`haven bench reach`: a manual warning's reach preview (alerts/manual_service.py `reach_in`) on a big book.

A scratch PostgreSQL database gets N synthetic assets clustered like population over south-east China
(geo/bench.py) owned by N/2.5 customers (every 20th opted out of SMS, every 3rd with a push token),
loaded with COPY. The book's spatial index and its owner-and-channel table (alerts/reach_book.py) are
built once, as the API process holds them; then each area's reach (the index query, the table's counts
and the check for changed rows) is timed, median of --repeats. Goal: under a second.
"""

from __future__ import annotations

import io
import json
import statistics
import time

import click
import numpy as np

from cli.bench import bench


def _copy_csv(url: str, table: str, columns: list[str], frame) -> None:
    from store.db import get_engine

    connection = get_engine(url).raw_connection()
    try:
        cursor = connection.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, len(frame), 500_000):
                buffer = io.StringIO()
                frame.iloc[start:start + 500_000].to_csv(buffer, header=False, index=False)
                copy.write(buffer.getvalue())
        connection.commit()
    finally:
        connection.close()


def _load_book(url: str, assets: int, customers: int) -> None:
    from datetime import timedelta

    import pandas as pd

    from geo.bench import synthetic_points
    from store.db import get_engine
    from store.types import utcnow

    now = (utcnow() - timedelta(hours=1)).isoformat()  # imported earlier, as a book is
    numbers = np.arange(customers)
    _copy_csv(url, "customers", ["customer_id", "phone", "locale", "time_zone", "vulnerable", "sms_opt_out",
                                 "push_opt_out", "push_token", "created_at", "updated_at"], pd.DataFrame({
        "customer_id": [f"C{i:08d}" for i in numbers], "phone": [f"+86170{i:08d}" for i in numbers],
        "locale": "zh-CN", "time_zone": "Asia/Shanghai", "vulnerable": False, "sms_opt_out": numbers % 20 == 0,
        "push_opt_out": False, "push_token": np.where(numbers % 3 == 0, "token", None), "created_at": now,
        "updated_at": now}))
    rng = np.random.default_rng(5)
    lon, lat = synthetic_points(assets, 7)
    _copy_csv(url, "assets", ["asset_id", "customer_id", "kind", "lon", "lat", "updated_at"], pd.DataFrame({
        "asset_id": [f"A{i:09d}" for i in range(assets)],
        "customer_id": [f"C{i:08d}" for i in rng.integers(0, customers, assets)],
        "kind": rng.choice(["vehicle", "home", "shop", "factory"], assets), "lon": np.round(lon, 6),
        "lat": np.round(lat, 6), "updated_at": now}))
    connection = get_engine(url).raw_connection()
    try:  # the statistics autovacuum would gather by itself after an import
        connection.cursor().execute("ANALYZE customers")
        connection.cursor().execute("ANALYZE assets")
        connection.commit()
    finally:
        connection.close()


@bench.command("reach")
@click.option("--assets", default=5_000_000, show_default=True, help="Synthetic assets in the book.")
@click.option("--repeats", default=5, show_default=True, help="Timed previews per area (median reported).")
@click.option("--admin-url", default=None, help="PostgreSQL server to create the scratch database on "
                                                "(default: HAVEN_DATABASE_URL when PostgreSQL, else the local one).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_reach(assets: int, repeats: int, admin_url: str | None, as_json: bool) -> None:
    """A manual warning's reach preview (customers, assets, channels) on an N-asset book: median seconds."""
    import os

    from shapely.geometry import Polygon

    from alerts.manual_service import forget_reach_books, reach_book, reach_in
    from alerts.matching import spatial
    from cli.notify import _admin_url
    from config import reset_settings
    from geo.areas import geodesic_circle
    from geo.bench import county_multipolygon, typhoon_polygon
    from store.db import scratch_database, session_scope

    customers = max(1, int(assets / 2.5))
    with scratch_database(admin_url or _admin_url(), "haven_bench_reach") as url:
        os.environ["HAVEN_DATABASE_URL"] = url
        reset_settings()
        start = time.perf_counter()
        _load_book(url, assets, customers)
        load_s = time.perf_counter() - start
        click.echo(f"... book loaded: {assets:,} assets, {customers:,} customers in {load_s:.1f} s", err=True)
        with session_scope(url) as session:
            start = time.perf_counter()
            spatial.book_index(session)
            index_s = time.perf_counter() - start
            start = time.perf_counter()
            reach_book(session)
            owners_s = time.perf_counter() - start
        areas = {"typhoon polygon": typhoon_polygon(), "30 counties": county_multipolygon(),
                 "50 km circle": geodesic_circle(120.699, 27.994, 50.0), "empty sea": Polygon(
                     [(125.0, 25.0), (125.5, 25.0), (125.5, 25.5), (125.0, 25.5)])}
        results = []
        for name, geometry in areas.items():
            times, reach = [], None
            for _ in range(repeats):
                with session_scope(url) as session:
                    began = time.perf_counter()
                    reach = reach_in(session, geometry)
                    times.append(time.perf_counter() - began)
            results.append({"area": name, "median_s": round(statistics.median(times), 4),
                            "max_s": round(max(times), 4), "customers": reach.customers, "assets": reach.assets,
                            "sms": reach.sms, "push": reach.push, "no_channel": reach.no_channel})
        spatial.forget_indexes()
        forget_reach_books()
    figures = {"assets": assets, "customers": customers, "load_s": round(load_s, 1),
               "index_build_s": round(index_s, 1), "owners_build_s": round(owners_s, 1), "areas": results}
    if as_json:
        click.echo(json.dumps(figures))
        return
    click.echo(f"book: {assets:,} assets, {customers:,} customers (COPY {load_s:.1f} s); spatial index built in "
               f"{index_s:.1f} s, owner-and-channel table in {owners_s:.1f} s (once per process)")
    click.echo(f"{'area':<18}{'assets':>11}{'customers':>11}{'SMS':>11}{'push':>10}{'median s':>10}{'max s':>9}")
    for r in results:
        click.echo(f"{r['area']:<18}{r['assets']:>11,}{r['customers']:>11,}{r['sms']:>11,}{r['push']:>10,}"
                   f"{r['median_s']:>10.3f}{r['max_s']:>9.3f}")
