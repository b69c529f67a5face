"""Signing in, as units of work: each function opens one transaction, decides, commits, and only then
answers (a refusal that must be remembered, such as a wrong code, is committed before it is raised).

web/routes/auth.py and cli/ call these; they build the IdentityPolicy from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from identity import dao
from identity.rules import (
    CODE,
    LINK_TOKEN,
    STAFF_ROLES,
    IdentityPolicy,
    Limit,
    Refusal,
    SignInRefused,
    code_message,
    customer_link_url,
    hash_secret,
    lock_after_failure,
    needs_rehash,
    new_code,
    new_csrf_token,
    new_link_token,
    new_session_token,
    normalise_phone,
    normalise_username,
    one_time_password,
    password_problem,
    retry_after_s,
    secret_matches,
    session_is_idle,
    token_hash,
    username_problem,
)
from store import audit
from store.db import session_scope
from store.models import (
    ROLES,
    AttemptKind,
    Customer,
    CustomerLink,
    Notification,
    SessionKind,
    SignInCode,
    SignInMethod,
    User,
    WebSession,
)
from store.types import utcnow
from store.users import Principal

TOUCH_EVERY = timedelta(minutes=1)  # a session's last_seen_at is written at most once a minute
SESSION_TOKEN_MAX = 64


class InvalidInput(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's token exists only here, never in the database."""

    token: str
    csrf_token: str
    kind: SessionKind
    principal: Principal
    idle_timeout: timedelta


@dataclass(frozen=True)
class ActiveSession:
    """The session a cookie names, resolved for one request."""

    session_id: int
    csrf_token: str
    kind: SessionKind
    principal: Principal


def policy_from_settings(settings) -> IdentityPolicy:
    window = timedelta(seconds=settings.sign_in_throttle_window_s)
    return IdentityPolicy(
        public_base_url=settings.public_base_url,
        code_ttl=timedelta(seconds=settings.sign_in_code_ttl_s),
        code_max_failures=settings.sign_in_code_max_failures,
        lockout=timedelta(seconds=settings.sign_in_lockout_s),
        code_requests_per_phone=Limit(settings.sign_in_codes_per_phone, window),
        code_requests_per_address=Limit(settings.sign_in_requests_per_address, window),
        code_verifies_per_address=Limit(settings.sign_in_requests_per_address, window),
        login_failures_per_username=Limit(settings.login_failures_per_username, window),
        login_failures_per_address=Limit(settings.login_failures_per_address, window),
        staff_idle=timedelta(hours=settings.staff_session_idle_h),
        customer_idle=timedelta(days=settings.customer_session_idle_days),
        link_ttl=timedelta(hours=settings.customer_link_ttl_h),
    )


def _principal(user: User, *, must_change: bool = False) -> Principal:
    return Principal(user_id=user.id, name=user.name, role=user.role, customer_id=user.customer_id,
                     must_change_password=must_change)


def _address(address: str | None) -> str:
    return (address or "unknown")[:64]


def _throttled(session: Session, kind: AttemptKind, subject: str, limit: Limit, now: datetime,
               field: str | None) -> SignInRefused | None:
    if not limit.exceeded(dao.count_attempts(session, kind, subject, now - limit.window)):
        return None
    return SignInRefused(Refusal.THROTTLED, "too many attempts; wait a few minutes and try again", field,
                         retry_after_s=int(limit.window.total_seconds()))


def _phone(raw: str, policy: IdentityPolicy) -> str:
    phone = normalise_phone(raw, policy.phone_region)
    if phone is None:
        raise InvalidInput("phone is not a valid phone number", "phone")
    return phone


def _open_session(session: Session, user: User, kind: SessionKind, method: SignInMethod, address: str,
                  policy: IdentityPolicy, now: datetime) -> SignedIn:
    token, csrf = new_session_token(), new_csrf_token()
    row = WebSession(token_hash=token_hash(token), user_id=user.id, kind=kind, method=method, csrf_token=csrf,
                     client_address=address, created_at=now, last_seen_at=now)
    session.add(row)
    session.flush()
    audit.record(session, "user", user.id, "sign_in", actor_id=user.id, actor_role=user.role,
                 data={"method": str(method), "address": address, "session_id": row.id})
    return SignedIn(token=token, csrf_token=csrf, kind=kind, idle_timeout=policy.idle_timeout(kind),
                    principal=_principal(user, must_change=user.password_change_required))


def _record_failure(session: Session, subject: str, method: SignInMethod, address: str, reason: str) -> None:
    audit.record(session, "sign_in", subject[:64], "sign_in_failed",
                 data={"method": str(method), "address": address, "reason": reason})


def _customer_user(session: Session, customer: Customer) -> User:
    user = dao.customer_user(session, customer.customer_id)
    if user is None:
        user = User(name=customer.name or f"Customer {customer.customer_id}", role="customer",
                    customer_id=customer.customer_id)
        session.add(user)
        session.flush()
    return user


