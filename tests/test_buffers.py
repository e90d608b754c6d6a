"""The local runner's buffers (pipelines/runtime/buffers.py): the same grouped output as Beam's own buffer, from
a table of encoded values in memory or in runs on disk, and the same curate outputs when everything spills."""
from __future__ import annotations

import sys

import apache_beam as beam
import pytest
from apache_beam import coders
from apache_beam.coders.coder_impl import create_OutputStream
from apache_beam.coders.coders import GlobalWindowCoder
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, window

from pipelines.runtime import buffers
from pipelines.runtime.buffers import EncodedGroupingBuffer, _BeamGroupingBuffer
from pipelines.runtime.options import make_pipeline

KV = coders.TupleCoder([coders.StrUtf8Coder(), coders.FastPrimitivesCoder()])
PRE = coders.WindowedValueCoder(KV, GlobalWindowCoder())
POST = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(),
                                                    coders.IterableCoder(coders.FastPrimitivesCoder())]),
                                 GlobalWindowCoder())


def _chunks(elements, per_chunk=7):
    impl = PRE.get_impl()
    out = []
    for start in range(0, len(elements), per_chunk):
        stream = create_OutputStream()
        for kv in elements[start:start + per_chunk]:
            impl.encode_to_stream(window.GlobalWindows.windowed_value(kv), stream, True)
        out.append(stream.get())
    return out


def _elements():
    docs = [{"id": f"d{i}", "language": "en", "score": i / 7, "meta": {"k": [i, None, b"x"]}} for i in range(40)]
    return [(f"key{i % 9}", docs[i] if i % 3 else (i, f"v{i}")) for i in range(40)]


@pytest.mark.parametrize("spill_bytes", [1 << 40, 300, 1])
def test_same_grouped_output_as_beams_buffer(spill_bytes, monkeypatch):
    """In memory, and with the table written to disk as runs every 300 bytes or every value."""
    monkeypatch.setattr(buffers, "SPILL_BYTES", spill_bytes)
    monkeypatch.setattr(buffers, "CHUNK_BYTES", 64)
    windowing = core.Windowing(window.GlobalWindows())
    for n in (1, 3):
        ours, beams = EncodedGroupingBuffer(PRE, POST, windowing), _BeamGroupingBuffer(PRE, POST, windowing)
        for chunk in _chunks(_elements()):
            ours.append(chunk)
            beams.append(chunk)
        assert all(isinstance(v, bytes) for values in ours._table.values() for v in values)  # encoded
        assert (ours._run_file is not None) == (spill_bytes < 1 << 40)
        assert [b"".join(part) for part in ours.partition(n)] == [b"".join(p) for p in beams.partition(n)]
        assert not ours._table and not ours._runs  # every key left the buffer as its group was written


def test_extend_takes_another_buffers_groups_in_order(monkeypatch):
    monkeypatch.setattr(buffers, "SPILL_BYTES", 300)
    windowing = core.Windowing(window.GlobalWindows())
    first, second = EncodedGroupingBuffer(PRE, POST, windowing), EncodedGroupingBuffer(PRE, POST, windowing)
    beams = _BeamGroupingBuffer(PRE, POST, windowing)
    chunks = _chunks(_elements())
    for chunk in chunks[:3]:
        first.append(chunk)
    for chunk in chunks[3:]:
        second.append(chunk)
    for chunk in chunks:
        beams.append(chunk)
    first.extend(second)
    assert [b"".join(part) for part in first.partition(2)] == [b"".join(p) for p in beams.partition(2)]


