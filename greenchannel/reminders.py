"""Reminding a customer of the documents their claim still waits for: an SMS with a signed link.

The SMS is a Notification of its own kind (`claim_reminder`) through the same pipeline as every other
message (docs/architecture.md, "A warning, from feed to SMS"): saved in this transaction, queued by id
after the commit. At most one a day per claim, decided by the database: the notification's unique
idempotency key holds the claim and the customer's calendar day, so two adjusters clicking at once
save one row and the other gets a refusal. Every reminder is audited on the claim.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from greenchannel import documents, effects
from greenchannel.dao import claims_dao
from greenchannel.errors import Conflict, Forbidden, NotFound
from greenchannel.messages import language_of
from store import audit
from store.models import Claim, Customer, Notification
from store.models.greenchannel import OPEN_STAGES
from store.types import utcnow
from store.users import Principal

KIND = "claim_reminder"
REMINDING_ROLES = ("adjuster", "supervisor", "manager", "admin")
DEFAULT_ZONE = "Asia/Shanghai"

DOCUMENT_NAMES = {
    "zh-CN": {"photos": "损失照片", "id": "身份证", "bank_account": "银行账户", "driving_license": "驾驶证",
              "vehicle_license": "行驶证", "police_report": "报警回执", "repair_estimate": "维修报价",
              "claim_form": "索赔申请书", "property_proof": "财产证明", "loss_inventory": "损失清单",
              "other": "其他材料"},
    "en": {"photos": "photos of the damage", "id": "ID card", "bank_account": "bank account",
           "driving_license": "driving licence", "vehicle_license": "vehicle licence",
           "police_report": "police report", "repair_estimate": "repair estimate", "claim_form": "claim form",
           "property_proof": "proof of ownership", "loss_inventory": "list of losses", "other": "other documents"},
}
TEXTS = {
    "zh-CN": "【Haven理赔】您的理赔还缺：{missing}。请点击链接查看并上传：{link}",
    "en": "Haven claims: your claim still needs {missing}. Open this link to see it and upload: {link}",
    ("zh-CN", "none"): "【Haven理赔】请点击链接查看您的理赔进度：{link}",
    ("en", "none"): "Haven claims: open this link to see how your claim is going: {link}",
}


def customer_day(customer: Customer, now: datetime) -> str:
    """The customer's calendar day (a reminder a day means their day, not the server's)."""
    try:
        zone = ZoneInfo(customer.time_zone or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(DEFAULT_ZONE)
    return now.astimezone(zone).date().isoformat()


def reminder_key(customer_id: str, claim_id: int, day: str) -> str:
    return f"{customer_id}:claim-{claim_id}:{day}:sms:{KIND}"


def reminder_text(language: str, missing: list[str], link: str) -> str:
    if not missing:
        return TEXTS[(language, "none")].format(link=link)
    separator = "、" if language == "zh-CN" else ", "
    names = separator.join(DOCUMENT_NAMES[language].get(kind, kind) for kind in missing)
    return TEXTS[language].format(missing=names, link=link)


def _issue_link(session: Session, customer_id: str) -> str:
    from identity.service import issue_customer_link  # identity is its own part; only this call crosses

    return issue_customer_link(session, customer_id)


def remind_customer(session: Session, actor: Principal, claim_id: int, note: str | None = None,
                    now: datetime | None = None) -> dict:
    """Save (and queue after the commit) the day's reminder SMS for this claim's customer."""
    now = now or utcnow()
    if actor.role not in REMINDING_ROLES:
        raise Forbidden("only claims staff remind a customer")
    claim = session.get(Claim, claim_id)
    if claim is None:
        raise NotFound(f"claim {claim_id}")
    if claim.stage not in OPEN_STAGES:
        raise Conflict(f"claim {claim.id} is {claim.stage}; there is nothing to remind the customer of",
                       code="claim_closed")
    customer = session.get(Customer, claim.customer_id)
    if customer.sms_opt_out or not customer.phone:
        raise Conflict("this customer has opted out of SMS; call them instead", code="sms_opt_out")
    last = claims_dao.last_reminders(session, [claim.id]).get(claim.id)
    day = customer_day(customer, now)
    if last is not None and customer_day(customer, last) == day:
        raise _already_reminded(last)
    missing = documents.missing_kinds(session, claim)
    language = language_of(customer)
    link = _issue_link(session, customer.customer_id)
    notification = Notification(idempotency_key=reminder_key(customer.customer_id, claim.id, day), customer_id=customer.customer_id, channel="sms", kind=KIND,
                                recipient=customer.phone, body=reminder_text(language, missing, link),
                                language=language, state="created", created_at=now)
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:  # another reminder for this claim and day was saved a moment ago
        raise _already_reminded(now) from None
    audit.record(session, "claim", claim.id, "customer_reminded", actor_id=actor.user_id, actor_role=actor.role,
                 note=note, data={"notification_id": notification.id, "missing": missing, "day": day}).at = now
    effects.after_commit(session, effects.NOTIFICATIONS, [notification.id])
    return {"claim_id": claim.id, "notification_id": notification.id, "reminded_at": now, "missing": missing,
            "language": language}


def _already_reminded(at: datetime) -> Conflict:
    return Conflict(f"the customer was already reminded today (at {at.isoformat()}); one reminder a day",
                    code="already_reminded_today")
