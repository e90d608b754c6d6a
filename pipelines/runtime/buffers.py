"""Buffers of the local runner that keep what waits between stages on disk, and group-bys that hold encoded values.

Beam's in-process FnApiRunner keeps every collection that crosses a stage boundary in memory (a `ListBuffer`
of encoded chunks) from its producer until its last consumer has run, and groups a GroupByKey's input in a
`GroupingBuffer` that decodes every element and keeps the decoded values (dicts, tuples, strings) by key until
the consuming stage runs, then encodes the whole grouped output while the decoded table is still alive. For the
curate job's dedup phase (lean documents, band keys, shingle-hash sets of the candidates, the index's sets)
that was most of the memory that grew with the corpus (benchmarks/bench_memory.py: ~10 bytes per byte of text).

- `SpillingListBuffer`: once a buffer holds more than `SPILL_BYTES` of chunks, they go to an unlinked
  temporary file (under `tempfile.gettempdir()`, i.e. $TMPDIR) and are read back, chunk by chunk, when the
  consuming stage sends them to its worker. Order and chunks are unchanged.
- `EncodedGroupingBuffer`: keeps each value encoded (one `bytes` per value, keys encoded as Beam does), writes
  its table to a temporary file as a run whenever it holds more than `SPILL_BYTES`, and decodes one key's
  values at a time while it writes the grouped output, dropping each key as it goes; a grouped output over `SPILL_BYTES` is written to a temporary file in chunks of `CHUNK_BYTES` and
  read back by the consuming stage. Only the default windowing (the global window, every Winnow pipeline's)
  takes this path; any other windowing strategy keeps Beam's own behaviour. The output is the same elements
  in the same order as Beam's buffer produces.
- `SpillingDataChannel`: the in-process data channel between the runner and its embedded worker, which hands a
  bundle its whole input, and the runner the bundle's whole output, as a list of chunks held until the other
  side has read them all; here the chunks past `SPILL_BYTES` wait in a temporary file and each is dropped as it
  is read, and the worker's coder stream hands each chunk it flushes to the runner's queue as it is.
- `StreamReleasingDataOutputOperation`: Beam's worker-side sink of a bundle's output, which drops its coder
  stream when the bundle ends (the stream's buffer stays as large as the largest element it held, and Beam keeps
  finished bundles' operations for reuse).

One huge element (a document of hundreds of MB, its token bytes) is thus held in one or two copies at a time on
its way through a group-by, not three to six (tests/test_tokenize_huge_doc.py bounds the peak).

What a stage's DoFns hold while they run (a group's values, a decoded chunk) is still in memory; what only waits
between stages does not. `install()` makes the runner create these buffers and channels (it replaces the class
names the runner's modules look up); the local runner calls it (pipelines/runtime/local_runner.py).
"""
from __future__ import annotations

import collections
import os
import tempfile
import threading
from typing import Iterator, List, Sequence, Tuple, Union

from apache_beam.coders.coder_impl import create_InputStream, create_OutputStream
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.runners.worker import bundle_processor, data_plane
from apache_beam.transforms import window
from apache_beam.utils import windowed_value

_BeamGroupingBuffer = execution.GroupingBuffer
_BeamListBuffer = execution.ListBuffer
_BeamInMemoryDataChannel = data_plane.InMemoryDataChannel
_BeamDataOutputOperation = bundle_processor.DataOutputOperation
SPILL_BYTES = 16 << 20  # a buffer holding more than this (encoded) keeps it on disk
CHUNK_BYTES = 1 << 20   # the size of the chunks a spilled grouped output is written in


