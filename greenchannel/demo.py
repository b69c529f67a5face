"""The green channel part of `haven demo`: the typhoon lands, claims pour in, trucks go out, money moves.

It continues the warnings story (cli/demo.py): the red typhoon warning's chain has reached enough
insured assets for Haven to propose a CAT event, and a supervisor confirms it. Then, on a simulated
clock that starts at landfall (STORY_SPAN before now) and never passes the real clock:
  1. 300 claims arrive over four hours, from the book's real assets: inside the storm's area and
     window, inside the area but with a loss before the window, and outside the area; some with
     people trapped, some from customers over 60, many with cars in water.
  2. Two adjusters work the fast-track queue (lease, call, survey, assess) while claims keep arriving.
  3. 40 rescue jobs go to 12 tow and flatbed providers in surge batches; some providers never answer,
     their offers expire and cascade; the rest drive out, arrive, tow and complete.
  4. Advances are paid at all three authority levels (adjuster, supervisor, manager approvals).
  5. Work is left for each role to do at once: claims whose customers sent every document, an approval
     waiting for the supervisor (the bank account not in yet: an override with a reason), rescue requests
     left for the dispatcher to place by hand, and the demo customer's own claim, assessed and missing one
     document.
The people are the demo users `haven run` signs in (config/seed.py DEMO_STAFF).
Every action goes through the same business functions and unit of work as the API (`run_unit`).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
from shapely.geometry import Point, shape
from sqlalchemy import select

from greenchannel import catevents, claims, demo_gps, payments, queue, rescue
from greenchannel.documents import Upload
from greenchannel.loss_report_service import demo_report_line
from greenchannel.requests import FirstNotice, JobRequest, ProviderChanges, ProviderRegistration
from greenchannel.rules import GreenChannelRules
from store.db import session_scope
from store.models import Asset, CatEvent, Claim, Customer, Payment, RescueJob, RescueOffer, User
from store.types import utcnow
from store.users import Principal, create_user

# For a standalone run (no warnings replayed first): the coast of Zhejiang and northern Fujian, where
# In-Fa (2021) and Doksuri (2023) did their damage. [lon, lat], WGS-84.
STANDALONE_AREA = {"type": "Polygon", "coordinates": [[
    [118.3, 24.6], [119.8, 24.9], [121.0, 26.4], [122.3, 27.9], [123.0, 29.5], [122.8, 31.0], [121.0, 31.0],
    [120.0, 30.6], [119.6, 29.4], [118.6, 27.4], [118.0, 25.8], [118.3, 24.6]]]}
ARRIVAL_SPAN = timedelta(hours=4)
WORK_SPAN = timedelta(hours=6)  # the adjusters go on working after the last claim arrived
WORK_STEP = timedelta(minutes=2)  # a call and a photo survey
RESCUE_ROUND = timedelta(minutes=6)
# The whole story happens in the past: landfall was this long ago, so claims, survey and rescue rounds
# fit before now, and nothing the demo writes is dated ahead of the clock.
STORY_SPAN = timedelta(hours=15)
# The customers' call-back rescue requests wait this long for the dispatcher (`haven run` would otherwise
# offer them within seconds of starting); after it, the automatic batch takes them so none is forgotten.
LEFT_FOR_DISPATCHER = timedelta(hours=4)
CALL_BACK_NOTE = "客户回电：车辆仍泡在水里"  # as the hotline (Chinese-speaking, like its claim descriptions) types it
BEIJING = timezone(timedelta(hours=8))
# The smallest PNG (1x1): what a customer's app would send as a photo or a scan in the demo.
DEMO_SCAN = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                          "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4bb0000000049454e44ae426082")


@dataclass
class StorySummary:
    cat_code: str = ""
    claims_filed: int = 0
    fast_tracked: int = 0
    ordinary: int = 0
    outside_area: int = 0
    outside_window: int = 0
    people_trapped: int = 0
    customers_over_60: int = 0
    cars_in_water: int = 0
    median_first_contact_min: dict[str, float | None] = field(default_factory=dict)
    contacted: int = 0
    rescue_jobs: int = 0
    rescues_completed: int = 0
    offers_expired: int = 0
    offers_rejected: int = 0
    sms_saved: int = 0
    advances_paid: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)
    ended_at: datetime | None = None


Runner = Callable[..., object]


def _principal(user: User) -> Principal:
    return Principal(user.id, user.name, user.role, user.customer_id)


def _staff(role: str, name: str) -> Principal:
    """The user of that role and name, created only when missing (a second demo finds the first's)."""
    with session_scope() as session:
        user = session.scalar(select(User).where(User.role == role, User.name == name, User.customer_id.is_(None))
                              .order_by(User.id).limit(1))
        if user is None:
            from config.seed import DEMO_STAFF_PHONES

            user, _ = create_user(session, role, name, phone=DEMO_STAFF_PHONES.get(name))
        return _principal(user)


def demo_people() -> dict[str, Principal]:
    """The demo users `haven run` signs in: one per staff role, two adjusters, and the demo customer."""
    from config.seed import DEMO_STAFF

    people: dict[str, Principal] = {}
    for role, name in DEMO_STAFF:
        key = f"{role}2" if role in people else role
        people[key] = _staff(role, name)
    with session_scope() as session:
        customer = session.scalar(select(User).where(User.role == "customer", User.customer_id.is_not(None))
                                  .order_by(User.id).limit(1))
        if customer is not None:
            people["customer"] = _principal(customer)
    return people


def _customer_user(customer_id: str) -> Principal:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.role == "customer", User.customer_id == customer_id)
                              .order_by(User.id).limit(1))
        if user is None:
            user, _ = create_user(session, "customer", f"app user {customer_id}", customer_id)
        return _principal(user)


