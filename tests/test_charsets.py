"""Text decoding of pages built in legacy encodings: HTTP charset, then <meta>, then BOM, then detection.

Each page is written here in its encoding (real bytes from Python's codecs); the extracted text must be the
original Unicode, whichever source of truth names the encoding. A label that names no encoding of the WHATWG
Encoding Standard (`base64`, `rot13`, `utf-7`) is ignored, and a `<meta>` that says UTF-16 means UTF-8.
"""
from __future__ import annotations

import codecs
import glob

import pyarrow.parquet as pq
import pytest

from pipelines.ingest.charsets import decode_html
from pipelines.ingest.html import extract_record
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL
from test_archive_damage import http_response, warc_record

SAMPLES = {
    "euc-jp": "日本語のテキストは正しく復号されなければならない。東京都の天気は晴れです。今日は良い日ですね。",
    "shift_jis": "日本語の文章です。大阪の食べ物はとても美味しいと言われています。明日も晴れるでしょう。",
    "gb2312": "中文网页的正文必须被正确解码。北京今天天气晴朗，我们一起去公园散步吧。",
    "windows-1251": "Русский текст должен быть правильно декодирован. Москва — столица России, красивый город.",
    "windows-1252": "Le texte français doit être décodé correctement : « élève », naïve, cœur, déjà vu — voilà.",
    "iso-8859-2": "Zażółć gęślą jaźń. Polski tekst musi być poprawnie zdekodowany, łącznie z literami ąęśćż.",
    "iso-8859-7": "Το ελληνικό κείμενο πρέπει να αποκωδικοποιηθεί σωστά. Η Αθήνα είναι η πρωτεύουσα.",
    "iso-8859-15": "Le prix est de 20 € pour l'œuvre complète, déjà réservée par un élève très motivé.",
}


def page(text: str, meta: str = "") -> str:
    body = "".join(f"<p>{text} {i}</p>" for i in range(8))
    return f"<html><head>{meta}<title>t</title></head><body><article>{body}</article></body></html>"


