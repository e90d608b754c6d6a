"""The crawler's Beam-free fetcher: a small polite breadth-first crawl over HTTP, robots.txt and the address guard.

`Crawler` does a breadth-first crawl from seed URLs: it fetches robots.txt once per host and reads it as
RFC 9309 says (`RobotsRules`: the group whose user-agent is our product token as a whole word, case-insensitive,
else `*`; `*` and `$` in paths; the longest matching rule wins and Allow wins a tie; a UTF-8 BOM is skipped; up
to five redirects are followed; a 4xx, or a redirect chain longer than that, allows everything; a 5xx or an
unreachable one disallows everything), waits `delay` seconds (or the robots Crawl-delay, capped) between
requests to a host (from the end of the previous response), stops at `max_pages` fetches (those that got no
answer included) and `max_depth` link hops, holds at most `FRONTIER_SLACK` URLs beyond the fetches left, stops a
host after `REFUSED_PER_PAGE` x `max_pages` URLs robots.txt refused, follows only http/https links on
the seeds' hosts, skips links that do not parse, normalises every URL that enters the frontier
(`normalize_url`: one spelling of one URL is fetched once, spaces and non-ASCII characters percent-encoded), reads at most `max_bytes` of a body (marking the fetch `truncated`), records a body the server
ended short of its Content-Length as a failed fetch (IncompleteRead, as http.client reports a chunked body
cut short: the server did not send the page, so there is no page to archive), gives each response
`max_seconds` of wall time from connect to last byte (filters.deadline's watchdog shuts the socket down, so a
server that trickles its status line, headers, chunk-size lines or body is cut off however slowly it sends;
the per-read socket `timeout` alone never fires while bytes keep coming), and does not follow
redirects itself: a 3xx is recorded like any response and its Location is queued, so the archive shows
what the server said. Every fetch is handed to the caller's `on_fetch`; fetches that failed below HTTP
(refused, timed out) carry `status=None` and their error. Connections go through an address guard that
refuses hosts resolving to private, loopback or link-local addresses unless `allow_private` is set, on the
address actually connected to (so redirects and changing DNS answers cannot get round it).

Writing the fetches as WARC records is pipelines/ingest/warc_writer.py; the crawl as a Beam job (one host per
worker) is pipelines/transforms/crawl.py and pipelines/jobs/crawl.py.
"""
from __future__ import annotations

import functools
import http.client
import ipaddress
import math
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from filters.deadline import deadline
from pipelines.ingest.archives import decode_content
from pipelines.ingest.links import HTML_TYPES, extract_links, is_html, join_link
from pipelines.ingest.charsets import decode_html

USER_AGENT = "WinnowBot/0.1"
MAX_CRAWL_DELAY = 30.0  # a robots Crawl-delay above this would stall a job; we cap it
MAX_RETRY_AFTER = 60.0  # likewise a Retry-After
# delay, timeout, max_seconds and backoff stop here: --max-seconds 1e12 overflowed the socket timeout (and the
# robots.txt fetch failing so refused the whole host); a day is longer than any crawl wait needs to be
MAX_LIMIT_SECONDS = 86400.0
ROBOTS_PARSE_BYTES = 500 << 10  # RFC 9309 2.5: parse at least 500 KiB; more only multiplies the rules checked per URL
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five; past that robots.txt counts as unavailable
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failed fetches that another attempt cannot change: a refused address, and a URL that cannot be sent
NOT_RETRIED = ("PrivateAddressError", "InvalidURL", "UnicodeEncodeError", "ValueError", "UnsupportedScheme")
# The frontier holds at most this many URLs beyond the fetches left (`max_pages` minus those made): a page's
# links past it are not queued (nor marked seen, so a later page may queue them). Every link of every page was
# kept before, though at most `max_pages` of them can be fetched: ~63 MB a 5 MiB page of links.
FRONTIER_SLACK = 10_000
# URLs robots.txt refuses, per host, before the host's crawl stops: they cost a robots check each and count
# toward no other limit, so a page of links into a disallowed area kept a crawl busy for as long as it had them.
REFUSED_PER_PAGE = 10
MIN_REFUSED = 1_000


