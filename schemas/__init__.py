"""Column names, pyarrow schemas and the dataclasses of every file Winnow writes.

Everything that names a column or a manifest/report field lives here, so that the pipelines, the
tokenizer, the trainer and outside checks agree on one spelling. Only pyarrow (and the stdlib) is
imported here.
"""
from schemas.documents import (  # noqa: F401
    CODE_LANGUAGE, DEDUP_CLUSTER_ID, DEDUP_CLUSTER_SIZE, DOCUMENTS_FORMAT, DOCUMENTS_SCHEMA, DUPLICATE_OF, DETAIL,
    ERROR, ERRORS_SCHEMA, ID, INPUT_OFFSET, INPUT_PATH, LANGUAGE, LANGUAGE_SCORE, REASON, REJECTED_SCHEMA,
    METADATA, SCORES, SOURCE, STAGE, TEXT, TITLE, URL, empty_document, to_error_row, to_rejected_row,
)
from schemas.report import REPORT_FORMAT, Report, StageCounts  # noqa: F401
from schemas.shards import (  # noqa: F401
    DOC_IDS, DOC_LENGTHS, MANIFEST_FORMAT, TOKENS, Manifest, PackingStats, ShardInfo, SourceTotals,
    MANIFEST_NAME, TokenizerInfo, Totals, shard_schema, token_dtype_for_vocab,
)
