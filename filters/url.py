"""URL filtering (the `url` stage) from user-supplied lists, after datatrove's URLFilter (the lists are yours).

A document is dropped when its URL's host is a listed domain (`url_domain`), when a parent domain of the host is
listed (`url_parent_domain`: "ads.example.com" and "a.b.example.com" fall under "example.com"), when the URL
itself is listed (`url_listed`; compared without fragment), or when a word of the URL (split on
non-alphanumeric characters, lower-cased) is a banned word (`url_banned_word`), or a banned sub-word occurs
anywhere in the URL with separators removed (`url_banned_subword`). Hosts compare lower-case, without a
trailing dot, port or leading "www.". Lists come inline or from files (one entry a line, '#' comments).
Documents without a URL (code, plain text) pass.
"""
from __future__ import annotations

import re
from typing import List, Optional, Set
from urllib.parse import urlsplit

from filters.base import Document, DocumentFilter
from filters.stage_options import ListFile, Sources, checked_options
from schemas import URL

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def read_list(path: Optional[str]) -> Set[str]:
    if not path:
        return set()
    with open(path, encoding="utf-8") as f:
        return {l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")}


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if "://" in host:
        host = urlsplit(host).hostname or ""
    host = host.split(":")[0] if host.count(":") == 1 else host
    return host[4:] if host.startswith("www.") else host


def _url_key(url: str) -> str:
    return url.strip().split("#", 1)[0]


@checked_options
class UrlFilter(DocumentFilter):
    name = "url"

    def __init__(
        self,
        domains: Optional[List[str]] = None,
        domains_file: Optional[ListFile] = None,
        urls: Optional[List[str]] = None,
        urls_file: Optional[ListFile] = None,
        banned_words: Optional[List[str]] = None,
        banned_words_file: Optional[ListFile] = None,
        banned_subwords: Optional[List[str]] = None,
        sources: Sources = None,
    ):
        super().__init__(sources)
        self.domains = {normalize_host(d) for d in set(domains or ()) | read_list(domains_file)}
        self.urls = {_url_key(u) for u in set(urls or ()) | read_list(urls_file)}
        self.banned_words = {w.lower() for w in set(banned_words or ()) | read_list(banned_words_file)}
        self.banned_subwords = {_NON_ALNUM.sub("", w.lower()) for w in banned_subwords or ()} - {""}

    def decide(self, url: str) -> Optional[str]:
        try:
            host = normalize_host(urlsplit(url.strip()).hostname or "")
        except ValueError:
            host = ""
        if host in self.domains:
            return "url_domain"
        labels = host.split(".")
        if any(".".join(labels[i:]) in self.domains for i in range(1, len(labels))):
            return "url_parent_domain"
        if _url_key(url) in self.urls:
            return "url_listed"
        lower = url.lower()
        if self.banned_words and not self.banned_words.isdisjoint(_NON_ALNUM.split(lower)):
            return "url_banned_word"
        if self.banned_subwords:
            squashed = _NON_ALNUM.sub("", lower)
            if any(w in squashed for w in self.banned_subwords):
                return "url_banned_subword"
        return None

    def apply(self, doc: Document) -> Optional[str]:
        url = doc.get(URL)
        return self.decide(url) if url else None
