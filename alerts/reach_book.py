"""Who owns each insured asset and which channels each customer has open, as numpy arrays, so that a
manual warning's reach preview over a million assets is counted in memory in a fraction of a second
(docs/architecture.md, "Manual warnings"). The book's spatial index (alerts/matching/spatial.py) finds
the assets; this table turns their ids into customers and channels. No SQL here: alerts/dao/manual_dao.py
reads the rows, alerts/manual_service.py keeps one table per process and database current.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np

from alerts.manual import CustomerCounts

KINDS = ("vehicle", "home", "shop", "factory", "other")
SMS_OPEN, PUSH_OPEN, SMS_OPTED_OUT, NO_PHONE, PUSH_OPTED_OUT, NO_TOKEN = 1, 2, 4, 8, 16, 32


def channel_flags(phone: str | None, sms_opt_out: bool, push_token: str | None, push_opt_out: bool) -> int:
    """One customer's channels as bits, by the fan-out's rules (alerts/notifying/targeting.py `_channels_for`)."""
    flags = 0
    if sms_opt_out:
        flags |= SMS_OPTED_OUT
    elif phone:
        flags |= SMS_OPEN
    else:
        flags |= NO_PHONE
    if push_opt_out:
        flags |= PUSH_OPTED_OUT
    elif push_token:
        flags |= PUSH_OPEN
    else:
        flags |= NO_TOKEN
    return flags


def id_keys(ids) -> np.ndarray:
    """Ids as the sorted arrays hold them: UTF-8 bytes."""
    if not len(ids):
        return np.array([], dtype="S1")
    return np.char.encode(np.asarray(ids, dtype=str), "utf-8")


def _kind_code(kind: str | None) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS) - 1


class ReachBook:
    """Assets (sorted ids -> owner position, kind) and customers (sorted ids -> channel bits)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.asset_keys = np.array([], dtype="S1")
        self.asset_owner = np.array([], dtype=np.int64)
        self.asset_kind = np.array([], dtype=np.int8)
        self.customer_keys = np.array([], dtype="S1")
        self.customer_flags = np.array([], dtype=np.uint8)
        self.watermark: datetime | None = None
        self.loaded_at = 0.0
        self._alignment: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def load(self, customer_batches: Iterable[Sequence[tuple]], asset_batches: Iterable[Sequence[tuple]],
             watermark: datetime, loaded_at: float) -> None:
        """Batches of customers (customer_id, phone, sms_opt_out, push_token, push_opt_out) and of assets
        (asset_id, customer_id, kind), read a batch at a time so that millions of rows stay arrays."""
        keys, flags = [], []
        for batch in customer_batches:
            keys.append(id_keys([row[0] for row in batch]))
            flags.append(np.asarray([channel_flags(*row[1:]) for row in batch], dtype=np.uint8))
        customer_keys = np.concatenate(keys) if keys else np.array([], dtype="S1")
        order = np.argsort(customer_keys, kind="stable")
        customer_keys = customer_keys[order]
        customer_flags = np.concatenate(flags)[order] if flags else np.array([], dtype=np.uint8)
        asset_keys, owners, kinds = [], [], []
        for batch in asset_batches:
            asset_keys.append(id_keys([row[0] for row in batch]))
            owner_keys = id_keys([row[1] for row in batch])
            owners.append(np.clip(np.searchsorted(customer_keys, owner_keys), 0, max(len(customer_keys) - 1, 0)))
            kinds.append(np.asarray([_kind_code(row[2]) for row in batch], dtype=np.int8))
        asset_keys = np.concatenate(asset_keys) if asset_keys else np.array([], dtype="S1")
        order = np.argsort(asset_keys, kind="stable")
        with self.lock:
            self.customer_keys, self.customer_flags = customer_keys, customer_flags
            self.asset_keys = asset_keys[order]
            self.asset_owner = np.concatenate(owners)[order] if owners else np.array([], dtype=np.int64)
            self.asset_kind = np.concatenate(kinds)[order] if kinds else np.array([], dtype=np.int8)
            self.watermark, self.loaded_at = watermark, loaded_at

    def update_customers(self, customers: Iterable[tuple]) -> bool:
        """Apply changed channels in place; False when a customer is new (the table must be read again)."""
        with self.lock:
            for customer_id, *channels in customers:
                position = self._position(self.customer_keys, customer_id)
                if position is None:
                    return False
                self.customer_flags[position] = channel_flags(*channels)
        return True

    def knows_assets(self, assets: Iterable[tuple[str, str, str | None]]) -> bool:
        """True when every changed asset is known with the same owner and kind (a move changes nothing here)."""
        with self.lock:
            for asset_id, customer_id, kind in assets:
                position = self._position(self.asset_keys, asset_id)
                if position is None or self.asset_kind[position] != _kind_code(kind) or \
                        self.customer_keys[self.asset_owner[position]] != str(customer_id).encode():
                    return False
        return True

    @staticmethod
    def _position(keys: np.ndarray, value: str) -> int | None:
        key = str(value).encode()
        position = int(np.searchsorted(keys, key))
        return position if position < len(keys) and keys[position] == key else None

    def _positions(self, asset_keys: np.ndarray) -> np.ndarray:
        """Where these ids (UTF-8 bytes) are in the table; unknown ones are left out. Comparing bytes is
        slow (about 2 µs an id), so the spatial index's own order is used where it can be (`counts_at`)."""
        if not len(asset_keys) or not len(self.asset_keys):
            return np.array([], dtype=np.int64)
        positions = np.clip(np.searchsorted(self.asset_keys, asset_keys), 0, len(self.asset_keys) - 1)
        return positions[self.asset_keys[positions] == asset_keys]

    def _aligned(self, index_ids: np.ndarray) -> np.ndarray:
        """For each position of the spatial index's id array, the table's row (-1 when unknown): the same
        array when both were read from the same book, as they usually are; else looked up once per rebuild."""
        if self._alignment is not None and self._alignment[0] is index_ids and self._alignment[1] is self.asset_keys:
            return self._alignment[2]
        if len(index_ids) == len(self.asset_keys) and np.array_equal(index_ids, self.asset_keys):
            rows = np.arange(len(index_ids))
        else:
            rows = np.full(len(index_ids), -1, dtype=np.int64)
            if len(self.asset_keys) and len(index_ids):
                found = np.clip(np.searchsorted(self.asset_keys, index_ids), 0, len(self.asset_keys) - 1)
                known = self.asset_keys[found] == index_ids
                rows[known] = found[known]
        self._alignment = (index_ids, self.asset_keys, rows)
        return rows

    def counts_at(self, index_ids: np.ndarray, positions: np.ndarray,
                  changed_keys: np.ndarray) -> tuple[CustomerCounts, dict[str, int]]:
        """counts() for what the spatial index found (BookIndex.query_parts): positions in its id array,
        plus the ids changed since it was built."""
        with self.lock:
            rows = self._aligned(index_ids)[positions]
            rows = np.concatenate([rows[rows >= 0], self._positions(changed_keys)])
            return self._count_rows(rows)

    def counts(self, asset_keys: np.ndarray) -> tuple[CustomerCounts, dict[str, int]]:
        """The customers owning these assets (ids as UTF-8 bytes, see `id_keys`), counted by channel, and the
        assets by kind."""
        with self.lock:
            return self._count_rows(self._positions(asset_keys))

    def _count_rows(self, positions: np.ndarray) -> tuple[CustomerCounts, dict[str, int]]:
        if not len(positions):
            return CustomerCounts(), {}
        owned = np.zeros(len(self.customer_keys), dtype=bool)  # a mark per customer: no sort needed
        owned[self.asset_owner[positions]] = True
        flags = self.customer_flags[owned]
        kinds = np.bincount(self.asset_kind[positions], minlength=len(KINDS))

        def having(bit: int) -> int:
            return int(np.count_nonzero(flags & bit))

        counts = CustomerCounts(
            customers=len(flags), assets=len(positions), sms=having(SMS_OPEN), push=having(PUSH_OPEN),
            no_channel=int(np.count_nonzero((flags & (SMS_OPEN | PUSH_OPEN)) == 0)),
            sms_opted_out=having(SMS_OPTED_OUT), no_phone=having(NO_PHONE), push_opted_out=having(PUSH_OPTED_OUT),
            no_push_token=having(NO_TOKEN))
        return counts, {KINDS[i]: int(n) for i, n in enumerate(kinds) if n}
