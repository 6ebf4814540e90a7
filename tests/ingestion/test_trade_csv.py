"""The trade-detail CSV as clerks really send it (issue 13): encodings, bad bytes, control
characters, long lines, title rows, blank lines, full-width digits, thousands separators.

Expected row numbers and values are worked out here from how each file is built, never by the
code under test: record i of a built file is the clerk's row i + 1 (Excel and WPS show one row
per CSV record, a quoted line break included, and blank lines as rows), and a loaded cell is the
value as written, trimmed, with full-width digits and letters read as ASCII in codes and amounts.
"""

from __future__ import annotations

import csv
import io
import os
from decimal import Decimal

import pytest

from core.settings import Settings
from ingestion import trade
from ingestion.contract import TRADE
from ingestion.issues import FileRejected, cell_rule
from ingestion.load import ingest_paths
from tests.workbooks import city_workbook, trade_row

CITY = "430100"
NAME = f"trade_{CITY}_202509.csv"
HEADER = [c.header for c in TRADE.columns]
COLS = [c.name for c in TRADE.columns]
BAD = "@@BAD@@"  # stands for bytes no text encoding can write; replaced after encoding


def cells(n: int, **overrides) -> list[str]:
    """Row ``n`` of tests.workbooks.trade_row as the text cells of a CSV, in template order."""
    row = trade_row(n, **overrides)
    return [str(row[c]) for c in COLS]


