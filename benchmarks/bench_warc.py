"""WARC reading: Winnow's reader (pipelines/ingest/archives.py: zlib member-by-member + a lenient record parser,
HTTP payload decoding included, through `read_archive`) against raw warcio `ArchiveIterator` and raw FastWARC
`ArchiveIterator` (no HTTP parsing), each reading every record's full payload, side by side on the same
files in the same run: every .warc/.warc.gz of ../shared/data/warc/web_crawls and common_crawl (ARC files
excluded: FastWARC cannot read them). 3 repeats; records/s min and median, and ratios to warcio.
Robustness: the damage classes of tests/test_archive_damage.py, rebuilt here, read by each reader."""
from __future__ import annotations

import glob
import gzip
import io
import os
import statistics
import time

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "warc")


class Counted(Exception):
    def __init__(self, n, exc):
        super().__init__(f"{n} records, then {type(exc).__name__}")
        self.n, self.exc = n, exc


def winnow_count(data: bytes) -> int:
    from pipelines.ingest.archives import ArchiveStream, iter_archive

    n = 0
    try:
        for rec in iter_archive(ArchiveStream(io.BytesIO(data))):
            n += 1
    except Exception as exc:
        raise Counted(n, exc)
    return n


def winnow_read(path: str) -> int:
    from pipelines.ingest.readers import read_archive

    return sum(1 for _ in read_archive(path))


def warcio_count(data: bytes) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    try:
        for rec in ArchiveIterator(io.BytesIO(data)):
            rec.content_stream().read()
            n += 1
    except Exception as exc:
        raise Counted(n, exc)
    return n


def fastwarc_count(data: bytes) -> int:
    from fastwarc.warc import ArchiveIterator

    n = 0
    try:
        for rec in ArchiveIterator(io.BytesIO(data), parse_http=True):
            rec.reader.read()
            n += 1
    except Exception as exc:
        raise Counted(n, exc)
    return n


def damage_cases():
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from test_archive_damage import page, http_response, responses, warc_record  # the tests' own builders

    good = responses(4)
    raw = b"".join(good)
    return {
        "truncated gzip member (3 good)": (b"".join(gzip.compress(r) for r in good)[:-40], 3),
        "whole file one gzip member": (gzip.compress(raw), 4),
        "misaligned gzip members": (gzip.compress(raw[:333]) + gzip.compress(raw[333:901]) + gzip.compress(raw[901:]), 4),
        "Content-Length too short": (good[0] + warc_record(http_response(page(1)), length=60) + good[2] + good[3], 4),
        "Content-Length too long": (good[0] + warc_record(http_response(page(1)), length=900) + good[2] + good[3], 4),
        "CR CR LF header lines": (b"".join(responses(4, eol=b"\r\r\n")), 4),
        "WARC/0.17 headers": (b"".join(responses(4, version=b"WARC/0.17")), 4),
    }


def run() -> str:
    import logging

    logging.getLogger("warcio").setLevel(logging.CRITICAL)
    paths = sorted(p for p in glob.glob(os.path.join(DATA, "web_crawls", "*")) + glob.glob(os.path.join(DATA, "common_crawl", "*"))
                   if not p.endswith((".arc", ".arc.gz")))
    blobs = [open(p, "rb").read() for p in paths]
    total_bytes = sum(len(b) for b in blobs)
    readers = {"winnow (parse only)": winnow_count, "warcio": warcio_count, "fastwarc": fastwarc_count}
    rates = {k: [] for k in readers}
    rates["winnow read_archive (with HTTP decoding)"] = []
    records = {}
    for _ in range(3):
        for name, fn in readers.items():
            start = time.perf_counter()
            records[name] = sum(fn(b) for b in blobs)
            rates[name].append(records[name] / (time.perf_counter() - start))
        start = time.perf_counter()
        n = sum(winnow_read(p) for p in paths)
        records["winnow read_archive (with HTTP decoding)"] = n
        rates["winnow read_archive (with HTTP decoding)"].append(n / (time.perf_counter() - start))
    base = rates["warcio"]
    lines = [f"{len(paths)} files, {total_bytes / 1e6:.1f} MB compressed", "",
             "| reader | records | min rec/s | median rec/s | ratio to warcio (min) | ratio to warcio (median) |",
             "|---|---|---|---|---|---|"]
    for name, r in rates.items():
        ratio = [a / b for a, b in zip(r, base)]
        lines.append(f"| {name} | {records[name]} | {min(r):.0f} | {statistics.median(r):.0f} | {min(ratio):.2f} | "
                     f"{statistics.median(ratio):.2f} |")
    lines += ["", "| damage (expected good records) | winnow | warcio | fastwarc |", "|---|---|---|---|"]
    for label, (data, expected) in damage_cases().items():
        cells = []
        for fn in (winnow_count, warcio_count, fastwarc_count):
            try:
                got = fn(data)
                cells.append(f"{got} records, no error" + (" (silent loss)" if got < expected else ""))
            except Counted as exc:
                cells.append(f"{exc.n} records, then error {type(exc.exc).__name__}")
        lines.append(f"| {label} ({expected}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)