class _SpillFile:
    """An append-only unlinked temporary file of chunks; (offset, length) handles read them back. Shared by a
    buffer and its copies; appends from the runner's bundle threads are serialised."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="winnow-spill-")
        self._end = 0
        self._lock = threading.Lock()

    def write(self, data: bytes) -> Tuple[int, int]:
        with self._lock:
            offset = self._end
            os.pwrite(self._file.fileno(), data, offset)
            self._end += len(data)
        return offset, len(data)

    def read(self, handle: Tuple[int, int]) -> bytes:
        offset, length = handle
        data = os.pread(self._file.fileno(), length, offset)
        if len(data) != length:
            raise IOError(f"spill file {self._file.name}: {len(data)} of {length} bytes read back at {offset}")
        return data


Chunk = Union[bytes, Tuple[int, int]]  # in memory, or a handle into the spill file


class SpilledChunks(Sequence):
    """A list of chunks some of which are on disk: iterating reads them back one at a time."""

    def __init__(self, spill: "_SpillFile", chunks: List[Chunk]) -> None:
        self._spill, self._chunks = spill, chunks

    def __len__(self) -> int:
        return len(self._chunks)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SpilledChunks(self._spill, self._chunks[i])
        chunk = self._chunks[i]
        return chunk if isinstance(chunk, bytes) else self._spill.read(chunk)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield chunk if isinstance(chunk, bytes) else self._spill.read(chunk)

    def holds_data(self) -> bool:
        return any((len(c) if isinstance(c, bytes) else c[1]) for c in self._chunks)


class SpillingListBuffer(_BeamListBuffer):
    """Beam's ListBuffer, whose chunks move to a temporary file once they pass `SPILL_BYTES`."""

    def __init__(self, coder_impl) -> None:
        super().__init__(coder_impl)
        self._spill = None
        self._spilled: List[Tuple[int, int]] = []
        self._memory_bytes = 0
        self._lock = threading.Lock()

    def copy(self) -> "SpillingListBuffer":
        new = SpillingListBuffer(self._coder_impl)
        with self._lock:
            new._inputs = list(self._inputs)
            new._spill, new._spilled, new._memory_bytes = self._spill, list(self._spilled), self._memory_bytes
        return new

    def append(self, element: bytes) -> None:
        if self.cleared:
            raise RuntimeError("Trying to append to a cleared ListBuffer.")
        if self._grouped_output:
            raise RuntimeError("ListBuffer append after read.")
        with self._lock:
            self._inputs.append(element)
            self._memory_bytes += len(element)
            if self._memory_bytes > SPILL_BYTES:
                if self._spill is None:
                    self._spill = _SpillFile()
                self._spilled.extend(self._spill.write(chunk) for chunk in self._inputs)
                self._inputs, self._memory_bytes = [], 0

    def extend(self, extra) -> None:
        if self.cleared:
            raise RuntimeError("Trying to append to a cleared ListBuffer.")
        if self._grouped_output:
            raise RuntimeError("ListBuffer append after read.")
        for chunk in (extra if isinstance(extra, SpillingListBuffer) else extra._inputs):
            self.append(chunk)

    def _chunks(self) -> SpilledChunks:
        return SpilledChunks(self._spill, list(self._spilled) + list(self._inputs))

    def partition(self, n: int):
        if not self._spilled:
            return super().partition(n)
        if self.cleared:
            raise RuntimeError("Trying to partition a cleared ListBuffer.")
        chunks = self._chunks()
        if len(chunks) >= n:
            return [chunks[k::n] for k in range(n)]
        if not self._grouped_output:  # fewer chunks than workers: split by element, as Beam does
            streams = [create_OutputStream() for _ in range(n)]
            idx = 0
            for chunk in chunks:
                stream = create_InputStream(chunk)
                while stream.size() > 0:
                    value = self._coder_impl.decode_from_stream(stream, True)
                    self._coder_impl.encode_to_stream(value, streams[idx], True)
                    idx = (idx + 1) % n
            self._grouped_output = [[s.get()] for s in streams]
        return self._grouped_output

    def __iter__(self) -> Iterator[bytes]:
        if self.cleared:
            raise RuntimeError("Trying to iterate through a cleared ListBuffer.")
        return iter(self._chunks()) if self._spilled else iter(self._inputs)

    def clear(self) -> None:
        super().clear()
        self._spill, self._spilled, self._memory_bytes = None, [], 0