def beijing_time(at: datetime) -> str:
    return f"{at.astimezone(BEIJING):%H:%M} Beijing time (UTC+8)"


# --- 1. the CAT event ----------------------------------------------------------------------------

def open_cat_event(run: Runner, supervisor: Principal, chain_id: int | None, started_at: datetime,
                   say, rules: GreenChannelRules, code: str | None = None) -> CatEvent:
    """Confirm Haven's proposal for the warning chain; propose it now if the match step did not."""
    from store.models import Alert

    with session_scope() as session:
        event = session.scalar(select(CatEvent).where(CatEvent.proposed_from_chain_id == chain_id)) \
            if chain_id else None
        alerts = list(session.scalars(select(Alert).where(Alert.chain_id == chain_id).order_by(Alert.id))) \
            if chain_id else []
    if event is None and alerts:
        biggest = max(alerts, key=lambda a: a.matched_assets or 0)
        event = run(catevents.propose_from_alert, biggest.id, biggest.matched_assets or 0, rules.cat_events, started_at)
    code = code or _free_code(f"CAT-{started_at.astimezone(BEIJING):%Y-%m%d}-INFA")
    if event is not None and event.status == "proposed":
        say(f"green channel: Haven proposed {event.code} ({event.hazard}) from chain {chain_id}: "
            f"{event.proposed_assets:,} insured assets are inside the warning's area")
        event = run(catevents.confirm, supervisor, event.id, code=code, now=started_at)
        say(f"green channel: {supervisor.name} confirmed it as {event.code}; the channel is open")
        return event
    if event is not None:
        return event
    source = "the warning chain's area" if alerts else "the standalone coastal area"
    event = run(catevents.declare, supervisor, code=code,
                hazard="typhoon", area_geojson=None if alerts else STANDALONE_AREA,
                chain_ids=[chain_id] if alerts else None, window_start=started_at - timedelta(hours=6),
                window_end=started_at + timedelta(days=3), now=started_at)
    say(f"green channel: no proposal above the threshold; {supervisor.name} declared {event.code} over {source}")
    return event


def _free_code(code: str) -> str:
    """The code, or the next free one with a suffix (a storm of the same name earlier that day)."""
    from greenchannel.dao import catevents_dao

    with session_scope() as session:
        candidate, suffix = code, 2
        while catevents_dao.code_taken(session, candidate):
            candidate, suffix = f"{code}-{suffix}", suffix + 1
        return candidate


