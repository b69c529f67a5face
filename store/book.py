"""The insured book in: validated bulk imports of customers and assets (docs/architecture.md).

An id seen before is updated, never duplicated. Bad rows are refused one by one, each with its row
number (1 = the first record after the header) and the reason, while the good rows load. Rows are
written in chunks, each chunk its own transaction stamped with its own `updated_at`, so the matching
index (alerts/matching/spatial.py) picks changes up incrementally while a long import is still running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import phonenumbers
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.bulk import unnest_rows
from store.db import is_postgresql
from store.models import Asset, Customer
from store.money import AmountError, parse_amount
from store.types import utcnow

CHUNK = 2000
WRITE_CHUNK = 50_000
CUSTOMER_COLUMNS = ("customer_id", "name", "phone", "locale", "time_zone", "birth_year", "vulnerable",
                    "sms_opt_out", "push_token")
ASSET_COLUMNS = ("asset_id", "customer_id", "kind", "lon", "lat", "address", "admin_code", "insured_value")
ASSET_KINDS = ("vehicle", "home", "shop", "factory")
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}
# The most characters a field of each column may have. A longer one refuses its row before any other
# check, so no reason ever quotes a huge value and nothing parses one.
FIELD_LIMITS = {"customer_id": 64, "asset_id": 64, "name": 200, "phone": 32, "locale": 16, "time_zone": 64,
                "birth_year": 16, "vulnerable": 16, "sms_opt_out": 16, "push_token": 255, "kind": 32,
                "lon": 64, "lat": 64, "address": 500, "admin_code": 16, "insured_value": 32}


# --- small upserts (seed data, tests) -------------------------------------------------------------

def _upsert(session: Session, model, key: str, rows: Sequence[dict]) -> int:
    """Insert or update rows (all with the same keys) by `key`, CHUNK at a time, each chunk with its own stamp."""
    if not rows:
        return 0
    table = model.__table__
    names = [*rows[0], "updated_at"]
    for start in range(0, len(rows), CHUNK):
        now = utcnow()
        chunk = [dict(row, updated_at=now) for row in rows[start:start + CHUNK]]
        if is_postgresql(session):
            statement = postgresql.insert(table).from_select(names, select(*unnest_rows(table, chunk, names).c))
        else:
            statement = sqlite.insert(table).values(chunk)
        update = {c: statement.excluded[c] for c in names if c != key}
        session.execute(statement.on_conflict_do_update(index_elements=[key], set_=update))
    return len(rows)


def upsert_customers(session: Session, rows: Sequence[dict]) -> int:
    """rows: dicts with Customer column names; phone must already be E.164."""
    return _upsert(session, Customer, "customer_id", rows)


def upsert_assets(session: Session, rows: Sequence[dict]) -> int:
    """rows: dicts with Asset column names; lon/lat must already be WGS-84."""
    return _upsert(session, Asset, "asset_id", rows)


def count_assets(session: Session) -> int:
    return session.query(func.count(Asset.asset_id)).scalar() or 0


def existing_customer_ids(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    if len(wanted) > 50_000:  # cheaper to read every id once than to ask in thousands of chunks
        everything = {row[0] for row in session.execute(select(Customer.customer_id))}
        return everything.intersection(wanted)
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        found.update(r[0] for r in session.execute(select(Customer.customer_id).where(Customer.customer_id.in_(chunk))))
    return found


# --- import reports -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejected:
    row: int  # 1 = first record after the header
    reason: str
    field: str | None = None

    def to_json(self) -> dict:
        return {"row": self.row, "field": self.field, "reason": self.reason}


@dataclass
class ImportReport:
    kind: str  # customers or assets
    received: int = 0
    loaded: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def to_json(self, max_rejected: int | None = None) -> dict:
        shown = self.rejected if max_rejected is None else self.rejected[:max_rejected]
        return {"kind": self.kind, "received": self.received, "loaded": self.loaded,
                "rejected_count": len(self.rejected), "rejected": [r.to_json() for r in shown]}


class RowChecks:
    """Collects the first reason each row is refused, in check order."""

    def __init__(self, frame: pd.DataFrame, problems: dict[int, str] | None = None):
        self.frame = frame
        self.reason = np.full(len(frame), None, dtype=object)
        self.field = np.full(len(frame), None, dtype=object)
        for position, reason in (problems or {}).items():
            self.reason[position] = reason

    @property
    def ok(self) -> np.ndarray:
        return np.equal(self.reason, None)

    def refuse(self, mask: np.ndarray, column: str | None, reason: Callable[[int], str] | str) -> None:
        for position in np.nonzero(np.asarray(mask) & self.ok)[0]:
            self.reason[position] = reason(position) if callable(reason) else reason
            self.field[position] = column

    def text(self, column: str) -> pd.Series:
        if column not in self.frame.columns:
            return pd.Series([""] * len(self.frame), index=self.frame.index, dtype=object)
        return self.frame[column].fillna("").astype(str).str.strip()

    def required(self, column: str) -> pd.Series:
        values = self.text(column)
        self.refuse((values == "").to_numpy(), column, f"missing {column}")
        return values

    def oversized(self, columns: Iterable[str]) -> None:
        """Refuse each row with a field longer than its column's limit (FIELD_LIMITS), naming the field."""
        for column in columns:
            if column not in self.frame.columns:
                continue
            lengths = self.frame[column].fillna("").astype(str).str.len()
            limit = FIELD_LIMITS[column]
            self.refuse((lengths > limit).to_numpy(), column,
                        lambda p, column=column, limit=limit, lengths=lengths:
                        f"{column} has {lengths.iat[p]:,} characters; at most {limit} are allowed")

    def longest(self, column: str, values: pd.Series, limit: int) -> None:
        self.refuse((values.str.len() > limit).to_numpy(), column, f"{column} longer than {limit} characters")

    def last_wins(self, key: str, values: pd.Series) -> None:
        """An id repeated in one file: the later row is kept, earlier ones are reported."""
        ok = self.ok
        later = values[ok].duplicated(keep="last")
        positions = np.nonzero(ok)[0][later.to_numpy()]
        if len(positions) == 0:
            return
        text = values.to_numpy(dtype=object)
        kept_at = {}
        for position in reversed(np.nonzero(ok)[0]):
            kept_at.setdefault(text[position], position)
        for position in positions:
            self.reason[position] = (f"{key} {text[position]} appears again at row {kept_at[text[position]] + 1}; "
                                     "the later row is kept")
            self.field[position] = key

    def rejected(self) -> list[Rejected]:
        return [Rejected(int(p) + 1, self.reason[p], self.field[p]) for p in np.nonzero(~self.ok)[0]]


