"""Signing in over real HTTP on PostgreSQL: customers by SMS code and signed link, staff by password,
cookie sessions with CSRF tokens, lock-outs and throttles, and what a customer's session can never reach."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from identity.service import issue_customer_link
from store.db import session_scope
from store.models import AuditEvent, CustomerLink, Notification, SignInCode, WebSession
from store.types import utcnow
from tests.greenchannel.conftest import seed_book
from tests.support import ApiClient, haven, make_user, subprocess_env, wait_until

ALICE, ALICE_PHONE = "C0000001", "+8617000000001"  # seed_book's customers
CAROL, CAROL_PHONE = "C0000003", "+8617000000003"  # reads English
OPTED_OUT_PHONE = "+8617000000005"
STRANGER_PHONE = "+8613912345678"  # a valid number that is nobody's in the book


@pytest.fixture
def site(api_server, pg_clean_url):
    """The book of tests/greenchannel, a served API and an admin's API key (to read the outbox)."""
    seed_book(pg_clean_url)

    def start(**settings) -> tuple[ApiClient, ApiClient]:
        api = api_server(pg_clean_url, **settings)
        return api, api.as_user(make_user(pg_clean_url, "admin", "root"))

    return start


def browser(api: ApiClient) -> ApiClient:
    """A fresh browser: its own cookie jar, no API key."""
    return ApiClient(api.base_url)


def sign_in_codes(admin: ApiClient, customer_id: str) -> list[str]:
    messages = admin.get(f"/v1/outbox?customer_id={customer_id}").json()["messages"]
    return [re.search(r"\d{6}", m["body"]).group(0) for m in messages if m["kind"] == "sign_in_code"]


def ask_code(person: ApiClient, admin: ApiClient, phone: str, customer_id: str) -> str:
    before = len(sign_in_codes(admin, customer_id))
    answer = person.post("/v1/auth/customer/code", json={"phone": phone})
    assert answer.status_code == 202, f"asking a code answered {answer.status_code} {answer.text}"
    wait_until(lambda: len(sign_in_codes(admin, customer_id)) > before, timeout=20,
               message=f"the sign-in code SMS for {customer_id} in the outbox")
    return sign_in_codes(admin, customer_id)[0]


