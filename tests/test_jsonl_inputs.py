"""JSONL inputs read as their writer meant them: compressed files cut short say so, a byte-order mark costs no
document, ids are strings or integers, and a lone surrogate is one U+FFFD. Each case lost or changed documents
without a word before (found by an audit that fed `winnow curate` careless files)."""
from __future__ import annotations

import glob
import gzip
import json
import zlib

import pyarrow.parquet as pq
import pytest
import zstandard

from pipelines.ingest.inputs import REPLACED_INVALID_UTF8, InputFile
from pipelines.ingest.readers import read_input_file, read_jsonl, valid_utf8
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe


def _lines(n):
    return "".join(json.dumps({"id": f"d{i}", "text": f"line {i} " + "word " * 20}) + "\n" for i in range(n)).encode()


def _outcomes(path):
    kept = [v for s, v in read_jsonl(str(path)) if s == "kept"]
    errors = [v for s, v in read_jsonl(str(path)) if s == "error"]
    return kept, errors


@pytest.mark.parametrize("cut", ["half", "ten_bytes"])
def test_a_zstd_file_cut_short_keeps_its_whole_lines_and_says_it_was_cut(tmp_path, cut):
    data = _lines(2000)
    packed = zstandard.ZstdCompressor().compress(data)
    path = tmp_path / "in.jsonl.zst"
    path.write_bytes(packed[:len(packed) // 2] if cut == "half" else packed[:-10])
    kept, errors = _outcomes(path)
    # before: 0 documents and no error for the half file; no word of the cut for the other
    assert len(errors) == 1 and "TruncatedStream" in errors[0]["error"] and "cut short" in errors[0]["error"]
    assert [r["id"] for r in kept] == [f"d{i}" for i in range(len(kept))]
    if cut == "ten_bytes":
        assert len(kept) > 1000
    assert errors[0]["input_offset"] >= len(kept)


def test_a_gzip_file_cut_on_a_line_boundary_says_it_was_cut(tmp_path):
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = _lines(100).split(b"\n")
    out = b""
    for i, line in enumerate(data[:100]):
        out += comp.compress(line + b"\n")
        if i == 49:
            out += comp.flush(zlib.Z_SYNC_FLUSH)
            cut = len(out)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(out[:cut])
    kept, errors = _outcomes(path)
    assert len(kept) == 50  # before: 50 documents and no error row at all
    assert len(errors) == 1 and "gzip stream ends inside a member: the file is cut short" in errors[0]["error"], errors


def test_whole_multi_frame_and_multi_member_files_read_without_error(tmp_path):
    a, b = _lines(30), _lines(20).replace(b'"d', b'"e')
    zst = tmp_path / "two.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(a) + zstandard.ZstdCompressor().compress(b))
    gz = tmp_path / "two.jsonl.gz"
    gz.write_bytes(gzip.compress(a) + gzip.compress(b))
    empty = tmp_path / "empty.jsonl.zst"
    empty.write_bytes(b"")
    for path, n in ((zst, 50), (gz, 50), (empty, 0)):
        kept, errors = _outcomes(path)
        assert (len(kept), errors) == (n, []), (path, errors)


def test_a_zstd_bomb_is_read_a_bounded_step_at_a_time(tmp_path):
    # 256 MiB of one repeated line, a few KB compressed: the reader never holds it whole (lines over the
    # 64 MiB cap are counted, not held); one error row for the over-long line, nothing else
    path = tmp_path / "bomb.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=19).compress(b"x" * (256 << 20)))
    import tracemalloc

    tracemalloc.start()
    try:
        outcomes = list(read_jsonl(str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [s for s, _ in outcomes] == ["error"] and "longer than" in outcomes[0][1]["error"]
    assert peak < 160 << 20, peak


def test_a_byte_order_mark_costs_no_document(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id":"a","text":"first"}\n{"id":"b","text":"second"}\n')
    kept, errors = _outcomes(path)
    assert (errors, [r["text"] for r in kept]) == ([], ["first", "second"])  # before: `first` was an error row


@pytest.mark.parametrize("value, kind", [(True, "boolean"), (1.0, "number"), ({"a": 1}, "object"), ([1], "array")])
def test_an_id_that_is_no_string_or_integer_is_an_error_row(tmp_path, value, kind):
    path = tmp_path / "ids.jsonl"
    path.write_text(json.dumps({"id": value, "text": "odd id"}) + "\n" + json.dumps({"id": 7, "text": "int id"}) + "\n")
    kept, errors = _outcomes(path)
    assert [r["id"] for r in kept] == ["7"]  # before: "True", "1.0", "{'a': 1}", "[1]" were ids
    assert len(errors) == 1 and f"is a JSON {kind}" in errors[0]["error"] and errors[0]["input_offset"] == 0


def test_a_lone_surrogate_is_one_replacement_character(tmp_path):
    assert valid_utf8("lone \ud800 and \udfff end") == "lone \ufffd and \ufffd end"  # before: three each
    assert valid_utf8("fine \U0001F600") == "fine \U0001F600"
    path = tmp_path / "sur.jsonl"
    path.write_text('{"id": "s", "text": "lone \\ud800 surrogate"}\n')
    [warned, (status, record)] = list(read_input_file(InputFile("jsonl", str(path))))
    assert (status, record["text"]) == ("kept", "lone \ufffd surrogate")
    assert warned == ("warned", REPLACED_INVALID_UTF8)


def test_replaced_bytes_are_counted_and_reported_not_silent(tmp_path):
    """Bytes that are not UTF-8 (a Latin-1 file) and lone surrogate escapes become U+FFFD; the documents are
    kept, and report.json counts them as a warning of stage read (before: nothing said a character was lost)."""
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "l", "text": "caf\xe9 cr\xe8me"}\n{"id": "s", "text": "a \\ud800 b"}\n'
                     b'{"id": "ok", "text": "caf\xc3\xa9 and \xef\xbf\xbd as written"}\n')
    outcomes = list(read_jsonl(str(path)))
    assert [s for s, _ in outcomes] == ["warned", "kept", "warned", "kept", "kept"]  # a U+FFFD in the file: no warning
    report = run_curate([str(path)], str(tmp_path / "out"), parse_recipe({"url": {}}))
    read = report.stage("read")
    assert (read.in_, read.kept) == (3, 3) and read.balanced
    stages = json.loads((tmp_path / "out" / "report.json").read_text())["stages"]
    assert [s.get("warnings") for s in stages if s["name"] == "read"] == [{REPLACED_INVALID_UTF8: 2}]


def test_a_null_text_is_a_rejected_row_and_an_error_row_names_its_id(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "n", "text": null, "url": "http://a.test/"}\n{"id": "m"}\n{"id": "k", "text": "ok"}\n'
                    '[1, 2]\n')
    outcomes = list(read_jsonl(str(path)))
    assert [s for s, _ in outcomes] == ["rejected", "error", "kept", "error"]
    rejected = outcomes[0][1]  # before: an error row "field 'text' is NoneType" with no id; Parquet's null was
    assert (rejected["id"], rejected["stage"], rejected["reason"], rejected["url"], rejected["input_offset"]) == (
        "n", "read", "empty", "http://a.test/", 0)  # a count with no row: the two inputs now agree
    assert outcomes[1][1]["id"] == "m" and "no 'text' field" in outcomes[1][1]["error"]
    assert outcomes[3][1]["id"] is None  # no object, no id


@pytest.mark.slow  # ~4 s: one curate run
def test_curate_of_a_cut_zstd_file_balances_and_names_the_cut(tmp_path):
    packed = zstandard.ZstdCompressor().compress(_lines(2000))
    src = tmp_path / "in.jsonl.zst"
    src.write_bytes(packed[:-10])
    out = tmp_path / "out"
    report = run_curate([str(src)], str(out), parse_recipe({"dedup_exact": {}}))
    read = report.stage("read")
    assert all(s.balanced for s in report.stages) and read.errors == 1 and read.kept > 1000
    errors = [r for f in glob.glob(str(out / "errors" / "*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(errors) == 1 and "cut short" in errors[0]["error"]


def test_documents_readers_of_stats_and_tokenizer_train_read_a_bom_and_refuse_a_cut_file(tmp_path):
    from schemas.errors import WinnowError
    from schemas.io import iter_documents

    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"id":"a","text":"first"}\n{"id":"b","text":"second"}\n')
    assert [d["text"] for d in iter_documents(str(bom))] == ["first", "second"]  # before: a JSON error
    packed = zstandard.ZstdCompressor().compress(_lines(2000))
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(WinnowError, match="cut.jsonl.zst: .*cut short"):  # before: 0 documents, no word
        list(iter_documents(str(cut)))
    whole = tmp_path / "whole.jsonl.gz"
    whole.write_bytes(gzip.compress(_lines(40)))
    assert len(list(iter_documents(str(whole)))) == 40


def test_documents_reader_replaces_lone_surrogates_and_names_a_broken_line(tmp_path):
    """tokenizer train/eval and stats read JSONL through schemas.io.iter_documents: a lone surrogate failed
    `tokenizer train` ("surrogates not allowed", no file) and crashed `tokenizer eval`; a broken line said only
    "Invalid control character at: line 1 column 30" (json's count within the line, and no file)."""
    from schemas.errors import WinnowError
    from schemas.io import iter_documents

    surrogate = tmp_path / "surr.jsonl"
    surrogate.write_text('{"id": "s1", "text": "hello a\\ud800b world"}\n{"id": "s2", "text": "plain"}\n')
    assert [d["text"] for d in iter_documents(str(surrogate))] == ["hello a\ufffdb world", "plain"]
    latin1 = tmp_path / "latin1.jsonl"  # a UnicodeDecodeError naming no file before; curate reads it so
    latin1.write_bytes(b'{"id": "l", "text": "caf\xe9 au lait"}\n')
    assert [d["text"] for d in iter_documents(str(latin1))] == ["caf\ufffd au lait"]
    assert [r["text"] for s, r in read_jsonl(str(latin1)) if s == "kept"] == ["caf\ufffd au lait"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps({"id": str(i), "text": "t"}) + "\n" for i in range(50))
                      + '{"id": "broken", "text": "abc\n' + json.dumps({"id": "z", "text": "t"}) + "\n")
    with pytest.raises(WinnowError, match=r"broken.jsonl: line 51 is not JSON"):
        list(iter_documents(str(broken)))
