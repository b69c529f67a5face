"""Who is warned, on which channel, with which words and when: the rules as plain functions.

The rules ("Who is warned", "Once per chain", "Quiet hours"):
- only status=Actual, never expired, severity at or above the threshold (CMA colours map to severity);
- per-channel opt-outs; push only to customers with a push token;
- at most one warning per customer, chain and channel; an Update reaches only customers newly inside
  the area or facing a higher severity (an "escalation", at most once per severity level); a Cancel
  sends the all-clear to those already warned and stops anything still pending;
- one message per customer, counting the assets inside by kind;
- quiet hours in the customer's time zone, waived for Extreme: the message waits until `not_before`.
The area (and its optional margin, HAVEN_WARNING_MARGIN_KM) is alerts/matching/spatial.py's business: these
functions get the customers already found inside it. Nothing here touches the database or a queue;
alerts/notifying/fanout.py reads the inputs, calls `plan_warnings` / `plan_all_clear` and saves the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.notifying import texts
from alerts.notifying.links import placeholder_url
from alerts.notifying.texts import AssetCount
from config.settings import DEFAULT_HOTLINE, parse_quiet_hours
from store.models.alerts import AlertStatus, ChainState, MsgType
from store.models.notifications import NOT_YET_SENDING, REACHED, NotificationState

SEVERITY_RANK = {"Minor": 1, "Moderate": 2, "Severe": 3, "Extreme": 4}
# CMA colour warnings: blue IV / yellow III / orange II / red I (GB/T 27962). Checked in this order.
COLOUR_SEVERITY = [
    ("红色", "Extreme"), ("橙色", "Severe"), ("黄色", "Moderate"), ("蓝色", "Minor"),
    ("red", "Extreme"), ("orange", "Severe"), ("amber", "Severe"), ("yellow", "Moderate"), ("blue", "Minor"),
]
CHANNELS = ("sms", "push")
WARNING_KINDS = ("warning", "escalation")
# A Cancel's all-clear goes to those whose warning reached the provider (or is being handed over now).
DEFAULT_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Rules:
    threshold: str = "Moderate"
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    hotline: str = DEFAULT_HOTLINE
    # Where the customers' signed links point, and how long they last; no base URL, no links.
    public_base_url: str | None = None
    link_ttl_h: float = 72.0

    @classmethod
    def from_settings(cls, settings) -> Rules:
        (start_h, start_m), (end_h, end_m) = parse_quiet_hours(settings.quiet_hours)
        return cls(settings.severity_threshold, time(start_h, start_m), time(end_h, end_m), settings.hotline,
                   settings.public_base_url, settings.customer_link_ttl_h)


@dataclass(frozen=True)
class AlertFacts:
    """What the rules need to know about one alert message of a chain."""

    alert_id: int
    chain_id: int
    status: str
    msg_type: str
    expires_at: datetime | None
    infos: tuple[dict, ...] = ()
    chain_state: str = ChainState.ACTIVE
    # The infos of the chain's earlier messages, to name the hazard in an all-clear whose Cancel has none.
    earlier_infos: tuple[dict, ...] = ()
    # A CAT event is open for the area: warning SMS carry the customer's signed link (alerts/notifying/links.py).
    signed_links: bool = False


@dataclass(frozen=True)
class AssetInArea:
    asset_id: str
    kind: str
    address: str | None = None


@dataclass(frozen=True)
class CustomerInArea:
    customer_id: str
    phone: str | None
    locale: str | None = None
    time_zone: str | None = None
    sms_opt_out: bool = False
    push_opt_out: bool = False
    push_token: str | None = None
    assets: tuple[AssetInArea, ...] = ()


@dataclass(frozen=True)
class EarlierMessage:
    """A notification the chain already produced for a customer on a channel."""

    notification_id: int
    customer_id: str
    channel: str
    kind: str
    severity: str | None
    state: str
    asset_count: int | None = None
    vehicle_count: int | None = None


@dataclass(frozen=True)
class PlannedMessage:
    idempotency_key: str
    customer_id: str
    channel: str
    kind: str
    severity: str | None
    language: str
    recipient: str
    body: str
    segments: int
    asset_count: int
    vehicle_count: int
    not_before: datetime | None


@dataclass
class Plan:
    messages: list[PlannedMessage] = field(default_factory=list)
    cancel_ids: list[int] = field(default_factory=list)  # pending notifications to stop
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> customers (or customer-channels)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


def idempotency_key(chain_id: int, customer_id: str, channel: str, kind: str, severity: str | None = None) -> str:
    """(customer, chain, channel, kind): escalations carry their level, so each level goes at most once."""
    step = f"{kind}-{severity}" if kind == "escalation" else kind
    return f"chain:{chain_id}/customer:{customer_id}/{channel}/{step}"


def info_severity(info: Mapping) -> str | None:
    """The CAP severity, or the CMA colour's when the severity is Unknown or missing."""
    severity = info.get("severity")
    if severity in SEVERITY_RANK:
        return severity
    text = " ".join(str(info.get(key) or "") for key in ("event", "headline")).lower()
    for parameter in info.get("parameters") or ():
        if isinstance(parameter, Mapping):
            text += " " + str(parameter.get("value") or "").lower()
    for colour, colour_severity in COLOUR_SEVERITY:
        if colour in text:
            return colour_severity
    return None


