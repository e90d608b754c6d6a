"""Mixtures (`winnow tokenize --mixture`): the file's validation, the selection plan on histograms, the packing
group of repeated copies, and one real job on real books, code and web text from ../shared/data (shares,
epochs, budget, lineage of copies, verify, byte-identical across worker counts)."""
from __future__ import annotations

import re

import glob
import gzip
import json
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tokenizer.mixture import (
    BUCKETS, MAX_EPOCHS, MixtureError, add_entry, copy_id, histogram_entry, merge_histograms, mixture_group, parse_mixture,
    plan_mixture, split_copy_id,
)
from tokenizer.pack_groups import packing_group
from tokenizer.train import sample_hash


# -- the file ------------------------------------------------------------------------------------------------

def test_parse_resolves_relative_inputs_and_keeps_the_selector(tmp_path):
    spec = parse_mixture("sources:\n  - {name: web, input: docs, weight: 3, source: web}\n"
                         "  - {name: code, input: /abs/docs, epochs: 2.5}\ntotal_tokens: 1000\n", "m.yaml",
                         str(tmp_path))
    assert [s.name for s in spec.sources] == ["web", "code"] and spec.total_tokens == 1000
    assert spec.sources[0].input == str(tmp_path / "docs") and spec.sources[0].source == "web"
    assert spec.sources[0].written_input == "docs"  # what the manifest records: the same bytes wherever it runs
    assert spec.sources[1].input == "/abs/docs" and spec.sources[1].epochs == 2.5 and spec.sources[1].weight is None


@pytest.mark.parametrize("text, says", [
    ("sources: []", "non-empty `sources:`"),
    ("sources: [{name: a, input: x}]", "exactly one of `weight`"),
    ("sources: [{name: a, input: x, weight: 1, epochs: 2}]", "exactly one of `weight`"),
    ("sources: [{name: a, input: x, weight: -1}]", "weight must be a positive number"),
    ("sources: [{name: a, input: x, epochs: .nan}]", "epochs must be a positive number"),
    ("sources: [{name: a, input: x, weight: 1, wieght: 2}]", "unknown key(s) ['wieght']"),
    ("sources: [{name: a, input: x, weight: 1}, {name: a, input: y, weight: 1}]", "['a'] repeat"),
    ("sources: [{name: 'a#2', input: x, weight: 1}]", "without '#'"),
    ("sources: [{name: a, input: x, epochs: 1}]\ntotal_tokens: 100", "needs at least one source with a `weight`"),
    ("sources: [{name: a, input: x, weight: 1}]\ntotal_tokens: 1.5", "total_tokens must be a positive integer"),
    ("sources: [{name: a, weight: 1}]", "`input` must be"),
    ("sources: [{name: a, input: x, weight: 1, weight: 2}]", "the key 'weight' appears twice"),
    ("total_tokens: 10\nsources: [{name: a, input: x, weight: 1}]\ntotal_tokens: 20", "lines 1 and 3"),
])
def test_bad_mixture_files_say_what_to_change(text, says):
    with pytest.raises(MixtureError) as err:
        parse_mixture(text, "m.yaml")
    assert says in str(err.value) and "m.yaml" in str(err.value)


# -- the plan ------------------------------------------------------------------------------------------------

def histogram_of(docs, seed=0):
    """docs: (source, id, tokens) -> the histogram the job's CombineGlobally builds (two partial sums merged)."""
    halves = [{}, {}]
    for i, (name, doc_id, n) in enumerate(docs):
        add_entry(halves[i % 2], histogram_entry(name, doc_id, n, seed))
    return merge_histograms(halves)


def synthetic_docs(name, count, seed):
    return [(name, f"{name}-{i}", 20 + sample_hash(f"len{i}", seed) % 400) for i in range(count)]


