"""Advance payments: caps, authority, approvals, exactly-once payout.

Amounts are Decimal throughout (docs/architecture.md).
- Advances on a claim total at most PaymentRules.advance_ratio of its current estimate, and all payments
  (advances and settlement) never more than the estimate. Rejected and failed payments do not count.
- Authority: adjuster up to 10,000 CNY, supervisor up to 100,000, manager above, counted per claim
  and requester: a requester's payments on one claim that no higher level approved (approved on
  their own authority, or still waiting) add up, so splitting an amount into small requests does
  not get around the limit. A request that keeps that sum within the requester's authority is
  approved at once; anything above waits for a user whose authority covers the sum (the next level
  up, or higher). The claim row is locked first, so parallel requests are counted one after the
  other. Nobody approves or rejects their own request. Admins administer the system and have no
  payment authority.
- (claim, Idempotency-Key) is unique in the database: a retry, a double click or two concurrent
  requests with the same key give one payment. Every decision locks the claim row, then the
  payment row, so an approval racing a rejection leaves exactly one of them applied.
- States: requested -> pending_approval -> approved -> paid, or rejected, or failed.
- Money leaves through a PaymentGateway; the embedded default stores the payout instruction in an
  outbox table, once per payment.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from greenchannel import documents, effects, queue
from greenchannel.dao import payments_dao
from greenchannel.errors import Conflict, Forbidden, Invalid, Malformed, NotFound
from greenchannel.locking import lock_row
from greenchannel.rules import PaymentRules
from store import audit
from store.models import Claim, Payment, PaymentInstruction
from store.models.greenchannel import (
    COUNTED_PAYMENT_STATES,
    OPEN_STAGES,
    ClaimStage,
    PaymentKind,
    PaymentState,
)
from store.money import format_amount
from store.types import utcnow
from store.users import Principal

LEVELS = ("adjuster", "supervisor", "manager")
AUTHORITY = {"adjuster": Decimal("10000.00"), "supervisor": Decimal("100000.00"), "manager": None}
COUNTED_STATES = COUNTED_PAYMENT_STATES
KINDS = tuple(PaymentKind)
CENT = Decimal("0.01")


def required_role(amount: Decimal) -> str:
    """The lowest role whose authority covers the amount."""
    return next(role for role in LEVELS if AUTHORITY[role] is None or amount <= AUTHORITY[role])


def covers(role: str, amount: Decimal) -> bool:
    return role in LEVELS and LEVELS.index(role) >= LEVELS.index(required_role(amount))


def own_undecided_total(session: Session, claim_id: int, requester_id: int) -> Decimal:
    """What this requester has asked for on this claim that no higher level has approved: payments
    approved on their own authority (no decider) and payments still waiting. Sums in Python, as below."""
    return sum(payments_dao.undecided_amounts(session, claim_id, requester_id, COUNTED_STATES), Decimal("0.00"))


def advance_cap(estimate: Decimal, rules: PaymentRules) -> Decimal:
    return (estimate * rules.advance_ratio).quantize(CENT, rounding=ROUND_DOWN)


def _counted(session: Session, claim_id: int, exclude_id: int | None = None) -> list[Payment]:
    return [p for p in payments_dao.in_states(session, claim_id, COUNTED_STATES) if p.id != exclude_id]


def check_caps(session: Session, claim: Claim, amount: Decimal, kind: str, rules: PaymentRules,
               exclude_id: int | None = None) -> None:
    """Raise if paying `amount` more would break the advance ratio or the estimate (sums in Python:
    SQLite keeps money as text, and SUM would turn it into a float)."""
    if claim.estimate is None:
        raise Invalid("the claim has no estimate yet; assess it first", "amount", code="no_estimate")
    others = _counted(session, claim.id, exclude_id)
    total = sum((p.amount for p in others), Decimal("0.00"))
    if total + amount > claim.estimate:
        raise Invalid(f"payments would total {format_amount(total + amount)}, above the estimate of {format_amount(claim.estimate)}",
                      "amount", code="above_estimate")
    if kind == PaymentKind.ADVANCE:
        advances = sum((p.amount for p in others if p.kind == PaymentKind.ADVANCE), Decimal("0.00"))
        cap = advance_cap(claim.estimate, rules)
        if advances + amount > cap:
            raise Invalid(f"advances would total {format_amount(advances + amount)}, above {format_amount(cap)} "
                          f"({rules.advance_ratio:.0%} of the estimate {format_amount(claim.estimate)})",
                          "amount", code="above_advance_ratio")


def _check_claim_accepts(claim: Claim, kind: str) -> None:
    if claim.stage not in OPEN_STAGES:
        raise Conflict(f"claim {claim.id} is {claim.stage}; no more payments", code="claim_closed")
    if kind == PaymentKind.SETTLEMENT and claim.stage != ClaimStage.ADJUDICATED:
        raise Conflict("a settlement is paid once the claim is adjudicated", code="not_adjudicated")


def _record(session: Session, payment: Payment, action: str, actor: Principal | None, from_state: str | None,
            note: str | None = None) -> None:
    audit.record(session, "payment", payment.id, action, actor_id=actor and actor.user_id,
                 actor_role=actor and actor.role, from_state=from_state, to_state=payment.state, note=note,
                 data={"claim_id": payment.claim_id, "amount": str(payment.amount), "kind": payment.kind})


def _advance_decided(session: Session, claim: Claim, payment: Payment, now: datetime) -> None:
    if payment.kind == PaymentKind.ADVANCE and claim.advance_decided_at is None:
        claim.advance_decided_at = now
        queue.refresh(session, claim, now)


def _approve(session: Session, claim: Claim, payment: Payment, actor: Principal, action: str,
             now: datetime, note: str | None) -> None:
    previous = payment.state
    payment.state, payment.updated_at = PaymentState.APPROVED, now
    if action == "approved":
        payment.decided_by, payment.decided_at = actor.user_id, now
    _record(session, payment, action, actor, previous, note)
    _advance_decided(session, claim, payment, now)
    effects.after_commit(session, effects.PAYOUTS, [payment.id])


def _replayed(session: Session, claim_id: int, key: str, amount: Decimal, kind: str) -> Payment | None:
    """The payment this key asked for before, if the same request comes again; a different one is refused."""
    earlier = payments_dao.with_key(session, claim_id, key)
    if earlier is not None and (earlier.amount != amount or earlier.kind != kind):
        raise Conflict(f"Idempotency-Key {key!r} was used for a different request "
                       f"({earlier.kind} of {format_amount(earlier.amount)})", "Idempotency-Key",
                       code="idempotency_key_reused")
    return earlier


def request_payment(session: Session, actor: Principal, claim_id: int, amount: Decimal, idempotency_key: str,
                    rules: PaymentRules, kind: str = PaymentKind.ADVANCE, reason: str | None = None,
                    now: datetime | None = None) -> tuple[Payment, bool]:
    """Request a payment; returns (payment, created). The same key again returns the same payment."""
    now = now or utcnow()
    if kind not in KINDS:
        raise Malformed(f"kind must be one of {', '.join(KINDS)}", "kind")
    if actor.role not in LEVELS:
        raise Forbidden(f"role {actor.role!r} has no payment authority")
    claim = lock_row(session, Claim, claim_id)
    if claim is None:
        raise NotFound(f"claim {claim_id}")
    earlier = _replayed(session, claim_id, idempotency_key, amount, kind)
    if earlier is not None:
        return earlier, False
    _check_claim_accepts(claim, kind)
    check_caps(session, claim, amount, kind, rules)
    own_total = own_undecided_total(session, claim_id, actor.user_id) + amount
    within = covers(actor.role, own_total)  # when not, the role required is above the requester's
    payment = Payment(claim_id=claim_id, idempotency_key=idempotency_key, amount=amount, kind=str(kind),
                      state=PaymentState.REQUESTED, required_role=required_role(own_total), requested_by=actor.user_id,
                      requester_role=actor.role, reason=reason, created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(payment)
    except IntegrityError:  # belt and braces: the claim lock already serialises same-key requests
        return payments_dao.with_key(session, claim_id, idempotency_key), False
    _record(session, payment, "requested", actor, None, reason)
    if within:
        _approve(session, claim, payment, actor, "authorised", now, "within the requester's authority")
    else:
        payment.state = PaymentState.PENDING_APPROVAL
        _record(session, payment, "pending_approval", actor, "requested",
                f"needs a {payment.required_role}: {format_amount(own_total)} requested by this {actor.role} "
                f"on this claim is above their authority")
    return payment, True


def _locked_pending(session: Session, actor: Principal, payment_id: int) -> tuple[Claim, Payment]:
    found = session.get(Payment, payment_id)
    if found is None:
        raise NotFound(f"payment {payment_id}")
    claim = lock_row(session, Claim, found.claim_id)  # claim first, then payment: one lock order everywhere
    payment = lock_row(session, Payment, payment_id)
    if payment.requested_by == actor.user_id:
        raise Forbidden("nobody approves or rejects their own payment request", code="own_request")
    if actor.role not in LEVELS or LEVELS.index(actor.role) < LEVELS.index(payment.required_role):
        raise Forbidden(f"this payment of {format_amount(payment.amount)} needs a {payment.required_role} or above",
                        code="above_authority")
    if payment.state != PaymentState.PENDING_APPROVAL:
        raise Conflict(f"payment {payment_id} is {payment.state}, not pending approval", code="already_decided")
    return claim, payment


IDENTITY_DOCUMENTS = ("id", "bank_account")


def identity_check(session: Session, claim: Claim) -> dict[str, bool]:
    """Whether the documents that say who is paid, and where to, are on the claim (returned ones do not count)."""
    have = {document.kind for document in documents.live_documents(session, claim.id)}
    return {kind: kind in have for kind in IDENTITY_DOCUMENTS}


def approve(session: Session, actor: Principal, payment_id: int, rules: PaymentRules, note: str | None = None,
            now: datetime | None = None, override_reason: str | None = None) -> Payment:
    """Approve a waiting payment. Money does not go to a payee nobody identified: with the ID card or the
    bank account document missing, the approver must say why it may go anyway, and that is audited."""
    now = now or utcnow()
    claim, payment = _locked_pending(session, actor, payment_id)
    _check_claim_accepts(claim, payment.kind)
    check_caps(session, claim, payment.amount, payment.kind, rules, exclude_id=payment.id)  # the estimate may have moved
    missing = [kind for kind, present in identity_check(session, claim).items() if not present]
    if missing and not override_reason:
        raise Conflict(f"documents missing: {', '.join(missing)}; approve with override_reason to pay anyway",
                       "override_reason", code="documents_missing")
    _approve(session, claim, payment, actor, "approved", now, note)
    if missing:
        audit.record(session, "payment", payment.id, "identity_override", actor_id=actor.user_id,
                     actor_role=actor.role, to_state=payment.state, note=override_reason,
                     data={"claim_id": claim.id, "missing": missing, "amount": str(payment.amount)})
    return payment


def reject(session: Session, actor: Principal, payment_id: int, reason: str | None = None,
           now: datetime | None = None) -> Payment:
    """Reject a waiting payment; the requester is owed a reason."""
    now = now or utcnow()
    claim, payment = _locked_pending(session, actor, payment_id)
    if not reason:
        raise Malformed("a rejection needs a reason", "reason")
    payment.state, payment.decided_by, payment.decided_at, payment.updated_at = \
        PaymentState.REJECTED, actor.user_id, now, now
    _record(session, payment, "rejected", actor, "pending_approval", reason)
    _advance_decided(session, claim, payment, now)
    return payment


payments_for = payments_dao.payments_for


def to_json(payment: Payment) -> dict:
    return {
        "id": payment.id, "claim_id": payment.claim_id, "kind": payment.kind, "amount": payment.amount,
        "state": payment.state, "required_role": payment.required_role, "requested_by": payment.requested_by,
        "requester_role": payment.requester_role, "decided_by": payment.decided_by,
        "decided_at": payment.decided_at, "reason": payment.reason, "gateway_ref": payment.gateway_ref,
        "failure": payment.failure, "paid_at": payment.paid_at, "created_at": payment.created_at,
        "idempotency_key": payment.idempotency_key,
    }


CUSTOMER_FIELDS = ("id", "claim_id", "kind", "amount", "state", "created_at", "decided_at", "paid_at")


def customer_json(payment: Payment) -> dict:
    """What the customer sees of a payment: amount, state and dates. Who asked, who decided, why,
    and the client's keys are the staff's business."""
    return {name: value for name, value in to_json(payment).items() if name in CUSTOMER_FIELDS}


def view_for(actor: Principal, payment: Payment) -> dict:
    return customer_json(payment) if actor.role == "customer" else to_json(payment)


# --- payout through the gateway ------------------------------------------------------------------

@dataclass(frozen=True)
class Payout:
    payment_id: int
    claim_id: int
    customer_id: str
    amount: Decimal
    reference: str  # also the gateway's idempotency key: a resend never pays twice


class GatewayDeclined(Exception):
    """A permanent refusal (closed account, invalid payee): the payment fails, no retry."""


class GatewayUnavailable(Exception):
    """A transient failure: retry later; the reference keeps it to one payout."""


class PaymentGateway(Protocol):
    name: str

    def submit(self, payout: Payout) -> str:
        """Hand over the payout; return the gateway's reference. Same reference again -> same result."""


