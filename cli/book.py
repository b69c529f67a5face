"""`haven` commands: the insured book (customers, assets), geo matching and its benchmark."""

from __future__ import annotations

import json
import sys

import click

from cli.bench import bench
from cli.root import cli


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


__all__ = ["cli", "bench_match"]
