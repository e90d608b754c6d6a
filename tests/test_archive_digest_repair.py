"""Wrong Content-Lengths repaired with the records' WARC-Block-Digest.

A wrong length is repaired by reading on to the next header line, and a header line passed over there (its own length
wrong too) starts a record only when its length is within a factor of two of the one it would have (see
archives._HeaderCheck). Two wrong lengths in a row, the second off by more than that (in a 6-record file, record 1
+30 bytes, record 2 -161), made record 2 part of record 1's block: lost without an error row. Now the block digest
that most crawlers write (Common Crawl: `sha1:` in base32) settles it: the bytes up to a header line, less the
CRLF CRLF ending a record, that hash to the digest of the record being repaired, or of the record passed over, are
that record's block. A digest that does not match proves nothing, so a lookalike header in a payload stays payload.
Real WARC bytes are built here, plain, gzip as one member and gzip with members that do not align with records (one
member per record needs no digest: a member that opens with a header starts a record), and read through the real
reader; every record comes out with its URL and payload.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
from collections import Counter

import pytest

from pipelines.ingest.records import BODY
from schemas import ERROR
from test_archive_damage import http_response, page, read, urls, warc_record

N = 6


def _body(i: int) -> bytes:
    # ~1.5 KB: a length a tenth of it still leaves a block, ten times it runs past the end of the file
    return page(i, b"<p>" + b"more words of the page %d " % i * 50 + b"</p>")


def _sha1_b32(block: bytes) -> bytes:
    return b"sha1:" + base64.b32encode(hashlib.sha1(block).digest())


DIGESTS = {  # the forms writers use (base32 by the spec's examples, Common Crawl) and warcio reads
    "sha1_base32": _sha1_b32,
    "sha1_hex": lambda b: b"sha1:" + hashlib.sha1(b).hexdigest().encode(),
    "sha256_base32": lambda b: b"sha256:" + base64.b32encode(hashlib.sha256(b).digest()),
    "sha256_hex": lambda b: b"sha256:" + hashlib.sha256(b).hexdigest().upper().encode(),
    "sha1_base64": lambda b: b"sha1:" + base64.b64encode(hashlib.sha1(b).digest()),
}


def _record(i: int, body: bytes, declared=None, digest=_sha1_b32) -> bytes:
    block = http_response(body)
    extra = [b"WARC-Block-Digest: " + digest(block)] if digest else []
    return warc_record(block, uri=b"http://example.com/%d" % i, length=declared(len(block)) if declared else None,
                       extra=extra)


def _file(recs, layout: str) -> bytes:
    if layout == "t.warc":
        return b"".join(recs)
    if layout == "t.warc.gz":  # the whole file one gzip member
        return gzip.compress(b"".join(recs))
    # members that do not align with records: the two damaged records share one, no member start tells them apart
    return b"".join(gzip.compress(b"".join(recs[a:b])) for a, b in ((0, 1), (1, 3), (3, 5), (5, N)))


def _read_all(tmp_path, recs, layout):
    name = "t.warc" if layout == "t.warc" else "t.warc.gz"
    counts, kept, errors = read(tmp_path, _file(recs, layout), name)
    assert counts == Counter({"kept": N}), (counts, urls(kept), [e[ERROR] for e in errors])
    assert urls(kept) == [f"http://example.com/{i}" for i in range(N)]
    return kept


LAYOUTS = ["t.warc", "t.warc.gz", "pairs.warc.gz"]
SECOND = {  # the second record's length, off by more than a factor of two (161 bytes short: for pages of ~300 bytes)
    "minus_161": lambda n: n - 161,
    "a_third": lambda n: n // 3,
    "three_times": lambda n: 3 * n,
    "a_tenth": lambda n: n // 10,
    "ten_times": lambda n: 10 * n,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("second", ["a_third", "three_times", "a_tenth", "ten_times"])
@pytest.mark.parametrize("first", [30, -40])
def test_two_wrong_lengths_in_a_row_lose_no_record(tmp_path, layout, first, second):
    recs = [_record(i, _body(i)) for i in range(N)]
    recs[1] = _record(1, _body(1), lambda n: n + first)
    recs[2] = _record(2, _body(2), SECOND[second])
    kept = _read_all(tmp_path, recs, layout)
    assert [r[BODY] for r in kept] == [_body(i) for i in range(N)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_reported_case_plus_30_then_minus_161_with_small_pages(tmp_path, layout):
    # As reported: pages of ~300 bytes, where 161 bytes short is less than half the block
    recs = [_record(i, page(i)) for i in range(N)]
    recs[1] = _record(1, page(1), lambda n: n + 30)
    recs[2] = _record(2, page(2), lambda n: n - 161)
    kept = _read_all(tmp_path, recs, layout)
    assert [r[BODY] for r in kept] == [page(i) for i in range(N)]


@pytest.mark.parametrize("second", ["a_third", "ten_times"])
@pytest.mark.parametrize("with_digest", ["first_only", "second_only"])
def test_either_records_digest_settles_where_the_second_starts(tmp_path, with_digest, second):
    # The digest of the record being repaired ends its block at the next header line; the digest of the record
    # passed over proves it starts one, when the line after it is taken.
    recs = [_record(i, _body(i), digest=None) for i in range(N)]
    recs[1] = _record(1, _body(1), lambda n: n + 30, digest=_sha1_b32 if with_digest == "first_only" else None)
    recs[2] = _record(2, _body(2), SECOND[second], digest=_sha1_b32 if with_digest == "second_only" else None)
    kept = _read_all(tmp_path, recs, "t.warc")
    assert [r[BODY] for r in kept] == [_body(i) for i in range(N)]


@pytest.mark.parametrize("form", sorted(DIGESTS))
def test_sha1_and_sha256_digests_in_base32_hex_and_base64(tmp_path, form):
    for with_digest in ("first_only", "second_only"):
        recs = [_record(i, page(i), digest=None) for i in range(N)]
        recs[1] = _record(1, page(1), lambda n: n + 30, digest=DIGESTS[form] if with_digest == "first_only" else None)
        recs[2] = _record(2, page(2), lambda n: n - 161, digest=DIGESTS[form] if with_digest == "second_only" else None)
        kept = _read_all(tmp_path, recs, "t.warc")
        assert [r[BODY] for r in kept] == [page(i) for i in range(N)], with_digest


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("delta", [-40, 40, 400])
def test_a_wrong_length_in_the_last_record_is_repaired_by_its_digest(tmp_path, layout, delta):
    # Short, its block ended inside the payload and the rest was an error row of garbage; long, it ran past the end
    # of the file, one error row for a whole record. Its digest says the bytes to the end are its block.
    recs = [_record(i, _body(i)) for i in range(N)]
    recs[N - 1] = _record(N - 1, _body(N - 1), lambda n: n + delta)
    kept = _read_all(tmp_path, recs, layout)
    assert [r[BODY] for r in kept] == [_body(i) for i in range(N)]


FAKE_URI = b"http://evil.example/"


def _lookalike(digest: bytes) -> bytes:
    """A WARC header (a WARC file, or a listing of one, stored as a page), its 5-byte block as declared after it."""
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + FAKE_URI + b"\r\n"
            b"Content-Type: application/http; msgtype=response\r\nWARC-Block-Digest: " + digest +
            b"\r\nContent-Length: 5\r\n\r\n")


@pytest.mark.parametrize("second", ["minus_161", "a_third", "three_times"])
def test_a_lookalike_whose_digest_does_not_match_stays_in_its_payload(tmp_path, second):
    # Record 2 has no digest of its own: where its block ends is up to the header lines met, the lookalikes among
    # them. Their digests are those of their declared 5 bytes, of no bytes (the one at the end of the payload, as a
    # record with an empty block would have), not base32, of an algorithm not known: none matches the bytes up to
    # the next record, so none is a record.
    fakes = [_lookalike(_sha1_b32(b"<html")), _lookalike(_sha1_b32(b"<p>mo")), _lookalike(b"sha1:not-base-32!"),
             _lookalike(b"md4:" + b"A" * 32), _lookalike(_sha1_b32(b""))]
    body = fakes[0] + page(2, b"\n" + fakes[1] + b"<p>more</p>\n" + fakes[2] + b"\n" + fakes[3]) + b"\n" + fakes[4]
    recs = [_record(i, page(i)) for i in range(N)]
    recs[1] = _record(1, page(1), lambda n: n + 30)
    recs[2] = _record(2, body, SECOND[second], digest=None)
    for layout in LAYOUTS:
        kept = _read_all(tmp_path, recs, layout)
        # whole, lookalikes included (less the line ends it ends with: with no digest of its own, nothing tells them
        # from the blank lines between records)
        assert [r[BODY] for r in kept] == [page(0), page(1), body.rstrip(b"\r\n"), page(3), page(4), page(5)], layout
