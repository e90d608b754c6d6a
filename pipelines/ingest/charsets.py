"""Bytes of an HTML page -> text: the encoding is chosen following the WHATWG order of precedence: byte-order
mark, then the HTTP charset, then a `<meta charset>` in the first 4 KB, then strict UTF-8, then
charset_normalizer's guess restricted to the WHATWG legacy encodings, and UTF-8 with replacement as the last
resort; labels map to their WHATWG decoders (`iso-8859-1`/`ascii` -> windows-1252, `gb2312` -> GBK,
`shift_jis` -> windows-31J). Only labels of the Encoding Standard's decoders count: one that names no text
encoding a browser knows (`base64`, `hex`, `rot13`, `utf-7`, `utf-32`) is ignored, and a `<meta>` label of
UTF-16 means UTF-8 (as the standard's prescan says: the page could not have been parsed to find it otherwise;
a BOM still selects UTF-16). A label the bytes cannot be falls through to the next source too. Used by
extraction (pipelines/ingest/html.py) and by the crawler to read a fetched page's links."""
from __future__ import annotations

import codecs
import re
from typing import Optional, Tuple

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Labels that browsers decode as windows-1252 (WHATWG Encoding Standard).
_WINDOWS_1252_ALIASES = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii", "cp819"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _charset_param(content_type: Optional[str]) -> Optional[str]:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


# Labels whose WHATWG decoder is a superset codec (pages labelled with the narrow one use its extensions), and
# the last three: WHATWG labels that Python's codecs know under another name only.
_WHATWG_SUPERSETS = {"gb2312": "gbk", "gb_2312-80": "gbk", "x-gbk": "gbk", "shift_jis": "cp932",
                     "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
                     "windows-31j": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
                     "iso-8859-9": "cp1254", "latin5": "cp1254", "iso-8859-11": "cp874", "tis-620": "cp874",
                     "x-user-defined": "cp1252", "windows-874": "cp874", "x-mac-cyrillic": "mac-cyrillic",
                     "iso-8859-8-i": "iso8859-8"}

# The codecs of the WHATWG Encoding Standard's decoders (and the narrow forms of three of them, which Python
# aliases such as `korean` reach). codecs.lookup also knows bytes-to-bytes codecs (`base64`, `hex`, `rot13`:
# decoding with them raises LookupError) and text encodings no browser decodes (`utf-7`, `utf-32`, EBCDIC).
_WHATWG_CODECS = frozenset(codecs.lookup(name).name for name in (
    "utf-8", "cp866", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8",
    "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "koi8-r", "koi8-u", "mac-roman",
    "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
    "cp1258", "gbk", "gb18030", "big5", "big5hkscs", "euc-jp", "iso2022-jp", "cp932", "cp949", "utf-16-be",
    "utf-16-le", "utf-16", "gb2312", "shift_jis", "euc-kr"))
_UTF16_CODECS = frozenset(codecs.lookup(name).name for name in ("utf-16", "utf-16-le", "utf-16-be"))


# Detection candidates: the legacy encodings of the WHATWG Encoding Standard (what web pages use); left
# unrestricted, charset_normalizer picks look-alikes such as mac_cyrillic for windows-1251 pages.
_WEB_ENCODINGS = ("utf_8", "cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257",
                  "cp1258", "cp874", "koi8_r", "koi8_u", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_5",
                  "iso8859_6", "iso8859_7", "iso8859_8", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15",
                  "iso8859_16", "euc_jp", "cp932", "iso2022_jp", "gb18030", "big5", "euc_kr", "utf_16")


def _normalize_codec(label: Optional[str]) -> Optional[str]:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if label in _WINDOWS_1252_ALIASES:
        return "cp1252"
    label = _WHATWG_SUPERSETS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL inside the label (`charset=utf-8\x00...`)
        return None
    return name if name in _WHATWG_CODECS else None


def decode_html(body: bytes, content_type: Optional[str] = None) -> Tuple[str, str]:
    """(text, encoding used) following BOM > HTTP charset > meta charset > UTF-8 > guess > UTF-8 replace."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), codec
    for label, in_meta in ((_charset_param(content_type), False), (_meta_charset(body), True)):
        codec = _normalize_codec(label)
        if codec in _UTF16_CODECS and in_meta:
            codec = "utf-8"  # an ASCII-compatible page cannot be UTF-16 (WHATWG prescan)
        if codec:
            try:
                return body.decode(codec), codec
            except UnicodeDecodeError:
                continue  # a wrong label is common; try the next source of truth
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000], cp_isolation=list(_WEB_ENCODINGS)).best()
        if best is not None and best.encoding:
            return body.decode(best.encoding, errors="replace"), best.encoding
    except ImportError:
        pass
    return body.decode("utf-8", errors="replace"), "utf-8"


def _meta_charset(body: bytes) -> Optional[str]:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "replace") if m else None