class EncodedGroupingBuffer(_BeamGroupingBuffer):
    """A GroupingBuffer (Beam's interface) whose table holds encoded values under the default windowing.

    Once the table holds more than `SPILL_BYTES`, it is written to a temporary file as a run (each key's values
    in one record, its handle kept by key) and emptied; `partition` then reads each key's records back, run by
    run, before the values still in memory. Keys come out in the order they were first seen, each key's values
    in the order they came, exactly as from Beam's buffer."""

    def __init__(self, pre_grouped_coder, post_grouped_coder, windowing, *args, **kwargs) -> None:
        # Beam >= 2.78 also passes `clock` (processing-time triggers, non-default windowing only): handed on.
        super().__init__(pre_grouped_coder, post_grouped_coder, windowing, *args, **kwargs)
        self._encoded = windowing.is_default()
        self._bytes = 0        # encoded values in the in-memory table
        self._total_bytes = 0  # encoded values ever added (memory and runs)
        self._order = None     # once a run is on disk: every key, in first-seen order
        self._runs = {}        # key -> handles of its records in the runs, in run order
        self._run_file = None
        if self._encoded:
            self._value_impl = pre_grouped_coder.wrapped_value_coder.value_coder().get_impl()

    def append(self, elements_data: bytes) -> None:
        if not self._encoded:
            return super().append(elements_data)
        if self._grouped_output:
            raise RuntimeError("Grouping table append after read.")
        stream = create_InputStream(elements_data)
        coder_impl = self._pre_grouped_coder.get_impl()
        encode_key = self._key_coder.get_impl().encode
        encode_value = self._value_impl.encode
        while stream.size() > 0:
            key, value = coder_impl.decode_from_stream(stream, True).value
            self._add(encode_key(key), encode_value(value))

    def _add(self, key: bytes, encoded: bytes) -> None:
        self._table[key].append(encoded)
        if self._order is not None and key not in self._order:
            self._order[key] = None
        self._bytes += len(encoded)
        self._total_bytes += len(encoded)
        if self._bytes > SPILL_BYTES:
            self._write_run()

    def _write_run(self) -> None:
        """The in-memory table -> one run on disk (records of length-prefixed values, written in chunks). A value
        of CHUNK_BYTES or more is written as it is, after the part of its record before it: gathering it into
        the record and the chunk first took three more copies of it."""
        if self._run_file is None:
            self._run_file = _SpillFile()
            self._order = dict.fromkeys(self._table)
        run, out = self._run_file, bytearray()
        for key, values in self._table.items():
            start = run._end + len(out)
            stream = create_OutputStream()
            for value in values:
                stream.write_var_int64(len(value))
                if len(value) < CHUNK_BYTES:
                    stream.write(value)
                    continue
                out += stream.get()
                run.write(out)
                run.write(value)
                out, stream = bytearray(), create_OutputStream()
            out += stream.get()
            self._runs.setdefault(key, []).append((start, run._end + len(out) - start))
            if len(out) >= CHUNK_BYTES:
                run.write(out)
                out = bytearray()
        if out:
            run.write(out)
        self._table.clear()
        self._bytes = 0

    def _encoded_groups(self) -> Iterator[Tuple[bytes, List[bytes]]]:
        """(encoded key, encoded values) in first-seen order; each key leaves the buffer as it is yielded."""
        table = self._table
        if self._order is None:
            for key in list(table):
                yield key, table.pop(key)
            return
        run_file, runs = self._run_file, self._runs
        for key in self._order:
            values: List[bytes] = []
            for handle in runs.pop(key, ()):
                values.extend(_record_values(run_file.read(handle)))
            values.extend(table.pop(key, ()))
            yield key, values

    def extend(self, input_buffer) -> None:
        if isinstance(input_buffer, _BeamListBuffer):  # as Beam's GroupingBuffer does
            return
        if not isinstance(input_buffer, EncodedGroupingBuffer) or input_buffer._encoded != self._encoded:
            raise TypeError(f"an EncodedGroupingBuffer cannot take the table of {type(input_buffer).__name__}")
        if not self._encoded:
            return super().extend(input_buffer)
        for key, values in input_buffer._encoded_groups():
            for value in values:
                self._add(key, value)

    def partition(self, n: int):
        if not self._encoded or self._grouped_output:
            return super().partition(n)
        as_windowed = GLOBAL_PANE.with_value
        coder_impl = self._post_grouped_coder.get_impl()
        decode_key = self._key_coder.get_impl().decode
        decode_value = self._value_impl.decode
        streams = [create_OutputStream() for _ in range(n)]
        spill = _SpillFile() if self._total_bytes > SPILL_BYTES else None
        parts: List[List[Chunk]] = [[] for _ in range(n)]
        for idx, (encoded_key, encoded_values) in enumerate(self._encoded_groups()):
            values = [decode_value(v) for v in encoded_values]
            encoded_values.clear()  # before the group is encoded again: one copy less of a huge value
            stream = streams[idx % n]
            coder_impl.encode_to_stream(as_windowed((decode_key(encoded_key), values)), stream, True)
            if spill is not None and stream.size() >= CHUNK_BYTES:
                parts[idx % n].append(spill.write(stream.get()))
                streams[idx % n] = create_OutputStream()
        self._table.clear()
        self._order, self._runs, self._run_file, self._bytes = None, {}, None, 0
        if spill is None:
            self._grouped_output = [[s.get()] for s in streams]
        else:
            for part, stream in zip(parts, streams):
                if stream.size():
                    part.append(spill.write(stream.get()))
            self._grouped_output = [SpilledChunks(spill, part) for part in parts]
        return self._grouped_output