def test_fractional_and_whole_epochs_hit_their_document_counts_within_one_bucket():
    docs = synthetic_docs("a", 3000, 1) + synthetic_docs("b", 1000, 2)
    spec = parse_mixture("sources: [{name: a, input: x, epochs: 0.3}, {name: b, input: y, epochs: 2.5}]")
    plan = plan_mixture(spec, histogram_of(docs))
    a, b = plan.source("a"), plan.source("b")
    assert a.full_copies == 0 and abs(a.planned_documents - 900) <= 1  # 30 % of the documents, not ~ +-sqrt(n)
    assert b.full_copies == 2 and abs(b.planned_documents - 2500) <= 1  # all twice, half a third time
    # the plan is what the per-document decisions give
    copies = defaultdict(int)
    for name, doc_id, _ in docs:
        copies[name] += plan.source(name).copies(histogram_entry(name, doc_id, 0, 0)[1])
    assert copies == {"a": a.planned_documents, "b": b.planned_documents}
    assert plan.max_copies == 3


def test_weights_and_budget_hit_the_token_shares_within_one_document():
    docs = synthetic_docs("web", 4000, 3) + synthetic_docs("code", 2000, 4) + synthetic_docs("books", 500, 5)
    tokens = defaultdict(int)
    for name, _, n in docs:
        tokens[name] += n
    # without a budget: the scarcest source relative to its weight is used once, whole
    spec = parse_mixture("sources: [{name: web, input: a, weight: 0.6}, {name: code, input: b, weight: 0.3}, "
                         "{name: books, input: c, weight: 0.1}]")
    plan = plan_mixture(spec, histogram_of(docs))
    total = plan.planned_tokens
    for s, w in zip(plan.sources, (0.6, 0.3, 0.1)):
        assert abs(s.planned_tokens - w * total) <= 40, (s, w * total)  # within about the shortest document (20)
    assert plan.source("books").planned_tokens == tokens["books"] and plan.max_copies == 1
    # with a budget larger than the corpus: books repeat (4.8 epochs), the budget is met within a document
    spec = parse_mixture(spec_text := "sources: [{name: web, input: a, weight: 0.6}, {name: code, input: b, "
                         "weight: 0.3}, {name: books, input: c, weight: 0.1}]\ntotal_tokens: 1200000")
    plan = plan_mixture(spec, histogram_of(docs))
    assert abs(plan.planned_tokens - 1_200_000) <= 3 * 420, spec_text
    assert plan.source("books").full_copies == 1_200_000 * 0.1 // tokens["books"]
    # weights are relative: scaled by 1e306 (their sum overflowed to inf and planned NaN tokens) they plan the same
    huge = parse_mixture("sources: [{name: web, input: a, weight: 6.0e+305}, {name: code, input: b, weight: "
                         "3.0e+305}, {name: books, input: c, weight: 1.0e+305}]\ntotal_tokens: 1200000")
    assert [s.planned_tokens for s in plan_mixture(huge, histogram_of(docs)).sources] == \
        [s.planned_tokens for s in plan.sources]


def test_fill_reaches_the_target_past_a_long_document_where_a_threshold_cannot():
    import numpy as np

    from tokenizer.mixture import fill_buckets, prefix_buckets

    unit = np.zeros(BUCKETS, dtype=np.int64)
    unit[:10], unit[10], unit[11:200] = 100, 100_000, 50  # a 100k-token file right at the boundary
    assert unit[prefix_buckets(unit, 4000)].sum() == 1000  # the nearest threshold misses by 3,000
    mask = fill_buckets(unit, 4000)
    assert unit[mask].sum() == 4000 and not mask[10] and mask[:10].all()
    assert not fill_buckets(unit, 0).any() and fill_buckets(unit, unit.sum()).all()