# --- customers: a code by SMS ----------------------------------------------------------------------

def request_customer_code(policy: IdentityPolicy, raw_phone: str, address: str | None,
                          now: datetime | None = None) -> list[int]:
    """Save a sign-in code SMS when the number is a customer's; returns the notification ids to queue.

    The caller answers the same whether or not a customer has the number, and so does the time taken:
    a code is hashed either way.
    """
    now, address = now or utcnow(), _address(address)
    phone = _phone(raw_phone, policy)
    code = new_code()
    code_hash = hash_secret(code)
    with session_scope() as session:
        refusal = (_throttled(session, AttemptKind.CODE_REQUEST_PHONE, phone, policy.code_requests_per_phone, now,
                              "phone")
                   or _throttled(session, AttemptKind.CODE_REQUEST_ADDRESS, address,
                                 policy.code_requests_per_address, now, None))
        if refusal is None:
            dao.add_attempt(session, AttemptKind.CODE_REQUEST_PHONE, phone, now,
                            now - policy.code_requests_per_phone.window)
            dao.add_attempt(session, AttemptKind.CODE_REQUEST_ADDRESS, address, now,
                            now - policy.code_requests_per_address.window)
            notification_ids = _save_code(session, policy, phone, code, code_hash, now)
    if refusal is not None:
        raise refusal
    return notification_ids


def _save_code(session: Session, policy: IdentityPolicy, phone: str, code: str, code_hash: str,
               now: datetime) -> list[int]:
    customer = dao.customer_for_phone(session, phone)
    # An opted-out number gets no SMS from us (the provider would refuse it too); a signed link still works.
    if customer is None or customer.sms_opt_out:
        return []
    dao.retire_open_codes(session, phone, now)
    row = SignInCode(phone=phone, customer_id=customer.customer_id, code_hash=code_hash, created_at=now,
                     expires_at=now + policy.code_ttl)
    session.add(row)
    session.flush()
    language = "en" if (customer.locale or "").lower().startswith("en") else "zh-CN"
    notification = Notification(
        idempotency_key=f"{customer.customer_id}:sign-in-code-{row.id}:sms:sign_in_code",
        customer_id=customer.customer_id, channel="sms", kind="sign_in_code", recipient=phone,
        body=code_message(code, language, policy.code_ttl), language=language, state="created",
        expires_at=row.expires_at,
    )
    session.add(notification)
    session.flush()
    return [notification.id]


def verify_customer_code(policy: IdentityPolicy, raw_phone: str, code: str, address: str | None,
                         now: datetime | None = None) -> SignedIn:
    now, address = now or utcnow(), _address(address)
    phone = _phone(raw_phone, policy)
    if not CODE.fullmatch(code):
        raise InvalidInput("code is the 6 digits from the SMS", "code")
    with session_scope() as session:
        outcome = _verify_code(session, policy, phone, code, address, now)
    if isinstance(outcome, SignInRefused):
        raise outcome
    return outcome


def _verify_code(session: Session, policy: IdentityPolicy, phone: str, code: str, address: str,
                 now: datetime) -> SignedIn | SignInRefused:
    refusal = _throttled(session, AttemptKind.CODE_VERIFY_ADDRESS, address, policy.code_verifies_per_address,
                         now, None)
    if refusal is not None:
        return refusal
    dao.add_attempt(session, AttemptKind.CODE_VERIFY_ADDRESS, address, now,
                    now - policy.code_verifies_per_address.window)
    lock = dao.phone_lock_for_update(session, phone)
    if lock.locked_until is not None and lock.locked_until > now:
        return SignInRefused(Refusal.LOCKED, "too many wrong codes: this number is locked for a while; "
                             "try again later", "phone", retry_after_s=retry_after_s(lock.locked_until, now))
    if lock.locked_until is not None or (lock.last_failure_at and now - lock.last_failure_at >= policy.lockout):
        lock.failures, lock.locked_until = 0, None  # a lock served, or wrong codes long ago, are forgotten
    row = dao.latest_open_code(session, phone, now)
    if secret_matches(row.code_hash if row else None, code) and dao.use_code(session, row.id, now):
        dao.clear_phone_lock(session, phone)
        customer = session.get(Customer, row.customer_id)
        return _open_session(session, _customer_user(session, customer), SessionKind.CUSTOMER,
                             SignInMethod.CODE, address, policy, now)
    lock.failures += 1
    lock.last_failure_at = now
    lock.locked_until = lock_after_failure(lock.failures, policy, now)
    _record_failure(session, phone, SignInMethod.CODE, address, "wrong or expired code")
    if lock.locked_until is not None:
        dao.retire_open_codes(session, phone, now)
        return SignInRefused(Refusal.INVALID_CODE, "wrong code; too many wrong codes, so this number is now "
                             "locked for a while", "code", retry_after_s=retry_after_s(lock.locked_until, now))
    return SignInRefused(Refusal.INVALID_CODE, "this code is wrong, used or expired; ask for a new one", "code")


