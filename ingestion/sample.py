"""Deterministic, realistic sample submissions for all 14 cities.

Every figure is a function of (seed, entity, month), so the same arguments
always write the same bytes and months stay consistent with each other:
projects move along 在谈 → 签约 → 注册 → 开工 → 投产 with paid-in funds that never
fall, parks fill up over time, year-to-date flows restart each January.

Per city and month ``generate`` writes

* ``<city>/<city>_<YYYYMM>.xlsx``: sheets 项目台账 and 园区情况, plus 服务贸易 in
  March, June, September and December;
* ``<city>/trade_<city>_<YYYYMM>.csv``: the month's customs-style trade detail
  (UTF-8 with BOM, GBK for the cities in :data:`GBK_CITIES`).

The cities in :data:`COMBINED_JAN_FEB` send no January files: their February
files cover 1–2月 (the February CSV holds January's and February's rows).

With ``with_errors=True`` a known set of realistic mistakes is planted in a few
files, one per case, and listed in ``planted_errors.json``; one clean file also
gets a corrected re-submission under ``resubmissions/``.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import random
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

from ingestion import reference
from ingestion.codes import USCC_CHARS, uscc_check_char
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE, Sheet

LEVEL_SIZE = {  # typical planned area in 亩 by park level
    "国家级经开区": 30000, "国家级高新区": 25000, "省级经开区": 12000,
    "省级高新区": 10000, "综合保税区": 3000,
}
EPOCH = date(2020, 1, 1)
RATES_FILE = reference.SEEDS_DIR / "usd_cny_rates.csv"

# Cities that report January and February together (no 01 files, 02 covers 1–2月).
COMBINED_JAN_FEB = ("430800", "431100", "433100")
# Cities whose trade CSV comes out of an old Windows export: GBK, no BOM.
GBK_CITIES = ("430500", "431200")
CSV_EOL = "\r\n"


@dataclass(frozen=True)
class CityProfile:
    short: str  # name used in company names
    trade_share: float  # share of the province's goods trade
    signed_per_year: int  # newly signed projects a year at scale 1
    chains: tuple[str, ...]  # the city's leading industry chains


CITY_PROFILES = {
    "430100": CityProfile("长沙", 0.480, 400, ("工程机械", "电子信息", "汽车及零部件", "生物医药")),
    "430200": CityProfile("株洲", 0.055, 220, ("轨道交通装备", "航空航天", "新材料")),
    "430300": CityProfile("湘潭", 0.055, 200, ("装备制造", "新材料", "新能源")),
    "430400": CityProfile("衡阳", 0.065, 240, ("有色金属", "电子信息", "装备制造")),
    "430500": CityProfile("邵阳", 0.030, 170, ("纺织服装", "食品加工", "装备制造")),
    "430600": CityProfile("岳阳", 0.085, 230, ("石化化工", "现代物流", "食品加工")),
    "430700": CityProfile("常德", 0.030, 220, ("装备制造", "食品加工", "现代农业")),
    "430800": CityProfile("张家界", 0.005, 100, ("文化旅游", "现代农业")),
    "430900": CityProfile("益阳", 0.025, 170, ("新能源", "食品加工", "电子信息")),
    "431000": CityProfile("郴州", 0.065, 230, ("有色金属", "电子信息", "新材料")),
    "431100": CityProfile("永州", 0.035, 190, ("电子信息", "现代农业", "汽车及零部件")),
    "431200": CityProfile("怀化", 0.020, 150, ("现代物流", "生物医药", "现代农业")),
    "431300": CityProfile("娄底", 0.030, 160, ("新材料", "装备制造", "节能环保")),
    "433100": CityProfile("湘西", 0.008, 110, ("文化旅游", "现代农业", "有色金属")),
}
_TRADE_SHARE_TOTAL = sum(p.trade_share for p in CITY_PROFILES.values())


def _profile(city: str) -> CityProfile:
    return CITY_PROFILES.get(city) or CityProfile(reference.cities().get(city, city)[:2], 0.02, 150, ())


# --- calendar ------------------------------------------------------------------
def months(start: str, end: str) -> list[str]:
    """Inclusive list of 'YYYY-MM' between two 'YYYY-MM' strings."""
    y, m = map(int, start.split("-"))
    ey, em = map(int, end.split("-"))
    if (y, m) > (ey, em):
        raise ValueError(f"--from {start} is after --to {end}")
    out = []
    while (y, m) <= (ey, em):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _ym(period: str) -> tuple[int, int]:
    y, m = map(int, period.split("-"))
    return y, m


def _t(period: str) -> int:
    """Absolute month index (year × 12 + month − 1)."""
    y, m = _ym(period)
    return y * 12 + m - 1


def _period_of(t: int) -> str:
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


def month_end(period: str) -> date:
    y, m = _ym(period)
    return date(y, m, _days_in_month(y, m))


def _days_in_month(y: int, m: int) -> int:
    return ((date(y + (m == 12), m % 12 + 1, 1)) - date(y, m, 1)).days


def submits(city: str, period: str) -> bool:
    """Whether the city sends files for this month (1–2月 cities send none in January)."""
    return not (city in COMBINED_JAN_FEB and _ym(period)[1] == 1)


def covered_months(city: str, period: str) -> list[str]:
    """The months a submission covers: February of a 1–2月 city covers January too."""
    y, m = _ym(period)
    if city in COMBINED_JAN_FEB and m == 2:
        return [f"{y:04d}-01", period]
    return [period]


def previous_submission(city: str, period: str) -> str:
    """The city's submission month before ``period``."""
    t = _t(period) - 1
    while not submits(city, _period_of(t)):
        t -= 1
    return _period_of(t)


def _rng(seed: int, *key: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(map(str, (seed, *key))).encode()))


def _np_rng(seed: int, *key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, (seed, *key))).encode()))


@lru_cache
def usd_cny_rates() -> dict[str, float]:
    """'YYYY-MM' -> yuan per US dollar, from the seed ``usd_cny_rates.csv``."""
    with open(RATES_FILE, newline="", encoding="utf-8") as fh:
        return {r["period"]: float(r["usd_cny"]) for r in csv.DictReader(fh)}


def usd_cny(period: str) -> float:
    rates = usd_cny_rates()
    if period not in rates:
        raise KeyError(f"no USD/CNY rate for {period} in {RATES_FILE.name}")
    return rates[period]


# --- parks -----------------------------------------------------------------------
def park_row(park: dict, period: str, seed: int) -> dict:
    """One park's 园区情况 figures for a month."""
    year, month = map(int, period.split("-"))
    t = (year - EPOCH.year) * 12 + month - 1  # months since the epoch
    base = _rng(seed, park["park_code"])
    size = LEVEL_SIZE.get(park["level"], 8000) * base.uniform(0.6, 1.5)
    if park["city_code"] == "430100":
        size *= 1.8  # Changsha's parks are the province's largest
    growth = 1 + 0.006 * t
    planned = round(size, 0)
    developed = round(planned * min(0.95, base.uniform(0.35, 0.55) + 0.004 * t), 1)
    built = round(developed * base.uniform(0.010, 0.018) * growth, 2)  # 万平方米
    occupancy = min(0.97, base.uniform(0.62, 0.80) + 0.002 * t)
    used = round(built * occupancy, 2)
    enterprises = int(developed / base.uniform(25, 45) * growth)
    above = int(enterprises * base.uniform(0.25, 0.40))
    tax_per_mu_year = base.uniform(8, 20) * growth  # 万元/亩/年
    ytd_share = month / 12 * _rng(seed, park["park_code"], period).uniform(0.9, 1.1)
    tax = round(developed * tax_per_mu_year * ytd_share, 1)
    revenue = round(tax * base.uniform(12, 20), 1)
    employees = int(enterprises * base.uniform(40, 90))
    return {
        "park_code": park["park_code"], "planned_area_mu": planned, "developed_area_mu": developed,
        "factory_built_10k_m2": built, "factory_used_10k_m2": used, "enterprises": enterprises,
        "above_scale_enterprises": above, "tax_ytd_10k_cny": tax, "revenue_ytd_10k_cny": revenue,
        "employees": employees,
    }


