"""`winnow stats` and `winnow inspect` on real curate and tokenize outputs made here from a small JSONL corpus
(exact and near duplicates, short documents, a malformed line), checked against what pyarrow reads from the
same files; the HTML report rendered in headless Chromium; the progress reporter and its Beam hook."""
from __future__ import annotations

import collections
import glob
import io
import json
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import cli
from pipelines.tools.inspect import find_document, rejected_groups
from pipelines.tools.lineage import find_document_segments
from pipelines.runtime.progress import Progress, beam_progress
from pipelines.transforms.progress import CountProgress
from pipelines.tools.report_html import DOCUMENT_PLOTS, SHARD_PLOTS
from pipelines.tools.stats import HeavyHitters, LengthDistribution, Reservoir, compute_stats, format_stats
from schemas import Manifest, Report

SEQ_LEN = 64
WORDS = ("the of and to in a is that it was for on are with as his they be at one have this from or had by "
         "river garden window morning letter village teacher winter market station doctor kitchen music "
         "quietly carefully slowly walked opened wrote carried noticed remembered believed").split()
DOMAINS = ("alpha.example.org", "beta.example.com", "gamma.example.net")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _paragraphs(rng: random.Random, n_sentences: int) -> str:
    return "\n".join(_sentence(rng, rng.randint(8, 16)) for _ in range(n_sentences))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A real curate output (extract, quality, dedup_exact, dedup_minhash) and token shards with doc_ids."""
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe
    from pipelines.jobs.tokenize import run_tokenize
    from tokenizer.train import train_tokenizer

    rng = random.Random(5)
    root = tmp_path_factory.mktemp("stats")
    lines = []
    for i in range(60):
        text = _paragraphs(rng, rng.randint(6, 30))
        lines.append({"id": f"doc-{i:02d}", "text": text, "url": f"https://{DOMAINS[i % 3]}/page/{i}"})
    lines.append({"id": "dup-exact", "text": lines[0]["text"], "url": "https://alpha.example.org/copy"})
    near = lines[1]["text"].split("\n")
    lines.append({"id": "dup-near", "text": "\n".join(near[:-1] + ["A different closing line here."]),
                  "url": "https://beta.example.com/near"})
    lines.append({"id": "short-1", "text": "Too short.", "url": "https://gamma.example.net/s"})
    jsonl = root / "input.jsonl"
    jsonl.write_text("\n".join(json.dumps(l) for l in lines) + "\n{not json\n", encoding="utf-8")
    recipe = parse_recipe({"extract": {}, "quality": {"sources": ["text"]}, "dedup_exact": {"normalize": True},
                           "dedup_minhash": {"ngram": 5, "num_perm": 112, "bands": 14, "rows": 8, "seed": 1}})
    curated = root / "curated"
    report = run_curate([str(jsonl)], str(curated), recipe)
    tok_dir = root / "tokenizer"
    train_tokenizer(str(curated), vocab_size=400, output_dir=str(tok_dir), seed=0)
    shards = root / "shards"
    run_tokenize(str(curated), str(tok_dir), str(shards), SEQ_LEN, doc_ids=True, rows_per_shard=40)
    return {"root": root, "curated": curated, "shards": shards, "tokenizer": tok_dir, "report": report}


def _read(directory: Path) -> pa.Table:
    return pq.read_table([str(p) for p in sorted(directory.glob("*.parquet"))])


def _winnow(capsys, *args) -> str:
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------------------

def test_documents_stats_agree_with_the_files_and_report(outputs):
    stats = compute_stats(str(outputs["curated"]), progress=False)
    docs = _read(outputs["curated"] / "documents").to_pylist()
    assert stats["kind"] == "documents" and stats["documents"] == len(docs) > 40
    assert stats["characters"] == sum(len(d["text"]) for d in docs)
    by_source = collections.Counter(d["source"] for d in docs)
    assert {k: v["documents"] for k, v in stats["by_source"].items()} == dict(by_source)
    assert stats["by_source"]["text"]["characters"] == stats["characters"]
    assert sum(r["documents"] for r in stats["by_source_language"]) == len(docs)
    # exact log2 histogram: every document in exactly one bin, bins as numpy counts them
    hist = stats["length_histogram_chars"]
    assert sum(b["count"] for b in hist) == len(docs)
    lengths = np.array([len(d["text"]) for d in docs])
    for b in hist:
        assert b["count"] == int(((lengths >= b["min"]) & (lengths <= b["max"])).sum())
    assert stats["length_chars"]["min"] == lengths.min() and stats["length_chars"]["max"] == lengths.max()
    assert stats["length_chars"]["p50"] == pytest.approx(np.quantile(lengths, 0.5))  # sample holds all of them
    domains = collections.Counter(d["url"].split("/")[2] for d in docs)
    assert {d["name"]: d["documents"] for d in stats["top_domains"]} == dict(domains)
    # funnel straight from report.json, with the rejected/errors tables checked against it
    report = Report.load(str(outputs["curated"] / "report.json"))
    assert [s["name"] for s in stats["funnel"]] == [s.name for s in report.stages]
    assert [s["dropped"] for s in stats["funnel"]] == [s.dropped for s in report.stages]
    assert stats["funnel_balanced"] is True and stats["report_checks"] == ["ok"]
    assert report.stage("dedup_exact").dropped.get("exact_duplicate") == 1
    assert report.stage("read").errors == 1 and stats["errors_rows"] == 1
    rejected = _read(outputs["curated"] / "rejected").to_pylist()
    pairs = collections.Counter((r["stage"], r["reason"]) for r in rejected)
    assert {(g["stage"], g["reason"]): g["rows"] for g in stats["rejected_by_stage_reason"]} == dict(pairs)
    # dedup cluster sizes: every kept document once; removed duplicates = sum(size - 1)
    sizes = [d["dedup_cluster_size"] or 1 for d in docs]
    assert sum(stats["dedup_cluster_sizes"].values()) == len(docs)
    assert stats["dedup_duplicates_removed"] == sum(s - 1 for s in sizes) >= 1


def test_report_checks_catch_a_rejected_table_that_disagrees(outputs, tmp_path):
    copy = tmp_path / "curated"
    shutil.copytree(outputs["curated"], copy)
    report = json.loads((copy / "report.json").read_text())
    report["outputs"]["rejected"] += 3
    report["stages"][1]["dropped"]["empty"] = report["stages"][1]["dropped"].get("empty", 0) + 3
    (copy / "report.json").write_text(json.dumps(report))
    stats = compute_stats(str(copy), progress=False)
    assert stats["funnel_balanced"] is False
    assert any("rejected/" in c for c in stats["report_checks"]), stats["report_checks"]
    assert "NOT BALANCED" in format_stats(stats)


# ---------------------------------------------------------------------------------------------------------
# shards
# ---------------------------------------------------------------------------------------------------------

def test_shards_stats_agree_with_the_files_and_manifest(outputs):
    from tokenizers import Tokenizer

    stats = compute_stats(str(outputs["shards"]), checksums=True, progress=False)
    manifest = Manifest.load(str(outputs["shards"] / "manifest.json"))
    table = _read(outputs["shards"])
    tokens = np.asarray(table.column("tokens").combine_chunks().flatten())
    assert stats["kind"] == "shards" and stats["manifest_checks"] == ["ok"] and stats["checksums_checked"]
    assert stats["shards"] == len(manifest.shards) > 1
    assert stats["files"]["sequences"] == table.num_rows == manifest.totals.sequences
    doc_lengths = table.column("doc_lengths").to_pylist()
    assert stats["files"]["non_pad_tokens"] == sum(map(sum, doc_lengths)) == manifest.totals.non_pad_tokens
    assert stats["packing"]["pad_fraction_measured"] == pytest.approx(manifest.packing.pad_fraction, abs=1e-8)
    assert {k: v["tokens"] for k, v in stats["by_source"].items()} == {k: v.tokens for k, v in manifest.sources.items()}
    # most frequent tokens: same counts as numpy over the whole table, padding excluded, decoded
    pad = manifest.tokenizer.special_ids["<|pad|>"]
    counts = np.bincount(tokens)
    counts[pad] = 0
    assert [t["count"] for t in stats["top_tokens"]] == sorted(counts[counts > 0], reverse=True)[:len(stats["top_tokens"])]
    tok = Tokenizer.from_file(str(outputs["tokenizer"] / "tokenizer.json"))
    assert stats["top_tokens"][0]["text"] == tok.decode([stats["top_tokens"][0]["id"]], skip_special_tokens=False)
    # per-document token lengths (doc_ids): one per document, summing to the non-pad tokens
    assert stats["document_length_tokens"]["count"] == manifest.totals.documents
    assert sum(b["count"] for b in stats["document_length_histogram_tokens"]) == manifest.totals.documents
    assert stats["files"]["segments"] == sum(len(x) for x in doc_lengths)
    assert sum(stats["segments_per_sequence"].values()) == table.num_rows
    assert stats["full_row_segments"] >= 1  # some documents are longer than one row


def test_manifest_checks_report_disagreements(outputs, tmp_path, capsys):
    copy = tmp_path / "shards"
    shutil.copytree(outputs["shards"], copy)
    raw = json.loads((copy / "manifest.json").read_text())
    raw["shards"][0]["bytes"] += 1
    raw["totals"]["non_pad_tokens"] += 5
    raw["shards"][1]["sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(raw))
    (copy / "shard-99999-of-99999.parquet").write_bytes((copy / raw["shards"][0]["path"]).read_bytes())
    checks = compute_stats(str(copy), checksums=True, progress=False)["manifest_checks"]
    joined = "\n".join(checks)
    assert "bytes on disk, manifest says" in joined
    assert "sha256 differs" in joined
    assert "shard-99999-of-99999.parquet is in the directory but not in the manifest" in joined
    # the command prints the figures, then says the checks failed and exits 1 (it exited 0)
    assert cli.main(["stats", str(copy), "--checksums"]) == 1
    captured = capsys.readouterr()
    assert "manifest checks" in captured.out and "winnow stats: manifest checks failed (" in captured.err
    assert cli.main(["stats", str(outputs["shards"]), "--checksums"]) == 0


# ---------------------------------------------------------------------------------------------------------
# CLI: terminal, JSON, HTML
# ---------------------------------------------------------------------------------------------------------

DOC_KEYS = {"format", "kind", "path", "files", "documents", "characters", "by_source", "by_language",
            "by_source_language", "length_chars", "length_histogram_chars", "length_histogram_chars_by_source",
            "dedup_cluster_sizes", "dedup_duplicates_removed", "top_domains", "top_domains_exact",
            "top_code_languages", "funnel", "funnel_balanced", "report_outputs", "rejected_sampled", "rejected_rows",
            "rejected_by_stage_reason", "errors_rows", "report_checks"}
SHARD_KEYS = {"format", "kind", "path", "manifest_format", "file_format", "seq_len", "dtype", "tokenizer_sha256",
              "vocab_size", "tokenizer_file", "totals", "files", "by_source", "packing", "shards",
              "segment_length_tokens", "segment_length_histogram_tokens", "full_row_segments",
              "mean_document_tokens_by_source", "document_length_tokens", "document_length_histogram_tokens",
              "segments_per_sequence", "top_tokens", "checksums_checked", "manifest_checks"}


def test_cli_json_keys_are_stable_and_terminal_shows_tables(outputs, capsys):
    docs = json.loads(_winnow(capsys, "stats", str(outputs["curated"]), "--json", "--no-progress"))
    assert set(docs) == DOC_KEYS and docs["format"] == "winnow.stats/1"
    shards = json.loads(_winnow(capsys, "stats", str(outputs["shards"]), "--json", "--no-progress"))
    assert set(shards) == SHARD_KEYS
    text = _winnow(capsys, "stats", str(outputs["curated"]), "--no-progress")
    for needle in ("by source", "filter funnel (report.json)", "dedup_minhash", "dedup cluster sizes", "top domains",
                   "alpha.example.org", "report checks: ok"):
        assert needle in text
    text = _winnow(capsys, "stats", str(outputs["shards"]), "--no-progress")
    for needle in ("sequences of 64+1 uint16 tokens", "packing best-fit", "top tokens", "document length in tokens",
                   "manifest checks: ok"):
        assert needle in text


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


def _chromium():
    for path in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if path and os.path.exists(path):
            return path
    pytest.skip("chromium not installed (Debian package `chromium`; `bash dev.sh test` installs it)")


def _render(chromium: str, page: Path):
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [l for l in proc.stderr.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
    return proc.stdout, console


def test_html_report_renders_its_plots_in_headless_chromium(outputs, tmp_path, capsys):
    import html.parser

    chromium = _chromium()
    # the console capture itself works: a page that logs an error is caught
    control = tmp_path / "control.html"
    control.write_text("<!doctype html><html><body><script>console.error('control-error')</script></body></html>")
    _, console = _render(chromium, control)
    assert any("control-error" in l for l in console), "console capture is not working"

    for path, plots in ((outputs["curated"], DOCUMENT_PLOTS), (outputs["shards"], SHARD_PLOTS)):
        page = tmp_path / f"{path.name}.html"
        _winnow(capsys, "stats", str(path), "--html", str(page), "--no-progress")
        source = page.read_text(encoding="utf-8")
        assert "http://" not in source.replace("http://www.w3.org/2000/svg", "") and "<script src" not in source
        dom, console = _render(chromium, page)
        assert console == [], console

        class Plots(html.parser.HTMLParser):
            def __init__(self):
                super().__init__()
                self.current, self.bars = None, collections.Counter()

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "svg" and "plot" in (a.get("class") or ""):
                    self.current = a["data-plot"]
                elif tag == "rect" and "bar" in (a.get("class") or "") and self.current:
                    self.bars[self.current] += float(a.get("width", 0)) > 0 and float(a.get("height", 0)) > 0

            def handle_endtag(self, tag):
                if tag == "svg":
                    self.current = None

        parser = Plots()
        parser.feed(dom)
        expected = set(plots) - ({"code_languages"} if path == outputs["curated"] else set())
        assert expected <= {k for k, v in parser.bars.items() if v > 0}, (expected, parser.bars)
        embedded = dom.split('id="winnow-stats">', 1)[1].split("</script>", 1)[0]
        assert json.loads(embedded)["kind"] in ("documents", "shards")


# ---------------------------------------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------------------------------------

def test_inspect_documents_rejected_and_errors(outputs, capsys):
    out = _winnow(capsys, "inspect", str(outputs["curated"]), "-n", "3", "--source", "text")
    assert out.count("\n- [text/") == 3
    assert "dedup_exact/exact_duplicate: 1" in out and "duplicate of doc-00" in out
    assert "== errors" in out and "read:" in out and "input.jsonl" in out
    groups = rejected_groups(sorted(glob.glob(str(outputs["curated"] / "rejected" / "*.parquet"))), 2)
    report = Report.load(str(outputs["curated"] / "report.json"))
    for g in groups:
        assert g["rows"] == report.stage(g["stage"]).dropped[g["reason"]]
        assert 1 <= len(g["examples"]) <= 2
    none = _winnow(capsys, "inspect", str(outputs["curated"]), "--language", "xx")
    assert "(none match)" in none


def test_inspect_language_unknown_finds_what_stats_counts_as_unknown(outputs, capsys, tmp_path):
    """The fixture's recipe has no language stage: stats counts every document under language "unknown", and
    `inspect --language unknown` selects them by that name (it matched none); a documents file without a
    language column counts as unknown too."""
    docs = json.loads(_winnow(capsys, "stats", str(outputs["curated"]), "--json", "--no-progress"))
    kept = _read(outputs["curated"] / "documents").num_rows
    assert kept > 40 and _read(outputs["curated"] / "documents").column("language").null_count == kept
    assert "unknown" in json.dumps(docs) and "None" not in _winnow(capsys, "stats", str(outputs["curated"]),
                                                                    "--no-progress")
    out = _winnow(capsys, "inspect", str(outputs["curated"]), "-n", str(kept + 10), "--language", "unknown")
    assert out.count("\n- [text/unknown]") == kept, out[:500]
    bare = tmp_path / "bare"
    (bare / "documents").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["first text", "second text"]}),
                   str(bare / "documents" / "part-0.parquet"))
    out = _winnow(capsys, "inspect", str(bare), "-n", "5", "--language", "unknown")
    assert out.count("\n- [") == 2 and "/unknown] a" in out and "/unknown] b" in out, out
    assert "(none match)" in _winnow(capsys, "inspect", str(bare), "--language", "en")


def test_inspect_doc_id_in_curate_output_and_in_shards(outputs, capsys):
    term = io.StringIO()
    with Progress("inspect", ("rows", "found"), stream=term, tty=True, tty_interval=0.0) as prog:
        rows = find_document(str(outputs["curated"]), "dup-exact", prog)
    assert [r["table"] for r in rows] == ["rejected"] and rows[0]["reason"] == "exact_duplicate"
    report = Report.load(str(outputs["curated"] / "report.json"))
    every_row = sum(pq.ParquetFile(f).metadata.num_rows
                    for t in ("documents", "rejected", "errors") for f in glob.glob(str(outputs["curated"] / t / "*.parquet")))
    assert prog.counts == {"rows": every_row, "found": 1} and prog.total == every_row >= report.stage("read").in_
    assert f"rows {every_row}/{every_row} (100%), found 1" in term.getvalue()
    out = _winnow(capsys, "inspect", str(outputs["curated"]), "--doc-id", "doc-05")
    assert "documents/" in out and "kept" in out

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(outputs["tokenizer"] / "tokenizer.json"))
    docs = {d["id"]: d["text"] for d in _read(outputs["curated"] / "documents").to_pylist()}
    doc_id = max(docs, key=lambda k: len(docs[k]))  # long enough to span rows
    with Progress("inspect", ("rows", "found"), stream=io.StringIO(), tty=False) as prog:
        hits = find_document_segments(str(outputs["shards"]), doc_id, prog)
    manifest = json.loads((outputs["shards"] / "manifest.json").read_text())
    assert prog.counts == {"rows": sum(s["sequences"] for s in manifest["shards"]), "found": len(hits)}
    expected = len(tok.encode(docs[doc_id]).ids) + 1  # plus <|endoftext|>
    assert len(hits) >= 2 and sum(h["length"] for h in hits) == expected
    out = _winnow(capsys, "inspect", str(outputs["shards"]), "--doc-id", doc_id)
    assert f"{len(hits)} segment(s)" in out and "row" in out
    assert cli.main(["inspect", str(outputs["shards"]), "--doc-id", "no-such-document"]) == 1


def test_inspect_shards_marks_document_boundaries(outputs, capsys):
    out = _winnow(capsys, "inspect", str(outputs["shards"]), "-n", "40", "--width", "400")
    seqs = [l for l in out.splitlines() if l.startswith("- sequence ")]
    assert len(seqs) == 40
    multi = [l for l in seqs if not l.split(": ", 1)[1].startswith("1 segments")]
    assert multi and "⟦|⟧" in out  # rows holding more than one document show the boundary


def test_inspect_of_shards_with_one_missing_says_so(outputs, tmp_path, capsys):
    # it printed a sample of the shards that were left (or "(no sequences)") and exited 0
    copy = tmp_path / "shards"
    shutil.copytree(outputs["shards"], copy)
    victim = sorted(copy.glob("shard-*"))[0]
    victim.unlink()
    assert cli.main(["inspect", str(copy)]) == 1
    assert f"shards listed in manifest.json are missing ({victim.name}" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# streaming accumulators and progress
# ---------------------------------------------------------------------------------------------------------

def test_bounded_accumulators_match_exact_figures():
    rng = np.random.default_rng(1)
    values = rng.lognormal(7, 1.5, 300_000).astype(np.int64)
    dist = LengthDistribution()
    for chunk in np.array_split(values, 97):
        dist.extend(chunk)
    assert dist.summary()["count"] == values.size and dist.summary()["max"] == values.max()
    for b in dist.histogram():
        assert b["count"] == int(((values >= b["min"]) & (values <= b["max"])).sum())
    res = Reservoir(size=20_000)
    for chunk in np.array_split(values, 97):
        res.extend(chunk)
    assert res.sample().size == 20_000
    assert res.quantiles()["p50"] == pytest.approx(np.quantile(values, 0.5), rel=0.05)
    hh = HeavyHitters(capacity=10)
    hh.update([f"k{i}" for i in range(15)], [100 - i for i in range(15)])
    assert hh.exact and [d["name"] for d in hh.top(3)] == ["k0", "k1", "k2"] and hh.top(1)[0]["documents"] == 100
    hh.update([f"z{i}" for i in range(30)], [1] * 30)
    assert not hh.exact and hh.top(1)[0]["name"] == "k0"


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_is_sparse_when_not_a_terminal_and_redraws_on_a_terminal():
    clock, stream = _Clock(), io.StringIO()
    prog = Progress("curate", ("read", "kept"), stream=stream, tty=False, clock=clock)
    for _ in range(1000):
        clock.t += 0.01  # 10 s of work: shorter than the log interval
        prog.add("read")
    prog.close()
    assert stream.getvalue() == ""  # a short run writes nothing to logs
    clock, stream = _Clock(), io.StringIO()
    prog = Progress("curate", ("read", "kept"), stream=stream, tty=False, clock=clock)
    for i in range(15_000):
        clock.t += 0.01  # 150 s: two periodic lines and one summary
        prog.add("read")
        if i % 2:
            prog.add("kept")
    prog.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[-1].startswith("[curate] read 15.0k, kept 7.5k; 150s, 100 rows/s")
    assert lines[-1].endswith("(done)")
    clock, stream = _Clock(), io.StringIO()
    prog = Progress("stats", ("documents",), total=100, stream=stream, tty=True, clock=clock)
    for _ in range(100):
        clock.t += 0.05
        prog.add("documents")
    prog.close()
    out = stream.getvalue()
    assert out.count("\r") >= 20 and out.endswith("\n") and "100/100 (100%)" in out


def test_count_progress_counts_beam_elements_in_process():
    import apache_beam as beam

    from pipelines.runtime.options import make_pipeline

    stream = io.StringIO()
    with beam_progress("test-progress", ("read", "kept"), stream=stream, tty=False) as rep:
        p = make_pipeline()
        (p | beam.Create(list(range(1000)))
         | "Read" >> CountProgress("test-progress", "read")
         | beam.Filter(lambda x: x % 3 == 0)
         | "Kept" >> CountProgress("test-progress", "kept"))
        p.run().wait_until_finish()
        assert rep.counts == {"read": 1000, "kept": 334}


def test_documents_not_written_by_curate_get_stats_or_one_line(tmp_path, capsys):
    """Documents from elsewhere: no `source` column or a null source counts as `unknown`, a null text as 0
    characters (these were a KeyError and a TypeError traceback, and a NaN error); a `text` column that holds
    no strings is one line naming the file."""
    from pipelines.tools.stats import compute_stats

    cases = {"nosource": {"id": ["a", "b"], "text": ["hello world", "x y"]},
             "nullsource": {"id": ["a", "b"], "source": [None, "web"], "text": ["hello world", "x y"]},
             "nulltext": {"id": ["a", "b"], "source": ["web", "web"], "text": [None, "x y"]}}
    for name, columns in cases.items():
        (tmp_path / name).mkdir()
        pq.write_table(pa.table(columns), tmp_path / name / "p.parquet")
    # a missing source is the file's name, as every reader of documents names it (schemas.io.fallback_source_of)
    assert compute_stats(str(tmp_path / "nosource"), progress=False)["by_source"] == {
        "p": {"documents": 2, "characters": 14}}
    assert compute_stats(str(tmp_path / "nullsource"), progress=False)["by_source"] == {
        "p": {"documents": 1, "characters": 11}, "web": {"documents": 1, "characters": 3}}
    stats = compute_stats(str(tmp_path / "nulltext"), progress=False)
    assert (stats["documents"], stats["characters"]) == (2, 3)
    (tmp_path / "ints").mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": [1]}), tmp_path / "ints" / "p.parquet")
    assert cli.main(["stats", str(tmp_path / "ints")]) == 1
    err = capsys.readouterr().err
    assert "ints/p.parquet: column 'text' holds int64, not strings" in err and "Traceback" not in err


def test_a_source_per_document_prints_the_largest_sources_and_sums_the_rest(tmp_path, capsys):
    # a corpus whose `source` is a per-document path or URL: the table listed every source (300,000 sources printed
    # 300,000 lines and made a 152 MB page); now the 29 largest and one line summing the others, as the plot does
    n = 500
    sources = [f"site{i:03d}" for i in range(n)]
    texts = ["word " * (1 + i % 7) for i in range(n)]
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(n)], "source": sources, "text": texts,
                             "language": ["en"] * n}), tmp_path / "docs.parquet")
    pq.write_table(pa.table({"id": ["big1", "big2"], "source": ["site250", "site250"], "text": ["x y z"] * 2,
                             "language": ["en"] * 2}), tmp_path / "more.parquet")
    glob_arg = str(tmp_path / "*.parquet")
    stats = compute_stats(glob_arg, progress=False)
    assert len(stats["by_source"]) == n  # the JSON keeps every source
    text = format_stats(stats)
    table_lines = text.split("\nby source\n")[1].split("\n\n")[0].splitlines()[2:]
    assert len(table_lines) == 30 and table_lines[0].split()[:2] == ["site250", "3"]  # largest first
    rest = table_lines[-1]
    assert rest.startswith("(471 other sources)")
    shown_docs = sum(int(line.split()[1]) for line in table_lines[:-1])
    assert int(rest.split()[3].replace(",", "")) == n + 2 - shown_docs
    html_path = tmp_path / "report.html"
    assert cli.main(["stats", glob_arg, "--html", str(html_path), "--no-progress"]) == 0
    page = html_path.read_text()
    mix = page.split('data-plot="source_mix"')[1].split("</svg>")[0]
    assert mix.count("<rect class=\"bar\"") == 2 * 12 and "(489 other sources)" in mix
    capsys.readouterr()