# --- 2. claims -----------------------------------------------------------------------------------

@dataclass
class PlannedClaim:
    asset: Asset
    loss_at: datetime
    filed_at: datetime
    flags: dict
    by_customer: bool


def plan_claims(event: CatEvent, count: int, rng: np.random.Generator, started_at: datetime) -> list[PlannedClaim]:
    """Pick real assets from the book: 70% inside the area, 30% outside; 10% of losses before the window."""
    area = shape(event.area_geojson)
    minx, miny, maxx, maxy = area.bounds
    with session_scope() as session:
        nearby = list(session.scalars(select(Asset).where(Asset.lon.between(minx, maxx), Asset.lat.between(miny, maxy))
                                      .order_by(Asset.asset_id).limit(20_000)))
        elsewhere = list(session.scalars(select(Asset).where(Asset.lon < 117.5).order_by(Asset.asset_id).limit(5_000)))
    inside = [a for a in nearby if area.covers(Point(a.lon, a.lat))]
    n_inside = min(len(inside), int(count * 0.7))
    chosen = [inside[i] for i in rng.choice(len(inside), n_inside, replace=False)] if n_inside else []
    chosen += [elsewhere[i] for i in rng.choice(len(elsewhere), count - n_inside, replace=len(elsewhere) < count)]
    rng.shuffle(chosen)
    plans = []
    for index, asset in enumerate(chosen):
        filed_at = started_at + ARRIVAL_SPAN * (index / max(count, 1))
        before_window = rng.random() < 0.10
        loss_at = (event.window_start - timedelta(hours=int(rng.integers(2, 30)))) if before_window \
            else max(event.window_start, filed_at - timedelta(minutes=int(rng.integers(5, 90))))
        vehicle = asset.kind == "vehicle"
        in_water = vehicle and rng.random() < 0.45
        flags = {
            "person_trapped": rng.random() < 0.06,
            "person_injured": rng.random() < 0.03,
            "vehicle_in_water": in_water,
            "in_travel_lane": vehicle and not in_water and rng.random() < 0.08,
            "cannot_drive": vehicle and (in_water or rng.random() < 0.2),
            "flood_depth_level": int(rng.integers(1, 7)) if in_water else None,
        }
        plans.append(PlannedClaim(asset, loss_at, filed_at, flags, by_customer=rng.random() < 0.5))
    return plans


def file_planned(run: Runner, plan: PlannedClaim, hotline: Principal, app_users: dict[str, Principal]) -> Claim:
    actor = hotline
    if plan.by_customer:
        actor = app_users.get(plan.asset.customer_id) or app_users.setdefault(plan.asset.customer_id,
                                                                               _customer_user(plan.asset.customer_id))
    notice = FirstNotice(asset_id=plan.asset.asset_id, loss_at=plan.loss_at,
                                description="台风烟花：车辆/房屋受损" if actor is hotline else "App: typhoon damage",
                                **plan.flags)
    claim, _ = run(claims.file_claim, actor, notice, f"demo-{plan.asset.asset_id}-{plan.filed_at.timestamp():.0f}",
                   now=plan.filed_at)
    return claim


def _estimate_for(claim: Claim, asset: Asset, rng: np.random.Generator) -> Decimal:
    value = Decimal(asset.insured_value or 100_000)
    share = Decimal(str(round(0.25 + 0.6 * rng.random(), 2))) if claim.flood_depth_level is None \
        else Decimal(str(min(1.0, claim.flood_depth_level / 6 + 0.1)))
    return (value * share).quantize(Decimal("1"))


def work_one_claim(session, adjuster: Principal, now: datetime, assets: dict[str, Asset],
                   rng: np.random.Generator, rules: GreenChannelRules) -> Claim | None:
    """One adjuster takes the top claim, calls the customer and surveys it (or assesses a surveyed one),
    and gives it back: one transaction, the same functions the API's three calls use."""
    claim = queue.lease_next(session, adjuster, rules.queue, now)
    if claim is None:
        return None
    if claim.stage == "reported":
        claims.transition(session, adjuster, claim.id, "surveyed", "called the customer; surveyed by photo", now=now)
    elif claim.stage == "surveyed":
        estimate = _estimate_for(claim, assets[claim.asset_id], rng)
        claims.transition(session, adjuster, claim.id, "assessed", "loss assessed", estimate=estimate, now=now)
    return queue.release(session, adjuster, claim.id, now)


