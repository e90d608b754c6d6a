"""All Apache Beam code: sources, extraction, composite transforms, jobs, options and the `winnow` CLI."""
