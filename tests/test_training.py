"""The bundled trainer on CPU: on real shards (Gutenberg -> tokenizer -> tokenize job) the loss falls well
below the unigram entropy; resume is exact; the reader checks the tokenizer hash, splits rows by rank,
shuffles per epoch, reads Arrow shards zero-copy and fsspec URIs, and the loss ignores padding.

Besides the real shards, small shards are written by hand with `schemas.shard_schema` and
`schemas.Manifest` (the contract the tokenize stage writes) so that tests can name rows by their tokens.
Token ids there are bytes (0-255) plus a pad id; the "tokenizer" is a tokenizer.json whose only role is its
sha256.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from schemas import (
    DOC_LENGTHS, MANIFEST_NAME, TOKENS, Manifest, PackingStats, ShardInfo, TokenizerInfo, Totals, shard_schema,
)
from training.data import ShardReader, rows_to_batch
from training.model import GPT, GPTConfig
from training.train import TrainConfig, main, train

PAD = 256
EOT = 257  # in the manifest as tokenize writes it; these hand-made rows do not use it
VOCAB = 258
SEQ_LEN = 128

# One thread: on a shared 2-core machine two OpenMP threads spin against other processes and run ~5x slower
# (measured: 0.20 s vs 1.0 s per tiny step under load).
torch.set_num_threads(1)


def write_tokenizer(path: Path, tag: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.0", "model": {"type": "BPE"}, "tag": tag}), encoding="utf-8")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_shards(out: Path, rows: Sequence[List[List[int]]], tokenizer_sha: str, seq_len: int = SEQ_LEN,
                 shards: int = 2, row_group_size: int = 4) -> Path:
    """rows: per row, its documents' token lists (their total at most seq_len + 1); the rest is PAD."""
    out.mkdir(parents=True, exist_ok=True)
    schema = shard_schema(seq_len, "uint16")
    infos, n_tokens = [], 0
    for s, chunk in enumerate(np.array_split(np.arange(len(rows)), shards)):
        tokens, lengths = [], []
        for i in chunk:
            flat = [t for doc in rows[i] for t in doc]
            assert len(flat) <= seq_len + 1
            tokens.append(flat + [PAD] * (seq_len + 1 - len(flat)))
            lengths.append([len(doc) for doc in rows[i]])
        table = pa.table({TOKENS: tokens, DOC_LENGTHS: lengths}, schema=schema)
        name = f"shard-{s:05d}.parquet"
        pq.write_table(table, out / name, row_group_size=row_group_size)
        data = (out / name).read_bytes()
        infos.append(ShardInfo(path=name, sequences=len(chunk), tokens=len(chunk) * (seq_len + 1),
                               bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
        n_tokens += len(chunk) * (seq_len + 1)
    non_pad = sum(len(t) for row in rows for t in row)
    manifest = Manifest(
        seq_len=seq_len, dtype="uint16", tokenizer=TokenizerInfo(sha256=tokenizer_sha, vocab_size=VOCAB,
                                                                 special_ids={"<|endoftext|>": EOT, "<|pad|>": PAD}),
        packing=PackingStats(method="best-fit", pad_fraction=1 - non_pad / n_tokens, truncated_fraction=0.0),
        totals=Totals(documents=sum(len(r) for r in rows), sequences=len(rows), tokens=n_tokens,
                      non_pad_tokens=non_pad),
        sources={}, shards=infos)
    (out / MANIFEST_NAME).write_text(manifest.dumps(), encoding="utf-8")
    return out


def text_rows(n_rows: int, seed: int = 0) -> List[List[List[int]]]:
    """Learnable data: windows of a repeated sentence, two documents per row, some rows padded."""
    text = ("the quick brown fox jumps over the lazy dog. " * 200).encode()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_rows):
        total = SEQ_LEN + 1 - int(rng.integers(0, 20))  # up to 19 pad tokens
        split = int(rng.integers(10, total - 10))
        a, b = (int(rng.integers(0, 1000)) for _ in range(2))
        rows.append([list(text[a:a + split]), list(text[b:b + total - split])])
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    sha = write_tokenizer(root / "tok" / "tokenizer.json", "byte-level")
    shards = write_shards(root / "shards", text_rows(64), sha)
    return {"root": root, "shards": str(shards), "tokenizer": str(root / "tok"), "sha": sha}


@pytest.fixture(scope="module")
def id_shards(tmp_path_factory):
    """30 rows over 3 shards with row groups of 4; token 0 of row i is i, so batches name their rows."""
    root = tmp_path_factory.mktemp("ids")
    sha = write_tokenizer(root / "tokenizer.json", "ids")
    rows = [[[i, 1, 2, 3]] for i in range(30)]
    return str(write_shards(root / "shards", rows, sha, seq_len=8, shards=3, row_group_size=4))


def tiny(corpus, out: Path, **kw) -> TrainConfig:
    # Smaller than the tiny preset so the resume test stays within seconds; same code path.
    base = dict(shards=corpus["shards"], tokenizer=corpus["tokenizer"], out_dir=str(out), device="cpu",
                n_embd=64, log_interval=5, prefetch=0)
    return TrainConfig.from_preset("tiny", **{**base, **kw})


@pytest.fixture(scope="module")
def gutenberg_shards(shared_data, tmp_path_factory):
    """Real shards through the real chain: Gutenberg paragraphs (JSONL) -> BPE tokenizer -> tokenize job."""
    from pipelines.jobs.tokenize import run_tokenize
    from tokenizer.train import train_tokenizer

    root = tmp_path_factory.mktemp("gutenberg")
    docs = []
    for book in ("pg11__Alice-s-Adventures-in-Wonderland.txt", "pg1342__Pride-and-Prejudice.txt"):
        text = (shared_data / "text" / "gutenberg" / book).read_text(encoding="utf-8", errors="replace")
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if len(p) > 200]
        docs += [{"id": f"{book}:{i}", "text": p} for i, p in enumerate(paragraphs[20:220])]
    with open(root / "docs.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    train_tokenizer(str(root / "docs.jsonl"), 512, str(root / "tok"))
    manifest = run_tokenize(str(root / "docs.jsonl"), str(root / "tok"), str(root / "shards"), SEQ_LEN)
    return {"shards": str(root / "shards"), "tokenizer": str(root / "tok"), "manifest": manifest}


def unigram_entropy_nats(shards_dir: str) -> float:
    """Entropy of the token distribution of every non-pad token in the shards (the best loss a model that
    ignores context can reach)."""
    counts = np.zeros(0, dtype=np.int64)
    for path in sorted(Path(shards_dir).glob("*.parquet")):
        table = pq.read_table(path)
        for tokens, lengths in zip(table.column(TOKENS).to_pylist(), table.column(DOC_LENGTHS).to_pylist()):
            ids = np.asarray(tokens[:sum(lengths)])
            counts = np.pad(counts, (0, max(0, ids.max() + 1 - len(counts))))
            counts += np.bincount(ids, minlength=len(counts))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


@pytest.mark.slow  # ~10 s: Gutenberg through tokenizer, tokenize job and a CPU training run
def test_tiny_preset_loss_falls_well_below_unigram_entropy_on_real_shards(gutenberg_shards, tmp_path):
    m = gutenberg_shards["manifest"]
    assert m.totals.sequences >= 300 and m.tokenizer.vocab_size == 512
    entropy = unigram_entropy_nats(gutenberg_shards["shards"])
    assert 4.0 < entropy < np.log(512)  # a 512-token BPE on English prose: ~5 nats
    config = TrainConfig.from_preset("tiny", shards=gutenberg_shards["shards"],
                                     tokenizer=gutenberg_shards["tokenizer"], out_dir=str(tmp_path / "run"),
                                     device="cpu", max_steps=100, log_interval=25)
    result = train(config)
    print(f"unigram entropy {entropy:.3f} nats; loss {result['first_loss']:.3f} -> "
          f"{np.mean(result['losses'][-10:]):.3f} (mean of the last 10 steps)")
    assert result["steps"] == 100 and len(result["losses"]) == 100
    assert result["first_loss"] == pytest.approx(np.log(512), abs=0.3)  # starts near uniform
    late = float(np.mean(result["losses"][-10:]))
    # Context must be used: a model that only learnt token frequencies would sit at the entropy.
    assert late < entropy - 0.75, (late, entropy)
    assert Path(result["out_dir"], "ckpt.pt").is_file()
    records = [json.loads(line) for line in Path(result["log"]).read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 25, 50, 75, 100]
    assert all(set(r) == {"step", "loss", "loss_avg", "lr", "tokens_per_s", "mfu"} for r in records)
    assert records[-1]["mfu"] is None and records[-1]["tokens_per_s"] > 0  # no MFU on CPU


@pytest.mark.parametrize("document_masking", [False, True])
def test_resume_sees_the_same_batches_and_losses(corpus, tmp_path, document_masking):
    # 8 rows per batch over 64 rows: 8 batches per epoch, so 20 steps cross two epoch boundaries.
    full = train(tiny(corpus, tmp_path / "full", max_steps=20, document_masking=document_masking))
    first = train(tiny(corpus, tmp_path / "split", max_steps=11, document_masking=document_masking))
    state = torch.load(tmp_path / "split" / "ckpt.pt", weights_only=True)
    assert state["step"] == 11 and state["reader"]["epoch"] == 1 and state["reader"]["position"] == 3
    rest = train(tiny(corpus, tmp_path / "split", max_steps=20, resume=True, prefetch=2,
                      document_masking=document_masking))
    assert rest["steps"] == 20 and len(rest["losses"]) == 9
    assert first["losses"] == full["losses"][:11]
    assert torch.equal(torch.tensor(rest["losses"]), torch.tensor(full["losses"][11:])), \
        (rest["losses"], full["losses"][11:])
    log_steps = [json.loads(line)["step"] for line in Path(rest["log"]).read_text().splitlines()]
    assert log_steps == [1, 5, 10, 11, 15, 20]  # the resumed run appends to the first run's log


def test_reader_refuses_a_different_tokenizer(corpus, tmp_path):
    other_sha = write_tokenizer(tmp_path / "other" / "tokenizer.json", "another vocabulary")
    with pytest.raises(ValueError) as err:
        ShardReader(corpus["shards"], 4, tokenizer=str(tmp_path / "other" / "tokenizer.json"))
    msg = str(err.value)
    assert "tokenizer mismatch" in msg and corpus["sha"] in msg and other_sha in msg
    with pytest.raises(ValueError, match=other_sha):
        ShardReader(corpus["shards"], 4, expected_sha256=other_sha)
    # The matching tokenizer (as a file, a directory or a hash) and no tokenizer at all are accepted.
    for kw in ({"tokenizer": corpus["tokenizer"]}, {"tokenizer": corpus["tokenizer"] + "/tokenizer.json"},
               {"expected_sha256": corpus["sha"]}, {}):
        assert ShardReader(corpus["shards"], 4, **kw).num_rows == 64
    # The CLI turns the refusal into exit status 2 with the message.
    assert main(["--shards", corpus["shards"], "--tokenizer", str(tmp_path / "other"), "--device", "cpu",
                 "--max-steps", "1", "--out", str(tmp_path / "o")]) == 2


def rows_seen(reader: ShardReader, n_batches: int) -> List[int]:
    it = iter(reader)
    return [int(r) for _ in range(n_batches) for r in next(it)[0][:, 0]]


def test_ranks_are_disjoint_and_cover_all_rows(id_shards):
    for world in (1, 2, 3, 5):
        per_rank = [ShardReader(id_shards, 2, rank=r, world_size=world, seed=7).rows_for_epoch(0)
                    for r in range(world)]
        assert sorted(np.concatenate(per_rank).tolist()) == list(range(30))
    # 30 rows over 4 ranks: 7 each, disjoint, and fewer than world_size rows left out.
    per_rank = [set(ShardReader(id_shards, 1, rank=r, world_size=4).rows_for_epoch(0)) for r in range(4)]
    assert all(len(s) == 7 for s in per_rank) and len(set.union(*per_rank)) == 28
    # What a rank's batches contain is what rows_for_epoch says (token 0 is the row id).
    reader = ShardReader(id_shards, 3, rank=1, world_size=2, seed=7)
    assert rows_seen(reader, 5) == reader.rows_for_epoch(0).tolist()


def test_a_rank_builds_only_its_share_of_the_epoch_order_and_the_order_is_unchanged(id_shards):
    """rows_for_epoch keeps only this rank's rows (the whole order of 100M rows held 1.6 GB per rank): the same
    rows, in the same order, as taking every world_size-th row of the whole shuffled order."""
    for world in (1, 2, 3, 4, 7):
        for rank in range(world):
            reader = ShardReader(id_shards, 1, rank=rank, world_size=world, seed=11)
            for epoch in (0, 3):
                rng = np.random.default_rng([11, epoch])
                whole = np.concatenate([reader.unit_starts[u] + rng.permutation(reader.units[u][2])
                                        for u in rng.permutation(len(reader.units))])
                assert np.array_equal(reader.rows_for_epoch(epoch), whole[rank::world][:reader.rows_per_rank])


def test_shuffle_is_deterministic_per_epoch(id_shards):
    a, b = ShardReader(id_shards, 5, seed=3), ShardReader(id_shards, 5, seed=3)
    assert np.array_equal(a.rows_for_epoch(0), b.rows_for_epoch(0))
    assert not np.array_equal(a.rows_for_epoch(0), a.rows_for_epoch(1))
    assert sorted(a.rows_for_epoch(1).tolist()) == list(range(30))
    assert not np.array_equal(a.rows_for_epoch(0), ShardReader(id_shards, 5, seed=4).rows_for_epoch(0))
    # Iteration walks epoch 0 then epoch 1 (6 batches of 5 per epoch).
    assert rows_seen(a, 12) == a.rows_for_epoch(0).tolist() + a.rows_for_epoch(1).tolist()


def test_reader_state_resumes_mid_epoch(id_shards):
    uninterrupted = rows_seen(ShardReader(id_shards, 4, seed=1, prefetch=2), 20)
    first = ShardReader(id_shards, 4, seed=1, prefetch=2)
    head = rows_seen(first, 9)  # 7 batches per epoch: stops inside epoch 1
    state = first.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    second = ShardReader(id_shards, 4, seed=1)
    second.load_state_dict(state)
    assert head + rows_seen(second, 11) == uninterrupted
    with pytest.raises(ValueError, match="batch size"):
        ShardReader(id_shards, 5, seed=1).load_state_dict(state)


def test_loss_mask_excludes_padding(id_shards):
    # Row of 9 tokens (seq_len 8): two documents of 3 and 2 tokens, then 4 pads. x = t[:8], y = t[1:].
    tokens = np.array([[10, 11, 12, 20, 21, PAD, PAD, PAD, PAD]])
    x, y, mask, _, _ = rows_to_batch(tokens, np.array([5]))
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (1, 8)
    assert y[0].tolist() == [11, 12, 20, 21, PAD, PAD, PAD, PAD]
    assert mask[0].tolist() == [True] * 4 + [False] * 4  # targets at j >= 5 - 1 are padding
    # The reader builds the same mask from doc_lengths: every row of id_shards holds one 4-token document.
    _, y, mask, _, _ = next(iter(ShardReader(id_shards, 6)))
    assert mask.sum(1).tolist() == [3] * 6 and bool((y[~mask] == PAD).all())
    # The model's loss does not move when padding targets change, and equals the mean over real targets.
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=VOCAB, seq_len=8, n_layer=1, n_head=2, n_embd=32))
    x, y, mask, _, _ = rows_to_batch(np.tile(tokens, (2, 1)), np.array([5, 9]))
    logits, loss = model(x, y, loss_mask=mask)
    y_changed = y.clone()
    y_changed[~mask] = 3
    _, loss_changed = model(x, y_changed, loss_mask=mask)
    per_token = torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), y.view(-1), reduction="none")
    assert torch.equal(loss, loss_changed)
    assert torch.allclose(loss, per_token[mask.view(-1)].mean())
    assert mask.sum().item() == 4 + 8


