"""The delivery pipeline: states, claims, provider outcomes, retries and the sweep.

docs/architecture.md, "A warning, from feed to SMS". A notification row is saved before any task is queued; only its id
travels. Its state moves

    created -> queued -> sending -> sent -> delivered | undelivered | failed
                     \\-> cancelled | expired        \\-> queued (retry)   \\-> expired (no receipt)

and every move is one conditional UPDATE decided in the database, so two workers holding the same id
can never both hand it to the provider: only the one whose UPDATE moved it queued -> sending does.
The session is closed before the network call. Errors are classified here, not in the channels:
429, 5xx, timeouts and connection failures are retried with exponential backoff and jitter;
Twilio's permanent errors (21211 invalid number, 21610 unsubscribed, 21614 not mobile, ...) never are.
The periodic sweep re-queues what is stuck and expires what can no longer be sent, so nothing stays
in limbo. A claimed batch carries a short lease that its worker renews while it is alive (alerts/notifying/leases.py):
the sweep takes back a batch whose lease ran out, so a dead worker's messages go out again within about
a lease, while a live but slow send is never taken from under its worker. Queued rows whose task can no
longer be in the broker (it restarted empty, or their queue has been idle too long) are queued again;
a second task for a row still queued is harmless, because only one claim can move it to `sending`.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy import true as sql_true
from sqlalchemy.orm import Session

from alerts.notifying.channels import aliyun_sms
from alerts.notifying.channels.base import Channel, ChannelConfigError, Outcome, Outgoing
from alerts.notifying.channels.configured import channel_for, sms_channel
from alerts.notifying.failover import router_for
from alerts.notifying.leases import keeper
from alerts.notifying.providers import choose
from alerts.notifying.ratelimit import limiter_for
from store.audit import record
from store.bulk import one_of, unnest_rows
from store.db import is_postgresql, session_scope
from store.models import Customer, Notification
from store.models.notifications import FINAL_STATES, NOT_YET_SENDING, NotificationState
from store.retry import Backoff
from store.types import utcnow

log = logging.getLogger(__name__)

TRANSITIONS = {
    NotificationState.CREATED: {NotificationState.QUEUED, NotificationState.CANCELLED, NotificationState.EXPIRED},
    NotificationState.QUEUED: {NotificationState.QUEUED, NotificationState.SENDING, NotificationState.CANCELLED,
                               NotificationState.EXPIRED},
    NotificationState.SENDING: {NotificationState.SENT, NotificationState.DELIVERED, NotificationState.FAILED,
                                NotificationState.QUEUED},
    NotificationState.SENT: {NotificationState.DELIVERED, NotificationState.UNDELIVERED, NotificationState.FAILED,
                             NotificationState.EXPIRED},
    **{final: set() for final in FINAL_STATES},
}
# Exactly the rows not yet in a final state, which the sweep looks through: ix_notifications_open indexes
# only these. (A plain index on state tempted PostgreSQL, whose statistics lag behind a burst of 100,000
# queued rows, into reading every queued entry for each batch it claimed.)
OPEN = Notification.final_at.is_(None)
MAX_BATCH = 100  # notifications per send task: one task per SMS caps near 950/s on 2 cores
MAX_ATTEMPTS = 10
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 120.0  # stays below the broker's visibility timeout (600 s), so a delayed task is never re-delivered
EARLY_GRACE = timedelta(seconds=0.25)  # clock skew between the worker that set retry_at and the one claiming
LEASE_S = 30.0  # HAVEN_DELIVERY_LEASE_S

# Twilio errors that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_TWILIO_ERRORS = {
    "21211": "invalid 'To' phone number",
    "21214": "'To' phone number cannot be reached",
    "21217": "phone number does not appear to be valid",
    "21401": "invalid phone number",
    "21408": "permission to send to this region is not enabled",
    "21602": "message body is required",
    "21604": "'To' phone number is required",
    "21606": "the 'From' number is not a valid message-capable number",
    "21610": "the recipient has unsubscribed (replied STOP)",
    "21612": "the 'To' number cannot be reached from this sender",
    "21614": "'To' number is not a valid mobile number",
    "21617": "message body exceeds the 1600 character limit",
    "21635": "'To' number is a landline",
}
UNSUBSCRIBED = "21610"
# Providers whose error codes say retry or failed on their own: provider -> verdict(code) -> "retry" | "failed" | None.
PROVIDER_ERRORS = {aliyun_sms.PROVIDER: aliyun_sms.verdict}
RETRY_HTTP = {408, 425, 429}
EXPIRED_BEFORE_SENT = "the warning expired before it could be sent"
# Credentials or signature refused: a configuration problem the operator fixes; the message itself is fine.
RETRY_AUTH_HTTP = {401, 403}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, set())


def classify(outcome: Outcome) -> str:
    """accepted | delivered | retry | failed."""
    if outcome.result in ("accepted", "delivered"):
        return outcome.result
    if outcome.transport_error:
        return "retry"
    known = PROVIDER_ERRORS.get(outcome.provider)
    verdict = known(outcome.error_code) if known else None
    if verdict:
        return verdict
    if outcome.error_code in PERMANENT_TWILIO_ERRORS:
        return "failed"
    status = outcome.http_status or 0
    if status in RETRY_HTTP or status in RETRY_AUTH_HTTP or status >= 500:
        return "retry"
    return "failed"


SEND_BACKOFF = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, jitter=0.5)


def backoff_s(attempt: int, rng: random.Random | None = None) -> float:
    """Equal jitter: attempt 1 waits 0.5-1 s, attempt 2 1-2 s, ... up to the cap."""
    return SEND_BACKOFF.wait_s(attempt, rng)


def batch_size(channel: str, settings) -> int:
    """About 100 a task; at a low SMS rate fewer, so one batch never waits long for its rate-limit slots."""
    if channel == "sms" and any(name != "outbox" for name in settings.sms_provider_names):
        return max(1, min(MAX_BATCH, int(settings.sms_rate_per_s * 2)))
    return MAX_BATCH


def chunks(ids: Sequence[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


@dataclass
class BatchResult:
    claimed: int = 0
    accepted: int = 0
    delivered: int = 0
    failed: int = 0
    retry_ids: list[int] = field(default_factory=list)
    retry_in_s: float = 0.0
    accepted_message_ids: list[str] = field(default_factory=list)


TABLE = Notification.__table__


def mark_queued(session: Session, ids: Sequence[int], now: datetime) -> list[tuple[int, str]]:
    """created -> queued for those due now; returns (id, channel) of the rows to hand to a send task."""
    if not ids:
        return []
    rows = session.execute(
        update(TABLE)
        .where(one_of(session, TABLE.c.id, ids), TABLE.c.state == NotificationState.CREATED,
               or_(TABLE.c.not_before.is_(None), TABLE.c.not_before <= now))
        .values(state=NotificationState.QUEUED, queued_at=now, updated_at=now)
        .returning(TABLE.c.id, TABLE.c.channel)
    ).all()
    return [(row.id, row.channel) for row in rows]


_OPT_OUT = {"sms": Customer.sms_opt_out, "push": Customer.push_opt_out}


def claim(session: Session, ids: Sequence[int], channel: str, now: datetime, lease_s: float = LEASE_S
          ) -> list[Outgoing]:
    """queued -> sending, atomically: the rows returned are this caller's to hand over, and no one else's,
    until `lease_s` from now unless its worker renews the lease.

    One UPDATE decides every row of the batch: a row whose warning expired becomes `expired`, one whose
    customer opted out of the channel since it was planned becomes `cancelled`, and one that is due
    becomes `sending`. A row another worker claimed first no longer matches `state = 'queued'` when
    this UPDATE reaches it, so it is left alone.
    """
    if not ids:
        return []
    expired = TABLE.c.expires_at <= now
    opted_out = _OPT_OUT[channel].is_(True)
    settled = or_(expired, opted_out)
    due = now + EARLY_GRACE
    is_due = and_(or_(TABLE.c.not_before.is_(None), TABLE.c.not_before <= due),
                  or_(TABLE.c.retry_at.is_(None), TABLE.c.retry_at <= due))
    rows = session.execute(
        update(TABLE)
        .where(one_of(session, TABLE.c.id, ids), TABLE.c.channel == channel, TABLE.c.state == NotificationState.QUEUED,
               Customer.customer_id == TABLE.c.customer_id, or_(settled, is_due))
        .values(state=case((expired, NotificationState.EXPIRED), (opted_out, NotificationState.CANCELLED), else_=NotificationState.SENDING),
                last_error=case((expired, EXPIRED_BEFORE_SENT), (opted_out, f"the customer opted out of {channel}"),
                                else_=TABLE.c.last_error),
                final_at=case((settled, now), else_=None),
                sending_at=case((settled, TABLE.c.sending_at), else_=now),
                lease_until=case((settled, None), else_=now + timedelta(seconds=lease_s)),
                attempts=case((settled, TABLE.c.attempts), else_=TABLE.c.attempts + 1),
                updated_at=now)
        .returning(TABLE.c.id, TABLE.c.state, TABLE.c.idempotency_key, TABLE.c.customer_id, TABLE.c.kind,
                   TABLE.c.recipient, TABLE.c.body, TABLE.c.language, TABLE.c.alert_id, TABLE.c.chain_id,
                   TABLE.c.expires_at, TABLE.c.attempts, TABLE.c.provider)
    ).all()
    return [Outgoing(notification_id=r.id, idempotency_key=r.idempotency_key, customer_id=r.customer_id,
                     channel=channel, kind=r.kind, recipient=r.recipient, body=r.body, language=r.language,
                     alert_id=r.alert_id, chain_id=r.chain_id, expires_at=r.expires_at, attempt=r.attempts,
                     last_provider=r.provider)
            for r in rows if r.state == NotificationState.SENDING]


def record_outcomes(session: Session, outcomes: Sequence[Outcome], attempts: dict[int, int],
                    now: datetime, rng: random.Random | None = None) -> BatchResult:
    """sending -> sent | delivered | failed | queued (retry), in one statement guarded by state = sending."""
    result = BatchResult(claimed=len(outcomes))
    retry_in = backoff_s(max((attempts.get(o.notification_id, 1) for o in outcomes), default=1), rng)
    changes, unsubscribed = [], []
    for outcome in outcomes:
        verdict = classify(outcome)
        if verdict == "retry" and attempts.get(outcome.notification_id, 1) >= MAX_ATTEMPTS:
            verdict = "failed"
        change = {"id": outcome.notification_id, "state": verdict, "provider": outcome.provider,
                  "provider_message_id": outcome.provider_message_id, "sent_at": None, "final_at": None,
                  "error_code": outcome.error_code, "last_error": _error_text(outcome), "retry_at": None,
                  "queued_at": None, "possible_duplicates": 0}
        if verdict == "accepted":
            change.update(state=NotificationState.SENT, sent_at=outcome.at or now)
            result.accepted += 1
            result.accepted_message_ids.append(outcome.provider_message_id)
        elif verdict == "delivered":
            change.update(sent_at=outcome.at or now, final_at=now)
            result.delivered += 1
        elif verdict == "retry":
            change.update(state=NotificationState.QUEUED, retry_at=now + timedelta(seconds=retry_in), queued_at=now,
                          possible_duplicates=1 if outcome.maybe_handed_over else 0)
            result.retry_ids.append(outcome.notification_id)
        else:
            change.update(final_at=now)
            result.failed += 1
            if outcome.error_code == UNSUBSCRIBED:
                unsubscribed.append(outcome.notification_id)
        changes.append(change)
    _apply_changes(session, changes, now)
    for change in changes:
        if change["state"] == "failed":
            record(session, "notification", change["id"], "send_failed", from_state=NotificationState.SENDING, to_state=NotificationState.FAILED,
                   note=change["last_error"], data={"error_code": change["error_code"]})
    if unsubscribed:
        opt_out_recipients_of(session, unsubscribed, "provider reported the number unsubscribed (21610)")
    result.retry_in_s = retry_in if result.retry_ids else 0.0
    return result


_SET_FROM_OUTCOME = ("state", "provider", "provider_message_id", "sent_at", "final_at", "error_code", "last_error",
                     "retry_at", "queued_at")


def _apply_changes(session: Session, changes: list[dict], now: datetime) -> None:
    """Write each row's outcome, only where the row is still `sending` (PostgreSQL: one UPDATE ... FROM unnest)."""
    if not changes:
        return
    if is_postgresql(session):
        given = unnest_rows(TABLE, changes, ("id", *_SET_FROM_OUTCOME, "possible_duplicates"))
        session.execute(
            update(TABLE).where(TABLE.c.id == given.c.id, TABLE.c.state == NotificationState.SENDING)
            .values({name: given.c[name] for name in _SET_FROM_OUTCOME}
                    | {"possible_duplicates": TABLE.c.possible_duplicates + given.c.possible_duplicates,
                       "updated_at": now}))
        return
    # An executemany; its parameter names must differ from the column names.
    session.execute(
        update(TABLE).where(TABLE.c.id == bindparam("b_id"), TABLE.c.state == NotificationState.SENDING)
        .values({name: bindparam(f"b_{name}") for name in _SET_FROM_OUTCOME}
                | {"possible_duplicates": TABLE.c.possible_duplicates + bindparam("b_possible_duplicates"),
                   "updated_at": now}),
        [{f"b_{name}": value for name, value in change.items()} for change in changes])


