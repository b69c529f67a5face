"""From a matched alert to saved notifications: read the inputs, apply alerts/notifying/targeting.py, save first.

`notify_customers_in_area(alert_id, enqueue)` is the step after matching (docs/architecture.md):
it groups the affected assets by customer, plans one message per customer and channel, and saves the
rows in chunks, most exposed customers first (alerts/notifying/priority.py): each message carries its
customer's place in that order (`send_rank`), and the chunks are saved and queued in it, those who need
care in chunks of their own ahead of everyone else. Each chunk is committed before its ids are handed to
`enqueue`, so the first SMS can leave while later chunks are still being planned, and a crash between
the two leaves rows the sweep re-queues (in send_rank order, `in_send_order`). The unique idempotency key (customer, chain, channel, kind) makes a second run of the same
alert, or two alerts of one chain racing, save nothing twice.

A fan-out holds a lease on its alert (FanOutLease), renewed while its worker lives (alerts/notifying/leases.py): a
second task for the same alert finds the lease held and does nothing, and the sweep resumes a fan-out
whose lease ran out, which first queues again what the dead run saved but may not have queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter

import numpy as np
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import String, and_, bindparam, cast, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from alerts import rules as alert_rules
from alerts.matching import spatial
from alerts.notifying import links
from alerts.notifying.delivery import cancel_pending, requeue_still_queued
from alerts.notifying.leases import keeper
from alerts.notifying.priority import CustomersToRank, ExposureArea, PriorityRules, local_years, send_order
from alerts.notifying.targeting import (
    SEVERITY_RANK,
    AlertFacts,
    AssetInArea,
    CustomerInArea,
    EarlierMessage,
    Plan,
    Rules,
    info_severity,
    plan_all_clear,
    plan_warnings,
    why_not_warned,
)
from geo.areas import area_geometry
from store.audit import record
from store.bulk import one_of, unnest_rows
from store.db import is_postgresql, session_scope
from store.models import Alert, AlertChain, Asset, AuditEvent, Customer, FanOutLease, Notification
from store.models.alerts import ChainState, MsgType
from store.models.notifications import NotificationState
from store.types import utcnow

log = logging.getLogger(__name__)

FIRST_CHUNK = 200
CUSTOMERS_PER_CHUNK = 2000
FAN_OUT_DONE = "customers_notified"  # the audit action that marks an alert's fan-out finished
ALREADY_RUNNING = "fan_out_already_running"
# After queueing those who need care, how long the rest may wait for them to be handed over. Waiting costs
# a rate-limited provider nothing (their messages fill its slots meanwhile); beyond it, the queue's order
# alone keeps them first, apart from batches in flight together.
CARE_HANDOVER_WAIT_S = 5.0
HANDOVER_POLL_S = 0.05

Enqueue = Callable[[list[tuple[int, str]]], None]  # [(notification id, channel)] -> queued for sending


@dataclass
class FanOutSummary:
    alert_id: int
    msg_type: str | None = None
    customers: int = 0
    saved: int = 0
    already_saved: int = 0
    held_for_quiet_hours: int = 0
    enqueued: int = 0
    not_queued: int = 0  # saved, but the broker could not take their tasks: the sweep queues them
    stopped: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, plan: Plan) -> None:
        for reason, count in plan.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count


def notify_customers_in_area(alert_id: int, enqueue: Enqueue, rules: Rules, lease_s: float,
                             now: datetime | None = None) -> FanOutSummary:
    """Warn every customer with an asset inside the alert's area (or send the all-clear for a Cancel).

    Ends with an audit event "customers_notified", whatever the outcome: the sweep runs again the
    fan-out of any matched alert that lacks one (its worker died half-way).
    """
    now = now or utcnow()
    with session_scope() as session:
        alert_stored = session.get(Alert, alert_id) is not None
        run = take_fan_out(session, alert_id, utcnow(), lease_s) if alert_stored else FanOutRun(0, resumed=False)
    if run is None:
        return FanOutSummary(alert_id, skipped={ALREADY_RUNNING: 1})
    with keeper.holding("fan_out", [alert_id], lease_s):
        if run.resumed:
            _requeue_what_a_dead_run_saved(alert_id, enqueue)
        summary = _fan_out(alert_id, enqueue, now, rules)
        with session_scope() as session:
            record(session, "alert", alert_id, FAN_OUT_DONE, data=_audit_data(summary))
            if run.number:
                session.execute(update(FanOutLease).where(FanOutLease.alert_id == alert_id)
                                .values(finished_at=utcnow()))
    return summary


@dataclass(frozen=True)
class FanOutRun:
    number: int  # 1 the first run; more when resumed or run again
    resumed: bool  # the previous run never finished: its worker died


def take_fan_out(session: Session, alert_id: int, now: datetime, lease_s: float) -> FanOutRun | None:
    """Take the lease on an alert's fan-out, or None when another worker holds a live lease on it."""
    until = now + timedelta(seconds=lease_s)
    held = session.execute(select(FanOutLease).where(FanOutLease.alert_id == alert_id).with_for_update()).scalar()
    if held is None:
        dialect_insert = postgresql.insert if is_postgresql(session) else sqlite.insert
        inserted = session.execute(
            dialect_insert(FanOutLease).values(alert_id=alert_id, lease_until=until, runs=1, started_at=now)
            .on_conflict_do_nothing(index_elements=["alert_id"]).returning(FanOutLease.runs)).scalar()
        return FanOutRun(1, resumed=False) if inserted else None  # else another worker began it just now
    if held.finished_at is None and held.lease_until >= now:
        return None
    run = FanOutRun(held.runs + 1, resumed=held.finished_at is None)
    held.runs, held.lease_until, held.started_at, held.finished_at = run.number, until, now, None
    return run


