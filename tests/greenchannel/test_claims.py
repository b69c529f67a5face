"""Claims: green-channel eligibility by area and window, the six stages, documents, visibility."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from shapely.geometry import shape
from sqlalchemy import select

from greenchannel import catevents, claims
from greenchannel.documents import Upload
from greenchannel.errors import Conflict, Forbidden, Invalid, NotFound
from greenchannel.requests import FirstNotice
from store.models import Asset, AuditEvent, Claim
from tests.greenchannel.conftest import LANDFALL, real_jpeg


def test_a_loss_inside_an_open_event_is_fast_tracked_with_the_short_checklist(world):
    world.declare_infa()
    flooded = world.file("A00000001", vehicle_in_water=True, flood_depth_level=3)
    assert (flooded.fast_track, flooded.cat_code) == (True, "CAT-2021-0725-INFA")
    assert flooded.required_documents == ["photos", "id", "bank_account"]  # no police report
    ordinary = world.file("A00000005", vehicle_in_water=True)  # Guangzhou: outside the storm
    assert (ordinary.fast_track, ordinary.cat_code) == (False, None)
    assert "police_report" in ordinary.required_documents, 'expected "police_report" in ordinary.required_documents'
    assert "claim_form" in ordinary.required_documents, 'expected "claim_form" in ordinary.required_documents'
    home = world.file("A00000004")
    assert home.fast_track, 'expected home.fast_track'
    assert home.required_documents == ["photos", "id", "bank_account", "loss_inventory"], \
        'expected home.required_documents == ["photos", "id", "bank_account", "loss_inventory"]'


def test_the_window_and_the_event_status_decide_too(world):
    event = world.declare_infa()
    too_early = world.file("A00000001", at=LANDFALL - timedelta(days=2))
    assert not too_early.fast_track
    world.run(catevents.close, world.user("supervisor"), event.id)
    after_close = world.file("A00000002")
    assert not after_close.fast_track
    with world.session() as session:
        tagged = session.scalars(select(Claim).where(Claim.cat_code == "CAT-2021-0725-INFA")).all()
    assert tagged == []  # only claims filed while it was open carry the tag


def test_claims_tagged_before_closing_keep_their_tag(world):
    event = world.declare_infa()
    tagged = world.file("A00000001")
    world.run(catevents.close, world.user("supervisor"), event.id)
    with world.session() as session:
        assert session.get(Claim, tagged.id).cat_code == "CAT-2021-0725-INFA"


def test_a_loss_exactly_on_the_boundary_is_inside(world):
    square = {"type": "Polygon", "coordinates": [[[122.0, 29.9], [122.207, 29.9], [122.207, 30.1],
                                                  [122.0, 30.1], [122.0, 29.9]]]}
    world.declare_infa(area_geojson=square)  # Zhoushan's asset sits on the east edge (lon 122.207)
    assert shape(square).exterior.distance(shape({"type": "Point", "coordinates": [122.207, 29.985]})) == 0
    assert world.file("A00000001").fast_track


def test_customers_file_for_their_own_assets_and_see_only_their_own_claims(world):
    world.declare_infa()
    alice = world.user("customer", "alice", "C0000001")
    bob = world.user("customer", "bob", "C0000002")
    mine = world.file("A00000001", actor=alice)
    assert mine.customer_id == "C0000001", 'expected mine.customer_id == "C0000001"'
    assert mine.created_by == alice.user_id, 'expected mine.created_by == alice.user_id'
    with pytest.raises(Invalid, match="no insured asset A00000002 on your policy"):
        world.file("A00000002", actor=alice)
    with pytest.raises(NotFound):
        world.run(lambda s: claims.visible_claim(s, bob, mine.id))
    assert [c.id for c in world.run(claims.list_claims, bob)] == []
    with pytest.raises(Forbidden, match="estimate"):
        world.file("A00000001", actor=alice, estimate="5000")


def test_a_retried_report_files_one_claim(world):
    alice = world.user("customer", "alice", "C0000001")
    notice = FirstNotice(asset_id="A00000001", loss_at=LANDFALL)
    first, created = world.run(claims.file_claim, alice, notice, "fnol-7f3a")
    again, created_again = world.run(claims.file_claim, alice, notice, "fnol-7f3a")
    assert (created, created_again, again.id) == (True, False, first.id)


def test_reports_that_cannot_be_right_are_refused_with_the_field(world):
    with pytest.raises(Invalid) as future:
        world.file("A00000001", at=LANDFALL + timedelta(days=365 * 20))
    assert future.value.field == "loss_at"
    with pytest.raises(Invalid) as not_a_car:
        world.file("A00000004", vehicle_in_water=True)
    assert not_a_car.value.field == "vehicle_in_water"


def _upload(world, actor, claim_id, kind):
    upload = Upload(limit=1 << 20)
    upload.write(real_jpeg())
    return world.run(claims.add_document, actor, claim_id, kind, upload.finish("IMG_0001.JPG"))


def _move(world, actor, claim_id, to, **kwargs):
    return world.run(claims.transition, actor, claim_id, to, kwargs.pop("note", f"to {to}"), **kwargs)


def test_stages_move_one_step_at_a_time_and_back_only_by_returning_documents(world):
    world.declare_infa()
    adjuster = world.user("adjuster")
    claim = world.file("A00000001", vehicle_in_water=True)
    with pytest.raises(Conflict, match="cannot skip from reported to assessed"):
        _move(world, adjuster, claim.id, "assessed")
    _move(world, adjuster, claim.id, "surveyed")
    with pytest.raises(Invalid, match="estimate"):
        _move(world, adjuster, claim.id, "assessed")
    _move(world, adjuster, claim.id, "assessed", estimate=Decimal("86000.00"))
    with pytest.raises(Invalid, match="documents still missing: photos, id, bank_account"):
        _move(world, adjuster, claim.id, "documents_reviewed")
    for kind in ("photos", "id", "bank_account"):
        _upload(world, world.user("customer", "alice", "C0000001"), claim.id, kind)
    _move(world, adjuster, claim.id, "documents_reviewed")
    with pytest.raises(Conflict, match="only when documents are returned"):
        _move(world, adjuster, claim.id, "assessed")
    back = _move(world, adjuster, claim.id, "assessed", note="photo blurred", return_documents=["photos"])
    assert back.stage == "assessed"
    with world.session() as session:
        assert claims.missing_documents(session, session.get(Claim, claim.id)) == ["photos"]
    _upload(world, adjuster, claim.id, "photos")
    for stage in ("documents_reviewed", "adjudicated", "closed_paid"):
        _move(world, adjuster, claim.id, stage)
    with pytest.raises(Conflict, match="cannot change any more"):
        _move(world, adjuster, claim.id, "rejected", note="too late")

    with world.session() as session:
        trail = session.scalars(select(AuditEvent).where(AuditEvent.entity == "claim",
                                                         AuditEvent.action == "transition")
                                .order_by(AuditEvent.id)).all()
        view = claims.view(session, world.user("customer", "alice", "C0000001"), session.get(Claim, claim.id))
    assert [(a.from_state, a.to_state) for a in trail] == [
        ("reported", "surveyed"), ("surveyed", "assessed"), ("assessed", "documents_reviewed"),
        ("documents_reviewed", "assessed"), ("assessed", "documents_reviewed"),
        ("documents_reviewed", "adjudicated"), ("adjudicated", "closed_paid")]
    assert all(a.actor_id == adjuster.user_id and a.actor_role == "adjuster" and a.at for a in trail)
    assert trail[3].note == "photo blurred"
    assert [s["stage"] for s in view["stages"]] == list(claims.STAGES)
    assert all(s["reached_at"] is not None for s in view["stages"]), \
        'expected all(s["reached_at"] is not None for s in view["stages"])'
    assert view["stages"][-1]["current"], 'expected view["stages"][-1]["current"]'
    assert "history" not in view, 'expected "history" not in view'
    assert "priority" not in view, 'expected "priority" not in view'


def test_withdrawal_and_rejection(world):
    alice = world.user("customer", "alice", "C0000001")
    mine = world.file("A00000001", actor=alice)
    withdrawn = world.run(claims.withdraw, alice, mine.id, "car started again")
    assert withdrawn.stage == "withdrawn"
    with world.session() as session:
        view = claims.view(session, alice, session.get(Claim, mine.id))
    assert view["closed_as"]["state"] == "withdrawn", 'expected view["closed_as"]["state"] == "withdrawn"'
    assert view["stages"][0]["reached_at"] is not None, 'expected view["stages"][0]["reached_at"] is not None'
    other = world.file("A00000002")
    with pytest.raises(Forbidden):
        world.run(claims.transition, alice, mine.id, "surveyed")
    with pytest.raises(Exception, match="needs a note"):
        world.run(claims.transition, world.user("adjuster"), other.id, "rejected")
    rejected = world.run(claims.transition, world.user("adjuster"), other.id, "rejected", "not insured peril")
    assert rejected.stage == "rejected"


def test_customer_view_shows_missing_documents_and_uploaded_files_by_hash(world):
    world.declare_infa()
    alice = world.user("customer", "alice", "C0000001")
    claim = world.file("A00000001", actor=alice, vehicle_in_water=True)
    document = _upload(world, alice, claim.id, "photos")
    with world.session() as session:
        view = claims.view(session, alice, session.get(Claim, claim.id))
        asset = session.get(Asset, "A00000001")
    assert view["documents"]["missing"] == ["id", "bank_account"]
    uploaded = view["documents"]["uploaded"][0]
    assert uploaded["sha256"] == document.sha256, 'expected uploaded["sha256"] == document.sha256'
    assert uploaded["size"] == len(real_jpeg()), 'expected uploaded["size"] == len(real_jpeg())'
    assert document.content_type == "image/jpeg", 'expected document.content_type == "image/jpeg"'
    assert Path(document.storage_path).read_bytes() == real_jpeg(), \
        'expected Path(document.storage_path).read_bytes() == real_jpeg()'
    assert view["advance_paid"] == "0.00", 'expected view["advance_paid"] == "0.00"'
    assert view["cat_code"] == "CAT-2021-0725-INFA", 'expected view["cat_code"] == "CAT-2021-0725-INFA"'
    assert asset.customer_id == "C0000001"
