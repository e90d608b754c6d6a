"""Benchmarks: `python -m benchmarks [NAME...]` (or `bash dev.sh bench`) runs them and appends each table to
benchmarks/RESULTS.md with the date, machine and command. Each benchmark compares side by side, in one run,
against the peer it names, and reports ratios with min and median over repeats (these machines are noisy).
"""
