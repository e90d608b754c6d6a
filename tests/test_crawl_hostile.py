"""The crawler against servers that answer oddly but legally (or nearly): real sockets on 127.0.0.1, real WARCs.

Each test failed before its fix: a robots.txt behind a redirect refused the whole site, a UTF-8 BOM hid the
first group, `*`/`$` in rules and whole-token user-agent matching were ignored (urllib.robotparser), a body
cut short of its Content-Length was archived as a whole page, `nan`/`inf` limits were accepted, one URL
spelled two ways was fetched twice, a gzipped page's links were never followed, and `--retries` said it
retried 429/5xx only.
"""
from __future__ import annotations

import gzip
import logging
import socket
import time
from collections import Counter

import pytest

from pipelines.ingest.fetch import CrawlConfig, Crawler, seed_refusal_detail
from pipelines.jobs.crawl import main as crawl_main
from pipelines.transforms.crawl import crawl_host_to_warc
from tests.loopback import RawSocketServer


def page(*links: str) -> bytes:
    return (b"<html><body><p>Hello from loopback.</p>"
            + b"".join(b"<a href='%s'>l</a>" % link.encode() for link in links) + b"</body></html>")


def answer(status: str, body: bytes = b"", headers=(), length=None) -> bytes:
    """Raw HTTP/1.1 answer bytes; `length` overrides the Content-Length sent (a lying server)."""
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body) if length is None else length}",
            "Connection: close"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def html(body: bytes, headers=()) -> bytes:
    return answer("200 OK", body, [("Content-Type", "text/html")] + list(headers))


def robots(text: bytes) -> bytes:
    return answer("200 OK", text, [("Content-Type", "text/plain")])


class RawServer(RawSocketServer):
    """Answers each path (query included) with fixed raw bytes (or calls `route(conn)`) and closes; unknown
    paths get a small page.
    Raw sockets, so it can send what http.server would not (a Content-Length it does not keep)."""

    def __init__(self):
        self.routes = {}
        self.hits: Counter = Counter()
        self.running = True
        super().__init__()

    def serving(self) -> bool:
        return self.running

    def answer(self, conn, path: str) -> None:
        self.hits[path] += 1
        default = answer("404 Not Found", b"no robots", [("Content-Type", "text/plain")]) \
            if path == "/robots.txt" else html(page())
        route = self.routes.get(path, default)
        route(conn) if callable(route) else conn.sendall(route)


@pytest.fixture()
def server():
    srv = RawServer()
    yield srv
    srv.running = False
    srv.thread.join(2)


def crawl(seeds, sleep=None, **kw):
    fetched = []
    config = CrawlConfig(**{"delay": 0, "max_depth": 0, "retries": 0, "allow_private": True, **kw})
    crawler = Crawler(config, sleep=sleep) if sleep is not None else Crawler(config)
    report = crawler.crawl(seeds, fetched.append)
    return report, fetched


# --- 1. robots.txt behind redirects ------------------------------------------------------------------------------

def test_a_robots_txt_behind_a_redirect_is_followed_and_its_rules_apply(server, tmp_path, caplog):
    server.routes["/robots.txt"] = answer("301 Moved Permanently", headers=[("Location", "/robots2.txt")])
    server.routes["/robots2.txt"] = robots(b"User-agent: *\nDisallow: /private\n")
    seeds = [server.url + "/page", server.url + "/private/x"]
    with caplog.at_level(logging.WARNING, logger="pipelines.transforms.crawl"):
        crawl_host_to_warc(seeds, str(tmp_path), CrawlConfig(delay=0, max_depth=0, retries=0, allow_private=True))
    assert server.hits["/page"] == 1 and server.hits["/private/x"] == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "pipelines.transforms.crawl"]
    assert lines == [f"crawl: seed {server.url}/private/x not fetched (robots): robots.txt disallows it for "
                     f"WinnowBot (robots.txt redirected to {server.url}/robots2.txt)"], lines


