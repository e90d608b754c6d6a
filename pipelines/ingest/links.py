"""Links of a crawled HTML page: html.parser (standard library, lenient), `<base href>` honoured, `rel=nofollow`
skipped, parsing bounded in time by filters.deadline."""
from __future__ import annotations

import logging
import re
import urllib.parse
from html.parser import HTMLParser
from typing import List, Optional

from filters.deadline import DeadlineExceeded, deadline

HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_SNIFF = re.compile(rb"<\s*(!doctype\s+html|html|head|body)\b", re.I)


def is_html(media_type: str, body: bytes) -> bool:
    """An HTML page: by its declared media type (lower-case, no parameters), or, where none is declared, by its
    first bytes as a browser sniffs them. The crawler (which pages to archive and read links from) and extraction
    (which records to extract) decide alike."""
    if media_type in HTML_TYPES:
        return True
    return not media_type and bool(_HTML_SNIFF.search(body[:1024]))

log = logging.getLogger(__name__)


class _LinkParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: List[str] = []
        self.base: Optional[str] = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "base" and attrs.get("href") and self.base is None:
            self.base = attrs["href"]
        elif tag in ("a", "area") and attrs.get("href"):
            rel = (attrs.get("rel") or "").lower().split()
            if "nofollow" not in rel:
                self.links.append(attrs["href"])


def extract_links(html: str, page_url: str, max_seconds: Optional[float] = None) -> List[str]:
    """Absolute http(s) links of a page (fragment removed, order kept, duplicates dropped). Parsing stops
    after `max_seconds` and keeps the links found by then: html.parser is quadratic on some malformed markup
    (15 KB of unclosed `<a ` tags took 3.3 s on CPython 3.11, so a 5 MB page would stall the host's crawl)."""
    parser = _LinkParser()
    try:
        with deadline(max_seconds, message=f"link extraction over {max_seconds}s"):
            parser.feed(html)
            parser.close()
    except DeadlineExceeded:
        log.warning("crawl: links of %s: parsing stopped after %gs (malformed markup); %d link(s) found by then "
                    "are followed", page_url, max_seconds, len(parser.links))
    except Exception:  # html.parser is lenient; whatever was parsed before a failure still counts
        pass
    base = (join_link(page_url, parser.base) if parser.base else None) or page_url
    seen, out = set(), []
    for href in parser.links:
        url = join_link(base, href)
        if url is not None and url not in seen:
            seen.add(url)
            out.append(url)
    return out


def join_link(base: str, ref: str) -> Optional[str]:
    """`ref` (a link, a `<base href>`, a Location) made absolute against `base`, its fragment removed, when that
    is an http(s) URL that parses; None otherwise. One unparseable link (`http://[oops/`) raised ValueError out of
    the crawl, which failed the job and deleted the host's WARC files."""
    try:
        url = urllib.parse.urldefrag(urllib.parse.urljoin(base, ref.strip()))[0]
        scheme = urllib.parse.urlsplit(url).scheme
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None