def _requeue_what_a_dead_run_saved(alert_id: int, enqueue: Enqueue) -> None:
    with session_scope() as session:
        again = requeue_still_queued(session, alert_id, utcnow())
    if again:
        log.warning("fan-out of alert %s resumed: %d saved messages queued again", alert_id, len(again))
        enqueue(in_send_order(again))


def _fan_out(alert_id: int, enqueue: Enqueue, now: datetime, rules: Rules) -> FanOutSummary:
    with session_scope() as session:
        facts = _alert_facts(session, alert_id, now, rules)
        if facts is None:
            return FanOutSummary(alert_id, skipped={"no_such_alert_or_chain": 1})
        summary = FanOutSummary(alert_id, facts.msg_type)
        if _superseded(session, alert_id):
            summary.skipped["superseded_by_a_newer_message"] = 1
            return summary
        earlier = _earlier_messages(session, facts.chain_id)
        if facts.ends_chain:
            customers = _customers(session, {m.customer_id for m in earlier})
            plan = plan_all_clear(facts.alert, customers, earlier, now, rules)
            summary.add(plan)
            _save_and_enqueue(facts, plan, now, enqueue, summary)
            return summary
        if reason := why_not_warned(facts.alert, now, rules):
            summary.skipped[reason] = 1
            return summary
        # Those who may need care are read and ranked first, on their own: their messages leave while
        # everyone else is read and ranked.
        stored = session.get(Alert, alert_id)
        asset_ids = [str(a) for a in spatial.affected_assets(session, stored)]
        sent_at, priority = stored.sent_at or now, PriorityRules()
        areas = _exposure_areas(facts.alert.infos)
        maybe_care, surely_not = _may_need_care(sent_at, priority)
        candidates = _ranking_rows(session, asset_ids, maybe_care) if _anyone(session, maybe_care) else []
        care = _send_order(candidates, sent_at, areas, priority, first_rank=0)
        ranked = care.ranked[:care.needing_care].tolist()

        def warn(order: _SendOrder, chunk_indices: list[int]) -> list[int]:
            chunk = _customers_of(session, order.assets_of(chunk_indices))
            summary.customers += len(chunk)
            plan = plan_warnings(facts.alert, chunk, earlier, now, rules)
            summary.add(plan)
            return _save_and_enqueue(facts, plan, now, enqueue, summary, order.rank_of)

        for_care = [nid for chunk in _growing_chunks(ranked) for nid in warn(care, chunk)]
        needing_no_care = set(care.customer_ids[care.ranked[care.needing_care:]].tolist())
        rest = _ranking_rows(session, asset_ids, surely_not)
        if needing_no_care:
            rest = sorted([row for row in candidates if row[1] in needing_no_care] + rest, key=itemgetter(1))
        others = _send_order(rest, sent_at, areas, priority, first_rank=len(ranked))
        if for_care and others.ranked.size:
            _wait_until_handed_over(for_care, CARE_HANDOVER_WAIT_S)
        for chunk in _growing_chunks(others.ranked.tolist()):
            warn(others, chunk)
    return summary


