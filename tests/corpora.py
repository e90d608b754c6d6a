"""Small seeded corpora of random common words, written as a curate documents directory, for tests that need
real tokenizers and shards but not real prose. The session corpus that several test files share is `word_corpus` in
tests/conftest.py; build a corpus of your own here only when a test needs another size or seed."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import DOCUMENTS_SCHEMA, empty_document
from tokenizer.train import train_tokenizer

WORDS = "the of and to in a is that it was for on are with as his they be at one have this from or had by".split()


def write_word_documents(directory: Path, count: int, seed: int, words_per_doc: Tuple[int, int],
                         sources: Sequence[str] = ("web",), id_width: int = 4) -> Path:
    """`count` documents of a seeded number of random WORDS, sources in rotation, as one Parquet file."""
    rng = random.Random(seed)
    docs = [empty_document(f"d{i:0{id_width}d}", sources[i % len(sources)],
                           " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words_per_doc))))
            for i in range(count)]
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA), directory / "part-00000.parquet")
    return directory


def word_corpus_with_tokenizer(root: Path, docs_dir: Path, count: int, seed: int,
                               words_per_doc: Tuple[int, int], **kw) -> Path:
    """write_word_documents into docs_dir, then a 300-token BPE tokenizer trained on it into root/tok."""
    write_word_documents(docs_dir, count, seed, words_per_doc, **kw)
    train_tokenizer(str(docs_dir), vocab_size=300, output_dir=str(root / "tok"), seed=0)
    return root / "tok"