def record(body: bytes, content_type: str):
    return {ID: "r", SOURCE: "web", URL: "http://example.com/", INPUT_PATH: None, INPUT_OFFSET: None,
            RECORD_TYPE: "response", CONTENT_TYPE: content_type, HTTP_STATUS: 200, BODY: body, TEXT: None,
            CODE_LANGUAGE: None, WARC_DATE: None}


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_http_charset(encoding):
    text = SAMPLES[encoding]
    doc, reason = extract_record(record(page(text).encode(encoding), f"text/html; charset={encoding.upper()}"))
    assert reason is None and text in doc[TEXT]
    # the declared charset, or the superset codec browsers decode that label with (WHATWG: gb2312 -> gbk)
    declared = codecs.lookup({"gb2312": "gbk", "shift_jis": "cp932"}.get(encoding, encoding)).name
    assert codecs.lookup(doc["metadata"]["encoding"]).name == declared


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_meta_charset_both_forms(encoding):
    text = SAMPLES[encoding]
    for meta in (f'<meta charset="{encoding}">',
                 f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">'):
        doc, reason = extract_record(record(page(text, meta).encode(encoding), "text/html"))
        assert reason is None and text in doc[TEXT], meta


def test_http_charset_wins_over_meta_and_a_wrong_label_falls_through():
    text = SAMPLES["windows-1251"]
    body = page(text, '<meta charset="iso-8859-1">').encode("windows-1251")
    assert text in decode_html(body, "text/html; charset=windows-1251")[0]
    # A label the bytes cannot be (EUC-JP bytes called UTF-8) falls through to the next source of truth.
    body = page(SAMPLES["euc-jp"], '<meta charset="euc-jp">').encode("euc-jp")
    assert SAMPLES["euc-jp"] in decode_html(body, "text/html; charset=utf-8")[0]


@pytest.mark.parametrize("bom,codec", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                       (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_byte_order_mark(bom, codec):
    text = SAMPLES["gb2312"] + " " + SAMPLES["windows-1251"]
    html, _ = decode_html(bom + page(text).encode(codec), "text/html")
    assert text in html and not html.startswith("\ufeff")


@pytest.mark.parametrize("encoding", ["euc-jp", "shift_jis", "gb2312", "windows-1251"])
def test_detection_without_any_label(encoding):
    text = SAMPLES[encoding]
    html, used = decode_html(page(text).encode(encoding), "text/html")
    assert text in html, used


ENGLISH = "This sentence of ordinary English prose is what the page says, whatever its label claims."


@pytest.mark.parametrize("label", ["base64", "hex", "rot13", "utf-7", "utf-32"])
def test_label_of_no_web_encoding_falls_through(label):
    """codecs.lookup knows bytes-to-bytes codecs (decode_html raised LookupError: "'base64' is not a text
    encoding") and text encodings no browser decodes; either label is ignored like an unknown one."""
    body = page(ENGLISH).encode("utf-8")
    assert decode_html(body, f"text/html; charset={label}") == (body.decode("utf-8"), "utf-8")
    meta = page(ENGLISH, f'<meta charset="{label}">').encode("utf-8")
    assert decode_html(meta, "text/html") == (meta.decode("utf-8"), "utf-8")
    # the next source of truth still decides: the meta label after a useless HTTP one
    cyrillic = page(SAMPLES["windows-1251"], '<meta charset="windows-1251">').encode("windows-1251")
    assert SAMPLES["windows-1251"] in decode_html(cyrillic, f"text/html; charset={label}")[0]


@pytest.mark.parametrize("label", ["utf-16", "UTF-16LE", "utf-16be"])
def test_meta_utf16_on_an_ascii_page_means_utf8(label):
    """WHATWG prescan: a <meta> that says UTF-16 was read as ASCII, so the page is UTF-8 (decoding it as
    UTF-16 gave CJK mojibake); a BOM still selects UTF-16, and an HTTP label is taken as said."""
    text = ENGLISH + " " + SAMPLES["windows-1252"]
    for pad in (b"", b" "):  # an odd length failed as UTF-16 and fell through; an even one decoded as CJK
        body = page(text, f'<meta charset="{label}">').encode("utf-8") + pad
        html, used = decode_html(body, "text/html")
        assert text in html and used == "utf-8", len(body)
    bom = codecs.BOM_UTF16_LE + page(text, f'<meta charset="{label}">').encode("utf-16-le")
    assert text in decode_html(bom, "text/html")[0]
    assert text in decode_html(page(text).encode("utf-16-le"), "text/html; charset=utf-16le")[0]


def test_curate_keeps_pages_whose_label_names_no_web_encoding(tmp_path):
    """End to end: each such page was an error row of stage extract; now all are kept with their text."""
    pages = {"base64": (b"text/html; charset=base64", ""), "rot13": (b"text/html; charset=rot13", ""),
             "hexmeta": (b"text/html", '<meta charset="hex">'), "u16meta": (b"text/html", '<meta charset="utf-16">'),
             "plain": (b"text/html", "")}
    warc = tmp_path / "labels.warc"
    warc.write_bytes(b"".join(warc_record(http_response(page(ENGLISH, meta).encode("utf-8"), ctype=ctype),
                                          uri=b"http://example.com/" + name.encode())
                              for name, (ctype, meta) in pages.items()))
    out = tmp_path / "out"
    report = run_curate([str(warc)], str(out), parse_recipe({"extract": {}}))
    rows = lambda kind: [r for f in sorted(glob.glob(str(out / kind / "*.parquet")))
                         for r in pq.read_table(f).to_pylist()]
    assert rows("errors") == [] and report.stage("extract").errors == 0
    docs = {d[URL]: d for d in rows("documents")}
    assert set(docs) == {f"http://example.com/{name}" for name in pages}
    assert all(ENGLISH in d[TEXT] for d in docs.values())
