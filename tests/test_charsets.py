"""Text decoding of pages built in legacy encodings: HTTP charset, then <meta>, then BOM, then detection.

Each page is written here in its encoding (real bytes from Python's codecs); the extracted text must be the
original Unicode, whichever source of truth names the encoding.
"""
from __future__ import annotations

import codecs

import pytest

from pipelines.ingest.charsets import decode_html
from pipelines.ingest.html import extract_record
from pipelines.ingest.records import BODY, CONTENT_TYPE, HTTP_STATUS, RECORD_TYPE, WARC_DATE
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL

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
