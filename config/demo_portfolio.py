"""A synthetic insured portfolio for the demo and the tests, deterministic from a seed.

Customers and their vehicles, homes, shops and factories are spread like population over
Guangdong, Fujian, Zhejiang and Hainan: each prefecture-level city draws a share of the book
proportional to its population, scattered around its centre. Phone numbers come from the
+86 170 0xxx xxxx block, which Haven reserves for synthetic data (never a real subscriber of ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# (province, city, admin code, lon, lat, population in millions) — WGS-84 city centres.
CITIES = [
    ("广东省", "广州市", "440100", 113.264, 23.129, 18.8),
    ("广东省", "深圳市", "440300", 114.058, 22.543, 17.6),
    ("广东省", "东莞市", "441900", 113.752, 23.021, 10.5),
    ("广东省", "佛山市", "440600", 113.122, 23.021, 9.6),
    ("广东省", "湛江市", "440800", 110.359, 21.271, 7.0),
    ("广东省", "茂名市", "440900", 110.925, 21.663, 6.2),
    ("广东省", "惠州市", "441300", 114.416, 23.111, 6.0),
    ("广东省", "揭阳市", "445200", 116.372, 23.550, 5.6),
    ("广东省", "汕头市", "440500", 116.682, 23.354, 5.5),
    ("广东省", "江门市", "440700", 113.082, 22.579, 4.8),
    ("广东省", "中山市", "442000", 113.392, 22.517, 4.4),
    ("广东省", "肇庆市", "441200", 112.465, 23.047, 4.1),
    ("广东省", "清远市", "441800", 113.056, 23.682, 4.0),
    ("广东省", "梅州市", "441400", 116.122, 24.288, 3.9),
    ("广东省", "韶关市", "440200", 113.597, 24.810, 2.9),
    ("广东省", "珠海市", "440400", 113.577, 22.271, 2.4),
    ("福建省", "泉州市", "350500", 118.676, 24.874, 8.8),
    ("福建省", "福州市", "350100", 119.296, 26.074, 8.3),
    ("福建省", "厦门市", "350200", 118.089, 24.480, 5.2),
    ("福建省", "漳州市", "350600", 117.647, 24.513, 5.1),
    ("福建省", "莆田市", "350300", 119.007, 25.454, 3.2),
    ("福建省", "宁德市", "350900", 119.548, 26.666, 3.1),
    ("福建省", "龙岩市", "350800", 117.017, 25.075, 2.7),
    ("福建省", "南平市", "350700", 118.178, 26.642, 2.7),
    ("福建省", "三明市", "350400", 117.639, 26.263, 2.5),
    ("浙江省", "杭州市", "330100", 120.155, 30.274, 12.2),
    ("浙江省", "宁波市", "330200", 121.550, 29.874, 9.6),
    ("浙江省", "温州市", "330300", 120.699, 27.994, 9.6),
    ("浙江省", "金华市", "330700", 119.647, 29.079, 7.1),
    ("浙江省", "台州市", "331000", 121.420, 28.656, 6.6),
    ("浙江省", "嘉兴市", "330400", 120.755, 30.746, 5.4),
    ("浙江省", "绍兴市", "330600", 120.580, 30.030, 5.3),
    ("浙江省", "湖州市", "330500", 120.088, 30.894, 3.4),
    ("浙江省", "丽水市", "331100", 119.923, 28.468, 2.5),
    ("浙江省", "衢州市", "330800", 118.859, 28.970, 2.3),
    ("浙江省", "舟山市", "330900", 122.207, 29.985, 1.2),
    ("海南省", "海口市", "460100", 110.199, 20.044, 2.9),
    ("海南省", "三亚市", "460200", 109.512, 18.253, 1.0),
    ("海南省", "儋州市", "460400", 109.581, 19.521, 1.0),
]

ASSET_KINDS = np.array(["vehicle", "home", "shop", "factory"])
ASSET_KIND_SHARE = np.array([0.55, 0.30, 0.10, 0.05])
INSURED_VALUE_RANGE = {"vehicle": (60_000, 400_000), "home": (800_000, 6_000_000),
                       "shop": (200_000, 2_000_000), "factory": (2_000_000, 30_000_000)}
STREETS = ["人民路", "解放路", "中山路", "建设路", "滨海大道", "新华街", "朝阳路", "江滨路"]
NAMES_ZH = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "林", "郑"]
NAMES_EN = ["Alex", "Sam", "Chris", "Jordan", "Taylor", "Morgan", "Lee", "Robin"]


@dataclass(frozen=True)
class Portfolio:
    customers: pd.DataFrame  # columns of `haven customers import`
    assets: pd.DataFrame  # columns of `haven assets import`


def generate_portfolio(seed: int = 20210725, n_customers: int = 20_000, n_assets: int = 50_000,
                       reference_year: int = 2026) -> Portfolio:
    if n_assets < n_customers:
        raise ValueError("every customer holds at least one asset: n_assets must be >= n_customers")
    rng = np.random.default_rng(seed)
    population = np.array([c[5] for c in CITIES])
    city_of_customer = rng.choice(len(CITIES), size=n_customers, p=population / population.sum())

    english = rng.random(n_customers) < 0.10
    ages = np.clip(rng.normal(46, 16, n_customers), 18, 95).astype(int)
    customer_ids = np.array([f"C{i:07d}" for i in range(1, n_customers + 1)])
    names = np.where(
        english,
        [f"{NAMES_EN[i % len(NAMES_EN)]} {chr(65 + i % 26)}." for i in range(n_customers)],
        [f"{NAMES_ZH[i % len(NAMES_ZH)]}{'先生' if i % 2 else '女士'}" for i in range(n_customers)],
    )
    customers = pd.DataFrame({
        "customer_id": customer_ids,
        "name": names,
        "phone": [f"+861700{i:07d}" for i in range(1, n_customers + 1)],
        "locale": np.where(english, "en", "zh-CN"),
        "time_zone": "Asia/Shanghai",
        "birth_year": reference_year - ages,
        "vulnerable": rng.random(n_customers) < 0.03,
        "sms_opt_out": rng.random(n_customers) < 0.02,
        "push_token": np.where(rng.random(n_customers) < 0.4,
                               [f"demo-push-{i:07d}" for i in range(1, n_customers + 1)], None),
    })

    # Every customer owns one asset; the rest go to customers at random (some own a fleet).
    owner = np.concatenate([np.arange(n_customers), rng.integers(0, n_customers, n_assets - n_customers)])
    rng.shuffle(owner)
    city = city_of_customer[owner]
    centre_lon = np.array([c[3] for c in CITIES])[city]
    centre_lat = np.array([c[4] for c in CITIES])[city]
    spread = 0.04 + 0.03 * np.sqrt(population[city])  # bigger cities sprawl further (degrees)
    lon = centre_lon + rng.normal(0, 1, n_assets) * spread
    lat = centre_lat + rng.normal(0, 1, n_assets) * spread * 0.9
    kinds = ASSET_KINDS[rng.choice(len(ASSET_KINDS), size=n_assets, p=ASSET_KIND_SHARE)]
    low = np.array([INSURED_VALUE_RANGE[k][0] for k in kinds])
    high = np.array([INSURED_VALUE_RANGE[k][1] for k in kinds])
    value = np.round(low + rng.random(n_assets) * (high - low), -3).astype(np.int64)
    addresses = [
        f"{CITIES[c][0]}{CITIES[c][1]}{STREETS[i % len(STREETS)]}{(i % 899) + 1}号"
        for i, c in enumerate(city)
    ]
    assets = pd.DataFrame({
        "asset_id": [f"A{i:08d}" for i in range(1, n_assets + 1)],
        "customer_id": customer_ids[owner],
        "lon": np.round(lon, 6),
        "lat": np.round(lat, 6),
        "kind": kinds,
        "address": addresses,
        "admin_code": [CITIES[c][2] for c in city],
        "insured_value": value.astype(str),
    })
    return Portfolio(customers=customers, assets=assets)