def coordinate_column(checks: RowChecks, column: str, limit: float) -> np.ndarray:
    raw = checks.text(column)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    lowered = raw.str.lower()
    checks.refuse((raw == "").to_numpy(), column, f"missing {column}")
    checks.refuse(lowered.isin(["nan", "-nan", "+nan"]).to_numpy(), column, f"{column} is NaN")
    checks.refuse(np.isnan(values), column, lambda p: f"{column} is not a number: {raw.iat[p]!r}")
    checks.refuse(np.isinf(values), column, lambda p: f"{column} is not finite: {raw.iat[p]!r}")
    checks.refuse(np.abs(values) > limit, column, lambda p: f"{column} {values[p]} is outside -{limit:g}..{limit:g}")
    return values


# --- customers ----------------------------------------------------------------------------------

def _phone(raw: str, region: str) -> tuple[str | None, str | None]:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        return None, f"phone {raw!r} is not a phone number ({exc})"
    if not phonenumbers.is_valid_number(number):
        return None, f"phone {raw!r} is not a valid number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _flag(checks: RowChecks, column: str) -> np.ndarray:
    values = checks.text(column).str.lower()
    checks.refuse((~values.isin(TRUE_WORDS | FALSE_WORDS)).to_numpy(), column,
                  lambda p: f"{column} must be true or false, got {values.iat[p]!r}")
    return values.isin(TRUE_WORDS).to_numpy()