SessionFactory = Callable[[], AbstractContextManager[Session]]


class OutboxGateway:
    """The embedded default: the payout instruction is stored for finance, once per payment."""

    name = "outbox"

    def __init__(self, session_factory: SessionFactory):
        self.session_factory = session_factory

    def submit(self, payout: Payout) -> str:
        with self.session_factory() as session:
            stored = payments_dao.instruction_for(session, payout.payment_id)
            if stored is None:
                stored = PaymentInstruction(payment_id=payout.payment_id, customer_id=payout.customer_id,
                                            amount=payout.amount, reference=payout.reference)
                try:
                    with session.begin_nested():
                        session.add(stored)
                except IntegrityError:
                    stored = payments_dao.instruction_for(session, payout.payment_id)
            return f"outbox-{stored.id}"


def payout_for(session: Session, payment_id: int) -> Payout | None:
    """The payout to send, or None when the payment is not (or no longer) approved."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.state != PaymentState.APPROVED:
        return None
    claim = session.get(Claim, payment.claim_id)
    return Payout(payment.id, claim.id, claim.customer_id, payment.amount, f"haven-payment-{payment.id}")


def record_payout(session: Session, payment_id: int, *, gateway_ref: str | None = None,
                  failure: str | None = None, now: datetime | None = None) -> Payment | None:
    now = now or utcnow()
    payment = session.get(Payment, payment_id)
    if payment is None:
        return None
    lock_row(session, Claim, payment.claim_id)
    payment = lock_row(session, Payment, payment_id)
    if payment.state != PaymentState.APPROVED:
        return payment  # another worker recorded it first
    if failure is None:
        payment.state, payment.gateway_ref, payment.paid_at = PaymentState.PAID, gateway_ref, now
    else:
        payment.state, payment.failure = PaymentState.FAILED, failure[:2000]
    payment.updated_at = now
    _record(session, payment, payment.state, None, PaymentState.APPROVED, gateway_ref or failure)
    return payment


def pay_out(payment_id: int, gateway: PaymentGateway, session_factory: SessionFactory) -> str | None:
    """Send an approved payment through the gateway and record the outcome. The database session is
    closed during the gateway call. GatewayUnavailable propagates so the caller can retry."""
    with session_factory() as session:
        payout = payout_for(session, payment_id)
    if payout is None:
        return None
    try:
        reference = gateway.submit(payout)
    except GatewayDeclined as exc:
        with session_factory() as session:
            record_payout(session, payment_id, failure=f"{gateway.name}: {exc}")
        return None
    with session_factory() as session:
        record_payout(session, payment_id, gateway_ref=reference)
    return reference
