"""Claims: first notice of loss, green-channel eligibility, the six stages, documents.

See docs/architecture.md, "A claim, from report to payment". A claim whose loss
is inside an open CAT event's area and window is tagged with the event's code, joins the
fast-track queue and gets the simplified document checklist. Stages move one step forward at a
time; the only way back is to return documents to the customer (back to `assessed`). Every move
is audited (who, when, from, to, note). Customers see their own claims only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from greenchannel import catevents, documents, privacy, queue
from greenchannel.dao import claims_dao, payments_dao, rescue_dao
from greenchannel.documents import StoredFile
from greenchannel.errors import Conflict, Forbidden, Invalid, Malformed, NotFound
from greenchannel.locking import lock_row
from greenchannel.requests import ClaimChanges, FirstNotice
from store import audit
from store.models import Asset, AuditEvent, Claim, ClaimDocument, Customer, RescueProvider, User
from store.models.greenchannel import (
    OPEN_STAGES,
    PAYMENTS_IN_FLIGHT,
    SIDE_STATES,
    STAGES,
    ClaimStage,
    DocumentStatus,
    JobState,
    PaymentState,
)
from store.money import format_amount
from store.types import utcnow
from store.users import Principal

STAFF_ROLES = ("dispatcher", "adjuster", "supervisor", "manager", "admin")
CLAIMS_ROLES = ("adjuster", "supervisor", "manager", "admin")
CLOCK_SKEW = timedelta(minutes=5)

# Document checklists: a flooded vehicle in the green channel needs photos, ID and a bank account,
# but no police report.
CHECKLISTS = {
    ("vehicle", "flooded", True): ["photos", "id", "bank_account"],
    ("vehicle", "other", True): ["photos", "id", "bank_account", "driving_license"],
    ("vehicle", "flooded", False): ["claim_form", "photos", "id", "driving_license", "vehicle_license",
                                    "bank_account", "police_report", "repair_estimate"],
    ("vehicle", "other", False): ["claim_form", "photos", "id", "driving_license", "vehicle_license",
                                  "bank_account", "police_report", "repair_estimate"],
    ("property", "any", True): ["photos", "id", "bank_account", "loss_inventory"],
    ("property", "any", False): ["claim_form", "photos", "id", "property_proof", "loss_inventory",
                                 "repair_estimate", "bank_account"],
}
DOCUMENT_KINDS = sorted({kind for kinds in CHECKLISTS.values() for kind in kinds} | {"other"})
VEHICLE_FLAGS = ("vehicle_in_water", "in_travel_lane", "cannot_drive", "flood_depth_level")
FLAGS = ("person_trapped", "person_injured", "vehicle_in_water", "in_travel_lane", "cannot_drive")


def is_flooded(claim: Claim) -> bool:
    return bool(claim.vehicle_in_water or claim.flood_depth_level)


def checklist_for(asset_kind: str | None, flooded: bool, fast_track: bool) -> list[str]:
    if asset_kind == "vehicle":
        return list(CHECKLISTS[("vehicle", "flooded" if flooded else "other", fast_track)])
    return list(CHECKLISTS[("property", "any", fast_track)])


def _asset_for(session: Session, actor: Principal, asset_id: str) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None or (actor.role == "customer" and asset.customer_id != actor.customer_id):
        raise Invalid(f"no insured asset {asset_id} on {'your policy' if actor.role == 'customer' else 'file'}",
                      "asset_id", code="unknown_asset")
    return asset


def _check_notice(actor: Principal, asset: Asset, notice: FirstNotice, now: datetime) -> None:
    if notice.loss_at > now + CLOCK_SKEW:
        raise Invalid("loss_at is in the future", "loss_at")
    if asset.kind != "vehicle":
        for name in VEHICLE_FLAGS:
            if getattr(notice, name):
                raise Invalid(f"{name} applies to vehicles; asset {asset.asset_id} is a {asset.kind}", name)
    if notice.estimate is not None and actor.role == "customer":
        raise Forbidden("only claims staff set an estimate", "estimate")


def file_claim(session: Session, actor: Principal, notice: FirstNotice, client_ref: str | None = None,
               now: datetime | None = None) -> tuple[Claim, bool]:
    """File a claim; returns (claim, created). A retried filing with the same client_ref returns the first."""
    now = now or utcnow()
    asset = _asset_for(session, actor, notice.asset_id)
    earlier = claims_dao.filed_with_key(session, asset.customer_id, client_ref) if client_ref is not None else None
    if earlier is not None:
        return earlier, False
    _check_notice(actor, asset, notice, now)
    lon, lat = (notice.lon, notice.lat) if notice.lon is not None else (asset.lon, asset.lat)
    event = catevents.open_event_for(session, lon, lat, notice.loss_at)
    claim = Claim(
        customer_id=asset.customer_id, asset_id=asset.asset_id, asset_kind=asset.kind, client_ref=client_ref,
        cat_event_id=event.id if event else None, cat_code=event.code if event else None,
        fast_track=event is not None, loss_at=notice.loss_at, loss_lon=lon, loss_lat=lat,
        description=notice.description, flood_depth_level=notice.flood_depth_level, estimate=notice.estimate,
        stage=ClaimStage.REPORTED, stage_entered_at=now, created_by=actor.user_id, created_at=now, updated_at=now,
        **{name: getattr(notice, name) for name in FLAGS},
    )
    claim.required_documents = checklist_for(asset.kind, is_flooded(claim), claim.fast_track)
    try:
        with session.begin_nested():
            session.add(claim)
    except IntegrityError:  # the same Idempotency-Key filed a moment ago by a concurrent retry
        if client_ref is None:
            raise
        return claims_dao.filed_with_key(session, asset.customer_id, client_ref), False
    queue.refresh(session, claim, now)
    audit.record(session, "claim", claim.id, "filed", actor_id=actor.user_id, actor_role=actor.role,
                 to_state=ClaimStage.REPORTED, note=claim.cat_code and f"green channel {claim.cat_code}",
                 data={"fast_track": claim.fast_track, "cat_event_id": claim.cat_event_id})
    return claim, True


# --- who sees and changes what ------------------------------------------------------------------

def visible_claim(session: Session, actor: Principal, claim_id: int) -> Claim:
    """The claim if this caller may see it; customers get 'not found' for anyone else's."""
    claim = session.get(Claim, claim_id)
    if claim is None or (actor.role == "customer" and claim.customer_id != actor.customer_id):
        raise NotFound(f"claim {claim_id}")
    return claim


