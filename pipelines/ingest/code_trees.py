"""Reading source code: a directory, a git repository (the files of its HEAD commit), or a tarball or zip.

Each file is one read outcome (pipelines/ingest/inputs.py): kept with its Linguist language
(pipelines/ingest/codelang.py) and its license (pipelines/ingest/licenses.py), or dropped with a reason:
`vendored` (a whole vendored/generated directory, one outcome per directory), `license_sidecar` (a REUSE
`foo.json.license` file, which holds foo.json's license), `lock_file`, `minified`, `generated` (a generator's
marker in the head), `extension` (no known language), `binary` (NUL bytes or not UTF-8), `symlink`,
`not_a_file`; or, over the per-file cap, `too_large` with a rejected row of stage `read` (its
id, path and size; never read). A file's id is `code:<tree name>/<relative path>`. A name that is not UTF-8
(a file named b'\\xe9t\\xe9.py' on disk, in a git tree or in a tarball) is read like any other, its undecodable
bytes written `\\xNN` in its id, metadata path and input_path (`code:proj/\\xe9t\\xe9.py`), which stay the same
from run to run.

A directory is listed (`list_code_tree`) into one `InputFile` per file, so that a big tree spreads over
workers; a git repository's files are read from its object store at HEAD. A code tree whose `.git` points at
another repository (a `gitdir:` file, a link, alternates) is read as a plain directory. Tarballs and zips are
streamed member by member with a per-member and a per-archive cap on decompressed bytes; a broken member is an
error row pointing at it (`ARCHIVE!member`, header offset) and the intact ones are all read.

A file's license is, in order: a REUSE.toml annotation of precedence "override" that covers it; what the file
states itself, in its `.license` sidecar (`foo.json.license`) or else in its `SPDX-License-Identifier` header
(joined with AND to an "aggregate" annotation's, as a `.reuse/dep5` paragraph's); a "closest" annotation's; the
tree's license (its LICENSE file, or its REUSE `LICENSES/` directory); NOASSERTION. The tree's license and its
root REUSE.toml (or `.reuse/dep5`) are read once per tree, when a directory or git repository is listed or before
an archive's members are read, and each file's item carries its rule (licenses.license_rule); a sidecar is read
with its file (an archive's, in the pass before, since a tarball's `foo.json.license` follows `foo.json`).
"""
from __future__ import annotations

import atexit
import logging
import os
import posixpath
import re
import stat
import struct
import subprocess
import tarfile
import threading
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from filters.deadline import deadline
from pipelines.ingest.codelang import language_of
from pipelines.ingest.inputs import (CODE_FILE, READ_STAGE, SOURCE_CODE, TARBALL_EXTENSIONS, InputFile, Outcome,
                                     basename)
from pipelines.ingest.licenses import (REUSE_CONFIG_MAX_BYTES, REUSE_DEP5, REUSE_DIR, REUSE_MAX_FILES, REUSE_TOML,
                                       SIDECAR_MAX_BYTES, SIDECAR_SUFFIX, AnnotationMatcher, TreeAnnotations, file_license,
                                       find_license_file, is_sidecar, parse_dep5, parse_reuse_toml, sidecar_spdx,
                                       spdx_header, tree_spdx)
from pipelines.ingest.records import (BODY, CODE_METADATA, CONTENT_TYPE, HTTP_STATUS, RECORD_POSITION, RECORD_TYPE,
                                     TRUNCATED, WARC_DATE, lost_record)
from schemas import CODE_LANGUAGE, ID, INPUT_OFFSET, INPUT_PATH, SOURCE, TEXT, URL, to_error_row

log = logging.getLogger(__name__)

# Directories that hold no authored source (VCS state, caches, virtualenvs): never listed.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", "venv", ".mypy_cache",
                       ".pytest_cache", ".idea", ".gradle"})
# Vendored, installed or built code: dropped as `vendored` (The Stack and StarCoder drop these too).
VENDORED_DIRS = frozenset({"node_modules", "vendor", "vendors", "third_party", "third-party", "thirdparty",
                           "external", "bower_components", "dist", "build", "site-packages", "Pods",
                           "Carthage", "jspm_packages", ".yarn", "target", "out", "_build", "deps"})
LOCK_FILES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock",
                        "Gemfile.lock", "composer.lock", "go.sum", "Pipfile.lock", "uv.lock", "pdm.lock",
                        "mix.lock", "flake.lock", "packages.lock.json", "npm-shrinkwrap.json", "bun.lockb"})
MINIFIED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".bundle.js", ".pack.js", "-min.js")
MINIFIED_MEAN_LINE = 500   # bytes per line above which a .js/.css file is a bundle (authored code is ~40)
# "DO NOT EDIT" in capitals only: in any case it also matched authored comments ("do not edit this line by hand")
GENERATED_MARKER = re.compile(rb"@generated\b|(?-i:DO NOT EDIT)|Code generated by|Autogenerated by|"
                              rb"automatically generated by|This file was generated by", re.I)
# The Stack v1 drops files above ~1 MB (mostly generated or data); we cap lower than a web page cap.
MAX_CODE_BYTES = 1 << 20

# Decompressed bytes read from one tarball or zip. An archive is read by one worker in one call and the
# runner holds what it yields several times over (measured: 256 MiB of text read from a zip peaked at 2.1 GB
# in a curate run), so without a cap a 4 MB zip of 1,500 compressible 1 MiB files peaked at 6.3 GB. Most
# source trees are far below 64 MiB of text; a larger one is read file by file as a directory (code:DIR),
# which spreads over workers.
MAX_ARCHIVE_BYTES = 64 << 20
# A tarball is one compressed stream: members that are skipped (vendored directories, payloads over the file cap)
# are still inflated on the way past them, without being held. That walk has its own, larger cap: counted against
# the 64 MiB above, 70 MB of node_modules/ before src/ ended the read there and every file of src/ was lost.
MAX_ARCHIVE_STREAM_BYTES = 1 << 30
# Members of one archive. Empty members cost nothing against the byte caps, yet each is held (a zip's directory
# entry, a tarball's header that tarfile keeps, the outcome the runner holds): a zip of 300,000 empty files
# peaked at 525 MB in curate, growing linearly. A zip past the cap is refused before its directory is read; a
# tarball is read up to it. A larger tree is read as a directory (code:DIR).
MAX_ARCHIVE_MEMBERS = 100_000
LICENSE_MAX_BYTES = 200_000   # a license text is a few KB; more is not a license file