# --- 3. rescue -----------------------------------------------------------------------------------

def open_rescue_jobs(run: Runner, dispatcher: Principal, claim_ids: list[int], count: int, rules: GreenChannelRules,
                     now: datetime) -> list[RescueJob]:
    """Jobs for the most urgent green-channel vehicles: people trapped first, then cars in water."""
    with session_scope() as session:
        candidates = list(session.scalars(
            select(Claim).where(Claim.id.in_(claim_ids), Claim.fast_track.is_(True), Claim.asset_kind == "vehicle",
                                Claim.stage.in_(queue.OPEN_STAGES))
            .order_by(Claim.person_trapped.desc(), Claim.vehicle_in_water.desc(), Claim.id).limit(count)))
    return [run(rescue.create_job, dispatcher, JobRequest(claim_id=c.id, dispatch=False), rules.rescue, now)[0]
            for c in candidates]


def register_providers(run: Runner, dispatcher: Principal, jobs: list[RescueJob], count: int,
                       rng: np.random.Generator, now: datetime) -> list:
    """Tow and flatbed companies based where the jobs cluster (k-means over the job locations)."""
    from scipy.cluster.vq import kmeans2

    points = np.array([[j.lon, j.lat] for j in jobs], dtype=float)
    bases, _ = kmeans2(points, min(count, len(points)), seed=rng, minit="++")
    providers = []
    for index in range(count):
        lon, lat = bases[index % len(bases)]
        kind = "tow" if index % 6 == 5 else "flatbed"  # flooded cars need flatbeds
        body = {"name": f"{'平板' if kind == 'flatbed' else '拖车'}救援{index + 1:02d}号", "kind": kind, "capacity": 2,
                "phone": f"+86574{index + 1:08d}",
                "location": [round(float(lon + rng.normal(0, 0.03)), 5), round(float(lat + rng.normal(0, 0.03)), 5)]}
        providers.append(run(_register_demo_truck, dispatcher, ProviderRegistration.model_validate(body), now))
    return providers


def _register_demo_truck(session, dispatcher: Principal, registration: ProviderRegistration, now: datetime):
    """Registered and marked as the demo's, so the demo's GPS feed (greenchannel/demo_gps.py) keeps its position fresh."""
    provider = rescue.register_provider(session, dispatcher, registration, now)
    demo_gps.mark_demo_truck(session, dispatcher, provider)
    return provider


def run_rescues(run: Runner, dispatcher: Principal, providers: list, job_ids: list[int],
                rng: np.random.Generator, started_at: datetime, say, rules: GreenChannelRules,
                until: datetime | None = None) -> datetime:
    """Rounds of offers and answers until every job is done or the next round would pass `until`.
    Returns the clock after the last round."""
    silent = {p.id for p in providers if rng.random() < 0.25}  # these crews are stuck in water themselves
    now, rounds = started_at, 0
    until = until or utcnow()
    while rounds < 100 and now + RESCUE_ROUND <= until:
        rounds += 1
        run(_report_locations, dispatcher, providers, now)
        batch = run(rescue.dispatch_pending, rules.rescue, now)
        if rounds == 1:
            say(f"rescue: {batch.pending} jobs waited for {batch.free_slots} free places on trucks; "
                f"{'a surge batch' if batch.surge else 'a batch'} offered {batch.offered} of them, "
                f"{batch.total_km:.0f} km of driving in all")
        _providers_answer(run, dispatcher, job_ids, silent, rng, now, rules)
        now += RESCUE_ROUND
        run(rescue.expire_offers, rules.rescue, now)
        with session_scope() as session:
            open_jobs = session.scalar(select(RescueJob.id).where(RescueJob.id.in_(job_ids),
                                                                  RescueJob.state.not_in(rescue.FINAL_JOB_STATES)))
        if open_jobs is None:
            break
        if rounds % 10 == 0:
            silent.clear()  # the stuck crews got out; everyone answers from now on
    return now


