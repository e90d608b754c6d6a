"""`winnow index merge`: fold the dedup index of a new curate into the index of the runs before it.

A curate that runs `dedup_exact` or `dedup_minhash` leaves `OUT/index/<stage>/` (filters/dedup_index.py); a
later curate lists earlier indexes in `against`. Listing every earlier run works (each adds one footer read per
partition a key touches); merging keeps one index to list. The merge is the union of the rows, written one
output partition at a time (it reads the input row groups of that partition's bucket range only, so memory
holds one partition), with the parameters of the inputs (which must agree) and a new index.json whose
`sources` name the inputs. Where the inputs differ in partitions, the output takes the largest (or
`--partitions`). MinHash shingle-hash sets are merged only when every input has them: one line on stderr names
the inputs without them (a run with `verify_threshold: null`), since a verifying curate refuses the result.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, List

from apache_beam.io.filesystems import FileSystems

from filters.dedup_index import (DESCRIPTION, HOLDS, INDEX_DIR, load_description, load_sets, merge_indexes,
                                 read_description, stage_index_dir)
from schemas.arguments import positive_int
from schemas.errors import WinnowError
from schemas.progress import Progress


def _stages_of(directory: str) -> List[str]:
    found = []
    for stage in HOLDS:
        try:
            stage_dir = stage_index_dir(directory, stage)
        except ValueError:  # holds none; a damaged one is refused here, not taken for none
            continue
        if read_description(FileSystems.join(stage_dir, DESCRIPTION)).get("stage") != stage:
            continue  # DIR is itself another stage's index
        load_description(directory, stage)
        found.append(stage)
    return found


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("indexes", nargs="+", metavar="DIR",
                        help="curate outputs or their index/ directories (every row of each is kept; a key several "
                             "hold leads a later lookup to the smallest of their kept ids)")
    parser.add_argument("--output", "-o", required=True,
                        help="directory for the merged index, without one of its own (to add to a merged index, "
                             "list it among the DIRs): it gets index/<stage>/, so a later curate lists it in "
                             "`against` as it would a curate output (local or gs://)")
    parser.add_argument("--stage", choices=sorted(HOLDS), default=None,
                        help="merge only this stage's index (default: every stage all DIRs hold)")
    parser.add_argument("--partitions", type=positive_int, default=None,
                        help="partitions of the merged index (default: the most any input has)")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow index merge")).parse_args(args)
    held = {d: _stages_of(d) for d in args.indexes}
    stages = [args.stage] if args.stage else [s for s in HOLDS if all(s in held[d] for d in args.indexes)]
    for stage in ([] if args.stage else [s for s in HOLDS if s not in stages and any(s in h for h in held.values())]):
        having = [d for d in args.indexes if stage in held[d]]  # merged without it, the index would be lost unseen
        print(f"index merge: {stage} is not merged: only {', '.join(having)} of the DIRs hold it; merge it alone "
              f"with --stage {stage} and the DIRs that hold it", file=sys.stderr)
    if not stages:
        raise ValueError(f"no dedup stage has an index in every one of {args.indexes}: give curate outputs that ran "
                         f"dedup_exact or dedup_minhash (or their index/ directories), or choose --stage")
    for stage in stages:  # refused before anything is written
        if stage in _stages_of(args.output):
            raise WinnowError(f"already holds a {stage} index, which the merge would replace, not add to",
                              path=args.output, fix="list it among the DIRs to merge and write to a new --output")
    written: List[str] = []
    for stage in stages:
        without = [d for d in args.indexes if load_sets(load_description(d, stage)[0]) is None]
        if 0 < len(without) < len(args.indexes):  # the sets are merged only when every DIR has them
            print(f"index merge: {stage}: the shingle-hash sets are not merged: none in {', '.join(without)} (built "
                  f"with verify_threshold: null); a curate against the merged index needs verify_threshold: null, "
                  f"or merge only indexes built with verification", file=sys.stderr)
        out = FileSystems.join(args.output, INDEX_DIR, stage)
        written.append(out)
        try:
            with Progress(f"index merge {stage}", ("partitions", "rows"), unit="partitions") as progress:
                desc = merge_indexes(args.indexes, out, stage, args.partitions, progress)
        except BaseException:  # a damaged input part: no half-written index that a retry or an `against` would
            for path in written:  # meet (this run's other stages too: the retry would be refused for them)
                if FileSystems.exists(path):
                    FileSystems.delete([path])
            raise
        print(f"{stage}: {desc['documents']} documents, {desc['rows']} rows in {len(desc['files'])} files "
              f"({desc['partitions']} partitions) -> {out}")
    return 0