def full_width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (U+FF01..U+FF5E)."""
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def csv_text(records: list, delimiter: str = ",", newline: str = "\r\n") -> str:
    """Records in order: a list of cells (quoted where needed, as Excel writes them) or a raw line."""
    def cell(value: str) -> str:
        if any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join((r if isinstance(r, str) else delimiter.join(map(cell, r))) + newline for r in records)


def encoded(records: list, encoding: str = "utf-8", bad: bytes = b"", **kw) -> bytes:
    marker = BAD.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    return csv_text(records, **kw).encode(encoding).replace(marker, bad)


class Sink:
    """Stands in for the COPY: keeps what would have been sent to Postgres."""

    def __init__(self):
        self.data = bytearray()

    def write(self, chunk) -> None:
        self.data += chunk


def settings_with(**env) -> Settings:
    return Settings({**os.environ, **{f"OPENECON_{k.upper()}": str(v) for k, v in env.items()}})


def stream(tmp_path, data: bytes, **env):
    """stream_trade on ``data``: (result, loaded rows by row number as the COPY would receive them)."""
    path = tmp_path / NAME
    path.write_bytes(data)
    sink = Sink()
    result = trade.stream_trade(path, 7, sink, settings_with(**env))
    text = bytes(sink.data).decode("utf-8")  # strict: never invalid UTF-8 ...
    assert "\x00" not in text  # ... and never a NUL, which Postgres refuses
    rows = list(csv.reader(io.StringIO(text)))
    assert all(r[0] == "7" for r in rows)
    return result, {int(r[1]): dict(zip(COLS, r[2:])) for r in rows}


def rejected(tmp_path, data: bytes, **env):
    with pytest.raises(FileRejected) as exc:
        stream(tmp_path, data, **env)
    return exc.value


def expected(*pairs) -> dict[int, dict]:
    """{row: values} from (row, cells) pairs: the values meant, as the test wrote them."""
    return {row: dict(zip(COLS, values)) for row, values in pairs}


def assert_loaded(loaded: dict[int, dict], want: dict[int, dict]) -> None:
    """The loaded rows are exactly ``want``, value for value (amounts as decimals)."""
    assert sorted(loaded) == sorted(want)
    for row, values in want.items():
        for name, value in values.items():
            got = loaded[row][name]
            if name.startswith("amount"):
                assert Decimal(got) == Decimal(value), (row, name, got, value)
            else:
                assert got == value, (row, name, got, value)


def found(result) -> set[tuple]:
    return {(i.row, i.column, i.rule) for i in result.issues}


# --- characters --------------------------------------------------------------------------
def test_nul_and_other_control_characters_and_line_breaks_reject_only_their_rows(tmp_path):
    records = [
        HEADER, cells(1),
        cells(2, enterprise_name="测试\x00公司"),  # row 3
        cells(3, hs_code="8429\x075200"),  # row 4: BEL
        cells(4, enterprise_name="湖南\t贸易"),  # row 5: tab inside the value
        cells(5, enterprise_name="多行\n名称"),  # row 6: quoted line break inside the value
        cells(6, enterprise_name="\n  前后有空白\u3000\r\n", partner_country=" US\u3000"),  # row 7: trimmed
        cells(7, enterprise_name="删除\x7f符"),  # row 8: DEL
        cells(8),
    ]
    result, loaded = stream(tmp_path, encoded(records))
    assert found(result) == {(3, "企业名称", "control_character"), (4, "HS编码", "control_character"),
                             (5, "企业名称", "line_break"), (6, "企业名称", "line_break"),
                             (8, "企业名称", "control_character")}
    issue = next(i for i in result.issues if i.row == 3)
    assert (issue.value, issue.message_zh, issue.message_en) == ("测试\\x00公司", *cell_rule("control_character"))
    assert (result.rows_total, result.rows_loaded, result.bad_rows) == (8, 3, 5)
    assert_loaded(loaded, expected((2, cells(1)), (7, cells(6, enterprise_name="前后有空白")), (9, cells(8))))


def test_invalid_utf8_in_one_field_rejects_only_that_row(tmp_path):
    records = [HEADER, cells(1), cells(2, enterprise_name=f"湖南{BAD}公司"), cells(3), cells(4)]
    data = encoded(records, "utf-8-sig", bad=b"\xff\xfe")
    data = data.replace(b"US,\xe5\x87\xba\xe5\x8f\xa3,1004", b"US,\xe5\x87\xba\xe5,1004")  # row 5: 出口 cut short
    result, loaded = stream(tmp_path, data)
    assert found(result) == {(3, "企业名称", "invalid_encoding"), (5, "进出口", "invalid_encoding")}
    assert [i.value for i in result.issues] == ["湖南\\xff\\xfe公司", "出\\xe5"]
    assert result.issues[0].message_zh == cell_rule("invalid_encoding")[0]
    assert_loaded(loaded, expected((2, cells(1)), (4, cells(3))))


def test_a_bad_byte_in_a_gbk_file_rejects_only_its_row(tmp_path):
    records = [HEADER, cells(1), cells(2, enterprise_name=f"长沙{BAD}"), cells(3, enterprise_name=f"株洲{BAD}"),
               cells(4, enterprise_name="湘潭市岳塘区贸易")]
    data = encoded(records, "gbk", bad=b"\xff")
    data = data.replace("株洲".encode("gbk") + b"\xff", "株洲".encode("gbk") + b"\x81")  # a lead byte, then a comma
    result, loaded = stream(tmp_path, data)
    assert found(result) == {(3, "企业名称", "invalid_encoding"), (4, "企业名称", "invalid_encoding")}
    assert [i.value for i in result.issues] == ["长沙\\xff", "株洲\\x81"]
    assert_loaded(loaded, expected((2, cells(1)), (5, cells(4, enterprise_name="湘潭市岳塘区贸易"))))


@pytest.mark.parametrize("encoding,bom,delimiter,bad", [
    ("utf-16-le", b"\xff\xfe", "\t", b"\x00\xd8"),  # Excel's "Unicode text": tab-separated
    ("utf-16-be", b"\xfe\xff", "\t", b"\xd8\x00"),
    ("utf-16-le", b"\xff\xfe", ",", b"\x00\xd8"),
    ("utf-16-le", b"", ",", b"\x00\xd8"),  # no BOM
])
def test_utf16_files_are_read_and_a_lone_surrogate_rejects_only_its_row(tmp_path, encoding, bom, delimiter, bad):
    records = [HEADER, cells(1), cells(2, enterprise_name=f"衡阳{BAD}公司"), cells(3, enterprise_name="邵阳\n公司"),
               cells(4, enterprise_name="岳阳，贸易")]
    result, loaded = stream(tmp_path, bom + encoded(records, encoding, bad=bad, delimiter=delimiter))
    assert found(result) == {(3, "企业名称", "invalid_encoding"), (4, "企业名称", "line_break")}
    assert result.issues[0].value == "衡阳" + "".join(f"\\x{b:02x}" for b in bad) + "公司"
    assert_loaded(loaded, expected((2, cells(1)), (5, cells(4, enterprise_name="岳阳，贸易"))))


def test_a_file_whose_only_row_is_undecodable_is_read_and_rejects_that_row(tmp_path):
    """Found by the property test: one record, its enterprise code a lone surrogate in UTF-16, leaves
    every value of a column null with an empty data buffer; the checks must read that as no value."""
    records = [HEADER, cells(1, enterprise_code=f"0{BAD}" + "0" * 17)]
    result, loaded = stream(tmp_path, b"\xff\xfe" + encoded(records, "utf-16-le", bad=b"\x00\xdc"))
    assert found(result) == {(2, "企业代码", "invalid_encoding")}
    assert (result.rows_total, result.rows_loaded, result.bad_rows) == (1, 0, 1)
    assert loaded == {}


def test_values_longer_than_max_length_reject_their_row(tmp_path):
    limit = TRADE.column("enterprise_name").max_length
    records = [HEADER, cells(1, enterprise_name="名" * limit), cells(2, enterprise_name="名" * (limit + 1)),
               cells(3, hs_code="8" * 300)]
    result, loaded = stream(tmp_path, encoded(records))
    assert found(result) == {(3, "企业名称", "too_long"), (4, "HS编码", "too_long")}
    issue = result.issues[0]
    assert issue.message_zh == cell_rule("too_long", n=limit)[0] and len(issue.value) == 101  # clipped, "…"
    assert_loaded(loaded, expected((2, cells(1, enterprise_name="名" * limit))))


# --- file level --------------------------------------------------------------------------
@pytest.mark.parametrize("magic", [b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"PK\x03\x04\x14\x00"], ids=["xls", "zip"])
def test_a_workbook_saved_under_a_csv_name_is_refused_in_words_a_clerk_understands(tmp_path, magic):
    issue = rejected(tmp_path, magic + bytes(range(256)) * 4).issue
    assert issue.rule == "wrong_content"
    assert "Excel工作簿，不是CSV" in issue.message_zh and "Save As" in issue.message_en


def test_a_mostly_undecodable_file_is_rejected_whole(tmp_path):
    data = encoded([HEADER]) + b"\x80\xff\x80\xff,x\r\n" * 200
    assert rejected(tmp_path, data).issue.rule == "encoding"


def test_a_line_over_the_limit_that_arrow_could_not_read_is_located_by_the_scan(tmp_path, monkeypatch):
    """A record bigger than two blocks makes Arrow give up; the streaming scan names its row."""
    monkeypatch.setattr(trade, "BLOCK_SIZE", 1 << 16)
    records = ["标题", HEADER, cells(1, enterprise_name="多行\n名称"), cells(2), "",
               cells(3, enterprise_name="很长\n" * 100_000), cells(4)]  # row 6: 700 KB over many lines
    exc = rejected(tmp_path, encoded(records), max_csv_line_kb=4)
    assert (exc.issue.rule, exc.issue.row) == ("line_too_long", 6) and "第6行" in exc.issue.message_zh
    assert "straddl" in str(exc.__cause__)  # Arrow's refusal, mapped


def test_a_line_over_the_limit_that_arrow_read_is_found_per_block(tmp_path):
    records = [HEADER, cells(1), cells(2, enterprise_name="长" * 2_000), cells(3)]  # row 3: 6 KB
    exc = rejected(tmp_path, encoded(records), max_csv_line_kb=4)
    assert (exc.issue.rule, exc.issue.row) == ("line_too_long", 3) and exc.__cause__ is None


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_the_long_record_scan_follows_csv_quoting_across_chunks(monkeypatch, chunk):
    monkeypatch.setattr(trade, "SCAN_BYTES", chunk)
    records = [
        b'"a,""b""\nc",d\r\n',  # row 1: quotes, an escaped quote and a line break inside quotes
        b"\r\n",  # row 2: blank
        b'x"y,"z\r\nw"\r',  # row 3: a quote inside an unquoted field is text; lone CR ends the record
        b'"",""""\n',  # row 4: empty quoted field, a quoted quote
        b'p,"' + b'\n' * 30 + b'"\n',  # row 5: 34 bytes, line breaks only inside quotes
        b"q\n",
    ]
    data = b"".join(records)
    assert trade._first_long_record(io.BytesIO(data), 33, ",") == 5
    assert trade._first_long_record(io.BytesIO(data), 34, ",") is None
    assert trade._first_long_record(io.BytesIO(b'h\n"' + b"x" * 50), 40, ",") == 2  # unterminated at the end


