"""Load the synthetic demo book into an empty database (`make run` on first start)."""

from __future__ import annotations

from config import get_settings
from config.demo_portfolio import generate_portfolio
from store.book import count_assets, upsert_assets, upsert_customers
from store.db import session_scope


def _records(frame) -> list[dict]:
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


def seed_demo_book(force: bool = False) -> dict | None:
    """Insert the demo customers and assets unless the book already has assets. Returns counts or None."""
    settings = get_settings()
    with session_scope() as session:
        if count_assets(session) and not force:
            return None
    portfolio = generate_portfolio(settings.demo_seed, settings.demo_customers, settings.demo_assets)
    customers = _records(portfolio.customers)
    for row in customers:
        row["vulnerable"] = bool(row["vulnerable"])
        row["sms_opt_out"] = bool(row["sms_opt_out"])
        row["birth_year"] = int(row["birth_year"])
    assets = _records(portfolio.assets)
    with session_scope() as session:
        upsert_customers(session, customers)
        upsert_assets(session, assets)
    return {"customers": len(customers), "assets": len(assets)}
