"""Offline tools over finished output, without Apache Beam: stats, the HTML report, inspect, verify, lineage,
progress bars and the curation report."""