def _error_text(outcome: Outcome) -> str | None:
    if outcome.result != "error":
        return None
    known = PERMANENT_TWILIO_ERRORS.get(outcome.error_code or "")
    parts = [f"HTTP {outcome.http_status}" if outcome.http_status else None,
             f"error {outcome.error_code}" if outcome.error_code else None, outcome.error or known]
    return "; ".join(p for p in parts if p)[:2000]


def opt_out_recipients_of(session: Session, notification_ids: Sequence[int], why: str) -> int:
    """Mark the customers behind these SMS notifications as opted out (the provider says they are)."""
    customer_ids = session.execute(
        select(Notification.customer_id).where(one_of(session, Notification.id, notification_ids))
    ).scalars().all()
    changed = 0
    for customer_id in set(customer_ids):
        customer = session.get(Customer, customer_id)
        if customer is not None and not customer.sms_opt_out:
            customer.sms_opt_out = True
            record(session, "customer", customer_id, "sms_opt_out", from_state="in", to_state="out", note=why)
            changed += 1
    return changed


def deliver_batch(notification_ids: Sequence[int], channel: str, settings) -> BatchResult:
    """The send step of one task: claim (DB, closed) -> hand over (network) -> record (DB).
    settings: the config.Settings the worker started with (channels, rate limit, lease)."""
    lease_s = settings.delivery_lease_s
    with session_scope() as session:
        claimed = claim(session, notification_ids, channel, utcnow(), lease_s)
    if not claimed:
        return BatchResult()
    with keeper.holding("batch", [m.notification_id for m in claimed], lease_s):
        outcomes = _hand_over(claimed, channel, settings)
        attempts = {m.notification_id: m.attempt for m in claimed}
        with session_scope() as session:
            return record_outcomes(session, outcomes, attempts, utcnow())


