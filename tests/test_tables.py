"""Tables: formats by extension, exact CSV text, chunking, types kept, one-line errors."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.table_reader import Reject, TableReader, count_non_text, text_values
from service.table_writer import TableWriter
from service.tables import TableError, table_format


def read_all(path, chunk_rows=2) -> list[pd.DataFrame]:
    with TableReader(path, chunk_rows) as reader:
        return list(reader)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", "csv"), ("a.CSV", "csv"), ("a.jsonl", "jsonl"), ("dir.v2/a.parquet", "parquet")],
)
def test_table_format_by_extension(name, expected):
    assert table_format(name) == expected


@pytest.mark.parametrize("name", ["a.txt", "a.json", "a", "a.csv.gz"])
def test_unknown_extension_is_refused(tmp_path, name):
    (tmp_path / name).write_text("text\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"(not supported|no file extension); use one of \.csv, \.jsonl, \.parquet$"):
        TableReader(tmp_path / name)
    with pytest.raises(TableError, match=r"(not supported|no file extension); use one of \.csv, \.jsonl, \.parquet$"):
        table_format(name)


def test_csv_cells_stay_text_exactly(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,text,n\n007,NA,null\n2,"two\nlines, ""quoted""",\n3,,1.50\n', encoding="utf-8")
    frames = read_all(path)
    assert [len(f) for f in frames] == [2, 1]
    rows = pd.concat(frames).to_dict("records")
    assert rows == [
        {"id": "007", "text": "NA", "n": "null"},
        {"id": "2", "text": 'two\nlines, "quoted"', "n": ""},
        {"id": "3", "text": "", "n": "1.50"},
    ]


def test_csv_round_trip_is_byte_for_byte(tmp_path):
    source = 'id,text,n\n007,NA,null\n2,"two\r\nlines, ""quoted""",\n3,,1.50\n'
    (tmp_path / "in.csv").write_bytes(source.encode("utf-8"))
    with TableWriter(tmp_path / "out.csv") as writer:
        for frame in read_all(tmp_path / "in.csv"):
            writer.write(frame)
    assert (tmp_path / "out.csv").read_bytes().decode("utf-8") == source


@pytest.mark.parametrize("source", ["in.jsonl", "in.csv", "in.parquet"])
def test_a_carriage_return_inside_a_cell_is_quoted_in_a_csv_output(tmp_path, source):
    """Python's csv quotes a field holding a character of the line ending (``\\n``), not a lone ``\\r``: written bare,
    the row was set aside by our reader and cut in two by pandas'."""
    texts = ["a\rb", "plain", "ends in\r", "two\r\nlines"]
    frame = pd.DataFrame({"id": ["007", "008", "009", "010"], "text": texts, "score": [0.5, 1.0, 0.25, 2.0]})
    if source == "in.csv":  # read from a CSV that quotes them, as a CMS's export does
        (tmp_path / source).write_text("id,text,score\n" + "".join(f'{i},"{t}",{s}\n' for i, t, s in
                                                                   frame.itertuples(index=False)), encoding="utf-8")
    elif source == "in.jsonl":
        frame.to_json(tmp_path / source, orient="records", lines=True)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / source)
    with TableWriter(tmp_path / "out.csv") as writer:
        for chunk in read_all(tmp_path / source, chunk_rows=3):
            writer.write(chunk)
    rows, rejects = read_rejects(tmp_path / "out.csv")
    assert not rejects and [row["text"] for row in rows] == texts and [row["id"] for row in rows] == frame["id"].tolist()
    assert pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)["text"].tolist() == texts
    assert "\n008,plain,1.0\n" in (tmp_path / "out.csv").read_text(encoding="utf-8")  # other rows as before


