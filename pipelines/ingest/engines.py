"""Extraction engines behind one small interface: a page in (HTML bytes or decoded text, URL, declared
charset), an `Extraction` out (main text, title, metadata). Beam-free, so each engine is a plain class that
tests call directly; the extract stage (pipelines/ingest/html.py `extract_record`) picks one by the recipe's
`extract: {engine: NAME}`, and the caps, the per-page time limit and the drop reasons around it are the same
for every engine.

Engines (issue 17; figures of the table in benchmarks/RESULTS.md section `extract` and the issue):
- `cascade` (the default, `DEFAULT_ENGINE`; html.py `CascadeEngine`): resiliparse first, trafilatura (fast,
  recall mode) as a second opinion only where resiliparse is likely wrong, then a choice by lengths
  (`cascade_first_choice`, `cascade_second_choice` below); metadata from the page's declared metadata
  (`light_metadata`). Thresholds chosen on half A of WCXB dev (benchmarks/bench_extract.py).
- `trafilatura` (html.py `TrafilaturaEngine`): the default until issue 17, trafilatura plus this project's
  fallbacks (`extract_html`), unchanged: `engine: trafilatura` gives that extractor's outputs byte for byte.
- `resiliparse`: resiliparse's `extract_plain_text(main_content=True)` (DCLM's extractor), an order of
  magnitude faster, lower word F1 on WCXB. It skips `<noscript>` (where some forums put their posts). The
  title is resiliparse's own (`HTMLTree.title`) unless trafilatura's metadata has one; author, date, site
  name and description come from the same trafilatura metadata pass as the default engine's, when
  `with_metadata` is on.
- `rs_trafilatura`: the rs-trafilatura package (Rust). It publishes CPython 3.12 wheels only, so on another
  Python a recipe naming it is refused at load (`unavailable_reason`). It is given decoded text, never
  `extract_bytes`, which trusts a wrong declared charset and garbles such pages.
"""
from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

DEFAULT_ENGINE = "cascade"
ENGINE_NAMES = ("cascade", "trafilatura", "rs_trafilatura", "resiliparse")


@dataclass
class Extraction:
    """What every engine returns: the main text (stripped; "" when nothing was found), the page title (None
    when none), and string metadata (author, date, sitename, description, ... as found)."""
    text: str
    title: Optional[str] = None
    metadata: Dict[str, str] = field(default_factory=dict)


class PageTooComplex(Exception):
    """The page is beyond what an engine can do within the per-page limit in C code that the time limit cannot
    interrupt (the stage drops it as `too_complex`)."""


class EngineError(RuntimeError):
    """An engine failed on a page; the message starts with the engine's name (`resiliparse: ...`), so the
    stage's error row says which engine failed."""


def metadata_of_tree(tree, url: Optional[str]) -> Dict[str, str]:
    """trafilatura's metadata of a parsed (lxml) page: title, author, date, site name, ..., the values found."""
    from trafilatura.metadata import extract_metadata

    metadata: Dict[str, str] = {}
    meta = extract_metadata(tree, default_url=url)
    for key in ("title", "author", "date", "sitename", "description", "hostname", "language", "image"):
        value = getattr(meta, key, None)
        if value:
            metadata[key] = str(value)
    return metadata


def drop_repeated_lines(text: str, min_length: int) -> str:
    """Drop lines longer than `min_length` characters that repeat an earlier line of the same text."""
    seen, out = set(), []
    for line in text.split("\n"):
        key = line.strip()
        if len(key) > min_length:
            if key in seen:
                continue
            seen.add(key)
        out.append(line)
    return "\n".join(out)


def _metadata(html: str, url: Optional[str]) -> Dict[str, str]:
    """trafilatura's metadata (the same keys the default engine keeps) for engines that find only text."""
    from trafilatura.utils import load_html

    tree = load_html(html)
    return {} if tree is None else metadata_of_tree(tree, url)