def sign_in_customer(api: ApiClient, admin: ApiClient, phone: str, customer_id: str) -> tuple[ApiClient, str]:
    person = browser(api)
    code = ask_code(person, admin, phone, customer_id)
    answer = person.post("/v1/auth/customer/verify", json={"phone": phone, "code": code})
    assert answer.status_code == 200, f"the right code was refused: {answer.status_code} {answer.text}"
    return person, answer.json()["csrf_token"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def create_staff(url: str, role: str, username: str, password: str | None = None) -> str:
    """`haven users create --username` as an operator runs it; returns the password to sign in with."""
    args = ["users", "create", "--role", role, "--name", username.title(), "--username", username]
    run = haven(*args, *(["--password-stdin"] if password else []), input=f"{password}\n" if password else None,
                env=subprocess_env(HAVEN_DATABASE_URL=url))
    assert run.returncode == 0, f"haven users create failed: {run.stderr}"
    return password or run.stdout.strip()


def audit_actions(url: str) -> list[str]:
    with session_scope(url) as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- customers: codes ------------------------------------------------------------------------------

def test_a_customer_signs_in_with_the_code_from_the_sms_and_gets_a_safe_cookie(site, pg_clean_url):
    api, admin = site()
    person = browser(api)
    code = ask_code(person, admin, "170 0000 0003", CAROL)  # typed as people type it
    message = admin.get(f"/v1/outbox?customer_id={CAROL}").json()["messages"][0]
    assert message["recipient"] == CAROL_PHONE, "the code was not sent to the customer's number in E.164"
    assert message["body"].startswith("Haven sign-in code"), f"Carol reads English, got {message['body']!r}"
    with session_scope(pg_clean_url) as session:
        stored = session.scalar(select(SignInCode.code_hash))
    assert code not in stored and stored.startswith("$argon2id$"), "the code is not stored as an argon2 hash"

    answer = person.post("/v1/auth/customer/verify", json={"phone": CAROL_PHONE, "code": code})
    assert answer.status_code == 200, f"verify answered {answer.status_code} {answer.text}"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, f"cookie flags missing: {cookie}"
    assert "Secure" not in cookie, "an http:// deployment got a Secure cookie the browser would never send back"
    assert f"Max-Age={30 * 86400}" in cookie, f"a customer's cookie should last the 30-day idle timeout: {cookie}"
    me = person.get("/v1/me").json()
    assert (me["role"], me["customer_id"]) == ("customer", CAROL), f"signed in as the wrong person: {me}"
    assert me["csrf_token"] == answer.json()["csrf_token"], "/v1/me does not return the session's CSRF token"
    assert "sign_in" in audit_actions(pg_clean_url), "the sign-in is missing from the audit trail"


def test_the_answer_for_an_unknown_number_is_the_same_and_sends_nothing(site, pg_clean_url):
    api, admin = site()
    known = browser(api).post("/v1/auth/customer/code", json={"phone": ALICE_PHONE})
    unknown = browser(api).post("/v1/auth/customer/code", json={"phone": STRANGER_PHONE})
    opted_out = browser(api).post("/v1/auth/customer/code", json={"phone": OPTED_OUT_PHONE})
    assert known.status_code == unknown.status_code == opted_out.status_code == 202, \
        f"answers differ: {known.status_code}, {unknown.status_code}, {opted_out.status_code}"
    assert known.content == unknown.content == opted_out.content, "the bodies tell a customer from a stranger"
    assert known.headers["Content-Type"] == unknown.headers["Content-Type"], "the content types differ"
    wait_until(lambda: sign_in_codes(admin, ALICE), timeout=20, message="Alice's code in the outbox")
    with session_scope(pg_clean_url) as session:
        recipients = list(session.scalars(select(Notification.recipient).where(Notification.kind == "sign_in_code")))
    assert recipients == [ALICE_PHONE], f"SMS saved for {recipients}; only Alice's number is a customer who gets SMS"


def test_five_wrong_codes_lock_the_number_for_fifteen_minutes(site, pg_clean_url):
    api, admin = site()
    person = browser(api)
    code = ask_code(person, admin, ALICE_PHONE, ALICE)
    for attempt in range(1, 6):
        answer = person.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": wrong(code)})
        assert answer.status_code == 401, f"wrong code {attempt} answered {answer.status_code} {answer.text}"
        assert answer.json()["error"]["code"] == "invalid_code", f"wrong code {attempt}: {answer.text}"
    locked = person.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code})
    assert locked.status_code == 429, f"the right code after 5 wrong ones was let in: {locked.status_code}"
    assert locked.json()["error"] == {"code": "locked", "field": "phone", "message": locked.json()["error"]["message"]}
    assert 880 <= int(locked.headers["Retry-After"]) <= 900, f"lock is not 15 minutes: {locked.headers}"
    fresh = ask_code(browser(api), admin, ALICE_PHONE, ALICE)  # a new code does not lift the lock
    assert browser(api).post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": fresh}
                             ).status_code == 429, "a new code lifted the lock"

    with session_scope(pg_clean_url) as session:  # fifteen minutes pass
        from store.models import PhoneLock
        session.execute(update(PhoneLock).values(locked_until=utcnow() - timedelta(seconds=1)))
    after = browser(api).post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": fresh})
    assert after.status_code == 200, f"the lock did not end after 15 minutes: {after.status_code} {after.text}"
    assert audit_actions(pg_clean_url).count("sign_in_failed") == 5, "each wrong code is not in the audit trail"


def test_a_code_works_once_and_not_after_ten_minutes(site, pg_clean_url):
    api, admin = site()
    first = browser(api)
    code = ask_code(first, admin, ALICE_PHONE, ALICE)
    assert first.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code}).status_code == 200
    again = browser(api).post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code})
    assert again.status_code == 401, f"a used code signed in again: {again.status_code}"
    assert again.json()["error"]["code"] == "invalid_code", again.text

    late = browser(api)
    code = ask_code(late, admin, ALICE_PHONE, ALICE)
    with session_scope(pg_clean_url) as session:
        expires = session.scalar(select(SignInCode.expires_at).order_by(SignInCode.id.desc()).limit(1))
        assert timedelta(minutes=9) < expires - utcnow() <= timedelta(minutes=10), f"code expires at {expires}"
        session.execute(update(SignInCode).values(expires_at=utcnow() - timedelta(seconds=1)))  # 10 min pass
    expired = late.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code})
    assert expired.status_code == 401, f"an expired code signed in: {expired.status_code}"
    assert "csrf_token" not in expired.text and "Set-Cookie" not in expired.headers, "a refusal set a session"


