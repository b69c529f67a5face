"""Manual warnings over real HTTP: a person's warning is held with its reach; above the setting a second
staff member approves it (never its submitter), then exactly one fan-out goes out, by real Celery workers
on PostgreSQL; small ones go out when their submitter confirms; rejections need a reason; nothing goes out
after the deadline; polled feeds are not held (docs/architecture.md, "Manual warnings")."""

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from alerts.manual_service import forget_reach_books
from alerts.matching import spatial
from alerts.reading.ingest import Origin
from alerts.service import ingest
from store.db import session_scope
from store.models import Alert, AuditEvent, Notification
from store.models.alerts import ManualWarning
from tests.notify_support import add_book, live_demo_cap, wait_for_workers
from tests.support import make_user, wait_until
from workers.ingest import expire_manual_warnings

ORANGE = "01-typhoon-infa-orange-alert.xml"
XML = {"Content-Type": "application/xml"}


def book(url):
    """16 customers inside the demo typhoon's area: 12 by SMS, 2 opted out of SMS, 2 also by push."""
    add_book(url, 12)
    add_book(url, 2, start=13, sms_opt_out=True)
    add_book(url, 2, start=15, push_token="device-token")


def notifications(url, **where):
    with session_scope(url) as session:
        query = select(Notification.channel, func.count()).group_by(Notification.channel)
        for column, value in where.items():
            query = query.where(getattr(Notification, column) == value)
        return dict(session.execute(query).all())


def audit(url, warning_id):
    with session_scope(url) as session:
        return [(e.action, e.actor_id is not None, e.to_state, e.note, (e.data or {}).get("reach"))
                for e in session.execute(select(AuditEvent).where(AuditEvent.entity == "manual_warning",
                                                                  AuditEvent.entity_id == str(warning_id))
                                         .order_by(AuditEvent.id)).scalars()]


def alerts_stored(url):
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Alert))


def test_above_the_setting_a_second_person_approves_and_exactly_one_fan_out_follows(
        api_server, pg_clean_url, celery_worker):
    url = pg_clean_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_MANUAL_APPROVAL_ABOVE=5)
    book(url)
    submitter = api.as_user(make_user(url, "supervisor", "Sam Submitter"))
    dispatcher = api.as_user(make_user(url, "dispatcher", "Dee Dispatcher"))
    approvers = [api.as_user(make_user(url, "manager", "Mia Manager")),
                 api.as_user(make_user(url, "supervisor", "Sue Second"))]
    celery_worker(url, concurrency=2, HAVEN_QUIET_HOURS="00:00-00:00")
    wait_for_workers()

    held = submitter.post("/v1/alerts?confirm=true", data=live_demo_cap(ORANGE), headers=XML)
    assert held.status_code == 202, f"an above-threshold warning must be held even with confirm: {held.text}"
    warning = held.json()
    assert warning["state"] == "awaiting_approval", f"state: {warning['state']}"
    reach = warning["reach"]
    assert (reach["customers"], reach["warned"]) == (16, 14), f"customers inside / warned: {reach}"
    assert (reach["sms"], reach["push"], reach["sms_opted_out"]) == (14, 2, 2), f"channels: {reach}"
    assert reach["assets_by_kind"] == {"vehicle": 16, "home": 3}, f"assets by kind: {reach['assets_by_kind']}"
    assert reach["area"]["km2"] > 0, f"the area summary has no size: {reach['area']}"
    time.sleep(1.5)
    assert alerts_stored(url) == 0, "a held warning must not be stored as an alert (nothing is matched)"
    assert notifications(url) == {}, "nothing may be sent before the approval"

    own = submitter.post(f"/v1/manual-warnings/{warning['id']}/approve")
    assert own.status_code == 409, f"the submitter approved their own warning: {own.status_code}"
    assert own.json()["error"]["code"] == "own_warning", f"code: {own.json()['error']}"
    assert submitter.post(f"/v1/manual-warnings/{warning['id']}/confirm").json()["error"]["code"] == \
        "approval_required", "the submitter confirmed past the approval"
    assert dispatcher.post(f"/v1/manual-warnings/{warning['id']}/approve").status_code == 403, \
        "a dispatcher may not approve"
    seen = approvers[0].get(f"/v1/manual-warnings/{warning['id']}").json()
    assert seen["may_approve"] is True, "a manager other than the submitter may approve"
    assert seen["reach_now"]["warned"] == 14, f"the recomputed reach: {seen['reach_now']}"
    assert seen["area"]["type"] in ("Polygon", "MultiPolygon"), "the area comes as GeoJSON"

    with ThreadPoolExecutor(2) as pool:  # two approvers at once: one wins, one is told it is done
        answers = list(pool.map(lambda client: client.post(f"/v1/manual-warnings/{warning['id']}/approve"),
                                approvers))
    assert sorted(a.status_code for a in answers) == [200, 409], f"answers: {[a.text for a in answers]}"
    lost = next(a for a in answers if a.status_code == 409).json()["error"]["code"]
    assert lost == "already_released", f"the second approval's code: {lost}"
    expected = {"sms": reach["sms"], "push": reach["push"]}
    wait_until(lambda: notifications(url, state="delivered") == expected, timeout=90,
               message=f"the fan-out delivers what the reach said: {expected}")
    assert alerts_stored(url) == 1, "one approval stores one alert"
    with session_scope(url) as session:
        per_customer = session.execute(select(func.count()).select_from(Notification)
                                       .group_by(Notification.customer_id, Notification.channel)).scalars().all()
    assert set(per_customer) == {1}, "exactly one message per customer and channel"
    trail = audit(url, warning["id"])
    assert [a[0] for a in trail] == ["submitted", "approved"], f"audit trail: {trail}"
    assert trail[1][1] and trail[1][4]["warned"] == 14, f"the approval records who and the reach: {trail[1]}"
    spatial.forget_indexes()
    forget_reach_books()