def _record_values(record: bytes) -> List[bytes]:
    """The values of one record of a run (each length-prefixed); the record itself is not kept."""
    stream = create_InputStream(record)
    values = []
    while stream.size() > 0:
        values.append(stream.read(stream.read_var_int64()))
    return values


# The pane Beam's GroupingBuffer gives every grouped element under the default windowing.
GLOBAL_PANE = window.GlobalWindows.windowed_value(
    None, timestamp=window.GlobalWindow().max_timestamp(),
    pane_info=windowed_value.PaneInfo(is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME,
                                      index=0, nonspeculative_index=0))


class _ElementQueue:
    """What one side of an in-process data channel has been sent and not yet read: Data and Timers elements in
    order, the payloads of Data elements past the first `SPILL_BYTES` kept in a temporary file, which is
    dropped whenever the queue empties. A Data element waits as (instruction id, transform id, payload or spill
    handle) and becomes a message again when it is read."""

    def __init__(self) -> None:
        self._items: collections.deque = collections.deque()
        self._memory_bytes = 0
        self._spill = None
        self._lock = threading.Lock()

    def append(self, element) -> None:
        if isinstance(element, beam_fn_api_pb2.Elements.Data):
            if element.data:
                self.append_data(element.instruction_id, element.transform_id, element.data)
            return  # an empty Data element without is_last carries nothing (the reader skips it)
        with self._lock:
            self._items.append(element)

    def append_data(self, instruction_id: str, transform_id: str, data: bytes) -> None:
        with self._lock:
            if self._memory_bytes + len(data) > SPILL_BYTES:
                if self._spill is None:
                    self._spill = _SpillFile()
                payload = self._spill.write(data)
            else:
                self._memory_bytes += len(data)
                payload = data
            self._items.append((instruction_id, transform_id, payload))

    def take(self, instruction_id: str) -> Iterator:
        """Remove and yield, in order, the elements of one instruction; the others stay, in order."""
        others = []
        try:
            while True:
                with self._lock:
                    if not self._items:
                        break
                    item = self._items.popleft()
                    spill = self._spill
                if isinstance(item, tuple):
                    if item[0] != instruction_id:
                        others.append(item)
                        continue
                    payload = item[2]
                    if isinstance(payload, bytes):
                        with self._lock:
                            self._memory_bytes -= len(payload)
                    else:
                        payload = spill.read(payload)
                    message = beam_fn_api_pb2.Elements.Data(instruction_id=item[0], transform_id=item[1],
                                                            data=payload)
                    item = payload = None  # the message holds its own copy while the reader has it
                    yield message
                elif item.instruction_id != instruction_id:
                    others.append(item)
                else:
                    yield item
        finally:
            with self._lock:
                self._items.extendleft(reversed(others))
                if not self._items:
                    self._spill, self._memory_bytes = None, 0