class Engine:
    """Base class: `extract(html, url)` on decoded text; `extract_page` decodes bytes first (WHATWG order,
    pipelines/ingest/charsets.py) with the declared Content-Type. Subclasses set `name` and `_extract`.
    The `trafilatura` engine is pipelines/ingest/html.py `TrafilaturaEngine`, beside the extractor it wraps."""
    name = ""
    package = ""  # the PyPI package to install, for the refusal message
    # The ExtractConfig options this engine reads besides the caps every engine gets (None: all of them); a recipe
    # that sets another one to a value other than its default is refused (html.py ExtractConfig).
    options: Optional[Tuple[str, ...]] = None

    def __init__(self, config):
        self.config = config  # a pipelines.ingest.html.ExtractConfig (its caps, tables, metadata switches)

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        """None when the engine can run here; otherwise one line saying what to do."""
        return None

    def extract(self, html: str, url: Optional[str] = None) -> Extraction:
        try:
            return self._extract(html, url)
        except (MemoryError, PageTooComplex):
            raise
        except Exception as exc:  # filters.deadline's DeadlineExceeded is a BaseException: it passes through
            raise EngineError(f"{self.name}: {type(exc).__name__}: {exc}") from exc

    def extract_page(self, page: Union[bytes, str], url: Optional[str] = None,
                     content_type: Optional[str] = None) -> Extraction:
        if isinstance(page, bytes):
            from pipelines.ingest.charsets import decode_html

            page, encoding = decode_html(page, content_type)
            result = self.extract(page, url)
            result.metadata.setdefault("encoding", encoding)
            return result
        return self.extract(page, url)

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        raise NotImplementedError


# resiliparse's main-content pass is quadratic in nesting depth (measured: 5k levels 0.6 s, 20k 9.7 s, 200k
# hangs) and runs in C, where filters.deadline cannot stop it; 2,000 levels take under 0.1 s. Real pages nest
# a few dozen levels.
RESILIPARSE_MAX_DEPTH = 2_000
# Start and end tags, void elements left out (they never close). An estimate of the depth from it only
# overshoots (unclosed <p>, <li>), so only pages it flags get the exact walk of the parsed tree.
_TAGS = re.compile(r"<(/?)(?!(?:area|base|br|col|embed|hr|img|input|link|meta|param|source|track|wbr)\b)[a-zA-Z]",
                   re.I)


def _estimated_depth(html: str) -> int:
    return max(itertools.accumulate((-1 if slash else 1 for slash in _TAGS.findall(html)), initial=0))


def _depth_over(html: str, limit: int, tree=None) -> bool:
    """Whether the page nests deeper than `limit` elements. Only a page that the tag estimate flags is walked
    in its resiliparse tree (`tree`, parsed here when None)."""
    if html.count("<") <= limit:  # each level opens with a "<": no deeper than that (most pages, no regex pass)
        return False
    if _estimated_depth(html) <= limit:
        return False
    if tree is None:
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
    node, depth = tree.document, 0
    while node is not None:
        child = node.first_child
        if child is not None:
            node, depth = child, depth + 1
            if depth > limit:
                return True
            continue
        while node is not None and node.next is None:
            node, depth = node.parent, depth - 1
        node = node.next if node is not None else None
    return False


class ResiliparseEngine(Engine):
    """resiliparse's main-content plain text (lexbor's HTML parser, C++), the DCLM extractor's settings."""
    name = "resiliparse"
    package = "resiliparse==2.0.1"
    options = ("include_tables", "drop_repeated_lines_over", "with_metadata")

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        if importlib.util.find_spec("resiliparse") is None:
            return "engine 'resiliparse' needs the resiliparse package: `pip install resiliparse==2.0.1`"
        return None

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        if _depth_over(html, RESILIPARSE_MAX_DEPTH, tree):
            raise PageTooComplex(f"nesting deeper than {RESILIPARSE_MAX_DEPTH} elements")
        text = extract_plain_text(tree, main_content=True, preserve_formatting=True,
                                  skip_elements=None if self.config.include_tables else ["table"])
        if self.config.drop_repeated_lines_over > 0:
            text = drop_repeated_lines(text, self.config.drop_repeated_lines_over)
        metadata = _metadata(html, url) if self.config.with_metadata else {}
        title = metadata.get("title") or (tree.title or "").strip() or None
        if title and self.config.with_metadata:
            metadata["title"] = title
        return Extraction(text.strip(), title, metadata)


