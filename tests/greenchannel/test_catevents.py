"""CAT events: declared by a supervisor, proposed from a Severe/Extreme chain and confirmed, closed."""

from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from alerts.matching import spatial
from greenchannel import catevents
from greenchannel.errors import Conflict, Invalid, Malformed, NotFound
from store.models import Alert, AlertChain, AuditEvent, CatEvent
from tests.greenchannel.conftest import LANDFALL, PLACES, infa_swath

BEIJING = timezone(timedelta(hours=8))


def _square(lon, lat, half=0.5):
    return {"type": "Polygon", "coordinates": [[[lon - half, lat - half], [lon + half, lat - half],
                                                [lon + half, lat + half], [lon - half, lat + half],
                                                [lon - half, lat - half]]]}


def test_a_supervisor_declares_an_event_from_geojson_and_it_is_audited(world):
    event = world.declare_infa()
    assert event.status == "open", 'expected event.status == "open"'
    assert event.code == "CAT-2021-0725-INFA", 'expected event.code == "CAT-2021-0725-INFA"'
    assert event.area_geojson["type"] == "MultiPolygon"
    with world.session() as session:
        stored = session.get(CatEvent, event.id)
        assert catevents.covers(stored, *PLACES["zhoushan"]), 'expected catevents.covers(stored, *PLACES["zhoushan"])'
        assert not catevents.covers(stored, *PLACES["sanya"]), 'expected not catevents.covers(stored, *PLACES["sanya"])'
        trail = session.scalars(select(AuditEvent).where(AuditEvent.entity == "cat_event")).all()
    assert [(a.action, a.to_state, a.actor_role) for a in trail] == [("declared", "open", "supervisor")]


def test_declaring_refuses_bad_codes_areas_windows_and_duplicates(world):
    world.declare_infa()
    with pytest.raises(Conflict, match="already exists"):
        world.declare_infa()
    with pytest.raises(Malformed) as bad_code:
        world.declare_infa(code="typhoon in-fa")
    assert bad_code.value.field == "code"
    bow_tie = {"type": "Polygon", "coordinates": [[[120, 30], [121, 31], [121, 30], [120, 31], [120, 30]]]}
    with pytest.raises(Invalid, match="not a valid polygon"):
        world.declare_infa(code="CAT-2021-0725-BOWTIE", area_geojson=bow_tie)
    lat_lon_swapped = _square(30.0, 121.0)  # [lat, lon]: 121 is not a latitude
    with pytest.raises(Invalid, match=r"\[lat, lon\]"):
        world.declare_infa(code="CAT-2021-0725-SWAP", area_geojson=lat_lon_swapped)
    with pytest.raises(Invalid, match="no polygon"):
        world.declare_infa(code="CAT-2021-0725-POINT", area_geojson={"type": "Point", "coordinates": [121, 30]})
    with pytest.raises(Invalid, match="window_end"):
        world.declare_infa(code="CAT-2021-0725-LATE", window_end=LANDFALL - timedelta(days=2))
    with pytest.raises(Malformed, match="area"):
        world.declare_infa(code="CAT-2021-0725-NONE", area_geojson=None)


def _chain(world, severity: str, areas: list[dict | None], status: str = "Actual") -> int:
    with world.session() as session:
        chain = AlertChain(state="active", max_severity=severity)
        session.add(chain)
        session.flush()
        for n, area in enumerate(areas):
            sent = (LANDFALL - timedelta(hours=6 - n)).astimezone(BEIJING)
            session.add(Alert(sender="qweather.com", identifier=f"typhoon-track:{chain.id}", sent=sent.isoformat(),
                              sent_at=sent, status=status, msg_type="Alert" if n == 0 else "Update",
                              max_severity=severity, chain_id=chain.id, expires_at=sent + timedelta(hours=24),
                              format="typhoon-track", raw=b"{}", area_geojson=area,
                              normalized={"infos": [{"event": "台风红色预警", "onset": sent.isoformat()}]}))
        session.flush()
        return chain.id


def _first_alert(world, chain_id):
    with world.session() as session:
        return session.scalar(select(Alert.id).where(Alert.chain_id == chain_id).order_by(Alert.id))


def test_an_event_can_be_declared_over_the_union_of_alert_chains(world):
    east = _chain(world, "Severe", [_square(*PLACES["zhoushan"]), None])
    west = _chain(world, "Severe", [_square(*PLACES["jiaxing"], half=0.2)])
    event = world.run(catevents.declare, world.user("supervisor"), code="CAT-2021-0725-INFA", hazard="typhoon",
                      chain_ids=[east, west], window_start=LANDFALL)
    with world.session() as session:
        stored = session.get(CatEvent, event.id)
        assert catevents.covers(stored, *PLACES["zhoushan"]), 'expected catevents.covers(stored, *PLACES["zhoushan"])'
        assert catevents.covers(stored, *PLACES["jiaxing"]), 'expected catevents.covers(stored, *PLACES["jiaxing"])'
        assert not catevents.covers(stored, *PLACES["ningbo"])
    assert event.source_chain_ids == [east, west]
    with pytest.raises(NotFound):
        world.run(catevents.declare, world.user("supervisor"), code="CAT-2021-0725-X", hazard="typhoon",
                  chain_ids=[999], window_start=LANDFALL)


