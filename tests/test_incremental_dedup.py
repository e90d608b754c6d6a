"""Incremental dedup (issue 20): the index a dedup stage writes, `against` earlier indexes, and equivalence
with one joint run, on real prose split in two with planted cross-split duplicates."""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Dict, List, Tuple

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters import dedup_index as dix
from filters.dedup import exact_dedup_key
from pipelines.jobs.recipe import RecipeError, parse_recipe
from pipelines.transforms.dedup import EXACT_STAGE, MINHASH_STAGE, PREVIOUS_REASON, DedupExact
from pipelines.transforms.stages import REJECTED
from schemas.progress import Progress

BOOKS = Path("text") / "gutenberg"  # under the shared data directory (the `shared_data` fixture)
ARTICLES = Path("html") / "scrapinghub_aeb" / "ground-truth.json"


# ------------------------------------------------------------------------------------------ pure

def _rows(n: int, prefix: str = "d") -> List[Tuple[int, bytes, str]]:
    keys = [hashlib.blake2b(f"text {prefix} {i}".encode(), digest_size=16).digest() for i in range(n)]
    return [(dix.bucket_of(k), k, f"{prefix}{i:05d}") for i, k in enumerate(keys)]


def _write_index(directory: Path, rows, partitions: int, stage: str = EXACT_STAGE, params=None) -> Dict:
    params = params or dix.exact_params(True)
    files = {}
    for b, k, i in rows:
        files.setdefault(dix.partition_of(b, partitions), []).append((b, k, i))
    entries = [dix.write_partition(str(directory), p, partitions, r) for p, r in files.items()]
    desc = dix.describe(stage, params, partitions, entries, 1)
    dix.write_description(str(directory), desc)
    return desc


def test_partition_ranges_cover_every_bucket_once():
    for partitions in (1, 3, 16, 256, 65536):
        parts = [dix.partition_of(b, partitions) for b in range(dix.BUCKETS)]
        assert parts == sorted(parts) and parts[0] == 0 and parts[-1] == partitions - 1
    assert dix.is_previous(dix.previous_node(3, "x")) and dix.parse_previous(dix.previous_node(3, "x")) == (3, "x")
    # an earlier run's node sorts before every document, whatever the representative criterion
    assert dix.previous_node(9999, "zzz") < "\x01" < "0" < "a"


def test_lookup_reads_only_the_row_groups_of_the_keys_buckets(tmp_path):
    rows = _rows(40_000)
    desc = _write_index(tmp_path, rows, partitions=8)
    assert desc["rows"] == 40_000 and desc["documents"] == 40_000 and len(desc["files"]) == 8
    reader = dix.IndexReader(str(tmp_path), desc)
    probe = rows[:5]
    for b, k, i in probe:
        assert reader.lookup(b, [k, b"\x00" * 16]) == [(k, i)]
    assert reader.lookup(probe[0][0], [bytes(16)]) == []
    assert reader.partitions_opened <= 5 and reader.row_groups_read <= 5
    assert reader.bytes_read < desc["bytes"] / 2  # ~10 row groups exist; at most 5 read
    for f in desc["files"]:  # the checksums in index.json are those of the files
        assert hashlib.sha256((tmp_path / f["path"]).read_bytes()).hexdigest() == f["sha256"]
        table = pq.read_table(tmp_path / f["path"])
        assert table.schema.equals(dix.INDEX_SCHEMA)
        assert table.column(dix.BUCKET).to_pylist() == sorted(table.column(dix.BUCKET).to_pylist())


def test_index_with_other_parameters_is_refused_before_the_job(tmp_path):
    from filters.minhash import MinHashParams

    index = tmp_path / "old" / "index" / MINHASH_STAGE
    _write_index(index, [], 4, stage=MINHASH_STAGE, params=dix.minhash_params(MinHashParams(ngram=4)))
    from pipelines.jobs.curate import check_against_indexes, run_curate

    def check(opts):
        check_against_indexes(parse_recipe(opts))

    with pytest.raises(RecipeError, match=r"ngram: index 4, this recipe 5"):
        check({"dedup_minhash": {"against": [str(tmp_path / "old")]}})
    with pytest.raises(RecipeError, match=r"holds no dedup_exact index"):
        check({"dedup_exact": {"against": [str(tmp_path / "old")]}})
    with pytest.raises(RecipeError, match=r"holds no shingle-hash sets"):  # it cannot verify pairs
        check({"dedup_minhash": {"ngram": 4, "against": [str(tmp_path / "old" / "index")]}})
    check({"dedup_minhash": {"ngram": 4, "verify_threshold": None, "against": [str(tmp_path / "old" / "index")]}})
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "x", "text": "a b c d e f"}\n')
    with pytest.raises(RecipeError, match=r"ngram: index 4, this recipe 5"):  # before the job: no output at all
        run_curate([str(docs)], str(tmp_path / "out"), parse_recipe({"dedup_minhash": {"against": [str(tmp_path / "old")]}}))
    assert not (tmp_path / "out" / "report.json").exists()


