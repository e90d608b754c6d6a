"""The classes of damage found in real web archives, each built here as real WARC/ARC bytes and read back.

A damaged file must yield every good record before the damage and one error row (with a pointer) for the
rest; damage that can be repaired (a wrong Content-Length, odd line endings) costs nothing.
"""
from __future__ import annotations

import bz2
import gzip
import uuid
import zlib
from collections import Counter

import pytest

from pipelines.ingest.html import extract_record
from pipelines.ingest.inputs import ARCHIVE, InputFile
from pipelines.ingest.readers import read_input_file
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
from schemas import ERROR, INPUT_OFFSET, INPUT_PATH, TEXT, URL

CRLF = b"\r\n"


def page(i: int, extra: bytes = b"") -> bytes:
    return (b"<html><head><title>Page %d</title></head><body><article><h1>Heading %d</h1><p>Paragraph %d "
            b"has enough words to be real text that an extractor keeps as the main content of the page.</p>"
            b"%s</article></body></html>" % (i, i, i, extra))


def http_response(body: bytes, status=b"HTTP/1.1 200 OK", ctype=b"text/html; charset=utf-8", headers=(),
                  eol=CRLF, length=True) -> bytes:
    lines = [status, b"Content-Type: " + ctype] + list(headers)
    if length:
        lines.append(b"Content-Length: %d" % len(body))
    return eol.join(lines) + eol + eol + body


def warc_record(block: bytes, uri=b"http://example.com/", rtype=b"response", version=b"WARC/1.0",
                date=b"2020-01-02T03:04:05Z", length=None, eol=CRLF, ctype=None, extra=()) -> bytes:
    ctype = ctype or (b"application/http; msgtype=response" if rtype in (b"response", b"revisit") else b"text/plain")
    lines = [version, b"WARC-Type: " + rtype, b"WARC-Record-ID: <urn:uuid:%s>" % str(uuid.uuid4()).encode(),
             b"WARC-Date: " + date, b"WARC-Target-URI: " + uri, b"Content-Type: " + ctype] + list(extra)
    lines.append(b"Content-Length: %d" % (len(block) if length is None else length))
    return eol.join(lines) + eol + eol + block + CRLF + CRLF


def responses(n: int, **kw) -> list:
    return [warc_record(http_response(page(i)), uri=b"http://example.com/%d" % i, **kw) for i in range(n)]


def read(tmp_path, data: bytes, name="t.warc"):
    path = tmp_path / name
    path.write_bytes(data)
    counts, kept, errors = Counter(), [], []
    for status, value in read_input_file(InputFile(ARCHIVE, str(path))):
        if status == "kept":
            kept.append(value)
        elif status == "error":
            errors.append(value)
        counts[status if status != "dropped" else "dropped_" + value] += 1
    return counts, kept, errors


def urls(kept):
    return [r[URL] for r in kept]


def test_per_record_gzip_offsets_point_at_members(tmp_path):
    members = [gzip.compress(r) for r in responses(3)]
    counts, kept, errors = read(tmp_path, b"".join(members), "t.warc.gz")
    assert counts == Counter({"kept": 3}) and not errors
    assert [r[INPUT_OFFSET] for r in kept] == [0, len(members[0]), len(members[0]) + len(members[1])]
    # The pointer is a real seek target: the member at that offset decompresses to that record.
    data = (tmp_path / "t.warc.gz").read_bytes()
    assert zlib.decompressobj(31).decompress(data[kept[2][INPUT_OFFSET]:]).count(b"http://example.com/2") == 1


def test_truncated_gzip_member_yields_good_records_then_one_error(tmp_path):
    members = [gzip.compress(r) for r in responses(4)]
    data = b"".join(members)[:-40]  # the last member loses its end (and its CRC): a cut download
    counts, kept, errors = read(tmp_path, data, "t.warc.gz")
    assert urls(kept) == [f"http://example.com/{i}" for i in range(3)]
    assert counts["error"] == 1 and "truncated gzip" in errors[0][ERROR]
    assert errors[0][INPUT_OFFSET] == sum(len(m) for m in members[:3])
    assert errors[0][INPUT_PATH].endswith("t.warc.gz")


