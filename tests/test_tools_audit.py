"""`winnow stats`, `winnow inspect` and lineage on hostile, damaged and hand-made inputs (the stats/inspect
audit): terminal escapes printed raw, an out-of-vocabulary id sizing the token counts, per-source histograms
costing O(rows x sources), NaN in `--json`, tracebacks on damaged shards and tables, a missing source named
three ways, rows verify refuses counted as "ok", and `inspect` re-reading rejected/ once per reason. Every
input is a real Parquet (or JSONL) file written here and every command a real `winnow` call."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clirun import last_error_line, winnow
from schemas import MANIFEST_NAME, Report, StageCounts
from schemas.shard_files import build_manifest, encode_shard, shard_info, shard_name, shard_table

ESC = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mRED"
HOSTILE = ESC + " \x9b31m \u202eevil\u202c \x7f\x08"
# what must never reach a terminal raw: C0 (but newline), DEL, C1, bidi overrides and isolates
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as JSON.parse does."""
    def refuse(name):
        raise ValueError(f"non-JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def _curate_like(root: Path, documents: dict, rejected: dict = None, errors: dict = None,
                 report: Report = None, row_group_size: int = None) -> Path:
    """A directory shaped like a curate output, from column dicts."""
    for table, columns in (("documents", documents), ("rejected", rejected), ("errors", errors)):
        if columns is not None:
            (root / table).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(columns), root / table / "part-0.parquet", row_group_size=row_group_size)
    if report is not None:
        (root / "report.json").write_text(json.dumps(report.to_json()))
    return root


def _shards(root: Path, *, dtype: str = "uint16", vocab: int = 100, damage: str = None, rows: int = 4,
            pad_fraction: float = None) -> Path:
    """Two Parquet shards of `rows` rows (seq_len 7; each row two documents of 3 and 2 tokens, each ending in
    <|endoftext|>, then padding),
    doc_ids d<row>a/b, and their manifest; `damage` changes shard 1 the way a hand edit or a bug would."""
    root.mkdir(parents=True)
    row_len, pad = 8, 1
    infos = []
    for s in range(2):
        tok = np.full((rows, row_len), pad, dtype=dtype)
        tok[:, :5] = [2, 3, 0, 5, 0]  # each document ends in <|endoftext|> (id 0), as tokenize writes them
        lens = [[3, 2] for _ in range(rows)]
        ids = [[f"d{s * rows + r}a", f"d{s * rows + r}b"] for r in range(rows)]
        if s == 1 and damage == "bigid":
            tok[1, 0] = 5_000_000
        if s == 1 and damage == "oov16":
            tok[1, 0] = 500
        if s == 1 and damage == "negseg":
            lens[0] = [7, -2]
        if s == 1 and damage == "tail":
            tok[2, 6] = 3  # a token after the documents end
        table = shard_table(tok, lens, 7, dtype, ids)
        if s == 1 and damage in ("idextra", "idfewer"):
            col = pa.array([x + ["extra"] if damage == "idextra" else x[:1] for x in ids],
                           type=table.schema.field("doc_ids").type)
            table = table.set_column(2, table.schema.field("doc_ids"), col)
        if s == 1 and damage == "nolengths":
            table = table.drop_columns(["doc_lengths"])
        data = encode_shard(table, "parquet", row_group_rows=2)
        name = shard_name(s, 2, "parquet")
        (root / name).write_bytes(data)
        infos.append(shard_info(name, data, rows, row_len))
    n = 2 * rows
    manifest = build_manifest(infos, (n, n * row_len, n * 3, 0), [("web", (2 * n, n * 5))], seq_len=7, dtype=dtype,
                              tokenizer={"sha256": "0" * 64, "vocab_size": vocab,
                                         "special_ids": {"<|endoftext|>": 0, "<|pad|>": pad}},
                              packing="best-fit", file_format="parquet", seed=0, with_doc_ids=True, versions={})
    doc = manifest.to_json()
    if pad_fraction is not None:
        doc["packing"]["pad_fraction"] = pad_fraction
    (root / MANIFEST_NAME).write_text(json.dumps(doc))  # json writes NaN as the bare token, as a hand edit might
    return root


