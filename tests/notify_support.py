"""Shared by the warnings-out tests: a Twilio-compatible server fixture, a small insured book, live alerts.

Import the fixture into a test module (`from tests.notify_support import twilio_server_fixture  # noqa: F401`)
and ask for it as `twilio_server`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from devtools.twilio_compatible import RunningServer, TwilioCompatible
from tests.support import ROOT

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "a3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7"
FROM_NUMBER = "+15005550006"
DEMO_CHAIN = ROOT / "config" / "demo"
WENZHOU = (120.699, 27.994)  # inside all three demo typhoon areas


class TwilioServer:
    def __init__(self):
        self.provider = TwilioCompatible(ACCOUNT_SID, AUTH_TOKEN)
        self._server = RunningServer(self.provider.app())
        self.base_url = self._server.base_url

    @property
    def faults(self):
        return self.provider.faults

    def env(self, public_base_url: str = "http://127.0.0.1:9", **extra) -> dict:
        """HAVEN_* / TWILIO_* variables that send SMS here."""
        return {"HAVEN_SMS_CHANNEL": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM": FROM_NUMBER, "HAVEN_TWILIO_API_BASE_URL": self.base_url,
                "HAVEN_PUBLIC_BASE_URL": public_base_url, **extra}

    def stop(self):
        self._server.stop()


@pytest.fixture(name="twilio_server")
def twilio_server_fixture():
    """A Twilio-compatible server on 127.0.0.1 for one test."""
    server = TwilioServer()
    yield server
    server.stop()


def add_book(database_url: str, count: int, lon: float = WENZHOU[0], lat: float = WENZHOU[1], start: int = 1,
             **customer_fields) -> list[str]:
    """`count` customers, each with one vehicle at (lon, lat) plus a home for every fifth; returns their ids."""
    from book.dao import upsert_assets, upsert_customers
    from store.db import session_scope

    ids = [f"C{n:07d}" for n in range(start, start + count)]
    customers = [{"customer_id": cid, "phone": f"+861700{n:07d}", "locale": "zh-CN" if n % 4 else "en",
                  "time_zone": "UTC", **customer_fields} for n, cid in zip(range(start, start + count), ids, strict=True)]
    assets = []
    for n, cid in zip(range(start, start + count), ids, strict=True):
        # spread over a few hundred metres, as a city's parked cars are
        x, y = lon + (n % 7) * 0.0007, lat + (n % 5) * 0.0007
        assets.append({"asset_id": f"A{n:08d}", "customer_id": cid, "kind": "vehicle", "lon": x, "lat": y,
                       "address": "浙江省温州市滨海大道1号"})
        if n % 5 == 0:
            assets.append({"asset_id": f"H{n:08d}", "customer_id": cid, "kind": "home", "lon": x, "lat": y,
                           "address": "浙江省温州市人民路2号"})
    if database_url.startswith("postgresql") and count > 1000:
        _copy(database_url, customers, assets)
    else:
        with session_scope(database_url) as session:
            upsert_customers(session, customers)
            upsert_assets(session, assets)
    return ids


def _copy(database_url: str, customers: list[dict], assets: list[dict]) -> None:
    """Big books go in with COPY: seconds instead of half a minute for the 20,000-customer drill."""
    from store.db import get_engine
    from store.types import utcnow

    now = utcnow()
    defaults = {"vulnerable": False, "sms_opt_out": False, "push_opt_out": False, "created_at": now, "updated_at": now}
    connection = get_engine(database_url).raw_connection()
    try:
        cursor = connection.cursor()
        for table, rows in (("customers", [defaults | c for c in customers]),
                            ("assets", [{"updated_at": now} | a for a in assets])):
            columns = list(rows[0])
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[column] for column in columns])
        connection.commit()
    finally:
        connection.close()


_TIMESTAMP = re.compile(r"2021-07-2\d{1}T\d\d:\d\d:\d\d\+08:00")
_EXPIRES = re.compile(r"<expires>[^<]*</expires>")
CHINA = timezone(timedelta(hours=8))
CHAIN_START = datetime(2021, 7, 24, 10, 0, tzinfo=CHINA)
# One "now" for every message a test process moves, so that a Cancel's references name the very
# sent times its Alert and Update were given.
CHAIN_NOW = datetime.now(UTC).replace(microsecond=0)


def live_demo_cap(name: str, now: datetime | None = None, tag: str = "") -> bytes:
    """A message of the demo typhoon chain (config/demo) moved to the present.

    The chain's three days are squeezed into the hour before `now` (sent times and references alike, so
    the chain still links up), and every message expires six hours after it. `tag` makes a separate chain.
    """
    now = now or CHAIN_NOW
    start = now - timedelta(minutes=61)

    def moved(match: re.Match) -> str:
        original = datetime.fromisoformat(match.group(0))
        return (start + (original - CHAIN_START) / 72).astimezone(CHINA).replace(microsecond=0).isoformat()

    text = (DEMO_CHAIN / name).read_text(encoding="utf-8")
    expires = (now + timedelta(hours=6)).astimezone(CHINA).replace(microsecond=0).isoformat()
    text = _EXPIRES.sub(f"<expires>{expires}</expires>", text)
    text = _TIMESTAMP.sub(moved, text)
    if tag:
        text = text.replace("CN-CMA-2021", f"CN-CMA-{tag}-2021")
    return text.encode()


def wait_for_workers(count: int = 1, timeout: float = 90.0) -> None:
    """Block until `count` worker processes answer a ping (a worker takes seconds to boot)."""
    from workers.system import ping

    pending = [ping.apply_async(args=(f"ready-{n}",)) for n in range(count)]
    for result in pending:
        result.get(timeout=timeout)