def test_whole_file_as_one_gzip_member_and_misaligned_members(tmp_path):
    raw = b"".join(responses(5))
    counts, kept, errors = read(tmp_path, gzip.compress(raw), "whole.warc.gz")
    assert counts == Counter({"kept": 5}) and urls(kept)[-1] == "http://example.com/4"
    cuts = [0, 333, 901, 1500, len(raw)]  # members cut mid-header and mid-payload
    misaligned = b"".join(gzip.compress(raw[a:b]) for a, b in zip(cuts, cuts[1:]))
    counts, kept2, errors = read(tmp_path, misaligned, "mis.warc.gz")
    assert counts == Counter({"kept": 5})
    assert [r[BODY] for r in kept2] == [r[BODY] for r in kept] and b"Paragraph 3 " in kept2[3][BODY]


def test_member_magic_split_by_a_read_boundary_or_short_reads(tmp_path, monkeypatch):
    """The next gzip member's two magic bytes may arrive in two reads: a member ending one byte before a read
    boundary (1 MiB reads: ~1 file in 10 of a Common Crawl WARC's size), or a source that reads short. That is
    not damage: every record is read, with the same pointers (it used to end the file with one error row)."""
    import io

    from pipelines.ingest import archives
    from pipelines.ingest.archives import ArchiveStream, iter_archive

    members = [gzip.compress(r) for r in responses(4)] + [b"\0" * 3]  # NUL padding after the last member too
    data = b"".join(members)

    def records(raw):
        return [(r.offset, r.pointer, r.headers.get("warc-target-uri"), r.block) for r in iter_archive(ArchiveStream(raw))]

    expected = records(io.BytesIO(data))
    assert len(expected) == 4 and [p for _, p, _, _ in expected] == [sum(map(len, members[:i])) for i in range(4)]

    class ShortReads(io.RawIOBase):  # at most k bytes per read, as an unbuffered network source may give
        def __init__(self, k):
            self.inner, self.k = io.BytesIO(data), k

        def readable(self):
            return True

        def read(self, n=-1):
            return self.inner.read(self.k if n is None or n < 0 else min(n, self.k))

    for k in (1, 2, 3, 7):
        assert records(ShortReads(k)) == expected, k
    # whole reads whose boundary leaves one byte of the second member's magic before it
    monkeypatch.setattr(archives, "_READ_CHUNK", len(members[0]) + 1)
    assert records(io.BytesIO(data)) == expected
    path = tmp_path / "split.warc.gz"
    path.write_bytes(data)
    counts, kept, errors = read(tmp_path, data, "split.warc.gz")
    assert counts == Counter({"kept": 4}) and not errors


def test_wrong_content_length_is_repaired_both_ways(tmp_path):
    good = responses(4)
    for wrong in (60, 900):  # too short (cuts the payload), too long (swallows the next record's header)
        bad = warc_record(http_response(page(1)), uri=b"http://example.com/1", length=wrong)
        counts, kept, errors = read(tmp_path, good[0] + bad + good[2] + good[3])
        assert counts == Counter({"kept": 4}), wrong
        assert urls(kept) == [f"http://example.com/{i}" for i in range(4)]
        assert kept[1][BODY] == page(1) and kept[2][BODY] == page(2)


def test_cr_cr_lf_header_lines_and_status_without_reason(tmp_path):
    recs = [warc_record(http_response(page(i), status=b"HTTP/1.1 200", eol=b"\r\r\n"),
                        uri=b"http://example.com/%d" % i, eol=b"\r\r\n") for i in range(3)]
    counts, kept, _ = read(tmp_path, b"".join(recs))
    assert counts == Counter({"kept": 3})
    assert all(r[HTTP_STATUS] == 200 and r[CONTENT_TYPE] == "text/html; charset=utf-8" for r in kept)
    assert kept[0][BODY] == page(0)


