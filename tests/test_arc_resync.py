"""ARC records whose length field is wrong, garbage between ARC records, and a WARC header that never ends.

Each used to cost the rest of the file: the block was read with the wrong length, nothing checked what followed
it, the record was kept damaged (headers only, or cut short) and the next turn found payload bytes where a header
should be: one error row for all the records after it. Now the reader checks that an ARC block is followed by the
next ARC header line (or the end), repairs a wrong length by reading on to the next header line, and skips
garbage to the next header as one error row. Real ARC/WARC bytes are built here and read through the real reader
(and, once, the real `winnow curate` job); every record is accounted for.
"""
from __future__ import annotations

import gzip
from collections import Counter

import pytest

from pipelines.ingest import archives
from pipelines.ingest.records import BODY
from schemas import ERROR, INPUT_OFFSET, URL
from test_archive_damage import http_response, page, read, responses, urls
from test_archive_resync import curate_extract_only

FILEDESC = (b"filedesc://x.arc 0.0.0.0 20080101000000 text/plain 77\n"
            + b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n".ljust(77, b" ") + b"\n")
FILEDESC_V2 = (b"filedesc://x.arc 0.0.0.0 20080101000000 text/plain 77\n"  # this line has 5 fields in v2 too
               + b"2 0 Test\nURL IP-address Archive-date Content-type Result-code Checksum Location Offset "
                 b"Filename Archive-length\n".ljust(77, b" ") + b"\n")


def arc_body(i: int) -> bytes:
    return http_response(page(i))


def arc_record(i: int, length=None, v2=False, body=None) -> bytes:
    body = arc_body(i) if body is None else body
    field = b"%d" % len(body) if length is None else length if isinstance(length, bytes) else b"%d" % length
    middle = b" 200 - - 0 x.arc " if v2 else b" "
    return (b"http://example.com/%d 1.2.3.4 20080430204825 text/html%s%s\n" % (i, middle, field)) + body + b"\n"


def arc_file(recs, name, head=FILEDESC) -> bytes:
    return head + b"".join(recs) if name.endswith(".arc") else gzip.compress(head) + b"".join(map(gzip.compress, recs))


def good_urls(n, missing=()):
    return [f"http://example.com/{i}" for i in range(n) if i not in missing]


# --- an ARC length field that is wrong, but under the size cap -----------------------------------------

WRONG = {
    "short": lambda n: b"%d" % (n - 150),      # the block is cut: the rest of its payload followed it
    "long": lambda n: b"%d" % (n + 150),       # the block runs into the next record's header
    "not_a_number": lambda n: b"abc",
    "negative": lambda n: b"-7",
    "missing": lambda n: b"",                  # a header line of 4 fields: URL IP DATE MIME
}


@pytest.mark.parametrize("name", ["t.arc", "t.arc.gz"])
@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_a_wrong_arc_length_costs_nothing(tmp_path, wrong, name):
    recs = [arc_record(i) for i in range(6)]
    recs[2] = arc_record(2, WRONG[wrong](len(arc_body(2))))
    counts, kept, errors = read(tmp_path, arc_file(recs, name), name)
    assert counts == Counter({"kept": 6, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(6)
    # the damaged record comes out whole, and so does the record before it
    assert [r[BODY] for r in kept] == [page(i) for i in range(6)]


def test_the_length_is_repaired_and_marked(tmp_path):
    recs = [arc_record(i) for i in range(4)]
    recs[1] = arc_record(1, len(arc_body(1)) - 150)
    recs[2] = arc_record(2, len(arc_body(2)) + 150)
    path = tmp_path / "t.arc"
    path.write_bytes(FILEDESC + b"".join(recs))
    with open(path, "rb") as fh:
        got = list(archives.iter_archive(archives.ArchiveStream(fh)))
    assert [(r.headers.get("warc-target-uri"), r.length_repaired) for r in got[1:]] == [
        ("http://example.com/0", False), ("http://example.com/1", True), ("http://example.com/2", True),
        ("http://example.com/3", False)]
    assert [r.block for r in got[1:]] == [arc_body(i) for i in range(4)]
    assert got[2].declared_length == len(arc_body(1)) - 150  # what the header said


def test_a_wrong_length_in_the_last_arc_record(tmp_path):
    recs = [arc_record(i) for i in range(3)]
    recs[2] = arc_record(2, len(arc_body(2)) - 300)  # short: the rest of the file is its payload
    counts, kept, errors = read(tmp_path, arc_file(recs, "t.arc"), "t.arc")
    assert counts == Counter({"kept": 3, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert kept[2][BODY] == page(2)
    # still as before: a last block short by up to 64 bytes is whole (warcio's tolerance) ...
    recs[2] = arc_record(2, len(arc_body(2)) + 40)
    counts, kept, errors = read(tmp_path, arc_file(recs, "t.arc"), "t.arc")
    assert counts == Counter({"kept": 3, "dropped_record_type": 1}) and kept[2][BODY].rstrip(b"\n") == page(2)
    # ... and a file cut inside its last record is one error row
    data = arc_file(recs[:2], "t.arc") + arc_record(2)[:-100]
    counts, kept, errors = read(tmp_path, data, "t.arc")
    assert counts == Counter({"kept": 2, "error": 1, "dropped_record_type": 1})
    assert "archive ends inside an ARC record" in errors[0][ERROR]


def test_a_wrong_length_in_an_arc_v2_file(tmp_path):
    recs = [arc_record(i, v2=True) for i in range(4)]
    recs[1] = arc_record(1, len(arc_body(1)) - 150, v2=True)
    recs[2] = arc_record(2, b"-1", v2=True)
    counts, kept, errors = read(tmp_path, arc_file(recs, "t.arc", FILEDESC_V2), "t.arc")
    assert counts == Counter({"kept": 4, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert [r[BODY] for r in kept] == [page(i) for i in range(4)]


def test_a_payload_line_that_looks_like_an_arc_header_is_not_a_record(tmp_path):
    # Where the declared length is right (the next header follows the block), it is kept: lookalike lines stay
    # in the payload, at the start, in the middle or at the end of it. A wrong length elsewhere is repaired.
    fake = b"http://evil.example/ 1.2.3.4 20240101000000 text/html 5\n"
    bodies = {1: http_response(fake + page(1)), 2: http_response(page(2, b"\n" + fake + b"<p>more</p>")),
              3: http_response(page(3, b"\n" + fake))}
    recs = [arc_record(i, body=bodies.get(i)) for i in range(6)]
    recs[4] = arc_record(4, len(arc_body(4)) - 40)
    counts, kept, errors = read(tmp_path, arc_file(recs, "t.arc"), "t.arc")
    assert counts == Counter({"kept": 6, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(6)
    assert [r[BODY] for r in kept] == [page(0), fake + page(1), page(2, b"\n" + fake + b"<p>more</p>"),
                                       page(3, b"\n" + fake), page(4), page(5)]


# --- garbage between ARC records ----------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [b"JUNK junk junk\n" * 30, b"\xff\x00 binary \x80" * 50 + b"\n",
                                     b"http://example.com/x 1.2.3.4 not-a-date text/html 12\n"])
def test_garbage_between_arc_records_is_one_error_row(tmp_path, garbage):
    recs = [arc_record(i) for i in range(6)]
    data = FILEDESC + b"".join(recs[:3]) + garbage + b"".join(recs[3:])
    counts, kept, errors = read(tmp_path, data, "t.arc")
    assert counts == Counter({"kept": 6, "error": 1, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(6) and kept[2][BODY] == page(2)
    assert "not a WARC or ARC record header" in errors[0][ERROR]
    assert errors[0][INPUT_OFFSET] == len(FILEDESC) + sum(map(len, recs[:3]))  # where the garbage starts


# --- a WARC record header that never ends -------------------------------------------------------------

def _endless_header(junk: bytes) -> bytes:
    return b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/endless\r\n" + junk


@pytest.mark.parametrize("name", ["t.warc", "t.warc.gz"])
@pytest.mark.parametrize("shape", ["many_lines", "one_long_line"])
def test_a_warc_header_that_never_ends_costs_its_record_only(tmp_path, monkeypatch, name, shape):
    if shape == "many_lines":
        junk = b"X-Junk: aaaaaaaaaaaaaaaa\r\n" * (archives._MAX_HEADER_LINES + 100)
    else:  # the line cap is 64 KiB, the header cap 512 lines: 32 MiB to reach it; a smaller header cap here
        monkeypatch.setattr(archives, "_MAX_HEADER_LINES", 8)
        junk = b"X-Junk: " + b"a" * (3 << 20) + b"\r\n"
    recs = responses(5)
    recs[2] = _endless_header(junk)
    data = b"".join(recs) if name == "t.warc" else b"".join(map(gzip.compress, recs))
    counts, kept, errors = read(tmp_path, data, name)
    assert counts == Counter({"kept": 4, "error": 1}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(5, (2,))
    assert "record header too long" in errors[0][ERROR] and errors[0][URL] == "http://example.com/endless"
    assert errors[0][INPUT_OFFSET] == sum(len(r) if name == "t.warc" else len(gzip.compress(r)) for r in recs[:2])


# --- end to end ---------------------------------------------------------------------------------------

def test_curate_accounts_for_every_record_of_a_damaged_arc_file(tmp_path):
    recs = [arc_record(i) for i in range(8)]
    recs[1] = arc_record(1, len(arc_body(1)) - 150)   # short: repaired
    recs[3] = arc_record(3, b"abc")                    # not a number: read to the next header
    recs[5] = arc_record(5, len(arc_body(5)) + 150)   # long: repaired
    data = FILEDESC + b"".join(recs[:7]) + b"JUNK\n" * 10 + recs[7]  # and garbage: one error row
    (tmp_path / "in.arc").write_bytes(data)
    stages = curate_extract_only(tmp_path / "in.arc", tmp_path)
    read_stage = stages["read"]
    # 10 outcomes: the filedesc (dropped), 8 responses (kept), the garbage (one error row)
    assert (read_stage["in"], read_stage["kept"], read_stage["errors"]) == (10, 8, 1), read_stage
    assert read_stage["dropped"] == {"record_type": 1}, read_stage
    assert stages["extract"]["kept"] == 8, stages["extract"]  # every body whole: none is headers only
