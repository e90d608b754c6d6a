"""pipelines/ingest/html.py without a pipeline: the functions that tests/test_extract.py reaches only through
`extract_record` (consent pruning, the article declaration, metadata, the pass-through of text records)."""
from __future__ import annotations

import pytest

from pipelines.ingest.html import (ExtractConfig, declares_article, extract_html, prune_consent_banners,
                                   record_as_document)
from pipelines.ingest.records import BODY
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, METADATA, SOURCE, TEXT, URL


def _tree(html: str):
    from trafilatura.utils import load_html

    return load_html(html)


def test_prune_consent_banners_removes_the_banner_and_keeps_its_tail():
    tree = _tree("<html><body><div><div class='cookie-banner'>We use cookies.</div>after the banner"
                 "<p>Story text that is the page.</p></div></body></html>")
    prune_consent_banners(tree)
    text = tree.text_content()
    assert "We use cookies" not in text and "after the banner" in text and "Story text" in text


def test_prune_consent_banners_keeps_wrappers():
    # A match holding the main region, or most of the page's text, is a wrapper naming a banner state.
    for html in ("<html><body><div class='has-cookie-banner'><main><p>Story</p></main></div></body></html>",
                 "<html><body><div id='cookie-notice'><p>All of the page's text sits in here.</p></div>"
                 "<p>x</p></body></html>"):
        tree = _tree(html)
        prune_consent_banners(tree)
        assert tree.xpath("//*[contains(@class, 'cookie') or contains(@id, 'cookie')]"), html


def test_declares_article():
    page = "<html><head><meta {}='og:type' content='{}'></head><body><p>x</p></body></html>"
    assert declares_article(_tree(page.format("property", "article")))
    assert declares_article(_tree(page.format("name", " Article ")))
    assert not declares_article(_tree(page.format("property", "website")))
    assert not declares_article(_tree("<html><body><article><p>x</p></article></body></html>"))


def test_extract_html_text_and_metadata():
    story = "".join(f"<p>Sentence {i} of the story, long enough for trafilatura to keep it as text.</p>"
                    for i in range(10))
    html = (f"<html><head><title>The title</title><meta name='author' content='Ada Lovelace'></head>"
            f"<body><article>{story}</article></body></html>")
    text, metadata = extract_html(html, "https://example.com/story")
    assert "Sentence 9 of the story" in text
    assert metadata["title"] == "The title" and metadata["hostname"] == "example.com"
    assert extract_html(html, None, ExtractConfig(with_metadata=False))[1] == {}
    assert extract_html("", None) == ("", {})


def test_record_as_document_passes_text_through():
    raw = {ID: "code:p/f.py", SOURCE: "code", URL: None, INPUT_PATH: "/in/p", INPUT_OFFSET: None,
           CODE_LANGUAGE: "python", TEXT: "   \n", METADATA: {"repo": "p", "path": "f.py"}, BODY: None}
    doc = record_as_document(raw)
    # An empty text is kept: dropping it is the extract stage's decision, and this recipe has none.
    assert doc[TEXT] == "   \n" and doc[ID] == "code:p/f.py" and doc[CODE_LANGUAGE] == "python"
    assert doc[METADATA] == {"repo": "p", "path": "f.py"} and doc[METADATA] is not raw[METADATA]
    with pytest.raises(ValueError, match="needs an `extract` stage"):
        record_as_document(dict(raw, **{BODY: b"<html></html>"}))
