"""Loading a trained tokenizer and encoding documents with it.

Documents are encoded as ordinary text: a document that happens to contain the string `<|endoftext|>` must
not get a real document boundary in the middle of it (nor lose those characters on decode). HF tokenizers
always matches added tokens in the input, so the handle encodes with a copy of the tokenizer whose added-token
list holds only the added tokens that are not special (vocabulary added to the BPE, matched as HF matches them;
same model, same ids); special ids are only ever inserted by the packer.

Two encoders give the same ids: HF tokenizers (`backend="hf"`, the default) and tiktoken (`backend="tiktoken"`,
optional package), built from the same vocabulary and split pattern. tiktoken ranks a merge by the bytes it
produces, HF by the merge's position; they agree when token ids follow merge order and no token is produced by
two merges, which the handle checks before it builds the tiktoken encoder (tests compare the ids on real text).

A text longer than LONG_TEXT_CHARS characters is encoded in pieces (`piece_cuts`) when the tokenizer's
configuration makes the cuts invisible (`piecewise_unsupported`): the ids are those of the whole text, but the
encoder holds one piece's UTF-8 copy and ids at a time instead of the whole text's (tiktoken keeps a UTF-8 copy
with the str and fills one uint32 vector; HF builds an Encoding of ~500 bytes a token), and `encode_batch_bytes`
turns each piece's ids into the shard dtype as it goes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from tokenizer.train import EOT_TOKEN, FIM_TOKENS, PAD_TOKEN, SPLIT_PATTERNS, TOKENIZER_FILE

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("hf", "tiktoken")
ENCODERS = ("auto",) + BACKENDS  # `winnow tokenize --encoder`: auto picks one of the backends (tokenizer_handle)

# Texts longer than LONG_TEXT_CHARS characters are encoded in pieces of at least PIECE_CHARS (`piece_cuts`),
# one after another in the calling thread, when the tokenizer allows it (`piecewise_unsupported`). Shorter
# texts, nearly every document, take the whole-text path unchanged (and the thread pool). HF's encoder takes
# ~15 MB for a piece of 64K characters (~230 MB for 1M characters); tiktoken's time is the same in pieces.
LONG_TEXT_CHARS = 1 << 20
PIECE_CHARS = 1 << 16

# Where a text may be cut: a single space with a character that is not whitespace on either side. Python's `\s`
# in a str pattern is `str.isspace()`, which holds for every character the split patterns' `\s` matches
# (Unicode White_Space; tests check every code point against both regex engines), so `\S` here is never `\s`
# there.
_CUT = re.compile(r"(?<=\S) (?=\S)")


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's byte -> printable character table, the alphabet of HF's ByteLevel pre-tokenizer."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def split_pattern_of(spec: Dict) -> Optional[str]:
    """The split regex of a tokenizer.json (parsed) when its pre-tokenizer is exactly Winnow's: Split(Regex(one of
    SPLIT_PATTERNS), isolated) then ByteLevel without its own regex; None for anything else (GPT-2 style etc.)."""
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if len(steps) != 2 or steps[0].get("type") != "Split" or steps[1].get("type") != "ByteLevel":
        return None
    pattern = (steps[0].get("pattern") or {}).get("Regex")
    if (pattern not in SPLIT_PATTERNS.values() or steps[0].get("behavior") != "Isolated" or steps[0].get("invert")
            or steps[1].get("use_regex", True) or steps[1].get("add_prefix_space", False)):
        return None
    return pattern


def tiktoken_unsupported(spec: Dict) -> Optional[str]:
    """What of a tokenizer.json (parsed) tiktoken cannot reproduce, or None. tiktoken only splits and merges:
    a normalizer (Lowercase, NFKC) changes the text HF encodes, BPE dropout or subword affixes change the
    merges, truncation or padding change the ids, and a post-processor or decoder other than ByteLevel belongs
    to a tokenizer that is not plain byte-level BPE."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or split_pattern_of(spec) is None:
        return ("tiktoken backend needs a byte-level BPE with one of Winnow's split patterns "
                f"({', '.join(SPLIT_PATTERNS)})")
    for part in ("normalizer", "truncation", "padding"):
        if spec.get(part) is not None:
            return f"the tokenizer has a {part} ({json.dumps(spec[part])[:80]}), which tiktoken does not apply"
    for option in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            return f"the BPE model sets {option} ({model[option]!r}), which tiktoken does not apply"
    for part in ("post_processor", "decoder"):
        if spec.get(part) is not None and spec[part].get("type") != "ByteLevel":
            return f"the tokenizer's {part} is {spec[part].get('type')}, not ByteLevel"
    plain = [t["content"] for t in spec.get("added_tokens", []) if not t.get("special", False)]
    if plain:
        return (f"the tokenizer has {len(plain)} added token(s) that are not special ({plain[0]!r}, ...), which HF "
                f"matches in the text and tiktoken does not")
    return None