def test_a_new_code_replaces_the_one_before(site):
    api, admin = site()
    person = browser(api)
    old = ask_code(person, admin, ALICE_PHONE, ALICE)
    new = ask_code(person, admin, ALICE_PHONE, ALICE)
    if old != new:  # one time in a million the same six digits come twice
        stale = person.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": old})
        assert stale.status_code == 401, f"an older code still signed in: {stale.status_code}"
    assert person.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": new}).status_code == 200


def test_code_requests_are_throttled_per_number_and_per_address(site):
    api, _ = site(sign_in_codes_per_phone=3, sign_in_requests_per_address=5)
    for attempt in range(3):
        assert browser(api).post("/v1/auth/customer/code", json={"phone": STRANGER_PHONE}).status_code == 202, \
            f"request {attempt + 1} for one number was refused below the limit"
    answer = browser(api).post("/v1/auth/customer/code", json={"phone": STRANGER_PHONE})
    assert answer.status_code == 429, f"a 4th code for one number within the window: {answer.status_code}"
    assert answer.json()["error"]["code"] == "throttled" and answer.json()["error"]["field"] == "phone", answer.text
    assert int(answer.headers["Retry-After"]) > 0, "no Retry-After on a throttled answer"
    assert browser(api).post("/v1/auth/customer/code", json={"phone": ALICE_PHONE}).status_code == 202, \
        "another number from the same address was refused below the address limit"
    assert browser(api).post("/v1/auth/customer/code", json={"phone": CAROL_PHONE}).status_code == 202
    from_address = browser(api).post("/v1/auth/customer/code", json={"phone": "+8613912345679"})
    assert from_address.status_code == 429, f"a 6th request from one address: {from_address.status_code}"
    assert from_address.json()["error"]["field"] is None, "the address throttle named a field of the body"


@pytest.mark.parametrize("body, field", [
    ({"phone": 13800138000}, "phone"),
    ({"phone": "not a phone"}, "phone"),
    ({"phone": "1" * 5000}, "phone"),
    ({}, "phone"),
])
def test_a_malformed_phone_is_a_400_naming_it(site, body, field):
    api, _ = site()
    answer = browser(api).post("/v1/auth/customer/code", json=body)
    assert answer.status_code == 400, f"{body!r} answered {answer.status_code}"
    assert answer.json()["error"]["field"] == field, f"{body!r}: {answer.text}"


