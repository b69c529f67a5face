"""The plain rules of signing in: phones, codes, tokens, hashes, passwords, locks and link queries."""

from datetime import UTC, datetime, timedelta

import pytest

from identity import rules
from identity.rules import IdentityPolicy


@pytest.mark.parametrize("raw, expected", [
    ("+8613800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),  # a Chinese mobile typed without the country code
    ("+1 415 555 0100", "+14155550100"),
    ("not a phone", None),
    ("1" * 40, None),
    ("", None),
])
def test_phones_become_e164_as_the_book_stores_them(raw, expected):
    assert rules.normalise_phone(raw) == expected, f"{raw!r} should read as {expected!r}"


def test_codes_are_six_random_digits():
    codes = {rules.new_code() for _ in range(200)}
    assert all(rules.CODE.fullmatch(code) for code in codes), f"not six digits: {sorted(codes)[:5]}"
    assert len(codes) > 190, "200 codes repeat too often to be random"


def test_link_tokens_are_at_most_22_url_safe_characters():
    tokens = [rules.new_link_token() for _ in range(100)]
    assert all(len(t) <= 22 and rules.LINK_TOKEN.fullmatch(t) for t in tokens), f"bad token in {tokens[:3]}"
    assert len(set(tokens)) == 100, "link tokens repeat"


def test_secrets_are_stored_as_argon2_and_verified():
    stored = rules.hash_secret("123456")
    assert stored.startswith("$argon2id$") and "123456" not in stored, f"not an argon2id hash: {stored}"
    assert rules.secret_matches(stored, "123456"), "the right code did not match its hash"
    assert not rules.secret_matches(stored, "123457"), "a wrong code matched"
    assert not rules.secret_matches(None, "123456"), "nothing stored matched something"
    assert not rules.secret_matches("not a hash", "123456"), "a broken hash matched"


def test_token_hashes_are_sha256_hex():
    assert rules.token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize("password, username, problem", [
    ("short", None, "at least 10"),
    ("x" * 1025, None, "at most 1024"),
    ("Dispatcher", "dispatcher", "not be the username"),
    ("correct horse battery", "dee", None),
])
def test_password_rules(password, username, problem):
    found = rules.password_problem(password, username)
    assert (problem in found) if problem else found is None, f"{password[:12]!r}: {found!r}"


@pytest.mark.parametrize("username, ok", [("ops.admin", True), ("a", False), ("Dee", False), ("dee dee", False),
                                          ("-dee", False), ("x" * 65, False), ("adjuster_bo-2", True)])
def test_usernames(username, ok):
    assert (rules.username_problem(username) is None) == ok, f"{username!r} should be {'ok' if ok else 'refused'}"


def test_the_fifth_wrong_code_locks_for_the_lockout():
    policy = IdentityPolicy()
    now = datetime(2026, 7, 25, 14, 0, tzinfo=UTC)
    assert rules.lock_after_failure(4, policy, now) is None, "locked before the fifth wrong code"
    assert rules.lock_after_failure(5, policy, now) == now + timedelta(minutes=15), "the lock is not 15 minutes"


def test_idle_sessions_by_kind():
    policy = IdentityPolicy()
    now = datetime(2026, 7, 25, 14, 0, tzinfo=UTC)
    nine_hours_ago = now - timedelta(hours=9)
    assert rules.session_is_idle(nine_hours_ago, now, policy.idle_timeout("staff")), "staff idle after 8 h"
    assert not rules.session_is_idle(nine_hours_ago, now, policy.idle_timeout("customer")), "customers: 30 days"


def test_secure_cookies_only_behind_https():
    assert IdentityPolicy(public_base_url="https://haven.example").secure_cookies, "https should mean Secure"
    assert not IdentityPolicy(public_base_url="http://127.0.0.1:8080").secure_cookies, "http cannot use Secure"


def test_links_carry_only_known_page_choices():
    assert rules.customer_page_query("en", "large") == {"lang": "en", "type": "large"}, "choices dropped"
    assert rules.customer_page_query("fr", "huge") == {}, "unknown choices were carried on"
    assert rules.customer_page_query("<script>", None) == {}, "markup was carried on"


def test_the_code_sms_in_each_language_says_how_long_it_lasts():
    english = rules.code_message("042137", "en", timedelta(minutes=10))
    chinese = rules.code_message("042137", "zh-CN", timedelta(minutes=10))
    assert "042137" in english and "10 minutes" in english, english
    assert "042137" in chinese and "10分钟" in chinese, chinese
