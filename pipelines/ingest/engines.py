"""Extraction engines behind one small interface: a page in (HTML bytes or decoded text, URL, declared
charset), an `Extraction` out (main text, title, metadata). Beam-free, so each engine is a plain class that
tests call directly; the extract stage (pipelines/ingest/html.py `extract_record`) picks one by the recipe's
`extract: {engine: NAME}`, and the caps, the per-page time limit and the drop reasons around it are the same
for every engine.

Engines (issue 17; figures of the table in benchmarks/RESULTS.md section `extract` and the issue):
- `trafilatura` (the default, `DEFAULT_ENGINE`; html.py `TrafilaturaEngine`): today's extractor, trafilatura
  plus this project's fallbacks (`extract_html`), unchanged: leaving `engine` out gives byte-identical outputs.
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
from typing import Dict, Optional, Union

DEFAULT_ENGINE = "trafilatura"
ENGINE_NAMES = ("trafilatura", "rs_trafilatura", "resiliparse")


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


def _depth_over(tree, html: str, limit: int) -> bool:
    """Whether the parsed page nests deeper than `limit` elements."""
    steps = (-1 if slash else 1 for slash in _TAGS.findall(html))
    if max(itertools.accumulate(steps, initial=0)) <= limit:
        return False
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

    @classmethod
    def unavailable_reason(cls) -> Optional[str]:
        if importlib.util.find_spec("resiliparse") is None:
            return "engine 'resiliparse' needs the resiliparse package: `pip install resiliparse==2.0.1`"
        return None

    def _extract(self, html: str, url: Optional[str]) -> Extraction:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        if _depth_over(tree, html, RESILIPARSE_MAX_DEPTH):
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


class RsTrafilaturaEngine(Engine):
    """rs-trafilatura (Rust port of trafilatura with page-type classification), given decoded text."""
    name = "rs_trafilatura"
    package = "rs-trafilatura"

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
