"""Replies to the warning SMS: which warning a reply answers, what it says, and the reply state it leaves.

Every warning and escalation ends with a menu ("Reply 1 damaged, 2 safe, 9 rescue"). An inbound SMS from a
number that was handed a warning in the last 72 hours is read by its first digit: 1 damaged, 2 safe,
9 rescue; anything else gets one short help reply per warning chain. A number that was never warned, or
not within 72 hours, gets nothing: a help text about a menu it never saw would only puzzle, and an SMS
sent to whoever writes to us would be ours to pay for. The claim and the rescue job a reply opens are the
green channel's (greenchannel/sms_replies.py); this module knows nothing of them.
(docs/architecture.md, "A warning, from feed to SMS")
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerts.matching.spatial import geometry_of
from alerts.notifying import texts
from alerts.notifying.targeting import WARNING_KINDS
from geo.index import AssetIndex
from store.models import Alert, Asset, InboundMessage, Notification
from store.models.notifications import REACHED

REPLY_WINDOW = timedelta(hours=72)
# People write "回复1", "Reply 1" or "1." as often as "1": the word before the digit is not the answer.
_LEADING_WORDS = re.compile(r"^\s*(回复|回|reply|r)?[\s:：.,，。-]*", re.IGNORECASE)


class Reply(StrEnum):
    DAMAGED = "damaged"
    SAFE = "safe"
    RESCUE = "rescue"
    HELP = "help"  # not on the menu: one short help reply
    NOT_WARNED = "not_warned"  # no warning to this number in the window: nothing changes


COUNTED = (Reply.DAMAGED, Reply.SAFE, Reply.RESCUE)
_BY_DIGIT = {"1": Reply.DAMAGED, "2": Reply.SAFE, "9": Reply.RESCUE}


def read_reply(body: str | None) -> Reply:
    """The answer a reply gives by its first digit; full-width digits count ("１" is 1)."""
    text = _LEADING_WORDS.sub("", unicodedata.normalize("NFKC", body or ""), count=1)
    return _BY_DIGIT.get(text[:1], Reply.HELP)


@dataclass(frozen=True)
class WarningAnswered:
    notification_id: int
    customer_id: str
    chain_id: int | None
    alert_id: int | None
    language: str


def warning_answered(session: Session, number: str, now: datetime) -> WarningAnswered | None:
    """The latest warning or escalation SMS handed over to this number within the reply window."""
    row = session.execute(
        select(Notification.id, Notification.customer_id, Notification.chain_id, Notification.alert_id,
               Notification.language)
        .where(Notification.recipient == number, Notification.channel == "sms",
               Notification.kind.in_(WARNING_KINDS), Notification.state.in_(REACHED),
               Notification.sent_at >= now - REPLY_WINDOW)
        .order_by(Notification.sent_at.desc(), Notification.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return WarningAnswered(row[0], row[1], row[2], row[3], texts.choose_language(row[4]))


def mark_reply(session: Session, notification_id: int, reply: Reply, now: datetime) -> None:
    """The notification's reply state is the customer's latest answer."""
    session.execute(update(Notification).where(Notification.id == notification_id)
                    .values(reply=str(reply), replied_at=now).execution_options(synchronize_session=False))


def assets_inside(session: Session, alert_id: int | None, customer_id: str) -> list[Asset]:
    """The customer's insured assets inside the warned area (boundary included, as matching counts them),
    vehicles first; all of them when the area cannot be read any more."""
    assets = list(session.execute(select(Asset).where(Asset.customer_id == customer_id)
                                  .order_by(Asset.asset_id)).scalars())
    alert = session.get(Alert, alert_id) if alert_id is not None else None
    if alert is not None and assets:
        index = AssetIndex.from_arrays([a.asset_id for a in assets], [a.lon for a in assets], [a.lat for a in assets])
        inside = {str(asset_id) for asset_id in index.query(geometry_of(alert))}
        assets = [a for a in assets if a.asset_id in inside] or assets
    return sorted(assets, key=lambda a: (a.kind != "vehicle", a.asset_id))


def help_text(language: str, hotline: str) -> texts.Text:
    return texts.reply_help(language, hotline)


def help_key(customer_id: str, chain_id: int | None) -> str:
    """One help reply per customer and warning chain: a phone that answers automatically cannot start a
    conversation of help texts with us."""
    return f"chain:{chain_id}/customer:{customer_id}/sms/reply_help"


def reply_counts(session: Session, alert_id: int) -> dict[str, int]:
    """How many of an alert's warnings were answered damaged, safe and rescue (each warning once per answer)."""
    counts = dict(session.execute(
        select(InboundMessage.reply, func.count(func.distinct(InboundMessage.notification_id)))
        .join(Notification, Notification.id == InboundMessage.notification_id)
        .where(Notification.alert_id == alert_id, InboundMessage.reply.in_([str(r) for r in COUNTED]))
        .group_by(InboundMessage.reply)).all())
    return {str(reply): int(counts.get(str(reply), 0)) for reply in COUNTED}
