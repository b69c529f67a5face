"""A small insured world on a real database, and the In-Fa (2021) CAT area built from its real track.

Places are real city centres: inside the storm's landfall swath (Zhoushan, Ningbo, Jiaxing) and far
outside it (Guangzhou, Sanya). Business functions run through greenchannel.service.run_unit, the
same unit of work the API uses, with the rules built from the current settings as the app factory does.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

import pytest
from shapely.geometry import mapping

from book.dao import upsert_assets, upsert_customers
from store.db import session_scope
from store.users import Principal, create_user
from tests.support import FIXTURES

HERE = FIXTURES / "greenchannel"
LANDFALL = datetime(2021, 7, 25, 12, 30, tzinfo=UTC) - timedelta(hours=8)  # Zhoushan, 12:30 Beijing time
PLACES = {  # WGS-84 city centres (config/demo_portfolio.py)
    "zhoushan": (122.207, 29.985), "ningbo": (121.550, 29.874), "jiaxing": (120.755, 30.746),
    "guangzhou": (113.264, 23.129), "sanya": (109.512, 18.253),
}


@cache
def infa_swath() -> dict:
    """The gale swath of Typhoon In-Fa from 2021-07-24 to the end of its track (the landfall days)."""
    from geo.swath import Fix, wind_swath

    track = json.loads((HERE / "qweather_storm-track_infa-2021_full.json").read_text(encoding="utf-8"))["track"]
    fixes = []
    for point in track:
        if point["time"] < "2021-07-24":
            continue
        radii = point.get("windRadius30") or {}
        fixes.append(Fix(float(point["lon"]), float(point["lat"]),
                         {q: float(radii.get(f"{q}Radius") or 0) for q in ("ne", "se", "sw", "nw")}))
    return mapping(wind_swath(fixes))


@cache
def real_jpeg() -> bytes:
    """The photo a Maryland county attached to a 2019 IPAWS alert (a real JPEG, from the corpus)."""
    text = (HERE / "us_ipaws_montgomery-md_lae_polygon_derefuri-jpeg_xmldsig.xml").read_text(encoding="utf-8")
    return base64.b64decode(re.search(r"<derefUri>(.*?)</derefUri>", text, re.S).group(1))


@dataclass
class World:
    url: str
    users: dict[str, Principal] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def run(self, fn, *args, **kwargs):
        from greenchannel.service import run_unit
        from workers.greenchannel import wire_green_channel

        wire_green_channel()
        return run_unit(fn, *args, **kwargs)

    @property
    def rules(self):
        """The rules as the composition roots build them, from the settings as they are now."""
        from workers.greenchannel import current_rules

        return current_rules()

    def session(self):
        return session_scope(self.url)

    def user(self, role: str, name: str | None = None, customer_id: str | None = None) -> Principal:
        name = name or role
        if name not in self.users:
            with self.session() as session:
                user, key = create_user(session, role, name, customer_id)
                self.users[name] = Principal(user.id, name, role, customer_id)
                self.keys[name] = key
        return self.users[name]

    def declare_infa(self, code: str = "CAT-2021-0725-INFA", **overrides):
        from greenchannel import catevents

        arguments = {"code": code, "hazard": "typhoon", "area_geojson": infa_swath(),
                     "window_start": LANDFALL - timedelta(days=1), "window_end": LANDFALL + timedelta(days=4)}
        arguments.update(overrides)
        return self.run(catevents.declare, self.user("supervisor"), **arguments)

    def file(self, asset_id: str, actor: Principal | None = None, at: datetime | None = None, **flags):
        from greenchannel import claims
        from greenchannel.requests import FirstNotice

        actor = actor or self.user("adjuster")
        estimate = flags.pop("estimate", None)
        notice = FirstNotice(asset_id=asset_id, loss_at=at or LANDFALL + timedelta(hours=2),
                                    estimate=Decimal(estimate) if estimate is not None else None, **flags)
        claim, _ = self.run(claims.file_claim, actor, notice)
        return claim


def ask(model, body: dict):
    """A typed request from JSON-like data, refused (Malformed naming the field) as the API refuses it."""
    from greenchannel.inputs import parse

    return parse(model, body)


def race(*calls) -> list[tuple[str, object]]:
    """Start all calls at the same instant on their own threads (each with its own database connection);
    return ("ok", result), ("refused", GreenChannelError) or ("crash", other exception) per call."""
    from greenchannel.errors import GreenChannelError

    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            outcomes[index] = ("ok", call())
        except GreenChannelError as exc:
            outcomes[index] = ("refused", exc)
        except Exception as exc:
            outcomes[index] = ("crash", exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


BOOK_CUSTOMERS = [
    # customer, birth year, locale, vulnerable, sms opt-out
    ("C0000001", 1990, "zh-CN", False, False),
    ("C0000002", 1950, "zh-CN", False, False),  # over 60
    ("C0000003", 1985, "en", False, False),
    ("C0000004", 1992, "zh-CN", True, False),  # flagged vulnerable
    ("C0000005", 1980, "zh-CN", False, True),  # no SMS
]
BOOK_ASSETS = [
    # asset, customer, kind, place, value
    ("A00000001", "C0000001", "vehicle", "zhoushan", "180000"),
    ("A00000002", "C0000002", "vehicle", "ningbo", "120000"),
    ("A00000003", "C0000003", "vehicle", "jiaxing", "260000"),
    ("A00000004", "C0000004", "home", "ningbo", "2400000"),
    ("A00000005", "C0000005", "vehicle", "guangzhou", "90000"),
    ("A00000006", "C0000001", "factory", "jiaxing", "12000000"),
    ("A00000007", "C0000003", "vehicle", "sanya", "75000"),
]


def make_world(url: str, haven_env, **settings) -> World:
    haven_env(url, **settings)
    seed_book(url)
    return World(url)


def seed_book(url: str) -> None:
    with session_scope(url) as session:
        upsert_customers(session, [{"customer_id": c, "phone": f"+861700{i:07d}", "name": f"Customer {c}",
                                    "locale": locale, "birth_year": born, "vulnerable": vulnerable,
                                    "sms_opt_out": opt_out}
                                   for i, (c, born, locale, vulnerable, opt_out) in enumerate(BOOK_CUSTOMERS, 1)])
        upsert_assets(session, [{"asset_id": a, "customer_id": c, "kind": kind, "lon": PLACES[place][0],
                                 "lat": PLACES[place][1], "insured_value": value}
                                for a, c, kind, place, value in BOOK_ASSETS])


@pytest.fixture
def world(db_url, haven_env) -> World:
    """The world on SQLite (embedded default) and on PostgreSQL (production)."""
    return make_world(db_url, haven_env)


@pytest.fixture
def pg_world(pg_clean_url, haven_env) -> World:
    """The world on PostgreSQL only: for races with real parallel connections."""
    return make_world(pg_clean_url, haven_env)
