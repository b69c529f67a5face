"""Most exposed first: the send-order rule (alerts/notifying/priority.py) on small hand-made areas, and the
fan-out saving and queueing in that order (SQLite and PostgreSQL)."""

from datetime import UTC, datetime

import numpy as np
import shapely
from sqlalchemy import select, update

from alerts.notifying.fanout import notify_customers_in_area
from alerts.notifying.priority import CustomersToRank, ExposureArea, PriorityRules, local_years, send_order
from alerts.notifying.targeting import Rules
from config import get_settings
from store.db import session_scope
from store.models import Customer, Notification
from tests.alerts.notifying.test_fanout import book, ingest  # noqa: F401
from tests.notify_support import add_book

SQUARE = shapely.box(120.0, 28.0, 121.0, 29.0)  # about 98 km x 111 km
NORTH_EAST_QUARTER = shapely.box(120.5, 28.5, 121.0, 29.0)
RULES = PriorityRules()


def customers(points, vulnerable=None, birth_year=None, local_year=2026, owners=None):
    """One asset per point; by default each owned by its own customer."""
    points = np.asarray(points, dtype=float)
    owners = np.arange(len(points)) if owners is None else np.asarray(owners)
    count = int(owners.max()) + 1
    return CustomersToRank(
        vulnerable=np.asarray(vulnerable if vulnerable is not None else [False] * count, dtype=bool),
        birth_year=np.asarray(birth_year if birth_year is not None else [np.nan] * count, dtype=float),
        local_year=np.full(count, local_year), asset_customer=owners, lon=points[:, 0], lat=points[:, 1])


def order_of(ranked, areas):
    return send_order(ranked, areas, RULES).customers.tolist()


def test_deepest_inside_the_area_goes_first():
    # 0: 5 km inside the west edge, 1: the centre (about 49 km deep), 2: 20 km inside the south edge
    points = [(120.05, 28.5), (120.5, 28.5), (120.5, 28.18)]
    assert order_of(customers(points), [ExposureArea(3, SQUARE)]) == [1, 2, 0], "deepest inside the boundary first"


def test_the_most_severe_area_goes_before_a_deeper_place_in_a_milder_one():
    # 0: the square's centre, deep but only Severe; 1: just inside the Extreme quarter's corner
    points = [(120.45, 28.45), (120.52, 28.52)]
    areas = [ExposureArea(3, SQUARE), ExposureArea(4, NORTH_EAST_QUARTER)]
    assert order_of(customers(points), areas) == [1, 0], "inside the Extreme area first, however shallow"


def test_a_swath_goes_by_nearness_to_the_storm_track_not_depth():
    track = shapely.LineString([(120.0, 28.2), (121.0, 28.2)])  # along the south of the swath
    # 0: the centre (deepest, 33 km from the track), 1: on the track near the edge, 2: 11 km from the track
    points = [(120.5, 28.5), (120.02, 28.2), (120.5, 28.1)]
    assert order_of(customers(points), [ExposureArea(3, SQUARE, track)]) == [1, 2, 0], "nearest the track first"


def test_the_vulnerable_and_the_aged_go_first_then_by_exposure():
    points = [(120.5, 28.5), (120.05, 28.5), (120.1, 28.5), (120.2, 28.5), (120.3, 28.5)]
    ranked = customers(points, vulnerable=[False, True, False, False, False],
                       birth_year=[1950, np.nan, 1966, 1967, np.nan])
    order = send_order(ranked, [ExposureArea(3, SQUARE)], RULES)
    # 2 turns 60 this year (aged), 3 is 59; 1 is flagged vulnerable; 0 is 76 and deepest of all
    assert order.customers.tolist() == [0, 2, 1, 4, 3], "care first (deepest of them first), then by depth"
    assert order.needing_care == 3, "three customers need care"


def test_age_counts_in_the_customers_own_time_zone_on_new_years_eve():
    sent = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)  # already 2026 in Shanghai, still 2025 in UTC
    years = local_years(sent, ["Asia/Shanghai", "UTC", None, "Not/AZone"])
    assert years.tolist() == [2026, 2025, 2025, 2025], "the alert's year in each zone (unknown zone: UTC)"
    ranked = customers([(120.05, 28.5), (120.5, 28.5)], birth_year=[1966, 1966])
    ranked = CustomersToRank(ranked.vulnerable, ranked.birth_year, years[:2], ranked.asset_customer,
                             ranked.lon, ranked.lat)
    assert order_of(ranked, [ExposureArea(3, SQUARE)]) == [0, 1], "60 in Shanghai goes first, 59 in UTC does not"