def _tree_name(path: str) -> str:
    name = basename(path)
    for ext in TARBALL_EXTENSIONS + (".zip",):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def _utf8_name(name: str) -> str:
    """A file name as valid UTF-8 text, for ids and pointers: the bytes of a name that is not UTF-8 (which
    os.listdir, git's output and tarfile decode as lone surrogates, `surrogateescape`) are written `\\xNN`.
    The raw name still opens the file; this one is only shown. A name that is literally `\\xe9` gives the
    same id as the byte; the read stage renames a repeated id."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


UTF8_BOM = b"\xef\xbb\xbf"


def _is_lock_file(rel: str) -> bool:
    name = posixpath.basename(rel)
    return name in LOCK_FILES or name.lower().endswith(".lock")


def _skip_reason(rel: str, data: bytes) -> Optional[str]:
    """Why a file of a code tree is not authored source, from its path and first bytes; None to keep."""
    name = posixpath.basename(rel)
    lower = name.lower()
    if lower.endswith(MINIFIED_SUFFIXES):
        return "minified"
    head = data[:8192]
    if b"\x00" in data:  # anywhere: a NUL past the head was kept in the text
        return "binary"
    if lower.endswith((".js", ".css", ".mjs", ".cjs")) and data:
        lines = data.count(b"\n") + 1
        if len(data) / lines > MINIFIED_MEAN_LINE:
            return "minified"
    if GENERATED_MARKER.search(head[:2048]):
        return "generated"
    return None


def _too_large(tree: str, rel: str, path: str, offset: Optional[int], size: Optional[int], max_bytes: int) -> Outcome:
    """A code file over the per-file cap: a rejected row of stage `read` (records.lost_record), never read."""
    detail = {"cap_bytes": str(max_bytes)}
    if size is not None:
        detail["bytes"] = str(size)
    return lost_record(f"code:{tree}/{rel.replace(os.sep, '/')}", SOURCE_CODE, "too_large", path, offset,
                       detail=detail)


# What a file's `.license` sidecar says: (whether the file has one, the license it states).
Sidecar = Tuple[bool, Optional[str]]
_NO_SIDECAR: Sidecar = (False, None)


def _code_outcome(data: bytes, tree: str, rel: str, path: str, license_id: Optional[str],
                  offset: Optional[int] = None, sidecar: Optional[Callable[[], Sidecar]] = None) -> Outcome:
    """The outcome of one file of a code tree. `license_id` is the tree's license rule for the file
    (licenses.license_rule: the tree's license, or what its REUSE.toml says of the file), `sidecar` looks up its
    `.license` sidecar (called only for a file that is kept)."""
    rel = rel.replace(os.sep, "/")
    if is_sidecar(rel):  # a REUSE `.license` file: another file's licensing information, no code of its own
        return ("dropped", "license_sidecar")
    if _is_lock_file(rel):  # before the language: most lock files (yarn.lock, go.sum) have none
        return ("dropped", "lock_file")
    if data.startswith(UTF8_BOM):  # an editor's encoding mark, not text (it also hid a shebang)
        data = data[len(UTF8_BOM):]
    language = language_of(rel, data[:8192])
    if language is None:
        return ("dropped", "extension")
    reason = _skip_reason(rel, data)
    if reason:
        return ("dropped", reason)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ("dropped", "binary")
    if language == NOTEBOOK:
        text = notebook_script(text) or text
    found, stated = sidecar() if sidecar is not None else _NO_SIDECAR
    own = stated if found else spdx_header(text)  # a sidecar's statement is the file's, its header ignored
    return ("kept", {ID: f"code:{tree}/{rel}", SOURCE: SOURCE_CODE, URL: None, INPUT_PATH: path,
                     INPUT_OFFSET: offset, RECORD_TYPE: None, CONTENT_TYPE: None, HTTP_STATUS: None, BODY: None,
                     TEXT: text, CODE_LANGUAGE: language, WARC_DATE: None, RECORD_POSITION: None, TRUNCATED: None,
                     CODE_METADATA: {"repo": tree, "path": rel, "language": language,
                                     "license": file_license(license_id, own)}})


NOTEBOOK = "Jupyter Notebook"
# Line comments of a notebook's kernel language, for its markdown cells (`#` for the rest: Python, R, Julia, ...).
_NOTEBOOK_COMMENTS = {"javascript": "//", "typescript": "//", "java": "//", "scala": "//", "kotlin": "//",
                      "c++": "//", "c#": "//", "csharp": "//", "go": "//", "rust": "//", "swift": "//",
                      "sql": "--", "haskell": "--", "lua": "--", "matlab": "%", "octave": "%"}


def notebook_script(text: str) -> Optional[str]:
    """A Jupyter notebook (nbformat 3 or 4) as the script it holds: code cells as they are, markdown and raw
    cells as line comments of the kernel's language, outputs left out, cells apart by a blank line; None when
    the text is not such a notebook (it is then kept as it is). Kept as raw JSON, one embedded plot (a base64
    line of kilobytes) made the code rules drop the whole notebook, and the code was buried in JSON quoting."""
    import json

    try:
        nb = json.loads(text)
        meta = nb.get("metadata") or {}
        language = str((meta.get("kernelspec") or {}).get("language") or (meta.get("language_info") or {})
                       .get("name") or "python").lower()
        cells = nb["cells"] if "cells" in nb else nb["worksheets"][0]["cells"]
        comment = _NOTEBOOK_COMMENTS.get(language, "#")
        parts = []
        for cell in cells:
            source = cell.get("source", cell.get("input", ""))
            source = "".join(source) if isinstance(source, list) else str(source)
            if not source.strip():
                continue
            if cell.get("cell_type") == "code":
                parts.append(source.rstrip())
            else:
                parts.append("\n".join(f"{comment} {line}".rstrip() for line in source.rstrip().splitlines()))
        return "\n\n".join(parts) + "\n" if parts else None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def _links_out_of(root: str, path: str) -> bool:
    """Whether `path` leads outside the tree `root`, through a link of its own or of a directory on its way
    (never read: it could be any file)."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) != real_root


def _regular_file_inside(root: str, name: str) -> bool:
    """Whether ROOT/NAME is a regular file (through a link only to one inside the tree), as `read_code_file`
    reads files: a LICENSE that is a directory, a FIFO (whose open blocks) or a link out of the tree is not."""
    path = os.path.join(root, name)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
    except (OSError, ValueError):
        return False
    return not _links_out_of(root, path)


def _reuse_names(root: str) -> List[str]:
    """Names of the regular files in a REUSE project's ROOT/LICENSES directory (the first REUSE_MAX_FILES listed;
    none when it is not a directory of the tree's own)."""
    path = os.path.join(root, REUSE_DIR)
    names: List[str] = []
    if not os.path.isdir(path) or _links_out_of(root, path):
        return names
    try:
        with os.scandir(path) as it:
            for entry in it:
                if len(names) >= REUSE_MAX_FILES:
                    break
                names.append(entry.name)
    except OSError as exc:
        log.warning("code tree %s: cannot list %s (%s)", root, path, exc)
    return [n for n in names if _regular_file_inside(root, os.path.join(REUSE_DIR, n))]


def tree_license(root: str, names: Optional[Sequence[str]] = None) -> Optional[str]:
    """SPDX id of a directory tree's top-level license file, or without one of its REUSE `LICENSES/` directory
    (None when it has neither, or they cannot be read: a warning, never a failed listing)."""
    try:
        names = names if names is not None else os.listdir(root)
    except OSError:
        return None
    texts = {}
    for name in sorted(n for n in names if find_license_file([n]) and _regular_file_inside(root, n)):
        try:
            with open(os.path.join(root, name), "rb") as fh:
                texts[name] = fh.read(LICENSE_MAX_BYTES).decode("utf-8", "replace")
        except OSError as exc:
            log.warning("code tree %s: cannot read its license file %s (%s)", root, name, exc)
    return tree_spdx(texts, _reuse_names(root) if not texts and REUSE_DIR in names else ())


def _reuse_annotations(where: str, configs: Dict[str, Optional[bytes]], directory: str = "") -> AnnotationMatcher:
    """The annotations of a tree from its root REUSE.toml, or without one its `.reuse/dep5` (`configs`: those of
    the two the tree has, each as its first REUSE_CONFIG_MAX_BYTES + 1 bytes, or None where it is known to be
    larger and was not read); with `directory`, those of the REUSE.toml of that directory of the tree. One that
    is too large or does not parse is ignored with one warning: the files it covers are then under their own
    license or what the REUSE.toml files above them say, as without it. REUSE forbids both at once; REUSE.toml
    is then the one read."""
    if REUSE_TOML in configs and REUSE_DEP5 in configs:
        log.warning("code tree %s: it has both %s and %s, which REUSE forbids together; %s is not read", where,
                    REUSE_TOML, REUSE_DEP5, REUSE_DEP5)
    name, parse = (REUSE_TOML, parse_reuse_toml) if REUSE_TOML in configs else (REUSE_DEP5, parse_dep5)
    if name not in configs:
        return AnnotationMatcher(())
    data = configs[name]
    name = f"{directory}/{name}" if directory else name
    try:
        if data is None or len(data) > REUSE_CONFIG_MAX_BYTES:
            raise ValueError(f"larger than {REUSE_CONFIG_MAX_BYTES} bytes")
        return AnnotationMatcher(parse(data.decode("utf-8-sig")))
    except (ValueError, TypeError, RecursionError) as exc:  # ReuseConfigError, UnicodeDecodeError; a deep nesting
        log.warning("code tree %s: %s is ignored (%s); its files are under their own license or the tree's",
                    where, name, str(exc)[:500])
        return AnnotationMatcher(())


# REUSE.toml files below a tree's root that are read, at most (a project has a handful; each may be 1 MiB, and a
# repository's or an archive's are held until the listing is made).
REUSE_MAX_NESTED = 100


class _NestedTomls:
    """The REUSE.toml files below a tree's root, added to its TreeAnnotations as they are found, up to
    REUSE_MAX_NESTED of them (one warning names the first left out: its files keep what the files above say)."""

    def __init__(self, where: str, annotations: TreeAnnotations):
        self.where, self.annotations, self.count = where, annotations, 0

    def full(self, rel: str) -> bool:
        """Whether the REUSE.toml at `rel` is one too many (counted; the first such is named in a warning)."""
        self.count += 1
        if self.count == REUSE_MAX_NESTED + 1:
            log.warning("code tree %s: more than %d REUSE.toml files below its root; %s and those after it are not "
                        "read", self.where, REUSE_MAX_NESTED, rel)
        return self.count > REUSE_MAX_NESTED

    def add(self, rel: str, data: Optional[bytes]) -> None:
        """`rel`: the REUSE.toml's path in the tree; `data` as `_reuse_annotations` takes it."""
        directory = rel[:-len(REUSE_TOML) - 1]
        self.annotations.add(directory, _reuse_annotations(self.where, {REUSE_TOML: data}, directory))


def _read_tree_file(root: str, path: str, cap: int) -> Optional[bytes]:
    """The first `cap` + 1 bytes of PATH, a regular file of the tree ROOT (`_regular_file_inside`); None when it is
    none (the usual answer for a sidecar), or cannot be read (a warning)."""
    if not _regular_file_inside(root, os.path.relpath(path, root)):
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read(cap + 1)
    except OSError as exc:
        log.warning("code tree %s: cannot read %s (%s)", root, path, exc)
        return None


def _dir_annotations(root: str) -> AnnotationMatcher:
    """The annotations of a directory tree's root REUSE.toml (or `.reuse/dep5`); the walk adds those below."""
    configs: Dict[str, Optional[bytes]] = {}
    for name in (REUSE_TOML, REUSE_DEP5):
        data = _read_tree_file(root, os.path.join(root, name), REUSE_CONFIG_MAX_BYTES)
        if data is not None:
            configs[name] = data
    return _reuse_annotations(root, configs) if configs else AnnotationMatcher(())


def _dir_sidecar(root: str, path: str) -> Sidecar:
    """The `.license` sidecar of the file PATH of a directory tree (one over SIDECAR_MAX_BYTES is not read)."""
    data = _read_tree_file(root, path + SIDECAR_SUFFIX, SIDECAR_MAX_BYTES)
    if data is None or len(data) > SIDECAR_MAX_BYTES:
        return _NO_SIDECAR
    return True, sidecar_spdx(data.decode("utf-8", "replace"))


@dataclass(frozen=True)
class GitEntry:
    path: str           # relative to the repository root, '/'-separated
    mode: str           # 100644, 100755, 120000 (symlink), 160000 (submodule)
    object: str
    size: Optional[int]


def _git_env(root: str) -> Dict[str, str]:
    """git pinned to ROOT/.git: no GIT_* variable of ours (GIT_DIR, GIT_OBJECT_DIRECTORY, alternates) may
    send it to another repository, and it never searches the parent directories."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_DIR=os.path.join(root, ".git"), GIT_WORK_TREE=root, GIT_CEILING_DIRECTORIES=os.path.dirname(root))
    return env


GIT_SECONDS = 300  # one git call (a listing, a blob) that takes longer is killed


def _git(root: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", root, *args], check=True, capture_output=True, timeout=GIT_SECONDS,
                          env=_git_env(root)).stdout


class _BlobReader:
    """Blobs of a repository read through one `git cat-file --batch` process per repository and worker process,
    kept open between files. One `git cat-file blob` per file cost a process start each: 2,000 files took 6.4 s,
    against 0.1 s for the same tree read as a directory. A read that fails, or takes over GIT_SECONDS (the
    process is then killed), closes that repository's process: the next read starts a fresh one."""

    def __init__(self):
        self._procs: Dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()  # one bundle thread at a time talks to a process
        atexit.register(self.close_all)

    def _process(self, root: str) -> subprocess.Popen:
        proc = self._procs.get(root)
        if proc is None or proc.poll() is not None:
            proc = subprocess.Popen(["git", "-C", root, "cat-file", "--batch"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_git_env(root))
            self._procs[root] = proc
        return proc

    def read(self, root: str, obj: str) -> bytes:
        with self._lock:
            proc = self._process(root)
            try:
                with deadline(GIT_SECONDS, on_expiry=proc.kill) as limit:
                    proc.stdin.write(obj.encode("ascii") + b"\n")
                    proc.stdin.flush()
                    header = proc.stdout.readline().split()
                    if len(header) == 2 and header[1] == b"missing":
                        raise LookupError(f"git object {obj} is missing from the repository (a partial or damaged "
                                          f"clone?)")
                    if len(header) != 3 or header[1] != b"blob":
                        raise RuntimeError(f"git cat-file --batch answered {b' '.join(header)[:200]!r} for {obj}")
                    size = int(header[2])
                    data = proc.stdout.read(size)
                    proc.stdout.read(1)  # the line feed after the content
                if limit.expired or len(data) != size:
                    raise TimeoutError(f"git cat-file took over {GIT_SECONDS}s" if limit.expired else
                                       f"git cat-file ended after {len(data)} of {size} bytes")
                return data
            except LookupError:  # a missing object: one answer line, the stream is where it should be
                raise
            except BaseException:
                self._close(root)  # the stream is at an unknown place now
                raise

    def _close(self, root: str) -> None:
        proc = self._procs.pop(root, None)
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close_all(self) -> None:
        for root in list(self._procs):
            self._close(root)


_BLOBS = _BlobReader()


def foreign_git_dir(root: str) -> Optional[str]:
    """Why ROOT/.git would make git read outside the tree (None when it is the tree's own repository): a
    `.git` file (`gitdir: /elsewhere/.git`, as worktrees and submodules write), a `.git` link, or a git
    directory that borrows objects or refs from another one (`commondir`, `objects/info/alternates`)."""
    git_dir = os.path.join(root, ".git")
    if os.path.islink(git_dir):
        return f".git is a link to {os.readlink(git_dir)}"
    if not os.path.isdir(git_dir):
        return ".git is a file (a gitdir pointer to another repository)"
    for pointer in ("commondir", os.path.join("objects", "info", "alternates")):
        if os.path.exists(os.path.join(git_dir, pointer)):
            return f".git/{pointer} points at another repository"
    return None


def _git_files(root: str) -> Optional[List[GitEntry]]:
    """Files of a git repository's HEAD commit (`git ls-tree -r --long HEAD`), sorted; None when `root` is not
    a repository of its own or has no commit (then the directory is walked, with a warning)."""
    if not os.path.lexists(os.path.join(root, ".git")):
        return None
    foreign = foreign_git_dir(root)
    if foreign:
        log.warning("code tree %s: %s; reading the working tree as a plain directory, never the other "
                    "repository", root, foreign)
        return None
    try:
        out = _git(root, "ls-tree", "-r", "-z", "--long", "--full-tree", "HEAD")
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        log.warning("code tree %s: cannot list HEAD (%s%s); walking the directory instead", root, exc,
                    ": " + err.decode("utf-8", "replace").strip() if err else "")
        return None
    entries = []
    for line in out.decode("utf-8", "surrogateescape").split("\0"):
        if not line:
            continue
        meta, rel = line.split("\t", 1)
        mode, _type, obj, size = meta.split()
        entries.append(GitEntry(rel, mode, obj, int(size) if size.isdigit() else None))
    return sorted(entries, key=lambda e: e.path)


def _git_license(root: str, entries: Sequence[GitEntry]) -> Optional[str]:
    """SPDX id of the top-level license file at HEAD, or without one of the files in its REUSE `LICENSES/`."""
    texts, reuse = {}, []
    for entry in entries:
        if (entry.path.startswith(REUSE_DIR + "/") and entry.path.count("/") == 1 and entry.mode.startswith("100")
                and len(reuse) < REUSE_MAX_FILES):
            reuse.append(entry.path[len(REUSE_DIR) + 1:])
        if ("/" in entry.path or not entry.mode.startswith("100") or not find_license_file([entry.path])
                or (entry.size or 0) > LICENSE_MAX_BYTES):
            continue
        try:
            texts[entry.path] = _BLOBS.read(root, entry.object).decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError, LookupError, RuntimeError) as exc:  # a missing blob
            log.warning("code tree %s: cannot read %s at HEAD (%s)", root, entry.path, exc)
    return tree_spdx(texts, reuse)


def _git_config(root: str, entry: GitEntry) -> Tuple[bool, Optional[bytes]]:
    """(read, data) of a REUSE.toml or dep5 at HEAD: data None when it is larger than REUSE_CONFIG_MAX_BYTES (not
    read: `_reuse_annotations` says so); read False when its blob is missing (a warning)."""
    if (entry.size or 0) > REUSE_CONFIG_MAX_BYTES:
        return True, None
    try:
        return True, _BLOBS.read(root, entry.object)
    except (OSError, subprocess.SubprocessError, LookupError, RuntimeError) as exc:  # a missing blob
        log.warning("code tree %s: cannot read %s at HEAD (%s)", root, entry.path, exc)
        return False, None


def _git_annotations(root: str, entries: Sequence[GitEntry]) -> TreeAnnotations:
    """The annotations of the REUSE.toml files (or the root `.reuse/dep5`) at HEAD, read once for the whole
    repository."""
    configs: Dict[str, Optional[bytes]] = {}
    nested: List[GitEntry] = []
    for entry in entries:
        if not entry.mode.startswith("100"):
            continue
        if entry.path.endswith("/" + REUSE_TOML):
            nested.append(entry)
        elif entry.path in (REUSE_TOML, REUSE_DEP5):
            read, data = _git_config(root, entry)
            if read:
                configs[entry.path] = data
    annotations = TreeAnnotations(_reuse_annotations(root, configs) if configs else None)
    tomls = _NestedTomls(root, annotations)
    for entry in nested:
        if tomls.full(entry.path):
            break
        read, data = _git_config(root, entry)
        if read:
            tomls.add(entry.path, data)
    return annotations


def _git_sidecar(root: str, obj: str) -> Sidecar:
    try:
        return True, sidecar_spdx(_BLOBS.read(root, obj).decode("utf-8", "replace"))
    except (OSError, subprocess.SubprocessError, LookupError, RuntimeError) as exc:  # a missing blob
        log.warning("code tree %s: cannot read the .license sidecar %s at HEAD (%s)", root, obj, exc)
        return _NO_SIDECAR


def list_code_tree(root: str) -> Iterator[InputFile]:
    """Every file of a tree as CODE_FILE items (a git repository: the files of its HEAD commit, read from the
    object store, so uncommitted edits and untracked files are not read), and one item per vendored directory
    (dropped whole). Never descends into symlinked or VCS/cache directories. Sorted. Each file's item carries its
    license rule (licenses.license_rule: the tree's license, or what the tree's REUSE.toml says of it, read here
    once for the tree); a git file's also names its `.license` sidecar's blob, `<mode>:<blob>:<sidecar blob>`."""
    tracked = _git_files(root)
    if tracked is not None:
        license_id = _git_license(root, tracked)
        annotations = _git_annotations(root, tracked)
        sidecars = {e.path: e.object for e in tracked if is_sidecar(e.path) and e.mode.startswith("100")
                    and (e.size or 0) <= SIDECAR_MAX_BYTES}
        vendored_seen = set()
        for entry in tracked:
            parts = entry.path.split("/")
            hit = next((i for i, part in enumerate(parts[:-1]) if part in VENDORED_DIRS or part in SKIP_DIRS), None)
            if hit is not None:
                top = "/".join(parts[: hit + 1])
                if top not in vendored_seen:
                    vendored_seen.add(top)
                    yield InputFile(CODE_FILE, os.path.join(root, top), root, license_id, git_object="tree")
                continue
            sidecar = sidecars.get(entry.path + SIDECAR_SUFFIX)
            yield InputFile(CODE_FILE, os.path.join(root, entry.path), root, annotations.rule(entry.path, license_id),
                            git_object=f"{entry.mode}:{entry.object}" + (f":{sidecar}" if sidecar else ""),
                            size=entry.size)
        return
    license_id = tree_license(root)
    annotations = TreeAnnotations(_dir_annotations(root))
    tomls = _NestedTomls(root, annotations)
    stack = [root]  # an explicit stack: os.walk recurses (on 3.11), and 1,200 nested directories failed the job
    while stack:
        dirpath = stack.pop()
        try:
            with os.scandir(dirpath) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:  # unreadable, or its path past PATH_MAX: one error row, where its files vanished
            yield InputFile(CODE_FILE, dirpath, root, license_id,
                            problem=f"cannot list directory: {type(exc).__name__}: {exc.strerror or exc}")
            continue
        subdirs, files = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if not is_dir:  # files, and links (a link to a directory is dropped as `symlink`, never followed)
                files.append(entry.path)
            elif entry.name in VENDORED_DIRS:
                yield InputFile(CODE_FILE, entry.path, root, license_id)
            elif entry.name not in SKIP_DIRS:
                subdirs.append(entry.path)
        toml = os.path.join(dirpath, REUSE_TOML)
        if dirpath != root and toml in files:  # read before the files it covers are ruled
            rel = os.path.relpath(toml, root).replace(os.sep, "/")
            if not tomls.full(rel):
                tomls.add(rel, _read_tree_file(root, toml, REUSE_CONFIG_MAX_BYTES))
        for path in files:
            rule = (annotations.rule(os.path.relpath(path, root).replace(os.sep, "/"), license_id)
                    if annotations.annotations else license_id)
            yield InputFile(CODE_FILE, path, root, rule)
        stack.extend(reversed(subdirs))  # depth first, in name order, as os.walk lists a tree


def read_git_file(item: InputFile, max_bytes: int = MAX_CODE_BYTES) -> Iterator[Outcome]:
    """One outcome for one file of a git repository's HEAD (item from list_code_tree)."""
    root = item.root or os.path.dirname(item.path)
    rel = _utf8_name(os.path.relpath(item.path, root))
    tree = _utf8_name(basename(root))
    shown = _utf8_name(item.path)
    try:
        if item.git_object == "tree":
            yield ("dropped", "vendored")
            return
        mode, obj, *sidecar = item.git_object.split(":")
        if mode == "120000":
            yield ("dropped", "symlink")
        elif not mode.startswith("100"):  # a submodule (160000) is a commit, not a file
            yield ("dropped", "not_a_file")
        elif item.size is not None and item.size > max_bytes:
            yield _too_large(tree, rel, shown, None, item.size, max_bytes)
        else:
            yield _code_outcome(_BLOBS.read(root, obj), tree, rel, shown, item.license,
                                sidecar=(lambda: _git_sidecar(root, sidecar[0])) if sidecar else None)
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, doc_id=f"code:{tree}/{rel}",
                                     source=SOURCE_CODE, input_path=shown))


