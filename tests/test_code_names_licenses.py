"""Code trees whose file names are not UTF-8, and license detection on real license texts.

A file named b'\\xff\\xfebad.py' in a directory, b'\\xe9t\\xe9.py' committed to git or in a tarball once failed the
whole curate job ("surrogates not allowed", naming no file); it is now read with its undecodable bytes written
`\\xNN` in its id and input_path. The GPL-3.0 and MPL-2.0 texts were labelled AGPL-3.0 (both name the Affero
GPL in their terms); each license is now told by its title. The license texts are read where Debian installs
them (/usr/share/common-licenses), never copied here.
"""
from __future__ import annotations

import glob
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.ingest.code_trees import read_code_tarball
from pipelines.ingest.licenses import find_license_file, spdx_of_text
from pipelines.ingest.records import CODE_METADATA
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
from schemas import ID, INPUT_PATH, TEXT

CODE = b"def f():\n    return 1\n"
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}


def _rows(directory: Path):
    return [row for f in sorted(glob.glob(str(directory / "*.parquet"))) for row in pq.read_table(f).to_pylist()]


def _write(root: bytes, name: bytes, data: bytes = CODE) -> None:
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, name), "wb") as fh:
        fh.write(data)


def _bad_name_tar(path: Path, truncate: bool = False) -> None:
    """A GNU tar whose second member's name is the bytes b'\\xe9t\\xe9.py' (tarfile writes a surrogate-escaped
    name back as those bytes); `truncate` cuts the file inside that member's payload."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("proj/ok.py", CODE), ("proj/\udce9t\udce9.py", CODE * 200)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    if truncate:
        with tarfile.open(path) as tar:
            bad = tar.getmembers()[1]
        path.write_bytes(path.read_bytes()[: bad.offset_data + 100])


def test_non_utf8_file_names_are_kept_with_escaped_ids_in_curate(tmp_path):
    # a directory: one name that is not UTF-8 beside a good one
    plain = os.fsencode(tmp_path / "plain")
    _write(plain, b"ok.py")
    _write(plain, b"\xff\xfebad.py", b"def g():\n    return 2\n")
    # a git repository with such a name committed
    repo = os.fsencode(tmp_path / "repo")
    _write(repo, b"a.py")
    _write(repo, b"\xe9t\xe9.py", b"def h():\n    return 3\n")
    run = lambda *a: subprocess.run([b"git", b"-C", repo, *a], check=True, capture_output=True, env=GIT_ENV)
    run(b"init", b"-q")
    run(b"add", b"a.py", b"\xe9t\xe9.py")
    run(b"commit", b"-q", b"-m", b"init")
    # a tarball with such a member
    tar = tmp_path / "proj.tar"
    _bad_name_tar(tar)
    out = tmp_path / "out"
    report = run_curate([f"code:{tmp_path / 'plain'}", f"code:{tmp_path / 'repo'}", f"code:{tar}"], str(out),
                        parse_recipe({"code": {}}))
    assert report.stage("read").errors == 0 and _rows(out / "errors") == []
    docs = {d[ID]: d for d in _rows(out / "documents")}
    assert set(docs) == {"code:plain/ok.py", r"code:plain/\xff\xfebad.py", "code:repo/a.py", r"code:repo/\xe9t\xe9.py",
                         "code:proj/proj/ok.py", r"code:proj/proj/\xe9t\xe9.py"}
    assert docs[r"code:plain/\xff\xfebad.py"][TEXT] == "def g():\n    return 2\n"
    assert docs[r"code:plain/\xff\xfebad.py"][INPUT_PATH] == str(tmp_path / "plain") + r"/\xff\xfebad.py"
    assert docs[r"code:repo/\xe9t\xe9.py"][TEXT] == "def h():\n    return 3\n"
    assert dict(docs[r"code:repo/\xe9t\xe9.py"][CODE_METADATA])["path"] == r"\xe9t\xe9.py"
    assert docs[r"code:proj/proj/\xe9t\xe9.py"][INPUT_PATH] == f"{tar}!proj/" + r"\xe9t\xe9.py"


def test_error_row_of_a_member_with_a_non_utf8_name_points_at_it_in_utf8(tmp_path):
    tar = tmp_path / "cut.tar"
    _bad_name_tar(tar, truncate=True)
    outcomes = list(read_code_tarball(str(tar)))
    assert [status for status, _ in outcomes] == ["kept", "error"]
    row = outcomes[1][1]
    assert row[ID] == r"code:cut/proj/\xe9t\xe9.py" and row[INPUT_PATH] == f"{tar}!proj/" + r"\xe9t\xe9.py"
    for value in row.values():
        if isinstance(value, str):
            value.encode("utf-8")  # no lone surrogate left to fail the Parquet writer


COMMON_LICENSES = Path("/usr/share/common-licenses")
EXPECTED = {"GPL-2": "GPL-2.0", "GPL-3": "GPL-3.0", "LGPL-2": "LGPL-2.0", "LGPL-2.1": "LGPL-2.1", "LGPL-3": "LGPL-3.0",
            "Apache-2.0": "Apache-2.0", "MPL-2.0": "MPL-2.0", "CC0-1.0": "CC0-1.0", "BSD": "BSD-3-Clause",
            # versions the rules do not name are unknown, not a neighbour
            "GPL-1": "NOASSERTION", "MPL-1.1": "NOASSERTION", "GFDL-1.3": "NOASSERTION", "Artistic": "NOASSERTION"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_license_texts(name):
    path = COMMON_LICENSES / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (Debian's base-files installs the license texts there)")
    assert spdx_of_text(path.read_text(encoding="utf-8", errors="replace")) == EXPECTED[name]


def test_license_titles_decide_not_mentions():
    # No AGPL-3.0 text is installed on these machines (nor shipped by a package in .venv): its title and
    # preamble, which is what decides it.
    agpl = ("                    GNU AFFERO GENERAL PUBLIC LICENSE\n"
            "                       Version 3, 19 November 2007\n\n"
            " Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>\n\n"
            "                            Preamble\n\n"
            "  The GNU Affero General Public License is a free, copyleft license for\n"
            "software and other kinds of works, specifically designed to ensure\n"
            "cooperation with the community in the case of network server software.\n")
    assert spdx_of_text(agpl) == "AGPL-3.0"
    # GPL-3.0's section 13 names the AGPL, and MPL-2.0 names all three GNU licenses as Secondary Licenses
    gpl3 = ("GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n ...\n 13. Use with the GNU Affero General Public "
            "License.\n ... under version 3 of the GNU Affero General Public License into a single combined work")
    assert spdx_of_text(gpl3) == "GPL-3.0"
    mpl = ("Mozilla Public License Version 2.0\n==================================\n ... \"Secondary License\" means "
           "either the GNU General Public License, Version 2.0, the GNU Lesser General Public License, Version 2.1, "
           "the GNU Affero General Public License, Version 3.0, or any later versions of those licenses.")
    assert spdx_of_text(mpl) == "MPL-2.0"
    # the notices at the top of source files name the license and its version in one sentence
    mpl_notice = "# This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0."
    assert spdx_of_text(mpl_notice) == "MPL-2.0"
    assert spdx_of_text("under the terms of the GNU Lesser General Public License as published by the Free Software "
                        "Foundation; either version 2.1 of the License") == "LGPL-2.1"
    assert spdx_of_text("Licensed under the Apache License, Version 2.0 (the \"License\")") == "Apache-2.0"


def test_license_file_names_match_in_any_case():
    assert find_license_file(["a.py", "License.txt"]) == "License.txt"
    assert find_license_file(["license.md"]) == "license.md"
    assert find_license_file(["COPYING.txt", "main.c"]) == "COPYING.txt"
    assert find_license_file(["Licence"]) == "Licence"
    assert find_license_file(["license", "LICENSE"]) == "LICENSE"  # the exact name first
    assert find_license_file(["LICENSE.md", "copying"]) == "LICENSE.md"  # in LICENSE_FILE_NAMES order
    assert find_license_file(["README", "setup.py"]) is None


def test_tree_license_from_a_mixed_case_license_file(tmp_path):
    gpl3 = COMMON_LICENSES / "GPL-3"
    if not gpl3.is_file():
        pytest.skip(f"{gpl3} is absent (Debian's base-files installs the license texts there)")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "main.py").write_bytes(CODE)
    (root / "License.txt").write_bytes(gpl3.read_bytes())  # a tree of the test's own, under tmp_path
    report = run_curate([f"code:{root}"], str(tmp_path / "out"), parse_recipe({"code": {}}))
    assert report.stage("read").errors == 0
    docs = {d[ID]: d for d in _rows(tmp_path / "out" / "documents")}
    assert dict(docs["code:proj/main.py"][CODE_METADATA])["license"] == "GPL-3.0"
