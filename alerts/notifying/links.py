"""Signed links in warning SMS while a CAT event is open for the area (docs/architecture.md, "Signing in").

Planning is pure, so a warning is planned with a placeholder link of the real length (the text's segments
are counted with it); when the chunk is saved, each placeholder becomes the customer's own random token,
stored only as its SHA-256 in customer_links, in the same transaction as the notification.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from identity.rules import customer_link_url, new_link_token, token_hash
from store.models import CatEvent, CatEventChain, CustomerLink
from store.models.greenchannel import CatEventStatus

PLACEHOLDER_TOKEN = "0" * 22  # as long as identity's tokens, and of the same characters (GSM-7 and URL-safe)


def placeholder_url(public_base_url: str) -> str:
    return customer_link_url(public_base_url, PLACEHOLDER_TOKEN)


def cat_event_open(session: Session, chain_id: int, area_of_alert: Callable[[], BaseGeometry | None],
                   now: datetime) -> bool:
    """An open CAT event, its window holding now, belongs to this chain or reaches into its area (read only
    when an event is open and not tied to the chain: a province's polygon is not free to build)."""
    events = session.execute(
        select(CatEvent.id, CatEvent.area_geojson)
        .where(CatEvent.status == CatEventStatus.OPEN, CatEvent.window_start <= now,
               or_(CatEvent.window_end.is_(None), CatEvent.window_end >= now))).all()
    if not events:
        return False
    linked = session.scalar(select(CatEventChain.cat_event_id).where(
        CatEventChain.chain_id == chain_id, CatEventChain.cat_event_id.in_([e.id for e in events])))
    if linked is not None:
        return True
    area = area_of_alert()
    if area is None or area.is_empty:
        return False
    return any(event.area_geojson and shape(event.area_geojson).intersects(area) for event in events)


def mint_links(session: Session, rows: list[dict], now: datetime, ttl: timedelta) -> int:
    """Give every row whose body holds the placeholder its customer's own link; returns how many."""
    placeholder = "/c/" + PLACEHOLDER_TOKEN
    links = []
    for row in rows:
        if placeholder in row["body"]:
            token = new_link_token()
            row["body"] = row["body"].replace(placeholder, "/c/" + token)
            links.append({"token_hash": token_hash(token), "customer_id": row["customer_id"], "created_at": now,
                          "expires_at": now + ttl, "uses": 0})
    if links:
        session.execute(insert(CustomerLink), links)
    return len(links)