def _hand_over(claimed: list[Outgoing], channel: str, settings) -> list[Outcome]:
    """Never raises: whatever goes wrong becomes an outcome for every message, so none stays `sending`."""
    router = router_for(settings) if channel == "sms" else None
    if router is None or not router.rules.several:
        return _send_through(claimed, lambda: channel_for(channel, settings), channel, settings)
    # Several SMS providers: each message goes to one, by the current split; a retry to another one than
    # its failed attempt's. The choice is written down before the hand-over, so a batch taken back from a
    # dead worker is retried elsewhere too.
    current, rng = router.current(), random.Random()
    groups: dict[str, list[Outgoing]] = {}
    for message in claimed:
        avoid = message.last_provider if message.attempt > 1 else None
        groups.setdefault(choose(current, router.rules, rng, avoid), []).append(message)
    with session_scope() as session:
        for name, messages in groups.items():
            mark_provider(session, [m.notification_id for m in messages], name)
    with ThreadPoolExecutor(len(groups), thread_name_prefix="haven-sms-provider") as pool:
        sends = [pool.submit(_send_through, messages, functools.partial(sms_channel, name, settings), name, settings)
                 for name, messages in groups.items()]
        outcomes = [outcome for send in sends for outcome in send.result()]
    router.record(outcomes)
    return outcomes


