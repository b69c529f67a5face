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


MSG_TYPE_WORDS = {"Alert": "issued", "Update": "updated", "Cancel": "all_clear"}


def _headlines(alert: Alert) -> dict[str, str]:
    """language -> headline of each CAP info (an alert may carry one per language)."""
    infos = (alert.normalized or {}).get("infos") or []
    return {info.get("language") or "": info.get("headline") or info.get("event") or ""
            for info in infos if info.get("headline") or info.get("event")}


def chain_history(session: Session, alert_id: int) -> dict | None:
    """The chain an alert belongs to, each message with its own headlines; None when the alert doesn't exist."""
    alert = session.get(Alert, alert_id, options=[defer(Alert.raw), defer(Alert.area_geojson)])
    if alert is None:
        return None
    members = chains.chain_alerts(session, alert.chain_id) if alert.chain_id else [alert]
    return {"alert_id": alert_id, "chain_id": alert.chain_id, "messages": [
        {"id": m.id, "msg_type": m.msg_type, "change": MSG_TYPE_WORDS.get(m.msg_type, "other"), "sent": m.sent,
         "sent_at": m.sent_at, "received_at": m.received_at, "max_severity": m.max_severity,
         "ends_chain": m.ends_chain, "headlines": _headlines(m), "sender": m.sender}
        for m in members]}


def _name_or_phone(text: str) -> tuple[str | None, str | None]:
    """A search is phone digits when it is only digits and phone punctuation, else part of a name."""
    stripped = text.strip()
    digits = "".join(c for c in stripped if c.isdigit())
    if digits and all(c.isdigit() or c in "+ ()-." for c in stripped):
        return None, digits
    return stripped, None


def warned_for_alert(session: Session, alert_id: int, *, viewer_role: str, search: str | None = None,
                     limit: int = 50, offset: int = 0) -> dict | None:
    """Who this alert warned, by customer name, newest first; phones as the viewer's role may see them
    (greenchannel/privacy.py). None when the alert doesn't exist."""
    from greenchannel.privacy import CUSTOMER, phone_as_seen_by
    from store.models import Customer, Notification

    if session.get(Alert, alert_id, options=[defer(Alert.raw), defer(Alert.area_geojson)]) is None:
        return None
    query = (select(Notification, Customer.name, Customer.phone)
             .join(Customer, Customer.customer_id == Notification.customer_id)
             .where(Notification.alert_id == alert_id))
    name, digits = _name_or_phone(search) if search else (None, None)
    if name:
        pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Customer.name.ilike(pattern, escape="\\"))
    if digits:
        query = query.where(or_(Notification.recipient.contains(digits, autoescape=True),
                                Customer.phone.contains(digits, autoescape=True)))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Customer.name, Notification.id).limit(limit).offset(offset)).all()
    people = []
    for notification, customer_name, customer_phone in rows:
        phone = notification.recipient if notification.channel == "sms" else customer_phone
        people.append({
            "notification_id": notification.id, "customer_id": notification.customer_id,
            "name": customer_name, "phone": phone_as_seen_by(viewer_role, phone, CUSTOMER),
            "channel": notification.channel, "kind": notification.kind, "language": notification.language,
            "state": notification.state, "held_until": notification.not_before
            if notification.not_before and notification.state in ("created", "queued") else None,
            "error_code": notification.error_code, "sent_at": notification.sent_at,
            "final_at": notification.final_at, "reply": notification.reply, "replied_at": notification.replied_at})
    return {"alert_id": alert_id, "total": total, "offset": offset, "limit": limit, "people": people}


def failure_reasons(session: Session, alert_id: int) -> list[dict]:
    """Failed, undelivered and expired notifications of an alert, counted by state and provider error code."""
    from store.models import Notification
    from store.models.notifications import NOT_DELIVERED

    rows = session.execute(select(Notification.state, Notification.error_code, func.count())
                           .where(Notification.alert_id == alert_id, Notification.state.in_(NOT_DELIVERED))
                           .group_by(Notification.state, Notification.error_code)).all()
    return [{"state": state, "error_code": code, "count": count}
            for state, code, count in sorted(rows, key=lambda r: -r[2])]


def held_release(session: Session, alert_id: int) -> dict:
    """Notifications still held for quiet hours and when the first of them is released."""
    from store.models import Notification
    from store.models.notifications import NOT_YET_SENDING

    count, first = session.execute(
        select(func.count(), func.min(Notification.not_before))
        .where(Notification.alert_id == alert_id, Notification.not_before.is_not(None),
               Notification.state.in_(NOT_YET_SENDING))).one()
    return {"waiting": count, "release_at": first}


def infos_by_alert(session: Session, alert_ids: set[int]) -> dict[int, tuple[dict, ...]]:
    """Each alert's infos; a message without any (a Cancel) takes its chain's latest that has some."""
    if not alert_ids:
        return {}
    alerts = session.execute(select(Alert.id, Alert.chain_id, Alert.normalized).where(Alert.id.in_(alert_ids))).all()
    found = {row.id: tuple((row.normalized or {}).get("infos") or ()) for row in alerts}
    bare_chains = {row.chain_id for row in alerts if not found[row.id] and row.chain_id is not None}
    latest: dict[int, tuple[dict, ...]] = {}
    if bare_chains:
        for chain_id, normalized in session.execute(
                select(Alert.chain_id, Alert.normalized).where(Alert.chain_id.in_(bare_chains))
                .order_by(Alert.sent_at.desc())):
            if chain_id not in latest and (normalized or {}).get("infos"):
                latest[chain_id] = tuple(normalized["infos"])
    return {row.id: found[row.id] or latest.get(row.chain_id, ()) for row in alerts}
