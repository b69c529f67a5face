"""Reading stored alerts, chains and the quarantine as the API shows them (docs/architecture.md).

An alert reads as the normalized alert plus Haven's own fields (id, chain_id, flags, ...).
"""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer

from alerts.reading import chains
from store.models.alerts import Alert, AlertChain, ChainState, QuarantinedMessage


def alerts_page(session: Session, *, active: bool, limit: int, status: str | None = None,
                after: tuple[datetime, int] | None = None, now: datetime, chain_id: int | None = None) -> list[Alert]:
    """Alerts newest first (sent, then id), after the cursor position; active: each active chain's current,
    unexpired message. The raw message and the stored area are as big as the polygons: never read here."""
    query = (select(Alert).options(defer(Alert.raw), defer(Alert.area_geojson))
             .order_by(Alert.sent_at.desc(), Alert.id.desc()).limit(limit))
    if active:
        query = query.join(AlertChain, AlertChain.current_alert_id == Alert.id).where(
            AlertChain.state == ChainState.ACTIVE, Alert.expires_at > now)
    if status:
        query = query.where(Alert.status == status)
    if chain_id is not None:
        query = query.where(Alert.chain_id == chain_id)
    if after is not None:
        sent_at, alert_id = after
        query = query.where(or_(Alert.sent_at < sent_at, and_(Alert.sent_at == sent_at, Alert.id < alert_id)))
    return list(session.execute(query).scalars())


def alert_json(alert: Alert) -> dict:
    return {
        "id": alert.id,
        **(alert.normalized or {}),
        "chain_id": alert.chain_id,
        "format": alert.format,
        "source": alert.source,
        "feed_id": alert.feed_id,
        "received_at": alert.received_at,
        "expires_at": alert.expires_at,
        "max_severity": alert.max_severity,
        "signature": alert.signature,
        "flags": alert.flags or [],
        "ends_chain": alert.ends_chain,
        "matched_assets": alert.matched_assets,
        "matched_at": alert.matched_at,
    }


def chain_json(session: Session, chain: AlertChain) -> dict:
    members = chains.chain_alerts(session, chain.id)
    return {
        "id": chain.id,
        "state": chain.state,
        "current_alert_id": chain.current_alert_id,
        "effective_alert_id": chain.effective_alert_id,
        "max_severity": chain.max_severity,
        "expires_at": chain.expires_at,
        "cancelled_at": chain.cancelled_at,
        "alerts": [{"id": a.id, "sender": a.sender, "identifier": a.identifier, "sent": a.sent,
                    "msg_type": a.msg_type, "max_severity": a.max_severity, "ends_chain": a.ends_chain}
                   for a in members],
    }


def area_geojson(alert: Alert) -> dict | None:
    """The stored area (written by matching); computed on the fly while matching has not run yet."""
    if alert.area_geojson:
        return alert.area_geojson
    try:
        from shapely.geometry import mapping

        from alerts.matching.spatial import alert_area
    except ImportError:
        return None
    area = alert_area(alert.normalized or {})
    return None if area.is_empty else mapping(area.geometry)


def list_alerts(session: Session, *, active: bool, now: datetime, limit: int = 100, status: str | None = None,
                chain_id: int | None = None) -> list[dict]:
    return [alert_json(a) for a in alerts_page(session, active=active, limit=limit, status=status, now=now,
                                                chain_id=chain_id)]


def alert_detail(session: Session, alert_id: int) -> dict | None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    chain = session.get(AlertChain, alert.chain_id) if alert.chain_id else None
    return {**alert_json(alert), "chain": chain_json(session, chain) if chain else None,
            "area": area_geojson(alert)}


def quarantine_size(session: Session) -> int:
    return session.execute(select(func.count(QuarantinedMessage.id))).scalar_one()


def quarantine_json(row: QuarantinedMessage, with_raw: bool = False) -> dict:
    data = {"id": row.id, "received_at": row.received_at, "last_seen_at": row.last_seen_at,
            "occurrences": row.occurrences, "source": row.source, "feed_id": row.feed_id, "path": row.path,
            "reason": row.reason, "content_type": row.content_type, "size": len(row.raw or b"")}
    if with_raw:
        data["raw_base64"] = base64.b64encode(row.raw or b"").decode()
    return data


def list_quarantine(session: Session, limit: int = 100, feed_id: int | None = None) -> dict:
    query = select(QuarantinedMessage).order_by(QuarantinedMessage.id.desc()).limit(limit)
    if feed_id is not None:
        query = query.where(QuarantinedMessage.feed_id == feed_id)
    total = session.execute(select(func.count(QuarantinedMessage.id))).scalar_one()
    return {"total": total, "messages": [quarantine_json(r) for r in session.execute(query).scalars()]}
