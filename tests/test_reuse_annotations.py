"""Licenses a REUSE project states outside its files (https://reuse.software/spec-3.3/): a `.license` sidecar
beside a file, the `[[annotations]]` of a REUSE.toml at the tree's root (precedence "closest", "override",
"aggregate"; the last table that covers a file decides) and the deprecated `.reuse/dep5`. All were ignored: a
REUSE project with several licenses in `LICENSES/` had NOASSERTION for every file without a header, whatever its
sidecar or REUSE.toml said, and a malformed REUSE.toml went unreported. Every tree here is read by the code
reader four ways: as a directory, as a git repository's HEAD, as a tarball under one top directory and as a zip.
"""
from __future__ import annotations

import io
import logging
import os
import subprocess
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from pipelines.ingest import licenses
from pipelines.ingest.inputs import CODE, InputFile
from pipelines.ingest.readers import read_input_file, split_input
from schemas import METADATA

CODE_PY = b"def f():\n    return 1\n"
APACHE_PY = b"# SPDX-License-Identifier: Apache-2.0\ndef g():\n    return 2\n"
GPL_PY = b"# SPDX-License-Identifier: GPL-3.0-or-later\ndef h():\n    return 3\n"
MIT_TEXT = (b"MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this "
            b"software...\n")
# several licenses in LICENSES/: the tree's license is NOASSERTION, each file's is its own to state
SEVERAL = {"LICENSES/MIT.txt": MIT_TEXT, "LICENSES/Apache-2.0.txt": b"Apache License\n",
           "LICENSES/CC0-1.0.txt": b"CC0 1.0 Universal\n", "LICENSES/GPL-3.0-or-later.txt": b"GNU GPL\n"}
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
KINDS = ("dir", "git", "tar", "zip")


def read_tree(path: Path):
    """({path in the tree: license} of the kept files, Counter of the drop reasons), as `code:PATH` is read."""
    kept, dropped = {}, Counter()
    for part in split_input(InputFile(CODE, str(path))):
        for status, value in read_input_file(part):
            assert status != "error", value
            if status == "kept":
                meta = dict(value[METADATA])
                kept[meta["path"].split("proj/", 1)[-1] if path.name.endswith(".tar.gz") else meta["path"]] = \
                    meta["license"]
            else:
                dropped[value] += 1
    return kept, dropped


