"""Run every benchmark (or those named): each table replaces its benchmark's section in benchmarks/RESULTS.md and
is appended to benchmarks/HISTORY.md (`benchmarks.results`)."""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import shlex
import sys

from benchmarks.results import HERE, record, section_text


def machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def available() -> list:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([HERE]) if m.name.startswith("bench_"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(available())})")
    parser.add_argument("--no-append", action="store_true",
                        help="print tables without writing RESULTS.md or appending to HISTORY.md")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = set(names) - set(available())
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; available: {available()}")
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        print(f"== benchmark {name}", flush=True)
        table = module.run()
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        section = section_text(name, stamp, machine(), command, module.__doc__, table)
        print("\n" + section)
        if not args.no_append:
            record(name, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
