"""The reach preview's owner-and-channel table (alerts/reach_book.py): counts by the fan-out's channel rules,
the same through the spatial index's positions as through ids, opt-outs applied in place, and a new
customer or a changed owner asking for a full read."""

from datetime import UTC, datetime

import numpy as np

from alerts.reach_book import ReachBook, id_keys

CUSTOMERS = [("C1", "+8617000000001", False, None, False),  # SMS only
             ("C2", "+8617000000002", True, "tok", False),  # opted out of SMS, push
             ("C3", None, False, None, False),  # no phone, no token: nothing
             ("C4", "+8617000000004", False, "tok", True)]  # SMS, opted out of push
ASSETS = [("A1", "C1", "vehicle"), ("A2", "C1", "home"), ("A3", "C2", "vehicle"), ("A4", "C3", "boat"),
          ("A5", "C4", "shop")]


def table() -> ReachBook:
    book = ReachBook()
    book.load([CUSTOMERS], [ASSETS], datetime.now(UTC), 0.0)
    return book


def test_counts_follow_the_channel_rules():
    counts, kinds = table().counts(id_keys(["A1", "A2", "A3", "A4", "NOT-IN-BOOK"]))
    assert (counts.customers, counts.assets) == (3, 4), f"customers and assets inside: {counts}"
    assert (counts.sms, counts.push, counts.no_channel) == (1, 1, 1), f"channels: {counts}"
    assert (counts.sms_opted_out, counts.no_phone) == (1, 1), f"why no SMS: {counts}"
    assert kinds == {"vehicle": 2, "home": 1, "other": 1}, f"assets by kind: {kinds}"


def test_the_spatial_index_positions_give_the_same_counts_as_ids():
    book = table()
    index_ids = id_keys(sorted(a[0] for a in ASSETS))
    through_positions = book.counts_at(index_ids, np.array([0, 2, 4]), id_keys([]))
    through_ids = book.counts(id_keys(["A1", "A3", "A5"]))
    assert through_positions == through_ids, f"positions {through_positions} != ids {through_ids}"
    other_order = id_keys(["A0", "A1", "A3", "A5"])  # an index read at another moment: looked up instead
    assert book.counts_at(other_order, np.array([0, 1, 2, 3]), id_keys([])) == through_ids, \
        "an index holding an asset the table lacks must still count the others"


def test_opt_outs_apply_in_place_and_new_rows_ask_for_a_full_read():
    book = table()
    assert book.update_customers([("C1", "+8617000000001", True, None, False)]), "a known customer's opt-out"
    counts, _ = book.counts(id_keys(["A1"]))
    assert (counts.sms, counts.sms_opted_out) == (0, 1), f"the opt-out is not counted: {counts}"
    assert not book.update_customers([("C9", "+8617000000009", False, None, False)]), "a new customer"
    assert book.knows_assets([("A1", "C1", "vehicle")]), "a moved asset changes nothing here"
    assert not book.knows_assets([("A1", "C2", "vehicle")]), "an asset changing owner needs a full read"
