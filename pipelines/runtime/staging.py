"""Output directories that are replaced only when a job has finished, and never hold its inputs.

`winnow curate -o OUT` writes into a fresh `OUT/.winnow-staging-<run>` and, once the job and its report are
done, moves what it wrote into OUT (`publish`): first the old report.json goes (a directory without it is not a
finished curate output), then the new files replace the old ones of the same tables, then the previous run's
part files that the new run did not rewrite are deleted, and report.json comes last. A job that fails or is
interrupted leaves the previous outputs as they were; its staging directory is deleted on failure, and a
staging directory left by a killed process (with Beam's `beam-temp-*` directories in it) is deleted at the
start of the next run for that output, as are `beam-temp-*` directories that runs before staging existed
left in OUT's tables.

Ours, in OUT: the tables' part files (`<table>/part-NNNNN-of-NNNNN.parquet`), report.json, recipe.yaml, the
dedup index (`index/<stage>/part-*.parquet` and `index.json`: published with the tables; a previous run's
index of a stage the new run did not write goes with the previous tables' files),
`.winnow-staging-*` and the tables' `beam-temp-*` directories. Anything else the user put in OUT survives
(with a warning when it sits in a table directory, where readers of the documents would take it for ours).

`winnow tokenize -o OUT` and `winnow export -o OUT` go the same way, their files being the shards
(`shard-NNNNN-of-NNNNN.*`, `owned_names`), MDS's index.json, the errors table and manifest.json (last).

Every operation goes through Beam FileSystems, so a gs:// output works as a local one: on object stores a
"directory" is the set of objects under a prefix.
"""
from __future__ import annotations

import logging
import os
import posixpath
import re
import time
import uuid
from typing import Iterable, List, Optional, Sequence

from apache_beam.io.filesystems import FileSystems

from pipelines.runtime.files import BEAM_TEMP_PREFIX, delete_tree
from pipelines.runtime.files import ensure_dir as _ensure_dir, files_under as _files_under
from schemas.io import GLOB_CHARS

log = logging.getLogger(__name__)

STAGING_PREFIX = ".winnow-staging-"
PART_FILE = re.compile(r"part-(?:\d+-)?\d+-of-\d+\.parquet")  # part-<phase>-... when several phases write a table
OWNED_TREE_FILES = ("index.json",)  # besides part files, what an owned tree (OUT/index/) holds of ours


def is_uri(path: str) -> bool:
    return FileSystems.get_scheme(path) is not None


def resolved(path: str) -> str:
    """`path` absolute, with `..` and symlinks resolved (a URI: normalised, never touched through os)."""
    if is_uri(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.normpath(rest) if rest else rest}".rstrip("/")
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def is_inside(path: str, directory: str) -> bool:
    path, directory = resolved(path), resolved(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def fixed_part(spec: str) -> str:
    """The directory a SPEC's glob starts from (the spec itself when it has no glob), prefixes removed."""
    for prefix in ("code:", "warc:"):
        if spec.startswith(prefix):
            spec = spec[len(prefix):]
    first = min((spec.index(c) for c in GLOB_CHARS if c in spec), default=None)
    if first is None:
        return spec
    head = spec[:first]
    cut = head.rfind("/")
    return head[:cut] if cut > 0 else ("/" if cut == 0 else ".")


def refuse_inputs_inside_output(specs: Iterable[str], output_dir: str, what: str = "input") -> None:
    """ValueError (one line) when an input is OUT or lies under it: the run replaces what it wrote in OUT, and a
    glob over OUT would read the run's own outputs."""
    for spec in specs:
        path = fixed_part(spec)
        if is_uri(path) != is_uri(output_dir):
            continue
        if is_inside(path, output_dir):
            raise ValueError(f"{what} {spec!r} is inside the output directory {output_dir!r} ({resolved(output_dir)}); "
                             f"the run replaces its outputs there: write to another --output, or move the input out")


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def children(directory: str, prefix: str = "") -> List[str]:
    """Paths of the entries of `directory` whose names start with `prefix` (directories included)."""
    if not is_uri(directory):
        try:  # a local directory can be empty, which a listing of files would not show
            return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.startswith(prefix))
        except OSError:
            return []
    base = directory.rstrip("/") + "/"
    names = {p[len(base):].split("/", 1)[0] for p in _files_under(directory) if p.startswith(base)}
    return sorted(_join(directory, n) for n in names if n.startswith(prefix))