def mark_provider(session: Session, ids: Sequence[int], provider: str) -> None:
    """Which provider a claimed batch is being handed to (only rows still `sending`: still this worker's)."""
    session.execute(update(TABLE).where(one_of(session, TABLE.c.id, ids), TABLE.c.state == NotificationState.SENDING)
                    .values(provider=provider))


def _send_through(claimed: list[Outgoing], make_channel: Callable[[], Channel], label: str, settings
                  ) -> list[Outcome]:
    """Hand a batch to one channel; `label` names it in the outcomes when it cannot even be set up."""

    def everyone(error: str, maybe_handed_over: bool) -> list[Outcome]:
        return [Outcome(m.notification_id, "error", label, error=error, transport_error=True,
                        maybe_handed_over=maybe_handed_over) for m in claimed]

    try:
        provider = make_channel()
    except ChannelConfigError as exc:
        log.error("cannot send %s: %s", label, exc)
        return everyone(str(exc), maybe_handed_over=False)
    reserve = None
    if provider.rate_limited:
        reserve = limiter_for(provider.provider, settings.sms_rate_per_s, settings.redis_url,
                              settings.redis_key_prefix).reserve
    try:
        outcomes = provider.send(claimed, reserve)
    except Exception as exc:  # a bug in a channel must not strand the batch in `sending`
        log.exception("channel %s failed on a batch of %d", provider.provider, len(claimed))
        return everyone(f"{type(exc).__name__}: {exc}", maybe_handed_over=True)
    answered = {o.notification_id for o in outcomes}
    missing = [m for m in claimed if m.notification_id not in answered]
    return list(outcomes) + [Outcome(m.notification_id, "error", provider.provider, transport_error=True,
                                     error="the channel gave no outcome", maybe_handed_over=True)
                             for m in missing]


