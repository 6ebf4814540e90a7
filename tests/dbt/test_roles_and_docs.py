"""Read-only roles (SPEC §4), the reference seeds and the dbt docs site, on a real build.

bi_reader may SELECT the marts and nothing else; auditor may SELECT every schema we own
and write nothing; both are created by the build itself, idempotently.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections import Counter

import psycopg
import pytest
from psycopg import errors, sql

from core.settings import Settings
from flows import transform
from tests.conftest import WAREHOUSE_SCHEMAS
from tests.spec import SPEC_KPI_UNITS

TARGET_KPIS = {"signed_projects", "signed_investment", "major_projects_signed", "funds_domestic", "fdi_actual",
               "trade_total", "exports", "imports", "services_trade",
               "performance_rate", "start_rate", "production_rate", "funds_rate"}
PROVINCE = "430000"

RELATIONS = """
    SELECT n.nspname, c.relname, format('%%I.%%I', n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm')
    ORDER BY 1, 2
"""


SAMPLE = ("2025-08", "2025-09", 0.02)  # two months of a tiny sample, `dbt build` once


@pytest.fixture(scope="module")
def built(sample_warehouse):
    return sample_warehouse


def privileges(conn) -> dict:
    """(role, relation) -> privileges held, for every relation of the warehouse schemas."""
    rows = conn.execute("""
        SELECT r.role, format('%%I.%%I', n.nspname, c.relname),
               array_remove(ARRAY[
                 CASE WHEN has_table_privilege(r.role, c.oid, 'SELECT') THEN 'SELECT' END,
                 CASE WHEN has_table_privilege(r.role, c.oid, 'INSERT') THEN 'INSERT' END,
                 CASE WHEN has_table_privilege(r.role, c.oid, 'UPDATE') THEN 'UPDATE' END,
                 CASE WHEN has_table_privilege(r.role, c.oid, 'DELETE') THEN 'DELETE' END,
                 CASE WHEN has_table_privilege(r.role, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN (VALUES ('bi_reader'), ('auditor')) AS r (role)
        WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm')
    """, [list(WAREHOUSE_SCHEMAS)]).fetchall()
    return {(role, rel): set(privs) for role, rel, privs in rows}


class acting_as:
    """A fresh connection of the transform role, switched to a reader role with SET ROLE."""

    def __init__(self, settings: Settings, role: str):
        self.settings, self.role = settings, role

    def __enter__(self) -> psycopg.Connection:
        self.conn = psycopg.connect(**self.settings.warehouse.conninfo(), autocommit=True)
        self.conn.execute(sql.SQL("GRANT {} TO current_user").format(sql.Identifier(self.role)))
        self.conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(self.role)))
        return self.conn

    def __exit__(self, *exc):
        self.conn.execute("RESET ROLE")
        self.conn.execute(sql.SQL("REVOKE {} FROM current_user").format(sql.Identifier(self.role)))
        self.conn.close()


def refused(conn, statement: str) -> bool:
    try:
        conn.execute(statement)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_roles_are_nologin_groups_and_the_transform_role_is_no_superuser(built):
    roles = dict(built.execute("SELECT rolname, (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb) "
                               "FROM pg_roles WHERE rolname IN ('bi_reader', 'auditor')").fetchall())
    assert roles == {"bi_reader": False, "auditor": False}
    assert built.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)


def test_bi_reader_reads_the_marts_and_nothing_else(built, settings):
    marts = [rel for _, _, rel in built.execute(RELATIONS, [["marts"]]).fetchall()]
    assert "marts.fct_park_month" in marts
    with acting_as(settings, "bi_reader") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("bi_reader",)
        for rel in marts:
            conn.execute(f"SELECT * FROM {rel} LIMIT 1")
        assert conn.execute("SELECT count(*) FROM marts.fct_park_month").fetchone()[0] > 0
        for rel in ("raw.parks", "raw.trade", "audit.submissions", "audit.rejected_rows",
                    "staging.stg_raw__parks", "reference.kpi_definitions"):
            assert refused(conn, f"SELECT * FROM {rel} LIMIT 1"), rel
        assert refused(conn, "INSERT INTO marts.dim_city (city_code) VALUES ('999999')")


def test_auditor_reads_every_schema_and_writes_nothing(built, settings):
    with acting_as(settings, "auditor") as conn:
        for rel in ("raw.parks", "raw.trade", "raw.projects", "audit.submissions", "audit.rejected_rows",
                    "staging.stg_raw__parks", "reference.kpi_definitions", "marts.fct_park_month"):
            conn.execute(f"SELECT * FROM {rel} LIMIT 1")
        assert conn.execute("SELECT count(*) FROM audit.submissions").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM raw.parks").fetchone()[0] > 0
        assert refused(conn, "INSERT INTO raw.parks (file_id) VALUES (1)")
        assert refused(conn, "INSERT INTO marts.dim_city (city_code) VALUES ('999999')")
        assert refused(conn, "UPDATE audit.submissions SET status = 'rejected'")
        assert refused(conn, "DELETE FROM raw.trade")
        assert refused(conn, "CREATE TABLE marts.auditor_was_here (x int)")


def test_grants_cover_every_relation_exactly(built):
    grants = privileges(built)
    assert len(grants) > 40  # raw, audit, staging, reference and marts relations, for two roles
    for (role, rel), privs in grants.items():
        readable = role == "auditor" or rel.startswith("marts.")
        assert privs == ({"SELECT"} if readable else set()), (role, rel, privs)


def test_a_second_build_keeps_roles_and_grants(built, settings):
    before = privileges(built)
    transform.dbt_build(settings)  # roles exist now: created once, granted again without error
    assert privileges(built) == before
    assert built.execute("SELECT count(*) FROM pg_roles WHERE rolname IN ('bi_reader', 'auditor')").fetchone() == (2,)


def partial_indexes(conn, table: str) -> list[tuple[str, str]]:
    return conn.execute("SELECT regexp_replace(indexname, '_[0-9]{14}$', ''), indexdef FROM pg_indexes "
                        "WHERE schemaname = 'marts' AND tablename = %s AND indexdef LIKE '%%WHERE%%' ORDER BY 1",
                        [table]).fetchall()


def test_monthly_scheduling_has_one_partial_index_per_flag_the_appraisal_counts(built, settings):
    """performance_appraisal counts the overdue and the terminated major projects of each quarter."""
    first = partial_indexes(built, "monthly_scheduling")
    assert [name for name, _ in first] == ["overdue_majors", "terminated_majors"]
    assert "is_major AND (is_overdue_not_started OR is_overdue_not_producing)" in first[0][1]
    assert "is_major AND terminated_this_month" in first[1][1]
    transform.dbt(["run", "--select", "monthly_scheduling"], settings)  # incremental: no second copy
    assert partial_indexes(built, "monthly_scheduling") == first


def test_a_role_without_createrole_gets_a_warning_not_a_failure(built, settings, tmp_path):
    """An external server where the transform role may not create roles: warn and carry on."""
    user, password = f"etl_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    built.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEROLE PASSWORD {}").format(
        sql.Identifier(user), sql.Literal(password)))
    try:
        w = settings.warehouse
        url = f"postgresql://{user}:{password}@{w.host}:{w.port}/{w.dbname}"
        limited = Settings({**os.environ, "OPENECON_DATABASE_URL": url})
        missing = {"openecon_bi_reader_role": f"{user}_bi", "openecon_auditor_role": f"{user}_audit"}
        proc = transform.dbt(["run-operation", "openecon_setup_roles", "--vars", json.dumps(missing),
                             "--target-path", str(tmp_path / "target")], limited)
        assert proc.returncode == 0
        assert f"role {user}_bi does not exist and {user} lacks CREATEROLE" in proc.stdout
        assert "CREATE ROLE" in proc.stdout
        assert not built.execute("SELECT 1 FROM pg_roles WHERE rolname LIKE %s", [f"{user}\\_%"]).fetchall()
    finally:
        built.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))


def test_kpi_definitions_carry_every_spec_kpi_with_its_unit(built):
    assert dict(built.execute("SELECT kpi_code, unit FROM reference.kpi_definitions").fetchall()) == SPEC_KPI_UNITS
    kinds = dict(built.execute("SELECT kpi_code, kind FROM reference.kpi_definitions").fetchall())
    assert kinds["trade_enterprises"] == "distinct" and kinds["park_enterprises"] == "stock"
    assert kinds["performance_rate"] == "ratio" and kinds["signed_projects"] == "flow"
    targets = built.execute("SELECT year, count(DISTINCT city_code), array_agg(DISTINCT kpi_code) "
                            "FROM reference.annual_targets GROUP BY 1 ORDER BY 1").fetchall()
    assert [(y, n, set(k)) for y, n, k in targets] == [(y, 15, TARGET_KPIS) for y in (2023, 2024, 2025, 2026)]
    trade = built.execute("SELECT target FROM reference.annual_targets WHERE year = 2025 "
                          "AND city_code = %s AND kpi_code = 'trade_total'", [PROVINCE]).fetchone()[0]
    assert 5500 <= trade <= 6500
    gdp = dict(built.execute("SELECT city_code, gdp_100m_cny FROM reference.city_gdp WHERE year = 2024").fetchall())
    assert len(gdp) == 15 and gdp[PROVINCE] == sum(v for c, v in gdp.items() if c != PROVINCE)
    assert max(gdp, key=lambda c: gdp[c] if c != PROVINCE else 0) == "430100"


def test_dbt_docs_site_is_published_and_opens_offline(built, settings):
    out = transform.dbt_docs(settings)
    assert out == settings.output_dir / "dbt_docs"
    for name in ("index.html", "static_index.html", "manifest.json", "catalog.json"):
        assert (out / name).stat().st_size > 0, name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "model.openecon.fct_park_month" in manifest["nodes"]
    static = (out / "static_index.html").read_text(encoding="utf-8")
    assert "fct_park_month" in static and "kpi_definitions" in static  # manifest and catalog inlined
    remote = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>", static, re.I)
    assert remote == []
    catalog = json.loads((out / "catalog.json").read_text(encoding="utf-8"))
    assert "model.openecon.fct_park_month" in catalog["nodes"]  # the catalog was read from the warehouse


def _ran_ids(settings) -> set[str]:
    """The unique ids of the dbt nodes the last dbt command ran (from its run_results.json)."""
    return {r["unique_id"] for r in json.loads((settings.dbt_target_dir / "run_results.json").read_text())["results"]}


def _ran(settings) -> Counter:
    """What kinds of dbt nodes the last dbt command ran."""
    return Counter(uid.split(".")[0] for uid in _ran_ids(settings))


def _tests_by_parents(settings) -> tuple[set[str], set[str]]:
    """The data tests of the manifest: (those reading seeds only, those reading a seed and a model)."""
    nodes = json.loads((settings.dbt_target_dir / "manifest.json").read_text())["nodes"]
    only, mixed = set(), set()
    for uid, node in nodes.items():
        if node["resource_type"] != "test" or not node["depends_on"]["nodes"]:
            continue
        kinds = {p.split(".")[0] for p in node["depends_on"]["nodes"]}
        if kinds == {"seed"}:
            only.add(uid)
        elif "seed" in kinds and "model" in kinds:
            mixed.add(uid)
    return only, mixed


def test_a_build_leaves_out_unit_tests_and_seeds_that_did_not_change(built, settings, tmp_path):
    seeds = len(list((settings.dbt_project_dir / "seeds").glob("*.csv")))
    transform.dbt_build(settings)  # the fixture's build loaded the seeds and marked them
    ran = _ran(settings)
    assert ran["seed"] == 0 and ran["unit_test"] == 0 and ran["model"] > 20 and ran["test"] > 40
    # the tests of the seeds alone are left out with them; a test reading a model and a seed runs
    seed_tests, mixed_tests = _tests_by_parents(settings)
    assert len(seed_tests) > 20 and mixed_tests
    done = _ran_ids(settings)
    assert not seed_tests & done and mixed_tests <= done
    # the table BI reads by index only was vacuumed after the run's last query: every page all-visible
    pages, visible = built.execute("SELECT relpages, relallvisible FROM pg_class "
                                   "WHERE oid = 'marts.fct_trade_month'::regclass").fetchone()
    assert pages > 0 and visible == pages
    # a mark of other seed files (as after an upgrade that edits a seed): every seed is loaded again
    built.execute(f"COMMENT ON SCHEMA reference IS '{transform.SEEDS_MARK}{'0' * 64}'")
    transform.dbt_build(settings)
    assert _ran(settings)["seed"] == seeds
    assert seed_tests <= _ran_ids(settings)  # and their tests with them
    assert transform.seeds_loaded(settings, transform.seeds_digest(settings.dbt_project_dir))
    # a seed table gone: loaded again
    built.execute("ALTER TABLE reference.service_categories RENAME TO service_categories_gone")
    try:
        assert not transform.seeds_loaded(settings, transform.seeds_digest(settings.dbt_project_dir))
    finally:
        built.execute("ALTER TABLE reference.service_categories_gone RENAME TO service_categories")
    # the digest follows any seed file's bytes and the project file that types them
    copy = tmp_path / "project"
    shutil.copytree(settings.dbt_project_dir / "seeds", copy / "seeds")
    shutil.copy(settings.dbt_project_dir / "dbt_project.yml", copy)
    before = transform.seeds_digest(copy)
    assert before == transform.seeds_digest(settings.dbt_project_dir)
    targets = copy / "seeds" / "annual_targets.csv"
    targets.write_bytes(targets.read_bytes().replace(b"\n", b"\r\n", 1))
    assert transform.seeds_digest(copy) != before


def test_every_dbt_unit_test_passes(built, settings):
    """Builds leave the unit tests out (fixed inputs: they test the code), so they run here."""
    transform.dbt(["test", "--select", "test_type:unit"], settings)  # exits non-zero on any failure
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    results = [r for r in json.loads((settings.dbt_target_dir / "run_results.json").read_text())["results"]
               if r["unique_id"].startswith("unit_test.")]  # not the on-run hooks
    assert len(manifest["unit_tests"]) >= 10
    assert sorted(r["unique_id"] for r in results) == sorted(manifest["unit_tests"])
    assert {r["status"] for r in results} == {"pass"}
