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

import logging
import re
import reprlib
from typing import List, Optional, Set
from urllib.parse import urlsplit

from filters.base import Document, DocumentFilter
from filters.stage_options import ListFile, OptionError, Sources, checked_options
from schemas import URL

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# A refused list is quoted in the message, abridged as filters/stage_options.py abridges values.
_SHOWN = reprlib.Repr()
_SHOWN.maxlist, _SHOWN.maxstring = 8, 80


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


def _domain_problem(entry: str) -> Optional[str]:
    """Why a `domains` entry cannot mean what it says (None when it is a host name, with or without a scheme)."""
    text = entry.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return None
        if not (parts.path.strip("/") or parts.query):
            return None  # "https://example.com": the host, as normalize_host reads it
        host = normalize_host(parts.hostname or "")
        return (f"{entry!r} has a path, but a domain entry blocks a whole host (here all of {host}); write {host!r} "
                f"to block the host, or list the page under urls: [{entry!r}]")
    if any(c in text for c in "/?#"):
        host = normalize_host(re.split(r"[/?#]", text, maxsplit=1)[0])
        return (f"{entry!r} has a path, so it is not a host name and never matches; write {host!r} to block the "
                f"host, or list the page's full URL under urls: (e.g. 'https://{text}')")
    return None


def _banned_word_problem(word: str) -> Optional[str]:
    """Why a `banned_words` entry can never match a word of a URL (None when it can)."""
    lower = word.lower()
    if not lower:  # a URL that starts or ends with a separator ('.../') splits into an empty word too
        return (f"{word!r} is empty, which matches every URL that ends in a separator (like 'https://example.com/'); "
                f"remove it")
    if not _NON_ALNUM.search(lower):
        return None
    parts = [p for p in _NON_ALNUM.split(lower) if p]
    separators = "".join(dict.fromkeys(c for c in lower if not ("a" <= c <= "z" or "0" <= c <= "9")))
    return (f"{word!r} has {separators!r}, but URLs are split into words at every character other than a-z and "
            f"0-9, so it never matches a word; use banned_subwords: [{word!r}] to match it anywhere in the URL "
            f"(separators ignored)" + (f", or list the words {parts!r} separately" if len(parts) > 1 else ""))


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
        listed_domains, listed_words = read_list(domains_file), read_list(banned_words_file)
        for option, value, entries, problem in (
                ("domains", domains, domains or (), _domain_problem),
                ("domains_file", domains_file, sorted(listed_domains), _domain_problem),
                ("banned_words", banned_words, banned_words or (), _banned_word_problem),
                ("banned_words_file", banned_words_file, sorted(listed_words), _banned_word_problem)):
            if option.endswith("_file"):  # a downloaded list of thousands of lines: say so, do not stop on one
                unusable = [(entry, why) for entry in entries for why in (problem(entry),) if why]
                if unusable:
                    logging.getLogger(__name__).warning(
                        "url: %d entr%s of %s %s cannot match as written, e.g. %s", len(unusable),
                        "y" if len(unusable) == 1 else "ies", option, value, unusable[0][1])
                continue
            for entry in entries:
                why = problem(entry)
                if why:
                    raise OptionError(option, f"= {_SHOWN.repr(value)} is not allowed: {why}")
        self.domains = {normalize_host(d) for d in set(domains or ()) | listed_domains}
        self._longest_domain = max(map(len, self.domains), default=0)
        self.urls = {_url_key(u) for u in set(urls or ()) | read_list(urls_file)}
        self.banned_words = {w.lower() for w in set(banned_words or ()) | listed_words}
        self.banned_subwords = {_NON_ALNUM.sub("", w.lower()) for w in banned_subwords or ()} - {""}

    def decide(self, url: str) -> Optional[str]:
        try:
            host = normalize_host(urlsplit(url.strip()).hostname or "")
        except ValueError:
            host = ""
        if host in self.domains:
            return "url_domain"
        # Parent domains from the nearest up; one longer than every listed domain cannot be listed, and stopping
        # there keeps a host of many labels ("a.a.a...", any length in a JSONL url field) linear, not quadratic.
        dot = host.find(".")
        while dot >= 0 and len(host) - dot - 1 > self._longest_domain:
            dot = host.find(".", dot + 1)
        while dot >= 0:
            if host[dot + 1:] in self.domains:
                return "url_parent_domain"
            dot = host.find(".", dot + 1)
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