# 1. terminal escapes ----------------------------------------------------------------------------------------

def test_inspect_and_stats_escape_control_and_bidi_characters(tmp_path, capsys):
    """ESC, BEL, C1 CSI, DEL, BS and U+202E in a document's text, id, source and url, a rejected row and an
    error row reached the terminal raw (clear screen, retitle, reorder): now shown as \\xNN / \\uNNNN escapes."""
    out = _curate_like(
        tmp_path / "hostile",
        documents={"id": ["id" + ESC, "plain"], "source": ["web" + ESC, "web"], "language": ["en", "en"],
                   "url": ["http://evil\x1b[2J.example/x", "http://ok.example/"], "text": ["text " + HOSTILE, "fine"]},
        rejected={"id": ["rej" + ESC], "source": ["web"], "url": ["http://x/" + ESC], "text": ["rejected " + HOSTILE],
                  "stage": ["quality" + ESC], "reason": ["too\u202eshort"]},
        errors={"id": ["err"], "stage": ["extract" + ESC], "error": ["boom " + ESC], "input_path": ["/in/" + ESC],
                "input_offset": [7]})
    code, text, err = winnow(capsys, "inspect", out, "-n", "10")
    assert code == 0, err
    assert not RAW_CONTROL.search(text), repr(RAW_CONTROL.search(text))
    for shown in ("\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07", "\\x9b31m", "\\u202eevil\\u202c", "\\x7f\\x08", "too\\u202eshort",
                  "extract\\x1b[2J", "/in/\\x1b[2J"):
        assert shown in text, (shown, text)
    code, text, err = winnow(capsys, "inspect", out, "--doc-id", "id" + ESC)
    assert code == 0 and not RAW_CONTROL.search(text) and "web\\x1b[2J" in text, text
    code, text, err = winnow(capsys, "stats", out, "--no-progress")
    assert code == 0 and not RAW_CONTROL.search(text), repr(text)
    assert "web\\x1b[2J" in text and "evil\\x1b[2j.example" in text
    code, text, err = winnow(capsys, "stats", out, "--json", "--no-progress")
    assert "web" + ESC in _strict_json(text)["by_source"]  # JSON keeps the value (escaped by json itself)


def test_snippet_of_one_long_word_shows_its_start(tmp_path, capsys):
    out = _curate_like(tmp_path / "long", documents={"id": ["w"], "source": ["web"], "text": ["x" * 200_000]})
    code, text, _ = winnow(capsys, "inspect", out, "--width", "40")
    assert code == 0 and "\n  " + "x" * 30 in text  # textwrap.shorten printed only "..."
    with pytest.raises(SystemExit):  # argparse's usage error: a negative width cut messages from their end
        winnow(capsys, "inspect", out, "--width", "-50")
    assert "argument --width: -50 is not at least 1" in capsys.readouterr().err


# 2. and 7. token ids and rows that verify refuses -------------------------------------------------------------

def test_out_of_vocabulary_id_is_a_manifest_check_and_sizes_no_array(tmp_path, capsys, monkeypatch):
    """One id of 5,000,000 in a 70,000 vocabulary grew the token counts to 5M entries (a 2**32-1 id: 32 GiB)
    and said "manifest checks: ok"; now only ids below vocab_size are counted and the id is reported."""
    shards = _shards(tmp_path / "bigid", dtype="uint32", vocab=70_000, damage="bigid")
    bincount = np.bincount
    sizes = []

    def bounded_bincount(x, *args, **kwargs):
        result = bincount(x, *args, **kwargs)
        sizes.append(result.size)
        assert result.size <= 70_000, f"an array of {result.size} counts, sized from the data"
        return result

    monkeypatch.setattr(np, "bincount", bounded_bincount)
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress")
    monkeypatch.undo()
    stats = _strict_json(text)
    assert code == 1 and sizes
    assert stats["manifest_checks"] == [
        "shard-00001-of-00002.parquet: row 1 has token id 5000000 >= vocab_size 70000 of the manifest's tokenizer "
        "(`winnow train` would fail on it); re-run `winnow tokenize` with the tokenizer the manifest names"], stats
    assert all(t["id"] < 70_000 for t in stats["top_tokens"])
    assert "token id 5000000 >= vocab_size 70000" in err


