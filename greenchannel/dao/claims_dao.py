"""Claims: listings and the counts /metrics reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from store.models import Asset, AuditEvent, CatEvent, Claim, ClaimDocument, Customer, RescueJob
from store.models.greenchannel import OPEN_STAGES, JobState
from store.users import Principal


def lease_free(now: datetime):
    """Open, not waiting for the customer's documents, and nobody holds a live lease."""
    return and_(Claim.stage.in_(OPEN_STAGES), Claim.awaiting_documents.is_(False),
                or_(Claim.lease_holder_id.is_(None), Claim.lease_expires_at <= now))


def list_claims(session: Session, actor: Principal, *, cat_code: str | None = None, stage: str | None = None,
                limit: int = 100) -> list[Claim]:
    """Newest first; a customer's own only."""
    statement = select(Claim).order_by(Claim.created_at.desc(), Claim.id.desc()).limit(limit)
    if actor.role == "customer":
        statement = statement.where(Claim.customer_id == actor.customer_id)
    if cat_code:
        statement = statement.where(Claim.cat_code == cat_code)
    if stage:
        statement = statement.where(Claim.stage == stage)
    return list(session.scalars(statement))


def filed_with_key(session: Session, customer_id: str, client_ref: str) -> Claim | None:
    """The claim this customer filed with this Idempotency-Key, if any."""
    return session.scalar(select(Claim).where(Claim.customer_id == customer_id, Claim.client_ref == client_ref))


def open_claims_by_track(session: Session) -> dict[bool, int]:
    rows = session.execute(select(Claim.fast_track, func.count()).where(Claim.stage.in_(OPEN_STAGES))
                           .group_by(Claim.fast_track)).all()
    return {bool(track): n for track, n in rows}


def waiting_claims_by_track(session: Session, now: datetime) -> dict[bool, int]:
    rows = session.execute(select(Claim.fast_track, func.count()).where(lease_free(now))
                           .group_by(Claim.fast_track)).all()
    return {bool(track): n for track, n in rows}


def late_claims_by_clock(session: Session, now: datetime) -> dict[str, int]:
    """Open claims past their SLA clock, by clock kind (stage clocks counted together)."""
    rows = session.execute(select(Claim.sla_clock, func.count())
                           .where(Claim.stage.in_(OPEN_STAGES), Claim.sla_due_at < now)
                           .group_by(Claim.sla_clock)).all()
    counts: dict[str, int] = {}
    for clock, n in rows:
        kind = (clock or "none").split(":")[0]
        counts[kind] = counts.get(kind, 0) + n
    return counts


def cat_events_by_status(session: Session) -> dict[str, int]:
    return dict(session.execute(select(CatEvent.status, func.count()).group_by(CatEvent.status)).all())


def owners_of(session: Session, claim_ids: set[int]) -> dict[int, str]:
    if not claim_ids:
        return {}
    return dict(session.execute(select(Claim.id, Claim.customer_id).where(Claim.id.in_(claim_ids))).all())


