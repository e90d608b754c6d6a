"""Benchmark decontamination: find documents that share a long n-gram of normalised words with an evaluation set.

Normalisation (GPT-3's 13-gram overlap check, as datatrove 0.10's `simplify_text` + `NGramsDecontFilter` do
it): lowercase; every number (a run of digits, with one decimal part such as "3.14" or "1,5") becomes "0";
punctuation becomes a space (every Unicode P* character plus datatrove's own list, which adds a few symbols such
as `$ + < = > ^ | ~`), so "well-known" is "well known" and "DON'T" is "don t"; diacritics are stripped (NFD, then
combining marks dropped); text that is not ASCII is NFKC-folded first (full-width forms, ligatures) and
invisible format characters are deleted (a soft hyphen inside a word), a zero-width space separating words; words are what whitespace separates, and each letter of a script written without
spaces (Chinese, Japanese, Thai, ...: filters/text.py `SOLO_RANGES`) is a word of its own that counts half: an
n-gram is the shortest run of words from a position that counts n, so 2n letters of such a script (26 for the
default 13: a Chinese word is 1-2 letters, and 13 letters flagged clean text that quoted a stock phrase such as
the name of a law). Split at whitespace only, a Chinese question was one or two words, fewer than n: no n-gram,
never found. Newlines are whitespace, so an item split over lines still matches. datatrove then runs spaCy's English tokenizer, which differs from a whitespace split only on
rare words ("cannot" -> "can not") and on symbols outside its punctuation list; `python -m benchmarks decontam`
measures the agreement.

Hashing: each word gets a stable 64-bit BLAKE2b hash (cached per process: words are Zipfian), and the n-gram
of words j..e gets `mix(sum_i h[j+i] * B^i mod 2^64)` with a fixed odd B, computed for all j of a document in n
vectorised numpy passes (or, where half-counting letters make windows of several lengths, from prefix sums
times B^-j). No Python `hash()`: it is salted per process, and workers must agree.

Index (`DecontIndex`): the distinct n-gram hashes of all evaluation sets as one sorted uint64 array, with a
parallel uint16 array naming the set of each (the first set in recipe order that has it). A lookup is a binary
search (`np.searchsorted`). It is an exact hash set: 10 bytes per n-gram (a million evaluation n-grams ship as
10 MB), and the only false positives are 64-bit hash collisions: a document n-gram that is in no set matches with
probability K / 2^64 for K indexed n-grams (K = 10^6: 5.4e-14 per n-gram, ~0.05 false flags over a billion
1,000-word documents), so no Bloom filter's per-lookup rate of 1e-3..1e-6 is worth its saving here.

Evaluation sets: JSONL (`.jsonl`, `.jsonl.gz`, `.json` lines), Parquet, or directories of those and of plain
text files (each text file one item). An item's text is its chosen fields (in the order given; by default those
of context, question, choices, answer, text that it has) joined by newlines, each field's string leaves (a list
of choices gives each choice; numbers such as an answer's index are not text and are skipped). Its n-grams
therefore include those spanning two fields (question into answer), as datatrove's `find_overlap_ngrams` does.
Items shorter than n words give no n-gram (as in datatrove) and are counted as `short_items`.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import gzip
import hashlib
import json
import os
import re
import sys
import unicodedata
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from filters.stage_options import OptionError
from filters.text import is_unspaced_letter, split_unspaced_scripts
from schemas.hashing import powers64

ACTIONS = ("drop", "drop_lines", "mark")
# Without `fields`: those of these a record has (`text` for a JSONL of plain passages).
DEFAULT_FIELDS = ("context", "question", "choices", "answer", "text")
REASON = "contaminated"
MAX_NGRAM = 64
MAX_SETS = 1 << 16  # set ids are uint16

# datatrove's PUNCTUATION (datatrove.utils.text), whitespace excepted (it is a separator already).
_DATATROVE_PUNCTUATION = ("!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
                          + "".join(map(chr, (x for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)))))


@functools.lru_cache(maxsize=1)
def _tables():
    """(str.translate table: punctuation -> space, combining marks -> deleted; the ASCII bytes.translate tables
    for lowercase and for punctuation -> space). Built once per process (~1 s: a scan of all code points)."""
    table: Dict[int, Optional[str]] = {ord(c): " " for c in _DATATROVE_PUNCTUATION if not c.isspace()}
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category.startswith("P"):
            table[cp] = " "
        elif category in ("Mn", "Cf"):  # marks, and invisible format characters (a soft hyphen inside a word,
            table[cp] = None           # a zero-width joiner) that hid an item
    table[0x200B] = " "  # a zero-width space separates words
    lower = bytearray(range(256))
    for c in range(ord("A"), ord("Z") + 1):
        lower[c] = c + 32
    punct = bytearray(range(256))
    for c in range(128):
        if table.get(c) == " ":
            punct[c] = 0x20
    for c in range(0x1C, 0x20):  # separators str.split() splits on and bytes.split() does not
        punct[c] = 0x20
    return table, bytes(lower), bytes(punct)


_NUMBERS = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")  # datatrove's NUMBERS_PATTERN (\d is Unicode's Nd here)
_ASCII_NUMBERS = re.compile(rb"[0-9]+(?:[.,][0-9]+)?")


def normalize_words(text: str) -> List[bytes]:
    """The document's words as decontamination compares them (module docstring), UTF-8 encoded."""
    return weighted_words(text)[0]


