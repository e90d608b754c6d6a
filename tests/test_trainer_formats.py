"""The trainer formats (`winnow export`, `winnow tokenize --format megatron|mds|llmc`), read back by the trainers'
own readers: megatron-core's IndexedDataset, MosaicML streaming's StreamingDataset (a local directory), and
numpy as llm.c's `_load_data_shard` reads a `.bin`. The byte layouts are also compared with the bytes the
ecosystems' own writers produce for the same data (megatron-core's IndexedDatasetBuilder, MDSWriter)."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from schemas.trainer_formats import (
    encode_documents, encode_rows_mds, mds_index, megatron_index,
)


def _megatron():
    try:
        from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder
    except ImportError as exc:  # dev.sh installs it; elsewhere say so instead of passing silently (a broken
        # install, any other error, fails)
        pytest.skip(f"megatron-core is not installed ({exc}): pip install --no-deps megatron-core==0.16.1")
    return IndexedDataset, IndexedDatasetBuilder


def _streaming():
    # streaming/__init__ imports streaming.vision, which imports torchvision; without a torchvision built for
    # this torch the vision datasets (unused here) cannot load, so an empty module stands in for them
    try:
        import torchvision  # noqa: F401
    except Exception:
        sys.modules.setdefault("streaming.vision", types.ModuleType("streaming.vision"))
    try:
        import streaming
    except ImportError as exc:  # as for megatron-core: missing skips, broken fails
        pytest.skip(f"mosaicml-streaming is not installed ({exc}): pip install --no-deps mosaicml-streaming==0.13.0")
    return streaming


def load_llmc_shard(path: Path) -> np.ndarray:
    """llm.c's train_gpt2.py `_load_data_shard`, as it reads a gpt-2 (uint16) shard."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype=np.int32)
        assert header[0] == 20240520, "magic number mismatch in the data .bin file"
        assert header[1] == 1, "unsupported version"
        ntok = header[2]
        tokens = np.frombuffer(f.read(), dtype=np.uint16)
    assert len(tokens) == ntok, "number of tokens read does not match header?"
    return tokens


DOCS = [np.array([5, 6, 7, 0], np.uint16), np.array([9, 0], np.uint16), np.array([1, 2, 3, 4, 5, 0], np.uint16)]


# -- pure encoders against the ecosystems' own writers and readers ---------------------------------------------

def test_megatron_index_is_byte_identical_to_megatron_cores_builder(tmp_path):
    IndexedDataset, IndexedDatasetBuilder = _megatron()
    import torch

    builder = IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=np.uint16)
    for doc in DOCS:  # what preprocess_data.py does per document with --append-eod and no sentence splitting
        builder.add_document(torch.tensor(doc.astype(np.int64)), [len(doc)])
    builder.finalize(str(tmp_path / "ref.idx"))
    flat = np.concatenate(DOCS)
    files = {name: bytes(data) if isinstance(data, memoryview) else b"".join(data)  # the .idx comes in pieces
             for name, data, _ in encode_documents("megatron", str(tmp_path / "ours"), flat, [len(d) for d in DOCS],
                                                   "uint16", 0)}
    assert files[str(tmp_path / "ours.idx")] == (tmp_path / "ref.idx").read_bytes()
    assert files[str(tmp_path / "ours.bin")] == (tmp_path / "ref.bin").read_bytes()
    for name, data in files.items():
        Path(name).write_bytes(data)
    ds = IndexedDataset(str(tmp_path / "ours"))
    assert [ds[i].tolist() for i in range(len(ds))] == [d.tolist() for d in DOCS]
    assert ds.document_indices.tolist() == [0, 1, 2, 3] and ds.sequence_lengths.tolist() == [4, 2, 6]
    # uint32 vocabularies are stored as int32 (megatron has no uint32 dtype code)
    assert megatron_index(np.array([3]), "int32")[17] == 4


