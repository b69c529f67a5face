"""Manual warnings: the rules for a warning a person submits (docs/architecture.md, "Manual warnings").

A person's warning is held with its reach (customers, assets, channels) before anything is sent. At or
below `approval_above` customers the submitter confirms the preview; above it a second staff member
(supervisor, manager or admin: the duty manager of an insurer's operations team) approves. Nobody approves
their own warning. A held warning expires after `wait`, or at its own CAP expiry if that comes first.
Plain functions over typed settings: alerts/manual_service.py reads, decides with these and writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from store.models.alerts import ManualWarningState

APPROVER_ROLES = ("supervisor", "manager", "admin")
SUBMITTER_ROLES = ("dispatcher", "supervisor", "manager", "admin")


@dataclass(frozen=True)
class ManualRules:
    approval_above: int = 1000  # customers
    wait: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings) -> ManualRules:
        return cls(settings.manual_approval_above, timedelta(minutes=settings.manual_approval_wait_min))


@dataclass(frozen=True)
class CustomerCounts:
    """Customers with assets inside the area, counted by what their channels allow (one row of aggregate SQL)."""

    customers: int = 0
    assets: int = 0
    sms: int = 0
    push: int = 0
    no_channel: int = 0
    sms_opted_out: int = 0
    no_phone: int = 0
    push_opted_out: int = 0
    no_push_token: int = 0


@dataclass(frozen=True)
class Reach:
    """Who a warning would reach if it went out now. `customers` counts those inside; `warned` those the
    fan-out would message (none when the warning warns nobody: a Test, below the severity threshold)."""

    customers: int
    assets: int
    warned: int
    sms: int
    push: int
    no_channel: int
    sms_opted_out: int
    no_phone: int
    push_opted_out: int
    no_push_token: int
    assets_by_kind: dict[str, int] = field(default_factory=dict)
    not_warned_because: str | None = None
    area: dict = field(default_factory=dict)  # km2, bbox, descriptions

    def as_dict(self) -> dict:
        return asdict(self)


def reach_of(counts: CustomerCounts, assets_by_kind: dict[str, int], not_warned_because: str | None,
             area: dict) -> Reach:
    """The reach as shown and as the fan-out will send: nothing on any channel when it warns nobody."""
    sends = not_warned_because is None
    warned = counts.customers - counts.no_channel if sends else 0
    return Reach(customers=counts.customers, assets=counts.assets, warned=warned,
                 sms=counts.sms if sends else 0, push=counts.push if sends else 0, no_channel=counts.no_channel,
                 sms_opted_out=counts.sms_opted_out, no_phone=counts.no_phone,
                 push_opted_out=counts.push_opted_out, no_push_token=counts.no_push_token,
                 assets_by_kind=dict(sorted(assets_by_kind.items(), key=lambda kv: -kv[1])),
                 not_warned_because=not_warned_because, area=area)


def first_state(reach: Reach, rules: ManualRules) -> ManualWarningState:
    if reach.warned > rules.approval_above:
        return ManualWarningState.AWAITING_APPROVAL
    return ManualWarningState.AWAITING_CONFIRMATION


def wait_until(now: datetime, cap_expires_at: datetime | None, rules: ManualRules) -> datetime:
    """The setting's wait, cut short by the warning's own expiry. One already past its expiry when
    submitted keeps the full wait: storing it warns nobody (the fan-out never sends an expired warning)."""
    deadline = now + rules.wait
    if cap_expires_at is not None and now < cap_expires_at < deadline:
        return cap_expires_at
    return deadline


class Refused(Exception):
    """A person may not do this to this warning: `code` for the API, `status` its HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def check_confirm(state: str, submitted_by: int, actor_id: int) -> None:
    if actor_id != submitted_by:
        raise Refused(403, "not_submitter", "only the person who submitted a warning confirms its preview")
    if state == ManualWarningState.AWAITING_APPROVAL:
        raise Refused(409, "approval_required", "this warning reaches more customers than one person may "
                                                "send: a second staff member approves it")


def check_approve(submitted_by: int, actor_id: int, actor_role: str) -> None:
    if actor_id == submitted_by:
        raise Refused(409, "own_warning", "you cannot approve a warning you submitted: a second staff member "
                                          "approves it")
    if actor_role not in APPROVER_ROLES:
        raise Refused(403, "forbidden", f"approving a warning needs {', '.join(APPROVER_ROLES)}")


def check_reject(submitted_by: int, actor_id: int, actor_role: str, reason: str) -> None:
    if not reason.strip():
        raise Refused(400, "reason_required", "a rejection needs a reason", field="reason")
    if actor_id != submitted_by and actor_role not in APPROVER_ROLES:
        raise Refused(403, "forbidden", f"rejecting another's warning needs {', '.join(APPROVER_ROLES)}")


def not_waiting(state: str) -> Refused:
    """The refusal when the warning was already decided (released, rejected or expired) by someone else."""
    return Refused(409, f"already_{state}", f"this warning is already {state.replace('_', ' ')}", field="state")


def may_see_all(role: str) -> bool:
    """Approvers see every manual warning; a dispatcher sees their own."""
    return role in APPROVER_ROLES
