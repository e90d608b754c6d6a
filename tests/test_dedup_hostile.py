"""Hostile inputs to the dedup side of curate (an adversarial audit): damaged `against` indexes, MinHash options at
their extremes, and evaluation sets that are a corpus rather than items. Each test failed before its fix."""
from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Dict, List

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from filters import decontam, minhash
from filters import dedup_index as dix
from filters.minhash import MinHashParams, minhash_signatures
from tests.clirun import last_error_line, winnow


def _prose(i: int) -> str:
    return " ".join(f"w{chr(97 + (i * 7 + j) % 26)}{chr(97 + (i + j * 3) % 26)}{chr(97 + j % 26)}" for j in range(60))


def _write_jsonl(path: Path, docs: List[Dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A real curate with both dedup stages (verifying): its output, with index/, and its input."""
    root = tmp_path_factory.mktemp("earlier")
    docs = _write_jsonl(root / "a.jsonl", [{"id": f"a{i:03d}", "text": _prose(i)} for i in range(40)])
    recipe = root / "a.yaml"
    recipe.write_text("name: a\ndedup_exact: {}\ndedup_minhash: {}\n")
    from pipelines.cli import main

    assert main(["curate", "-i", docs, "-o", str(root / "out"), "--recipe", str(recipe)]) == 0
    return root / "out", docs


def _damaged_copy(src: Path, dst: Path, stage_dir: str, rewrite) -> Path:
    import shutil

    shutil.copytree(src / "index", dst / "index")
    for part in sorted((dst / "index" / stage_dir).glob("part-*.parquet")):
        rewrite(part)
    return dst


def _string_keys(part: Path) -> None:  # right names, wrong types: the key as hex text, ids as numbers
    t = pq.read_table(part)
    pq.write_table(pa.table({"bucket": t["bucket"], "key": pa.array([k.hex() for k in t["key"].to_pylist()]),
                             "kept_id": pa.array(range(len(t)), pa.int64())}), part)


def _string_sets(part: Path) -> None:
    t = pq.read_table(part)
    pq.write_table(pa.table({"bucket": t["bucket"], "kept_id": t["kept_id"],
                             "set": pa.array([s.hex() for s in t["set"].to_pylist()])}), part)


def _columns_reversed(part: Path) -> None:
    t = pq.read_table(part)
    pq.write_table(t.select(list(reversed(t.column_names))), part)


def _no_statistics(part: Path) -> None:
    pq.write_table(pq.read_table(part), part, write_statistics=False)


@pytest.mark.parametrize("stage_dir, rewrite, stage, needle", [
    # before: every document passed as new, exit 0 (a string key never equals a binary one)
    ("dedup_exact", _string_keys, "dedup_exact", "holds columns (bucket: uint16, key: string, kept_id: int64)"),
    # before: TypeError traceback from VerifyJaccard (np.frombuffer of a str)
    ("dedup_minhash/sets", _string_sets, "dedup_minhash", "set: string), not a dedup index part's"),
    # before: "invalid literal for int() with base 10: 'a000'", naming no file
    ("dedup_exact", _columns_reversed, "dedup_exact", "holds columns (kept_id: string, key: binary, bucket: uint16)"),
    # before: AttributeError: 'NoneType' object has no attribute 'min' (a traceback)
    ("dedup_exact", _no_statistics, "dedup_exact", "row group 0 has no bucket statistics"),
])
def test_an_index_part_of_another_shape_fails_the_run_naming_the_file(earlier_run, tmp_path, capsys, stage_dir,
                                                                       rewrite, stage, needle):
    out, docs = earlier_run
    damaged = _damaged_copy(out, tmp_path / "damaged", stage_dir, rewrite)
    # B: the same documents, a word changed in each so that MinHash reaches the sets (exact finds none)
    b_docs = [{"id": f"b{i:03d}", "text": _prose(i).replace(" ", " changed ", 1)} for i in range(40)]
    b = _write_jsonl(tmp_path / "b.jsonl", b_docs)
    recipe = tmp_path / "b.yaml"
    recipe.write_text(f"name: b\n{stage}: {{against: ['{damaged}']}}\n")
    code, _out, err = winnow(capsys, "curate", "-i", b if stage == "dedup_minhash" else docs,
                             "-o", tmp_path / "b_out", "--recipe", recipe)
    assert code == 1, err
    line = last_error_line(err, "curate")
    assert needle in line and str(damaged / "index" / stage_dir) in line, line
    assert "the index file is damaged or truncated" in line
    assert not (tmp_path / "b_out" / "documents").exists()  # nothing published as if it had been deduplicated


def test_an_undamaged_copy_still_removes_the_earlier_documents(earlier_run, tmp_path, capsys):
    out, docs = earlier_run
    intact = _damaged_copy(out, tmp_path / "intact", "dedup_exact", lambda part: None)
    recipe = tmp_path / "b.yaml"
    recipe.write_text(f"name: b\ndedup_exact: {{against: ['{intact}']}}\n")
    code, _out, err = winnow(capsys, "curate", "-i", docs, "-o", tmp_path / "b_out", "--recipe", recipe)
    assert code == 0, err
    stage = {s["name"]: s for s in json.loads((tmp_path / "b_out" / "report.json").read_text())["stages"]}
    assert stage["dedup_exact"]["dropped"] == {"duplicate_of_previous": 40}
    assert pq.read_table(tmp_path / "b_out" / "rejected").num_rows == 40


def test_a_description_whose_bucket_range_is_not_numbers_is_one_line_for_merge_and_curate(earlier_run, tmp_path,
                                                                                         capsys):
    # before: `winnow index merge` ended in TypeError: '<' not supported between 'NoneType' and 'int'
    out, docs = earlier_run
    damaged = _damaged_copy(out, tmp_path / "damaged", "dedup_exact", lambda part: None)
    desc_path = damaged / "index" / "dedup_exact" / dix.DESCRIPTION
    desc = json.loads(desc_path.read_text())
    for f in desc["files"]:
        f["buckets"] = ["a", None]
    desc_path.write_text(json.dumps(desc))
    code, _out, err = winnow(capsys, "index", "merge", out, damaged, "--stage", "dedup_exact", "-o", tmp_path / "m")
    line = last_error_line(err, "index merge")
    assert code == 1 and str(desc_path) in line and "buckets that are not two bucket numbers" in line, line
    recipe = tmp_path / "b.yaml"
    recipe.write_text(f"name: b\ndedup_exact: {{against: ['{damaged}']}}\n")
    code, _out, err = winnow(capsys, "curate", "-i", docs, "-o", tmp_path / "b_out", "--recipe", recipe)
    line = last_error_line(err, "curate")
    assert code == 1 and "buckets that are not two bucket numbers" in line, line


def test_signing_with_the_largest_num_perm_holds_a_bounded_block(monkeypatch):
    # before: the block was 2,048 x num_perm values whatever the batch: num_perm 100,000 allocated 1.6 GB (a 300-
    # document curate peaked at 1.9 GB RSS; 337 MB after); at the largest num_perm allowed, 134 MB
    params = MinHashParams(num_perm=minhash.MAX_NUM_PERM, bands=10, rows=10)
    texts = [_prose(i) for i in range(3)]
    minhash_signatures(texts[:1], params)  # permutations cached outside the measurement
    tracemalloc.start()
    try:
        small_blocks = minhash_signatures(texts, params)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the 3 signatures (0.2 MB) and their uint64 copy, plus one block of at most 8 MB and its reduction
    assert peak < 64 << 20, peak
    # the same signatures as with whole 2,048-row blocks, and per document as in a batch
    monkeypatch.setattr(minhash, "_BLOCK_VALUES", 1 << 40)
    assert np.array_equal(small_blocks, minhash_signatures(texts, params))
    assert np.array_equal(small_blocks[1], minhash_signatures(texts[1:2], params)[0])


def test_an_evaluation_record_line_over_the_item_cap_is_refused_naming_it(tmp_path, monkeypatch):
    # before: a JSONL line was read whole, whatever its size (a 29 MB line: 0.5 GB at the recipe check), though
    # plain text items stop at MAX_ITEM_BYTES
    monkeypatch.setattr(decontam, "MAX_ITEM_BYTES", 4096)
    path = tmp_path / "evals.jsonl"
    small = json.dumps({"question": _prose(1)})
    path.write_text(small + "\n" + json.dumps({"question": _prose(2) * 200}) + "\n")
    eval_set = decontam.parse_eval_sets([{"name": "big", "path": str(path)}])[0]
    with pytest.raises(ValueError, match=r"evals.jsonl line 2 is over 0 MiB"):
        list(decontam.eval_items(eval_set))
    path.write_text(small + "\n" + small)  # lines under the cap (the last without a newline) are read as before
    assert list(decontam.eval_items(eval_set)) == [_prose(1), _prose(1)]


def test_index_merge_refuses_a_part_of_another_shape_naming_it(earlier_run, tmp_path, capsys):
    out, _docs = earlier_run
    damaged = _damaged_copy(out, tmp_path / "damaged", "dedup_exact", _string_keys)
    code, _out, err = winnow(capsys, "index", "merge", out, damaged, "--stage", "dedup_exact", "-o", tmp_path / "m")
    assert code == 1, err
    line = last_error_line(err, "index merge")
    assert "holds columns (bucket: uint16, key: string, kept_id: int64)" in line, line
    assert str(damaged / "index" / "dedup_exact") in line, line


def test_a_recipe_num_perm_over_the_cap_is_refused_before_any_work(tmp_path, capsys):
    # before: num_perm had no upper bound; 1,000,000 drew a million permutations and held 256 x 1M uint64
    # signatures (~2 GB) per batch
    docs = _write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": _prose(1)}])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ndedup_minhash: {num_perm: 1000000, bands: 10, rows: 10}\n")
    code, _out, err = winnow(capsys, "curate", "-i", docs, "-o", tmp_path / "out", "--recipe", recipe)
    line = last_error_line(err, "curate")
    assert code == 1 and "num_perm" in line and "1000000" in line and f"[1, {minhash.MAX_NUM_PERM}]" in line, line
    assert not (tmp_path / "out").exists()


def _edited_rows(out: Path, dst: Path, rows) -> Path:
    damaged = _damaged_copy(out, dst, "dedup_exact", lambda part: None)
    desc_path = damaged / "index" / "dedup_exact" / dix.DESCRIPTION
    desc = json.loads(desc_path.read_text())
    for f in desc["files"]:
        f["rows"] = rows(f["rows"])
    desc_path.write_text(json.dumps(desc))
    return damaged


@pytest.mark.parametrize("rows, needle", [
    # before: readers skip entries of 0 rows, so all 40 earlier documents passed as new, exit 0
    (lambda n: 0, "has rows 0, not a count of at least 1"),
    # before: a count that disagrees with the part went unnoticed (a replaced or truncated part)
    (lambda n: n + 1, "rows where index.json lists"),
])
def test_an_index_entry_whose_row_count_is_wrong_fails_the_run(earlier_run, tmp_path, capsys, rows, needle):
    out, docs = earlier_run
    damaged = _edited_rows(out, tmp_path / "damaged", rows)
    recipe = tmp_path / "b.yaml"
    recipe.write_text(f"name: b\ndedup_exact: {{against: ['{damaged}']}}\n")
    code, _out, err = winnow(capsys, "curate", "-i", docs, "-o", tmp_path / "b_out", "--recipe", recipe)
    line = last_error_line(err, "curate")
    assert code == 1 and needle in line and str(damaged / "index" / "dedup_exact") in line, line
    assert not (tmp_path / "b_out" / "documents").exists()


def test_an_earlier_index_whose_sets_lack_a_kept_document_fails_the_run(earlier_run, tmp_path, capsys):
    # before: a candidate pair whose earlier document had no set was dropped unverified and uncounted, so the 40
    # near-duplicates of the earlier run passed as new documents, exit 0
    out, _docs = earlier_run

    def keep_first_row(part: Path) -> None:
        pq.write_table(pq.read_table(part).slice(0, 1), part)

    damaged = _damaged_copy(out, tmp_path / "damaged", "dedup_minhash/sets", keep_first_row)
    sets_dir = damaged / "index" / "dedup_minhash" / "sets"
    desc = json.loads((sets_dir / dix.DESCRIPTION).read_text())
    for f in desc["files"]:  # counts that agree with the shortened parts: only the sets themselves are missing
        f["rows"] = pq.read_metadata(sets_dir / f["path"]).num_rows
    (sets_dir / dix.DESCRIPTION).write_text(json.dumps(desc))
    b_docs = [{"id": f"b{i:03d}", "text": _prose(i).replace(" ", " changed ", 1)} for i in range(40)]
    b = _write_jsonl(tmp_path / "b.jsonl", b_docs)
    recipe = tmp_path / "b.yaml"
    recipe.write_text(f"name: b\ndedup_minhash: {{against: ['{damaged}']}}\n")
    code, _out, err = winnow(capsys, "curate", "-i", b, "-o", tmp_path / "b_out", "--recipe", recipe)
    line = last_error_line(err, "curate")
    assert code == 1 and "holds no shingle-hash set for 'a0" in line and str(sets_dir) in line, line
    assert "the index file is damaged or truncated" in line
    assert not (tmp_path / "b_out" / "documents").exists()
