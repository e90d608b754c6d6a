"""RawRecord: what reading an input yields for one archive record, JSONL line, Parquet row or code file, and
what extraction (pipelines/ingest/html.py `extract_record`) turns into a document. A plain dict: these field
names beyond the document column names ID, SOURCE, URL, TEXT, CODE_LANGUAGE, INPUT_PATH, INPUT_OFFSET
(schemas)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from pipelines.ingest.inputs import READ_STAGE
from schemas import (CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, METADATA, SOURCE, TEXT, URL, empty_document,
                     to_rejected_row)

RECORD_TYPE = "record_type"      # WARC record type: response, resource, conversion (None for text/code)
CONTENT_TYPE = "content_type"    # HTTP Content-Type (or the WARC Content-Type of resource/conversion records)
HTTP_STATUS = "http_status"      # int, None when the record carries no HTTP response
BODY = "body"                    # bytes: the HTTP payload (transfer and content encodings undone)
CODE_METADATA = METADATA         # code files: {"repo", "path", "language", "license"}
WARC_DATE = "warc_date"          # ISO 8601 capture date from WARC-Date / the ARC date, None when malformed
# Archives: the record's uncompressed offset in its file. Records of one gzip member share their INPUT_OFFSET (the
# member, a seek target), so this tells identical copies in one member apart, whichever worker reads each
# (pipelines/transforms/ids.py); None for other inputs, whose INPUT_OFFSET is already one per record.
RECORD_POSITION = "record_position"
# Archives: the record's WARC-Truncated value ("length", "time", ...: the crawler stopped reading the payload),
# None when whole; extraction keeps it as the document's metadata["truncated"]
TRUNCATED = "truncated"
# The drop reason of a record with no text: a JSONL or Parquet null text at read, an empty extraction at extract
EMPTY_TEXT = "empty"
RAW_RECORD_FIELDS = (ID, SOURCE, URL, INPUT_PATH, INPUT_OFFSET, RECORD_TYPE, CONTENT_TYPE, HTTP_STATUS,
                     BODY, TEXT, CODE_LANGUAGE, WARC_DATE, RECORD_POSITION, TRUNCATED)


def lost_record(doc_id: str, source: str, reason: str, input_path: str, input_offset: Optional[int],
                url: Optional[str] = None, detail: Optional[Dict[str, str]] = None) -> Tuple[str, dict]:
    """The read outcome ("rejected", row) of a record whose content was let go unread (pipelines/ingest/inputs.py):
    a rejected row of stage `read` with an empty text, so that the record can be found again."""
    doc = empty_document(doc_id, source, "", url, input_path=input_path, input_offset=input_offset)
    return ("rejected", to_rejected_row(doc, READ_STAGE, reason, detail=detail))