def alert_severity(infos: Iterable[Mapping]) -> str | None:
    """The highest severity over the alert's infos (one info per language, usually all the same)."""
    found = [s for s in (info_severity(info) for info in infos) if s]
    return max(found, key=SEVERITY_RANK.__getitem__) if found else None


def why_not_warned(alert: AlertFacts, now: datetime, rules: Rules) -> str | None:
    """The reason this alert warns nobody, or None when it may warn."""
    if alert.status != AlertStatus.ACTUAL:
        return f"status_{alert.status.lower()}"
    if alert.expires_at is not None and alert.expires_at <= now:
        return "expired"
    if alert.msg_type == MsgType.CANCEL:
        return None
    if alert.chain_state != ChainState.ACTIVE:
        return f"chain_{alert.chain_state}"
    severity = alert_severity(alert.infos)
    if severity is None or SEVERITY_RANK[severity] < SEVERITY_RANK[rules.threshold]:
        return "below_threshold"
    return None


@cache
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def quiet_until(now: datetime, time_zone: str | None, rules: Rules, severity: str | None) -> datetime | None:
    """When a message that would go out now may go, if `now` falls in the customer's quiet hours."""
    if severity == "Extreme" or rules.quiet_start == rules.quiet_end:
        return None
    local = now.astimezone(_zone(time_zone))
    clock = local.time().replace(tzinfo=None)
    start, end = rules.quiet_start, rules.quiet_end
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    morning = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    # A wall-clock time in the zone; astimezone resolves DST gaps the way zoneinfo does.
    return morning.astimezone(UTC)


def _channels_for(customer: CustomerInArea) -> dict[str, str | None]:
    """channel -> recipient, or None with the reason it is closed."""
    return {
        "sms": customer.phone if customer.phone and not customer.sms_opt_out else None,
        "push": customer.push_token if customer.push_token and not customer.push_opt_out else None,
    }


def _closed_reason(customer: CustomerInArea, channel: str) -> str:
    if channel == "sms":
        return "sms_opted_out" if customer.sms_opt_out else "no_phone"
    return "push_opted_out" if customer.push_opt_out else "no_push_token"


def _composer(infos: tuple[dict, ...], hotline: str):
    """compose(locale, kind, severity, assets, address) -> Text for one plan. The language, hazard and
    area name depend only on the customer's locale, so they are worked out once per locale, not per customer."""

    @cache
    def wording(locale: str | None) -> tuple[str, str, str | None]:
        language = texts.choose_language(locale, [info.get("language") for info in infos])
        info = texts.pick_info(list(infos), language)
        return language, texts.hazard_of(info), texts.area_name(info, language)

    def compose(locale: str | None, kind: str, severity: str | None, assets: AssetCount,
                address: str | None, link: str | None = None) -> texts.Text:
        language, hazard, area = wording(locale)
        return texts.render(kind, hazard, severity or "Moderate", language, assets, address=address, area=area,
                            hotline=hotline, link=link)

    return compose


