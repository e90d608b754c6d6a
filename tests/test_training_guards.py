"""`winnow train` refuses what would train garbage or lose a good checkpoint, in one line that names the file.

Real shards from the real tokenize job: the session corpus (tests/conftest.py `word_corpus`) tokenized with its
300-token tokenizer at seq_len 32 and 16, and with a second tokenizer of 270 tokens at seq_len 32; 2-step
checkpoints trained on them. Each test copies a checkpoint before resuming from it, and checks that the
checkpoint it was refused on is byte for byte what it was. Before these guards, a checkpoint resumed on other
shards trained silently (or an IndexError traceback), a damaged ckpt.pt was a traceback, `--lr inf` wrote NaN
into log.jsonl and ckpt.pt with exit 0, a --max-steps already reached rewrote the checkpoint and reported
`first_loss: null`, and rows with impossible doc_lengths were trained on.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from pipelines.jobs.tokenize import run_tokenize_job
from schemas import DOC_LENGTHS, MANIFEST_NAME
from tokenizer.train import train_tokenizer
from training.train import TrainConfig, main

torch.set_num_threads(1)  # a shared 2-core machine: see tests/test_training.py


def tokenize(corpus: Path, tokenizer: Path, out: Path, seq_len: int) -> Path:
    run_tokenize_job(str(corpus), str(tokenizer), str(out), seq_len, rows_per_shard=100_000)
    return out


@pytest.fixture(scope="module")
def shards(word_corpus, tmp_path_factory):
    """{"a": seq_len 32, "seq16": seq_len 16 (both the 300-token tokenizer), "other": a 270-token tokenizer}."""
    root = tmp_path_factory.mktemp("guard-shards")
    train_tokenizer(str(word_corpus / "documents"), vocab_size=270, output_dir=str(root / "tok2"), seed=0)
    return {"a": tokenize(word_corpus, word_corpus / "tok", root / "a", 32),
            "seq16": tokenize(word_corpus, word_corpus / "tok", root / "seq16", 16),
            "other": tokenize(word_corpus, root / "tok2", root / "other", 32)}


def args(shards_dir: Path, out: Path, *extra: str) -> List[str]:
    return ["--shards", str(shards_dir), "--device", "cpu", "--batch-size", "2", "--log-interval", "1",
            "--out", str(out), *extra]


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    """A 2-step checkpoint on shards "a" and one on shards "other" (read-only: tests resume from copies)."""
    root = tmp_path_factory.mktemp("guard-ckpt")
    for name in ("a", "other"):
        assert main(args(shards[name], root / name, "--max-steps", "2")) == 0
    return root


def copy_out(trained: Path, name: str, dst: Path) -> Path:
    shutil.copytree(trained / name, dst)
    return dst


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(argv: List[str], capsys, *needles: str) -> str:
    """main() exits 2 with one `winnow train: error:` line holding every needle (no traceback propagates)."""
    capsys.readouterr()
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("winnow train: error: "), last
    for needle in needles:
        assert needle in last, (needle, last)
    return last


# -- 1. a checkpoint resumed on shards it was not trained on ----------------------------------------------------

@pytest.mark.parametrize("trained_on, resumed_on, needles", [
    ("a", "other", ["tokenizer sha256", "vocab_size 300", "vocab_size 270"]),
    ("other", "a", ["tokenizer sha256", "vocab_size 270", "vocab_size 300"]),  # was an IndexError traceback
    ("a", "seq16", ["seq_len 32", "seq_len 16"]),
])
def test_resume_on_other_shards_is_refused(shards, trained, tmp_path, capsys, trained_on, resumed_on, needles):
    out = copy_out(trained, trained_on, tmp_path / "out")
    before = digest(out / "ckpt.pt")
    refused(args(shards[resumed_on], out, "--resume", "--max-steps", "4"), capsys,
            f"{out / 'ckpt.pt'}: was trained on shards with", str(shards[resumed_on]), *needles,
            "resume with the --shards it was trained on, or pass a new --out")
    assert digest(out / "ckpt.pt") == before
    assert len((out / "log.jsonl").read_text().splitlines()) == 2  # not one step more


def test_resume_on_its_own_shards_still_trains(word_corpus, shards, trained, tmp_path):
    out = copy_out(trained, "a", tmp_path / "out")
    assert main(args(shards["a"], out, "--resume", "--max-steps", "3", "--tokenizer", str(word_corpus / "tok"))) == 0
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


@pytest.mark.parametrize("extra, needles", [
    (["--seed", "7"], ["was saved with --seed 1337", "this run has --seed 7"]),
    (["--batch-size", "3"], ["was saved with --batch-size 2", "this run has --batch-size 3"]),
])
def test_resume_with_another_data_order_is_refused_naming_the_option(shards, trained, tmp_path, capsys, extra,
                                                                      needles):
    out = copy_out(trained, "a", tmp_path / "out")
    before = digest(out / "ckpt.pt")  # before: "reader state was saved with {...}", naming no option nor file
    refused(args(shards["a"], out, "--resume", "--max-steps", "4") + extra, capsys, f"{out / 'ckpt.pt'}: ",
            *needles, "resume with the same --seed, --batch-size and number of ranks")
    assert digest(out / "ckpt.pt") == before


@pytest.mark.parametrize("seed", ["-1", str(2 ** 63), "x"])
def test_a_seed_out_of_range_is_a_usage_error(shards, tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as exit_:  # -1 failed in numpy after the shards were read
        main(args(shards["a"], tmp_path / "out", "--seed", seed))
    assert exit_.value.code == 2 and "winnow train: error: argument --seed: " in capsys.readouterr().err


# -- 2. a damaged ckpt.pt ------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["empty", "truncated", "junk"])
def test_damaged_checkpoint_is_one_line(shards, trained, tmp_path, capsys, damage):
    out = copy_out(trained, "a", tmp_path / "out")
    ckpt = out / "ckpt.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes({"empty": b"", "truncated": data[:20000], "junk": b"hello\n"}[damage])
    before = digest(ckpt)
    refused(args(shards["a"], out, "--resume", "--max-steps", "4"), capsys,
            f"{ckpt}: ", "is empty" if damage == "empty" else "cannot be read as a checkpoint",
            "remove it to train from step 0, or pass a new --out")
    assert digest(ckpt) == before


# -- 3. learning rates that cannot train, and a loss that is no longer finite ---------------------------------

@pytest.mark.parametrize("lr", ["inf", "nan", "-1", "0", "2", "x"])
def test_lr_out_of_range_is_a_usage_error(shards, tmp_path, capsys, lr):
    with pytest.raises(SystemExit) as exit_:
        main(args(shards["a"], tmp_path / "out", "--lr", lr))
    assert exit_.value.code == 2
    assert "winnow train: error: argument --lr: " in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value", [("lr", math.inf), ("lr", math.nan), ("weight_decay", math.nan),
                                          ("grad_clip", -1.0), ("warmup_steps", -1), ("beta2", 1.0),
                                          ("min_lr_ratio", math.inf)])
def test_train_config_refuses_non_finite_or_out_of_range_numbers(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig {field}="):
        TrainConfig.from_preset("tiny", shards="x", **{field: value})


def strict_json(line: str):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("max_steps, needle", [
    (4, "the loss became nan at step 4"),  # step 3's update made the weights NaN
    (3, "the weights are no longer finite after step 3"),  # the last step: its loss was still finite
])
def test_a_diverged_run_stops_and_keeps_the_good_checkpoint(shards, trained, tmp_path, capsys, monkeypatch,
                                                            max_steps, needle):
    def nan_gradients(parameters, *_args, **_kw):  # what an overflow or `--lr inf` (before it was refused) did
        for p in parameters:
            p.grad.fill_(math.nan)
        return torch.tensor(math.nan)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", nan_gradients)  # from step 3, the resumed run's first
    out = copy_out(trained, "a", tmp_path / "out")
    before = digest(out / "ckpt.pt")
    refused(args(shards["a"], out, "--resume", "--max-steps", str(max_steps)), capsys, needle, "lower --lr",
            f"{out / 'ckpt.pt'} was not overwritten")
    assert digest(out / "ckpt.pt") == before
    assert [strict_json(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


# -- 4. --max-steps already reached --------------------------------------------------------------------------

@pytest.mark.parametrize("max_steps", ["1", "2"])
def test_resume_with_nothing_left_to_train_is_refused(shards, trained, tmp_path, capsys, max_steps):
    out = copy_out(trained, "a", tmp_path / "out")
    before = digest(out / "ckpt.pt")
    refused(args(shards["a"], out, "--resume", "--max-steps", max_steps), capsys,
            f"{out / 'ckpt.pt'}: is at step 2 already, and --max-steps is {max_steps}", "--max-steps above 2")
    assert digest(out / "ckpt.pt") == before


# -- 5. doc_lengths that are negative or run past the row -----------------------------------------------------

def with_doc_lengths(src: Path, dst: Path, row: int, lengths: List[int]) -> Path:
    """A copy of `src` whose row `row` has the given doc_lengths, listed in its manifest as it now is (size and
    sha256), so only the content check can object."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST_NAME).read_text())
    f = dst / manifest["shards"][0]["path"]
    table = pq.read_table(f)
    column = table.column(DOC_LENGTHS).to_pylist()
    column[row] = lengths
    i = table.schema.get_field_index(DOC_LENGTHS)
    field = table.schema.field(DOC_LENGTHS)
    pq.write_table(table.set_column(i, field, pa.array(column, type=field.type)), f, compression="zstd")
    data = f.read_bytes()
    manifest["shards"][0].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (dst / MANIFEST_NAME).write_text(json.dumps(manifest))
    return dst


