"""A manifest that does not describe its shards, or holds values of the wrong type, is refused with one line.

Real shards from the real tokenize job (the session corpus and its tokenizer, seq_len 32, doc_ids, several
shards) and real exports of them, with one manifest field edited as a user or a script might: `winnow export`
checks the shards as `winnow verify` does, in the pass that reads them, and refuses with verify's message
before its output replaces anything (a wrong seq_len once exported a third of every row, a shard listed twice
was exported twice); `Manifest.from_json` and `load_trainer_manifest` check every field by type and range, so
verify, export, stats and the trainer's reader say which field holds what instead of a traceback, a huge
allocation or a verdict of ok. Commands run in-process through `pipelines.cli.main`: a traceback fails the test.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest

from pipelines.jobs.tokenize import run_tokenize_job
from schemas import MANIFEST_NAME
from schemas.errors import WinnowError
from schemas.shard_files import read_manifest
from schemas.shards import MAX_SEQ_LEN, ShardError

SEQ_LEN = 32


@pytest.fixture(scope="module")
def shards(word_corpus, tmp_path_factory) -> Path:
    """Several Parquet shards with doc_ids, so the checks' totals are summed over shards (and processes)."""
    out = tmp_path_factory.mktemp("guard-shards") / "shards"
    run_tokenize_job(str(word_corpus / "documents"), str(word_corpus / "tok"), str(out), SEQ_LEN, doc_ids=True,
                     rows_per_shard=40)
    assert len(json.loads((out / MANIFEST_NAME).read_text())["shards"]) >= 4
    return out


@pytest.fixture(scope="module")
def exports(shards, tmp_path_factory) -> Dict[str, Path]:
    from pipelines.tools.export import export_shards

    root = tmp_path_factory.mktemp("guard-exports")
    for fmt in ("megatron", "mds", "llmc"):
        export_shards(str(shards), fmt, str(root / fmt))
    return {fmt: root / fmt for fmt in ("megatron", "mds", "llmc")}


def edited(src: Path, dst: Path, edit: Callable[[Dict[str, Any]], Optional[str]]) -> Path:
    """A copy of `src` whose manifest `edit` changed in place (or replaced by the text `edit` returns)."""
    shutil.copytree(src, dst)
    m = json.loads((dst / MANIFEST_NAME).read_text())
    text = edit(m)
    (dst / MANIFEST_NAME).write_text(text if text is not None else json.dumps(m, indent=1))  # NaN, Infinity kept
    return dst


def cli(capsys, *args: str):
    """(exit status, last stderr line) of `winnow ARGS` in-process; an uncaught exception fails the test."""
    from pipelines.cli import main as cli_main

    capsys.readouterr()
    code = cli_main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def setter(*path, value):
    def edit(m):
        for key in path[:-1]:
            m = m[key]
        m[path[-1]] = value
    return edit


def remover(*path):
    def edit(m):
        for key in path[:-1]:
            m = m[key]
        del m[path[-1]]
    return edit


# -- export checks the shards as verify does ---------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["mds", "llmc", "megatron"])
def test_export_refuses_rows_wider_than_the_manifests_seq_len(shards, tmp_path, capsys, monkeypatch, fmt):
    """seq_len 10 for rows of 33 ids: mds exported a third of each row with exit 0, llmc an IndexError."""
    monkeypatch.delenv("WINNOW_DEBUG", raising=False)
    bad = edited(shards, tmp_path / "seq10", setter("seq_len", value=10))
    out = tmp_path / "out"
    code, last = cli(capsys, "export", str(bad), "--format", fmt, "--output", str(out))
    assert code == 1 and last.startswith("winnow export: error: shard-00000-of-"), last
    assert "rows hold 33 token ids, and the manifest's seq_len 10 needs 11" in last, last
    assert not out.exists() or not any(out.iterdir())  # nothing written, no staging left


CONTRADICTIONS = {
    "listed_twice": lambda m: m.update(shards=m["shards"] + m["shards"][:1]),
    "no_shards_listed": setter("shards", value=[]),
    "last_shard_unlisted": lambda m: m.update(shards=m["shards"][:-1]),
    "vocab_below_the_ids": setter("tokenizer", "vocab_size", value=100),
    "totals_sequences": lambda m: m["totals"].update(sequences=m["totals"]["sequences"] + 1),
    "source_documents": lambda m: m["sources"][sorted(m["sources"])[0]].update(documents=1),
    "truncated_fraction": lambda m: m["packing"].update(truncated_fraction=m["packing"]["truncated_fraction"] * 0.99),
    # a source's documents and the totals raised together, and another id named <|endoftext|>: both passed,
    # the documents are now counted in the shards by their <|endoftext|>
    "documents_raised": lambda m: [part.update(documents=part["documents"] + 5)
                                   for part in (m["sources"][sorted(m["sources"])[0]], m["totals"])] and None,
    "eot_id_changed": lambda m: m["tokenizer"]["special_ids"].update({"<|endoftext|>": 5}),
}