def tiktoken_encoding(spec: Dict, name: str = "winnow"):
    """A tiktoken Encoding equivalent to a Winnow tokenizer.json (parsed), or ValueError saying why not."""
    import tiktoken

    why = tiktoken_unsupported(spec)
    if why:
        raise ValueError(why)
    model = spec["model"]
    pattern = split_pattern_of(spec)
    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    vocab = {tok: i for tok, i in model["vocab"].items() if tok not in specials}
    try:
        ranks = {bytes(byte_of[c] for c in tok): i for tok, i in vocab.items()}
    except KeyError as exc:  # a token spelled outside the byte-level alphabet: not byte-level BPE
        raise ValueError(f"tiktoken backend needs byte-level tokens; the vocabulary spells one with {exc}") from None
    # tiktoken panics (a BaseException, past every `except Exception`) on an id that two tokens share
    if len(set(ranks.values()) | set(specials.values())) != len(ranks) + len(specials):
        raise ValueError("tiktoken backend needs one token per id; the vocabulary gives two tokens one id")
    merges = [m if isinstance(m, list) else m.split(" ", 1) for m in model["merges"]]
    made = [vocab["".join(m)] for m in merges]
    if len(set(made)) != len(made) or made != sorted(made):
        raise ValueError("tiktoken backend needs ids in merge order and no token made by two merges")
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def piecewise_unsupported(spec: Dict) -> Optional[str]:
    """Why a tokenizer.json (parsed) cannot encode a text in pieces cut by `piece_cuts` with the ids of the whole
    text, or None when it can.

    It can when the text reaches the BPE model unchanged (no normalizer, no added token that is not special: HF
    matches those in the raw text before splitting it), is split by one of Winnow's patterns (`split_pattern_of`)
    or by GPT-2's (a lone ByteLevel with its own regex, no prefix space), each split piece is merged on its own (a
    plain BPE: no dropout, no subword prefix or suffix) and nothing acts on the whole sequence of ids
    (truncation, padding, a post-processor other than ByteLevel). Then the ids of a text are those of its split
    pieces one after another, and a cut at a single space between two characters that are not whitespace is
    where a split piece ends in the whole text and in the text that stops there:

    - no alternative of these patterns matches a character that is not whitespace followed by a space: a space
      is only ever the first character of a match (` ?`, `[^\\r\\n\\p{L}\\p{N}]?`) or part of a run that is all
      whitespace (`\\s+`, `\\s*[\\r\\n]`, the indentation after a line break), so the match that holds the
      character before the cut ends at the cut;
    - what the regex reads at the cut decides nothing before it: the space and the end of the text are both
      rejected by every character class that could extend that match (letters, digits, punctuation, line
      breaks), and the lookaheads (`(?!\\S)` after whitespace, `(?=[^\\S\\r\\n]?\\S)` after a line break's
      indentation) only follow whitespace, which the character before the cut is not;
    - the patterns have no lookbehind or anchor, so the matches from the cut on are those of the text that
      starts there."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return "the model is not BPE"
    for option in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            return f"the BPE model sets {option}"
    for part in ("normalizer", "truncation", "padding"):
        if spec.get(part) is not None:
            return f"the tokenizer has a {part}"
    if spec.get("post_processor") is not None and spec["post_processor"].get("type") != "ByteLevel":
        return "the tokenizer's post-processor is not ByteLevel"
    if any(not t.get("special", False) for t in spec.get("added_tokens", [])):
        return "the tokenizer has added tokens that are not special"
    pre = spec.get("pre_tokenizer") or {}
    gpt2 = (pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False))
    if split_pattern_of(spec) is None and not gpt2:
        return "the pre-tokenizer is neither one of Winnow's split patterns nor GPT-2's"
    return None


def piece_cuts(text: str, piece_chars: int) -> List[int]:
    """Where to cut `text` into pieces of at least `piece_chars` characters: at single spaces between two
    characters that are not whitespace (see `piecewise_unsupported`), the first one `piece_chars` or more past
    the previous cut. A stretch with no such space stays in one piece; [] when the text is no longer than
    `piece_chars`."""
    if piece_chars < 1:
        raise ValueError(f"piece_chars must be positive, got {piece_chars}")
    cuts: List[int] = []
    at = piece_chars
    while at < len(text):
        match = _CUT.search(text, at)
        if match is None:
            break
        cuts.append(match.start())
        at = match.start() + piece_chars
    return cuts


class MissingSpecialToken(ValueError):
    """A tokenizer without a special token its caller needs (tokenize pads rows with <|pad|>): no encoder helps."""

    def __init__(self, source: str, tokens: Sequence[str]):
        self.source, self.missing, self.tokens = source, list(tokens), " or ".join(map(repr, tokens))
        super().__init__(f"{source} has no {self.tokens} special token")


class TokenizerHandle:
    """A trained byte-level BPE tokenizer: batch encoding without special tokens, decoding, its ids and hash.

    `required`: the special tokens the caller uses (packing needs <|endoftext|> and <|pad|>; `tokenizer eval`
    none, so it reads GPT-2-style files); the ids of absent ones that are not required are None."""

    def __init__(self, tokenizer_json: bytes, backend: str = "hf", source: str = TOKENIZER_FILE,
                 required: Sequence[str] = (EOT_TOKEN, PAD_TOKEN)):
        from tokenizers import Tokenizer

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.sha256 = hashlib.sha256(tokenizer_json).hexdigest()
        self._full = parse_tokenizer_json(tokenizer_json, source)
        missing = [t for t in required if self._full.token_to_id(t) is None]
        if missing:  # before the encoder: a tokenizer without them is refused whichever encoder is asked for
            raise MissingSpecialToken(source, missing)
        spec = json.loads(tokenizer_json.decode("utf-8"))
        self._tiktoken = tiktoken_encoding(spec, name=f"winnow-{self.sha256[:12]}") if backend == "tiktoken" else None
        # special added tokens are never matched in a document's text; added tokens that are not special are
        # vocabulary and are matched as HF matches them (emptying the list split them into BPE pieces, other
        # ids than the tokenizer's own encode)
        spec["added_tokens"] = [t for t in spec.get("added_tokens", []) if not t.get("special", False)]
        self._ordinary = Tokenizer.from_str(json.dumps(spec))
        self.backend = backend
        self.eot_id = self._full.token_to_id(EOT_TOKEN)
        self.pad_id = self._full.token_to_id(PAD_TOKEN)
        # the ids' range, not the entry count: a vocabulary with gaps (an id past its number of entries) would
        # otherwise get a dtype too narrow for its ids (70000 written as 4464 in uint16, without a word) and a
        # manifest vocab_size its own ids exceed
        self.vocab_size = max([self._full.get_vocab_size(with_added_tokens=True)]
                              + [i + 1 for i in self._full.get_vocab(with_added_tokens=True).values()])
        self._pool, self._pool_threads = None, 0  # encode_batch_arrays' threads, started once per handle
        # whether a long text may be encoded in pieces (with the ids of the whole text)
        self.piecewise = piecewise_unsupported(spec) is None

    @property
    def special_ids(self) -> Dict[str, int]:
        ids = {}
        for token in (EOT_TOKEN, PAD_TOKEN) + FIM_TOKENS:
            token_id = self._full.token_to_id(token)
            if token_id is not None:
                ids[token] = token_id
        return ids

    def _hf_ids(self, text: str) -> List[int]:
        return self._ordinary.encode(text, add_special_tokens=False).ids

    def encode(self, text: str) -> List[int]:
        if self._tiktoken is not None:
            try:  # encode_ordinary would panic (not raise) where encode raises: see encode_batch_arrays
                return self._tiktoken.encode(text, disallowed_special=())
            except ValueError:
                return self._hf_ids(text)
        return self._hf_ids(text)

    def encode_batch(self, texts: Sequence[str], threads: Optional[int] = None) -> List[List[int]]:
        """Ids of each text. `threads`: how many threads may encode at once (None: the backend's default,
        8 for tiktoken, every core for HF); 1 encodes in the calling thread only."""
        if self._tiktoken is not None:
            if threads == 1:
                return [self.encode(t) for t in texts]
            try:
                return self._tiktoken.encode_batch(list(texts), num_threads=threads or 8, disallowed_special=())
            except ValueError:  # see encode_batch_arrays
                return [self.encode(t) for t in texts]
        if threads == 1:
            return [self._hf_ids(t) for t in texts]
        return [e.ids for e in self._ordinary.encode_batch(list(texts), add_special_tokens=False)]

    def encode_batch_arrays(self, texts: Sequence[str], threads: Optional[int] = None, *,
                            long_chars: Optional[int] = None,
                            piece_chars: Optional[int] = None) -> List["np.ndarray"]:
        """Ids of each text as a uint32 numpy array, the same ids as `encode_batch`. tiktoken writes them straight
        into the array's buffer (no Python int per token: ~15% less CPU than a list plus `np.asarray`); with
        `threads` 1 the texts are encoded in the calling thread, which on 2 cores was as fast as tiktoken's
        8-thread batch at half the CPU; with more, on one thread pool that the handle keeps.

        tiktoken's regex engine gives up on a long run it would backtrack through (~1M spaces or dashes in a row:
        "Max stack size exceeded for backtracking"); HF's splits it, so a text tiktoken raises on is encoded by
        HF's tokenizer, whose ids tiktoken's are (the shards stay those of `--encoder hf`). Only that text pays.

        A text longer than `long_chars` (default LONG_TEXT_CHARS) is encoded in pieces of `piece_chars` (default
        PIECE_CHARS) when the tokenizer allows it (`_pieces`), and the batch in the calling thread."""
        import numpy as np

        long_chars, piece_chars = self._piece_sizes(long_chars, piece_chars)
        if any(self._in_pieces(t, long_chars) for t in texts):
            return [np.concatenate(self._pieces(t, piece_chars)) if self._in_pieces(t, long_chars)
                    else self._whole_array(t) for t in texts]
        if self._tiktoken is None or not hasattr(self._tiktoken, "encode_to_numpy"):
            return [np.asarray(ids, dtype=np.uint32) for ids in self.encode_batch(texts, threads)]
        if threads == 1 or len(texts) < 2:
            return [self._whole_array(t) for t in texts]
        return list(self._threads(threads or 8).map(self._whole_array, texts))

    def encode_batch_bytes(self, texts: Sequence[str], dtype: str, append: Optional[int] = None,
                           threads: Optional[int] = None, *, long_chars: Optional[int] = None,
                           piece_chars: Optional[int] = None) -> List[bytes]:
        """The ids of each text in `dtype` (uint16 or uint32), then `append` when given, as bytes: the same ids
        as `encode_batch_arrays`, laid out as the tokenize job carries a document to packing.

        A text longer than `long_chars` (default LONG_TEXT_CHARS) is encoded in pieces of `piece_chars` (default
        PIECE_CHARS) when the tokenizer allows it, each piece's ids turned into `dtype` before the next piece is
        encoded: the text costs its ids in `dtype` twice (the pieces, then the bytes they are joined into), not a
        UTF-8 copy of the whole text, its uint32 ids and their copies. The other texts are encoded by
        `encode_batch_arrays`, as one batch."""
        import numpy as np

        long_chars, piece_chars = self._piece_sizes(long_chars, piece_chars)
        tail = [] if append is None else [np.array([append], dtype=dtype)]
        out: List[Optional[bytes]] = [None] * len(texts)
        short = [k for k, t in enumerate(texts) if not self._in_pieces(t, long_chars)]
        if short:
            arrays = self.encode_batch_arrays([texts[k] for k in short], threads)
            arrays.reverse()
            for k in short:  # each uint32 array is dropped once it is converted
                ids = arrays.pop()
                row = np.empty(len(ids) + len(tail), dtype=dtype)
                row[:len(ids)] = ids
                if tail:
                    row[-1] = append
                out[k] = row.tobytes()
        for k, text in enumerate(texts):
            if out[k] is None:
                out[k] = b"".join(self._pieces(text, piece_chars, dtype) + tail)
        return out  # type: ignore[return-value]

    @staticmethod
    def _piece_sizes(long_chars: Optional[int], piece_chars: Optional[int]) -> Tuple[int, int]:
        return (LONG_TEXT_CHARS if long_chars is None else long_chars,
                PIECE_CHARS if piece_chars is None else piece_chars)

    def _in_pieces(self, text: str, long_chars: int) -> bool:
        return self.piecewise and len(text) > long_chars

    def _whole_array(self, text: str) -> "np.ndarray":
        """The uint32 ids of a whole text: tiktoken's straight into an array, HF's when tiktoken raises (see
        `encode_batch_arrays`) or is not the backend."""
        import numpy as np

        if self._tiktoken is None or not hasattr(self._tiktoken, "encode_to_numpy"):
            return np.asarray(self.encode(text), dtype=np.uint32)
        try:
            return self._tiktoken.encode_to_numpy(text, disallowed_special=())  # specials in the text stay text
        except ValueError:
            return np.asarray(self._hf_ids(text), dtype=np.uint32)

    def _pieces(self, text: str, piece_chars: int, dtype: str = "uint32") -> List["np.ndarray"]:
        """The ids of `text` in `dtype`, one array per piece cut by `piece_cuts`: one after another, the ids of the
        whole text (`piecewise_unsupported` says why). Each piece is its own short str, so the encoder's UTF-8
        copy of it and its uint32 ids go before the next piece is encoded. Should a piece fail to encode, the
        whole text is encoded instead, so that the text fails (or not) exactly as it does whole."""
        bounds = [0] + piece_cuts(text, piece_chars) + [len(text)]
        try:
            return [self._whole_array(text[start:end]).astype(dtype, copy=False)
                    for start, end in zip(bounds, bounds[1:])]
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 -- the whole text decides, as without pieces
            return [self._whole_array(text).astype(dtype, copy=False)]

    def _threads(self, threads: int):
        """A thread pool of `threads`, kept for the handle's life (a worker encodes every batch with it)."""
        if self._pool is None or self._pool_threads != threads:
            from concurrent.futures import ThreadPoolExecutor

            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool, self._pool_threads = ThreadPoolExecutor(threads, thread_name_prefix="encode"), threads
        return self._pool

    def encode_batch_with_offsets(self, texts: Sequence[str]) -> List[Tuple[List[int], List[Tuple[int, int]]]]:
        """Ids and the character span of each token in its text (HF encoder whatever the backend)."""
        return [(e.ids, e.offsets) for e in self._ordinary.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._full.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def id_to_token(self, token_id: int) -> Optional[str]:
        return self._full.id_to_token(token_id)


def tokenizer_file(path: str) -> str:
    """The tokenizer.json of `path` (local or gs://): `path` itself when it names a .json file or is a local
    file, else the tokenizer.json inside the directory `path` (that `winnow tokenizer train --output` wrote).
    The one resolver of a "tokenizer file or directory" argument: tokenize, verify, stats, inspect, train."""
    is_local = "://" not in path
    if is_local and os.path.isdir(path):
        return os.path.join(path, TOKENIZER_FILE)
    if path.endswith(".json") or (is_local and os.path.isfile(path)):
        return path
    return os.path.join(path, TOKENIZER_FILE) if is_local else path.rstrip("/") + "/" + TOKENIZER_FILE


def find_tokenizer(shards_dir: str, explicit: Optional[str]) -> Optional[str]:
    """The local tokenizer.json of a shards directory: the explicit path (file or directory), else
    ../tokenizer/ or the shards directory itself (where `winnow run` puts them); None when none is there."""
    candidates = [explicit] if explicit else [os.path.join(shards_dir, "..", "tokenizer"), shards_dir]
    for c in candidates:
        if c and os.path.isfile(tokenizer_file(c)):
            return tokenizer_file(c)
    return None


def parse_tokenizer_json(data: bytes, source: str = TOKENIZER_FILE):
    """An HF `Tokenizer` from the bytes of a tokenizer.json; an empty, non-JSON or foreign file raises one
    WinnowError naming `source` (HF's own parse error names neither the file nor the fix)."""
    from tokenizers import Tokenizer

    from schemas.errors import WinnowError

    fix = "point --tokenizer at the directory `winnow tokenizer train --output` wrote, or train it again"
    if not data.strip():
        raise WinnowError("is empty", path=source, fix=fix)
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON
        raise WinnowError(f"is not a tokenizers JSON file ({str(exc).strip()})", path=source, fix=fix) from exc


def tokenizer_mismatch(tokenizer_json: bytes, source: str, sha256: str, vocab_size: int) -> Optional[str]:
    """Why a tokenizer.json (its bytes, read from `source`) is not the one shards were made with (their
    manifest's sha256 and vocab_size), or None when it is: `winnow verify --tokenizer`, and `stats`/`inspect`
    before they decode with it."""
    tok = TokenizerHandle(tokenizer_json, source=source)
    if tok.sha256 != sha256:
        return f"tokenizer mismatch: {source} has sha256 {tok.sha256}, the shards were made with {sha256}"
    if tok.vocab_size != vocab_size:
        return f"tokenizer vocab_size {tok.vocab_size} != manifest {vocab_size}"
    return None


def read_tokenizer_file(path: str):
    """An HF `Tokenizer` from a local tokenizer.json, with the same one-line errors."""
    with open(path, "rb") as f:
        return parse_tokenizer_json(f.read(), path)


def load_tokenizer(path_or_dir: str, backend: str = "hf",
                   required: Sequence[str] = (EOT_TOKEN, PAD_TOKEN)) -> TokenizerHandle:
    """A tokenizer from a tokenizer.json path or a directory holding one (local paths)."""
    path = tokenizer_file(path_or_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer at {path!r}: pass a tokenizer.json or the directory "
                                f"`winnow tokenizer train --output` wrote")
    with open(path, "rb") as f:
        return TokenizerHandle(f.read(), backend=backend, source=path, required=required)


# One TokenizerHandle per process for the same tokenizer bytes and encoder: workers of the in-process runner
# are threads of the driver, so the driver's handle is reused instead of parsed again.
_HANDLES: Dict[Tuple[str, str], Any] = {}


def tokenizer_handle(tokenizer_json: bytes, encoder: str = "auto") -> TokenizerHandle:
    """The process's TokenizerHandle for these tokenizer bytes and encoder (one of ENCODERS), built once.

    `auto`: the tiktoken handle when tiktoken is importable and accepts the tokenizer (it refuses, with a
    ValueError, any tokenizer for which it cannot guarantee HF's ids), else the HF handle. Every process
    decides for itself; both give the same ids, so a worker without tiktoken still writes the same shards."""
    key = (hashlib.sha256(tokenizer_json).hexdigest(), encoder)
    if key not in _HANDLES:
        if encoder == "auto":
            try:
                handle = tokenizer_handle(tokenizer_json, "tiktoken")
            except (ImportError, ValueError) as exc:
                handle = tokenizer_handle(tokenizer_json, "hf")
                log.info("tokenize: encoder auto -> hf (tiktoken not usable: %s)", exc)
            else:
                log.debug("tokenize: encoder auto -> tiktoken (same ids as HF tokenizers)")
            _HANDLES[key] = handle
        else:
            _HANDLES[key] = TokenizerHandle(tokenizer_json, backend=encoder)
    return _HANDLES[key]