@dataclass(frozen=True)
class CrawlConfig:
    max_pages: int = 100        # fetches per host (robots.txt not counted)
    max_depth: int = 3          # link hops from a seed
    delay: float = 1.0          # seconds between requests to one host
    timeout: float = 10.0       # socket timeout per request (connect, and each read)
    # Wall time per response, connect to last byte: a server that trickles bytes (status line, headers,
    # chunk-size lines or body) is cut off here. DNS resolution is not inside it (the resolver's own timeout).
    max_seconds: float = 30.0
    max_bytes: int = 5 << 20    # body bytes kept per response
    same_host: bool = True      # follow links only to the seeds' hosts
    user_agent: str = USER_AGENT
    max_warc_bytes: int = 1 << 30
    retries: int = 2            # extra attempts after a 429 or 5xx, or no answer (refused, reset, timed out)
    backoff: float = 1.0        # first retry waits this long (or the server's Retry-After), then doubles
    max_redirects: int = 5      # hops in one redirect chain before it is abandoned
    # Media types whose bodies are fetched and archived (and a 200 with no Content-Type, which extraction sniffs
    # as a browser does); other 200 answers are counted and not archived. The types curate extracts: text/plain
    # pages were fetched and archived, then every one dropped by extraction as `content_type`.
    content_types: Tuple[str, ...] = HTML_TYPES
    allow_private: bool = False  # fetch private, loopback and link-local addresses (local use only)

    def __post_init__(self):
        # nan passes every comparison below (and switched the time limit off); inf overflowed the watchdog
        if not all(math.isfinite(x) and x <= MAX_LIMIT_SECONDS for x in (self.delay, self.timeout, self.max_seconds,
                                                                         self.backoff)):
            raise ValueError(f"bad crawl limits: delay, timeout, max_seconds and backoff must be finite numbers of "
                             f"seconds, at most {MAX_LIMIT_SECONDS:g}: {self}")
        if (self.max_pages < 1 or self.max_depth < 0 or self.delay < 0 or self.timeout <= 0 or self.max_bytes < 1
                or self.retries < 0 or self.backoff < 0 or self.max_redirects < 0 or self.max_seconds <= 0):
            raise ValueError(f"bad crawl limits: {self}")


def scheme_refusal(url: str) -> Optional[str]:
    """Why `url` is not fetched when its scheme is not http(s), or it cannot be parsed; else None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:  # `http://[x/`, `http://h:99999/`: one failed fetch, never a failed crawl
        return f"InvalidURL: {url[:200]!r} cannot be parsed ({exc})"
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return None
    return f"UnsupportedScheme: {url[:200]!r} is not an http(s) URL; the crawler fetches only http and https"


@dataclass
class Fetch:
    url: str
    depth: int
    status: Optional[int] = None      # None when no HTTP answer came back
    reason: str = ""
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    error: Optional[str] = None
    skipped: Optional[str] = None     # an HTTP answer not archived: `content_type`
    redirects: int = 0                # hops of the redirect chain that led here
    attempts: int = 1
    request_headers: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        for k, v in self.headers:
            if k.lower() == "content-type":
                return v
        return ""


@dataclass
class CrawlReport:
    fetches: List[Fetch] = field(default_factory=list)
    seed_outcomes: Dict[str, str] = field(default_factory=dict)  # seed -> kept|robots|max_pages|duplicate|private_address|error
    redirect_limit: int = 0   # redirect chains abandoned at max_redirects
    frontier_full: int = 0    # links not queued: the frontier held FRONTIER_SLACK more URLs than fetches left
    robots_refused: int = 0   # URLs robots.txt refused (past REFUSED_PER_PAGE x max_pages, the host's crawl stops)
    seed_details: Dict[str, str] = field(default_factory=dict)  # seed -> why it was refused, where known

    @property
    def pages(self) -> int:
        return sum(1 for f in self.fetches if f.status is not None and not f.url.endswith("/robots.txt"))


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _decode_unreserved(text: str) -> str:
    """`%41` -> `A` for the unreserved characters only: RFC 3986 6.2.2.2 makes those spellings one URL;
    every other escape (`%2F`, `%3F`, non-ASCII) is kept, since decoding it could change what the URL names,
    its hex digits in upper case (6.2.2.1: `%2f` and `%2F` are one URL)."""
    return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)) if chr(int(m.group(1), 16)) in _UNRESERVED
                        else m.group(0).upper(), text)


# What a browser percent-encodes (as UTF-8) in a URL's path and query before sending it (the WHATWG URL
# standard's path and query percent-encode sets): controls, space, `"`, `<`, `>`, `` ` ``, `{`, `}` and every
# non-ASCII character. http.client refuses a URL holding a space or a control (InvalidURL) and urllib cannot
# send a non-ASCII one (UnicodeEncodeError), so links such as `/a b.html` or `/café` were never fetched.
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>`{}#?')
_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>#')


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: `/a/./b/../c` -> `/a/c` (links are joined so already; a seed may not be)."""
    if "." not in path:
        return path
    out: List[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if segment == ".":
            if i == len(segments) - 1:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out) if out and out[0] == "" else "/" + "/".join(out)


