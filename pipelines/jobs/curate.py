"""`winnow curate`: read -> extract -> filters -> dedup -> documents, rejected and errors (Parquet) + report.

The job is the recipe's stages in order, each a composite with three outputs (kept, rejected, errors).
Kept documents flow to the next stage; rejected and error rows from every stage are flattened into one
table each. After the pipeline finishes, the Beam counters of every stage become `report.json`, which
must satisfy `in == kept + sum(dropped) + errors` per stage; the recipe that ran is written beside it.

Right after read, `UniqueIds` (pipelines/transforms/ids.py) renames the repeats of an id that two inputs share, since the
dedup stages route documents by id. The job writes into a staging directory that replaces the previous outputs
only once it has finished (pipelines/jobs/staging.py), and an output directory that holds an input is refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.transforms.extract import AsDocuments
from pipelines.transforms.ids import UniqueIds
from pipelines.runtime.options import add_beam_arguments, is_dry_run, make_pipeline, run_pipeline
from pipelines.runtime.progress import beam_progress
from pipelines.transforms.progress import CountProgress
from pipelines.jobs.recipe import Recipe, RecipeError, check_inputs_need_no_extract, load_recipe
from pipelines.transforms.counters import breakdowns_by_stage, counters_by_stage, renamed_by_stage, stage_counts
from pipelines.ingest.inputs import record_cap
from pipelines.ingest.readers import expand_input_specs
from pipelines.transforms.read import RECORDS, ReadInputs
from pipelines.jobs.stage_registry import build_stage
from pipelines.jobs.staging import StagedOutput, refuse_inputs_inside_output
from pipelines.transforms.stages import ERRORS, REJECTED
from filters.dedup_index import DESCRIPTION as INDEX_DESCRIPTION, INDEX_DIR, summary as index_summary
from schemas import DOCUMENTS_SCHEMA, ERRORS_SCHEMA, ID, REASON, REJECTED_SCHEMA, STAGE, Report

log = logging.getLogger(__name__)

READ_STAGE = "read"
REPORT_NAME = "report.json"
RECIPE_NAME = "recipe.yaml"
OUTPUT_TABLES = {"documents": DOCUMENTS_SCHEMA, "rejected": REJECTED_SCHEMA, "errors": ERRORS_SCHEMA}
INDEX_OUTPUT = "index"  # the tag of a dedup composite's index rows (pipelines/transforms/dedup.py INDEX)


def build_curate_pipeline(p: beam.Pipeline, inputs: Sequence[str], output_dir: str, recipe: Recipe) -> None:
    """Wire the recipe's stages; every composite's outputs are indexable by tag: kept, rejected, errors."""
    # a recipe that raises extract's page cap raises the archive read cap with it
    page_cap = dict(recipe.stages).get("extract", {}).get("max_html_bytes")
    read = p | "Read" >> ReadInputs(list(inputs), max_record_bytes=record_cap(page_cap))
    # every later stage keys documents by id: a repeated id must be renamed before any of them runs
    current = (read[RECORDS] | "UniqueIds" >> UniqueIds()
               | "ProgressRead" >> CountProgress("curate", "read"))
    if recipe.stage_names[:1] != ("extract",):  # text, Parquet and code records already hold their text
        current = current | "AsDocuments" >> AsDocuments()
    rejected: List[beam.PCollection] = []
    errors: List[beam.PCollection] = [read[ERRORS]]
    for name, opts in recipe.stages:
        label = "".join(part.capitalize() for part in name.split("_"))
        stage = build_stage(name, opts)
        out = current | label >> stage
        if INDEX_OUTPUT in out:  # a dedup stage: its keys, for later runs' `against` (filters/dedup_index.py)
            stage.write_index(out, FileSystems.join(output_dir, INDEX_DIR, name), label)
        current = out["kept"]
        rejected.append(out[REJECTED])
        errors.append(out[ERRORS])
    current = current | "ProgressKept" >> CountProgress("curate", "kept")
    _write_table(current, output_dir, "documents")
    all_rejected = tuple(rejected) | "FlattenRejected" >> beam.Flatten()
    if recipe.rejected_sample_per_reason is not None:
        all_rejected = all_rejected | "SampleRejected" >> SampleRejectedPerReason(recipe.rejected_sample_per_reason)
    _write_table(all_rejected, output_dir, "rejected")
    _write_table(tuple(errors) | "FlattenErrors" >> beam.Flatten(), output_dir, "errors")


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


# Uncompressed bytes a writer buffers per Parquet row group (Beam's default is 64 MiB). A row group is the
# smallest range a reader can split off a file, so smaller groups let the tokenize job share a curate output of
# a few files among its workers; `winnow stats`/`inspect` stream one group at a time, so they also bound memory.
ROW_GROUP_BYTES = 8 * 2 ** 20
ROW_GROUP_RECORD_BATCH = 256  # rows Beam buffers before it measures the group: the groups overshoot by < 1 batch


def _write_table(pcoll, output_dir: str, table: str) -> None:
    pcoll | f"Write{table.capitalize()}" >> beam.io.WriteToParquet(
        FileSystems.join(output_dir, table, "part"), schema=OUTPUT_TABLES[table], file_name_suffix=".parquet",
        codec="zstd", row_group_buffer_size=ROW_GROUP_BYTES, record_batch_size=ROW_GROUP_RECORD_BATCH)


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
               beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1) -> Optional[Report]:
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
        staged = StagedOutput(output_dir, tuple(OUTPUT_TABLES), last=REPORT_NAME, owned_files=(RECIPE_NAME,),
                              owned_trees=(INDEX_DIR,))
        staged.prepare()
    write_dir = staged.staging if staged is not None else output_dir
    build_curate_pipeline(p, inputs, write_dir, recipe)
    try:
        with beam_progress("curate", ("read", "kept"), unit="docs"):
            result = run_pipeline(p)
        if result is None:  # a Dataflow dry run: the job was built, nothing ran, there is nothing to report
            return None
        report, renamed, breakdowns = _report(result, inputs, recipe, started)
        _write_text(FileSystems.join(write_dir, REPORT_NAME), report_json(report, renamed, breakdowns,
                                                                           index=_index_summaries(write_dir, recipe)))
        _write_text(FileSystems.join(write_dir, RECIPE_NAME), recipe.to_yaml())
    except BaseException:  # the previous outputs stay as they were; this run's partial files go
        if staged is not None:
            staged.discard()
        raise
    staged.publish()
    if renamed:
        log.warning("curate: %s", _renamed_line(renamed))
    return report


def _report(result, inputs: Sequence[str], recipe: Recipe, started: float):
    counters = counters_by_stage(result)
    stages = stage_counts(counters, (READ_STAGE,) + recipe.stage_names)
    outputs = {"documents": stages[-1].kept,
               "rejected": sum(s.dropped_total for s in stages[1:]),
               "errors": sum(s.errors for s in stages)}
    report = Report(stages=stages, inputs=list(inputs), recipe=recipe.to_json(), versions=package_versions(),
                    outputs=outputs, wall_seconds=round(time.time() - started, 3))
    return report, renamed_by_stage(counters), breakdowns_by_stage(counters)


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


def report_json(report: Report, renamed: Mapping[str, Mapping[str, int]],
                breakdowns: Optional[Mapping[str, Mapping[str, Mapping[str, int]]]] = None,
                index: Optional[Mapping[str, Any]] = None) -> str:
    """report.json: the Report, each stage's entry with `renamed` (reason -> count) where ids were renamed, and
    its breakdowns (decontaminate's `contaminated_by_set`: set -> documents)."""
    payload = report.to_json()
    for entry in payload["stages"]:
        if renamed.get(entry["name"]):
            entry["renamed"] = dict(sorted(renamed[entry["name"]].items()))
        for group, counts in sorted((breakdowns or {}).get(entry["name"], {}).items()):
            entry[group] = dict(sorted(counts.items()))
    if index:  # what each dedup stage's index holds (filters/dedup_index.py), for later runs' `against`
        payload["index"] = dict(index)
    return json.dumps(payload, indent=2) + "\n"


def _renamed_line(renamed: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{stage}: {n} document(s) renamed ({reason}: their input repeats an id, the new id names "
                     f"the input pointer)" for stage, reasons in renamed.items() for reason, n in sorted(reasons.items()))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", nargs="+", required=True, metavar="SPEC",
                        help="inputs: paths, globs or gs:// URIs of .warc(.gz), .arc(.gz), .wet.gz, .jsonl(.gz|.zst), "
                             ".parquet, or code:PATH for a source tree")
    parser.add_argument("--output", "-o", required=True, help="output directory (local or gs://)")
    parser.add_argument("--recipe", default=None, help="recipe YAML (default: recipes/default.yaml)")
    add_beam_arguments(parser)


def main(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    report = run_curate(args.input, args.output, recipe, getattr(args, "beam_args", ()), args.runner, args.workers)
    if report is None:
        print("dry run: the job was built and not submitted")
        return 0
    print(format_funnel(report))
    print(f"documents: {FileSystems.join(args.output, 'documents')}  report: {FileSystems.join(args.output, 'report.json')}")
    return 0


def format_funnel(report: Report) -> str:
    lines = [f"{'stage':<15}{'in':>9}{'kept':>9}{'dropped':>9}{'errors':>8}{'sec':>8}  top reasons"]
    for s in report.stages:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(s.dropped.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"{s.name:<15}{s.in_:>9}{s.kept:>9}{s.dropped_total:>9}{s.errors:>8}{s.seconds:>8.1f}  {reasons}")
    return "\n".join(lines)
