"""Routes: signing in. Customers by a code sent to their phone or a signed link; staff by username and
password. A sign-in sets an HttpOnly, SameSite=Lax session cookie; every cookie-authenticated write then
carries X-CSRF-Token, whose value GET /v1/me returns. Bearer API keys (machine clients) are unchanged.

The rules and the transactions are in identity/; this module parses, calls, and sets cookies.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, Field

from config import get_settings
from identity import service
from identity.rules import IdentityPolicy, Refusal, SignInRefused, customer_page_query
from store.db import session_scope
from store.users import Principal, principal_for_key
from web.common import PRINCIPAL, in_thread, json_response, public, requires
from web.errors import ApiError, bad_request, error_response
from web.openapi import query_parameter, refuses
from web.typed import body, responds

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

SESSION_COOKIE = "haven_session"
LEGACY_KEY_COOKIE = "api_key"  # the console's API-key cookie (SameSite=Strict), kept while pages move over
ACTIVE_SESSION = web.RequestKey("active_session", service.ActiveSession)
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# What a user who must replace a one-time password may still reach.
PASSWORD_CHANGE_PATHS = frozenset({"/v1/auth/password", "/v1/auth/logout", "/v1/me"})
STAFF = ("dispatcher", "adjuster", "supervisor", "manager")
ACCEPTED = {"status": "accepted",
            "message": "If this number belongs to a customer, a sign-in code is on its way by SMS."}

_REFUSALS = {
    Refusal.THROTTLED: (429, "throttled"),
    Refusal.LOCKED: (429, "locked"),
    Refusal.INVALID_CODE: (401, "invalid_code"),
    Refusal.INVALID_CREDENTIALS: (401, "invalid_credentials"),
    Refusal.WRONG_PASSWORD: (400, "wrong_password"),
    Refusal.WEAK_PASSWORD: (400, "weak_password"),
    Refusal.NOT_STAFF: (403, "forbidden"),
}


class CodeRequest(BaseModel):
    phone: str = Field(min_length=1, max_length=32)


class CodeVerification(BaseModel):
    phone: str = Field(min_length=1, max_length=32)
    code: str = Field(min_length=1, max_length=16)


class StaffLogin(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


class LinkRevocation(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)


class SignedInView(BaseModel):
    """Who is signed in, and the X-CSRF-Token their cookie-authenticated writes carry."""

    id: int
    name: str
    role: str
    customer_id: str | None
    csrf_token: str | None
    password_change_required: bool


class CodeAccepted(BaseModel):
    status: str
    message: str


class LinksRevoked(BaseModel):
    customer_id: str
    revoked: int


class PasswordChanged(BaseModel):
    password_changed: bool


def _policy() -> IdentityPolicy:
    return service.policy_from_settings(get_settings())


def _refused(refusal: SignInRefused) -> web.Response:
    status, code = _REFUSALS[refusal.reason]
    response = error_response(status, code, refusal.message, refusal.field)
    if refusal.retry_after_s:
        response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


def _invalid(exc: service.InvalidInput) -> ApiError:
    return bad_request(exc.message, field=exc.field)


def _me(principal: Principal, csrf_token: str | None) -> dict:
    return {"id": principal.user_id, "name": principal.name, "role": principal.role,
            "customer_id": principal.customer_id, "csrf_token": csrf_token,
            "password_change_required": principal.must_change_password}


def _set_session_cookie(response: web.StreamResponse, signed_in: service.SignedIn, policy: IdentityPolicy) -> None:
    # Staff cookies last as long as the browser does; a customer's is kept, so a phone stays signed in.
    max_age = int(signed_in.idle_timeout.total_seconds()) if signed_in.kind == "customer" else None
    response.set_cookie(SESSION_COOKIE, signed_in.token, max_age=max_age, path="/", httponly=True,
                        samesite="Lax", secure=policy.secure_cookies)


def _signed_in_response(signed_in: service.SignedIn, policy: IdentityPolicy) -> web.Response:
    response = json_response(_me(signed_in.principal, signed_in.csrf_token),
                             headers={"Cache-Control": "no-store"})
    _set_session_cookie(response, signed_in, policy)
    return response


# --- who is calling (the auth middleware in web/app.py calls these) --------------------------------

def _principal_for_key(key: str) -> Principal | None:
    with session_scope() as session:
        return principal_for_key(session, key)


async def authenticate(request: web.Request) -> Principal | None:
    """A Bearer key first (machine clients), then the session cookie, then the console's key cookie."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return await in_thread(_principal_for_key, key.strip())
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        active = await in_thread(service.resolve_session, _policy(), token)
        if active is not None:
            request[ACTIVE_SESSION] = active
            return active.principal
    if LEGACY_KEY_COOKIE in request.cookies:
        return await in_thread(_principal_for_key, request.cookies[LEGACY_KEY_COOKIE])
    return None


def _csrf_matches(request: web.Request, active: service.ActiveSession) -> bool:
    given = request.headers.get("X-CSRF-Token", "")
    return hmac.compare_digest(given.encode(), active.csrf_token.encode())


def _require_csrf(request: web.Request, active: service.ActiveSession) -> None:
    if not _csrf_matches(request, active):
        raise ApiError(403, "csrf", "a signed-in write needs the X-CSRF-Token header that GET /v1/me returns",
                       field="X-CSRF-Token")


def guard(request: web.Request) -> None:
    """Cookie-authenticated writes need the session's CSRF token, and a one-time password must be replaced
    before anything else; public routes (sign-in, webhooks, pages) check for themselves."""
    active = request.get(ACTIVE_SESSION)
    if active is None or getattr(request.match_info.handler, "haven_public", False):
        return
    if request.method in WRITES:
        _require_csrf(request, active)
    if active.principal.must_change_password and request.path not in PASSWORD_CHANGE_PATHS:
        raise ApiError(403, "password_change_required",
                       "replace the one-time password first: POST /v1/auth/password {\"current\", \"new\"}")