# --- the sweep -----------------------------------------------------------------------------------

@dataclass
class SweepResult:
    expired: int = 0
    released: list[tuple[int, str]] = field(default_factory=list)  # created -> queued (quiet hours over)
    requeued: list[tuple[int, str]] = field(default_factory=list)  # queued, but its task was lost
    recovered: list[tuple[int, str]] = field(default_factory=list)  # sending, lease ran out: the worker died
    receipts_overdue: int = 0  # sent, but no final receipt came: expired

    @property
    def to_enqueue(self) -> list[tuple[int, str]]:
        return self.released + self.requeued + self.recovered


@dataclass(frozen=True)
class SweepTimeouts:
    created_s: float = 30.0  # saved but never queued (the process died between the two)
    lost_task_s: float = 15.0  # queued this long while its queue is empty: its task is gone
    queued_s: float = 600.0  # the broker's visibility timeout: after it a lost task is certain, busy queue or not
    retry_grace_s: float = 15.0  # a retry's delayed task should have run this long after its retry_at
    sending_s: float = 300.0  # a row claimed without a lease (by a worker of an older version)
    receipt_s: float = 12 * 3600.0  # Twilio settles a message within hours


@dataclass(frozen=True)
class BrokerView:
    """What the sweep knows of the broker: whether it lost its queues since the last sweep (restarted
    without persistence, failed over), and which channels' send queues are empty right now."""

    lost_its_queues: bool = False
    idle_channels: frozenset[str] = frozenset()