def weighted_words(text: str) -> Tuple[List[bytes], Optional[np.ndarray]]:
    """(words, weights): the words of `normalize_words`, and what each counts towards n, in halves (uint8: 2 for
    a word, 1 for a letter of a script written without spaces); None when every word counts whole."""
    table, ascii_lower, ascii_punct = _tables()
    if text.isascii():  # the common case: bytes operations, no Unicode tables
        data = _ASCII_NUMBERS.sub(b"0", text.encode("ascii").translate(ascii_lower))
        return data.translate(ascii_punct).split(), None
    # NFKC first: full-width letters and digits, ligatures and other compatibility forms hid an item
    text = _NUMBERS.sub("0", unicodedata.normalize("NFKC", text).lower()).translate(table)
    text = unicodedata.normalize("NFD", text).translate(table)  # the combining marks NFD splits off go
    spaced = split_unspaced_scripts(text)
    words = spaced.split()
    encoded = [w.encode("utf-8", "surrogatepass") for w in words]
    if spaced is text:
        return encoded, None
    weights = np.array([1 if len(w) == 1 and is_unspaced_letter(w) else 2 for w in words], dtype=np.uint8)
    return encoded, (None if (weights == 2).all() else weights)


# --------------------------------------------------------------------------------------------- hashing

_WORD_CACHE: Dict[bytes, int] = {}
_WORD_CACHE_MAX = 1 << 20  # ~100 MB at worst; cleared when full (the cache only saves time)


def _word_hash(word: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "little")


def word_hashes(words: Sequence[bytes]) -> np.ndarray:
    """Stable 64-bit hashes of `words` (uint64)."""
    cache = _WORD_CACHE
    hashes = list(map(cache.get, words))
    if None in hashes:
        if len(cache) > _WORD_CACHE_MAX:
            cache.clear()
        room = _WORD_CACHE_MAX - len(cache)  # a document of millions of distinct words filled it 6x over
        for i, h in enumerate(hashes):
            if h is None:
                h = cache.get(words[i])
                if h is None:
                    h = _word_hash(words[i])
                    if room > 0:
                        cache[words[i]] = h
                        room -= 1
                hashes[i] = h
    return np.array(hashes, dtype=np.uint64)


# The odd base of the n-gram hash: word i of an n-gram weighs B^i (word order matters); odd, so B^-1 exists mod
# 2^64 and a window of any length is a difference of prefix sums times B^-j.
_BASE = int.from_bytes(hashlib.blake2b(b"winnow.decontam.base", digest_size=8).digest(), "little") | 1
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)


@functools.lru_cache(maxsize=None)
def _position_constants(n: int) -> np.ndarray:
    """B^i for i < n: the multiplier of each position of a window of n words."""
    return powers64(_BASE, n)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads the linear combination's bits over all 64."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_WINDOW_BLOCK = 1 << 16


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of the n-gram starting at each word position (len(hashes) - n + 1 values; none if shorter)."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    consts = _position_constants(n)
    out = np.empty(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, count, _WINDOW_BLOCK):  # the temporaries of a block, not of the whole document
            stop = min(start + _WINDOW_BLOCK, count)
            acc = hashes[start:stop] * consts[0]
            for i in range(1, n):
                acc += hashes[start + i:stop + i] * consts[i]
            out[start:stop] = _mix(acc)
    return out