def test_haven_proposes_once_per_severe_chain_above_the_threshold_and_a_supervisor_confirms(world, haven_env):
    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=100)
    chain = _chain(world, "Extreme", [infa_swath()])
    alert_id = _first_alert(world, chain)
    assert world.run(catevents.propose_from_alert, alert_id, 100, world.rules.cat_events) is None  # "more than" the threshold
    proposal = world.run(catevents.propose_from_alert, alert_id, 101, world.rules.cat_events)
    assert proposal.status == "proposed", 'expected proposal.status == "proposed"'
    assert proposal.code == "CAT-2021-0725-TYPHOON", 'expected proposal.code == "CAT-2021-0725-TYPHOON"'
    assert proposal.proposed_from_chain_id == chain, 'expected proposal.proposed_from_chain_id == chain'
    assert proposal.window_end is not None, 'expected proposal.window_end is not None'
    again = world.run(catevents.propose_from_alert, alert_id, 5000, world.rules.cat_events)
    assert again.id == proposal.id, 'expected again.id == proposal.id'
    assert again.proposed_assets == 5000, 'expected again.proposed_assets == 5000'
    with world.session() as session:
        assert session.scalar(select(CatEvent.id).where(CatEvent.status == "open")) is None  # not open yet

    opened = world.run(catevents.confirm, world.user("supervisor"), proposal.id, code="CAT-2021-0725-INFA")
    assert (opened.status, opened.code, opened.confirmed_by) == ("open", "CAT-2021-0725-INFA",
                                                                 world.user("supervisor").user_id)
    with pytest.raises(Conflict, match="not proposed"):
        world.run(catevents.confirm, world.user("supervisor"), proposal.id)


@pytest.mark.parametrize("severity, status", [("Moderate", "Actual"), ("Extreme", "Exercise")])
def test_no_proposal_below_severe_or_for_non_actual_alerts(world, haven_env, severity, status):
    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=10)
    alert_id = _first_alert(world, _chain(world, severity, [infa_swath()], status=status))
    assert world.run(catevents.propose_from_alert, alert_id, 10_000, world.rules.cat_events) is None


def test_the_match_step_proposes_through_the_greenchannel_task(world, haven_env):
    from workers.greenchannel import maybe_propose_cat_event

    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=50)
    alert_id = _first_alert(world, _chain(world, "Severe", [infa_swath()]))
    maybe_propose_cat_event(alert_id, 50)
    maybe_propose_cat_event(alert_id, 51)
    maybe_propose_cat_event(alert_id, 52)
    with world.session() as session:
        proposals = session.scalars(select(CatEvent)).all()
    assert [(p.status, p.proposed_assets) for p in proposals] == [("proposed", 52)]


def test_closing_stops_tagging_and_a_closed_event_cannot_close_again(world):
    event = world.declare_infa()
    closed = world.run(catevents.close, world.user("supervisor"), event.id, "water receding")
    assert closed.status == "closed", 'expected closed.status == "closed"'
    assert closed.closed_at is not None, 'expected closed.closed_at is not None'
    with pytest.raises(Conflict, match="already closed"):
        world.run(catevents.close, world.user("supervisor"), event.id)
    with world.session() as session:
        assert catevents.open_event_for(session, *PLACES["zhoushan"], LANDFALL) is None


def test_a_red_warning_ingested_and_matched_makes_haven_propose_the_event(world, haven_env):
    """The whole path: CAP in, match (workers/match.py), after_match, the green-channel task."""
    from alerts.reading.ingest import Origin
    from alerts.reading.replay import replay
    from alerts.service import ingest
    from store.types import utcnow
    from tests.support import ROOT

    haven_env(world.url, HAVEN_CAT_PROPOSE_MIN_ASSETS=2)
    spatial.forget_indexes()
    names = ["01-typhoon-infa-orange-alert.xml", "02-typhoon-infa-red-update.xml"]
    started = utcnow()
    for raw in replay([(ROOT / "config" / "demo" / name).read_bytes() for name in names], started, tag="gc-test"):
        ingest(raw, Origin(source="test"))
    with world.session() as session:
        proposals = session.scalars(select(CatEvent)).all()
        red = session.scalar(select(Alert).where(Alert.max_severity == "Extreme"))
    assert len(proposals) == 1, 'expected len(proposals) == 1'
    assert proposals[0].status == "proposed", 'expected proposals[0].status == "proposed"'
    assert proposals[0].proposed_from_chain_id == red.chain_id, \
        'expected proposals[0].proposed_from_chain_id == red.chain_id'
    assert proposals[0].proposed_assets == red.matched_assets, \
        'expected proposals[0].proposed_assets == red.matched_assets'
    assert proposals[0].code.startswith("CAT-"), 'expected proposals[0].code.startswith("CAT-")'
    assert proposals[0].code.endswith("-TYPHOON"), 'expected proposals[0].code.endswith("-TYPHOON")'
    with world.session() as session:
        assert catevents.covers(session.get(CatEvent, proposals[0].id), *PLACES["zhoushan"])
