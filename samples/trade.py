"""Foreign trade: the monthly customs-style goods trade detail and the quarterly services trade.

Goods trade is one row per enterprise × HS code × partner × trade mode × direction, sized so
that each city's month adds up to its share of the province's trade; amounts are stated in
US dollars and, at the month's rate (seed ``usd_cny_rates.csv``), in yuan.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core import reference
from core.periods import month_index, parse_period
from ingestion.codes import USCC_CHARS, uscc_check_char
from samples.calendar import covered_months
from samples.entities import CITY_PROFILES, EPOCH, TRADE_SHARE_TOTAL, brand_name, profile
from samples.rng import keyed_np_random, keyed_random

# --- exchange rates ----------------------------------------------------------------------
RATES_FILE = reference.SEEDS_DIR / "usd_cny_rates.csv"


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


# --- goods trade detail (monthly, 当月) ---------------------------------------------------
COMPANY_INDUSTRY = ("机械", "电子", "科技", "新材料", "化工", "纺织", "服饰", "食品", "进出口", "贸易", "汽车零部件",
                    "电气", "精密制造", "生物科技", "医药", "矿业", "有色金属", "陶瓷", "农业开发", "实业", "智能装备",
                    "光电", "新能源", "包装", "家居", "鞋业", "烟花", "茶业")
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
    r = keyed_random(seed, "enterprises", city)
    prof = profile(city)
    n = 5000 if city == "430100" else max(200, int(5000 * prof.trade_share / CITY_PROFILES["430100"].trade_share * 1.3))
    areas = sorted(reference.counties_by_city().get(city, set())) or [city]
    firms: dict[str, str] = {}
    names: set[str] = set()
    while len(firms) < n:
        prefix = "91" + r.choice(areas) + _org_code(r)
        code = prefix + uscc_check_char(prefix)
        place = prof.short if r.random() < 0.7 else "湖南"
        suffix = r.choice(("有限公司", "有限公司", "有限责任公司", "股份有限公司"))
        name = f"{place}{brand_name(r)}{r.choice(COMPANY_INDUSTRY)}{suffix}"
        if code in firms or name in names:
            continue
        firms[code] = name
        names.add(name)
    codes = tuple(sorted(firms))
    nr = keyed_np_random(seed, "enterprise-sizes", city)
    rank = nr.permutation(n) + 1
    weight = rank ** -0.6  # rows: big traders file many lines ...
    size = rank ** -0.4 * nr.lognormal(0, 0.4, n)  # ... and big amounts per line
    entry_t = np.where(nr.random(n) < 0.8, 0, nr.integers(month_index(EPOCH), month_index("2027-12") + 1, n))
    nhs = len(hs_codes())
    base = nr.integers(0, nhs, n)
    stride = nr.choice([1, 1, 2, 3], n)
    hs = (base[:, None] + np.arange(64)[None, :] * stride[:, None]) % nhs
    n_hs = np.clip(np.round(2 + 62 * (weight / weight.max()) ** 0.35), 2, 64).astype(np.int64)
    return EnterprisePool(codes, tuple(firms[c] for c in codes), weight, size, entry_t, hs, n_hs)


def _trade_share(city: str, year: int, seed: int) -> float:
    prof = profile(city)
    drift = 0.01 if city == "430100" else keyed_random(seed, "trade-drift", city).uniform(-0.03, 0.03)
    return prof.trade_share / TRADE_SHARE_TOTAL * (1 + drift * (year - 2024))


def trade_target_cny(city: str, period: str, seed: int) -> float:
    """The city's goods trade in the month, 元 (before rounding to rows)."""
    p = parse_period(period)
    y, m = p.year, p.month
    noise = keyed_random(seed, "trade-total", city, period).uniform(0.94, 1.06)
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
    p = parse_period(period)
    y, m = p.year, p.month
    rng = keyed_np_random(seed, "trade", city, period)
    pool = enterprise_pool(city, seed)
    share = _trade_share(city, y, seed) / (CITY_PROFILES["430100"].trade_share / TRADE_SHARE_TOTAL)
    n = max(3, int(round(TRADE_ROWS_CHANGSHA * scale * share * TRADE_SEASON[m - 1]
                         * (1 + 0.02 * (y - 2024)) * rng.uniform(0.96, 1.04))))
    w = np.where(pool.entry_t <= month_index(period), pool.weight, 0.0)
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
    return 0.32 * profile(city).trade_share / (TRADE_SHARE_TOTAL - CITY_PROFILES["430100"].trade_share)


def services_rows(city: str, period: str, seed: int) -> list[dict]:
    """服务贸易: YTD exports and imports by category in 万美元 (quarter-end months)."""
    p = parse_period(period)
    y, m = p.year, p.month
    annual = SERVICES_2024_10K_USD * 1.08 ** (y - 2024) * _services_share(city)
    rows = []
    for cat in reference.service_categories():
        share, export_share = SERVICE_MIX.get(cat, (0.01, 0.5))
        year_rng = keyed_random(seed, "services", city, y, cat)
        level = annual * share * year_rng.uniform(0.7, 1.3)
        # Small cities have no trade at all in some of the thin categories.
        if share <= 0.02 and _services_share(city) < 0.02 and year_rng.random() < 0.5:
            level = 0.0
        ytd = m / 12 * keyed_random(seed, "services", city, period, cat).uniform(0.95, 1.05)
        exp_share = min(0.95, max(0.05, export_share + year_rng.uniform(-0.08, 0.08)))
        rows.append({
            "category": cat,
            "exports_10k_usd": round(level * ytd * exp_share, 2),
            "imports_10k_usd": round(level * ytd * (1 - exp_share), 2),
        })
    return rows
