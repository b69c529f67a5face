"""Manual warnings' operations for the adapters: submit with a reach preview, confirm, approve, reject,
expire (docs/architecture.md, "Manual warnings"). Each opens its transaction; a release ingests the held
document in the same transaction as its state change, and matching is queued after the commit, so one
release is one alert and one fan-out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyproj import Geod
from shapely.geometry import Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from alerts import manual, service
from alerts.dao import alerts_dao, manual_dao
from alerts.manual import ManualRules, Reach, Refused
from alerts.matching import spatial
from alerts.notifying.targeting import AlertFacts, Rules, why_not_warned
from alerts.reach_book import ReachBook, id_keys
from alerts.reading.errors import MessageInvalid
from alerts.reading.ingest import Origin, find_alert
from alerts.reading.ingest import ingest_payload as store_payload
from alerts.reading.parse import parse_message
from alerts.reading.parsed import ParsedAlert
from alerts.reading.times import to_utc
from store.audit import record
from store.db import session_scope
from store.models.alerts import MANUAL_WAITING, Alert, ManualWarning, ManualWarningState
from store.types import utcnow
from store.users import Principal

_GEOD = Geod(ellps="WGS84")
ENTITY = "manual_warning"


@dataclass(frozen=True)
class Policy:
    """The settings a manual warning's life depends on, handed in by the adapter."""

    manual: ManualRules
    warning: Rules  # who is warned (severity threshold), as the fan-out applies it


def _area_summary(geometry: BaseGeometry, parsed: list[ParsedAlert]) -> dict:
    """Size, bounds and area names; the names also by the language of their info, so a page shows the
    names in its reader's language (a bilingual CAP names each area twice)."""
    descriptions: list[str] = []
    by_language: dict[str, list[str]] = {}
    for alert in parsed:
        for info in alert.alert.get("infos") or []:
            for area in info.get("areas") or []:
                text = (area.get("desc") or "").strip()
                names = by_language.setdefault(info.get("language") or "", [])
                if text and text not in names:
                    names.append(text)
                if text and text not in descriptions:
                    descriptions.append(text)
    names = {"descriptions": descriptions[:20],
             "descriptions_by_language": {language: found[:20] for language, found in by_language.items() if found}}
    if geometry.is_empty:
        return {"km2": 0, "bbox": None, **names}
    square_m, _ = _GEOD.geometry_area_perimeter(geometry)
    return {"km2": round(abs(square_m) / 1e6, 1), "bbox": [round(v, 4) for v in geometry.bounds], **names}


def _not_warned_because(parsed: list[ParsedAlert], rules: Rules, now: datetime) -> str | None:
    """None when at least one alert of the document would warn; else the first alert's reason."""
    reasons = []
    for alert in parsed:
        normalized = alert.alert
        facts = AlertFacts(alert_id=0, chain_id=0, status=normalized.get("status") or "", msg_type=normalized.get(
            "msg_type") or "", expires_at=_cap_expiry([alert]), infos=tuple(normalized.get("infos") or ()))
        reason = why_not_warned(facts, now, rules)
        if reason is None:
            return None
        reasons.append(reason)
    return reasons[0] if reasons else "nothing_to_send"


def _cap_expiry(parsed: list[ParsedAlert]) -> datetime | None:
    """The latest expiry the document states (a message without one lapses by the reading rules)."""
    stated = []
    for alert in parsed:
        stated += [to_utc(t) for t in [info.get("expires") for info in alert.alert.get("infos") or []]
                   + [alert.valid_until] if t]
    return max(stated) if stated else None


_reach_books: dict[str, ReachBook] = {}
_reach_books_lock = threading.Lock()
FULL_RELOAD_S = 6 * 3600.0  # as the spatial index: a full re-read also catches rows removed by hand
# Changed customers are looked for at most this often: the look scans the customers (no index on their
# updated_at), and a preview a second old is as good; the fan-out reads the book itself when it sends.
RECHECK_AFTER = timedelta(seconds=2)