def _wait_until_handed_over(notification_ids: list[int], at_most_s: float) -> None:
    """Until these rows are handed over, or wait for a retry (or `at_most_s`). Only then is anyone else's
    batch queued: a sending batch reserves its rate-limit slots as it goes, and a message that misses its
    slot (a busy worker) reserves again behind every batch that reserved meanwhile, so a later batch in
    flight alongside would overtake it."""
    deadline = time.monotonic() + at_most_s
    on_the_way = or_(Notification.state == NotificationState.SENDING,
                     and_(Notification.state == NotificationState.QUEUED, Notification.retry_at.is_(None)))
    waiting = notification_ids
    while waiting and time.monotonic() < deadline:
        time.sleep(HANDOVER_POLL_S)
        with session_scope() as session:
            waiting = list(session.execute(select(Notification.id).where(
                one_of(session, Notification.id, waiting), on_the_way)).scalars())


def in_send_order(pairs: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """(notification id, channel) pairs by their send_rank (unranked last), then id: what a sweep or a
    retry queues again keeps the most exposed first."""
    pairs = list(pairs)
    if len(pairs) < 2:
        return pairs
    with session_scope() as session:
        ranks = dict(session.execute(select(Notification.id, Notification.send_rank)
                                     .where(one_of(session, Notification.id, [i for i, _ in pairs]))).all())

    def place(pair: tuple[int, str]) -> tuple[bool, int, int]:
        rank = ranks.get(pair[0])
        return rank is None, rank or 0, pair[0]

    return sorted(pairs, key=place)


def alerts_awaiting_fan_out(session: Session, now: datetime, after_s: float = 300.0,
                            within_s: float = 86_400.0, *, broker_lost: bool = False,
                            queue_idle_s: float | None = None) -> list[int]:
    """Alerts matched within the last day whose fan-out did not finish and is not running: its lease ran
    out (its worker died), or it never began. One that never began is taken as lost at once when the
    broker lost its queues, after `queue_idle_s` when given (the match queue is empty), else after `after_s`.
    """
    lease = FanOutLease.__table__
    finished = exists().where(AuditEvent.entity == "alert", AuditEvent.entity_id == cast(Alert.id, String),
                              AuditEvent.action == FAN_OUT_DONE)
    never_began = lease.c.alert_id.is_(None) & ~finished
    if not broker_lost:
        waited = after_s if queue_idle_s is None else min(after_s, queue_idle_s)
        never_began = never_began & (Alert.matched_at < now - timedelta(seconds=waited))
    lease_ran_out = and_(lease.c.finished_at.is_(None), lease.c.lease_until < now)
    return list(session.execute(
        select(Alert.id).outerjoin(lease, lease.c.alert_id == Alert.id)
        .where(Alert.matched_at.is_not(None), Alert.matched_at > now - timedelta(seconds=within_s),
               or_(lease_ran_out, never_began))
        .order_by(Alert.id)
    ).scalars())


def alerts_awaiting_match(session: Session, now: datetime, after_s: float = 300.0, within_s: float = 86_400.0,
                          *, broker_lost: bool = False, queue_idle_s: float | None = None) -> list[int]:
    """Alerts stored within the last day and never matched: their match task was lost (the broker restarted
    empty, or the worker holding it died), so their fan-out cannot begin. Taken as lost at once when the
    broker lost its queues, after `queue_idle_s` when given (the match queue is empty), else after `after_s`.
    """
    never_matched = Alert.matched_at.is_(None) & (Alert.received_at > now - timedelta(seconds=within_s))
    if not broker_lost:
        waited = after_s if queue_idle_s is None else min(after_s, queue_idle_s)
        never_matched = never_matched & (Alert.received_at < now - timedelta(seconds=waited))
    return list(session.execute(select(Alert.id).where(never_matched).order_by(Alert.id)).scalars())


@dataclass(frozen=True)
class _Facts:
    alert: AlertFacts
    expires_at: datetime | None
    ends_chain: bool
    link_ttl: timedelta = timedelta(hours=72)

    @property
    def chain_id(self) -> int:
        return self.alert.chain_id

    @property
    def msg_type(self) -> str:
        return self.alert.msg_type


def _alert_facts(session: Session, alert_id: int, now: datetime, rules: Rules) -> _Facts | None:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.chain_id is None:
        return None
    chain = session.get(AlertChain, alert.chain_id)
    normalized = alert.normalized or {}
    earlier_infos = ()
    ends_chain = bool(getattr(alert, "ends_chain", False)) or alert.msg_type == MsgType.CANCEL
    if ends_chain and not normalized.get("infos"):
        for other in session.execute(select(Alert).where(Alert.chain_id == alert.chain_id, Alert.id != alert.id)
                                     .order_by(Alert.sent_at.desc())).scalars():
            if (other.normalized or {}).get("infos"):
                earlier_infos = tuple(other.normalized["infos"])
                break
    facts = AlertFacts(alert_id=alert.id, chain_id=alert.chain_id, status=alert.status, msg_type=alert.msg_type,
                       expires_at=alert.expires_at, infos=tuple(normalized.get("infos") or ()),
                       chain_state=chain.state if chain else ChainState.ACTIVE, earlier_infos=earlier_infos,
                       signed_links=not ends_chain and bool(rules.public_base_url) and links.cat_event_open(
                           session, alert.chain_id, lambda: spatial.geometry_of(alert), now))
    return _Facts(facts, alert.expires_at, ends_chain, timedelta(hours=rules.link_ttl_h))


def _superseded(session: Session, alert_id: int) -> bool:
    """A newer message of the chain already arrived: its targeting, not this one's, applies."""
    alert = session.get(Alert, alert_id)
    chain = session.get(AlertChain, alert.chain_id)
    if chain is None or chain.current_alert_id in (None, alert_id):
        return False
    current = session.get(Alert, chain.current_alert_id)
    return current is not None and current.sent_at > alert.sent_at


def _earlier_messages(session: Session, chain_id: int) -> list[EarlierMessage]:
    rows = session.execute(
        select(Notification.id, Notification.customer_id, Notification.channel, Notification.kind,
               Notification.severity, Notification.state, Notification.asset_count, Notification.vehicle_count)
        .where(Notification.chain_id == chain_id).order_by(Notification.id)
    ).all()
    return [EarlierMessage(*row) for row in rows]


def _growing_chunks(items: Iterable):
    """A small first chunk, so the first messages leave at once; then bigger ones, cheaper per row."""
    chunk, size = [], FIRST_CHUNK
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk, size = [], min(size * 2, CUSTOMERS_PER_CHUNK)
    if chunk:
        yield chunk


_CUSTOMER_COLUMNS = (Customer.customer_id, Customer.phone, Customer.locale, Customer.time_zone,
                     Customer.sms_opt_out, Customer.push_opt_out, Customer.push_token)


def _customers(session: Session, customer_ids: set[str]) -> dict[str, CustomerInArea]:
    if not customer_ids:
        return {}
    return {row.customer_id: CustomerInArea(*row) for row in session.execute(
        select(*_CUSTOMER_COLUMNS).where(one_of(session, Customer.customer_id, sorted(customer_ids))))}


@dataclass(frozen=True)
class _SendOrder:
    """Customers with assets in the area, most exposed first, and those assets."""

    customer_ids: np.ndarray  # sorted by id
    ranked: np.ndarray  # indices into customer_ids, most exposed first
    needing_care: int  # how many lead the order because they are vulnerable or aged
    asset_ids: tuple[str, ...] = ()  # grouped by customer: customer i's are asset_ids[starts[i]:starts[i + 1]]
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    rank_of: dict[str, int] = field(default_factory=dict)  # customer -> place in the whole fan-out's order

    def assets_of(self, customers: Iterable[int]) -> list[str]:
        return [a for i in customers for a in self.asset_ids[self.starts[i]:self.starts[i + 1]]]


def _may_need_care(sent_at: datetime, priority: PriorityRules) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(customers who may need care, everyone else). The first is a superset (the alert's year in the zone
    furthest ahead), for `needs_care` to decide in each customer's own time zone; the second is written
    out, not negated, so that an unknown birth year (NULL) lands in it."""
    born_by = sent_at.year + 1 - priority.aged_from
    return (or_(Customer.vulnerable.is_(True), Customer.birth_year <= born_by),
            and_(Customer.vulnerable.is_not(True), or_(Customer.birth_year.is_(None), Customer.birth_year > born_by)))


def _anyone(session: Session, which: ColumnElement[bool]) -> bool:
    """Whether any customer of the book is one of `which` (a book without, read once, not twice)."""
    return session.execute(select(Customer.customer_id).where(which).limit(1)).first() is not None


def _ranking_rows(session: Session, asset_ids: list[str], which: ColumnElement[bool]) -> list:
    """What ranking needs, one narrow row per asset in the area (the margin is the matcher's) of the
    customers `which` selects, in customer order, through Core (no ORM rows)."""
    if not asset_ids:
        return []
    return session.connection().execute(
        select(Asset.asset_id, Asset.customer_id, Asset.lon, Asset.lat, Customer.vulnerable, Customer.birth_year,
               Customer.time_zone)
        .join(Customer, Customer.customer_id == Asset.customer_id)
        .where(one_of(session, Asset.asset_id, asset_ids), which)
        .order_by(Asset.customer_id)).all()


def _send_order(rows: list, sent_at: datetime, areas: list[ExposureArea], priority: PriorityRules,
                first_rank: int) -> _SendOrder:
    """These rows' customers, most exposed first (alerts/notifying/priority.py), ranked from `first_rank`.
    `_customers_of` reads each chunk's customers in full as its turn comes."""
    if not rows:
        return _SendOrder(np.array([], dtype=object), np.zeros(0, dtype=np.int64), 0)
    assets, owners, lon, lat, vulnerable, birth_year, time_zone = zip(*rows, strict=True)
    owner = np.array(owners, dtype=object)
    starts_customer = np.ones(len(owner), dtype=bool)
    starts_customer[1:] = owner[1:] != owner[:-1]
    first = np.flatnonzero(starts_customer)
    ranking = CustomersToRank(
        vulnerable=np.array(vulnerable, dtype=bool)[first], birth_year=np.array(birth_year, dtype=np.float64)[first],
        local_year=local_years(sent_at, [time_zone[i] for i in first]),
        asset_customer=np.cumsum(starts_customer) - 1, lon=np.array(lon, dtype=np.float64),
        lat=np.array(lat, dtype=np.float64))
    order = send_order(ranking, areas, priority)
    customer_ids = owner[first]
    rank_of = dict(zip(customer_ids[order.customers].tolist(), range(first_rank, first_rank + len(first)), strict=True))
    return _SendOrder(customer_ids, order.customers, order.needing_care, assets, np.append(first, len(owner)), rank_of)


def _customers_of(session: Session, asset_ids: list[str]) -> list[CustomerInArea]:
    """The customers owning these assets (in the area), with them, as targeting plans for them."""
    rows = session.execute(
        select(Asset.customer_id, Asset.asset_id, Asset.kind, Asset.address, *_CUSTOMER_COLUMNS[1:])
        .join(Customer, Customer.customer_id == Asset.customer_id)
        .where(one_of(session, Asset.asset_id, asset_ids))
        .order_by(Asset.customer_id, Asset.asset_id))
    customers = []
    for _, group in groupby(rows, key=lambda row: row[0]):
        group = list(group)
        first = group[0]
        customers.append(CustomerInArea(first[0], *first[4:], assets=tuple(
            AssetInArea(asset_id, kind, address) for _, asset_id, kind, address, *_ in group)))
    return customers


def _exposure_areas(infos: tuple[dict, ...]) -> list[ExposureArea]:
    """Each area of the alert's infos with its info's severity (an area repeated in another language once)."""
    point_snap_m = alert_rules.current().matching.point_snap_m
    areas, seen = [], set()
    for info in infos:
        severity = SEVERITY_RANK.get(info_severity(info) or "", 0)
        for area in info.get("areas") or []:
            shapes = {key: area.get(key) for key in ("polygons", "circles", "geocodes", "track")}
            key = (severity, repr(shapes))
            if key in seen:
                continue
            seen.add(key)
            geometry = area_geometry(area, spatial.ConfiguredGazetteer(), point_snap_m).geometry
            if not geometry.is_empty:
                areas.append(ExposureArea(severity, geometry, _track(area.get("track"))))
    return areas


def _track(positions) -> BaseGeometry | None:
    """A typhoon swath's storm track ([[lon, lat], ...], alerts/reading/typhoon.py), or None."""
    try:
        points = [(float(lon), float(lat)) for lon, lat in positions or ()]
    except (TypeError, ValueError):
        return None
    if len(points) > 1:
        return LineString(points)
    return Point(points[0]) if points else None


def _save_and_enqueue(facts: _Facts, plan: Plan, now: datetime, enqueue: Enqueue, summary: FanOutSummary,
                      rank_of: Mapping[str, int] | None = None) -> list[int]:
    """Returns the ids handed to `enqueue`."""
    with session_scope() as session:
        why = "the warning was cancelled" if facts.ends_chain else "superseded by a newer message of the chain"
        summary.stopped += cancel_pending(session, plan.cancel_ids, now, why)
        saved = _insert(session, facts, plan, now, rank_of or {})
    summary.saved += len(saved)
    summary.already_saved += len(plan.messages) - len(saved)
    saved.sort(key=lambda row: (row[3] is None, row[3] or 0, row[0]))
    due = [(nid, channel) for nid, channel, state, _ in saved if state == NotificationState.QUEUED]
    summary.held_for_quiet_hours += len(saved) - len(due)
    if due:
        try:
            enqueue(due)
        except Exception:  # the broker is away: carry on saving; the sweep queues these once it is back
            log.warning("could not queue %d saved messages of alert %s; the sweep will", len(due),
                        facts.alert.alert_id, exc_info=True)
            summary.not_queued += len(due)
            return []
        summary.enqueued += len(due)
    return [nid for nid, _ in due]


# Per-row columns travel as arrays; the rest is the same for the whole chunk.
_PER_ROW = ("idempotency_key", "customer_id", "channel", "kind", "recipient", "body", "language", "severity",
            "segments", "asset_count", "vehicle_count", "not_before", "state", "queued_at", "send_rank")
_PER_CHUNK = ("chain_id", "alert_id", "expires_at", "attempts", "possible_duplicates", "created_at", "updated_at")


def _insert(session: Session, facts: _Facts, plan: Plan, now: datetime, rank_of: Mapping[str, int]
            ) -> list[tuple[int, str, str, int | None]]:
    """Save the planned rows; a key that already exists is left alone. Returns (id, channel, state, send_rank) saved."""
    if not plan.messages:
        return []
    rows = [{
        "idempotency_key": m.idempotency_key, "customer_id": m.customer_id, "chain_id": facts.chain_id,
        "alert_id": facts.alert.alert_id, "channel": m.channel, "kind": m.kind, "recipient": m.recipient,
        "body": m.body, "language": m.language, "severity": m.severity, "segments": m.segments,
        "asset_count": m.asset_count, "vehicle_count": m.vehicle_count, "not_before": m.not_before,
        "expires_at": facts.expires_at, "state": NotificationState.CREATED if m.not_before else NotificationState.QUEUED,
        "queued_at": None if m.not_before else now, "attempts": 0, "possible_duplicates": 0,
        "created_at": now, "updated_at": now, "send_rank": rank_of.get(m.customer_id),
    } for m in plan.messages]
    # Ids then follow the send order too, and a claim returns its rows in id order.
    rows.sort(key=lambda row: (row["send_rank"] is None, row["send_rank"] or 0))
    if facts.alert.signed_links:
        links.mint_links(session, rows, now, facts.link_ttl)
    if is_postgresql(session):
        return _insert_unnest(session, rows)
    statement = (sqlite.insert(Notification).on_conflict_do_nothing(index_elements=["idempotency_key"])
                 .returning(Notification.id, Notification.channel, Notification.state, Notification.send_rank))
    return [tuple(row) for row in session.execute(statement, rows).all()]


def _insert_unnest(session: Session, rows: list[dict]) -> list[tuple[int, str, str, int | None]]:
    """PostgreSQL: one INSERT ... SELECT FROM unnest(one array per column): thousands of rows in one small
    statement, where a multi-row VALUES list would be a megabyte of SQL for the driver to parse."""
    table = Notification.__table__
    per_row = unnest_rows(table, rows, _PER_ROW)
    constants = [bindparam(f"all_{name}", rows[0][name], type_=table.c[name].type).label(name) for name in _PER_CHUNK]
    source = select(*per_row.c, *constants)
    statement = (postgresql.insert(table).from_select([*_PER_ROW, *_PER_CHUNK], source)
                 .on_conflict_do_nothing(index_elements=["idempotency_key"])
                 .returning(table.c.id, table.c.channel, table.c.state, table.c.send_rank))
    return [tuple(row) for row in session.execute(statement).all()]


def _audit_data(summary: FanOutSummary) -> dict:
    return {"msg_type": summary.msg_type, "customers": summary.customers, "saved": summary.saved,
            "already_saved": summary.already_saved, "held_for_quiet_hours": summary.held_for_quiet_hours,
            "enqueued": summary.enqueued, "not_queued": summary.not_queued, "stopped": summary.stopped,
            "skipped": summary.skipped}
