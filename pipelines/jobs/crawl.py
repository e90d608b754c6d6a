"""`winnow crawl`: a small polite crawler that writes WARC/1.1 files, run as a Beam job (one host per worker).

The seeds (URLs, or files of one URL per line) are checked, crawled by pipelines/transforms/crawl.py's
`CrawlSeeds` into OUTPUT/<host>-<n>.warc.gz, and the paths of this crawl's hosts are returned. A crawl that
fetches none of its seeds ends with one WARNING line on the driver naming the reasons and what to change
(the per-seed lines are in the workers' logs).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import urllib.parse
from typing import Dict, List, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, TestOptions

from pipelines.ingest.fetch import SEED_REFUSAL_HINTS, CrawlConfig, host_of, host_safe_name
from schemas.errors import WinnowError
from pipelines.jobs.arguments import configure_crawl as configure_parser
from pipelines.runtime.options import is_dry_run, make_pipeline, run_pipeline
from pipelines.transforms.counters import counters_by_stage
from pipelines.runtime.progress import beam_progress
from pipelines.transforms.crawl import CRAWL_STAGE, PROGRESS, PROGRESS_COUNTERS, CrawlSeeds

log = logging.getLogger(__name__)


def crawl_summary(counts: Dict[str, int]) -> Optional[str]:
    """A line saying why no seed was fetched (from the stage's counters), or None when some were."""
    seeds = counts.get("in", 0)
    if not seeds or counts.get("kept", 0):
        return None
    outcomes = {name: counts.get("dropped_" + name, 0) for name in ("private_address", "robots", "max_pages", "duplicate")}
    outcomes["error"] = counts.get("errors", 0)
    reasons = "; ".join(f"{n} {name}: {SEED_REFUSAL_HINTS[name]}" for name, n in
                        sorted(outcomes.items(), key=lambda kv: -kv[1]) if n)
    return f"crawl fetched none of its {seeds} seed(s): {reasons or 'no outcome was counted'}"


def validate_seeds(seeds: Sequence[str]) -> List[str]:
    out = []
    for seed in seeds:
        seed = seed.strip()
        try:
            parts = urllib.parse.urlsplit(seed)
            parts.port  # noqa: B018 -- a port that is not a number from 0 to 65535 raises here
        except ValueError as exc:
            raise ValueError(f"seed {seed!r} is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"seed {seed!r} is not an http(s) URL")
        out.append(seed)
    if not out:
        raise ValueError("crawl needs at least one seed URL")
    return out


def run_crawl(seeds: Sequence[str], output_dir: str, max_pages: int = 100, delay: float = 1.0,
              max_depth: int = 3, beam_args: Sequence[str] = (), runner: Optional[str] = None,
              workers: int = 1, timeout: float = 10.0, allow_private: bool = False, **limits) -> List[str]:
    """Crawl `seeds` as a Beam job into new OUTPUT/*.warc.gz files; returns their paths (sorted), or [] after a
    Dataflow dry run. `limits` are further CrawlConfig fields (max_bytes, retries, backoff, max_redirects,
    max_seconds, content_types)."""
    seeds = validate_seeds(seeds)
    config = CrawlConfig(max_pages=max_pages, delay=delay, max_depth=max_depth, timeout=timeout,
                         allow_private=allow_private, **limits)
    p = make_pipeline(beam_args, runner, workers)
    dry_run = is_dry_run(p)
    if not dry_run and not FileSystems.exists(output_dir):  # a dry run touches no storage
        FileSystems.mkdirs(output_dir)
    # The files of this crawl's hosts already there (earlier crawls): kept, and not this crawl's to report.
    patterns = [FileSystems.join(output_dir, f"{host_safe_name(h)}-*.warc.gz") for h in sorted({host_of(s) for s in seeds})]
    earlier = set() if dry_run else {m.path for r in FileSystems.match(patterns) for m in r.metadata_list}
    _ = p | "Seeds" >> beam.Create(seeds) | "Crawl" >> CrawlSeeds(output_dir, config)
    with beam_progress(PROGRESS, PROGRESS_COUNTERS, unit="pages"):  # a live count on the in-process runner
        result = run_pipeline(p)
    if result is None:  # a Dataflow dry run: the job was built (and written), nothing was crawled
        return []
    summary = crawl_summary(counters_by_stage(result).get(CRAWL_STAGE, {}))
    if summary:  # the per-seed lines are in the workers' logs, which a user of the CLI may never see
        log.warning("%s", summary)
    # The files this crawl wrote (an output directory may hold earlier crawls, of these hosts or others).
    return sorted(m.path for r in FileSystems.match(patterns) for m in r.metadata_list if m.path not in earlier)


def read_seed_args(values: Sequence[str]) -> List[str]:
    """A seed argument that names an existing file is read as one URL per line: blank lines and lines starting
    with `#` are skipped, a ` #` after a URL starts a comment, a UTF-8 byte-order mark is skipped."""
    seeds: List[str] = []
    for value in values:
        if os.path.isfile(value):
            try:
                with open(value, encoding="utf-8-sig") as fh:
                    lines = fh.read().splitlines()
            except UnicodeDecodeError as exc:
                raise WinnowError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=value,
                                  fix="save the seeds file as UTF-8, one URL per line") from None
            for line in lines:
                line = re.split(r"\s#", line, maxsplit=1)[0].strip()
                if line and not line.startswith("#"):
                    seeds.append(line)
        else:
            seeds.append(value)
    return seeds


def main(args) -> int:
    beam_args: Sequence[str] = ()
    if isinstance(args, (list, tuple)):
        parser = argparse.ArgumentParser(prog="winnow crawl")
        configure_parser(parser)
        args, beam_args = parser.parse_known_args(list(args))
    beam_args = list(getattr(args, "beam_args", None) or beam_args)
    limits = dict(max_pages=args.max_pages, delay=args.delay, max_depth=args.max_depth, timeout=args.timeout,
                  allow_private=args.allow_private, max_bytes=args.max_bytes, retries=args.retries,
                  max_redirects=args.max_redirects, max_seconds=args.max_seconds)
    try:  # a usage error is rc 2; a failure of the crawl itself is reported as any command's (rc 1)
        seeds = validate_seeds(read_seed_args(args.seeds))
        CrawlConfig(**limits)
    except ValueError as exc:
        print(f"winnow crawl: {exc}")
        return 2
    paths = run_crawl(seeds, args.output, beam_args=beam_args, runner=args.runner, workers=args.workers, **limits)
    if PipelineOptions(list(beam_args)).view_as(TestOptions).dry_run:
        print("dry run: the crawl job was built and not submitted")
        return 0
    for path in paths:
        print(path)
    print(f"{len(paths)} WARC file(s) in {args.output}")
    return 0