@pytest.mark.parametrize("lengths", [[-5, 38], [100]])
@pytest.mark.parametrize("doc_mask", [False, True])
def test_impossible_doc_lengths_are_refused_naming_shard_and_row(shards, tmp_path, capsys, lengths, doc_mask):
    bad = with_doc_lengths(shards["a"], tmp_path / "bad", 3, lengths)
    shard = bad / json.loads((bad / MANIFEST_NAME).read_text())["shards"][0]["path"]
    extra = ["--doc-mask"] if doc_mask else []
    refused(args(bad, tmp_path / "out", "--max-steps", "2", *extra), capsys,
            f"{shard}: row 3 (row group 0) has doc_lengths {lengths}", "summing to at most 33")


# -- 6. what a step costs on CPU ---------------------------------------------------------------------------------

def test_a_dense_document_mask_that_cannot_fit_is_refused_before_training(shards, tmp_path, capsys, monkeypatch):
    """Document masking on CPU builds a dense seq_len x seq_len mask per sequence: past the memory there is, the
    kernel killed the process at the first step with nothing said. Here the machine is made to have 10,000 bytes."""
    import training.train as train

    monkeypatch.setattr(train, "available_memory", lambda: 10_000)
    out = tmp_path / "out"
    refused(args(shards["a"], out, "--doc-mask", "--max-steps", "2"), capsys,
            "builds a 32 x 32 mask per sequence", "micro-batch of 2", "lower --batch-size to 1 or less",
            "train on CUDA")
    assert not (out / "ckpt.pt").exists() and not (out / "log.jsonl").exists()
    # the same run without --doc-mask builds no dense mask, and trains
    assert main(args(shards["a"], tmp_path / "plain", "--max-steps", "1")) == 0