def test_an_index_from_before_the_words_option_is_refused_unless_the_recipe_says_whitespace(tmp_path):
    """Indexes written before `words` existed do not record it and were built splitting at whitespace only: the
    default ("scripts": Chinese, Japanese, Thai, ... by characters) would give other band keys for such texts,
    so the run is refused naming the option, and `words: whitespace` matches the index."""
    from filters.minhash import MinHashParams
    from pipelines.jobs.curate import check_against_indexes

    index = tmp_path / "old" / "index" / MINHASH_STAGE
    params = dix.minhash_params(MinHashParams())
    del params["words"]  # as an index of an earlier release describes itself
    _write_index(index, [], 4, stage=MINHASH_STAGE, params=params)
    against = [str(tmp_path / "old")]
    with pytest.raises(RecipeError, match=r"words: index 'whitespace', this recipe 'scripts'"):
        check_against_indexes(parse_recipe({"dedup_minhash": {"verify_threshold": None, "against": against}}))
    check_against_indexes(parse_recipe({"dedup_minhash": {"verify_threshold": None, "words": "whitespace",
                                                          "against": against}}))


def test_merge_is_the_union_and_refuses_other_parameters(tmp_path, capsys):
    a, b = _rows(3000, "a"), _rows(2000, "b")
    _write_index(tmp_path / "a", a, 4)
    _write_index(tmp_path / "b", b, 16)
    from pipelines.cli import main as winnow

    assert winnow(["index", "merge", str(tmp_path / "a"), str(tmp_path / "b"), "--output", str(tmp_path / "m")]) == 0
    stage_dir, merged = dix.load_description(str(tmp_path / "m"), EXACT_STAGE)
    assert stage_dir == str(tmp_path / "m" / "index" / EXACT_STAGE)
    assert merged["rows"] == 5000 and merged["partitions"] == 16
    got = set()
    for f in merged["files"]:
        t = pq.read_table(os.path.join(stage_dir, f["path"]))
        got |= set(zip(t.column(dix.BUCKET).to_pylist(), t.column(dix.KEY).to_pylist(), t.column(dix.KEPT_ID).to_pylist()))
    assert got == set(a) | set(b)
    _write_index(tmp_path / "c", [], 4, params=dix.exact_params(False))
    with pytest.raises(ValueError, match="normalize: index 'normalize_for_dedup', this recipe 'none'"):
        dix.merge_indexes([str(tmp_path / "a"), str(tmp_path / "c")], str(tmp_path / "m2"), EXACT_STAGE)
    with pytest.raises(SystemExit) as done:
        winnow(["index", "merge", "--help"])
    assert done.value.code == 0 and "--output" in capsys.readouterr().out
    # an --output that already holds a merged index is refused: the merge would replace it, not add to it
    before = sorted(p.name for p in (tmp_path / "m" / "index" / EXACT_STAGE).iterdir())
    assert winnow(["index", "merge", str(tmp_path / "b"), "--output", str(tmp_path / "m")]) == 1
    assert "already holds a dedup_exact index" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "m" / "index" / EXACT_STAGE).iterdir()) == before
    # a stage only some DIRs hold is left out of the default merge: it is said, not dropped unseen
    both = tmp_path / "both"  # a curate output's layout: index/<stage>/ for each dedup stage it ran
    _write_index(both / "index" / EXACT_STAGE, a, 4)
    _write_index(both / "index" / MINHASH_STAGE, [], 2, stage=MINHASH_STAGE, params={"ngram": 5})
    capsys.readouterr()
    assert winnow(["index", "merge", str(both), str(tmp_path / "b"), "--output", str(tmp_path / "m3")]) == 0
    assert (f"index merge: dedup_minhash is not merged: only {both} of the DIRs hold it; merge it alone "
            f"with --stage dedup_minhash") in capsys.readouterr().err
    assert not (tmp_path / "m3" / "index" / MINHASH_STAGE).exists() and (tmp_path / "m3" / "index" / EXACT_STAGE).is_dir()


