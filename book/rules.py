"""The insured book's import rules: what makes a customer or asset row good (docs/architecture.md).

Plain functions on frames, no SQL and no sessions. Bad rows are refused one by one, each with its row
number (1 = the first record after the header) and the reason; the good rows come out ready to write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import phonenumbers

from store.money import AmountError, parse_amount

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


def validate_assets(frame: pd.DataFrame, known_customers: Callable[[set[str]], set[str]],
                    problems: dict[int, str] | None = None,
                    to_wgs84: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
                    ) -> ValidAssets:
    """Asset rows -> columns ready to write (coordinates converted to WGS-84), and refused rows.

    known_customers(ids) answers which of the ids the book holds; it is asked only about rows that
    passed every other check."""
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
    known = known_customers(wanted) if wanted else set()
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
