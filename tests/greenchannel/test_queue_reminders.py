"""Reminding a customer, as a rule on both databases: once per the customer's calendar day (a reminder just
before midnight in Beijing and one just after are two days), in the customer's language with the missing
documents in words and a signed link; and the queue's why-first facts that the console words."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from greenchannel import claims, queue, reminders
from greenchannel.errors import Conflict
from store.models import Claim, Customer, Notification
from tests.greenchannel.conftest import LANDFALL


def _waiting(world, asset, **flags):
    adjuster = world.user("adjuster")
    claim = world.file(asset, **flags)
    world.run(claims.transition, adjuster, claim.id, "surveyed")
    return world.run(claims.transition, adjuster, claim.id, "assessed", estimate=Decimal("50000.00"))


def test_one_reminder_per_day_of_the_customer_in_their_language_with_a_link(world):
    world.declare_infa()
    claim = _waiting(world, "A00000001", flood_depth_level=2)  # flooded car of C0000001 (Chinese, Beijing time)
    adjuster = world.user("adjuster")
    late_evening = datetime(2021, 7, 26, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    first = world.run(reminders.remind_customer, adjuster, claim.id, now=late_evening)
    assert first["missing"] == ["photos", "id", "bank_account"], f"the reminder lists {first['missing']}"
    with pytest.raises(Conflict) as again:
        world.run(reminders.remind_customer, world.user("supervisor"), claim.id,
                  now=datetime(2021, 7, 26, 15, 55, tzinfo=UTC))
    assert again.value.code == "already_reminded_today", "a second reminder the same Beijing day was not refused"
    after_midnight = world.run(reminders.remind_customer, adjuster, claim.id,
                               now=datetime(2021, 7, 26, 16, 10, tzinfo=UTC))  # 00:10 the next day in Beijing
    assert after_midnight["notification_id"] != first["notification_id"], "the next day's reminder was not sent"
    with world.session() as session:
        bodies = [m.body for m in session.scalars(select(Notification).where(
            Notification.kind == "claim_reminder").order_by(Notification.id))]
    assert len(bodies) == 2, f"{len(bodies)} reminders were saved over two days, not two"
    assert "还缺：损失照片、身份证、银行账户" in bodies[0] and "/c/" in bodies[0], \
        f"the Chinese reminder does not name the documents in words with a signed link: {bodies[0]}"


def test_the_reminder_reads_in_english_for_an_english_customer():
    text = reminders.reminder_text("en", ["photos", "bank_account"], "https://haven.example/c/abc")
    assert text == ("Haven claims: your claim still needs photos of the damage, bank account. Open this link to "
                    "see it and upload: https://haven.example/c/abc"), f"the English reminder reads: {text}"
    assert "/c/abc" in reminders.reminder_text("zh-CN", [], "https://haven.example/c/abc"), \
        "a reminder with nothing missing lost its link"


def test_why_first_gives_facts_the_console_can_word_in_any_language(world):
    world.declare_infa()
    claim = world.file("A00000002", person_trapped=True, vehicle_in_water=True, flood_depth_level=5,
                       estimate="90000")  # customer born 1950
    with world.session() as session:
        stored = session.get(Claim, claim.id)
        facts = queue.why_first(stored, session.get(Customer, stored.customer_id), False, LANDFALL)
    codes = [fact["code"] for fact in facts]
    assert codes == ["green_channel", "person_trapped", "vehicle_in_water", "customer_aged", "deep_flood",
                     "estimate"], f"the why-first facts are {codes}"
    assert facts[0]["cat_code"] == "CAT-2021-0725-INFA" and facts[3]["age"] == 71 and facts[4]["level"] == 5, \
        f"the facts lost their values: {facts}"
    assert facts[5]["amount"] == "90000.00", f"the estimate fact is {facts[5]}"
    assert stored.priority_reasons[:2] == ["green channel CAT-2021-0725-INFA", "person trapped"], \
        "the stored English reasons changed"
