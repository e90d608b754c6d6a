"""The `winnow` command line.

Each command lives in the module that owns it and exposes `main(args)`, and `configure_parser(parser)` unless
`COMMANDS` names where its options are declared (the Beam commands: a Beam-free module, so that their `--help` and
a refused option answer without importing Beam, ~1.5 s). This file only routes, and reports errors: an input,
output or configuration problem (a `WinnowError` raised where the file is known, or a well-known OSError/pyarrow
error) ends the command with one line, `winnow CMD: error: <file>: <problem>; <fix>`, and exit status 1 (`winnow
train`: 2), never a bare traceback; `--log-level DEBUG` or `WINNOW_DEBUG=1` shows the traceback too
(schemas/errors.py). An output directory that cannot be written is refused before any work starts. The Beam jobs
(`run`, `crawl`, `curate`, `tokenize`) accept any Beam or Dataflow option they do not define themselves
(`--project`, `--region`, `--temp_location`, `--setup_file`, ...) and pass it through to the runner as
`args.beam_args`. `winnow train` hands its arguments to the bundled trainer, which imports torch, so torch is
loaded only by that command (not for its `--help` or a refused option: training/options.py parses them first).
"""
from __future__ import annotations

import argparse
import difflib
import gc
import importlib
import logging
import os
import sys
import time
from typing import List, Optional

from schemas.errors import check_writable_dir, debugging, report_errors

# command -> (module, help, Beam options): a Beam job (its options declared by "module:function" in a Beam-free
# module, so that its `--help` and a refused option answer without importing Beam, ~1.5 s; the options it does not
# define pass through to Beam), or None (the module's own `configure_parser`; unknown options are refused).
COMMANDS = {
    "run": ("pipelines.demo.run", "the whole chain on the embedded default (or on a recipe's inputs)",
            "pipelines.demo.arguments:configure_run"),
    "crawl": ("pipelines.jobs.crawl", "polite crawl of seed URLs into WARC files (Beam job)",
              "pipelines.jobs.arguments:configure_crawl"),
    "curate": ("pipelines.jobs.curate", "extract, filter and deduplicate inputs into documents (Beam job)",
               "pipelines.jobs.arguments:configure_curate"),
    "tokenize": ("pipelines.jobs.tokenize", "tokenize, pack and shard documents into token shards (Beam job)",
                 "pipelines.jobs.arguments:configure_tokenize"),
    "stats": ("pipelines.tools.stats", "statistics of a documents directory or a shards directory", None),
    "inspect": ("pipelines.tools.inspect", "sample documents, rejected and error rows, decoded sequences", None),
    "verify": ("pipelines.tools.verify", "re-check token shards against their manifest", None),
    "export": ("pipelines.tools.export", "rewrite token shards for Megatron, MosaicML streaming or llm.c", None),
}
GROUPS = {
    "tokenizer": ("train and evaluate BPE tokenizers", {
        "train": ("tokenizer.train", "train a byte-level BPE tokenizer on documents"),
        "eval": ("tokenizer.evaluate", "bytes per token per source and language, vocabulary use"),
    }),
    "classifier": ("fastText quality classifier", {
        "train": ("filters.classifier", "train a fastText quality classifier on positive/negative documents"),
    }),
    "index": ("dedup indexes that later curates dedup against (`against:`)", {
        "merge": ("pipelines.tools.index", "merge the dedup index of a new curate into an earlier one"),
    }),
}
TRAIN_HELP = "the bundled GPT trainer on token shards (run `winnow train --help`)"


class _DropReraisedTracebacks(logging.Filter):
    """Beam's in-process DoFn runner logs a failing DoFn's traceback and then raises the same exception, which
    `report_errors` prints as one line: the logged copy is dropped unless debugging."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.exc_info or debugging()


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse an output location nothing can be written to before a job reads anything."""
    if getattr(args, "output", None):
        check_writable_dir(args.output, "--output")
    if getattr(args, "html", None):
        check_writable_dir(os.path.dirname(os.path.abspath(args.html)), "--html")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow", description="Winnow: curate web archives, crawls and code into training-ready token shards.")
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=LOG_LEVELS,
                        help="Python log level: DEBUG, INFO, WARNING, ERROR or CRITICAL (default WARNING)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text, beam_options) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _beam=beam_options)
    for group, (help_text, children) in GROUPS.items():
        gp = sub.add_parser(group, help=help_text, description=help_text)
        gsub = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
        for name, (module, child_help) in children.items():
            p = gsub.add_parser(name, help=child_help, description=child_help)
            p.set_defaults(_module=module, _beam=None)
    sub.add_parser("train", help=TRAIN_HELP, add_help=False)
    return parser


def _configure(parser: argparse.ArgumentParser, argv: List[str]) -> Optional[argparse.ArgumentParser]:
    """Let the chosen command's module add its own arguments (imports only that module); returns the command's
    parser, or None when argv names no command."""
    # Find the leaf subparser the argv selects, then ask its module to configure it.
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if not argv or argv[0] not in action.choices:
        return None
    leaf = action.choices[argv[0]]
    if argv[0] in GROUPS:
        sub_action = next(a for a in leaf._actions if isinstance(a, argparse._SubParsersAction))
        if len(argv) < 2 or argv[1] not in sub_action.choices:
            return None
        leaf = sub_action.choices[argv[1]]
    module, beam_options = leaf.get_default("_module"), leaf.get_default("_beam")
    if beam_options:
        declared_in, function = beam_options.split(":")
        getattr(importlib.import_module(declared_in), function)(leaf)
    elif module:
        _import_command(module).configure_parser(leaf)
    return leaf


