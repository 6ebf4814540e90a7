"""raw.trade is partitioned by the month its files report: a load, its index, its statistics and a
query of one month touch that month's partition only; a warehouse from before partitioning is
moved into partitions by the first command that prepares it."""

from __future__ import annotations

import datetime as dt

from flows.warehouse import prepare
from ingestion.load import ingest_paths
from ingestion.schema import refresh_month_statistics
from tests.workbooks import trade_row, write_trade

CITY = "430100"
MONTHS = {"2025-08": 7, "2025-09": 12, "2025-10": 3}  # rows written per month


def _ingest_months(folder, settings, months=MONTHS):
    paths = [write_trade(folder / f"trade_{CITY}_{m.replace('-', '')}.csv", [trade_row(i) for i in range(n)])
             for m, n in months.items()]
    receipts = ingest_paths(paths, settings)
    assert [r.status for r in receipts] == ["accepted"] * len(months)
    return receipts


def _partitions(conn) -> dict[str, int]:
    """Each partition of raw.trade and its rows."""
    names = [n for (n,) in conn.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'raw.trade'::regclass ORDER BY 1""").fetchall()]
    return {n: conn.execute(f"SELECT count(*) FROM raw.{n}").fetchone()[0] for n in names}


def test_each_month_lands_in_its_own_partition(warehouse, tmp_path, settings):
    _ingest_months(tmp_path, settings)
    assert _partitions(warehouse) == {f"trade_{m.replace('-', '_')}": n for m, n in MONTHS.items()}
    assert warehouse.execute("SELECT count(*) FROM ONLY raw.trade").fetchone() == (0,)
    # every row carries its file's month, as audit.submissions records it
    assert warehouse.execute(
        """SELECT count(*) FROM raw.trade t JOIN audit.submissions s ON s.file_id = t.file_id
           WHERE to_char(t.period, 'YYYY-MM') <> s.period""").fetchone() == (0,)
    # the month's partition has the BRIN index on file_id; its statistics come with the build
    idx = warehouse.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'raw' "
                            "AND tablename = 'trade_2025_09'").fetchall()
    assert len(idx) == 1 and "brin (file_id)" in idx[0][0]
    assert sorted(refresh_month_statistics(warehouse)) == [f"raw.trade_{m.replace('-', '_')}" for m in MONTHS]
    assert warehouse.execute("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                             "WHERE relid = 'raw.trade_2025_09'::regclass").fetchone() == (True,)
    # a query of one month plans a scan of that month's partition only
    plan = "\n".join(r[0] for r in warehouse.execute(
        "EXPLAIN SELECT sum(amount_cny) FROM raw.trade WHERE period = date '2025-09-01'").fetchall())
    assert "trade_2025_09" in plan and "trade_2025_08" not in plan and "trade_2025_10" not in plan


def test_a_month_is_analysed_by_the_build_and_again_only_when_it_misses_a_tenth_of_its_rows(
        warehouse, tmp_path, settings):
    """Several ingests loading one month (Airflow's city tasks) leave it to the build, which reads
    it once, and again only once the statistics miss a tenth of its rows."""
    def analyses() -> int:
        return warehouse.execute("SELECT analyze_count FROM pg_stat_user_tables "
                                 "WHERE relid = 'raw.trade_2025_09'::regclass").fetchone()[0]

    def ingest(city: str, rows: int) -> None:
        path = write_trade(tmp_path / city / f"trade_{city}_202509.csv", [trade_row(i) for i in range(rows)])
        assert [r.status for r in ingest_paths([path], settings)] == ["accepted"]

    ingest("430100", 100)
    ingest("430200", 20)
    assert analyses() == 0  # the ingests leave it
    assert refresh_month_statistics(warehouse) == ["raw.trade_2025_09"]  # a month without statistics
    assert warehouse.execute("SELECT reltuples FROM pg_class WHERE oid = 'raw.trade_2025_09'::regclass"
                             ).fetchone() == (120,)
    ingest("430300", 5)  # 125 rows, 120 counted: fresh enough
    assert refresh_month_statistics(warehouse) == [] and analyses() == 1
    ingest("430400", 50)  # 175 rows, 120 counted
    assert refresh_month_statistics(warehouse) == ["raw.trade_2025_09"] and analyses() == 2
    assert warehouse.execute("SELECT reltuples FROM pg_class WHERE oid = 'raw.trade_2025_09'::regclass"
                             ).fetchone() == (175,)


def test_a_correction_and_a_rejected_file_touch_only_their_month(warehouse, tmp_path, settings):
    _ingest_months(tmp_path, settings)
    before = _partitions(warehouse)
    fixed = write_trade(tmp_path / "fix" / f"trade_{CITY}_202509.csv",
                        [trade_row(i, amount_cny=1.0) for i in range(12)])
    bad = write_trade(tmp_path / "bad" / f"trade_{CITY}_202511.csv",
                      [trade_row(i, direction="出入") for i in range(5)])
    fix_r, bad_r = ingest_paths([fixed, bad], settings)
    assert fix_r.status == "superseding" and bad_r.status == "rejected"
    after = _partitions(warehouse)
    # the correction's rows join September's; the rejected November file leaves an empty partition
    assert after == {**before, "trade_2025_09": before["trade_2025_09"] + 12, "trade_2025_11": 0}


def test_an_unpartitioned_raw_trade_is_moved_into_month_partitions(warehouse, tmp_path, settings):
    receipts = _ingest_months(tmp_path, settings)
    expected = warehouse.execute("SELECT file_id, row_number, enterprise_code, amount_cny, period "
                                 "FROM raw.trade ORDER BY 1, 2").fetchall()
    # the layout of a warehouse from before partitioning: one plain table, no period column
    warehouse.execute("CREATE TABLE raw.trade_plain AS SELECT file_id, row_number, enterprise_code, enterprise_name, "
                      "hs_code, trade_mode, partner_country, direction, amount_usd, amount_cny FROM raw.trade")
    warehouse.execute("DROP TABLE raw.trade")
    warehouse.execute("ALTER TABLE raw.trade_plain RENAME TO trade")
    warehouse.execute("CREATE INDEX trade_file_brin ON raw.trade USING brin (file_id)")
    assert warehouse.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.trade'::regclass").fetchone() == ("r",)

    prepare(settings)  # what every command does first
    assert warehouse.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.trade'::regclass").fetchone() == ("p",)
    assert _partitions(warehouse) == {f"trade_{m.replace('-', '_')}": n for m, n in MONTHS.items()}
    assert warehouse.execute("SELECT file_id, row_number, enterprise_code, amount_cny, period "
                             "FROM raw.trade ORDER BY 1, 2").fetchall() == expected
    assert {p for (_, _, _, _, p) in expected} == {dt.date.fromisoformat(f"{m}-01") for m in MONTHS}
    assert warehouse.execute("SELECT to_regclass('raw.trade_unpartitioned')").fetchone() == (None,)
    prepare(settings)  # and again: nothing more to do
    assert len(receipts) == len(_partitions(warehouse))


def test_prepare_takes_no_lock_when_all_is_in_place_and_restores_what_is_missing(warehouse, settings):
    import threading

    import psycopg

    from core import audit_schema

    started = []

    def prepare_within(seconds: float) -> bool:
        done = threading.Event()
        started.append(worker := threading.Thread(target=lambda: (prepare(settings), done.set()), daemon=True))
        worker.start()
        return done.wait(seconds)

    # Another command holding the DDL locks (a migration or a partition being made) does not hold
    # up a command on a warehouse already in place: it reads the catalog and goes on.
    with psycopg.connect(**settings.warehouse.conninfo()) as other:
        other.execute("SELECT pg_advisory_xact_lock(hashtext('openecon.ingestion.ensure_raw')), "
                      "pg_advisory_xact_lock(hashtext('openecon.audit_schema.migrate'))")
        assert prepare_within(10), "prepare waited on a lock with every table in place"

        # A raw table gone: the next command waits for the lock and makes it again.
        warehouse.execute("DROP TABLE raw.parks")
        assert not prepare_within(2), "prepare went on without making raw.parks"
        other.rollback()  # the locks released
    for worker in started:
        worker.join(30)
        assert not worker.is_alive()
    assert warehouse.execute("SELECT to_regclass('raw.parks') IS NOT NULL").fetchone() == (True,)

    # A migration not recorded (a warehouse from an older version) is applied again.
    warehouse.execute("DELETE FROM audit.schema_migrations WHERE version = %s", [audit_schema.LATEST])
    prepare(settings)
    assert warehouse.execute("SELECT max(version) FROM audit.schema_migrations").fetchone() == (audit_schema.LATEST,)