def test_column_count_names_the_clerks_row(tmp_path):
    records = ["标题", "", HEADER, cells(1, enterprise_name="多\n行"), "", cells(2), cells(3) + ["多余"]]
    issue = rejected(tmp_path, encoded(records)).issue
    assert (issue.rule, issue.row) == ("column_count", 7)


# Arrow cannot hand such a row to the handler (it reports that as unraisable) and raises instead.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_column_count_names_the_row_also_when_the_row_holds_bad_bytes(tmp_path):
    records = [HEADER, cells(1, enterprise_name="多\n行"), "", cells(2)[:3] + [BAD]]
    issue = rejected(tmp_path, encoded(records, bad=b"\xff")).issue
    assert (issue.rule, issue.row) == ("column_count", 4)


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\r\n\r\n", b",,,\r\n"], ids=["bom only", "blank", "commas"])
def test_a_file_without_a_header_is_rejected(tmp_path, data):
    assert rejected(tmp_path, data).issue.rule == "empty_sheet"


def test_header_only_loads_nothing(tmp_path):
    result, loaded = stream(tmp_path, encoded([HEADER]))
    assert (result.rows_total, result.issues, loaded) == (0, [], {})


# --- clerks' habits -----------------------------------------------------------------------
NUMBER_CASES = [  # (as typed, as meant, or None: not a number)
    ("1,234.50", "1234.50"), ("1234.5", "1234.5"), ("1,234,567", "1234567"), ("+12", "12"), (".5", "0.5"),
    (full_width("1,234.5"), "1234.5"), ("１２３４．５", "1234.5"), ("0", "0"), ("00012", "12"),
    ("1,5", None), ("1 234", None), ("12,34", None), ("1,2345", None), (",123", None), ("1e5", None),
    ("1.", None), ("inf", None), ("NaN", None), ("1.234,5", None), ("￥12", None), ("12元", None),
]


