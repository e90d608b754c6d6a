"""Plain unit tests of the Beam-free input helpers (pipelines/ingest/inputs.py, pipelines/ingest/readers.py) that
tests/test_sources*.py reach only through whole files: the bounded line splitter over byte ranges, input kinds
from file names, the regular-file guard, and JSONL values that are not valid UTF-8. No pipeline."""
from __future__ import annotations

import io
import os

import pytest

from pipelines.ingest.inputs import ARCHIVE, JSONL, PARQUET, kind_of_path, not_a_regular_file, stable_id
from pipelines.ingest.readers import iter_bounded_lines, read_jsonl
from schemas import ERROR, ID, INPUT_OFFSET, TEXT

DATA = b"alpha\n\nbravo charlie\n" + b"x" * 40 + b"\ndelta\nlast line without newline"


def _lines(data: bytes, **kwargs):
    return [(offset, line, size) for offset, line, size, _ in iter_bounded_lines(io.BytesIO(data), **kwargs)]


def test_bounded_lines_give_offsets_and_sizes_whatever_the_chunk_size():
    expected = []
    offset = 0
    for line in DATA.split(b"\n"):
        expected.append((offset, line, len(line)))
        offset += len(line) + 1
    for chunk in (1, 3, 7, 64, 1 << 20):
        assert _lines(DATA, chunk_bytes=chunk) == expected, chunk


def test_a_line_over_the_cap_is_counted_not_held_and_reading_resumes_at_its_newline():
    for chunk in (1, 5, 64):
        lines = _lines(DATA, max_line_bytes=20, chunk_bytes=chunk)
        long = [(o, raw, size) for o, raw, size in lines if raw is None]
        last = b"last line without newline"
        assert [(o, size) for o, _, size in long] == [(DATA.index(b"xxx"), 40), (DATA.index(last), len(last))]
        assert [raw for _, raw, _ in lines if raw is not None] == [b"alpha", b"", b"bravo charlie", b"delta"]


@pytest.mark.parametrize("chunk", [1, 4, 64])
def test_byte_ranges_split_the_lines_once_each(chunk):
    whole = _lines(DATA, chunk_bytes=chunk)
    for cut in range(len(DATA) + 1):
        first = _lines(DATA, start=0, end=cut, chunk_bytes=chunk)
        second = _lines(DATA, start=cut, end=len(DATA), chunk_bytes=chunk)
        assert first + second == whole, cut  # a line belongs to the range it starts in


@pytest.mark.parametrize("chunk", [1, 3, 16, 1 << 20])
def test_skipping_blank_lines_keeps_every_line_number(chunk):
    """Runs of blank lines are passed over a chunk at a time, and the lines after them keep the numbers (and
    offsets) that reading every line gives: curate's JSONL offsets and made-up ids are line numbers."""
    data = b'{"a":1}\n' + b"\n" * 50 + b" \t\r\n" * 7 + b'  {"b":2}\n\n\n{"c":3}\n' + b"\n" * 9 + b"tail"
    every = [(o, r, s, n) for o, r, s, n in iter_bounded_lines(io.BytesIO(data), chunk_bytes=chunk)]
    assert [n for *_, n in every] == list(range(len(data.split(b"\n"))))
    skipping = list(iter_bounded_lines(io.BytesIO(data), chunk_bytes=chunk, skip_blank=True))
    assert [t for t in skipping if t[1].strip()] == [t for t in every if t[1].strip()]


def test_curate_numbers_jsonl_lines_past_a_gzip_bomb_of_newlines(tmp_path):
    """16 Mi blank lines (16 KB of gzip) took curate's reader 48 s, a yield each; the next document's offset
    and made-up id are still its line number."""
    import gzip

    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "first"}\n' + b"\n" * (16 << 20) + b'{"text": "second"}\n'))
    outcomes = list(read_jsonl(str(path)))
    assert [(kind, row[TEXT], row[INPUT_OFFSET]) for kind, row in outcomes] == [
        ("kept", "first", 0), ("kept", "second", (16 << 20) + 1)]
    assert outcomes[1][1][ID] == stable_id("jsonl", "bomb.jsonl.gz", (16 << 20) + 1)


def test_kind_of_path_from_the_extension():
    assert kind_of_path("gs://b/CC-MAIN-1.warc.gz") == ARCHIVE
    assert kind_of_path("x.ARC") == ARCHIVE and kind_of_path("x.wet.gz") == ARCHIVE
    assert kind_of_path("d.jsonl.zst") == JSONL and kind_of_path("d.parquet") == PARQUET
    assert kind_of_path("d.json") is None and kind_of_path("d.tar.gz") is None


def test_not_a_regular_file(tmp_path):
    regular = tmp_path / "d.jsonl"
    regular.write_text("{}\n")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    assert not_a_regular_file(str(regular)) is None
    assert not_a_regular_file("gs://bucket/d.jsonl") is None  # object stores are not stat()ed
    assert not_a_regular_file(str(tmp_path / "missing.jsonl")) is None  # the reader reports that one
    assert "named pipe" in not_a_regular_file(str(fifo))
    assert "a directory" in not_a_regular_file(str(tmp_path))


def test_jsonl_lone_surrogates_become_replacement_characters(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a\\ud800b", "id": 7}\n[1, 2]\n{"text": 3}\n{"body": "x", "id": 1}\n')
    outcomes = list(read_jsonl(str(path)))
    assert [status for status, _ in outcomes] == ["warned", "kept", "error", "error", "error"]
    outcomes.pop(0)  # the warning (counted, replaced_invalid_utf8) about the next record
    kept = outcomes[0][1]
    text = kept[TEXT]
    assert text[0] == "a" and text[-1] == "b" and set(text[1:-1]) == {"\ufffd"} and kept[ID] == "7"
    text.encode("utf-8")  # serialisable where the record is next written
    assert [row[INPUT_OFFSET] for _, row in outcomes[1:]] == [1, 2, 3]
    assert "the line is a JSON array, not an object with a 'text' field" in outcomes[1][1][ERROR]
    assert "not a string" in outcomes[2][1][ERROR]
    assert "no 'text' field (fields: body, id)" in outcomes[3][1][ERROR]


def test_a_directory_input_is_refused_with_the_glob_to_give_instead(tmp_path):
    from pipelines.ingest.readers import expand_input_specs

    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(ValueError) as err:
        expand_input_specs([str(tmp_path)])
    assert "is a directory" in str(err.value) and f"'{tmp_path / '*'}'" in str(err.value)
    assert [f.path for f in expand_input_specs([str(tmp_path / "*")])] == [str(tmp_path / "a.jsonl")]
