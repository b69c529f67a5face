"""The demo's GPS feed: the trucks `haven demo` registered report where they are, every couple of minutes.

Real trucks report their positions through PATCH /v1/rescue/providers/{id}; a position older than
RescueRules.provider_location_max_age_s takes the truck off the board. The embedded default has no GPS
(as it has no live warning feeds), so without this the demo's trucks would all be stale a quarter of an
hour after `haven demo` and dispatch would look broken. `haven run` runs it from its beat schedule
(workers/greenchannel.py); it touches only providers the demo marked as its own when it registered them,
and each report goes through the PATCH route's business function, with an audit row naming this feed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from greenchannel import rescue, service
from greenchannel.dao import demo_gps_dao
from greenchannel.requests import ProviderChanges
from store import audit
from store.db import session_scope
from store.models import RescueProvider
from store.types import utcnow
from store.users import Principal

SOURCE = "haven demo GPS feed"
DEMO_TRUCK = "demo_truck"  # the audit action that marks a provider as the demo's
REPORT_EVERY_S = 120.0


def mark_demo_truck(session: Session, actor: Principal, provider: RescueProvider) -> None:
    """Called by the demo right after registering a truck, in the same transaction."""
    audit.record(session, "rescue_provider", provider.id, DEMO_TRUCK, actor_id=actor.user_id, actor_role=actor.role,
                 note="registered by haven demo; its position comes from the demo's GPS feed",
                 data={"source": SOURCE})


def _report(session: Session, provider_id: int, registered_by: int) -> bool:
    provider = session.get(RescueProvider, provider_id)
    if provider is None or provider.lon is None or provider.lat is None:
        return False
    # The truck's app speaks for the dispatcher who registered it, as the demo's trucks did during the story.
    device = Principal(registered_by, SOURCE, "dispatcher", None)
    where = [provider.lon, provider.lat]  # parked or on a job, the truck reports where it last was
    rescue.update_provider(session, device, provider_id, ProviderChanges.model_validate({"location": where}))
    audit.record(session, "rescue_provider", provider_id, "location_reported", actor_id=registered_by,
                 actor_role="dispatcher", data={"source": SOURCE, "location": where})
    return True


def report_positions() -> dict:
    """One round of the feed: every demo truck with a position reports it again, each in its own unit."""
    with session_scope() as session:
        trucks = [(p.id, registered_by) for p, registered_by in demo_gps_dao.demo_trucks(session, DEMO_TRUCK)]
    reported = sum(bool(service.run_unit(_report, provider_id, registered_by)) for provider_id, registered_by in trucks)
    return {"trucks": len(trucks), "reported": reported, "at": utcnow().isoformat()}
