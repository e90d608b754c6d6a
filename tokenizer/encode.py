"""Loading a trained tokenizer and encoding documents with it.

Documents are encoded as ordinary text: a document that happens to contain the string `<|endoftext|>` must
not get a real document boundary in the middle of it (nor lose those characters on decode). HF tokenizers
always matches added tokens in the input, so the handle encodes with a copy of the tokenizer whose added-token
list is empty (same BPE model, same ids); special ids are only ever inserted by the packer.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Sequence

from tokenizer.train import EOT_TOKEN, FIM_TOKENS, PAD_TOKEN, TOKENIZER_FILE


class TokenizerHandle:
    """A trained byte-level BPE tokenizer: batch encoding without special tokens, decoding, its ids and hash."""

    def __init__(self, tokenizer_json: bytes):
        from tokenizers import Tokenizer

        self.sha256 = hashlib.sha256(tokenizer_json).hexdigest()
        text = tokenizer_json.decode("utf-8")
        self._full = Tokenizer.from_str(text)
        spec = json.loads(text)
        spec["added_tokens"] = []
        self._ordinary = Tokenizer.from_str(json.dumps(spec))
        self.eot_id = self._required_id(EOT_TOKEN)
        self.pad_id = self._required_id(PAD_TOKEN)
        self.vocab_size = self._full.get_vocab_size(with_added_tokens=True)

    def _required_id(self, token: str) -> int:
        token_id = self._full.token_to_id(token)
        if token_id is None:
            raise ValueError(f"tokenizer has no {token!r} special token; train it with `winnow tokenizer train`")
        return token_id

    @property
    def special_ids(self) -> Dict[str, int]:
        ids = {EOT_TOKEN: self.eot_id, PAD_TOKEN: self.pad_id}
        for token in FIM_TOKENS:
            token_id = self._full.token_to_id(token)
            if token_id is not None:
                ids[token] = token_id
        return ids

    def encode(self, text: str) -> List[int]:
        return self._ordinary.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> List[List[int]]:
        return [e.ids for e in self._ordinary.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._full.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def id_to_token(self, token_id: int) -> str:
        return self._full.id_to_token(token_id)


def tokenizer_file(path_or_dir: str) -> str:
    return os.path.join(path_or_dir, TOKENIZER_FILE) if os.path.isdir(path_or_dir) else path_or_dir


def load_tokenizer(path_or_dir: str) -> TokenizerHandle:
    """A tokenizer from a tokenizer.json path or a directory holding one (local paths)."""
    path = tokenizer_file(path_or_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer at {path!r}: pass a tokenizer.json or the directory "
                                f"`winnow tokenizer train --output` wrote")
    with open(path, "rb") as f:
        return TokenizerHandle(f.read())
