"""HTML extraction: raw records -> documents (main text of HTML pages; text and code as is).

The engine is the recipe's `extract: {engine: NAME}` (pipelines/ingest/engines.py). The default, `cascade`
(`CascadeEngine` below), runs resiliparse first and trafilatura (fast mode, recall focus) only where
resiliparse is likely wrong, and reads the metadata the page declares; `trafilatura` (`TrafilaturaEngine`,
`extract_html`) is the default until issue 17, whose settings follow. Figures: benchmarks/RESULTS.md `extract`.

Archive records go through three decisions before extraction: an HTTP status other than 200 is dropped as
`http_status` (redirects, errors and soft-404 bodies are not content; `only_http_200: false` extracts every
response whatever its status, as FineWeb did: its rules then judge the error pages' text), a non-HTML content type as
`content_type` (PDFs, images, robots.txt; plain-text WET conversions pass through as text), and a page
over `max_html_bytes` as `too_large` (trafilatura's lxml tree grows to ~10x the HTML size). Gzip/deflate
bodies that were stored still encoded are inflated first; the bytes are then decoded following the WHATWG
order of precedence (pipelines/ingest/charsets.py `decode_html`).

The `trafilatura` engine's settings, and why:
- `include_comments=False`: comment threads are short, repetitive user text that quality filters drop
  anyway; the peers (FineWeb, datatrove) exclude them.
- `include_tables=True`: documentation and reference pages (pydoc's own pages are table-laid-out) keep
  most of their content in tables.
- balanced mode plus a recall fallback (`recall_fallback`): precision mode (FineWeb's choice) gains 0.007
  F1 on news articles (AEB) but loses ~0.04 on forums, listings and products (WCXB); when the balanced pass
  keeps under 70% of what a recall pass keeps, the page is not an article and the recall text is used.
  Costs a second trafilatura pass per page (figures in benchmarks/RESULTS.md, section `extract`).
- main-region fallback (`region_fallback`): trafilatura scores blocks, and on listings, collections,
  forums and service pages the content is link-dense cards, short posts and short blocks that it scores as
  boilerplate, sometimes keeping a side block instead. When the page declares its main region (`<main>` or
  `role="main"`, the HTML landmark) and the extraction holds under half of that region's text (navigation,
  headers, footers, asides, comment threads, form controls left out), the region's text is used, one line
  per block. Pages that declare themselves articles (`og:type` article) keep trafilatura's text: on news
  pages the rest of the region is related-story teasers (trafilatura_eval's `without` snippets). WCXB dev
  F1 +0.02 to +0.03 on either half of a hash split, AEB unchanged (benchmarks/bench_extract.py).
- consent banners (`prune_consent`): cookie/consent-management dialogs (trafilatura's own vocabulary of
  banner classes and CMP vendors, which it applies only to its baseline) are removed first; a long one
  otherwise wins trafilatura's main-block choice on some listing pages.
- within-page repeats (`drop_repeated_lines_over`): a line over 200 characters that repeats an earlier
  line of the same page (carousels, responsive layouts) is dropped.
- Title, author, date, site name and description (trafilatura's metadata) go into the record's `title` and
  `metadata` keys; a per-page time limit (`max_seconds`, -> `timeout`) and caps on bytes and tags
  (`too_large`, `too_complex`) keep one pathological page from stalling a worker. The time limit is
  filters.deadline's watchdog, so it fires on whichever thread runs the bundle (Beam's SDK harness uses a
  thread pool, where SIGALRM never arrives); the caps bound the C calls (lxml parsing) it cannot interrupt.
- `deduplicate=False`: trafilatura's deduplication is an LRU cache inside each worker process, so its
  output would depend on record order and worker count; deduplication is the dedup stages' job.
An empty extraction is dropped as `no_text`. Text records (JSONL/Parquet) and code files pass through with
their text unchanged; an empty one is dropped as `empty`.

`extract_record(raw)` is the pure decision, and `record_as_document(raw)` the pass-through of recipes without
an `extract` stage; the Beam shells that count and route them are in pipelines/transforms/extract.py.
Extraction is CPU-bound per record with no shared state, so it scales linearly with workers.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import re
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Dict, Optional, Tuple

from filters.deadline import DeadlineExceeded, deadline
from filters.stage_options import (Fraction, NonNegativeInt, OneOf, OptionError, Positive, PositiveInt,
                                   checked_options)
from pipelines.ingest.charsets import decode_html
from pipelines.ingest.engines import (DEFAULT_ENGINE, ENGINE_NAMES, OTHER_ENGINES, RESILIPARSE_MAX_DEPTH, Engine,
                                     Extraction, PageTooComplex, ResiliparseEngine, _depth_over,
                                     cascade_first_choice, cascade_second_choice, declares_article_markup,
                                     drop_repeated_lines, has_layout_table_row, layout_table_choice, light_metadata,
                                     metadata_of_tree)
from pipelines.ingest.links import is_html
from pipelines.ingest.records import BODY, CONTENT_TYPE, EMPTY_TEXT, HTTP_STATUS, RECORD_TYPE, TRUNCATED, WARC_DATE
from schemas import CODE_LANGUAGE, ID, METADATA, TITLE, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL, empty_document

PLAIN_TYPES = ("text/plain",)


@checked_options
@dataclass(frozen=True)
class ExtractConfig:
    # Precision/recall trade-off (trafilatura's own switches): precision helps news articles a little
    # (AEB F1 +0.007) and hurts forums, listings and products a lot (WCXB F1 -0.04), so it is off.
    favor_precision: bool = False
    favor_recall: bool = False
    # When the balanced extraction is shorter than this fraction of a recall-mode extraction of the same
    # page, the page is not an article (a listing, product or forum page whose blocks trafilatura judged
    # boilerplate) and the recall output is kept. 0 turns the second pass off. 0.7 measured best on a
    # WCXB dev subset among 0.5/0.7/0.9 (benchmarks/bench_extract.py).
    recall_fallback: Fraction = 0.7
    # When the page declares its main region (<main> or role="main") and the extraction keeps under this
    # fraction of that region's text (navigation, headers, footers, asides, comment threads, consent
    # banners and form controls left out), trafilatura has judged the region's own content boilerplate
    # (link-dense cards of a listing or collection, short forum posts, service-page blocks) and the
    # region's text is used instead. Not on pages that declare themselves articles (og:type article), where
    # the rest of the region is related-story teasers. 0 turns it off. 0.5 measured best among 0.3-0.6 on
    # half A of WCXB dev (half B held out; benchmarks/bench_extract.py).
    region_fallback: Fraction = 0.5
    # Consent-management banners (cookie dialogs) are removed before extraction; trafilatura prunes them
    # only in its baseline, so a long cookie dialog could win the main extraction.
    prune_consent: bool = True
    # A line longer than this that repeats an earlier line of the same page is dropped (a carousel or a
    # responsive layout rendering the same paragraph twice). Within one page only, so the output does not
    # depend on record order. 0 keeps repeats.
    drop_repeated_lines_over: NonNegativeInt = 200
    include_tables: bool = True
    include_comments: bool = False
    # `fast` skips trafilatura's readability/jusText fallbacks: ~2x faster, a little lower recall. (The
    # `cascade` engine's trafilatura pass is always fast.)
    fast: bool = False
    with_metadata: bool = True       # title, author, date, sitename, description into the record's `metadata`
    max_html_bytes: PositiveInt = 5 << 20  # pages above are dropped as `too_large` (lxml's tree is ~10x the HTML)
    max_tags: PositiveInt = 200_000  # pages with more start tags are dropped as `too_complex`
    max_seconds: Positive = 20.0  # per-page wall limit on any thread (filters.deadline) -> `timeout`
    # Archive responses whose HTTP status is not 200 are dropped as `http_status` (redirects, error pages, soft
    # 404s). false: every response is extracted whatever its status (FineWeb's chain, recipes/fineweb-en.yaml).
    only_http_200: bool = True
    # Which extractor turns a page into text (pipelines/ingest/engines.py): `cascade` (the default: resiliparse
    # first, trafilatura as a second opinion where resiliparse is likely wrong, declared metadata),
    # `trafilatura` (the default until issue 17: trafilatura plus the fallbacks above), `resiliparse` or
    # `rs_trafilatura`. recall_fallback, prune_consent and fast are the `trafilatura` engine's; with `cascade`,
    # favor_precision asks trafilatura on every page in precision mode and keeps its text (no swaps), and
    # region_fallback is the cascade's main-region threshold when it is not the default (0 turns it off).
    # The caps, the time limit, metadata and repeated-line dropping apply to all.
    engine: Annotated[str, OneOf(*ENGINE_NAMES)] = DEFAULT_ENGINE
    # The stage's text, title and prose metadata (PLAIN_METADATA) in plain characters (`plain_text`), whichever
    # engine read the page: no-break and
    # typographic spaces become the space character, invisible characters (soft hyphens, zero-width spaces, word
    # joiners, byte-order marks, C0 control characters) go, and lines lose trailing spaces and tabs. trafilatura's
    # text has them so (its `trim` and `remove_control_characters`) outside <pre>; resiliparse and rs_trafilatura
    # keep every `&nbsp;` and `&shy;` (72 of the 139 documents the default recipe keeps from the shared WARC files
    # held U+00A0, 3,970 in all), so the cascade's text changed convention with the engine that won, and a
    # tokenizer trained on it learned `\xa0the` beside ` the`. false: each engine's text as it gives it.
    plain_text: bool = True

    def __post_init__(self):
        # An engine that cannot run here (a package missing, or rs_trafilatura off Python 3.12) is refused when
        # the recipe loads, not on every page once the job runs.
        other = OTHER_ENGINES.get(self.engine)  # trafilatura is this module's own, always there
        reason = other.unavailable_reason() if other else None
        if self.engine == "cascade":  # resiliparse first (CascadeEngine, defined below)
            reason = ResiliparseEngine.unavailable_reason()
            reason = reason and reason.replace("engine 'resiliparse'", "engine 'cascade'")
        if reason:
            raise OptionError("engine", f"{self.engine!r} cannot run here: {reason}")
        # An option the chosen engine never reads would be accepted and do nothing (`prune_consent: false` with the
        # cascade): a value other than its default is refused, naming the engines that read it.
        changed = [f for f in dataclasses.fields(self) if f.name not in ALL_ENGINES_OPTIONS
                   and getattr(self, f.name) != f.default]
        if changed:
            reads = ENGINES[self.engine].options
            for f in changed:
                if reads is not None and f.name not in reads:
                    readers = [name for name, cls in ENGINES.items() if cls.options is None or f.name in cls.options]
                    raise OptionError(f.name, f"= {getattr(self, f.name)!r} does nothing with engine {self.engine!r}, "
                                              f"which does not read it; engines that do: {', '.join(readers)} "
                                              f"(set `engine:`), or remove the option")


# Options every engine is run with (extract_record's caps, status check and time limit, and the engine's name);
# the others are read by the engines whose `options` name them (None: all).
ALL_ENGINES_OPTIONS = frozenset({"engine", "only_http_200", "max_html_bytes", "max_tags", "max_seconds",
                                 "plain_text"})

# No-break and typographic spaces (Unicode Zs but the space itself, the ideographic space of CJK text and the
# Ogham space mark): U+00A0 (`&nbsp;`), U+2000-U+200A (en, em, thin, hair, figure, ... spaces), U+202F (narrow
# no-break), U+205F (medium mathematical).
_TYPOGRAPHIC_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")
# Characters that show nothing and only split words for a tokenizer, a word rule or a dedup hash: the soft hyphen
# (U+00AD, `&shy;`), the zero-width space (U+200B), the word joiner (U+2060), the byte-order mark (U+FEFF), and C0
# control characters but tab, newline, carriage return and the line breaks below, and DEL. Zero-width joiners and
# non-joiners (emoji sequences; Persian and Indic spelling) and bidirectional marks stay, and so do C1 control
# characters (U+0080-U+009F): on the web they are nearly always mojibake (UTF-8 read as Latin-1, `youâ\x80\x99re`),
# which a repair such as ftfy's can undo only while they are there.
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff\x00-\x08\x0e-\x1b\x7f]")
# What Python's str.splitlines() breaks lines at besides \n, \r and NEL (vertical tab, form feed, the file, group
# and record separators, U+2028, U+2029): a newline, so that the words on either side stay apart.
_LINE_BREAKS = re.compile("[\x0b\x0c\x1c-\x1f\u2028\u2029]")


def as_plain_text(text: str) -> str:
    """`text` with every no-break or typographic space as a plain space, no invisible characters (_INVISIBLE),
    every other line break a newline, and no spaces or tabs at the end of a line; leading indentation (code in
    <pre>) and runs of spaces inside a line stay as they are."""
    if not text:
        return text
    text = _LINE_BREAKS.sub("\n", _INVISIBLE.sub("", _TYPOGRAPHIC_SPACES.sub(" ", text)))
    # line by line: 5x faster than a multiline `[ \t]+$` pattern, which tries every space of the text
    return "\n".join(line.rstrip(" \t") for line in text.split("\n"))


# The metadata values that are prose, put on one line in plain characters as the title is (`plain_text`): URLs, dates,
# language codes and hostnames are left as the engine gave them.
PLAIN_METADATA = ("title", "author", "sitename", "description")


def plain_title(title: Optional[str]) -> Optional[str]:
    """A title in plain characters on one line, runs of spaces collapsed (None or empty: None)."""
    if not title:
        return None
    return " ".join(re.split(r"[ \t\r\n]+", as_plain_text(title).strip())) or None


def _media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


MAX_INFLATED_BYTES = 64 << 20  # a stored-encoded body inflates to at most this (a gzip bomb stays bounded)


def inflate_body(body: bytes, max_bytes: int = MAX_INFLATED_BYTES) -> bytes:
    """Undo a gzip/zlib/raw-deflate Content-Encoding that was stored as is (warcio usually undoes it).
    The output is capped at `max_bytes` (a page over the HTML cap is dropped as `too_large` anyway)."""
    if body[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, max_bytes)
        except zlib.error:  # the magic number by chance, or a corrupt member: treat the bytes as they are
            return body
    if len(body) > 2 and body[0] == 0x78 and (body[0] * 256 + body[1]) % 31 == 0:
        try:
            return zlib.decompressobj().decompress(body, max_bytes)
        except zlib.error:
            return body
    return body


def _trafilatura_text(tree_or_html, url, config: ExtractConfig, favor_recall: bool):
    import trafilatura

    return trafilatura.extract(tree_or_html, url=url, include_comments=config.include_comments,
                               include_tables=config.include_tables,
                               favor_precision=config.favor_precision and not favor_recall,
                               favor_recall=favor_recall, fast=config.fast, deduplicate=False,
                               output_format="txt", with_metadata=False) or ""


_REGEXP_NS = {"re": "http://exslt.org/regular-expressions"}
# Consent-management banners: trafilatura's own vocabulary for its baseline (settings.py, 2.3), anchored
# compounds and CMP vendors rather than bare "cookie", which also names content about cookies.
_CONSENT_RE = ("cookie[-_]?(?:banner|bar|consent|law|notice|policy|description)|notice[-_]{0,2}cookie"
               "|consent[-_]?(?:banner|manager|sdk)|borlabs|cookiebot|cmplz|onetrust|moove[-_]?gdpr")
_CONSENT = re.compile(_CONSENT_RE, re.I)
_MAIN_REGION_XPATH = ".//main|.//*[@role='main']"
_ARTICLE_XPATH = ("//meta[(@property='og:type' or @name='og:type') and "
                  "translate(normalize-space(@content), 'ARTICLE', 'article') = 'article']")
_WRAPPER_XPATH = "self::main|self::article|.//main|.//article|.//*[@role='main']"
# Inside the main region, what is not its text: page chrome (HTML landmarks and their ARIA roles), comment
# threads (trafilatura's comment-container ids and classes), form controls, and non-text elements.
_COMMENTS_ID = "^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)"
_COMMENTS_CLASS = "^[Cc]omment(?!ary)|(?:article|post)-comments"
_REGION_DROP_XPATH = (
    ".//nav|.//header|.//footer|.//aside"
    "|.//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary' or @role='search']"
    "|.//*[self::div or self::section or self::details or self::ol or self::ul]"
    f"[re:test(@id, '{_COMMENTS_ID}') or re:test(@class, '{_COMMENTS_CLASS}')]"
    "|.//button|.//select|.//label|.//form[not(.//p)]|.//div[contains(@class, 'footer') or contains(@id, 'footer')]"
    "|.//script|.//style|.//noscript|.//template|.//svg|.//iframe|.//object|.//canvas"
)
# Elements that start a new line in the region's text.
_BLOCK_TAGS = frozenset("address article blockquote br dd details div dl dt fieldset figcaption figure h1 h2 h3 h4 h5 "
                        "h6 hr li main ol p pre section summary table tbody td th thead tr ul".split())
_SPACES = re.compile(r"[^\S\n]+")


@functools.lru_cache(maxsize=None)
def _xpath(expression: str):
    from lxml.etree import XPath

    return XPath(expression, namespaces=_REGEXP_NS)


def _text_length(element) -> int:
    return sum(len(t.strip()) for t in element.itertext())


def _remove(elements) -> None:
    """Remove elements, keeping each one's tail text (it belongs to the parent)."""
    for el in elements:
        parent = el.getparent()
        if parent is None or el.tag in ("html", "body"):
            continue
        if el.tail and el.tail.strip():
            prev = el.getprevious()
            if prev is not None:
                prev.tail = (prev.tail or "") + " " + el.tail
            else:
                parent.text = (parent.text or "") + " " + el.tail
        parent.remove(el)