def _dirname(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0]


class StagedOutput:
    """A job's output directory, written under `staging` and moved into `output_dir` by `publish()`.

    `tables` are the subdirectories whose part files are ours; `last` the file that marks a finished output
    (moved last, deleted first)."""

    def __init__(self, output_dir: str, tables: Sequence[str], last: str, owned_files: Sequence[str] = (),
                 owned_trees: Sequence[str] = (), owned_names: Optional["re.Pattern"] = None):
        self.output_dir = output_dir
        self.tables = tuple(tables)
        self.owned_trees = tuple(owned_trees)
        self.owned_names = owned_names  # files directly in the output directory whose names match are ours
        self.last = last
        self.owned_files = tuple(owned_files) + (last,)
        run = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.staging = _join(output_dir, STAGING_PREFIX + run)

    def prepare(self) -> None:
        """Delete what killed runs left (stale staging directories, Beam temp directories in the tables) and
        warn about files in the tables that are not ours."""
        stale = children(self.output_dir, STAGING_PREFIX)
        for table in self.tables:
            stale += children(_join(self.output_dir, table), BEAM_TEMP_PREFIX)
        for path in stale:
            log.warning("deleting %s, left by an earlier run that did not finish", path)
            delete_tree(path)
        for table in self.tables:
            foreign = [p for p in self._table_files(table) if not PART_FILE.fullmatch(posixpath.basename(p))]
            if foreign:
                log.warning("%s holds %d file(s) curate did not write (%s%s); they are left in place, and readers of "
                            "%s will take them for curate's", _join(self.output_dir, table), len(foreign),
                            posixpath.basename(foreign[0]), ", ..." if len(foreign) > 1 else "", table)

    def _table_files(self, table: str) -> List[str]:
        directory = _join(self.output_dir, table)
        base = directory.rstrip("/") + "/"
        return [p for p in _files_under(directory) if "/" not in p[len(base):]]

    def _ours(self) -> List[str]:
        found = [p for t in self.tables for p in self._table_files(t) if PART_FILE.fullmatch(posixpath.basename(p))]
        found += [p for p in (_join(self.output_dir, n) for n in self.owned_files) if FileSystems.exists(p)]
        if self.owned_names is not None:  # e.g. tokenize's shard-NNNNN-of-NNNNN.* files
            found += [p for p in children(self.output_dir, "") if self.owned_names.fullmatch(posixpath.basename(p))]
        for tree in self.owned_trees:  # the dedup index: part files and index.json of each stage
            found += [p for p in _files_under(_join(self.output_dir, tree))
                      if PART_FILE.fullmatch(posixpath.basename(p)) or posixpath.basename(p) in OWNED_TREE_FILES]
        return found

    def publish(self) -> None:
        """Move the staged files into the output directory, replacing the previous run's; delete the staging."""
        base = self.staging.rstrip("/") + "/"
        staged = [p for p in _files_under(self.staging)
                  if not any(part.startswith(BEAM_TEMP_PREFIX) for part in p[len(base):].split("/"))]
        targets = {p: _join(self.output_dir, *p[len(base):].split("/")) for p in staged}
        previous = self._ours()
        old_last = _join(self.output_dir, self.last)
        if old_last in previous:
            FileSystems.delete([old_last])
        last = [p for p in staged if targets[p] == old_last]
        first = [p for p in staged if targets[p] != old_last]
        for directory in sorted({_dirname(targets[p]) for p in staged}):
            _ensure_dir(directory)
        FileSystems.rename(first, [targets[p] for p in first])
        kept = set(targets.values())
        leftover = [p for p in previous if p not in kept and p != old_last]
        if leftover:
            FileSystems.delete(leftover)
        for table in self.tables:  # a table this run did not write (tokenize's errors/ of a clean run) goes whole
            directory = _join(self.output_dir, table)
            if not is_uri(directory) and os.path.isdir(directory) and not os.listdir(directory):
                os.rmdir(directory)
        FileSystems.rename(last, [targets[p] for p in last])
        delete_tree(self.staging)

    def discard(self) -> None:
        try:
            delete_tree(self.staging)
        except Exception as exc:  # the next run deletes it; the job's own failure is what the user must see
            log.warning("could not delete %s (%s); the next run for %s deletes it", self.staging, exc,
                        self.output_dir)

