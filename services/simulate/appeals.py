"""The simulator's appeal maker: a new appeal at a real building of the sample district, with the sample's
mix of services, channels and causes (used by the live feed and by ``services.seed_today``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.vocabulary import CATEGORIES, CATEGORY_LAND_USE, CATEGORY_ZH, CHANNELS, SERVICE_TYPES

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余叶杜")
_GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅海燕文辉俊")
# Metres per degree of longitude and of latitude at the district (about 22.5° N).
M_PER_DEG_LON = 102_700
M_PER_DEG_LAT = 110_800


class Buildings:
    """The district's buildings as arrays, and where each cause of appeal is likely to come from."""

    def __init__(self, building: Any) -> None:
        """``building``: the building layer (a GeoDataFrame of points with code, land use and population)."""
        b = building
        self.lon = b.geometry.x.to_numpy()
        self.lat = b.geometry.y.to_numpy()
        self.code = b["code"].to_numpy(object)
        self.land_use = b["land_use"].to_numpy(object) if "land_use" in b else np.full(len(b), "scattered", object)
        self.weight = b["population"].to_numpy(float) + 0.5 if "population" in b else np.ones(len(b))
        self.construction_sites = np.flatnonzero(self.land_use == "construction")
        self._by_category: dict[str, np.ndarray] = {}

    def sites_near(self, site: int, metres: float) -> np.ndarray:
        """The construction sites within ``metres`` of construction site ``site`` (itself included)."""
        s = self.construction_sites
        d = np.hypot((self.lon[s] - self.lon[site]) * M_PER_DEG_LON, (self.lat[s] - self.lat[site]) * M_PER_DEG_LAT)
        return s[d < metres]

    def draw_for(self, category: str, rng: np.random.Generator) -> int:
        """A building at random for an appeal of ``category``: weighted by population and by how likely the
        cause is on the building's land use."""
        w = self._by_category.get(category)
        if w is None:
            uses = CATEGORY_LAND_USE.get(category)
            w = self.weight.copy()
            if uses:
                w = w * np.array([uses.get(u, 0.02) for u in self.land_use])
            w = w / w.sum()
            self._by_category[category] = w
        return int(rng.choice(len(w), p=w))


def random_appeal(rng: np.random.Generator, buildings: Buildings, external_id: str, at: datetime, *,
                  category: str | None = None, building: int | None = None, gathering: str | None = None,
                  first: bool = False) -> dict[str, Any]:
    """One new appeal's intake row, reported at ``at`` (a cause drawn from the sample's mix unless
    ``category`` is given; a building drawn for the cause unless ``building`` is given).

    A ``gathering``'s appeals come through the channels a crew uses, with a few people each and a higher
    urgency. Besides the intake columns the row holds ``b_lon``/``b_lat`` (the building's own point, for a
    report jittered past the district's edge) and ``_order`` (``first``: the report on which the community
    orders departments on site); drop those three before ``build_appeals``.
    """
    r = rng
    if category is None:
        service = str(r.choice(list(SERVICE_TYPES), p=_p(SERVICE_TYPES)))
        cats = CATEGORIES[service]
        category = str(r.choice(list(cats), p=_p(cats)))
    else:
        service = next(s for s, cats in CATEGORIES.items() if category in cats)
    if gathering:
        channel = str(r.choice(["active_discovery", "hotline", "walk_in", "qr_scan"], p=[0.4, 0.3, 0.2, 0.1]))
        people = int(r.integers(1, 4))
        urgency = int(r.choice([2, 3], p=[0.8, 0.2]))
    else:
        channel = str(r.choice(list(CHANNELS), p=_p(CHANNELS)))
        people = 1 if r.random() < 0.85 else int(r.integers(2, 8))
        if category in ("wage_arrears", "labour_law"):
            people = max(people, int(r.choice([1, 2, 3, 5, 8, 12, 20, 35],
                                               p=[0.4, 0.2, 0.12, 0.1, 0.08, 0.05, 0.03, 0.02])))
        urgency = int(r.choice([1, 2, 3], p=[0.90, 0.09, 0.01]))
    if category in ("wage_arrears", "labour_law"):
        amount = float(np.round(people * r.lognormal(8.9 if not gathering else 9.8, 0.6), -2))
    elif service in ("dispute", "legal") and r.random() < 0.5:
        amount = float(np.round(r.lognormal(9.0, 1.2), -2))
    else:
        amount = 0.0
    b = buildings
    bi = b.draw_for(category, r) if building is None else building
    jitter = r.normal(0, 6, 2)
    who = f"涉及{people}人" if people > 1 else "个人诉求"
    money = f"，涉及金额约{amount / 10000:.1f}万元" if amount > 0 else ""
    return {
        "external_id": external_id, "channel": channel, "service_type": service,
        "category": category, "description": f"{CATEGORY_ZH[category]}：{who}{money}"
                                             + ("（工地集体反映）" if gathering else ""),
        "lon": b.lon[bi] + jitter[0] / M_PER_DEG_LON, "lat": b.lat[bi] + jitter[1] / M_PER_DEG_LAT,
        "b_lon": b.lon[bi], "b_lat": b.lat[bi],
        "source_crs": "wgs84", "people_involved": people, "amount_involved": amount, "urgency": urgency,
        "reported_at": pd.Timestamp(at).floor("s"), "building_code": b.code[bi],
        "reporter_name": str(r.choice(_SURNAMES)) + "".join(r.choice(_GIVEN, int(r.integers(1, 3)))),
        "reporter_phone": f"1{r.choice(['38', '39', '58', '59', '86', '35'])}{int(r.integers(0, 10**8)):08d}",
        "_order": bool(first),
    }


def _p(table: dict[str, float]) -> np.ndarray:
    p = np.array(list(table.values()), float)
    return p / p.sum()
