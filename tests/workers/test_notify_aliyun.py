"""A warning out through Alibaba Cloud SMS with real Celery workers on real Redis and PostgreSQL: ingest ->
match -> fan-out -> SendSms via the official SDK to the Aliyun-compatible server (approved templates, the
alert's facts as variables) -> SmsReport pushed to the API -> notifications delivered."""

from sqlalchemy import func, select

from alerts.matching import spatial
from alerts.reading.ingest import Origin
from alerts.service import ingest
from store.db import session_scope
from store.models import Notification, Receipt
from tests.aliyun_support import REPORT_TOKEN, aliyun_server_fixture  # noqa: F401
from tests.notify_support import add_book, live_demo_cap, wait_for_workers
from tests.support import wait_until

ORANGE = "01-typhoon-infa-orange-alert.xml"
CUSTOMERS = 12


def delivered(url: str) -> int:
    with session_scope(url) as session:
        return session.execute(select(func.count()).select_from(Notification)
                               .where(Notification.state == "delivered")).scalar_one()


def test_a_warning_fans_out_as_approved_templates_and_status_reports_deliver_it(
        api_server, haven_env, celery_worker, pg_clean_url, aliyun_server):
    url = pg_clean_url
    spatial.forget_indexes()
    environment = {**aliyun_server.env(), "HAVEN_QUIET_HOURS": "00:00-00:00", "HAVEN_SMS_RATE_PER_S": "200"}
    api = api_server(url, **environment)
    aliyun_server.provider.report_url = f"{api.base_url}/webhooks/aliyun/status/{REPORT_TOKEN}"
    add_book(url, CUSTOMERS)  # every fourth customer reads English, the others Chinese
    celery_worker(url, concurrency=2, **environment)
    wait_for_workers()

    ingest(live_demo_cap(ORANGE), Origin(source="test"), url)
    wait_until(lambda: delivered(url) == CUSTOMERS, timeout=90, message="every warning delivered by its SmsReport")
    accepted = aliyun_server.provider.accepted
    assert sorted(aliyun_server.provider.per_recipient().values()) == [1] * CUSTOMERS, "a customer got two SMS"
    by_phone = {m.phone: m for m in accepted}
    chinese, english = by_phone["17000000001"], by_phone["17000000004"]
    assert chinese.template_code == "SMS_900000001", f"a Chinese warning used {chinese.template_code}"
    assert english.template_code == "SMS_900000002", f"an English warning used {english.template_code}"
    assert chinese.params == {"hazard": "台风", "level": "橙色", "place": "浙江东部沿海及福建东北部沿海（温州、台州、宁波、舟山、宁德、福州）",
                              "hotline": "400-000-0000"}, f"the Chinese variables were {chinese.params}"
    assert (english.params["hazard"], english.params["level"]) == ("typhoon", "orange"), \
        f"the English variables were {english.params}"
    assert all(len(value) <= 35 for m in accepted for value in m.params.values()), "a variable exceeds 35 characters"
    with session_scope(url) as session:
        rows = session.execute(select(Notification.provider, Notification.provider_message_id)).all()
        matched = session.execute(select(func.count(func.distinct(Receipt.notification_id)))
                                  .where(Receipt.provider == "aliyun")).scalar_one()
    assert {provider for provider, _ in rows} == {"aliyun"}, "a warning went through another provider"
    assert {biz_id for _, biz_id in rows} == {m.biz_id for m in accepted}, "the stored ids are not Aliyun's BizIds"
    assert matched == CUSTOMERS, f"status reports matched {matched} notifications, not every warning"
    spatial.forget_indexes()
