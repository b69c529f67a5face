"""Load the synthetic demo book into an empty database (`make run` on first start)."""

from __future__ import annotations

from pathlib import Path

from book.dao import count_assets, upsert_assets, upsert_customers
from config import get_settings
from config.demo_portfolio import generate_portfolio
from config.settings import VAR_DIR
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


DEMO_STAFF = [
    ("admin", "Ops Admin"),
    ("dispatcher", "Dispatcher Deng"),
    ("adjuster", "Adjuster An"),
    ("adjuster", "Adjuster Bo"),
    ("supervisor", "Supervisor Su"),
    ("manager", "Manager Ma"),
]
# The claims staff's work numbers, which the demo customer's Call button dials. Fictitious: 139 0000 00xx.
DEMO_STAFF_PHONES = {
    "Adjuster An": "+8613900000001",
    "Adjuster Bo": "+8613900000002",
    "Supervisor Su": "+8613900000003",
    "Manager Ma": "+8613900000004",
}


def demo_keys_path(settings) -> Path:
    """Beside the SQLite file (var/ by default), so a test database never overwrites the user's keys."""
    url = settings.database_url
    folder = Path(url.split("///", 1)[1]).parent if url.startswith("sqlite:///") else VAR_DIR
    return folder / "demo-keys.txt"


def create_demo_users(path: Path) -> list[tuple[str, str, str]] | None:
    """On an empty user table, create one user per staff role and one customer (Wenzhou, inside the
    demo typhoon's area), and keep their keys in `path` so the console can be tried at once.
    Returns [(role, name, key)] or None when users already exist."""
    from sqlalchemy import func, select

    from store.models import Asset, User
    from store.users import create_user

    with session_scope() as session:
        if session.scalar(select(func.count(User.id))):
            return None
        wenzhou_customer = session.scalar(
            select(Asset.customer_id).where(Asset.admin_code == "330300").order_by(Asset.asset_id).limit(1)
        ) or session.scalar(select(Asset.customer_id).order_by(Asset.asset_id).limit(1))
        created = []
        for role, name in DEMO_STAFF:
            _, key = create_user(session, role, name, phone=DEMO_STAFF_PHONES.get(name))
            created.append((role, name, key))
        if wenzhou_customer:
            _, key = create_user(session, "customer", f"Customer {wenzhou_customer}", wenzhou_customer)
            created.append(("customer", f"Customer {wenzhou_customer}", key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{role:<11} {name:<22} {key}\n" for role, name, key in created))
    path.chmod(0o600)
    return created
