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
import io
from collections import Counter

import pytest

from pipelines.ingest import archives
from pipelines.ingest.readers import read_archive
from pipelines.ingest.records import BODY
from schemas import ERROR, INPUT_OFFSET, URL
from test_archive_damage import http_response, page, read, responses, urls, warc_record
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


# --- a line that looks like a header, in a payload whose length is wrong --------------------------------
# Repairing a wrong length reads on to the next header line; one inside the payload (an archive, or a listing of
# one, served as a page) used to be taken for it: the record was cut there, and its tail became a record of the
# lookalike's URL. Now a header line found there is taken only when its own declared length checks out (see
# archives._HeaderCheck). Each payload below has a lookalike at its start, in its middle and at its end.

WARC_FAKE = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://evil.example/\r\n"
             b"Content-Type: application/http; msgtype=response\r\nContent-Length: 5\r\n\r\n")


def _with_lookalikes(i: int, fake: bytes) -> bytes:
    return http_response(fake + page(i, b"\n" + fake + b"<p>more</p>\n" + fake))


def _declared(body: bytes, wrong: str) -> bytes:
    return {"short": b"%d" % (len(body) - 150), "long": b"%d" % (len(body) + 150), "not_a_number": b"abc"}[wrong]


@pytest.mark.parametrize("name", ["t.arc", "t.arc.gz"])
@pytest.mark.parametrize("wrong", ["short", "long", "not_a_number"])
def test_a_lookalike_arc_header_in_a_record_whose_length_is_wrong_stays_in_its_payload(tmp_path, wrong, name):
    fake = b"http://evil.example/ 1.2.3.4 20240101000000 text/html 5\n"
    body = _with_lookalikes(2, fake)
    recs = [arc_record(i) for i in range(5)]
    recs[2] = arc_record(2, _declared(body, wrong), body=body)
    counts, kept, errors = read(tmp_path, arc_file(recs, name), name)
    assert counts == Counter({"kept": 5, "dropped_record_type": 1}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(5)
    assert kept[2][BODY] == fake + page(2, b"\n" + fake + b"<p>more</p>\n" + fake)  # whole, lookalikes included


@pytest.mark.parametrize("name", ["t.warc", "t.warc.gz"])
@pytest.mark.parametrize("wrong", ["short", "long", "not_a_number"])
def test_a_lookalike_warc_header_in_a_record_whose_content_length_is_wrong_stays_in_its_payload(tmp_path, wrong,
                                                                                               name):
    body = _with_lookalikes(2, WARC_FAKE)
    recs = responses(5)
    recs[2] = warc_record(body, uri=b"http://example.com/2", length=0).replace(
        b"Content-Length: 0\r\n", b"Content-Length: " + _declared(body, wrong) + b"\r\n")
    counts, kept, errors = read(tmp_path, b"".join(recs) if name == "t.warc" else b"".join(map(gzip.compress, recs)),
                                name)
    if wrong == "not_a_number":  # that record is one error row (as before), and its payload nothing else
        assert counts == Counter({"kept": 4, "error": 1}), (counts, [e[ERROR] for e in errors])
        assert urls(kept) == good_urls(5, (2,)) and errors[0][URL] == "http://example.com/2"
        return
    assert counts == Counter({"kept": 5}), (counts, [e[ERROR] for e in errors])
    assert urls(kept) == good_urls(5)
    assert kept[2][BODY] == WARC_FAKE + page(2, b"\n" + WARC_FAKE + b"<p>more</p>\n" + WARC_FAKE)


@pytest.mark.parametrize("fmt", ["arc", "warc"])
def test_a_lookalike_in_a_record_over_the_cap_whose_length_is_wrong_is_not_a_record(tmp_path, fmt):
    # Over the read cap the block is skipped, never held; a wrong length there resumes at the next record (one error
    # row for this one), which was the lookalike: a record of its URL holding the payload's tail.
    fake = b"http://evil.example/ 1.2.3.4 20240101000000 text/html 5\n" if fmt == "arc" else WARC_FAKE
    body = http_response(page(2, b"x" * 2000 + b"\n" + fake + b"<p>more</p>\n" + b"y" * 500))
    if fmt == "arc":
        recs = [arc_record(i) for i in range(6)]
        recs[2] = arc_record(2, len(body) + 5000, body=body)
        data = FILEDESC + b"".join(recs)
    else:
        recs = responses(6)
        recs[2] = warc_record(body, uri=b"http://example.com/2", length=len(body) + 5000)
        data = b"".join(recs)
    path = tmp_path / f"t.{fmt}"
    path.write_bytes(data)
    outcomes = list(read_archive(str(path), max_record_bytes=1000))
    kept = [v[URL] for s, v in outcomes if s == "kept"]
    errors = [v for s, v in outcomes if s == "error"]
    assert kept == good_urls(6, (2,)), (kept, errors)
    assert len(errors) == 1 and errors[0][URL] == "http://example.com/2" and "skipped to the next record" in errors[0][ERROR]


def test_a_lookalike_and_a_next_record_whose_length_is_wrong_too(tmp_path):
    # The record after the one being repaired has a wrong length too (short: its block ends inside its payload, as a
    # lookalike's does), then one whose length is right: it is taken as a record, the lookalike is not.
    fake = b"http://evil.example/ 1.2.3.4 20240101000000 text/html 5\n"
    body = _with_lookalikes(1, fake)
    for first, second in (("short", "short"), ("long", "short"), ("short", "long"), ("long", "long")):
        recs = [arc_record(i) for i in range(5)]
        recs[1] = arc_record(1, _declared(body, first), body=body)
        recs[2] = arc_record(2, len(arc_body(2)) + (-100 if second == "short" else 100))
        counts, kept, errors = read(tmp_path, arc_file(recs, "t.arc"), "t.arc")
        assert urls(kept) == good_urls(5), (first, second, urls(kept))
        assert [r[BODY] for r in kept] == [page(0), fake + page(1, b"\n" + fake + b"<p>more</p>\n" + fake),
                                           page(2), page(3), page(4)]


def _handed_out(monkeypatch, budget: int) -> dict:
    """Count every byte the stream hands out (read, or looked at ahead): a repair that reads the rest of the file
    again for every header line it meets fails here, at `budget`, instead of running for minutes."""
    counted = {"bytes": 0}
    for name in ("read", "readline", "peek_at" if hasattr(archives.ArchiveStream, "peek_at") else "peek"):
        def counting(self, *args, _real=getattr(archives.ArchiveStream, name)):
            out = _real(self, *args)
            counted["bytes"] += len(out)
            assert counted["bytes"] <= budget, f"{counted['bytes']} bytes handed out, budget {budget}"
            return out
        monkeypatch.setattr(archives.ArchiveStream, name, counting)
    return counted


@pytest.mark.parametrize("fmt", ["arc", "warc"])
def test_a_payload_of_100k_lookalike_lines_is_read_in_linear_work(tmp_path, monkeypatch, fmt):
    # ~6 MB of lookalike lines, each with a wrong length of its own, in a record whose length is wrong: one pass.
    # Before, each lookalike was a record whose repair read (and gave back) a MiB: 176 s for the ARC file.
    n = 100_000 if fmt == "arc" else 50_000
    fake = (b"http://evil.example/%d 1.2.3.4 20240101000000 text/html 5\n" if fmt == "arc"
            else b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://evil.example/%d\r\nContent-Length: 5\r\n\r\n")
    body = http_response(page(2, b"\n" + b"".join(fake % i for i in range(n)) + b"<p>end</p>"))
    if fmt == "arc":
        recs = [arc_record(i) for i in range(4)]
        recs[2] = arc_record(2, len(body) - 150, body=body)
        data = FILEDESC + b"".join(recs)
    else:
        recs = responses(4)
        recs[2] = warc_record(body, uri=b"http://example.com/2", length=len(body) - 150)
        data = b"".join(recs)
    counted = _handed_out(monkeypatch, budget=4 * len(data))  # measured: 2.0x (ARC), 1.0x (WARC)
    got = list(archives.iter_archive(archives.ArchiveStream(io.BytesIO(data))))
    records = [r for r in got if r.rec_type == "response"]
    assert [r.target_uri for r in records] == good_urls(4)
    assert records[2].block == body and records[2].length_repaired
    print(f"{fmt}: {len(data) / 1e6:.1f} MB, {counted['bytes'] / len(data):.2f}x handed out")


def test_a_file_whose_every_length_is_wrong_is_still_read_record_by_record(tmp_path, monkeypatch):
    # No header line there checks out: the repair falls back to the next one, as before the checks, and remembers
    # the others, so the file is read once (before: a MiB read and given back per record, 11 s for 20,000).
    recs = [arc_record(i, len(arc_body(i)) + 30) for i in range(5000)]
    data = FILEDESC + b"".join(recs)
    _handed_out(monkeypatch, budget=32 * len(data))  # measured: 16x (a 4 KiB first read per ~350-byte record)
    got = [r for r in archives.iter_archive(archives.ArchiveStream(io.BytesIO(data))) if r.rec_type == "response"]
    assert [r.target_uri for r in got] == good_urls(5000)
    assert all(r.block == arc_body(i) and r.length_repaired for i, r in enumerate(got[:-1]))


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


@pytest.mark.parametrize("name", ["t.warc", "t.warc.gz"])
def test_a_content_length_too_long_by_a_few_bytes_loses_no_record(tmp_path, name):
    # Too long by 5 to 18 bytes, the block ended inside the next record's `WARC/1.0` line: no header was found in
    # it, the repair read on to the header after, and the next record became part of this one's block (4 of 5
    # records read, no error row)
    for extra in range(1, 24):
        recs = responses(5)
        body = http_response(page(2))
        recs[2] = warc_record(body, uri=b"http://example.com/2", length=len(body) + extra)
        data = b"".join(recs)
        counts, kept, errors = read(tmp_path, data if name == "t.warc" else gzip.compress(data), name)
        assert counts == Counter({"kept": 5}) and urls(kept) == good_urls(5), (extra, counts)
        assert kept[2][BODY].rstrip(b"\r\n") == page(2) and kept[3][BODY] == page(3), extra


@pytest.mark.parametrize("name", ["t.arc", "t.arc.gz"])
def test_an_arc_length_too_long_by_a_few_bytes_leaves_the_next_url_whole(tmp_path, name):
    # Too long by 2 to 4 bytes, the block ate the separator and the start of the next header line, whose rest
    # (`ttp://example.com/3 ...`) still parsed as a header: the next record was kept under a URL it does not have
    for extra in range(-80, 80):
        recs = [arc_record(i) for i in range(5)]
        recs[2] = arc_record(2, len(arc_body(2)) + extra)
        counts, kept, errors = read(tmp_path, arc_file(recs, name), name)
        assert urls(kept) == good_urls(5), (extra, urls(kept), [e[ERROR] for e in errors])
        assert [r[BODY] for r in kept[3:]] == [page(3), page(4)], extra
