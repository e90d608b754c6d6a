"""Stream batches of packed sequences from a Winnow shards directory (`manifest.json` + Parquet/Arrow shards).

Shuffling is two-level so that reading stays sequential and memory stays at one row group: every epoch a
numpy Generator seeded by (seed, epoch) permutes the row groups of all shards, then the rows inside each
row group; the concatenation is the epoch's row order. The tokenize stage already shuffled rows globally
before writing, so this local shuffle only has to break the order between epochs, not the corpus' own order.
Ranks take every `world_size`-th row of that order, truncated to the same length on every rank (DDP ranks
must take the same number of steps), so the ranks' rows are disjoint and drop fewer than `world_size` rows.

The reader's state is (epoch, position in batches); it is saved in the checkpoint and a resumed run sees
exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import torch

from schemas import DOC_LENGTHS, MANIFEST_NAME, TOKENS, Manifest

try:  # fsspec lets the trainer read gs:// or s3:// shards directly; plain paths work without it.
    import fsspec
except ImportError:  # pragma: no cover - fsspec ships with the dev environment
    fsspec = None

Batch = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tokenizer_sha256(tokenizer: str) -> str:
    """sha256 of a tokenizer.json, given the file or the directory that holds it."""
    path = os.path.join(tokenizer, "tokenizer.json") if os.path.isdir(tokenizer) else tokenizer
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer.json at {tokenizer!r}")
    return file_sha256(path)


class _Storage:
    """Opens files under a directory given as a local path or (when fsspec is importable) any fsspec URI."""

    def __init__(self, root: str):
        if fsspec is not None:
            self.fs, self.root = fsspec.core.url_to_fs(root)
        else:
            self.fs, self.root = None, root

    def join(self, rel: str) -> str:
        return self.root.rstrip("/") + "/" + rel

    def open(self, rel: str):
        return self.fs.open(self.join(rel), "rb") if self.fs is not None else open(self.join(rel), "rb")


def rows_to_batch(tokens: np.ndarray, doc_lengths_sum: np.ndarray) -> Batch:
    """tokens: (B, seq_len + 1) ids; doc_lengths_sum: (B,) non-pad tokens per row.

    x = tokens[:, :-1], y = tokens[:, 1:]. Target y[:, j] is tokens[:, j + 1], a real token only when
    j + 1 < L (L = sum of doc_lengths, the row's non-pad prefix), so the mask is j < L - 1.
    """
    t = torch.from_numpy(tokens.astype(np.int64))
    x, y = t[:, :-1].contiguous(), t[:, 1:].contiguous()
    positions = torch.arange(x.shape[1]).unsqueeze(0)
    mask = positions < torch.from_numpy(doc_lengths_sum.astype(np.int64)).unsqueeze(1) - 1
    return x, y, mask


class ShardReader:
    """Iterate (x, y, loss_mask) batches over a shards directory, endlessly, epoch after epoch."""

    def __init__(self, shards_dir: str, batch_size: int, *, tokenizer: Optional[str] = None,
                 expected_sha256: Optional[str] = None, seed: int = 0, rank: int = 0, world_size: int = 1,
                 prefetch: int = 0, pin_memory: Optional[bool] = None):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.shards_dir, self.batch_size = shards_dir, batch_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.storage = _Storage(shards_dir)
        with self.storage.open(MANIFEST_NAME) as f:
            self.manifest = Manifest.from_json(json.load(f))
        if tokenizer is not None:
            expected_sha256 = tokenizer_sha256(tokenizer)
        if expected_sha256 is not None and expected_sha256 != self.manifest.tokenizer.sha256:
            given = f"tokenizer {tokenizer!r}" if tokenizer is not None else "the given tokenizer"
            raise ValueError(
                f"tokenizer mismatch: the shards in {shards_dir!r} were made with a tokenizer of sha256 "
                f"{self.manifest.tokenizer.sha256} (manifest), but {given} has sha256 {expected_sha256}; "
                f"train with the tokenizer the shards were tokenized with, or re-tokenize the data")
        self.seq_len = self.manifest.seq_len
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
        self._cache: Tuple[Optional[int], Optional[np.ndarray], Optional[np.ndarray]] = (None, None, None)

    # -- layout -------------------------------------------------------------------------------------------

    def _list_units(self) -> List[Tuple[int, int, int]]:
        units = []
        for i, shard in enumerate(self.manifest.shards):
            with self.storage.open(shard.path) as f:
                if self.manifest.file_format == "arrow":
                    r = ipc.open_file(f)
                    counts = [r.get_batch(b).num_rows for b in range(r.num_record_batches)]
                else:
                    md = pq.ParquetFile(f).metadata
                    counts = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
            if sum(counts) != shard.sequences:
                raise ValueError(f"shard {shard.path} holds {sum(counts)} rows but the manifest says "
                                 f"{shard.sequences}; run `winnow verify` on {self.shards_dir!r}")
            units.extend((i, g, n) for g, n in enumerate(counts) if n > 0)
        return units

    def rows_for_epoch(self, epoch: int) -> np.ndarray:
        """Global row ids (shard-order concatenation) this rank reads in `epoch`, in order."""
        rng = np.random.default_rng([self.seed, epoch])
        starts = self.unit_starts
        order = [starts[u] + rng.permutation(self.units[u][2]) for u in rng.permutation(len(self.units))]
        rows = np.concatenate(order)
        return rows[self.rank::self.world_size][: self.rows_per_rank]

    def _load_unit(self, u: int) -> Tuple[np.ndarray, np.ndarray]:
        """(tokens (rows, seq_len + 1), non-pad length per row) of one row group; the last one is cached."""
        if self._cache[0] == u:
            return self._cache[1], self._cache[2]
        shard_i, group, _ = self.units[u]
        with self.storage.open(self.manifest.shards[shard_i].path) as f:
            if self.manifest.file_format == "arrow":
                table = pa.Table.from_batches([ipc.open_file(f).get_batch(group)])
            else:
                table = pq.ParquetFile(f).read_row_group(group, columns=[TOKENS, DOC_LENGTHS])
        toks = table.column(TOKENS).combine_chunks()
        tokens = toks.flatten().to_numpy(zero_copy_only=False).reshape(len(toks), self.seq_len + 1)
        lens = table.column(DOC_LENGTHS).combine_chunks()
        # Per-row sums of a list column without a Python loop: differences of the cumulative sum at offsets.
        csum = np.concatenate([[0], np.cumsum(lens.values.to_numpy(zero_copy_only=False), dtype=np.int64)])
        offsets = lens.offsets.to_numpy()
        lengths = csum[offsets[1:]] - csum[offsets[:-1]]
        self._cache = (u, tokens, lengths)
        return tokens, lengths

    def _read_rows(self, rows: np.ndarray) -> Batch:
        starts = self.unit_starts
        unit_of = np.searchsorted(starts, rows, side="right") - 1
        tokens = np.empty((len(rows), self.seq_len + 1), dtype=np.int64)
        lengths = np.empty(len(rows), dtype=np.int64)
        for j, (row, u) in enumerate(zip(rows, unit_of)):
            t, l = self._load_unit(int(u))
            tokens[j], lengths[j] = t[row - starts[u]], l[row - starts[u]]
        return rows_to_batch(tokens, lengths)

    # -- iteration ----------------------------------------------------------------------------------------

    def _produce(self, epoch: int, position: int) -> Iterator[Tuple[int, int, Batch]]:
        """Yield (epoch, position after this batch, batch) from the given state onwards, forever."""
        while True:
            rows = self.rows_for_epoch(epoch)
            for b in range(position, self.batches_per_epoch):
                batch = self._read_rows(rows[b * self.batch_size:(b + 1) * self.batch_size])
                if self.pin_memory:
                    batch = tuple(t.pin_memory() for t in batch)
                yield epoch, b + 1, batch
            epoch, position = epoch + 1, 0

    def __iter__(self) -> Iterator[Batch]:
        source = self._produce(self.epoch, self.position)
        if self.prefetch > 0:
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
            return {"epoch": self.epoch + 1, "position": 0, **self._identity()}
        return {"epoch": self.epoch, "position": self.position, **self._identity()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Call before iterating. Refuses a state from a different seed, batch size or world size, whose
        positions would not mean the same rows."""
        mine = self._identity()
        theirs = {k: state.get(k) for k in mine}
        if theirs != mine:
            raise ValueError(f"reader state was saved with {theirs} but this reader has {mine}; "
                             f"resume with the same seed, batch size and number of ranks")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def _identity(self) -> Dict[str, int]:
        return {"seed": self.seed, "batch_size": self.batch_size, "world_size": self.world_size}


def _prefetched(source: Iterator, depth: int) -> Iterator:
    """Run `source` in a daemon thread, `depth` items ahead (Parquet decoding releases the GIL)."""
    q: "queue.Queue" = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # surface reader errors in the training thread
            q.put(exc)
        q.put(done)

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