def validate_customers(frame: pd.DataFrame, problems: dict[int, str] | None = None,
                       default_region: str = "CN") -> tuple[list[dict], list[Rejected]]:
    """Customer rows -> (rows ready to upsert, refused rows). Phones become E.164."""
    checks = RowChecks(frame, problems)
    checks.oversized(CUSTOMER_COLUMNS)
    customer_id = checks.required("customer_id")
    checks.longest("customer_id", customer_id, 64)
    raw_phone = checks.required("phone").to_numpy(dtype=object)
    phones = np.full(len(frame), None, dtype=object)
    for position in np.nonzero(checks.ok)[0]:
        phones[position], problem = _phone(raw_phone[position], default_region)
        if problem:
            checks.refuse(np.arange(len(frame)) == position, "phone", problem)
    zones = checks.text("time_zone")
    for zone in set(zones[checks.ok & (zones != "").to_numpy()]):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            checks.refuse((zones == zone).to_numpy(), "time_zone", f"unknown time zone {zone!r}")
    birth_raw = checks.text("birth_year")
    birth = pd.to_numeric(birth_raw, errors="coerce").to_numpy(dtype=np.float64)
    this_year = date.today().year
    checks.refuse(((birth_raw != "").to_numpy() & ~((birth >= 1900) & (birth <= this_year) & (birth % 1 == 0))),
                  "birth_year", lambda p: f"birth_year {birth_raw.iat[p]!r} is not a year 1900..{this_year}")
    vulnerable, opt_out = _flag(checks, "vulnerable"), _flag(checks, "sms_opt_out")
    names, locales, tokens = checks.text("name"), checks.text("locale"), checks.text("push_token")
    for column, values, limit in (("name", names, 200), ("locale", locales, 16), ("push_token", tokens, 255)):
        checks.longest(column, values, limit)
    checks.last_wins("customer_id", customer_id)
    ids, names, locales, zones, tokens = (v.to_numpy(dtype=object) for v in (customer_id, names, locales, zones, tokens))
    rows = [{"customer_id": ids[p], "name": names[p] or None, "phone": phones[p],
             "locale": locales[p] or "zh-CN", "time_zone": zones[p] or "Asia/Shanghai",
             "birth_year": None if math.isnan(birth[p]) else int(birth[p]), "vulnerable": bool(vulnerable[p]),
             "sms_opt_out": bool(opt_out[p]), "push_token": tokens[p] or None}
            for p in np.nonzero(checks.ok)[0]]
    return rows, checks.rejected()


# --- assets -------------------------------------------------------------------------------------

@dataclass
class ValidAssets:
    columns: dict[str, np.ndarray]  # Asset column -> values, good rows only, in file order
    rejected: list[Rejected]

    def __len__(self) -> int:
        return len(self.columns["asset_id"])


def validate_assets(session: Session, frame: pd.DataFrame, problems: dict[int, str] | None = None,
                    to_wgs84: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
                    ) -> ValidAssets:
    """Asset rows -> columns ready to write (coordinates converted to WGS-84), and refused rows."""
    checks = RowChecks(frame, problems)
    checks.oversized(ASSET_COLUMNS)
    asset_id = checks.required("asset_id")
    checks.longest("asset_id", asset_id, 64)
    customer_id = checks.required("customer_id")
    lon = coordinate_column(checks, "lon", 180.0)
    lat = coordinate_column(checks, "lat", 90.0)
    kind = checks.text("kind").str.lower()
    checks.refuse((~kind.isin([*ASSET_KINDS, ""])).to_numpy(), "kind",
                  lambda p: f"kind {kind.iat[p]!r} is not one of {', '.join(ASSET_KINDS)}")
    address, admin_code = checks.text("address"), checks.text("admin_code")
    checks.longest("address", address, 500)
    checks.longest("admin_code", admin_code, 16)
    value_raw = checks.text("insured_value")
    value_text = value_raw.to_numpy(dtype=object)
    values = np.full(len(frame), None, dtype=object)
    for position in np.nonzero(checks.ok & (value_raw != "").to_numpy())[0]:
        try:
            values[position] = parse_amount(value_text[position], allow_zero=True)
        except AmountError as exc:
            checks.refuse(np.arange(len(frame)) == position, "insured_value", f"insured_value {exc}")
    wanted = set(customer_id[checks.ok])
    known = existing_customer_ids(session, wanted) if wanted else set()
    checks.refuse((~customer_id.isin(known)).to_numpy(), "customer_id",
                  lambda p: f"unknown customer {customer_id.iat[p]}")
    checks.last_wins("asset_id", asset_id)
    ok = checks.ok
    good_lon, good_lat = lon[ok], lat[ok]
    if to_wgs84 is not None and ok.any():
        good_lon, good_lat = to_wgs84(good_lon, good_lat)
    columns = {"asset_id": asset_id[ok].to_numpy(dtype=object), "customer_id": customer_id[ok].to_numpy(dtype=object),
               "kind": np.where(kind[ok] == "", "vehicle", kind[ok]).astype(object),
               "lon": np.asarray(good_lon, dtype=np.float64), "lat": np.asarray(good_lat, dtype=np.float64),
               "address": address[ok].replace("", None).to_numpy(dtype=object),
               "admin_code": admin_code[ok].replace("", None).to_numpy(dtype=object),
               "insured_value": values[ok]}
    return ValidAssets(columns, checks.rejected())