def _idna_host(host: str) -> str:
    """An internationalised host name in its ASCII (punycode) form, the one DNS and the Host header use, so
    `café.example` and `xn--caf-dma.example` are one host; a name IDNA cannot encode is kept as it is."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _normalized_netloc(parts: urllib.parse.SplitResult) -> str:
    """netloc with the host lowercased and the scheme's default port dropped (`HOST:80` is `host`)."""
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number: leave it for the fetch to report
        return parts.netloc.lower()
    if not host:
        return parts.netloc.lower()
    if ":" in host:
        host = f"[{host}]"
    host = _idna_host(host)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        netloc += f":{port}"
    return netloc


def normalize_url(url: str) -> str:
    """The one spelling of `url` the frontier holds (RFC 3986 6.2.2-6.2.3): scheme and host lowercased (and an
    internationalised host in punycode), the default port dropped, an empty path as `/`, dot segments removed,
    percent-encoded unreserved characters decoded and other escapes in upper case, spaces, controls and
    non-ASCII characters percent-encoded as UTF-8 as a browser sends them, the fragment dropped; everything else
    is kept as is. Without it `HTTP://H:80/%64` and `http://h/d` were two pages (fetched twice, two robots.txt
    fetches, and a WARC-Target-URI warcio cannot read)."""
    url = url.strip()
    try:
        url = urllib.parse.urldefrag(url)[0]
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # `http://[x/`: left as it is, the fetch reports it
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:  # not fetched at all (scheme_refusal): kept as given, for the report
        return url
    path = urllib.parse.quote(_remove_dot_segments(parts.path), safe=_PATH_SAFE + "%")
    query = urllib.parse.quote(parts.query, safe=_QUERY_SAFE + "%")
    return urllib.parse.urlunsplit((scheme, _normalized_netloc(parts), _decode_unreserved(path) or "/",
                                    _decode_unreserved(query), ""))