def _locked_visible(session: Session, actor: Principal, claim_id: int) -> Claim:
    visible_claim(session, actor, claim_id)
    return lock_row(session, Claim, claim_id)


def _payments_in_flight(session: Session, claim_id: int) -> list[int]:
    return payments_dao.ids_in_states(session, claim_id, PAYMENTS_IN_FLIGHT)


def check_estimate_covers_payments(session: Session, claim: Claim, estimate: Decimal) -> None:
    """An estimate never drops below what is paid plus what is still on its way (requested, waiting
    for approval, approved). The caller holds the claim's row lock, as payments do."""
    amounts = payments_dao.amounts_by_state(session, claim.id, (PaymentState.PAID, *PAYMENTS_IN_FLIGHT))
    paid = sum((a for state, a in amounts if state == PaymentState.PAID), Decimal("0.00"))
    pending = sum((a for state, a in amounts if state != PaymentState.PAID), Decimal("0.00"))
    if estimate < paid + pending:
        raise Conflict(f"the estimate cannot be {format_amount(estimate)}: {format_amount(paid)} is already paid "
                       f"and {format_amount(pending)} is requested or awaiting payout on this claim, so it must be "
                       f"at least {format_amount(paid + pending)}", "estimate", code="estimate_below_payments")


def missing_documents(session: Session, claim: Claim) -> list[str]:
    return documents.missing_kinds(session, claim)


def _record_move(session: Session, actor: Principal, claim: Claim, to: str, note: str | None,
                 now: datetime, data: dict | None = None) -> None:
    audit.record(session, "claim", claim.id, "transition", actor_id=actor.user_id, actor_role=actor.role,
                 from_state=claim.stage, to_state=to, note=note, data=data)
    claim.stage, claim.stage_entered_at, claim.updated_at = to, now, now
    if actor.role != "customer" and claim.first_contact_at is None:
        claim.first_contact_at = now
    queue.refresh(session, claim, now)