def test_amounts_follow_the_number_pattern_exactly(tmp_path):
    records = [HEADER] + [cells(i, amount_usd=typed) for i, (typed, _) in enumerate(NUMBER_CASES, start=1)]
    records.append(cells(99, amount_cny="-5"))
    records.append(",".join(f'"{v}"' for v in cells(50, amount_usd="2500", amount_cny="17750.00")))  # all quoted
    result, loaded = stream(tmp_path, encoded(records))
    bad_rows = {i + 2 for i, (_, meant) in enumerate(NUMBER_CASES) if meant is None}
    last = len(NUMBER_CASES) + 2
    assert found(result) == ({(r, "金额（美元）", "not_a_number") for r in bad_rows}
                             | {(last, "金额（人民币元）", "below_minimum")})
    assert_loaded(loaded, expected(*[(i + 2, cells(i + 1, amount_usd=meant))
                                     for i, (_, meant) in enumerate(NUMBER_CASES) if meant is not None],
                                   (last + 1, cells(50, amount_usd="2500", amount_cny="17750"))))


def test_full_width_digits_and_letters_in_codes_are_read_as_meant_and_names_stay_as_written(tmp_path):
    code = cells(5)[0]
    records = [HEADER, cells(5, enterprise_code=full_width(code), hs_code="８４２９５２００", partner_country="ｕｓ",
                             enterprise_name="湖南１号贸易（ＡＢＣ）公司"),
               cells(6, partner_country="ＵＳ", amount_cny="７，１１４．２０")]
    result, loaded = stream(tmp_path, encoded(records))
    assert found(result) == {(2, "贸易国别", "code_list:iso_country")}  # ｕｓ is us: not a code
    records[1] = cells(5, enterprise_code=full_width(code), hs_code="８４２９５２００", partner_country="ＵＳ",
                       enterprise_name="湖南１号贸易（ＡＢＣ）公司")
    result, loaded = stream(tmp_path, encoded(records))
    assert result.issues == []
    assert_loaded(loaded, expected((2, cells(5, enterprise_name="湖南１号贸易（ＡＢＣ）公司")),
                                   (3, cells(6, amount_cny="7114.20"))))


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_row_numbers_are_the_rows_excel_shows(tmp_path, newline):
    records = [
        "湖南省外贸进出口明细（2025年9月）",  # row 1: title
        "填报单位：长沙市商务局,,,,,,,",  # row 2: a second title line
        "",  # row 3
        HEADER,  # row 4
        cells(1, enterprise_name="多行\n名称"),  # row 5: one record over two lines
        cells(2),  # row 6
        "",  # row 7: blank line
        ",,,,,,,",  # row 8: empty cells only
        "   ",  # row 9: spaces only
        cells(3, enterprise_name="\n换行在首尾\n"),  # row 10: trimmed
        cells(4, hs_code="842952"),  # row 11
        cells(5),  # row 12
        "", "",  # rows 13, 14: trailing blank lines
    ]
    result, loaded = stream(tmp_path, encoded(records, newline=newline))
    assert found(result) == {(5, "企业名称", "line_break"), (11, "HS编码", "pattern")}
    assert (result.rows_total, result.rows_loaded, result.bad_rows) == (5, 3, 2)
    assert_loaded(loaded, expected((6, cells(2)), (10, cells(3, enterprise_name="换行在首尾")), (12, cells(5))))