def test_a_malformed_code_is_a_400_naming_it_and_not_a_failure(site, pg_clean_url):
    api, _ = site()
    for code in ("12a456", "1234567", "", "١٢٣٤٥٦"):
        answer = browser(api).post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code})
        assert answer.status_code == 400, f"code {code!r} answered {answer.status_code}"
        assert answer.json()["error"]["field"] == "code", f"code {code!r}: {answer.text}"
    assert "sign_in_failed" not in audit_actions(pg_clean_url), "a malformed code counted towards the lock"
    not_json = browser(api).post("/v1/auth/customer/verify", data=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400, f"a broken JSON body answered {not_json.status_code}"


# --- customers: signed links -----------------------------------------------------------------------

def _link(url: str, customer_id: str) -> str:
    with session_scope(url) as session:
        return issue_customer_link(session, customer_id)


def test_a_signed_link_signs_its_customer_in_and_keeps_language_and_type(site, pg_clean_url):
    api, _ = site()
    link = _link(pg_clean_url, ALICE)
    token = link.rsplit("/c/", 1)[1]
    assert len(token) <= 22 and link == f"http://127.0.0.1:8080/c/{token}", f"link {link!r}"
    with session_scope(pg_clean_url) as session:
        stored = session.scalar(select(CustomerLink.token_hash))
        expires = session.scalar(select(CustomerLink.expires_at))
    assert token not in stored, "the link token is stored in clear"
    assert timedelta(hours=71) < expires - utcnow() <= timedelta(hours=72), f"the link expires at {expires}"
    person = browser(api)
    answer = person.get(f"/c/{token}?lang=en&type=large&evil=%3Cscript%3E", allow_redirects=False)
    assert answer.status_code == 303, f"the link answered {answer.status_code}"
    assert answer.headers["Location"] == "/?lang=en&type=large", f"redirected to {answer.headers['Location']!r}"
    assert "HttpOnly" in answer.headers["Set-Cookie"], "the link set no session cookie"
    assert person.get("/v1/me").json()["customer_id"] == ALICE, "the link signed in someone else"
    second = browser(api).get(f"/c/{token}", allow_redirects=False)
    assert (second.status_code, second.headers["Location"]) == (303, "/"), "the link works only once in 72 h"


def test_an_expired_revoked_or_unknown_link_signs_no_one_in(site, pg_clean_url):
    api, admin = site()
    expired, revoked = _link(pg_clean_url, ALICE), _link(pg_clean_url, CAROL)
    with session_scope(pg_clean_url) as session:
        session.execute(update(CustomerLink).where(CustomerLink.customer_id == ALICE)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))  # 72 hours pass
    revoking = admin.post("/v1/auth/links/revoke", json={"customer_id": CAROL})
    assert revoking.json() == {"customer_id": CAROL, "revoked": 1}, f"revoking answered {revoking.text}"
    for what, url in [("expired", expired), ("revoked", revoked), ("unknown", "/c/AAAAAAAAAAAAAAAAAAAAAA"),
                      ("malformed", "/c/%3Cscript%3E")]:
        person = browser(api)
        answer = person.get(url.replace("http://127.0.0.1:8080", "") + "?lang=zh-CN", allow_redirects=False)
        assert answer.status_code == 303, f"the {what} link answered {answer.status_code}"
        assert answer.headers["Location"] == "/?lang=zh-CN&link=expired", f"{what}: {answer.headers['Location']}"
        assert "Set-Cookie" not in answer.headers, f"the {what} link set a cookie"
        assert person.get("/v1/me").status_code == 401, f"the {what} link signed someone in"


def test_another_customers_link_signs_in_that_customer_only_and_ends_the_session_before(site, pg_clean_url):
    api, admin = site()
    alice, _ = sign_in_customer(api, admin, ALICE_PHONE, ALICE)
    claim = api.as_user(make_user(pg_clean_url, "customer", "alice", ALICE)).post(
        "/v1/claims", json={"asset_id": "A00000001", "loss_at": "2021-07-25T14:10:00+08:00"})
    assert claim.status_code == 201, f"filing Alice's claim: {claim.status_code} {claim.text}"
    alice_cookie = alice.session.cookies.get("haven_session")

    carol_link = _link(pg_clean_url, CAROL).replace("http://127.0.0.1:8080", "")
    assert alice.get(carol_link, allow_redirects=False).status_code == 303
    assert alice.get("/v1/me").json()["customer_id"] == CAROL, "Carol's link did not sign in Carol"
    seen = alice.get(f"/v1/claims/{claim.json()['id']}")
    assert seen.status_code in (403, 404), f"Carol's session read Alice's claim: {seen.status_code}"
    old = browser(api)
    old.session.cookies.set("haven_session", alice_cookie)
    assert old.get("/v1/me").status_code == 401, "Alice's session still works after Carol signed in over it"


# --- the session: CSRF, roles, idle time, signing out ------------------------------------------------