def test_json_values_go_into_csv_cells_as_json(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": 1, "tags": ["x", "y"], "meta": {"k": 1}, "ok": true, "n": null}\n', encoding="utf-8")
    with TableWriter(tmp_path / "out.csv") as writer:
        for frame in read_all(tmp_path / "in.jsonl"):
            writer.write(frame)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == 'id,tags,meta,ok,n\n1,"[""x"", ""y""]","{""k"": 1}",true,\n'


def test_whole_numbers_of_json_go_into_csv_cells_unchanged_when_a_row_lacks_them(tmp_path):
    # Ids of a key some rows lack: pandas re-inferring the column would write 1.0 and round the large one.
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "a"}\n{"text": "b"}\n{"id": 12345678901234567891, "text": "c"}\n',
                                       encoding="utf-8")
    with TableWriter(tmp_path / "out.csv") as writer:
        for frame in read_all(tmp_path / "in.jsonl", chunk_rows=3):
            writer.write(frame)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "id,text\n1,a\n,b\n12345678901234567891,c\n"


def test_parquet_lists_structs_and_bytes_go_into_csv_cells_as_json_and_text(tmp_path):
    table = pa.table({"tags": pa.array([["x", "y"], None], pa.list_(pa.string())),
                      "meta": pa.array([{"k": 1}, None]), "raw": pa.array([b"caf\xc3\xa9", None], pa.binary())})
    pq.write_table(table, tmp_path / "in.parquet")
    with TableWriter(tmp_path / "out.csv") as writer:
        for frame in read_all(tmp_path / "in.parquet"):
            writer.write(frame)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == 'tags,meta,raw\n"[""x"", ""y""]","{""k"": 1}",café\n,,\n'