def history(session: Session, claim_id: int) -> list[AuditEvent]:
    """The claim's audit trail, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.entity == "claim",
                                                         AuditEvent.entity_id == str(claim_id))
                                .order_by(AuditEvent.at, AuditEvent.id)))


def documents_of(session: Session, claim_id: int) -> list[ClaimDocument]:
    return list(session.scalars(select(ClaimDocument).where(ClaimDocument.claim_id == claim_id)
                                .order_by(ClaimDocument.id)))


# The queue's order: claims waiting on the customer last, then priority, the SLA clock due first, the oldest.
QUEUE_ORDER = (Claim.awaiting_documents.asc(), Claim.priority.desc(), Claim.sla_due_at.asc().nulls_last(),
               Claim.created_at.asc(), Claim.id.asc())

# The queue's tabs: claims staff can work now, and claims waiting on the customer's documents.
WORKABLE, WAITING_ON_CUSTOMER = "workable", "waiting_on_customer"
TABS = (WORKABLE, WAITING_ON_CUSTOMER)
PHONE_DIGITS_MIN = 3


def _tab_condition(tab: str | None):
    if tab == WORKABLE:
        return Claim.awaiting_documents.is_(False)
    if tab == WAITING_ON_CUSTOMER:
        return Claim.awaiting_documents.is_(True)
    return None


def search_condition(text: str):
    """A claim by its id, its customer's name or phone, or its asset's id (a plate where the book keeps
    plates as ids) or address. The text is matched literally: % and _ are no wildcards."""
    wanted = text.strip().lower()
    matches = [func.lower(Customer.name).contains(wanted, autoescape=True),
               func.lower(Asset.address).contains(wanted, autoescape=True),
               func.lower(Claim.asset_id).contains(wanted, autoescape=True)]
    digits = "".join(c for c in wanted if c.isdigit())
    if wanted.lstrip("#").isdigit() and len(wanted.lstrip("#")) <= 9:
        matches.append(Claim.id == int(wanted.lstrip("#")))
    if len(digits) >= PHONE_DIGITS_MIN and len(digits) >= len(wanted.replace(" ", "").replace("-", "")) - 1:
        matches.append(Customer.phone.contains(digits, autoescape=True))
    return or_(*matches)


def _queue_statement(now: datetime, *, tab: str | None, search: str | None, fast_track: bool | None,
                     include_leased: bool):
    conditions = [Claim.stage.in_(OPEN_STAGES)]
    if not include_leased:
        conditions.append(lease_free(now))
    if fast_track is not None:
        conditions.append(Claim.fast_track.is_(fast_track))
    if search:
        conditions.append(search_condition(search))
    statement = (select(Claim, Customer, Asset).join(Customer, Customer.customer_id == Claim.customer_id)
                 .outerjoin(Asset, Asset.asset_id == Claim.asset_id).where(*conditions))
    return statement, _tab_condition(tab)


def queue_page(session: Session, now: datetime, *, tab: str | None = None, search: str | None = None,
               fast_track: bool | None = None, include_leased: bool = True, offset: int = 0,
               limit: int = 100) -> tuple[list[tuple[Claim, Customer, Asset | None]], dict[str, int]]:
    """One page of the queue with each claim's customer and asset, and how many claims each tab holds
    under the same search."""
    statement, in_tab = _queue_statement(now, tab=tab, search=search, fast_track=fast_track,
                                         include_leased=include_leased)
    page = statement.where(in_tab) if in_tab is not None else statement
    rows = [tuple(row) for row in session.execute(page.order_by(*QUEUE_ORDER).offset(offset).limit(limit)).all()]
    counted = statement.with_only_columns(Claim.awaiting_documents, func.count()).group_by(Claim.awaiting_documents)
    by_waiting = {bool(waiting): n for waiting, n in session.execute(counted).all()}
    return rows, {WORKABLE: by_waiting.get(False, 0), WAITING_ON_CUSTOMER: by_waiting.get(True, 0)}


def queue_listing(session: Session, now: datetime, *, fast_track: bool | None = None, include_leased: bool = True,
                  limit: int = 100) -> list[Claim]:
    rows, _ = queue_page(session, now, fast_track=fast_track, include_leased=include_leased, limit=limit)
    return [claim for claim, _, _ in rows]


def why_nothing_to_take(session: Session, now: datetime, fast_track_only: bool) -> dict[str, int]:
    """When no claim can be leased: how many open claims wait on the customer, and how many others hold."""
    conditions = [Claim.stage.in_(OPEN_STAGES)] + ([Claim.fast_track.is_(True)] if fast_track_only else [])
    waiting = session.scalar(select(func.count()).where(*conditions, Claim.awaiting_documents.is_(True)))
    held = session.scalar(select(func.count()).where(*conditions, Claim.awaiting_documents.is_(False),
                                                     Claim.lease_holder_id.is_not(None), Claim.lease_expires_at > now))
    return {"open": waiting + held, WAITING_ON_CUSTOMER: waiting, "leased": held}


def last_reminders(session: Session, claim_ids: list[int]) -> dict[int, datetime]:
    """When each claim's customer was last reminded (the audit trail records every reminder)."""
    if not claim_ids:
        return {}
    rows = session.execute(select(AuditEvent.entity_id, func.max(AuditEvent.at))
                           .where(AuditEvent.entity == "claim", AuditEvent.action == "customer_reminded",
                                  AuditEvent.entity_id.in_([str(i) for i in claim_ids]))
                           .group_by(AuditEvent.entity_id)).all()
    return {int(entity_id): at for entity_id, at in rows}


def claims_with_finished_rescue(session: Session, claim_ids: list[int]) -> set[int]:
    if not claim_ids:
        return set()
    return set(session.scalars(select(RescueJob.claim_id).distinct().where(
        RescueJob.claim_id.in_(claim_ids), RescueJob.state == JobState.COMPLETED)))