def test_plan_refuses_an_empty_source_and_a_budget_the_epochs_exceed():
    docs = synthetic_docs("a", 100, 1)
    with pytest.raises(MixtureError, match="'b' has no documents with source 'code'"):
        plan_mixture(parse_mixture("sources: [{name: a, input: x, weight: 1}, "
                                   "{name: b, input: y, weight: 1, source: code}]"), histogram_of(docs))
    docs += synthetic_docs("b", 100, 2)
    with pytest.raises(MixtureError, match="raise total_tokens"):
        plan_mixture(parse_mixture("sources: [{name: a, input: x, epochs: 3}, {name: b, input: y, weight: 1}]\n"
                                   "total_tokens: 1000"), histogram_of(docs))
    # YAML 1.1 reads 1e-3 as text: the message says how to write it
    with pytest.raises(MixtureError, match=re.escape("got '1e-3'; YAML reads 1e-3 as text: write 1.0e-3")):
        parse_mixture("sources: [{name: a, input: x, weight: 1e-3}]")


def test_more_passes_than_max_epochs_over_one_source_are_refused():
    """`total_tokens: 1e12` over a 1.3M-token corpus planned 750,000 copies of every document and ran until the
    machine gave out; epochs past MAX_EPOCHS stop at parsing, a budget that needs them at planning."""
    docs = synthetic_docs("a", 100, 10)
    tokens = sum(n for _, _, n in docs)
    plan = plan_mixture(parse_mixture(f"sources: [{{name: a, input: x, weight: 1}}]\ntotal_tokens: "
                                      f"{tokens * MAX_EPOCHS}"), histogram_of(docs))
    assert plan.source("a").full_copies == MAX_EPOCHS
    with pytest.raises(MixtureError, match=r"'a' would be written 1,001 times over .* more than 1,000 passes"):
        plan_mixture(parse_mixture(f"sources: [{{name: a, input: x, weight: 1}}]\ntotal_tokens: "
                                   f"{tokens * (MAX_EPOCHS + 1)}"), histogram_of(docs))
    assert parse_mixture(f"sources: [{{name: a, input: x, epochs: {MAX_EPOCHS}}}]").sources[0].epochs == MAX_EPOCHS
    with pytest.raises(MixtureError, match="source 'a': epochs 1001 is more than 1,000 passes"):
        parse_mixture(f"sources: [{{name: a, input: x, epochs: {MAX_EPOCHS + 1}}}]")


def test_copies_have_distinct_ids_and_never_share_a_packing_group():
    assert copy_id("d1", 1) == "d1" and copy_id("d1", 3) == "d1#3"
    assert split_copy_id("d1#3") == ("d1", 3) and split_copy_id("url#frag") == ("url#frag", 1)
    assert split_copy_id("d#02") == ("d#02", 1) and split_copy_id("d#\u00b2") == ("d#\u00b2", 1)
    row_len, per_group = 65, 10
    for doc in ("a", "b", "http://x/#frag"):
        # copy 1 is where the single-input path puts the document
        assert mixture_group(doc, 5000, row_len, per_group, 7) == packing_group(doc, 5000, row_len, per_group, 7)
        groups = {mixture_group(copy_id(doc, c), 3 * row_len * per_group, row_len, per_group, 7) for c in (1, 2, 3)}
        assert len(groups) == 3


def test_ids_that_end_like_copies_keep_their_own_copy_ids():
    # `x#2` copy 1 was written `x#2`, the id of copy 2 of `x`, and grouped as that copy: two documents, one id
    ids = ["x", "x#2", "x#2#2", "x#1", "x#02", "url#frag", "#3", ""]
    written = {(doc, c): copy_id(doc, c) for doc in ids for c in (1, 2, 3)}
    assert len(set(written.values())) == len(written)
    assert all(split_copy_id(w) == key for key, w in written.items())
    assert copy_id("x", 1) == "x" and copy_id("x", 2) == "x#2" and copy_id("x#2", 1) == "x#2#1"
    row_len, per_group = 65, 10
    for doc in ids:
        assert mixture_group(copy_id(doc, 1), 5000, row_len, per_group, 7) == packing_group(
            doc, 5000, row_len, per_group, 7)
        groups = {mixture_group(copy_id(doc, c), 2 * row_len * per_group, row_len, per_group, 7) for c in (1, 2)}
        assert len(groups) == 2, doc