def test_flops_estimate_matches_gpt2_small():
    with torch.device("meta"):  # shapes only: no 124M-parameter initialisation on the CPU
        model = GPT(GPTConfig(vocab_size=50257, seq_len=1024, n_layer=12, n_head=12, n_embd=768))
    assert 123e6 < model.num_params() < 125e6  # GPT-2 small with tied embeddings, no biases or positions
    # 6N + 12 L T C (nanoGPT): about 0.87 GFLOP per token at 1024 tokens.
    assert model.estimate_flops_per_token() == pytest.approx(6 * model.num_params() + 12 * 12 * 1024 * 768)


def test_cli_writes_log_and_checkpoint(corpus, tmp_path, capsys):
    rc = main(["--shards", corpus["shards"], "--device", "cpu", "--max-steps", "3", "--log-interval", "2",
               "--batch-size", "4", "--out", str(tmp_path / "cli")])
    assert rc == 0
    lines = (tmp_path / "cli" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    captured = capsys.readouterr()
    assert "not checking the shards' tokenizer" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["steps"] == 3 and (tmp_path / "cli" / "ckpt.pt").is_file()


def batches(reader: ShardReader, n: int):
    it = iter(reader)
    return [next(it) for _ in range(n)]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        for s, t in zip(p, q):
            assert (s is None and t is None) or torch.equal(s, t)


def test_reader_opens_fsspec_uris(corpus):
    import fsspec  # the `train` extra, which dev.sh installs with torch

    local = batches(ShardReader(corpus["shards"], 8, seed=5, document_masking=True), 10)
    as_file_uri = ShardReader("file://" + corpus["shards"], 8, seed=5, document_masking=True,
                              tokenizer=corpus["tokenizer"])
    assert_same_batches(local, batches(as_file_uri, 10))
    memory = fsspec.filesystem("memory")
    root = "memory://winnow-test-shards"
    for path in Path(corpus["shards"]).iterdir():
        memory.pipe(f"{root}/{path.name}", path.read_bytes())
    try:
        in_memory = ShardReader(root, 8, seed=5, document_masking=True, expected_sha256=corpus["sha"],
                                prefetch=2)
        assert in_memory.num_rows == 64
        assert_same_batches(local, batches(in_memory, 10))
        with pytest.raises(ValueError, match="tokenizer mismatch"):
            ShardReader(root, 8, expected_sha256="0" * 64)
    finally:
        memory.rm(root, recursive=True)


def write_format_twin(shards_dir: str, out: Path, file_format: str, rows_per_group: int = 16) -> Path:
    """The same rows as `shards_dir` as Parquet or Arrow IPC files (uncompressed, record batches of
    `rows_per_group`, as `winnow tokenize --format arrow` writes them), with their manifest."""
    out.mkdir(parents=True)
    manifest = Manifest.load(str(Path(shards_dir) / MANIFEST_NAME))
    infos = []
    for shard in manifest.shards:
        table = pq.read_table(Path(shards_dir) / shard.path).combine_chunks()  # one chunk: groups of N
        name = shard.path.rsplit(".", 1)[0] + "." + file_format
        if file_format == "arrow":
            with pa.ipc.new_file(str(out / name), table.schema,
                                 options=pa.ipc.IpcWriteOptions(compression=None)) as writer:
                writer.write_table(table, max_chunksize=rows_per_group)
        else:
            pq.write_table(table, out / name, compression="zstd", row_group_size=rows_per_group)
        data = (out / name).read_bytes()
        infos.append(ShardInfo(path=name, sequences=table.num_rows, tokens=shard.tokens, bytes=len(data),
                               sha256=hashlib.sha256(data).hexdigest()))
    manifest.shards, manifest.file_format = infos, file_format
    (out / MANIFEST_NAME).write_text(manifest.dumps(), encoding="utf-8")
    return out


def test_arrow_shards_are_memory_mapped_and_read_like_parquet(corpus, tmp_path):
    parquet = write_format_twin(corpus["shards"], tmp_path / "parquet", "parquet")
    arrow = write_format_twin(corpus["shards"], tmp_path / "arrow", "arrow")
    a = ShardReader(str(arrow), 8, seed=2, document_masking=True)
    p = ShardReader(str(parquet), 8, seed=2, document_masking=True)
    assert a.num_rows == p.num_rows == 64 and a.units == p.units and len(a.units) == 4
    assert_same_batches(batches(p, 12), batches(a, 12))
    # Zero-copy: loading a record batch allocates nothing in Arrow's memory pool (the token matrix is a
    # view of the mapped file), while decoding a Parquet row group does.
    fresh_a, fresh_p = ShardReader(str(arrow), 8), ShardReader(str(parquet), 8)
    before = pa.total_allocated_bytes()
    unit = fresh_a._load_unit(1)
    assert pa.total_allocated_bytes() == before and not unit.tokens.flags.owndata
    assert unit.tokens.dtype == np.uint16 and unit.tokens.shape == (16, SEQ_LEN + 1)
    held = fresh_p._load_unit(1)
    assert pa.total_allocated_bytes() > before
    assert np.array_equal(held.tokens, unit.tokens)
