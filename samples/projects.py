"""Investment-attraction projects: each project's whole life, and the city's 项目台账 of a month.

A project's life is decided when it is first recorded: it moves along 在谈 → 签约 → 注册 →
开工 → 投产 (a few are 终止) with paid-in funds that never fall, and it stays in the ledger
until the December of the year after it closed.
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from core import reference
from core.periods import month_end, month_index, months
from samples.entities import EPOCH, Investor, investor_pool, profile
from samples.rng import keyed_random

CHAIN_PRODUCTS = {
    "装备制造": ("高端装备制造基地", "智能成套装备生产线", "精密零部件产业园"),
    "工程机械": ("工程机械零部件制造基地", "液压件生产线", "智能装备产业园"),
    "轨道交通装备": ("轨道交通配套产业园", "牵引系统零部件生产线", "城轨车辆部件制造基地"),
    "航空航天": ("通用航空零部件制造基地", "航空发动机配套项目", "无人机研发生产基地"),
    "汽车及零部件": ("新能源汽车零部件生产基地", "汽车电子生产线", "整车配套产业园"),
    "电子信息": ("智能终端生产基地", "电子元器件产业园", "显示模组生产线", "服务器制造基地"),
    "新材料": ("先进电池材料生产基地", "特种合金材料项目", "高性能复合材料产业园"),
    "新能源": ("储能电池生产基地", "光伏组件生产线", "风电装备制造基地"),
    "生物医药": ("生物医药产业园", "原料药生产基地", "医疗器械生产线"),
    "食品加工": ("绿色食品加工基地", "预制菜生产线", "粮油精深加工项目"),
    "纺织服装": ("纺织服装产业园", "智能制鞋生产线", "功能面料生产基地"),
    "有色金属": ("有色金属精深加工项目", "硬质合金生产线", "再生资源综合利用基地"),
    "石化化工": ("精细化工产业园", "化工新材料项目", "高端润滑油生产基地"),
    "现代物流": ("智慧物流园", "冷链物流中心", "跨境电商分拨中心"),
    "文化旅游": ("文旅综合体", "度假区开发项目", "民宿集群项目"),
    "现代农业": ("现代农业产业园", "茶叶精深加工基地", "柑橘种植加工一体化项目"),
    "节能环保": ("环保装备制造基地", "固废资源化利用项目", "节能设备生产线"),
    "其他": ("总部经济项目", "产业综合体项目", "研发中心项目"),
}
PROJECT_SEASON = (0.6, 0.6, 1.2, 1.0, 1.2, 1.1, 1.0, 0.9, 1.0, 1.0, 1.1, 1.3)
FOREIGN_SHARE = 0.105  # of projects without a 500强 investor
FORTUNE500_SHARE = 0.05
TERMINATION_SHARE = 0.035
USD_PER_CNY_FOR_AMOUNTS = 7.0  # how a foreign investor's 万元-sized plan is stated in 万美元


@dataclass
class Project:
    """One project's whole life, decided when it is first recorded."""

    project_id: str
    project_name: str
    county_code: str
    park_code: str
    industry_chain: str
    investor: Investor
    currency: str
    contract_amount: float  # 万元 or 万美元
    land_area_mu: float | None
    recorded: date
    signed: date | None
    registered: date | None
    started: date | None
    produced: date | None
    terminated: date | None
    paid_t: list[int] = field(default_factory=list)  # month indices of payments
    paid_cum: list[float] = field(default_factory=list)  # cumulative paid-in after each

    @property
    def closed(self) -> date | None:
        return self.terminated or self.produced

    def paid_at(self, period: str) -> float:
        i = bisect.bisect_right(self.paid_t, month_index(period))
        return self.paid_cum[i - 1] if i else 0.0

    def in_ledger(self, period: str) -> bool:
        end = month_end(period)
        if self.recorded > end:
            return False
        closed = self.closed
        # Kept until the December of the year after reaching 投产 or 终止.
        return not (closed is not None and closed <= end and end.year > closed.year + 1)

    def row(self, period: str) -> dict | None:
        """The 项目台账 row at the end of ``period`` (None when not in that ledger)."""
        if not self.in_ledger(period):
            return None
        end = month_end(period)
        dates = {k: (d if d is not None and d <= end else None) for k, d in (
            ("signed_date", self.signed), ("registered_date", self.registered),
            ("started_date", self.started), ("production_date", self.produced))}
        if self.terminated is not None and self.terminated <= end:
            stage = "终止"
        else:
            stage = "在谈"
            for name, key in (("签约", "signed_date"), ("注册", "registered_date"),
                              ("开工", "started_date"), ("投产", "production_date")):
                if dates[key] is not None:
                    stage = name
        inv = self.investor
        return {
            "project_id": self.project_id, "project_name": self.project_name,
            "county_code": self.county_code, "park_code": self.park_code,
            "industry_chain": self.industry_chain, "investor": inv.name,
            "investor_origin": inv.origin, "source_region": inv.region, "fortune500": inv.fortune500,
            "currency": self.currency, "contract_amount": self.contract_amount, "stage": stage,
            **dates, "paid_in_cumulative": self.paid_at(period), "land_area_mu": self.land_area_mu,
        }


def _days(r: random.Random, shape: float, scale: float) -> timedelta:
    return timedelta(days=int(r.gammavariate(shape, scale)))