def _check_open(claim: Claim) -> None:
    if claim.stage not in OPEN_STAGES:
        raise Conflict(f"claim {claim.id} is {claim.stage}; it cannot change any more", code="claim_closed")


def _return_documents(session: Session, claim: Claim, kinds: list[str]) -> list[int]:
    live = {d.kind: d for d in documents.live_documents(session, claim.id)}
    unknown = [k for k in kinds if k not in live]
    if unknown:
        raise Invalid(f"no {unknown[0]} document on this claim to return", "return_documents")
    for kind in kinds:
        live[kind].status = DocumentStatus.RETURNED
    return [live[k].id for k in kinds]


def transition(session: Session, actor: Principal, claim_id: int, to: str, note: str | None = None, *,
               estimate: Decimal | None = None, return_documents: list[str] | None = None,
               now: datetime | None = None) -> Claim:
    """Move a claim to the next stage, or back to `assessed` by returning documents, or to a side state."""
    now = now or utcnow()
    if actor.role not in CLAIMS_ROLES:
        raise Forbidden("only claims staff move a claim between stages")
    if to not in STAGES and to not in SIDE_STATES:
        raise Malformed(f"to must be one of {', '.join(STAGES + SIDE_STATES)}", "to")
    claim = _locked_visible(session, actor, claim_id)
    _check_open(claim)
    queue.ensure_may_work(claim, actor, now)
    if to in SIDE_STATES:
        return _close_aside(session, actor, claim, to, note, now)
    current, target = STAGES.index(claim.stage), STAGES.index(to)
    data = None
    if return_documents:
        if not (target < current and to == ClaimStage.ASSESSED):
            raise Conflict("documents are returned by moving the claim back to assessed", code="illegal_transition")
        data = {"returned_document_ids": _return_documents(session, claim, return_documents)}
    elif target < current:
        raise Conflict(f"a claim moves back from {claim.stage} only when documents are returned "
                       "(give return_documents)", code="illegal_transition")
    elif target == current:
        raise Conflict(f"claim {claim.id} is already {to}", code="illegal_transition")
    elif target > current + 1:
        raise Conflict(f"cannot skip from {claim.stage} to {to}; the next stage is {STAGES[current + 1]}",
                       code="illegal_transition")
    if estimate is not None:
        check_estimate_covers_payments(session, claim, estimate)
        data = {**(data or {}), "estimate": str(estimate), "previous_estimate": claim.estimate and str(claim.estimate)}
        claim.estimate = estimate
    _check_stage_entry(session, claim, to)
    _record_move(session, actor, claim, to, note, now, data)
    return claim


def _check_stage_entry(session: Session, claim: Claim, to: str) -> None:
    if to == ClaimStage.ASSESSED and claim.estimate is None:
        raise Invalid("a claim is assessed with an estimate: give estimate", "estimate")
    if to == ClaimStage.DOCUMENTS_REVIEWED:
        missing = missing_documents(session, claim)
        if missing:
            raise Invalid(f"documents still missing: {', '.join(missing)}", "documents", code="documents_missing")
        for document in documents.live_documents(session, claim.id):
            document.status = DocumentStatus.ACCEPTED
    if to == ClaimStage.CLOSED_PAID and _payments_in_flight(session, claim.id):
        raise Conflict("payments are still being decided or paid on this claim", code="payments_in_flight")


def _close_aside(session: Session, actor: Principal, claim: Claim, to: str, note: str | None,
                 now: datetime) -> Claim:
    if to == ClaimStage.REJECTED and actor.role not in CLAIMS_ROLES:
        raise Forbidden("only claims staff reject a claim")
    if to == ClaimStage.REJECTED and not note:
        raise Malformed("a rejection needs a note giving the reason", "note")
    in_flight = _payments_in_flight(session, claim.id)
    paid = payments_dao.ids_in_states(session, claim.id, (PaymentState.PAID,))
    if in_flight or (to == ClaimStage.WITHDRAWN and paid):
        raise Conflict("money is already moving on this claim; ask your adjuster", code="payments_in_flight")
    _record_move(session, actor, claim, to, note, now)
    return claim


def withdraw(session: Session, actor: Principal, claim_id: int, reason: str | None = None,
             now: datetime | None = None) -> Claim:
    """The customer (or staff for them) withdraws the claim."""
    now = now or utcnow()
    claim = _locked_visible(session, actor, claim_id)
    _check_open(claim)
    return _close_aside(session, actor, claim, ClaimStage.WITHDRAWN, reason, now)


