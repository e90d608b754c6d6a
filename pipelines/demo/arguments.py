"""The options of `winnow run`, declared without importing Beam (cli.py builds the parser from here, so `winnow
run --help` and a refused option answer at once; pipelines/demo/run.py imports Beam only to run the chain)."""
from __future__ import annotations

import argparse

from pipelines.runtime.arguments import add_beam_arguments
from schemas.arguments import port_number, positive_int, seed_number
from tokenizer.train import special_tokens

MIN_VOCAB_SIZE = 256 + len(special_tokens())  # the byte alphabet and the special tokens (tokenizer/train.py)

# The local docs site's port is part of every crawled URL and so of every web document's id: a fixed port keeps
# `winnow run` deterministic from run to run (an ephemeral port is used, with a warning, when it is taken).
DEFAULT_DOCS_PORT = 8741


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", default="out", help="output directory (default ./out)")
    parser.add_argument("--recipe", help="recipe YAML; its `inputs:` replace the embedded default")
    # checked here, not when each step is reached: a bad --train-steps failed after crawl, curate and tokenize
    parser.add_argument("--max-pages", type=positive_int, default=60, help="pages to crawl from the local docs site")
    parser.add_argument("--vocab-size", type=positive_int, default=4096,
                        help=f"BPE vocabulary size (default 4096; at least {MIN_VOCAB_SIZE})")
    parser.add_argument("--seq-len", type=positive_int, default=256, help="tokens per packed sequence (default 256)")
    parser.add_argument("--train-steps", type=positive_int, default=120, help="steps of the CPU training run")
    parser.add_argument("--seed", type=seed_number, default=None,
                        help="seed of the tokenizer sample, packing and training (default: the recipe's `seed:`, "
                             "0 when it has none, as the embedded default's)")
    parser.add_argument("--docs-port", type=port_number, default=DEFAULT_DOCS_PORT,
                        help=f"loopback port of the local docs site (default {DEFAULT_DOCS_PORT}; 0: any free port)")
    add_beam_arguments(parser)