def test_csv_with_utf8_bom_has_clean_header(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("\ufefftext\ncafé\n".encode())
    with TableReader(path) as reader:
        assert reader.columns == ["text"]
        assert text_values(next(iter(reader)), "text") == ["café"]


def test_header_only_csv_gives_one_empty_frame_with_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n", encoding="utf-8")
    (frame,) = read_all(path)
    assert list(frame.columns) == ["id", "text"] and len(frame) == 0
    with TableWriter(tmp_path / "out.csv") as writer:
        writer.write(frame)
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "id,text\n"


def test_jsonl_keeps_json_types_skips_blank_lines_and_restores_missing_keys(tmp_path):
    path = tmp_path / "in.jsonl"
    rows = [
        {"id": 1, "text": "hello", "meta": {"a": [1, 2]}},
        {"id": 2, "text": None},
        {"id": 3, "extra": True},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + json.dumps(rows[2]) + "\n", encoding="utf-8")
    frames = read_all(path)
    assert sum(len(f) for f in frames) == 3
    assert [text_values(f, "text") for f in frames] == [["hello", ""], [""]]
    with TableWriter(tmp_path / "out.jsonl") as writer:
        for frame in frames:
            writer.write(frame)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_parquet_round_trip_keeps_types_and_nulls(tmp_path):
    table = pa.table(
        {
            "id": pa.array([1, None, 3], pa.int64()),
            "text": pa.array(["a", None, "c"], pa.string()),
            "when": pa.array([1, 2, 3], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    with TableReader(tmp_path / "in.parquet", 2) as reader:
        assert reader.n_rows == 3
        frames = list(reader)
        with TableWriter(tmp_path / "out.parquet") as writer:
            for frame in frames:
                writer.write(frame)
    assert [text_values(f, "text") for f in frames] == [["a", ""], ["c"]]
    back = pq.read_table(tmp_path / "out.parquet")
    assert back.schema == table.schema
    assert back.to_pylist() == table.to_pylist()
    assert pd.read_parquet(tmp_path / "out.parquet").dtypes.equals(pd.read_parquet(tmp_path / "in.parquet").dtypes)


def test_empty_parquet_gives_one_empty_frame_with_columns(tmp_path):
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "in.parquet")
    (frame,) = read_all(tmp_path / "in.parquet")
    assert list(frame.columns) == ["text"] and len(frame) == 0


def test_empty_jsonl_has_no_columns_and_needs_none(tmp_path):
    (tmp_path / "in.jsonl").write_text("", encoding="utf-8")
    with TableReader(tmp_path / "in.jsonl") as reader:
        assert reader.columns is None
        reader.require_columns("text", "id")
        assert [len(f) for f in reader] == [0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("x", "x"), ("", ""), (None, ""), (float("nan"), ""), (pd.NA, ""), (42, ""), ({"a": 1}, ""), (["x"], ""),
     ("caf\u00e9".encode(), "caf\u00e9"), (b"\xff\xfe", "")],
)
def test_text_values_turns_missing_and_non_text_into_empty(value, expected):
    frame = pd.DataFrame({"text": pd.Series([value], dtype=object)})
    assert text_values(frame, "text") == [expected]


def test_count_non_text_counts_values_that_are_neither_text_nor_missing():
    frame = pd.DataFrame({"text": pd.Series(["x", None, 42, float("nan"), {"a": 1}, True, "", b"ok", b"\xff"], dtype=object)})
    assert count_non_text(frame, "text") == 4
    assert count_non_text(frame, "body") == 0


def test_text_values_of_absent_column_is_all_empty():
    assert text_values(pd.DataFrame({"id": [1, 2]}), "text") == ["", ""]


def test_missing_column_names_the_columns_found(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,body\n1,hi\n", encoding="utf-8")
    with TableReader(path) as reader:
        with pytest.raises(TableError, match=r"no column 'text'; columns found: 'id', 'body'$"):
            reader.require_columns("text", None)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id;text;note", r"the header is one column, 'id;text;note': the file looks separated by ';', "
                         r"and a \.csv is read separated by commas; save it with commas"),
        ("id\ttext", r"the header is one column, 'id\\ttext': the file looks separated by '\\t'"),
        ("id,Body", r"no column 'body'; columns found: 'id', 'Body'; did you mean 'Body'\?$"),
        ("id, body", r"no column 'body'; columns found: 'id', ' body'; did you mean ' body'\?$"),
        ("id,bdoy", r"no column 'body'; columns found: 'id', 'bdoy'; did you mean 'bdoy'\?$"),
    ],
)
def test_a_missing_column_says_what_the_header_looks_like(tmp_path, header, message):
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n1\n", encoding="utf-8")
    with TableReader(path) as reader:
        with pytest.raises(TableError, match=message):
            reader.require_columns("body")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.csv", b"", r"the file is empty; a CSV needs a header row"),
        ("in.csv", b"id,t\xe9xt\n1,a\n", r"not UTF-8 text: byte 0xe9 .*\(line 1\).*re-encode"),
        ("in.parquet", b"id,text\n", r"not a readable Parquet file"),
        ("in.csv", b"id,text\r1,a\r2,b\r", r"not a readable CSV header: a carriage return \(\\r\) inside a field that is "
                                          r"not quoted: .*lines end in \\r alone .*`tr '\\r' '\\n' < IN > OUT`$"),
        ("in.csv", "id,text\n1,a\n".encode("utf-16"), r"the file is UTF-16 text; re-encode it as UTF-8, e.g. "
                                                       r"`iconv -f utf-16 -t utf-8 IN > OUT`$"),
        ("in.jsonl", '{"text": "a"}\n'.encode("utf-16"), r"the file is UTF-16 text; re-encode it as UTF-8"),
        # Without a byte-order mark (a database's UTF-16 export): a NUL byte beside each character of the text.
        ("in.csv", "id,text\n1,a\n".encode("utf-16-le"), r"the file is UTF-16 text \(without a byte-order mark\); "
                                                          r"re-encode it as UTF-8, e.g. `iconv -f utf-16le -t utf-8"),
        ("in.jsonl", '{"text": "a"}\n'.encode("utf-16-be"), r"UTF-16 text .*`iconv -f utf-16be -t utf-8 IN > OUT`$"),
        ("in.csv", b"id,text,,\n1,a,,\n", r"the header has 2 columns without a name \(blank header cells, often commas "
                                         r"at the ends of the lines\); name those columns or remove them$"),
    ],
)
def test_unreadable_tables_raise_one_line_table_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TableError, match=message) as caught:
        read_all(path)
    assert "\n" not in str(caught.value)


def _parquet_bytes(tmp_path) -> bytes:
    pq.write_table(pa.table({"id": [1], "text": ["a"]}), tmp_path / "real.parquet")
    return (tmp_path / "real.parquet").read_bytes()