def test_a_cookie_write_needs_the_csrf_token_and_a_bearer_key_does_not(site, pg_clean_url):
    api, _ = site()
    create_staff(pg_clean_url, "supervisor", "su", "long enough password")
    person = browser(api)
    login = person.post("/v1/auth/login", json={"username": "su", "password": "long enough password"})
    assert login.status_code == 200, f"login answered {login.status_code} {login.text}"
    event = {"code": "CAT-2021-0725-INFA", "hazard": "typhoon",
             "area": {"type": "Polygon", "coordinates": [[[121.9, 29.7], [122.5, 29.7], [122.5, 30.3],
                                                          [121.9, 29.7]]]},
             "window_start": "2021-07-24T00:00:00+08:00", "window_end": "2021-07-30T00:00:00+08:00"}
    for headers in ({}, {"X-CSRF-Token": "guess"}):
        refused = person.post("/v1/cat-events", json=event, headers=headers)
        assert refused.status_code == 403, f"a cookie write with {headers} answered {refused.status_code}"
        assert refused.json()["error"]["code"] == "csrf", refused.text
    token = person.get("/v1/me").json()["csrf_token"]
    accepted = person.post("/v1/cat-events", json=event, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 201, f"with the CSRF token: {accepted.status_code} {accepted.text}"
    assert person.get("/v1/cat-events").status_code == 200, "a cookie read needed a CSRF token"
    machine = api.as_user(make_user(pg_clean_url, "supervisor", "batch"))
    closed = machine.post(f"/v1/cat-events/{accepted.json()['id']}/close")
    assert closed.status_code == 200, f"a Bearer write without CSRF: {closed.status_code} {closed.text}"


def test_a_customers_session_never_reaches_staff_routes(site):
    api, admin = site()
    person, csrf = sign_in_customer(api, admin, ALICE_PHONE, ALICE)
    headers = {"X-CSRF-Token": csrf}
    for method, path in [("GET", "/v1/queue"), ("POST", "/v1/queue/next"), ("GET", "/v1/users"),
                         ("GET", "/v1/outbox"), ("POST", "/v1/rescue/providers"), ("POST", "/v1/users"),
                         ("POST", "/v1/auth/password"),
                         ("POST", "/v1/auth/links/revoke"), ("POST", "/v1/cat-events")]:
        answer = person.request(method, path, json={}, headers=headers)
        assert answer.status_code == 403, f"a customer's session reached {method} {path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "forbidden", f"{method} {path}: {answer.text}"


def test_an_idle_session_ends_after_its_timeout(site, pg_clean_url):
    api, admin = site()
    create_staff(pg_clean_url, "dispatcher", "dee", "long enough password")
    staff = browser(api)
    assert staff.post("/v1/auth/login", json={"username": "dee", "password": "long enough password"}).ok
    customer, _ = sign_in_customer(api, admin, ALICE_PHONE, ALICE)
    with session_scope(pg_clean_url) as session:  # nine hours without a request
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(hours=9)))
    assert staff.get("/v1/me").status_code == 401, "a staff session outlived its 8-hour idle timeout"
    assert customer.get("/v1/me").status_code == 200, "a customer's session ended before 30 idle days"
    assert "session_expired" in audit_actions(pg_clean_url), "the expiry is missing from the audit trail"


def test_signing_out_ends_the_session(site, pg_clean_url):
    api, admin = site()
    person, csrf = sign_in_customer(api, admin, ALICE_PHONE, ALICE)
    refused = person.post("/v1/auth/logout")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf", \
        f"sign-out without the CSRF token: {refused.status_code}"
    answer = person.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 204, f"sign-out answered {answer.status_code}"
    assert person.get("/v1/me").status_code == 401, "still signed in after signing out"
    assert audit_actions(pg_clean_url)[-1] == "sign_out", "the sign-out is missing from the audit trail"


def test_a_secure_cookie_when_the_public_url_is_https(site):
    api, admin = site(public_base_url="https://haven.example")
    person = browser(api)
    code = ask_code(person, admin, ALICE_PHONE, ALICE)
    answer = person.post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": code})
    assert "Secure" in answer.headers["Set-Cookie"], f"no Secure flag behind https: {answer.headers['Set-Cookie']}"


# --- staff ---------------------------------------------------------------------------------------------

