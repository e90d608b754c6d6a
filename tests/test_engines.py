"""Extraction engines (pipelines/ingest/engines.py, issue 17): each engine on real benchmark pages, the hostile
inputs on resiliparse under the per-page limit, engine errors naming the engine, recipe-load refusals, and one
small real curate with `extract: {engine: resiliparse}`."""
from __future__ import annotations

import gzip
import json
import re
import sys
from collections import Counter

import pytest

from filters.stage_options import OptionError
from pipelines.ingest.engines import EngineError, Extraction, ResiliparseEngine, RsTrafilaturaEngine
from pipelines.ingest.html import ENGINES, ExtractConfig, TrafilaturaEngine, extract_record
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS
from pipelines.jobs.recipe import RecipeError, parse_recipe
from schemas import ID, SOURCE, TEXT, TITLE, URL

from engines_available import require_engine



@pytest.fixture()
def resiliparse():
    require_engine("resiliparse")  # a dependency of every install: missing fails, not skips


def _pages(shared_data, n):
    """The first n WCXB dev pages and AEB pages (sorted by name), as (bytes, url)."""
    out = []
    for folder in ("wcxb_dev", "scrapinghub_aeb"):
        files = sorted((shared_data / "html" / folder / "html").glob("*.html.gz"))[:n]
        if not files:
            pytest.skip(f"no pages in {shared_data / 'html' / folder}")
        out += [(gzip.open(f).read(), f"https://example.com/{f.name}") for f in files]
    return out


def _available(name):
    require_engine(name)
    return ENGINES[name](ExtractConfig(engine=name))


@pytest.mark.parametrize("name", ["cascade", "trafilatura", "resiliparse", "rs_trafilatura"])
def test_engine_gives_text_and_title_on_real_pages(shared_data, name):
    engine = _available(name)
    for body, url in _pages(shared_data, 3):
        result = engine.extract_page(body, url, "text/html")
        assert isinstance(result, Extraction)
        assert len(result.text.split()) >= 20, (name, url, result.text[:200])
        assert result.title and result.title.strip(), (name, url)
        assert result.metadata.get("encoding")


def test_trafilatura_engine_is_the_pre_cascade_extractor(shared_data):
    from pipelines.ingest.html import extract_html

    assert ExtractConfig().engine == "cascade"
    body, url = _pages(shared_data, 1)[0]
    html = body.decode("utf-8", "replace")
    text, metadata = extract_html(html, url, ExtractConfig())
    result = TrafilaturaEngine().extract(html, url)
    assert (result.text, result.metadata, result.title) == (text, metadata, metadata.get("title"))


def test_resiliparse_differs_from_trafilatura_and_keeps_metadata(resiliparse, shared_data):
    body, url = _pages(shared_data, 1)[0]
    a = TrafilaturaEngine().extract_page(body, url, "text/html")
    b = ResiliparseEngine(ExtractConfig(engine="resiliparse")).extract_page(body, url, "text/html")
    assert a.text != b.text  # really another extractor
    assert b.metadata.get("title") == b.title and b.metadata.get("hostname")


def test_engine_error_names_the_engine(resiliparse):
    with pytest.raises(EngineError, match=r"^resiliparse: "):
        ResiliparseEngine(ExtractConfig(engine="resiliparse")).extract(None, None)  # not a str: resiliparse refuses it


def _raw(body, content_type="text/html"):
    return {ID: "x", SOURCE: "web", URL: "https://example.com/", BODY: body, CONTENT_TYPE: content_type,
            HTTP_STATUS: 200}


