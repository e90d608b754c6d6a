"""`winnow curate`: read -> extract -> filters -> dedup -> documents, rejected and errors (Parquet) + report.

The job is the recipe's stages in order, each a composite with three outputs (kept, rejected, errors). After
the pipeline finishes, the Beam counters of every stage become `report.json`, which must satisfy
`in == kept + sum(dropped) + errors` per stage; the recipe that ran is written beside it.

Phases that hand over through files, so that no document rides through a shuffle (and Beam's in-process
runner, which keeps every collection that crosses a stage boundary in memory, never holds texts):
1. Read -> ids -> extract -> the per-document stages, fused in one pass per input file, write phase files
   (`.phases/01/`, pipelines/transforms/phases.py) and their rejected and error rows. Ids are made unique
   first (pipelines/transforms/ids.py): an ids-only pass over the inputs makes the plan of renames (normally
   empty), which the extracting pass applies as it reads; nothing waits for it.
2. Each dedup stage (dedup_exact, dedup_minhash) reads the phase files and carries lean documents (no text,
   a pointer to the file row) through its joins; MinHash computes shingle-hash sets only for the documents
   with a candidate edge, reading their texts back by pointer. Each writes its index (filters/dedup_index.py).
3. The kept documents and the dedup stages' rejected rows get their texts back from the phase files and are
   written; per-document stages after a dedup stage run in that pass.
`dedup_lines` joins whole documents and runs inside a per-document phase. A recipe without dedup stages is one
fused pass from inputs to outputs. The phase files live in the staging directory and are deleted before the
outputs are published (pipelines/runtime/staging.py); an output directory that holds an input is refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.transforms.extract import AsDocuments
from pipelines.transforms.ids import ApplyIdPlan, IdPlan, id_and_order_key
from pipelines.transforms.phases import AttachText, ReadPhaseFiles, WritePhase, phase_dir, PHASES_DIR
from pipelines.runtime.options import is_dry_run, is_local, make_pipeline, run_pipeline
from pipelines.runtime.local_runner import warm_workers
from pipelines.runtime.progress import beam_progress
from pipelines.transforms.progress import CountProgress
from pipelines.jobs.recipe import Recipe, RecipeError, check_inputs_need_no_extract, load_recipe
from pipelines.transforms.counters import (breakdowns_by_stage, bundle_clocks, counters_by_stage, format_timings,
                                           job_timings, renamed_by_stage, report_json, span_seconds, stage_counts)
from pipelines.ingest.inputs import READ_STAGE, REPLACED_INVALID_UTF8, REPLACED_INVALID_UTF8_MEANING, record_cap
from pipelines.ingest.readers import expand_input_specs
from pipelines.transforms.read import RECORDS, ClockPass, ReadInputs
from pipelines.jobs.stage_registry import build_stage
from pipelines.runtime.staging import StagedOutput, delete_tree, refuse_inputs_inside_output
from pipelines.transforms.stages import ERRORS, REJECTED
from pipelines.transforms.tables import write_tables
from filters.dedup_index import DESCRIPTION as INDEX_DESCRIPTION, INDEX_DIR, summary as index_summary
from schemas import DOCUMENTS_SCHEMA, ERRORS_SCHEMA, ID, REASON, REJECTED_SCHEMA, STAGE, Report

log = logging.getLogger(__name__)

SPACY_TOKENIZER_LOADER = "filters.text:_spacy_tokenizer"
ID_PASS_STAGE = "read_ids"  # the counters of the ids-only read pass (not a stage of the report)
REPORT_NAME = "report.json"
RECIPE_NAME = "recipe.yaml"
OUTPUT_TABLES = {"documents": DOCUMENTS_SCHEMA, "rejected": REJECTED_SCHEMA, "errors": ERRORS_SCHEMA}


LEAN_DEDUP_STAGES = ("dedup_exact", "dedup_minhash")  # stages that read phase files and carry lean documents
# ROW_GROUP_BYTES: uncompressed bytes a writer buffers per Parquet row group (Beam's default is 64 MiB). A row
# group is the smallest range a reader can split off a file, so smaller groups let the tokenize job share a curate
# output of a few files among its workers; `winnow stats`/`inspect` stream one group at a time, so they also bound
# memory. ROW_GROUP_RECORD_BATCH: rows Beam buffers before it measures the group (groups overshoot by < 1 batch).
ROW_GROUP_BYTES = 8 * 2 ** 20
ROW_GROUP_RECORD_BATCH = 256


def _segments(recipe: Recipe) -> List[Tuple[str, List[Tuple[str, Dict[str, Any]]]]]:
    """The recipe's stages as phases: ("stream", [stages]) runs of per-document stages (dedup_lines, whose
    joins carry documents, counts as one of them) and ("dedup", [stage]) for each lean dedup stage."""
    out: List[Tuple[str, List[Tuple[str, Dict[str, Any]]]]] = []
    for name, opts in recipe.stages:
        kind = "dedup" if name in LEAN_DEDUP_STAGES else "stream"
        if kind == "stream" and out and out[-1][0] == "stream":
            out[-1][1].append((name, opts))
        else:
            out.append((kind, [(name, opts)]))
    return out


def _label(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def build_curate_pipeline(p: beam.Pipeline, inputs: Sequence[str], output_dir: str, recipe: Recipe,
                          read_shards: int = 1, claims_dir: Optional[str] = None) -> None:
    """Wire the recipe's stages as phases that hand documents over through files (module docstring).
    `read_shards`: how many shards a big local web archive is read as (the local runner's worker count);
    `claims_dir`: a local directory where those shards claim the file's records (readers.RecordClaims)."""
    # a recipe that raises extract's page cap raises the archive read cap with it
    page_cap = dict(recipe.stages).get("extract", {}).get("max_html_bytes")
    cap = record_cap(page_cap)
    # Pass 1 keeps only each record's id and order key (the id plan of UniqueIds); pass 2 reads again and
    # renames by the plan, so no record waits in memory for the plan. Every later stage keys documents by id.
    ids_pass = p | "ReadIds" >> ReadInputs(list(inputs), max_record_bytes=cap, spread=False, stage=ID_PASS_STAGE)
    plan = ids_pass[RECORDS] | "IdsAndKeys" >> beam.Map(id_and_order_key) | "IdPlan" >> IdPlan()
    read = p | "Read" >> ReadInputs(list(inputs), max_record_bytes=cap, spread=False, shards=read_shards,
                                    claims_dir=claims_dir)
    current = (read[RECORDS] | "UniqueIds" >> ApplyIdPlan(plan, number_in_bundle=True)
               | "ProgressRead" >> CountProgress("curate", "read"))
    if recipe.stage_names[:1] != ("extract",):  # text, Parquet and code records already hold their text
        current = current | "AsDocuments" >> AsDocuments()
    rejected: List[beam.PCollection] = [read[REJECTED]]  # records whose content was let go unread
    errors: List[beam.PCollection] = [read[ERRORS]]
    lean_dir: Optional[str] = None  # set while `current` holds lean documents pointing into this phase dir
    phase = 0
    for kind, stages in _segments(recipe):
        if kind == "stream":
            if lean_dir is not None:
                current = current | f"Texts{phase}" >> AttachText(lean_dir)
                lean_dir = None
            for name, opts in stages:
                label = _label(name)
                out = current | label >> build_stage(name, opts)
                current = out["kept"]
                rejected.append(out[REJECTED])
                errors.append(out[ERRORS])
            continue
        (name, opts), = stages
        label = _label(name)
        stage = build_stage(name, opts)
        if lean_dir is None:  # documents with their text: to phase files, then read back with pointers
            phase += 1
            lean_dir = phase_dir(output_dir, phase)
            files = current | f"Phase{phase}" >> WritePhase(lean_dir, ROW_GROUP_BYTES, ROW_GROUP_RECORD_BATCH)
            if phase == 1:  # the end of the read pass: its phase files written (report.json span_seconds, timings)
                _ = files | "ReadPassEnd" >> beam.ParDo(ClockPass(READ_STAGE))
            current = files | f"ReadPhase{phase}" >> ReadPhaseFiles()
        else:  # the previous dedup stage's kept documents are lean: their text again for this stage's keys
            current = current | f"{label}Texts" >> AttachText(lean_dir)
        stage.lean_documents(lean_dir)
        out = dict(current | label >> stage)
        index_dir = FileSystems.join(output_dir, INDEX_DIR, name)
        current = out["kept"]
        rejected.append(out[REJECTED] | f"{label}RejectedTexts" >> AttachText(lean_dir))
        errors.append(out[ERRORS])
        if getattr(stage, "verifies", False):  # the index's shingle-hash sets, from the kept texts
            current = current | f"{label}KeptTexts" >> AttachText(lean_dir)
            lean_dir = None
            out["index_sets"] = stage.index_sets(current)
        stage.write_index(out, index_dir, label)
    if lean_dir is not None:
        current = current | "KeptTexts" >> AttachText(lean_dir)
    if phase == 0:  # no dedup: the read pass goes on into the documents table; its end is clocked before the writer
        current = current | "ReadPassEnd" >> beam.ParDo(ClockPass(READ_STAGE))
    current = current | "ProgressKept" >> CountProgress("curate", "kept")
    tables = [_table(current, output_dir, "documents")]
    tables += _rejected_tables(rejected, output_dir, recipe.rejected_sample_per_reason)
    tables.append(_table(tuple(errors) | "FlattenErrors" >> beam.Flatten(), output_dir, "errors"))
    # each table written inside the stage that makes its rows, all named in one step at the end
    # (pipelines/transforms/tables.py; Beam's WriteToParquet costs five stages a table)
    write_tables(tables, ROW_GROUP_BYTES, ROW_GROUP_RECORD_BATCH)


def _rejected_tables(rejected: List[beam.PCollection], output_dir: str, sample: Optional[int]) -> List[tuple]:
    """Each stage's rejected rows go to their own part files (`rejected/part-<n>-*`): Beam's in-process runner
    materialises every Flatten of several collections (it holds all their elements, texts included, until the
    reader runs), even of stages fused in one pass. A sample per reason is taken per stage first (a combiner: n
    rows per reason), then over the samples."""
    if sample is not None:
        sampled = [rows | f"SampleRejected{i}" >> SampleRejectedPerReason(sample) for i, rows in enumerate(rejected)]
        rows = tuple(sampled) | "FlattenRejected" >> beam.Flatten()
        return [_table(rows | "SampleRejected" >> SampleRejectedPerReason(sample), output_dir, "rejected")]
    return [_table(rows, output_dir, "rejected", part=i) for i, rows in enumerate(rejected)]


def check_against_indexes(recipe: Recipe) -> None:
    """Read the indexes the recipe's dedup stages run `against` (filters/dedup_index.py): RecipeError naming the
    stage and the difference for an index that is missing or was built with other parameters."""
    for name, opts in recipe.stages:
        if not opts.get("against"):  # only dedup stages take it; building other stages here would cost a load
            continue
        stage = build_stage(name, opts)
        if getattr(stage, "check_against", None) is not None:
            try:
                stage.check_against()
            except ValueError as exc:
                raise RecipeError(f"recipe {recipe.name}: stage {name!r}: {exc}") from None


def _reason_key(row: Dict[str, Any]):
    return (row[STAGE], row[REASON]), row


def _sample_rank(row: Dict[str, Any]) -> bytes:
    # Deterministic sample: the rows whose id hashes lowest, whatever the order rows arrive in.
    return hashlib.blake2b(str(row[ID]).encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _sampled_rows(kv):
    return kv[1]


class SampleRejectedPerReason(beam.PTransform):
    """At most `n` rejected rows per (stage, reason), chosen by id hash; a combiner keeps memory at n per key."""

    def __init__(self, n: int):
        super().__init__()
        self._n = n

    def expand(self, rows):
        return (rows | "KeyByReason" >> beam.Map(_reason_key)
                | "LowestHashes" >> beam.combiners.Top.PerKey(self._n, key=_sample_rank, reverse=True)
                | "Rows" >> beam.FlatMap(_sampled_rows))


def _table(pcoll, output_dir: str, table: str, part: Optional[int] = None) -> tuple:
    """(label, rows, file prefix, schema) of an output table for `write_tables`."""
    prefix = "part" if part is None else f"part-{part}"
    return (f"Write{table.capitalize()}{'' if part is None else part}", pcoll,
            FileSystems.join(output_dir, table, prefix), OUTPUT_TABLES[table])


def _write_text(path: str, text: str) -> None:
    with FileSystems.create(path) as f:
        f.write(text.encode("utf-8"))


def package_versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("winnow-data", "apache-beam", "trafilatura", "datasketch", "fasttext-numpy2", "tokenizers", "pyarrow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def run_curate(inputs: Sequence[str], output_dir: str, recipe: Optional[Recipe] = None,
               beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1,
               process_start: Optional[float] = None) -> Optional[Report]:
    """Run the curate job; the Report, or None after a Dataflow dry run. `process_start` (epoch seconds), when the
    job is the process's command, gives report.json's `timings` their start-up part."""
    recipe = recipe or load_recipe()
    if not inputs:
        raise ValueError("curate needs at least one --input")
    started = time.time()
    p = make_pipeline(beam_args, runner, workers)
    refuse_inputs_inside_output(inputs, output_dir)
    staged = None
    if not is_dry_run(p):  # a dry run touches no storage
        files = expand_input_specs(list(inputs))  # bad specs fail here, before any work starts
        check_inputs_need_no_extract(recipe, files)
        check_against_indexes(recipe)  # an index built with other parameters stops the job here
        refuse_inputs_inside_output([f.path for f in files], output_dir)
        for name, opts in recipe.stages:  # an earlier run's index that this run would replace while reading it
            refuse_inputs_inside_output(list(opts.get("against") or ()), output_dir,
                                        what=f"stage {name!r}: the `against` directory")
        staged = StagedOutput(output_dir, tuple(OUTPUT_TABLES), last=REPORT_NAME, owned_files=(RECIPE_NAME,),
                              owned_trees=(INDEX_DIR,))
        staged.prepare()
    write_dir = staged.staging if staged is not None else output_dir
    if is_local(p) and workers > 1 and "quality" in recipe.stage_names:
        # the quality rules' word splitting loads spaCy's tokenizer in each process; the workers' zygote loads it
        # once while the job is built, and the workers start with it
        warm_workers(SPACY_TOKENIZER_LOADER)
    shared = is_local(p) and workers > 1 and staged is not None and os.name == "posix"  # flock: readers.RecordClaims
    # the workers of this machine share big archives record by record through claim files in a local directory
    claims_dir = tempfile.mkdtemp(prefix="winnow-claims-") if shared else None
    build_curate_pipeline(p, inputs, write_dir, recipe, read_shards=workers if is_local(p) else 1,
                          claims_dir=claims_dir)
    built = time.time()
    try:
        with beam_progress("curate", ("read", "kept"), unit="docs"):
            result = run_pipeline(p)
        if result is None:  # a Dataflow dry run: the job was built, nothing ran, there is nothing to report
            return None
        finished = time.time()
        delete_tree(FileSystems.join(write_dir, PHASES_DIR))  # the hand-over files are not outputs
        report, renamed, breakdowns = _report(result, inputs, recipe, started)
        clocks = bundle_clocks(result)
        report.timings = job_timings(process_start, started, built, finished, clocks.get(READ_STAGE))
        _write_text(FileSystems.join(write_dir, REPORT_NAME), report_json(report, renamed, breakdowns,
                                                                           index=_index_summaries(write_dir, recipe),
                                                                           spans=span_seconds(clocks)))
        _write_text(FileSystems.join(write_dir, RECIPE_NAME), recipe.to_yaml())
    except BaseException:  # the previous outputs stay as they were; this run's partial files go
        if staged is not None:
            staged.discard()
        raise
    finally:
        if claims_dir is not None:
            shutil.rmtree(claims_dir, ignore_errors=True)
    staged.publish()
    if renamed:
        log.warning("curate: %s", _renamed_line(renamed))
    if report.outputs["errors"]:
        log.warning("curate: %s", _errors_line(report, output_dir))
    return report


def _errors_line(report: Report, output_dir: str) -> str:
    """Where the error rows are and how to see them: the funnel gives only their counts."""
    by_stage = ", ".join(f"{s.name} {s.errors:,}" for s in report.stages if s.errors)
    return (f"{report.outputs['errors']:,} record(s) could not be processed ({by_stage}): one error row each, with "
            f"the error and the input file and offset, in {FileSystems.join(output_dir, 'errors')} "
            f"(`winnow inspect {output_dir}` prints them)")


# Counters that say a stage's result is weaker than it should be, though every document is accounted for: put in
# report.json as the stage's `warnings` and logged, so that a local run shows what Dataflow's metrics would.
WARNING_COUNTERS = {
    READ_STAGE: {
        REPLACED_INVALID_UTF8: REPLACED_INVALID_UTF8_MEANING,
    },
    "dedup_minhash": {
        "cc_unconverged": "documents whose cluster was not final after the last component round (raise "
                          "dedup_minhash `rounds`); each cluster still keeps one document",
        "candidate_sets_failed": "candidate documents whose shingle sets could not be computed: their near-duplicate "
                                 "pairs were not verified, so they were kept",
    },
}


def _warnings(counters: Mapping[str, Mapping[str, int]]) -> Dict[str, Dict[str, int]]:
    out: Dict[str, Dict[str, int]] = {}
    for stage, names in WARNING_COUNTERS.items():
        for name, meaning in names.items():
            count = counters.get(stage, {}).get(name, 0)
            if count:
                out.setdefault(stage, {})[name] = count
                log.warning("curate: %s: %s %d: %s", stage, name, count, meaning)
    return out


def _report(result, inputs: Sequence[str], recipe: Recipe, started: float):
    counters = counters_by_stage(result)
    breakdowns = breakdowns_by_stage(counters)
    for stage, found in _warnings(counters).items():
        breakdowns.setdefault(stage, {})["warnings"] = found
    stages = stage_counts(counters, (READ_STAGE,) + recipe.stage_names)
    outputs = {"documents": stages[-1].kept,
               "rejected": sum(s.dropped_total for s in stages[1:]),
               "errors": sum(s.errors for s in stages)}
    report = Report(stages=stages, inputs=list(inputs), recipe=recipe.to_json(), versions=package_versions(),
                    outputs=outputs, wall_seconds=round(time.time() - started, 3))
    return report, renamed_by_stage(counters), breakdowns


def _index_summaries(write_dir: str, recipe: Recipe) -> Dict[str, Any]:
    """Per dedup stage that wrote an index: its index.json without the file list, and where it is."""
    out = {}
    for name in recipe.stage_names:
        path = FileSystems.join(write_dir, INDEX_DIR, name, INDEX_DESCRIPTION)
        if FileSystems.exists(path):
            with FileSystems.open(path) as f:
                desc = json.loads(f.read().decode("utf-8"))
            out[name] = {"path": f"{INDEX_DIR}/{name}", **index_summary(desc)}
    return out


def _renamed_line(renamed: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{stage}: {n} document(s) renamed ({reason}: their input repeats an id, the new id names "
                     f"the input pointer)" for stage, reasons in renamed.items() for reason, n in sorted(reasons.items()))


def main(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    report = run_curate(args.input, args.output, recipe, getattr(args, "beam_args", ()), args.runner, args.workers,
                        process_start=getattr(args, "process_start", None))
    if report is None:
        print("dry run: the job was built and not submitted")
        return 0
    print(format_funnel(report))
    if report.timings:
        print(format_timings(report.timings, report.wall_seconds))
    print(f"documents: {FileSystems.join(args.output, 'documents')}  report: {FileSystems.join(args.output, 'report.json')}")
    return 0


def format_funnel(report: Report) -> str:
    lines = [f"{'stage':<15}{'in':>9}{'kept':>9}{'dropped':>9}{'errors':>8}{'sec':>8}  top reasons"]
    for s in report.stages:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(s.dropped.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"{s.name:<15}{s.in_:>9}{s.kept:>9}{s.dropped_total:>9}{s.errors:>8}{s.seconds:>8.1f}  {reasons}")
    return "\n".join(lines)
