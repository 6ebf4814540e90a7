"""The sample generator: deterministic, complete, internally consistent and realistically sized."""

import csv
import hashlib
import io
from datetime import date

import numpy as np
import pytest
import python_calamine

from core import reference
from core.periods import month_end, months
from ingestion import codes
from ingestion.contract import PARKS, PROJECTS, SERVICES, STAGES, TRADE
from samples.calendar import COMBINED_JAN_FEB
from samples.entities import park_row
from samples.generate import generate
from samples.projects import ledger_rows
from samples.trade import trade_file_rows, trade_month, usd_cny_rates
from samples.workbooks import GBK_CITIES

WINDOW = ("2024-11", "2025-03")  # crosses a year, holds 1–2月 and two quarter ends
SCALE = 0.05
CITIES = list(reference.cities())
MILESTONES = ("签约日期", "注册日期", "开工日期", "投产日期")
STAGE_ORDER = {"在谈": 0, "签约": 1, "注册": 2, "开工": 3, "投产": 4}


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def sheet(path, name):
    """Rows of a sheet as dicts keyed by header (calamine, as the loader reads it)."""
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    if name not in wb.sheet_names:
        return None
    rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def headers(path, name):
    return python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()[0]


def read_csv(path):
    raw = path.read_bytes()
    text = raw.decode("gbk") if path.name[6:12] in GBK_CITIES else raw.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    files = generate(out, *WINDOW, scale=SCALE)
    return out, files