def test_encoded_values_take_less_memory_than_beams_decoded_ones():
    windowing = core.Windowing(window.GlobalWindows())
    ours, beams = EncodedGroupingBuffer(PRE, POST, windowing), _BeamGroupingBuffer(PRE, POST, windowing)
    for chunk in _chunks(_elements()):
        ours.append(chunk)
        beams.append(chunk)

    def deep(obj, seen=None):
        seen = set() if seen is None else seen
        if id(obj) in seen:
            return 0
        seen.add(id(obj))
        size = sys.getsizeof(obj)
        if isinstance(obj, dict):
            size += sum(deep(k, seen) + deep(v, seen) for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            size += sum(deep(v, seen) for v in obj)
        return size

    assert deep(dict(ours._table)) < 0.6 * deep(dict(beams._table))


def test_local_runner_groups_with_it():
    p = make_pipeline([], None, 1)
    grouped = (p | beam.Create(_elements()) | beam.GroupByKey()
               | beam.MapTuple(lambda k, vs: (k, len(list(vs)))))
    assert_that(grouped, equal_to([(f"key{k}", len([i for i in range(40) if i % 9 == k])) for k in range(9)]))
    p.run().wait_until_finish()
    assert execution.GroupingBuffer is EncodedGroupingBuffer


def _corpus(path):
    """Prose with exact copies and near copies (one word changed), so both dedup composites group and join."""
    import json
    import random
    rng = random.Random(7)
    words = sorted({"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
                    for _ in range(400)})
    with open(path, "w", encoding="utf-8") as f:
        for i in range(90):
            text = " ".join(rng.choice(words) for _ in range(120))
            f.write(json.dumps({"id": f"doc-{i:03d}", "text": text}) + "\n")
            if i % 5 == 0:
                f.write(json.dumps({"id": f"copy-{i:03d}", "text": text}) + "\n")
            if i % 7 == 0:
                near = text.split()
                near[60] = "changed"
                f.write(json.dumps({"id": f"near-{i:03d}", "text": " ".join(near)}) + "\n")
    return path


def _rows(out):
    import pyarrow.parquet as pq
    from pathlib import Path
    rows = {}
    for kind in ("documents", "rejected"):
        files = sorted(Path(out, kind).glob("*.parquet"))
        rows[kind] = sorted((r["id"], r["text"], r.get("reason")) for f in files for r in pq.read_table(f).to_pylist())
    return rows


def test_curate_gives_the_same_outputs_when_everything_spills(tmp_path, monkeypatch):
    """Every buffer, group-by output and data channel spilled to disk (a threshold of 64 bytes, chunks of 256)
    gives the same documents, rejected rows and counts as everything held in memory."""
    import json
    from pipelines.jobs.curate import run_curate
    from pipelines.jobs.recipe import parse_recipe
    from pipelines.runtime import buffers

    recipe = {"extract": {}, "dedup_exact": {}, "dedup_minhash": {"ngram": 5, "num_perm": 112, "bands": 14,
                                                                  "rows": 8, "verify_threshold": 0.75}}
    source = _corpus(tmp_path / "in.jsonl")
    spill_files = []
    real_init = buffers._SpillFile.__init__

    def counting_init(self):
        real_init(self)
        spill_files.append(self)

    monkeypatch.setattr(buffers._SpillFile, "__init__", counting_init)
    outputs = {}
    for name, threshold, chunk in (("memory", 1 << 40, 1 << 20), ("spilled", 64, 256)):
        monkeypatch.setattr(buffers, "SPILL_BYTES", threshold)
        monkeypatch.setattr(buffers, "CHUNK_BYTES", chunk)
        before = len(spill_files)
        run_curate([str(source)], str(tmp_path / name), parse_recipe(recipe))
        stages = json.loads((tmp_path / name / "report.json").read_text())["stages"]
        outputs[name] = (_rows(tmp_path / name), [(s["name"], s["in"], s["kept"], s["dropped"], s["errors"])
                                                   for s in stages])
        assert (len(spill_files) > before) == (name == "spilled")
    memory_rows, spilled_rows = outputs["memory"][0], outputs["spilled"][0]
    assert len(memory_rows["documents"]) == 121 - 18 - 13
    assert {(r[0], r[2]) for r in memory_rows["rejected"]} == (
        {(f"doc-{i:03d}", "exact_duplicate") for i in range(0, 90, 5)}  # copy-NNN sorts first and is kept
        | {(f"near-{i:03d}", "near_duplicate") for i in range(0, 90, 7)})
    assert spilled_rows == memory_rows
    assert outputs["spilled"][1] == outputs["memory"][1]
