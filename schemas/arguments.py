"""Argument types shared by the commands' parsers (in schemas, the lowest package: filters, tokenizer and the
pipelines all parse arguments)."""
from __future__ import annotations

import argparse


def positive_int(value: str) -> int:
    """argparse type of a count that must be at least 1 (`--workers 0` is a usage error, not one worker)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not at least 1")
    return number


def fraction_over_zero(value: str) -> float:
    """argparse type of a share in (0, 1] (`--sample-rate 50` is a usage error, not 1)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"{value} is not within (0, 1]")
    return number


def port_number(value: str) -> int:
    """argparse type of a TCP port, 0 (any free port) to 65535 (`--docs-port 70000` failed at bind)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a port (0 to 65535)")
    return number


SEED_MAX = 2 ** 63 - 1
FASTTEXT_SEED_MAX = 2 ** 31 - 1  # fastText's seed is a C int


def _seed(value: str, maximum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 <= number <= maximum:
        raise argparse.ArgumentTypeError(f"{number} is not a seed (0 to {maximum:,})")
    return number


def seed_number(value: str) -> int:
    """argparse type of a seed, 0 to 2**63-1: numpy's generators refuse a negative seed, which `train --seed -1`
    reached only after loading the shards, with numpy's words and no option named."""
    return _seed(value, SEED_MAX)


def fasttext_seed(value: str) -> int:
    """argparse type of a fastText seed, 0 to 2**31-1 (a larger one was a TypeError traceback from fastText)."""
    return _seed(value, FASTTEXT_SEED_MAX)
