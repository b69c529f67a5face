"""Tasks for the match queue: alert area x insured assets (see alerts/matching/spatial.py for the rules).

With HAVEN_MATCH_SHARDS > 1 each shard worker runs `celery -A workers worker -Q match-shard-N` with
HAVEN_MATCH_SHARD=N; `match_shard` answers for its region shard, and affected_assets() fans out to
the shards through `fan_out_to_shards` and merges.
"""

from __future__ import annotations

import logging

from alerts.matching import spatial
from config import get_settings
from store.db import session_scope
from workers.app import app

log = logging.getLogger(__name__)

SHARD_TIMEOUT_S = 120.0


def shard_queue(shard: int) -> str:
    return f"match-shard-{shard}"


@app.task(name="haven.match.match_alert")
def match_alert(alert_id: int) -> dict:
    """Intersect a stored alert's area with the insured book and record the affected assets."""
    with session_scope() as session:
        result = spatial.match_alert(session, alert_id)
    if result is None:
        log.warning("match_alert: alert %s does not exist", alert_id)
        return {"alert_id": alert_id, "matched_assets": None, "error": "alert not found"}
    after_match(alert_id, result.matched_assets)
    return {"alert_id": alert_id, "matched_assets": result.matched_assets}


@app.task(name="haven.match.shard")
def match_shard(area_geojson: dict, shard: int) -> list[str]:
    """The asset ids of one region shard inside an area (runs on the worker holding that shard)."""
    held = get_settings().match_shard
    if held is not None and held != shard:
        raise RuntimeError(f"this worker holds shard {held}, not {shard}: check its -Q match-shard-N")
    with session_scope() as session:
        return spatial.shard_assets(session, spatial.geometry_of(area_geojson), shard).tolist()


def fan_out_to_shards(geometry, shards: list[int]) -> list[list[str]]:
    """Ask each shard worker for its part of the match and wait for all of them."""
    from shapely.geometry import mapping

    area = mapping(geometry)
    pending = [match_shard.apply_async(args=(area, shard), queue=shard_queue(shard)) for shard in shards]
    # The shards run in other worker processes (their own queues), so waiting here cannot deadlock.
    return [result.get(timeout=SHARD_TIMEOUT_S, disable_sync_subtasks=False) for result in pending]


spatial.use_fan_out(fan_out_to_shards)  # used only when HAVEN_MATCH_SHARDS > 1


def after_match(alert_id: int, asset_count: int) -> None:
    """What follows a match: warn the customers (notify) and maybe propose a CAT event (green channel).

    The warnings-out and green-channel work each add their call here; keep it a flat list of steps.
    """
    from workers.app import enqueue
    from workers.greenchannel import maybe_propose_cat_event
    from workers.notify import notify_customers

    enqueue(notify_customers, alert_id)  # also for 0 assets: a Cancel's all-clear goes to those warned before
    maybe_propose_cat_event(alert_id, asset_count)