# --- through the warehouse ---------------------------------------------------------------
def ingest(tmp_path, data: bytes, settings, name: str = NAME):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    [receipt] = ingest_paths([path], settings)
    return receipt


def raw_rows(conn, file_id) -> dict[int, dict]:
    return {r[0]: dict(zip(COLS, r[1:])) for r in conn.execute(
        f"SELECT row_number, {', '.join(COLS)} FROM raw.trade WHERE file_id = %s", [file_id])}


def test_clerks_habits_load_the_values_meant(warehouse, settings, tmp_path):
    """Title row, reordered columns with untidy headers, an extra column, blank lines, full-width
    digits, thousands separators, quoted numbers, a quoted line break: all as the clerk meant."""
    order = [5, 0, 1, 2, 3, 4, 7, 6]  # 进出口 first, the two amounts swapped
    header = [HEADER[i] for i in order]
    header[1] = " 企业代码 "
    header[6] = "金额\n（人民币元）"
    header.insert(3, "备注")

    def row(values: list[str], note: str = "") -> list[str]:
        out = [values[i] for i in order]
        out.insert(3, note)
        return out

    code = cells(3)[0]
    records = [
        "2025年9月外贸进出口明细",  # row 1
        header,  # row 2
        row(cells(1), "备注文字"),  # row 3
        row(cells(2, amount_usd="1,234.50", amount_cny="8,765")),  # row 4
        row(cells(3, enterprise_code=full_width(code), hs_code="８４２９５２００", amount_usd="１，２３４",
                  enterprise_name="湖南１号公司")),  # row 5
        "",  # row 6
        row(cells(4, amount_usd="1,5")),  # row 7: not 15
        row(cells(5, enterprise_name="\n长沙\n")),  # row 8
        row(cells(6)),  # row 9
    ]
    r = ingest(tmp_path, encoded(records), settings)
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("partial", 5, 1), r.text()
    assert found(r) == {(7, "金额（美元）", "not_a_number"), (2, None, "extra_column")}
    assert next(i for i in r.issues if i.rule == "extra_column").level == "warning"
    assert_loaded(raw_rows(warehouse, r.file_id), expected(
        (3, cells(1)), (4, cells(2, amount_usd="1234.5", amount_cny="8765")),
        (5, cells(3, amount_usd="1234", enterprise_name="湖南１号公司")),
        (8, cells(5, enterprise_name="长沙")), (9, cells(6))))


