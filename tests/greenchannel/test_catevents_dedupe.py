"""One CAT event per storm: a chain that already has an event proposes nothing, two alerts of one chain
racing make one proposal, and a duplicate proposal is merged into the open event, dismissed or confirmed,
each audited, over real HTTP too."""

from datetime import timedelta, timezone

import pytest
from sqlalchemy import func, select

from greenchannel import catevents
from greenchannel.errors import Conflict, Invalid, Malformed
from store.models import Alert, AlertChain, AuditEvent, CatEvent, CatEventChain
from tests.greenchannel.conftest import LANDFALL, PLACES, infa_swath, race, seed_book
from tests.support import make_user

BEIJING = timezone(timedelta(hours=8))


def _square(lon, lat, half=0.5):
    return {"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
                                                [lon + half, lat + half], [lon - half, lat + half],
                                                [lon - half, lat - half]]]}


def _chain(url, alerts: int, area: dict, severity: str = "Extreme") -> tuple[int, list[int]]:
    """A chain of `alerts` messages (an Alert and Updates) of one storm, as the matcher leaves them."""
    from store.db import session_scope

    with session_scope(url) as session:
        chain = AlertChain(state="active", max_severity=severity)
        session.add(chain)
        session.flush()
        ids = []
        for n in range(alerts):
            sent = (LANDFALL - timedelta(hours=6 - n)).astimezone(BEIJING)
            alert = Alert(sender="nmc.cn", identifier=f"infa-{chain.id}-{n}", sent=sent.isoformat(), sent_at=sent,
                          status="Actual", msg_type="Alert" if n == 0 else "Update", max_severity=severity,
                          chain_id=chain.id, expires_at=sent + timedelta(hours=24), format="cap", raw=b"<alert/>",
                          area_geojson=area, normalized={"infos": [{"event": "台风", "onset": sent.isoformat()}]})
            session.add(alert)
            session.flush()
            ids.append(alert.id)
        return chain.id, ids


def _events(world):
    with world.session() as session:
        return session.scalars(select(CatEvent).order_by(CatEvent.id)).all()


def _trail(world, event_id):
    with world.session() as session:
        return [(a.action, a.from_state, a.to_state, a.note) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "cat_event", AuditEvent.entity_id == str(event_id))
            .order_by(AuditEvent.id))]


def test_two_alerts_of_one_chain_racing_on_postgresql_propose_one_event(pg_world, haven_env):
    haven_env(pg_world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    rules = pg_world.rules.cat_events
    for round_ in range(6):
        chain_id, (orange, red) = _chain(pg_world.url, 2, infa_swath())
        outcomes = race(lambda a=orange: pg_world.run(catevents.propose_from_alert, a, 900, rules),
                        lambda a=red: pg_world.run(catevents.propose_from_alert, a, 1200, rules))
        assert all(kind == "ok" for kind, _ in outcomes), f"round {round_}: a racing proposal failed: {outcomes}"
        assert outcomes[0][1].id == outcomes[1][1].id, \
            f"round {round_}: the two alerts of chain {chain_id} proposed two events"
        with pg_world.session() as session:
            proposals = session.scalar(select(func.count()).select_from(CatEvent)
                                       .where(CatEvent.proposed_from_chain_id == chain_id))
            links = session.scalars(select(CatEventChain).where(CatEventChain.chain_id == chain_id)).all()
            audited = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.entity == "cat_event", AuditEvent.action == "proposed",
                AuditEvent.entity_id == str(outcomes[0][1].id)))
        assert proposals == 1, f"round {round_}: chain {chain_id} has {proposals} proposals"
        assert [link.cat_event_id for link in links] == [outcomes[0][1].id], \
            f"round {round_}: chain {chain_id} is not held by its one proposal"
        assert audited == 1, f"round {round_}: the proposal was audited {audited} times"


