"""Comments and docs cite files and modules that exist.

Scanned: README.md and benchmarks/RESULTS.md whole, and the comments and docstrings of benchmarks/*.py and of
every module under pipelines/, tokenizer/, filters/, schemas/ and training/ (code is left out:
`tokenizer.encode_batch(...)` there is a variable's method, not a citation). Two kinds of citation of our own
packages are checked:
- paths such as `pipelines/transforms/dedup.py`, `tokenizer/`, `tests/test_pack.py`: the file or folder exists;
- dotted references such as `pipelines.tools.lineage` or `pipelines.tools.lineage.find_rows_with_document`:
  the longest prefix that names a module exists, and the next name, if any, is defined at the top level of that
  module (a function, class, assignment or import), so a moved function is caught as well as a moved module.
A reference to a package's own name followed by a file extension (`tokenizer.json`) is a file name, not a module.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import lru_cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

PACKAGES = ("pipelines", "tokenizer", "filters", "schemas", "training")
PATH_ROOTS = PACKAGES + ("tests", "benchmarks", "recipes")
# A path of ours: a root folder, then path characters; not the tail of another path (`pipeline/filters/x.py`
# is datatrove's) nor of a dotted name.
PATH_RE = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*)" % "|".join(PATH_ROOTS))
DOTTED_RE = re.compile(r"(?<![\w./-])((?:%s)(?:\.[A-Za-z_]\w*)+)" % "|".join(PACKAGES + ("benchmarks",)))
FILE_EXTENSIONS = {"json", "jsonl", "py", "yaml", "yml", "md", "txt", "parquet", "arrow", "pt", "bin", "ftz",
                   "html", "gz", "csv", "log", "toml", "cfg", "ini", "sh"}


def _sources():
    yield REPO_ROOT / "README.md"
    yield REPO_ROOT / "benchmarks" / "RESULTS.md"
    yield from sorted((REPO_ROOT / "benchmarks").glob("*.py"))
    for package in PACKAGES:
        yield from sorted((REPO_ROOT / package).rglob("*.py"))


def _doc_text(path: Path) -> list:
    """(line number, text) of the prose of a file: README whole; a module's comments and docstrings."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return list(enumerate(text.splitlines(), 1))
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                first = node.body[0].lineno
                out.extend((first + i, line) for i, line in enumerate(doc.splitlines()))
    return out


@lru_cache(maxsize=None)
def _module_file(dotted: str):
    """The file of module or package `dotted`, or None."""
    base = REPO_ROOT.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _top_level_names(module_file: Path) -> frozenset:
    names = set()
    for node in ast.parse(module_file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _path_problem(cited: str):
    cited = cited.rstrip(".")
    if not cited or cited.endswith("/") and (REPO_ROOT / cited).is_dir():
        return None
    return None if (REPO_ROOT / cited).exists() else "no such file or folder"


def _dotted_problem(cited: str):
    parts = cited.split(".")
    if parts[-1] in FILE_EXTENSIONS:
        return None
    for end in range(len(parts), 0, -1):
        module_file = _module_file(".".join(parts[:end]))
        if module_file is not None:
            break
    if end == len(parts):
        return None
    name = parts[end]
    if name in _top_level_names(module_file) or _module_file(".".join(parts[:end + 1])):
        return None
    return f"{'.'.join(parts[:end])} has no {name}"


def find_broken_citations() -> list:
    broken = []
    for path in _sources():
        rel = path.relative_to(REPO_ROOT).as_posix()
        for lineno, line in _doc_text(path):
            for m in PATH_RE.finditer(line):
                problem = _path_problem(m.group(1))
                if problem:
                    broken.append(f"{rel}:{lineno}: {m.group(1)} ({problem})")
            for m in DOTTED_RE.finditer(line):
                problem = _dotted_problem(m.group(1))
                if problem:
                    broken.append(f"{rel}:{lineno}: {m.group(1)} ({problem})")
    return broken


def test_cited_files_and_modules_exist():
    broken = find_broken_citations()
    assert not broken, "citations of files or modules that do not exist:\n" + "\n".join(broken)


def test_the_checker_catches_a_moved_module_and_function():
    assert _dotted_problem("pipelines.tools.lineage") is None
    assert _dotted_problem("pipelines.tools.lineage.find_rows_with_document") is None
    assert _dotted_problem("pipelines.tools.no_such_module")
    assert _dotted_problem("pipelines.tools.lineage.no_such_function")
    assert _dotted_problem("tokenizer.json") is None
    assert _dotted_problem("benchmarks.no_such_module.ensure_venv")
    assert _dotted_problem("pipelines.options")  # moved to pipelines.runtime.options
    assert _dotted_problem("pipelines.runtime.options") is None
    assert _path_problem("pipelines/tools/lineage.py") is None
    assert _path_problem("pipelines/tools/") is None
    assert _path_problem("pipelines/no_such_file.py")