def test_nul_invalid_utf8_and_a_5mb_name_quarantine_their_rows_and_the_rest_loads(warehouse, tmp_path):
    huge = "企" * (5 * 2**20 // 3 + 1)  # 5 MB of UTF-8
    good = [cells(n) for n in range(5, 25)]  # rows 6..25: enough that three bad rows stay under the share
    records = [HEADER, cells(1), cells(2, enterprise_name="NUL\x00字节"), cells(3, enterprise_name=f"坏{BAD}字节"),
               cells(4, enterprise_name=huge), *good]
    data = encoded(records, "utf-8-sig", bad=b"\xc3\x28")
    r = ingest(tmp_path, data, settings_with(max_csv_line_kb=8192))
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("partial", 21, 3), r.text()
    assert found(r) == {(3, "企业名称", "control_character"), (4, "企业名称", "invalid_encoding"),
                        (5, "企业名称", "too_long")}
    stored = dict(warehouse.execute("SELECT row_number, value FROM audit.rejected_rows WHERE file_id = %s",
                                    [r.file_id]).fetchall())
    assert stored[3] == "NUL\\x00字节" and stored[4] == "坏\\xc3(字节" and stored[5] == "企" * 100 + "…"
    assert_loaded(raw_rows(warehouse, r.file_id), expected((2, cells(1)), *[(n + 1, cells(n)) for n in range(5, 25)]))


def test_the_same_5mb_name_is_a_line_over_the_default_limit(tmp_path):
    records = [HEADER, cells(1), cells(2, enterprise_name="企" * (5 * 2**20 // 3 + 1))]
    exc = rejected(tmp_path, encoded(records))  # default OPENECON_MAX_CSV_LINE_KB = 1024
    assert (exc.issue.rule, exc.issue.row) == ("line_too_long", 3)


def test_gbk_and_utf16_files_load_the_same_values(warehouse, settings, tmp_path):
    records = [HEADER, cells(1, enterprise_name="湖南湘江新区贸易公司"), cells(2), cells(3, enterprise_name=f"坏{BAD}"),
               *[cells(n) for n in range(4, 9)]]
    files = {"gbk": encoded(records, "gbk", bad=b"\xff"),
             "utf-16": b"\xff\xfe" + encoded(records, "utf-16-le", bad=b"\x00\xdc", delimiter="\t")}
    for i, (label, data) in enumerate(files.items()):
        r = ingest(tmp_path / label, data, settings, name=f"trade_{CITY}_20250{i + 1}.csv")
        assert (r.status, r.rows_loaded, found(r)) == ("partial", 7, {(4, "企业名称", "invalid_encoding")}), r.text()
        want = expected((2, cells(1, enterprise_name="湖南湘江新区贸易公司")), (3, cells(2)),
                        *[(n + 1, cells(n)) for n in range(4, 9)])
        assert_loaded(raw_rows(warehouse, r.file_id), want)


def test_a_workbook_named_csv_is_rejected(warehouse, settings, tmp_path):
    book = city_workbook(tmp_path / "book", CITY).read_bytes()
    r = ingest(tmp_path, book, settings)
    assert r.status == "rejected" and r.issues[0].rule == "wrong_content", r.text()
    assert "文件内容是Excel工作簿" in r.text()
    assert warehouse.execute("SELECT count(*) FROM raw.trade").fetchone() == (0,)


def test_a_line_over_the_limit_rejects_the_file_and_names_the_row(warehouse, tmp_path):
    records = ["标题", HEADER, cells(1), cells(2, enterprise_name="多行\n名称"), cells(3, enterprise_name="长" * 3000)]
    r = ingest(tmp_path, encoded(records), settings_with(max_csv_line_kb=8))
    assert r.status == "rejected" and (r.issues[0].rule, r.issues[0].row) == ("line_too_long", 5), r.text()
    assert warehouse.execute("SELECT count(*) FROM raw.trade").fetchone() == (0,)