def plan_warnings(alert: AlertFacts, customers: Iterable[CustomerInArea], earlier: Iterable[EarlierMessage],
                  now: datetime, rules: Rules) -> Plan:
    """An Alert or Update: warn those inside who were not warned yet, or whose severity rose."""
    plan = Plan()
    customers = list(customers)
    reason = why_not_warned(alert, now, rules)
    if reason:
        plan.skip(reason, len(customers))
        return plan
    severity = alert_severity(alert.infos)
    history = _by_customer_channel(earlier)
    compose = _composer(alert.infos, rules.hotline)
    link = placeholder_url(rules.public_base_url) if alert.signed_links and rules.public_base_url else None
    for customer in customers:
        if not customer.assets:
            continue
        assets = AssetCount.of_kinds(asset.kind for asset in customer.assets)
        address = customer.assets[0].address if len(customer.assets) == 1 else None
        for channel, recipient in _channels_for(customer).items():
            if recipient is None:
                plan.skip(_closed_reason(customer, channel))
                continue
            before = history.get((customer.customer_id, channel), [])
            kind = _kind_for(before, severity)
            if kind is None:
                plan.skip("already_warned")
                continue
            # The kind names the chain's step (and keys it); the words depend on what reached the customer:
            # one whose earlier warning never went out (held, then superseded) is warned, not "upgraded".
            reached = any(m.kind in WARNING_KINDS and m.state in REACHED for m in before)
            text = "escalation" if kind == "escalation" and reached else "warning"
            message = compose(customer.locale, text, severity, assets, address, link if channel == "sms" else None)
            plan.messages.append(PlannedMessage(
                idempotency_key=idempotency_key(alert.chain_id, customer.customer_id, channel, kind, severity),
                customer_id=customer.customer_id, channel=channel, kind=kind, severity=severity,
                language=message.language, recipient=recipient, body=message.body, segments=message.segments,
                asset_count=assets.total, vehicle_count=assets.vehicles,
                not_before=quiet_until(now, customer.time_zone, rules, severity),
            ))
            # A pending message of the same chain would now say something stale: stop it.
            plan.cancel_ids.extend(m.notification_id for m in before if m.state in NOT_YET_SENDING)
    return plan


def _kind_for(before: list[EarlierMessage], severity: str | None) -> str | None:
    """warning the first time; escalation when the severity rose above everything told so far; else None."""
    if not any(m.kind == "warning" for m in before):
        return "warning"
    told = [m for m in before if m.kind in WARNING_KINDS and m.state != NotificationState.CANCELLED]
    highest = max((SEVERITY_RANK.get(m.severity or "", 0) for m in told), default=0)
    if SEVERITY_RANK.get(severity or "", 0) > highest:
        return "escalation"
    return None


def plan_all_clear(alert: AlertFacts, customers: Mapping[str, CustomerInArea], earlier: Iterable[EarlierMessage],
                   now: datetime, rules: Rules) -> Plan:
    """A Cancel: stop what is pending; tell those already warned that the warning is over.

    `customers` holds every customer the chain warned (by id); their assets are not needed, the all-clear
    counts what the last warning counted. An all-clear is never urgent, so it always respects quiet hours.
    """
    plan = Plan()
    reason = why_not_warned(alert, now, rules)
    if reason:
        plan.skip(reason)
        return plan
    infos = alert.infos or alert.earlier_infos
    history = _by_customer_channel(earlier)
    compose = _composer(infos, rules.hotline)
    for (customer_id, channel), before in history.items():
        plan.cancel_ids.extend(m.notification_id for m in before if m.state in NOT_YET_SENDING
                               and m.kind in WARNING_KINDS)
        warned = [m for m in before if m.kind in WARNING_KINDS and m.state in REACHED]
        if not warned:
            continue
        customer = customers.get(customer_id)
        recipient = _channels_for(customer).get(channel) if customer else None
        if customer is None or recipient is None:
            plan.skip("opted_out_since_warning" if customer else "customer_gone")
            continue
        last = warned[-1]  # the all-clear counts what the last warning counted
        assets = AssetCount(last.vehicle_count or 0, (last.asset_count or 0) - (last.vehicle_count or 0))
        severity = max((m.severity for m in warned if m.severity), key=SEVERITY_RANK.__getitem__, default=None)
        message = compose(customer.locale, "all_clear", severity, assets, None)
        plan.messages.append(PlannedMessage(
            idempotency_key=idempotency_key(alert.chain_id, customer_id, channel, "all_clear"),
            customer_id=customer_id, channel=channel, kind="all_clear", severity=severity,
            language=message.language, recipient=recipient, body=message.body, segments=message.segments,
            asset_count=assets.total, vehicle_count=assets.vehicles,
            not_before=quiet_until(now, customer.time_zone, rules, None),
        ))
    return plan


def _by_customer_channel(earlier: Iterable[EarlierMessage]) -> dict[tuple[str, str], list[EarlierMessage]]:
    grouped: dict[tuple[str, str], list[EarlierMessage]] = {}
    for message in earlier:
        grouped.setdefault((message.customer_id, message.channel), []).append(message)
    return grouped
