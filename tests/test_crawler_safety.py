"""The crawler against misbehaving servers: real HTTP servers on loopback, real sockets, real WARC output.

Covered: robots.txt disallow and Crawl-delay, a slow (trickling) server, a huge response, a redirect loop,
429 then success (retry with backoff), 5xx retried then recorded, a redirect to a private address, the
content-type allowlist, the default refusal of loopback addresses, and URLs of other schemes than http(s).
"""
from __future__ import annotations

import http.server
import threading
import time
from collections import Counter

import pytest

from pipelines.ingest.fetch import CrawlConfig, Crawler, is_public_address
from pipelines.ingest.inputs import ARCHIVE, InputFile
from pipelines.ingest.readers import read_input_file
from pipelines.ingest.records import BODY, HTTP_STATUS
from pipelines.transforms.crawl import crawl_host_to_warc
from schemas import URL

PAGE = b"<html><body><p>Hello from a loopback server, with <a href='/next'>a link</a>.</p></body></html>"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    hits: Counter = Counter()

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="text/html", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):
        path = self.path
        self.hits[path] += 1
        if path == "/robots.txt":
            return self.send(200, b"User-agent: *\nDisallow: /secret\nCrawl-delay: 0.3\n", "text/plain")
        if path in ("/", "/next", "/secret/page"):
            return self.send(200, PAGE)
        if path == "/slow":  # headers at once, then a byte every 0.2 s for ever
            self.send(200, None)
            try:
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                return
        if path == "/huge":  # an endless body: the crawler must stop at its cap
            self.send(200, None)
            try:
                while True:
                    self.wfile.write(b"<p>" + b"a" * 65533)
            except OSError:
                return
        if path.startswith("/loop"):
            n = int(path[5:] or 0)
            return self.send(302, b"", headers=[("Location", f"/loop{n + 1}")])
        if path == "/busy":
            if self.hits[path] == 1:
                return self.send(429, b"slow down", "text/plain", [("Retry-After", "0")])
            return self.send(200, PAGE)
        if path == "/broken":
            return self.send(503, b"unavailable", "text/plain")
        if path == "/to-private":
            return self.send(301, b"", headers=[("Location", "http://127.0.0.2:%d/" % self.server.server_port)])
        if path == "/image.png":
            return self.send(200, b"\x89PNG" + b"\x00" * 100, "image/png")
        return self.send(404, b"not here", "text/plain")


@pytest.fixture()
def server():
    Handler.hits = Counter()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False  # /slow and /huge handlers never end by themselves
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def crawl(seeds, **kw):
    fetched = []
    config = CrawlConfig(**{"delay": 0, "max_depth": 1, "allow_private": True, "backoff": 0.01, **kw})
    report = Crawler(config).crawl(seeds, fetched.append)
    return report, [f for f in fetched if not f.url.endswith("/robots.txt")]


def test_public_address_check():
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254", "::1", "fe80::1",
               "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "fc00::1"):
        assert not is_public_address(ip), ip
    for ip in ("93.184.216.34", "8.8.8.8", "2606:4700::1111"):
        assert is_public_address(ip), ip


def test_loopback_is_refused_by_default(server):
    report, fetched = crawl([server + "/"], allow_private=False)
    assert report.seed_outcomes == {server + "/": "private_address"}
    assert Handler.hits == Counter()  # not even robots.txt reached the server
    assert all(f.status is None and "non-public address 127.0.0.1" in f.error for f in fetched)


def test_redirect_to_a_private_address_is_refused(server, monkeypatch):
    # Let only 127.0.0.1 through (standing in for a public host) and keep the rest of the check real:
    # the redirect target 127.0.0.2 is loopback and must be refused at connection time.
    import pipelines.ingest.fetch as fetch_module

    real = fetch_module.is_public_address
    monkeypatch.setattr(fetch_module, "is_public_address", lambda ip: ip == "127.0.0.1" or real(ip))
    report, fetched = crawl([server + "/to-private"], allow_private=False, max_depth=2, same_host=False)
    assert [f.status for f in fetched] == [301, None]
    assert fetched[1].url.startswith("http://127.0.0.2:") and "PrivateAddressError" in fetched[1].error