def prune_consent_banners(tree) -> None:
    """Remove consent-management banners in place. A match that holds the page's main region or an article,
    or most of its text, is a wrapper whose class names a banner state (`has-cookie-banner`) and is kept."""
    # A Python pass over class and id is about twice as fast as the same test in EXSLT regular expressions.
    matches = [el for el in tree.iter() if isinstance(el.tag, str)
               and (_CONSENT.search(el.get("class") or "") or _CONSENT.search(el.get("id") or ""))]
    if not matches:
        return
    page = _text_length(tree)
    _remove([el for el in matches if not _xpath(_WRAPPER_XPATH)(el) and _text_length(el) <= 0.8 * page])


def _block_text(element) -> str:
    """The visible text of an element, one line per block-level element, spaces collapsed (iterative, so
    deeply nested pages do not hit the recursion limit)."""
    from lxml import etree

    parts = []
    for event, el in etree.iterwalk(element, events=("start", "end")):
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            if tag and el.text:
                parts.append(el.text)
        else:
            if tag in _BLOCK_TAGS:
                parts.append("\n")
            if el.tail and el is not element:
                parts.append(el.tail)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def main_region_text(tree) -> Optional[str]:
    """Text of the page's declared main region (`<main>` or `role="main"`, the first in document order)
    without chrome, comment threads and form controls; None when the page declares none. `tree` is left
    untouched."""
    regions = _xpath(_MAIN_REGION_XPATH)(tree)
    if not regions:
        return None
    region = copy.deepcopy(regions[0])
    region.tail = None
    _remove(_xpath(_REGION_DROP_XPATH)(region))
    return _block_text(region)