def park_rows(city: str, period: str, seed: int) -> list[dict]:
    return [park_row(p, period, seed) for p in reference.parks_by_city()[city]]


# --- services trade (quarterly, YTD) ------------------------------------------------
# category -> (share of the province's services trade, export share)
SERVICE_MIX = {
    "加工服务": (0.08, 0.90), "维护和维修服务": (0.03, 0.60), "运输": (0.25, 0.40), "旅行": (0.20, 0.30),
    "建筑": (0.05, 0.80), "保险和养老金服务": (0.010, 0.30), "金融服务": (0.015, 0.40),
    "知识产权使用费": (0.02, 0.15), "电信、计算机和信息服务": (0.18, 0.65), "其他商业服务": (0.15, 0.55),
    "个人、文化和娱乐服务": (0.01, 0.50), "别处未提及的政府服务": (0.005, 0.50),
}
SERVICES_2024_10K_USD = 900_000  # province services trade in 2024: 90亿美元


def _services_share(city: str) -> float:
    if city == "430100":
        return 0.68
    return 0.32 * _profile(city).trade_share / (_TRADE_SHARE_TOTAL - CITY_PROFILES["430100"].trade_share)


def services_rows(city: str, period: str, seed: int) -> list[dict]:
    """服务贸易: YTD exports and imports by category in 万美元 (quarter-end months)."""
    y, m = _ym(period)
    annual = SERVICES_2024_10K_USD * 1.08 ** (y - 2024) * _services_share(city)
    rows = []
    for cat in reference.service_categories():
        share, export_share = SERVICE_MIX.get(cat, (0.01, 0.5))
        year_rng = _rng(seed, "services", city, y, cat)
        level = annual * share * year_rng.uniform(0.7, 1.3)
        # Small cities have no trade at all in some of the thin categories.
        if share <= 0.02 and _services_share(city) < 0.02 and year_rng.random() < 0.5:
            level = 0.0
        ytd = m / 12 * _rng(seed, "services", city, period, cat).uniform(0.95, 1.05)
        exp_share = min(0.95, max(0.05, export_share + year_rng.uniform(-0.08, 0.08)))
        rows.append({
            "category": cat,
            "exports_10k_usd": round(level * ytd * exp_share, 2),
            "imports_10k_usd": round(level * ytd * (1 - exp_share), 2),
        })
    return rows


# --- investors and projects --------------------------------------------------------
BRAND_CHARS = "华盛鑫瑞达泰恒宏远兴隆丰源德信新科创联通博裕嘉和安康永昌耀金天海楚星辰宇中正合力威凯诚欣锦誉志润祥益晟富利辉腾飞晨"
COMPANY_INDUSTRY = ("机械", "电子", "科技", "新材料", "化工", "纺织", "服饰", "食品", "进出口", "贸易", "汽车零部件",
                    "电气", "精密制造", "生物科技", "医药", "矿业", "有色金属", "陶瓷", "农业开发", "实业", "智能装备",
                    "光电", "新能源", "包装", "家居", "鞋业", "烟花", "茶业")
INVESTOR_INDUSTRY = ("投资", "实业", "科技", "控股", "产业发展", "新材料", "智能制造", "电子", "新能源", "医药", "供应链")
PROVINCE_CITIES = {  # where the domestic investors are registered
    "110000": ("北京",), "120000": ("天津",), "310000": ("上海",), "500000": ("重庆",),
    "440000": ("深圳", "广州", "东莞", "佛山", "珠海"), "330000": ("杭州", "宁波", "温州", "绍兴"),
    "320000": ("苏州", "南京", "无锡", "常州"), "350000": ("厦门", "福州", "泉州"),
    "370000": ("青岛", "济南", "烟台"), "420000": ("武汉", "宜昌"), "510000": ("成都", "绵阳"),
    "360000": ("南昌", "赣州"), "340000": ("合肥", "芜湖"), "410000": ("郑州", "洛阳"),
}
DOMESTIC_ORIGINS = {  # province -> weight (Hunan itself and HK/MO/TW are not 省外境内)
    "440000": 28, "330000": 10, "320000": 8, "310000": 7, "110000": 7, "350000": 5, "370000": 4,
    "420000": 4, "510000": 3, "500000": 3, "360000": 3, "340000": 2, "410000": 2, "120000": 2,
    "450000": 1.5, "610000": 1, "130000": 1, "210000": 1, "530000": 0.8, "520000": 0.8, "460000": 0.5,
    "140000": 0.5, "150000": 0.4, "220000": 0.3, "230000": 0.3, "620000": 0.3, "650000": 0.3,
    "640000": 0.2, "630000": 0.1, "540000": 0.1,
}
FOREIGN_ORIGINS = {  # ISO alpha-2 -> (weight, name prefix, company suffix)
    "HK": (35, "香港", "有限公司"), "SG": (8, "新加坡", "私人有限公司"), "US": (10, "美国", "公司"),
    "JP": (8, "日本", "株式会社"), "KR": (8, "韩国", "株式会社"), "DE": (8, "德国", "有限公司"),
    "TW": (6, "台湾", "股份有限公司"), "VG": (5, "英属维尔京群岛", "有限公司"), "GB": (3, "英国", "有限公司"),
    "FR": (3, "法国", "公司"), "CH": (2, "瑞士", "股份公司"), "NL": (2, "荷兰", "有限公司"),
    "IT": (2, "意大利", "公司"), "AU": (2, "澳大利亚", "有限公司"), "MY": (2, "马来西亚", "有限公司"),
    "TH": (1, "泰国", "有限公司"),
}
WORLD500_FOREIGN = ("US", "JP", "DE", "KR", "FR", "GB", "CH", "NL", "SG", "TW", "HK")
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


@dataclass(frozen=True)
class Investor:
    name: str
    brand: str  # 字号, used in project names
    origin: str  # province code or ISO alpha-2
    region: str  # 来源区域
    fortune500: str
    foreign: bool


def _weighted(r: random.Random, weights: dict) -> str:
    keys = list(weights)
    vals = [w[0] if isinstance(w, tuple) else w for w in weights.values()]
    return r.choices(keys, weights=vals, k=1)[0]


def _brand(r: random.Random) -> str:
    return r.choice(BRAND_CHARS) + r.choice(BRAND_CHARS)


def _short_province(name: str) -> str:
    for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@lru_cache
