"""Signing in on the embedded default (SQLite): the service's units of work, the demo users and
`haven users create`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from identity import service
from identity.rules import IdentityPolicy, Refusal, SignInRefused
from store.db import session_scope
from store.models import Customer, Notification, User
from store.users import create_user
from tests.support import haven, subprocess_env

PHONE = "+8613800138000"


@pytest.fixture
def book(sqlite_url, haven_env):
    haven_env(sqlite_url)
    with session_scope(sqlite_url) as session:
        session.add(Customer(customer_id="C1", name="Wang Fang", phone=PHONE, locale="zh-CN"))
    return sqlite_url


def _code(url: str) -> str:
    with session_scope(url) as session:
        body = session.scalar(select(Notification.body).order_by(Notification.id.desc()).limit(1))
    return body.split("验证码")[1][:6]


def test_a_code_on_sqlite_signs_in_and_five_wrong_ones_lock(book):
    policy = IdentityPolicy()
    ids = service.request_customer_code(policy, "13800138000", "127.0.0.1")
    assert len(ids) == 1, f"one SMS should be saved for the customer, got {ids}"
    code = _code(book)
    with session_scope(book) as session:
        saved = session.get(Notification, ids[0])
        assert (saved.kind, saved.recipient, saved.state) == ("sign_in_code", PHONE, "created"), \
            "the code SMS is not saved as a sign_in_code notification waiting to be queued"
    signed_in = service.verify_customer_code(policy, PHONE, code, "127.0.0.1")
    assert signed_in.principal.customer_id == "C1" and signed_in.principal.role == "customer", signed_in
    assert signed_in.principal.name == "Wang Fang", "the customer's user is not named after the customer"

    service.request_customer_code(policy, PHONE, "127.0.0.1")
    code = _code(book)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(SignInRefused) as refused:
            service.verify_customer_code(policy, PHONE, wrong, "127.0.0.1")
        assert refused.value.reason == Refusal.INVALID_CODE, refused.value.message
    with pytest.raises(SignInRefused) as locked:
        service.verify_customer_code(policy, PHONE, code, "127.0.0.1")
    assert locked.value.reason == Refusal.LOCKED, f"the sixth try was {locked.value.reason}"
    with session_scope(book) as session:
        users = session.scalars(select(User).where(User.customer_id == "C1")).all()
    assert len(users) == 1, "signing in twice created two users for one customer"


def test_an_unknown_number_saves_nothing(book):
    assert service.request_customer_code(IdentityPolicy(), "+8613912345678", "127.0.0.1") == [], \
        "an SMS was saved for a number that is nobody's"


def test_demo_users_get_usernames_and_passwords_that_sign_in(book, tmp_path):
    with session_scope(book) as session:
        create_user(session, "admin", "Ops Admin")
        create_user(session, "adjuster", "Adjuster An")
        create_user(session, "customer", "Customer C1", "C1")
    path = tmp_path / "demo-users.txt"
    lines = service.give_demo_users_passwords(path)
    written = [line.split() for line in path.read_text().splitlines()]
    assert written == [list(line) for line in lines], "the file does not list what was created"
    assert [(w[0], w[2]) for w in written] == [("ops.admin", "admin"), ("adjuster.an", "adjuster"),
                                               ("C1", "customer")], f"demo users file: {written}"
    assert written[2][1] == PHONE, "the customer's line should give the phone number to sign in with"
    assert path.stat().st_mode & 0o077 == 0, "the demo passwords file is readable by others"
    signed_in = service.staff_login(IdentityPolicy(), "ops.admin", written[0][1], "127.0.0.1")
    assert signed_in.principal.role == "admin" and not signed_in.principal.must_change_password, signed_in
    assert service.give_demo_users_passwords(tmp_path / "again.txt") == [("C1", PHONE, "customer")], \
        "staff who already have a username got a new password"


def _create(url, *args, stdin=None):
    return haven("users", "create", *args, input=stdin, env=subprocess_env(HAVEN_DATABASE_URL=url))


def test_users_create_with_a_username_prints_a_one_time_password(book):
    run = _create(book, "--role", "dispatcher", "--name", "Dispatcher Deng", "--username", "Dee")
    assert run.returncode == 0, run.stderr
    one_time = run.stdout.strip()
    assert len(one_time) >= 16 and "\n" not in one_time, f"stdout should be the password alone: {run.stdout!r}"
    assert "must be changed" in run.stderr, f"the operator is not told it must be changed: {run.stderr}"
    signed_in = service.staff_login(IdentityPolicy(), "dee", one_time, "127.0.0.1")
    assert signed_in.principal.must_change_password, "a one-time password did not require a change"

    given = _create(book, "--role", "manager", "--name", "Ma", "--username", "ma", "--password-stdin",
                    stdin="a password from a vault\n")
    assert given.returncode == 0 and given.stdout == "", f"--password-stdin printed {given.stdout!r}"
    manager = service.staff_login(IdentityPolicy(), "ma", "a password from a vault", "127.0.0.1")
    assert not manager.principal.must_change_password, "a chosen password required a change"


@pytest.mark.parametrize("args, stdin, named", [
    (("--role", "customer", "--name", "C", "--username", "cust"), None, "--username"),
    (("--role", "pilot", "--name", "P", "--username", "pilot"), None, "--role"),
    (("--role", "adjuster", "--name", "A", "--username", "a b"), None, "--username"),
    (("--role", "adjuster", "--name", "A", "--username", "ann", "--password-stdin"), "short\n", "--password"),
    (("--role", "adjuster", "--name", "A", "--password-stdin"), "a long password\n", "--password-stdin"),
    (("--role", "adjuster", "--name", "A", "--username", "ann", "--password-stdin"), "", "--password-stdin"),
])
def test_users_create_refuses_naming_the_option(book, args, stdin, named):
    run = _create(book, *args, stdin=stdin)
    assert run.returncode != 0, f"{args} was accepted"
    assert named in run.stderr, f"{args}: the error does not name {named}: {run.stderr}"
    assert "Traceback" not in run.stderr, f"{args} crashed: {run.stderr}"


def test_a_taken_username_is_refused_and_machine_users_still_get_an_api_key(book):
    assert _create(book, "--role", "adjuster", "--name", "Ann", "--username", "ann").returncode == 0
    taken = _create(book, "--role", "adjuster", "--name", "Ann Two", "--username", "ANN")
    assert taken.returncode != 0 and "taken" in taken.stderr, f"a taken username was accepted: {taken.stderr}"
    machine = _create(book, "--role", "customer", "--name", "App", "--customer-id", "C1")
    assert machine.returncode == 0 and machine.stdout.startswith("hv_cus_"), f"no API key: {machine.stdout!r}"


def test_users_create_keeps_a_work_phone_in_e164_and_refuses_a_bad_one_naming_phone(book):
    staff = _create(book, "--role", "adjuster", "--name", "Li", "--username", "li", "--phone", "139 0000 0011")
    machine = _create(book, "--role", "supervisor", "--name", "Su", "--phone", "+86 139-0000-0012")
    assert staff.returncode == 0 and machine.returncode == 0, f"--phone was refused: {staff.stderr} {machine.stderr}"
    with session_scope(book) as session:
        phones = dict(session.execute(select(User.name, User.phone).where(User.name.in_(["Li", "Su"]))).all())
    assert phones == {"Li": "+8613900000011", "Su": "+8613900000012"}, f"phones not stored in E.164: {phones}"

    for args in (("--role", "adjuster", "--name", "Bad", "--username", "bad", "--phone", "12345"),
                 ("--role", "adjuster", "--name", "Bad", "--phone", "x" * 200),
                 ("--role", "customer", "--name", "Bad", "--customer-id", "C1", "--phone", "13900000013")):
        run = _create(book, *args)
        assert run.returncode == 2, f"{args}: exit {run.returncode}, expected the usage error 2: {run.stderr}"
        assert "--phone" in run.stderr and "Traceback" not in run.stderr, f"{args}: not named: {run.stderr}"
    with session_scope(book) as session:
        made = session.scalars(select(User.name).where(User.name == "Bad")).all()
    assert made == [], f"a refused --phone still created users: {made}"