HOSTILE = {
    "deep_nesting_200k": b"<html><body>" + b"<div>" * 200_000 + b"deep text" + b"</div>" * 200_000 + b"</body></html>",
    "line_40mb": b"<html><head><title>t</title></head><body><p>" + b"word " * (8 << 20) + b"</p></body></html>",
    "bad_encoding": b"<html><head><meta charset='utf-8'><title>\xff\xfe</title></head><body><p>caf\xe9 \xc3\x28 "
                    b"\xed\xa0\x80 text here</p></body></html>",
    "declared_wrong": b"<html><head><meta charset='x-unknown-42'></head><body><p>\x93quoted\x94</p></body></html>",
    "empty_body": b"",
    "empty_html": b"<html><body></body></html>",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_inputs_finish_under_the_limit(resiliparse, case):
    """Through the stage's decision (caps, decoding, time limit) with the caps raised so the engine itself
    sees the page, and through the default caps: no exception, a kept document or a drop reason."""
    body = HOSTILE[case]
    for config in (ExtractConfig(engine="resiliparse", max_seconds=10.0),
                   ExtractConfig(engine="resiliparse", max_seconds=10.0, max_html_bytes=64 << 20,
                                 max_tags=1 << 30),
                   ExtractConfig(engine="cascade", max_seconds=10.0),
                   ExtractConfig(engine="cascade", max_seconds=10.0, max_html_bytes=64 << 20, max_tags=1 << 30)):
        doc, reason = extract_record(_raw(body), config)
        assert reason in (None, "no_text", "too_large", "too_complex", "timeout", "content_type"), (case, reason)
        assert isinstance(doc[TEXT], str)
        if reason is None:
            assert doc[TEXT].strip()
        if case == "deep_nesting_200k" and config.engine == "resiliparse" and config.max_tags > 1 << 20:
            assert reason == "too_complex"  # resiliparse's own depth guard, the caps being raised


def test_bad_engine_name_fails_at_recipe_load_naming_the_engines():
    with pytest.raises(RecipeError, match=r"engine.*'cascade', 'trafilatura', 'rs_trafilatura', 'resiliparse'"):
        parse_recipe({"extract": {"engine": "readability"}})


@pytest.mark.skipif(sys.version_info[:2] == (3, 12), reason="rs_trafilatura can be installed on Python 3.12")
def test_rs_trafilatura_refused_at_load_off_python_312():
    assert RsTrafilaturaEngine.unavailable_reason()
    with pytest.raises(OptionError, match=r"Python 3\.12.*pip install rs-trafilatura"):
        ExtractConfig(engine="rs_trafilatura")
    with pytest.raises(RecipeError) as info:
        parse_recipe({"extract": {"engine": "rs_trafilatura"}})
    message = str(info.value)
    assert "\n" not in message and "Python 3.12" in message and "pip install rs-trafilatura" in message


def test_curate_with_resiliparse_engine(resiliparse, shared_data, tmp_path):
    import pyarrow.parquet as pq

    from pipelines.jobs.curate import run_curate

    warc = shared_data / "warc" / "common_crawl" / "resiliparse__CC-MAIN-2020-34_excerpt.warc.gz"
    if not warc.exists():
        pytest.skip(f"{warc} not found")
    recipe = parse_recipe({"extract": {"engine": "resiliparse"}})
    out = tmp_path / "out"
    report = run_curate([str(warc)], str(out), recipe)
    stages = {s.name: s for s in report.stages}
    for s in report.stages:
        assert s.balanced, s
    assert stages["extract"].in_ == stages["read"].kept
    assert stages["extract"].kept >= 5
    on_disk = json.loads((out / "report.json").read_text())
    for s in on_disk["stages"]:
        assert s["in"] == s["kept"] + sum(s["dropped"].values()) + s["errors"], s
    docs = [row for f in sorted(out.rglob("*.parquet")) if "document" in str(f)
            for row in pq.read_table(f).to_pylist()]
    assert len(docs) == stages["extract"].kept
    assert all(d[TEXT].strip() for d in docs)
    assert sum(1 for d in docs if d[TITLE]) >= len(docs) // 2


def test_engine_error_row_starts_with_the_engine_name():
    from pipelines.transforms.extract import EXTRACT_STAGE, _named
    from pipelines.transforms.stages import error_row_for
    from schemas import ERROR

    try:
        ResiliparseEngine(ExtractConfig()).extract(None, None)
    except EngineError as exc:
        row = error_row_for(EXTRACT_STAGE, _raw(b""), _named(exc))
    assert row[ERROR].startswith("resiliparse: ") and row["stage"] == "extract"
    assert error_row_for(EXTRACT_STAGE, _raw(b""), _named(ValueError("x")))[ERROR] == "ValueError: x"


# --- the default engine `cascade` (issue 17, item 3): its decisions, on real pages ---

def test_cascade_decisions_are_the_measured_thresholds():
    from pipelines.ingest.engines import cascade_first_choice, cascade_second_choice

    # resiliparse alone: not an article, and its text holds 0.7 or more of the page's visible text
    assert cascade_first_choice(700, 1000, article=False)
    assert not cascade_first_choice(699, 1000, article=False)
    assert not cascade_first_choice(1000, 1000, article=True)
    assert not cascade_first_choice(0, 0, article=False)  # nothing found: ask trafilatura
    # with trafilatura's text: articles keep it; elsewhere resiliparse's when trafilatura kept under 0.3 of it,
    # the main region's when trafilatura kept under half of it
    assert cascade_second_choice(1000, 10, 5000, article=True) == "second"
    assert cascade_second_choice(1000, 299, 0, article=False) == "first"
    assert cascade_second_choice(1000, 400, 900, article=False) == "region"
    assert cascade_second_choice(1000, 400, 900, article=False, region_under=0) == "second"
    assert cascade_second_choice(1000, 600, 1000, article=False) == "second"


def _wcxb_page(shared_data, page_type, n):
    """The first n WCXB dev pages of a page type (by id), as (bytes, url)."""
    root = shared_data / "html" / "wcxb_dev"
    if not (root / "metadata.json").exists():
        pytest.skip(f"no WCXB metadata in {root}")
    files = json.loads((root / "metadata.json").read_text())["files"]
    ids = sorted(k for k, m in files.items() if m.get("page_type") == page_type
                 and (root / "html" / f"{k}.html.gz").exists() and (root / "ground-truth" / f"{k}.json").exists())
    out = []
    for key in ids[:n]:
        path = root / "html" / f"{key}.html.gz"
        truth = json.loads((root / "ground-truth" / f"{key}.json").read_text())
        out.append((gzip.open(path).read(), truth.get("url")))
    if not out:
        pytest.skip(f"no {page_type} pages in {root}")
    return out


def test_cascade_on_real_pages_follows_its_decisions(resiliparse, shared_data):
    """On each real page the cascade's text is the text its decisions name: resiliparse's alone, or after a
    trafilatura pass trafilatura's, resiliparse's or the main region's; declared articles get trafilatura's."""
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree
    from trafilatura.utils import load_html

    from pipelines.ingest.charsets import decode_html
    from pipelines.ingest.engines import (cascade_first_choice, cascade_second_choice, declares_article_markup,
                                          drop_repeated_lines)
    from pipelines.ingest.html import CascadeEngine, main_region_text

    engine = CascadeEngine()
    seen = Counter()
    pages = _pages(shared_data, 2) + _wcxb_page(shared_data, "listing", 2) + _wcxb_page(shared_data, "forum", 2)
    for body, url in pages:
        html, _ = decode_html(body, "text/html")
        tree = HTMLTree.parse(html)
        first = extract_plain_text(tree, main_content=True, preserve_formatting=True)
        visible = extract_plain_text(tree, main_content=False, preserve_formatting=True)
        article = declares_article_markup(html)
        if cascade_first_choice(len(first), len(visible), article):
            expected, seen["first alone"] = first, seen["first alone"] + 1
        else:
            second = trafilatura.extract(load_html(html), url=url, include_comments=False, include_tables=True,
                                         fast=True, deduplicate=False, favor_recall=True) or ""
            region = "" if article else (main_region_text(load_html(html)) or "")
            choice = cascade_second_choice(len(first), len(second), len(region), article)
            seen[choice] += 1
            expected = {"first": first, "second": second, "region": region}[choice]
        result = engine.extract_page(body, url, "text/html")
        assert result.text == drop_repeated_lines(expected, 200).strip(), url
        assert result.title and result.metadata.get("hostname")
    assert seen["second"] >= 2 and seen["first alone"] + seen["first"] + seen["region"] >= 1, seen


def test_declared_articles_and_light_metadata_of_real_pages(shared_data):
    from pipelines.ingest.engines import declares_article_markup, light_metadata

    aeb = [gzip.open(f).read().decode("utf-8", "replace")
           for f in sorted((shared_data / "html" / "scrapinghub_aeb" / "html").glob("*.html.gz"))[:20]]
    if not aeb:
        pytest.skip("no AEB pages in shared data")
    assert sum(map(declares_article_markup, aeb)) >= 15  # news pages declare themselves articles
    listings = [b.decode("utf-8", "replace") for b, _ in _wcxb_page(shared_data, "listing", 10)]
    assert sum(map(declares_article_markup, listings)) <= 3
    found = [light_metadata(html, "https://www.news.example/a") for html in aeb]
    assert all(m["hostname"] == "news.example" and m.get("title") for m in found)
    dates = [m["date"] for m in found if "date" in m]
    assert len(dates) >= 15 and all(re.fullmatch(r"(19|20)\d\d-\d\d-\d\d", d) for d in dates)
    assert sum("author" in m for m in found) >= 10 and sum("description" in m for m in found) >= 15
    # what a page declares, entities decoded; JSON-LD when no <meta> names it
    page = ("<html lang='de-AT'><head><title>Fallback</title><meta property='og:title' content='Caf&eacute; news'>"
            "<script type='application/ld+json'>{\"@type\": \"NewsArticle\", \"datePublished\": "
            "\"2021-03-04T10:00:00Z\", \"author\": {\"name\": \"Ann Writer\"}}</script></head><body></body></html>")
    assert light_metadata(page, None) == {"title": "Caf\u00e9 news", "date": "2021-03-04", "author": "Ann Writer",
                                          "language": "de"}
    assert declares_article_markup(page)


def test_cascade_favor_precision_is_trafilatura_precision_on_every_page(shared_data):
    import trafilatura
    from trafilatura.utils import load_html

    from pipelines.ingest.html import CascadeEngine

    engine = CascadeEngine(ExtractConfig(favor_precision=True))
    for body, url in _wcxb_page(shared_data, "listing", 1) + _pages(shared_data, 1)[-1:]:
        html = body.decode("utf-8", "replace")
        expected = trafilatura.extract(load_html(html), url=url, include_comments=False, include_tables=True,
                                       fast=True, deduplicate=False, favor_precision=True) or ""
        assert engine.extract(html, url).text == expected.strip()


def test_cascade_error_row_names_the_cascade():
    from pipelines.ingest.html import CascadeEngine

    with pytest.raises(EngineError, match=r"^cascade: "):
        CascadeEngine().extract(None, None)


def test_layout_table_rows_are_recognised_by_a_prose_cell():
    from pipelines.ingest.engines import has_layout_table_row, layout_table_choice

    prose = " ".join(["word"] * 45) + "."
    assert has_layout_table_row(f"Intro\n|  | {prose} |  |\nEnd")
    assert not has_layout_table_row("| Name | Price |\n| apple | 3 |\n| pear | 4 |")  # a data table
    assert not has_layout_table_row(prose)  # prose, no table
    assert not has_layout_table_row(f"| {' '.join(['w'] * 20)} | {' '.join(['w'] * 30)} |")  # 50 words, no cell of 40
    flat = "\n".join(["Title", prose])
    assert layout_table_choice(f"| {prose} |", flat) == flat
    assert layout_table_choice(f"| {prose} |", "Title") == f"| {prose} |"  # the re-read lost the words: keep


def test_cascade_reads_a_table_laid_out_page_as_lines(shared_data):
    """A 2008 archive.org FAQ page laid out with a table: trafilatura's table rendering gives one line of
    '| cell |' with the paragraphs flattened, which FineWeb's line rules reject; the cascade reads it again
    without table handling and keeps the paragraphs as lines, losing none of the words."""
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.ingest.engines import has_layout_table_row

    url = "http://www.archive.org/about/faq.php?faq_id=252"
    path = shared_data / "warc" / "web_crawls" / "aut__IAH-archive.org-2008__example.arc.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open(path, "rb") as fh:
        html = next(rec.content_stream().read() for rec in ArchiveIterator(fh, arc2warc=True)
                    if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == url)
    import trafilatura

    raw = trafilatura.extract(html, include_tables=True, favor_precision=True, fast=True, output_format="txt")
    assert has_layout_table_row(raw) and raw.count("\n") == 0  # what trafilatura alone gives
    for precision in (True, False):
        text = ENGINES["cascade"](ExtractConfig(favor_precision=precision)).extract(html.decode("utf-8"), url).text
        assert not has_layout_table_row(text)
        assert text.count("\n") >= 8 and text.startswith("Frequently Asked Questions\n")
        assert len(text.split()) >= len(raw.replace("|", " ").split())  # nothing of the table's text lost
        assert "FLAC stands for free lossless audio codec." in text


PLAIN_PAGE = ("<html><head><title>&#xFEFF;Abstract&nbsp;Base\n Classes&#8201;</title>"
              "<meta name='description' content='Abstract&nbsp;base class&shy;es,&#8239;explained'>"
              "<meta name='author' content='Guido&nbsp;van&nbsp;Rossum'></head><body><article>"
              "<p>Abstract&nbsp;Base&nbsp;Classes according&nbsp;to PEP&nbsp;3119: a paragraph long enough for every "
              "engine to keep it as the main content of this page.&nbsp;</p>"
              "<pre>def f():\n    return&nbsp;1</pre>"
              "<p>Prix&nbsp;: 10&#8239;000&nbsp;&euro; for the Ver&shy;sicherungs&shy;gesellschaft's item&#8203;, "
              "and another sentence of some length so that it counts as text &#x1F469;&#x200D;&#x1F4BB;.</p>"
              "</article></body></html>").encode()
NOT_PLAIN = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u00ad\u200b\u2060\ufeff\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")
INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")


@pytest.mark.parametrize("name", ["cascade", "trafilatura", "resiliparse", "rs_trafilatura"])
def test_the_stage_gives_plain_text_whichever_engine_read_the_page(name):
    """`&nbsp;`, thin and narrow no-break spaces become plain spaces in the stage's text, title and prose
    metadata, soft hyphens, zero-width spaces and byte-order marks go, a zero-width joiner (an emoji sequence)
    stays, lines lose trailing blanks, code keeps its indentation; `plain_text: false` keeps the engine's own
    text (each of the four keeps a no-break space somewhere: trafilatura inside <pre>, the others everywhere)."""
    require_engine(name)
    doc, reason = extract_record(_raw(PLAIN_PAGE), ExtractConfig(engine=name))
    assert reason is None, reason
    text, title = doc[TEXT], doc[TITLE]
    assert not NOT_PLAIN.search(text) and not NOT_PLAIN.search(title), (text, title)
    assert "Abstract Base Classes according to PEP 3119" in text and "Prix : 10 000 €" in text, text
    assert "Versicherungsgesellschaft's item," in text, text
    assert not re.search(r"[ \t]$", text, re.MULTILINE), text
    assert title == "Abstract Base Classes", title
    metadata = doc["metadata"]
    assert metadata.get("description") == "Abstract base classes, explained", metadata
    assert metadata.get("author") == "Guido van Rossum", metadata
    kept, _ = extract_record(_raw(PLAIN_PAGE), ExtractConfig(engine=name, plain_text=False))
    # the emoji's zero-width joiner stays where the engine kept it (trafilatura drops every format character)
    assert ("\U0001F469\u200d\U0001F4BB" in text) == ("\U0001F469\u200d\U0001F4BB" in kept[TEXT]) == (name != "trafilatura")
    assert "\u00a0" in kept[TEXT], kept[TEXT]
    assert INVISIBLE.sub("", kept[TEXT]).split() == text.split()  # only spaces and invisible characters differ
    own_lines, lines = kept[TEXT].split("\n"), text.split("\n")
    assert len(own_lines) == len(lines)
    for own, line in zip(own_lines, lines):  # the indentation the engine gave stays (rs_trafilatura drops <pre>'s)
        assert len(own) - len(own.lstrip()) == len(line) - len(line.lstrip()) or not line.strip(), (own, line)
    if name != "rs_trafilatura":
        assert "    return 1" in text, text


def test_plain_text_changes_only_spaces_and_invisible_characters_on_real_pages(resiliparse, shared_data):
    """On real pages the default's text and title differ from the engine's own only in spaces and invisible
    characters: the same words, in the same order; pages whose text held no-break spaces hold none."""
    with_nbsp = 0
    for body, url in _pages(shared_data, 12):
        raw = {**_raw(body), URL: url}
        doc, _ = extract_record(raw, ExtractConfig())
        own, _ = extract_record(raw, ExtractConfig(plain_text=False))
        assert INVISIBLE.sub("", own[TEXT]).split() == doc[TEXT].split(), url
        assert INVISIBLE.sub("", own[TITLE] or "").split() == (doc[TITLE] or "").split(), url
        assert not NOT_PLAIN.search(doc[TEXT] + (doc[TITLE] or "")), url
        with_nbsp += bool(NOT_PLAIN.search(own[TEXT]))
    assert with_nbsp >= 2, with_nbsp  # the pages do exercise it


def test_wet_text_gets_plain_text_too():
    """...and mojibake's C1 characters stay (`youâ\x80\x99re`: a repair such as ftfy's needs them)."""
    text = "Caf\u00e9\u00a0au\u00a0lait \t\nsecond\u00adline\x0cthird\x07 you\u00e2\x80\x99re"
    raw = {**_raw(text.encode(), "text/plain"), "record_type": "conversion"}
    doc, reason = extract_record(raw, ExtractConfig())
    assert reason is None and doc[TEXT] == "Café au lait\nsecondline\nthird you\u00e2\x80\x99re", doc[TEXT]
    doc, _ = extract_record(raw, ExtractConfig(plain_text=False))
    assert doc[TEXT] == text


def test_plain_text_is_an_option_of_every_engine():
    for name in ENGINES:
        if name == "rs_trafilatura" and sys.version_info[:2] != (3, 12):
            continue
        recipe = parse_recipe({"extract": {"engine": name, "plain_text": False}})
        assert dict(recipe.stages)["extract"]["plain_text"] is False
