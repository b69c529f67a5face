"""The rules of signing in, as plain functions and classes: no aiohttp, no Celery, no settings reads.

Secrets come from `secrets`; passwords and the short codes are hashed with argon2 (argon2-cffi), the
long random tokens with SHA-256, which is enough for a value with 128 bits of chance in it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

CODE_DIGITS = 6
CODE = re.compile(r"[0-9]{6}")
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,22}")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
PASSWORD_MIN = 10
PASSWORD_MAX = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn our CPU
PHONE_MAX = 32
STAFF_ROLES = ("dispatcher", "adjuster", "supervisor", "manager", "admin")

_HASHER = PasswordHasher()


class Refusal(StrEnum):
    """Why a sign-in was refused; the route turns each into its HTTP answer."""

    THROTTLED = "throttled"
    LOCKED = "locked"
    INVALID_CODE = "invalid_code"
    INVALID_CREDENTIALS = "invalid_credentials"
    WRONG_PASSWORD = "wrong_password"
    WEAK_PASSWORD = "weak_password"
    NOT_STAFF = "not_staff"


class SignInRefused(Exception):
    def __init__(self, reason: Refusal, message: str, field: str | None = None, retry_after_s: int | None = None):
        super().__init__(message)
        self.reason, self.message, self.field, self.retry_after_s = reason, message, field, retry_after_s


@dataclass(frozen=True)
class Limit:
    """At most `count` events of one kind for one subject within `window`."""

    count: int
    window: timedelta

    def exceeded(self, seen: int) -> bool:
        return seen >= self.count


@dataclass(frozen=True)
class IdentityPolicy:
    """Everything the sign-in rules need from the settings, built at the edge (see identity.service)."""

    public_base_url: str = "http://127.0.0.1:8080"
    phone_region: str = "CN"
    code_ttl: timedelta = timedelta(minutes=10)
    code_max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    code_requests_per_phone: Limit = field(default_factory=lambda: Limit(5, timedelta(minutes=15)))
    code_requests_per_address: Limit = field(default_factory=lambda: Limit(30, timedelta(minutes=15)))
    code_verifies_per_address: Limit = field(default_factory=lambda: Limit(30, timedelta(minutes=15)))
    login_failures_per_username: Limit = field(default_factory=lambda: Limit(5, timedelta(minutes=15)))
    login_failures_per_address: Limit = field(default_factory=lambda: Limit(20, timedelta(minutes=15)))
    staff_idle: timedelta = timedelta(hours=8)
    customer_idle: timedelta = timedelta(days=30)
    link_ttl: timedelta = timedelta(hours=72)

    @property
    def secure_cookies(self) -> bool:
        return self.public_base_url.lower().startswith("https://")

    def idle_timeout(self, kind: str) -> timedelta:
        return self.customer_idle if kind == "customer" else self.staff_idle


# --- phones, usernames, passwords -----------------------------------------------------------------

def normalise_phone(raw: str, region: str = "CN") -> str | None:
    """The number in E.164 as the book stores it, or None when it is not a valid phone number."""
    if len(raw) > PHONE_MAX:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def username_problem(username: str) -> str | None:
    if not USERNAME.fullmatch(username):
        return ("a username is 2 to 64 characters: lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit")
    return None


def password_problem(password: str, username: str | None = None) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"a password needs at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"a password has at most {PASSWORD_MAX} characters"
    if username and password.strip().lower() == username.lower():
        return "a password must not be the username"
    return None


def hash_secret(secret: str) -> str:
    """argon2id, for passwords and sign-in codes."""
    return _HASHER.hash(secret)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when there is nothing to verify, so an unknown phone or username costs the same
    time. Made on first use, not at import: every CLI command and worker imports this module, and an
    argon2 hash costs about a second of CPU."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def secret_matches(stored_hash: str | None, secret: str) -> bool:
    """True when the secret matches; with no stored hash it still takes the time of one verification."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


# --- codes, links, sessions ------------------------------------------------------------------------

def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def new_link_token() -> str:
    return secrets.token_urlsafe(16)  # 16 random bytes: 22 characters


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_is_idle(last_seen_at: datetime, now: datetime, idle_timeout: timedelta) -> bool:
    return now - last_seen_at >= idle_timeout


def lock_after_failure(failures: int, policy: IdentityPolicy, now: datetime) -> datetime | None:
    """When a phone with this many wrong codes (counting the one just entered) is locked until, if at all."""
    return now + policy.lockout if failures >= policy.code_max_failures else None


def retry_after_s(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


CODE_TEXTS = {
    "zh-CN": "【Haven】登录验证码{code}，{minutes}分钟内有效。请勿告诉任何人，工作人员不会向您索要。",
    "en": "Haven sign-in code: {code}. It expires in {minutes} minutes. Never share it: our staff never ask for it.",
}


def code_message(code: str, language: str, ttl: timedelta) -> str:
    text = CODE_TEXTS.get(language, CODE_TEXTS["zh-CN"])
    return text.format(code=code, minutes=int(ttl.total_seconds() // 60))


def customer_link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/c/{token}"


PAGE_LANGUAGES = ("zh-CN", "en")


def customer_page_query(lang: str | None, type_: str | None) -> dict[str, str]:
    """The ?lang= and ?type= choices a link may carry on to the customer page; anything else is dropped."""
    kept = {}
    if lang in PAGE_LANGUAGES:
        kept["lang"] = lang
    if type_ == "large":
        kept["type"] = "large"
    return kept
