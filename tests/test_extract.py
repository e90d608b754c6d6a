"""Stage `extract`: real pages from the Zyte AEB benchmark and real WARC records -> documents."""
from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter

import pytest

from pipelines.ingest.charsets import decode_html
from pipelines.ingest.html import ExtractConfig, extract_record, inflate_body
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE
from pipelines.transforms.extract import ExtractText
from pipelines.ingest.inputs import InputFile
from pipelines.ingest.readers import read_input_file
from schemas import CODE_LANGUAGE, ERROR, ID, INPUT_OFFSET, INPUT_PATH, REASON, SOURCE, STAGE, TEXT, URL


def web_record(body: bytes, content_type="text/html; charset=utf-8", status=200, url="http://x.test/", rid="r1"):
    return {ID: rid, SOURCE: "web", URL: url, INPUT_PATH: "/in/x.warc.gz", INPUT_OFFSET: 7, RECORD_TYPE: "response",
            CONTENT_TYPE: content_type, HTTP_STATUS: status, BODY: body, TEXT: None, CODE_LANGUAGE: None}


def text_record(text, source="text", code_language=None, rid="t1"):
    return {ID: rid, SOURCE: source, URL: None, INPUT_PATH: "/in/t.jsonl", INPUT_OFFSET: 0, RECORD_TYPE: None,
            CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None, TEXT: text, CODE_LANGUAGE: code_language}


# The `trafilatura` engine (the default until issue 17): the tests of its fallbacks pin it.
TRAFILATURA = ExtractConfig(engine="trafilatura")


def first_sentence(text: str) -> str:
    return text.strip().split("\n")[0][:60]


@pytest.fixture(scope="module")
def aeb_pages(shared_data):
    root = shared_data / "html/scrapinghub_aeb"
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for path in sorted((root / "html").glob("*.html.gz"))[:6]:
        key = path.name[: -len(".html.gz")]
        pages.append((key, gzip.decompress(path.read_bytes()), truth[key]))
    return pages


@pytest.mark.shared_data
def test_extracts_article_text_of_real_pages(aeb_pages):
    hits = 0
    for key, html, truth in aeb_pages:
        doc, reason = extract_record(web_record(html, url=truth["url"], rid=key))
        assert reason is None, key
        assert doc[ID] == key and doc[URL] == truth["url"] and doc[SOURCE] == "web"
        assert doc[INPUT_PATH] == "/in/x.warc.gz" and doc[INPUT_OFFSET] == 7
        assert "<div" not in doc[TEXT] and "<p>" not in doc[TEXT]
        hits += first_sentence(truth["articleBody"]) in doc[TEXT]
    assert hits >= len(aeb_pages) - 1  # the article's opening words survive extraction


def test_drops_with_named_reasons():
    html = b"<html><body><article><p>" + b"Enough words to be a paragraph of real text here. " * 10 + b"</p></article></body></html>"
    assert extract_record(web_record(html))[1] is None
    assert extract_record(web_record(html, status=404))[1] == "http_status"
    assert extract_record(web_record(html, status=301))[1] == "http_status"
    every_status = ExtractConfig(only_http_200=False)  # FineWeb's chain extracts error pages too
    doc, reason = extract_record(web_record(html, status=404), every_status)
    assert reason is None and "Enough words to be a paragraph" in doc[TEXT]
    assert extract_record(web_record(b"%PDF-1.4 ...", content_type="application/pdf"))[1] == "content_type"
    assert extract_record(web_record(b"User-agent: *", content_type="text/plain"))[1] == "content_type"
    assert extract_record(web_record(b"<html><head><title>t</title></head><body></body></html>"))[1] == "no_text"
    assert extract_record(web_record(html, content_type=None))[1] is None  # sniffed as HTML
    assert extract_record(web_record(html, content_type="text/html"), ExtractConfig(max_html_bytes=100))[1] == "too_large"
    assert extract_record(text_record("   \n"))[1] == "empty"


