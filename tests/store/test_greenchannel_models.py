"""store/models/greenchannel.py: each state set is one StrEnum, and the database refuses any other spelling."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from store.db import session_scope
from store.models import Claim, Customer, Payment, RescueJob, User
from store.models.greenchannel import (
    FINAL_JOB_STATES,
    OPEN_STAGES,
    STAGES,
    ClaimStage,
    JobState,
    PaymentState,
    vocabulary,
)


def _claim(session) -> Claim:
    session.add(Customer(customer_id="C1", phone="+8617000000001"))
    session.add(User(id=1, name="adj", role="adjuster"))
    claim = Claim(customer_id="C1", loss_at=datetime.now(UTC), loss_lon=120.0, loss_lat=28.0)
    session.add(claim)
    session.flush()
    return claim


def test_the_state_sets_are_the_ones_customers_and_staff_see():
    assert [str(s) for s in STAGES] == ["reported", "surveyed", "assessed", "documents_reviewed", "adjudicated",
                                        "closed_paid"], "the six stages customers see, in order"
    assert ClaimStage.CLOSED_PAID not in OPEN_STAGES, "a paid claim is closed"
    assert set(FINAL_JOB_STATES) == {"completed", "cancelled", "gone_on_arrival"}, "how a rescue job can end"
    assert JobState.EN_ROUTE == "en_route", "a state compares equal to its JSON spelling"
    words = vocabulary()
    assert words["payment_states"] == ["requested", "pending_approval", "approved", "paid", "rejected", "failed"], \
        f"payment states as JSON: {words['payment_states']}"
    assert set(words) >= {"claim_stages", "job_states", "offer_states", "cat_event_status"}, f"every set: {set(words)}"


@pytest.mark.parametrize("table, column, value", [
    ("claims", "stage", "paid"),
    ("payments", "state", "pending"),
    ("rescue_jobs", "state", "assigned"),
])
def test_the_database_refuses_a_state_no_enum_spells(db_url, table, column, value):
    with session_scope(db_url) as session:
        claim = _claim(session)
        session.add(Payment(claim_id=claim.id, idempotency_key="k1", amount="10.00", required_role="adjuster",
                            requested_by=1, state=PaymentState.REQUESTED))
        session.add(RescueJob(claim_id=claim.id, lon=120.0, lat=28.0, state=JobState.CREATED))
    with pytest.raises(IntegrityError), session_scope(db_url) as session:
        session.execute(text(f"UPDATE {table} SET {column} = :value"), {"value": value})
    with session_scope(db_url) as session:
        kept = session.execute(text(f"SELECT {column} FROM {table}")).scalar_one()
    assert kept != value, f"{table}.{column} kept a known value, not {value!r}"