def test_mds_shard_is_byte_identical_to_mdswriter_and_reads_back(tmp_path):
    streaming = _streaming()
    rows = np.array([[1, 2, 3, 9, 9], [4, 5, 6, 7, 8]], np.uint16)
    lengths, ids = [[3], [2, 3]], [["a"], ["b", "c"]]
    ref = tmp_path / "ref"
    columns = {"tokens": "ndarray:uint16:5", "doc_lengths": "ndarray:int32", "doc_ids": "json"}
    with streaming.MDSWriter(out=str(ref), columns=columns, hashes=["sha256"], size_limit=None) as w:
        for r, dl, di in zip(rows, lengths, ids):
            w.write({"tokens": r, "doc_lengths": np.array(dl, np.int32), "doc_ids": di})
    data, counts, entry = encode_rows_mds("shard.00000.mds", rows, lengths, ids, 4, "uint16")
    assert data == (ref / "shard.00000.mds").read_bytes()
    assert json.loads(mds_index([entry])) == json.loads((ref / "index.json").read_text())
    assert counts == {"tokens": 10, "documents": 3, "samples": 2, "non_pad_tokens": 8}


def test_llmc_file_reads_back_as_llmc_loader_does(tmp_path):
    flat = np.concatenate(DOCS)
    [(name, data, counts)] = encode_documents("llmc", str(tmp_path / "train"), flat, [len(d) for d in DOCS],
                                              "uint16", 0)
    Path(name).write_bytes(data)
    assert load_llmc_shard(Path(name)).tolist() == flat.tolist()
    assert counts == {"tokens": 12, "documents": 3}  # documents: the <|endoftext|> that end them


# -- winnow export on real shards ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shards(word_corpus, tmp_path_factory):
    """Real Parquet shards with doc_ids (seq_len 64: the longer documents are split across rows)."""
    from pipelines.jobs.tokenize import run_tokenize

    out = tmp_path_factory.mktemp("trainer-shards") / "shards"
    run_tokenize(str(word_corpus / "documents"), str(word_corpus / "tok"), str(out), 64, doc_ids=True,
                 rows_per_shard=25)
    return out


def _rows(shards_dir: Path):
    from schemas.shard_files import ShardFile, read_manifest

    m = read_manifest(str(shards_dir))
    rows = []
    for s in m.shards:
        t = ShardFile(str(shards_dir / s.path), m.file_format).read_all().to_pylist()
        rows += t
    return m, rows


