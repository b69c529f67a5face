"""The customer's own corner of the green channel: the assets they may report a loss on, and complaints.

A complaint is recorded with an answer clock (24 hours by default) and listed for supervisors, open ones
first, the soonest due first. A supervisor or manager answers it once: the move to answered is decided by
the database (customer_dao.mark_answered), and the winner alone saves the SMS that carries the answer to
the customer, queued after the commit (docs/architecture.md, "The pages people use"). Rescue and claims
themselves go through greenchannel.service like everyone else's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from greenchannel import claims, effects
from greenchannel.dao import customer_dao
from greenchannel.errors import Conflict, Forbidden, NotFound
from greenchannel.inputs import QueryWhole, RequiredText, Whole
from greenchannel.messages import language_of
from greenchannel.privacy import CUSTOMER, customer_phones, phone_as_seen_by
from greenchannel.responses import LonLat, View
from greenchannel.service import run_unit
from store import audit
from store.models import Complaint, ComplaintState, Customer, Notification
from store.models.notifications import NotificationState
from store.types import utcnow
from store.users import Principal, names_of

ANSWER_WITHIN = timedelta(hours=24)
COMPLAINT_MAX_CHARS = 1000
ANSWER_MAX_CHARS = 500  # an SMS of at most 10 segments in Chinese, with the link
ANSWERING_ROLES = ("supervisor", "manager")
SMS_KIND = "complaint_answer"
ANSWER_TEXTS = {
    "zh-CN": "【Haven客服】关于您的投诉，我们的答复：{answer} 详情：{link}",
    "en": "Haven: our answer to your complaint: {answer} Details: {link}",
}


class ComplaintRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: RequiredText(COMPLAINT_MAX_CHARS)
    claim_id: Whole(1) | None = Field(None, description="the customer's claim the complaint is about")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answer: RequiredText(ANSWER_MAX_CHARS) = Field(description="the answer, sent to the customer by SMS")


class ComplaintQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    open: bool = Field(True, description="false lists answered complaints too")
    limit: QueryWhole(1, 1000) = 200


class AssetView(View):
    asset_id: str
    kind: str
    address: str | None = None
    location: LonLat


class AssetList(View):
    assets: list[AssetView]


class ComplaintView(View):
    id: int
    claim_id: int | None = None
    text: str
    state: ComplaintState
    created_at: datetime
    answer_due_at: datetime
    answer: str | None = None
    answered_at: datetime | None = None
    overdue: bool


class ComplaintList(View):
    complaints: list[ComplaintView]


class ComplaintClaim(View):
    stage: str
    asset_kind: str | None = None


class StaffComplaintView(ComplaintView):
    customer_id: str
    customer_phone: str | None = Field(None, description="masked for every role but admin")
    claim: ComplaintClaim | None = None
    answered_by: int | None = None
    answered_by_name: str | None = None


class StaffComplaintList(View):
    complaints: list[StaffComplaintView]


class AnsweredComplaint(StaffComplaintView):
    sms_saved: bool = Field(description="false when the customer has no number or has opted out of SMS, or "
                                        "when this was a repeat of an answer already given")


class CustomerSettings(View):
    hotline: str
    upload_limit_bytes: int
    upload_types: list[str]


def _customer(actor: Principal) -> str:
    if actor.role != "customer" or not actor.customer_id:
        raise Forbidden("only a signed-in customer has their own assets and complaints")
    return actor.customer_id


def asset_json(asset) -> dict:
    return {"asset_id": asset.asset_id, "kind": asset.kind, "address": asset.address,
            "location": {"lon": asset.lon, "lat": asset.lat}}


def complaint_json(complaint: Complaint, now: datetime | None = None) -> dict:
    now = now or utcnow()
    return {"id": complaint.id, "customer_id": complaint.customer_id, "claim_id": complaint.claim_id,
            "text": complaint.text, "channel": complaint.channel, "state": complaint.state,
            "created_at": complaint.created_at, "answer_due_at": complaint.answer_due_at,
            "answer": complaint.answer, "answered_at": complaint.answered_at,
            "overdue": complaint.state == ComplaintState.OPEN and complaint.answer_due_at <= now}


def _staff_json(session: Session, actor: Principal, complaints: list[Complaint], now: datetime) -> list[dict]:
    """Each complaint with the customer's phone as this role may see it and the claim named by what was
    insured, for the console."""
    phones = customer_phones(session, {c.customer_id for c in complaints})
    about = customer_dao.claims_with_assets(session, {c.claim_id for c in complaints if c.claim_id is not None})
    names = names_of(session, {c.answered_by for c in complaints if c.answered_by is not None})
    rows = []
    for complaint in complaints:
        claim = about.get(complaint.claim_id)
        rows.append({**complaint_json(complaint, now),
                     "customer_phone": phone_as_seen_by(actor.role, phones.get(complaint.customer_id),
                                                        CUSTOMER),
                     "claim": {"stage": claim[0], "asset_kind": claim[1]} if claim else None,
                     "answered_by": complaint.answered_by, "answered_by_name": names.get(complaint.answered_by)})
    return rows


def customer_assets(actor: Principal) -> dict:
    customer_id = _customer(actor)
    return run_unit(lambda s: {"assets": [asset_json(a) for a in customer_dao.assets_of(s, customer_id)]})


def file_complaint(actor: Principal, ask: ComplaintRequest, now: datetime | None = None) -> dict:
    customer_id = _customer(actor)

    def unit(session):
        moment = now or utcnow()
        if ask.claim_id is not None:
            claims.visible_claim(session, actor, ask.claim_id)  # someone else's claim is "not found"
        complaint = customer_dao.add_complaint(session, Complaint(
            customer_id=customer_id, claim_id=ask.claim_id, text=ask.text, channel="web",
            created_by=actor.user_id, created_at=moment, answer_due_at=moment + ANSWER_WITHIN))
        audit.record(session, "complaint", complaint.id, "filed", actor_id=actor.user_id,
                         actor_role=actor.role, data={"claim_id": ask.claim_id})
        return complaint_json(complaint, moment)

    return run_unit(unit)


def list_complaints(actor: Principal, ask: ComplaintQuery) -> dict:
    now = utcnow()
    return run_unit(lambda s: {"complaints": _staff_json(
        s, actor, customer_dao.complaints(s, open_only=ask.open, limit=ask.limit), now)})


def my_complaints(actor: Principal) -> dict:
    customer_id = _customer(actor)
    return run_unit(lambda s: {"complaints": [complaint_json(c) for c in customer_dao.complaints(
        s, open_only=False, customer_id=customer_id, limit=50)]})


def answer_text(language: str, answer: str, link: str) -> str:
    return ANSWER_TEXTS[language].format(answer=answer, link=link)


def _save_answer_sms(session: Session, complaint: Complaint, now: datetime) -> bool:
    """The answer as one SMS to the customer, saved once (its key is unique) and queued after the commit."""
    from identity.service import issue_customer_link  # identity is its own part; only this call crosses

    customer = session.get(Customer, complaint.customer_id)
    if customer is None or customer.sms_opt_out or not customer.phone:
        return False
    language = language_of(customer)
    notification = Notification(
        idempotency_key=f"{customer.customer_id}:complaint-{complaint.id}:sms:{SMS_KIND}",
        customer_id=customer.customer_id, channel="sms", kind=SMS_KIND, recipient=customer.phone,
        body=answer_text(language, complaint.answer, issue_customer_link(session, customer.customer_id)),
        language=language, state=NotificationState.CREATED, created_at=now)
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:  # only the answer that won saves it; this is the database saying so again
        return False
    effects.after_commit(session, effects.NOTIFICATIONS, [notification.id])
    return True


def answer_complaint(actor: Principal, complaint_id: int, ask: AnswerRequest, now: datetime | None = None) -> dict:
    """Answer once. The same answer again (a double click, a retried request) returns the stored answer and
    sends nothing; a different answer to an answered complaint is a conflict."""
    if actor.role not in ANSWERING_ROLES:
        raise Forbidden("only supervisors and managers answer complaints")

    def unit(session):
        moment = now or utcnow()
        complaint = customer_dao.complaint(session, complaint_id)
        if complaint is None:
            raise NotFound(f"complaint {complaint_id}")
        won = customer_dao.mark_answered(session, complaint_id, ask.answer, actor.user_id, moment)
        session.refresh(complaint)
        if not won and complaint.answer != ask.answer:
            raise Conflict(f"complaint {complaint_id} was already answered at {complaint.answered_at.isoformat()}",
                           code="already_answered")
        sms_saved = won and _save_answer_sms(session, complaint, moment)
        if won:
            audit.record(session, "complaint", complaint.id, "answered", actor_id=actor.user_id,
                         actor_role=actor.role, data={"claim_id": complaint.claim_id, "sms_saved": sms_saved})
        return {**_staff_json(session, actor, [complaint], moment)[0], "sms_saved": sms_saved}

    return run_unit(unit)