def sweep(session: Session, now: datetime, timeouts: SweepTimeouts = SweepTimeouts(),
          broker: BrokerView = BrokerView()) -> SweepResult:
    """Re-queue what is stuck, expire what can no longer be sent. Returns the ids to enqueue again."""
    result = SweepResult()
    result.expired = session.execute(
        update(TABLE).where(OPEN, TABLE.c.state.in_(NOT_YET_SENDING), TABLE.c.expires_at <= now)
        .values(state=NotificationState.EXPIRED, final_at=now, updated_at=now, last_error=EXPIRED_BEFORE_SENT)
    ).rowcount
    lease_ran_out = TABLE.c.lease_until < now
    unleased_and_old = TABLE.c.lease_until.is_(None) & (TABLE.c.sending_at < now - timedelta(seconds=timeouts.sending_s))
    recovered = session.execute(
        update(TABLE).where(OPEN, TABLE.c.state == NotificationState.SENDING, or_(lease_ran_out, unleased_and_old))
        .values(state=NotificationState.QUEUED, queued_at=now, retry_at=None, lease_until=None, updated_at=now,
                possible_duplicates=TABLE.c.possible_duplicates + 1,
                last_error="its worker died while handing it over; sent again")
        .returning(TABLE.c.id, TABLE.c.channel)
    ).all()
    for row in recovered:
        record(session, "notification", row.id, "resent_after_lost_outcome", from_state=NotificationState.SENDING,
               to_state=NotificationState.QUEUED, note="the previous hand-over may have reached the provider")
    result.recovered = [(r.id, r.channel) for r in recovered]
    created_cutoff = now - timedelta(seconds=timeouts.created_s)
    result.released = [(r.id, r.channel) for r in session.execute(
        update(TABLE).where(OPEN, TABLE.c.state == NotificationState.CREATED,
                            or_(TABLE.c.not_before <= now,
                                (TABLE.c.not_before.is_(None)) & (TABLE.c.created_at < created_cutoff)))
        .values(state=NotificationState.QUEUED, queued_at=now, updated_at=now)
        .returning(TABLE.c.id, TABLE.c.channel)
    ).all()]
    lost = [TABLE.c.retry_at < now - timedelta(seconds=timeouts.retry_grace_s),
            TABLE.c.retry_at.is_(None) & (TABLE.c.queued_at < now - timedelta(seconds=timeouts.queued_s))]
    if broker.lost_its_queues:
        # Every task, delayed retries included, went with the broker's memory. A retry not due yet keeps
        # its retry_at: the claim passes it over, and the lost-retry rule sends it when it is due.
        lost.append(sql_true())
    elif broker.idle_channels:
        lost.append(TABLE.c.retry_at.is_(None) & TABLE.c.channel.in_(sorted(broker.idle_channels))
                    & (TABLE.c.queued_at < now - timedelta(seconds=timeouts.lost_task_s)))
    result.requeued = [(r.id, r.channel) for r in session.execute(
        update(TABLE).where(OPEN, TABLE.c.state == NotificationState.QUEUED, or_(*lost))
        .values(queued_at=now, retry_at=case((TABLE.c.retry_at > now, TABLE.c.retry_at), else_=None),
                updated_at=now)
        .returning(TABLE.c.id, TABLE.c.channel)
    ).all()]
    result.receipts_overdue = session.execute(
        update(TABLE).where(OPEN, TABLE.c.state == NotificationState.SENT, TABLE.c.sent_at < now - timedelta(seconds=timeouts.receipt_s))
        .values(state=NotificationState.EXPIRED, final_at=now, updated_at=now,
                last_error=f"no delivery receipt within {timeouts.receipt_s / 3600:g} h")
    ).rowcount
    return result


def requeue_still_queued(session: Session, alert_id: int, now: datetime) -> list[tuple[int, str]]:
    """The rows of an alert still queued with no retry pending: a fan-out resumed after its worker died
    queues them again at once, since the dead run may have saved them without queuing their task."""
    return [(r.id, r.channel) for r in session.execute(
        update(TABLE).where(TABLE.c.alert_id == alert_id, OPEN, TABLE.c.state == NotificationState.QUEUED, TABLE.c.retry_at.is_(None))
        .values(queued_at=now, updated_at=now)
        .returning(TABLE.c.id, TABLE.c.channel)
    ).all()]


def cancel_pending(session: Session, ids: Sequence[int], now: datetime, why: str) -> int:
    """created/queued -> cancelled (a Cancel stops what is pending; a newer message supersedes it)."""
    if not ids:
        return 0
    return session.execute(
        update(TABLE).where(one_of(session, TABLE.c.id, ids), TABLE.c.state.in_(NOT_YET_SENDING))
        .values(state=NotificationState.CANCELLED, final_at=now, updated_at=now, last_error=why)
    ).rowcount
