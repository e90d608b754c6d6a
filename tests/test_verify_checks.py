"""What the trainer relies on is checked, and a bad file is one line that names it (issue 16, item 9).

Real shards from the real tokenize job (a tiny BPE tokenizer, seq_len 32, one shard of one row group), damaged
in the ways users meet: an id past the vocabulary, a manifest that points outside its directory, packing
figures that do not match the rows, a single flipped bit, an empty tokenizer.json, a read-only output
directory, a zstd page that no longer decodes. Messages are checked through the real `winnow` command line.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.jobs.tokenize import run_tokenize_job
from pipelines.tools.verify import VerifyError, verify_shards
from schemas import MANIFEST_NAME, TOKENS, Manifest
from schemas.errors import WinnowError

REPO = Path(__file__).resolve().parents[1]
SEQ_LEN = 32


@pytest.fixture(scope="module")
def corpus(word_corpus):
    return word_corpus  # the session corpus (tests/conftest.py), read-only here


def tokenize(corpus: Path, out: Path, **kw) -> Path:
    run_tokenize_job(str(corpus), str(corpus / "tok"), str(out), SEQ_LEN, rows_per_shard=100_000, **kw)
    return out


@pytest.fixture(scope="module")
def shards(corpus, tmp_path_factory):
    """One shard of one row group, so every reader (inspect samples rows) meets whatever is damaged."""
    out = tokenize(corpus, tmp_path_factory.mktemp("shards"))
    manifest = Manifest.load(str(out / MANIFEST_NAME))
    assert len(manifest.shards) == 1 and pq.ParquetFile(out / manifest.shards[0].path).num_row_groups == 1
    return out


def copy_of(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def shard_file(d: Path) -> Path:
    return d / json.loads((d / MANIFEST_NAME).read_text())["shards"][0]["path"]


def relist(d: Path) -> None:
    """Make the manifest list the shard as it is now (size, sha256), so only the other checks can object."""
    m = json.loads((d / MANIFEST_NAME).read_text())
    data = shard_file(d).read_bytes()
    m["shards"][0].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (d / MANIFEST_NAME).write_text(json.dumps(m))


def winnow(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WINNOW_DEBUG"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def assert_one_line(proc: subprocess.CompletedProcess, command: str, *needles: str) -> str:
    """Exit status non-zero, no traceback, and the last stderr line is `winnow CMD: ...` naming `needles`."""
    assert proc.returncode in (1, 2), (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"winnow {command}: "), proc.stderr[-4000:]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


# -- winnow verify: what the trainer relies on --------------------------------------------------------------

def test_token_id_past_the_vocabulary_fails_verify_and_the_reader(shards, tmp_path):
    bad = copy_of(shards, tmp_path / "bad-id")
    f = shard_file(bad)
    table = pq.read_table(f)
    tokens = table.column(TOKENS).combine_chunks().flatten().to_numpy().copy().reshape(table.num_rows, -1)
    tokens[3, 5] = 65535  # fits uint16, far past the 300-token vocabulary
    column = pa.FixedSizeListArray.from_arrays(pa.array(tokens.reshape(-1), type=pa.uint16()),
                                               type=table.schema.field(TOKENS).type)
    pq.write_table(table.set_column(0, table.schema.field(TOKENS), column), f, compression="zstd")
    relist(bad)

    last = assert_one_line(winnow("verify", str(bad)), "verify", f.name, "65535", "vocab_size 300", "row 3")
    assert "FAILED" in last
    # The trainer's reader refuses the row group before a batch reaches the model (IndexError before the fix).
    from training.data import ShardReader

    reader = ShardReader(str(bad), 4, pin_memory=False)
    with pytest.raises(WinnowError, match=f"{f.name}.*token id 65535 >= vocab_size 300"):
        next(iter(reader))


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "sub/../../x.parquet"])
def test_manifest_paths_outside_the_directory_are_refused(shards, tmp_path, path):
    bad = copy_of(shards, tmp_path / "escape")
    m = json.loads((bad / MANIFEST_NAME).read_text())
    m["shards"][0]["path"] = path
    (bad / MANIFEST_NAME).write_text(json.dumps(m))
    assert_one_line(winnow("verify", str(bad)), "verify", MANIFEST_NAME, repr(path), "leaves the shards directory")
    from training.data import ShardReader

    with pytest.raises(WinnowError, match="leaves the shards directory"):
        ShardReader(str(bad), 4, pin_memory=False)


def test_a_shard_linking_outside_the_directory_is_refused(shards, tmp_path):
    bad = copy_of(shards, tmp_path / "link")
    outside = tmp_path / "outside.parquet"
    f = shard_file(bad)
    f.rename(outside)
    f.symlink_to(outside)
    with pytest.raises(VerifyError, match="outside the shards directory"):
        verify_shards(str(bad))
    from training.data import ShardReader

    with pytest.raises(WinnowError, match="outside the shards directory"):
        ShardReader(str(bad), 4, pin_memory=False)


def test_packing_figures_are_recomputed(corpus, shards, tmp_path):
    with_ids = tokenize(corpus, tmp_path / "with-ids", doc_ids=True)
    concat = tokenize(corpus, tmp_path / "concat", packing="concat", doc_ids=True)
    for good in (shards, with_ids, concat):  # what tokenize writes passes, best-fit and concat alike
        assert verify_shards(str(good)).packing.truncated_fraction > 0

    def edited(src: Path, name: str, **packing) -> Path:
        d = copy_of(src, tmp_path / name)
        m = json.loads((d / MANIFEST_NAME).read_text())
        m["packing"].update(packing)
        (d / MANIFEST_NAME).write_text(json.dumps(m))
        return d

    m = Manifest.load(str(shards / MANIFEST_NAME))
    with pytest.raises(VerifyError, match="packing.pad_fraction is .* the shards have"):
        verify_shards(str(edited(shards, "pad", pad_fraction=m.packing.pad_fraction + 0.01)))
    with pytest.raises(VerifyError, match="not a fraction"):
        verify_shards(str(edited(shards, "range", truncated_fraction=1.5)))
    # Without doc_ids the segment counts still prove documents were split.
    with pytest.raises(VerifyError, match="packing.truncated_fraction is 0.0 .* extra segments"):
        verify_shards(str(edited(shards, "trunc0", truncated_fraction=0.0)))
    # With doc_ids the split documents' tokens are counted exactly: a 1% error is caught.
    mi = Manifest.load(str(with_ids / MANIFEST_NAME))
    with pytest.raises(VerifyError, match="counted by doc_ids"):
        verify_shards(str(edited(with_ids, "trunc", truncated_fraction=mi.packing.truncated_fraction * 0.99)))


# -- winnow train: sha256 before training ---------------------------------------------------------------------

def decodable_bit_flip(f: Path) -> int:
    """Offset of a byte whose flipped bit still decodes to other valid tokens (most flips do, which is why the
    checksum is needed); deterministic because the tokenize job writes byte-identical shards."""
    data = f.read_bytes()
    original = pq.read_table(pa.BufferReader(data)).column(TOKENS).to_pylist()
    for offset in range(len(data) // 3, len(data) - 200, 5):
        flipped = bytearray(data)
        flipped[offset] ^= 0x08
        try:
            tokens = pq.read_table(pa.BufferReader(bytes(flipped))).column(TOKENS)
        except Exception:
            continue
        if tokens.to_pylist() != original and max(v for row in tokens.to_pylist() for v in row) < 300:
            return offset
    raise AssertionError("no decodable single-bit flip found")


TRAIN = pytest.param("train", marks=pytest.mark.slow)  # ~6 s each: a `winnow train` process loads torch


def train_args(shards: Path, out: Path, *extra: str) -> List[str]:
    return ["train", "--shards", str(shards), "--device", "cpu", "--max-steps", "2", "--batch-size", "2",
            "--log-interval", "1", "--out", str(out), *extra]


@pytest.mark.slow  # ~12 s: a CPU training run up to its first checksum
def test_a_flipped_bit_stops_training_before_it_starts(shards, tmp_path):
    bad = copy_of(shards, tmp_path / "flipped")
    f = shard_file(bad)
    offset = decodable_bit_flip(f)
    data = bytearray(f.read_bytes())
    data[offset] ^= 0x08
    f.write_bytes(bytes(data))

    out = tmp_path / "train-refused"
    assert_one_line(winnow(*train_args(bad, out)), "train", str(f), "sha256", "does not match the manifest")
    assert not (out / "log.jsonl").exists()  # not one step was trained

    out = tmp_path / "train-skipped"
    proc = winnow(*train_args(bad, out, "--no-verify-checksums"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "--no-verify-checksums: as asked, not checking the sha256" in proc.stderr
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2]


def test_checksums_are_hashed_once_per_run_not_per_epoch(shards, monkeypatch):
    import training.data as data

    calls = []
    real = data.sha256_stream
    monkeypatch.setattr(data, "sha256_stream", lambda f: calls.append(1) or real(f))
    reader = data.ShardReader(str(shards), 4, pin_memory=False)
    it = iter(reader)
    for _ in range(reader.batches_per_epoch * 2 + 1):  # into the third epoch
        next(it)
    it.close()
    assert len(calls) == 1 and reader.checksums["verified"] == 1
    assert data.ShardReader(str(shards), 4, pin_memory=False, verify_checksums=False).checksums is None


# -- one line naming the file, for every command -----------------------------------------------------------

@pytest.fixture(scope="module")
def empty_tokenizer(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("empty-tok")
    (d / "tokenizer.json").write_bytes(b"")
    return d


@pytest.mark.parametrize("command", ["verify", "tokenize", "stats", "inspect", TRAIN])
def test_empty_tokenizer_json_is_one_line(corpus, shards, empty_tokenizer, tmp_path, command):
    tok = str(empty_tokenizer)
    args = {
        "verify": ["verify", str(shards), "--tokenizer", tok],
        "tokenize": ["tokenize", "--input", str(corpus), "--tokenizer", tok, "--seq-len", "32",
                     "--output", str(tmp_path / "out")],
        "stats": ["stats", str(shards), "--tokenizer", tok],
        "inspect": ["inspect", str(shards), "--tokenizer", tok],
        "train": train_args(shards, tmp_path / "train", "--tokenizer", tok),
    }[command]
    assert_one_line(winnow(*args), command, str(empty_tokenizer / "tokenizer.json"), "is empty", "--tokenizer")


@contextmanager
def read_only_dir(path: Path):
    """A directory nothing can be written in, root included (root ignores mode bits: the immutable flag)."""
    path.mkdir()
    root = os.geteuid() == 0
    try:
        if root:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
                pytest.skip("running as root without `chattr +i`: no way to make a read-only directory here")
        else:
            path.chmod(0o555)
        try:
            (path / "probe").write_text("x")
        except OSError:
            pass
        else:
            pytest.skip(f"{path} stayed writable")
        yield path
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        else:
            path.chmod(0o755)


@pytest.mark.parametrize("command", ["tokenize", "stats", TRAIN])
def test_read_only_output_directory_is_one_line(corpus, shards, tmp_path, command):
    with read_only_dir(tmp_path / "ro") as ro:
        args = {
            "tokenize": ["tokenize", "--input", str(corpus), "--tokenizer", str(corpus / "tok"), "--seq-len", "32",
                         "--output", str(ro)],
            "stats": ["stats", str(shards), "--html", str(ro / "report.html")],
            "train": train_args(shards, ro / "run"),
        }[command]
        assert_one_line(winnow(*args), command, str(ro), "not writable", "choose another")
        assert list(ro.iterdir()) == []


@pytest.fixture(scope="module")
def zstd_corrupt(shards, tmp_path_factory):
    """The shard's data page garbled so that zstd refuses it; the manifest lists the garbled file, so the
    decoders (not the checksum) must find it."""
    bad = copy_of(shards, tmp_path_factory.mktemp("zstd") / "shards")
    f = shard_file(bad)
    data = bytearray(f.read_bytes())
    for i in range(60, 400):
        data[i] ^= 0x5A
    f.write_bytes(bytes(data))
    relist(bad)
    with pytest.raises(OSError, match="ZSTD"):
        pq.read_table(f)
    return bad


@pytest.mark.parametrize("command", ["verify", "stats", "inspect", TRAIN])
def test_zstd_corrupt_shard_is_one_line(zstd_corrupt, tmp_path, command):
    args = {
        "verify": ["verify", str(zstd_corrupt)],
        "stats": ["stats", str(zstd_corrupt)],
        "inspect": ["inspect", str(zstd_corrupt)],
        "train": train_args(zstd_corrupt, tmp_path / "train"),
    }[command]
    assert_one_line(winnow(*args), command, shard_file(zstd_corrupt).name, "ZSTD decompression failed")


def test_debug_shows_the_traceback(shards, empty_tokenizer):
    env_proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "verify", str(shards), "--tokenizer",
                               str(empty_tokenizer)], cwd=REPO, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(REPO), "WINNOW_DEBUG": "1"})
    assert env_proc.returncode == 1 and "Traceback" in env_proc.stderr
    assert env_proc.stderr.strip().splitlines()[-1].startswith("winnow verify: error: ")


def test_the_tally_counts_documents_by_id_hash_as_a_dict_of_ids_does():
    """ShardTally keeps 64-bit id hashes in numpy (a dict of id -> [segments, tokens] held ~170 bytes a document,
    2 GB at 8.2M): the same per-document figures, across slices, chunked arrays, compaction and merges."""
    import random

    import numpy as np
    import pyarrow as pa

    from schemas.shard_files import ShardTally, string_hashes64

    rng = random.Random(5)
    ids = [rng.choice(["", "a", "é", "doc-1", "doc-10", "x" * 40]) + str(rng.randint(0, 3000)) for _ in range(20000)]
    lengths = [rng.randint(1, 64) for _ in ids]
    expected = {}
    for i, n in zip(ids, lengths):
        segments, tokens = expected.get(i, (0, 0))
        expected[i] = (segments + 1, tokens + n)
    arrow = pa.array(ids)
    assert np.array_equal(string_hashes64(arrow.slice(100, 50)), string_hashes64(pa.array(ids[100:150])))
    assert len(set(string_hashes64(arrow).tolist())) == len(expected)
    a, b = ShardTally(65, True), ShardTally(65, True)
    a._COMPACT_EVERY = 1000  # fold often
    a.add_ids(arrow.slice(0, 12000), lengths[:12000])
    b.add_ids(pa.chunked_array([arrow.slice(12000, 3000), arrow.slice(15000)]), lengths[12000:])
    a.merge(b)
    assert sorted(a.document_tokens().tolist()) == sorted(t for _, t in expected.values())
    split = sum(t for s, t in expected.values() if s > 1)
    assert a.truncated_tokens(len(expected)) == split and a.truncated_tokens(len(expected) + 1) is None
    capped = ShardTally(65, True, max_ids=100)
    capped.add_ids(ids, lengths)
    assert capped.truncated_tokens(len(expected)) is None and capped.document_tokens() is None