def _zip_bytes(tmp_path) -> bytes:
    import zipfile

    with zipfile.ZipFile(tmp_path / "book.xlsx", "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    return (tmp_path / "book.xlsx").read_bytes()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.csv", lambda _: gzip.compress(b"id,text\n1,a\n"),
         r"the file is gzip-compressed, not CSV text; decompress it first, e.g. `gunzip -c IN > OUT`$"),
        ("in.jsonl", lambda _: gzip.compress(b'{"text": "a"}\n'),
         r"the file is gzip-compressed, not JSON Lines text; decompress it first"),
        ("in.jsonl", lambda _: bz2.compress(b'{"text": "a"}\n'), r"bzip2-compressed"),
        ("in.csv", lambda _: lzma.compress(b"id,text\n1,a\n"), r"xz-compressed"),
        ("in.csv", _parquet_bytes, r"the file is a Parquet file, not CSV text; name it \.parquet$"),
        ("in.csv", _zip_bytes, r"a ZIP archive \(an Excel \.xlsx .*save the sheet from the spreadsheet as CSV UTF-8$"),
        ("in.csv", lambda _: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), r"an Excel 97-2003 workbook"),
    ],
)
def test_a_compressed_file_a_workbook_or_parquet_named_csv_or_jsonl_is_refused_saying_what_it_is(tmp_path, name, content,
                                                                                                 message):
    path = tmp_path / name
    path.write_bytes(content(tmp_path))
    with pytest.raises(TableError, match=message) as caught:
        read_all(path)
    assert "\n" not in str(caught.value)


ARRAY = [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}]


@pytest.mark.parametrize(("content", "opening"), [
    (json.dumps(ARRAY).encode(), "["),
    (json.dumps(ARRAY, indent=2).encode(), "["),
    (b"\xef\xbb\xbf" + json.dumps({"comments": ARRAY}, indent=2).encode(), "{"),
])
def test_a_json_document_named_jsonl_is_refused_saying_how_to_convert_it(tmp_path, content, opening):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    with pytest.raises(TableError, match=rf"the file is one JSON document \(it opens with '\{opening}'\), not JSON Lines, "
                                         r"one comment object per line; convert it, e.g. .*`jq -c '\.\[\]' IN > OUT\.jsonl`$"):
        read_all(path)


@pytest.mark.parametrize("header", ["BZh,text", "PAR1,text"])
def test_a_header_that_starts_like_a_binary_signature_is_read(tmp_path, header):
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n1,a\n", encoding="utf-8")
    assert read_all(path)[0]["text"].tolist() == ["a"]


def read_rejects(path, chunk_rows=2) -> tuple[list[dict], list[Reject]]:
    with TableReader(path, chunk_rows) as reader:
        chunks = list(reader.chunks())
    rows = [row for frame, _ in chunks for row in frame.to_dict("records")]
    return rows, [reject for _, rejects in chunks for reject in rejects]


@pytest.mark.parametrize(
    ("name", "content", "line", "message", "good"),
    [
        ("in.csv", b"id,text\n1,caf\xe9\n2,ok\n", 2, r"not UTF-8 text: byte 0xe9 .*re-encode", ["2"]),
        ("in.csv", b"id,text\n1,a\n2,b,c\n3,\"two\nlines\"\n", 3, r"expected 2 fields as in the header, found 3", ["1", "3"]),
        # A quote never closed would swallow every row after it: only its line is set aside.
        ("in.csv", b"id,text\n1,a\n2,\"never closed\n3,c\n4,d\n", 3, r"unexpected end of data \(read as one record over "
         r"lines 3-5.*only this line is set aside", ["1", "3", "4"]),
        ("in.csv", b"id,text\n1,a\n2,\"She said \"\"hi\n3,c\n4,\"quoted, fine\"\n5,e\n", 3,
         r"',' expected after '\"' \(read as one record over lines 3-5", ["1", "3", "4", "5"]),
        ("in.csv", b"id,text\n1,a\n2,b\rc\n3,d\n", 3, r"a carriage return \(\\r\) inside a field that is not quoted: "
         r"quote that field", ["1", "3"]),
        ("in.jsonl", b'{"id": "1"}\n\n{"text": \n{"id": "3"}\n', 3, r"not valid JSON: Expecting value at the end of the line$",
         ["1", "3"]),
        ("in.jsonl", b'{"id": "1"}\n{"text": "cut\tshort\n', 2, r"not valid JSON: Invalid control character at column 14$",
         ["1"]),
        ("in.jsonl", b'{"id": "1"}\n["text"]\n', 2, r"not a JSON object", ["1"]),
        ("in.jsonl", b'{"id": "1"}\n{"text": "a\\ud800b"}\n', 2, r"unpaired surrogate escape", ["1"]),
        ("in.jsonl", b'{"id": "1"}\n{"text": "caf\xe9"}\n', 2, r"not UTF-8 text: byte 0xe9", ["1"]),
    ],
)
def test_unparseable_rows_are_set_aside_with_their_line_number(tmp_path, name, content, line, message, good):
    path = tmp_path / name
    path.write_bytes(content)
    rows, rejects = read_rejects(path)
    assert [row["id"] for row in rows] == good
    (reject,) = rejects
    assert reject.line == line and re.search(message, reject.error), reject
    assert reject.raw.encode("utf-8", errors="replace") in content.replace(b"\xe9", "\ufffd".encode())


