"""Extraction engines (pipelines/ingest/engines.py, issue 17): each engine on real benchmark pages, the hostile
inputs on resiliparse under the per-page limit, engine errors naming the engine, recipe-load refusals, and one
small real curate with `extract: {engine: resiliparse}`."""
from __future__ import annotations

import gzip
import json
import sys

import pytest

from filters.stage_options import OptionError
from pipelines.ingest.engines import EngineError, Extraction, ResiliparseEngine, RsTrafilaturaEngine
from pipelines.ingest.html import ENGINES, ExtractConfig, TrafilaturaEngine, extract_record
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS
from pipelines.jobs.recipe import RecipeError, parse_recipe
from schemas import ID, SOURCE, TEXT, TITLE, URL

resiliparse_missing = pytest.mark.skipif(ResiliparseEngine.unavailable_reason() is not None,
                                         reason="resiliparse is not installed (pip install resiliparse==2.0.1)")


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
    cls = ENGINES[name]
    if cls.unavailable_reason():
        pytest.skip(cls.unavailable_reason())
    return cls(ExtractConfig(engine=name))


@pytest.mark.parametrize("name", ["trafilatura", "resiliparse", "rs_trafilatura"])
def test_engine_gives_text_and_title_on_real_pages(shared_data, name):
    engine = _available(name)
    for body, url in _pages(shared_data, 3):
        result = engine.extract_page(body, url, "text/html")
        assert isinstance(result, Extraction)
        assert len(result.text.split()) >= 20, (name, url, result.text[:200])
        assert result.title and result.title.strip(), (name, url)
        assert result.metadata.get("encoding")


def test_default_engine_is_todays_extractor(shared_data):
    from pipelines.ingest.html import extract_html

    assert ExtractConfig().engine == "trafilatura"
    body, url = _pages(shared_data, 1)[0]
    html = body.decode("utf-8", "replace")
    text, metadata = extract_html(html, url, ExtractConfig())
    result = TrafilaturaEngine().extract(html, url)
    assert (result.text, result.metadata, result.title) == (text, metadata, metadata.get("title"))


@resiliparse_missing
def test_resiliparse_differs_from_trafilatura_and_keeps_metadata(shared_data):
    body, url = _pages(shared_data, 1)[0]
    a = TrafilaturaEngine().extract_page(body, url, "text/html")
    b = ResiliparseEngine(ExtractConfig(engine="resiliparse")).extract_page(body, url, "text/html")
    assert a.text != b.text  # really another extractor
    assert b.metadata.get("title") == b.title and b.metadata.get("hostname")


@resiliparse_missing
def test_engine_error_names_the_engine():
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


@resiliparse_missing
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_resiliparse_hostile_inputs_finish_under_the_limit(case):
    """Through the stage's decision (caps, decoding, time limit) with the caps raised so the engine itself
    sees the page, and through the default caps: no exception, a kept document or a drop reason."""
    body = HOSTILE[case]
    for config in (ExtractConfig(engine="resiliparse", max_seconds=10.0),
                   ExtractConfig(engine="resiliparse", max_seconds=10.0, max_html_bytes=64 << 20,
                                 max_tags=1 << 30)):
        doc, reason = extract_record(_raw(body), config)
        assert reason in (None, "no_text", "too_large", "too_complex", "timeout", "content_type"), (case, reason)
        assert isinstance(doc[TEXT], str)
        if reason is None:
            assert doc[TEXT].strip()
    if case == "deep_nesting_200k":  # resiliparse's own depth guard, the caps being raised
        assert reason == "too_complex"


def test_bad_engine_name_fails_at_recipe_load_naming_the_engines():
    with pytest.raises(RecipeError, match=r"engine.*'trafilatura', 'rs_trafilatura', 'resiliparse'"):
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


@resiliparse_missing
def test_curate_with_resiliparse_engine(shared_data, tmp_path):
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
