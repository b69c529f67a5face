"""All tables. Each module owns one part of the domain; Alembic reads Base.metadata."""

from store.models.alerts import Alert, AlertChain, AlertReference, Feed, QuarantinedMessage
from store.models.audit import ROLES, ApiKey, AuditEvent, User
from store.models.base import Base
from store.models.book import Asset, Customer
from store.models.complaints import Complaint, ComplaintState
from store.models.greenchannel import (
    CatEvent,
    CatEventChain,
    Claim,
    ClaimDocument,
    Payment,
    PaymentInstruction,
    RescueJob,
    RescueOffer,
    RescueProvider,
)
from store.models.identity import (
    AttemptKind,
    AuthAttempt,
    CustomerLink,
    PhoneLock,
    SessionKind,
    SignInCode,
    SignInMethod,
    WebSession,
)
from store.models.notifications import (
    FINAL_STATES,
    NOTIFICATION_STATES,
    FanOutLease,
    InboundMessage,
    Notification,
    Receipt,
)

__all__ = [
    "ROLES", "FINAL_STATES", "NOTIFICATION_STATES",
    "Alert", "AlertChain", "AlertReference", "ApiKey", "Asset", "AuditEvent", "Base", "CatEvent", "CatEventChain",
    "Claim", "ClaimDocument", "Complaint", "ComplaintState", "Customer", "FanOutLease", "Feed", "InboundMessage", "Notification", "Payment", "PaymentInstruction", "QuarantinedMessage",
    "Receipt", "RescueJob", "RescueOffer", "RescueProvider", "User",
    "AttemptKind", "AuthAttempt", "CustomerLink", "PhoneLock", "SessionKind", "SignInCode", "SignInMethod",
    "WebSession",
]