def investor_pool(seed: int) -> dict[str, list[Investor]]:
    """The province-wide pool of investors (客商), so one investor recurs across projects and cities."""
    r = _rng(seed, "investors")
    provinces = reference.provinces()
    used: set[str] = set()

    def unique(make) -> tuple[str, str]:
        while True:
            brand = _brand(r)
            name = make(brand)
            if name not in used:
                used.add(name)
                return name, brand

    def domestic(rank: str) -> Investor:
        origin = _weighted(r, DOMESTIC_ORIGINS)
        place = r.choice(PROVINCE_CITIES.get(origin, (_short_province(provinces[origin]["name"]),)))
        if rank == "无":
            suffix = r.choice(("有限公司", "有限公司", "股份有限公司", "集团有限公司"))
            name, brand = unique(lambda b: f"{place}{b}{r.choice(INVESTOR_INDUSTRY)}{suffix}")
        else:
            name, brand = unique(lambda b: f"{b}{r.choice(('控股集团', '集团', '实业集团'))}股份有限公司")
        return Investor(name, brand, origin, provinces[origin]["source_region"], rank, False)

    def foreign(rank: str, origins=None) -> Investor:
        pool = {k: v for k, v in FOREIGN_ORIGINS.items() if origins is None or k in origins}
        origin = _weighted(r, pool)
        prefix, suffix = FOREIGN_ORIGINS[origin][1:]
        middle = "集团" if rank != "无" else r.choice(INVESTOR_INDUSTRY)
        name, brand = unique(lambda b: f"{prefix}{b}{middle}{suffix}")
        return Investor(name, brand, origin, "境外", rank, True)

    return {
        "domestic": [domestic("无") for _ in range(2500)],
        "foreign": [foreign("无") for _ in range(300)],
        "世界500强": [foreign("世界500强", WORLD500_FOREIGN) if i % 5 < 3 else domestic("世界500强")
                   for i in range(50)],
        "中国500强": [domestic("中国500强") for _ in range(50)],
        "民营500强": [domestic("民营500强") for _ in range(50)],
    }


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
        i = bisect.bisect_right(self.paid_t, _t(period))
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


PROJECT_SEASON = (0.6, 0.6, 1.2, 1.0, 1.2, 1.1, 1.0, 0.9, 1.0, 1.0, 1.1, 1.3)
FOREIGN_SHARE = 0.105  # of projects without a 500强 investor
FORTUNE500_SHARE = 0.05
TERMINATION_SHARE = 0.035
USD_PER_CNY_FOR_AMOUNTS = 7.0  # how a foreign investor's 万元-sized plan is stated in 万美元


def _days(r: random.Random, shape: float, scale: float) -> timedelta:
    return timedelta(days=int(r.gammavariate(shape, scale)))


def _make_project(city: str, seed: int, year: int, number: int, recorded: date) -> Project:
    r = _rng(seed, "project", city, year, number)
    prof = _profile(city)
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
        t_reg = registered.year * 12 + registered.month - 1
        end = produced or started or registered
        t_end = max(t_reg, end.year * 12 + end.month - 1 + r.randint(0, 6))
        ts = [t for t in range(t_reg, t_end + 1) if t == t_reg or r.random() < 0.55]
        if terminated is not None:
            ts = [t for t in ts if t < terminated.year * 12 + terminated.month - 1]
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
    """Every project the city recorded from 2020-01 to ``until``, in id order."""
    out: list[Project] = []
    prof = _profile(city)
    for t in range(_t("2020-01"), _t(until) + 1):
        y, m = t // 12, t % 12 + 1
        lam = (prof.signed_per_year / 12 / (1 - TERMINATION_SHARE) * scale
               * (1 + 0.04 * (y - 2022)) * PROJECT_SEASON[m - 1])
        rng = _rng(seed, "projects", city, y, m)
        n = _poisson(rng, lam)
        if m == 1:
            number = 0
        days = sorted(rng.randint(1, _days_in_month(y, m)) for _ in range(n))
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


# --- trade detail ----------------------------------------------------------------------
TRADE_ROWS_CHANGSHA = 100_000  # rows per month for Changsha at scale 1
TRADE_2024_CNY = 5600e8  # province goods trade in 2024, 元
TRADE_GROWTH = 0.035
TRADE_SEASON = (0.95, 0.78, 1.00, 1.00, 1.02, 1.03, 1.02, 1.03, 1.03, 1.02, 1.04, 1.08)
TRADE_MODE_P = (0.65, 0.20, 0.15)
EXPORT_P = 0.60
PARTNERS = {
    "US": 12, "HK": 9, "JP": 5, "KR": 6, "DE": 5, "VN": 6, "SG": 3, "AU": 4, "BR": 4, "IN": 4, "RU": 5,
    "MY": 3, "TH": 3, "ID": 3, "NL": 2, "GB": 2, "FR": 2, "IT": 1.5, "MX": 2, "AE": 2, "SA": 1.5,
    "TW": 3, "CA": 1.5, "PH": 1.5, "TR": 1, "PL": 1, "ES": 1, "CL": 1, "ZA": 1, "NG": 1, "PE": 1,
    "KZ": 1, "PK": 1, "BD": 1, "EG": 0.8, "AR": 0.8,
}
PARTNER_CODES = tuple(PARTNERS)
PARTNER_P = np.array(list(PARTNERS.values())) / sum(PARTNERS.values())
HS_HEADINGS = (  # 4-digit headings of the province's trade: machinery, electronics, metals, farm goods ...
    "8429", "8430", "8431", "8413", "8471", "8473", "8481", "8483", "8479", "8414", "8517", "8542",
    "8541", "8507", "8504", "8544", "8528", "8536", "8537", "8703", "8708", "8704", "8711", "8601",
    "8603", "8607", "8802", "8803", "7208", "7210", "7228", "7318", "7326", "7403", "7408", "7502",
    "7601", "7606", "7801", "7901", "8001", "8101", "8110", "2601", "2603", "2608", "2701", "2709",
    "2710", "2825", "2841", "2905", "2933", "3004", "3824", "3901", "3926", "4011", "4412", "4819",
    "5208", "5407", "6109", "6110", "6203", "6204", "6402", "6403", "6907", "6911", "7113", "9013",
    "9018", "9031", "9401", "9403", "9405", "9503", "9506", "0306", "0805", "0902", "1006", "1201",
    "1511", "2009", "2304", "2401", "3604",
)


@lru_cache
def hs_codes() -> tuple[str, ...]:
    """A fixed, sorted list of plausible 8-digit HS codes (neighbours share a chapter)."""
    r = random.Random(2260)
    codes = set()
    for heading in HS_HEADINGS:
        for _ in range(4):
            codes.add(heading + r.choice(("10", "11", "19", "20", "30", "40", "90", "99"))
                      + r.choice(("00", "10", "90", "20", "99")))
    return tuple(sorted(codes))


@dataclass(frozen=True)
class EnterprisePool:
    codes: tuple[str, ...]  # 统一社会信用代码, sorted
    names: tuple[str, ...]
    weight: np.ndarray  # propensity to trade (rows)
    size: np.ndarray  # amount multiplier per row
    entry_t: np.ndarray  # month index from which the firm trades
    hs: np.ndarray  # (n, 64) indices into hs_codes()
    n_hs: np.ndarray  # how many of those 64 the firm trades