def _bound(session: Session, column, values: Sequence) -> list:
    """Values as the driver wants them for this column type (e.g. Money as text on SQLite)."""
    dialect = session.get_bind().dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return [processor(v) for v in values] if processor else list(values)


def write_assets(session: Session, columns: dict[str, np.ndarray], start: int, stop: int) -> int:
    """Upsert rows [start, stop) of validated asset columns in one statement batch (fast path per database)."""
    table = Asset.__table__
    names = list(ASSET_COLUMNS) + ["updated_at"]
    count = stop - start
    now = _bound(session, table.c.updated_at, [utcnow()])[0]
    data = [columns[name][start:stop].tolist() for name in ASSET_COLUMNS]
    data[ASSET_COLUMNS.index("insured_value")] = _bound(session, table.c.insured_value, data[ASSET_COLUMNS.index("insured_value")])
    rows = list(zip(*data, [now] * count, strict=True))
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != "asset_id")
    raw = session.connection().connection.driver_connection
    if is_postgresql(session):
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS asset_import (LIKE assets INCLUDING DEFAULTS) "
                             "ON COMMIT DELETE ROWS"))
        with raw.cursor().copy(f"COPY asset_import ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        session.execute(text(f"INSERT INTO assets ({', '.join(names)}) SELECT {', '.join(names)} FROM asset_import "
                             f"ON CONFLICT (asset_id) DO UPDATE SET {updates}"))
        session.execute(text("DELETE FROM asset_import"))
    else:
        # SQLite: a plain INSERT is twice as fast as an upsert, so new ids and known ids go separately.
        known = _existing_asset_ids(session, columns["asset_id"][start:stop])
        fresh = [row for row in rows if row[0] not in known]
        cursor = raw.cursor()
        cursor.executemany(f"INSERT INTO assets ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", fresh)
        if known:
            cursor.executemany(f"UPDATE assets SET {', '.join(f'{n} = ?' for n in names[1:])} WHERE asset_id = ?",
                               [(*row[1:], row[0]) for row in rows if row[0] in known])
    return count


def _existing_asset_ids(session: Session, ids: np.ndarray) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000].tolist()
        found.update(r[0] for r in session.execute(select(Asset.asset_id).where(Asset.asset_id.in_(chunk))))
    return found


def import_customers(session_factory, frame: pd.DataFrame, problems: dict[int, str] | None = None,
                     default_region: str = "CN", on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validate and upsert customers; session_factory() yields a committing session (store.db.session_scope)."""
    rows, rejected = validate_customers(frame, problems, default_region)
    report = ImportReport("customers", received=len(frame), rejected=rejected)
    for start in range(0, len(rows), WRITE_CHUNK):
        with session_factory() as session:
            report.loaded += upsert_customers(session, rows[start:start + WRITE_CHUNK])
        if on_progress:
            on_progress(min(WRITE_CHUNK, len(rows) - start))
    return report


def import_assets(session_factory, frame: pd.DataFrame, problems: dict[int, str] | None = None,
                  to_wgs84=None, on_progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validate and upsert assets chunk by chunk (each chunk committed), reporting refused rows."""
    with session_factory() as session:
        valid = validate_assets(session, frame, problems, to_wgs84)
    report = ImportReport("assets", received=len(frame), rejected=valid.rejected)
    if on_progress and valid.rejected:
        on_progress(len(valid.rejected))
    for start in range(0, len(valid), WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, len(valid))
        with session_factory() as session:
            report.loaded += write_assets(session, valid.columns, start, stop)
        if on_progress:
            on_progress(stop - start)
    return report
