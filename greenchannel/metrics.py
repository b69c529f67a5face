"""The green channel's figures for /metrics, each read in one short transaction of aggregate queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from greenchannel.dao import claims_dao, payments_dao, rescue_dao
from greenchannel.rules import RescueRules
from store.db import session_scope
from store.types import utcnow


@dataclass(frozen=True)
class ClaimFigures:
    open_by_track: dict[bool, int]
    waiting_by_track: dict[bool, int]
    late_by_clock: dict[str, int]
    cat_events_by_status: dict[str, int]


@dataclass(frozen=True)
class RescueFigures:
    jobs_by_state: dict[str, int]
    offerable_providers: int


def claim_figures(now: datetime | None = None) -> ClaimFigures:
    now = now or utcnow()
    with session_scope() as session:
        return ClaimFigures(claims_dao.open_claims_by_track(session), claims_dao.waiting_claims_by_track(session, now),
                            claims_dao.late_claims_by_clock(session, now), claims_dao.cat_events_by_status(session))


def rescue_figures(rules: RescueRules, now: datetime | None = None) -> RescueFigures:
    now = now or utcnow()
    with session_scope() as session:
        return RescueFigures(rescue_dao.jobs_by_state(session),
                             rescue_dao.offerable_provider_count(session, now - rules.location_max_age))


def payment_figures() -> list[tuple[str, str, int, float]]:
    """(state, kind, count, sum) per pair."""
    with session_scope() as session:
        return payments_dao.totals_by_state_and_kind(session)