def _org_code(r: random.Random) -> str:
    body = "".join(r.choice("0123456789") if r.random() < 0.8 else r.choice(USCC_CHARS[10:]) for _ in range(8))
    return body + r.choice("0123456789X")


@lru_cache(maxsize=32)
def enterprise_pool(city: str, seed: int) -> EnterprisePool:
    """The city's trading enterprises: valid USCC codes, Chinese names, size and products."""
    r = _rng(seed, "enterprises", city)
    prof = _profile(city)
    n = 5000 if city == "430100" else max(200, int(5000 * prof.trade_share / CITY_PROFILES["430100"].trade_share * 1.3))
    areas = sorted(reference.counties_by_city().get(city, set())) or [city]
    firms: dict[str, str] = {}
    names: set[str] = set()
    while len(firms) < n:
        prefix = "91" + r.choice(areas) + _org_code(r)
        code = prefix + uscc_check_char(prefix)
        place = prof.short if r.random() < 0.7 else "湖南"
        suffix = r.choice(("有限公司", "有限公司", "有限责任公司", "股份有限公司"))
        name = f"{place}{_brand(r)}{r.choice(COMPANY_INDUSTRY)}{suffix}"
        if code in firms or name in names:
            continue
        firms[code] = name
        names.add(name)
    codes = tuple(sorted(firms))
    nr = _np_rng(seed, "enterprise-sizes", city)
    rank = nr.permutation(n) + 1
    weight = rank ** -0.6  # rows: big traders file many lines ...
    size = rank ** -0.4 * nr.lognormal(0, 0.4, n)  # ... and big amounts per line
    entry_t = np.where(nr.random(n) < 0.8, 0, nr.integers(_t("2020-01"), _t("2027-12") + 1, n))
    nhs = len(hs_codes())
    base = nr.integers(0, nhs, n)
    stride = nr.choice([1, 1, 2, 3], n)
    hs = (base[:, None] + np.arange(64)[None, :] * stride[:, None]) % nhs
    n_hs = np.clip(np.round(2 + 62 * (weight / weight.max()) ** 0.35), 2, 64).astype(np.int64)
    return EnterprisePool(codes, tuple(firms[c] for c in codes), weight, size, entry_t, hs, n_hs)


def _trade_share(city: str, year: int, seed: int) -> float:
    prof = _profile(city)
    drift = 0.01 if city == "430100" else _rng(seed, "trade-drift", city).uniform(-0.03, 0.03)
    return prof.trade_share / _TRADE_SHARE_TOTAL * (1 + drift * (year - 2024))


def trade_target_cny(city: str, period: str, seed: int) -> float:
    """The city's goods trade in the month, 元 (before rounding to rows)."""
    y, m = _ym(period)
    noise = _rng(seed, "trade-total", city, period).uniform(0.94, 1.06)
    return (TRADE_2024_CNY * (1 + TRADE_GROWTH) ** (y - 2024) / 12 * TRADE_SEASON[m - 1]
            * _trade_share(city, y, seed) * noise)


