"""The sample province's entities: city profiles, industrial parks and the pool of investors.

Every figure is a function of (seed, entity, month): parks fill up over time and their
year-to-date figures restart each January; one investor recurs across projects and cities.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from core import reference
from core.periods import month_index, parse_period
from samples.rng import keyed_random


# --- cities ------------------------------------------------------------------------------
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
TRADE_SHARE_TOTAL = sum(p.trade_share for p in CITY_PROFILES.values())


def profile(city: str) -> CityProfile:
    """The city's profile (a plain default for a city code not in :data:`CITY_PROFILES`)."""
    return CITY_PROFILES.get(city) or CityProfile(reference.cities().get(city, city)[:2], 0.02, 150, ())


# --- parks -----------------------------------------------------------------------
LEVEL_SIZE = {  # typical planned area in 亩 by park level
    "国家级经开区": 30000, "国家级高新区": 25000, "省级经开区": 12000,
    "省级高新区": 10000, "综合保税区": 3000,
}
EPOCH = "2020-01"  # the month the sample history starts: parks grow from it, projects are recorded from it


def park_row(park: dict, period: str, seed: int) -> dict:
    """One park's 园区情况 figures for a month."""
    month = parse_period(period).month
    t = month_index(period) - month_index(EPOCH)  # months since the epoch
    base = keyed_random(seed, park["park_code"])
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
    ytd_share = month / 12 * keyed_random(seed, park["park_code"], period).uniform(0.9, 1.1)
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


# --- investors ---------------------------------------------------------------------------
BRAND_CHARS = ("华盛鑫瑞达泰恒宏远兴隆丰源德信新科创联通博裕嘉和安康永昌耀金天海楚星辰宇"
               "中正合力威凯诚欣锦誉志润祥益晟富利辉腾飞晨")
INVESTOR_INDUSTRY = ("投资", "实业", "科技", "控股", "产业发展", "新材料", "智能制造", "电子", "新能源",
                     "医药", "供应链")
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


def brand_name(r: random.Random) -> str:
    """A two-character 字号 such as 华盛."""
    return r.choice(BRAND_CHARS) + r.choice(BRAND_CHARS)


def _short_province(name: str) -> str:
    for suffix in ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@lru_cache
def investor_pool(seed: int) -> dict[str, list[Investor]]:
    """The province-wide pool of investors (客商), so one investor recurs across projects and cities."""
    r = keyed_random(seed, "investors")
    provinces = reference.provinces()
    used: set[str] = set()

    def unique(make) -> tuple[str, str]:
        while True:
            brand = brand_name(r)
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
