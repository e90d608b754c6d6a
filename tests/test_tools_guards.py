"""Guards of the offline tools and the crawler that an audit found missing, each through the real `winnow`
command line:

- a second `winnow crawl` of the same host into the same --output replaced the first crawl's WARC file;
- `winnow inspect` / `winnow stats` decoded shards with a tokenizer whose sha256 is not the manifest's (given
  with --tokenizer, or found next to the shards), printing another tokenizer's text as if it were the data;
- `winnow inspect SHARDS` ignored --language/--source/--stage/--reason, and sampled Arrow shards the same
  whatever --seed said;
- `winnow stats SHARDS --html SHARDS/manifest.json` replaced the manifest with the report;
- `winnow stats DIR` of a folder of .jsonl and .parquet documents counted only the Parquet ones.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from corpora import word_corpus_with_tokenizer
from pipelines.jobs.tokenize import run_tokenize_job
from schemas import DOCUMENTS_SCHEMA, MANIFEST_NAME, empty_document
from tests.clirun import last_error_line, winnow

SEQ_LEN = 32


@pytest.fixture(scope="module")
def shards(word_corpus, tmp_path_factory):
    """Parquet and Arrow shards of the session corpus, each in DIR/<format> with nothing at DIR/tokenizer; the
    Arrow shards have several record batches, so a seed has batches and rows to choose from."""
    root = tmp_path_factory.mktemp("guards")
    out = {}
    for file_format in ("parquet", "arrow"):
        d = root / file_format / "shards"
        run_tokenize_job(str(word_corpus / "documents"), str(word_corpus / "tok"), str(d), SEQ_LEN,
                         file_format=file_format, rows_per_group=8)
        out[file_format] = d
    return out


@pytest.fixture(scope="module")
def other_tokenizer(tmp_path_factory) -> Path:
    """A tokenizer of the same vocabulary size trained on other documents: another sha256."""
    root = tmp_path_factory.mktemp("other-tok")
    return word_corpus_with_tokenizer(root, root / "documents", 40, seed=11, words_per_doc=(5, 40))


def _sha(tok_dir: Path) -> str:
    return hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()).hexdigest()


def _sequences(out: str):
    return [l for l in out.splitlines() if l.startswith("- sequence ") or l.startswith("  ")]


# -- 1. crawl: a later crawl of the same host adds files ---------------------------------------------------

def _warc_pages(path: Path):
    with open(path, "rb") as fh:
        return sorted(r.rec_headers.get_header("WARC-Target-URI").rsplit("/", 1)[-1]
                      for r in ArchiveIterator(fh) if r.rec_type == "response"
                      and not r.rec_headers.get_header("WARC-Target-URI").endswith("/robots.txt"))


def test_second_crawl_of_a_host_does_not_replace_the_first_warc(tmp_path, capsys):
    from pipelines.demo.docsite import serve_directory
    from pipelines.ingest.fetch import host_safe_name

    site = tmp_path / "site"
    site.mkdir()
    for name in ("a", "b"):
        (site / f"{name}.html").write_text(f"<html><body><p>page {name}</p></body></html>")
    base, stop = serve_directory(str(site))
    try:
        warcs = tmp_path / "warcs"
        for name in ("a", "b"):
            code, out, err = winnow(capsys, "crawl", "--seeds", f"{base}{name}.html", "--output", str(warcs),
                                    "--allow-private", "--delay", "0", "--max-depth", "0")
            assert code == 0, (out, err)
            reported = out  # the crawl lists the files it wrote, not an earlier crawl's
    finally:
        stop()
    host = host_safe_name(base.split("/")[2])
    assert f"{host}-1.warc.gz" in reported and f"{host}-0.warc.gz" not in reported, reported
    files = sorted(p.name for p in warcs.glob("*.warc.gz"))
    assert files == [f"{host}-0.warc.gz", f"{host}-1.warc.gz"], files  # was one file, holding only b.html
    assert _warc_pages(warcs / f"{host}-0.warc.gz") == ["a.html"]
    assert _warc_pages(warcs / f"{host}-1.warc.gz") == ["b.html"]


# -- 2. a tokenizer the shards were not made with ---------------------------------------------------------

@pytest.mark.parametrize("command", ["inspect", "stats"])
def test_explicit_tokenizer_that_differs_from_the_manifest_is_refused(shards, word_corpus, other_tokenizer,
                                                                      capsys, command):
    assert _sha(other_tokenizer) != _sha(word_corpus / "tok")
    code, out, err = winnow(capsys, command, str(shards["parquet"]), "--tokenizer", str(other_tokenizer))
    assert code == 1, (out[-2000:], err[-2000:])  # it printed the other tokenizer's text and exited 0
    line = last_error_line(err, command)
    assert "--tokenizer" in line and "tokenizer mismatch" in line and _sha(other_tokenizer) in line
    # the tokenizer the shards were made with is used as before
    code, out, err = winnow(capsys, command, str(shards["parquet"]), "--tokenizer", str(word_corpus / "tok"),
                            *(["--no-progress"] if command == "stats" else []))
    assert code == 0, err
    assert "mismatch" not in err
    # a --tokenizer that names nothing (a typo) was ignored: ids shown, exit 0
    code, out, err = winnow(capsys, command, str(shards["parquet"]), "--tokenizer", str(word_corpus / "tokk"))
    assert code == 1 and f"--tokenizer: no tokenizer.json at {word_corpus / 'tokk'}" in err, (out[-2000:], err)


def test_tokenizer_found_next_to_shards_that_differs_is_not_used(shards, word_corpus, other_tokenizer, tmp_path,
                                                                 capsys):
    run = tmp_path / "run"
    copy = run / "shards"
    shutil.copytree(shards["parquet"], copy)
    shutil.copytree(other_tokenizer, run / "tokenizer")  # what find_tokenizer looks at: ../tokenizer
    code, out, err = winnow(capsys, "inspect", str(copy), "-n", "3")
    assert code == 0, err
    notes = [l for l in err.splitlines() if "not using the tokenizer found next to the shards" in l]
    assert len(notes) == 1 and "tokenizer mismatch" in notes[0] and "showing token ids" in notes[0], err
    assert "tokenizer none: showing ids" in out
    texts = [l.strip() for l in out.splitlines() if l.startswith("  ")]
    assert texts and all(re.fullmatch(r"[\d ⟦|⟧.]+", t) for t in texts), texts  # ids, not another's text

    code, out, err = winnow(capsys, "stats", str(copy), "--json", "--no-progress")
    assert code == 0, err
    stats = json.loads(out)
    assert stats["tokenizer_file"] is None and all(t["text"] is None for t in stats["top_tokens"])
    assert sum("not using the tokenizer found next to the shards" in l for l in err.splitlines()) == 1, err

    # the right tokenizer next to the shards is found and used
    shutil.rmtree(run / "tokenizer")
    shutil.copytree(word_corpus / "tok", run / "tokenizer")
    code, out, err = winnow(capsys, "stats", str(copy), "--json", "--no-progress")
    assert code == 0 and "not using" not in err
    stats = json.loads(out)
    assert stats["tokenizer_file"] and all(t["text"] is not None for t in stats["top_tokens"])
    code, out, err = winnow(capsys, "inspect", str(copy), "-n", "2")
    assert code == 0 and "not using" not in err
    assert "tokenizer/tokenizer.json" in out.splitlines()[0] and "showing ids" not in out.splitlines()[0]


# -- 3. inspect on shards: document filters and the seed --------------------------------------------------

@pytest.mark.parametrize("file_format", ["parquet", "arrow"])
def test_inspect_refuses_document_filters_on_shards(shards, capsys, file_format):
    code, out, err = winnow(capsys, "inspect", str(shards[file_format]), "--source", "nonexistent",
                            "--stage", "foo")
    assert code == 1 and "- sequence" not in out, out[-2000:]  # printed unfiltered rows, exit 0
    line = last_error_line(err, "inspect")
    assert "--source, --stage" in line and "shards directory" in line
    code, _, err = winnow(capsys, "inspect", str(shards[file_format]), "--language", "en", "--reason", "x")
    assert code == 1 and "--language, --reason" in last_error_line(err, "inspect")


def test_inspect_samples_arrow_shards_by_the_seed(shards, capsys):
    d = str(shards["arrow"])
    runs = {}
    for seed in ("0", "7", "7"):
        code, out, err = winnow(capsys, "inspect", d, "-n", "4", "--seed", seed)
        assert code == 0, err
        assert f"sampled (seed {seed})" in out
        runs.setdefault(seed, []).append(_sequences(out))
    assert runs["7"][0] == runs["7"][1]  # a seed gives the same sample every time
    assert len([l for l in runs["7"][0] if l.startswith("- sequence")]) == 4
    assert runs["0"][0] != runs["7"][0]  # were the first rows of the first batch whatever the seed


# -- 4. stats --html inside the input ---------------------------------------------------------------------

def test_stats_refuses_html_inside_the_input(shards, tmp_path, capsys):
    copy = tmp_path / "shards"
    shutil.copytree(shards["parquet"], copy)
    manifest = (copy / MANIFEST_NAME).read_bytes()
    for target in (copy / MANIFEST_NAME, copy / "report.html", copy):
        code, out, err = winnow(capsys, "stats", str(copy), "--html", str(target), "--no-progress")
        assert code == 1, (target, err)  # it wrote the report over manifest.json and exited 0
        assert "--html" in last_error_line(err, "stats")
    assert (copy / MANIFEST_NAME).read_bytes() == manifest and not (copy / "report.html").exists()
    code, _, err = winnow(capsys, "stats", str(copy), "--html", str(tmp_path / "report.html"), "--no-progress")
    assert code == 0 and (tmp_path / "report.html").read_text().startswith("<!doctype html"), err


# -- 5. stats of a folder of JSONL and Parquet documents --------------------------------------------------

def test_stats_counts_jsonl_and_parquet_documents_of_one_folder(tmp_path, capsys):
    d = tmp_path / "docs"
    d.mkdir()
    parquet_docs = [empty_document(f"p{i}", "web", "parquet text " * (i + 1)) for i in range(3)]
    pq.write_table(pa.Table.from_pylist(parquet_docs, schema=DOCUMENTS_SCHEMA), d / "part.parquet")
    jsonl_docs = [{"id": "j0", "text": "a line of jsonl", "source": "forum", "url": "https://x.example/a"},
                  {"id": "j1", "text": "another", "source": "forum"}]
    (d / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl_docs))
    with gzip.open(d / "extra.jsonl.gz", "wt") as f:  # no source: the file name, as every reader has it
        f.write(json.dumps({"text": "gzipped"}) + "\n")
    code, out, err = winnow(capsys, "stats", str(d), "--json", "--no-progress")
    assert code == 0, err
    stats = json.loads(out)
    texts = [r["text"] for r in parquet_docs + jsonl_docs] + ["gzipped"]
    assert stats["files"] == 3 and stats["documents"] == len(texts)  # counted the 3 Parquet ones only
    assert stats["characters"] == sum(len(t) for t in texts)
    assert {k: v["documents"] for k, v in stats["by_source"].items()} == {"web": 3, "forum": 2, "extra": 1}
    assert [t["name"] for t in stats["top_domains"]] == ["x.example"]
    # a line that is not JSON is one line naming the file
    (d / "bad.jsonl").write_text('{"text": "fine"}\n{not json\n')
    code, _, err = winnow(capsys, "stats", str(d), "--no-progress")
    assert code == 1 and str(d / "bad.jsonl") in last_error_line(err, "stats")