def test_a_robots_txt_redirecting_past_five_hops_is_unavailable_and_allows_everything(server):
    for n in range(10):
        server.routes["/robots.txt" if n == 0 else f"/r{n}"] = answer("302 Found", headers=[("Location", f"/r{n + 1}")])
    report, fetched = crawl([server.url + "/page"])
    assert report.seed_outcomes == {server.url + "/page": "kept"}
    assert [f.url.rsplit("/", 1)[1] for f in fetched] == ["robots.txt", "r1", "r2", "r3", "r4", "r5", "page"]


def test_a_robots_redirect_to_a_5xx_disallows_everything_and_the_reason_says_so(server):
    server.routes["/robots.txt"] = answer("302 Found", headers=[("Location", "/down")])
    server.routes["/down"] = answer("503 Service Unavailable", b"busy")
    report, _ = crawl([server.url + "/page"])
    assert report.seed_outcomes == {server.url + "/page": "robots"} and server.hits["/page"] == 0
    assert seed_refusal_detail(report, server.url + "/page", "robots") == (
        f"robots.txt answered 503 (robots.txt redirected to {server.url}/down), which disallows everything "
        "(RFC 9309)")


# --- 2. a UTF-8 BOM ----------------------------------------------------------------------------------------------

def test_a_robots_txt_starting_with_a_bom_is_obeyed(server):
    server.routes["/robots.txt"] = robots(b"\xef\xbb\xbfUser-agent: *\nDisallow: /\n")
    report, _ = crawl([server.url + "/page"])
    assert report.seed_outcomes == {server.url + "/page": "robots"} and server.hits["/page"] == 0


def test_invalid_utf8_in_robots_txt_spoils_only_its_own_line(server):
    server.routes["/robots.txt"] = robots(b"# \xff\xfe caf\xe9\nUser-agent: *\nDisallow: /private\n")
    report, _ = crawl([server.url + "/page", server.url + "/private"])
    assert report.seed_outcomes == {server.url + "/page": "kept", server.url + "/private": "robots"}


# --- 3. RFC 9309 matching ----------------------------------------------------------------------------------------

def test_wildcards_and_end_anchors_in_rules(server):
    server.routes["/robots.txt"] = robots(b"User-agent: *\nDisallow: /*1\nDisallow: /dup$\n")
    seeds = [server.url + p for p in ("/d1", "/a/b1/c", "/dup", "/dup/x", "/d2")]
    report, _ = crawl(seeds)
    assert [report.seed_outcomes[s] for s in seeds] == ["robots", "robots", "robots", "kept", "kept"]
    assert server.hits["/d1"] == server.hits["/dup"] == 0


def test_the_longest_rule_wins_and_allow_wins_a_tie(server):
    server.routes["/robots.txt"] = robots(b"User-agent: *\nDisallow: /\nAllow: /pub\nDisallow: /pub/x\n"
                                          b"Allow: /tie\nDisallow: /tie\n")
    seeds = [server.url + p for p in ("/pub/a", "/pub/x", "/tie", "/other")]
    report, _ = crawl(seeds)
    assert [report.seed_outcomes[s] for s in seeds] == ["kept", "robots", "kept", "robots"]


def test_user_agent_groups_match_the_whole_product_token_only(server):
    # `bot` and `nnowb` are parts of WinnowBot, not its name: only the `*` group applies to us.
    server.routes["/robots.txt"] = robots(b"User-agent: bot\nDisallow: /\n\nUser-agent: nnowb\nCrawl-delay: 4\n"
                                          b"Disallow: /\n\nUser-agent: *\nAllow: /\n")
    sleeps = []
    report, _ = crawl([server.url + "/page", server.url + "/next"], sleep=sleeps.append)
    assert set(report.seed_outcomes.values()) == {"kept"}
    assert all(s < 1 for s in sleeps), sleeps


def test_our_group_is_found_case_insensitively_and_replaces_the_star_group(server):
    server.routes["/robots.txt"] = robots(b"User-agent: *\nDisallow: /\n\nUser-agent: winnowbot/2.0\n"
                                          b"Disallow: /private\n")
    report, _ = crawl([server.url + "/page", server.url + "/private"])
    assert report.seed_outcomes == {server.url + "/page": "kept", server.url + "/private": "robots"}