def read_code_file(path: str, root: str, max_bytes: int = MAX_CODE_BYTES,
                   license_id: Optional[str] = None) -> Iterator[Outcome]:
    """One outcome for one file (or vendored directory) of a code tree; `license_id` is the listing's license
    rule for it (`list_code_tree`), and its `.license` sidecar, if it has one, is read with it."""
    rel = _utf8_name(os.path.relpath(path, root))
    tree = _utf8_name(basename(root))
    shown = _utf8_name(path)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            yield ("dropped", "vendored")
            return
        # a link out of the tree, or to a directory (never followed: a loop, or the same files twice)
        if os.path.islink(path) and (_links_out_of(root, path) or os.path.isdir(path)):
            yield ("dropped", "symlink")
            return
        if not os.path.isfile(path):
            yield ("dropped", "not_a_file")
            return
        size = os.path.getsize(path)
        if size > max_bytes:
            yield _too_large(tree, rel, shown, None, size, max_bytes)
            return
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
        yield _code_outcome(data, tree, rel, shown, license_id, sidecar=lambda: _dir_sidecar(root, path))
    except Exception as exc:
        yield ("error", to_error_row(READ_STAGE, exc, doc_id=f"code:{tree}/{rel}",
                                     source=SOURCE_CODE, input_path=shown))