def robots_key(url: str) -> str:
    """What one robots.txt governs (RFC 9309 2.3: scheme, host and port): `https://h` and `http://h` have their own."""
    try:
        scheme = urllib.parse.urlsplit(url.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    return f"{scheme}://{host_of(url)}"


def _robots_body(fetch: "Fetch", max_bytes: int) -> Optional[bytes]:
    """The bytes of a robots.txt answer, its Content-Encoding undone; when that does not decode (an unknown
    coding, corrupt data, or a gzip stream cut before any byte inflates, which gives b""), the bytes as sent if
    they are UTF-8 text (a plain file mislabelled), else None: no robots.txt could be read."""
    body = decoded_body(fetch, max_bytes)
    if body or not fetch.body:
        return body or b""
    try:
        fetch.body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return fetch.body


def host_of(url: str) -> str:
    """The crawl's unit of politeness: lowercased host, with a port only when it is not the scheme's default."""
    try:
        return _normalized_netloc(urllib.parse.urlsplit(url.strip()))
    except ValueError:
        return ""


def _agent_token(value: str) -> str:
    """The product token of a user-agent value or line, lowercased: `WinnowBot/0.1` -> `winnowbot`, `*` -> `*`."""
    value = value.strip()
    if value.startswith("*"):
        return "*"
    match = re.match(r"[A-Za-z_-]+", value)
    return match.group(0).lower() if match else ""


def _robots_path_form(path: str) -> str:
    """The form both a rule's path and a URL's path are compared in (RFC 9309 2.2.2): unreserved escapes
    decoded, other escapes in upper case, non-ASCII characters percent-encoded as UTF-8."""
    path = _decode_unreserved(path)
    path = _PERCENT.sub(lambda m: m.group(0).upper(), path)
    return "".join(c if ord(c) < 128 else urllib.parse.quote(c, safe="") for c in path)


def robots_pattern_matches(pattern: str, path: str) -> bool:
    """Whether a robots.txt path pattern matches `path` from its start: `*` is any run of characters and a
    final `$` anchors the end (RFC 9309 2.2.3). Greedy leftmost search of the pieces between `*`s is exact
    for such patterns and linear in the path, unlike a backtracking regex a hostile robots.txt could stall."""
    anchored = pattern.endswith("$")
    pieces = (pattern[:-1] if anchored else pattern).split("*")
    if not path.startswith(pieces[0]):
        return False
    if len(pieces) == 1:
        return not anchored or path == pieces[0]
    pos = len(pieces[0])
    for piece in pieces[1:-1]:
        found = path.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    last = pieces[-1]
    if anchored:
        return len(path) - len(last) >= pos and path.endswith(last)
    return path.find(last, pos) >= 0


@dataclass(frozen=True)
class RobotsRules:
    """What one host's robots.txt says to one crawler (RFC 9309). urllib.robotparser, used before, read rule
    paths as literal prefixes (`Disallow: /*.php` blocked nothing) and matched user-agents by substring
    (`User-agent: bot` applied to WinnowBot)."""
    rules: Tuple[Tuple[str, bool], ...] = ()   # (path pattern in _robots_path_form, allow)
    crawl_delay: Optional[float] = None
    disallow_all: bool = False                 # robots.txt answered 5xx or not at all

    @classmethod
    def parse(cls, lines: Sequence[str], user_agent: str) -> "RobotsRules":
        """The rules of the groups naming our product token (all such groups together), else of the `*`
        groups; rules before any user-agent line belong to no group and are ignored. Crawl-delay (not in the
        RFC, seconds, fractions allowed) is the first valid one of those groups."""
        groups: List[Tuple[List[str], List[Tuple[str, str]]]] = []
        for raw in lines:
            key, sep, value = raw.split("#", 1)[0].partition(":")
            key, value = key.strip().lower(), value.strip()
            if not sep:
                continue
            if key == "user-agent":
                if not groups or groups[-1][1]:  # a user-agent line after rules starts the next group
                    groups.append(([], []))
                groups[-1][0].append(_agent_token(value))
            elif key in ("allow", "disallow", "crawl-delay") and groups:
                groups[-1][1].append((key, value))
        token = _agent_token(user_agent)
        chosen = [g for g in groups if token and token in g[0]] or [g for g in groups if "*" in g[0]]
        rules: List[Tuple[str, bool]] = []
        crawl_delay: Optional[float] = None
        for _agents, group_rules in chosen:
            for key, value in group_rules:
                if key == "crawl-delay":
                    try:
                        seconds = float(value)
                    except ValueError:
                        continue
                    if crawl_delay is None and math.isfinite(seconds) and seconds >= 0:
                        crawl_delay = seconds
                elif value:  # an empty Disallow (or Allow) is no rule
                    rules.append((_robots_path_form(value), key == "allow"))
        return cls(rules=tuple(rules), crawl_delay=crawl_delay)

    @functools.cached_property
    def _matcher(self) -> Tuple[Dict[str, bool], List[int], Dict[str, bool], List[Tuple[int, bool, str]]]:
        """The rules indexed for `allows`: literal prefixes by pattern (and their lengths, longest first),
        literal `$`-anchored paths by path, and the patterns with `*` longest first (Allow before Disallow)."""
        prefixes: Dict[str, bool] = {}
        exact: Dict[str, bool] = {}
        wild: List[Tuple[int, bool, str]] = []
        for pattern, allow in self.rules:
            body = pattern[:-1] if pattern.endswith("$") else pattern
            if "*" in body:
                wild.append((len(pattern), allow, pattern))
            elif body is pattern:
                prefixes[pattern] = prefixes.get(pattern, False) or allow
            else:
                exact[body] = exact.get(body, False) or allow
        wild.sort(reverse=True)
        return prefixes, sorted({len(p) for p in prefixes}, reverse=True), exact, wild

    def allows(self, url: str) -> bool:
        """The longest matching pattern decides and Allow wins a tie; nothing matching allows. /robots.txt is
        always allowed (RFC 9309 2.2.2). Literal rules are looked up by the path's prefixes (one lookup per rule
        length) and the rules with `*` are tried longest first, stopping at the first match or once none left
        can beat the best; rules with `*` that all fail to match are still each tried (the crawl's refusal
        budget, not this, bounds a robots.txt of thousands of such rules)."""
        if self.disallow_all:
            return False
        parts = urllib.parse.urlsplit(url)
        path = _robots_path_form((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if path == "/robots.txt":
            return True
        prefixes, lengths, exact, wild = self._matcher
        best: Tuple[int, bool] = (-1, True)
        if path in exact:
            best = (len(path) + 1, exact[path])
        for length in lengths:
            if length <= best[0]:
                break
            if length <= len(path) and path[:length] in prefixes:
                best = max(best, (length, prefixes[path[:length]]))
                break
        for length, allow, pattern in wild:
            if (length, allow) <= best:
                break
            if robots_pattern_matches(pattern, path):
                best = (length, allow)
                break
        return best[1]


def host_safe_name(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", host) or "host"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib does not follow (nor parse) redirects: its default error handler then raises HTTPError for the
    3xx, which is recorded like any response and its Location queued. Returning None from `redirect_request`
    alone was too late: urllib parses the Location first, so an unparseable one (`http://[x`) made the fetch
    fail, be retried and never be archived."""

    def http_error_302(self, req, fp, code, msg, headers):
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class PrivateAddressError(OSError):
    """A host that resolves to a private, loopback, link-local or otherwise non-public address."""


def is_public_address(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def _guarded_create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                               allow_private: bool = False,
                               on_socket: Optional[Callable[[socket.socket], Optional[float]]] = None):
    """socket.create_connection that resolves the host once, refuses it when any of its addresses is not
    public (unless allowed), and connects to the address it checked: the check holds after redirects
    (every hop connects through here) and cannot be bypassed by a DNS answer that changes between the
    check and the connection. `on_socket(sock)` sees each socket before it connects and returns the seconds
    the response has left (the connect waits no longer), or None."""
    host, port = address
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not allow_private:
        for info in infos:
            ip = info[4][0]
            if not is_public_address(ip):
                raise PrivateAddressError(f"refused {host}: it resolves to the non-public address {ip} "
                                          f"(--allow-private fetches such addresses)")
    error: Optional[Exception] = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            left = on_socket(sock) if on_socket is not None else None
            if left is not None:
                left = max(left, 0.01)  # 0 would make the socket non-blocking rather than time out
                sock.settimeout(left if timeout in (None, socket._GLOBAL_DEFAULT_TIMEOUT) else min(timeout, left))
            elif timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)  # each read waits up to the per-read timeout again
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"cannot connect to {host}:{port}")


def _guarded_handlers(allow_private: bool, on_socket: Optional[Callable[[socket.socket], Optional[float]]] = None):
    create = functools.partial(_guarded_create_connection, allow_private=allow_private, on_socket=on_socket)

    class GuardedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class GuardedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = create

    class GuardedHTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(GuardedHTTPConnection, req)

    class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(GuardedHTTPSConnection, req, context=self._context)

    return GuardedHTTPHandler(), GuardedHTTPSHandler()


class _ResponseSockets:
    """The sockets one response opens (redirects are separate fetches, so usually one). On expiry of the
    response's deadline the watchdog thread calls `shut_down`: shutdown(2) wakes a recv blocked in another
    thread (close(2) would not), and it acts on a dup of the descriptor, which stays valid after TLS wraps
    (and detaches) the original socket object or http.client closes it."""

    def __init__(self, response_deadline):
        self._deadline = response_deadline
        self._lock = threading.Lock()
        self._dups: List[socket.socket] = []
        self._expired = False

    def add(self, sock: socket.socket) -> Optional[float]:
        with self._lock:
            if self._expired:
                raise TimeoutError("response deadline passed before connecting")
            self._dups.append(sock.dup())
        return self._deadline.remaining()

    def shut_down(self) -> None:
        with self._lock:
            self._expired = True
            for dup in self._dups:
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                except OSError:  # not connected yet, or already closed by the peer
                    pass

    def close(self) -> None:
        with self._lock:
            for dup in self._dups:
                dup.close()
            self._dups = []


def decoded_body(fetch: Fetch, max_bytes: int) -> Optional[bytes]:
    """The body with its Content-Encoding undone (servers gzip though we ask for identity), at most
    `max_bytes` of it (the body cap, so a gzip bomb stays bounded), by the archive reader's decoder; None when
    it does not decode (an unknown coding, corrupt data): the archive keeps it as sent and `read` reports it."""
    encoding = next((v for k, v in fetch.headers if k.lower() == "content-encoding"), None)
    try:
        return decode_content(fetch.body, encoding, max_bytes)
    except Exception:  # noqa: BLE001 -- UnsupportedEncoding, zlib.error, brotli.error: all mean "no text here"
        return None


class Crawler:
    """Breadth-first polite crawl; `crawl(seeds, on_fetch)` calls `on_fetch(fetch)` for every fetch."""

    def __init__(self, config: CrawlConfig = CrawlConfig(), clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._clock = clock
        self._sleep = sleep
        # No proxy: a proxy would make the connection (and the address check) on our behalf.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect(),
                                                   *_guarded_handlers(config.allow_private, self._on_socket))
        self._response_sockets: Optional[_ResponseSockets] = None  # those of the response being fetched
        self._robots: Dict[str, RobotsRules] = {}
        self._robots_refusal: Dict[str, str] = {}  # host -> why its robots.txt refuses a URL, for the report
        self._last_request: Dict[str, float] = {}
        self._crawl_delays: Dict[str, float] = {}

    # -- politeness --
    def _wait_turn(self, host: str) -> None:
        delay = self.config.delay
        crawl_delay = self._crawl_delays.get(host)
        if crawl_delay:
            delay = max(delay, min(crawl_delay, MAX_CRAWL_DELAY))
        last = self._last_request.get(host)
        if last is not None:
            wait = last + delay - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()

    def _robots_for(self, url: str, on_fetch: Callable[[Fetch], None]) -> RobotsRules:
        """The robots.txt rules of url's host, fetched once per host; every hop is recorded. Redirects are
        followed up to MAX_ROBOTS_REDIRECTS, to any http(s) host (RFC 9309 2.3.1.2: "even across
        authorities"; each hop still goes through the address guard), and the rules found apply to url's host.
        A 4xx, or a chain still redirecting after that, means no usable robots.txt: everything is allowed
        (2.3.1.2-2.3.1.3). A 5xx or no answer disallows everything (2.3.1.4). Before, a redirect was read as
        a 5xx, so a robots.txt that had moved refused the whole site."""
        host, key = host_of(url), robots_key(url)
        if key in self._robots:
            return self._robots[key]
        robots_url = f"{key}/robots.txt"
        for hops in range(MAX_ROBOTS_REDIRECTS + 1):
            fetch = self.fetch(robots_url, depth=0, redirects=hops, robots=True)
            on_fetch(fetch)
            location = next((v.strip() for k, v in fetch.headers if k.lower() == "location"), "")
            redirected = fetch.status is not None and 300 <= fetch.status < 400 and location
            if not redirected or hops == MAX_ROBOTS_REDIRECTS:
                break
            try:
                robots_url = normalize_url(urllib.parse.urljoin(robots_url, location))
            except ValueError:  # an unparseable Location: a redirect that leads nowhere, as a 4xx (unavailable)
                break
        via = f" (robots.txt redirected to {robots_url})" if hops else ""
        answered = fetch.status is not None and 200 <= fetch.status < 300
        body = _robots_body(fetch, self.config.max_bytes) if answered else None
        if answered and body is None:  # read as empty, it allowed everything
            rules = RobotsRules(disallow_all=True)
            self._robots_refusal[key] = (f"robots.txt's Content-Encoding does not decode{via}, which disallows "
                                         f"everything (no robots.txt could be read, RFC 9309)")
        elif answered:
            # utf-8-sig: a BOM left in place made the first line `\ufeffUser-agent`, so the group was lost
            body = body[:ROBOTS_PARSE_BYTES]
            rules = RobotsRules.parse(body.decode("utf-8-sig", errors="replace").splitlines(), self.config.user_agent)
            if rules.crawl_delay is not None:
                self._crawl_delays[host] = rules.crawl_delay
            agent = self.config.user_agent.split("/", 1)[0]
            self._robots_refusal[key] = f"robots.txt disallows it for {agent}{via}"
        elif fetch.status is not None and fetch.status < 500:
            rules = RobotsRules()  # 4xx, or still redirecting after five hops: unavailable, everything allowed
        else:
            rules = RobotsRules(disallow_all=True)
            self._robots_refusal[key] = (
                f"robots.txt answered {fetch.status}{via}, which disallows everything (RFC 9309)"
                if fetch.status is not None else
                f"robots.txt unreachable ({fetch.error}){via}, which disallows everything (RFC 9309)")
        self._robots[key] = rules
        return rules

    def allowed(self, url: str, on_fetch: Callable[[Fetch], None] = lambda f: None) -> bool:
        url = normalize_url(url)
        return self._robots_for(url, on_fetch).allows(url)

    def robots_refusal(self, url: str) -> str:
        """Why robots.txt refuses `url` (after `allowed` said no): the rules, or the answer that disallows all."""
        return self._robots_refusal.get(robots_key(url), "robots.txt disallows it")

    def _address_refusal(self, url: str) -> Optional[str]:
        """An early, per-URL form of the connection-time check (so a refused host costs no robots.txt
        fetch); the connection itself checks again on the address it connects to."""
        if self.config.allow_private:
            return None
        try:
            parts = urllib.parse.urlsplit(url)
            infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                       0, socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError):
            return None  # unresolvable, or a port that is not one: the fetch reports it
        for info in infos:
            if not is_public_address(info[4][0]):
                return (f"PrivateAddressError: refused {parts.hostname}: it resolves to the non-public address "
                        f"{info[4][0]} (--allow-private fetches such addresses)")
        return None

    # -- fetching --
    def _on_socket(self, sock: socket.socket) -> Optional[float]:
        return self._response_sockets.add(sock) if self._response_sockets is not None else None

    def fetch(self, url: str, depth: int = 0, redirects: int = 0, robots: bool = False) -> Fetch:
        """One URL, retried with exponential backoff (or Retry-After, capped) on 429, 5xx and failed
        connections; a refused private address is not retried. Only http(s) is fetched: urllib's opener would
        also read file:, ftp: and data: URLs. `robots`: a robots.txt (or where its redirects lead), whose body is
        read whatever its media type."""
        refusal = scheme_refusal(url)
        if refusal:
            return Fetch(url=url, depth=depth, error=refusal, redirects=redirects)
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            result = self._fetch_once(url, depth, robots)
            result.redirects, result.attempts = redirects, attempt + 1
            retryable = (result.status in RETRY_STATUSES
                         or (result.status is None and not (result.error or "").startswith(NOT_RETRIED)))
            if not retryable or attempt == cfg.retries:
                return result
            wait = cfg.backoff * (2 ** attempt)
            retry_after = dict((k.lower(), v) for k, v in result.headers).get("retry-after", "")
            if retry_after.strip().isdigit():
                wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER))
            self._sleep(wait)
        return result

    def _fetch_once(self, url: str, depth: int, robots: bool = False) -> Fetch:
        cfg = self.config
        headers = [("User-Agent", cfg.user_agent), ("Accept", "text/html,*/*;q=0.8"),
                   ("Accept-Encoding", "identity"), ("Connection", "close")]
        result = Fetch(url=url, depth=depth, request_headers=headers)
        self._wait_turn(host_of(url))
        request = urllib.request.Request(url, headers=dict(headers), method="GET")
        over = f"response took over {cfg.max_seconds:g}s (connect to last byte)"
        limit = deadline(cfg.max_seconds)
        sockets = self._response_sockets = _ResponseSockets(limit)
        limit.on_expiry = sockets.shut_down
        try:
            with limit:
                try:
                    response = self._opener.open(request, timeout=cfg.timeout)
                except urllib.error.HTTPError as err:  # 3xx/4xx/5xx: still an HTTP answer, still recorded
                    response = err
                with response:
                    result.status = int(response.status if hasattr(response, "status") else response.code)
                    result.reason = str(getattr(response, "reason", "") or "")
                    result.headers = list(response.headers.items())
                    media = result.content_type.split(";")[0].strip().lower()
                    if (result.status == 200 and not robots  # robots.txt, wherever a redirect took it
                            and media and media not in cfg.content_types):
                        result.skipped = "content_type"  # headers only: the body is never downloaded
                    else:
                        body = bytearray()
                        # read1 returns what has arrived: a plain read(n) would wait for n bytes from a trickle
                        read = getattr(response, "read1", None) or response.read
                        while len(body) <= cfg.max_bytes:
                            chunk = read(min(1 << 16, cfg.max_bytes + 1 - len(body)))
                            if not chunk:
                                break
                            body += chunk
                        result.truncated = len(body) > cfg.max_bytes
                        result.body = bytes(body[: cfg.max_bytes])
                        # read1 returns b"" when the server closes early, where read() would raise: a body
                        # short of its Content-Length is a failed fetch, as a chunked body cut short already is
                        missing = getattr(response, "length", None)
                        if not result.truncated and not limit.expired and isinstance(missing, int) and missing > 0:
                            raise http.client.IncompleteRead(bytes(body), missing)
            # A shut-down socket reads as a clean end: what came before it is not the whole answer.
            if limit.expired:
                raise TimeoutError(over)
        except Exception as exc:  # refused, reset, timed out, bad URL, private address: nothing to record
            if limit.expired:  # whatever the shutdown made the reader raise, the cause is the time limit
                exc = TimeoutError(over)
            result.status, result.skipped, result.body, result.truncated = None, None, b"", False
            result.headers = result.headers if isinstance(exc, TimeoutError) else []
            result.error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, PrivateAddressError):
                result.error = f"PrivateAddressError: {exc.reason}"
        finally:
            self._response_sockets = None
            sockets.close()
            # the next request to the host waits `delay` from here, the end of this response, not from its
            # start: with Crawl-delay 1.5 and 0.8 s answers the server had 0.7 s between requests
            self._last_request[host_of(url)] = self._clock()
        return result

    def crawl(self, seeds: Sequence[str], on_fetch: Callable[[Fetch], None]) -> CrawlReport:
        report = CrawlReport()
        cfg = self.config
        hosts = {host_of(s) for s in seeds}
        queue: deque = deque()
        seen = set()
        for seed in seeds:
            url = normalize_url(seed)
            if url in seen:
                report.seed_outcomes.setdefault(seed, "duplicate")
                continue
            seen.add(url)
            queue.append((url, 0, seed, 0))
        pages = 0
        refused_limit = max(MIN_REFUSED, REFUSED_PER_PAGE * cfg.max_pages)
        record = self._recorder(report, on_fetch)
        while queue:
            url, depth, seed, redirects = queue.popleft()
            if pages >= cfg.max_pages:
                if seed:
                    report.seed_outcomes[seed] = "max_pages"
                continue
            refusal = scheme_refusal(url)
            if refusal:  # recorded as a failed fetch: the seed's outcome is `error`, and its detail this line
                record(Fetch(url=url, depth=depth, error=refusal, redirects=redirects))
                if seed:
                    report.seed_outcomes[seed] = "error"
                continue
            refusal = self._address_refusal(url)
            if refusal:
                record(Fetch(url=url, depth=depth, error=refusal, redirects=redirects))
                if seed:
                    report.seed_outcomes[seed] = "private_address"
                continue
            if report.robots_refused >= refused_limit:
                if seed:
                    report.seed_outcomes[seed] = "max_pages"
                continue
            if not self.allowed(url, record):
                report.robots_refused += 1
                if seed:
                    report.seed_outcomes[seed] = "robots"
                    report.seed_details[seed] = self.robots_refusal(url)
                continue
            fetch = self.fetch(url, depth, redirects)
            record(fetch)
            pages += 1  # a fetch that got no answer counts too: failing links held a crawl for hours
            if fetch.status is None:
                if seed:
                    report.seed_outcomes[seed] = ("private_address" if (fetch.error or "").startswith("PrivateAddress")
                                                  else "error")
                continue
            if seed:
                report.seed_outcomes[seed] = "kept"
            for link in map(normalize_url, self._next_urls(fetch, cfg.max_seconds, cfg.max_bytes)):
                if link in seen or (cfg.same_host and host_of(link) not in hosts):
                    continue
                # A redirect target stays at the same depth: it is the same page, moved.
                is_redirect = 300 <= fetch.status < 400
                next_depth = depth if is_redirect else depth + 1
                next_redirects = redirects + 1 if is_redirect else 0
                if next_depth > cfg.max_depth:
                    continue
                if next_redirects > cfg.max_redirects:
                    report.redirect_limit += 1
                    continue
                if len(queue) >= cfg.max_pages - pages + FRONTIER_SLACK:
                    report.frontier_full += 1
                    continue
                seen.add(link)
                queue.append((link, next_depth, None, next_redirects))
        return report

    @staticmethod
    def _recorder(report: CrawlReport, on_fetch: Callable[[Fetch], None]) -> Callable[[Fetch], None]:
        def record(fetch: Fetch) -> None:
            report.fetches.append(fetch)
            on_fetch(fetch)
        return record

    @staticmethod
    def _next_urls(fetch: Fetch, max_seconds: Optional[float] = None,
                   max_bytes: int = CrawlConfig.max_bytes) -> Iterable[str]:
        """Where a fetch leads: a redirect's Location, or the links of an HTML page (its body decoded by
        `decoded_body`: a gzipped page parsed as it came had no links)."""
        if 300 <= (fetch.status or 0) < 400:
            for k, v in fetch.headers:
                if k.lower() == "location":
                    url = join_link(fetch.url, v)  # None for `http://[x`: the 3xx is archived, it leads nowhere
                    if url is not None:
                        yield url
            return
        media = fetch.content_type.split(";")[0].strip().lower()
        if fetch.status == 200 and (media in HTML_TYPES or not media):
            body = decoded_body(fetch, max_bytes)
            if body is None or not is_html(media, body):  # no Content-Type: sniffed, as extraction does
                return
            html, _ = decode_html(body, fetch.content_type)
            yield from extract_links(html, fetch.url, max_seconds)


# What each seed outcome means and what the user can change; the keys are CrawlReport.seed_outcomes values.
SEED_REFUSAL_HINTS = {
    "private_address": "the host resolves to a private, loopback or link-local address (--allow-private fetches those)",
    "robots": "robots.txt disallows it, or robots.txt answered 5xx or not at all, which disallows everything "
              "(RFC 9309)",
    "error": "no HTTP answer: refused, unresolvable, or over --timeout/--max-seconds (--retries tries again; "
             "--log-level info shows every failed fetch)",
    "max_pages": "--max-pages was reached before it",
    "duplicate": "the same URL is given twice",
}


def seed_refusal_detail(report: CrawlReport, seed: str, outcome: str) -> str:
    """One line on why `seed` was not fetched: the crawler's own account (robots.txt), the failed fetch's own
    error when there is one, else the hint."""
    if seed in report.seed_details:
        return report.seed_details[seed]
    url = normalize_url(seed)
    if outcome == "robots":
        parts = urllib.parse.urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        robots = [f for f in report.fetches if f.url == robots_url]
        if robots and robots[-1].status is None:
            return f"robots.txt unreachable ({robots[-1].error}), which disallows everything (RFC 9309)"
        if robots and robots[-1].status >= 500:
            return f"robots.txt answered {robots[-1].status}, which disallows everything (RFC 9309)"
        return "robots.txt disallows it for " + USER_AGENT.split("/", 1)[0]
    failed = [f for f in report.fetches if f.url == url and f.status is None and f.error]
    if failed:
        return failed[-1].error
    return SEED_REFUSAL_HINTS.get(outcome, outcome)
