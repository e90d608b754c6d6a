"""Beam composites that only wire: read, crawl, extract, the filter stages, language, dedup (exact, MinHash,
components, lines), tokenize. The work itself lives in pipelines.ingest, filters and tokenizer."""
