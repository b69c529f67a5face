"""alerts/matching/spatial.py: the book index follows imports, the match task, `haven geo match`, shards."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import select, update

from alerts.matching import spatial
from alerts.reading.parse import parse_message
from book.dao import upsert_assets, upsert_customers
from store.db import session_scope
from store.models import Alert, Asset
from store.types import utcnow
from tests.support import FIXTURES

SQUARE = shapely.box(120.0, 27.0, 121.0, 28.0)


@pytest.fixture(autouse=True)
def _fresh_indexes():
    spatial.forget_indexes()
    yield
    spatial.forget_indexes()


def seed(url: str, points: dict[str, tuple[float, float]]) -> None:
    with session_scope(url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": "+8617000000001"}])
        upsert_assets(session, [{"asset_id": a, "customer_id": "C1", "lon": x, "lat": y} for a, (x, y) in points.items()])


def test_book_index_follows_changes_without_rebuilding(db_url, haven_env):
    haven_env(db_url)
    seed(db_url, {"in": (120.5, 27.5), "edge": (121.0, 27.5), "out": (122.0, 27.5)})
    with session_scope(db_url) as session:
        assert sorted(spatial.affected_assets(session, SQUARE)) == ["edge", "in"]
        index = spatial.book_index(session)
        built_at = index.loaded_at
    seed(db_url, {"out": (120.2, 27.2), "in": (123.0, 20.0), "new": (120.9, 27.9)})
    with session_scope(db_url) as session:
        assert sorted(spatial.affected_assets(session, SQUARE)) == ["edge", "new", "out"]
        assert spatial.book_index(session).loaded_at == built_at  # caught up from updated_at, no full read
    index.fold()
    assert sorted(index.query(SQUARE)) == ["edge", "new", "out"], 'fact: sorted(index.query(SQUARE)) == ["edge", "new", "out"]'
    assert len(index) == 4, 'fact: len(index) == 4'


def test_refresh_reads_only_what_changed_around_the_last_look(db_url, haven_env):
    haven_env(db_url)
    seed(db_url, {f"A{n}": (120.5, 27.5) for n in range(20)})
    with session_scope(db_url) as session:  # one import yesterday: every row has the same stamp
        session.execute(update(Asset).values(updated_at=utcnow() - timedelta(days=1)))
    with session_scope(db_url) as session:
        index = spatial.book_index(session)
        assert len(index) == 20
        assert index.refresh(session) == 0  # a match does not read yesterday's import again
    with session_scope(db_url) as session:  # a writer that stamped its row before that look, committing after it
        upsert_assets(session, [{"asset_id": "late", "customer_id": "C1", "lon": 120.4, "lat": 27.4}])
        session.execute(update(Asset).where(Asset.asset_id == "late").values(updated_at=utcnow() - timedelta(seconds=10)))
    with session_scope(db_url) as session:
        assert index.refresh(session) == 1
    assert "late" in index.query(SQUARE), 'fact: "late" in index.query(SQUARE)'
    assert len(index) == 21, 'fact: len(index) == 21'


def test_snapshot_round_trip_then_catch_up(sqlite_url, haven_env, tmp_path):
    haven_env(sqlite_url)
    seed(sqlite_url, {"a": (120.5, 27.5), "b": (125.0, 27.5)})
    with session_scope(sqlite_url) as session:
        spatial.book_index(session).save_snapshot(tmp_path / "book.parquet")
    seed(sqlite_url, {"c": (120.1, 27.1)})
    restored = spatial.BookIndex.from_snapshot(tmp_path / "book.parquet")
    assert sorted(restored.query(SQUARE)) == ["a"]
    with session_scope(sqlite_url) as session:
        restored.refresh(session)
    assert sorted(restored.query(SQUARE)) == ["a", "c"]


def store_alert(url: str, areas: list[dict]) -> int:
    with session_scope(url) as session:
        alert = Alert(sender="test@haven", identifier=f"T-{utcnow().timestamp()}", sent="2026-07-25T10:00:00+08:00",
                      sent_at=utcnow(), status="Actual", msg_type="Alert", format="cap", raw=b"<alert/>",
                      normalized={"infos": [{"severity": "Severe", "areas": areas}]}, flags=[])
        session.add(alert)
        session.flush()
        return alert.id


def test_match_task_records_area_flags_and_count(db_url, haven_env):
    haven_env(db_url)
    seed(db_url, {"wenzhou": (120.699, 27.994), "edge": (121.0, 27.5), "far": (110.0, 20.0)})
    alert_id = store_alert(db_url, [
        {"desc": "box", "polygons": [[[120.0, 27.0], [121.0, 27.0], [121.0, 27.6], [120.0, 27.6]]], "circles": [],
         "geocodes": []},
        {"desc": "city", "polygons": [], "circles": [],
         "geocodes": [{"name": "CN-ADCODE", "value": "330300"}, {"name": "CN-ADCODE", "value": "999999"}]}])
    from workers.match import match_alert

    assert match_alert(alert_id)["matched_assets"] == 2
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.matched_assets == 2, 'fact: alert.matched_assets == 2'
        assert alert.matched_at is not None, 'fact: alert.matched_at is not None'
        assert "unknown geocode CN-ADCODE:999999" in alert.flags
        assert "unclosed polygon ring closed" in alert.flags
        area = shapely.geometry.shape(alert.area_geojson)
        assert shapely.intersects_xy(area, 120.699, 27.994), 'fact: shapely.intersects_xy(area, 120.699, 27.994)'
        assert area.is_valid, 'fact: area.is_valid'
        assert sorted(spatial.affected_assets(session, alert)) == ["edge", "wenzhou"]
    assert match_alert(10**9)["error"] == "alert not found"


def test_warning_margin_widens_the_match(sqlite_url, haven_env):
    haven_env(sqlite_url, warning_margin_km=20)
    seed(sqlite_url, {"just-outside": (121.1, 27.5)})  # about 10 km east of the box
    alert_id = store_alert(sqlite_url, [{"polygons": [[[120.0, 27.0], [121.0, 27.0], [121.0, 28.0], [120.0, 28.0],
                                                       [120.0, 27.0]]], "circles": [], "geocodes": []}])
    with session_scope(sqlite_url) as session:
        assert spatial.match_alert(session, alert_id).matched_assets == 1


def test_geo_match_command_prints_the_assets_inside(tmp_path, haven_env, sqlite_url):
    haven_env(sqlite_url)
    from cli.main import cli

    alert = FIXTURES / "geo" / "us_nws_cap11_svr-tstorm-warning_polygon_fips6-ugc.xml"
    polygon = shapely.geometry.shape(spatial.alert_area(
        parse_message(alert.read_bytes()).alerts[0].alert).geometry)
    inside = polygon.representative_point()
    vertex = shapely.get_coordinates(polygon)[0]
    assets = tmp_path / "assets.csv"
    assets.write_text("asset_id,customer_id,lon,lat\n"
                      f"in,C1,{inside.x!r},{inside.y!r}\nvertex,C1,{float(vertex[0])!r},{float(vertex[1])!r}\n"
                      "out,C1,0,0\nbad,C1,x,1\n")
    result = CliRunner().invoke(cli, ["geo", "match", "--assets", str(assets), "--alert", str(alert), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"matched": 2, "asset_ids": ["in", "vertex"]}
    assert "row 4: lon is not a number" in result.stderr


def test_two_shard_workers_on_redis_give_the_same_ids_as_one_index(pg_clean_url, haven_env, celery_worker):
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(117.5, 124.5, 20_000), rng.uniform(25.5, 32.5, 20_000)
    with session_scope(pg_clean_url) as session:
        upsert_customers(session, [{"customer_id": "C1", "phone": "+8617000000001"}])
        upsert_assets(session, [{"asset_id": f"A{i}", "customer_id": "C1", "lon": float(x), "lat": float(y)}
                                for i, (x, y) in enumerate(zip(lon, lat, strict=True))])
    area = shapely.union(shapely.box(118.3, 26.2, 123.7, 31.4).difference(shapely.box(120, 28, 121, 29)),
                         shapely.Point(122.0, 26.0).buffer(0.8))
    with session_scope(pg_clean_url) as session:
        single = sorted(spatial.BookIndex().load(session).query(area))
    plan = spatial.ShardPlan(2)
    assert set(plan.shard_of(lon, lat)) == {0, 1}, 'fact: set(plan.shard_of(lon, lat)) == {0, 1}'
    assert plan.shards_touching(area) == [0, 1], 'fact: plan.shards_touching(area) == [0, 1]'
    for shard in (0, 1):
        celery_worker(pg_clean_url, queues=f"match-shard-{shard}", HAVEN_MATCH_SHARDS="2",
                      HAVEN_MATCH_SHARD=str(shard))
    haven_env(pg_clean_url, match_shards=2)
    import workers.match  # noqa: F401  (registers the Celery fan-out)

    with session_scope(pg_clean_url) as session:
        sharded = sorted(spatial.affected_assets(session, area))
    assert len(single) > 1000, 'fact: len(single) > 1000'
    assert sharded == single, 'fact: sharded == single'
    with session_scope(pg_clean_url) as session:
        assert session.scalar(select(Alert.id)) is None  # nothing else was written
