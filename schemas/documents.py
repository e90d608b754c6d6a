"""Documents, rejected and error tables (Parquet, zstd).

A document row is what survives curation. A rejected row is a document that a stage dropped, with the
stage and a named reason. An error row is a record a stage could not process, with the exception and a
pointer back to the input (file and offset, or path), so nothing that enters a stage is lost silently.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import pyarrow as pa

DOCUMENTS_FORMAT = "winnow.documents/1"

# Document columns (DESIGN.md contract).
ID = "id"
SOURCE = "source"
URL = "url"
TEXT = "text"
LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"
DEDUP_CLUSTER_ID = "dedup_cluster_id"
DEDUP_CLUSTER_SIZE = "dedup_cluster_size"
# Winnow additions: the programming language of a code document (from its file name) and the
# per-filter scores, kept so thresholds can be re-tuned without recomputing.
CODE_LANGUAGE = "code_language"
SCORES = "scores"
# What extraction knows besides the text: the page title, and trafilatura's metadata (author, date, sitename,
# description, encoding, crawl_date) or, for code, repo, path, language and license.
TITLE = "title"
METADATA = "metadata"
INPUT_PATH = "input_path"
INPUT_OFFSET = "input_offset"

# Rejected and error columns.
STAGE = "stage"
REASON = "reason"
DUPLICATE_OF = "duplicate_of"
# What else names the cause of a rejection, as key -> value: the evaluation set and matched n-gram of a
# decontaminated document (`set`, `ngram`), the index a previous run's duplicate was found in (`index`).
DETAIL = "detail"
ERROR = "error"

_DOCUMENT_FIELDS = [
    pa.field(ID, pa.string(), nullable=False),
    pa.field(SOURCE, pa.string(), nullable=False),
    pa.field(URL, pa.string()),
    pa.field(TEXT, pa.string(), nullable=False),
    pa.field(LANGUAGE, pa.string()),
    pa.field(LANGUAGE_SCORE, pa.float32()),
    pa.field(DEDUP_CLUSTER_ID, pa.string()),
    pa.field(DEDUP_CLUSTER_SIZE, pa.int32()),
    pa.field(CODE_LANGUAGE, pa.string()),
    pa.field(SCORES, pa.map_(pa.string(), pa.float64())),  # float64: decide() on a stored score gives the decision taken
    pa.field(TITLE, pa.string()),
    pa.field(METADATA, pa.map_(pa.string(), pa.string())),
    pa.field(INPUT_PATH, pa.string()),
    pa.field(INPUT_OFFSET, pa.int64()),
]

DOCUMENTS_SCHEMA = pa.schema(_DOCUMENT_FIELDS, metadata={b"format": DOCUMENTS_FORMAT.encode()})

REJECTED_SCHEMA = pa.schema(
    _DOCUMENT_FIELDS + [
        pa.field(STAGE, pa.string(), nullable=False),
        pa.field(REASON, pa.string(), nullable=False),
        pa.field(DUPLICATE_OF, pa.string()),
        pa.field(DETAIL, pa.map_(pa.string(), pa.string())),
    ],
    metadata={b"format": b"winnow.rejected/1"},
)

ERRORS_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(STAGE, pa.string(), nullable=False),
        pa.field(ERROR, pa.string(), nullable=False),
        pa.field(INPUT_PATH, pa.string()),
        pa.field(INPUT_OFFSET, pa.int64()),
    ],
    metadata={b"format": b"winnow.errors/1"},
)


def empty_document(doc_id: str, source: str, text: str, url: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    """A document dict with every column of DOCUMENTS_SCHEMA present (nulls where unknown)."""
    doc: Dict[str, Any] = {f.name: None for f in _DOCUMENT_FIELDS}
    doc.update({ID: doc_id, SOURCE: source, TEXT: text, URL: url, DEDUP_CLUSTER_SIZE: 1, SCORES: {}})
    for key, value in extra.items():
        if key not in doc:
            raise KeyError(f"unknown document column {key!r}; columns are {list(doc)}")
        doc[key] = value
    return doc


def to_rejected_row(doc: Dict[str, Any], stage: str, reason: str, duplicate_of: Optional[str] = None,
                    detail: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    row = {f.name: doc.get(f.name) for f in _DOCUMENT_FIELDS}
    row.update({STAGE: stage, REASON: reason, DUPLICATE_OF: duplicate_of,
                DETAIL: dict(sorted(detail.items())) if detail else None})
    return row


def to_error_row(stage: str, error: BaseException | str, *, doc_id: Optional[str] = None,
                 source: Optional[str] = None, url: Optional[str] = None,
                 input_path: Optional[str] = None, input_offset: Optional[int] = None) -> Dict[str, Any]:
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {ID: doc_id, SOURCE: source, URL: url, STAGE: stage, ERROR: message[:4000],
            INPUT_PATH: input_path, INPUT_OFFSET: input_offset}