def _export_and_verify(shards, tmp_path, fmt, tokenizer):
    from pipelines.tools.export import main as export_main
    from pipelines.tools.stats import compute_stats
    from pipelines.tools.verify import verify_shards

    out = tmp_path / fmt
    assert export_main(["--format", fmt, "--output", str(out), str(shards)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert verify_shards(str(out), str(tokenizer)) == manifest
    stats = compute_stats(str(out), progress=False)
    assert stats["kind"] == "trainer" and stats["manifest_checks"] == ["ok"]
    assert stats["files_totals"]["tokens"] == manifest["totals"]["tokens"]
    return out, manifest


def test_export_megatron_documents_are_the_row_segments(shards, tmp_path, word_corpus):
    IndexedDataset, _ = _megatron()
    src, rows = _rows(shards)
    out, manifest = _export_and_verify(shards, tmp_path, "megatron", word_corpus / "tok")
    eot = src.tokenizer.special_ids["<|endoftext|>"]
    segments = [r["tokens"][sum(r["doc_lengths"][:j]):sum(r["doc_lengths"][:j + 1])]
                for r in rows for j in range(len(r["doc_lengths"]))]
    pieces = [s for s in segments if s[-1] != eot]  # pieces of documents split by packing, all but their last
    assert pieces and len(segments) == src.totals.documents + len(pieces)
    read = []
    for f in (p for p in manifest["files"] if p["path"].endswith(".bin")):  # listed by path
        ds = IndexedDataset(str(out / f["path"][:-4]))
        read += [ds[i].tolist() for i in range(len(ds))]
    # every exported document ends in <|endoftext|>: the pieces get one, so none runs on into the next document
    assert read == [s if s[-1] == eot else s + [eot] for s in segments]
    assert manifest["origin"]["eot_appended"] == len(pieces)
    assert manifest["totals"]["tokens"] == src.totals.non_pad_tokens + len(pieces)
    assert "split by packing" in manifest["documents_are"]


def test_megatron_gptdataset_packs_the_exported_documents(shards, tmp_path, word_corpus):
    """Megatron's own packing applies: its GPTDataset cuts seq_len + 1 windows out of the shuffled documents."""
    IndexedDataset, _ = _megatron()
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.utils import Split

    out, manifest = _export_and_verify(shards, tmp_path, "megatron", word_corpus / "tok")
    prefix = str(out / manifest["files"][0]["path"][:-4])
    special = manifest["tokenizer"]["special_ids"]

    class Tokenizer:  # what GPTDataset asks of a tokenizer: eod and pad ids, vocabulary size, an identity
        eod, pad, vocab_size = special["<|endoftext|>"], special["<|pad|>"], manifest["tokenizer"]["vocab_size"]
        unique_identifiers = {"class": "winnow", "sha256": manifest["tokenizer"]["sha256"]}

    config = GPTDatasetConfig(random_seed=1, sequence_length=16, blend=([prefix], None), split="1,0,0",
                              tokenizer=Tokenizer(), reset_position_ids=False, reset_attention_mask=False,
                              eod_mask_loss=False)
    indexed = IndexedDataset(prefix)
    ds = GPTDataset(indexed, prefix, np.arange(len(indexed), dtype=np.int32), None, Split.train, config)
    assert len(ds) == (int(indexed.sequence_lengths.sum()) - 1) // 16
    stream = np.concatenate([indexed[int(d)] for d in ds.document_index])  # its shuffled document order
    for i in range(len(ds)):
        sample, k = ds[i], int(ds.shuffle_index[i])
        window = np.append(sample["tokens"].numpy(), sample["labels"].numpy()[-1])
        assert window.tolist() == stream[k * 16:k * 16 + 17].tolist()


def test_export_mds_samples_equal_rows(shards, tmp_path, word_corpus):
    streaming = _streaming()
    _, rows = _rows(shards)
    out, manifest = _export_and_verify(shards, tmp_path, "mds", word_corpus / "tok")
    ds = streaming.StreamingDataset(local=str(out), shuffle=False, batch_size=1, validate_hash="sha256")
    samples = [ds[i] for i in range(len(ds))]
    assert [s["tokens"].tolist() for s in samples] == [r["tokens"] for r in rows]
    assert [s["doc_lengths"].tolist() for s in samples] == [r["doc_lengths"] for r in rows]
    assert [s["doc_ids"] for s in samples] == [r["doc_ids"] for r in rows]
    assert manifest["totals"]["samples"] == len(rows)


def test_export_llmc_and_verify_catches_a_changed_byte(shards, tmp_path, word_corpus):
    from pipelines.tools.verify import VerifyError, verify_shards

    src, rows = _rows(shards)
    out, manifest = _export_and_verify(shards, tmp_path, "llmc", word_corpus / "tok")
    from pipelines.tools.export import export_shards

    in_two = export_shards(str(shards), "llmc", str(tmp_path / "llmc-2"), workers=2)  # processes: same files
    assert [(f["path"], f["sha256"]) for f in in_two["files"]] == [(f["path"], f["sha256"]) for f in manifest["files"]]
    flat = [t for f in sorted(out.glob("shard-*.bin")) for t in load_llmc_shard(f).tolist()]
    eot = src.tokenizer.special_ids["<|endoftext|>"]
    segments = [r["tokens"][sum(r["doc_lengths"][:j]):sum(r["doc_lengths"][:j + 1])]
                for r in rows for j in range(len(r["doc_lengths"]))]
    assert flat == [t for s in segments for t in (s if s[-1] == eot else s + [eot])]
    assert manifest["totals"]["documents"] == flat.count(eot) == len(segments) > src.totals.documents
    assert manifest["origin"]["eot_appended"] == len(segments) - src.totals.documents
    from pipelines.cli import main as cli_main

    assert cli_main(["stats", str(out), "--html", str(tmp_path / "stats.html")]) == 0
    assert "manifest checks (with sha256): ok" in (tmp_path / "stats.html").read_text()
    original = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(original.replace(f'"tokens": {manifest["totals"]["tokens"]}',
                                                        f'"tokens": {manifest["totals"]["tokens"] + 1}'))
    with pytest.raises(VerifyError, match="totals.tokens"):
        verify_shards(str(out))
    appended = manifest["origin"]["eot_appended"]
    (out / "manifest.json").write_text(original.replace(f'"eot_appended": {appended}', f'"eot_appended": {appended - 1}'))
    with pytest.raises(VerifyError, match="appended to pieces"):  # the pieces' ends are counted, not taken on trust
        verify_shards(str(out))
    (out / "manifest.json").write_text(original)
    victim = sorted(out.glob("shard-*.bin"))[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(VerifyError, match="sha256"):
        verify_shards(str(out))
    (out / "shard-99999-of-99999.bin").write_bytes(b"")
    with pytest.raises(VerifyError, match="not listed"):
        verify_shards(str(out))


def test_export_refuses_bad_arguments_before_writing(shards, tmp_path, capsys):
    from pipelines.cli import main as cli_main

    with pytest.raises(SystemExit) as exc:
        cli_main(["export", "--help"])
    assert exc.value.code == 0 and "megatron" in capsys.readouterr().out

    assert cli_main(["export", str(shards), "--format", "megatron", "--output", str(shards)]) == 1
    assert not list(shards.glob("*.idx"))
    assert cli_main(["export", str(tmp_path), "--format", "llmc", "--output", str(tmp_path / "o")]) == 1
    other = tmp_path / "other-shards"  # a directory of token shards is not overwritten
    other.mkdir()
    (other / "manifest.json").write_bytes((shards / "manifest.json").read_bytes())
    (other / "shard-00000-of-00001.parquet").write_bytes(b"kept")
    assert cli_main(["export", str(shards), "--format", "mds", "--output", str(other)]) == 1
    assert sorted(p.name for p in other.iterdir()) == ["manifest.json", "shard-00000-of-00001.parquet"]
    # token shards without a manifest (an interrupted tokenize): refused, not deleted as an earlier export's files
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "shard-00000-of-00013.arrow").write_bytes(b"kept")
    (loose / "notes.txt").write_text("kept")
    assert cli_main(["export", str(shards), "--format", "llmc", "--output", str(loose)]) == 1
    assert "--output holds token shards (shard-00000-of-00013.arrow)" in capsys.readouterr().err
    assert sorted(p.name for p in loose.iterdir()) == ["notes.txt", "shard-00000-of-00013.arrow"]


def test_two_shards_of_one_stem_are_refused_before_writing(shards, tmp_path, capsys):
    """x.parquet and x.zst (a valid shard set to verify) were both exported as x.bin: one overwrote the other and
    the export reported success with half the tokens gone."""
    import shutil

    from pipelines.cli import main as cli_main

    twin = tmp_path / "twin"
    shutil.copytree(shards, twin)
    manifest = json.loads((twin / "manifest.json").read_text())
    first = manifest["shards"][0]["path"]
    (twin / first).rename(twin / (first.rsplit(".", 1)[0] + ".zst"))
    (twin / manifest["shards"][1]["path"]).rename(twin / first)
    manifest["shards"][0]["path"], manifest["shards"][1]["path"] = first.rsplit(".", 1)[0] + ".zst", first
    (twin / "manifest.json").write_text(json.dumps(manifest))
    assert cli_main(["export", str(twin), "--format", "megatron", "--output", str(tmp_path / "out")]) == 1
    assert "would both be exported as" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- the Beam composite of `winnow tokenize --format` -----------------------------------------------------------

def _encoded(n: int = 40):
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        tokens = np.append(rng.integers(3, 290, rng.integers(1, 90)), 0).astype(np.uint16)  # eot id 0
        out.append((f"doc{i:03d}", "web" if i % 3 else "code", len(tokens), tokens.tobytes()))
    return out


def _run_composite(out: Path, encoded):
    """One tiny pipeline on Winnow's local runner writing all three formats (out/megatron, out/llmc, out/mds)."""
    import apache_beam as beam

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.tokenize import TokenizeConfig
    from pipelines.transforms.trainer_formats import WriteTrainerFormat

    tok = {"sha256": "0" * 64, "vocab_size": 300, "special_ids": {"<|endoftext|>": 0, "<|pad|>": 1}}
    with make_pipeline() as p:
        docs = p | "Documents" >> beam.Create(encoded)
        extra = p | "Extra" >> beam.Create([{"mixture": {"sources": []}}])  # what a mixture job adds to the manifest
        for fmt in ("megatron", "llmc", "mds"):
            (out / fmt).mkdir(parents=True, exist_ok=True)
            config = TokenizeConfig(output_dir=str(out / fmt), seq_len=32, seed=7, doc_ids=True, rows_per_shard=8)
            _ = docs | f"Write{fmt}" >> WriteTrainerFormat(fmt, config, "uint16", tok, {"test": "1"},
                                                           manifest_extra=extra if fmt == "llmc" else None)
    return {fmt: json.loads((out / fmt / "manifest.json").read_text()) for fmt in ("megatron", "llmc", "mds")}


def test_tokenize_composite_writes_each_format_deterministically(tmp_path):
    from pipelines.tools.verify import verify_shards

    IndexedDataset, _ = _megatron()
    streaming = _streaming()
    encoded = _encoded()
    docs = {e[0]: np.frombuffer(e[3], np.uint16).tolist() for e in encoded}
    manifests = _run_composite(tmp_path / "a", encoded)
    again = _run_composite(tmp_path / "b", encoded[::-1])  # other bundles and order, the same bytes
    for fmt, manifest in manifests.items():
        assert verify_shards(str(tmp_path / "a" / fmt)) == manifest
        assert manifest["sources"] == {"code": {"documents": 14, "tokens": sum(e[2] for e in encoded[::3])},
                                       "web": {"documents": 26, "tokens": sum(e[2] for i, e in enumerate(encoded)
                                                                               if i % 3)}}
        assert [(f["path"], f["sha256"]) for f in again[fmt]["files"]] == \
            [(f["path"], f["sha256"]) for f in manifest["files"]]
        if fmt == "megatron":
            read = []
            for f in (f for f in manifest["files"] if f["path"].endswith(".bin")):
                ds = IndexedDataset(str(tmp_path / "a" / fmt / f["path"][:-4]))
                read += [ds[i].tolist() for i in range(len(ds))]
            assert sorted(read) == sorted(docs.values())  # every document once, whole
            assert read != [docs[k] for k in sorted(docs)]  # in the hash order, not the input's
            assert len([f for f in manifest["files"] if f["path"].endswith(".bin")]) > 1
        elif fmt == "llmc":
            assert manifest["mixture"] == {"sources": []}
            flat = [t for f in sorted((tmp_path / "a" / fmt).glob("shard-*.bin")) for t in load_llmc_shard(f).tolist()]
            assert sorted(flat) == sorted(t for d in docs.values() for t in d) and flat.count(0) == len(docs)
        else:
            ds = streaming.StreamingDataset(local=str(tmp_path / "a" / fmt), shuffle=False, batch_size=1)
            samples = [ds[i] for i in range(len(ds))]
            assert len(samples) == manifest["totals"]["samples"] > 1
            got = {}
            for s in samples:
                start = 0
                for doc_id, n in zip(s["doc_ids"], s["doc_lengths"].tolist()):
                    got.setdefault(doc_id, []).extend(s["tokens"][start:start + n].tolist())
                    start += n
                assert set(s["tokens"][start:].tolist()) <= {1}  # padding after the segments
            # a document longer than a row is split over rows (whose order is the row shuffle's)
            assert {k: sorted(v) for k, v in got.items()} == {k: sorted(v) for k, v in docs.items()}


# -- winnow tokenize --format F: the job writes the trainer's files itself --------------------------------------

def test_tokenize_job_writes_each_trainer_format_and_verify_accepts_it(shards, tmp_path, word_corpus, capsys):
    """`winnow tokenize --format megatron|mds|llmc` (the CLI, in-process): the files verify, the whole documents
    (megatron, llmc) are exactly the tokenizer's encoding of each input document (and <|endoftext|>), and a
    mixture keeps its `mixture` entry in the trainer manifest."""
    import pyarrow.parquet as pq

    from pipelines.cli import main as cli_main
    from pipelines.tools.verify import verify_shards
    from schemas.shard_files import read_manifest
    from tokenizer.encode import load_tokenizer

    parquet = read_manifest(str(shards))
    tok = load_tokenizer(str(word_corpus / "tok"))
    texts = [t for f in sorted((word_corpus / "documents").glob("*.parquet"))
             for t in pq.read_table(f)["text"].to_pylist()]
    expected = sorted(tok.encode(t) + [tok.eot_id] for t in texts if t)  # each whole document, in any order
    for fmt in ("megatron", "mds", "llmc"):
        out = tmp_path / fmt
        assert cli_main(["tokenize", "--input", str(word_corpus / "documents"), "--tokenizer", str(word_corpus / "tok"),
                         "--seq-len", "64", "--format", fmt, "--output", str(out)]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["file_format"] == fmt
        said, totals = capsys.readouterr().out, manifest["totals"]
        if fmt == "mds":  # rows holding document segments, not "documents" (a split document is in several)
            assert f"{totals['samples']} samples (packed rows) holding {totals['documents']} document segments" in said
        else:
            assert f"{fmt} files: {totals['documents']} documents" in said, said
        assert verify_shards(str(out), str(word_corpus / "tok")) == manifest
        if fmt != "mds":  # whole documents, each ending in <|endoftext|>
            assert manifest["totals"]["documents"] == parquet.totals.documents == 100
            assert manifest["totals"]["tokens"] == parquet.totals.non_pad_tokens
        if fmt == "megatron":
            IndexedDataset, _ = _megatron()
            got = [IndexedDataset(str(out / f["path"][:-4]))
                   for f in manifest["files"] if f["path"].endswith(".bin")]
            assert sorted(ds[i].tolist() for ds in got for i in range(len(ds))) == expected
        if fmt == "llmc":
            flat = [t for f in sorted(out.glob("shard-*.bin")) for t in load_llmc_shard(f).tolist()]
            docs, start = [], 0
            for i, t in enumerate(flat):
                if t == tok.eot_id:
                    docs.append(flat[start:i + 1])
                    start = i + 1
            assert start == len(flat) and sorted(docs) == expected
    mix = tmp_path / "mix.yaml"
    mix.write_text(f"sources:\n  - {{name: web, input: {word_corpus / 'documents'}, source: web, weight: 0.5}}\n"
                   f"  - {{name: books, input: {word_corpus / 'documents'}, source: books, weight: 0.5}}\n")
    out = tmp_path / "mixed"
    assert cli_main(["tokenize", "--mixture", str(mix), "--tokenizer", str(word_corpus / "tok"), "--seq-len", "64",
                     "--format", "megatron", "--output", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert verify_shards(str(out), str(word_corpus / "tok")) == manifest
    shares = {s["name"]: s["share"] for s in manifest["mixture"]["sources"]}
    assert set(shares) == {"web", "books"} and all(abs(v - 0.5) < 0.05 for v in shares.values()), shares
    assert sum(s["tokens"] for s in manifest["mixture"]["sources"]) == manifest["totals"]["tokens"]


def test_a_failed_export_leaves_the_previous_export(shards, tmp_path):
    """export writes under OUT/.winnow-staging-<run> and replaces the previous export only once it is complete:
    an export that fails (a shard whose bytes no longer match its manifest) leaves the previous files as they
    were; a shards directory inside OUT is refused."""
    import shutil

    from pipelines.tools.export import export_shards

    out = tmp_path / "llmc"
    export_shards(str(shards), "llmc", str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    damaged = tmp_path / "damaged"
    shutil.copytree(shards, damaged)
    victim = sorted(damaged.glob("shard-*"))[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(Exception, match="sha256"):
        export_shards(str(damaged), "llmc", str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".winnow-staging-")]
    with pytest.raises(ValueError, match="is inside the output directory"):
        export_shards(str(damaged), "llmc", str(tmp_path))


@pytest.mark.parametrize("workers", [1, 2])
def test_export_and_verify_progress_count_every_shard_file_and_token(shards, tmp_path, workers):
    """`winnow export` and `winnow verify` show their progress (schemas/progress.py): export counts each shard of
    the manifest and its tokens, in any worker count; verify counts each file it checks, of the shards and of the
    exported set, and its bytes. The counts are the manifests' own."""
    import io

    from pipelines.tools.export import export_shards
    from pipelines.tools.verify import verify_shards
    from schemas.progress import Progress
    from schemas.shard_files import read_manifest

    source = read_manifest(str(shards))
    assert len(source.shards) > 2

    def reporter(label, counters):
        return Progress(label, counters, stream=io.StringIO(), tty=False, log_interval=0.0)

    with reporter("export", ("shards", "tokens")) as p:
        exported = export_shards(str(shards), "megatron", str(tmp_path / "megatron"), workers=workers, progress=p)
    assert p.counts == {"shards": len(source.shards), "tokens": source.totals.tokens}
    assert p.total == len(source.shards)
    assert p.stream.getvalue().splitlines()[-1].startswith(f"[export] shards {len(source.shards)}/")

    with reporter("verify", ("files", "bytes")) as p:
        verify_shards(str(shards), progress=p)
    assert p.counts == {"files": len(source.shards), "bytes": sum(s.bytes for s in source.shards)}
    with reporter("verify", ("files", "bytes")) as p:
        assert verify_shards(str(tmp_path / "megatron"), progress=p) == exported
    assert p.counts == {"files": len(exported["files"]), "bytes": sum(f["bytes"] for f in exported["files"])}