def write_kind(tmp_path: Path, kind: str, files) -> Path:
    """The tree `files` ({path: bytes}) as a directory, a committed git repository, a tarball whose members lie
    under `proj/`, or a zip with them at its root."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if kind in ("dir", "git"):
        root = tmp_path / kind
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        if kind == "git":
            for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "init"]):
                subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=GIT_ENV)
        return root
    if kind == "tar":
        path = tmp_path / "proj.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for rel, data in files.items():
                info = tarfile.TarInfo(f"proj/{rel}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path
    path = tmp_path / "proj.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
    return path


def every_kind(tmp_path: Path, files, wanted):
    """{kind: ({path: license} of the `wanted` paths, drop reasons)} of the tree read as each kind of tree."""
    got = {}
    for kind in KINDS:
        kept, dropped = read_tree(write_kind(tmp_path, kind, files))
        assert not [p for p in kept if p.endswith(".license")], kind  # a sidecar is never a document
        got[kind] = ({p: kept.get(p) for p in wanted}, dropped)
    return got


def test_a_sidecar_states_its_files_license_over_the_header(tmp_path):
    big = b"SPDX-License-Identifier: MIT\n" + b"#" * 70_000  # over the 64 KiB a sidecar is read up to
    files = {**SEVERAL,
             # an uncommentable file's license is in its sidecar (with its copyright)
             "data.json": b'{"a": 1}\n',
             "data.json.license": b"SPDX-FileCopyrightText: 2024 Jane Doe\n\nSPDX-License-Identifier: CC0-1.0\n",
             # a sidecar beside a file that states its own: the sidecar's "takes precedence" (spec 3.3)
             "headed.py": APACHE_PY, "headed.py.license": b"SPDX-License-Identifier: mit\n",
             # "one or more" identifier lines: all of them apply
             "two.py": CODE_PY,
             "two.py.license": b"SPDX-License-Identifier: MIT\nSPDX-License-Identifier: MIT OR Apache-2.0\n",
             # a sidecar with copyright only: the file's own contents are still ignored, so nothing states one
             "copyright_only.py": APACHE_PY, "copyright_only.py.license": b"SPDX-FileCopyrightText: 2024 Jane\n",
             # a sidecar over the cap is not read: the header decides
             "big.py": APACHE_PY, "big.py.license": big,
             "plain.py": CODE_PY, "own.py": APACHE_PY}
    want = {"data.json": "CC0-1.0", "headed.py": "MIT", "two.py": "MIT AND (MIT OR Apache-2.0)",
            "copyright_only.py": "NOASSERTION", "big.py": "Apache-2.0", "plain.py": "NOASSERTION",
            "own.py": "Apache-2.0"}
    for kind, (got, dropped) in every_kind(tmp_path, files, want).items():
        assert got == want, kind
        assert dropped["license_sidecar"] == 5, (kind, dropped)  # each sidecar, under its own reason


REUSE_TOML = b'''version = 1

[[annotations]]
path = "src/**"
SPDX-License-Identifier = "MIT"

[[annotations]]
path = "copied/**"
precedence = "override"
SPDX-FileCopyrightText = "2020 Upstream Inc."
SPDX-License-Identifier = "BSD-3-Clause"

[[annotations]]
path = "po/*.py"
precedence = "aggregate"
SPDX-License-Identifier = "GPL-3.0-or-later"

[[annotations]]
path = "notes/*"
SPDX-FileCopyrightText = "2024 Jane Doe"
'''


def test_reuse_toml_closest_override_and_aggregate(tmp_path):
    files = {**SEVERAL, "REUSE.toml": REUSE_TOML,
             # closest (the default): the table's license where the file states none of its own
             "src/a.py": CODE_PY, "src/deep/b.py": APACHE_PY,
             "src/c.py": CODE_PY, "src/c.py.license": b"SPDX-License-Identifier: CC0-1.0\n",
             # override: the table's license, whatever the file or its sidecar says
             "copied/x.py": APACHE_PY, "copied/y.py": CODE_PY, "copied/y.py.license": b"SPDX-License-Identifier: MIT\n",
             # aggregate: the table's and the file's, both
             "po/z.py": APACHE_PY, "po/w.py": CODE_PY, "po/same.py": GPL_PY,
             # a table that states copyright only leaves the license to the file, then to the tree
             "notes/n.py": CODE_PY, "notes/m.py": APACHE_PY,
             # covered by no table
             "top.py": CODE_PY, "top_headed.py": APACHE_PY}
    want = {"src/a.py": "MIT", "src/deep/b.py": "Apache-2.0", "src/c.py": "CC0-1.0",
            "copied/x.py": "BSD-3-Clause", "copied/y.py": "BSD-3-Clause",
            "po/z.py": "Apache-2.0 AND GPL-3.0-or-later", "po/w.py": "GPL-3.0-or-later",
            "po/same.py": "GPL-3.0-or-later",
            "notes/n.py": "NOASSERTION", "notes/m.py": "Apache-2.0",
            "top.py": "NOASSERTION", "top_headed.py": "Apache-2.0"}
    for kind, (got, _) in every_kind(tmp_path, files, want).items():
        assert got == want, kind


GLOBS_TOML = rb'''version = 1

[[annotations]]
path = "**"
SPDX-License-Identifier = "MIT"

[[annotations]]
path = "**/tests/*.py"
SPDX-License-Identifier = "Unlicense"

[[annotations]]
path = "lib/*.py"
SPDX-License-Identifier = "Apache-2.0"

[[annotations]]
path = ["lib/special.py", "docs/conf.py"]
SPDX-License-Identifier = "CC0-1.0"

[[annotations]]
path = "lib/late.py"
SPDX-License-Identifier = "0BSD"

[[annotations]]
path = "lib/l*.py"
SPDX-License-Identifier = "ISC"

[[annotations]]
path = "lit\\*.py"
SPDX-License-Identifier = "Zlib"
'''


def test_the_last_matching_annotation_wins_and_globs_match_as_reuse_says(tmp_path):
    names = ["top.py", "lib/a.py", "lib/sub/b.py", "lib/special.py", "docs/conf.py", "lib/late.py", "lib/lone.py",
             "lit*.py", "litx.py", "tests/t.py", "pkg/tests/t.py", "pkg/tests/deeper/u.py"]
    files = {**SEVERAL, "REUSE.toml": GLOBS_TOML, **{name: CODE_PY for name in names}}
    want = {"top.py": "MIT",                  # `**` covers every file
            "lib/a.py": "Apache-2.0",         # a later table wins over `**`
            "lib/sub/b.py": "MIT",            # `*` does not match `/`: lib/*.py is not lib/sub/b.py
            "lib/special.py": "CC0-1.0", "docs/conf.py": "CC0-1.0",  # a list of paths
            "lib/late.py": "ISC",             # its own table, then lib/l*.py after it: the last one decides
            "lib/lone.py": "ISC",
            "lit*.py": "Zlib", "litx.py": "MIT",  # "\\*" in TOML: an asterisk as it is, no glob
            "tests/t.py": "Unlicense", "pkg/tests/t.py": "Unlicense",  # `**/` matches no directory, or several
            "pkg/tests/deeper/u.py": "MIT"}
    for kind, (got, _) in every_kind(tmp_path, files, want).items():
        assert got == want, kind


MALFORMED = {
    "not TOML": b"version = 1\n[[annotations]\npath = 'x'\n",
    "no version": b"[[annotations]]\npath = '**'\nSPDX-License-Identifier = 'CC0-1.0'\n",
    "unknown precedence": b"version = 1\n[[annotations]]\npath = '**'\nprecedence = 'strongest'\n"
                          b"SPDX-License-Identifier = 'CC0-1.0'\n",
    "no path": b"version = 1\n[[annotations]]\nSPDX-License-Identifier = 'CC0-1.0'\n",
    "prose, no expression": b"version = 1\n[[annotations]]\npath = '**'\nSPDX-License-Identifier = 'the CC0 license'\n",
    "not UTF-8": b"version = 1\n[[annotations]]\npath = '\xff**'\nSPDX-License-Identifier = 'CC0-1.0'\n",
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_malformed_reuse_toml_is_reported_once_and_ignored(tmp_path, caplog, what):
    files = {"LICENSE": MIT_TEXT, "REUSE.toml": MALFORMED[what], "a.py": CODE_PY, "b.py": APACHE_PY, "c/d.py": CODE_PY}
    for kind in KINDS:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pipelines.ingest.code_trees"):
            kept, _ = read_tree(write_kind(tmp_path / kind, kind, files))
        # the tree's license and the files' own headers, as without a REUSE.toml
        assert {p: kept[p] for p in ("a.py", "b.py", "c/d.py")} == {"a.py": "MIT", "b.py": "Apache-2.0",
                                                                     "c/d.py": "MIT"}, kind
        warnings = [r.getMessage() for r in caplog.records if "REUSE.toml is ignored" in r.getMessage()]
        assert len(warnings) == 1, (kind, warnings)  # once for the tree, not once per file


DEP5 = b"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: proj

Files: *
Copyright: 2024 Jane Doe
License: MIT

# assets, and the docs' configuration
Files: assets/*
 docs/*.py
Copyright: 2024 Jane Doe
License: CC0-1.0
"""


