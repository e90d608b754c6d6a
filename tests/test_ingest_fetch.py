"""The crawler's Beam-free parts without a pipeline: robots.txt Crawl-delay, the address check, one fetch against a
real HTTP server on 127.0.0.1 (status, body cap, content-type allowlist, retries, the loopback refusal), why a seed
was not fetched, link extraction, and the WARC records written for a fetch (read back with warcio)."""
from __future__ import annotations

import http.server
import io
import threading
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipelines.ingest.fetch import (USER_AGENT, CrawlConfig, Crawler, CrawlReport, Fetch, RobotsRules, host_of,
                                    host_safe_name, is_public_address, seed_refusal_detail)
from pipelines.ingest.links import extract_links
from pipelines.ingest.warc_writer import WarcRecorder

PAGE = b"<html><body><p>A page.</p></body></html>"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    hits: Counter = Counter()

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="text/html"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.hits[self.path] += 1
        self.hits["user-agent " + self.headers.get("User-Agent", "")] += 1
        if self.path == "/page":
            return self.send(200, PAGE)
        if self.path == "/big":
            return self.send(200, b"x" * 1000)
        if self.path == "/image.png":
            return self.send(200, b"\x89PNG" + b"\x00" * 100, "image/png")
        if self.path == "/down":
            return self.send(503, b"unavailable", "text/plain")
        return self.send(404, b"not here", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def crawler(sleeps=None, **kw):
    config = CrawlConfig(**{"delay": 0, "allow_private": True, "retries": 0, **kw})
    return Crawler(config, sleep=(sleeps.append if sleeps is not None else lambda s: None))


# --- configuration, hosts, addresses -----------------------------------------------------------------

@pytest.mark.parametrize("limits", [{"max_pages": 0}, {"max_depth": -1}, {"delay": -1}, {"timeout": 0},
                                    {"max_bytes": 0}, {"retries": -1}, {"max_seconds": 0}])
def test_crawl_config_refuses_bad_limits(limits):
    with pytest.raises(ValueError, match="bad crawl limits"):
        CrawlConfig(**limits)


def test_host_and_its_file_name():
    assert host_of("https://Docs.Example.org:8443/a/b?q=1") == "docs.example.org:8443"
    assert host_safe_name("docs.example.org:8443") == "docs.example.org_8443"
    assert host_safe_name("") == "host"


@pytest.mark.parametrize("ip,public", [("93.184.216.34", True), ("127.0.0.1", False), ("10.1.2.3", False),
                                       ("192.168.0.1", False), ("169.254.169.254", False), ("::1", False),
                                       ("fe80::1%eth0", False), ("::ffff:127.0.0.1", False),
                                       ("::ffff:93.184.216.34", True), ("224.0.0.1", False),
                                       ("2606:4700:4700::1111", True)])
def test_public_address(ip, public):
    assert is_public_address(ip) is public


# --- robots.txt ----------------------------------------------------------------------------------------

def test_robots_crawl_delay_prefers_our_group_and_reads_fractions():
    lines = ["User-agent: *", "Crawl-delay: 5", "", "User-agent: OtherBot", "User-agent: WinnowBot",
             "Disallow: /private  # comment", "Crawl-delay: 0.5"]
    assert RobotsRules.parse(lines, USER_AGENT).crawl_delay == 0.5
    assert RobotsRules.parse(lines, "SomeoneElse/1.0").crawl_delay == 5.0


def test_robots_crawl_delay_skips_bad_values_and_may_be_absent():
    assert RobotsRules.parse(["User-agent: *", "Crawl-delay: soon", "Crawl-delay: 2"], USER_AGENT).crawl_delay == 2.0
    assert RobotsRules.parse(["User-agent: *", "Disallow: /"], USER_AGENT).crawl_delay is None
    assert RobotsRules.parse([], USER_AGENT).crawl_delay is None


# --- one fetch -----------------------------------------------------------------------------------------

def test_fetch_records_the_answer_and_our_request_headers(server):
    fetch = crawler().fetch(server + "/page", depth=2)
    assert (fetch.status, fetch.body, fetch.depth, fetch.truncated, fetch.error) == (200, PAGE, 2, False, None)
    assert fetch.content_type == "text/html"
    assert ("User-Agent", USER_AGENT) in fetch.request_headers
    assert Handler.hits["user-agent " + USER_AGENT] >= 1


def test_fetch_keeps_an_error_answer_as_a_response(server):
    fetch = crawler().fetch(server + "/missing")
    assert (fetch.status, fetch.body, fetch.error) == (404, b"not here", None)


def test_fetch_caps_the_body_and_marks_it_truncated(server):
    fetch = crawler(max_bytes=100).fetch(server + "/big")
    assert fetch.status == 200 and fetch.body == b"x" * 100 and fetch.truncated


def test_fetch_skips_bodies_of_other_media_types(server):
    fetch = crawler().fetch(server + "/image.png")
    assert (fetch.status, fetch.skipped, fetch.body) == (200, "content_type", b"")


def test_fetch_retries_a_5xx_with_doubling_backoff(server):
    sleeps = []
    before = Handler.hits["/down"]
    fetch = crawler(sleeps, retries=2, backoff=0.5).fetch(server + "/down")
    assert fetch.status == 503 and fetch.attempts == 3 and Handler.hits["/down"] - before == 3
    assert sleeps == [0.5, 1.0]


def test_fetch_refuses_loopback_by_default_without_retrying(server):
    sleeps = []
    before = Handler.hits["/page"]
    fetch = crawler(sleeps, allow_private=False, retries=2).fetch(server + "/page")
    assert fetch.status is None and fetch.attempts == 1 and sleeps == []
    assert fetch.error.startswith("PrivateAddressError: refused 127.0.0.1") and "--allow-private" in fetch.error
    assert Handler.hits["/page"] == before


def test_fetch_of_a_closed_port_is_an_error_not_a_response():
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    try:
        fetch = crawler().fetch(f"http://127.0.0.1:{closed.getsockname()[1]}/")
    finally:
        closed.close()
    assert fetch.status is None and "Connection refused" in fetch.error


# --- why a seed was not fetched ----------------------------------------------------------------------------

def test_seed_refusal_detail_names_the_cause():
    seed = "http://h.test/page#top"
    robots = "http://h.test/robots.txt"
    report = CrawlReport(fetches=[Fetch(url=robots, depth=0, error="URLError: <urlopen error refused>")])
    assert seed_refusal_detail(report, seed, "robots") == (
        "robots.txt unreachable (URLError: <urlopen error refused>), which disallows everything (RFC 9309)")
    report = CrawlReport(fetches=[Fetch(url=robots, depth=0, status=503)])
    assert seed_refusal_detail(report, seed, "robots") == "robots.txt answered 503, which disallows everything (RFC 9309)"
    report = CrawlReport(fetches=[Fetch(url=robots, depth=0, status=200)])
    assert seed_refusal_detail(report, seed, "robots") == "robots.txt disallows it for WinnowBot"
    report = CrawlReport(fetches=[Fetch(url="http://h.test/page", depth=0, error="TimeoutError: too slow")])
    assert seed_refusal_detail(report, seed, "error") == "TimeoutError: too slow"
    assert seed_refusal_detail(CrawlReport(), seed, "max_pages") == "--max-pages was reached before it"


# --- links -----------------------------------------------------------------------------------------------

def test_extract_links_follows_base_and_skips_nofollow_fragments_and_other_schemes():
    html = ("<base href='/docs/'><a href='a.html#part'>a</a><a href='a.html'>again</a>"
            "<a rel='Nofollow' href='b.html'>b</a><area href='https://other.org/c'>"
            "<a href='mailto:x@h.test'>m</a><a href='javascript:void(0)'>j</a><a>no href</a>")
    assert extract_links(html, "http://h.test/index.html") == ["http://h.test/docs/a.html", "https://other.org/c"]


# --- WARC records ------------------------------------------------------------------------------------------

def _warc_of(fetches):
    buf = io.BytesIO()
    recorder = WarcRecorder(buf)
    for fetch in fetches:
        recorder.write(fetch)
    return recorder.records, buf.getvalue()


def test_warc_recorder_writes_a_request_and_response_per_answer():
    page = Fetch(url="http://h.test/p?q=1", depth=0, status=200, reason="OK", body=b"x" * 10, truncated=True,
                 headers=[("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
                 request_headers=[("User-Agent", USER_AGENT)])
    failed = Fetch(url="http://h.test/gone", depth=0, error="TimeoutError: too slow")
    skipped = Fetch(url="http://h.test/i.png", depth=0, status=200, skipped="content_type")
    count, data = _warc_of([page, failed, skipped])
    assert count == 3
    records, payloads = [], []
    for record in ArchiveIterator(io.BytesIO(data)):  # a stream: each payload is read before the next record
        records.append(record)
        payloads.append(record.content_stream().read())
    assert [r.rec_type for r in records] == ["warcinfo", "request", "response"]
    request, response = records[1], records[2]
    assert request.http_headers.protocol == "GET" and "/p?q=1" in request.http_headers.statusline
    assert request.http_headers.get_header("Host") == "h.test"
    assert request.rec_headers.get_header("WARC-Concurrent-To") == response.rec_headers.get_header("WARC-Record-ID")
    assert response.rec_headers.get_header("WARC-Target-URI") == "http://h.test/p?q=1"
    assert response.rec_headers.get_header("WARC-Truncated") == "length"
    # The wire header is renamed: the stored payload is already de-chunked.
    assert response.http_headers.get_header("Transfer-Encoding") is None
    assert response.http_headers.get_header("X-Crawler-Transfer-Encoding") == "chunked"
    assert payloads[2] == b"x" * 10


def test_warc_record_ids_follow_what_was_fetched():
    page = Fetch(url="http://h.test/", depth=0, status=200, reason="OK", body=PAGE,
                 headers=[("Content-Type", "text/html")])
    ids = []
    for fetches in ([page], [page], [Fetch(**{**page.__dict__, "body": PAGE + b" "})]):
        _, data = _warc_of(fetches)
        ids.append([r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(io.BytesIO(data))][1:])
    assert ids[0] == ids[1] and ids[0][0] != ids[0][1]
    assert set(ids[2]).isdisjoint(ids[0])