# rs-trafilatura 0.1.1 is superlinear in nesting depth too, in Rust (measured on 3.12: 1,000 levels 1.1 s, 2,000
# 1.9 s, 10,000 45 s, 50,000 over 60 s; 200k never ends), where no Python time limit reaches.
RS_TRAFILATURA_MAX_DEPTH = 1_000


class RsTrafilaturaEngine(Engine):
    """rs-trafilatura (Rust port of trafilatura with page-type classification), given decoded text."""
    name = "rs_trafilatura"
    package = "rs-trafilatura"
    options = ("with_metadata",)

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        if importlib.util.find_spec("rs_trafilatura") is not None:
            return None
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        if sys.version_info[:2] != (3, 12):
            return (f"engine 'rs_trafilatura' needs Python 3.12 (its only wheels are CPython 3.12; this is "
                    f"Python {here}) and `pip install rs-trafilatura`")
        return "engine 'rs_trafilatura' needs `pip install rs-trafilatura`"

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        import rs_trafilatura

        if _depth_over(html, RS_TRAFILATURA_MAX_DEPTH):
            raise PageTooComplex(f"nesting deeper than {RS_TRAFILATURA_MAX_DEPTH} elements")
        # Decoded text, never extract_bytes: that trusts a wrong declared charset (issue 17). The result is an
        # ExtractResult (rs-trafilatura 0.1.1's README and package: main_content, title, author, date, sitename,
        # description, page_type, extraction_quality), so the metadata come from it, not from a second pass.
        result = rs_trafilatura.extract(html, url=url) if url else rs_trafilatura.extract(html)
        text = result.main_content or ""
        title = result.title
        metadata = {}
        if self.config.with_metadata:
            fields = {"title": result.title, "author": result.author, "date": result.date,
                      "sitename": result.sitename, "description": result.description,
                      "page_type": result.page_type}
            metadata = {k: str(v) for k, v in fields.items() if v}
        return Extraction(str(text).strip(), title, metadata)


OTHER_ENGINES = {cls.name: cls for cls in (ResiliparseEngine, RsTrafilaturaEngine)}


# --- light metadata: the same keys as trafilatura's metadata pass, read from the page's declared metadata ---
# trafilatura's pass (title heuristics, htmldate's date search, author cleaning) costs 14-25 ms a page, about
# half of raw trafilatura's whole extraction; the cascade reads what pages declare instead (Open Graph, Dublin
# Core, schema.org JSON-LD and microdata, <title>, <time datetime>, <html lang>) from the tree it already has.
_DATE = re.compile(r"((?:19|20)\d\d)-(\d\d)-(\d\d)")
_META_KEYS = {
    "title": ("og:title", "twitter:title", "dc.title"),
    "author": ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author", "byl"),
    "date": ("article:published_time", "og:published_time", "datepublished", "date", "pubdate", "publishdate",
             "dc.date", "dc.date.issued", "dcterms.date", "sailthru.date", "parsely-pub-date",
             "article:modified_time", "og:updated_time", "datemodified", "last-modified"),
    "sitename": ("og:site_name", "application-name", "twitter:site"),
    "description": ("description", "og:description", "twitter:description", "dc.description"),
    "image": ("og:image", "twitter:image", "og:image:url"),
}
_JSONLD_KEYS = {"datePublished": "date", "dateCreated": "date", "dateModified": "date", "author": "author",
                "headline": "title"}


def _iso_date(value: str) -> Optional[str]:
    match = _DATE.search(value or "")
    if not match or not ("01" <= match.group(2) <= "12" and "01" <= match.group(3) <= "31"):
        return None
    return match.group(0)


