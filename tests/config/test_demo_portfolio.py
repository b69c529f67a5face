"""The demo book is realistic, deterministic and importable."""

import phonenumbers

from config.demo_portfolio import CITIES, generate_portfolio


def test_portfolio_is_deterministic_and_big_enough():
    first = generate_portfolio(seed=7)
    again = generate_portfolio(seed=7)
    assert first.assets.equals(again.assets) and first.customers.equals(again.customers)
    assert len(first.assets) >= 50_000 and len(first.customers) >= 20_000
    assert not generate_portfolio(seed=8).assets[["lon", "lat"]].equals(first.assets[["lon", "lat"]])


def test_portfolio_looks_like_the_four_provinces():
    portfolio = generate_portfolio()
    assets, customers = portfolio.assets, portfolio.customers
    assert set(assets.kind) == {"vehicle", "home", "shop", "factory"}
    assert assets.lon.between(107, 124).all() and assets.lat.between(17, 32).all()
    provinces = assets.admin_code.str[:2].value_counts(normalize=True)
    assert set(provinces.index) == {"44", "35", "33", "46"}
    assert provinces["44"] > provinces["35"] > provinces["46"]  # Guangdong is the most populous
    assert assets.customer_id.isin(customers.customer_id).all()
    assert customers.customer_id.isin(assets.customer_id).all()
    over_60 = (2026 - customers.birth_year >= 60).mean()
    assert 0.1 < over_60 < 0.35
    assert set(customers.locale) == {"zh-CN", "en"}
    sample = customers.phone.sample(200, random_state=1)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in sample)
    assert customers.phone.is_unique
    assert len(CITIES) >= 30