def test_dep5_paragraphs_aggregate_with_what_the_file_says(tmp_path):
    files = {**SEVERAL, ".reuse/dep5": DEP5, "a.py": CODE_PY, "b.py": APACHE_PY, "assets/deep/x.py": CODE_PY,
             "docs/conf.py": CODE_PY}
    want = {"a.py": "MIT",
            "b.py": "Apache-2.0 AND MIT",     # REUSE: DEP5's license and the file's both apply
            "assets/deep/x.py": "CC0-1.0",    # DEP5's `*` matches `/` too; the last paragraph that matches decides
            "docs/conf.py": "CC0-1.0"}        # a `Files:` field continued on the next line
    for kind, (got, _) in every_kind(tmp_path, files, want).items():
        assert got == want, kind


def test_reuse_toml_parts_as_functions():
    parse, matcher_of = licenses.parse_reuse_toml, licenses.AnnotationMatcher
    annotations = parse('version = 1\n[[annotations]]\npath = ["a/*", "b/**"]\nprecedence = "override"\n'
                        'SPDX-License-Identifier = ["mit", "Apache-2.0 or MIT"]\n')
    assert [(a.paths, a.precedence, a.license) for a in annotations] == [
        (("a/*", "b/**"), "override", "MIT AND (Apache-2.0 OR MIT)")]
    matcher = matcher_of(annotations)
    assert [bool(matcher.annotation(p)) for p in ("a/x", "a/x/y", "b/x/y", "c")] == [True, False, True, False]
    assert matcher.rule("a/x", "GPL-3.0") == "override=MIT AND (Apache-2.0 OR MIT)"
    assert matcher.rule("c", "GPL-3.0") == "GPL-3.0"
    with pytest.raises(licenses.ReuseConfigError, match="precedence"):
        parse('version = 1\n[[annotations]]\npath = "x"\nprecedence = "nearest"\n')
    with pytest.raises(licenses.ReuseConfigError, match="version 2"):
        parse("version = 2\n")
    # the file's own statement, completed by the rule its tree gives it
    file_license = licenses.file_license
    assert file_license("override=MIT", "GPL-2.0-only") == "MIT"
    assert file_license("aggregate=MIT", "GPL-2.0-only OR BSD-3-Clause") == "(GPL-2.0-only OR BSD-3-Clause) AND MIT"
    assert file_license("aggregate=MIT", "MIT") == "MIT"
    assert file_license("aggregate=MIT", None) == "MIT"
    assert file_license("MIT", "Apache-2.0") == "Apache-2.0" and file_license("MIT", None) == "MIT"
    assert file_license(None, None) == "NOASSERTION"