def _jsonld_values(text: str, found: Dict[str, str]) -> None:
    """First datePublished/dateCreated/dateModified, author name and headline of a JSON-LD block."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return
    stack = [data]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, target in _JSONLD_KEYS.items():
            value = item.get(key)
            if isinstance(value, list) and value:
                value = value[0]
            if isinstance(value, dict):
                value = value.get("name")
            if isinstance(value, str) and value.strip() and target not in found:
                found[target] = value.strip()
        stack.extend(v for k, v in item.items() if k in ("@graph", "mainEntity", "mainEntityOfPage")
                     or isinstance(v, (list, dict)) and k not in ("author", "publisher", "image"))


_META_TAG = re.compile(r"<meta\s[^>]*>", re.I)
_ATTR = re.compile(r"""([a-zA-Z:_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_JSONLD = re.compile(r"<script[^>]*application/ld\+json[^>]*>(.*?)</script", re.I | re.S)
_TIME = re.compile(r"<time\s[^>]*datetime\s*=\s*[\"']?([^\"'>\s]+)", re.I)
_TITLE = re.compile(r"<title[^>]*>([^<]*)</title", re.I)
_HTML_LANG = re.compile(r"<html\s[^>]*?\blang\s*=\s*[\"']?([a-zA-Z-]+)", re.I)


def _attributes(tag: str) -> Dict[str, str]:
    return {m.group(1).lower(): html_unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTR.finditer(tag)}


def html_unescape(value: str) -> str:
    from html import unescape

    return unescape(value) if "&" in value else value


def light_metadata(html: str, url: Optional[str], title: Optional[str] = None, h1: Optional[str] = None
                   ) -> Dict[str, str]:
    """title, author, date (YYYY-MM-DD), sitename, description, hostname, language and image of a page, the
    values it declares (<meta> tags, JSON-LD, <time datetime>, <html lang>); the keys of `metadata_of_tree`,
    read where pages put them rather than by trafilatura's heuristics. `title` (the <title> element) and
    `h1` (the first heading) are the title when no metadata names one (`title` None: the <title> found here). Regular expressions over the markup:
    about 1 ms a page (resiliparse 2.0.1's element collections cost ~1 ms per element to iterate)."""
    from urllib.parse import urlsplit

    found: Dict[str, str] = {}
    wanted = {name: key for key, names in _META_KEYS.items() for name in names}
    order = {name: i for names in _META_KEYS.values() for i, name in enumerate(names)}
    best: Dict[str, tuple] = {}
    for tag in _META_TAG.findall(html):
        attrs = _attributes(tag)
        name = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").strip().lower()
        key = wanted.get(name)
        content = (attrs.get("content") or "").strip()
        if key and content and (key not in best or order[name] < best[key][0]):
            best[key] = (order[name], content)
    found.update({key: value for key, (_, value) in best.items()})
    for block in _JSONLD.findall(html):
        _jsonld_values(block, found)
    date = _iso_date(found.pop("date", ""))
    if not date:
        date = next(filter(None, (_iso_date(v) for v in _TIME.findall(html))), None)
    if date:
        found["date"] = date
    if "title" not in found and title is None:
        match = _TITLE.search(html)
        title = html_unescape(match.group(1)) if match else None
    if "title" not in found and (title or h1):
        found["title"] = (title or h1).strip()
    if found.get("author", "").startswith(("http://", "https://")):
        del found["author"]
    lang = _HTML_LANG.search(html)
    if lang:
        found["language"] = lang.group(1).split("-")[0].lower()
    host = urlsplit(url).hostname if url else None
    if host:
        found["hostname"] = host[4:] if host.startswith("www.") else host
    return {key: " ".join(value.split())[:2000] for key, value in found.items() if value and value.strip()}


# --- the cascade's decisions (engine `cascade`, html.py CascadeEngine); thresholds chosen on WCXB dev half A ---
# Measured per page on WCXB dev and the AEB (benchmarks/bench_extract.py): on pages that do not declare
# themselves articles, resiliparse's main content beats trafilatura's on average once it keeps a fifth or more
# of the page's visible text (listings, services, forums and documentation, where trafilatura drops the
# link-dense or short blocks); on declared articles, and where resiliparse kept little, trafilatura is better
# (AEB: resiliparse 0.899 F1, trafilatura fast 0.963). Kept without a second opinion: resiliparse's text when
# it holds at least 0.7 of the visible text (grid 0.3-1.1, best on half A with the thresholds below); that
# leaves trafilatura out of about a fifth of WCXB's pages and few articles.
CASCADE_FIRST_SHARE = 0.7
# With trafilatura's text in hand: resiliparse's is kept when trafilatura's is under 0.3 of its length
# (trafilatura judged the page's content boilerplate), and on pages that are not articles the declared main
# region's text (html.py `main_region_text`) when trafilatura kept under half of it. Grid 0-1.0 and 0-0.7.
CASCADE_KEEP_FIRST_UNDER = 0.3
CASCADE_REGION_UNDER = 0.5
# Two expressions, not one alternation: searched one after the other they take a quarter of the time (1.46 ->
# 0.40 ms a page on the benchmark's pages, same answers).
_ARTICLE_JSONLD = re.compile(r""""@type"\s*:\s*\[?\s*"(?:\w*Article|BlogPosting|Report)\"""", re.I)
_ARTICLE_OG = re.compile(r"""<meta[^>]+(?:property|name)\s*=\s*["']?og:type["']?[^>]+content\s*=\s*["']?article""",
                         re.I)


def declares_article_markup(html: str) -> bool:
    """Whether the page declares itself an article: Open Graph `og:type` article, or a schema.org JSON-LD
    type ending in Article (NewsArticle, BlogPosting, Report, ...)."""
    return bool(_ARTICLE_JSONLD.search(html) or _ARTICLE_OG.search(html))


def cascade_first_choice(first_length: int, visible_length: int, article: bool,
                         share: float = CASCADE_FIRST_SHARE) -> bool:
    """Whether resiliparse's main text (`first_length` characters) is kept without a second opinion: the page
    is not a declared article and the text holds at least `share` of the page's visible text."""
    return not article and first_length > 0 and first_length >= share * visible_length


def cascade_second_choice(first_length: int, second_length: int, region_length: int, article: bool,
                          keep_first_under: float = CASCADE_KEEP_FIRST_UNDER,
                          region_under: float = CASCADE_REGION_UNDER) -> str:
    """Which text the cascade keeps once trafilatura's (`second_length`) is in hand: "second", "first"
    (resiliparse's, when trafilatura's is under `keep_first_under` of it and the page is not an article) or
    "region" (the declared main region's text, on pages that are not articles, when trafilatura's is under
    `region_under` of it)."""
    if article:
        return "second"
    if second_length < keep_first_under * first_length:
        return "first"
    if region_under > 0 and region_length and second_length < region_under * region_length:
        return "region"
    return "second"


# trafilatura (2.x) writes a table as one line per row, "| cell | cell |", each cell's paragraphs and line breaks
# flattened to spaces. A page laid out with a table (one big cell holding the page's prose, the web of the 2000s)
# then comes out as one long line, which the line-based quality rules (FineWeb's terminal punctuation share, C4's
# per-line rules) read as a single unpunctuated line. A row with a cell of `LAYOUT_CELL_WORDS` words or more is
# taken for such a layout table: the page is extracted again without table handling, where trafilatura keeps the
# cells' paragraphs as lines, and that text is used when it keeps at least `LAYOUT_KEEP_SHARE` of the words.
LAYOUT_CELL_WORDS = 40
LAYOUT_KEEP_SHARE = 0.8


def has_layout_table_row(text: str, cell_words: int = LAYOUT_CELL_WORDS) -> bool:
    """Whether trafilatura's text holds a table row ("| a | b |") with a cell of at least `cell_words` words."""
    for line in text.splitlines():
        line = line.strip()
        if len(line) > 2 and line[0] == "|" and line[-1] == "|" and line.count(" ") >= cell_words:
            if any(len(cell.split()) >= cell_words for cell in line[1:-1].split("|")):
                return True
    return False


def layout_table_choice(with_tables: str, without_tables: str, keep_share: float = LAYOUT_KEEP_SHARE) -> str:
    """The text without table handling when it keeps at least `keep_share` of the words of the text with it."""
    return without_tables if len(without_tables.split()) >= keep_share * len(with_tables.split()) else with_tables
