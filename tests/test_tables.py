"""Output tables written inside the stages that make their rows and named together at the end
(pipelines/transforms/tables.py), on Beam's in-process runner and with real Parquet."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.runtime.options import make_pipeline
from pipelines.transforms.tables import (ParquetPartWriter, WriteParquetParts, finalize_tables, new_token, temp_dir,
                                         write_tables)

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("n", pa.int64()),
                    pa.field("tags", pa.map_(pa.string(), pa.string()))])


def _rows(table_dir):
    return sorted((r["id"], r["n"]) for f in sorted(table_dir.glob("*.parquet")) for r in pq.read_table(f).to_pylist())


def test_tables_are_named_together_an_empty_one_gets_a_file_and_no_temporary_directory_stays(tmp_path):
    rows = [{"id": f"r{i}", "n": i, "tags": {"k": str(i)}} for i in range(50)] + [{"id": "bare"}]  # n, tags null
    with make_pipeline() as p:
        names = write_tables([("WriteA", p | "A" >> beam.Create(rows), str(tmp_path / "a" / "part"), SCHEMA),
                              ("WriteB", p | "B" >> beam.Create([]), str(tmp_path / "b" / "part-3"), SCHEMA)],
                             row_group_bytes=1 << 20, record_batch=8)
        listed = names | beam.combiners.ToList()
        assert_that(listed, lambda got: _check_names(got, tmp_path))
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == [f"part-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))], files
    assert _rows(tmp_path / "a") == sorted([(f"r{i}", i) for i in range(50)] + [("bare", None)])
    bare = [r for f in (tmp_path / "a").glob("*.parquet") for r in pq.read_table(f).to_pylist() if r["id"] == "bare"]
    assert bare == [{"id": "bare", "n": None, "tags": None}]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["part-3-00000-of-00001.parquet"]
    empty = pq.read_table(tmp_path / "b" / "part-3-00000-of-00001.parquet")
    assert empty.num_rows == 0 and empty.schema.equals(SCHEMA)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("beam-temp-")]


def _check_names(got, root):
    names = sorted(str(n)[len(str(root)) + 1:] for group in got for n in group)
    assert names[-1] == "b/part-3-00000-of-00001.parquet", names
    assert all(n.startswith("a/part-") for n in names[:-1]), names


def test_finalize_names_only_what_reached_it_and_a_second_run_keeps_the_names(tmp_path):
    token = new_token()
    prefix = str(tmp_path / "t" / "part")
    directory = temp_dir(prefix, token)
    paths = []
    for i in range(3):
        w = ParquetPartWriter(f"{directory}/part-{i}.parquet", SCHEMA, 1 << 20, 4)
        for j in range(5):
            w.add({"id": f"{i}-{j}", "n": j})
        w.close()
        paths.append(w.path)
    # a bundle that failed after writing: its file is in the directory but its output never reached the group
    ParquetPartWriter(f"{directory}/part-failed.parquet", SCHEMA, 1 << 20, 4).close()
    written = [(prefix, p) for p in paths]
    names = finalize_tables(written, {prefix: SCHEMA}, token)
    assert [n.rsplit("/", 1)[1] for n in names] == [f"part-{i:05d}-of-00003.parquet" for i in range(3)]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [f"part-{i:05d}-of-00003.parquet" for i in range(3)]
    assert len(_rows(tmp_path / "t")) == 15
    # run again (a retried finalize): the named files stay, nothing is lost or duplicated
    assert finalize_tables(written, {prefix: SCHEMA}, token) == names
    assert len(_rows(tmp_path / "t")) == 15


def test_row_groups_are_cut_at_the_byte_size_and_a_phase_write_names_its_files(tmp_path):
    rows = [{"id": f"r{i:03d}", "n": i, "tags": {"text": "x" * 2000}} for i in range(200)]  # ~400 KB
    with make_pipeline() as p:
        names = p | beam.Create(rows) | WriteParquetParts(str(tmp_path / "part"), SCHEMA, 64 << 10, 10)
        assert_that(names | beam.Map(lambda n: n.rsplit("/", 1)[1].startswith("part-")),
                    equal_to([True]))
    (only,) = tmp_path.glob("part-*.parquet")
    meta = pq.ParquetFile(only).metadata
    assert meta.num_rows == 200
    assert 4 <= meta.num_row_groups <= 8, meta.num_row_groups  # ~400 KB in groups of ~64 KB (overshoot < a batch)
