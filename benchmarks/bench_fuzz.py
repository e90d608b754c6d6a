"""Fuzzing (issue #11) with hypothesis, a fixed time budget per target: the archive reader
(`pipelines.ingest.readers.read_archive` on bytes built from WARC/ARC/gzip fragments and random bytes, plain and
gzip-wrapped), the charset/extraction wrapper (`pipelines.ingest.html.extract_record` on HTML-ish bytes with
random content types, encodings and status) and the JSONL reader (`pipelines.ingest.readers.read_jsonl` on lines
of JSON fragments and random bytes). A crash is any exception escaping the function (readers must turn bad
input into error rows; extract_record may raise only what the Beam shell turns into an error row, which
is still counted here as a crash to look at). Crashes found become regression tests in
tests/test_hostile_inputs.py."""
from __future__ import annotations

import gzip
import os
import tempfile
import time
import traceback

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

BUDGET_S = float(os.environ.get("WINNOW_FUZZ_SECONDS", "20"))

WARC_PARTS = [b"WARC/1.0\r\n", b"WARC/1.1\r\n", b"WARC/0.17\n", b"WARC-Type: response\r\n", b"WARC-Type: revisit\r\n",
              b"WARC-Type: resource\r\n", b"Content-Length: 10\r\n", b"Content-Length: -1\r\n",
              b"Content-Length: 999999999999\r\n", b"Content-Length: 0\r\n", b"WARC-Target-URI: http://e.com/\r\n",
              b"Content-Type: application/http; msgtype=response\r\n", b"\r\n", b"\n", b"\r\r\n", b"\x00",
              b"HTTP/1.1 200 OK\r\n", b"Transfer-Encoding: chunked\r\n", b"Content-Encoding: gzip\r\n",
              b"Content-Encoding: br\r\n", b"Content-Encoding: zz\r\n", b"Content-Type: text/html\r\n",
              b"5\r\nhello\r\n0\r\n\r\n", b"<html><body><p>hi</p></body></html>", b"filedesc://x.arc 0.0.0.0 20240101000000 text/plain 10\n",
              b"http://e.com/ 1.2.3.4 20240101000000 text/html 30\n", b"\x1f\x8b\x08\x00", gzip.compress(b"WARC/1.0\r\n")]


def _fragments():
    return st.lists(st.one_of(st.sampled_from(WARC_PARTS), st.binary(max_size=64)), max_size=30).map(b"".join)


def _archive_target(tmp):
    from pipelines.ingest.readers import read_archive

    path = os.path.join(tmp, "f.warc")
    gz_path = os.path.join(tmp, "f.warc.gz")

    def check(data: bytes, wrap: bool):
        p = gz_path if wrap else path
        with open(p, "wb") as fh:
            fh.write(gzip.compress(data) if wrap else data)
        for status, value in read_archive(p):
            assert status in ("kept", "dropped", "error")
            if status == "error":
                assert value["input_path"] == p and value["input_offset"] is not None
    return st.tuples(_fragments(), st.booleans()), check


def _extract_target(tmp):
    from pipelines.ingest.html import ExtractConfig, extract_record
    from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
    from schemas import ID, SOURCE, URL

    html = st.lists(st.one_of(st.sampled_from([b"<html>", b"<body>", b"<p>", b"</p>", b"<div>" * 50, b"<meta charset=",
                                               b"shift_jis>", b"utf-16", b"\xef\xbb\xbf", b"\xff\xfe", b"\xed\xa0\x80",
                                               b"<script>", b"<!--", b"text \xe9\xe8 ", b"\x1f\x8b"]),
                              st.binary(max_size=40), st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))),
                    max_size=40).map(b"".join)
    ctype = st.one_of(st.none(), st.sampled_from(["text/html", "text/html; charset=utf-8", "text/html; charset=bogus",
                                                  "text/html; charset=utf-16", "text/plain", "application/xhtml+xml",
                                                  "text/html; charset=\"shift_jis\"", ""]), st.text(max_size=20))
    config = ExtractConfig(max_seconds=5)

    def check(body, content_type, status, record_type):
        raw = {ID: "x", SOURCE: "web", URL: "http://e.com/", BODY: body, CONTENT_TYPE: content_type,
               HTTP_STATUS: status, RECORD_TYPE: record_type, WARC_DATE: None}
        doc, reason = extract_record(raw, config)
        assert isinstance(doc["text"], str)
        doc["text"].encode("utf-8")  # must be serialisable
    return st.tuples(html, ctype, st.sampled_from([None, 200, 404]), st.sampled_from(["response", "resource", "conversion"])), check


def _jsonl_target(tmp):
    from pipelines.ingest.readers import read_jsonl

    path = os.path.join(tmp, "f.jsonl")
    line = st.one_of(st.sampled_from([b'{"text": "a"}', b'{"text": 1}', b'{"text": "\\ud800"}', b"[", b"null", b'{"text": "x", "id": []}',
                                      b'{"text": "x", "url": {}}', b"\x00", b'"s"', b"{}"]), st.binary(max_size=50))

    def check(lines):
        with open(path, "wb") as fh:
            fh.write(b"\n".join(lines))
        for status, value in read_jsonl(path):
            assert status in ("kept", "error", "warned")
            if status == "kept":
                for key in ("id", "text", "url"):
                    if value.get(key) is not None:
                        value[key].encode("utf-8")
            elif status == "error":
                assert value["input_offset"] is not None
    return st.tuples(st.lists(line, max_size=20)), check


def fuzz(name, make, budget_s=BUDGET_S):
    crashes = []
    tried = 0
    with tempfile.TemporaryDirectory() as tmp:
        strategy, check = make(tmp)

        def counted(args):
            nonlocal tried
            tried += 1
            check(*args)

        start = time.perf_counter()
        while time.perf_counter() - start < budget_s:
            test = settings(max_examples=200, deadline=None, database=None, derandomize=False,
                            suppress_health_check=list(HealthCheck))(given(strategy)(counted))
            try:
                test()
            except (Exception, HypothesisException) as exc:  # one crash per round: record it, go on
                crashes.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
                traceback.print_exc()
        return {"target": name, "examples": tried, "seconds": round(time.perf_counter() - start, 1),
                "crashes": len(crashes), "first": crashes[0] if crashes else ""}


def run() -> str:
    rows = [fuzz("archive reader (read_archive)", _archive_target),
            fuzz("charset + extraction (extract_record)", _extract_target),
            fuzz("JSONL reader (read_jsonl)", _jsonl_target)]
    lines = ["| target | examples tried | seconds | crashes | first crash |", "|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['target']} | {r['examples']} | {r['seconds']} | {r['crashes']} | {r['first'] or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