def test_rows_verify_refuses_are_manifest_checks(tmp_path, capsys):
    """An id a uint16 shard can hold but the vocabulary cannot, a negative doc_length and a token after the
    documents end: `winnow verify` refuses each, stats said "ok" (and counted -2 into a histogram bucket)."""
    cases = {"oov16": "row 1 has token id 500 >= vocab_size 100",
             "negseg": "row 0 has doc_lengths [7, -2] (need positive lengths summing to at most 8)",
             "tail": "row 2 has non-pad tokens after its documents end at 5"}
    for damage, problem in cases.items():
        code, text, err = winnow(capsys, "stats", _shards(tmp_path / damage, damage=damage), "--json", "--no-progress")
        checks = _strict_json(text)["manifest_checks"]
        assert code == 1 and len(checks) == 1 and checks[0].startswith(f"shard-00001-of-00002.parquet: {problem}"), \
            (damage, checks)
        assert f"manifest checks failed (1): shard-00001-of-00002.parquet: {problem}" in err
    code, text, _ = winnow(capsys, "stats", _shards(tmp_path / "fine"), "--json", "--no-progress")
    assert code == 0 and _strict_json(text)["manifest_checks"] == ["ok"]


# 3. per-source histograms ------------------------------------------------------------------------------------

def test_per_source_histograms_are_exact_without_a_reservoir_each_and_capped(tmp_path, capsys, monkeypatch):
    """Each source kept its own 100k-value reservoir and masked every row group once per source: 40k
    sources took 34 s. The histograms now come from one group_by per row group, exact, for at most
    MAX_SOURCE_HISTOGRAMS sources (flagged past it)."""
    from pipelines.tools import stats as stats_module

    rng = np.random.default_rng(3)
    n = 3000
    lengths = rng.integers(0, 5000, n)
    sources = [f"s{i % 7}" for i in range(n)]
    out = _curate_like(tmp_path / "docs", documents={"id": [str(i) for i in range(n)], "source": sources,
                                                     "text": ["y" * int(k) for k in lengths]}, row_group_size=500)
    reservoirs = []
    original = stats_module.Reservoir.__init__

    def counted(self, *args, **kwargs):
        reservoirs.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(stats_module.Reservoir, "__init__", counted)
    code, text, err = winnow(capsys, "stats", out, "--json", "--no-progress")
    stats = _strict_json(text)
    assert code == 0 and len(reservoirs) == 1, len(reservoirs)  # the overall lengths only
    assert "length_histogram_chars_by_source_capped" not in stats
    for source in sorted(set(sources)):
        values = np.array([k for k, s in zip(lengths, sources) if s == source])
        buckets = np.bincount(np.frexp(values.astype(float))[1], minlength=64)
        nz = np.nonzero(buckets)[0]
        want = [{"min": 0 if b == 0 else 1 << (b - 1), "max": 0 if b == 0 else (1 << b) - 1, "count": int(buckets[b])}
                for b in range(nz[0], nz[-1] + 1)]
        assert stats["length_histogram_chars_by_source"][source] == want, source
    monkeypatch.setattr(stats_module, "MAX_SOURCE_HISTOGRAMS", 3)
    code, text, err = winnow(capsys, "stats", out, "--json", "--no-progress")
    capped = _strict_json(text)
    assert capped["length_histogram_chars_by_source_capped"] == 3
    assert len(capped["length_histogram_chars_by_source"]) == 3
    assert sum(v["documents"] for v in capped["by_source"].values()) == n  # the counts stay complete
    for source, hist in capped["length_histogram_chars_by_source"].items():
        assert hist == stats["length_histogram_chars_by_source"][source]