# ------------------------------------------------------------------------------------------ one composite

def test_exact_against_an_index_rejects_previous_texts_and_keeps_within_run_dedup(tmp_path):
    texts = ["the first text of the old crawl", "an old text that comes back", "a text only the new crawl has"]
    kept_old = [(dix.bucket_of(bytes.fromhex(exact_dedup_key(t))), bytes.fromhex(exact_dedup_key(t)), f"old{i}")
                for i, t in enumerate(texts[:2])]
    _write_index(tmp_path / "old", kept_old, 4)
    docs = [{"id": "n1", "text": "An old text,  that comes back!"}, {"id": "n2", "text": texts[2]},
            {"id": "n3", "text": texts[2] + " "}]
    p = TestPipeline(runner=FnApiRunner())
    out = p | beam.Create(docs) | DedupExact(against=[str(tmp_path / "old")], index_partitions=2)
    assert_that(out["kept"] | "KeptIds" >> beam.Map(lambda d: d["id"]), equal_to(["n2"]), label="kept")
    assert_that(out[REJECTED] | beam.Map(lambda r: (r["id"], r["reason"], r["duplicate_of"], r["detail"])),
                equal_to([("n1", PREVIOUS_REASON, "old1", {"index": str(tmp_path / "old")}),
                          ("n3", "exact_duplicate", "n2", None)]), label="rejected")
    assert_that(out["index"] | "IndexIds" >> beam.Map(lambda r: r[2]), equal_to(["n2"]), label="index")
    p.run().wait_until_finish()


# ------------------------------------------------------------------------------------------ real data, end to end

def _word_edit(text: str, rate_percent: int, salt: str) -> str:
    """Replace about rate_percent % of the words, chosen by hashes of (salt, position): deterministic."""
    words = text.split()
    for i in range(len(words)):
        h = hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=4).digest()
        if int.from_bytes(h, "little") % 100 < rate_percent:
            words[i] = f"w{h.hex()}"
    return " ".join(words)