def reach_book(session) -> ReachBook:
    """This process's owner-and-channel table of the book, brought up to date: opt-outs and new push
    tokens in place; new customers or assets (an import) read the whole table again."""
    key = str(session.get_bind().url)
    with _reach_books_lock:
        book = _reach_books.setdefault(key, ReachBook())
    with book.lock:
        looked_at = utcnow()
        if book.watermark is not None and looked_at - book.watermark < RECHECK_AFTER:
            return book
        if book.watermark is not None and time.monotonic() - book.loaded_at < FULL_RELOAD_S:
            since = book.watermark - spatial.REFRESH_OVERLAP
            current = all(book.update_customers(batch) for batch in manual_dao.customer_batches(session, since)) \
                and all(book.knows_assets(batch) for batch in manual_dao.asset_batches(session, since))
            if current:
                book.watermark = looked_at
                return book
        book.load(manual_dao.customer_batches(session), manual_dao.asset_batches(session), looked_at,
                  time.monotonic())
    return book


def forget_reach_books() -> None:
    with _reach_books_lock:
        _reach_books.clear()


def reach_in(session, geometry: BaseGeometry, not_warned_because: str | None = None, area: dict | None = None) -> Reach:
    """Who a warning over this area would reach: the book's spatial index finds the assets, the
    owner-and-channel table counts their customers by channel."""
    if geometry.is_empty:
        counts, kinds = reach_book(session).counts(id_keys([]))
    elif spatial.shard_plan().count > 1:  # the shards' workers answer with ids
        counts, kinds = reach_book(session).counts(id_keys(spatial.affected_assets(session, geometry)))
    else:
        found = spatial.book_index(session).query_parts(geometry)
        counts, kinds = reach_book(session).counts_at(*found)
    return manual.reach_of(counts, kinds, not_warned_because, area or {})


def _summary(parsed: list[ParsedAlert], area: dict) -> dict:
    first = parsed[0].alert
    infos = [info for alert in parsed for info in alert.alert.get("infos") or []]
    return {
        "sender": first.get("sender"), "identifier": first.get("identifier"), "sent": first.get("sent"),
        "status": first.get("status"), "msg_type": first.get("msg_type"), "alerts": len(parsed),
        "severity": max((a.max_severity for a in parsed if a.max_severity), default=None,
                        key=lambda s: ("Minor", "Moderate", "Severe", "Extreme").index(s)
                        if s in ("Minor", "Moderate", "Severe", "Extreme") else -1),
        "headlines": {info.get("language") or "": info.get("headline") or info.get("event") or ""
                      for info in infos if info.get("headline") or info.get("event")},
        "event": next((info.get("event") for info in infos if info.get("event")), None),
        "area": area,
    }


def _geometry_of(parsed: list[ParsedAlert]) -> BaseGeometry:
    shapes = [spatial.alert_area(alert.alert).geometry for alert in parsed]
    return unary_union([s for s in shapes if not s.is_empty]) if shapes else Polygon()


def _readable(raw: bytes, content_type: str | None) -> list[ParsedAlert] | None:
    """The alerts of a document a person sent, or None when ingest must refuse (quarantine) or answer it."""
    try:
        message = parse_message(raw, content_type)
    except MessageInvalid:
        return None
    if message.is_index or message.rejected or not message.alerts:
        return None
    return message.alerts