# 4. strict JSON ---------------------------------------------------------------------------------------------

def test_json_and_html_hold_no_nan(tmp_path, capsys):
    shards = _shards(tmp_path / "nanpad", pad_fraction=float("nan"))
    html = tmp_path / "nanpad.html"
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress", "--html", html)
    stats = _strict_json(text)  # "pad_fraction": NaN before
    assert stats["packing"]["pad_fraction"] is None and code == 1
    assert any("pad_fraction" in c for c in stats["manifest_checks"])
    page = html.read_text(encoding="utf-8")
    data = re.search(r'<script type="application/json" id="winnow-stats">(.*?)</script>', page, re.S).group(1)
    assert _strict_json(data)["packing"]["pad_fraction"] is None

    report = Report(stages=[StageCounts(name="read", in_=1, kept=1, seconds=float("nan"))], inputs=[], recipe={},
                    versions={}, outputs={"documents": 1})
    out = _curate_like(tmp_path / "nanreport", documents={"id": ["a"], "source": ["web"], "text": ["hello"]},
                       report=report)
    code, text, err = winnow(capsys, "stats", out, "--json", "--no-progress")
    stats = _strict_json(text)
    assert stats["funnel"][0]["seconds"] is None
    assert stats["report_checks"] == ["report.json: stages.read.seconds is nan"]


# 5. tracebacks ----------------------------------------------------------------------------------------------

def test_shard_without_doc_lengths_is_reported_not_a_keyerror(tmp_path, capsys):
    shards = _shards(tmp_path / "badlen", damage="nolengths")
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress")
    assert code == 1 and "Traceback" not in err
    assert _strict_json(text)["manifest_checks"][0].startswith("shard-00001-of-00002.parquet: schema is ")
    code, text, err = winnow(capsys, "inspect", shards)
    line = last_error_line(err, "inspect")
    assert "shard-00001-of-00002.parquet: not the shard its manifest describes: schema is " in line


@pytest.mark.parametrize("damage, problem", [("idextra", "row 0 has 3 doc_ids for 2 doc_lengths"),
                                             ("idfewer", "row 0 has 1 doc_ids for 2 doc_lengths")])
def test_lineage_compares_doc_ids_with_doc_lengths(tmp_path, capsys, damage, problem):
    """More ids than lengths raised IndexError; fewer gave a silently wrong answer ("0 segment(s)" for an id
    whose segment is there). Both are now the shard and the row, as verify says it."""
    from pipelines.tools.lineage import LineageError, find_document_segments

    shards = _shards(tmp_path / damage, damage=damage)
    with pytest.raises(LineageError, match=re.escape(f"shard-00001-of-00002.parquet: {problem}")):
        find_document_segments(str(shards), "d4b")
    code, text, err = winnow(capsys, "inspect", shards, "--doc-id", "d4b")
    assert f"shard-00001-of-00002.parquet: {problem}" in last_error_line(err, "inspect")
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress")
    stats = _strict_json(text)
    assert code == 1 and stats["manifest_checks"] == [f"shard-00001-of-00002.parquet: {problem}"]
    assert stats["document_length_tokens"] == {}
    assert stats["document_length_tokens_unavailable"] == "doc_ids do not match doc_lengths"