# --- customers: signed links -----------------------------------------------------------------------

def issue_customer_link(session: Session, customer_id: str, policy: IdentityPolicy | None = None,
                        now: datetime | None = None) -> str:
    """A new signed link for this customer's SMS, saved in the caller's transaction; returns its URL."""
    if policy is None:  # callers inside other units of work have no policy at hand
        from config import get_settings

        policy = policy_from_settings(get_settings())
    now = now or utcnow()
    token = new_link_token()
    session.add(CustomerLink(token_hash=token_hash(token), customer_id=customer_id, created_at=now,
                             expires_at=now + policy.link_ttl, uses=0))
    session.flush()
    return customer_link_url(policy.public_base_url, token)


def revoke_customer_links(customer_id: str, now: datetime | None = None) -> int:
    """Revoke every link of one customer; returns how many were still valid."""
    with session_scope() as session:
        return dao.revoke_links(session, now or utcnow(), customer_id=customer_id)


def open_customer_link(policy: IdentityPolicy, token: str, address: str | None,
                       now: datetime | None = None) -> SignedIn | None:
    """Sign in the customer a link belongs to; None when the link is unknown, expired or revoked."""
    now, address = now or utcnow(), _address(address)
    if not LINK_TOKEN.fullmatch(token):
        return None
    with session_scope() as session:
        link = dao.link_by_token_hash(session, token_hash(token))
        if link is None or link.revoked_at is not None or link.expires_at <= now:
            reason = "unknown link" if link is None else "revoked link" if link.revoked_at else "expired link"
            _record_failure(session, f"link {link.id}" if link else "link", SignInMethod.LINK, address, reason)
            return None
        link.uses += 1
        link.last_used_at = now
        customer = session.get(Customer, link.customer_id)
        return _open_session(session, _customer_user(session, customer), SessionKind.CUSTOMER,
                             SignInMethod.LINK, address, policy, now)


# --- staff: username and password ------------------------------------------------------------------

def staff_login(policy: IdentityPolicy, raw_username: str, password: str, address: str | None,
                now: datetime | None = None) -> SignedIn:
    now, address = now or utcnow(), _address(address)
    username = normalise_username(raw_username)
    with session_scope() as session:
        outcome = _login(session, policy, username, password, address, now)
    if isinstance(outcome, SignInRefused):
        raise outcome
    return outcome