def test_a_small_warning_goes_out_when_its_submitter_confirms_the_preview(api_server, pg_clean_url):
    url = pg_clean_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_QUIET_HOURS="00:00-00:00")
    book(url)
    submitter = api.as_user(make_user(url, "dispatcher", "Dee Dispatcher"))
    other = api.as_user(make_user(url, "dispatcher", "Dan Other"))
    held = submitter.post("/v1/alerts", data=live_demo_cap(ORANGE), headers=XML)
    assert held.status_code == 202, f"a person's warning must be held for its preview: {held.text}"
    warning = held.json()
    assert warning["state"] == "awaiting_confirmation", f"state: {warning['state']}"
    assert notifications(url) == {}, "nothing may be sent before the confirmation"
    assert other.get(f"/v1/manual-warnings/{warning['id']}").status_code == 404, \
        "a dispatcher must not see another's warning"
    foreign = other.post(f"/v1/manual-warnings/{warning['id']}/confirm")
    assert foreign.status_code == 403, f"a dispatcher confirmed another's warning: {foreign.status_code}"
    assert foreign.json()["error"]["code"] == "not_submitter", f"code: {foreign.json()['error']}"
    confirmed = submitter.post(f"/v1/manual-warnings/{warning['id']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "released", f"state: {confirmed.json()['state']}"
    reach = warning["reach"]
    assert notifications(url) == {"sms": reach["sms"], "push": reach["push"]}, "the fan-out matches the reach"
    again = submitter.post(f"/v1/manual-warnings/{warning['id']}/confirm")
    assert again.json()["error"]["code"] == "already_released", f"a second confirm: {again.text}"
    assert notifications(url) == {"sms": reach["sms"], "push": reach["push"]}, "a second confirm sends nothing"
    assert [a[0] for a in audit(url, warning["id"])] == ["submitted", "confirmed"], "audit trail"
    spatial.forget_indexes()
    forget_reach_books()


def test_a_rejection_needs_a_reason_and_nothing_goes_out(api_server, pg_clean_url):
    url = pg_clean_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_MANUAL_APPROVAL_ABOVE=5)
    book(url)
    submitter = api.as_user(make_user(url, "dispatcher", "Dee Dispatcher"))
    manager = api.as_user(make_user(url, "manager", "Mia Manager"))
    warning = submitter.post("/v1/alerts", data=live_demo_cap(ORANGE), headers=XML).json()
    listed = manager.get("/v1/manual-warnings?state=awaiting_approval").json()["warnings"]
    assert [w["id"] for w in listed] == [warning["id"]], "the approver's list shows the waiting warning"
    blank = manager.post(f"/v1/manual-warnings/{warning['id']}/reject", json={"reason": "  "})
    assert blank.status_code == 400, f"a blank reason: {blank.status_code}"
    assert blank.json()["error"]["field"] == "reason", f"field: {blank.json()['error']}"
    rejected = manager.post(f"/v1/manual-warnings/{warning['id']}/reject", json={"reason": "wrong polygon"})
    assert rejected.json()["state"] == "rejected", rejected.text
    late = manager.post(f"/v1/manual-warnings/{warning['id']}/approve")
    assert late.json()["error"]["code"] == "already_rejected", f"approve after reject: {late.text}"
    assert alerts_stored(url) == 0, "a rejected warning is never stored nor sent"
    trail = audit(url, warning["id"])
    assert trail[-1][0] == "rejected" and trail[-1][3] == "wrong polygon", f"the reason is audited: {trail}"
    spatial.forget_indexes()
    forget_reach_books()


