"""Turning Beam metrics into `report.json` entries.

Every stage counts in the metrics namespace `winnow.<stage>` with the fixed names `in`, `kept`,
`dropped_<reason>`, `errors` and `micros` (see pipelines/transforms/stages.py); this module reads them back from a
finished pipeline result. Counters named `renamed_<reason>` count documents that passed a stage under a new id
(pipelines/transforms/ids.py); they are not outcomes, so they stay out of the balance and go to the stage's `renamed`.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from apache_beam.metrics.metric import MetricsFilter

from pipelines.transforms.stages import METRICS_PREFIX
from schemas import Report, StageCounts


def _counter_value(result) -> int:
    committed = getattr(result, "committed", None)
    return int(committed if committed is not None else result.attempted)


def counters_by_stage(pipeline_result) -> Dict[str, Dict[str, int]]:
    out: Dict[str, Dict[str, int]] = {}
    for counter in pipeline_result.metrics().query(MetricsFilter())["counters"]:
        namespace = counter.key.metric.namespace
        if not namespace.startswith(METRICS_PREFIX):
            continue
        stage = namespace[len(METRICS_PREFIX):]
        name = counter.key.metric.name
        stage_counts = out.setdefault(stage, {})
        stage_counts[name] = stage_counts.get(name, 0) + _counter_value(counter)
    return out


BUNDLE_CLOCK = "bundle_clock_ms"  # a distribution of wall-clock times (ms) at bundle starts and ends


def bundle_clocks(pipeline_result) -> Dict[str, Tuple[float, float]]:
    """stage -> (its first bundle's start, its last bundle's end) in epoch seconds, over every step that records
    the stage's `BUNDLE_CLOCK` (read: `ClockPass` at the far end of its pass, pipelines/transforms/read.py)."""
    out: Dict[str, Tuple[float, float]] = {}
    for dist in pipeline_result.metrics().query(MetricsFilter().with_name(BUNDLE_CLOCK))["distributions"]:
        namespace = dist.key.metric.namespace
        value = dist.committed if dist.committed is not None else dist.attempted
        if not namespace.startswith(METRICS_PREFIX) or value is None or not value.count:
            continue
        stage = namespace[len(METRICS_PREFIX):]
        first, last = out.get(stage, (value.min / 1000.0, value.max / 1000.0))
        out[stage] = (min(first, value.min / 1000.0), max(last, value.max / 1000.0))
    return out


def span_seconds(clocks: Mapping[str, Tuple[float, float]]) -> Dict[str, float]:
    """stage -> seconds from its first bundle's start to its last bundle's end, from `bundle_clocks` (read: the
    wall time of the pass it is fused with, across all workers)."""
    return {stage: round(last - first, 3) for stage, (first, last) in clocks.items()}


def job_timings(process_start: Optional[float], started: float, built: float, finished: float,
                read_window: Optional[Tuple[float, float]]) -> Dict[str, Optional[float]]:
    """Where a job's wall time went, in seconds (report.json `timings`; epoch-second arguments):
    `startup` (the process's start to the job's: the interpreter and the imports; None where the process's start
    time is unknown), `setup` (listing inputs, checks, building the job), `run` (the runner, from the built job to
    its end), split by the read pass's window (`read_window`, the read stage's `bundle_clocks`) into
    `before_read` (the runner's and its workers' start, DoFn set-up such as loading models, the id planning pass),
    `read_pass` (read -> extract -> filters -> phase files, every worker) and `after_read` (dedup, the final pass
    that writes the tables). A worker's clock that is not the driver's (Dataflow) can put the window a little
    outside the run: the parts are clipped to it."""
    def seconds(a: float, b: float) -> float:
        return round(max(0.0, b - a), 3)

    out: Dict[str, Optional[float]] = {
        "startup_seconds": seconds(process_start, started) if process_start is not None else None,
        "setup_seconds": seconds(started, built), "run_seconds": seconds(built, finished),
        "before_read_seconds": None, "read_pass_seconds": None, "after_read_seconds": None}
    if read_window is not None:
        first, last = (min(max(t, built), finished) for t in read_window)
        out.update(before_read_seconds=seconds(built, first), read_pass_seconds=seconds(first, last),
                   after_read_seconds=seconds(last, finished))
    return out


