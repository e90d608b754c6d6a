"""Checks of the offline tools that an audit found missing, each on small real curate outputs made here (the
real curate job through the `winnow` command line) and through the command line itself:

- `winnow stats DIR` said "report checks: ok" when documents/ held other documents than report.json counts;
- `winnow stats --html` embedded its JSON with `<!--<script>` (from a URL) left as is: an HTML parser then ran
  the script element to the end of the page, and the JSON could not be read back;
- a damaged part file of an `against` index failed the curate with pyarrow's message, naming no file;
- `winnow index merge` of a MinHash index with shingle-hash sets and one without dropped the sets unsaid;
- `winnow stats` of a curate run against an earlier index reported 0 duplicates removed;
- `winnow stats CURATED --tokenizer X --checksums` and `winnow inspect CURATED --tokenizer X` ignored the options.
"""
from __future__ import annotations

import json
import random
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from filters import dedup_index as dix
from pipelines import cli
from pipelines.tools import stats as stats_tool
from pipelines.tools.stats import compute_stats
from pipelines.transforms.dedup import EXACT_STAGE, MINHASH_STAGE, PREVIOUS_REASON
from schemas import Report
from tests.clirun import last_error_line, winnow

WORDS = ("the of and to in a is that it was for on are with as his they be at one have this from or had by "
         "river garden window morning letter village teacher winter market station doctor kitchen music "
         "quietly carefully slowly walked opened wrote carried noticed remembered believed").split()
MINHASH = "ngram: 5, num_perm: 112, bands: 14, rows: 8, seed: 1"
# A URL whose host holds `<!--<script>`: in a <script> element's raw text an HTML parser reads it as the start
# of an escaped script, and the element then runs past its `</script>` to the end of the page.
TRICKY_URL = "https://<!--<script>.example.org/page"


def _text(rng: random.Random) -> str:
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 16))).capitalize() + "."
                     for _ in range(rng.randint(4, 8)))


