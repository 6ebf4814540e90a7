"""Report marts (一月一调度, 一季一通报, 绩效考核) against hand recomputations in Python."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

AS_OF = "2025-06"


SAMPLE = ("2024-12", AS_OF, 0.03)  # the warehouse the module reads


@pytest.fixture(scope="module")
def built(sample_warehouse):
    return sample_warehouse


def dicts(conn, sql, params=()):
    cur = conn.execute(sql, params)
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def minus_months(d: dt.date, n: int) -> dt.date:
    """d − n months, clamped to the end of the target month (as Postgres does)."""
    y, m = divmod(d.year * 12 + d.month - 1 - n, 12)
    return dt.date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def month_end(period: str) -> dt.date:
    y, m = int(period[:4]), int(period[5:])
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def overdue_flags(row, period):
    end = month_end(period)
    not_started = (row["stage"] in ("签约", "注册") and row["signed_date"] is not None
                   and row["signed_date"] < minus_months(end, 6))
    not_producing = (row["stage"] not in ("投产", "终止") and row["registered_date"] is not None
                     and row["registered_date"] < minus_months(end, 12))
    return not_started, not_producing


def hand_appraisal(conn, period):
    """Every city's item scores for `period`, from kpi_city_month, the seeds and fct_project_month."""
    year = int(period[:4])
    scheme = dicts(conn, "SELECT * FROM reference.appraisal_scheme")
    rules = dicts(conn, "SELECT * FROM reference.appraisal_adjustments")
    kpi = dicts(conn, """
        SELECT k.kpi_code, k.city_code, k.value_ytd, k.target_progress_pct, k.time_progress_pct,
               d.kind, d.higher_is_better
        FROM marts.kpi_city_month k JOIN reference.kpi_definitions d USING (kpi_code)
        WHERE k.period = %s AND k.city_code <> '430000'""", (period,))
    by = {(r["kpi_code"], r["city_code"]): r for r in kpi}
    cities = [c for (c,) in conn.execute(
        "SELECT city_code FROM marts.dim_city WHERE city_code <> '430000'").fetchall()]
    ledgers = dicts(conn, "SELECT * FROM marts.fct_project_month WHERE period BETWEEN %s AND %s",
                    (f"{year}-01", period))

    scores = {c: {} for c in cities}
    for item in scheme:
        w, cap = float(item["weight"]), item["cap"]
        for c in cities:
            r = by.get((item["kpi_code"], c))
            if item["method"] == "rank":
                v = r and r["value_ytd"]
                if v is None:
                    s = 0.0
                else:
                    sign = 1 if r["higher_is_better"] else -1
                    others = [by[(item["kpi_code"], o)]["value_ytd"] for o in cities
                              if (item["kpi_code"], o) in by and by[(item["kpi_code"], o)]["value_ytd"] is not None]
                    rank = 1 + sum(1 for o in others if sign * o > sign * v)
                    s = w * (15 - rank) / 14
            else:
                tp = r and r["target_progress_pct"]
                if tp is None:
                    s = 0.0
                else:
                    bench = 100.0 if r["kind"] in ("ratio", "stock") else float(r["time_progress_pct"])
                    ratio = max(float(tp) / bench, 0.0)
                    if cap is not None:
                        ratio = min(ratio, float(cap))
                    s = w * ratio
            scores[c][item["item_code"]] = round(s, 2)

    for rule in rules:
        for c in cities:
            if rule["basis"] == "fortune500_projects_signed":
                r = by.get(("fortune500_projects", c))
                n = int(r["value_ytd"]) if r and r["value_ytd"] is not None else 0
            elif rule["basis"] == "overdue_major_projects":
                n = sum(1 for p in ledgers if p["city_code"] == c and p["period"] == period and p["is_major"]
                        and any(overdue_flags(p, period)))
            else:
                n = len({p["project_id"] for p in ledgers if p["city_code"] == c and p["is_major"]
                         and p["stage"] == "终止" and p["previous_stage"] not in (None, "终止")})
            pts = float(rule["points_per_item"]) * n
            if rule["cap_points"] is not None:
                pts = min(pts, float(rule["cap_points"]))
            scores[c][rule["rule_code"]] = round(pts if rule["kind"] == "bonus" else -pts, 2)
    return scores


def test_appraisal_scores_match_a_hand_computation(built):
    want = hand_appraisal(built, AS_OF)
    got = dicts(built, "SELECT * FROM marts.performance_appraisal WHERE as_of_period = %s", (AS_OF,))
    totals = {c: round(sum(items.values()), 2) for c, items in want.items()}
    assert {r["city_code"] for r in got} == set(want)
    # two cities item by item: the best and the worst by the hand totals
    for city in (max(totals, key=totals.get), min(totals, key=totals.get)):
        rows = {r["item_code"]: r for r in got if r["city_code"] == city}
        for code, score in want[city].items():
            assert float(rows[code]["score"]) == pytest.approx(score, abs=0.011), (city, code, rows[code]["derivation"])
        assert float(rows["TOTAL"]["score"]) == pytest.approx(totals[city], abs=0.05)
        assert all(r["derivation"] for r in rows.values())
    # rank 1 is the best total
    best = [r["city_code"] for r in got if r["part"] == "合计" and r["rank"] == 1]
    assert best and all(totals[b] == pytest.approx(max(totals.values()), abs=0.05) for b in best)


