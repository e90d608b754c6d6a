"""The crawler's per-response deadline and its account of refused seeds (issue 16, items 4 and 8).

A real server on 127.0.0.1 trickles one byte at a time, faster than the per-read socket timeout, through the
status line, a header, a chunk-size line or the body. The response must be cut off at `max_seconds` from
connect to last byte whichever part trickles, and recorded as a failed fetch. The server stops itself after
`LIFETIME` seconds, so a crawler without the limit makes the test fail instead of hanging it.

A crawl whose every seed is refused (private address, robots.txt, no answer) says why in one WARNING line at
the default log level, naming what to change.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.ingest.fetch import CrawlConfig, Crawler
from pipelines.jobs.crawl import main as crawl_main
from tests.loopback import RawSocketServer

REPO = Path(__file__).resolve().parents[1]
LIFETIME = 20.0   # the trickling server closes everything after this long
TRICKLE = 0.2     # seconds between bytes: well under the per-read timeout, so only a total deadline stops it
READ_TIMEOUT = 2.0
MAX_SECONDS = 1.5
SLACK = 3.0

# Each path: what is sent at once, then what is sent one byte per TRICKLE (repeated until LIFETIME).
RESPONSES = {
    "/robots.txt": (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", b""),
    "/status": (b"", b"HTTP/1.1 200 OK"),
    "/header": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Slow: ", b"abcdefghij"),
    "/chunk": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5", b"0000000"),
    "/body": (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n", b"<p>x</p>"),
}


class TricklingServer(RawSocketServer):
    """A loopback HTTP/1.1 server, one thread per connection, that stops itself after LIFETIME seconds."""

    conn_timeout = LIFETIME

    def __init__(self, robots: bytes = b""):
        self.robots = robots
        self.stop_at = time.monotonic() + LIFETIME
        super().__init__()

    def serving(self) -> bool:
        return time.monotonic() < self.stop_at

    def answer(self, conn, path: str) -> None:
        if path == "/robots.txt" and self.robots:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(self.robots), self.robots))
            return
        head, trickle = RESPONSES.get(path, (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                             b"Content-Length: 13\r\nConnection: close\r\n\r\n<p>hello</p>\n", b""))
        conn.sendall(head)  # an OSError (the crawler hung up: that is the point) ends the connection
        i = 0
        while trickle and time.monotonic() < self.stop_at:
            conn.sendall(trickle[i % len(trickle):i % len(trickle) + 1])
            i += 1
            time.sleep(TRICKLE)


@pytest.fixture()
def trickling():
    server = TricklingServer()
    yield server
    server.stop_at = 0


@pytest.mark.parametrize("path", ["/status", "/header", "/chunk", "/body"])
def test_a_trickling_response_is_cut_off_at_the_total_deadline(trickling, path):
    fetched = []
    config = CrawlConfig(delay=0, max_depth=0, retries=0, allow_private=True, timeout=READ_TIMEOUT,
                         max_seconds=MAX_SECONDS)
    start = time.monotonic()
    report = Crawler(config).crawl([trickling.url + path], fetched.append)
    seconds = time.monotonic() - start
    assert seconds < MAX_SECONDS + SLACK, f"{path}: the crawl took {seconds:.1f}s"
    page = [f for f in fetched if f.url.endswith(path)]
    assert len(page) == 1 and page[0].status is None and page[0].body == b""
    assert page[0].error == f"TimeoutError: response took over {MAX_SECONDS:g}s (connect to last byte)"
    assert report.seed_outcomes == {trickling.url + path: "error"}


def test_winnow_crawl_returns_in_time_and_says_why_nothing_was_fetched(trickling, tmp_path, caplog):
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="pipelines.transforms.crawl"):
        code = crawl_main(["--seeds", trickling.url + "/header", "--output", str(tmp_path / "warc"),
                           "--timeout", str(READ_TIMEOUT), "--max-seconds", str(MAX_SECONDS), "--retries", "0",
                           "--allow-private", "--delay", "0"])
    seconds = time.monotonic() - start
    assert code == 0 and seconds < MAX_SECONDS + 15, seconds  # Beam's own start-up is most of the slack
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("not fetched (error): TimeoutError: response took over 1.5s" in line for line in lines), lines
    assert any(line.startswith("crawl fetched none of its 1 seed(s): 1 error:") and "--max-seconds" in line
               for line in lines), lines


def test_seeds_refused_by_robots_or_unreachable_robots_are_explained(tmp_path, caplog):
    server = TricklingServer(robots=b"User-agent: *\nDisallow: /\n")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"  # bound, never listening: connection refused
    try:
        with caplog.at_level(logging.WARNING, logger="pipelines.transforms.crawl"):
            code = crawl_main(["--seeds", server.url + "/", dead, "--output", str(tmp_path / "warc"),
                               "--retries", "0", "--allow-private", "--delay", "0", "--timeout", "2"])
    finally:
        server.stop_at = 0
        closed.close()
    assert code == 0
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    summary = [line for line in lines if line.startswith("crawl fetched none of its 2 seed(s)")]
    # An unreachable robots.txt disallows everything (RFC 9309), so the dead host is a robots refusal too;
    # its own line says which of the two it was.
    assert len(summary) == 1 and "2 robots: robots.txt disallows it, or robots.txt answered 5xx or not at all" \
        in summary[0], lines
    assert any(f"seed {server.url}/ not fetched (robots): robots.txt disallows it" in line for line in lines)
    assert any(f"seed {dead} not fetched (robots): robots.txt unreachable (URLError" in line
               and "Connection refused" in line for line in lines), lines


def test_private_seeds_are_explained_at_the_default_log_level(tmp_path):
    """The real CLI in a fresh process, no --log-level: the refusal and its fix reach stderr."""
    server = TricklingServer()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; from pipelines.cli import main; sys.exit(main(sys.argv[1:]))",
             "crawl", "--seeds", server.url + "/", "--output", str(tmp_path / "warc"), "--delay", "0"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        server.stop_at = 0
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "crawl fetched none of its 1 seed(s): 1 private_address" in proc.stderr, proc.stderr[-2000:]
    assert "--allow-private" in proc.stderr


def test_link_parsing_of_a_hostile_page_stops_at_the_limit_and_keeps_what_it_found():
    """html.parser is quadratic on unclosed tags (15 KB took 3.3 s); a crawled page is parsed for links
    within the response's time limit, from any thread, and the links found before the bad part are kept."""
    from pipelines.ingest.links import extract_links

    page = "<p><a href='/first'>first</a> <a href='/second'>second</a></p>" + "<a " * 100_000
    out = {}

    def parse():
        start = time.monotonic()
        out["links"] = extract_links(page, "http://example.com/", max_seconds=0.5)
        out["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=parse)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "link parsing ran past 60 s"
    assert out["seconds"] < 0.5 + SLACK, out["seconds"]
    assert out["links"] == ["http://example.com/first", "http://example.com/second"]