def test_tables_missing_columns_or_with_null_reasons_are_shown(tmp_path, capsys):
    """Documents with only `text` (KeyError 'source'), an errors file without `stage` (KeyError 'stage'), a
    rejected file without `reason` (No match for FieldRef) and a null reason tied with another (TypeError)."""
    out = _curate_like(
        tmp_path / "odd", documents={"text": ["only text here", "more text"]},
        rejected={"id": ["r1", "r2", "r3"], "text": ["a", "b", "c"], "stage": ["extract"] * 3,
                  "reason": pa.array([None, "empty", "content_type"], pa.string())},
        errors={"id": ["e1"], "error": ["boom"]})
    for command in (("inspect", out, "-n", "4"), ("stats", out, "--no-progress"), ("inspect", out, "--stage", "extract")):
        code, text, err = winnow(capsys, *command)
        assert code == 0 and "Traceback" not in err, (command, err)
    code, text, err = winnow(capsys, "inspect", out, "-n", "4")
    assert "* extract/None: 1" in text and "* extract/content_type: 1" in text and "- None: boom" in text
    out = _curate_like(tmp_path / "noreason", documents={"id": ["a"], "source": ["web"], "text": ["hello"]},
                       rejected={"id": ["r"], "text": ["t"], "stage": ["quality"]},
                       report=Report(stages=[StageCounts(name="quality", in_=2, kept=1, dropped={"short": 1})],
                                     inputs=[], recipe={}, versions={}, outputs={"documents": 1, "rejected": 1}))
    code, text, err = winnow(capsys, "stats", out, "--json", "--no-progress")
    stats = _strict_json(text)
    assert code == 0 and stats["rejected_by_stage_reason"] == [{"stage": "quality", "reason": None, "rows": 1}]
    code, text, err = winnow(capsys, "inspect", out)
    assert code == 0 and "* quality/None: 1" in text


# 6. one fallback name for a missing source -------------------------------------------------------------------

def test_missing_or_empty_source_is_the_file_name_for_jsonl_and_parquet(tmp_path, capsys):
    """JSONL rows without a source counted under the file's name, Parquet ones under `unknown` (null) or ``
    (empty): one source, three names. Now every reader's name: the file's (`schemas.io.iter_documents`)."""
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "mydocs.jsonl").write_text('{"text": "one"}\n{"text": "two", "source": ""}\n{"text": "3", "source": "web"}\n')
    pq.write_table(pa.table({"text": ["four", "five"], "source": pa.array([None, ""], pa.string())}), d / "more.parquet")
    pq.write_table(pa.table({"text": ["six"]}), d / "bare.parquet")
    pq.write_table(pa.table({"text": ["seven"], "source": pa.array([7], pa.int64())}), d / "ints.parquet")
    code, text, err = winnow(capsys, "stats", d, "--json", "--no-progress")
    stats = _strict_json(text)
    assert code == 0, err
    assert {k: v["documents"] for k, v in stats["by_source"].items()} == {"mydocs": 2, "web": 1, "more": 2, "bare": 1,
                                                                          "7": 1}


# 8. rejected groups: filter first, one pass ---------------------------------------------------------------------

