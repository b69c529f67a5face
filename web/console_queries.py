"""Read-only views the console needs beyond the REST API (docs/architecture.md: the console).

Everything here only reads. The operations map gets warning areas with their chains and delivery
counts (alerts/dao/map_dao.py), CAT event areas, rescue jobs and providers in one payload; the affected
assets are grid cells counted on the server (map_dao.AffectedAssetGrid; a map never receives a million
markers). The dispatch board gets each live job with its nearest free providers. Approvers get their
inbox. `changes_since` tells the live event stream what moved since the last look, from the database
alone, so it works whether the tasks run in the server process (embedded default) or in Celery workers
elsewhere.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import shapely
from shapely.geometry import mapping
from sqlalchemy.orm import Session

from alerts.dao import map_dao
from geo.gazetteer import Gazetteer, load_gazetteer
from greenchannel import catevents, read_models, service
from greenchannel.dao import claims_dao, rescue_dao
from store import audit
from store.models import AuditEvent
from store.users import Principal

log = logging.getLogger(__name__)


# --- base layer ----------------------------------------------------------------------------------

def _level_of(scheme: str, code: str) -> str:
    if scheme != "CN-ADCODE" or len(code) != 6:
        return "area"
    return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"


BASE_TOLERANCE_DEG = {"province": 0.01, "city": 0.006, "county": 0.008, "area": 0.005}


@cache
def base_layer(gazetteer_path: str | None) -> str:
    """The gazetteer's boundaries, simplified for drawing: the map's offline base layer (GeoJSON text)."""
    try:
        gazetteer = load_gazetteer(gazetteer_path)
    except (OSError, ValueError):
        gazetteer = load_gazetteer(None)  # a broken operator file must not leave the map blank
    return json.dumps(_boundaries_json(gazetteer), ensure_ascii=False, separators=(",", ":"))


def _boundaries_json(gazetteer: Gazetteer) -> dict:
    features = []
    for scheme in ("CN-ADCODE", "UGC", "FIPS6"):
        for code in gazetteer.codes(scheme):
            boundary = gazetteer.boundary(scheme, code)
            level = _level_of(scheme, code)
            outline = shapely.set_precision(
                boundary.geometry.simplify(BASE_TOLERANCE_DEG[level], preserve_topology=True), 1e-3)
            if outline.is_empty:
                continue
            features.append({"type": "Feature", "geometry": mapping(outline),
                             "properties": {"code": code, "name": boundary.name, "level": level}})
    return {"type": "FeatureCollection", "features": features}


def map_overview(session: Session, now: datetime) -> dict:
    """Everything the operations map draws except the asset cells (see AffectedAssetGrid)."""
    warnings = map_dao.warnings_on_map(session, now)
    events = [catevents.to_json(e) for e in catevents.list_events(session) if e.status in ("proposed", "open")]
    for event in events:
        event["area"] = map_dao.simplified(event["area"])
    return {
        "server_time": now,
        "warnings": warnings,
        "cat_events": events,
        **read_models.map_layers(session, now, service.rules().rescue),
    }


# --- the green channel's boards (greenchannel/read_models.py) -------------------------------------

def dispatch_board(session: Session, now: datetime) -> dict:
    return read_models.dispatch_board(session, now, service.rules().rescue)


def approvals_inbox(session: Session, actor: Principal) -> list[dict]:
    return read_models.approvals_inbox(session, actor, service.rules())


# --- what changed (for the live event stream) ----------------------------------------------------

@dataclass(frozen=True)
class Cursor:
    """Where the last look at the database stopped."""

    audit_id: int = 0
    alert_id: int = 0
    alerts_matched: datetime | None = None
    chains_updated: datetime | None = None
    providers_updated: datetime | None = None
    deliveries: tuple = ()


AUDITED_TOPICS = {"claim": "queue", "payment": "payments", "rescue_job": "rescue", "rescue_provider": "rescue",
                  "cat_event": "cat_events", "complaint": "complaints", "manual_warning": "manual_warnings"}


def current_cursor(session: Session, now: datetime) -> Cursor:
    return Cursor(
        audit_id=audit.latest_event_id(session),
        **map_dao.warnings_fingerprint(session, now),
        providers_updated=rescue_dao.last_provider_change(session),
    )


def _claim_ids_of(event: AuditEvent, job_claims: dict[int, int | None]) -> int | None:
    if event.entity == "claim":
        return int(event.entity_id)
    if event.entity in ("payment", "complaint"):
        return (event.data or {}).get("claim_id")
    if event.entity == "rescue_job":
        return job_claims.get(int(event.entity_id))
    return None


def changes_since(session: Session, cursor: Cursor, now: datetime, limit: int = 1000) -> tuple[Cursor, list[dict]]:
    """The topics that changed since `cursor`, and the new cursor.

    Each change is {"topic", ...}: warnings (alerts, chains, matching), deliveries (a warned area's
    counts), rescue, queue, payments, cat_events. Claim-related changes carry the claim and customer
    ids so the stream can tell each customer about their own claims only.
    """
    latest = current_cursor(session, now)
    changes: list[dict] = []
    if (latest.alert_id, latest.alerts_matched, latest.chains_updated) != \
            (cursor.alert_id, cursor.alerts_matched, cursor.chains_updated):
        new_ids = map_dao.alert_ids_after(session, cursor.alert_id, limit=50)
        changes.append({"topic": "warnings", "new_alert_ids": new_ids})
    if latest.deliveries != cursor.deliveries:
        changes.append({"topic": "deliveries"})
    if latest.providers_updated != cursor.providers_updated:
        changes.append({"topic": "rescue"})
    audit_id = cursor.audit_id
    if latest.audit_id > cursor.audit_id:
        events = audit.events_after(session, cursor.audit_id, limit)
        audit_id = events[-1].id if events else latest.audit_id
        job_ids = {int(e.entity_id) for e in events if e.entity == "rescue_job"}
        job_claims = rescue_dao.claims_of_jobs(session, job_ids)
        claim_ids = {c for c in (_claim_ids_of(e, job_claims) for e in events) if c is not None}
        owners = claims_dao.owners_of(session, claim_ids)
        topics: dict[str, set] = {}
        for event in events:
            topic = AUDITED_TOPICS.get(event.entity)
            if topic is not None:
                topics.setdefault(topic, set())
            claim_id = _claim_ids_of(event, job_claims)
            if claim_id is not None and topic is not None:
                topics[topic].add(claim_id)
        for topic, ids in topics.items():
            changes.append({"topic": topic, "claims": [{"claim_id": c, "customer_id": owners.get(c)}
                                                       for c in sorted(ids)]})
    return Cursor(audit_id=audit_id, alert_id=latest.alert_id, alerts_matched=latest.alerts_matched,
                  chains_updated=latest.chains_updated, providers_updated=latest.providers_updated,
                  deliveries=latest.deliveries), changes
