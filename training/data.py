"""Stream batches of packed sequences from a Winnow shards directory (`manifest.json` + Parquet/Arrow shards).

Shuffling is two-level so that reading stays sequential and memory stays at one row group: every epoch a
numpy Generator seeded by (seed, epoch) permutes the row groups (Arrow: record batches) of all shards, then
the rows inside each; the concatenation is the epoch's row order. The tokenize stage already shuffled rows
globally before writing, so this local shuffle only has to break the order between epochs, not the corpus'
own order. Ranks take every `world_size`-th row of that order, truncated to the same length on every rank
(DDP ranks must take the same number of steps), so the ranks' rows are disjoint and drop fewer than
`world_size` rows.

Arrow IPC shards on a local disk are memory-mapped (`schemas.shard_files.ShardFile`): the token matrix
of a record batch is a numpy view of the mapped file, so nothing is decoded or copied until the rows of a
batch are gathered into the (pinned) batch tensors. Parquet row groups are decoded (zstd) one at a time.
Shards behind an fsspec URI (`gs://`, `s3://`, `memory://`, `file://`) are read through fsspec.

With `document_masking`, each batch also carries, per input position, the index of its document inside the
row (`doc_ids`, padding gets one id of its own) and its position inside that document (`positions`). Both
are (batch, seq_len) whatever the number of documents, so a compiled model sees fixed shapes every step.

The reader's state is (epoch, position in batches); it is saved in the checkpoint and a resumed run sees
exactly the batches an uninterrupted run would have seen.

Before anything is read, every shard's size and sha256 are checked against the manifest (streamed, shards
hashed in parallel threads, once per run: never again per epoch), because a flipped bit in a zstd page often
still decodes into valid-looking tokens; `verify_checksums=False` skips it (`winnow train
--no-verify-checksums`, which says so in the log). Shard paths must stay inside the shards directory, and the
ids of every row group are checked against the manifest's vocab_size on its first read (an id past the
embedding is an IndexError on CPU and a device-side assert on CUDA), and so are its doc_lengths (none negative,
at most seq_len + 1 per row: the loss mask and document layout come from them). Read and decode errors name the
shard.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import torch

from schemas import DOC_LENGTHS, MANIFEST_NAME, TOKENS
from schemas.errors import WinnowError, reading
from schemas.io import sha256_file
from schemas.shard_files import ShardFile, read_manifest, row_width_problem
from schemas.shards import (
    FIX_RETOKENIZE, ShardError, check_shard_digest, check_token_ids, local_shard_file, sha256_stream,
)
from tokenizer.encode import tokenizer_file

try:  # fsspec lets the trainer read gs:// or s3:// shards directly; plain paths work without it.
    import fsspec
except ImportError:  # pragma: no cover - fsspec ships with the dev environment
    fsspec = None


class Batch(NamedTuple):
    """x, y: (B, T) int64 inputs and targets; loss_mask: (B, T) bool, True where the target is a real token.
    doc_ids, positions: (B, T) int32 document index and position inside the document, or None."""
    x: torch.Tensor
    y: torch.Tensor
    loss_mask: torch.Tensor
    doc_ids: Optional[torch.Tensor] = None
    positions: Optional[torch.Tensor] = None

    def to(self, device, non_blocking: bool = True) -> "Batch":
        return Batch(*(None if t is None else t.to(device, non_blocking=non_blocking) for t in self))


def tokenizer_sha256(tokenizer: str) -> str:
    """sha256 of a tokenizer.json, given the file or the directory that holds it."""
    path = tokenizer_file(tokenizer)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer.json at {tokenizer!r}")
    if os.path.getsize(path) == 0:  # its hash would only say "mismatch", not why
        raise WinnowError("is empty", path=path, fix="point --tokenizer at the tokenizer.json the shards were tokenized "
                          "with (the directory `winnow tokenizer train --output` wrote)")
    return sha256_file(path)


class _Storage:
    """Opens files under a directory given as a local path or (when fsspec is importable) any fsspec URI."""

    def __init__(self, root: str):
        if fsspec is not None:
            self.fs, self.root = fsspec.core.url_to_fs(root)
            self.local = "file" in _protocols(self.fs)
        else:
            self.fs, self.root, self.local = None, root, True

    def join(self, rel: str) -> str:
        if self.local:  # a manifest entry may not lead outside the directory, symbolic links included
            return local_shard_file(self.root, rel)
        return self.root.rstrip("/") + "/" + rel

    def open(self, rel: str):
        return self.fs.open(self.join(rel), "rb") if self.fs is not None else open(self.join(rel), "rb")

    def open_arrow(self, rel: str) -> ShardFile:
        """A local file is memory-mapped (zero-copy record batches); a remote one is read into memory once."""
        if self.local:
            return ShardFile(self.join(rel), "arrow")
        with self.open(rel) as f:
            return ShardFile(f, "arrow")


def _protocols(fs) -> Tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def rows_to_batch(tokens: np.ndarray, doc_lengths_sum: np.ndarray) -> Batch:
    """tokens: (B, seq_len + 1) ids; doc_lengths_sum: (B,) non-pad tokens per row.

    x = tokens[:, :-1], y = tokens[:, 1:]. Target y[:, j] is tokens[:, j + 1], a real token only when
    j + 1 < L (L = sum of doc_lengths, the row's non-pad prefix), so the mask is j < L - 1.
    """
    t = torch.from_numpy(tokens.astype(np.int64))
    x, y = t[:, :-1].contiguous(), t[:, 1:].contiguous()
    return Batch(x, y, loss_mask_for(x.shape[1], doc_lengths_sum))


def loss_mask_for(seq_len: int, doc_lengths_sum: np.ndarray) -> torch.Tensor:
    positions = torch.arange(seq_len).unsqueeze(0)
    return positions < torch.from_numpy(np.asarray(doc_lengths_sum, dtype=np.int64)).unsqueeze(1) - 1


def document_layout(lengths: np.ndarray, row_offsets: np.ndarray, seq_len: int) -> Tuple[np.ndarray, np.ndarray]:
    """(doc_ids, positions), both (rows, seq_len) int32, of rows whose documents have the given lengths.

    lengths: every row's doc_lengths concatenated; row_offsets: (rows + 1,) where each row's lengths start.
    Document k of a row covers input positions [start_k, start_k + len_k); positions past the last document
    are padding and form one more "document" (id = number of documents), so a padding query still has a
    key to attend to (itself) and never yields a NaN. Positions restart at 0 at every document start.
    """
    rows = len(row_offsets) - 1
    lengths = np.asarray(lengths, dtype=np.int64)
    row_of = np.repeat(np.arange(rows), np.diff(row_offsets))
    csum = np.cumsum(lengths)
    # End of every document inside its row = the start of the next segment (a document or the padding).
    ends = csum - np.concatenate([[0], csum])[row_offsets[:-1]][row_of]
    boundary = np.zeros((rows, seq_len + 1), dtype=np.int32)
    keep = ends < seq_len  # an end at seq_len or beyond starts nothing inside the inputs
    np.add.at(boundary, (row_of[keep], ends[keep]), 1)  # add.at: a zero-length document counts too
    doc_ids = np.cumsum(boundary[:, :seq_len], axis=1, dtype=np.int32)
    j = np.arange(seq_len, dtype=np.int32)
    starts = np.where(boundary[:, :seq_len] > 0, j, 0)
    positions = j - np.maximum.accumulate(starts, axis=1)
    return doc_ids, positions.astype(np.int32)


class _Unit(NamedTuple):
    """One decoded row group: tokens (rows, seq_len + 1), and doc_lengths as flat values + row offsets."""
    tokens: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray
    row_sums: np.ndarray


class ShardReader:
    """Iterate Batch(x, y, loss_mask[, doc_ids, positions]) over a shards directory, endlessly, epoch after
    epoch."""

    def __init__(self, shards_dir: str, batch_size: int, *, tokenizer: Optional[str] = None,
                 expected_sha256: Optional[str] = None, seed: int = 0, rank: int = 0, world_size: int = 1,
                 prefetch: int = 0, pin_memory: Optional[bool] = None, document_masking: bool = False,
                 verify_checksums: bool = True, hash_threads: int = 4):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.shards_dir, self.batch_size = shards_dir, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.document_masking = document_masking
        self.storage = _Storage(shards_dir)
        # the storage resolves the name (fsspec URI or a local path kept inside the directory)
        self.manifest = read_manifest(shards_dir, lambda _path: self._read_manifest_bytes())
        if tokenizer is not None:
            expected_sha256 = tokenizer_sha256(tokenizer)
        if expected_sha256 is not None and expected_sha256 != self.manifest.tokenizer.sha256:
            given = f"tokenizer {tokenizer!r}" if tokenizer is not None else "the given tokenizer"
            raise ValueError(
                f"tokenizer mismatch: the shards in {shards_dir!r} were made with a tokenizer of sha256 "
                f"{self.manifest.tokenizer.sha256} (manifest), but {given} has sha256 {expected_sha256}; "
                f"train with the tokenizer the shards were tokenized with, or re-tokenize the data")
        if self.manifest.file_format not in ("parquet", "arrow"):
            raise ValueError(f"shard file format {self.manifest.file_format!r} is not parquet or arrow")
        self.seq_len = self.manifest.seq_len
        self.vocab_size = self.manifest.tokenizer.vocab_size
        # {"verified": shards, "bytes": ..., "seconds": ...} or None when the caller skipped the check
        self.checksums = self.check_checksums(hash_threads) if verify_checksums else None
        self._arrow: Dict[int, ShardFile] = {}  # open (memory-mapped) Arrow shards
        self._ids_checked: set = set()  # units whose ids and doc_lengths were checked (once per run)
        self.units = self._list_units()  # (shard index, row group or record batch index, rows)
        self.unit_starts = np.cumsum([0] + [n for _, _, n in self.units])  # first global row id of each unit
        self.num_rows = int(self.unit_starts[-1])
        self.rows_per_rank = self.num_rows // world_size
        self.batches_per_epoch = self.rows_per_rank // batch_size  # drop the last partial batch: fixed shapes
        if self.batches_per_epoch == 0:
            raise ValueError(f"{self.num_rows} rows over {world_size} rank(s) do not fill one batch of "
                             f"{batch_size}; lower the batch size or add data")
        self.epoch, self.position = 0, 0
        self.prefetch = prefetch
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self._cache: Tuple[Optional[int], Optional[_Unit]] = (None, None)

    def _read_manifest_bytes(self) -> bytes:
        with self.storage.open(MANIFEST_NAME) as f:
            return f.read()

    # -- checks -------------------------------------------------------------------------------------------

    def check_checksums(self, threads: int = 4) -> Dict[str, Any]:
        """Hash every shard (streaming) and compare with the manifest before the first batch is read; sets and
        returns `checksums`. The trainer calls it itself (`verify_checksums=False`) after its cheap checks of a
        resumed checkpoint against the manifest, so a wrong --shards is refused before minutes of hashing."""
        start = time.perf_counter()

        def check(shard) -> int:
            with self.storage.open(shard.path) as f:
                size, digest = sha256_stream(f)
            check_shard_digest(shard, size, digest, self.storage.join(shard.path))
            return size

        shards = self.manifest.shards
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(shards)))) as pool:
            sizes = list(pool.map(check, shards))  # the first mismatch (in shard order) is raised
        self.checksums = {"verified": len(shards), "bytes": sum(sizes),
                          "seconds": round(time.perf_counter() - start, 3)}
        return self.checksums

    # -- layout -------------------------------------------------------------------------------------------

    def _list_units(self) -> List[Tuple[int, int, int]]:
        units = []
        for i, shard in enumerate(self.manifest.shards):
            with reading(self.storage.join(shard.path), FIX_RETOKENIZE):
                if self.manifest.file_format == "arrow":
                    counts = self._arrow_reader(i).batch_rows
                else:
                    with self.storage.open(shard.path) as f:
                        counts = ShardFile(f, "parquet").batch_rows
            if sum(counts) != shard.sequences:
                raise ValueError(f"shard {shard.path} holds {sum(counts)} rows but the manifest says "
                                 f"{shard.sequences}; run `winnow verify` on {self.shards_dir!r}")
            units.extend((i, g, n) for g, n in enumerate(counts) if n > 0)
        return units

    def _arrow_reader(self, shard_i: int) -> ShardFile:
        if shard_i not in self._arrow:
            self._arrow[shard_i] = self.storage.open_arrow(self.manifest.shards[shard_i].path)
        return self._arrow[shard_i]

    def rows_for_epoch(self, epoch: int) -> np.ndarray:
        """Global row ids (shard-order concatenation) this rank reads in `epoch`, in order."""
        rng = np.random.default_rng([self.seed, epoch])
        starts = self.unit_starts
        # The epoch's order is every unit's rows shuffled, units shuffled; this rank takes every world_size-th
        # row of it. Only this rank's share is kept: the whole order of 100M rows held 1.6 GB in every rank.
        mine, offset, kept = [], 0, 0
        for u in rng.permutation(len(self.units)):
            if kept >= self.rows_per_rank:
                break
            n = self.units[u][2]
            part = starts[u] + rng.permutation(n)[(self.rank - offset) % self.world_size::self.world_size]
            mine.append(part)
            kept += len(part)
            offset += n
        rows = np.concatenate(mine) if mine else np.zeros(0, dtype=np.int64)
        return rows[: self.rows_per_rank]

    def _load_unit(self, u: int) -> _Unit:
        """One row group (Parquet, decoded) or record batch (Arrow, zero-copy views); the last one is cached."""
        if self._cache[0] == u:
            return self._cache[1]
        shard_i, group, _ = self.units[u]
        where = self.storage.join(self.manifest.shards[shard_i].path)
        with reading(where, FIX_RETOKENIZE):
            if self.manifest.file_format == "arrow":
                batch = self._arrow_reader(shard_i).read_batch(group, [TOKENS, DOC_LENGTHS])
            else:
                with self.storage.open(self.manifest.shards[shard_i].path) as f:
                    batch = ShardFile(f, "parquet").read_batch(group, [TOKENS, DOC_LENGTHS])
            toks, lens = batch.column(TOKENS), batch.column(DOC_LENGTHS)
        width = getattr(toks.type, "list_size", None)
        if width != self.seq_len + 1:  # a hand-edited manifest: numpy's bare "cannot reshape" named nothing
            raise WinnowError(row_width_problem(width, self.seq_len), path=where,
                              fix="check the shards with `winnow verify`")
        # flatten() honours a sliced array's offset; the schema forbids nulls, so to_numpy never copies.
        tokens = toks.flatten().to_numpy(zero_copy_only=True).reshape(len(toks), self.seq_len + 1)
        values = lens.flatten().to_numpy(zero_copy_only=True)
        offsets = lens.offsets.to_numpy()
        offsets = offsets - offsets[0]
        # Per-row sums of a list column without a Python loop: differences of the cumulative sum at offsets.
        csum = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
        unit = _Unit(tokens, values, offsets, csum[offsets[1:]] - csum[offsets[:-1]])
        if u not in self._ids_checked:
            if tokens.size:
                check_token_ids(int(tokens.max()), self.vocab_size, f"{where} (row group {group})")
            self._check_doc_lengths(u, unit, where)
            self._ids_checked.add(u)
        self._cache = (u, unit)
        return unit

    def _check_doc_lengths(self, u: int, unit: _Unit, where: str) -> None:
        """A negative length or lengths summing past the row would make the loss mask and the document layout
        garbage (such rows were trained on silently); zero-length documents are harmless and pass."""
        bad = unit.row_sums > self.seq_len + 1
        negative = np.flatnonzero(unit.lengths < 0)
        if negative.size:
            bad[np.searchsorted(unit.offsets, negative, side="right") - 1] = True
        if not bad.any():
            return
        local = int(np.argmax(bad))
        shard_i, group, _ = self.units[u]
        first = next(k for k, unit_k in enumerate(self.units) if unit_k[0] == shard_i)  # the shard's first unit
        row = int(self.unit_starts[u] - self.unit_starts[first]) + local
        lengths = unit.lengths[unit.offsets[local]:unit.offsets[local + 1]].tolist()
        raise ShardError(f"row {row} (row group {group}) has doc_lengths {lengths} (need lengths of at least 0 "
                         f"summing to at most {self.seq_len + 1})", path=where, fix=FIX_RETOKENIZE)

    def _read_rows(self, rows: np.ndarray) -> Batch:
        """Gather the given global rows into one batch; rows of one unit are gathered with one fancy index."""
        n, T = len(rows), self.seq_len
        pin = self.pin_memory
        x = torch.empty((n, T), dtype=torch.int64, pin_memory=pin)
        y = torch.empty((n, T), dtype=torch.int64, pin_memory=pin)
        xn, yn = x.numpy(), y.numpy()
        sums = np.empty(n, dtype=np.int64)
        lengths, counts = [], np.empty(n, dtype=np.int64)
        unit_of = np.searchsorted(self.unit_starts, rows, side="right") - 1
        # Rows arrive grouped by unit (the shuffle permutes units, then rows inside them): split into runs.
        cuts = np.flatnonzero(np.diff(unit_of)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [n]])):
            u = int(unit_of[lo])
            unit = self._load_unit(u)
            local = rows[lo:hi] - self.unit_starts[u]
            gathered = unit.tokens[local]  # one copy of the rows, still uint16/uint32
            xn[lo:hi], yn[lo:hi] = gathered[:, :-1], gathered[:, 1:]  # widening copies into the batch
            sums[lo:hi] = unit.row_sums[local]
            if self.document_masking:
                starts, ends = unit.offsets[local], unit.offsets[local + 1]
                counts[lo:hi] = ends - starts
                lengths.extend(unit.lengths[s:e] for s, e in zip(starts, ends))
        mask = loss_mask_for(T, sums)
        if not self.document_masking:
            return Batch(x, y, mask.pin_memory() if pin else mask)
        doc_ids, positions = document_layout(np.concatenate(lengths), np.concatenate([[0], np.cumsum(counts)]), T)
        extra = [torch.from_numpy(doc_ids), torch.from_numpy(positions)]
        if pin:
            mask, *extra = (t.pin_memory() for t in [mask, *extra])
        return Batch(x, y, mask, *extra)

    # -- iteration ----------------------------------------------------------------------------------------

    def _produce(self, epoch: int, position: int) -> Iterator[Tuple[int, int, Batch]]:
        """Yield (epoch, position after this batch, batch) from the given state onwards, forever."""
        while True:
            rows = self.rows_for_epoch(epoch)
            for b in range(position, self.batches_per_epoch):
                yield epoch, b + 1, self._read_rows(rows[b * self.batch_size:(b + 1) * self.batch_size])
            epoch, position = epoch + 1, 0

    def __iter__(self) -> Iterator[Batch]:
        source = self._produce(self.epoch, self.position)
        if self.prefetch > 0:  # the batches are read, gathered and pinned in the background thread
            source = _prefetched(source, self.prefetch)
        try:
            for epoch, position, batch in source:
                # State advances when the caller receives the batch, not when the prefetch thread reads it,
                # so a checkpoint taken between steps points at the next batch the caller has not seen.
                self.epoch, self.position = epoch, position
                yield batch
        finally:
            source.close()  # stops the prefetch thread

    def state_dict(self) -> Dict[str, Any]:
        if self.position == self.batches_per_epoch:  # normalise "end of epoch e" to "start of e + 1"
            return {"epoch": self.epoch + 1, "position": 0, **self.identity()}
        return {"epoch": self.epoch, "position": self.position, **self.identity()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Call before iterating. Refuses a state from a different seed, batch size or world size, whose
        positions would not mean the same rows."""
        mine = self.identity()
        theirs = {k: state.get(k) for k in mine}
        if theirs != mine:
            raise ValueError(f"reader state was saved with {theirs} but this reader has {mine}; "
                             f"resume with the same seed, batch size and number of ranks")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def identity(self) -> Dict[str, int]:
        return {"seed": self.seed, "batch_size": self.batch_size, "world_size": self.world_size}


def _prefetched(source: Iterator, depth: int) -> Iterator:
    """Run `source` in a daemon thread, `depth` items ahead (Parquet decoding releases the GIL)."""
    q: "queue.Queue" = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # surface reader errors in the training thread
            put(exc)
            return
        put(done)

    thread = threading.Thread(target=work, daemon=True, name="shard-prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
