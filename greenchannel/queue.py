"""The fast-track queue: priority, SLA clocks, and adjuster leases.

See docs/architecture.md, "A claim, from report to payment". Green-channel claims come first: they skip the ordinary
queue. Within each, the order, recomputed on every change to a claim: a person trapped or injured;
then a vehicle in water or in a travel lane that still needs rescue; then vulnerable customers (60
and over, or flagged); then flood depth L4 and above (presumptive total loss); then the estimated
amount; then time waited against the SLA (the clock due first goes first).

SLA clocks: first contact (30 min in the green channel), then for green-channel claims the
advance decision (24 h from filing), then one clock per stage.

`lease_next` gives the calling adjuster the top claim for QueueRules.claim_lease_s: one UPDATE whose
target is chosen by SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, so two adjusters asking at
once get two different claims and neither waits. On SQLite the same single UPDATE runs under the
database's one writer lock, which gives the same guarantee.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from greenchannel import documents, privacy
from greenchannel.dao import claims_dao, rescue_dao
from greenchannel.dao.claims_dao import QUEUE_ORDER, lease_free
from greenchannel.errors import Conflict, Forbidden, NotFound
from greenchannel.locking import lock_row, lock_rows_skip_locked
from greenchannel.rules import QueueRules
from store import audit
from store.db import is_postgresql
from store.models import Claim, Customer
from store.models.greenchannel import OPEN_STAGES, ClaimStage
from store.types import utcnow
from store.users import Principal

FIRST_CONTACT = {True: timedelta(minutes=30), False: timedelta(hours=4)}
ADVANCE_DECISION = timedelta(hours=24)
STAGE_TIME = {True: timedelta(hours=48), False: timedelta(days=5)}
VULNERABLE_AGE = 60
DEEP_FLOOD_LEVEL = 4
SUPERVISING_ROLES = ("supervisor", "manager", "admin")

# Tiers pack into one float so the database can order by it: tier bits above, the estimate (CNY,
# capped) below. 31 * 1e10 + 1e10 stays far inside a double's exact integer range.
TIER_SCALE = 1e10
_TIERS = (("green", 16), ("life", 8), ("rescue", 4), ("vulnerable", 2), ("deep", 1))


def _age(customer: Customer | None, now: datetime) -> int | None:
    return now.year - customer.birth_year if customer is not None and customer.birth_year else None


def why_first(claim: Claim, customer: Customer | None, rescue_done: bool, now: datetime) -> list[dict]:
    """Why the claim stands where it does, most important first, as facts a page can put in any language."""
    facts: list[dict] = []
    if claim.fast_track:
        facts.append({"code": "green_channel", "cat_code": claim.cat_code})
    if claim.person_trapped:
        facts.append({"code": "person_trapped"})
    if claim.person_injured:
        facts.append({"code": "person_injured"})
    if (claim.vehicle_in_water or claim.in_travel_lane) and not rescue_done:
        facts.append({"code": "vehicle_in_water" if claim.vehicle_in_water else "in_travel_lane"})
    age = _age(customer, now)
    if customer is not None and age is not None and age >= VULNERABLE_AGE:
        facts.append({"code": "customer_aged", "age": age})
    elif customer is not None and customer.vulnerable:
        facts.append({"code": "customer_vulnerable"})
    if (claim.flood_depth_level or 0) >= DEEP_FLOOD_LEVEL:
        facts.append({"code": "deep_flood", "level": claim.flood_depth_level})
    if claim.estimate:
        facts.append({"code": "estimate", "amount": str(claim.estimate)})
    return facts


_TIER_OF = {"green_channel": "green", "person_trapped": "life", "person_injured": "life",
            "vehicle_in_water": "rescue", "in_travel_lane": "rescue", "customer_aged": "vulnerable",
            "customer_vulnerable": "vulnerable", "deep_flood": "deep"}


def _reason_text(facts: list[dict]) -> list[str]:
    """The stored English reasons (the audit trail and API clients read these)."""
    codes = {fact["code"] for fact in facts}
    texts = []
    for fact in facts:
        code = fact["code"]
        if code == "green_channel":
            texts.append(f"green channel {fact['cat_code']}")
        elif code == "person_trapped" or (code == "person_injured" and "person_trapped" not in codes):
            texts.append(" and ".join(w for w, c in (("person trapped", "person_trapped"),
                                                     ("person injured", "person_injured")) if c in codes))
        elif code == "vehicle_in_water":
            texts.append("vehicle in water, needs rescue")
        elif code == "in_travel_lane":
            texts.append("vehicle in a travel lane, needs rescue")
        elif code == "customer_aged":
            texts.append(f"customer aged {fact['age']}")
        elif code == "customer_vulnerable":
            texts.append("customer flagged vulnerable")
        elif code == "deep_flood":
            texts.append(f"flood depth L{fact['level']} (presumptive total loss)")
        elif code == "estimate":
            texts.append(f"estimate {Decimal(fact['amount']):,.2f} CNY")
    return texts


def priority_of(claim: Claim, customer: Customer | None, rescue_done: bool,
                now: datetime) -> tuple[float, list[str]]:
    """The claim's queue priority and the reasons for it, most important first."""
    facts = why_first(claim, customer, rescue_done, now)
    tiers = {_TIER_OF[fact["code"]] for fact in facts if fact["code"] in _TIER_OF}
    estimate = float(claim.estimate or 0)
    major = sum(bit for name, bit in _TIERS if name in tiers)
    return major * TIER_SCALE + min(estimate, TIER_SCALE - 1), _reason_text(facts)