def test_check_dense_mask_fits_counts_the_mask_of_each_sequence():
    from training.train import DENSE_MASK_BYTES_PER_CELL, check_dense_mask_fits

    need = DENSE_MASK_BYTES_PER_CELL * 8 * 4096 * 4096
    check_dense_mask_fits(8, 4096, need)  # exactly enough
    check_dense_mask_fits(8, 4096, None)  # no /proc/meminfo: nothing to go by
    with pytest.raises(ValueError, match=r"lower --batch-size to 7 or less"):
        check_dense_mask_fits(8, 4096, need - 1)


def test_a_long_cpu_step_is_announced_before_the_first(shards, tmp_path, capsys, monkeypatch):
    import training.train as train

    monkeypatch.setattr(train, "CPU_STEP_NOTICE_FLOPS", 0)  # any step counts as long
    capsys.readouterr()
    assert main(args(shards["a"], tmp_path / "out", "--max-steps", "1", "--log-interval", "5")) == 0
    err = capsys.readouterr().err
    assert "training on CPU: a step is 64 tokens" in err and "after 5 steps" in err
    monkeypatch.setattr(train, "CPU_STEP_NOTICE_FLOPS", 1e12)  # the tiny preset's step is far below it
    assert main(args(shards["a"], tmp_path / "out2", "--max-steps", "1")) == 0
    assert "training on CPU" not in capsys.readouterr().err


def test_available_memory_is_the_smaller_of_the_machines_and_the_cgroups(tmp_path):
    from training.train import available_memory

    (tmp_path / "meminfo").write_text("MemTotal:  32000000 kB\nMemAvailable:  20000000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    assert available_memory(str(tmp_path / "meminfo"), str(cgroup)) == 20_000_000 * 1024  # no cgroup files
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text("1000\n")
    assert available_memory(str(tmp_path / "meminfo"), str(cgroup)) == 20_000_000 * 1024  # no limit
    (cgroup / "memory.max").write_text(f"{8 << 30}\n")  # a container of 8 GiB using 1 GiB of it
    (cgroup / "memory.current").write_text(f"{1 << 30}\n")
    assert available_memory(str(tmp_path / "meminfo"), str(cgroup)) == 7 << 30
    assert available_memory(str(tmp_path / "none"), str(cgroup)) == 7 << 30
    assert available_memory(str(tmp_path / "none"), str(tmp_path / "none")) is None
