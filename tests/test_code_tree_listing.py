"""Listing code trees and finding their license when the tree is odd (an audit's findings, each failing before
its fix): a LICENSE that is a directory failed the curate job and one that is a FIFO hung it, 1,200 nested
directories exceeded the recursion limit, an unreadable directory's files vanished from every count, an
archive's license came from a vendored dependency, zips with `\\` separators got round the path rules, and a
license file that appends a bundled component's GPL terms was read as GPL."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from pipelines.ingest.inputs import CODE, InputFile
from pipelines.ingest.licenses import spdx_of_text
from pipelines.ingest.readers import read_input_file, split_input
from schemas import ERROR, ID, INPUT_PATH, METADATA

MIT = ("MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person "
       "obtaining a copy of this software ...\n")
APACHE = "                                 Apache License\n                           Version 2.0, January 2004\n"
GPL3 = "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n"


def outcomes(path):
    out = []
    for part in split_input(InputFile(CODE, str(path))):
        out.extend(read_input_file(part))
    return out


def licenses(outs):
    """The license of each kept source file (license files themselves are kept too, as text)."""
    return {v[ID]: v[METADATA]["license"] for s, v in outs if s == "kept" and v[ID].endswith(".py")}


def code_tree(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_license_that_is_a_directory_or_a_fifo_is_no_license_and_the_tree_is_read(tmp_path):
    tree = code_tree(tmp_path / "t", {"a.py": "x = 1\n", "LICENSE/notes.py": "y = 2\n"})
    outs = outcomes(tree)  # IsADirectoryError failed the job before
    assert licenses(outs) == {"code:t/a.py": "NOASSERTION", "code:t/LICENSE/notes.py": "NOASSERTION"}
    fifo = code_tree(tmp_path / "f", {"a.py": "x = 1\n", "COPYING": MIT})
    os.mkfifo(fifo / "LICENSE")  # preferred to COPYING by name, and its open would block forever
    assert licenses(outcomes(fifo)) == {"code:f/a.py": "MIT"}
    outside = tmp_path / "elsewhere-LICENSE"
    outside.write_text(GPL3)
    linked = code_tree(tmp_path / "l", {"a.py": "x = 1\n"})
    (linked / "LICENSE").symlink_to(outside)  # a link out of the tree is not read, as for any other file
    assert licenses(outcomes(linked)) == {"code:l/a.py": "NOASSERTION"}


def test_a_deeply_nested_tree_is_listed(tmp_path):
    tree = tmp_path / "deep"
    tree.mkdir()
    path = tree
    for _ in range(1200):  # os.walk recursed once per level: RecursionError at ~1,000 on Python 3.11
        path = path / "d"
        path.mkdir()  # one level at a time: mkdir(parents=True) recurses too
    (path / "x.py").write_text("y = 2\n")
    (tree / "top.py").write_text("z = 3\n")
    try:
        outs = outcomes(tree)
    finally:  # pytest's own clean-up (shutil.rmtree) recurses per level too: remove the chain bottom up
        (path / "x.py").unlink()
        while path != tree:
            path.rmdir()
            path = path.parent
    assert sorted(licenses(outs)) == sorted(["code:deep/top.py", "code:deep/" + "d/" * 1200 + "x.py"])


def test_a_directory_that_cannot_be_listed_is_an_error_row(tmp_path, monkeypatch):
    tree = code_tree(tmp_path / "t", {"a.py": "x = 1\n", "locked/b.py": "y = 2\n", "locked/c.py": "z = 3\n"})
    real_scandir = os.scandir

    def scandir(path):  # what an unreadable directory (chmod 000, not root) or one past PATH_MAX gives
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    outs = outcomes(tree)
    assert list(licenses(outs)) == ["code:t/a.py"]
    (err,) = [v for s, v in outs if s == "error"]  # before: its two files were in no count at all
    assert err[INPUT_PATH] == str(tree / "locked") and "cannot list directory: PermissionError" in err[ERROR]


def test_a_listing_that_fails_is_an_error_row_not_a_failed_job(tmp_path, monkeypatch):
    from pipelines.ingest import readers

    tree = code_tree(tmp_path / "t", {"a.py": "x = 1\n"})

    def broken(root):
        yield InputFile("code_file", str(tree / "a.py"), str(tree))
        raise RuntimeError("git went away")

    monkeypatch.setattr(readers, "list_code_tree", broken)
    outs = outcomes(tree)
    assert list(licenses(outs)) == ["code:t/a.py"]
    (err,) = [v for s, v in outs if s == "error"]
    assert "listing the tree stopped here: RuntimeError: git went away" in err[ERROR]


def test_a_link_to_a_directory_is_dropped_as_symlink(tmp_path):
    tree = code_tree(tmp_path / "t", {"src/a.py": "x = 1\n"})
    (tree / "vendor").symlink_to(tree / "src")  # never followed: the same files twice, or a loop
    (tree / "loop").symlink_to(tree)
    outs = outcomes(tree)
    assert list(licenses(outs)) == ["code:t/src/a.py"]
    assert sorted(v for s, v in outs if s == "dropped") == ["symlink", "symlink"]


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("members, expected", [
    # a vendored dependency's license first in the archive: the tree's own (at its root) wins
    ([("deps/LICENSE", MIT), ("LICENSE", APACHE), ("src/app.py", "x = 1\n")], "Apache-2.0"),
    # under one top directory, the preferred name wins (LICENSE before COPYING), not archive order
    ([("proj/COPYING", GPL3), ("proj/LICENSE", MIT), ("proj/src/app.py", "x = 1\n")], "MIT"),
])
def test_an_archives_license_is_chosen_as_a_directorys(tmp_path, members, expected):
    outs = outcomes(_tar(tmp_path / "p.tar.gz", members))
    assert set(licenses(outs).values()) == {expected}


def test_zip_members_named_with_backslashes_follow_the_path_rules(tmp_path):
    path = tmp_path / "w.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("proj\\LICENSE", MIT)
        zf.writestr("proj\\src\\a.py", "x = 1\n")
        zf.writestr("proj\\node_modules\\pkg\\index.js", "module.exports = 1;\n")
        zf.writestr("proj\\.git\\config", "[core]\n")
    outs = outcomes(path)
    assert licenses(outs) == {"code:w/proj/src/a.py": "MIT"}
    assert [v for s, v in outs if s == "dropped"] == ["vendored"]


def test_the_license_at_the_head_of_the_file_is_the_files():
    bundled = MIT + "\n\nThis package bundles libfoo, under:\n\n" + GPL3 + "\nTERMS AND CONDITIONS ...\n"
    assert spdx_of_text(bundled) == "MIT"
    assert spdx_of_text(MIT + "\nIt is NOT distributed under the GNU General Public License version 3.\n") == "MIT"
    assert spdx_of_text(GPL3 + "\nPermission is hereby granted, free of charge, to any person obtaining a copy") \
        == "GPL-3.0"
    assert spdx_of_text(APACHE) == "Apache-2.0"


def test_lock_files_bom_nul_and_generated_markers(tmp_path):
    tree = code_tree(tmp_path / "t", {"yarn.lock": "a@1:\n  version 1\n", "go.sum": "x v1 h1:abc=\n",
                                      "edit.py": "# do not edit this line by hand\nx = 1\n",
                                      "gen.py": "# Code generated by protoc. DO NOT EDIT.\nx = 1\n"})
    (tree / "bom.py").write_bytes(b"\xef\xbb\xbfx = 1\n")
    (tree / "run").write_bytes(b"\xef\xbb\xbf#!/usr/bin/env python3\nprint(1)\n")
    (tree / "nul.py").write_bytes(b"x = 1\n" * 2000 + b"\x00")  # past the first 8 KB
    outs = outcomes(tree)
    kept = {v[ID]: v for s, v in outs if s == "kept"}
    assert sorted(kept) == ["code:t/bom.py", "code:t/edit.py", "code:t/run"]
    assert kept["code:t/bom.py"]["text"] == "x = 1\n" and kept["code:t/run"]["code_language"] == "Python"
    assert sorted(v for s, v in outs if s == "dropped") == ["binary", "generated", "lock_file", "lock_file"]


LGPL3 = "                   GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n"


@pytest.mark.parametrize("kind", ["directory", "git", "tarball"])
def test_dual_licenses_and_the_lgpl_beside_the_gpl(tmp_path, kind):
    """LICENSE-MIT + LICENSE-APACHE (Rust's dual licensing) gave MIT alone, and COPYING + COPYING.LESSER (a GNU
    project under the LGPL) gave GPL-3.0."""
    import subprocess

    cases = {"dual": ({"LICENSE-MIT": MIT, "LICENSE-APACHE": APACHE}, "Apache-2.0 OR MIT"),
             "lgpl": ({"COPYING": GPL3, "COPYING.LESSER": LGPL3}, "LGPL-3.0"),
             "plain": ({"LICENSE": MIT, "LICENSE-APACHE": APACHE}, "MIT")}  # a plain LICENSE is the tree's
    for name, (files, expected) in cases.items():
        tree = code_tree(tmp_path / kind / name, {"a.py": "x = 1\n", **files})
        if kind == "git":
            env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                   "GIT_COMMITTER_EMAIL": "t@t"}
            for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "init"]):
                subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, env=env)
        if kind == "tarball":
            tree = _tar(tmp_path / kind / f"{name}.tar.gz", [(f"{name}/{rel}", text) for rel, text in
                                                            {"a.py": "x = 1\n", **files}.items()])
        assert set(licenses(outcomes(tree)).values()) == {expected}, (kind, name)


def test_git_blobs_are_read_through_one_process_and_a_missing_one_is_an_error_row(tmp_path):
    """Blobs come from one `git cat-file --batch` per repository (a process per file cost 6.4 s for 2,000 files);
    a blob missing from the object store is one error row, and the files after it are still read."""
    import subprocess

    from pipelines.ingest import code_trees

    tree = code_tree(tmp_path / "repo", {f"m{i}.py": f"x = {i}\n" for i in range(5)})
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True, env=env)
    blob = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD:m2.py"], check=True, capture_output=True,
                          text=True).stdout.strip()
    (tree / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # loose objects after one commit
    spawned = []
    real_popen = subprocess.Popen

    def popen(*args, **kw):
        if "--batch" in args[0]:
            spawned.append(args[0])
        return real_popen(*args, **kw)

    code_trees._BLOBS.close_all()
    try:
        code_trees.subprocess.Popen = popen
        outs = outcomes(tree)
    finally:
        code_trees.subprocess.Popen = real_popen
    assert sorted(licenses(outs)) == [f"code:repo/m{i}.py" for i in (0, 1, 3, 4)]
    (err,) = [v for s, v in outs if s == "error"]
    assert err[ID] == "code:repo/m2.py" and "is missing from the repository" in err[ERROR]
    assert len(spawned) == 1  # one process for the five blobs: a missing object leaves the stream where it was


def test_a_notebook_is_read_as_the_script_it_holds(tmp_path):
    import base64
    import json

    png = base64.b64encode(os.urandom(30000)).decode()
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
          "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Load\n", "Read the data."]},
                    {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": ["import json\n", "x = 1"],
                     "outputs": [{"output_type": "display_data", "data": {"image/png": png}, "metadata": {}}]},
                    {"cell_type": "code", "metadata": {}, "source": [], "outputs": []}]}
    tree = code_tree(tmp_path / "t", {"a.ipynb": json.dumps(nb), "bad.ipynb": "{not json"})
    kept = {v[ID]: v for s, v in outcomes(tree) if s == "kept"}
    assert kept["code:t/a.ipynb"]["text"] == "# # Load\n# Read the data.\n\nimport json\nx = 1\n"
    assert kept["code:t/a.ipynb"]["code_language"] == "Jupyter Notebook"
    assert kept["code:t/bad.ipynb"]["text"] == "{not json"  # not a notebook after all: kept as it is


def test_archives_past_the_member_cap(tmp_path, monkeypatch):
    """A zip of 300,000 empty files peaked at 525 MB in curate (its directory, tarfile's headers and one outcome a
    member are held, and empty members cost nothing against the byte caps). A zip that lists more than
    MAX_ARCHIVE_MEMBERS is one error row, read no further; a tarball is read up to the cap, then one error row."""
    from pipelines.ingest import code_trees

    monkeypatch.setattr(code_trees, "MAX_ARCHIVE_MEMBERS", 10)
    files = [(f"proj/src/m{i:02d}.py", f"x = {i}\n") for i in range(12)]
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files:
            zf.writestr(name, text)
    outs = outcomes(path)
    assert [s for s, _ in outs] == ["error"]
    assert "the zip lists 12 members, more than 10" in outs[0][1][ERROR] and "code:DIR" in outs[0][1][ERROR]
    outs = outcomes(_tar(tmp_path / "many.tar.gz", files))
    assert [s for s, _ in outs] == ["kept"] * 10 + ["error"]
    assert sorted(licenses(outs)) == [f"code:many/proj/src/m{i:02d}.py" for i in range(10)]
    assert "more than 10 members" in outs[-1][1][ERROR]
    # at the cap, every member is read
    monkeypatch.setattr(code_trees, "MAX_ARCHIVE_MEMBERS", 12)
    assert [s for s, _ in outcomes(path)] == ["kept"] * 12
    assert [s for s, _ in outcomes(tmp_path / "many.tar.gz")] == ["kept"] * 12


def test_a_files_own_spdx_header_is_its_license(tmp_path):
    """`SPDX-License-Identifier:` in a file's first lines (REUSE, the Linux kernel) is that file's license, over
    the tree's; prose after the marker is not an expression, and the tree's license stays."""
    tree = code_tree(tmp_path / "t", {
        "LICENSE": MIT,
        "a.py": "# SPDX-License-Identifier: Apache-2.0\nx = 1\n",
        "b.c": "// SPDX-License-Identifier: gpl-2.0 with Linux-syscall-note\nint x;\n",
        "c.h": "/* SPDX-License-Identifier: (GPL-2.0+ OR bsd-3-clause) */\nint y;\n",
        "d.py": "x = 1\n",
        "e.py": "# SPDX-License-Identifier: MIT license, see the LICENSE file\nx = 1\n",
        "f.py": "\n".join(["x = 1"] * 1000) + "\n# SPDX-License-Identifier: GPL-3.0\n",
    })
    found = {v[ID]: v[METADATA]["license"] for s, v in outcomes(tree) if s == "kept" and v[ID] != "code:t/LICENSE"}
    assert found == {"code:t/a.py": "Apache-2.0", "code:t/b.c": "GPL-2.0 WITH Linux-syscall-note",
                     "code:t/c.h": "(GPL-2.0+ OR BSD-3-Clause)", "code:t/d.py": "MIT", "code:t/e.py": "MIT",
                     "code:t/f.py": "MIT"}


def test_spdx_headers_of_real_files_are_read_whole(shared_data):
    """Every SPDX header among Linguist's samples gives the expression written after it (comment marks off)."""
    import base64
    import gzip
    import json
    import re

    from pipelines.ingest.licenses import spdx_header

    seen = 0
    with gzip.open(shared_data / "code" / "linguist_samples_dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            raw = base64.b64decode(d["content"]) if d["encoding"] == "base64" else d["content"].encode("utf-8")
            text = raw.decode("utf-8", "replace")
            written = re.search(r"SPDX-License-Identifier:\s*(.*)", text[:4096])
            if written:
                seen += 1
                assert spdx_header(text) == re.sub(r"\s*(\*/)?\s*$", "", written.group(1)), d["filename"]
    assert seen >= 15