def sla_clock_of(claim: Claim) -> tuple[str | None, datetime | None]:
    """Which clock runs now and when it is due (None for a closed claim)."""
    if claim.stage not in OPEN_STAGES:
        return None, None
    if claim.first_contact_at is None:
        return "first_contact", claim.created_at + FIRST_CONTACT[claim.fast_track]
    if claim.fast_track and claim.advance_decided_at is None and claim.stage != ClaimStage.ADJUDICATED:
        return "advance_decision", claim.created_at + ADVANCE_DECISION
    return f"stage:{claim.stage}", (claim.stage_entered_at or claim.created_at) + STAGE_TIME[claim.fast_track]


def refresh(session: Session, claim: Claim, now: datetime | None = None) -> None:
    """Recompute priority, reasons and SLA clock after any change to the claim."""
    now = now or utcnow()
    rescue_done = rescue_dao.completed_job_exists(session, claim.id)
    claim.priority, claim.priority_reasons = priority_of(claim, session.get(Customer, claim.customer_id),
                                                         rescue_done, now)
    clock, due = sla_clock_of(claim)
    if clock != claim.sla_clock:
        claim.sla_breached_at = None  # a new clock starts unbreached; the old breach stays in the audit
    claim.sla_clock, claim.sla_due_at = clock, due
    claim.awaiting_documents = claim.stage == ClaimStage.ASSESSED and bool(documents.missing_kinds(session, claim))
    if claim.stage not in OPEN_STAGES:
        claim.lease_holder_id = claim.lease_expires_at = None