def test_text_and_code_pass_through_unchanged():
    code = "def f(x):\n    return x  # tab\tkept\n"
    doc, reason = extract_record(text_record(code, source="code", code_language="python", rid="code:p/f.py"))
    assert reason is None and doc[TEXT] == code and doc[CODE_LANGUAGE] == "python" and doc[ID] == "code:p/f.py"
    doc, reason = extract_record(text_record("plain text"))
    assert reason is None and doc[TEXT] == "plain text" and doc[SOURCE] == "text"


def test_decoding_and_content_encoding():
    text = "Café Ürün 日本語"
    assert decode_html(text.encode("cp1252", errors="ignore"), "text/html; charset=ISO-8859-1")[1] == "cp1252"
    body = b'<html><head><meta charset="windows-1251"></head><body>' + "Привет".encode("cp1251") + b"</body></html>"
    decoded, codec = decode_html(body, "text/html")
    assert "Привет" in decoded and codec == "cp1251"
    assert decode_html(b"\xef\xbb\xbf" + text.encode(), "text/html; charset=latin-1")[0] == text  # BOM wins
    assert decode_html(text.encode(), None) == (text, "utf-8")
    wrong_label = decode_html(text.encode(), "text/html; charset=nonsense-codec")
    assert wrong_label[0] == text
    html = b"<html><body><p>" + b"Compressed payload text that should be extracted. " * 10 + b"</p></body></html>"
    assert inflate_body(gzip.compress(html)) == html and inflate_body(zlib.compress(html)) == html
    doc, reason = extract_record(web_record(gzip.compress(html)))
    assert reason is None and "Compressed payload text" in doc[TEXT]


@pytest.mark.shared_data
def test_real_warc_records(shared_data):
    path = str(shared_data / "warc/edge_cases/ukwa__transfer_compression_gzip.warc.gz")
    raws = [v for s, v in read_input_file(InputFile("archive", path)) if s == "kept"]
    results = [extract_record(r) for r in raws]  # a gzip-encoded HTML page, then wget's text/plain arguments
    assert [reason for _, reason in results] == [None, "content_type"]
    assert "Extremely simple webpage used for testing GZip and Brotli" in results[0][0][TEXT]  # inflated, extracted


@pytest.mark.shared_data
def test_extract_text_beam_outputs_and_counters(shared_data, aeb_pages):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.util import assert_that, equal_to

    from pipelines.runtime.options import make_pipeline
    from pipelines.transforms.stages import ERRORS, REJECTED, metrics_namespace
    from pipelines.transforms.read import ReadInputs

    key, html, truth = aeb_pages[0]
    broken = web_record(html, rid="broken")
    broken[BODY] = "not bytes"  # a record that makes extraction raise: an error row, not a crash
    records = [web_record(html, url=truth["url"], rid=key), web_record(b"%PDF", content_type="application/pdf", rid="pdf"),
               web_record(html, status=500, rid="e500"), text_record("hello", rid="t"), broken]
    p = make_pipeline()
    out = p | "Records" >> beam.Create(records) | "Extract" >> ExtractText()
    assert_that(out["kept"] | "Ids" >> beam.Map(lambda d: d[ID]), equal_to([key, "t"]), label="Kept")
    assert_that(out[REJECTED] | "Reasons" >> beam.Map(lambda r: (r[ID], r[STAGE], r[REASON])),
                equal_to([("pdf", "extract", "content_type"), ("e500", "extract", "http_status")]), label="Rejected")
    assert_that(out[ERRORS] | "Errs" >> beam.Map(lambda r: (r[ID], r[STAGE], r[INPUT_OFFSET], bool(r[ERROR]))),
                equal_to([("broken", "extract", 7, True)]), label="Errors")
    # Real archives through read + extract: both stages keep the counting identity.
    warcs = str(shared_data / "warc/edge_cases/ukwa__*.warc.gz")
    read = p | "Read" >> ReadInputs([warcs])
    _ = read["records"] | "ExtractWarc" >> ExtractText(engine="trafilatura", fast=True)
    result = p.run()
    result.wait_until_finish()
    for stage in ("read", "extract"):
        counters = Counter()
        for c in result.metrics().query(MetricsFilter().with_namespace(metrics_namespace(stage)))["counters"]:
            counters[c.key.metric.name] += c.committed
        dropped = sum(v for k, v in counters.items() if k.startswith("dropped_"))
        assert counters["in"] > 0 and counters["in"] == counters["kept"] + dropped + counters["errors"], (stage, counters)
        if stage == "extract":
            assert counters["errors"] == 1 and counters["dropped_content_type"] >= 1


