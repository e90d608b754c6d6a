"""Turning Beam metrics into `report.json` entries.

Every stage counts in the metrics namespace `winnow.<stage>` with the fixed names `in`, `kept`,
`dropped_<reason>`, `errors` and `micros` (see pipelines/transforms/stages.py); this module reads them back from a
finished pipeline result. Counters named `renamed_<reason>` count documents that passed a stage under a new id
(pipelines/transforms/ids.py); they are not outcomes, so they stay out of the balance and go to the stage's `renamed`.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional

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


def span_seconds(pipeline_result) -> Dict[str, float]:
    """stage -> seconds from its first bundle's start to its last bundle's end, for the stages that record a
    `BUNDLE_CLOCK` (read: the wall time of the pass it is fused with, across all workers)."""
    out: Dict[str, float] = {}
    for dist in pipeline_result.metrics().query(MetricsFilter().with_name(BUNDLE_CLOCK))["distributions"]:
        namespace = dist.key.metric.namespace
        value = dist.committed if dist.committed is not None else dist.attempted
        if not namespace.startswith(METRICS_PREFIX) or value is None or not value.count:
            continue
        stage = namespace[len(METRICS_PREFIX):]
        out[stage] = max(out.get(stage, 0.0), round((value.max - value.min) / 1000.0, 3))
    return out


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