def ngram_windows(hashes: np.ndarray, weights: Optional[np.ndarray], n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(hash, end) of each n-gram window: from each word j, the shortest run j..end-1 whose weights (halves,
    `weighted_words`) sum to 2n; starts whose window would run past the text give none, so the windows are
    those of the first len(result) starts. With every weight whole, the n-grams of `ngram_hashes`."""
    if weights is None:
        found = ngram_hashes(hashes, n)
        return found, np.arange(n, n + len(found), dtype=np.int64)
    total = np.concatenate(([0], np.cumsum(weights, dtype=np.int64)))
    ends = np.searchsorted(total, total[:-1] + 2 * n, side="left")
    count = int(np.searchsorted(ends, len(hashes), side="right"))  # ends never decrease
    if count == 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    ends = ends[:count]
    with np.errstate(over="ignore"):
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(hashes * powers64(_BASE, len(hashes)), dtype=np.uint64)))
        window = (prefix[ends] - prefix[:count]) * powers64(_BASE_INVERSE, count)
        return _mix(window), ends.astype(np.int64)


# --------------------------------------------------------------------------------------------- evaluation sets

@dataclasses.dataclass(frozen=True)
class EvalSet:
    """One evaluation set of the recipe: its name, its file or directory, the fields whose text is indexed."""
    name: str
    path: str
    fields: Tuple[str, ...] = DEFAULT_FIELDS
    fields_given: bool = False


def parse_eval_sets(sets: Any) -> Tuple[EvalSet, ...]:
    """The recipe's `sets` list as EvalSets; OptionError names the entry and what to change."""
    if not isinstance(sets, (list, tuple)) or not sets:
        raise OptionError("sets", f"= {sets!r} is not allowed: expected a non-empty list of "
                                  "{name: NAME, path: FILE_OR_DIR, fields: [..]}")
    if len(sets) > MAX_SETS:
        raise OptionError("sets", f"has {len(sets)} entries; at most {MAX_SETS}")
    out: List[EvalSet] = []
    for i, entry in enumerate(sets):
        where = f"sets[{i}]"
        if not isinstance(entry, Mapping):
            raise OptionError(where, f"= {entry!r} is not allowed: expected a mapping with name, path, fields")
        unknown = sorted(set(entry) - {"name", "path", "fields"})
        if unknown:
            raise OptionError(f"{where}.{unknown[0]}", "is not an option here; options are name, path, fields")
        name, path, fields = entry.get("name"), entry.get("path"), entry.get("fields")
        if not isinstance(name, str) or not name.strip():
            raise OptionError(f"{where}.name", f"= {name!r} is not allowed: expected a non-empty string")
        if any(name == s.name for s in out):
            raise OptionError(f"{where}.name", f"= {name!r} repeats an earlier set's name; names must differ")
        if not isinstance(path, str) or not path:
            raise OptionError(f"{where}.path", f"= {path!r} is not allowed: expected the path of a JSONL or "
                                               "Parquet file or of a directory")
        if not os.path.exists(path):
            raise OptionError(f"{where}.path", f"= {path!r}: no such file or directory")
        given = fields is not None
        if given and (not isinstance(fields, (list, tuple)) or not fields
                      or not all(isinstance(f, str) and f for f in fields)):
            raise OptionError(f"{where}.fields", f"= {fields!r} is not allowed: expected a non-empty list of "
                                                 f"field names, e.g. {list(DEFAULT_FIELDS[:4])}")
        out.append(EvalSet(name=name, path=path, fields=tuple(fields) if given else DEFAULT_FIELDS,
                           fields_given=given))
    return tuple(out)


# Files of an evaluation-set directory that are read: records, and plain text items. Anything else (a cloned
# benchmark repository's LICENSE, README.md, scripts) is not an item: read as one, an MIT licence's 13-grams
# flagged every MIT-licensed code document.
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".ndjson")
RECORD_SUFFIXES = JSONL_SUFFIXES + (".parquet",)
TEXT_SUFFIXES = (".txt",)
# A plain text item (or a record file's line) larger than this is refused: a link to /dev/zero read until memory
# ran out.
MAX_ITEM_BYTES = 64 << 20