def _make_project(city: str, seed: int, year: int, number: int, recorded: date) -> Project:
    r = keyed_random(seed, "project", city, year, number)
    prof = profile(city)
    pool = investor_pool(seed)
    u = r.random()
    if u < FORTUNE500_SHARE:
        investor = r.choice(pool[r.choices(("世界500强", "中国500强", "民营500强"), (0.3, 0.35, 0.35))[0]])
    elif u < FORTUNE500_SHARE + FOREIGN_SHARE * (1 - FORTUNE500_SHARE):
        investor = pool["foreign"][int(r.random() ** 1.6 * 300)]
    else:
        investor = pool["domestic"][int(r.random() ** 1.6 * 2500)]  # some investors come back

    # Contract amount in 万元: most projects around 1亿, a tail of big ones.
    if r.random() < 0.12:
        amount_cny = r.lognormvariate(math.log(80000), 0.8)
    else:
        amount_cny = r.lognormvariate(math.log(14000), 0.5)
    amount_cny = max(500.0, amount_cny)
    if investor.foreign:
        currency, amount = "美元", max(50.0, round(amount_cny / USD_PER_CNY_FOR_AMOUNTS, -1))
    else:
        currency, amount = "人民币", round(amount_cny, -1)

    chains = reference.industry_chains()
    chain_w = [5 if c in prof.chains else (0.5 if c == "其他" else 1) for c in chains]
    chain = r.choices(chains, chain_w)[0]
    counties = sorted(reference.counties_by_city()[city])
    county = r.choices(counties, [1 + (i * 7919 + zlib.crc32(city.encode())) % 5 for i in range(len(counties))])[0]
    parks = reference.parks_by_city().get(city, [])
    park = r.choice(parks)["park_code"] if parks and r.random() < 0.75 else ""
    land = None if r.random() < 0.08 else max(5.0, round(amount_cny / r.uniform(150, 600), 1))
    name = f"{investor.brand}{r.choice(CHAIN_PRODUCTS.get(chain, CHAIN_PRODUCTS['其他']))}项目"

    signed = recorded + _days(r, 1.3, 35)
    registered = signed + timedelta(days=7) + _days(r, 2, 25)
    started = registered + timedelta(days=15) + _days(r, 2, 55)
    if r.random() < 0.12:  # stalled before construction
        started += timedelta(days=r.randint(150, 420))
    produced = started + timedelta(days=60) + _days(r, 3, 100)
    if r.random() < 0.10:  # slow build
        produced += timedelta(days=r.randint(180, 400))
    terminated = None
    if r.random() < TERMINATION_SHARE:
        terminated = recorded + timedelta(days=r.randint(20, max(21, int((started - recorded).days * 1.3))))
        signed, registered, started, produced = (d if d < terminated else None
                                                 for d in (signed, registered, started, produced))

    project = Project(
        f"{city}-{year:04d}-{number:04d}", name, county, park, chain, investor, currency, amount, land,
        recorded, signed, registered, started, produced, terminated,
    )
    if registered is not None:
        share = min(1.18, max(0.3, r.gauss(0.85, 0.18)))
        t_reg = month_index(registered)
        end = produced or started or registered
        t_end = max(t_reg, month_index(end) + r.randint(0, 6))
        ts = [t for t in range(t_reg, t_end + 1) if t == t_reg or r.random() < 0.55]
        if terminated is not None:
            ts = [t for t in ts if t < month_index(terminated)]
        weights = [r.expovariate(1.0) for _ in ts]
        total = sum(weights) or 1.0
        cum = 0.0
        for t, w in zip(ts, weights):
            cum += w
            project.paid_t.append(t)
            project.paid_cum.append(round(amount * share * cum / total, 2))
    return project


@lru_cache(maxsize=64)
def city_projects(city: str, seed: int, scale: float, until: str) -> tuple[Project, ...]:
    """Every project the city recorded from :data:`EPOCH` to ``until``, in id order."""
    out: list[Project] = []
    prof = profile(city)
    for period in months(EPOCH, until) if until >= EPOCH else []:
        last = month_end(period)
        y, m = last.year, last.month
        lam = (prof.signed_per_year / 12 / (1 - TERMINATION_SHARE) * scale
               * (1 + 0.04 * (y - 2022)) * PROJECT_SEASON[m - 1])
        rng = keyed_random(seed, "projects", city, y, m)
        n = _poisson(rng, lam)
        if m == 1:
            number = 0
        days = sorted(rng.randint(1, last.day) for _ in range(n))
        for d in days:
            number += 1
            out.append(_make_project(city, seed, y, number, date(y, m, d)))
    return tuple(out)


def _poisson(r: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation, plenty for counts of projects
        return max(0, int(round(r.gauss(lam, math.sqrt(lam)))))
    k, p, limit = 0, r.random(), math.exp(-lam)
    while p > limit:
        k += 1
        p *= r.random()
    return k


def ledger_rows(city: str, period: str, seed: int = 42, scale: float = 1.0,
                projects: tuple[Project, ...] | None = None) -> list[dict]:
    """项目台账 of a city at the end of ``period``: every project in the ledger, in id order."""
    projects = projects if projects is not None else city_projects(city, seed, scale, period)
    return [row for p in projects if (row := p.row(period)) is not None]