def _member_rel(name: str) -> str:
    """A tarball/zip member's path inside the tree: its name without leading `./` segments, and otherwise as
    written, so that `../x.py` or `/x.py` never becomes the id of `x.py` (a character strip would also eat
    the dot of `.github/`)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _drain(reader, chunk: int = 1 << 20) -> int:
    """Read a member to its end without holding it (a truncated member raises here, at its own pointer)."""
    total = 0
    while True:
        data = reader.read(chunk)
        if not data:
            return total
        total += len(data)


@dataclass
class _Member:
    name: str
    offset: int             # tar: its header's offset in the (uncompressed) tar stream; zip: its local header
    size: Optional[int]     # declared bytes; None for a link, device or other non-file
    open: Any               # () -> a file object of its payload (read it bounded)
    problem: Optional[str] = None  # a defect seen before reading (declared size past the end of the file)
    stream_end: int = 0     # tar: where its payload ends in the uncompressed stream (all of it is inflated)


class _ArchiveEnd(Exception):
    """The rest of a tarball cannot be read (truncation, a damaged header); `offset` is where it stopped."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


ZIP_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


def _zip_members_from_local_headers(path: str, file_size: int) -> Iterator[_Member]:
    """The members of a zip without its central directory (a truncated download), walked from their local
    headers: each gives its name and sizes, so the intact members are read and the walk ends at the damage,
    with _ArchiveEnd saying where. A member whose sizes follow its data (a streamed zip) cannot be skipped
    safely without the directory, so the walk ends there too."""
    with open(path, "rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(ZIP_LOCAL_HEADER.size)
            if head[:4] in (b"PK\x01\x02", b"PK\x05\x06"):  # a directory after all: every member was read
                return
            if len(head) < ZIP_LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise _ArchiveEnd("the zip has no central directory (truncated or damaged) and no member header "
                                  "here; the members before this offset were read from their local headers", offset)
            _sig, _ver, flags, method, _t, _d, crc, csize, usize, name_len, extra_len = ZIP_LOCAL_HEADER.unpack(head)
            name = fh.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
            data_start = offset + ZIP_LOCAL_HEADER.size + name_len + extra_len
            if flags & 0x08 or 0xFFFFFFFF in (csize, usize):
                raise _ArchiveEnd(f"member {name!r} gives its sizes after its data and the zip has no central "
                                  f"directory: the rest cannot be located; re-create or re-download it", offset)
            info = zipfile.ZipInfo(name)
            info.compress_type, info.compress_size, info.file_size, info.CRC, info.flag_bits = method, csize, usize, crc, flags
            info.header_offset = offset
            problem = None
            if data_start + csize > file_size:
                problem = (f"member declares {csize} compressed bytes at offset {offset}, past the end of the "
                           f"{file_size}-byte file: the zip is truncated")

            def open_member(info=info, data_start=data_start):
                fh.seek(data_start)
                return zipfile.ZipExtFile(fh, "r", info)

            if not name.endswith("/"):
                yield _Member(name, offset, usize, open_member, problem)
            if problem:
                return
            offset = data_start + csize


def _zip_name(name: str) -> str:
    """A zip member's path with `/` separators: older Windows tools wrote `proj\\src\\a.py`, where the vendored,
    skipped and license rules (which split on `/`) saw one file name. Only a name without any `/` is converted
    (a `\\` in a POSIX name is a legal character of that name)."""
    return name.replace("\\", "/") if "\\" in name and "/" not in name else name


def _zip_entry_count(path: str) -> Optional[int]:
    """The member count a zip's end-of-directory record declares (zip64 included), None without one."""
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # the stdlib's own reader of that record, also used by ZipFile
    return None if end is None else int(end[zipfile._ECD_ENTRIES_TOTAL])


def _zip_members(path: str, max_members: int = MAX_ARCHIVE_MEMBERS) -> Iterator[_Member]:
    file_size = os.path.getsize(path)
    declared = _zip_entry_count(path)
    if declared is not None and declared > max_members:
        raise ValueError(f"archive cap: the zip lists {declared:,} members, more than {max_members:,}; nothing of "
                         f"it is read (its directory alone is held whole): unpack it and pass code:DIR, which is "
                         f"read file by file")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
        if not is_zip:
            raise
        yield from _zip_members_from_local_headers(path, file_size)
        return
    with zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            problem = None
            if info.header_offset + info.compress_size > file_size:
                problem = (f"member declares {info.compress_size} compressed bytes at offset {info.header_offset}, "
                           f"past the end of the {file_size}-byte file: the archive is truncated or damaged")
            yield _Member(_zip_name(info.filename), info.header_offset, None if is_link else info.file_size,
                          lambda i=info: zf.open(i), problem)


def _tar_members(path: str) -> Iterator[_Member]:
    """Members in stream order (`r|*`: one sequential pass, nothing seeks back). Damage that stops the walk
    raises _ArchiveEnd after every member before it."""
    file_size = os.path.getsize(path)
    plain = not path.lower().endswith((".gz", ".tgz", ".bz2", ".xz"))
    with tarfile.open(path, "r|*") as tar:
        while True:
            offset = tar.offset
            try:
                member = tar.next()
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise _ArchiveEnd(f"{type(exc).__name__}: {exc} (the tarball is truncated or damaged here; "
                                  f"members before it were read)", offset) from exc
            if member is None:
                return
            if member.isdir():
                continue
            problem = None
            if plain and member.isfile() and member.offset_data + member.size > file_size:
                problem = (f"member declares {member.size} bytes but the file ends "
                           f"{max(0, file_size - member.offset_data)} bytes after its header: the tarball is truncated")
            yield _Member(member.name, member.offset, member.size if member.isfile() else None,
                          lambda m=member: tar.extractfile(m), problem, member.offset_data + member.size)


def archive_members(path: str, max_members: int = MAX_ARCHIVE_MEMBERS) -> Iterator[_Member]:
    """Every non-directory member of a tarball or zip, in archive order, read in one pass (a zip that lists more
    than `max_members` is refused here; a tarball's count is its reader's to cap)."""
    if path.lower().endswith(".zip"):
        yield from _zip_members(path, max_members)
    else:
        yield from _tar_members(path)


@dataclass
class _ArchiveLicensing:
    """What an archive says of its members' licenses: the tree's license, the REUSE.toml (or `.reuse/dep5`)
    annotations with the prefix of the directory they are at (`proj-1.0/` or none), and the license each
    `.license` sidecar states, by the sidecar's member path."""
    tree: Optional[str]
    prefix: str
    annotations: TreeAnnotations
    sidecars: Dict[str, Optional[str]]

    def rule(self, rel: str) -> Optional[str]:
        if not self.annotations.annotations or not rel.startswith(self.prefix):
            return self.tree
        return self.annotations.rule(rel[len(self.prefix):], self.tree)

    def sidecar(self, rel: str) -> Sidecar:
        rel += SIDECAR_SUFFIX
        return (True, self.sidecars[rel]) if rel in self.sidecars else _NO_SIDECAR


def _archive_licensing(path: str, max_bytes: int, max_members: int = MAX_ARCHIVE_MEMBERS) -> _ArchiveLicensing:
    """The licensing of an archive, from one pass over it before its members are read. The tree's license is
    its top-level license file's: at its root, or, when every member lies under one top directory
    (`proj-1.0/...`), under that one; of several, the one `find_license_file` prefers, as for a directory. The
    first license-named file in archive order won before, so `deps/LICENSE` (a vendored dependency's) labelled
    the whole tree. Without a license file, the names of the files in the REUSE `LICENSES/` directory beside
    where it would be decide (none is read). REUSE.toml (or `.reuse/dep5`) is read from the same place, and
    every `.license` sidecar up to SIDECAR_MAX_BYTES: a tarball is one stream, and `foo.json.license` comes
    after `foo.json` in it. A zip names its members in the central directory, so only those files are read; a
    tarball is walked (headers, other payloads skipped), stopping at the first damage, or after `max_bytes` of
    the stream or `max_members` members (this pass walks the stream a second time)."""
    texts: Dict[str, str] = {}
    reuse: List[str] = []
    configs: Dict[str, Optional[bytes]] = {}
    tomls_seen: List[str] = []  # every REUSE.toml member, in archive order (the root's is told by the prefix)
    deeper = 0  # those below the second level read so far: up to REUSE_MAX_NESTED, whatever the prefix
    sidecars: Dict[str, Optional[str]] = {}
    tops, root_files = set(), False
    try:
        for count, member in enumerate(archive_members(path, max_members), 1):
            if max(member.offset, member.stream_end) > max_bytes or count > max_members:
                break
            rel = _member_rel(member.name)
            parts = rel.split("/")
            if (len(parts) in (2, 3) and parts[-2] == REUSE_DIR and member.size is not None and member.problem is None
                    and len(reuse) < REUSE_MAX_FILES):
                reuse.append(rel)
            if len(parts) == 1:
                root_files = True
            else:
                tops.add(parts[0])
            if member.size is None or member.problem is not None:
                continue
            if len(parts) <= 2 and find_license_file([parts[-1]]) and member.size < LICENSE_MAX_BYTES:
                with member.open() as fh:
                    texts[rel] = fh.read(LICENSE_MAX_BYTES).decode("utf-8", "replace")
            elif parts[-1] == REUSE_TOML and len(parts) > 2 and deeper >= REUSE_MAX_NESTED:
                tomls_seen.append(rel)  # one too many: not read (the warning names the first such)
            elif parts[-1] == REUSE_TOML or (len(parts) in (2, 3) and "/".join(parts[-2:]) == REUSE_DEP5):
                if parts[-1] == REUSE_TOML:
                    tomls_seen.append(rel)
                    deeper += len(parts) > 2
                configs[rel] = None
                if member.size <= REUSE_CONFIG_MAX_BYTES:
                    with member.open() as fh:
                        configs[rel] = fh.read(REUSE_CONFIG_MAX_BYTES + 1)
            elif is_sidecar(rel) and member.size <= SIDECAR_MAX_BYTES:
                with member.open() as fh:
                    data = fh.read(SIDECAR_MAX_BYTES + 1)
                if len(data) <= SIDECAR_MAX_BYTES:
                    sidecars[rel] = sidecar_spdx(data.decode("utf-8", "replace"))
    except Exception as exc:  # the reading pass reports the damage, member by member
        log.debug("license pass over %s stopped: %s", path, exc)
    if root_files or len(tops) != 1:
        prefix = ""
        candidates = {rel: rel for rel in texts if "/" not in rel}
    else:
        (top,) = tops
        prefix = top + "/"
        candidates = {rel.split("/", 1)[1]: rel for rel in texts if rel.startswith(prefix)}
    reuse_dir = prefix + REUSE_DIR + "/"
    reuse_names = [rel[len(reuse_dir):] for rel in reuse
                   if rel.startswith(reuse_dir) and rel.count("/") == reuse_dir.count("/")]
    tree = tree_spdx({name: texts[rel] for name, rel in candidates.items()}, reuse_names)
    found = {name: configs[prefix + name] for name in (REUSE_TOML, REUSE_DEP5) if prefix + name in configs}
    annotations = TreeAnnotations(_reuse_annotations(_utf8_name(path), found) if found else None)
    tomls = _NestedTomls(_utf8_name(path), annotations)
    for rel in tomls_seen:  # the REUSE.toml files below the root (under `prefix`)
        if rel != prefix + REUSE_TOML and rel.startswith(prefix) and not tomls.full(rel[len(prefix):]):
            tomls.add(rel[len(prefix):], configs.get(rel))
    return _ArchiveLicensing(tree, prefix, annotations, sidecars)


def _archive_license(path: str, max_bytes: int, max_members: int = MAX_ARCHIVE_MEMBERS) -> Optional[str]:
    """SPDX id of the archive's top-level license file (`_archive_licensing`)."""
    return _archive_licensing(path, max_bytes, max_members).tree


def read_code_tarball(path: str, max_bytes: int = MAX_CODE_BYTES, max_archive_bytes: int = MAX_ARCHIVE_BYTES,
                      max_stream_bytes: Optional[int] = None,
                      max_members: Optional[int] = None) -> Iterator[Outcome]:
    """One outcome per member of a tarball or zip, streamed (links and devices dropped as `not_a_file`; files
    under a vendored directory as `vendored`, one outcome each since an archive is read in one pass).

    A member is read at most `max_bytes + 1` bytes (its declared size can lie), so an oversize payload is
    dropped as `too_large` without being held; a member that fails (a bad CRC, a truncated payload, a
    declared size past the end of the file) is one error row pointing at it (`ARCHIVE!member`, its header
    offset) and the next member is read; damage that ends the walk (a truncated tarball) is one error row at
    the offset where it stopped, after every member before it. Decompressed bytes are capped per archive
    (`max_archive_bytes`, payloads read plus, for a tarball, the stream walked): past it, one error row and
    the rest is not read, so a small archive of compressible members cannot fill memory. A tarball's stream,
    which is inflated through skipped payloads too (not held), has its own cap, `max_stream_bytes` (default
    MAX_ARCHIVE_STREAM_BYTES). Members are capped too (`max_members`): a tarball is read up to the cap, then
    one error row; a zip that lists more is one error row and nothing else (defaults: MAX_ARCHIVE_MEMBERS)."""
    max_stream_bytes = MAX_ARCHIVE_STREAM_BYTES if max_stream_bytes is None else max_stream_bytes
    max_members = MAX_ARCHIVE_MEMBERS if max_members is None else max_members
    tree = _utf8_name(_tree_name(path))
    shown = _utf8_name(path)
    used = 0
    offset = 0
    try:
        licensing = _archive_licensing(path, max_archive_bytes, max_members)
        is_zip = path.lower().endswith(".zip")
        for count, member in enumerate(archive_members(path, max_members), 1):
            offset = member.offset
            rel = _utf8_name(_member_rel(member.name))
            pointer = f"{shown}!{rel}"
            over = None
            if count > max_members:
                over = f"more than {max_members:,} members"
            elif used > max_archive_bytes:
                over = f"more than {max_archive_bytes} decompressed bytes of members read from this archive"
            elif not is_zip and member.stream_end > max_stream_bytes:  # inflated through, even when skipped
                over = f"its stream goes past {max_stream_bytes} decompressed bytes here"
            if over:
                yield ("error", to_error_row(
                    READ_STAGE, f"archive cap: {over}; the members from here on are not read (unpack it and pass "
                    f"code:DIR, which is read file by file)", source=SOURCE_CODE, input_path=shown,
                    input_offset=member.offset))
                return
            parts = rel.split("/")
            if any(part in SKIP_DIRS for part in parts[:-1]):
                continue
            try:
                if member.problem:
                    raise ValueError(member.problem)
                if any(part in VENDORED_DIRS for part in parts[:-1]):
                    yield ("dropped", "vendored")
                elif member.size is None:
                    yield ("dropped", "not_a_file")
                elif member.size > max_bytes:
                    if not is_zip:  # walk it here, so that a truncated payload errs at this member
                        with member.open() as fh:
                            _drain(fh)
                    yield _too_large(tree, rel, pointer, member.offset, member.size, max_bytes)
                else:
                    with member.open() as fh:  # a zip member's CRC is checked when the read reaches its end
                        data = fh.read(max_bytes + 1)
                    used += len(data)
                    if len(data) > max_bytes:  # its declared size was smaller
                        yield _too_large(tree, rel, pointer, member.offset, None, max_bytes)
                    else:
                        member_rel = _member_rel(member.name)
                        yield _code_outcome(data, tree, rel, pointer, licensing.rule(member_rel), offset=member.offset,
                                            sidecar=lambda r=member_rel: licensing.sidecar(r))
            except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError, RuntimeError) as exc:
                # a zip's members are independent (the central directory says where each starts); a tarball
                # is one stream, which a broken payload leaves at an unknown position
                after = ("the other members are read" if is_zip else
                         "the tarball cannot be read past it; re-create or re-download it")
                yield ("error", to_error_row(READ_STAGE, f"{type(exc).__name__}: {exc} (member unreadable: {after})",
                                             doc_id=f"code:{tree}/{rel}", source=SOURCE_CODE, input_path=pointer,
                                             input_offset=member.offset))
                if not is_zip:
                    return
    except _ArchiveEnd as exc:
        yield ("error", to_error_row(READ_STAGE, str(exc), source=SOURCE_CODE, input_path=shown,
                                     input_offset=exc.offset))
    except Exception as exc:  # the archive itself cannot be opened (not a zip, not a tarball)
        yield ("error", to_error_row(READ_STAGE, exc, source=SOURCE_CODE, input_path=shown, input_offset=offset))
