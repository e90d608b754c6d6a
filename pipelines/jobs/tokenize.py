"""`winnow tokenize`: the job. Resolves the inputs (`schemas.io.document_patterns`) and the tokenizer
(`tokenizer.encode.tokenizer_file`), checks the configuration before anything starts, puts the composites of
`pipelines.transforms.tokenize` together (ReadDocuments -> EncodeDocuments -> PackSequences -> WriteShards ->
WriteManifest), runs them and reads back the manifest and the stage's counters. Those composites' module
docstring describes the steps, the shard layout and why the output is byte-identical across runs.

`--mixture FILE` replaces `--input` with several inputs, each with a share of the output tokens or a number of
epochs (`tokenizer.mixture` has the file format and the selection): ReadMixture -> EncodeDocuments ->
SelectMixture (a token histogram over hash buckets, the plan, the selected copies) -> PackSequences (copies
of one document in different groups) -> WriteShards -> WriteManifest (with its `mixture` entry).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsList

from pipelines.ingest.inputs import REPLACED_INVALID_UTF8, REPLACED_INVALID_UTF8_MEANING
from pipelines.runtime.progress import beam_progress
from pipelines.runtime.staging import StagedOutput, refuse_inputs_inside_output
from pipelines.runtime.files import path_matches, read_bytes, write_bytes
from pipelines.jobs.arguments import configure_tokenize as configure_parser
from pipelines.runtime.options import (
    is_dry_run, is_local, make_pipeline, quiet_beam_logging, run_pipeline, threads_per_worker,
)
from pipelines.transforms.counters import counters_by_stage, report_json, stage_counts
from pipelines.transforms.progress import CountProgress
from pipelines.transforms.tokenize import (
    DEFAULT_ROW_GROUP_MB, DEFAULT_ROWS_PER_GROUP, DEFAULT_SHARD_MB, ERRORS_DIR, NAMESPACE, READ_BUNDLE_BYTES, STAGE,
    DUPLICATE_IDS, STATS, EncodeDocuments, PackSequences, ReadDocuments, ReadMixture, SelectMixture, TokenizeConfig, WriteManifest,
    WriteShards, read_bundle_bytes, source_counts,
)
from pipelines.transforms.stages import ERRORS
from pipelines.transforms.tables import write_tables
from pipelines.transforms.trainer_formats import WriteTrainerFormat
from schemas import ERRORS_SCHEMA, MANIFEST_NAME, Manifest, Report, token_dtype_for_vocab
from schemas.errors import WinnowError
from schemas.io import document_patterns
from schemas.shard_files import SHARD_FILE_NAME
from schemas.shards import PAD
from schemas.trainer_formats import MDS_INDEX, TRAINER_FORMATS, WHOLE_DOCUMENT_FORMATS, load_trainer_manifest
from tokenizer.encode import MissingSpecialToken, parse_tokenizer_json, tokenizer_file, tokenizer_handle
from tokenizer.mixture import MixtureSpec, mixture_group, mixture_manifest, parse_mixture, refuse_shared_files
from tokenizer.pack_groups import estimated_tokens, sum_counts

REPORT_NAME = "report.json"  # as curate's: the stage's counts (tokenize_report)
# The error table's row groups: Beam's WriteToParquet defaults, which wrote it before (64 MiB, 1,000-row batches).
ERRORS_ROW_GROUP_BYTES = 64 * 2 ** 20
ERRORS_RECORD_BATCH = 1000

log = logging.getLogger(__name__)
PROGRESS = "tokenize"  # the name of the live count of encoded documents (pipelines/runtime/progress.py)


def any_present(pattern: str) -> bool:
    """The `matches` of a dry run, which lists no storage: every pattern is taken as given."""
    return True


def input_bytes(patterns: Sequence[str]) -> int:
    """Bytes of the JSONL files the patterns match (listed once, before the job starts): a glob's Parquet files
    are read by row group, not in byte ranges."""
    return sum(m.size_in_bytes for r in FileSystems.match(list(patterns)) for m in r.metadata_list
               if not m.path.endswith(".parquet"))


def matched_files(patterns: Sequence[str]) -> List[str]:
    """The files the patterns match (listed once, before the job starts)."""
    return [m.path for r in FileSystems.match(list(patterns)) for m in r.metadata_list]


def staged_tokenizer_path(tokenizer_path: str, tokenizer_json: bytes, pipeline: beam.Pipeline) -> str:
    """Where workers read the tokenizer. A local tokenizer with a remote `--temp_location` (Dataflow, or any
    runner whose workers cannot see this machine's disk) is copied to TEMP/winnow/tokenizer-<sha256>.json
    (skipped on a dry run, which touches no storage) and workers read that copy."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    temp = pipeline.options.view_as(GoogleCloudOptions).temp_location
    if "://" in tokenizer_path or not temp or "://" not in temp:
        return tokenizer_path
    staged = FileSystems.join(temp, "winnow", f"tokenizer-{hashlib.sha256(tokenizer_json).hexdigest()[:16]}.json")
    if not is_dry_run(pipeline):
        write_bytes(staged, tokenizer_json)
    return staged


def _write_errors(errors, output_dir: str) -> None:
    """The read and encode error rows, as the table `errors/part-*.parquet` (pipelines/transforms/tables.py: written
    inside the stages that make the rows; one file with no rows when nothing failed)."""
    rows = errors | "FlattenTokenizeErrors" >> beam.Flatten()
    write_tables([("WriteTokenizeErrors", rows, FileSystems.join(output_dir, ERRORS_DIR, "part"), ERRORS_SCHEMA)],
                 ERRORS_ROW_GROUP_BYTES, ERRORS_RECORD_BATCH, label="FinalizeTokenizeErrors")


def build_tokenize_pipeline(pipeline: beam.Pipeline, patterns: Sequence[str], tokenizer_path: str,
                            config: TokenizeConfig, tokenizer_info: Dict[str, Any], versions: Dict[str, str],
                            bundle_bytes: int = READ_BUNDLE_BYTES):
    dtype = token_dtype_for_vocab(tokenizer_info["vocab_size"])
    pad_id = tokenizer_info["special_ids"][PAD]
    docs, text_bytes, read_errors = pipeline | "ReadDocuments" >> ReadDocuments(
        patterns, bundle_bytes, with_text_bytes=True, with_errors=True)
    encode = docs | "EncodeDocuments" >> EncodeDocuments(tokenizer_path, dtype, config.batch_size, config.encoder,
                                                         config.encode_threads)
    encoded = encode.encoded | "ProgressEncoded" >> CountProgress(PROGRESS, "encoded")
    # error rows go beside the shards, under errors/: readers list shards from the manifest (or `shard-*`), so
    # the folder is outside the shard set; run_tokenize_job removes it again when no record failed
    _write_errors((read_errors, encode[ERRORS]), config.output_dir)
    sources = (encoded | "SourceCounts" >> beam.Map(source_counts)
               | "SumSources" >> beam.CombinePerKey(sum_counts))
    # the packing groups are sized from the input's text bytes (footers and listings), known before encoding,
    # so the encoded documents go straight to their groups; the row count (which sizes the shards) comes from
    # the plan made on their lengths
    token_estimate = text_bytes | "EstimateTokens" >> beam.Map(estimated_tokens)
    if config.file_format in TRAINER_FORMATS:  # a trainer's own files (pipelines.transforms.trainer_formats)
        return encoded | "WriteTrainerFormat" >> WriteTrainerFormat(config.file_format, config, dtype, tokenizer_info,
                                                                    versions, token_estimate=token_estimate)
    packed = encoded | "PackSequences" >> PackSequences(config.packing, config.row_len, pad_id, config.seed,
                                                        config.rows_per_group, config.shard_rows(dtype), dtype,
                                                        config.doc_ids, token_estimate)
    infos = packed["rows"] | "WriteShards" >> WriteShards(config, dtype, packed["shards"])
    return infos | "WriteManifest" >> WriteManifest(config, dtype, tokenizer_info, versions, packed[STATS], sources,
                                                    packed["shards"])


def build_mixture_pipeline(pipeline: beam.Pipeline, spec: MixtureSpec, patterns: Sequence[Sequence[str]],
                            tokenizer_path: str, config: TokenizeConfig, tokenizer_info: Dict[str, Any],
                            versions: Dict[str, str], bundle_bytes: int = READ_BUNDLE_BYTES):
    """The mixture job: like `build_tokenize_pipeline`, with the selection between encoding and packing and
    the packing groups sized by the plan's output tokens instead of the input's bytes."""
    dtype = token_dtype_for_vocab(tokenizer_info["vocab_size"])
    pad_id = tokenizer_info["special_ids"][PAD]
    docs, read_errors = pipeline | "ReadMixture" >> ReadMixture(spec, patterns, bundle_bytes)
    encode = docs | "EncodeDocuments" >> EncodeDocuments(tokenizer_path, dtype, config.batch_size, config.encoder,
                                                         config.encode_threads)
    _write_errors((read_errors, encode[ERRORS]), config.output_dir)
    mixture = (encode.encoded | "ProgressEncoded" >> CountProgress(PROGRESS, "encoded")
               | "SelectMixture" >> SelectMixture(spec, config.seed, config.row_len, config.rows_per_group))
    selected = mixture["selected"]
    if config.file_format in TRAINER_FORMATS:
        extra = mixture["plan"] | "MixtureEntry" >> beam.Map(_mixture_entry, spec, AsList(
            selected | "SourceCountsForManifest" >> beam.Map(source_counts)
            | "SumSourcesForManifest" >> beam.CombinePerKey(sum_counts)))
        return selected | "WriteTrainerFormat" >> WriteTrainerFormat(
            config.file_format, config, dtype, tokenizer_info, versions, token_estimate=mixture["group_tokens"],
            pack_options={"group_of": mixture_group}, manifest_extra=extra)
    sources = (selected | "SourceCounts" >> beam.Map(source_counts)
               | "SumSources" >> beam.CombinePerKey(sum_counts))
    packed = selected | "PackSequences" >> PackSequences(config.packing, config.row_len, pad_id, config.seed,
                                                         config.rows_per_group, config.shard_rows(dtype), dtype,
                                                         config.doc_ids, mixture["group_tokens"], mixture_group)
    infos = packed["rows"] | "WriteShards" >> WriteShards(config, dtype, packed["shards"])
    return infos | "WriteManifest" >> WriteManifest(config, dtype, tokenizer_info, versions, packed[STATS], sources,
                                                    packed["shards"], spec, mixture["plan"])


def _mixture_entry(plan, spec: MixtureSpec, sources) -> Dict[str, Any]:
    return {"mixture": mixture_manifest(spec, plan, sources)}


def load_mixture_spec(path: str) -> MixtureSpec:
    """The mixture file's spec (relative local inputs resolved against its directory); a missing or bad file
    raises before the job starts."""
    from pipelines.jobs.recipe import MAX_RECIPE_BYTES
    from tokenizer.mixture import MixtureError

    try:
        text = read_bytes(path, max_bytes=MAX_RECIPE_BYTES).decode("utf-8")
    except (FileNotFoundError, OSError, IOError) as exc:
        raise MixtureError(f"no mixture file at {path!r}: pass a YAML file {{sources: [{{name, input, weight or "
                           f"epochs}}, ...], total_tokens: N}} ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise MixtureError(f"mixture file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:  # not a regular file, or far larger than any mixture
        raise MixtureError(f"mixture file {exc}: a mixture is a small YAML file") from None
    return parse_mixture(text, path, None if "://" in path else os.path.dirname(os.path.abspath(path)))


# ---------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------

@dataclass
class TokenizeResult:
    # None after a Dataflow dry run (the job was built, nothing ran); a trainer format's manifest.json is a dict
    # (`winnow.trainer/1`, schemas.trainer_formats)
    manifest: Optional[Any]
    counters: Dict[str, int]


def _drop_empty_errors(output_dir: str) -> None:
    """Remove errors/ when no row was written to it (the table writer leaves a file even for no rows), so the
    output of a run where every record went through stays the shards and manifest.json alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    errors_dir = FileSystems.join(output_dir, ERRORS_DIR)
    pattern = FileSystems.join(errors_dir, "*.parquet")
    files = [m.path for m in FileSystems.match([pattern])[0].metadata_list] if path_matches(pattern) else []
    if any(pq.read_metadata(pa.BufferReader(read_bytes(f))).num_rows for f in files):
        return
    if files:
        FileSystems.delete(files)
    if FileSystems.exists(errors_dir):
        FileSystems.delete([errors_dir])


def _versions() -> Dict[str, str]:
    import pyarrow
    import tokenizers

    return {"apache_beam": beam.__version__, "pyarrow": pyarrow.__version__, "tokenizers": tokenizers.__version__}


def run_tokenize_job(input_path: str, tokenizer_path: str, output_dir: str, seq_len: int, packing: str = "best-fit",
                     seed: int = 0, beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1,
                     file_format: str = "parquet", doc_ids: bool = False, rows_per_shard: Optional[int] = None,
                     rows_per_group: int = DEFAULT_ROWS_PER_GROUP, shard_mb: float = DEFAULT_SHARD_MB,
                     row_group_mb: float = DEFAULT_ROW_GROUP_MB, batch_size: int = 256,
                     encoder: str = "auto", encode_threads: Optional[int] = None,
                     mixture: Optional[str] = None) -> TokenizeResult:
    """Tokenize `input_path`, or with `mixture` (a mixture YAML file; `input_path` then None) its sources."""
    if (input_path is None) == (mixture is None):
        raise ValueError("give exactly one of --input DOCS or --mixture FILE")
    spec = load_mixture_spec(mixture) if mixture is not None else None
    pipeline = make_pipeline(beam_args, runner, workers)
    config = TokenizeConfig(output_dir=output_dir, seq_len=seq_len, packing=packing, seed=seed,
                            file_format=file_format, doc_ids=doc_ids, rows_per_group=rows_per_group,
                            rows_per_shard=rows_per_shard, shard_mb=shard_mb, row_group_mb=row_group_mb,
                            batch_size=batch_size, encoder=encoder,
                            encode_threads=threads_per_worker(pipeline, workers) if encode_threads is None
                            else encode_threads)
    config.validate()
    # bad configuration stops here, before the job starts
    tok_file = tokenizer_file(tokenizer_path)
    try:
        tokenizer_json = read_bytes(tok_file)
    except (FileNotFoundError, OSError, IOError) as exc:
        raise FileNotFoundError(f"no tokenizer at {tok_file!r}: pass the directory "
                                f"`winnow tokenizer train --output` wrote ({exc})") from exc
    parse_tokenizer_json(tokenizer_json, tok_file)  # empty or foreign: its path, one line
    try:
        handle = tokenizer_handle(tokenizer_json, encoder)
    except MissingSpecialToken as exc:  # no encoder helps: rows are separated by <|endoftext|>, padded by <|pad|>
        raise ValueError(f"{tok_file} has no {exc.tokens} special token, which tokenize needs to separate and pad "
                         f"documents (whatever the --encoder): train a tokenizer with `winnow tokenizer train`, which "
                         f"adds <|endoftext|> and <|pad|>, or add it to {tok_file} (tokenizers: "
                         f"`tok.add_special_tokens({exc.missing!r})`, then `tok.save(...)`)") from exc
    except (ImportError, ValueError) as exc:  # tiktoken absent, or unable to give HF's ids: HF encodes this file
        advice = "; use --encoder hf (or auto)" if encoder != "hf" else ""
        raise ValueError(f"--encoder {encoder} cannot encode with {tok_file}: {exc}{advice}") from exc
    log.info("tokenize: encoder %s (%s)", handle.backend, "chosen by auto" if encoder == "auto" else "requested")
    tokenizer_info = {"sha256": handle.sha256, "vocab_size": handle.vocab_size, "special_ids": handle.special_ids}
    bundle_bytes = READ_BUNDLE_BYTES
    matches = any_present if is_dry_run(pipeline) else path_matches
    inputs = [input_path] if spec is None else [s.input for s in spec.sources]
    # local paths made absolute: Beam's local file system matches nothing for a relative glob whose first part
    # holds the wildcard (`in_*/*.parquet`), and workers need not share this process's directory
    inputs = [p if FileSystems.get_scheme(p) else os.path.abspath(p) for p in inputs]
    per_input = []
    for index, path in enumerate(inputs):
        try:
            per_input.append(document_patterns(path, matches))
        except FileNotFoundError as exc:
            if spec is None:
                raise
            raise FileNotFoundError(f"{mixture}: source {spec.sources[index].name!r}: {exc}") from exc
    patterns = [p for ps in per_input for p in ps]
    refuse_inputs_inside_output(patterns, output_dir)  # the run replaces its files there, and would read them
    staged = None
    if not is_dry_run(pipeline):  # a dry run touches no storage: no listing, no staging
        if spec is not None:  # one file in two entries: the same ids twice in the shards
            refuse_shared_files(spec, [matched_files(ps) for ps in per_input], mixture)
        if is_local(pipeline):  # distributed runners split and rebalance ranges themselves
            bundle_bytes = read_bundle_bytes(input_bytes([p for p in patterns if not p.endswith(".parquet")]), workers)
        # written under OUT/.winnow-staging-<run> and moved into OUT once complete: a run that fails leaves the
        # previous shards and manifest as they were
        staged = StagedOutput(output_dir, (ERRORS_DIR,), last=MANIFEST_NAME, owned_files=(MDS_INDEX, REPORT_NAME),
                              owned_names=SHARD_FILE_NAME)
        staged.prepare()
        config = dataclasses.replace(config, output_dir=staged.staging)
    worker_tokenizer = staged_tokenizer_path(tokenizer_path, tokenizer_json, pipeline)
    try:
        if spec is None:
            build_tokenize_pipeline(pipeline, patterns, worker_tokenizer, config, tokenizer_info, _versions(),
                                    bundle_bytes)
        else:
            build_mixture_pipeline(pipeline, spec, per_input, worker_tokenizer, config, tokenizer_info, _versions(),
                                   bundle_bytes)
        with beam_progress(PROGRESS, ("encoded",), unit="docs"):  # a live count on the in-process runner
            result = run_pipeline(pipeline)
        if result is None:
            return TokenizeResult(None, {})
        counters: Dict[str, int] = {}
        counted = False
        try:
            counters, counted = counters_by_stage(result).get(STAGE, {}), True
        except Exception:  # some runners (dry runs) report no metrics
            pass
        _drop_empty_errors(staged.staging)
        if counted:  # without metrics a report would say 0 documents went in: none rather than a wrong one
            write_bytes(FileSystems.join(staged.staging, REPORT_NAME),
                        tokenize_report(counters, inputs, config, tokenizer_path, mixture).encode("utf-8"))
        manifest_path = FileSystems.join(staged.staging, MANIFEST_NAME)
        if file_format in TRAINER_FORMATS:
            manifest = load_trainer_manifest(read_bytes(manifest_path), manifest_path)
        else:
            manifest = Manifest.from_json(json.loads(read_bytes(manifest_path)))
        staged.publish()
    except BaseException:
        if staged is not None:
            staged.discard()
        raise
    if counters.get(DUPLICATE_IDS):
        log.warning("%s", duplicate_ids_warning(counters[DUPLICATE_IDS]))
    if counters.get(REPLACED_INVALID_UTF8):
        log.warning("tokenize: %s %d (counter %s/%s): %s", REPLACED_INVALID_UTF8, counters[REPLACED_INVALID_UTF8],
                    NAMESPACE, REPLACED_INVALID_UTF8, REPLACED_INVALID_UTF8_MEANING)
    if counters.get("errors"):
        log.warning("tokenize: %d documents could not be read or encoded (counter %s/errors); one row each, with "
                    "the error and the document id or input file and offset, in %s", counters["errors"], NAMESPACE,
                    FileSystems.join(output_dir, ERRORS_DIR))
    return TokenizeResult(manifest, counters)


def tokenize_report(counters: Dict[str, int], inputs: Sequence[str], config: TokenizeConfig, tokenizer_path: str,
                    mixture: Optional[str]) -> str:
    """report.json beside the shards, as curate writes one: the stage's in, kept, dropped (`empty`: no text, or
    whitespace alone) and errors (lines that could not be read and documents the tokenizer failed on, one row
    each under errors/), so that what did not reach the shards is counted in the output, not only printed. No
    timings (wall_seconds null): like the shards and manifest, it is the same for the same inputs and settings."""
    stage = stage_counts({STAGE: counters}, (STAGE,))[0]
    settings = {"tokenizer": tokenizer_path, "seq_len": config.seq_len, "packing": config.packing,
                "seed": config.seed, "format": config.file_format}
    if mixture is not None:
        settings["mixture"] = mixture
    report = Report(stages=[stage], inputs=list(inputs), recipe=settings, versions=_versions(),
                    outputs={"documents": stage.kept, "errors": stage.errors})
    replaced = counters.get(REPLACED_INVALID_UTF8)  # as in curate's report.json: kept, but not as the file spells them
    return report_json(report, {}, {STAGE: {"warnings": {REPLACED_INVALID_UTF8: replaced}}} if replaced else None)


def duplicate_ids_warning(repeated: int) -> str:
    return (f"tokenize: {repeated} documents have an id that another document of the input has (counter "
            f"{NAMESPACE}/{DUPLICATE_IDS}): all are packed, but doc_ids and `winnow lineage` cannot tell them apart; "
            f"give each document its own id (`winnow curate` does: its ids stage renames repeats)")


def run_tokenize(input_path: str, tokenizer_path: str, output_dir: str, seq_len: int, packing: str = "best-fit",
                 seed: int = 0, beam_args: Sequence[str] = (), runner: Optional[str] = None, workers: int = 1,
                 file_format: str = "parquet", doc_ids: bool = False, rows_per_shard: Optional[int] = None,
                 **options: Any) -> Optional[Manifest]:
    return run_tokenize_job(input_path, tokenizer_path, output_dir, seq_len, packing=packing, seed=seed,
                            beam_args=beam_args, runner=runner, workers=workers, file_format=file_format,
                            doc_ids=doc_ids, rows_per_shard=rows_per_shard, **options).manifest


def empty_sources(mixture: Dict[str, Any]) -> List[str]:
    """Warnings for the sources a mixture asked tokens of and wrote no document from: a budget below every
    document it selects (whole documents only) writes nothing, and exit 0 said no more than a 0.00 % share."""
    return [f"tokenize: warning: mixture source {s['name']!r} asked for {s['requested_tokens']:,} tokens and wrote "
            f"no document: its share of the budget is smaller than every document it selects; raise total_tokens "
            f"or its weight" for s in mixture["sources"] if s["requested_tokens"] > 0 and s["documents"] == 0]


def format_mixture(mixture: Dict[str, Any]) -> str:
    """The manifest's mixture entry as a few terminal lines: per source requested and written."""
    lines = [f"mixture: {mixture['tokens']:,} tokens" + (f" (budget {mixture['total_tokens']:,})"
                                                         if mixture.get("total_tokens") else "")]
    for s in mixture["sources"]:
        lines.append(f"  {s['name']:<12} share {s['share']:7.2%} (requested {s['requested_share']:7.2%})  "
                     f"epochs {s['epochs']:.3f} (requested {s['requested_epochs']:.3f})  "
                     f"{s['documents']:,} documents of {s['available_documents']:,}, {s['tokens']:,} tokens")
    return "\n".join(lines)


def main(args: Any = None, beam_args: Sequence[str] = ()) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args, extra = configure_parser(argparse.ArgumentParser(prog="winnow tokenize")).parse_known_args(args)
        beam_args = list(beam_args) + extra
    else:  # from `winnow tokenize`: the CLI leaves the Beam/Dataflow options it does not know in args.beam_args
        beam_args = list(beam_args) + list(getattr(args, "beam_args", None) or [])
    if args.file_format in WHOLE_DOCUMENT_FORMATS:  # no rows: packing, row lineage and row groups do not apply
        unused = [flag for flag, given in (("--packing", args.packing != "best-fit"), ("--doc-ids", args.doc_ids),
                                           ("--row-group-mb", args.row_group_mb != DEFAULT_ROW_GROUP_MB)) if given]
        if unused:
            raise WinnowError(f"--format {args.file_format} writes whole documents, not packed rows: "
                              f"{', '.join(unused)} would do nothing",
                              fix="leave them out, or choose --format parquet, arrow or mds for packed rows")
    quiet_beam_logging()
    result = run_tokenize_job(args.input, args.tokenizer, args.output, args.seq_len, packing=args.packing,
                              seed=args.seed, beam_args=beam_args, runner=args.runner, workers=args.workers,
                              file_format=args.file_format, doc_ids=args.doc_ids, rows_per_shard=args.rows_per_shard,
                              shard_mb=args.shard_mb, row_group_mb=args.row_group_mb, batch_size=args.batch_size,
                              encoder=args.encoder, encode_threads=args.encode_threads, mixture=args.mixture)
    m = result.manifest
    if m is None:
        print("dry run: the job was built and not submitted")
        return 0
    if isinstance(m, dict):  # a trainer format
        totals = m.get("totals", {})
        held = (f"{totals.get('samples', 0)} samples (packed rows) holding {totals.get('documents', 0)} document "
                f"segments (a document longer than a row is in several)" if "samples" in totals
                else f"{totals.get('documents', 0)} documents")
        print(f"tokenize: {args.file_format} files: {held}, {totals.get('tokens', 0):,} tokens in "
              f"{len(m.get('files', []))} files; counters {result.counters}")
        if m.get("mixture"):
            print(format_mixture(m["mixture"]))
            for line in empty_sources(m["mixture"]):
                print(line, file=sys.stderr)
        print(f"manifest: {FileSystems.join(args.output, MANIFEST_NAME)}")
        return 0
    print(f"tokenize: {m.totals.documents} documents -> {m.totals.sequences} sequences of {m.seq_len + 1} "
          f"({m.totals.non_pad_tokens:,} tokens, pad {m.packing.pad_fraction:.2%}, truncated "
          f"{m.packing.truncated_fraction:.2%} = tokens of documents split across rows) in {len(m.shards)} shards; "
          f"counters {result.counters}")
    if m.mixture:
        print(format_mixture(m.mixture))
        for line in empty_sources(m.mixture):
            print(line, file=sys.stderr)
    print(f"manifest: {FileSystems.join(args.output, MANIFEST_NAME)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
