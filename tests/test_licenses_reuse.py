"""REUSE projects' licenses, and license texts the rules did not know.

A REUSE project (https://reuse.software) keeps one text per license in `LICENSES/<SPDX id>.txt`, often with no
top-level LICENSE: its files without an `SPDX-License-Identifier` header were NOASSERTION in all three kinds of
code tree (directory, git repository, archive). One license there is now every such file's; several leave each
file to its own header, so those files stay NOASSERTION. Pillow's MIT-CMU text was unknown, 0BSD was ISC,
MIT-0 was MIT, an Apache-2.0 text without its title line and OpenBSD's ISC wording were unknown, and a
proprietary EULA that cites the GPL deep in its terms was GPL-3.0. The real texts are read where pip installed
them (this virtualenv's *.dist-info), never copied here.
"""
from __future__ import annotations

import glob
import io
import os
import subprocess
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.ingest import code_trees
from pipelines.ingest.licenses import reuse_license_id, reuse_spdx, spdx_of_text, tree_spdx
from pipelines.ingest.records import CODE_METADATA
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe
from schemas import ID

CODE = b"def f():\n    return 1\n"
HEADED = b"# SPDX-License-Identifier: Apache-2.0\ndef g():\n    return 2\n"
MIT_TEXT = (b"MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this "
            b"software...\n")
CC0_TEXT = b"Creative Commons Legal Code\n\nCC0 1.0 Universal\n"
BSD3_TEXT = (b"Redistribution and use in source and binary forms, with or without modification, are permitted...\n"
             b"3. Neither the name of the copyright holder nor the names of its contributors may be used...\n")
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}


def _licenses(out: Path):
    """{document id: license} of a curate run's Python documents (license texts are documents too)."""
    rows = [r for f in sorted(glob.glob(str(out / "documents" / "*.parquet"))) for r in pq.read_table(f).to_pylist()]
    return {r[ID]: dict(r[CODE_METADATA])["license"] for r in rows if r[ID].endswith(".py")}


def _tree(root: Path, files) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=GIT_ENV)


def _tar(path: Path, files) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _curate(tmp_path: Path, *inputs: str):
    out = tmp_path / "out"
    report = run_curate([f"code:{i}" for i in inputs], str(out), parse_recipe({"code": {}}))
    assert report.stage("read").errors == 0
    return _licenses(out)


def test_reuse_licenses_dir_gives_the_tree_license_in_all_three_tree_kinds(tmp_path):
    # a directory: one license in LICENSES/ (beside a README there, which names no license) is every file's
    # that states none; a file's own header still decides for it
    _tree(tmp_path / "plain", {"LICENSES/MIT.txt": MIT_TEXT, "LICENSES/README.md": b"texts\n", "main.py": CODE,
                               "sub/headed.py": HEADED})
    # a git repository: the committed LICENSES/ decides; a license text added to the work tree but never
    # committed is not HEAD's (only HEAD's files are read)
    repo = tmp_path / "repo"
    _tree(repo, {"LICENSES/gpl-3.0-or-later.txt": b"GNU GENERAL PUBLIC LICENSE\n", "a.py": CODE})
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    (repo / "LICENSES" / "MIT.txt").write_bytes(MIT_TEXT)
    # a tarball whose members lie under one top directory, and a zip with its LICENSES/ at the root
    _tar(tmp_path / "proj-1.0.tar.gz", {"proj-1.0/LICENSES/Apache-2.0.txt": b"Apache License\n",
                                        "proj-1.0/src/b.py": CODE})
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("LICENSES/BSD-3-Clause.txt", BSD3_TEXT)
        zf.writestr("c.py", CODE)
    got = _curate(tmp_path, str(tmp_path / "plain"), str(repo), str(tmp_path / "proj-1.0.tar.gz"),
                  str(tmp_path / "z.zip"))
    assert got == {"code:plain/main.py": "MIT", "code:plain/sub/headed.py": "Apache-2.0",
                   "code:repo/a.py": "GPL-3.0-or-later",  # the id as the file name writes it, in canonical case
                   "code:proj-1.0/proj-1.0/src/b.py": "Apache-2.0", "code:z/c.py": "BSD-3-Clause"}


