"""What a reply to a warning SMS opens, in the unit of work that records the reply.

The inbound message is stored first, under the provider's unique message id: only the post that stored it
acts, so Twilio posting the same reply twice (even at once) opens one claim and one rescue job. Then the
reply is read (alerts/notifying/replies.py) against the latest warning handed to that number in 72 hours:

- 1 (damaged): a claim at stage reported, intake channel `sms_reply`, tied to the warning chain, on the
  customer's asset inside the area (vehicles first; the others are named in its description), filed through
  claims.file_claim so eligibility and the fast track apply. The customer gets an SMS with a signed link to
  add photos.
- 2 (safe): the warning notification's reply state becomes "safe".
- 9 (rescue): the same claim (the vehicle cannot be driven), and a rescue job for it; dispatchers see it with
  the number to call back. The customer gets an SMS with a signed link to share their location.
- anything else: one short help reply per warning chain.

A second "1" or "9" to the same chain finds the same claim (its client_ref is the chain) and the same live job.
(docs/architecture.md, "A warning, from feed to SMS")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.notifying import receipts, replies
from alerts.notifying.replies import Reply
from greenchannel import claims, effects, messages, rescue
from greenchannel.errors import GreenChannelError
from greenchannel.requests import FirstNotice, JobRequest
from greenchannel.rules import RescueRules
from store.models import Claim, Customer, InboundMessage, Notification
from store.types import utcnow
from store.users import Principal

INTAKE_CHANNEL = "sms_reply"


def answer_inbound(session: Session, params: Mapping[str, str], rescue_rules: RescueRules, hotline: str,
                   now: datetime | None = None) -> dict:
    """Record an inbound SMS (STOP/START apply as before) and act on it when it replies to a warning."""
    now = now or utcnow()
    inbound, first = receipts.record_inbound(session, params)
    if first and inbound.action == "none":
        _act_on_reply(session, inbound, rescue_rules, hotline, now)
    return {"inbound_message_id": inbound.id, "first_post": first, "action": inbound.action,
            "reply": inbound.reply, "claim_id": inbound.claim_id, "rescue_job_id": inbound.rescue_job_id}


def _act_on_reply(session: Session, inbound: InboundMessage, rescue_rules: RescueRules, hotline: str,
                  now: datetime) -> None:
    warned = replies.warning_answered(session, inbound.from_number, now)
    if warned is None:
        inbound.reply = Reply.NOT_WARNED
        return
    customer = session.get(Customer, warned.customer_id)
    reply = replies.read_reply(inbound.body)
    inbound.reply, inbound.notification_id = reply, warned.notification_id
    if reply == Reply.HELP:
        _save_sms(session, customer, replies.help_key(customer.customer_id, warned.chain_id), "reply_help",
                  replies.help_text(warned.language, hotline).body, warned.language, now)
        return
    replies.mark_reply(session, warned.notification_id, reply, now)
    if reply == Reply.SAFE:
        return
    try:
        with session.begin_nested():
            claim = _claim_from_reply(session, customer, warned, reply, now)
            job = None
            if claim is not None and reply == Reply.RESCUE:
                job, _ = rescue.create_job(session, _as_customer(customer), JobRequest(
                    claim_id=claim.id, note="Rescue asked by SMS reply 9 to a warning; call the customer back."),
                    rescue_rules, now)
    except GreenChannelError:  # e.g. the reply claim of this chain was withdrawn or closed since
        claim = None
    if claim is None:  # nothing to open (no insured asset, or the claim is closed): the help text has the hotline
        _save_sms(session, customer, replies.help_key(customer.customer_id, warned.chain_id), "reply_help",
                  replies.help_text(warned.language, hotline).body, warned.language, now)
        return
    inbound.claim_id = claim.id
    language = messages.language_of(customer)
    if job is not None:
        inbound.rescue_job_id = job.id
        key, kind = f"{customer.customer_id}:rescue-job-{job.id}:sms:reply_rescue", "reply_rescue"
    else:
        key, kind = f"{customer.customer_id}:claim-{claim.id}:sms:reply_claim", "reply_claim"
    if _saved(session, key):
        return
    link = _issue_link(session, customer.customer_id)
    _save_sms(session, customer, key, kind, messages.reply_text(kind, language, link, claim.fast_track),
              language, now)


def _as_customer(customer: Customer) -> Principal:
    """The customer, acting by SMS: no session, no user row needed."""
    return Principal(user_id=None, name=customer.name or customer.customer_id, role="customer",
                     customer_id=customer.customer_id)


def _claim_from_reply(session: Session, customer: Customer, warned: replies.WarningAnswered, reply: Reply,
                      now: datetime) -> Claim | None:
    assets = replies.assets_inside(session, warned.alert_id, customer.customer_id)
    if not assets:
        return None
    asset = assets[0]
    others = ", ".join(a.asset_id for a in assets[1:])
    description = (f"Reported by SMS reply {'9 (rescue)' if reply == Reply.RESCUE else '1 (damaged)'} to a warning."
                   + (f" Also insured inside the warned area: {others}." if others else ""))
    notice = FirstNotice(asset_id=asset.asset_id, loss_at=now, description=description,
                         cannot_drive=reply == Reply.RESCUE and asset.kind == "vehicle")
    claim, created = claims.file_claim(session, _as_customer(customer), notice,
                                       client_ref=f"sms-reply/chain-{warned.chain_id}", now=now)
    if created:
        claim.intake_channel, claim.warning_chain_id = INTAKE_CHANNEL, warned.chain_id
    return claim


def _issue_link(session: Session, customer_id: str) -> str:
    from identity.service import issue_customer_link  # identity is its own part; only this call crosses

    return issue_customer_link(session, customer_id)


def _saved(session: Session, key: str) -> bool:
    return session.scalar(select(Notification.id).where(Notification.idempotency_key == key)) is not None


def _save_sms(session: Session, customer: Customer, key: str, kind: str, body: str, language: str,
              now: datetime) -> None:
    """Saved once per key in this transaction, queued by id after the commit."""
    if customer.sms_opt_out or not customer.phone or _saved(session, key):
        return
    notification = Notification(idempotency_key=key, customer_id=customer.customer_id, channel="sms", kind=kind,
                                recipient=customer.phone, body=body, language=language, state="created",
                                created_at=now)
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:  # another reply of this customer saved it a moment ago
        return
    effects.after_commit(session, effects.NOTIFICATIONS, [notification.id])