def _refuse_unknown(leaf: argparse.ArgumentParser, unknown: List[str]) -> None:
    """End with the command's own usage line, naming the closest option the user may have meant, when
    arguments are left that the command does not take."""
    options = [o for a in leaf._actions for o in a.option_strings if o.startswith("--")]
    hints = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1) if arg.startswith("--") else []
        if close:
            hints.append(f"{arg.split('=', 1)[0]}: did you mean {close[0]}?")
    leaf.error(f"unrecognized arguments: {' '.join(unknown)}" + (f"; {'; '.join(hints)}" if hints else ""))


_imports_frozen = False
FULL_COLLECTION_EVERY = 100  # middle-generation collections between full ones (Python's default: 10)


def _import_command(module: str):
    """Import a command's module with the cyclic garbage collector paused, then move what is alive (Beam,
    pyarrow, numpy, trafilatura, ...: ~200,000 tracked objects that live as long as the process) out of its
    sight: every full collection during the job would walk them all again, and so would each forked worker,
    touching (so copying) the memory it shares with the driver. Once per process, after a collection, so that
    nothing already garbage is kept. Measured on the 27 shared WARC files (default recipe, 3 interleaved pairs):
    `--workers 1` 9.77-9.90 s -> 8.89-9.13 s, `--workers 2` 7.59-7.85 s -> 7.10-7.40 s; a 32-record curate
    3.43-3.55 s -> 2.91-3.03 s.

    Full collections are then made rarer (`FULL_COLLECTION_EVERY`): what a job loads after the freeze (spaCy's
    vocabulary, trafilatura's and lxml's state, the built pipeline) was walked by 33 full collections (2.2 s) in
    a 1-worker curate of the same files with the trafilatura engine, and by 4 (0.36 s) at 100; young objects are
    still collected as often. Measured in 2 interleaved pairs: 1 worker 38.6-39.8 s -> 37.5 s, 2 workers
    22.9-23.0 s -> 21.8-22.5 s; the memory benchmark's 20,000-document curate peaks at 981-998 MiB either way."""
    global _imports_frozen
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        if not _imports_frozen:
            gc.collect()
            gc.freeze()
            _imports_frozen = True
            young, middle, full = gc.get_threshold()
            gc.set_threshold(young, middle, max(full, FULL_COLLECTION_EVERY))
        if was_enabled:
            gc.enable()


def _home(value):
    """`~/x` (or `~user/x`) as the shell would have expanded it: `--output=~/x` and quoted paths reach us as is."""
    if isinstance(value, str) and value.startswith("~") and "://" not in value:
        return os.path.expanduser(value)
    if isinstance(value, list):
        return [_home(v) for v in value]
    return value


def _expand_home(args: argparse.Namespace) -> None:
    """Every path-like option value that starts with `~`: a command then reads and writes where its checks
    looked (the output-safety checks expand `~`; the writers did not, and wrote into ./~/x)."""
    for name, value in vars(args).items():
        if not name.startswith("_") and name != "beam_args":
            setattr(args, name, _home(value))


def process_started_at() -> Optional[float]:
    """When this process started, in epoch seconds (Linux: /proc, to 10 ms), or None where that is unknown: the
    start-up part of a job's timings (the interpreter and the imports, before any of the job's own code)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start, in ticks after boot
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - max(0.0, age)


def main(argv: Optional[List[str]] = None) -> int:
    # The process's own command line (not a call from Python code that started earlier): a job can tell how long the
    # start-up took (args.process_start; curate's report.json `timings`).
    process_start = process_started_at() if argv is None else None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Options before the command (only --log-level) are parsed by the top-level parser.
    command_index = next((i for i, a in enumerate(argv) if not a.startswith("-") and
                          (i == 0 or argv[i - 1] != "--log-level")), None)
    if command_index is not None and argv[command_index] == "train":
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from training.options import build_parser as train_parser

        train_parser().parse_args(argv[command_index + 1:])  # --help and a refused option before torch loads
        from training.train import main as train_main

        return train_main(argv[command_index + 1:])  # reports its errors through report_errors too
    leaf = _configure(parser, argv[command_index:] if command_index is not None else [])
    args, unknown = parser.parse_known_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    if unknown and not args._beam:
        _refuse_unknown(leaf or parser, unknown)
    # a Beam job hands what it does not take to Beam; pipelines/runtime/options.py refuses what Beam does not take
    args.beam_args = unknown
    args.process_start = process_start
    _expand_home(args)
    logging.getLogger("apache_beam.runners.common").addFilter(_DropReraisedTracebacks())
    module = _import_command(args._module)
    command = " ".join(argv[command_index:command_index + (2 if args.command in GROUPS else 1)])

    def run() -> int:
        _check_outputs(args)
        return module.main(args)

    return report_errors(command, run)


if __name__ == "__main__":
    sys.exit(main())