def update_details(session: Session, actor: Principal, claim_id: int, changes: ClaimChanges,
                   now: datetime | None = None) -> Claim:
    """Staff correct the flags, flood depth or estimate, or record that no advance is needed."""
    now = now or utcnow()
    if actor.role not in CLAIMS_ROLES:
        raise Forbidden("only claims staff change a claim's details")
    claim = _locked_visible(session, actor, claim_id)
    _check_open(claim)
    queue.ensure_may_work(claim, actor, now)
    updates = {name: getattr(changes, name) for name in (*FLAGS, "flood_depth_level", "estimate")
               if name in changes.model_fields_set}
    if updates.get("estimate") is not None:
        check_estimate_covers_payments(session, claim, updates["estimate"])
    if changes.no_advance and claim.advance_decided_at is None:
        updates["advance_decided_at"] = now
    before = {name: getattr(claim, name) for name in updates}
    for name, value in updates.items():
        setattr(claim, name, value)
    if claim.asset_kind != "vehicle" and any(getattr(claim, n) for n in VEHICLE_FLAGS):
        raise Invalid("vehicle flags apply to vehicle claims only", "flood_depth_level")
    claim.updated_at = now
    if actor.role != "customer" and claim.first_contact_at is None:
        claim.first_contact_at = now
    queue.refresh(session, claim, now)
    audit.record(session, "claim", claim.id, "updated", actor_id=actor.user_id, actor_role=actor.role,
                 note=changes.note,
                 data={"before": {k: str(v) for k, v in before.items()},
                       "after": {k: str(v) for k, v in updates.items()}})
    return claim


def add_document(session: Session, actor: Principal, claim_id: int, kind: str, stored: StoredFile,
                 now: datetime | None = None) -> ClaimDocument:
    now = now or utcnow()
    if kind not in DOCUMENT_KINDS:
        raise Malformed(f"kind must be one of {', '.join(DOCUMENT_KINDS)}", "kind")
    claim = _locked_visible(session, actor, claim_id)
    _check_open(claim)
    document = ClaimDocument(claim_id=claim.id, kind=kind, filename=stored.filename,
                             content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                             storage_path=stored.path, status=DocumentStatus.RECEIVED, uploaded_by=actor.user_id,
                             uploaded_at=now)
    session.add(document)
    session.flush()
    claim.updated_at = now
    queue.refresh(session, claim, now)  # the last missing document puts the claim back in the queue
    audit.record(session, "claim", claim.id, "document_received", actor_id=actor.user_id, actor_role=actor.role,
                 note=kind, data={"document_id": document.id, "sha256": stored.sha256, "size": stored.size})
    return document


def check_may_upload(session: Session, actor: Principal, claim_id: int) -> None:
    """Cheap check before a file is streamed in, so a stranger's upload is refused early."""
    _check_open(visible_claim(session, actor, claim_id))


list_claims = claims_dao.list_claims


def document_json(document: ClaimDocument) -> dict:
    return {"id": document.id, "claim_id": document.claim_id, "kind": document.kind, "status": document.status,
            "filename": document.filename, "content_type": document.content_type, "size": document.size,
            "sha256": document.sha256, "uploaded_at": document.uploaded_at}


# --- what the customer and staff see -------------------------------------------------------------

history = claims_dao.history


def stage_timeline(claim: Claim, events: list[AuditEvent]) -> list[dict]:
    """The six stages, each with when it was (last) reached; stages ahead of the claim have none."""
    reached = {}
    for event in events:
        if event.to_state in STAGES:
            reached[event.to_state] = event.at
    reached.setdefault("reported", claim.created_at)
    last = claim.stage if claim.stage in STAGES else _last_stage(events)
    upto = STAGES.index(last)
    return [{"stage": stage, "reached_at": reached.get(stage) if i <= upto else None,
             "current": stage == claim.stage} for i, stage in enumerate(STAGES)]


def _last_stage(events: list[AuditEvent]) -> str:
    stages = [e.to_state for e in events if e.to_state in STAGES]
    return stages[-1] if stages else "reported"