def test_the_re_encoding_hint_reads_a_file_saved_on_windows_as_it_was_written(tmp_path):
    path = tmp_path / "in.csv"
    written = "id,text\n1,\u201cquoted\u201d \u2013 5 \u20ac\n"  # curly quotes, a dash and the euro sign
    path.write_bytes(written.encode("windows-1252"))
    _, (reject,) = read_rejects(path)
    encoding = re.search(r"`iconv -f (\S+) -t utf-8 IN > OUT`", reject.error)[1]
    assert path.read_bytes().decode(encoding) == written


def test_a_csv_field_longer_than_pythons_default_limit_is_read(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1," + "a" * 200_000 + "\n2,b\n", encoding="utf-8")
    rows, rejects = read_rejects(path)
    assert [len(row["text"]) for row in rows] == [200_000, 1] and not rejects


@pytest.mark.parametrize("name", ["in.csv", "in.parquet"])
def test_a_column_name_used_twice_is_refused(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("id,id,text\n1,2,x\n", encoding="utf-8")
    else:
        pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array(["x"])], names=["id", "id", "text"]), path)
    with pytest.raises(TableError, match=r"'id' .*more than once.*rename"):
        read_all(path)


def test_chunks_count_rejected_rows_so_they_fall_in_the_same_places(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\nnot json\n{"id": 3}\n{"id": 4}\n{"id": 5}\n', encoding="utf-8")
    with TableReader(path, 2) as reader:
        chunks = [(frame["id"].tolist(), [r.line for r in rejects]) for frame, rejects in reader.chunks()]
    assert chunks == [([1], [2]), ([3, 4], []), ([5], [])]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 10])
@pytest.mark.parametrize("name", ["in.csv", "in.jsonl"])
def test_chunk_ranges_read_back_the_same_chunks(tmp_path, name, chunk_rows):
    frame = pd.DataFrame({"id": [str(i) for i in range(7)],
                          "text": ["a", "two\nlines", "", "x,y", 'say "hi"', "\u00e9t\u00e9", "z"]})
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    whole = read_all(path, chunk_rows)
    with TableReader(path, chunk_rows) as reader:
        ranges, columns = reader.chunk_ranges(), reader.columns
    assert len(ranges) == len(whole)
    for chunk_range, expected in zip(ranges, whole):
        (part,) = read_range(path, chunk_rows, chunk_range, columns)
        pd.testing.assert_frame_equal(part.reset_index(drop=True), expected.reset_index(drop=True))


@pytest.mark.parametrize("chunk_rows", [1, 2, 3])
def test_chunk_ranges_agree_after_a_quote_left_open(tmp_path, chunk_rows):
    path = tmp_path / "in.csv"
    path.write_bytes(b'id,text\n1,a\n2,b\n3,"She said ""hi\n4,row four\n5,"quoted, ok"\n6,six\n')

    def summary(reader):
        return [(frame["id"].tolist(), [reject.line for reject in rejects]) for frame, rejects in reader.chunks()]

    with TableReader(path, chunk_rows) as reader:
        whole = summary(reader)
    with TableReader(path, chunk_rows) as reader:
        ranges, columns = reader.chunk_ranges(), reader.columns
    parts = []
    for chunk_range in ranges:
        with TableReader(path, chunk_rows, chunk_range=chunk_range, columns=columns) as reader:
            parts += summary(reader)
    assert parts == whole
    assert sorted(i for ids, _ in whole for i in ids) == ["1", "2", "4", "5", "6"]