def build_split_corpus(data: Path, n_book_docs: int = 120, n_articles: int = 30, words: int = 150,
                       planted_a: int = 36, planted_b: int = 10):
    """(A rows, B rows, planted) from real prose: book chunks and news articles split in two by id hash, with B
    gaining exact copies of A documents, near-copies at several edit rates, two-step chains (B -> B -> A) and
    near-copies of B's own documents. Ids sort A before B, as ids of successive snapshots would."""
    base = []
    books = sorted((data / BOOKS).glob("pg*.txt"))[:6]
    assert len(books) == 6, f"{data / BOOKS} holds {len(books)} of the 6 books this corpus needs"
    for book in books:
        ws = book.read_text(encoding="utf-8", errors="replace").split()[2000:]  # past the PG header
        base += [" ".join(ws[i * words:(i + 1) * words]) for i in range(n_book_docs // 6)]
    articles = json.loads((data / ARTICLES).read_text(encoding="utf-8"))
    base += [" ".join(v["articleBody"].split()[:300]) for _k, v in sorted(articles.items())[:n_articles]]
    a_rows, b_rows = [], []
    for i, text in enumerate(base):
        side = hashlib.blake2b(str(i).encode(), digest_size=1).digest()[0] % 2
        (a_rows if side == 0 else b_rows).append({"id": f"{'AB'[side]}-{i:05d}", "text": text})
    planted = {"exact": [], "near": [], "chain": [], "within_b": []}
    for j, a in enumerate(a_rows[:planted_a]):
        if j % 6 == 0:  # whitespace variant: the same text after normalisation
            row = {"id": f"B-x{j:04d}", "text": "  " + a["text"].replace(" ", "   ") + "\n"}
            planted["exact"].append(row["id"])
        elif j % 6 == 5:
            mid = {"id": f"B-c{j:04d}1", "text": _word_edit(a["text"], 2, f"c{j}")}
            b_rows.append(mid)
            row = {"id": f"B-c{j:04d}0", "text": _word_edit(mid["text"], 2, f"d{j}")}
            planted["chain"] += [mid["id"], row["id"]]
        else:
            rate = (1, 2, 4, 8)[j % 6 - 1]
            row = {"id": f"B-n{rate}-{j:04d}", "text": _word_edit(a["text"], rate, f"n{j}")}
            planted["near"].append(row["id"])
        b_rows.append(row)
    for j, b in enumerate(list(b_rows[:planted_b])):
        row = {"id": f"B-w{j:04d}", "text": _word_edit(b["text"], 2, f"w{j}")}
        b_rows.append(row)
        planted["within_b"].append(row["id"])
    return a_rows, b_rows, planted


def _write_jsonl(path: Path, rows) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return str(path)


def removed_by_stage(out_dir: str, ids) -> Dict[str, set]:
    ids = set(ids)
    rows = pq.read_table(os.path.join(out_dir, "rejected"), columns=["id", "stage"]).to_pylist()
    by_stage: Dict[str, set] = {}
    for r in rows:
        if r["id"] in ids:
            by_stage.setdefault(r["stage"], set()).add(r["id"])
    return by_stage


def equivalence(tmp_path: Path, a_rows, b_rows, recipe_opts=None, workers: int = 1):
    """Curate A; curate B against A's index; curate A + B together. Returns the figures and both B outcomes."""
    from pipelines.jobs.curate import run_curate

    opts = recipe_opts or {"dedup_exact": {"index_partitions": 16}, "dedup_minhash": {"index_partitions": 16}}
    a_in, b_in = _write_jsonl(tmp_path / "a.jsonl", a_rows), _write_jsonl(tmp_path / "b.jsonl", b_rows)
    out_a, out_b, out_ab = (str(tmp_path / n) for n in ("out_a", "out_b", "out_ab"))
    run_curate([a_in], out_a, parse_recipe(opts), workers=workers)
    against = {k: dict(v, against=[out_a]) for k, v in opts.items()}
    report_b = run_curate([b_in], out_b, parse_recipe(against), workers=workers)
    run_curate([a_in, b_in], out_ab, parse_recipe(opts), workers=workers)
    b_ids = [r["id"] for r in b_rows]
    inc, joint = removed_by_stage(out_b, b_ids), removed_by_stage(out_ab, b_ids)
    exact_inc, exact_joint = inc.get(EXACT_STAGE, set()), joint.get(EXACT_STAGE, set())
    entered_minhash = set(b_ids) - exact_joint
    mh_inc, mh_joint = inc.get(MINHASH_STAGE, set()), joint.get(MINHASH_STAGE, set())
    differ = mh_inc ^ mh_joint
    figures = {"b_documents": len(b_ids), "exact_removed_incremental": len(exact_inc),
               "exact_removed_joint": len(exact_joint), "exact_equal": exact_inc == exact_joint,
               "minhash_documents": len(entered_minhash), "minhash_removed_incremental": len(mh_inc),
               "minhash_removed_joint": len(mh_joint), "minhash_differ": sorted(differ),
               "minhash_agreement": 1 - len(differ) / max(1, len(entered_minhash))}
    return figures, report_b, out_a, out_b


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_then_b_against_a_removes_what_one_joint_run_removes_from_b(shared_data, tmp_path):
    a_rows, b_rows, planted = build_split_corpus(shared_data)
    figures, report_b, out_a, out_b = equivalence(tmp_path, a_rows, b_rows)
    assert figures["exact_equal"] and figures["exact_removed_incremental"] >= len(planted["exact"])
    assert figures["minhash_agreement"] >= 0.995, figures
    # planted near-copies at 1 % edits go, as duplicates of A's kept documents (at 2-8 %, some stay in both runs:
    # their exact Jaccard with the A document falls below verify_threshold 0.75)
    rejected = {r["id"]: r for r in pq.read_table(os.path.join(out_b, "rejected")).to_pylist()}
    for doc_id in planted["exact"]:
        r = rejected[doc_id]
        assert (r["stage"], r["reason"]) == (EXACT_STAGE, PREVIOUS_REASON)
        assert dict(r["detail"]) == {"index": out_a} and r["duplicate_of"].startswith("A-")
    for doc_id in [i for i in planted["near"] if i.startswith("B-n1-")]:
        assert rejected[doc_id]["reason"] == PREVIOUS_REASON, doc_id  # dedup_exact where no word was edited
    assert any(rejected.get(i, {}).get("reason") == "near_duplicate" for i in planted["within_b"])
    # the accounting identity holds with the new reason, and report.json says what the indexes hold
    for stage in report_b.stages:
        assert stage.in_ == stage.kept + stage.dropped_total + stage.errors
    report = json.loads(Path(out_b, "report.json").read_text())
    assert report["index"][MINHASH_STAGE]["params"]["bands"] == 14
    assert report["index"][EXACT_STAGE]["documents"] == report_b.stages[-2].kept
    _d, desc = dix.load_description(out_b, MINHASH_STAGE)
    assert desc["documents"] == report_b.stages[-1].kept and desc["rows"] == 14 * desc["documents"]
    kept = set(pq.read_table(os.path.join(out_b, "documents"), columns=["id"]).column("id").to_pylist())
    indexed = set()
    for f in desc["files"]:
        indexed |= set(pq.read_table(os.path.join(out_b, "index", MINHASH_STAGE, f["path"]),
                                     columns=[dix.KEPT_ID]).column(0).to_pylist())
    assert indexed == kept


def test_publish_replaces_the_previous_index_and_keeps_foreign_files(tmp_path):
    from pipelines.runtime.staging import StagedOutput

    out = tmp_path / "out"
    old = out / "index" / EXACT_STAGE
    _write_index(old, _rows(10), 1)
    (out / "index" / "notes.txt").write_text("mine")
    (out / "report.json").write_text("{}")
    staged = StagedOutput(str(out), ("documents",), last="report.json", owned_trees=("index",))
    staged.prepare()
    _write_index(Path(staged.staging) / "index" / MINHASH_STAGE, [], 1, stage=MINHASH_STAGE,
                 params={"ngram": 5})
    (Path(staged.staging) / "report.json").write_text('{"new": 1}')
    staged.publish()
    assert not list(old.glob("*")), "a stage the new run did not index keeps no stale index"
    assert (out / "index" / MINHASH_STAGE / dix.DESCRIPTION).is_file() and (out / "index" / "notes.txt").is_file()


def test_merge_carries_the_minhash_sets_when_every_input_has_them(tmp_path):
    from filters.minhash import MinHashParams

    params = dix.minhash_params(MinHashParams())
    for name, ids in (("a", ["a1", "a2"]), ("b", ["b1"])):
        stage_dir = tmp_path / name / "index" / MINHASH_STAGE
        _write_index(stage_dir, _rows(28, name), 2, stage=MINHASH_STAGE, params=params)
        sets = [(dix.id_bucket(i), i, bytes(range(8)) * (n + 1)) for n, i in enumerate(ids)]
        entries = [dix.write_partition(str(stage_dir / dix.SETS_DIR), 0, 1, sets, dix.SETS_SCHEMA)]
        dix.write_description(str(stage_dir / dix.SETS_DIR), dix.describe(MINHASH_STAGE, params, 1, entries, 1,
                                                                          holds=dix.SETS_HOLDS))
    progress = Progress("index merge", ("partitions", "rows"), stream=io.StringIO(), tty=False)
    merged = dix.merge_indexes([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "m"), MINHASH_STAGE,
                               progress=progress)
    assert merged["rows"] == 56
    # the progress line counts the partitions of the index and of the sets (2 + 2), and every row of both
    assert progress.total == 4 and progress.counts == {"partitions": 4, "rows": 56 + 3}
    sets_dir, sets = dix.load_sets(str(tmp_path / "m"))
    reader = dix.IndexReader(sets_dir, sets, key_column=dix.KEPT_ID, value_column=dix.SET)
    assert reader.lookup(dix.id_bucket("a2"), ["a2"]) == [("a2", bytes(range(8)) * 2)]
    assert sets["rows"] == 3 and sets["holds"] == dix.SETS_HOLDS


def test_against_the_output_directory_itself_is_refused_before_the_job(tmp_path, capsys):
    # the second run read its own output's index as "earlier" (every document a duplicate of itself), then replaced
    # that output and index with an empty one: exit 0, the first run's documents gone
    from pipelines.cli import main

    docs = _write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": f"document number {i} here"} for i in range(5)])
    first = tmp_path / "first.yaml"
    first.write_text("name: first\ndedup_exact: {}\n")
    out = tmp_path / "out"
    assert main(["curate", "-i", docs, "-o", str(out), "--recipe", str(first)]) == 0
    before = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())
    for against in (str(out), str(out / "index"), str(out) + "/"):
        again = tmp_path / "again.yaml"
        again.write_text(f"name: again\ndedup_exact: {{against: ['{against}']}}\n")
        assert main(["curate", "-i", docs, "-o", str(out), "--recipe", str(again)]) == 1
        err = capsys.readouterr().err
        assert "stage 'dedup_exact': the `against` directory" in err and "is inside the output directory" in err, err
        assert sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file()) == before
    # against an earlier run elsewhere still works
    again.write_text(f"name: again\ndedup_exact: {{against: ['{out}']}}\n")
    assert main(["curate", "-i", docs, "-o", str(tmp_path / "second"), "--recipe", str(again)]) == 0


