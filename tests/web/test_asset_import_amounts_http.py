"""Insured values in an asset import are read like every other amount (store.money), over real HTTP on
PostgreSQL: a bad value refuses its row, naming the field, and the import goes on with the rest."""

from sqlalchemy import select

from store.db import session_scope
from store.models import Asset
from tests.greenchannel.conftest import seed_book
from tests.support import make_user

GOOD = {"G1": ("250000", "250000.00"), "G2": ("0", "0.00"), "G3": ("1500000.5", "1500000.50"), "G4": ("", None)}
BAD = {"B1": "1_000", "B2": "１００", "B3": "1e400", "B4": "-5", "B5": "99999999999999999999999999999.00",
       "B6": "12.345", "B7": "NaN", "B8": "Infinity", "B9": "0x10"}


def test_bad_insured_values_refuse_their_row_and_name_the_field(api_server, pg_clean_url):
    seed_book(pg_clean_url)
    manager = api_server(pg_clean_url).as_user(make_user(pg_clean_url, "manager"))
    rows = [f"{a},C0000001,121.5,29.9,home,{v}" for a, (v, _) in GOOD.items()] + \
           [f"{a},C0000001,121.5,29.9,home,{v}" for a, v in BAD.items()]
    body = "asset_id,customer_id,lon,lat,kind,insured_value\n" + "\n".join(rows) + "\n"
    answer = manager.post("/v1/assets/import", data=body.encode(), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:500]}"
    report = answer.json()
    assert report["loaded"] == len(GOOD), f"the good rows load: {report}"
    refused = {r["row"]: r for r in report["rejected"]}
    assert sorted(refused) == list(range(len(GOOD) + 1, len(GOOD) + len(BAD) + 1)), f"each bad row refused: {report}"
    assert all(r["field"] == "insured_value" for r in refused.values()), f"the refusal names the field: {report}"
    with session_scope(pg_clean_url) as session:
        stored = {a.asset_id: a.insured_value for a in session.scalars(select(Asset).where(
            Asset.asset_id.in_([*GOOD, *BAD])))}
    assert {a: None if v is None else str(v) for a, v in stored.items()} == {a: e for a, (_, e) in GOOD.items()}, \
        f"exactly the good rows are stored, with exact amounts: {stored}"