def _set_files(path: str) -> List[str]:
    """The files of a set: `path` itself when it is a regular file; in a directory, its record files and
    `.txt` files (not hidden, regular files only: a FIFO hung the recipe check)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"{path} is neither a regular file nor a directory")
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith(".")
                     and n.lower().endswith(RECORD_SUFFIXES + TEXT_SUFFIXES) and os.path.isfile(os.path.join(root, n)))
    return files


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):  # a Parquet binary column of text
        yield bytes(value).decode("utf-8", "replace")
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _string_leaves(v)
    elif isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not np.isscalar(value)):
        for v in (value.tolist() if hasattr(value, "tolist") else value):
            yield from _string_leaves(v)


def _open_jsonl(path: str, name: str):
    """A JSONL evaluation set as text (gzip and zstd as the document readers take them)."""
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    if name.endswith(".zst"):  # zstandard's own reader stops quietly where a cut file ends: CompressedFrames raises
        import io

        from schemas.io import CompressedFrames

        return io.TextIOWrapper(io.BufferedReader(CompressedFrames(open(path, "rb"), "zstd")), encoding="utf-8-sig")
    return open(path, "rt", encoding="utf-8-sig")


def _records(path: str) -> Iterator[Dict[str, Any]]:
    name = path.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    elif name.endswith(JSONL_SUFFIXES):
        with _open_jsonl(path, name) as f:
            lineno = 0
            while True:  # read up to the cap, never whole: a 29 MB line took ~0.5 GB (~18 bytes a byte)
                line = f.readline(MAX_ITEM_BYTES + 1)
                if not line:
                    break
                lineno += 1
                if len(line) > MAX_ITEM_BYTES:
                    raise ValueError(f"{path} line {lineno} is over {MAX_ITEM_BYTES >> 20} MiB; an evaluation item "
                                     f"is a question, not a corpus: split it into records")
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {lineno} is not JSON: {exc}") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path} line {lineno} is not a JSON object")
                yield record
    else:
        with open(path, "rb") as f:
            data = f.read(MAX_ITEM_BYTES + 1)
        if len(data) > MAX_ITEM_BYTES:
            raise ValueError(f"{path}: a plain text item over {MAX_ITEM_BYTES >> 20} MiB")
        try:
            yield {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            raise ValueError(f"{path} is neither JSONL, Parquet nor UTF-8 text") from None


def _records_named(path: str) -> Iterator[Dict[str, Any]]:
    """`_records`, with a failure of the file's format (a cut gzip, not gzip at all, not UTF-8) naming it."""
    import zlib

    import zstandard

    from schemas.io import TruncatedStream

    try:
        yield from _records(path)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError, TruncatedStream) as exc:
        raise ValueError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None


def eval_items(eval_set: EvalSet) -> Iterator[str]:
    """The text of each item of `eval_set` (module docstring); ValueError if a given field is never found."""
    found = set()
    seen_keys = set()
    for path in _set_files(eval_set.path):
        for record in _records_named(path):
            if set(record) == {"text"} and not path.lower().endswith(RECORD_SUFFIXES):
                yield record["text"]  # a plain text file: the whole file is one item
                found.update(eval_set.fields)
                continue
            seen_keys.update(record)
            parts = []
            for field in eval_set.fields:
                if field in record:
                    found.add(field)
                    parts.extend(_string_leaves(record[field]))
            if parts:
                yield "\n".join(parts)
    missing = [f for f in eval_set.fields if f not in found]
    if (eval_set.fields_given and missing) or not found:
        raise ValueError(f"set {eval_set.name!r}: field(s) {missing} found in no record of {eval_set.path}; "
                         f"its records have {sorted(seen_keys)[:20]}")


# --------------------------------------------------------------------------------------------- the index

@dataclasses.dataclass(frozen=True)
class DecontIndex:
    """The evaluation n-grams: sorted distinct hashes, the set id of each, the set names, n, build counts."""
    hashes: np.ndarray  # uint64, sorted, distinct
    set_ids: np.ndarray  # uint16, parallel to hashes
    set_names: Tuple[str, ...]
    n: int
    items: Tuple[int, ...]  # per set
    short_items: Tuple[int, ...]  # per set: items with fewer than n words
    ngrams: Tuple[int, ...]  # per set: distinct n-grams

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.set_ids.nbytes)

    def false_positive_rate(self) -> float:
        """Probability that one document n-gram found in no set still matches (a 64-bit hash collision)."""
        return len(self.hashes) / 2.0 ** 64

    def lookup(self, query: np.ndarray) -> np.ndarray:
        """Positions in `query` whose hash is in the index (ascending)."""
        if len(query) == 0 or len(self.hashes) == 0:
            return np.empty(0, dtype=np.intp)
        pos = np.searchsorted(self.hashes, query)
        np.minimum(pos, len(self.hashes) - 1, out=pos)
        return np.flatnonzero(self.hashes[pos] == query)

    def set_of(self, ngram_hash) -> str:
        pos = int(np.searchsorted(self.hashes, np.uint64(ngram_hash)))
        return self.set_names[int(self.set_ids[pos])]


