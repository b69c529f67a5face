"""Customer texts for rescue updates and for answers to warning replies, in the customer's language (zh-CN
default, en).

They travel as Notification rows through the same pipeline as warnings (docs/architecture.md, "A warning,
from feed to SMS"): saved in the transaction that changes the job, queued by id after it commits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from greenchannel import effects
from store.models import Customer, Notification, RescueJob, RescueProvider

TEXTS = {
    ("rescue_assigned", "zh-CN"): "【Haven救援】{provider}已接单，约{eta}分钟到达。请留在安全处，不要涉水。"
                                  "救援单号{job}。",
    ("rescue_assigned", "en"): "Haven rescue: {provider} is on the way, ETA about {eta} min. Stay somewhere safe "
                               "and out of the water. Job {job}.",
    ("rescue_arrived", "zh-CN"): "【Haven救援】{provider}已到达现场。请确认车牌后再交车。救援单号{job}。",
    ("rescue_arrived", "en"): "Haven rescue: {provider} has arrived. Check the plate before you hand over your "
                              "car. Job {job}.",
}
KINDS = ("rescue_assigned", "rescue_arrived")

# Answers to a reply to the warning SMS (greenchannel/sms_replies.py); each carries the customer's signed link.
REPLY_TEXTS = {
    ("reply_claim", "zh-CN"): "【Haven理赔】已收到您的受损回复，理赔已登记{green}。请点击链接上传损失照片：{link}",
    ("reply_claim", "en"): "Haven claims: we have opened a claim from your reply{green}. Add photos of the damage "
                           "here: {link}",
    ("reply_rescue", "zh-CN"): "【Haven救援】已收到您的求援，调度员会回电。请点击链接分享您的位置：{link} 危急请拨110。",
    ("reply_rescue", "en"): "Haven rescue: we have your rescue request and a dispatcher will call you back. Share "
                            "your location here: {link} In danger, call 110.",
}
GREEN_CHANNEL_NOTE = {"zh-CN": "，已进入绿色通道", "en": " in the green channel"}


def language_of(customer: Customer) -> str:
    return "en" if (customer.locale or "").lower().startswith("en") else "zh-CN"


def render(kind: str, language: str, provider: RescueProvider, job: RescueJob) -> str:
    return TEXTS[(kind, language)].format(provider=provider.name, eta=job.eta_minutes or "?", job=job.id)


def notify_customer(session: Session, job: RescueJob, provider: RescueProvider, kind: str,
                    reassigned_offer_id: int | None = None) -> Notification | None:
    """Save the SMS for this job event once. A truck reassigned after an acceptance is news (a new
    truck, a new ETA), so it gets its own key."""
    customer = session.get(Customer, job.customer_id) if job.customer_id else None
    if customer is None or customer.sms_opt_out or not customer.phone:
        return None
    key = f"{customer.customer_id}:rescue-job-{job.id}:sms:{kind}"
    if reassigned_offer_id is not None:
        key = f"{key}:offer-{reassigned_offer_id}"
    existing = session.scalar(select(Notification).where(Notification.idempotency_key == key))
    if existing is not None:
        return existing
    language = language_of(customer)
    notification = Notification(idempotency_key=key, customer_id=customer.customer_id, channel="sms", kind=kind,
                                recipient=customer.phone, body=render(kind, language, provider, job),
                                language=language, state="created")
    session.add(notification)
    session.flush()
    effects.after_commit(session, effects.NOTIFICATIONS, [notification.id])
    return notification


def reply_text(kind: str, language: str, link: str, green_channel: bool = False) -> str:
    green = GREEN_CHANNEL_NOTE[language] if green_channel and kind == "reply_claim" else ""
    return REPLY_TEXTS[(kind, language)].format(link=link, green=green)