def submit(raw: bytes, content_type: str | None, principal: Principal, policy: Policy,
           confirm_now: bool = False) -> dict:
    """Hold a person's warning with its reach. A document that does not parse, or holds only alerts already
    stored, goes through ingest as before (quarantined, or answered as duplicates): {"ingest": outcome}.
    confirm_now (a machine client's explicit flag) releases one that needs no second approver at once."""
    parsed = _readable(raw, content_type)
    with session_scope() as session:
        fresh = [p for p in parsed or [] if find_alert(session, p.alert["sender"], p.alert["identifier"],
                                                        p.alert["sent"]) is None]
    if not fresh:
        return {"ingest": service.ingest_and_show(raw, Origin(source=f"api:user/{principal.user_id}",
                                                              content_type=content_type))}
    now = utcnow()
    geometry = _geometry_of(fresh)
    area = _area_summary(geometry, fresh)
    with session_scope() as session:
        reach = reach_in(session, geometry, _not_warned_because(fresh, policy.warning, now), area)
        state = manual.first_state(reach, policy.manual)
        warning = manual_dao.add(
            session, state=state, raw=raw, content_type=content_type, format=fresh[0].format,
            summary=_summary(fresh, area), area_geojson=None if geometry.is_empty else mapping(geometry),
            reach=reach.as_dict(), customers=reach.warned, submitted_by=principal.user_id, submitted_at=now,
            wait_until=manual.wait_until(now, _cap_expiry(fresh), policy.manual), alert_ids=[])
        record(session, ENTITY, warning.id, "submitted", actor_id=principal.user_id, actor_role=principal.role,
               to_state=state, data={"reach": _audited(reach)})
        warning_id = warning.id
    if confirm_now and state == ManualWarningState.AWAITING_CONFIRMATION:
        warning = confirm(warning_id, principal, policy)
        if warning["state"] == ManualWarningState.RELEASED:
            return {"ingest": _released_outcome(warning), "warning": warning}
        return {"warning": warning}
    return {"warning": show(warning_id, principal)}


def _released_outcome(warning: dict) -> dict:
    """A released warning answered as ingest answers: what was stored."""
    with session_scope() as session:
        alerts = [alerts_dao.alert_json(session.get(Alert, i)) for i in warning["alert_ids"]]
    return {"format": warning["format"], "stored": warning["alert_ids"], "duplicates": [], "quarantined": [],
            "problems": [], "entries": 0, "alerts": alerts}


def _audited(reach: Reach) -> dict:
    return {key: value for key, value in reach.as_dict().items() if key != "area"}


def expire(now: datetime | None = None) -> list[int]:
    """Expire every waiting warning past its deadline, each audited: the ids."""
    now = now or utcnow()
    with session_scope() as session:
        expired = manual_dao.expire_due(session, now)
        for warning_id, before, deadline in expired:
            record(session, ENTITY, warning_id, "expired", from_state=before, to_state=ManualWarningState.EXPIRED,
                   note="nobody released it before its deadline", data={"deadline": deadline.isoformat()})
    return [warning_id for warning_id, _, _ in expired]


def _waiting(session, warning_id: int) -> ManualWarning:
    warning = manual_dao.get(session, warning_id)
    if warning is None:
        raise Refused(404, "not_found", f"manual warning {warning_id} does not exist")
    if warning.state not in MANUAL_WAITING:
        raise manual.not_waiting(warning.state)
    return warning


def _reach_now(session, warning: ManualWarning) -> Reach:
    geometry = shape(warning.area_geojson) if warning.area_geojson else _geometry_of([])
    stored = warning.reach or {}
    return reach_in(session, geometry, stored.get("not_warned_because"), stored.get("area") or {})


def _release(warning_id: int, principal: Principal, from_state: str, action: str) -> list[int]:
    """The one transaction that moves a waiting warning to released and stores its alerts; matching after."""
    now = utcnow()
    with session_scope() as session:
        warning = _waiting(session, warning_id)
        reach = _reach_now(session, warning)
        won = manual_dao.decide(session, warning_id, from_state, ManualWarningState.RELEASED, now,
                                actor_id=principal.user_id)
        if won:
            result = store_payload(session, warning.raw, Origin(source=f"manual:{warning_id}",
                                                                content_type=warning.content_type), now)
            warning.alert_ids = result.new_alert_ids
            record(session, ENTITY, warning_id, action, actor_id=principal.user_id, actor_role=principal.role,
                   from_state=from_state, to_state=ManualWarningState.RELEASED,
                   data={"reach": _audited(reach), "alert_ids": result.new_alert_ids})
    if not won:
        raise _lost_race(warning_id)
    new_ids = result.new_alert_ids
    service.match_alerts(new_ids)
    return new_ids


def _lost_race(warning_id: int) -> Refused:
    """Another decision (or the deadline) came first: say which."""
    expire()
    with session_scope() as session:
        warning = manual_dao.get(session, warning_id)
        state = warning.state if warning else ManualWarningState.EXPIRED
    if state in MANUAL_WAITING:
        return manual.not_waiting(ManualWarningState.EXPIRED)
    return manual.not_waiting(state)