def item_ngram_hashes(text: str, n: int) -> np.ndarray:
    words, weights = weighted_words(text)
    return ngram_windows(word_hashes(words), weights, n)[0]


# A long document is split into words a piece at a time: its words as Python bytes objects and their hashes
# as Python ints took ~24 bytes of memory per byte of text (979 MB over the text for a 40 MB document, the size
# JSONL lines may have). Only the words' 64-bit hashes and weights are kept for the whole text.
PIECE_CHARS = 1 << 22


def text_pieces(text: str, size: Optional[int] = None) -> Iterator[str]:
    """`text` in consecutive pieces of about `size` characters, each cut just after an ASCII space or newline
    (or at the end): no word, number or normalised character sequence spans a cut (both are starters that
    compose with nothing), so the pieces' words are the text's words. A run of `size` characters without such
    a separator goes on to the next one. `size`: PIECE_CHARS when None."""
    size = PIECE_CHARS if size is None else size
    start, end_of_text = 0, len(text)
    while end_of_text - start > size:
        cut = max(text.rfind(" ", start, start + size), text.rfind("\n", start, start + size))
        if cut < start:
            after = [i for i in (text.find(" ", start + size), text.find("\n", start + size)) if i >= 0]
            if not after:
                break
            cut = min(after)
        yield text[start:cut + 1]
        start = cut + 1
    if start < end_of_text or not end_of_text:
        yield text[start:]


@dataclasses.dataclass
class DocumentWindows:
    """A document's n-gram windows (`hashes`, `ends`: word positions, end excluded) and how to get the words
    of a window back (`words_between`) without holding the whole document's words."""
    text: str
    hashes: np.ndarray
    ends: np.ndarray
    pieces: List[Tuple[int, int, int]]  # (first character, end character, first word) of each text piece
    _words: Dict[int, List[bytes]] = dataclasses.field(default_factory=dict)

    def words_between(self, start: int, end: int) -> List[bytes]:
        """The words start..end-1, from the pieces that hold them (each split into words once)."""
        out: List[bytes] = []
        k = bisect.bisect_right([first for _, _, first in self.pieces], start) - 1
        while k < len(self.pieces) and self.pieces[k][2] < end:
            a, b, first = self.pieces[k]
            if k not in self._words:
                self._words[k] = weighted_words(self.text[a:b])[0]
            out.extend(self._words[k][max(start - first, 0):end - first])
            k += 1
        return out


def document_windows(text: str, n: int) -> DocumentWindows:
    """The n-gram windows of a document, split into words piece by piece (`text_pieces`)."""
    if len(text) <= PIECE_CHARS:  # one piece: its words are kept for words_between
        words, weights = weighted_words(text)
        found, ends = ngram_windows(word_hashes(words), weights, n)
        return DocumentWindows(text, found, ends, [(0, len(text), 0)], {0: words})
    hashes, weights, counts, pieces = [], [], [], []
    at = first = 0
    for piece in text_pieces(text):
        words, piece_weights = weighted_words(piece)
        hashes.append(word_hashes(words))
        weights.append(piece_weights)
        counts.append(len(words))
        pieces.append((at, at + len(piece), first))
        at, first = at + len(piece), first + len(words)
        del words
    whole = None if all(w is None for w in weights) else np.concatenate(
        [np.full(c, 2, dtype=np.uint8) if w is None else w for w, c in zip(weights, counts)])
    found, ends = ngram_windows(np.concatenate(hashes), whole, n)
    return DocumentWindows(text, found, ends, pieces)