def lease_next(session: Session, actor: Principal, rules: QueueRules, now: datetime | None = None,
               fast_track_only: bool = False) -> Claim | None:
    """Lease the top free claim to the caller; None when the queue is empty."""
    now = now or utcnow()
    conditions = [lease_free(now)] + ([Claim.fast_track.is_(True)] if fast_track_only else [])
    pick = select(Claim.id).where(*conditions).order_by(*QUEUE_ORDER).limit(1)
    if is_postgresql(session):
        pick = pick.with_for_update(skip_locked=True)
    expires = now + timedelta(seconds=rules.claim_lease_s)
    leased_id = session.execute(
        update(Claim)
        .where(Claim.id == pick.scalar_subquery(), *conditions)
        .values(lease_holder_id=actor.user_id, lease_expires_at=expires,
                first_contact_at=func.coalesce(Claim.first_contact_at, now))
        .returning(Claim.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if leased_id is None:
        return None
    claim = session.scalars(select(Claim).where(Claim.id == leased_id)
                            .execution_options(populate_existing=True)).one()
    refresh(session, claim, now)
    audit.record(session, "claim", claim.id, "leased", actor_id=actor.user_id, actor_role=actor.role,
                 note=f"until {expires.isoformat()}", data={"priority_reasons": claim.priority_reasons})
    return claim


def lease_claim(session: Session, actor: Principal, claim_id: int, rules: QueueRules,
                now: datetime | None = None) -> Claim:
    """Lease one chosen claim (found by a search) to the caller: one conditional UPDATE, so two adjusters
    choosing it at once get it once."""
    now = now or utcnow()
    expires = now + timedelta(seconds=rules.claim_lease_s)
    leased_id = session.execute(
        update(Claim).where(Claim.id == claim_id, lease_free(now))
        .values(lease_holder_id=actor.user_id, lease_expires_at=expires,
                first_contact_at=func.coalesce(Claim.first_contact_at, now))
        .returning(Claim.id).execution_options(synchronize_session=False)).scalar_one_or_none()
    if leased_id is None:
        claim = session.get(Claim, claim_id)
        if claim is None:
            raise NotFound(f"claim {claim_id}")
        if claim.stage not in OPEN_STAGES:
            raise Conflict(f"claim {claim_id} is {claim.stage}", code="claim_closed")
        if claim.awaiting_documents:
            raise Conflict(f"claim {claim_id} waits for the customer's documents", code="waiting_on_customer")
        raise Conflict(f"claim {claim_id} is leased to someone else", code="leased")
    claim = session.scalars(select(Claim).where(Claim.id == leased_id)
                            .execution_options(populate_existing=True)).one()
    refresh(session, claim, now)
    audit.record(session, "claim", claim.id, "leased", actor_id=actor.user_id, actor_role=actor.role,
                 note=f"until {expires.isoformat()}", data={"chosen": True})
    return claim


def lease_is_live(claim: Claim, now: datetime) -> bool:
    return claim.lease_holder_id is not None and claim.lease_expires_at is not None \
        and claim.lease_expires_at > now


def ensure_may_work(claim: Claim, actor: Principal, now: datetime) -> None:
    """Staff may change a claim only when nobody else holds a live lease on it."""
    if lease_is_live(claim, now) and claim.lease_holder_id != actor.user_id:
        raise Conflict(f"claim {claim.id} is leased to user {claim.lease_holder_id} until "
                       f"{claim.lease_expires_at.isoformat()}", code="leased")


def release(session: Session, actor: Principal, claim_id: int, now: datetime | None = None) -> Claim:
    """Give a leased claim back to the queue (its holder, or a supervisor for anyone's lease)."""
    now = now or utcnow()
    claim = lock_row(session, Claim, claim_id)
    if claim is None:
        raise NotFound(f"claim {claim_id}")
    if not lease_is_live(claim, now):
        raise Conflict(f"claim {claim_id} is not leased", code="not_leased")
    if claim.lease_holder_id != actor.user_id and actor.role not in SUPERVISING_ROLES:
        raise Forbidden(f"claim {claim_id} is leased to another adjuster; only a supervisor may release it")
    holder = claim.lease_holder_id
    claim.lease_holder_id = claim.lease_expires_at = None
    refresh(session, claim, now)
    audit.record(session, "claim", claim.id, "released", actor_id=actor.user_id, actor_role=actor.role,
                 data={"holder_id": holder})
    return claim


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Return claims whose lease ran out to the queue (they are already leasable; this records it)."""
    now = now or utcnow()
    expired = lock_rows_skip_locked(session, Claim, [Claim.lease_holder_id.is_not(None),
                                                     Claim.lease_expires_at <= now])
    for claim in expired:
        audit.record(session, "claim", claim.id, "lease_expired", data={"holder_id": claim.lease_holder_id})
        claim.lease_holder_id = claim.lease_expires_at = None
        refresh(session, claim, now)
    return len(expired)


def flag_breaches(session: Session, now: datetime | None = None) -> int:
    """Mark open claims whose SLA clock ran out, once per clock, with an audit entry."""
    now = now or utcnow()
    late = lock_rows_skip_locked(session, Claim, [Claim.stage.in_(OPEN_STAGES), Claim.sla_due_at < now,
                                                  Claim.sla_breached_at.is_(None)])
    for claim in late:
        claim.sla_breached_at = now
        audit.record(session, "claim", claim.id, "sla_breached", note=claim.sla_clock,
                     data={"due_at": claim.sla_due_at.isoformat()})
    return len(late)


def listing(session: Session, now: datetime | None = None, *, fast_track: bool | None = None,
            include_leased: bool = True, limit: int = 100) -> list[Claim]:
    return claims_dao.queue_listing(session, now or utcnow(), fast_track=fast_track, include_leased=include_leased,
                                    limit=limit)


def page_view(session: Session, actor: Principal, now: datetime, *, tab: str | None = None,
              search: str | None = None, fast_track: bool | None = None, include_leased: bool = True,
              page: int = 1, limit: int = 100) -> dict:
    """One page of the queue (a tab, a search) with the counts of both tabs; each entry says who it waits
    on, why it stands where it does, and whom it is about (the phone as this user may see it)."""
    rows, counts = claims_dao.queue_page(session, now, tab=tab, search=search, fast_track=fast_track,
                                         include_leased=include_leased, offset=(page - 1) * limit, limit=limit)
    ids = [claim.id for claim, _, _ in rows]
    reminded = claims_dao.last_reminders(session, ids)
    rescued = claims_dao.claims_with_finished_rescue(session, ids)
    entries = []
    for claim, customer, asset in rows:
        body = entry_json(claim, now)
        body.update({
            "why_first": why_first(claim, customer, claim.id in rescued, now),
            "customer_name": customer.name,
            "customer_phone": privacy.phone_as_seen_by(actor.role, customer.phone, privacy.CUSTOMER),
            "asset": {"id": claim.asset_id, "kind": claim.asset_kind,
                      "address": asset.address if asset is not None else None},
            "missing_documents": documents.missing_kinds(session, claim) if claim.awaiting_documents else [],
            "last_reminded_at": reminded.get(claim.id),
        })
        entries.append(body)
    total = counts[tab] if tab in counts else sum(counts.values())
    return {"queue": entries, "tab": tab, "page": page, "limit": limit, "total": total, "counts": counts}


def sla_json(claim: Claim, now: datetime) -> dict:
    return {"clock": claim.sla_clock, "due_at": claim.sla_due_at,
            "breached": claim.sla_due_at is not None and claim.sla_due_at < now,
            "flagged_at": claim.sla_breached_at}


def entry_json(claim: Claim, now: datetime) -> dict:
    waiting_on_customer = bool(claim.awaiting_documents)
    return {
        "claim_id": claim.id, "customer_id": claim.customer_id, "stage": claim.stage,
        "fast_track": claim.fast_track, "cat_code": claim.cat_code, "priority": claim.priority,
        "reasons": claim.priority_reasons or [], "sla": sla_json(claim, now),
        "lease": ({"holder_id": claim.lease_holder_id, "expires_at": claim.lease_expires_at}
                  if lease_is_live(claim, now) else None),
        "waiting_for": "documents" if waiting_on_customer else None,
        "waiting_on": "customer" if waiting_on_customer else None, "filed_at": claim.created_at,
    }