def test_robots_rules_unit():
    from pipelines.ingest.fetch import RobotsRules, robots_pattern_matches

    assert robots_pattern_matches("/*.php$", "/a/b.php") and not robots_pattern_matches("/*.php$", "/a.php?x")
    assert robots_pattern_matches("/a*b*c", "/aXbYcZ") and not robots_pattern_matches("/a*b*c", "/aXcYb")
    assert robots_pattern_matches("/", "/anything") and robots_pattern_matches("/x$", "/x")
    assert not robots_pattern_matches("/x$", "/xy")
    # linear, not a backtracking regex: a hostile pattern on a long path returns at once
    start = time.monotonic()
    assert not robots_pattern_matches("/" + "*a" * 200 + "b", "/" + "a" * 20000)
    assert time.monotonic() - start < 1
    rules = RobotsRules.parse(["User-agent: *", "Disallow: /%7Efoo", "Disallow: /caf\u00e9"], "WinnowBot/0.1")
    assert not rules.allows("http://h/~foo/x") and not rules.allows("http://h/caf%C3%A9")
    assert rules.allows("http://h/robots.txt")
    assert RobotsRules.parse(["Disallow: /", "User-agent: *", "Allow: /"], "WinnowBot/0.1").allows("http://h/x")


# --- 4. a body cut short of its Content-Length -------------------------------------------------------------------

def test_a_body_short_of_its_content_length_is_a_failed_fetch_like_a_cut_chunked_body(server, tmp_path):
    body = page()
    server.routes["/short"] = answer("200 OK", body, [("Content-Type", "text/html")], length=len(body) + 5000)
    server.routes["/chunk-cut"] = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
                                   b"Connection: close\r\n\r\n%x\r\n" % (len(body) + 1000) + body)
    report, fetched = crawl([server.url + "/short", server.url + "/chunk-cut", server.url + "/whole"])
    by_path = {f.url.rsplit("/", 1)[1]: f for f in fetched}
    for name in ("short", "chunk-cut"):
        assert by_path[name].status is None and by_path[name].body == b"", name
        assert by_path[name].error.startswith("IncompleteRead: IncompleteRead("), by_path[name].error
    assert "5000 more expected" in by_path["short"].error
    assert by_path["whole"].status == 200
    assert report.seed_outcomes[server.url + "/short"] == "error"
    # and nothing of it is archived
    paths = crawl_host_to_warc([server.url + "/short"], str(tmp_path),
                               CrawlConfig(delay=0, max_depth=0, retries=0, allow_private=True))
    assert b"/short" not in gzip.open(paths[0]).read()


def test_a_body_over_the_cap_is_still_truncated_not_failed(server):
    body = page() + b"x" * 5000
    server.routes["/big"] = answer("200 OK", body, [("Content-Type", "text/html")])
    _, fetched = crawl([server.url + "/big"], max_bytes=1000)
    big = [f for f in fetched if f.url.endswith("/big")][0]
    assert big.status == 200 and big.truncated and len(big.body) == 1000


# --- 5. non-finite limits ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--max-seconds", "nan"), ("--max-seconds", "inf"), ("--delay", "inf"),
                                          ("--delay", "nan"), ("--timeout", "inf"), ("--timeout", "nan")])
def test_non_finite_limits_are_usage_errors_naming_the_option(option, value, tmp_path, capsys):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # never listening: should the option pass, the crawl ends at once
    try:
        with pytest.raises(SystemExit) as exit_:
            crawl_main(["--seeds", f"http://127.0.0.1:{closed.getsockname()[1]}/", "--output", str(tmp_path / "w"),
                        "--allow-private", "--retries", "0", option, value])
    finally:
        closed.close()
    assert exit_.value.code == 2
    assert f"argument {option}: {value!r} is not a finite number of seconds" in capsys.readouterr().err


def test_a_limit_past_a_day_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        crawl_main(["--seeds", "http://127.0.0.1:9/", "--output", str(tmp_path / "w"), "--max-seconds", "1e12"])
    assert "argument --max-seconds: 1e12 is over 86400 seconds (a day)" in capsys.readouterr().err


