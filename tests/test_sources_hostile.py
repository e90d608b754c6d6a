"""Hostile text and code inputs (issue 16): every intact member of a damaged tarball or zip comes out and each
broken one is an error row pointing at it; member paths keep their own ids; archives, lines and inputs that
are not regular files cannot hang a run or fill memory; Parquet columns of the wrong type are error rows
naming the column, never a repr; a code tree whose `.git` points at another repository is read as the tree.

Memory bounds are the child process's own VmHWM (/proc/self/status), which, unlike ru_maxrss, is not
inherited across exec from the parent that started it."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest.code_trees import MAX_ARCHIVE_BYTES, MAX_CODE_BYTES
from pipelines.ingest.inputs import PARQUET, InputFile
from pipelines.ingest.readers import expand_input_specs, read_input_file, read_jsonl, split_input
from schemas import ERROR, ID, INPUT_OFFSET, INPUT_PATH, TEXT, URL

REPO = Path(__file__).resolve().parents[1]
MB = 1 << 20


def outcomes(spec):
    out = []
    for item in expand_input_specs([spec]):
        for part in split_input(item):
            out.extend(read_input_file(part))
    return out


def kept_ids(outs):
    return [v[ID] for s, v in outs if s == "kept"]


def errors(outs):
    return [v for s, v in outs if s == "error"]


def py_member(i: int) -> bytes:
    return f"def f{i}():\n    return {i}\n".encode() * 20


def write_tar(path: Path, members, mode: str = "w") -> None:
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def vm_hwm_mb_of_child(code: str, *args: str, timeout: int = 120) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON line, to which its own VmHWM (MB) is added."""
    wrapped = code + (
        "\nhwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))"
        "\nRESULT['vm_hwm_mb'] = int(hwm.split()[1]) / 1024"
        "\nprint('RESULT ' + json.dumps(RESULT))\n")
    proc = subprocess.run([sys.executable, "-c", wrapped, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# --- damaged tarballs and zips ----------------------------------------------------------------------------

@pytest.mark.parametrize("mode,suffix", [("w", ".tar"), ("w:gz", ".tar.gz")])
def test_truncated_tarball_keeps_every_intact_member(tmp_path, mode, suffix):
    members = [(f"proj/m{i}.py", py_member(i)) for i in range(5)] + [("proj/LICENSE", b"MIT License\n\nPermission is hereby granted, free of charge\n")]
    whole = tmp_path / ("whole" + suffix)
    write_tar(whole, members, mode)
    raw = whole.read_bytes() if mode == "w" else __import__("gzip").decompress(whole.read_bytes())
    cut = raw[: raw.index(py_member(3)) + 100]  # inside m3's payload: m0..m2 intact, m3 broken, the rest gone
    broken = tmp_path / ("proj" + suffix)
    broken.write_bytes(cut if mode == "w" else __import__("gzip").compress(cut))
    outs = outcomes("code:" + str(broken))
    assert kept_ids(outs) == ["code:proj/proj/m0.py", "code:proj/proj/m1.py", "code:proj/proj/m2.py"]
    errs = errors(outs)
    assert len(errs) == 1, errs
    assert errs[0][INPUT_PATH] == f"{broken}!proj/m3.py" and errs[0][INPUT_OFFSET] == 3 * 1024
    assert errs[0][ID] == "code:proj/proj/m3.py" and "re-create or re-download" in errs[0][ERROR]


def test_zip_whose_first_member_fails_its_crc_keeps_the_others(tmp_path):
    path = tmp_path / "proj.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):
            zf.writestr(f"proj/m{i}.py", py_member(i))
    data = bytearray(path.read_bytes())
    first = data.index(b"proj/m0.py") + len(b"proj/m0.py") + 4  # into m0's compressed bytes
    data[first] ^= 0xFF
    path.write_bytes(bytes(data))
    outs = outcomes("code:" + str(path))
    assert kept_ids(outs) == [f"code:proj/proj/m{i}.py" for i in (1, 2, 3)]
    (err,) = errors(outs)
    assert err[INPUT_PATH] == f"{path}!proj/m0.py" and err[INPUT_OFFSET] == 0
    assert "other members are read" in err[ERROR]


def test_truncated_zip_keeps_the_members_before_the_cut(tmp_path):
    """A zip cut short has no central directory: its members are walked from their local headers, the intact
    ones kept, the one cut in its data an error row pointing at it."""
    import random

    rng = random.Random(4)
    path = tmp_path / "whole.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(4):  # incompressible, so each member's data is long enough to cut into
            zf.writestr(f"proj/m{i}.py", "x = '%s'\n" % "".join(rng.choice("0123456789abcdef") for _ in range(4000)))
    data = path.read_bytes()
    directory = data.index(b"PK\x01\x02")
    for cut, kept, err_path in [
        (directory, [0, 1, 2, 3], "proj.zip"),                                     # only the directory is gone
        (data.index(b"proj/m2.py") + 2000, [0, 1], "proj.zip!proj/m2.py"),        # inside m2's data
    ]:
        broken = tmp_path / "proj.zip"
        broken.write_bytes(data[:cut])
        outs = outcomes("code:" + str(broken))
        assert kept_ids(outs) == [f"code:proj/proj/m{i}.py" for i in kept]
        (err,) = errors(outs)
        assert err[INPUT_PATH] == str(tmp_path / err_path), err


@pytest.mark.parametrize("declared", [5000, 5 * MAX_CODE_BYTES])  # under and over the per-file cap
@pytest.mark.parametrize("compress", [False, True])
def test_member_declaring_more_bytes_than_the_file_holds_is_an_error_row(tmp_path, declared, compress):
    import gzip

    good = tmp_path / "good.tar"
    write_tar(good, [("p/a.py", py_member(1))])
    raw = good.read_bytes()
    end = raw.index(b"\0" * 1024, 512 + len(py_member(1)))  # the end-of-archive blocks
    info = tarfile.TarInfo("p/big.py")
    info.size = declared
    tail = info.tobuf() + b"x = 1\n" * 10
    path = tmp_path / ("p.tar.gz" if compress else "p.tar")
    data = raw[:((end + 511) // 512) * 512] + tail
    path.write_bytes(gzip.compress(data) if compress else data)
    outs = outcomes("code:" + str(path))
    assert kept_ids(outs) == ["code:p/p/a.py"]
    (err,) = errors(outs)
    assert err[INPUT_PATH] == f"{path}!p/big.py" and err[INPUT_OFFSET] == 1024
    assert Counter(s for s, _ in outs) == Counter({"kept": 1, "error": 1})


def test_tar_member_paths_keep_their_own_ids(tmp_path):
    path = tmp_path / "t.tar"
    write_tar(path, [("x.py", b"a = 1\n"), ("../x.py", b"b = 2\n"), ("./y.py", b"c = 3\n"),
                     (".github/ci.py", b"d = 4\n"), ("/abs/x.py", b"e = 5\n")])
    outs = outcomes("code:" + str(path))
    kept = {v[ID]: v[TEXT] for s, v in outs if s == "kept"}
    assert kept == {"code:t/x.py": "a = 1\n", "code:t/../x.py": "b = 2\n", "code:t/y.py": "c = 3\n",
                    "code:t/.github/ci.py": "d = 4\n", "code:t//abs/x.py": "e = 5\n"}
    offsets = [v[INPUT_OFFSET] for s, v in outs if s == "kept"]
    assert len(set(offsets)) == len(offsets)  # each member's pointer is its own header


_ZIP_CHILD = r"""
import json, sys
from collections import Counter
from pipelines.ingest.inputs import CODE, InputFile
from pipelines.ingest.readers import read_input_file
held = list(read_input_file(InputFile(CODE, sys.argv[1])))  # held whole, as a runner holds a bundle's output
RESULT = {"counts": Counter(s for s, _ in held), "errors": [v for s, v in held if s == "error"],
          "text_bytes": sum(len(v["text"]) for s, v in held if s == "kept")}
"""


@pytest.mark.slow
def test_zip_of_compressible_members_is_capped_per_archive(tmp_path):
    """The issue's 4 MB zip of 1,500 compressible 1 MiB files peaked at 6.3 GB: now reading stops at the
    archive cap with one error row and what was read before it is kept."""
    path = tmp_path / "bomb.zip"
    payload = (b"x = 1  # an ordinary line of python, repeated\n" * 30000)[:MB]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(1500):
            zf.writestr(f"bomb/m{i:04d}.py", payload)
    assert path.stat().st_size < 16 * MB
    result = vm_hwm_mb_of_child(_ZIP_CHILD, str(path))
    kept = result["counts"]["kept"]
    assert MAX_ARCHIVE_BYTES // MB <= kept <= MAX_ARCHIVE_BYTES // MB + 1
    assert result["text_bytes"] <= MAX_ARCHIVE_BYTES + MB
    (err,) = result["errors"]
    assert err[INPUT_PATH] == str(path) and "archive cap" in err[ERROR] and "code:DIR" in err[ERROR]
    assert result["vm_hwm_mb"] < MAX_ARCHIVE_BYTES / MB + 500, result["vm_hwm_mb"]  # was > 1,600 MB


def test_tarball_member_past_the_archive_cap_is_not_inflated(tmp_path, monkeypatch):
    """A .tar.gz of ~100 KB whose second member declares 100 MiB of zeros, with the stream's cap at 64 MiB: the
    walk stops at that member's header with the archive-cap error row (its payload is never inflated), after the
    member before it."""
    import zlib

    from pipelines.ingest import code_trees

    monkeypatch.setattr(code_trees, "MAX_ARCHIVE_STREAM_BYTES", 64 * MB)

    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("p/a.py")
        info.size = len(py_member(1))
        tar.addfile(info, io.BytesIO(py_member(1)))
    first = head.getvalue()[:512 + ((len(py_member(1)) + 511) // 512) * 512]  # without the end blocks
    big = tarfile.TarInfo("p/zeros.bin")
    big.size = 100 * MB
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [gz.compress(first + big.tobuf())]
    zeros = bytes(MB)
    parts += [gz.compress(zeros) for _ in range(100)] + [gz.compress(bytes(1024)), gz.flush()]
    path = tmp_path / "p.tar.gz"
    path.write_bytes(b"".join(parts))
    assert path.stat().st_size < 2 * MB
    outs = outcomes("code:" + str(path))
    assert [s for s, _ in outs] == ["kept", "error"]
    err = outs[1][1]
    assert err[INPUT_PATH] == str(path) and err[INPUT_OFFSET] == len(first) and "archive cap" in err[ERROR]


# --- lines and non-regular inputs -------------------------------------------------------------------------

_LINE_CHILD = r"""
import json, sys
from pipelines.ingest.readers import read_jsonl
outs = list(read_jsonl(sys.argv[1]))
RESULT = {"outs": [[s, v["input_offset"], v.get("error"), len(v.get("text") or "")] for s, v in outs]}
"""


@pytest.mark.slow
def test_line_over_the_cap_is_an_error_row_read_in_bounded_memory(tmp_path):
    """A 300 MB line (zeros, no newline until its end) then a good line: the long one is an error row at its
    line number, never held whole, and the reader resumes at the next line."""
    path = tmp_path / "long.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"text": "before"}\n')
        fh.truncate(fh.tell() + 300 * MB)  # sparse: written in no time
        fh.seek(0, os.SEEK_END)
        fh.write(b'\n{"text": "after"}\n')
    result = vm_hwm_mb_of_child(_LINE_CHILD, str(path))
    outs = result["outs"]
    assert [o[:2] for o in outs] == [["kept", 0], ["error", 1], ["kept", 2]]
    assert "cap of a JSONL line" in outs[1][2]
    assert result["vm_hwm_mb"] < 400, result["vm_hwm_mb"]  # the line alone is 300 MB; held and decoded, > 900


def test_line_cap_is_exact_and_lines_keep_their_numbers(tmp_path):
    path = tmp_path / "lines.jsonl"
    doc = json.dumps({"text": "y" * 1000}).encode()
    path.write_bytes(b"\n".join([doc, b"", json.dumps({"text": "z" * 5000}).encode(), doc]))  # no final newline
    outs = list(read_jsonl(str(path), max_line_bytes=len(doc)))
    assert [(s, v[INPUT_OFFSET]) for s, v in outs] == [("kept", 0), ("error", 2), ("kept", 3)]


_CURATE_CHILD = r"""
import glob, json, sys
import pyarrow.parquet as pq
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
report = run_curate(json.loads(sys.argv[1]), sys.argv[2], parse_recipe({"extract": {}}))
errors = [r for f in sorted(glob.glob(sys.argv[2] + "/errors/*.parquet")) for r in pq.read_table(f).to_pylist()]
docs = [(r["input_path"], r["text"]) for f in sorted(glob.glob(sys.argv[2] + "/documents/*.parquet"))
        for r in pq.read_table(f).to_pylist()]
RESULT = {"report": json.loads(report.dumps()), "errors": errors, "docs": docs}
"""


@pytest.fixture(scope="module")
def hostile_curate(tmp_path_factory):
    """One extract-only curate child over the inputs of the two tests below (a glob matching a FIFO and a
    device; Parquet `url`/`text` columns of other types): one job start instead of two. The tests tell their
    inputs apart by directory; the read stage's counts cover both."""
    root = tmp_path_factory.mktemp("hostile-curate")
    d = root / "in"
    d.mkdir()
    (d / "good.jsonl").write_text('{"text": "a perfectly ordinary document"}\n')
    os.mkfifo(d / "pipe.jsonl")                  # opening it would block forever
    os.symlink("/dev/zero", d / "zero.jsonl")    # reading it would never end
    pdir = root / "parquet"
    pdir.mkdir()
    pq.write_table(pa.table({"text": ["a document with an integer url"], "url": pa.array([42], pa.int64())}),
                   pdir / "ints.parquet")
    pq.write_table(pa.table({"text": pa.array([b"raw bytes"], pa.binary())}), pdir / "bytes.parquet")
    result = vm_hwm_mb_of_child(_CURATE_CHILD, json.dumps([str(d / "*.jsonl"), str(pdir / "*.parquet")]),
                                str(root / "out"), timeout=180)
    return d, pdir, result


def _under(rows, directory):
    return [r for r in rows if os.path.dirname(r[INPUT_PATH] if isinstance(r, dict) else r[0]) == str(directory)]


@pytest.mark.slow
def test_fifo_and_device_matched_by_a_glob_are_error_rows_not_a_hang(hostile_curate):
    d, _, result = hostile_curate
    assert [text for _, text in _under(result["docs"], d)] == ["a perfectly ordinary document"]
    by_path = {e[INPUT_PATH]: e[ERROR] for e in _under(result["errors"], d)}
    assert set(by_path) == {str(d / "pipe.jsonl"), str(d / "zero.jsonl")}
    assert "named pipe (FIFO), not a regular file" in by_path[str(d / "pipe.jsonl")]
    assert "character device, not a regular file" in by_path[str(d / "zero.jsonl")]
    (read,) = [s for s in result["report"]["stages"] if s["name"] == "read"]
    # 3 jsonl files (1 kept, 2 error rows) + 2 Parquet files (1 row kept, 1 file an error row)
    assert read["in"] == 3 + 2 and read["kept"] == 1 + 1 and read["errors"] == 2 + 1, read


def test_non_regular_file_is_refused_before_it_is_opened(tmp_path):
    import threading

    fifo = tmp_path / "p.parquet"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.extend(read_input_file(InputFile(PARQUET, str(fifo)))), daemon=True)
    reader.start()
    reader.join(timeout=20)
    if reader.is_alive():  # blocked in open(): give it a writer that closes at once, so the thread can end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=20)
        pytest.fail("reading a named pipe blocked in open()")
    (err,) = [v for s, v in got]
    assert err[INPUT_PATH] == str(fifo) and "named pipe" in err[ERROR]


# --- Parquet columns of the wrong type --------------------------------------------------------------------

@pytest.mark.parametrize("column,values,type_name", [
    ("text", [b"bytes one", b"bytes two"], "binary"),
    ("text", [1, 2], "int64"),
    ("text", [["a", "list"], ["of", "words"]], "list<"),
    ("url", [b"http://a/", b"http://b/"], "binary"),
    ("id", [[1], [2]], "list<"),
])
def test_parquet_column_of_the_wrong_type_is_an_error_row_naming_it(tmp_path, column, values, type_name):
    cols = {"text": ["first document", "second document"], column: values}
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(cols), path)
    outs = list(read_input_file(InputFile(PARQUET, str(path))))
    (status, err), = outs
    assert status == "error" and err[INPUT_PATH] == str(path)
    assert f"column {column!r} is {type_name}" in err[ERROR] and "not a string" in err[ERROR]


def test_parquet_integer_id_and_url_are_written_as_decimal_strings(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": ["one", None, "three"], "id": pa.array([7, 8, 9], pa.int64()),
                             "url": pa.array([42, None, 44], pa.int64())}), path)
    outs = list(read_input_file(InputFile(PARQUET, str(path))))
    assert [s for s, _ in outs] == ["kept", "rejected", "kept"]
    assert outs[1][1][ID] == "8"  # the null text: a rejected row naming its id
    assert [(v[ID], v[URL], v[TEXT]) for s, v in outs if s == "kept"] == [("7", "42", "one"), ("9", "44", "three")]


@pytest.mark.slow
def test_parquet_int_url_does_not_crash_curate(hostile_curate):
    """An int64 `url` used to crash the whole job when the documents were written (a 100-line traceback)."""
    _, pdir, result = hostile_curate
    docs = [text for _, text in _under(result["docs"], pdir)]
    assert docs == ["a document with an integer url"]
    (err,) = _under(result["errors"], pdir)
    assert err[INPUT_PATH].endswith("bytes.parquet") and "column 'text' is binary" in err[ERROR]
    assert not any("b'" in t for t in docs)


# --- code trees that point elsewhere ----------------------------------------------------------------------

def _git(root, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.mark.parametrize("how", ["gitdir_file", "symlink", "alternates"])
def test_git_pointer_to_another_repository_is_not_followed(tmp_path, how):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.py").write_text("password = 'hunter2'\n")
    _git(elsewhere, "init", "-q")
    _git(elsewhere, "add", "secret.py")
    _git(elsewhere, "commit", "-q", "-m", "x")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "mine.py").write_text("x = 1\n")
    if how == "gitdir_file":
        (tree / ".git").write_text(f"gitdir: {elsewhere / '.git'}\n")
    elif how == "symlink":
        os.symlink(elsewhere / ".git", tree / ".git")
    else:  # a repository of its own whose objects are borrowed from the other one, HEAD naming its commit
        _git(tree, "init", "-q")
        (tree / ".git" / "objects" / "info" / "alternates").write_text(str(elsewhere / ".git" / "objects") + "\n")
        head = subprocess.run(["git", "-C", str(elsewhere), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        (tree / ".git" / "refs" / "heads" / "main").write_text(head + "\n")
        (tree / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    outs = outcomes("code:" + str(tree))
    texts = [v[TEXT] for s, v in outs if s == "kept"]
    assert kept_ids(outs) == ["code:tree/mine.py"] and texts == ["x = 1\n"]
    assert not errors(outs)


def test_skipped_payloads_of_a_tarball_do_not_use_up_the_cap_of_what_is_read(tmp_path):
    """70 MB of node_modules/ before src/ (a 74 KB .tar.gz) counted against the 64 MiB cap of bytes read: the
    read stopped there and every file of src/ was lost. Skipped payloads are only walked (their own, larger cap)."""
    path = tmp_path / "proj.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(7):
            info = tarfile.TarInfo(f"proj/node_modules/pkg{i}/blob.js")
            info.size = 10 * MB
            tar.addfile(info, io.BytesIO(bytes(10 * MB)))
        for name in ("proj/src/a.py", "proj/src/b.py"):
            info = tarfile.TarInfo(name)
            info.size = len(py_member(1))
            tar.addfile(info, io.BytesIO(py_member(1)))
    outs = outcomes("code:" + str(path))
    assert [v for s, v in outs if s == "dropped"] == ["vendored"] * 7
    assert sorted(v[ID] for s, v in outs if s == "kept") == ["code:proj/proj/src/a.py", "code:proj/proj/src/b.py"]
    assert not [v for s, v in outs if s == "error"]