@dataclass
class TradeRows:
    """Trade detail as codes into small dictionaries (fast to build, fast to write)."""

    enterprise: np.ndarray  # index into pool codes / names
    hs: np.ndarray
    mode: np.ndarray
    partner: np.ndarray
    direction: np.ndarray
    usd: np.ndarray  # int64 美元
    fen: np.ndarray  # int64 人民币分 (amount_cny × 100)

    def __len__(self) -> int:
        return len(self.usd)

    @staticmethod
    def concat(parts: list[TradeRows]) -> TradeRows:
        return TradeRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                           ("enterprise", "hs", "mode", "partner", "direction", "usd", "fen")))


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def trade_month(city: str, period: str, seed: int = 42, scale: float = 1.0) -> TradeRows:
    """One city's 当月 trade detail: one row per enterprise × HS × partner × mode × direction."""
    y, m = _ym(period)
    rng = _np_rng(seed, "trade", city, period)
    pool = enterprise_pool(city, seed)
    share = _trade_share(city, y, seed) / (CITY_PROFILES["430100"].trade_share / _TRADE_SHARE_TOTAL)
    n = max(3, int(round(TRADE_ROWS_CHANGSHA * scale * share * TRADE_SEASON[m - 1]
                         * (1 + 0.02 * (y - 2024)) * rng.uniform(0.96, 1.04))))
    w = np.where(pool.entry_t <= _t(period), pool.weight, 0.0)
    p = w / w.sum()
    nh, npar = len(hs_codes()), len(PARTNER_CODES)
    keys, amounts = np.empty(0, np.int64), np.empty(0)
    uniq, yield_ = keys, 1.0
    for _ in range(6):  # draw, merge repeated keys, top up until the month has ~n rows
        missing = n - len(uniq)
        if missing <= max(2, n // 100):
            break
        k = int(missing / max(yield_, 0.2)) + 1
        ent = rng.choice(len(w), size=k, p=p)
        hs = pool.hs[ent, (rng.random(k) * pool.n_hs[ent]).astype(np.int64)]
        partner = rng.choice(len(PARTNER_CODES), size=k, p=PARTNER_P)
        mode = rng.choice(3, size=k, p=TRADE_MODE_P)
        direction = (rng.random(k) >= EXPORT_P).astype(np.int64)  # 0 出口, 1 进口
        keys = np.concatenate([keys, (((ent * nh + hs) * npar + partner) * 3 + mode) * 2 + direction])
        amounts = np.concatenate([amounts, rng.lognormal(0.0, 1.3, k) * pool.size[ent]])
        before = len(uniq)
        uniq = _sorted_unique(keys)
        yield_ = (len(uniq) - before) / k
    uniq, inverse = np.unique(keys, return_inverse=True)  # sorted: by enterprise code, then HS ...
    amount = np.bincount(inverse, weights=amounts)
    direction, rest = uniq % 2, uniq // 2
    mode, rest = rest % 3, rest // 3
    partner, rest = rest % npar, rest // npar
    hs, ent = rest % nh, rest // nh
    rate = usd_cny(period)
    target_usd = trade_target_cny(city, period, seed) / rate
    usd = np.maximum(1, np.rint(amount * (target_usd / amount.sum()))).astype(np.int64)
    fen = np.rint(usd * rate * 100).astype(np.int64)
    return TradeRows(ent, hs, mode, partner, direction, usd, fen)


def trade_file_rows(city: str, period: str, seed: int = 42, scale: float = 1.0) -> TradeRows:
    """Rows of the trade CSV the city sends for ``period`` (1–2月 cities: January's, then February's)."""
    parts = [trade_month(city, p, seed, scale) for p in covered_months(city, period)]
    return parts[0] if len(parts) == 1 else TradeRows.concat(parts)


@dataclass
class TradeTable:
    """Text columns of a trade file ready to write, with room for planted overrides."""

    rows: TradeRows
    pool: EnterprisePool
    overrides: dict[tuple[str, int], str] = field(default_factory=dict)  # (column name, index) -> text

    def text(self, column: str, i: int) -> str:
        if (column, i) in self.overrides:
            return self.overrides[(column, i)]
        r = self.rows
        return {
            "enterprise_code": lambda: self.pool.codes[r.enterprise[i]],
            "enterprise_name": lambda: self.pool.names[r.enterprise[i]],
            "hs_code": lambda: hs_codes()[r.hs[i]],
            "trade_mode": lambda: ("一般贸易", "加工贸易", "其他")[r.mode[i]],
            "partner_country": lambda: PARTNER_CODES[r.partner[i]],
            "direction": lambda: ("出口", "进口")[r.direction[i]],
        }[column]()

    def arrow(self) -> pa.Table:
        r = self.rows
        sources = {
            "enterprise_code": (self.pool.codes, r.enterprise), "enterprise_name": (self.pool.names, r.enterprise),
            "hs_code": (hs_codes(), r.hs), "trade_mode": (("一般贸易", "加工贸易", "其他"), r.mode),
            "partner_country": (PARTNER_CODES, r.partner), "direction": (("出口", "进口"), r.direction),
        }
        arrays = {}
        for name, (values, idx) in sources.items():
            values, idx = list(values), idx.copy()
            for (col, i), text in sorted(self.overrides.items()):
                if col == name:
                    values.append(text)
                    idx[i] = len(values) - 1
            arrays[name] = pc.take(pa.array(values, pa.string()), pa.array(idx))
        arrays["amount_usd"] = pa.array(r.usd)
        whole = pc.cast(pa.array(r.fen // 100), pa.string())
        cents = pc.utf8_lpad(pc.cast(pa.array(r.fen % 100), pa.string()), width=2, padding="0")
        arrays["amount_cny"] = pc.binary_join_element_wise(whole, cents, ".")
        return pa.table([arrays[c.name] for c in TRADE.columns], names=[c.name for c in TRADE.columns])


def write_trade_csv(path: Path, table: TradeTable, city: str) -> Path:
    buf = io.BytesIO()
    pacsv.write_csv(table.arrow(), buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                           eol=CSV_EOL))
    header = ",".join(c.header for c in TRADE.columns) + CSV_EOL
    body = buf.getvalue()
    if city in GBK_CITIES:
        data = header.encode("gbk") + body.decode("utf-8").encode("gbk")
    else:
        data = b"\xef\xbb\xbf" + header.encode("utf-8") + body
    path.write_bytes(data)
    return path


# --- workbooks -------------------------------------------------------------------------
def _fixed_datetime(period: str):
    year, month = map(int, period.split("-"))
    return datetime(year, month, 1)


def _write_sheet(wb: xlsxwriter.Workbook, sheet: Sheet, rows: list[dict],
                 headers: dict[str, str] | None = None) -> None:
    ws = wb.add_worksheet(sheet.sheet_name)
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for j, col in enumerate(sheet.columns):
        text = (headers or {}).get(col.name, col.header)
        ws.write_string(0, j, text, head)
        ws.set_column(j, j, max(12, len(text) * 2))
    for i, row in enumerate(rows, start=1):
        for j, col in enumerate(sheet.columns):
            value = row.get(col.name)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                ws.write_string(i, j, value)
            elif isinstance(value, date):
                ws.write_datetime(i, j, datetime(value.year, value.month, value.day), date_fmt)
            else:
                ws.write_number(i, j, value)


@dataclass
class WorkbookContent:
    """The sheets of one city-month workbook as rows of Python values."""

    city: str
    period: str
    sheets: dict[str, list[dict]]  # contract sheet name -> rows (insertion order = sheet order)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet -> column -> header text


SHEET_BY_NAME = {s.name: s for s in (PROJECTS, PARKS, SERVICES)}


def workbook_content(city: str, period: str, seed: int = 42, scale: float = 1.0,
                     projects: tuple[Project, ...] | None = None) -> WorkbookContent:
    sheets = {
        PROJECTS.name: ledger_rows(city, period, seed, scale, projects),
        PARKS.name: park_rows(city, period, seed),
    }
    if SERVICES.due_in(_ym(period)[1]):
        sheets[SERVICES.name] = services_rows(city, period, seed)
    return WorkbookContent(city, period, sheets)


def write_content(path: Path, content: WorkbookContent, title: str | None = None) -> Path:
    # Fixed document dates: the same arguments give the same bytes (and sha256).
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": _fixed_datetime(content.period), "author": "openecon sample",
                       "title": title or path.stem})
    for name, rows in content.sheets.items():
        _write_sheet(wb, SHEET_BY_NAME[name], rows, content.headers.get(name))
    wb.close()
    return path


def write_workbook(path: Path, city_code: str, period: str, seed: int, scale: float = 1.0) -> Path:
    """Write the clean workbook of one city and month."""
    return write_content(path, workbook_content(city_code, period, seed, scale))


# --- planted errors ---------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    case: str
    kind: str  # workbook | trade
    sheet: str | None  # contract sheet name (projects / parks) or None
    column: str | None  # contract column name
    rule: str | None
    level: str  # row | warning | file | superseding | accepted
    stage: str = "intake"  # intake: receipts report it; marts: intake accepts it, the quality gate catches it


CASES = (
    Case("paid_in_decrease", "workbook", "projects", "paid_in_cumulative", "paid_in_decrease", "warning"),
    Case("resubmission", "workbook", None, None, None, "superseding"),
    Case("city_mismatch", "workbook", "projects", "project_id", "city_mismatch", "file"),
    Case("missing_sheet", "workbook", "parks", None, "missing_sheet", "file"),
    Case("wrong_unit", "workbook", "parks", "tax_ytd_10k_cny", "wrong_unit", "file"),
    Case("negative_paid_in", "workbook", "projects", "paid_in_cumulative", "below_minimum", "row"),
    Case("zero_contract", "workbook", "projects", "contract_amount", "not_positive", "row"),
    Case("unknown_county", "workbook", "projects", "county_code", "code_list:county_of_city", "row"),
    Case("park_of_other_city", "workbook", "projects", "park_code", "code_list:park_of_city", "row"),
    Case("duplicate_project_id", "workbook", "projects", "project_id", "duplicate_key", "row"),
    Case("start_after_period", "workbook", "projects", "started_date", "date_after_period", "row"),
    Case("start_before_signing", "workbook", "projects", "started_date", "dates_out_of_order", "row"),
    Case("production_without_date", "workbook", "projects", "production_date", "stage_dates", "row"),
    Case("used_exceeds_built", "workbook", "parks", "factory_used_10k_m2", "used_le_built", "row"),
    Case("above_scale_exceeds_settled", "workbook", "parks", "above_scale_enterprises",
         "above_scale_le_settled", "row"),
    Case("text_in_number", "workbook", "parks", "employees", "not_a_number", "row"),
    Case("bad_uscc_check", "trade", None, "enterprise_code", "uscc_check", "row"),
    Case("formula_in_name", "trade", None, "enterprise_name", "formula", "row"),
    Case("hs_six_digits", "trade", None, "hs_code", "pattern", "row"),
    Case("unknown_country", "trade", None, "partner_country", "code_list:iso_country", "row"),
    # Mistakes intake cannot see (each file is valid on its own) that break a mart rule:
    # a city's YTD services figures lower than its previous quarter's.
    Case("services_ytd_decrease", "workbook", "services_trade", "exports_10k_usd", None, "accepted", "marts"),
)
EXCLUSIVE = {"paid_in_decrease", "resubmission", "city_mismatch", "missing_sheet", "wrong_unit",
             "services_ytd_decrease"}