def test_a_chain_a_supervisor_declared_proposes_nothing_and_cannot_join_a_second_live_event(world, haven_env):
    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    chain_id, (orange, red) = _chain(world.url, 2, infa_swath())
    declared = world.declare_infa(chain_ids=[chain_id])
    again = world.run(catevents.propose_from_alert, red, 5000, world.rules.cat_events)
    assert again.id == declared.id, "a later warning of the declared storm should find the open event"
    assert [(e.code, e.status) for e in _events(world)] == [("CAT-2021-0725-INFA", "open")], \
        "a second warning of the same storm proposed a second event next to the open one"
    with pytest.raises(Conflict) as taken:
        world.declare_infa(code="CAT-2021-0725-INFA-2", chain_ids=[chain_id])
    assert (taken.value.code, taken.value.field) == ("chain_taken", "chain_ids"), \
        "declaring over a chain of an open event should be refused naming chain_ids"


def test_merging_a_duplicate_proposal_attaches_its_chain_to_the_open_event(world, haven_env):
    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    first_chain, _ = _chain(world.url, 1, infa_swath())
    open_event = world.declare_infa(chain_ids=[first_chain])
    second_chain, (second_alert, later) = _chain(world.url, 2, _square(*PLACES["ningbo"]))
    proposal = world.run(catevents.propose_from_alert, second_alert, 800, world.rules.cat_events)
    assert proposal.status == "proposed", "a second chain of the storm should still be proposed for review"

    far_chain, (far_alert,) = _chain(world.url, 1, _square(*PLACES["sanya"]))
    far = world.run(catevents.propose_from_alert, far_alert, 800, world.rules.cat_events)
    with pytest.raises(Invalid, match="not the same storm"):
        world.run(catevents.merge, world.user("supervisor"), far.id, open_event.id)
    with pytest.raises(Conflict, match="not proposed"):
        world.run(catevents.merge, world.user("supervisor"), open_event.id, proposal.id)

    merged_into = world.run(catevents.merge, world.user("supervisor"), proposal.id, open_event.id)
    assert merged_into.id == open_event.id, "the merge should answer the open event"
    assert merged_into.source_chain_ids == [first_chain, second_chain], \
        f"the open event's chains are {merged_into.source_chain_ids}, not both chains of the storm"
    with world.session() as session:
        stored = session.get(CatEvent, proposal.id)
        assert (stored.status, stored.merged_into_id) == ("closed", open_event.id), \
            "the merged proposal should be closed and point at the open event"
        holder = session.scalar(select(CatEventChain.cat_event_id).where(CatEventChain.chain_id == second_chain))
    assert holder == open_event.id, "the proposal's chain should now belong to the open event"
    assert _trail(world, proposal.id)[-1][:3] == ("merged", "proposed", "closed"), "the merge is not audited"
    assert _trail(world, open_event.id)[-1][0] == "chains_attached", "the open event's audit lacks the new chain"
    after = world.run(catevents.propose_from_alert, later, 9000, world.rules.cat_events)
    assert after.id == open_event.id, "a later alert of the merged chain proposed again"
    assert sum(e.status == "proposed" for e in _events(world)) == 1, "only the far storm's proposal should wait"


def test_dismissing_needs_a_reason_is_audited_and_the_chain_proposes_nothing_again(world, haven_env):
    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    chain_id, (first, later) = _chain(world.url, 2, infa_swath(), severity="Severe")
    proposal = world.run(catevents.propose_from_alert, first, 600, world.rules.cat_events)
    with pytest.raises(Malformed) as no_reason:
        world.run(catevents.dismiss, world.user("supervisor"), proposal.id, "  ")
    assert no_reason.value.field == "reason", "a dismissal without a reason should name the field reason"
    world.run(catevents.dismiss, world.user("supervisor"), proposal.id, "swell only; no landfall in our book")
    assert _trail(world, proposal.id)[-1] == ("dismissed", "proposed", "closed", "swell only; no landfall in our book")
    again = world.run(catevents.propose_from_alert, later, 5000, world.rules.cat_events)
    assert again.status == "closed", "the dismissed chain should not propose a new event"
    assert len(_events(world)) == 1, "a dismissed chain's later warning made a second proposal"