def test_a_hostile_glob_is_matched_in_linear_time():
    # as a regular expression, `**a**a...**b` backtracks without end over a long name of a's; the automaton
    # reads each character once
    annotations = licenses.parse_reuse_toml('version = 1\n[[annotations]]\npath = "' + "**a" * 40 + '**b"\n'
                                            'SPDX-License-Identifier = "MIT"\n')
    matcher = licenses.AnnotationMatcher(annotations)
    steps = []
    close = matcher._close
    matcher._close = lambda states: steps.append(1) or close(states)
    assert matcher.annotation("a" * 4000) is None
    assert matcher.annotation("a" * 4000 + "b") is annotations[0]
    assert len(steps) <= 2 * 4001 + 2  # one step of the automaton per character of each name


def test_a_sidecar_of_thousands_of_identifier_lines_is_read_to_a_cap():
    # 64 KB of distinct identifier lines each: joining all of them took ~36 ms a sidecar, so a 64 MB tarball of
    # such sidecars held its reader for 40 s before its first member
    text = "".join(f"SPDX-License-Identifier: LicenseRef-x{j}\n" for j in range(2_000))
    stated = licenses.sidecar_spdx(text)
    assert stated.split(" AND ") == [f"LicenseRef-x{j}" for j in range(licenses.SIDECAR_MAX_IDENTIFIERS)]
    assert licenses.sidecar_spdx("SPDX-License-Identifier: MIT\nSPDX-License-Identifier: mit\n") == "MIT"
