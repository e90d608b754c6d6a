"""The crawl as a Beam composite: seeds -> (host, seed) -> GroupByKey -> one DoFn call crawls one host politely
into `OUTPUT/<host>-<n>.warc.gz` (a new `n` every `max_warc_bytes`). `n` counts from 0 and skips the names
that are already taken, so a later crawl of the same host into the same OUTPUT adds files and never replaces
an earlier crawl's (on a local OUTPUT the name is claimed atomically, by exclusive creation).

Politeness is per host, so hosts are the unit of parallelism; a crawl of many hosts spreads over workers and no
host is hit by two workers. The fetching itself (robots.txt, delays, deadlines, the address guard) is the
Beam-free `Crawler` of pipelines/ingest/fetch.py, and the WARC records are pipelines/ingest/warc_writer.py's;
the job and its CLI are pipelines/jobs/crawl.py.
Counters (namespace `winnow.crawl`): `in` = seeds, then exactly one of `kept` (fetched), `dropped_robots`,
`dropped_max_pages`, `dropped_duplicate` or `errors` per seed; plus `pages`, `bytes` and `fetch_errors`
over all fetches. A seed refused (private address, robots.txt, no answer) is logged with its reason at WARNING
on the worker. Where the crawl runs in the driver's process (the in-process runner, one worker), every fetch also
feeds the live progress line `PROGRESS` (pipelines/runtime/progress.py): pages answered, their body bytes,
fetches that failed.
"""
from __future__ import annotations

import logging
import os
import time
from typing import List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.ingest.fetch import CrawlConfig, Crawler, Fetch, host_of, host_safe_name, seed_refusal_detail
from pipelines.ingest.warc_writer import WarcRecorder
from pipelines.runtime.progress import reporter
from pipelines.transforms.stages import StageCounters

log = logging.getLogger(__name__)

CRAWL_STAGE = "crawl"
PROGRESS = "crawl"  # the live progress line's name, and its counters
PROGRESS_COUNTERS = ("pages", "bytes", "failed")


def _create_new_warc(output_dir: str, host: str, n: int):
    """(path, open file, next n) for the first `OUTPUT/<host>-<m>.warc.gz` with m >= n that does not exist yet:
    a file already there (an earlier crawl's) is never opened for writing."""
    local = "://" not in output_dir
    if local:
        os.makedirs(output_dir, exist_ok=True)
    while True:
        path = FileSystems.join(output_dir, f"{host}-{n}.warc.gz")
        n += 1
        if local:
            try:  # exclusive: two crawls of one host into one directory cannot both claim a name
                return path, open(path, "xb"), n
            except FileExistsError:
                continue
        if FileSystems.exists(path):
            continue
        # UNCOMPRESSED: the WARC writer gzips each record itself; Beam must not gzip the file again.
        return path, FileSystems.create(path, mime_type="application/warc",
                                        compression_type=CompressionTypes.UNCOMPRESSED), n


def crawl_host_to_warc(seeds: Sequence[str], output_dir: str, config: CrawlConfig,
                       counters: Optional[StageCounters] = None) -> List[str]:
    """Crawl seeds (all of one host) into new OUTPUT/<host>-<n>.warc.gz files (names already taken in OUTPUT
    are skipped); returns the paths written."""
    host = host_safe_name(host_of(seeds[0]))
    paths: List[str] = []
    state = {"fh": None, "recorder": None, "bytes": 0, "next": 0}
    live = reporter(PROGRESS)

    def open_next() -> None:
        if state["fh"] is not None:
            state["fh"].close()
        path, state["fh"], state["next"] = _create_new_warc(output_dir, host, state["next"])
        state["recorder"] = WarcRecorder(state["fh"], config.user_agent)
        state["bytes"] = 0
        paths.append(path)

    def on_fetch(fetch: Fetch) -> None:
        if counters is not None:
            if fetch.status is None:
                counters.fetch_errors.inc()
            else:
                counters.pages.inc()
                counters.bytes.inc(len(fetch.body))
        if live is not None:
            if fetch.status is None:
                live.add("failed")
            else:
                live.add("pages")
                live.add("bytes", len(fetch.body))
        if fetch.status is None:
            log.info("crawl: %s failed: %s", fetch.url, fetch.error)
            return
        if fetch.skipped:
            if counters is not None:
                counters.dropped(fetch.skipped)
            return
        if state["fh"] is None or state["bytes"] > config.max_warc_bytes:
            open_next()
        state["recorder"].write(fetch)
        state["bytes"] += len(fetch.body) + 1024

    try:
        report = Crawler(config).crawl(list(seeds), on_fetch)
    except Exception:
        # A failed call leaves no partial files: a retried bundle writes its host's files again, under the same names.
        if state["fh"] is not None:
            state["fh"].close()
            state["fh"] = None
        for path in paths:
            try:
                FileSystems.delete([path])
            except Exception:  # noqa: BLE001 -- the crawl's own error is the one to report
                log.warning("crawl: could not remove the partial %s", path)
        raise
    finally:
        if state["fh"] is not None:
            state["fh"].close()
    for seed in seeds:
        outcome = report.seed_outcomes.get(seed, "error")
        if outcome != "kept":  # a refusal is news; a seed past --max-pages or given twice is the crawl's plan
            log.log(logging.INFO if outcome in ("max_pages", "duplicate") else logging.WARNING,
                    "crawl: seed %s not fetched (%s): %s", seed, outcome, seed_refusal_detail(report, seed, outcome))
    if counters is not None:
        for seed in seeds:
            outcome = report.seed_outcomes.get(seed, "error")
            counters.in_.inc()
            if outcome == "kept":
                counters.kept.inc()
            elif outcome == "error":
                counters.errors.inc()
            else:
                counters.dropped(outcome)
    return paths


def key_by_host(seed: str) -> Tuple[str, str]:
    """host_of normalises (`HTTP://H:80/` is host `h`): one host's seeds, however spelled, reach one worker,
    so politeness and the duplicate check hold across them."""
    return host_of(seed), seed


class _CrawlHostFn(beam.DoFn):
    def __init__(self, output_dir: str, config: CrawlConfig):
        self._output_dir = output_dir
        self._config = config

    def setup(self):
        c = StageCounters(CRAWL_STAGE)
        c.pages = beam.metrics.Metrics.counter(c.namespace, "pages")
        c.bytes = beam.metrics.Metrics.counter(c.namespace, "bytes")
        c.fetch_errors = beam.metrics.Metrics.counter(c.namespace, "fetch_errors")
        self._counters = c

    def process(self, host_seeds):
        _host, seeds = host_seeds
        start = time.perf_counter()
        try:
            yield from crawl_host_to_warc(sorted(set(seeds)), self._output_dir, self._config, self._counters)
        finally:
            self._counters.micros.inc(int((time.perf_counter() - start) * 1e6))


class CrawlSeeds(beam.PTransform):
    """Seed URLs -> paths of the WARC files written (one crawl per host)."""

    def __init__(self, output_dir: str, config: CrawlConfig = CrawlConfig()):
        super().__init__()
        self._output_dir = output_dir
        self._config = config

    def expand(self, seeds):
        return (seeds
                | "KeyByHost" >> beam.Map(key_by_host)
                | "GroupByHost" >> beam.GroupByKey()
                | "CrawlHost" >> beam.ParDo(_CrawlHostFn(self._output_dir, self._config)))
