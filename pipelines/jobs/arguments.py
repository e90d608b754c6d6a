"""The options of the Beam jobs `crawl`, `curate` and `tokenize`, declared without importing Beam (or anything
that does): cli.py builds a command's parser from here, so `--help` and a refused option answer in a fraction
of a second, and imports the job's module (Beam, ~1.5 s) only to run it. `crawl` and `tokenize` also parse with
theirs (as `configure_parser`) when their `main` is given a list of arguments."""
from __future__ import annotations

import argparse
import math

from pipelines.ingest.fetch import MAX_LIMIT_SECONDS
from pipelines.runtime.arguments import add_beam_arguments
from schemas.arguments import positive_int, seed_number
from schemas.shard_files import DEFAULT_ROW_GROUP_MB, DEFAULT_SHARD_MB, FILE_FORMATS
from schemas.trainer_formats import TRAINER_FORMATS
from tokenizer.encode import ENCODERS
from tokenizer.pack import METHODS


def _seconds(value: str, allow_zero: bool) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    # float() reads nan and inf: nan switched the per-response time limit off, inf overflowed the watchdog
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number of seconds")
    if number < 0 or (number == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"{value} is not {'at least 0' if allow_zero else 'over 0'}")
    if number > MAX_LIMIT_SECONDS:  # 1e12 overflowed the socket timeout
        raise argparse.ArgumentTypeError(f"{value} is over {MAX_LIMIT_SECONDS:g} seconds (a day)")
    return number


def seconds_at_least_zero(value: str) -> float:
    """argparse type of a finite wait (`--delay 0` is allowed, `nan` and `inf` are usage errors)."""
    return _seconds(value, allow_zero=True)


def seconds_over_zero(value: str) -> float:
    """argparse type of a finite, positive time limit (`--max-seconds nan` once disabled the limit)."""
    return _seconds(value, allow_zero=False)


def configure_crawl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", nargs="+", action="extend", required=True, metavar="FILE_OR_URL",
                        help="seed URLs, or files with one URL per line (several after one --seeds, or --seeds "
                             "given again)")
    parser.add_argument("--output", required=True, help="directory for the WARC files (any Beam filesystem)")
    parser.add_argument("--max-pages", type=positive_int, default=100, help="fetches per host (default 100)")
    parser.add_argument("--delay", type=seconds_at_least_zero, default=1.0,
                        help="seconds between requests to a host (default 1)")
    parser.add_argument("--max-depth", type=int, default=3, help="link hops from a seed (default 3)")
    parser.add_argument("--timeout", type=seconds_over_zero, default=10.0,
                        help="socket timeout for the connect and each read (default 10)")
    parser.add_argument("--max-seconds", type=seconds_over_zero, default=30.0,
                        help="wall time per response, connect to last byte, however slowly bytes arrive (default 30)")
    parser.add_argument("--max-bytes", type=positive_int, default=5 << 20,
                        help="body bytes kept per response (default 5 MiB)")
    parser.add_argument("--retries", type=int, default=2,
                        help="retries after a 429 or 5xx answer or a fetch with no answer (refused, reset, timed "
                             "out), with exponential backoff (default 2)")
    parser.add_argument("--max-redirects", type=int, default=5, help="hops per redirect chain (default 5)")
    parser.add_argument("--allow-private", action="store_true",
                        help="fetch private, loopback and link-local addresses (refused by default)")
    add_beam_arguments(parser)


def configure_curate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", nargs="+", action="extend", required=True, metavar="SPEC",
                        help="inputs: paths, globs or gs:// URIs of .warc(.gz), .arc(.gz), .wet.gz, .jsonl(.gz|.zst), "
                             ".parquet, or code:PATH for a source tree (several after one --input, or --input "
                             "given again)")
    parser.add_argument("--output", "-o", required=True, help="output directory (local or gs://)")
    parser.add_argument("--recipe", default=None, help="recipe YAML (default: recipes/default.yaml)")
    add_beam_arguments(parser)


def configure_tokenize(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--input", help="documents: curate output dir, dir/file/glob of .parquet or .jsonl")
    given.add_argument("--mixture", metavar="FILE",
                       help="instead of --input: a mixture YAML {sources: [{name, input, weight: SHARE} or {name, "
                            "input, epochs: E}, optional source: COLUMN_VALUE], total_tokens: N (optional)}; "
                            "weights are shares of the output tokens, epochs may be fractional (0.3 keeps 30%% of "
                            "the documents, 2.5 repeats them twice and half of them a third time), selection by "
                            "hash of seed and id; manifest.json records requested and written counts and shares")
    parser.add_argument("--tokenizer", required=True, help="directory with tokenizer.json (or the file)")
    parser.add_argument("--seq-len", type=positive_int, required=True,
                        help="sequence length (rows hold seq_len + 1 ids); megatron and llmc write whole documents, "
                             "where it only sizes shards given with --rows-per-shard")
    parser.add_argument("--output", required=True, help="directory for the shards and manifest.json")
    parser.add_argument("--packing", choices=METHODS, default="best-fit", help="packing method (default best-fit)")
    parser.add_argument("--format", dest="file_format", choices=sorted(FILE_FORMATS) + list(TRAINER_FORMATS),
                        default="parquet",
                        help="output: parquet (default) or arrow token shards, or a trainer's own files: megatron "
                             "(Megatron-LM/NeMo .bin + .idx, whole documents), mds (MosaicML streaming shards of the "
                             "packed rows + index.json) or llmc (llm.c/nanoGPT .bin with its 256-int32 header)")
    parser.add_argument("--doc-ids", action="store_true", help="add a doc_ids column (row-level lineage)")
    parser.add_argument("--seed", type=seed_number, default=0, help="packing/shuffle seed (default 0)")
    parser.add_argument("--rows-per-shard", type=positive_int, default=None,
                        help="rows per shard (overrides --shard-mb)")
    parser.add_argument("--shard-mb", type=float, default=DEFAULT_SHARD_MB,
                        help=f"target shard size in MiB of uncompressed tokens (default {DEFAULT_SHARD_MB:g}; "
                             f"Parquet shards are smaller on disk, zstd)")
    parser.add_argument("--row-group-mb", type=float, default=DEFAULT_ROW_GROUP_MB,
                        help=f"MiB of uncompressed tokens per Parquet row group / Arrow record batch, the unit a "
                             f"streaming reader holds in memory (default {DEFAULT_ROW_GROUP_MB:g})")
    parser.add_argument("--encoder", choices=ENCODERS, default="auto",
                        help="encoder: auto (default: tiktoken when installed and it gives the same ids as HF, "
                             "checked; else HF), hf (HF tokenizers) or tiktoken (built from the same vocabulary; "
                             "several times less CPU; needs the tiktoken package). Shards are identical either way")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="documents per encode_batch call (default 256)")
    parser.add_argument("--encode-threads", type=positive_int, default=None,
                        help="threads one worker encodes with (default: on the local runner the cores divided "
                             "among --workers, at most 8; 1 on other runners, which already run one worker "
                             "process per core)")
    add_beam_arguments(parser)
    return parser