def _report_locations(session, dispatcher: Principal, providers: list, now: datetime) -> None:
    """The trucks' apps report where they are (PATCH location), so their positions stay fresh."""
    for provider in providers:
        rescue.update_provider(session, dispatcher, provider.id,
                               ProviderChanges.model_validate({"location": [provider.lon, provider.lat]}), now)


NEXT_STATUS = {"accepted": "en_route", "en_route": "on_scene", "on_scene": "towing", "towing": "completed"}


def _providers_answer(run: Runner, dispatcher: Principal, job_ids: list[int], silent: set[int],
                      rng: np.random.Generator, now: datetime, rules: GreenChannelRules) -> None:
    with session_scope() as session:
        jobs = list(session.scalars(select(RescueJob).where(RescueJob.id.in_(job_ids))))
    for job in jobs:
        if job.state == "offered" and job.provider_id not in silent:
            if rng.random() < 0.1:
                run(rescue.respond, dispatcher, job.id, False, rules.rescue, provider_id=job.provider_id,
                    note="truck full", now=now)
            else:
                run(rescue.respond, dispatcher, job.id, True, rules.rescue, provider_id=job.provider_id,
                    eta_minutes=int(rng.integers(15, 50)), now=now)
        elif job.state in NEXT_STATUS:
            run(rescue.advance, dispatcher, job.id, NEXT_STATUS[job.state], now=now)


# --- 4. advances ---------------------------------------------------------------------------------

def pay_advances(run: Runner, staff: dict[str, Principal], claim_ids: list[int], now: datetime, say,
                 rules: GreenChannelRules) -> None:
    """Advances on assessed green-channel claims, one band per authority level and more small ones."""
    with session_scope() as session:
        assessed = list(session.scalars(select(Claim).where(Claim.id.in_(claim_ids), Claim.fast_track.is_(True),
                                                            Claim.stage == "assessed", Claim.estimate.is_not(None))))
    assessed.sort(key=lambda c: c.estimate, reverse=True)  # in Python: SQLite keeps money as text
    # The second supervisor-level request is left waiting: an approval to do as soon as they sign in.
    bands = [("manager", Decimal("150000"), True), ("supervisor", Decimal("60000"), True),
             ("supervisor", Decimal("30000"), False)] + [("adjuster", Decimal("8000"), True)] * 12
    for claim in assessed:
        if not bands:
            break
        cap = payments.advance_cap(claim.estimate, rules.payments)
        level, wanted, decide = bands[0]
        amount = min(wanted, cap)
        if payments.required_role(amount) != level:
            continue
        bands.pop(0)
        # Money moves once the ID and bank account are in; the advance left waiting lacks the bank account, so
        # the supervisor decides whether it may go anyway (an override with a reason).
        send_documents(run, staff["adjuster"], claim, now, leave_out=None if decide else "bank_account")
        payment, _ = run(payments.request_payment, staff["adjuster"], claim.id, amount,
                         f"demo-advance-{claim.id}-{now:%Y%m%dT%H%M}", rules.payments, "advance", "green-channel advance",
                         now=now)
        if payment.state == "pending_approval" and decide:
            run(payments.approve, staff[payment.required_role], payment.id, rules.payments, "photos and estimate checked",
                now=now, override_reason="demo: ID card and bank account confirmed by phone")
    if any(level != "adjuster" for level, _, _ in bands):
        say("advances: not enough large assessed claims for every authority level in this run")


def send_documents(run: Runner, received_by: Principal, claim: Claim, now: datetime,
                   leave_out: str | None = None) -> None:
    """The customer's documents arrive (scans through the app or the hotline), all but `leave_out`."""
    with session_scope() as session:
        missing = claims.missing_documents(session, session.get(Claim, claim.id))
    for kind in missing:
        if kind == leave_out:
            continue
        upload = Upload(limit=len(DEMO_SCAN))
        upload.write(DEMO_SCAN)
        run(claims.add_document, received_by, claim.id, kind, upload.finish(f"{kind}.png"), now=now)


