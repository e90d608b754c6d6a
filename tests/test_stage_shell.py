"""The stage shell (pipelines/transforms/stages.py): the batch-then-one-by-one helper alone and in a real Beam stage, and
tokenize turning the records it cannot read or encode into counted error rows beside unchanged shards."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.transforms.stages import batch_then_one_by_one

WORDS = "the of and to in a is that it was for on are with as his they be at one have this from".split()


class Flaky:
    """A batch function that fails on any batch holding a poisoned record, as a C++ library call does."""

    def __init__(self):
        self.calls = []

    def __call__(self, items):
        self.calls.append(list(items))
        if any(item.startswith("bad") for item in items):
            raise ValueError(f"cannot handle {[i for i in items if i.startswith('bad')][0]}")
        return [item.upper() for item in items]


def test_one_batch_call_when_every_record_goes_through():
    fn = Flaky()
    assert batch_then_one_by_one(["a", "b"], fn) == [("a", "A", None), ("b", "B", None)]
    assert fn.calls == [["a", "b"]]
    assert batch_then_one_by_one([], fn) == [] and len(fn.calls) == 1


def test_a_failed_batch_is_retried_one_record_at_a_time_in_order():
    fn = Flaky()
    out = batch_then_one_by_one(["a", "bad-1", "c"], fn)
    assert [(item, result) for item, result, _ in out] == [("a", "A"), ("bad-1", None), ("c", "C")]
    assert isinstance(out[1][2], ValueError) and "bad-1" in str(out[1][2])
    assert fn.calls == [["a", "bad-1", "c"], ["a"], ["bad-1"], ["c"]]
    # a separate single-record function is used for the retries when given
    singles = []
    out = batch_then_one_by_one(["bad-2", "d"], fn, lambda item: singles.append(item) or item * 2)
    assert [r for _, r, _ in out] == ["bad-2bad-2", "dd"] and singles == ["bad-2", "d"]


def test_a_batch_call_with_the_wrong_number_of_results_is_retried_not_zipped_short():
    out = batch_then_one_by_one(["a", "b"], lambda items: ["x"] if len(items) > 1 else [items[0] + "!"])
    assert out == [("a", "a!", None), ("b", "b!", None)]


def test_a_beam_stage_on_the_shell_routes_one_bad_record_to_one_error_row_and_balances():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.counters import counters_by_stage
    from pipelines.transforms.stages import ERRORS, StageCounters, error_output
    from schemas import ERROR, ID, STAGE

    class Upper(beam.DoFn):
        def setup(self):
            self._c = StageCounters("shell_test")
            self._fn = Flaky()

        def process(self, batch):
            self._c.in_.inc(len(batch))
            for doc, text, exc in batch_then_one_by_one(batch, lambda docs: self._fn([d["text"] for d in docs])):
                if exc is not None:
                    yield error_output(self._c, "shell_test", doc, exc)
                elif text == "EMPTY":
                    self._c.dropped("empty")
                else:
                    self._c.kept.inc()
                    yield doc[ID], text

    docs = [{ID: f"d{i}", "text": "bad" if i == 3 else ("empty" if i == 5 else f"t{i}")} for i in range(8)]
    p = make_pipeline()
    out = (p | beam.Create([docs])  # one batch, so the poisoned record fails the whole batch call
           | beam.ParDo(Upper()).with_outputs(ERRORS, main="kept"))
    assert_that(out.kept, equal_to([(f"d{i}", f"T{i}") for i in range(8) if i not in (3, 5)]), label="kept")
    assert_that(out[ERRORS] | beam.Map(lambda r: (r[ID], r[STAGE], r[ERROR])),
                equal_to([("d3", "shell_test", "ValueError: cannot handle bad")]), label="errors")
    result = p.run()
    result.wait_until_finish()
    c = counters_by_stage(result)["shell_test"]
    assert c == {"in": 8, "kept": 6, "dropped_empty": 1, "errors": 1}
    assert c["in"] == c["kept"] + c["dropped_empty"] + c["errors"]


# ----------------------------------------------------------------------------------------------- tokenize

def _write_jsonl(path: Path, lines) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


POISON = "poisoned"


@pytest.fixture(scope="module")
def tokenize_inputs(tmp_path_factory, word_corpus):
    import shutil

    rng = random.Random(5)
    root = tmp_path_factory.mktemp("shell_tokenize")
    good = [json.dumps({"id": f"g{i:02d}", "source": "web", "text": " ".join(rng.choice(WORDS) for _ in range(40))})
            for i in range(30)]
    (root / "clean").mkdir()
    _write_jsonl(root / "clean" / "docs.jsonl", good)
    shutil.copytree(word_corpus / "tok", root / "tok")  # the session tokenizer (tests/conftest.py)
    bad_doc = json.dumps({"id": "cannot-encode", "source": "web", "text": f"fine words {POISON} then more"})
    (root / "dirty").mkdir()
    _write_jsonl(root / "dirty" / "docs.jsonl", good[:10] + [bad_doc] + good[10:20] + ["[1, 2]"] + good[20:])
    # a lone surrogate is valid JSON that no Beam coder can serialise
    (root / "surrogate").mkdir()
    _write_jsonl(root / "surrogate" / "docs.jsonl",
                 good[:5] + ['{"id": "lone", "source": "web", "text": "fine words \\ud800 then more"}'])
    (root / "nulls").mkdir()  # `"text": null` is an empty document, as curate reads it; no `text` is an error
    _write_jsonl(root / "nulls" / "docs.jsonl",
                 good[:5] + ['{"id": "null", "source": "web", "text": null}', '{"id": "none", "source": "web"}'])
    return root


@pytest.fixture
def poisoned_encoder(monkeypatch):
    """The real tokenizer, except that it raises on any batch holding the poisoned document, as a native encoder
    raises on input it cannot handle (the in-process runner's workers share this process, so they see it)."""
    from tokenizer.encode import TokenizerHandle

    real = TokenizerHandle.encode_batch_arrays

    def encode_batch_arrays(self, texts, threads=None):
        if any(POISON in t for t in texts):
            raise RuntimeError("encoder failed on this text")
        return real(self, texts, threads=threads)

    monkeypatch.setattr(TokenizerHandle, "encode_batch_arrays", encode_batch_arrays)


def _run(root: Path, name: str, out: Path):
    from pipelines.jobs.tokenize import run_tokenize_job

    return run_tokenize_job(str(root / name / "docs.jsonl"), str(root / "tok"), str(out), 32, rows_per_shard=8,
                            doc_ids=True, encoder="hf")


def test_tokenize_documents_that_fail_become_counted_error_rows_and_the_shards_stay_the_same(
        tokenize_inputs, poisoned_encoder, tmp_path):
    from pipelines.tools.verify import verify_shards
    from schemas import ERROR, ERRORS_SCHEMA, ID, INPUT_OFFSET, INPUT_PATH, MANIFEST_NAME, STAGE

    clean = _run(tokenize_inputs, "clean", tmp_path / "clean")
    dirty = _run(tokenize_inputs, "dirty", tmp_path / "dirty")
    assert not (tmp_path / "clean" / "errors").exists()  # a run where everything went through: shards + manifest
    assert clean.counters == {"in": 30, "kept": 30}
    assert dirty.counters == {"in": 32, "kept": 30, "errors": 2}
    c = dirty.counters
    assert c["in"] == c["kept"] + c["errors"] + sum(v for k, v in c.items() if k.startswith("dropped_"))

    files = sorted((tmp_path / "dirty" / "errors").glob("*.parquet"))
    table = pq.read_table(files)
    assert table.schema.equals(ERRORS_SCHEMA, check_metadata=False)
    rows = sorted(table.to_pylist(), key=lambda r: r[ID] or "")
    assert [(r[ID], r[STAGE]) for r in rows] == [(None, "tokenize"), ("cannot-encode", "tokenize")]
    unreadable, unencodable = rows
    dirty_input = tokenize_inputs / "dirty" / "docs.jsonl"
    line_offset = dirty_input.read_bytes().index(b"[1, 2]")
    assert (unreadable[INPUT_PATH], unreadable[INPUT_OFFSET]) == (str(dirty_input), line_offset)
    assert unreadable[ERROR].startswith("TypeError: the line is a JSON array, not an object with a 'text' field")
    assert unencodable[ERROR] == "RuntimeError: encoder failed on this text"

    # the other documents' shards are those of a run without the bad records, byte for byte
    assert dirty.manifest.shards == clean.manifest.shards
    for shard in clean.manifest.shards:
        assert (tmp_path / "dirty" / shard.path).read_bytes() == (tmp_path / "clean" / shard.path).read_bytes()
    assert json.loads((tmp_path / "dirty" / MANIFEST_NAME).read_text())["totals"] == \
        json.loads((tmp_path / "clean" / MANIFEST_NAME).read_text())["totals"]
    # errors/ beside the shards does not disturb the shard contracts
    verify_shards(str(tmp_path / "dirty"), str(tokenize_inputs / "tok"))


def test_tokenize_clears_a_stale_error_table_of_an_earlier_run(tokenize_inputs, poisoned_encoder, tmp_path):
    out = tmp_path / "out"
    _run(tokenize_inputs, "dirty", out)
    assert list((out / "errors").glob("*.parquet"))
    _run(tokenize_inputs, "clean", out)
    assert not (out / "errors").exists()


def test_tokenize_reads_a_null_text_as_an_empty_document_and_a_missing_one_as_an_error(tokenize_inputs, tmp_path):
    """The same JSONL line checks as curate's reader (pipelines/ingest/readers.py `jsonl_text`): a null text was an
    error row here and a rejected empty document there."""
    import pyarrow.parquet as pq

    from schemas import ERROR, ID

    result = _run(tokenize_inputs, "nulls", tmp_path / "out")
    assert result.counters == {"in": 7, "kept": 5, "dropped_empty": 1, "errors": 1}
    rows = pq.read_table(sorted((tmp_path / "out" / "errors").glob("*.parquet"))).to_pylist()
    assert [(r[ID], r[ERROR]) for r in rows] == [(None, "ValueError: no 'text' field (fields: id, source)")]


def test_tokenize_a_lone_surrogate_in_jsonl_does_not_fail_the_job(tokenize_inputs, tmp_path):
    """It becomes U+FFFD, as in curate's JSONL reader (before, Beam's coder raised and the job died)."""
    from tokenizer.encode import load_tokenizer

    result = _run(tokenize_inputs, "surrogate", tmp_path / "out")
    assert result.counters == {"in": 6, "kept": 6, "replaced_invalid_utf8": 1}  # counted, not silent
    tok = load_tokenizer(str(tokenize_inputs / "tok"))
    lone = [r for r in (json.loads(line) for line in
                        (tokenize_inputs / "surrogate" / "docs.jsonl").read_text().splitlines()) if r["id"] == "lone"]
    expected = len(tok.encode(re.sub("[\ud800-\udfff]", "\ufffd", lone[0]["text"]))) + 1  # one U+FFFD each
    assert result.manifest.totals.non_pad_tokens == sum(
        len(tok.encode(json.loads(line)["text"])) + 1
        for line in (tokenize_inputs / "clean" / "docs.jsonl").read_text().splitlines()[:5]) + expected


# ------------------------------------------------------------------- the batch stages built on the helper

def _run_stage(stage_name: str, transform, docs):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.counters import counters_by_stage
    from pipelines.transforms.stages import ERRORS, REJECTED
    from schemas import ID, STAGE

    p = make_pipeline()
    out = p | beam.Create(docs) | transform
    good = [d[ID] for d in docs if isinstance(d["text"], str)]
    assert_that((out["kept"], out[REJECTED]) | beam.Flatten() | beam.Map(lambda d: d[ID]), equal_to(good),
                label="kept or rejected")
    assert_that(out[ERRORS] | beam.Map(lambda r: (r[ID], r[STAGE])), equal_to([("not-text", stage_name)]),
                label="errors")
    result = p.run()
    result.wait_until_finish()
    c = counters_by_stage(result)[stage_name]
    assert c["in"] == len(docs) and c["errors"] == 1
    assert c["in"] == c.get("kept", 0) + c["errors"] + sum(v for k, v in c.items() if k.startswith("dropped_"))


def _docs_with_one_that_fails():
    from schemas import empty_document

    rng = random.Random(2)
    docs = [empty_document(f"d{i:02d}", "web", " ".join(rng.choice(WORDS) for _ in range(30))) for i in range(40)]
    bad = empty_document("not-text", "web", "")
    bad["text"] = 12345  # what a malformed upstream record could carry: every batch call over it raises
    return docs[:17] + [bad] + docs[17:]


def test_language_stage_one_failing_document_is_one_error_row(lid_model_file):
    from pipelines.transforms.language import FilterLanguage

    _run_stage("language", FilterLanguage(min_batch=64, max_batch=64, model_path=str(lid_model_file)),
               _docs_with_one_that_fails())


def test_minhash_signing_one_failing_document_is_one_error_row():
    from pipelines.transforms.dedup import DedupMinhash

    _run_stage("dedup_minhash", DedupMinhash(), _docs_with_one_that_fails())