def test_robots_disallow_and_crawl_delay(server):
    start = time.monotonic()
    report, fetched = crawl([server + "/", server + "/secret/page"], max_depth=1)
    assert report.seed_outcomes[server + "/secret/page"] == "robots"
    assert Handler.hits["/secret/page"] == 0 and Handler.hits["/robots.txt"] == 1
    assert [f.url for f in fetched] == [server + "/", server + "/next"]
    assert time.monotonic() - start >= 0.6  # robots.txt, /, /next: two Crawl-delay waits of 0.3 s


def test_slow_server_is_cut_off(server):
    start = time.monotonic()
    report, fetched = crawl([server + "/slow"], max_seconds=1.0, retries=0)
    assert time.monotonic() - start < 5
    assert fetched[0].status is None and "TimeoutError" in fetched[0].error


def test_huge_response_is_capped_and_marked_truncated(server, tmp_path):
    paths = crawl_host_to_warc([server + "/huge"], str(tmp_path),
                               CrawlConfig(delay=0, max_bytes=300_000, allow_private=True, max_depth=0))
    kept = [v for s, v in read_input_file(InputFile(ARCHIVE, paths[0])) if s == "kept" and v[URL].endswith("/huge")]
    assert len(kept) == 1 and len(kept[0][BODY]) == 300_000
    raw = __import__("gzip").open(paths[0]).read()
    assert b"WARC-Truncated: length" in raw


def test_redirect_loop_stops_at_the_limit(server):
    report, fetched = crawl([server + "/loop0"], max_redirects=3, max_depth=1)
    assert [f.url.rsplit("/", 1)[1] for f in fetched] == ["loop0", "loop1", "loop2", "loop3"]
    assert report.redirect_limit == 1


def test_429_then_success_and_5xx_retries(server):
    report, fetched = crawl([server + "/busy", server + "/broken"], retries=2, max_depth=0)
    by_url = {f.url.rsplit("/", 1)[1]: f for f in fetched}
    assert by_url["busy"].status == 200 and by_url["busy"].attempts == 2
    assert by_url["broken"].status == 503 and by_url["broken"].attempts == 3
    assert Handler.hits["/busy"] == 2 and Handler.hits["/broken"] == 3


def test_content_type_allowlist_and_warc_read_back(server, tmp_path):
    paths = crawl_host_to_warc([server + "/", server + "/image.png"], str(tmp_path),
                               CrawlConfig(delay=0, allow_private=True, max_depth=1))
    outcomes = list(read_input_file(InputFile(ARCHIVE, paths[0])))
    kept = [v for s, v in outcomes if s == "kept"]
    assert sorted(r[URL].rsplit("/", 1)[1] for r in kept) == ["", "next", "robots.txt"]  # no image archived
    assert all(r[HTTP_STATUS] == 200 for r in kept)
    assert Counter(s for s, _ in outcomes)["error"] == 0


def test_dns_name_resolving_to_loopback_is_refused(server):
    # `localhost` is a name, not an address: the check must apply to what it resolves to.
    url = server.replace("127.0.0.1", "localhost") + "/"
    report, fetched = crawl([url], allow_private=False)
    assert report.seed_outcomes[url] == "private_address"
    assert Handler.hits == Counter()


@pytest.mark.parametrize("seed", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:70/",
                                  "data:text/html,<p>x</p>", "javascript:alert(1)"])
def test_non_http_schemes_are_never_fetched(server, seed):
    every = []  # every fetch the crawler records, robots.txt included
    report = Crawler(CrawlConfig(delay=0, allow_private=True)).crawl([seed], every.append)
    assert report.seed_outcomes == {seed: "error"}
    assert len(every) == 1 and every[0].url == seed  # not even a robots.txt of that scheme was asked for
    assert every[0].status is None and every[0].body == b"" and "only http and https" in every[0].error
    assert Handler.hits == Counter()


def test_fetch_reads_no_local_file(tmp_path):
    # urllib's default opener reads file: URLs; the crawler's fetch must not
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"do not archive")
    fetch = Crawler(CrawlConfig(delay=0, allow_private=True)).fetch(secret.as_uri())
    assert fetch.body == b"" and fetch.status is None and fetch.error.startswith("UnsupportedScheme")