def write_lines(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")


def test_a_mixture_of_ids_that_end_like_copies_writes_every_copy_under_its_own_id(word_corpus, tmp_path):
    from pipelines.jobs.tokenize import run_tokenize_job

    write_lines(tmp_path / "hash.jsonl", [{"id": "x", "text": "first document text here"},
                                          {"id": "x#2", "text": "second totally different document"}])
    (tmp_path / "mix.yaml").write_text("sources:\n  - {name: s, input: hash.jsonl, epochs: 2}\n")
    out = tmp_path / "out"
    manifest = run_tokenize_job(None, str(word_corpus / "tok"), str(out), 64, mixture=str(tmp_path / "mix.yaml"),
                                doc_ids=True).manifest
    rows = [ids for shard in manifest.shards
            for ids in pq.read_table(out / shard.path, columns=["doc_ids"]).column("doc_ids").to_pylist()]
    written = sorted(i for ids in rows for i in ids)
    assert written == ["x", "x#2", "x#2#1", "x#2#2"] and manifest.totals.documents == 4
    for ids in rows:  # two copies of one document never share a row
        assert len({split_copy_id(i)[0] for i in ids}) == len(ids), ids


def test_two_entries_over_one_file_are_refused_unless_their_selectors_differ(word_corpus, tmp_path, capsys):
    from pipelines import cli
    from pipelines.jobs.tokenize import run_tokenize_job

    docs = tmp_path / "docs"
    docs.mkdir()
    write_lines(docs / "a.jsonl", [{"id": f"a{i}", "source": "web" if i % 2 else "code",
                                    "text": f"document number {i} of the first file"} for i in range(40)])
    write_lines(docs / "b.jsonl", [{"id": f"b{i}", "text": f"document {i} of the second file"} for i in range(10)])
    tok, out = str(word_corpus / "tok"), tmp_path / "out"
    cases = {"twice": "  - {name: one, input: docs/a.jsonl, weight: 0.5}\n"
                      "  - {name: two, input: docs/a.jsonl, weight: 0.5}\n",
             "glob": "  - {name: all, input: 'docs/*.jsonl', weight: 0.5}\n"
                     "  - {name: more, input: docs/a.jsonl, epochs: 2, source: web}\n",
             # a symlink to the other entry's file (passed before: one document written twice, one id)
             "link": "  - {name: one, input: docs/a.jsonl, weight: 0.5}\n"
                     "  - {name: two, input: link.jsonl, weight: 0.5}\n"}
    (tmp_path / "link.jsonl").symlink_to(docs / "a.jsonl")
    for case, sources in cases.items():
        mix = tmp_path / f"{case}.yaml"
        mix.write_text("sources:\n" + sources)
        with pytest.raises(MixtureError, match=r"sources '(one|all)' and '(two|more)' both read .*docs/a\.jsonl: "):
            run_tokenize_job(None, tok, str(out), 64, mixture=str(mix))
        assert not out.exists()
    assert cli.main(["tokenize", "--mixture", str(tmp_path / "twice.yaml"), "--tokenizer", tok, "--seq-len", "64",
                     "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "give each file one entry" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # one input split by its source column, as the embedded default does: disjoint documents, distinct ids
    (tmp_path / "split.yaml").write_text("sources:\n  - {name: w, input: 'docs/*.jsonl', source: web, epochs: 2}\n"
                                         "  - {name: c, input: docs/a.jsonl, source: code, epochs: 1}\n")
    manifest = run_tokenize_job(None, tok, str(out), 64, mixture=str(tmp_path / "split.yaml"),
                                doc_ids=True).manifest
    ids = [i for shard in manifest.shards
           for row in pq.read_table(out / shard.path, columns=["doc_ids"]).column("doc_ids").to_pylist() for i in row]
    assert len(ids) == len(set(ids)) == manifest.totals.documents == 2 * 20 + 20


# -- one real job ----------------------------------------------------------------------------------------------

def write_real_sources(shared: Path, dest: Path):
    """Three JSONL inputs of real text: a Gutenberg book in ~3,000-character passages, 300 UTF-8 Linguist code
    samples (cut at 6,000 characters) and the 181 Scrapinghub AEB article bodies."""
    dest.mkdir(parents=True, exist_ok=True)
    book = sorted(glob.glob(str(shared / "text" / "gutenberg" / "pg1342__*.txt")))[0]
    passages, cur = [], ""
    for para in open(book, encoding="utf-8").read().split("\n\n"):
        cur += para + "\n\n"
        if len(cur) > 3000:
            passages.append(cur)
            cur = ""
    sources = {"books": [{"id": f"pp-{i:04d}", "source": "books", "text": t} for i, t in enumerate(passages)]}
    code = []
    with gzip.open(shared / "code" / "linguist_samples_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            sample = json.loads(line)
            if sample["encoding"] == "utf-8" and sample["content"].strip() and len(code) < 300:
                code.append({"id": f"code-{i:05d}", "source": "code", "text": sample["content"][:6000]})
    sources["code"] = code
    truth = json.loads((shared / "html" / "scrapinghub_aeb" / "ground-truth.json").read_text(encoding="utf-8"))
    sources["web"] = [{"id": f"aeb-{k}", "source": "web", "text": v["articleBody"]}
                      for k, v in sorted(truth.items()) if v.get("articleBody")]
    for name, docs in sources.items():
        with open(dest / f"{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(d) + "\n" for d in docs)
    return {name: len(docs) for name, docs in sources.items()}


@pytest.fixture(scope="module")
def real_mixture(shared_data, tmp_path_factory):
    from tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("mixture")
    counts = write_real_sources(shared_data, root / "docs")
    train_tokenizer(str(root / "docs"), vocab_size=1000, output_dir=str(root / "tok"), seed=0)
    # books and code share what web's 1.5 epochs leave of the budget, 0.7 : 0.3
    (root / "mix.yaml").write_text("sources:\n"
                                   "  - {name: books, input: docs/books.jsonl, weight: 0.7}\n"
                                   "  - {name: code, input: docs/code.jsonl, weight: 0.3}\n"
                                   "  - {name: web, input: docs/web.jsonl, epochs: 1.5}\n"
                                   "total_tokens: 1200000\n")
    return root, counts


def test_mixture_job_on_real_text(real_mixture):
    from pipelines.jobs.tokenize import run_tokenize_job
    from pipelines.tools.verify import verify_shards

    root, counts = real_mixture
    runs = {}
    for workers in (1, 2):
        out = root / f"shards-{workers}"
        result = run_tokenize_job(None, str(root / "tok"), str(out), 128, mixture=str(root / "mix.yaml"),
                                  workers=workers, doc_ids=True, rows_per_shard=300, seed=3)
        runs[workers] = (out, result.manifest)
    out, manifest = runs[1]
    # byte-identical across worker counts: every shard and the manifest
    for path in sorted(p.name for p in out.iterdir() if p.is_file()):
        assert (out / path).read_bytes() == (runs[2][0] / path).read_bytes(), path
    mix = manifest.mixture
    by_name = {s["name"]: s for s in mix["sources"]}
    assert list(by_name) == ["books", "code", "web"] and mix["total_tokens"] == 1_200_000
    assert by_name["web"]["input"] == "docs/web.jsonl"
    assert mix["tokens"] == manifest.totals.non_pad_tokens == sum(s["tokens"] for s in by_name.values())
    assert abs(mix["tokens"] - 1_200_000) / 1_200_000 < 0.005
    web = by_name["web"]
    assert web["available_documents"] == counts["web"] and web["requested_epochs"] == 1.5
    assert abs(web["documents"] - 1.5 * counts["web"]) <= 1
    weighted = by_name["books"]["tokens"] + by_name["code"]["tokens"]
    for name, weight in (("books", 0.7), ("code", 0.3)):
        s = by_name[name]
        assert abs(s["share"] - s["tokens"] / mix["tokens"]) < 1e-6
        assert abs(s["tokens"] / weighted - weight) < 0.005, (name, s)  # within 0.5 % of the requested share
        assert abs(s["share"] - s["requested_share"]) < 0.005, s
        assert s["epochs"] == pytest.approx(s["tokens"] / s["available_tokens"])
    assert by_name["books"]["epochs"] > 1 > by_name["code"]["epochs"]  # books repeat, code is subsampled
    assert {k: (v.documents, v.tokens) for k, v in manifest.sources.items()} == {
        s["name"]: (s["documents"], s["tokens"]) for s in mix["sources"]}
    # lineage: every copy is named, copies of one document never share a row, and mostly not a shard
    rows_of, shards_of = defaultdict(set), defaultdict(set)
    row = 0
    for shard in manifest.shards:
        for ids in pq.read_table(out / shard.path, columns=["doc_ids"]).column("doc_ids").to_pylist():
            for doc_id in ids:
                base, _ = split_copy_id(doc_id)
                rows_of[base].add((doc_id, row))
                shards_of[base].add((doc_id, shard.path))
            row += 1
    repeated = [b for b, seen in rows_of.items() if len({i for i, _ in seen}) > 1]
    assert len(repeated) >= counts["web"] // 2
    for base in repeated:
        copies = {i for i, _ in rows_of[base]}
        by_copy_rows = [{r for i, r in rows_of[base] if i == c} for c in copies]
        assert not set.intersection(*by_copy_rows), base
    apart = sum(len({s for _, s in shards_of[b]}) > 1 for b in repeated) / len(repeated)
    assert apart > 0.6, apart  # ~ 1 - 1/shards, shards of 300 rows
    verify_shards(str(out), str(root / "tok"))


def test_cli_takes_input_or_mixture_and_a_bad_source_stops_before_the_job(real_mixture, tmp_path, capsys):
    from pipelines.jobs.tokenize import main

    root, _ = real_mixture
    with pytest.raises(SystemExit):
        main(["--input", "x", "--mixture", "y", "--tokenizer", "t", "--seq-len", "8", "--output", "o"])
    assert "not allowed with argument" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"sources: [{{name: web, input: {root}/docs/web.jsonl, weight: 1}}, "
                   f"{{name: gone, input: {tmp_path}/missing.jsonl, weight: 1}}]\n")
    with pytest.raises(FileNotFoundError, match="source 'gone'"):
        main(["--mixture", str(bad), "--tokenizer", str(root / "tok"), "--seq-len", "8",
              "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_source_whose_share_is_below_every_document_is_warned_about(word_corpus, tmp_path, capsys):
    """A budget smaller than every document a source selects writes none of them (whole documents only): the
    job said no more than `share 0.00 % (requested ...)` and exited 0."""
    from pipelines import cli

    docs = word_corpus / "documents"
    mix = tmp_path / "mix.yaml"
    mix.write_text(f"sources:\n  - {{name: web, input: {docs}, source: web, weight: 0.99}}\n"
                   f"  - {{name: books, input: {docs}, source: books, weight: 0.01}}\ntotal_tokens: 400\n")
    assert cli.main(["tokenize", "--mixture", str(mix), "--tokenizer", str(word_corpus / "tok"), "--seq-len", "64",
                     "--output", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "mixture source 'books' asked for 4 tokens and wrote no document" in err, err
    assert "'web'" not in err