def test_extract_text_rejects_unknown_options():
    with pytest.raises(ValueError, match="option 'favour_precision' is not an option here; options are favor_precision"):
        ExtractText(favour_precision=True)


def test_limits_title_metadata_and_recall_fallback():
    paragraphs = b"".join(b"<p>Sentence number %d of a long enough paragraph for extraction.</p>" % i for i in range(400))
    html = (b"<html><head><title>The Title</title><meta name='author' content='Ann Writer'></head><body><article>"
            + paragraphs + b"</article></body></html>")
    doc, reason = extract_record(web_record(html), TRAFILATURA)
    assert reason is None and doc["title"] == "The Title" and doc["metadata"]["author"] == "Ann Writer"
    assert doc["metadata"]["encoding"] == "utf-8"
    assert extract_record(web_record(html), ExtractConfig(engine="trafilatura", max_tags=100))[1] == "too_complex"
    assert extract_record(web_record(html), ExtractConfig(engine="trafilatura", max_html_bytes=1000))[1] == "too_large"
    assert extract_record(web_record(html), ExtractConfig(engine="trafilatura", max_seconds=0.001))[1] == "timeout"
    # A listing page: many short items that the balanced pass judges boilerplate, the recall pass keeps.
    items = b"".join(b"<li><a href='/p%d'>Product %d</a> <span>Blue widget, size %d, in stock</span></li>" % (i, i, i)
                     for i in range(60))
    listing = b"<html><body><nav><a href='/'>Home</a></nav><ul>" + items + b"</ul></body></html>"
    with_fallback = extract_record(web_record(listing), TRAFILATURA)[0][TEXT]
    without = extract_record(web_record(listing), ExtractConfig(engine="trafilatura", recall_fallback=0))[0][TEXT]
    assert len(with_fallback) >= len(without) and "Product 59" in with_fallback


def _listing_page() -> bytes:
    """A shop listing: the declared main region holds link-dense product cards, a prose block sits outside it."""
    cards = "".join(f"<li class='card'><a href='/item/{i}'>Handmade ceramic mug number {i}, speckled glaze</a> "
                    f"<a href='/item/{i}#buy'>$ {20 + i}.00</a></li>" for i in range(40))
    prose = " ".join(f"Our studio sentence number {i} tells the story of the workshop in plain prose."
                     for i in range(12))
    return (f"<html><head><title>Mugs</title></head><body><header><a href='/'>Shop</a><nav><a href='/a'>About us</a>"
            f"</nav></header><div class='layout'><main><h1>Ceramic mugs</h1><form><select>"
            f"<option>Sort by price</option></select><button>Filter results</button></form>"
            f"<ul class='grid'>{cards}</ul><div id='comments'><p>Great shop, ordered twice, will order again!</p>"
            f"</div></main><div class='story'><p>{prose}</p></div></div>"
            f"<footer><p>Copyright 2025 Mug Shop. All rights reserved.</p></footer></body></html>").encode()


def test_main_region_fallback_keeps_listing_content():
    html = _listing_page()
    doc, reason = extract_record(web_record(html), TRAFILATURA)
    text = doc[TEXT]
    assert reason is None and "Handmade ceramic mug number 39, speckled glaze" in text and "$ 39.00" in text
    # The region's text leaves out chrome, comment threads and form controls, and keeps one line per block.
    for boilerplate in ("About us", "Copyright", "Sort by price", "Filter results", "ordered twice", "Our studio"):
        assert boilerplate not in text, boilerplate
    assert "Ceramic mugs\nHandmade ceramic mug number 0, speckled glaze $ 20.00\n" in text
    # Without the fallback trafilatura keeps the prose block outside the region.
    without = extract_record(web_record(html), ExtractConfig(engine="trafilatura", region_fallback=0))[0][TEXT]
    assert "Our studio" in without and "mug number 39" not in without