def _write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _curate(root: Path, name: str, rows, recipe: str) -> Path:
    out = root / name
    (root / f"{name}.yaml").write_text(f"name: {name}\n{recipe}", encoding="utf-8")
    code = cli.main(["curate", "-i", str(_write_jsonl(root / f"{name}.jsonl", rows)), "-o", str(out),
                     "--recipe", str(root / f"{name}.yaml")])
    assert code == 0, name
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A: 20 documents (one exact copy among them, one with TRICKY_URL) curated with both dedup stages (MinHash
    verified, so its index has sets); B: 5 copies of A's documents and 5 new ones, against A; NV: A's first
    documents with MinHash not verified (an index without sets)."""
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("tools-checks")
    a_rows = [{"id": f"a{i:02d}", "text": _text(rng), "url": f"https://a.example.org/{i}"} for i in range(19)]
    a_rows[3]["url"] = TRICKY_URL
    a_rows.append({"id": "a19", "text": a_rows[0]["text"], "url": "https://a.example.org/copy"})
    b_rows = ([{"id": f"b{i:02d}", "text": a_rows[i + 1]["text"], "url": f"https://b.example.org/{i}"} for i in range(5)]
              + [{"id": f"b{i:02d}", "text": _text(rng), "url": f"https://b.example.org/{i}"} for i in range(5, 10)])
    a = _curate(root, "A", a_rows, f"dedup_exact: {{normalize: true}}\ndedup_minhash: {{{MINHASH}}}\n")
    b = _curate(root, "B", b_rows, f"dedup_exact: {{normalize: true, against: ['{a}']}}\n"
                                   f"dedup_minhash: {{{MINHASH}, against: ['{a}']}}\n")
    nv = _curate(root, "NV", a_rows[10:15], f"dedup_minhash: {{{MINHASH}, verify_threshold: null}}\n")
    return {"root": root, "A": a, "B": b, "NV": nv, "b_rows": b_rows}


# -- 1. documents/ is checked against report.json ---------------------------------------------------------

def test_report_checks_catch_documents_that_disagree_with_the_report(runs, tmp_path, capsys):
    assert compute_stats(str(runs["A"]), progress=False)["report_checks"] == ["ok"]
    copy = tmp_path / "A"
    shutil.copytree(runs["A"], copy)
    part = sorted((copy / "documents").glob("*.parquet"))[0]
    shutil.copy(sorted((runs["B"] / "documents").glob("*.parquet"))[0], copy / "documents" / "part-other.parquet")
    stats = compute_stats(str(copy), progress=False)
    expected = Report.load(str(copy / "report.json")).outputs["documents"]
    assert stats["documents"] > expected == stats["report_outputs"]["documents"]
    assert stats["report_checks"] == [f"documents/: {stats['documents']} documents, report.json outputs say "
                                      f"{expected}"], stats["report_checks"]
    code, out, _ = winnow(capsys, "stats", copy, "--no-progress")
    assert code == 0 and "report checks: documents/: " in out
    part.unlink()  # fewer documents than the report says is caught too
    assert compute_stats(str(copy), progress=False)["report_checks"][0].startswith("documents/: ")


# -- 2. the JSON embedded in the HTML report survives an HTML parser --------------------------------------

class _Scripts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self._open = {}, None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._open = dict(attrs).get("id")
            self.scripts[self._open] = ""

    def handle_data(self, data):
        if self._open is not None:
            self.scripts[self._open] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def test_html_report_json_holds_no_markup_and_reads_back(runs, tmp_path, capsys):
    page = tmp_path / "report.html"
    code, out, _ = winnow(capsys, "stats", runs["A"], "--json", "--no-progress", "--html", page)
    assert code == 0
    stats = json.loads(out)
    assert "<!--<script>.example.org" in {d["name"] for d in stats["top_domains"]}
    parser = _Scripts()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    raw = parser.scripts["winnow-stats"]
    # no `<` at all: `<!--` and `<script` in the raw text would change how an HTML5 parser ends the element
    assert not any(c in raw for c in "<>&\u2028\u2029"), raw[raw.find("<") - 40:raw.find("<") + 40]
    assert json.loads(raw) == stats


# -- 3. a damaged index file is named -------------------------------------------------------------------

def test_damaged_index_file_is_named_with_the_fix(runs, tmp_path, capsys):
    old = tmp_path / "A"
    shutil.copytree(runs["A"], old)
    parts = sorted((old / "index" / EXACT_STAGE).glob("part-*.parquet"))
    for part in parts:
        part.write_bytes(part.read_bytes()[:20])
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ndedup_exact: {{normalize: true, against: ['{old}']}}\n")
    docs = _write_jsonl(tmp_path / "b.jsonl", runs["b_rows"])
    code, _, err = winnow(capsys, "curate", "-i", docs, "-o", tmp_path / "out", "--recipe", recipe)
    line = last_error_line(err, "curate")
    assert code == 1
    assert any(f"{part}: cannot be read (" in line for part in parts), line
    assert dix.FIX_DAMAGED_INDEX in line, line


# -- 4. a merge that cannot keep the MinHash sets says so ---------------------------------------------------

def test_merge_names_the_input_without_shingle_sets(runs, tmp_path, capsys):
    code, _, err = winnow(capsys, "index", "merge", runs["A"], runs["NV"], "-o", tmp_path / "m",
                          "--stage", MINHASH_STAGE)
    assert code == 0
    stage_dir, _ = dix.load_description(str(tmp_path / "m"), MINHASH_STAGE)
    assert dix.load_sets(stage_dir) is None
    warned = [l for l in err.splitlines() if "shingle-hash sets" in l]
    assert len(warned) == 1 and str(runs["NV"]) in warned[0] and f"{runs['A']}," not in warned[0], err
    assert "verify_threshold: null" in warned[0]
    # with sets in every input, nothing is said and the sets are merged
    code, _, err = winnow(capsys, "index", "merge", runs["A"], runs["B"], "-o", tmp_path / "m2",
                          "--stage", MINHASH_STAGE)
    assert code == 0 and "shingle-hash sets" not in err, err
    assert dix.load_sets(str(tmp_path / "m2" / "index" / MINHASH_STAGE)) is not None


# -- 5. duplicates of an earlier run count ------------------------------------------------------------------

def test_stats_count_duplicates_of_an_earlier_index(runs, capsys):
    report = Report.load(str(runs["B"] / "report.json"))
    previous = sum(s.dropped.get(PREVIOUS_REASON, 0) for s in report.stages)
    assert previous == 5  # B's copies of A's documents
    stats = compute_stats(str(runs["B"]), progress=False)
    sizes = pq.read_table(runs["B"] / "documents", columns=["dedup_cluster_size"]).column(0).to_pylist()
    within = sum((s or 1) - 1 for s in sizes)
    assert stats["dedup_duplicates_removed"] == within + previous >= 5  # was 0
    assert stats_tool.PREVIOUS_REASON == PREVIOUS_REASON  # stats.py keeps a copy: dedup.py imports Beam
    code, out, _ = winnow(capsys, "stats", runs["B"], "--no-progress")
    assert code == 0 and "5 of them duplicates of an earlier run's index" in out
    # without report.json, the rows of rejected/ tell
    copy = runs["root"] / "B-noreport"
    shutil.copytree(runs["B"], copy)
    (copy / "report.json").unlink()
    assert compute_stats(str(copy), progress=False)["dedup_duplicates_removed"] == within + previous
    # a run without an earlier index: removed within the run only (A holds one exact copy)
    assert compute_stats(str(runs["A"]), progress=False)["dedup_duplicates_removed"] == 1


# -- 6. shard-only options on a curate output ---------------------------------------------------------------

def test_shard_options_on_a_curate_output_are_refused(runs, capsys):
    code, out, err = winnow(capsys, "stats", runs["A"], "--tokenizer", "/nonexistent", "--checksums", "--no-progress")
    assert code == 1 and not out, out
    line = last_error_line(err, "stats")
    assert "--tokenizer, --checksums" in line and "not a shards directory" in line, line
    code, _, err = winnow(capsys, "stats", runs["A"], "--checksums", "--no-progress")
    assert code == 1 and "--checksums apply to shards" in last_error_line(err, "stats")
    code, out, err = winnow(capsys, "inspect", runs["A"], "--tokenizer", "/nonexistent")
    assert code == 1 and "== documents" not in out, out
    assert "--tokenizer decodes shards" in last_error_line(err, "inspect")
    code, _, err = winnow(capsys, "inspect", runs["A"], "--doc-id", "a00", "--tokenizer", "/nonexistent")
    assert code == 1 and "--tokenizer decodes shards" in last_error_line(err, "inspect")
    code, out, _ = winnow(capsys, "inspect", runs["A"], "-n", "1")  # without them: as before
    assert code == 0 and "== documents" in out