def format_timings(timings: Mapping[str, Optional[float]], wall: Optional[float]) -> str:
    """One line of `job_timings` for the terminal, "time: 8.7 s: start-up 1.9 (interpreter, imports), setup 0.3
    (inputs, building the job), ...", the total being the start-up plus the job's `wall` seconds."""
    labels = (("startup_seconds", "start-up", " (interpreter, imports)"),
              ("setup_seconds", "setup", " (inputs, building the job)"),
              ("before_read_seconds", "runner start", " (workers, models, id pass)"),
              ("read_pass_seconds", "read pass", " (read, extract, filters)"),
              ("after_read_seconds", "after it", " (dedup, tables)"))
    parts = [f"{label} {timings[key]:.1f}{note}" for key, label, note in labels if timings.get(key) is not None]
    if timings.get("read_pass_seconds") is None and timings.get("run_seconds") is not None:
        parts.append(f"run {timings['run_seconds']:.1f}")
    total = (wall or 0.0) + (timings.get("startup_seconds") or 0.0)
    return f"time: {total:.1f} s: {', '.join(parts)}"


RENAMED_PREFIX = "renamed_"


def renamed_by_stage(counters: Dict[str, Dict[str, int]]) -> Dict[str, Dict[str, int]]:
    """stage -> {reason: documents renamed}, for the stages that renamed any."""
    out: Dict[str, Dict[str, int]] = {}
    for stage, c in counters.items():
        renamed = {name[len(RENAMED_PREFIX):]: v for name, v in c.items() if name.startswith(RENAMED_PREFIX) and v}
        if renamed:
            out[stage] = renamed
    return out


BREAKDOWN_SEPARATOR = ":"


def breakdowns_by_stage(counters: Dict[str, Dict[str, int]]) -> Dict[str, Dict[str, Dict[str, int]]]:
    """stage -> {group: {key: count}} from counters named `group:key` (decontaminate's
    `contaminated_by_set:NAME`): a breakdown of outcomes already counted, so it stays out of the balance."""
    out: Dict[str, Dict[str, Dict[str, int]]] = {}
    for stage, c in counters.items():
        for name, v in c.items():
            group, sep, key = name.partition(BREAKDOWN_SEPARATOR)
            if sep and v:
                out.setdefault(stage, {}).setdefault(group, {})[key] = v
    return out


def stage_counts(counters: Dict[str, Dict[str, int]], stage_order: Iterable[str]) -> List[StageCounts]:
    stages = []
    for stage in stage_order:
        c = counters.get(stage, {})
        dropped = {name[len("dropped_"):]: v for name, v in c.items() if name.startswith("dropped_") and v}
        stages.append(StageCounts(name=stage, in_=c.get("in", 0), kept=c.get("kept", 0), dropped=dropped,
                                  errors=c.get("errors", 0), seconds=c.get("micros", 0) / 1e6))
    return stages


def report_json(report: Report, renamed: Mapping[str, Mapping[str, int]],
                breakdowns: Optional[Mapping[str, Mapping[str, Mapping[str, int]]]] = None,
                index: Optional[Mapping[str, Any]] = None, spans: Optional[Mapping[str, float]] = None) -> str:
    """report.json: the Report, each stage's entry with `renamed` (reason -> count) where ids were renamed, its
    breakdowns (decontaminate's `contaminated_by_set`: set -> documents), and `span_seconds` where the stage
    records one (read: wall seconds from the first read bundle's start to the last one's end, i.e. the fused
    read -> extract -> filters pass over all workers; its `seconds` are the reader's own time), and its
    `warnings` (WARNING_COUNTERS that are not 0)."""
    payload = report.to_json()
    for entry in payload["stages"]:
        if (spans or {}).get(entry["name"]) is not None:
            entry["span_seconds"] = spans[entry["name"]]
        if renamed.get(entry["name"]):
            entry["renamed"] = dict(sorted(renamed[entry["name"]].items()))
        for group, counts in sorted((breakdowns or {}).get(entry["name"], {}).items()):
            entry[group] = dict(sorted(counts.items()))
    if index:  # what each dedup stage's index holds (filters/dedup_index.py), for later runs' `against`
        payload["index"] = dict(index)
    return json.dumps(payload, indent=2) + "\n"