def test_staff_sign_in_and_replace_the_one_time_password_first(site, pg_clean_url):
    api, _ = site()
    one_time = create_staff(pg_clean_url, "adjuster", "ann")
    assert len(one_time) >= 16, f"one-time password too short: {one_time!r}"
    person = browser(api)
    login = person.post("/v1/auth/login", json={"username": "Ann", "password": one_time})
    assert login.status_code == 200, f"login answered {login.status_code} {login.text}"
    assert login.json()["role"] == "adjuster" and login.json()["password_change_required"] is True, login.text
    assert "Max-Age" not in login.headers["Set-Cookie"], "a staff cookie should end with the browser"
    blocked = person.get("/v1/queue")
    assert blocked.status_code == 403, f"the queue before the password change: {blocked.status_code}"
    assert blocked.json()["error"]["code"] == "password_change_required", blocked.text
    csrf = person.get("/v1/me").json()["csrf_token"]
    headers = {"X-CSRF-Token": csrf}
    for body, code, field in [({"current": "nope", "new": "a brand new password"}, "wrong_password", "current"),
                              ({"current": one_time, "new": "short"}, "weak_password", "new"),
                              ({"current": one_time, "new": one_time}, "weak_password", "new"),
                              ({"current": one_time}, "malformed", "new")]:
        answer = person.post("/v1/auth/password", json=body, headers=headers)
        assert answer.status_code == 400, f"{body}: {answer.status_code} {answer.text}"
        assert (answer.json()["error"]["code"], answer.json()["error"]["field"]) == (code, field), answer.text
    changed = person.post("/v1/auth/password", json={"current": one_time, "new": "a brand new password"},
                          headers=headers)
    assert changed.status_code == 200, f"the change answered {changed.status_code} {changed.text}"
    assert person.get("/v1/queue").status_code == 200, "the queue stays closed after the password change"
    assert browser(api).post("/v1/auth/login", json={"username": "ann", "password": one_time}).status_code == 401, \
        "the one-time password still works"
    again = browser(api).post("/v1/auth/login", json={"username": "ann", "password": "a brand new password"})
    assert again.status_code == 200 and again.json()["password_change_required"] is False, again.text
    actions = audit_actions(pg_clean_url)
    assert "password_changed" in actions and actions.count("sign_in") == 2, f"audit trail: {actions}"


def test_failed_logins_are_throttled_per_username_and_per_address(site, pg_clean_url):
    api, _ = site(login_failures_per_address=8)
    create_staff(pg_clean_url, "manager", "ma", "the right password")
    for attempt in range(5):
        answer = browser(api).post("/v1/auth/login", json={"username": "ma", "password": f"guess {attempt}"})
        assert answer.status_code == 401, f"wrong password {attempt + 1}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "invalid_credentials", answer.text
    throttled = browser(api).post("/v1/auth/login", json={"username": "ma", "password": "the right password"})
    assert throttled.status_code == 429, f"the 6th try within the window was let through: {throttled.status_code}"
    assert throttled.json()["error"] == {"code": "throttled", "field": "username",
                                         "message": throttled.json()["error"]["message"]}
    for attempt in range(3):  # other usernames from the same address, up to the address limit of 8
        assert browser(api).post("/v1/auth/login", json={"username": f"who{attempt}", "password": "x"}
                                 ).status_code == 401
    by_address = browser(api).post("/v1/auth/login", json={"username": "someone", "password": "x"})
    assert by_address.status_code == 429 and by_address.json()["error"]["field"] is None, \
        f"the 9th failure from one address: {by_address.status_code} {by_address.text}"


def test_unknown_users_customers_and_bad_bodies_cannot_log_in(site, pg_clean_url):
    api, _ = site()
    for body, status, field in [({"username": "nobody", "password": "whatever it is"}, 401, "password"),
                                ({"username": "x" * 201, "password": "p"}, 400, "username"),
                                ({"username": "ann", "password": "p" * 1025}, 400, "password"),
                                ({"username": ["ann"], "password": "p"}, 400, "username"),
                                ({"password": "p"}, 400, "username")]:
        answer = browser(api).post("/v1/auth/login", json=body)
        assert answer.status_code == status, f"{str(body)[:60]}: {answer.status_code} {answer.text}"
        assert answer.json()["error"]["field"] == field, f"{str(body)[:60]}: {answer.text}"


def test_the_console_key_cookie_and_bearer_keys_still_work(site, pg_clean_url):
    api, _ = site()
    key = make_user(pg_clean_url, "dispatcher", "dee")
    console = browser(api)
    assert console.post("/v1/console/session", json={"api_key": key}).status_code == 200
    assert console.get("/v1/me").json()["role"] == "dispatcher", "the console's key cookie stopped working"
    me = api.as_user(key).get("/v1/me").json()
    assert me["role"] == "dispatcher" and me["csrf_token"] is None, f"a Bearer key's /v1/me: {me}"


def test_parallel_wrong_codes_lock_after_exactly_five(site):
    from concurrent.futures import ThreadPoolExecutor

    api, admin = site()
    code = ask_code(browser(api), admin, ALICE_PHONE, ALICE)

    def attempt(_):
        return browser(api).post("/v1/auth/customer/verify", json={"phone": ALICE_PHONE, "code": wrong(code)})

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = sorted(answer.status_code for answer in pool.map(attempt, range(10)))
    assert statuses == [401] * 5 + [429] * 5, f"10 parallel wrong codes answered {statuses}"
