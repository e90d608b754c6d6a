"""Where benchmark tables land: `RESULTS.md` holds the current table of each benchmark, `HISTORY.md` every run.

Each benchmark's section in `RESULTS.md` sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; a new
run replaces that section whole (its date, machine and command line with it) and appends the same section to
`HISTORY.md`, so the history keeps every table in run order. Sections stay sorted by benchmark name; a benchmark's
first run inserts its section in that order.
"""
from __future__ import annotations

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")
HISTORY = os.path.join(HERE, "HISTORY.md")

RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "The current table of each benchmark, rewritten by `bash dev.sh bench` (`python -m benchmarks`): a run replaces\n"
    "its benchmark's section here and appends it to `benchmarks/HISTORY.md`, which keeps every run. Each section\n"
    "names its date, machine and command.\n"
)
HISTORY_HEADER = (
    "# Benchmark history\n\n"
    "Every run's table, appended by `bash dev.sh bench` (`python -m benchmarks`) in run order; the current table of\n"
    "each benchmark is in `benchmarks/RESULTS.md`. Each section names its date, machine and command.\n"
)

# One marked section: `<!-- bench:NAME -->`, its text, `<!-- /bench:NAME -->` (NAME captured).
_MARKED = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n", re.S)


def section_text(name: str, stamp: str, machine: str, command: str, description: str, table: str) -> str:
    """One run's section: heading with benchmark and date, machine, command line, what it measures, its table."""
    return (f"## {name} ({stamp})\n\nMachine: {machine}  \nCommand: `{command.strip()}`\n\n"
            f"{description.strip()}\n\n{table.strip()}\n")


def replace_section(results_text: str, name: str, section: str) -> str:
    """`results_text` with benchmark `name`'s marked section replaced by `section` (inserted in name order if
    it has none yet)."""
    marked = f"<!-- bench:{name} -->\n{section.strip()}\n<!-- /bench:{name} -->\n"
    sections = {m.group("name"): m for m in _MARKED.finditer(results_text)}
    if name in sections:
        m = sections[name]
        return results_text[:m.start()] + marked + results_text[m.end():]
    later = [m for other, m in sections.items() if other > name]
    if later:
        at = min(m.start() for m in later)
        return results_text[:at] + marked + "\n" + results_text[at:]
    return results_text.rstrip("\n") + "\n\n" + marked


def record(name: str, section: str, results: str = RESULTS, history: str = HISTORY) -> None:
    """Make `section` benchmark `name`'s current table in `results` and append it to `history`."""
    text = RESULTS_HEADER
    if os.path.exists(results):
        with open(results, encoding="utf-8") as f:
            text = f.read()
    with open(results, "w", encoding="utf-8") as f:
        f.write(replace_section(text, name, section))
    new_history = not os.path.exists(history)
    with open(history, "a", encoding="utf-8") as f:
        if new_history:
            f.write(HISTORY_HEADER)
        f.write("\n" + section.strip() + "\n")