def declares_article(tree) -> bool:
    """Whether the page declares itself an article (Open Graph `og:type` = article): trafilatura's article
    extraction is kept there, and the related-story teasers around it in the main region stay out."""
    return bool(_xpath(_ARTICLE_XPATH)(tree))



def html_to_text(html: str, url: Optional[str], config: ExtractConfig = ExtractConfig()) -> str:
    return extract_html(html, url, config)[0]


def extract_html(html: str, url: Optional[str], config: ExtractConfig = ExtractConfig()) -> Tuple[str, Dict[str, str]]:
    """(main text, metadata) of a page: consent banners pruned, a balanced (or precision) pass, then, when
    `recall_fallback` is set and that pass kept little, a recall pass whose output wins if the first is
    under the fraction; then, when `region_fallback` is set and the page's declared main region holds much
    more text than was kept, the region's text; repeated long lines dropped last."""
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        return "", {}
    if config.prune_consent:
        prune_consent_banners(tree)
    text = _trafilatura_text(copy.deepcopy(tree), url, config, config.favor_recall)
    if config.recall_fallback > 0 and not config.favor_recall:
        recall = _trafilatura_text(copy.deepcopy(tree), url, config, True)
        if len(text) < config.recall_fallback * len(recall):
            text = recall
    if config.region_fallback > 0 and not declares_article(tree):
        region = main_region_text(tree)
        if region and len(text.strip()) < config.region_fallback * len(region):
            text = region
    if config.drop_repeated_lines_over > 0:
        text = drop_repeated_lines(text, config.drop_repeated_lines_over)
    metadata = metadata_of_tree(tree, url) if config.with_metadata else {}
    return text.strip(), metadata