@pytest.mark.parametrize("field", ["delay", "timeout", "max_seconds", "backoff"])
def test_crawl_config_refuses_non_finite_limits(field):
    for value in (float("nan"), float("inf"), 1e12):
        with pytest.raises(ValueError, match="must be finite"):
            CrawlConfig(**{field: value})


# --- 6. one URL, several spellings -------------------------------------------------------------------------------

def test_spellings_of_one_url_are_fetched_once(server, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    upper = server.url.replace("http://", "HTTP://")
    server.routes["/"] = html(page("/d1", "/%641", f"{upper}/d1", "/%64%31?", "/d%31#frag", "/D1"))
    seeds = [server.url + "/", f"{upper}/%64%31"]
    paths = crawl_host_to_warc(seeds, str(tmp_path), CrawlConfig(delay=0, max_depth=1, retries=0,
                                                                  allow_private=True))
    assert server.hits["/d1"] == 1 and server.hits["/D1"] == 1 and server.hits["/robots.txt"] == 1
    assert sum(n for p, n in server.hits.items() if p != "/robots.txt") == 3  # /, /d1, /D1
    with open(paths[0], "rb") as fh:
        uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert sorted(uris) == [f"{server.url}/", f"{server.url}/D1", f"{server.url}/d1", f"{server.url}/robots.txt"]


def test_url_normalisation_unit():
    from pipelines.ingest.fetch import host_of, normalize_url

    assert normalize_url("HTTP://Example.COM:80/%7Ea/%2Fb?q=%41&r=%2F#f") == "http://example.com/~a/%2Fb?q=A&r=%2F"
    assert normalize_url("https://example.com:443") == "https://example.com/"
    # escapes in one case (RFC 3986 6.2.2.1), and what a browser encodes before sending: space, non-ASCII
    assert normalize_url("https://example.com:8443/%e2%82%ac") == "https://example.com:8443/%E2%82%AC"
    assert normalize_url("http://h/a%2fb") == normalize_url("http://h/a%2Fb") == "http://h/a%2Fb"
    assert normalize_url("http://h/a b.html?q=c d") == "http://h/a%20b.html?q=c%20d"
    assert normalize_url("http://h/café?é") == "http://h/caf%C3%A9?%C3%A9"
    assert normalize_url("http://h/100%/x|y") == "http://h/100%/x|y"  # a lone % and | are sent as they are
    # dot segments (RFC 3986 5.2.4) and an internationalised host in its punycode form
    assert normalize_url("http://h/a/./b/../c/.") == "http://h/a/c/"
    assert normalize_url("http://h/../x") == "http://h/x"
    assert normalize_url("http://Café.example/") == normalize_url("http://xn--caf-dma.example/") == \
        "http://xn--caf-dma.example/"
    assert normalize_url("http://user@[::1]:80/x") == "http://user@[::1]/x"
    assert host_of("HTTP://Example.com:80/x") == host_of("http://example.com/y") == "example.com"
    assert host_of("https://example.com:80/") == "example.com:80"


# --- 7. gzipped pages --------------------------------------------------------------------------------------------

def test_links_of_a_gzipped_page_are_followed(server):
    server.routes["/gz"] = html(gzip.compress(page("/gz-link")), [("Content-Encoding", "gzip")])
    server.routes["/bad-gz"] = html(b"\x1f\x8b\x08\x00not gzip at all", [("Content-Encoding", "gzip")])
    report, fetched = crawl([server.url + "/gz", server.url + "/bad-gz"], max_depth=1)
    assert server.hits["/gz-link"] == 1
    assert report.seed_outcomes[server.url + "/bad-gz"] == "kept"  # archived as sent; no links to follow


def test_a_gzip_bomb_is_inflated_only_up_to_the_body_cap():
    from pipelines.ingest.fetch import Fetch

    bomb = gzip.compress(b"<a href='/x'>x</a>" + b" " * (64 << 20))
    fetch = Fetch(url="http://h.test/", depth=0, status=200, body=bomb,
                  headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
    assert list(Crawler._next_urls(fetch, 10, 1 << 20)) == ["http://h.test/x"]


# --- 8. what --retries retries -----------------------------------------------------------------------------------

def test_retries_help_says_failed_fetches_are_retried_too(server, capsys):
    with pytest.raises(SystemExit):
        crawl_main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "retries after a 429 or 5xx answer or a fetch with no answer (refused, reset, timed out)" in help_text
    # and that is what it does: a timed-out fetch is tried again
    server.routes["/hang"] = lambda conn: (conn.sendall(b"HTTP/1.1 200 OK\r\n"), time.sleep(2))  # then silence
    _, fetched = crawl([server.url + "/hang"], retries=1, backoff=0, timeout=0.3, max_seconds=5)
    hang = [f for f in fetched if f.url.endswith("/hang")][0]
    assert hang.status is None and hang.attempts == 2 and server.hits["/hang"] == 2



def test_the_crawler_archives_what_extraction_reads(server):
    """A 200 with no Content-Type is archived and its links followed (extraction sniffs it as HTML; the crawler
    dropped it, and the pages it linked to); a text/plain page is not downloaded (it was archived, then every one
    dropped by extraction as `content_type`)."""
    untyped = b"<!doctype html><html><body><p>untyped</p><a href='/after'>n</a><a href='/notes.txt'>t</a></body></html>"
    server.routes["/"] = answer("200 OK", untyped)
    server.routes["/after"] = html(page())
    server.routes["/notes.txt"] = answer("200 OK", b"plain notes " * 50, [("Content-Type", "text/plain")])
    report, fetched = crawl([server.url + "/"], max_depth=1)
    by_path = {f.url[len(server.url):]: f for f in fetched}
    assert by_path["/"].body == untyped and by_path["/after"].status == 200, sorted(by_path)
    assert by_path["/notes.txt"].skipped == "content_type" and not by_path["/notes.txt"].body


# --- 8. links that do not parse, failing links, huge link lists, odd robots.txt (an audit's findings) ------------

def test_a_link_or_location_that_does_not_parse_is_skipped_and_the_crawl_goes_on(server, tmp_path):
    """`http://[oops/` in a link, a <base> or a Location raised ValueError out of the crawl: the job failed and
    every WARC file of the host was deleted."""
    server.routes["/"] = html(page("http://[oops/", "/ok"))
    server.routes["/based"] = html(b"<base href='http://[x'><a href='rel'>r</a>")
    server.routes["/moved"] = answer("302 Found", headers=[("Location", "http://[x/")])
    seeds = [server.url + "/", server.url + "/based", server.url + "/moved"]
    paths = crawl_host_to_warc(seeds, str(tmp_path), CrawlConfig(delay=0, max_depth=1, retries=0,
                                                                 allow_private=True))
    assert server.hits["/ok"] == 1 and server.hits["/rel"] == 1  # <base> unusable: the page's own URL is the base
    from warcio.archiveiterator import ArchiveIterator

    with open(paths[0], "rb") as fh:
        archived = {r.rec_headers.get_header("WARC-Target-URI"): r.http_headers.get_statuscode()
                    for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert archived[server.url + "/moved"] == "302"  # the redirect is archived once, not retried as a failure
    assert server.hits["/moved"] == 1


def test_failed_fetches_count_toward_max_pages_and_unsendable_urls_are_not_retried(server):
    """Only fetches with an HTTP answer counted, and each failure was retried: max_pages=2 made 91 requests."""
    def reset(conn):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    server.routes["/"] = html(page(*[f"/bad{i}" for i in range(20)]))
    for i in range(20):
        server.routes[f"/bad{i}"] = reset
    report, fetched = crawl([server.url + "/"], max_depth=1, max_pages=3, retries=1, backoff=0)
    pages = [f for f in fetched if not f.url.endswith("/robots.txt")]
    assert len(pages) == 3 and sum(server.hits[f"/bad{i}"] for i in range(20)) == 2 * 2  # 2 failures, 2 attempts
    assert Crawler(CrawlConfig(retries=3, backoff=0, allow_private=True)).fetch("http://h:99999/").attempts == 1


def test_the_frontier_holds_no_more_urls_than_can_be_fetched(server):
    from pipelines.ingest import fetch as fetch_module

    server.routes["/"] = html(page(*[f"/p{i}" for i in range(3000)]))
    crawler = Crawler(CrawlConfig(delay=0, max_depth=1, max_pages=5, retries=0, allow_private=True))
    old = fetch_module.FRONTIER_SLACK
    fetch_module.FRONTIER_SLACK = 100
    try:
        report = crawler.crawl([server.url + "/"], lambda f: None)
    finally:
        fetch_module.FRONTIER_SLACK = old
    assert report.frontier_full == 3000 - (5 - 1 + 100) and len(report.fetches) == 1 + 5  # robots.txt + 5 pages


def test_refused_links_stop_at_a_budget_and_robots_rules_are_indexed(server):
    from pipelines.ingest.fetch import MIN_REFUSED, RobotsRules, robots_pattern_matches

    server.routes["/robots.txt"] = robots(b"User-agent: *\nDisallow: /d\n")
    server.routes["/"] = html(page(*[f"/d{i}" for i in range(MIN_REFUSED + 50)], "/after"))
    report, fetched = crawl([server.url + "/"], max_depth=1, max_pages=5)
    assert report.robots_refused == MIN_REFUSED and server.hits["/after"] == 0  # the host's crawl stopped there
    # the indexed matcher decides as a scan of every rule does (longest wins, Allow wins a tie)
    rules = RobotsRules.parse(["User-agent: *", "Disallow: /a", "Allow: /a/b", "Disallow: /a/b$", "Allow: /*.html$",
                               "Disallow: /*/private/*", "Allow: /a/x", "Disallow: /a/x", "Disallow: /q?*"], "bot")
    for path in ("/a", "/a/b", "/a/b/c", "/a/x/y", "/z/private/p.html", "/p.html", "/z/private/q", "/q?x=1", "/q",
                 "/robots.txt", "/"):
        best = None
        for pattern, allow in rules.rules:
            if robots_pattern_matches(pattern, path) and (best is None or (len(pattern), allow) > best):
                best = (len(pattern), allow)
        assert rules.allows("http://h" + path) == (best is None or best[1] or path == "/robots.txt"), path


@pytest.mark.parametrize("encoding, body", [("compress", b"User-agent: *\nDisallow: /\n"),
                                            ("gzip", b"\x1f\x8b\x08\x00corrupt")])
def test_a_robots_txt_whose_encoding_does_not_decode_is_not_an_empty_one(server, encoding, body):
    """Read as empty it allowed everything: plain text under an unknown coding is read as sent, bytes that do not
    decode disallow everything (no robots.txt could be read)."""
    server.routes["/robots.txt"] = answer("200 OK", body, [("Content-Type", "text/plain"),
                                                           ("Content-Encoding", encoding)])
    report, _ = crawl([server.url + "/secret"])
    assert server.hits["/secret"] == 0 and report.seed_outcomes[server.url + "/secret"] == "robots"


def test_the_delay_runs_from_the_end_of_the_previous_response(server):
    def slow(conn):
        time.sleep(0.3)
        conn.sendall(html(page()))

    server.routes["/a"] = slow
    waits = []
    crawl([server.url + "/a", server.url + "/b"], sleep=waits.append, delay=0.5)
    assert waits and all(0.45 < w <= 0.5 for w in waits), waits  # not 0.5 - 0.3 after the slow answer


def test_seeds_file_with_bom_and_comments(tmp_path):
    from pipelines.jobs.crawl import read_seed_args
    from schemas.errors import WinnowError

    seeds = tmp_path / "seeds.txt"
    seeds.write_bytes("\ufeffhttp://a.example/ # the first\n# a comment\n\nhttp://b.example/#frag\n".encode("utf-8"))
    assert read_seed_args([str(seeds)]) == ["http://a.example/", "http://b.example/#frag"]
    seeds.write_bytes(b"http://caf\xe9.example/\n")
    with pytest.raises(WinnowError, match="seeds.txt: not UTF-8"):
        read_seed_args([str(seeds)])
    assert crawl_main(["--seeds", "http://h:99999/", "--output", str(tmp_path / "o")]) == 2