def test_odd_uris_and_dates_and_old_versions(tmp_path):
    recs = [warc_record(http_response(page(0)), uri=b"<http://example.com/wget>"),
            warc_record(http_response(page(1)), uri=b"http://example.com/a b?q=x y"),
            warc_record(http_response(page(2)), date=b"2008-04-30T20:48"),      # truncated
            warc_record(http_response(page(3)), date=b"20080430204825"),        # 14 digits (WARC/0.17 style)
            warc_record(http_response(page(4)), date=b"not a date"),
            warc_record(http_response(page(5)), date=b"2020-13-45T99:99:99Z"),  # impossible
            warc_record(http_response(page(6)), version=b"WARC/0.17"),
            warc_record(http_response(page(7)), version=b"WARC/0.18")]
    counts, kept, _ = read(tmp_path, b"".join(recs))
    assert counts == Counter({"kept": 8})
    assert urls(kept)[:2] == ["http://example.com/wget", "http://example.com/a%20b?q=x%20y"]
    assert [r[WARC_DATE] for r in kept][:6] == ["2020-01-02T03:04:05Z", "2020-01-02T03:04:05Z", "2008-04-30T20:48:00Z",
                                                 "2008-04-30T20:48:25Z", None, None]
    assert kept[7][BODY] == page(7)


def test_arc_files_plain_and_gzip(tmp_path):
    body = http_response(page(1), eol=b"\r\n")
    header = b"filedesc://x.arc 0.0.0.0 20080101000000 text/plain 77\n"
    desc = b"1 0 Test\nURL IP-address Archive-date Content-type Archive-length\n"
    desc = desc.ljust(77, b" ")
    rec1 = b"http://example.com/a b 1.2.3.4 20080430204825 text/html %d\n" % len(body) + body + b"\n"
    rec2 = b"http://example.com/img.png 1.2.3.4 20080430204826 image/png 4\n\x89PNG\n"
    data = header + desc + b"\n" + rec1 + rec2
    for name, blob in (("t.arc", data), ("t.arc.gz", gzip.compress(header + desc + b"\n") + gzip.compress(rec1)
                                         + gzip.compress(rec2))):
        counts, kept, errors = read(tmp_path, blob, name)
        assert counts == Counter({"dropped_record_type": 1, "kept": 2}), name
        assert urls(kept) == ["http://example.com/a%20b", "http://example.com/img.png"]
        assert kept[0][BODY] == page(1) and kept[0][HTTP_STATUS] == 200
        assert kept[0][WARC_DATE] == "2008-04-30T20:48:25Z"
        assert kept[0][INPUT_OFFSET] != kept[1][INPUT_OFFSET]


def test_revisit_resource_and_conversion_records(tmp_path):
    wet_text = "Plain text of a page, already extracted by the crawler that wrote this WET file."
    recs = [responses(1)[0],
            warc_record(b"HTTP/1.1 200 OK\r\n\r\n", rtype=b"revisit", extra=[b"WARC-Refers-To: <urn:uuid:1>"]),
            warc_record(page(9), rtype=b"resource", ctype=b"text/html", uri=b"file:///x.html"),
            warc_record(wet_text.encode(), rtype=b"conversion", ctype=b"text/plain", uri=b"http://example.com/wet"),
            warc_record(b"GET / HTTP/1.1\r\n\r\n", rtype=b"request", ctype=b"application/http; msgtype=request")]
    counts, kept, _ = read(tmp_path, gzip.compress(b"".join(recs)), "t.wet.gz")
    assert counts == Counter({"kept": 3, "dropped_revisit": 1, "dropped_record_type": 1})
    assert [r[RECORD_TYPE] for r in kept] == ["response", "resource", "conversion"]
    assert kept[1][BODY] == page(9) and kept[1][CONTENT_TYPE] == "text/html"
    doc, reason = extract_record(kept[2])
    assert reason is None and doc[TEXT] == wet_text
    doc, reason = extract_record(kept[1])
    assert reason is None and "Paragraph 9" in doc[TEXT]