class TrafilaturaEngine(Engine):
    """Engine `trafilatura`, the default until issue 17: `extract_html` (trafilatura plus the fallbacks above),
    unchanged. It reads every option of ExtractConfig."""
    name = "trafilatura"
    package = "trafilatura"
    options = None

    def __init__(self, config: Optional["ExtractConfig"] = None):
        super().__init__(config if config is not None else ExtractConfig())

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        text, metadata = extract_html(html, url, self.config)
        return Extraction(text, metadata.get("title"), metadata)


def _title_of(tree) -> Optional[str]:
    """The text of the page's first <title> in lxml's tree, spaces collapsed as resiliparse's `title` gives it
    (None without a tree or a title)."""
    if tree is None:
        return None
    found = tree.find(".//title")
    return None if found is None else " ".join(found.text_content().split())


class CascadeEngine(Engine):
    """Engine `cascade`, the default: resiliparse's main-content text first (an order of magnitude faster than
    trafilatura); trafilatura (fast mode, recall focus, comments off) as a second opinion only where the first
    is likely wrong: a page that declares itself an article (Open Graph or schema.org), or whose resiliparse
    text holds under 0.7 of its visible text (engines.py `cascade_first_choice`). With both texts, the choice
    by lengths (`cascade_second_choice`): trafilatura's, resiliparse's when trafilatura kept under 0.3 of it,
    the declared main region's when trafilatura kept under half of it (not on articles). Metadata: what the page
    declares (`light_metadata`), not trafilatura's heuristic pass (14-25 ms a page, half of raw trafilatura's
    time). A declared article is read by trafilatura alone (resiliparse does not parse it). Other pages nested
    deeper than resiliparse can take within the limit go to the `trafilatura` engine. `favor_precision`:
    trafilatura in precision mode on every page, its text kept."""
    name = "cascade"
    package = "resiliparse==2.0.1"
    options = ("favor_precision", "region_fallback", "include_tables", "include_comments", "drop_repeated_lines_over",
               "with_metadata")

    def __init__(self, config: Optional["ExtractConfig"] = None):
        super().__init__(config if config is not None else ExtractConfig())

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        reason = ResiliparseEngine.unavailable_reason()
        return reason and reason.replace("engine 'resiliparse'", "engine 'cascade'")

    def _trafilatura(self, tree, url, recall: bool, html: str) -> str:
        import trafilatura
        from trafilatura.utils import load_html

        config = self.config

        def run(tree, tables: bool, fast: bool = True) -> str:
            return trafilatura.extract(tree, url=url, include_comments=config.include_comments,
                                       include_tables=tables, fast=fast, deduplicate=False,
                                       favor_precision=not recall, favor_recall=recall,
                                       output_format="txt", with_metadata=False) or ""

        text = run(tree, config.include_tables)
        if config.include_tables and has_layout_table_row(text):  # engines.py: a page laid out
            fresh = load_html(html)                      # with a table, read again without table handling
            if fresh is not None:                        # (and with trafilatura's fallbacks, which find the
                text = layout_table_choice(text, run(fresh, False, fast=False))  # cells' paragraphs)
        return text

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree
        from trafilatura.utils import load_html

        config = self.config
        skip = None if config.include_tables else ["table"]
        precision = config.favor_precision
        article = declares_article_markup(html)
        # A declared article always keeps trafilatura's text (cascade_first_choice and cascade_second_choice
        # say so whatever the lengths): resiliparse's parse and two passes are skipped there, and so is the depth
        # check that guards them (lxml's parser, under trafilatura, stops at 256 levels).
        rtree = None if precision or article else HTMLTree.parse(html)
        if rtree is not None and _depth_over(html, RESILIPARSE_MAX_DEPTH, rtree):
            return TrafilaturaEngine(config)._extract(html, url)
        text = ""
        tree = None
        if rtree is not None:
            text = extract_plain_text(rtree, main_content=True, preserve_formatting=True, skip_elements=skip)
            visible = extract_plain_text(rtree, main_content=False, preserve_formatting=True, skip_elements=skip)
        if rtree is None or not cascade_first_choice(len(text), len(visible), article):
            tree = load_html(html)
            second = self._trafilatura(tree, url, recall=not precision, html=html) if tree is not None else ""
            if precision or article:
                text = second
            else:
                region_under = config.region_fallback  # 0.5 by default, engines.CASCADE_REGION_UNDER
                # the main region's text only where it can decide (not when resiliparse's text is kept anyway)
                choice = cascade_second_choice(len(text), len(second), 0, article, region_under=region_under)
                region = ""
                if choice == "second" and tree is not None and region_under > 0:
                    region = main_region_text(tree) or ""
                    choice = cascade_second_choice(len(text), len(second), len(region), article,
                                                   region_under=region_under)
                text = {"first": text, "second": second, "region": region}[choice]
        if config.drop_repeated_lines_over > 0:
            text = drop_repeated_lines(text, config.drop_repeated_lines_over)
        page_title = rtree.title if rtree is not None else _title_of(tree)
        metadata = light_metadata(html, url, page_title) if config.with_metadata else {}
        title = metadata.get("title") or (page_title or "").strip() or None
        return Extraction(text.strip(), title, metadata)