def test_months_inclusive_across_years():
    assert months("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_same_arguments_same_bytes(tmp_path):
    a = generate(tmp_path / "a", "2025-08", "2025-09", scale=0.02)
    b = generate(tmp_path / "b", "2025-08", "2025-09", seed=42, scale=0.02)
    assert len(a) == 2 * 14 * 2  # a workbook and a trade CSV per city and month
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    assert [digest(x) for x in a] == [digest(y) for y in b]
    c = generate(tmp_path / "c", "2025-09", "2025-09", seed=7, scale=0.02)
    assert digest(c[0]) != digest(a[28])  # another seed, other data


def test_parks_fill_up_and_obey_the_rules():
    for park in reference.parks():
        aug, sep = park_row(park, "2025-08", 42), park_row(park, "2025-09", 42)
        assert sep["factory_built_10k_m2"] >= aug["factory_built_10k_m2"]
        assert sep["enterprises"] >= aug["enterprises"]
        for row in (aug, sep):
            assert row["factory_used_10k_m2"] <= row["factory_built_10k_m2"]
            assert row["above_scale_enterprises"] <= row["enterprises"]
    changsha = sum(park_row(p, "2025-09", 42)["tax_ytd_10k_cny"] for p in reference.parks_by_city()["430100"])
    others = max(sum(park_row(p, "2025-09", 42)["tax_ytd_10k_cny"] for p in ps)
                 for c, ps in reference.parks_by_city().items() if c != "430100")
    assert changsha > others  # Changsha dominates


def test_every_city_every_month_except_combined_january(clean):
    out, files = clean
    names = {p.relative_to(out).as_posix() for p in files}
    for period in months(*WINDOW):
        stem = period.replace("-", "")
        for city in CITIES:
            wb, tr = f"{city}/{city}_{stem}.xlsx", f"{city}/trade_{city}_{stem}.csv"
            expected = not (city in COMBINED_JAN_FEB and period.endswith("-01"))
            assert (wb in names) is expected and (tr in names) is expected, (city, period)
            assert (out / wb).exists() is expected and (out / tr).exists() is expected
    assert not list(out.glob("*/*_202401*"))  # nothing outside the window
    assert not (out / "planted_errors.json").exists()


def test_sheets_headers_and_services_only_in_quarter_months(clean):
    out, _ = clean
    for path in out.glob("*/*.xlsx"):
        month = int(path.stem[-2:])
        names = python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names
        want = ["项目台账", "园区情况"] + (["服务贸易"] if month in (3, 6, 9, 12) else [])
        assert names == want, path.name
        assert headers(path, "项目台账") == [c.header for c in PROJECTS.columns]
        assert headers(path, "园区情况") == [c.header for c in PARKS.columns]
        if month in (3, 6, 9, 12):
            rows = sheet(path, "服务贸易")
            assert headers(path, "服务贸易") == [c.header for c in SERVICES.columns]
            assert [r["服务类别"] for r in rows] == reference.service_categories()
            assert all(r["出口（万美元）"] >= 0 and r["进口（万美元）"] >= 0 for r in rows)


def test_services_grow_through_the_year_and_changsha_is_largest(tmp_path):
    from samples.trade import services_rows

    def total(city, period):
        return sum(r["exports_10k_usd"] + r["imports_10k_usd"] for r in services_rows(city, period, 42))

    for city in CITIES:
        q = [total(city, f"2025-{m:02d}") for m in (3, 6, 9, 12)]
        assert q == sorted(q), city
    assert max(CITIES, key=lambda c: total(c, "2025-12")) == "430100"


def test_ledger_is_consistent_month_to_month(clean):
    out, _ = clean
    for city in CITIES:
        previous = None
        for period in months(*WINDOW):
            path = out / city / f"{city}_{period.replace('-', '')}.xlsx"
            if not path.exists():
                continue
            end = month_end(period)
            rows = sheet(path, "项目台账")
            ids = [r["项目编号"] for r in rows]
            assert len(ids) == len(set(ids)), path.name
            ledger = {}
            for r in rows:
                pid = r["项目编号"]
                assert pid.startswith(f"{city}-") and len(pid) == 16 and int(pid[7:11]) <= end.year
                assert r["所在县市区"] in reference.counties_by_city()[city]
                assert r["承接园区"] in {"", None} | {p["park_code"] for p in reference.parks_by_city()[city]}
                assert r["产业链"] in reference.industry_chains()
                assert r["项目阶段"] in STAGES
                assert r["合同投资额"] > 0 and 0 <= r["累计实际到位资金"] <= 1.2 * r["合同投资额"]
                dates = [r[m] if isinstance(r[m], date) else None for m in MILESTONES]
                assert all(r[m] in ("", None) or isinstance(r[m], date) for m in MILESTONES)
                given = [d for d in dates if d is not None]
                assert given == sorted(given) and all(d <= end for d in given), pid
                # The dates present are exactly the milestones of the stage reached (a prefix for 终止).
                n = len(given)
                assert dates[:n] == given and all(d is None for d in dates[n:]), pid
                if r["项目阶段"] != "终止":
                    assert n == STAGE_ORDER[r["项目阶段"]], pid
                if r["项目阶段"] == "在谈":
                    assert r["累计实际到位资金"] == 0
                ledger[pid] = r
            if previous is not None:
                for pid, before in previous.items():
                    if pid not in ledger:  # only closed projects leave, and only after December
                        assert before["项目阶段"] in ("投产", "终止") and period.endswith(("-01", "-02")), pid
                        continue
                    now = ledger[pid]
                    assert now["累计实际到位资金"] >= before["累计实际到位资金"], pid
                    assert now["合同投资额"] == before["合同投资额"] and now["投资方"] == before["投资方"]
                    if before["项目阶段"] == "终止":
                        assert now["项目阶段"] == "终止"
                    elif now["项目阶段"] != "终止":
                        assert STAGE_ORDER[now["项目阶段"]] >= STAGE_ORDER[before["项目阶段"]], pid
                    for m in MILESTONES:  # a recorded milestone date never changes
                        if isinstance(before[m], date):
                            assert now[m] == before[m]
            previous = ledger


def test_investor_origins_regions_and_currencies(clean):
    out, _ = clean
    provinces, countries = reference.provinces(), reference.countries()
    rows = [r for p in out.glob("*/*_202503.xlsx") for r in sheet(p, "项目台账")]
    assert len(rows) > 300
    for r in rows:
        origin = r["投资方来源地"]
        if origin in provinces:
            assert r["来源区域"] == provinces[origin]["source_region"] and r["币种"] == "人民币"
            assert origin not in ("430000", "710000", "810000", "820000")
        else:
            assert origin in countries and origin != "CN"
            assert r["来源区域"] == "境外" and r["币种"] == "美元"
        assert r["三类500强"] in ("世界500强", "中国500强", "民营500强", "无")


def test_project_volumes_and_amounts_at_scale_1():
    def signed(city, year):
        return [r for r in ledger_rows(city, f"{year}-12", 42, 1.0)
                if r["signed_date"] is not None and r["signed_date"].year == year]

    cs = signed("430100", 2024)
    assert 330 <= len(cs) <= 470
    small = signed("430800", 2024)
    assert 70 <= len(small) <= 160
    rows = [r for c in CITIES for r in signed(c, 2024)]
    cny = sorted(r["contract_amount"] * (7 if r["currency"] == "美元" else 1) for r in rows)
    assert 11000 <= cny[len(cny) // 2] <= 19000  # median ~1.5亿元
    major = [r for r in rows if r["contract_amount"] >= (3000 if r["currency"] == "美元" else 20000)]
    assert 0.18 <= len(major) / len(rows) <= 0.35
    foreign = [r for r in rows if r["currency"] == "美元"]
    assert 0.06 <= len(foreign) / len(rows) <= 0.15
    top = [r for r in rows if r["fortune500"] != "无"]
    assert 0.02 <= len(top) / len(rows) <= 0.09
    led = ledger_rows("430100", "2025-09", 42, 1.0)
    ended = [r for r in led if r["stage"] == "终止"]
    assert 0.01 <= len(ended) / len(led) <= 0.06


def test_trade_csv_encoding_codes_and_amounts(clean):
    out, _ = clean
    rates = usd_cny_rates()
    for path in sorted(out.glob("*/trade_*.csv")):
        city, period = path.name[6:12], f"{path.stem[-6:-2]}-{path.stem[-2:]}"
        raw = path.read_bytes()
        if city in GBK_CITIES:
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            assert not raw.startswith(b"\xef\xbb\xbf")
        else:
            assert raw.startswith(b"\xef\xbb\xbf")
        assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
        rows = read_csv(path)
        assert rows[0] == [c.header for c in TRADE.columns]
        body = rows[1:]
        assert body and all(len(r) == 8 for r in body)
        col = list(zip(*body))
        assert codes.uscc_valid(list(col[0])).all()
        assert all(c.startswith("91" + city[:4]) for c in col[0])
        assert all(len(h) == 8 and h.isdigit() for h in col[2])
        assert set(col[3]) <= {"一般贸易", "加工贸易", "其他"} and set(col[5]) <= {"出口", "进口"}
        assert set(col[4]) <= set(reference.countries()) - {"CN"}
        usd = np.array(col[6], dtype=float)
        cny = np.array(col[7], dtype=float)
        assert (usd >= 1).all() and (usd == np.round(usd)).all()
        assert all(len(v.split(".")[1]) == 2 for v in col[7][:50])
        if city in COMBINED_JAN_FEB and period.endswith("-02"):
            jan = len(trade_month(city, period[:5] + "01", 42, SCALE))
            rate = np.r_[np.full(jan, rates[period[:5] + "01"]), np.full(len(usd) - jan, rates[period])]
        else:
            rate = rates[period]
        assert np.abs(cny - usd * rate).max() <= 0.0051


def test_trade_mix_is_realistic():
    rows = trade_file_rows("430100", "2025-06", 42, 0.2)
    n = len(rows)
    assert 0.60 <= (rows.mode == 0).sum() / n <= 0.70  # 一般贸易
    assert 0.15 <= (rows.mode == 1).sum() / n <= 0.25  # 加工贸易
    assert 0.55 <= (rows.direction == 0).sum() / n <= 0.65  # 出口
    assert 500 <= len(np.unique(rows.enterprise)) <= 5000


def test_combined_february_csv_holds_january_and_february(clean):
    out, _ = clean
    for city in COMBINED_JAN_FEB:
        feb = len(read_csv(out / city / f"trade_{city}_202502.csv")) - 1
        mar = len(read_csv(out / city / f"trade_{city}_202503.csv")) - 1
        jan_part = len(trade_month(city, "2025-01", 42, SCALE))
        feb_part = len(trade_month(city, "2025-02", 42, SCALE))
        assert feb == jan_part + feb_part
        assert 1.4 <= feb / mar <= 2.2, (city, feb, mar)  # about two months' volume
        assert not (out / city / f"{city}_202501.xlsx").exists()
    normal = len(read_csv(out / "430100" / "trade_430100_202502.csv")) - 1
    assert normal == len(trade_month("430100", "2025-02", 42, SCALE))


def test_trade_magnitudes_at_scale_1():
    for period in ("2024-02", "2024-06", "2024-12", "2025-09"):
        per_city = {c: trade_file_rows(c, period, 42, 1.0) for c in CITIES if c not in COMBINED_JAN_FEB}
        per_city.update({c: trade_month(c, period, 42, 1.0) for c in COMBINED_JAN_FEB})
        yuan = {c: r.fen.sum() / 100 for c, r in per_city.items()}
        province = sum(yuan.values()) / 1e8
        assert 300 <= province <= 700, (period, province)
        assert max(yuan, key=yuan.get) == "430100"
        assert 0.45 <= yuan["430100"] / sum(yuan.values()) <= 0.55
        low = 65_000 if period.endswith("-02") else 85_000  # February is the quiet month
        assert low <= len(per_city["430100"]) <= 120_000
        assert len(per_city["430800"]) < len(per_city["430600"]) < len(per_city["430100"])
    year = sum(trade_month(c, f"2024-{m:02d}", 42, 0.01).fen.sum() for c in CITIES for m in range(1, 13)) / 1e10
    assert 5000 <= year <= 6000  # 亿元 a year; totals do not depend on scale


def test_rates_seed_covers_every_month():
    rates = usd_cny_rates()
    assert list(rates) == months("2020-01", "2027-12")
    assert all(6.3 <= v <= 7.35 for v in rates.values())
    with open(reference.SEEDS_DIR / "usd_cny_rates.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["period", "usd_cny", "source"] and all(r["source"] for r in rows)


def test_scale_multiplies_rows_and_projects():
    small, large = trade_month("430200", "2025-05", 42, 0.1), trade_month("430200", "2025-05", 42, 0.4)
    assert 3.3 <= len(large) / len(small) <= 4.7
    assert abs(small.fen.sum() / large.fen.sum() - 1) < 0.01  # same money, finer detail
    few, many = ledger_rows("430300", "2025-05", 42, 0.2), ledger_rows("430300", "2025-05", 42, 1.0)
    assert 3 <= len(many) / len(few) <= 7


def test_one_clean_file_types_park_numbers_with_thousands_separators(clean):
    out, _ = clean
    path = out / "430400" / "430400_202503.xlsx"  # the last month of the window
    rows = sheet(path, "园区情况")
    texts = {k: v for k, v in rows[0].items() if isinstance(v, str) and "," in v}
    assert len(texts) >= 2
    want = park_row(reference.parks_by_city()["430400"][0], "2025-03", 42)
    by_header = {c.header: c.name for c in PARKS.columns}
    for header, text in texts.items():
        assert float(text.replace(",", "")) == pytest.approx(want[by_header[header]])
    others = [p for p in out.glob("*/*.xlsx") if p != path]
    assert not any(isinstance(v, str) and "," in v
                   for p in others[:20] for r in sheet(p, "园区情况") for v in r.values())