def test_content_encodings_chunked_and_unsupported(tmp_path):
    import brotli

    def chunked(data: bytes) -> bytes:
        return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 50]), data[i:i + 50]) for i in range(0, len(data), 50)) + b"0\r\n\r\n"

    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_deflate = deflate.compress(page(2)) + deflate.flush()
    bodies = [
        (gzip.compress(page(0)), [b"Content-Encoding: gzip"]),
        (zlib.compress(page(1)), [b"Content-Encoding: deflate"]),
        (raw_deflate, [b"Content-Encoding: deflate"]),
        (brotli.compress(page(3)), [b"Content-Encoding: br"]),
        (chunked(page(4)), [b"Transfer-Encoding: chunked"]),
        (chunked(gzip.compress(page(5))), [b"Transfer-Encoding: chunked", b"Content-Encoding: gzip"]),
        (page(6), [b"Content-Encoding: gzip"]),  # stored decoded, header kept: left as is
        (b"\x00\x01compressed", [b"Content-Encoding: compress"]),  # unsupported: one error row
        (page(8), []),
    ]
    recs = [warc_record(http_response(b, headers=h, length=False), uri=b"http://example.com/%d" % i)
            for i, (b, h) in enumerate(bodies)]
    counts, kept, errors = read(tmp_path, b"".join(recs))
    assert counts == Counter({"kept": 8, "error": 1})
    assert [r[BODY] for r in kept] == [page(i) for i in (0, 1, 2, 3, 4, 5, 6, 8)]
    assert "compress" in errors[0][ERROR] and errors[0][URL] == "http://example.com/7"
    assert errors[0][INPUT_OFFSET] == sum(len(r) for r in recs[:7])


def test_non_html_payload_is_dropped_with_reason(tmp_path):
    recs = [warc_record(http_response(b"%PDF-1.4 binary", ctype=b"application/pdf")),
            warc_record(http_response(b"\x89PNG\r\n", ctype=b"image/png"))]
    _, kept, _ = read(tmp_path, b"".join(recs))
    assert [extract_record(r)[1] for r in kept] == ["content_type", "content_type"]


@pytest.mark.parametrize("name,compress", [("t.warc.gz", bz2.compress)])
def test_unsupported_file_compression_is_an_error_row(tmp_path, name, compress):
    counts, kept, errors = read(tmp_path, compress(b"".join(responses(2))), name)
    assert counts == Counter({"error": 1}) and "unsupported compression: bzip2" in errors[0][ERROR]
    assert errors[0][INPUT_OFFSET] == 0


def test_garbage_between_records_is_one_error_row_and_reading_goes_on(tmp_path):
    good = responses(3)
    counts, kept, errors = read(tmp_path, good[0] + good[1] + b"\x13garbage that is no header\r\n" + good[2])
    assert urls(kept) == ["http://example.com/0", "http://example.com/1", "http://example.com/2"]
    assert [r[BODY] for r in kept] == [page(0), page(1), page(2)]
    assert counts["error"] == 1 and errors[0][INPUT_OFFSET] == len(good[0]) + len(good[1])
    assert "bytes skipped" in errors[0][ERROR]
    # Garbage with no header after it: the good records, then one error row for the rest.
    counts, kept, errors = read(tmp_path, good[0] + good[1] + b"\x13garbage\r\n" * 50)
    assert urls(kept) == ["http://example.com/0", "http://example.com/1"] and counts["error"] == 1


def test_a_truncated_record_says_so_in_the_documents_metadata(tmp_path):
    """WARC-Truncated (a crawler stopped reading the payload: our own crawler writes `length` at its size cap)
    keeps the page, whose text may end early, and says so in metadata["truncated"]; whole pages have no key."""
    cut = http_response(page(1))[:-40]  # the end of the page is missing
    data = (warc_record(cut, uri=b"http://example.com/cut", extra=(b"WARC-Truncated: length",))
            + warc_record(http_response(page(2)), uri=b"http://example.com/whole"))
    counts, kept, errors = read(tmp_path, data)
    assert counts == Counter({"kept": 2}) and not errors
    docs = {r[URL]: extract_record(r)[0] for r in kept}
    assert docs["http://example.com/cut"]["metadata"]["truncated"] == "length"
    assert "truncated" not in docs["http://example.com/whole"]["metadata"]