def test_inspect_filters_stage_before_reading_text_and_reads_each_row_group_once(tmp_path, capsys, monkeypatch):
    """`--stage nothing` read the text of row groups for every one of 1,500 reasons (34 s) before filtering;
    the examples now come from one pass, reading the text of a row group at most once."""
    n, groups = 600, 6
    out = _curate_like(tmp_path / "many", documents={"id": ["a"], "source": ["web"], "language": ["en"],
                                                     "text": ["hello"]},
                       rejected={"id": [f"r{i}" for i in range(n)], "source": ["web"] * n, "text": ["t" * 50] * n,
                                 "stage": ["quality"] * n, "reason": [f"reason_{i * 60 // n}" for i in range(n)]},
                       row_group_size=n // groups)
    reads = []
    read_row_group = pq.ParquetFile.read_row_group

    def recorded(self, i, columns=None, **kwargs):
        reads.append((i, tuple(columns) if columns is not None else None))
        return read_row_group(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", recorded)
    code, text, err = winnow(capsys, "inspect", out, "--stage", "nothing")

    def rejected_text_reads():  # documents/ reads include `language`, which rejected/ does not have
        return [r for r in reads if r[1] is None or ("text" in r[1] and "language" not in r[1])]

    assert code == 0 and "(none)" in text
    assert rejected_text_reads() == []
    reads.clear()
    code, text, err = winnow(capsys, "inspect", out, "-n", "4")
    assert code == 0 and text.count("\n* quality/reason_") == 60 and text.count("\n  - r") == 120
    assert len(rejected_text_reads()) <= groups, rejected_text_reads()  # each row group at most once
    code, again, _ = winnow(capsys, "inspect", out, "-n", "4")
    assert again == text  # seeded


# 9. minor ------------------------------------------------------------------------------------------------------

def test_damaged_inputs_are_one_line_naming_the_file(tmp_path, capsys):
    report = Report(stages=[StageCounts(name="quality", in_=2, kept=1, dropped={"short": 1})], inputs=[], recipe={},
                    versions={}, outputs={"documents": 1, "rejected": 1})
    out = _curate_like(tmp_path / "trunc", documents={"id": ["a"], "source": ["web"], "text": ["hello"]},
                       rejected={"id": ["r"], "text": ["t"], "stage": ["quality"], "reason": ["short"]}, report=report)
    part = out / "rejected" / "part-0.parquet"
    part.write_bytes(part.read_bytes()[:40])
    code, _, err = winnow(capsys, "stats", out, "--no-progress")
    assert "rejected/part-0.parquet: cannot be read" in last_error_line(err, "stats")

    out = _curate_like(tmp_path / "badreport", documents={"id": ["a"], "source": ["web"], "text": ["hello"]})
    (out / "report.json").write_text("{not json")
    code, _, err = winnow(capsys, "stats", out, "--no-progress")
    assert "badreport/report.json: not a valid curate report (Expecting property name" in last_error_line(err, "stats")

    (tmp_path / "badutf8" / "documents").mkdir(parents=True)
    data = b"okbad \xff\xfe bytes"
    offsets = pa.py_buffer(np.array([0, 2, len(data)], np.int32).tobytes())
    broken = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(data)])
    pq.write_table(pa.table({"id": ["a", "b"], "source": broken, "text": broken}),
                   tmp_path / "badutf8" / "documents" / "part-0.parquet")
    for command in ("stats", "inspect"):
        code, _, err = winnow(capsys, command, tmp_path / "badutf8")
        line = last_error_line(err, command)
        assert "badutf8/documents/part-0.parquet: cannot be read" in line and "UTF8" in line, line


def test_surrogates_in_jsonl_source_and_url_are_replaced_not_refused(tmp_path, capsys):
    d = tmp_path / "jsur"
    d.mkdir()
    (d / "docs.jsonl").write_text('{"text": "abc", "source": "s\\ud800", "url": "http://h\\udc00.example/"}\n'
                                  '{"text": "de", "source": "web"}\n')
    code, text, err = winnow(capsys, "stats", d, "--json", "--no-progress")
    stats = _strict_json(text)
    assert code == 0, err
    assert stats["by_source"]["s\ufffd"]["documents"] == 1
    code, text, err = winnow(capsys, "stats", d, "--no-progress")
    assert code == 0 and "s\ufffd" in text


def test_remote_paths_are_refused_as_remote(capsys):
    for command in ("stats", "inspect"):
        code, _, err = winnow(capsys, command, "gs://bucket/out")
        assert "reads local files only" in last_error_line(err, command)


def test_document_lengths_past_the_doc_id_cap_say_so(tmp_path, capsys, monkeypatch):
    """Past MAX_DOC_IDS documents stats said "per-document lengths need --doc-ids shards" of shards that
    have doc_ids, and the JSON did not say the cap was hit."""
    from pipelines.tools import stats as stats_module

    shards = _shards(tmp_path / "capped")
    monkeypatch.setattr(stats_module, "MAX_DOC_IDS", 3)
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress")
    stats = _strict_json(text)
    assert stats["document_length_tokens"] == {}
    assert stats["document_length_tokens_unavailable"].startswith("more than 3 documents")
    code, text, err = winnow(capsys, "stats", shards, "--no-progress")
    assert "per-document lengths not counted: more than 3 documents" in text and "need --doc-ids" not in text
    monkeypatch.undo()
    code, text, err = winnow(capsys, "stats", shards, "--json", "--no-progress")
    stats = _strict_json(text)
    assert stats["document_length_tokens"]["count"] == 16 and "document_length_tokens_unavailable" not in stats
    assert not math.isnan(stats["packing"]["pad_fraction"])