def test_a_warning_nobody_approves_expires_and_never_goes_out(api_server, pg_clean_url):
    url = pg_clean_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url, HAVEN_MANUAL_APPROVAL_ABOVE=5, HAVEN_MANUAL_APPROVAL_WAIT_MIN=0.02)
    book(url)
    submitter = api.as_user(make_user(url, "dispatcher", "Dee Dispatcher"))
    manager = api.as_user(make_user(url, "manager", "Mia Manager"))
    warning = submitter.post("/v1/alerts", data=live_demo_cap(ORANGE), headers=XML).json()
    time.sleep(1.5)  # past the 1.2 s wait
    assert expire_manual_warnings.delay().get(timeout=30) == [warning["id"]], "the beat task expires it"
    assert [a[0] for a in audit(url, warning["id"])] == ["submitted", "expired"], "audited before anyone looks"
    late = manager.post(f"/v1/manual-warnings/{warning['id']}/approve")
    assert late.status_code == 409, f"approving after the deadline: {late.text}"
    assert late.json()["error"]["code"] == "already_expired", f"code: {late.json()['error']}"
    assert submitter.get(f"/v1/manual-warnings/{warning['id']}").json()["state"] == "expired", "state"
    assert alerts_stored(url) == 0, "an expired warning is never stored nor sent"
    assert [a[0] for a in audit(url, warning["id"])] == ["submitted", "expired"], "the expiry is audited"
    spatial.forget_indexes()
    forget_reach_books()


def test_polled_feed_warnings_are_not_held(api_server, sqlite_url):
    url = sqlite_url
    spatial.forget_indexes()
    forget_reach_books()
    api_server(url, HAVEN_QUIET_HOURS="00:00-00:00", HAVEN_MANUAL_APPROVAL_ABOVE=0)
    book(url)
    result = ingest(live_demo_cap(ORANGE), Origin(source="https://feeds.example/cap"), url)
    assert len(result.new_alert_ids) == 1, "the feed's warning is stored at once"
    assert notifications(url) == {"sms": 14, "push": 2}, "and sent at once, with no approval"
    with session_scope(url) as session:
        assert session.scalar(select(func.count()).select_from(ManualWarning)) == 0, "no manual warning held"
    spatial.forget_indexes()
    forget_reach_books()


def test_a_signed_in_person_always_sees_the_preview_first(api_server, sqlite_url):
    import requests

    from tests.web.test_ops_pages import PASSWORD, staff

    url = sqlite_url
    spatial.forget_indexes()
    forget_reach_books()
    api = api_server(url)
    add_book(url, 3)
    person = requests.Session()
    signed_in = person.post(f"{api.base_url}/v1/auth/login", json={"username": staff(url, "dispatcher", "Dee", "dee"),
                                                                    "password": PASSWORD}, timeout=30)
    assert signed_in.status_code == 200, f"sign-in: {signed_in.text}"
    headers = {**XML, "X-CSRF-Token": signed_in.json()["csrf_token"]}
    refused = person.post(f"{api.base_url}/v1/alerts?confirm=true", data=live_demo_cap(ORANGE), headers=headers,
                          timeout=60)
    assert refused.status_code == 400, f"a session skipped the preview: {refused.status_code}"
    assert refused.json()["error"]["field"] == "confirm", f"field: {refused.json()['error']}"
    held = person.post(f"{api.base_url}/v1/alerts", data=live_demo_cap(ORANGE), headers=headers, timeout=60)
    assert held.status_code == 202, f"a signed-in upload must be held: {held.text}"
    assert notifications(url) == {}, "nothing may be sent before the confirmation"
    spatial.forget_indexes()
    forget_reach_books()