class _ChunkWriter:
    """The runner's stream of a bundle's input: each chunk the runner writes (a collection's chunk, a group-by's
    output chunk) becomes one Data element of the worker's queue as it is. Beam's stream would first gather the
    whole input in one growing buffer and then copy it twice (bytes, then message). `write` is also where the
    worker's coder stream flushes the bundle's output to the runner's queue."""

    def __init__(self, queue: _ElementQueue, instruction_id: str, transform_id: str) -> None:
        self._queue, self._instruction_id, self._transform_id = queue, instruction_id, transform_id

    def write(self, data: bytes) -> None:
        if data:
            self._queue.append_data(self._instruction_id, self._transform_id, bytes(data))

    def close(self) -> None:
        pass


class SpillingDataChannel(_BeamInMemoryDataChannel):
    """Beam's in-process data channel (runner <-> embedded worker), which holds a whole bundle's input, and its
    whole output, until the other side reads them: here what passes `SPILL_BYTES` waits on disk, each element
    is dropped as soon as it is read, and the runner's side hands its chunks over one by one."""

    def __init__(self, inverse=None, data_buffer_time_limit_ms=0) -> None:
        self._runner_side = inverse is None  # the runner makes its side; that side makes the worker's
        super().__init__(inverse, data_buffer_time_limit_ms)
        self._inputs = _ElementQueue()

    def output_stream(self, instruction_id, transform_id):
        writer = _ChunkWriter(self._inverse._inputs, instruction_id, transform_id)
        if self._runner_side:  # only the runner writes whole chunks (the worker's DataOutputOperation encodes
            return writer      # into a coder stream)
        # the worker's coder stream hands each flushed chunk to the runner's queue as it is: Beam's would wrap it
        # in a Data message, and the queue copy it out again (two more copies of a bundle's largest element)
        return data_plane.ClosableOutputStream.create(writer.write, writer.write, self._data_buffer_time_limit_ms)

    def input_elements(self, instruction_id, unused_expected_inputs, abort_callback=None):
        for element in self._inputs.take(instruction_id):
            if isinstance(element, beam_fn_api_pb2.Elements.Timers):
                if not element.is_last:
                    yield element
            elif element.data or element.is_last:
                yield element


class StreamReleasingDataOutputOperation(_BeamDataOutputOperation):
    """Beam's worker-side sink of a bundle's output, which lets its coder stream go once the bundle is done. The
    stream's buffer only ever grows (to the largest element it was given, rounded up to a power of two) and Beam
    keeps finished bundles' operations for reuse, so one huge element's buffer would otherwise stay for the rest
    of the job; the next bundle gets a fresh stream anyway (`set_output_stream`)."""

    def finish(self) -> None:
        super().finish()
        self.output_stream = None


def holds_data(chunks) -> bool:
    """Whether a partition (a list of chunks, or SpilledChunks) holds any bytes, reading nothing from disk."""
    if isinstance(chunks, SpilledChunks):
        return chunks.holds_data()
    return any(len(chunk) for chunk in chunks)


def install() -> None:
    """Make the FnApiRunner of this process use these buffers (idempotent)."""
    execution.GroupingBuffer = EncodedGroupingBuffer
    execution.ListBuffer = SpillingListBuffer
    data_plane.InMemoryDataChannel = SpillingDataChannel
    bundle_processor.DataOutputOperation = StreamReleasingDataOutputOperation