def build_index(sets: Sequence[EvalSet], n: int) -> DecontIndex:
    """Read every set and index its n-grams. A hash found in several sets belongs to the first of them."""
    per_set: List[np.ndarray] = []
    items, short, counts = [], [], []
    for eval_set in sets:
        chunks, n_items, n_short = [], 0, 0
        for text in eval_items(eval_set):
            n_items += 1
            h = item_ngram_hashes(text, n)
            if len(h) == 0:
                n_short += 1
            chunks.append(h)
        distinct = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
        per_set.append(distinct)
        items.append(n_items)
        short.append(n_short)
        counts.append(len(distinct))
    if per_set:
        all_hashes = np.concatenate(per_set)
        all_ids = np.concatenate([np.full(len(h), i, dtype=np.uint16) for i, h in enumerate(per_set)])
        order = np.lexsort((all_ids, all_hashes))  # by hash, then set id: the first set of a hash comes first
        all_hashes, all_ids = all_hashes[order], all_ids[order]
        first = np.ones(len(all_hashes), dtype=bool)
        first[1:] = all_hashes[1:] != all_hashes[:-1]
        hashes, set_ids = all_hashes[first], all_ids[first]
    else:
        hashes, set_ids = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint16)
    return DecontIndex(hashes=np.ascontiguousarray(hashes), set_ids=np.ascontiguousarray(set_ids),
                       set_names=tuple(s.name for s in sets), n=int(n), items=tuple(items),
                       short_items=tuple(short), ngrams=tuple(counts))


# --------------------------------------------------------------------------------------------- decisions

@dataclasses.dataclass(frozen=True)
class Match:
    """A document n-gram found in the index: where it starts and ends (word positions, end excluded), its set
    and its words."""
    start: int
    set_name: str
    ngram: str
    end: int


def find_matches(text: str, index: DecontIndex, first_only: bool = True) -> List[Match]:
    """The document's n-grams found in `index`, in document order (only the first with `first_only`)."""
    windows = document_windows(text, index.n)
    hits = index.lookup(windows.hashes)
    if len(hits) == 0:
        return []
    if first_only:
        hits = hits[:1]
    ends = windows.ends
    return [Match(start=int(j), set_name=index.set_of(windows.hashes[j]), end=int(ends[j]),
                  ngram=b" ".join(windows.words_between(int(j), int(ends[j]))).decode("utf-8", "surrogatepass"))
            for j in hits]


def remove_matched_lines(text: str, index: DecontIndex) -> Tuple[str, Dict[str, int], List[Match]]:
    """The text without the lines any matched n-gram touches, the lines removed per set (a line goes to the set
    of the first match that touches it), and the matches.

    Words never span a newline, so the words of the whole text are those of its lines in order; a match that
    spans lines (an item split over lines) removes every line it touches."""
    matches = find_matches(text, index, first_only=False)
    if not matches:
        return text, {}, []
    # every line break str.splitlines knows (\r alone, U+2028, ...), each kept with its line: split at "\n" only,
    # a text with \r line ends was one line and one match removed all of it
    lines = text.splitlines(keepends=True)
    line_of_word = np.repeat(np.arange(len(lines)), [len(normalize_words(line)) for line in lines])
    removed_by: List[Optional[str]] = [None] * len(lines)
    for m in matches:
        for line in range(int(line_of_word[m.start]), int(line_of_word[m.end - 1]) + 1):
            if removed_by[line] is None:
                removed_by[line] = m.set_name
    kept = "".join(line for line, by in zip(lines, removed_by) if by is None)
    if kept and removed_by[-1] is not None and lines[-1] == lines[-1].splitlines()[0]:
        # the text's last line went and the text ended without a line break: so does what is left
        last = kept.splitlines(keepends=True)[-1]
        kept = kept[:len(kept) - len(last)] + last.splitlines()[0]
    per_set: Dict[str, int] = {}
    for by in removed_by:
        if by is not None:
            per_set[by] = per_set.get(by, 0) + 1
    return kept, per_set, matches


def _files_signature(sets: Sequence[EvalSet]) -> Tuple:
    sig = []
    for s in sets:
        for path in _set_files(s.path):
            st = os.stat(path)
            sig.append((path, st.st_size, st.st_mtime_ns))
    return tuple(sig)


_INDEX_CACHE: Dict[Tuple, DecontIndex] = {}


def load_index(sets: Sequence[EvalSet], n: int) -> DecontIndex:
    """`build_index`, once per process for the same sets, n and file contents (size and mtime): a recipe is
    checked before the job and built again for it, and the evaluation sets are read once."""
    key = (tuple(sets), int(n), _files_signature(sets))
    index = _INDEX_CACHE.get(key)
    if index is None:
        if len(_INDEX_CACHE) >= 4:
            _INDEX_CACHE.clear()
        index = _INDEX_CACHE[key] = build_index(sets, n)
    return index