@pytest.mark.parametrize("damage, needle", [
    ("list", "is a JSON list, not an index description"),          # AttributeError traceback before
    ("no_partitions", "'partitions' is None, not a whole number"),  # KeyError mid-job before
    ("cut", "cannot be read as an index description (Expecting"),  # json's message, no file, before
    ("empty", "cannot be read as an index description"),
    ("part_deleted", "of the files its index.json lists are missing"),  # FileNotFoundError mid-job before
])
def test_a_damaged_index_description_is_one_line_naming_it_before_the_job(tmp_path, damage, needle):
    from pipelines.jobs.curate import check_against_indexes

    index = tmp_path / "old" / "index" / EXACT_STAGE
    _write_index(index, _rows(50), 4)
    desc_path = index / dix.DESCRIPTION
    text = desc_path.read_text()
    if damage == "list":
        desc_path.write_text("[1, 2]")
    elif damage == "no_partitions":
        desc_path.write_text(json.dumps({k: v for k, v in json.loads(text).items() if k != "partitions"}))
    elif damage == "cut":
        desc_path.write_text(text[:200])
    elif damage == "empty":
        desc_path.write_text("")
    else:
        os.remove(index / json.loads(text)["files"][0]["path"])
    with pytest.raises(RecipeError) as info:
        check_against_indexes(parse_recipe({"dedup_exact": {"against": [str(tmp_path / "old")]}}))
    message = str(info.value)
    assert needle in message and str(index) in message and "the index file is damaged or truncated" in message