# --- customers -------------------------------------------------------------------------------------

def _queue_sms(notification_ids: list[int]) -> None:
    from workers.notify import enqueue_notifications

    try:
        enqueue_notifications(notification_ids)
    except Exception:  # the rows are committed in `created`: the delivery sweep sends them
        log.exception("could not queue sign-in code SMS %s; the sweep will", notification_ids)


_SENDING: set[asyncio.Task] = set()


@routes.post("/v1/auth/customer/code")
@public
@body(CodeRequest)
@responds(CodeAccepted, status=202)
@refuses(429)
async def customer_code(request: web.Request, body: CodeRequest) -> web.Response:
    """Send a six-digit sign-in code by SMS. Always 202, whether or not the number is a customer's."""
    try:
        notification_ids = await in_thread(service.request_customer_code, _policy(), body.phone, request.remote)
    except service.InvalidInput as exc:
        raise _invalid(exc) from None
    except SignInRefused as refusal:
        return _refused(refusal)
    if notification_ids:
        # Queued after the answer, so a customer's number answers in the same time as anyone else's.
        task = asyncio.get_running_loop().create_task(in_thread(_queue_sms, notification_ids))
        _SENDING.add(task)
        task.add_done_callback(_SENDING.discard)
    return json_response(ACCEPTED, status=202)


@routes.post("/v1/auth/customer/verify")
@public
@body(CodeVerification)
@responds(SignedInView, description="signed in; the session cookie is set")
@refuses(401, 429)
async def customer_verify(request: web.Request, body: CodeVerification) -> web.Response:
    """Sign a customer in with the code from the SMS; sets the session cookie."""
    policy = _policy()
    try:
        signed_in = await in_thread(service.verify_customer_code, policy, body.phone, body.code.strip(),
                                    request.remote)
    except service.InvalidInput as exc:
        raise _invalid(exc) from None
    except SignInRefused as refusal:
        return _refused(refusal)
    await _end_previous_session(request)
    return _signed_in_response(signed_in, policy)


@routes.get("/c/{token}")
@public
@responds(None, status=303, description="to the customer's page, signed in (or with ?link=expired)")
@query_parameter("lang", {"type": "string", "enum": ["zh-CN", "en"]})
@query_parameter("type", {"type": "string", "enum": ["large"]})
async def customer_link(request: web.Request) -> web.Response:
    """A signed link from a customer's SMS: signs that customer in and opens their page.

    ?lang= and ?type=large are kept. An unknown, expired or revoked link opens the page with
    ?link=expired and signs no one in."""
    policy = _policy()
    signed_in = await in_thread(service.open_customer_link, policy, request.match_info["token"], request.remote)
    query = customer_page_query(request.query.get("lang"), request.query.get("type"))
    if signed_in is None:
        query["link"] = "expired"
    else:
        await _end_previous_session(request)
    location = "/" + (f"?{urlencode(query)}" if query else "")
    response = web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})
    if signed_in is not None:
        _set_session_cookie(response, signed_in, policy)
    return response


@routes.post("/v1/auth/links/revoke")
@requires("admin")
@body(LinkRevocation)
@responds(LinksRevoked)
async def revoke_links(request: web.Request, body: LinkRevocation) -> web.Response:
    """Revoke every signed link of one customer (admin only); answers how many were still valid."""
    revoked = await in_thread(service.revoke_customer_links, body.customer_id)
    return json_response({"customer_id": body.customer_id, "revoked": revoked})


# --- staff -----------------------------------------------------------------------------------------

@routes.post("/v1/auth/login")
@public
@body(StaffLogin)
@responds(SignedInView, description="signed in; the session cookie is set")
@refuses(401, 403, 429)
async def staff_login(request: web.Request, body: StaffLogin) -> web.Response:
    """Staff sign-in with username and password; sets the session cookie.

    After a one-time password, every route but POST /v1/auth/password answers 403 password_change_required
    until it is changed."""
    policy = _policy()
    try:
        signed_in = await in_thread(service.staff_login, policy, body.username, body.password, request.remote)
    except SignInRefused as refusal:
        return _refused(refusal)
    await _end_previous_session(request)
    return _signed_in_response(signed_in, policy)


@routes.post("/v1/auth/password")
@requires(*STAFF)
@body(PasswordChange)
@responds(PasswordChanged)
async def change_password(request: web.Request, body: PasswordChange) -> web.Response:
    """Replace your password: {"current", "new"} (at least 10 characters). Your other sessions end."""
    principal: Principal = request[PRINCIPAL]
    active = request.get(ACTIVE_SESSION)
    try:
        await in_thread(service.change_password, _policy(), principal.user_id,
                        active.session_id if active else None, body.current, body.new, request.remote)
    except SignInRefused as refusal:
        return _refused(refusal)
    return json_response({"password_changed": True})


@routes.post("/v1/auth/logout")
@public
@responds(None, status=204)
async def logout(request: web.Request) -> web.Response:
    """End this browser's session and forget its cookie."""
    active = request.get(ACTIVE_SESSION)
    if active is not None:
        _require_csrf(request, active)
        await in_thread(service.sign_out, active, request.remote)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _end_previous_session(request: web.Request) -> None:
    """Signing in again in the same browser replaces the session it had."""
    active = request.get(ACTIVE_SESSION)
    if active is not None:
        await in_thread(service.sign_out, active, request.remote)
