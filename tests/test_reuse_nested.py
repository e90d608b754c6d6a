"""REUSE.toml files below a tree's root (REUSE 3.3: any directory may have one, covering the files at and below
it, its paths relative to it). They were not read: a subdirectory that declares its own license (an imported
library under Apache-2.0 in an MIT project) had every file labelled with the root's. Each tree is read the four
ways tests/test_reuse_annotations.py reads one: directory, git HEAD, tarball under one top directory, zip."""
from __future__ import annotations

import logging

from pipelines.ingest import licenses
from tests.test_reuse_annotations import APACHE_PY, CODE_PY, GPL_PY, SEVERAL, every_kind


def toml(*tables) -> bytes:
    """A REUSE.toml of (path, precedence, license) tables."""
    out = ["version = 1"]
    for path, precedence, license_id in tables:
        out += ["", "[[annotations]]", f'path = "{path}"', f'precedence = "{precedence}"',
                f'SPDX-License-Identifier = "{license_id}"']
    return ("\n".join(out) + "\n").encode()


def test_nested_reuse_tomls_closest_override_and_aggregate(tmp_path):
    files = {**SEVERAL, "REUSE.toml": toml(("**", "closest", "MIT")),
             "top.py": CODE_PY,
             # a deeper "closest" wins over the root's, and yields to the file's own header
             "lib/REUSE.toml": toml(("**", "closest", "Apache-2.0")),
             "lib/a.py": CODE_PY, "lib/sub/b.py": CODE_PY, "lib/h.py": GPL_PY,
             # its paths are relative to its own directory: `*.py` covers lib2/c.py, not lib2/deep/d.py
             "lib2/REUSE.toml": toml(("*.py", "closest", "0BSD")),
             "lib2/c.py": CODE_PY, "lib2/deep/d.py": CODE_PY,
             # aggregate: its license and what the file (or, stating none, the closest annotation) says
             "agg/REUSE.toml": toml(("**", "aggregate", "CC0-1.0")),
             "agg/w.py": CODE_PY, "agg/z.py": APACHE_PY,
             # override below the root: its license, whatever the file and the closest annotations above say
             "ovr/REUSE.toml": toml(("**", "override", "BSD-3-Clause")),
             "ovr/x.py": APACHE_PY,
             # an outer override decides over a deeper REUSE.toml
             "frozen/REUSE.toml": toml(("**", "override", "ISC")),
             "frozen/inner/REUSE.toml": toml(("**", "override", "Zlib")),
             "frozen/inner/y.py": GPL_PY}
    want = {"top.py": "MIT", "lib/a.py": "Apache-2.0", "lib/sub/b.py": "Apache-2.0", "lib/h.py": "GPL-3.0-or-later",
            "lib2/c.py": "0BSD", "lib2/deep/d.py": "MIT",
            "agg/w.py": "MIT AND CC0-1.0", "agg/z.py": "Apache-2.0 AND CC0-1.0",
            "ovr/x.py": "BSD-3-Clause", "frozen/inner/y.py": "ISC"}
    for kind, (got, _) in every_kind(tmp_path, files, want).items():
        assert got == want, kind


def test_a_nested_reuse_toml_applies_without_one_at_the_root(tmp_path):
    files = {**SEVERAL, "plain.py": CODE_PY, "pkg/REUSE.toml": toml(("**", "closest", "Apache-2.0")),
             "pkg/m.py": CODE_PY}
    want = {"plain.py": "NOASSERTION", "pkg/m.py": "Apache-2.0"}
    for kind, (got, _) in every_kind(tmp_path, files, want).items():
        assert got == want, kind


def test_a_malformed_nested_reuse_toml_is_reported_naming_it_and_ignored(tmp_path, caplog):
    files = {**SEVERAL, "REUSE.toml": toml(("**", "closest", "MIT")), "pkg/REUSE.toml": b"version = [\n",
             "pkg/m.py": CODE_PY}
    with caplog.at_level(logging.WARNING):
        got = every_kind(tmp_path, files, ["pkg/m.py"])
    for kind, (found, _) in got.items():
        assert found == {"pkg/m.py": "MIT"}, kind  # the root's annotation, as if pkg/REUSE.toml were not there
    assert sum("pkg/REUSE.toml is ignored" in r.getMessage() for r in caplog.records) == len(got)


def test_nested_rule_and_file_license_as_functions():
    mit, apache = (licenses.Annotation(("**",), (licenses.reuse_glob("**"),), p, e)
                   for p, e in (("closest", "MIT"), ("closest", "Apache-2.0")))
    agg = licenses.Annotation(("**",), (licenses.reuse_glob("**"),), "aggregate", "CC0-1.0")
    over = licenses.Annotation(("**",), (licenses.reuse_glob("**"),), "override", "ISC")
    rule = licenses.nested_rule
    assert rule([], "GPL-2.0-only") == "GPL-2.0-only"
    assert rule([mit], None) == "MIT" and rule([over], None) == "override=ISC"  # one: as license_rule
    assert rule([mit, apache], None) == "Apache-2.0"
    assert rule([mit, agg], None) == "aggregate=CC0-1.0;MIT"
    assert rule([agg, mit, over], None) == "aggregate=CC0-1.0;override=ISC"
    file_license = licenses.file_license
    assert file_license("aggregate=CC0-1.0;MIT", None) == "MIT AND CC0-1.0"
    assert file_license("aggregate=CC0-1.0;MIT", "GPL-2.0-only OR MIT") == "(GPL-2.0-only OR MIT) AND CC0-1.0"
    assert file_license("aggregate=CC0-1.0;override=ISC", "MIT") == "ISC AND CC0-1.0"
    assert file_license("MIT OR Apache-2.0", None) == "MIT OR Apache-2.0"  # one expression: as stated


def test_reuse_tomls_past_the_cap_are_not_read_and_said_so(tmp_path, caplog, monkeypatch):
    from pipelines.ingest import code_trees

    monkeypatch.setattr(code_trees, "REUSE_MAX_NESTED", 1)
    files = {**SEVERAL, "a/REUSE.toml": toml(("**", "closest", "MIT")), "a/x.py": CODE_PY,
             "b/REUSE.toml": toml(("**", "closest", "ISC")), "b/y.py": CODE_PY}
    with caplog.at_level(logging.WARNING):
        got = every_kind(tmp_path, files, ["a/x.py", "b/y.py"])
    for kind, (found, _) in got.items():
        assert found == {"a/x.py": "MIT", "b/y.py": "NOASSERTION"}, kind
    assert sum("b/REUSE.toml and those after it are not read" in r.getMessage() for r in caplog.records) == len(got)