@pytest.fixture
def http(api_server, sqlite_url, haven_env):
    seed_book(sqlite_url)
    server = api_server(sqlite_url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    keys = {name: make_user(sqlite_url, role, name, None)
            for name, role in [("sup", "supervisor"), ("ann", "adjuster"), ("root", "admin")]}
    return {name: server.as_user(key) for name, key in keys.items()} | {"url": sqlite_url}


def test_confirm_dismiss_and_merge_over_http_with_audit_rows(http):
    from greenchannel.service import run_unit
    from workers.greenchannel import current_rules, wire_green_channel

    wire_green_channel()
    rules = current_rules().cat_events
    storm, (storm_alert,) = _chain(http["url"], 1, infa_swath())
    duplicate, (duplicate_alert,) = _chain(http["url"], 1, _square(*PLACES["ningbo"]))
    swell, (swell_alert,) = _chain(http["url"], 1, _square(*PLACES["sanya"]))
    ids = {name: run_unit(catevents.propose_from_alert, alert, 700, rules).id
           for name, alert in [("storm", storm_alert), ("duplicate", duplicate_alert), ("swell", swell_alert)]}

    listed = http["sup"].get("/v1/cat-events?status=proposed").json()["cat_events"]
    assert sorted(e["id"] for e in listed) == sorted(ids.values()), "the three proposals are not listed"
    assert all(e["proposed_assets"] == 700 and e["claims_tagged"] == 0 for e in listed), \
        "each proposal should carry its reach and its tagged claims"

    refused = http["ann"].post(f"/v1/cat-events/{ids['storm']}/confirm", json={})
    assert refused.status_code == 403, "an adjuster may not confirm a CAT event"
    confirmed = http["sup"].post(f"/v1/cat-events/{ids['storm']}/confirm", json={"code": "CAT-2021-0725-INFA"})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "open", confirmed.text

    no_reason = http["sup"].post(f"/v1/cat-events/{ids['swell']}/dismiss", json={})
    assert no_reason.status_code == 400 and no_reason.json()["error"]["field"] == "reason", \
        f"a dismissal without a reason should be a 400 naming reason: {no_reason.text}"
    dismissed = http["sup"].post(f"/v1/cat-events/{ids['swell']}/dismiss", json={"reason": "swell only"})
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "closed", dismissed.text

    bad_target = http["sup"].post(f"/v1/cat-events/{ids['duplicate']}/merge", json={"into_id": "first"})
    assert bad_target.status_code == 400 and bad_target.json()["error"]["field"] == "into_id", bad_target.text
    into_closed = http["sup"].post(f"/v1/cat-events/{ids['duplicate']}/merge", json={"into_id": ids["swell"]})
    assert into_closed.status_code == 409 and into_closed.json()["error"]["code"] == "not_open", into_closed.text
    merged = http["root"].post(f"/v1/cat-events/{ids['duplicate']}/merge",
                               json={"into_id": ids["storm"], "note": "same typhoon, Ningbo warning"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["source_chain_ids"] == [storm, duplicate], "the merged chain is not on the open event"
    twice = http["sup"].post(f"/v1/cat-events/{ids['duplicate']}/merge", json={"into_id": ids["storm"]})
    assert twice.status_code == 409, "a merged proposal cannot be merged again"

    from store.db import session_scope

    with session_scope(http["url"]) as session:
        trail = {(a.entity_id, a.action, a.actor_role, a.note) for a in session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "cat_event"))}
    for row in [(str(ids["storm"]), "confirmed", "supervisor", "CAT-2021-0725-INFA"),
                (str(ids["swell"]), "dismissed", "supervisor", "swell only"),
                (str(ids["duplicate"]), "merged", "admin", "same typhoon, Ningbo warning")]:
        assert row in trail, f"no audit row {row}; the trail holds {sorted(trail)}"
    assert any(r[:3] == (str(ids["storm"]), "chains_attached", "admin") for r in trail), \
        "the open event's audit trail does not record the chain it gained"