def test_several_reuse_licenses_leave_unheaded_files_without_one(tmp_path):
    # REUSE lists every license some file is under; which one a file is under is its header's to say, so a file
    # without one has no single license (neither "MIT AND CC0-1.0" nor "MIT OR CC0-1.0" is stated anywhere)
    files = {"LICENSES/MIT.txt": MIT_TEXT, "LICENSES/CC0-1.0.txt": CC0_TEXT, "main.py": CODE, "headed.py": HEADED}
    _tree(tmp_path / "plain", files)
    repo = tmp_path / "repo"
    _tree(repo, files)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    _tar(tmp_path / "t.tar.gz", {f"t/{rel}": data for rel, data in files.items()})
    got = _curate(tmp_path, str(tmp_path / "plain"), str(repo), str(tmp_path / "t.tar.gz"))
    assert got == {"code:plain/main.py": "NOASSERTION", "code:plain/headed.py": "Apache-2.0",
                   "code:repo/main.py": "NOASSERTION", "code:repo/headed.py": "Apache-2.0",
                   "code:t/t/main.py": "NOASSERTION", "code:t/t/headed.py": "Apache-2.0"}


def test_a_top_level_license_file_wins_over_licenses_dir_and_foreign_dirs_do_not_count(tmp_path):
    # the top-level LICENSE is the tree's when there is one
    _tree(tmp_path / "both", {"LICENSE": BSD3_TEXT, "LICENSES/MIT.txt": MIT_TEXT, "a.py": CODE})
    # pandas' LICENSES/ holds bundled projects' texts under names that are no license ids: no license
    _tree(tmp_path / "bundled", {"LICENSES/NUMPY_LICENSE": BSD3_TEXT, "LICENSES/PSF_LICENSE": b"PSF\n", "a.py": CODE})
    # a LICENSES/ that is a link out of the tree is not the tree's (as for a LICENSE file)
    _tree(tmp_path / "elsewhere", {"MIT.txt": MIT_TEXT})
    _tree(tmp_path / "linked", {"a.py": CODE})
    os.symlink(tmp_path / "elsewhere", tmp_path / "linked" / "LICENSES")
    got = _curate(tmp_path, str(tmp_path / "both"), str(tmp_path / "bundled"), str(tmp_path / "linked"))
    assert got == {"code:both/a.py": "BSD-3-Clause", "code:bundled/a.py": "NOASSERTION",
                   "code:linked/a.py": "NOASSERTION"}


def test_reuse_names_are_ids_and_their_listing_is_capped(tmp_path, monkeypatch):
    assert reuse_license_id("mit.txt") == "MIT"
    assert reuse_license_id("Apache-2.0") == "Apache-2.0"  # no extension: ".0" is part of the id
    assert reuse_license_id("GPL-2.0-only.txt") == "GPL-2.0-only"
    assert reuse_license_id("LicenseRef-Acme-Proprietary.txt") == "LicenseRef-Acme-Proprietary"
    assert reuse_license_id("CC-BY-SA-4.0.md") == "CC-BY-SA-4.0"
    for not_an_id in ("README.md", "NUMPY_LICENSE", ".gitkeep", "numpy.txt", "a b.txt"):
        assert reuse_license_id(not_an_id) is None, not_an_id
    assert reuse_spdx(["MIT.txt", "mit.md"]) == "MIT"  # one license in two formats
    assert reuse_spdx(["README.md"]) is None
    assert tree_spdx({}, ["MIT.txt", "Apache-2.0.txt"]) == "NOASSERTION"
    # names looked at in LICENSES/ are capped, as the bytes of a LICENSE file are
    _tree(tmp_path, {f"LICENSES/LicenseRef-{i}.txt": b"x" for i in range(20)})
    monkeypatch.setattr(code_trees, "REUSE_MAX_FILES", 5)
    assert len(code_trees._reuse_names(str(tmp_path))) == 5