def test_overdue_flags_match_a_recomputation(built):
    city = built.execute("""
        SELECT city_code FROM marts.fct_project_month WHERE period = %s
        GROUP BY city_code ORDER BY count(*) DESC, city_code LIMIT 1""", (AS_OF,)).fetchone()[0]
    facts = dicts(built, "SELECT * FROM marts.fct_project_month WHERE city_code = %s AND period = %s",
                  (city, AS_OF))
    got = {r["project_id"]: r for r in dicts(
        built, "SELECT * FROM marts.monthly_scheduling WHERE city_code = %s AND period = %s", (city, AS_OF))}
    assert set(got) == {f["project_id"] for f in facts}
    flagged = 0
    for f in facts:
        not_started, not_producing = overdue_flags(f, AS_OF)
        row = got[f["project_id"]]
        assert row["is_overdue_not_started"] == not_started, f["project_id"]
        assert row["is_overdue_not_producing"] == not_producing, f["project_id"]
        assert row["terminated_this_month"] == (f["stage"] == "终止" and f["previous_stage"] not in (None, "终止"))
        flagged += not_started or not_producing
    assert flagged > 0  # the sample has overdue projects, so the check is not vacuous


def test_stalled_funds_compare_with_three_months_earlier(built):
    rows = dicts(built, """
        SELECT m.stage, m.is_stalled_funds, m.paid_in_cumulative_10k AS now, b.paid_in_cumulative_10k AS before,
               m.contract_amount_10k AS contract
        FROM marts.monthly_scheduling m
        LEFT JOIN marts.fct_project_month b ON b.project_id = m.project_id AND b.period = '2025-03'
        WHERE m.period = %s""", (AS_OF,))
    for r in rows:
        if r["stage"] not in ("签约", "注册", "开工") or r["now"] >= r["contract"]:
            want = False
        elif r["before"] is None:
            want = None
        else:
            want = r["now"] <= r["before"]
        assert r["is_stalled_funds"] == want


def test_bulletin_cards_follow_the_rule(built):
    rows = dicts(built, "SELECT * FROM marts.quarterly_bulletin")
    assert {r["period"] for r in rows} == {"2024-12", "2025-03", "2025-06"}
    carded = 0
    for r in rows:
        gap, yoy, prov = r["progress_gap_pp"], r["yoy_pct"], r["province_yoy_pct"]
        if gap is not None:
            want = "绿" if gap >= 0 else "黄" if gap > -10 else "红"
        elif yoy is not None:
            want = "红" if yoy < 0 else "绿" if yoy >= (prov if prov is not None else 0) else "黄"
        else:
            want = None
        assert r["card"] == want, r
        carded += want is not None
        if r["city_code"] == "430000":
            assert r["rank_by_total"] is None and r["rank_by_growth"] is None
        elif r["rank_by_total"] is not None:
            assert 1 <= r["rank_by_total"] <= 14
    assert carded > 0
    zone = {r["city_code"] for r in rows if r["is_demo_zone_city"]}
    assert zone == {"430400", "431000", "431100", "433100", "431200", "430500"}


@pytest.mark.parametrize("table, grain", [("marts.fct_project_month", ["project_id", "period"]),
                                          ("marts.monthly_scheduling", ["period", "project_id"])])
def test_the_project_grain_is_a_primary_key_that_refuses_a_second_row(built, table, grain):
    """One row per project and month is the tables' primary key (the contract's), checked on every
    row a build writes; so no dbt test scans the whole history for duplicates each build."""
    import psycopg

    pk = built.execute("""SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_constraint AS c
                          CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                          WHERE c.conrelid = %s::regclass AND c.contype = 'p'""", [table]).fetchone()[0]
    assert pk == grain
    with pytest.raises(psycopg.errors.UniqueViolation), built.transaction():
        built.execute(f"INSERT INTO {table} SELECT * FROM {table} LIMIT 1")


@pytest.mark.parametrize("table, column, value, error", [
    ("marts.fct_project_month", "stage", "已完工", "CheckViolation"),
    ("marts.fct_project_month", "previous_stage", "已完工", "CheckViolation"),
    ("marts.fct_project_month", "contract_amount_100m_cny", None, "NotNullViolation"),
    ("marts.fct_project_month", "paid_in_cumulative_100m_cny", None, "NotNullViolation"),
    ("marts.fct_project_month", "version_number", None, "NotNullViolation"),
    ("marts.monthly_scheduling", "stage", "已完工", "CheckViolation"),
])
def test_the_project_facts_refuse_what_their_closed_lists_and_not_nulls_forbid(built, table, column, value, error):
    """Checked on the rows each build inserts (constraints), instead of tests reading the whole history."""
    import psycopg

    with pytest.raises(getattr(psycopg.errors, error)), built.transaction():
        built.execute(f"CREATE TEMP TABLE probe AS SELECT * FROM {table} LIMIT 1")
        built.execute(f"UPDATE probe SET {column} = %s", [value])
        built.execute(f"INSERT INTO {table} SELECT * FROM probe")
