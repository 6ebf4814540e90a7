import pytest

from ingestion.contract import PARKS, SOURCES_YML, dbt_sources_yml, normalise_header, raw_ddl, split_unit


@pytest.mark.parametrize("header", ["规划面积（亩）", "规划面积(亩)", " 规划面积 （亩） ", "规划面积\u3000(亩)"])
def test_headers_match_tolerantly(header):
    assert split_unit(header) == ("规划面积", "亩")


def test_header_without_unit():
    assert split_unit("园区代码") == ("园区代码", None)
    assert normalise_header(None) == ""


def test_committed_dbt_sources_are_generated_from_the_contract():
    # One source of truth: regenerate with `openecon contract sources`.
    assert SOURCES_YML.read_text(encoding="utf-8") == dbt_sources_yml()


def test_raw_ddl_keeps_file_id_and_row_number():
    ddl = "\n".join(raw_ddl())
    assert "CREATE TABLE IF NOT EXISTS raw.parks" in ddl
    assert "file_id bigint NOT NULL" in ddl and "row_number integer NOT NULL" in ddl
    for col in PARKS.columns:
        assert f"{col.name} {col.pg_type}" in ddl