def _rescue_json(session: Session, claim_id: int) -> dict | None:
    job = rescue_dao.latest_job_for_claim(session, claim_id)
    if job is None:
        return None
    provider = session.get(RescueProvider, job.provider_id) if job.provider_id and job.state != JobState.OFFERED else None
    return {"job_id": job.id, "state": job.state, "eta_minutes": job.eta_minutes,
            "provider": provider.name if provider else None, "arrived_at": job.arrived_at}


def adjuster_contact(session: Session, claim: Claim, events: list[AuditEvent], now: datetime) -> dict | None:
    """Whom the customer's Call button dials: the staff member holding the claim's lease, or else the last
    one who moved its stage; None (the hotline) when there is nobody or they have no work number."""
    if queue.lease_is_live(claim, now):
        handler_id = claim.lease_holder_id
    else:
        handler_id = next((e.actor_id for e in reversed(events) if e.to_state in STAGES and e.actor_id is not None
                           and e.actor_role in CLAIMS_ROLES), None)
    handler = session.get(User, handler_id) if handler_id is not None else None
    if handler is None or handler.disabled_at is not None or not handler.phone:
        return None
    return {"name": handler.name, "phone": handler.phone}


def view(session: Session, actor: Principal, claim: Claim, now: datetime | None = None) -> dict:
    now = now or utcnow()
    events = history(session, claim.id)
    uploaded = claims_dao.documents_of(session, claim.id)
    payments = payments_dao.payments_for(session, claim.id)
    side = next((e for e in reversed(events) if e.to_state in SIDE_STATES), None) \
        if claim.stage in SIDE_STATES else None
    body = {
        "id": claim.id, "stage": claim.stage, "asset_id": claim.asset_id, "loss_at": claim.loss_at,
        "filed_at": claim.created_at, "cat_code": claim.cat_code, "fast_track": claim.fast_track,
        "stages": stage_timeline(claim, events),
        "closed_as": {"state": side.to_state, "at": side.at, "note": side.note} if side else None,
        "documents": {
            "required": claim.required_documents or [],
            "missing": missing_documents(session, claim),
            "uploaded": [{"id": d.id, "kind": d.kind, "status": d.status, "filename": d.filename,
                          "size": d.size, "sha256": d.sha256, "uploaded_at": d.uploaded_at} for d in uploaded],
        },
        "advance_paid": str(sum((p.amount for p in payments if p.state == PaymentState.PAID and p.kind == "advance"),
                                Decimal("0.00"))),
        "payments": [{"id": p.id, "kind": p.kind, "amount": p.amount, "state": p.state, "paid_at": p.paid_at}
                     for p in payments],
        "rescue": _rescue_json(session, claim.id),
        "adjuster": adjuster_contact(session, claim, events, now),
    }
    if actor.role != "customer":
        customer = session.get(Customer, claim.customer_id)
        body.update({
            "customer_id": claim.customer_id, "customer_name": customer.name,
            "customer_phone": privacy.phone_as_seen_by(actor.role, customer.phone, privacy.CUSTOMER),
            "why_first": queue.why_first(claim, customer, rescue_dao.completed_job_exists(session, claim.id), now),
            "location": {"lon": claim.loss_lon, "lat": claim.loss_lat},
            "description": claim.description, "estimate": claim.estimate,
            "flags": {**{name: getattr(claim, name) for name in FLAGS},
                      "flood_depth_level": claim.flood_depth_level},
            "priority": claim.priority, "priority_reasons": claim.priority_reasons or [],
            "sla": queue.sla_json(claim, now), "first_contact_at": claim.first_contact_at,
            "advance_decided_at": claim.advance_decided_at,
            "lease": ({"holder_id": claim.lease_holder_id, "expires_at": claim.lease_expires_at}
                      if queue.lease_is_live(claim, now) else None),
            "history": [{"at": e.at, "action": e.action, "from": e.from_state, "to": e.to_state,
                         "actor_id": e.actor_id, "actor_role": e.actor_role, "note": e.note} for e in events],
        })
    return body


def summary_json(claim: Claim) -> dict:
    return {"id": claim.id, "stage": claim.stage, "customer_id": claim.customer_id, "asset_id": claim.asset_id,
            "cat_code": claim.cat_code, "fast_track": claim.fast_track, "loss_at": claim.loss_at,
            "filed_at": claim.created_at}