def test_main_region_text_and_articles():
    from trafilatura.utils import load_html

    from pipelines.ingest.html import main_region_text

    no_landmark = load_html("<html><body><div><p>No landmark here, only a div.</p></div></body></html>")
    assert main_region_text(no_landmark) is None
    tree = load_html("<html><body><div role='main'><p>One <b>bold</b> word</p><!-- note --><p>Two<br>lines</p>"
                     "<aside>Related</aside></div></body></html>")
    assert main_region_text(tree) == "One bold word\nTwo\nlines"
    assert "Related" in tree.text_content()  # the page's tree is left untouched
    # An article inside <main>: trafilatura keeps most of the region, so its text (not the region's) is used.
    paragraphs = "".join(f"<p>Paragraph {i} of the story, with enough words to be kept as article text.</p>"
                         for i in range(30))
    tags = "".join(f"<li><a href='/t/{i}'>Tag {i}</a></li>" for i in range(5))
    html = (f"<html><body><main><article><h1>Story</h1>{paragraphs}</article><ul>{tags}</ul></main>"
            f"</body></html>").encode()
    text = extract_record(web_record(html), TRAFILATURA)[0][TEXT]
    assert "Paragraph 29 of the story" in text and text == extract_record(
        web_record(html), ExtractConfig(engine="trafilatura", region_fallback=0))[0][TEXT]
    # A page that declares itself an article keeps trafilatura's text even when the region around the story
    # holds more teaser text than the story itself.
    story = "".join(f"<p>Story sentence {i} with enough words to be kept as article text by trafilatura.</p>"
                    for i in range(8))
    teasers = "".join(f"<div class='teaser'><h3><a href='/s/{i}'>Related story headline number {i} about the "
                      f"council and its decisions</a></h3></div>" for i in range(40))
    page = (f"<html><head><meta property='og:type' content='{{}}'></head><body><main><article>{story}</article>"
            f"<section>{teasers}</section></main></body></html>")
    as_article = extract_record(web_record(page.format("article").encode()), TRAFILATURA)[0][TEXT]
    as_website = extract_record(web_record(page.format("website").encode()), TRAFILATURA)[0][TEXT]
    assert "Story sentence 7" in as_article and "Related story headline" not in as_article
    assert "Story sentence 7" in as_website and "Related story headline number 29" in as_website


def test_consent_banner_pruned_and_repeated_lines_dropped():
    from pipelines.ingest.html import drop_repeated_lines

    story = "".join(f"<p>Sentence {i} of the article body, long enough to be article text for the extractor.</p>"
                    for i in range(20))
    banner = "<div id='onetrust-consent-sdk'><div role='dialog'>" + "".join(
        f"<p>We process your data number {i} to deliver content and measure advertising with our partners.</p>"
        for i in range(40)) + "</div></div>"
    html = f"<html><body>{banner}<div class='post'>{story}</div></body></html>".encode()
    text = extract_record(web_record(html), TRAFILATURA)[0][TEXT]
    assert "Sentence 19 of the article body" in text and "We process your data" not in text
    # A wrapper whose class merely names a banner state keeps the page.
    for wrapper in (f"<div class='has-cookie-banner'>{story}</div>", f"<div class='cookie-notice-open'><p>Menu</p>"
                                                                       f"<article>{story}</article></div>"):
        html = f"<html><body>{wrapper}</body></html>".encode()
        assert "Sentence 19 of the article body" in extract_record(web_record(html), TRAFILATURA)[0][TEXT]
    long_line = "A paragraph that a carousel renders twice on the page. " * 5
    text = f"Title\n{long_line}\nshort\nshort\n{long_line}\nEnd"
    assert drop_repeated_lines(text, 200) == f"Title\n{long_line}\nshort\nshort\nEnd"
    assert drop_repeated_lines(text, 0) == f"Title\n{long_line}\nshort\nEnd"


def test_deeply_nested_region_does_not_recurse():
    from trafilatura.utils import load_html

    from pipelines.ingest.html import _block_text

    from lxml import etree

    tree = load_html("<html><body><main><p>top</p></main></body></html>")
    node = tree.find(".//main")
    for _ in range(5000):  # deeper than Python's recursion limit (the HTML parser itself stops at 256 levels)
        node = etree.SubElement(node, "span")
    node.text = "deep text"
    assert _block_text(tree) == "top\ndeep text"