def _login(session: Session, policy: IdentityPolicy, username: str, password: str, address: str,
           now: datetime) -> SignedIn | SignInRefused:
    refusal = (_throttled(session, AttemptKind.LOGIN_FAILURE_USERNAME, username,
                          policy.login_failures_per_username, now, "username")
               or _throttled(session, AttemptKind.LOGIN_FAILURE_ADDRESS, address,
                             policy.login_failures_per_address, now, None))
    if refusal is not None:
        return refusal
    user = dao.user_by_username(session, username)
    usable = user is not None and user.disabled_at is None and user.role in STAFF_ROLES
    if not secret_matches(user.password_hash if usable else None, password):
        dao.add_attempt(session, AttemptKind.LOGIN_FAILURE_USERNAME, username, now,
                        now - policy.login_failures_per_username.window)
        dao.add_attempt(session, AttemptKind.LOGIN_FAILURE_ADDRESS, address, now,
                        now - policy.login_failures_per_address.window)
        _record_failure(session, username, SignInMethod.PASSWORD, address, "wrong username or password")
        return SignInRefused(Refusal.INVALID_CREDENTIALS, "wrong username or password", "password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    dao.forget_attempts_before(session, AttemptKind.LOGIN_FAILURE_USERNAME, username, now)
    return _open_session(session, user, SessionKind.STAFF, SignInMethod.PASSWORD, address, policy, now)


def change_password(policy: IdentityPolicy, user_id: int, session_id: int | None, current: str, new: str,
                    address: str | None, now: datetime | None = None) -> None:
    """Set a new password (the first sign-in's one-time password must be replaced); other sessions end."""
    now, address = now or utcnow(), _address(address)
    with session_scope() as session:
        outcome = _change_password(session, policy, user_id, session_id, current, new, address, now)
    if outcome is not None:
        raise outcome


def _change_password(session: Session, policy: IdentityPolicy, user_id: int, session_id: int | None,
                     current: str, new: str, address: str, now: datetime) -> SignInRefused | None:
    user = session.get(User, user_id)
    if user is None or user.username is None or user.password_hash is None:
        return SignInRefused(Refusal.NOT_STAFF, "this user signs in without a password", None)
    refusal = _throttled(session, AttemptKind.LOGIN_FAILURE_USERNAME, user.username,
                         policy.login_failures_per_username, now, "current")
    if refusal is not None:
        return refusal
    if not secret_matches(user.password_hash, current):
        dao.add_attempt(session, AttemptKind.LOGIN_FAILURE_USERNAME, user.username, now,
                        now - policy.login_failures_per_username.window)
        _record_failure(session, user.username, SignInMethod.PASSWORD, address, "wrong current password")
        return SignInRefused(Refusal.WRONG_PASSWORD, "the current password is wrong", "current")
    problem = password_problem(new, user.username) or ("the new password must differ from the current one"
                                                       if new == current else None)
    if problem:
        return SignInRefused(Refusal.WEAK_PASSWORD, problem, "new")
    user.password_hash = hash_secret(new)
    user.password_change_required = False
    user.password_changed_at = now
    dao.end_other_sessions(session, user.id, session_id, now)
    audit.record(session, "user", user.id, "password_changed", actor_id=user.id, actor_role=user.role,
                 data={"address": address})
    return None


# --- sessions --------------------------------------------------------------------------------------

def resolve_session(policy: IdentityPolicy, token: str, now: datetime | None = None) -> ActiveSession | None:
    """The live session a cookie's token names; an idle one is ended and gives None."""
    if not token or len(token) > SESSION_TOKEN_MAX:
        return None
    now = now or utcnow()
    with session_scope() as session:
        found = dao.open_session_by_token_hash(session, token_hash(token))
        if found is None:
            return None
        row, user = found
        if session_is_idle(row.last_seen_at, now, policy.idle_timeout(row.kind)):
            dao.end_session(session, row.id, now)
            audit.record(session, "user", user.id, "session_expired", actor_id=user.id, actor_role=user.role,
                         data={"session_id": row.id})
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            dao.touch_session(session, row.id, now)
        return ActiveSession(session_id=row.id, csrf_token=row.csrf_token, kind=SessionKind(row.kind),
                             principal=_principal(user, must_change=user.password_change_required))


def sign_out(active: ActiveSession, address: str | None, now: datetime | None = None) -> None:
    now = now or utcnow()
    with session_scope() as session:
        if dao.end_session(session, active.session_id, now):
            audit.record(session, "user", active.principal.user_id, "sign_out", actor_id=active.principal.user_id,
                         actor_role=active.principal.role,
                         data={"address": _address(address), "session_id": active.session_id})


# --- creating staff users --------------------------------------------------------------------------

def create_staff_user(session: Session, role: str, name: str, raw_username: str,
                      password: str | None = None, raw_phone: str | None = None) -> tuple[User, str | None]:
    """A user who signs in with a username and password. Without a password a one-time password is made,
    returned once, and must be changed at the first sign-in. `raw_phone` is their work number."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", "role")
    if role not in STAFF_ROLES:
        raise InvalidInput("customers sign in with their phone number; create them with --customer-id and "
                           "no --username", "username")
    username = normalise_username(raw_username)
    problem = username_problem(username)
    if problem:
        raise InvalidInput(problem, "username")
    if dao.username_taken(session, username):
        raise InvalidInput(f"username {username!r} is taken", "username")
    phone = None
    if raw_phone is not None:
        phone = normalise_phone(raw_phone)
        if phone is None:
            raise InvalidInput(f"{raw_phone!r} is not a valid phone number", "phone")
    one_time = None
    if password is None:
        one_time = password = one_time_password()
    else:
        problem = password_problem(password, username)
        if problem:
            raise InvalidInput(problem, "password")
    user = User(name=name, role=role, username=username, password_hash=hash_secret(password),
                password_change_required=one_time is not None, phone=phone)
    session.add(user)
    session.flush()
    audit.record(session, "user", user.id, "created", to_state=role, data={"username": username})
    return user, one_time


def give_demo_users_passwords(path: Path) -> list[tuple[str, str, str]]:
    """Give every staff user without a username one, with a password, and list them with the customers'
    phone numbers in `path`: "username password role" per line; a customer's line has the customer id
    and the phone number to ask a code for. Returns the lines written as tuples."""
    lines = []
    with session_scope() as session:
        for user in dao.users_without_username(session):
            if user.role == "customer":
                customer = session.get(Customer, user.customer_id)
                if customer is not None:
                    lines.append((customer.customer_id, customer.phone, "customer"))
                continue
            username = normalise_username(user.name.replace(" ", "."))
            if username_problem(username) or dao.username_taken(session, username):
                username = f"{user.role}.{user.id}"
            password = one_time_password()
            user.username, user.password_hash = username, hash_secret(password)
            session.flush()
            lines.append((username, password, user.role))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{first} {second} {role}\n" for first, second, role in lines))
    path.chmod(0o600)
    return lines