def read_range(path, chunk_rows, chunk_range, columns):
    with TableReader(path, chunk_rows, chunk_range=chunk_range, columns=columns if str(path).endswith(".csv") else None) as reader:
        return list(reader)


def test_encoding_error_after_the_first_chunk_is_one_reject(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"text\n" + b"fine\n" * 50_000 + b"caf\xe9\n")
    rows, rejects = read_rejects(path, chunk_rows=1_000)
    assert len(rows) == 50_000 and [r.line for r in rejects] == [50_002]


@pytest.mark.parametrize("name", ["missing.csv", "missing.parquet"])
def test_missing_file(tmp_path, name):
    with pytest.raises(TableError, match="no such file"):
        TableReader(tmp_path / name)


def test_writer_refuses_missing_directory(tmp_path):
    with pytest.raises(TableError, match="does not exist"):
        TableWriter(tmp_path / "nowhere" / "out.csv")


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl", "out.parquet"])
def test_writer_leaves_nothing_behind_on_failure(tmp_path, name):
    with pytest.raises(RuntimeError):
        with TableWriter(tmp_path / name) as writer:
            writer.write(pd.DataFrame({"text": ["a"]}))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_csv_columns_that_appear_late(tmp_path):
    with pytest.raises(TableError, match=r"column 'b' first appears after row 1; write \.jsonl"):
        with TableWriter(tmp_path / "out.csv") as writer:
            writer.write(pd.DataFrame({"a": [1]}))
            writer.write(pd.DataFrame({"a": [2], "b": [3]}))
    assert not (tmp_path / "out.csv").exists()


def test_jsonl_to_parquet_with_clashing_types_is_a_table_error(tmp_path):
    with pytest.raises(TableError, match=r"cannot write Parquet: .*write \.csv or \.jsonl instead"):
        with TableWriter(tmp_path / "out.parquet") as writer:
            writer.write(pd.DataFrame({"a": pd.Series([1, "x"], dtype=object)}))


def test_jsonl_escaped_surrogate_pairs_are_fine(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "smile \\ud83d\\ude00"}\n', encoding="utf-8")
    (frame,) = read_all(path)
    assert text_values(frame, "text") == ["smile \U0001f600"]


FORMULAS = ['=HYPERLINK("http://x.example","details")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tindented",
            "\rreturn"]
NOT_FORMULAS = ["-5", "+1234", "-1.5e3", "a = b", "café", "", "'quoted"]


@pytest.mark.parametrize("chunks", [1, 3])
def test_a_spreadsheet_safe_csv_marks_formulas_as_text_and_starts_with_a_byte_order_mark(tmp_path, chunks):
    import csv

    texts = FORMULAS + NOT_FORMULAS
    frame = pd.DataFrame({"id": list(range(-len(texts), 0)), "text": texts, "author": ["=1+1"] * len(texts)})
    with TableWriter(tmp_path / "out.csv", spreadsheet_safe=True) as writer:
        for part in [frame.iloc[i::chunks] for i in range(chunks)]:
            writer.write(part)
    data = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert data.startswith("\ufeffid,text,author\n") and data.count("\ufeff") == 1
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    written = {int(row["id"]): row for row in rows}
    for position, text in enumerate(texts):
        row = written[position - len(texts)]
        assert row["text"] == ("'" + text if text in FORMULAS else text)
        assert row["author"] == "'=1+1"


def test_a_csv_keeps_formulas_exactly_unless_asked_and_only_a_csv_can_be_spreadsheet_safe(tmp_path):
    frame = pd.DataFrame({"text": FORMULAS + NOT_FORMULAS})
    with TableWriter(tmp_path / "out.csv") as writer:
        writer.write(frame)
    assert pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)["text"].tolist() == frame["text"].tolist()
    with pytest.raises(TableError, match=r"spreadsheet-safe cells are for a \.csv output"):
        TableWriter(tmp_path / "out.jsonl", spreadsheet_safe=True)