ENGINES = {CascadeEngine.name: CascadeEngine, TrafilaturaEngine.name: TrafilaturaEngine, **OTHER_ENGINES}


def engine_for(config: "ExtractConfig") -> Engine:
    """The engine an ExtractConfig names (`engine`; DEFAULT_ENGINE, the cascade, when left out)."""
    return ENGINES[config.engine](config)


def extract_record(raw: Dict[str, Any], config: ExtractConfig = ExtractConfig()) -> Tuple[Dict[str, Any], Optional[str]]:
    """(document, None) to keep, or (document with whatever text there is, reason) to drop."""
    doc = empty_document(raw[ID], raw[SOURCE], "", url=raw.get(URL), input_path=raw.get(INPUT_PATH),
                         input_offset=raw.get(INPUT_OFFSET), code_language=raw.get(CODE_LANGUAGE))
    body = raw.get(BODY)
    if body is None:  # text and code records
        text = raw.get(TEXT) or ""
        doc[TEXT] = text
        if raw.get(METADATA):  # code: repo, path, language, license
            doc[METADATA] = dict(raw[METADATA])
        return doc, (None if text.strip() else EMPTY_TEXT)
    status = raw.get(HTTP_STATUS)
    if status is not None and status != 200 and config.only_http_200:
        return doc, "http_status"
    media_type = _media_type(raw.get(CONTENT_TYPE))
    body = inflate_body(body, max(MAX_INFLATED_BYTES, config.max_html_bytes + 1))  # over the cap: too_large below
    if media_type in PLAIN_TYPES and raw.get(RECORD_TYPE) == "conversion":  # WET: text already extracted
        text, _ = decode_html(body, raw.get(CONTENT_TYPE))
        doc[TEXT] = (as_plain_text(text) if config.plain_text else text).strip()
        return doc, (None if doc[TEXT] else "no_text")
    if not is_html(media_type, body):  # no declared type (some resource records): sniffed
        return doc, "content_type"
    if len(body) > config.max_html_bytes:
        return doc, "too_large"
    if body.count(b"<") > config.max_tags:
        return doc, "too_complex"
    html, encoding = decode_html(body, raw.get(CONTENT_TYPE))
    try:
        # A watchdog, not SIGALRM: the limit must fire on the SDK harness's worker threads too.
        # The engine's errors are EngineErrors whose message starts with the engine's name (-> error rows).
        with deadline(config.max_seconds, message=f"extraction over {config.max_seconds:g}s"):
            extraction = engine_for(config).extract(html, raw.get(URL))
    except DeadlineExceeded:
        return doc, "timeout"
    except PageTooComplex:  # beyond what the engine's uninterruptible C code finishes within the limit
        return doc, "too_complex"
    doc[TEXT], metadata = extraction.text, extraction.metadata
    if config.plain_text:
        doc[TEXT] = as_plain_text(doc[TEXT]).strip()
        for key in PLAIN_METADATA:
            if isinstance(metadata.get(key), str):
                value = plain_title(metadata[key])
                if value:
                    metadata[key] = value
                else:
                    del metadata[key]
    metadata["encoding"] = encoding
    if raw.get(WARC_DATE):
        metadata["crawl_date"] = raw[WARC_DATE]
    if raw.get(TRUNCATED):  # the archive holds only part of the page (WARC-Truncated): the text may end early
        metadata["truncated"] = str(raw[TRUNCATED])
    doc[TITLE] = plain_title(extraction.title) if config.plain_text else extraction.title
    doc[METADATA] = metadata
    return doc, (None if doc[TEXT] else "no_text")


def record_as_document(raw: Dict[str, Any]) -> Dict[str, Any]:
    """A text or code record (no HTML body) as a document with every column, its text unchanged."""
    if raw.get(BODY) is not None:
        raise ValueError(f"record {raw.get(ID)} of {raw.get(INPUT_PATH)} is a web archive record: "
                         f"its HTML needs an `extract` stage first in the recipe")
    # extract_record passes text and code records through untouched; its `empty` reason is a decision of
    # the extract stage, which this recipe does not have, so an empty text goes on to the recipe's filters.
    doc, _reason = extract_record(raw)
    return doc

