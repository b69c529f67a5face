"""The customer's own corner of the green channel: the assets they may report a loss on, and complaints.

A complaint is recorded with an answer clock (24 hours by default) and listed for supervisors, the
soonest due first. Rescue and claims themselves go through greenchannel.service like everyone else's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from greenchannel import claims
from greenchannel.dao import customer_dao
from greenchannel.errors import Forbidden
from greenchannel.inputs import QueryWhole, RequiredText, Whole
from greenchannel.responses import LonLat, View
from greenchannel.service import run_unit
from store import audit
from store.models import Complaint
from store.types import utcnow
from store.users import Principal

ANSWER_WITHIN = timedelta(hours=24)
COMPLAINT_MAX_CHARS = 1000


class ComplaintRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: RequiredText(COMPLAINT_MAX_CHARS)
    claim_id: Whole(1) | None = Field(None, description="the customer's claim the complaint is about")


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
    created_at: datetime
    answer_due_at: datetime
    answered_at: datetime | None = None
    overdue: bool


class ComplaintList(View):
    complaints: list[ComplaintView]


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
            "text": complaint.text, "channel": complaint.channel, "created_at": complaint.created_at,
            "answer_due_at": complaint.answer_due_at, "answered_at": complaint.answered_at,
            "overdue": complaint.answered_at is None and complaint.answer_due_at <= now}


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


def list_complaints(ask: ComplaintQuery) -> dict:
    return run_unit(lambda s: {"complaints": [complaint_json(c) for c in
                                              customer_dao.complaints(s, open_only=ask.open, limit=ask.limit)]})