SITE = Path(sysconfig.get_paths()["purelib"])
# License files of packages installed in this virtualenv (setup.py's dependencies and dev extra), with the
# license their metadata declares: real texts the rules missed or mislabelled.
INSTALLED = {"pillow-*.dist-info/licenses/LICENSE": "MIT-CMU",  # PIL's text after its preamble, then 1,000 lines
             "cffi-*.dist-info/licenses/LICENSE": "MIT-0",       # of bundled libraries' licenses (BSD, ...)
             "warcio-*.dist-info/licenses/LICENSE": "Apache-2.0",  # the text without its title line
             "shellingham-*.dist-info/LICENSE": "ISC"}  # "modify, and distribute" (OpenBSD's wording)


@pytest.mark.parametrize("pattern", sorted(INSTALLED))
def test_installed_license_texts(pattern):
    found = sorted(SITE.glob(pattern))
    if not found:
        pytest.skip(f"no {pattern} under {SITE} (installed by the dev setup)")
    assert spdx_of_text(found[-1].read_text(encoding="utf-8", errors="replace")) == INSTALLED[pattern]


def test_license_families_told_apart_by_their_own_sentences():
    grant = ("Permission to use, copy, modify and distribute this software and its documentation for any purpose "
             "and without fee is hereby granted, provided that the above copyright notice appears in all copies, "
             "and that both that copyright notice and this permission notice appear in supporting documentation, "
             "and that the name of Acme not be used in advertising or publicity pertaining to distribution of the "
             "software without specific, written prior permission.")
    assert spdx_of_text(grant + " ACME DISCLAIMS ALL WARRANTIES...") == "MIT-CMU"
    assert spdx_of_text(grant + " Acme makes no representations about the suitability of this software for any "
                                "purpose. It is provided \"as is\" without express or implied warranty.") == "HPND"
    isc = "Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is " \
          "hereby granted"
    assert spdx_of_text(isc + ", provided that the above copyright notice and this permission notice appear in "
                              "all copies.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\"") == "ISC"
    assert spdx_of_text(isc + ".\n\nTHE SOFTWARE IS PROVIDED \"AS IS\" AND THE AUTHOR DISCLAIMS") == "0BSD"
    bsd = "Redistribution and use in source and binary forms, with or without modification, are permitted ... "
    assert spdx_of_text(bsd + "3. All advertising materials mentioning features or use of this software must "
                              "display the following acknowledgement ... 4. Neither the name of") == "BSD-4-Clause"
    assert spdx_of_text(bsd + "3. The name of the author may not be used to endorse or promote products derived "
                              "from this software without specific prior written permission.") == "BSD-3-Clause"
    assert spdx_of_text("Licensed under the Apache License 2.0 (the \"License\").") == "Apache-2.0"
    # the SIL OFL grants "Permission is hereby granted, free of charge, to any person obtaining a copy of the Font
    # Software": MIT's sentence, after the OFL's title
    assert spdx_of_text("SIL OPEN FONT LICENSE\nVersion 1.1 - 26 February 2007\n ... Permission is hereby granted, "
                        "free of charge, to any person obtaining a copy of the Font Software") == "OFL-1.1"


def test_a_license_cited_deep_in_another_agreement_is_not_the_files():
    # NVIDIA's CUDA EULA (59 KB, in the nvidia-* wheels) cites "the GNU General Public License v3" 26 KB in
    eula = ("End User License Agreement\n" + "The Software License Agreement contains license terms and "
            "conditions that govern the use of the software. " * 300 + "Components are licensed under the terms "
            "of the GNU General Public License v3 (\"GPL v3\").\n")
    assert spdx_of_text(eula) == "NOASSERTION"
    assert spdx_of_text("GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n" + "terms " * 5000) == "GPL-3.0"