def confirm(warning_id: int, principal: Principal, policy: Policy) -> dict:
    """The submitter sends a warning that needs no second approver; if its reach grew past the setting
    since the preview, it waits for approval instead."""
    expire()
    with session_scope() as session:
        warning = _waiting(session, warning_id)
        manual.check_confirm(warning.state, warning.submitted_by, principal.user_id)
        reach = _reach_now(session, warning)
        grew = manual.first_state(reach, policy.manual) == ManualWarningState.AWAITING_APPROVAL
        if grew and manual_dao.decide(session, warning_id, ManualWarningState.AWAITING_CONFIRMATION,
                                      ManualWarningState.AWAITING_APPROVAL, utcnow(), actor_id=principal.user_id):
            warning.reach, warning.customers = reach.as_dict(), reach.warned
            record(session, ENTITY, warning_id, "needs_approval", actor_id=principal.user_id,
                   actor_role=principal.role, from_state=ManualWarningState.AWAITING_CONFIRMATION,
                   to_state=ManualWarningState.AWAITING_APPROVAL, data={"reach": _audited(reach)})
    if not grew:
        _release(warning_id, principal, ManualWarningState.AWAITING_CONFIRMATION, "confirmed")
    return show(warning_id, principal)


def approve(warning_id: int, principal: Principal) -> dict:
    expire()
    with session_scope() as session:
        warning = _waiting(session, warning_id)
        manual.check_approve(warning.submitted_by, principal.user_id, principal.role)
        if warning.state != ManualWarningState.AWAITING_APPROVAL:
            raise Refused(409, "confirmation_pending", "this warning needs no approval: its submitter confirms it")
    _release(warning_id, principal, ManualWarningState.AWAITING_APPROVAL, "approved")
    return show(warning_id, principal)


def reject(warning_id: int, principal: Principal, reason: str) -> dict:
    expire()
    now = utcnow()
    with session_scope() as session:
        warning = _waiting(session, warning_id)
        manual.check_reject(warning.submitted_by, principal.user_id, principal.role, reason)
        before = warning.state
        reach = _reach_now(session, warning)
        won = manual_dao.decide(session, warning_id, before, ManualWarningState.REJECTED, now,
                                actor_id=principal.user_id, reason=reason.strip())
        if won:
            record(session, ENTITY, warning_id, "rejected", actor_id=principal.user_id, actor_role=principal.role,
                   from_state=before, to_state=ManualWarningState.REJECTED, note=reason.strip(),
                   data={"reach": _audited(reach)})
    if not won:
        raise _lost_race(warning_id)
    return show(warning_id, principal)


def show(warning_id: int, principal: Principal, *, with_area: bool = False, reach_now: bool = False) -> dict:
    with session_scope() as session:
        warning = manual_dao.get(session, warning_id)
        if warning is None or not (manual.may_see_all(principal.role) or warning.submitted_by == principal.user_id):
            raise Refused(404, "not_found", f"manual warning {warning_id} does not exist")
        data = manual_dao.warning_json(warning, manual_dao.people(session, [warning]), principal.user_id,
                                       manual.may_see_all(principal.role), with_area=with_area)
        if reach_now and warning.state in MANUAL_WAITING:
            data["reach_now"] = _reach_now(session, warning).as_dict()
    return data


def show_fresh(warning_id: int, principal: Principal) -> dict:
    """One warning with its area and, while it waits, its reach recomputed against the book as it is now."""
    expire()
    return show(warning_id, principal, with_area=True, reach_now=True)


def listing(principal: Principal, state: str | None, limit: int) -> dict:
    expire()
    sees_all = manual.may_see_all(principal.role)
    with session_scope() as session:
        rows = manual_dao.listing(session, state=state, submitted_by=None if sees_all else principal.user_id,
                                  limit=limit)
        names = manual_dao.people(session, rows)
        return {"warnings": [manual_dao.warning_json(w, names, principal.user_id, sees_all) for w in rows]}
