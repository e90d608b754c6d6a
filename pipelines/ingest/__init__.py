"""Beam-free ingest: archive and HTTP parsing, charsets, HTML extraction, code trees, licenses, the crawler's
fetcher. Plain functions and classes with unit tests of their own; imports schemas, filters and the standard
library, never apache_beam (beyond its file systems, so that a path may be gs://)."""