# the per-shard and totals checks also with --workers 2 (shards checked in other processes, tallies merged)
@pytest.mark.parametrize("case,workers", [(c, 1) for c in sorted(CONTRADICTIONS)] +
                         [(c, 2) for c in ("vocab_below_the_ids", "totals_sequences", "truncated_fraction",
                                           "documents_raised")])
def test_export_refuses_what_verify_refuses_with_its_message(shards, exports, tmp_path, capsys, monkeypatch, case,
                                                             workers):
    """A shard listed twice (23 files from 22), `shards: []` (0 files), ids past vocab_size, totals, sources or
    packing that the shards contradict: each was exported with exit 0 into an export verify rejects. Now export
    stops with verify's own message and the previous export in OUT stays as it was."""
    monkeypatch.delenv("WINNOW_DEBUG", raising=False)
    bad = edited(shards, tmp_path / case, CONTRADICTIONS[case])
    code, verdict = cli(capsys, "verify", str(bad))
    assert code == 1 and verdict.startswith("winnow verify: "), verdict
    out = tmp_path / "out"
    shutil.copytree(exports["llmc"], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, last = cli(capsys, "export", str(bad), "--format", "llmc", "--output", str(out), "--workers", str(workers))
    assert code == 1 and last.startswith("winnow export: error: "), last
    assert last.split(": error: ", 1)[1] == verdict.split(": ", 2)[2]  # verify's message, word for word
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_documents_are_counted_by_their_endoftext(shards, tmp_path, capsys, monkeypatch):
    """verify and stats count the documents in the shards by their <|endoftext|>: a manifest whose documents were
    raised (sources and totals together) or whose <|endoftext|> names another id is refused, naming both counts."""
    monkeypatch.delenv("WINNOW_DEBUG", raising=False)
    documents = json.loads((shards / MANIFEST_NAME).read_text())["totals"]["documents"]
    for case, found, said in (("documents_raised", documents, documents + 5), ("eot_id_changed", 0, documents)):
        bad = edited(shards, tmp_path / case, CONTRADICTIONS[case])
        eot = json.loads((bad / MANIFEST_NAME).read_text())["tokenizer"]["special_ids"]["<|endoftext|>"]
        want = (f"manifest.json: documents (counted by their <|endoftext|>, id {eot}) add up to {found} over the "
                f"shards, totals say {said}")
        code, verdict = cli(capsys, "verify", str(bad))
        assert code == 1 and verdict.endswith(want), verdict
        from pipelines.cli import main as cli_main
        capsys.readouterr()
        assert cli_main(["stats", str(bad), "--json", "--no-progress"]) == 1
        assert json.loads(capsys.readouterr().out)["manifest_checks"] == [want]


# -- malformed manifest values: one line naming the field and its value --------------------------------------

MALFORMED = {
    "seq_len_1e400": (lambda m: json.dumps(m).replace(f'"seq_len": {SEQ_LEN}', '"seq_len": 1e400'),
                      "seq_len is Infinity"),
    "seq_len_negative": (setter("seq_len", value=-1), "seq_len is -1"),
    "seq_len_past_the_limit": (setter("seq_len", value=MAX_SEQ_LEN + 1), f"seq_len is {MAX_SEQ_LEN + 1}"),
    "seq_len_bool": (setter("seq_len", value=True), "seq_len is true"),
    "a_json_list": (lambda m: "[1, 2]", "the manifest is a JSON array"),
    "vocab_nan": (setter("tokenizer", "vocab_size", value=float("nan")), "tokenizer.vocab_size is NaN"),
    "vocab_fraction": (setter("tokenizer", "vocab_size", value=300.5), "tokenizer.vocab_size is 300.5"),
    "vocab_string": (setter("tokenizer", "vocab_size", value="300"), 'tokenizer.vocab_size is "300"'),
    "vocab_past_the_dtype": (setter("tokenizer", "vocab_size", value=10 ** 12),
                             "tokenizer.vocab_size is 1000000000000, not a whole number from 1 to 65,536"),
    "dtype_int8": (setter("dtype", value="int8"), 'dtype is "int8"'),
    "special_ids_null": (setter("tokenizer", "special_ids", value=None), "tokenizer.special_ids is null"),
    "special_id_past_the_vocab": (setter("tokenizer", "special_ids", "<|pad|>", value=300),
                                  "tokenizer.special_ids.<|pad|> is 300"),
    "special_ids_empty": (setter("tokenizer", "special_ids", value={}), "tokenizer.special_ids has no <|endoftext|>"),
    "no_pad_id": (remover("tokenizer", "special_ids", "<|pad|>"), "tokenizer.special_ids has no <|pad|>"),
    "pad_id_is_eot": (lambda m: m["tokenizer"]["special_ids"].update(
        {"<|pad|>": m["tokenizer"]["special_ids"]["<|endoftext|>"]}), "the same id"),
    "totals_missing": (remover("totals"), "totals is missing"),
    "totals_negative": (setter("totals", "tokens", value=-3), "totals.tokens is -3"),
    "shards_null": (setter("shards", value=None), "shards is null"),
    "shard_not_an_object": (lambda m: m["shards"].__setitem__(0, "shard-00000.parquet"), "shards[0] is"),
    "shard_sequences_infinity": (setter("shards", 0, "sequences", value=float("inf")),
                                 "shards[0].sequences is Infinity"),
    "sources_null": (setter("sources", value=None), "sources is null"),
    "doc_ids_string": (setter("with_doc_ids", value="yes"), 'with_doc_ids is "yes"'),
    "file_format_csv": (setter("file_format", value="csv"), 'file_format is "csv"'),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_manifest_values_are_one_line(shards, tmp_path, capsys, monkeypatch, case):
    """OverflowError, AttributeError, KeyError and TypeError tracebacks, `verify: ok` for NaN and 4096.5: now
    read_manifest (verify, export, stats, inspect, the trainer) raises one ShardError naming the field."""
    monkeypatch.delenv("WINNOW_DEBUG", raising=False)
    edit, needle = MALFORMED[case]
    bad = edited(shards, tmp_path / case, edit)
    manifest_path = str(bad / MANIFEST_NAME)
    with pytest.raises(ShardError, match="not a valid manifest") as exc:
        read_manifest(str(bad))
    assert str(exc.value).startswith(manifest_path) and needle in str(exc.value), str(exc.value)
    for args in (["verify", str(bad)], ["export", str(bad), "--format", "llmc", "--output", str(tmp_path / "o")]):
        code, last = cli(capsys, *args)
        assert code == 1 and last.startswith(f"winnow {args[0]}: "), last
        assert manifest_path in last and needle in last, last


def test_the_trainers_reader_refuses_a_vocabulary_past_the_dtype(shards, tmp_path):
    """vocab_size 10**12 passed verify and made `winnow train` size an embedding of 512 TB."""
    from training.data import ShardReader

    bad = edited(shards, tmp_path / "huge", setter("tokenizer", "vocab_size", value=10 ** 12))
    with pytest.raises(WinnowError, match=r"manifest.json: not a valid manifest: tokenizer.vocab_size is 10+"):
        ShardReader(str(bad), 4, pin_memory=False)


def test_the_trainers_reader_names_the_shard_when_rows_are_not_the_manifests_width(shards, tmp_path):
    """seq_len 16 for rows of 33 ids: `winnow train` stopped with numpy's "cannot reshape array of size ..."."""
    from training.data import ShardReader

    bad = edited(shards, tmp_path / "seq16", setter("seq_len", value=16))
    reader = ShardReader(str(bad), 4, pin_memory=False)
    with pytest.raises(WinnowError, match=r"shard-00000-of-\d+\.\w+: rows hold 33 token ids, and the manifest's "
                                          r"seq_len 16 needs 17; check the shards with `winnow verify`"):
        reader._load_unit(0)


def test_the_manifests_seq_len_limit_is_tokenizes():
    from pipelines.transforms.tokenize import MAX_SEQ_LEN as TOKENIZE_MAX

    assert MAX_SEQ_LEN == TOKENIZE_MAX


# -- hand-edited trainer-format manifests -----------------------------------------------------------------------

TRAINER_EDITS = {
    "totals_missing": (remover("totals"), "totals is missing"),
    "totals_empty": (setter("totals", value={}), "totals.tokens is missing"),
    "totals_infinity": (setter("totals", "tokens", value=float("inf")), "totals.tokens is Infinity"),
    "totals_nan": (setter("totals", "tokens", value=float("nan")), "totals.tokens is NaN"),
    "tokenizer_missing": (remover("tokenizer"), "tokenizer is missing"),
    "special_ids_null": (setter("tokenizer", "special_ids", value=None), "tokenizer.special_ids is null"),
    "vocab_string": (setter("tokenizer", "vocab_size", value="x"), 'tokenizer.vocab_size is "x"'),
    "file_without_bytes": (remover("files", 0, "bytes"), "files[0].bytes is missing"),
    "files_null": (setter("files", value=None), "files is null"),
    "sources_null": (setter("sources", value=None), "sources is null"),
    "dtype_float": (setter("dtype", value="float32"), 'dtype is "float32"'),
}


@pytest.mark.parametrize("fmt", ["megatron", "mds", "llmc"])
@pytest.mark.parametrize("case", sorted(TRAINER_EDITS))
def test_hand_edited_trainer_manifest_is_one_line(exports, tmp_path, capsys, monkeypatch, fmt, case):
    """KeyError, AttributeError and OverflowError tracebacks, `totals: {}` passing every check and then failing
    on the ok line, NaN reported without the file: now one line naming the manifest, the field and its value."""
    monkeypatch.delenv("WINNOW_DEBUG", raising=False)
    edit, needle = TRAINER_EDITS[case]
    bad = edited(exports[fmt], tmp_path / f"{fmt}-{case}", edit)
    for command in ("verify", "stats"):
        code, last = cli(capsys, command, str(bad))
        assert code == 1 and last.startswith(f"winnow {command}: "), last
        assert str(bad / MANIFEST_NAME) in last and needle in last, last