# The expectation of the quality gate (expectations/suites.py) that must catch each mart-stage
# mistake, and the key of the row it reports.
GATE_CATCHES = {
    "paid_in_decrease": {"suite": "marts.fct_project_month", "expectation": "paid_in_cumulative_non_decreasing",
                         "expectation_type": "expect_no_rows_breaking_rule"},
    "services_ytd_decrease": {"suite": "marts.kpi_city_month", "expectation": "ytd_non_decreasing",
                              "expectation_type": "expect_no_rows_breaking_rule"},
}
FORMULA = "=cmd|' /C calc'!A0"
SEPARATOR_CITY = "430400"


def _fmt(value) -> str | None:
    """A cell value as text, the way it was written."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _city_file(city: str, period: str, kind: str) -> str:
    stem = period.replace("-", "")
    return f"{city}/{city}_{stem}.xlsx" if kind == "workbook" else f"{city}/trade_{city}_{stem}.csv"


def separator_slot(periods: list[str], cities: list[str]) -> tuple[str, str] | None:
    """The one clean workbook that types a few 园区 numbers as text with thousands separators."""
    with_parks = [c for c in cities if reference.parks_by_city().get(c)]
    if not with_parks:
        return None
    city = SEPARATOR_CITY if SEPARATOR_CITY in with_parks else with_parks[0]
    for period in reversed(periods):
        if submits(city, period):
            return city, period
    return None


def _apply_separators(content: WorkbookContent) -> list[dict]:
    """Write a few park figures of the first park as text like "12,345.6"; return where."""
    placed = []
    rows = content.sheets[PARKS.name]
    for col in ("revenue_ytd_10k_cny", "tax_ytd_10k_cny", "planned_area_mu"):
        value = rows[0][col]
        if abs(value) >= 1000:
            text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
            rows[0][col] = text
            placed.append({"sheet": PARKS.name, "row_obj": rows[0], "column": col, "value": text})
    return placed


class Planter:
    """Chooses where each planted mistake goes and applies it to the generated content."""

    def __init__(self, periods: list[str], cities: list[str], seed: int, scale: float,
                 projects: dict[str, tuple[Project, ...]]):
        self.periods, self.cities, self.seed, self.scale = periods, cities, seed, scale
        self.projects = projects
        self.rng = _rng(seed, "planted-errors", periods[0], periods[-1], ",".join(cities))
        self.sep = separator_slot(periods, cities)
        self.slots: dict[tuple[str, str, str], list[Case]] = {}  # (kind, city, period) -> cases
        self.targeted: dict[str, set[str]] = {c: set() for c in reference.cities()}  # project ids touched, per city
        self.mismatch_source: dict[tuple[str, str], str] = {}
        self._prev_inside = False
        self._plan()

    # -- planning
    def _ledger(self, city: str, period: str) -> list[dict]:
        return ledger_rows(city, period, self.seed, self.scale, self.projects[city])

    def _ok(self, case: Case, city: str, period: str) -> bool:
        if not submits(city, period):
            return False
        if case.kind == "trade":
            return True
        if case.sheet == PARKS.name and not reference.parks_by_city().get(city):
            return False
        if case.case == "paid_in_decrease":
            prev = previous_submission(city, period)
            if self._prev_inside and prev not in self.periods:
                return False
            if ("workbook", city, prev) in self.slots and any(
                    c.case in EXCLUSIVE for c in self.slots[("workbook", city, prev)]):
                return False
            return any(self.projects[city][i].paid_at(prev) > 0 and self.projects[city][i].in_ledger(prev)
                       for i, _ in self._rows_index(city, period))
        if case.case == "services_ytd_decrease":
            prev = self._previous_quarter(city, period)
            return prev is not None and not any(c.level == "file" or c.case in EXCLUSIVE
                                                for c in self.slots.get(("workbook", city, prev), []))
        if case.case == "resubmission":
            return bool(self._ledger(city, period))
        if case.case == "city_mismatch":
            return self._mismatch_partner(city, period) is not None
        nxt = _period_of(_t(period) + 1)
        if case.level == "file" and ("workbook", city, nxt) in self.slots and any(
                c.case == "paid_in_decrease" for c in self.slots[("workbook", city, nxt)]):
            return False  # the warning needs an accepted previous file
        if case.sheet == PROJECTS.name and case.level == "row":
            return self._pick_row(case, city, period, dry=True) is not None
        return True

    def _previous_quarter(self, city: str, period: str) -> str | None:
        """The city's services file of the quarter before, same year and inside the window."""
        y, m = _ym(period)
        if m not in (6, 9, 12):
            return None
        prev = f"{y}-{m - 3:02d}"
        return prev if prev in self.periods and submits(city, prev) else None

    def _rows_index(self, city: str, period: str) -> list[tuple[int, dict]]:
        return [(i, row) for i, p in enumerate(self.projects[city]) if (row := p.row(period)) is not None]

    def _mismatch_partner(self, city: str, period: str) -> str | None:
        others = sorted((c for c in reference.cities() if c != city and submits(c, period)),
                        key=lambda c: -_profile(c).signed_per_year)
        for other in others:
            if self._ledger(other, period):
                return other
        return None

    def _plan(self) -> None:
        by_size = sorted(self.cities, key=lambda c: (-_profile(c).signed_per_year, c))
        n = len(self.periods)
        for i, case in enumerate(CASES):
            if case.case == "resubmission":
                period_order = list(reversed(self.periods))
                city_order = by_size[len(by_size) // 2:] + by_size[:len(by_size) // 2]
            else:
                start = (n - 1 - i) % n
                period_order = [self.periods[(start - k) % n] for k in range(n)]
                if case.level == "file":
                    city_order = list(reversed(by_size))
                    city_order = city_order[i % len(city_order):] + city_order[:i % len(city_order)]
                else:
                    city_order = by_size[i % len(by_size):] + by_size[:i % len(by_size)]
            slot = None
            if case.case == "paid_in_decrease":  # rather with the previous file inside the output
                self._prev_inside = True
                slot = self._first_slot(case, period_order, city_order)
                self._prev_inside = False
            slot = slot or self._first_slot(case, period_order, city_order)
            if slot is None:
                warnings.warn(f"sample: no file in the window can take planted case {case.case}", stacklevel=3)
            else:
                self.slots.setdefault(slot, []).append(case)
                if case.case == "city_mismatch":
                    self.mismatch_source[slot[1:]] = self._mismatch_partner(slot[1], slot[2])

    def _first_slot(self, case: Case, period_order: list[str], city_order: list[str]):
        # First a file of its own, then one shared with cases of another sheet, then any.
        for sharing in (0, 1, 2):
            for period in period_order:
                for city in city_order:
                    slot = (case.kind, city, period)
                    taken = self.slots.get(slot, [])
                    if case.kind == "workbook" and (city, period) == self.sep:
                        continue
                    if taken and (sharing == 0 or case.case in EXCLUSIVE
                                  or any(c.case in EXCLUSIVE for c in taken) or len(taken) >= 3
                                  or (sharing == 1 and any(c.sheet == case.sheet for c in taken))):
                        continue
                    if case.sheet == PARKS.name and case.level == "row" and len(
                            reference.parks_by_city().get(city, [])) <= sum(c.sheet == PARKS.name for c in taken):
                        continue
                    if self._ok(case, city, period):
                        return slot
        return None

    # -- applying
    def cases_for(self, kind: str, city: str, period: str) -> list[Case]:
        return self.slots.get((kind, city, period), [])

    def resubmission_slot(self) -> tuple[str, str] | None:
        for (kind, city, period), cases in self.slots.items():
            if any(c.case == "resubmission" for c in cases):
                return city, period
        return None

    def _pick_row(self, case: Case, city: str, period: str, dry: bool = False) -> str | None:
        """The project id of the ledger row a ledger case should go into."""
        rows = self._ledger(city, period)
        prev = previous_submission(city, period)
        projects = {p.project_id: p for p in self.projects[city]}
        taken = self.targeted.get(city, set())

        def prev_paid(row) -> float:
            p = projects[row["project_id"]]
            return p.paid_at(prev) if p.in_ledger(prev) else 0.0

        wants = {
            "negative_paid_in": lambda r: prev_paid(r) == 0 and r["paid_in_cumulative"] == 0,
            "zero_contract": lambda r: r["paid_in_cumulative"] == 0,
            "unknown_county": lambda r: True,
            "park_of_other_city": lambda r: True,
            "duplicate_project_id": lambda r: True,
            "start_after_period": lambda r: r["stage"] == "开工",
            "start_before_signing": lambda r: r["stage"] in ("开工", "投产") and r["signed_date"] is not None,
            "production_without_date": lambda r: r["stage"] == "投产",
            "paid_in_decrease": lambda r: prev_paid(r) > 0.05 and projects[r["project_id"]].in_ledger(prev),
        }[case.case]
        fits = [r["project_id"] for r in rows if wants(r) and r["project_id"] not in taken]
        if not fits:
            return None
        return fits[0] if dry else self.rng.choice(fits)

    def apply_workbook(self, content: WorkbookContent, cases: list[Case]) -> list[dict]:
        """Plant the cases in ``content``; return entries with ``row_obj`` still to resolve."""
        entries = []
        city, period = content.city, content.period
        touched_parks: list[dict] = []
        for case in cases:
            if case.case == "resubmission":  # the original stays clean; see resubmit()
                continue
            entry = {"case": case.case, "sheet": case.sheet, "column": case.column, "rule": case.rule,
                     "level": case.level, "stage": case.stage}
            if case.case == "city_mismatch":
                other = self.mismatch_source[(city, period)]
                content.sheets = workbook_content(other, period, self.seed, self.scale, self.projects[other]).sheets
                entry.update(row_obj=None, value=other)
            elif case.case == "missing_sheet":
                del content.sheets[PARKS.name]
                entry.update(row_obj=None, column=None, value=None)
            elif case.case == "wrong_unit":
                header = "本年累计税收（亿元）"
                content.headers.setdefault(PARKS.name, {})["tax_ytd_10k_cny"] = header
                for row in content.sheets[PARKS.name]:  # the clerk converted the figures too
                    row["tax_ytd_10k_cny"] = round(row["tax_ytd_10k_cny"] / 1e4, 4)
                entry.update(row_obj="header", value=header)
            elif case.case == "services_ytd_decrease":
                prev = self._previous_quarter(city, period)
                before = sum(r["exports_10k_usd"] + r["imports_10k_usd"] for r in services_rows(city, prev, self.seed))
                rows = content.sheets[SERVICES.name]
                now = sum(r["exports_10k_usd"] + r["imports_10k_usd"] for r in rows)
                factor = 0.8 * before / now  # the clerk typed the quarter's figures, not the year to date
                for r in rows:
                    for col in ("exports_10k_usd", "imports_10k_usd"):
                        r[col] = round(r[col] * factor, 2)
                entry.update(row_obj=None, value=f"{sum(r['exports_10k_usd'] + r['imports_10k_usd'] for r in rows):.2f}",
                             previous_file=_city_file(city, prev, "workbook"), previous_value=f"{before:.2f}",
                             catch={"kpi_code": "services_trade", "city_code": city, "period": period})
            elif case.sheet == PARKS.name:
                rows = [r for r in content.sheets[PARKS.name] if not any(r is t for t in touched_parks)]
                row = self.rng.choice(rows)
                touched_parks.append(row)
                if case.case == "used_exceeds_built":
                    row["factory_used_10k_m2"] = round(row["factory_built_10k_m2"] * 1.06 + 0.05, 2)
                elif case.case == "above_scale_exceeds_settled":
                    row["above_scale_enterprises"] = row["enterprises"] + self.rng.randint(3, 12)
                elif case.case == "text_in_number":
                    row["employees"] = f"约{max(100, int(round(row['employees'], -2)))}"
                entry.update(row_obj=row, value=_fmt(row[case.column]))
            else:
                applied = self._apply_ledger(content, case)
                if applied is None:
                    warnings.warn(f"sample: no row fits planted case {case.case} in {city} {period}", stacklevel=2)
                    continue
                entry.update(applied)
            entries.append(entry)
        return entries

    def _apply_ledger(self, content: WorkbookContent, case: Case) -> dict | None:
        city, period = content.city, content.period
        rows = content.sheets[PROJECTS.name]
        pid = self._pick_row(case, city, period)
        if pid is None:
            return None
        i = next(k for k, r in enumerate(rows) if r["project_id"] == pid)
        row = rows[i]
        self.targeted[city].add(pid)
        end = month_end(period)
        if case.case == "negative_paid_in":
            row["paid_in_cumulative"] = -float(self.rng.choice((50, 120, 300)))
        elif case.case == "zero_contract":
            row["contract_amount"] = 0
        elif case.case == "unknown_county":
            row["county_code"] = city[:4] + "99"
        elif case.case == "park_of_other_city":
            other = next(p["park_code"] for c, ps in reference.parks_by_city().items() if c != city for p in ps)
            row["park_code"] = other
        elif case.case == "duplicate_project_id":
            copy = dict(row)
            rows.insert(i + 1, copy)
            return {"row_obj": [row, copy], "value": row["project_id"]}
        elif case.case == "start_after_period":
            row["started_date"] = end + timedelta(days=self.rng.randint(5, 25))
        elif case.case == "start_before_signing":
            row["started_date"] = row["signed_date"] - timedelta(days=self.rng.randint(10, 40))
        elif case.case == "production_without_date":
            row["production_date"] = None
        elif case.case == "paid_in_decrease":
            project = next(p for p in self.projects[city] if p.project_id == row["project_id"])
            before = project.paid_at(previous_submission(city, period))
            row["paid_in_cumulative"] = round(before * 0.8, 2)
            return {"row_obj": row, "value": _fmt(row["paid_in_cumulative"]),
                    "previous_file": _city_file(city, previous_submission(city, period), "workbook"),
                    "previous_value": _fmt(before),
                    "catch": {"project_id": row["project_id"], "period": period}}
        return {"row_obj": row, "value": _fmt(row[case.column])}

    def apply_trade(self, table: TradeTable, cases: list[Case]) -> list[dict]:
        entries = []
        n = len(table.rows)
        for k, case in enumerate(cases):
            i = (n * (k + 1)) // (len(cases) + 2)  # distinct rows, away from the edges
            if case.case == "bad_uscc_check":
                code = table.text("enterprise_code", i)
                wrong = USCC_CHARS[(USCC_CHARS.index(code[17]) + 1 + self.rng.randrange(29)) % 31]
                value = code[:17] + wrong
            elif case.case == "formula_in_name":
                value = FORMULA
            elif case.case == "hs_six_digits":
                value = table.text("hs_code", i)[:6]
            else:  # unknown_country
                value = "XX"
            table.overrides[(case.column, i)] = value
            entries.append({"case": case.case, "sheet": None, "row": i + 2, "column": case.column,
                            "value": value, "rule": case.rule, "level": case.level})
        return entries

    def resubmit(self, content: WorkbookContent) -> list[dict]:
        """Correct a few values of a clean workbook (what a city re-sends after a phone call)."""
        changes = []
        city, period = content.city, content.period
        rows = content.sheets[PROJECTS.name]
        projects = {p.project_id: p for p in self.projects[city]}
        nxt = _period_of(_t(period) + 1)
        with_land = [r for r in rows if r["land_area_mu"]]
        for row in self.rng.sample(with_land, min(2, len(with_land))):
            new = round(row["land_area_mu"] * 1.1 + 1, 1)
            changes.append({"sheet": PROJECTS.name, "row_obj": row, "column": "land_area_mu",
                            "old": _fmt(row["land_area_mu"]), "new": _fmt(new)})
            row["land_area_mu"] = new
        # Raise a paid-in figure, but not above next month's (no decrease appears later).
        for row in rows:
            p = projects[row["project_id"]]
            room = p.paid_at(nxt) - row["paid_in_cumulative"]
            if row["paid_in_cumulative"] > 0 and room >= 1:
                new = round(row["paid_in_cumulative"] + min(room, max(1.0, row["paid_in_cumulative"] * 0.05)), 2)
                changes.append({"sheet": PROJECTS.name, "row_obj": row, "column": "paid_in_cumulative",
                                "old": _fmt(row["paid_in_cumulative"]), "new": _fmt(new)})
                row["paid_in_cumulative"] = new
                break
        parks = content.sheets.get(PARKS.name) or []
        if parks:
            row = parks[-1]
            new = row["employees"] + 37
            changes.append({"sheet": PARKS.name, "row_obj": row, "column": "employees",
                            "old": _fmt(row["employees"]), "new": _fmt(new)})
            row["employees"] = new
        return changes


def _resolve(entry: dict, content: WorkbookContent | None) -> list[dict]:
    """Turn ``row_obj`` into row numbers (header = row 1); duplicate rows give one entry per row."""
    obj = entry.pop("row_obj", None)
    sheet = entry.get("sheet")
    out = []
    for target in (obj if isinstance(obj, list) else [obj]):
        e = dict(entry)
        if target is None:
            e["row"] = None
        elif target == "header":
            e["row"] = 1
        else:
            rows = content.sheets[sheet]
            e["row"] = next(i for i, r in enumerate(rows) if r is target) + 2
        out.append(e)
    return out


def _entry(file: str, e: dict) -> dict:
    sheet = e.get("sheet")
    sheet_obj = SHEET_BY_NAME.get(sheet) if sheet else None
    column = e.get("column")
    header = (sheet_obj or TRADE).column(column).header if column else None
    ordered = {"case": e["case"], "file": file, "sheet": sheet_obj.sheet_name if sheet_obj else None,
               "row": e.get("row"), "column": header, "value": e.get("value"), "rule": e.get("rule"),
               "level": e["level"]}
    for extra in ("previous_file", "previous_value", "changes", "content_of"):
        if extra in e:
            ordered[extra] = e[extra]
    if e.get("stage") == "marts" or e["case"] in GATE_CATCHES:
        # passes intake (or only warns) but breaks a mart rule: the gate expectation that must catch it
        ordered["stage"] = "marts"
        ordered["gate"] = {**GATE_CATCHES[e["case"]], "row": e.get("catch")}
    return ordered


# --- the generator --------------------------------------------------------------------
class _ProjectsByCity(dict):
    """city -> its projects up to the last month, simulated on first use."""

    def __init__(self, seed: int, scale: float, until: str):
        super().__init__()
        self.args = (seed, scale, until)

    def __missing__(self, city: str) -> tuple[Project, ...]:
        self[city] = city_projects(city, *self.args)
        return self[city]


def generate(out: Path, start: str, end: str, seed: int = 42, scale: float = 1.0,
             with_errors: bool = False, cities: list[str] | None = None) -> list[Path]:
    """Write every city's workbook and trade CSV for each month into ``out/<city_code>/``.

    Returns the submission files written (workbooks, trade CSVs and, with errors, the
    re-submission), in a stable order.
    """
    out = Path(out)
    periods = months(start, end)
    cities = list(cities or reference.cities())
    unknown = [c for c in cities if c not in reference.cities()]
    if unknown:
        raise ValueError(f"unknown city codes: {', '.join(unknown)}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    projects = _ProjectsByCity(seed, scale, periods[-1])
    planter = Planter(periods, cities, seed, scale, projects) if with_errors else None
    sep = separator_slot(periods, cities)
    written: list[Path] = []
    planted: list[dict] = []

    for period in periods:
        for city in cities:
            if not submits(city, period):
                continue
            folder = out / city
            folder.mkdir(parents=True, exist_ok=True)
            rel = _city_file(city, period, "workbook")
            content = workbook_content(city, period, seed, scale, projects[city])
            entries = []
            if (city, period) == sep:
                entries += [dict(e, case="thousands_separator", rule=None, level="accepted")
                            for e in _apply_separators(content)]
            if planter is not None:
                entries += planter.apply_workbook(content, planter.cases_for("workbook", city, period))
            written.append(write_content(out / rel, content))
            if planter is not None:
                for e in entries:
                    for resolved in _resolve(e, content):
                        planted.append(_entry(rel, resolved))

            rel = _city_file(city, period, "trade")
            table = TradeTable(trade_file_rows(city, period, seed, scale), enterprise_pool(city, seed))
            entries = planter.apply_trade(table, planter.cases_for("trade", city, period)) if planter else []
            written.append(write_trade_csv(out / rel, table, city))
            planted += [_entry(rel, e) for e in entries]

    if planter is not None:
        slot = planter.resubmission_slot()
        if slot is not None:
            city, period = slot
            content = workbook_content(city, period, seed, scale, projects[city])
            changes = planter.resubmit(content)
            rel = "resubmissions/" + _city_file(city, period, "workbook")
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            written.append(write_content(out / rel, content))
            for ch in changes:
                obj = ch.pop("row_obj")
                ch["row"] = next(i for i, r in enumerate(content.sheets[ch["sheet"]]) if r is obj) + 2
                ch["column"] = SHEET_BY_NAME[ch["sheet"]].column(ch["column"]).header
                ch["sheet"] = SHEET_BY_NAME[ch["sheet"]].sheet_name
            planted.append({"case": "resubmission", "file": rel, "sheet": None, "row": None, "column": None,
                            "value": None, "rule": None, "level": "superseding",
                            "supersedes": _city_file(city, period, "workbook"),
                            "changes": [{k: ch[k] for k in ("sheet", "row", "column", "old", "new")}
                                        for ch in changes]})
        (out / "planted_errors.json").write_text(
            json.dumps(planted, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return written