def test_a_customer_counts_by_their_most_exposed_asset():
    # customer 0: a shallow car and a house in the centre; customer 1: one car 20 km deep
    points = [(120.02, 28.5), (120.5, 28.5), (120.5, 28.18)]
    assert order_of(customers(points, owners=[0, 0, 1]), [ExposureArea(3, SQUARE)]) == [0, 1], \
        "the customer with the deepest asset first"


def test_ties_keep_the_given_order_and_the_margin_comes_last_nearest_first():
    points = [(121.2, 28.5), (120.5, 28.5), (121.05, 28.5), (120.5, 28.5)]  # 0, 2 outside; 1, 3 the same spot
    assert order_of(customers(points), [ExposureArea(3, SQUARE)]) == [1, 3, 2, 0], \
        "inside first in the given order, then the margin nearest first"


def test_a_large_book_in_a_many_sided_area_is_ranked_from_the_raster_to_within_a_kilometre():
    # 600 points x a 1,025-vertex circle is past EXACT_WORK: depths come from the distance-transform raster
    km_east, km_north = 111.32 * np.cos(np.radians(28.5)), 110.574

    def degrees(x_km, y_km):
        return 120.5 + np.asarray(x_km) / km_east, 28.5 + np.asarray(y_km) / km_north

    ring = shapely.get_coordinates(shapely.Point(0, 0).buffer(55.0, quad_segs=256).exterior)
    circle = shapely.Polygon(np.column_stack(degrees(ring[:, 0], ring[:, 1])))  # 55 km round
    radius_km = np.repeat(np.arange(1.0, 51.0), 12)  # 12 points a kilometre apart from the centre outwards
    angle = np.linspace(0, 2 * np.pi, len(radius_km), endpoint=False)
    lon, lat = degrees(radius_km * np.cos(angle), radius_km * np.sin(angle))
    order = order_of(customers(np.column_stack([lon, lat])), [ExposureArea(3, circle)])
    assert np.all(np.diff(radius_km[order]) >= 0), "nearest the centre (deepest) first, a kilometre apart"


def test_no_area_that_can_be_drawn_keeps_the_given_order():
    assert order_of(customers([(120.5, 28.5), (120.05, 28.5)]), []) == [0, 1], "no exposure known: given order"


def test_the_fan_out_saves_and_queues_the_most_exposed_first(book):  # noqa: F811
    deep, shallow = (120.699, 27.994), (119.52, 27.05)  # Wenzhou; about 6 km inside the area's west edge
    add_book(book, 3, *shallow, start=1)
    add_book(book, 3, *deep, start=10)
    with session_scope(book) as session:
        session.get(Customer, "C0000002").vulnerable = True
        session.get(Customer, "C0000003").birth_year = 1950
        # 59 this year: read with those who may need care, then ranked with everyone else
        session.get(Customer, "C0000001").birth_year = datetime.now(UTC).year + 1 - RULES.aged_from
    queued = []

    def hand_over(pairs):  # as a provider would: the rest is queued once those needing care are handed over
        queued.extend(pairs)
        with session_scope(book) as session:
            session.execute(update(Notification).where(Notification.id.in_([nid for nid, _ in pairs]))
                            .values(state="sent"))

    summary = notify_customers_in_area(ingest(book, "01-typhoon-infa-orange-alert.xml"), hand_over,
                                       Rules.from_settings(get_settings()), get_settings().delivery_lease_s)
    with session_scope(book) as session:
        customer_of = dict(session.execute(select(Notification.id, Notification.customer_id)).all())
        ranks = dict(session.execute(select(Notification.customer_id, Notification.send_rank)).all())
    sent_to = [customer_of[nid] for nid, _ in queued]
    assert summary.saved == 6, "one SMS each"
    assert set(sent_to[:2]) == {"C0000002", "C0000003"}, "the vulnerable and the aged are queued first"
    assert set(sent_to[2:5]) == {"C0000010", "C0000011", "C0000012"}, "then the deep ones"
    assert sent_to[5] == "C0000001", "the shallow one last"
    assert sorted(ranks.values()) == list(range(6)), "each message keeps its customer's place"
    assert [ranks[c] for c in sent_to] == list(range(6)), "queued in rank order"