def test_a_merge_that_fails_on_a_damaged_part_leaves_nothing_and_a_retry_runs(tmp_path, capsys):
    """Both stages in two DIRs; one DIR's MinHash sets file cut to 50 bytes. The merge used to leave the merged
    dedup_exact index and a dedup_minhash index.json without sets: the retry was refused ("already holds"), and a
    curate against it was told to set verify_threshold: null, which would have used the half-merged index. A
    damaged index.json was taken for none ("only DIR holds it") and the merge went on with exit 0."""
    from filters.minhash import MinHashParams
    from tests.clirun import last_error_line, winnow

    params = dix.minhash_params(MinHashParams())
    for name in ("a", "b"):
        _write_index(tmp_path / name / "index" / EXACT_STAGE, _rows(40, name), 2)
        stage_dir = tmp_path / name / "index" / MINHASH_STAGE
        _write_index(stage_dir, _rows(28, name), 2, stage=MINHASH_STAGE, params=params)
        sets = [(dix.id_bucket(f"{name}1"), f"{name}1", bytes(range(8)))]
        entries = [dix.write_partition(str(stage_dir / dix.SETS_DIR), 0, 1, sets, dix.SETS_SCHEMA)]
        dix.write_description(str(stage_dir / dix.SETS_DIR), dix.describe(MINHASH_STAGE, params, 1, entries, 1,
                                                                          holds=dix.SETS_HOLDS))
    sets_dir = tmp_path / "b" / "index" / MINHASH_STAGE / dix.SETS_DIR
    part = sets_dir / json.loads((sets_dir / dix.DESCRIPTION).read_text())["files"][0]["path"]
    whole = part.read_bytes()
    part.write_bytes(whole[:50])
    out = tmp_path / "m"
    code, _, err = winnow(capsys, "index", "merge", tmp_path / "a", tmp_path / "b", "--output", out)
    assert code != 0 and str(part) in last_error_line(err, "index merge")
    assert not list(out.rglob(dix.DESCRIPTION))  # no index of either stage left behind
    part.write_bytes(whole)
    code, _, _ = winnow(capsys, "index", "merge", tmp_path / "a", tmp_path / "b", "--output", out)
    assert code == 0 and dix.load_description(str(out), EXACT_STAGE)[1]["rows"] == 80
    (tmp_path / "b" / "index" / EXACT_STAGE / dix.DESCRIPTION).write_text("[]")
    code, _, err = winnow(capsys, "index", "merge", tmp_path / "a", tmp_path / "b", "--output", tmp_path / "m2")
    assert code != 0 and "is a JSON list, not an index description" in last_error_line(err, "index merge")