# --- 5. work left for each role ------------------------------------------------------------------

def leave_work(run: Runner, people: dict[str, Principal], event: CatEvent, claim_ids: list[int],
               rng: np.random.Generator, now: datetime, say, rules: GreenChannelRules) -> dict[str, int]:
    """What each person can do the moment they sign in; every write is dated at or before `now`."""
    adjuster, hotline = people["adjuster"], _staff("dispatcher", "Hotline 95500")
    with session_scope() as session:
        # The claim of the advance left for the supervisor keeps its missing bank account.
        waiting = list(session.scalars(select(Claim).where(Claim.id.in_(claim_ids), Claim.fast_track.is_(True),
                                                           Claim.awaiting_documents.is_(True),
                                                           Claim.id.not_in(select(Payment.claim_id).where(
                                                               Payment.state == "pending_approval")))
                                       .order_by(Claim.priority.desc(), Claim.id)))
    complete = waiting[: max(1, len(waiting) // 3)]
    for claim in complete:
        send_documents(run, adjuster, claim, now - timedelta(minutes=int(rng.integers(5, 90))))
    left = {"documents_complete": len(complete)}
    with session_scope() as session:
        vehicles = list(session.scalars(
            select(Claim).where(Claim.id.in_(claim_ids), Claim.fast_track.is_(True), Claim.asset_kind == "vehicle",
                                Claim.stage.in_(queue.OPEN_STAGES),
                                Claim.id.not_in(select(RescueJob.claim_id).where(RescueJob.claim_id.is_not(None))))
            .order_by(Claim.vehicle_in_water.desc(), Claim.id).limit(3)))
    left["rescue_requests"] = 0
    for claim in vehicles:
        job, created = run(rescue.create_job, hotline, JobRequest(claim_id=claim.id, dispatch=False,
                                                                  note=CALL_BACK_NOTE),
                           rules.rescue, now)
        if created:  # a call-back is the dispatcher's to place: the automatic batch leaves it alone a while
            run(rescue.leave_for_dispatcher, hotline, job.id, now + LEFT_FOR_DISPATCHER, now)
            left["rescue_requests"] += 1
    customer = people.get("customer")
    if customer is not None:
        left["customer_claim"] = _customer_claim(run, customer, adjuster, event, rng, now, rules)
    return left


def _customer_claim(run: Runner, customer: Principal, adjuster: Principal, event: CatEvent,
                    rng: np.random.Generator, now: datetime, rules: GreenChannelRules) -> int | None:
    """The demo customer's own claim: filed in the app, surveyed and assessed, one document missing."""
    with session_scope() as session:
        assets = list(session.scalars(select(Asset).where(Asset.customer_id == customer.customer_id)
                                      .order_by(Asset.kind != "vehicle", Asset.asset_id)))
    if not assets:
        return None
    asset = next((a for a in assets if catevents.covers(event, a.lon, a.lat)), assets[0])
    filed_at = now - timedelta(hours=3)
    notice = FirstNotice(asset_id=asset.asset_id, loss_at=filed_at - timedelta(minutes=40),
                         description="App: water came in during the typhoon",
                         vehicle_in_water=asset.kind == "vehicle",
                         flood_depth_level=3 if asset.kind == "vehicle" else None)
    claim, created = run(claims.file_claim, customer, notice, f"demo-customer-{event.code}", now=filed_at)
    if created:
        run(claims.transition, adjuster, claim.id, "surveyed", "called the customer; surveyed by photo",
            now=filed_at + timedelta(minutes=30))
        run(claims.transition, adjuster, claim.id, "assessed", "loss assessed",
            estimate=_estimate_for(claim, asset, rng), now=filed_at + timedelta(hours=1))
        send_documents(run, customer, claim, filed_at + timedelta(hours=2), leave_out="bank_account")
    return claim.id


# --- the story -----------------------------------------------------------------------------------

def run_story(run: Runner, chain_id: int | None = None, started_at: datetime | None = None, *, claims_count: int = 300,
              rescue_jobs: int = 40, providers_count: int = 12, seed: int = 20210725, say=print,
              rules: GreenChannelRules, code: str | None = None) -> StorySummary:
    """Play the green-channel part of the typhoon story from landfall (`started_at`, by default
    STORY_SPAN ago) up to now, and return its summary figures."""
    real_now = utcnow()
    started_at = min(started_at or real_now - STORY_SPAN, real_now)
    rng = np.random.default_rng(seed)
    people = demo_people()
    staff = {role: people[role] for role in ("supervisor", "manager", "dispatcher", "adjuster")}
    adjusters = [people["adjuster"], people.get("adjuster2", people["adjuster"])]
    hotline = _staff("dispatcher", "Hotline 95500")

    event = open_cat_event(run, staff["supervisor"], chain_id, started_at, say, rules, code)
    plans = plan_claims(event, claims_count, rng, started_at)
    assets = {p.asset.asset_id: p.asset for p in plans}
    app_users: dict[str, Principal] = {}
    filed: list[Claim] = []
    clock, pending = started_at, list(plans)
    work_until = min(started_at + ARRIVAL_SPAN + WORK_SPAN, real_now)
    while (pending and pending[0].filed_at <= real_now) or clock < work_until:
        while pending and pending[0].filed_at <= clock:
            filed.append(file_planned(run, pending.pop(0), hotline, app_users))
        for adjuster in adjusters:
            run(work_one_claim, adjuster, clock, assets, rng, rules)
        clock += WORK_STEP
    say(f"claims: {len(filed)} filed in the {ARRIVAL_SPAN.seconds // 3600} hours after landfall; "
        f"{' and '.join(a.name for a in adjusters)} worked the queue until {beijing_time(clock)}")

    claim_ids = [c.id for c in filed]
    jobs = open_rescue_jobs(run, staff["dispatcher"], claim_ids, rescue_jobs, rules, clock)
    providers = register_providers(run, staff["dispatcher"], jobs, providers_count, rng, clock)
    job_ids = [j.id for j in jobs]
    clock = run_rescues(run, staff["dispatcher"], providers, job_ids, rng, clock, say, rules, until=real_now)
    pay_advances(run, staff, claim_ids, clock, say, rules)
    now = utcnow()
    run(_report_locations, staff["dispatcher"], providers, now)  # the trucks are still out there
    left = leave_work(run, people, event, claim_ids, rng, now, say, rules)
    summary = summarise(event, claim_ids, job_ids)
    summary.people = {role: person.name for role, person in people.items() if role != "customer"}
    summary.ended_at = clock
    print_summary(summary, say)
    say(demo_report_line(event.id))
    print_work_left(people, left, say)
    return summary


def print_work_left(people: dict[str, Principal], left: dict[str, int], say) -> None:
    adjusters = " and ".join(people[r].name for r in ("adjuster", "adjuster2") if r in people)
    say("waiting for you in the console now:")
    say(f"  {adjusters}: {left['documents_complete']} claims whose customers sent every document "
        "(Take next in the fast-track queue)")
    say(f"  {people['supervisor'].name}: an advance payment to approve; the customer's bank account is not in yet")
    say(f"  {people['dispatcher'].name}: {left['rescue_requests']} rescue requests to assign by hand (the automatic "
        f"batch leaves them to you for {LEFT_FOR_DISPATCHER.seconds // 3600} hours)")
    if left.get("customer_claim"):
        say(f"  the demo customer ({people['customer'].customer_id}): claim {left['customer_claim']} is assessed "
            "and waits for one document, the bank account; the typhoon warning SMS can be answered")


def summarise(event: CatEvent, claim_ids: list[int], job_ids: list[int]) -> StorySummary:
    from store.models import Notification

    summary = StorySummary(cat_code=event.code, claims_filed=len(claim_ids), rescue_jobs=len(job_ids))
    area = shape(event.area_geojson)
    with session_scope() as session:
        filed = list(session.scalars(select(Claim).where(Claim.id.in_(claim_ids))))
        births = dict(session.execute(select(Customer.customer_id, Customer.birth_year)
                                      .where(Customer.customer_id.in_({c.customer_id for c in filed}))).all())
        jobs = list(session.scalars(select(RescueJob).where(RescueJob.id.in_(job_ids))))
        offers = Counter(session.scalars(select(RescueOffer.state).where(RescueOffer.job_id.in_(job_ids))))
        advances = list(session.scalars(select(Payment).where(Payment.claim_id.in_(claim_ids),
                                                              Payment.kind == "advance", Payment.state == "paid")))
        keys = session.scalars(select(Notification.idempotency_key).where(
            Notification.kind.in_(("rescue_assigned", "rescue_arrived"))))
        wanted = {f"rescue-job-{job_id}" for job_id in job_ids}
        summary.sms_saved = sum(1 for key in keys if key.split(":")[1] in wanted)
    summary.fast_tracked = sum(c.fast_track for c in filed)
    summary.ordinary = len(filed) - summary.fast_tracked
    summary.outside_area = sum(not area.covers(Point(c.loss_lon, c.loss_lat)) for c in filed)
    summary.outside_window = sum(area.covers(Point(c.loss_lon, c.loss_lat)) and not c.fast_track for c in filed)
    summary.people_trapped = sum(c.person_trapped for c in filed)
    summary.cars_in_water = sum(c.vehicle_in_water for c in filed)
    year = event.window_start.year
    summary.customers_over_60 = sum(1 for c in filed if births.get(c.customer_id) and year - births[c.customer_id] >= 60)
    for track, fast in (("green_channel", True), ("ordinary", False)):
        waits = [(c.first_contact_at - c.created_at).total_seconds() / 60 for c in filed
                 if c.fast_track == fast and c.first_contact_at]
        summary.median_first_contact_min[track] = round(statistics.median(waits), 1) if waits else None
    summary.contacted = sum(1 for c in filed if c.first_contact_at)
    summary.rescues_completed = sum(j.state == "completed" for j in jobs)
    summary.offers_expired, summary.offers_rejected = offers["expired"], offers["rejected"]
    for payment in advances:
        level = payment.required_role
        count, total = summary.advances_paid.get(level, (0, Decimal("0.00")))
        summary.advances_paid[level] = (count + 1, total + payment.amount)
    return summary


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def print_summary(s: StorySummary, say) -> None:
    say(f"green channel {s.cat_code}: {s.claims_filed} claims: {s.fast_tracked} fast-tracked, {s.ordinary} ordinary "
        f"({s.outside_area} outside the area, {s.outside_window} inside it but outside the window)")
    say(f"  {_count(s.people_trapped, 'claim')} with people trapped, {_count(s.customers_over_60, 'customer')} "
        f"aged 60 or over, {_count(s.cars_in_water, 'car')} in water")
    green, ordinary = s.median_first_contact_min.get("green_channel"), s.median_first_contact_min.get("ordinary")
    waits = (f"{green} min in the green channel" if green is not None else "nobody in the green channel contacted yet") \
        + ", " + (f"{ordinary} min in the ordinary queue" if ordinary is not None else "nobody in the ordinary queue yet")
    say(f"  median wait for a first call: {waits} ({s.contacted} of {s.claims_filed} customers called)")
    say(f"  {s.rescues_completed} of {_count(s.rescue_jobs, 'rescue')} completed; {_count(s.offers_expired, 'offer')} "
        f"expired and {s.offers_rejected} {'was' if s.offers_rejected == 1 else 'were'} turned down, each passed on "
        "to the next truck; "
        f"{_count(s.sms_saved, 'SMS', 'SMS')} about rescues went to customers")
    paid = "; ".join(f"{_count(n, 'advance')} of {total:,} CNY within {level} authority"
                     for level, (n, total) in sorted(s.advances_paid.items()))
    total = sum((t for _, t in s.advances_paid.values()), Decimal("0.00"))
    say(f"  {_count(sum(n for n, _ in s.advances_paid.values()), 'advance')} paid, {total:,} CNY in all: {paid}")
