"""SPDX id of a repository's license from its LICENSE/COPYING file, by the distinctive phrases of each
common license's text (the way licensee and go-license-detector start: normalise, then look for the
sentences no other license has). The licenses that name each other in their terms (GPL-3.0 section 13 and
MPL-2.0's "Secondary License" both name the GNU Affero GPL) are told apart by their title instead: the first
of those titles in the text that a version follows ("GNU GENERAL PUBLIC LICENSE Version 3", "Mozilla Public
License Version 2.0", "under the terms of the GNU General Public License ... either version 2") decides.
Of several licenses in one file, the one that starts first, within its first LICENSE_HEAD_CHARS, is the file's
(`spdx_of_text`). Unknown text gives "NOASSERTION"; no license file gives None. License file names match in any
case. A source file that states its own license (`SPDX-License-Identifier: MIT` in its first lines, as REUSE and
the Linux kernel require) is under that license, whatever the tree's (`spdx_header`). A REUSE tree without a
top-level license file is under the license its `LICENSES/` directory names, when it names one (`reuse_spdx`)."""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

# In order of preference. COPYING.LESSER before COPYING: a GNU project that ships both is under the LGPL (its
# terms are the GPL's plus the LESSER's permissions), and COPYING alone read it as GPL.
LICENSE_FILE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENSE.rst", "LICENCE", "LICENCE.md",
                      "LICENCE.txt", "COPYING.LESSER", "COPYING", "COPYING.md", "COPYING.txt", "LICENSE-MIT",
                      "LICENSE-APACHE", "UNLICENSE")

# Titled licenses: (title, {version: spdx id}); versions without a trailing ".0" ("2.0" and "2" are one).
_TITLES = (
    ("gnu affero general public license", {"3": "AGPL-3.0"}),
    ("gnu lesser general public license", {"3": "LGPL-3.0", "2.1": "LGPL-2.1"}),
    ("gnu library general public license", {"2": "LGPL-2.0"}),
    ("gnu general public license", {"3": "GPL-3.0", "2": "GPL-2.0"}),
    ("mozilla public license", {"2": "MPL-2.0"}),
    ("apache license", {"2": "Apache-2.0"}),
    ("eclipse public license", {"2": "EPL-2.0", "1": "EPL-1.0"}),
    ("european union public licence", {"1.2": "EUPL-1.2", "1.1": "EUPL-1.1"}),
    ("sil open font license", {"1.1": "OFL-1.1"}),
)
_TITLE = re.compile("|".join(re.escape(title) for title, _ in _TITLES))
# The version that belongs to a title follows it closely: "Version 3, 29 June 2007", "v. 2.0", "- v 2.0",
# "as published by the Free Software Foundation; either version 2" (a title with none near is a mention).
_VERSION = re.compile(r"\b(?:version|v\.?)\s*(\d+(?:\.\d+)?)")
# or the bare number right after the title: "Licensed under the Apache License 2.0" (OpenSSL's file headers)
_BARE_VERSION = re.compile(r",?\s*(\d+\.\d+)\b")
TITLE_VERSION_WINDOW = 120
# A file's own license starts near its head (the latest in the installed packages' license files and Debian's
# copyright texts: 2.5 KB in, after Python's history of the software); a license named or quoted further in is
# a mention in another text's terms: NVIDIA's 59 KB EULA cites "the GNU General Public License v3" 26 KB in,
# which made that proprietary agreement GPL-3.0.
LICENSE_HEAD_CHARS = 10_000

# (spdx id, phrases that must all appear in the normalised text) for the licenses without a title above; the
# first match wins, so the more specific texts (BSD-3 before BSD-2) come first.
_RULES = (
    ("BSL-1.0", ("boost software license",)),
    ("BSL-1.0", ("to any person or organization obtaining a copy of the software and accompanying documentation",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("CC0-1.0", ("the laws of most jurisdictions throughout the world automatically confer exclusive copyright and "
                 "related rights",)),
    ("CC-BY-SA-4.0", ("creative commons attribution-sharealike 4.0 international public license",)),
    ("CC-BY-4.0", ("creative commons attribution 4.0 international public license",)),
    ("Zlib", ("this software is provided 'as-is'", "altered source versions must be plainly marked")),
    # ISC's grant, "modify, and/or distribute" or (older, OpenBSD's) "modify, and distribute"; 0BSD is that
    # sentence with nothing after "granted" (no notice to keep)
    ("0BSD", ("distribute this software for any purpose with or without fee is hereby granted. the software is",)),
    ("ISC", ("distribute this software for any purpose with or without fee is hereby granted",)),
    ("PostgreSQL", ("without fee, and without a written agreement is hereby granted",)),
    # the "Historical Permission Notice" family: HPND says the authors "make no representations"; MIT-CMU (CMU's,
    # and PIL/Pillow's, which opens with "By obtaining, using, and/or copying this software...") does not
    ("HPND", ("for any purpose and without fee is hereby granted",
              "makes no representations about the suitability of this software for any purpose")),
    ("MIT-CMU", ("for any purpose and without fee is hereby granted",
                 "not be used in advertising or publicity pertaining to distribution of the software without")),
    ("BSD-4-Clause", ("redistribution and use in source and binary forms",
                      "all advertising materials mentioning features or use of this software")),
    ("BSD-3-Clause-Clear", ("redistribution and use in source and binary forms",
                            "no express or implied licenses to any party's patent rights are granted")),
    # the third clause: "Neither the name of X nor...", or "The name of the author may not be used to endorse..."
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms",
                      "endorse or promote products derived from this software")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",
                      "this list of conditions and the following disclaimer")),
    # MIT-0 is MIT's grant with its condition (keep the notice) cut: "furnished to do so." then the disclaimer
    ("MIT-0", ("permission is hereby granted, free of charge, to any person obtaining a copy",
               "to whom the software is furnished to do so. the software is provided")),
    ("MIT", ("permission is hereby granted, free of charge, to any person obtaining a copy",)),
    ("WTFPL", ("do what the fuck you want to public license",)),
    ("PSF-2.0", ("python software foundation license",)),
    ("MS-RL", ("this license governs use of the accompanying software", "reciprocal grants")),
    ("MS-PL", ("this license governs use of the accompanying software. if you use the software, you accept",)),
    ("Artistic-2.0", ("copyright (c) 2000-2006, the perl foundation",)),
    ("NCSA", ("university of illinois/ncsa open source license",)),
    # the texts above whose title was cut off (a Debian copyright file, a LICENSE pasted from its body)
    ("OFL-1.1", ("the goals of the open font license (ofl) are to stimulate worldwide development of collaborative",)),
    ("Apache-2.0", ("version 2.0, january 2004", "terms and conditions for use, reproduction, and distribution")),
    ("MPL-2.0", ("\"contributor\" means each individual or legal entity that creates, contributes to the creation",)),
)


def normalise(text: str) -> str:
    text = text.lower().replace("“", "\"").replace("”", "\"").replace("’", "'").replace("‘", "'")
    text = re.sub(r"^\s*(#|//|\*|;)\s?", "", text, flags=re.M)
    return re.sub(r"\s+", " ", text)


def _titled_spdx(norm: str) -> Optional[Tuple[int, str]]:
    """(position, id) of the first title in the text that a version follows ("NOASSERTION" for a version we do
    not know, such as GPL-1 or MPL-1.1); None when no title has a version."""
    versions = dict(_TITLES)
    for title in _TITLE.finditer(norm):
        # bounded: a file of title mentions without a version must not scan to its end from each of them
        version = (_BARE_VERSION.match(norm, title.end())
                   or _VERSION.search(norm, title.end(), title.end() + TITLE_VERSION_WINDOW + 20))
        if version and version.start() - title.end() <= TITLE_VERSION_WINDOW:
            number = re.sub(r"\.0$", "", version.group(1))
            return title.start(), versions[title.group(0)].get(number, "NOASSERTION")
    return None


def spdx_of_text(text: str) -> str:
    """The license whose text starts first in the file: its title with a version, or the first of its phrases
    (rules in `_RULES` order at one position, so BSD-3 before BSD-2). A license file that appends the notices
    of bundled third-party code (numpy's and scipy's BSD-3 followed by a GPL-3.0 component's terms, MIT
    followed by an MPL-2.0 one) is the project's own license, the one at its head: the titled check ran first
    and won wherever it matched, which made those files GPL-3.0."""
    norm = normalise(text)
    found = []  # (position, rank, spdx)
    titled = _titled_spdx(norm)
    if titled:
        found.append((titled[0], -1, titled[1]))
    for rank, (spdx, phrases) in enumerate(_RULES):
        positions = [norm.find(p) for p in phrases]
        if min(positions) >= 0:
            found.append((min(positions), rank, spdx))
    found = [f for f in found if f[0] <= LICENSE_HEAD_CHARS]
    return min(found)[2] if found else "NOASSERTION"


def find_license_file(names: Iterable[str]) -> Optional[str]:
    """The license file among a tree's top-level file names, by LICENSE_FILE_NAMES order, in any case
    (`License.txt`, `licence`); of two names that differ in case only, the exact one, then the first sorted."""
    by_lower: Dict[str, List[str]] = {}
    for name in sorted(names):
        by_lower.setdefault(name.lower(), []).append(name)
    for candidate in LICENSE_FILE_NAMES:
        found = by_lower.get(candidate.lower())
        if found:
            return candidate if candidate in found else found[0]
    return None


def tree_spdx(texts: Mapping[str, str], reuse_names: Iterable[str] = ()) -> Optional[str]:
    """The SPDX expression of a tree from the texts of its top-level license files (file name -> text; None when
    it has none): the preferred file's license (`find_license_file`), except that without a plain LICENSE the
    `LICENSE-<X>` files of the dual-licensing convention (Rust's `LICENSE-MIT` + `LICENSE-APACHE`) give each of
    their licenses, `MIT OR Apache-2.0`, where the first of them alone was taken before. A tree with no
    top-level license file is a REUSE project's when its `LICENSES/` directory names licenses: `reuse_names`,
    the names of the files there, decide (`reuse_spdx`)."""
    found = find_license_file(texts)
    if not found:
        return reuse_spdx(reuse_names)
    if found.lower().startswith("license-"):
        ids = sorted({spdx_of_text(t) for n, t in texts.items() if n.lower().startswith("license-")} - {"NOASSERTION"})
        if len(ids) > 1:
            return " OR ".join(ids)
    return spdx_of_text(texts[found])


# `SPDX-License-Identifier: <expression>` in a file's first lines (the SPDX specification's short-form
# identifier, annex E): the expression runs to the end of the line, less a comment's closing mark.
SPDX_HEADER_CHARS = 4096
_SPDX_HEADER = re.compile(r"SPDX-License-Identifier:[ \t]*([^\r\n]*)")
_SPDX_CLOSERS = re.compile(r"\s*(?:\*/|-->|--}}|#}|\*\)|-})?\s*$")
_SPDX_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9][A-Za-z0-9.+-]*(?::[A-Za-z0-9][A-Za-z0-9.+-]*)?")
_SPDX_OPERATORS = {"and": "AND", "or": "OR", "with": "WITH"}
# SPDX ids match in any case (specification, annex D); the ones this module gives are written as it gives them
_KNOWN_IDS = {spdx.lower(): spdx for spdx in [s for _, ids in _TITLES for s in ids.values()] + [s for s, _ in _RULES]}


def spdx_header(text: str) -> Optional[str]:
    """The license expression a source file states in its first SPDX_HEADER_CHARS characters
    (`// SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note`), operators in capitals; None without
    one, or when what follows is not an SPDX expression (ids, `AND`/`OR`/`WITH`, parentheses)."""
    match = _SPDX_HEADER.search(text, 0, SPDX_HEADER_CHARS)
    if not match:
        return None
    expression = _SPDX_CLOSERS.sub("", match.group(1)).strip()
    tokens = expression.replace("(", " ( ").replace(")", " ) ").split()
    if not tokens or not all(_SPDX_TOKEN.fullmatch(t) for t in tokens):
        return None
    words = [_SPDX_OPERATORS.get(t.lower()) or _KNOWN_IDS.get(t.lower(), t) for t in tokens]
    operand = [w not in ("AND", "OR", "WITH", "(", ")") for w in words]
    if not operand[0] and words[0] != "(" or any(a and b for a, b in zip(operand, operand[1:])):
        return None  # prose after the id ("MIT license"), not an expression
    return " ".join(words).replace("( ", "(").replace(" )", ")")


# REUSE (https://reuse.software/spec-3.3/): "A Project MUST include a License File for every license under which
# Covered Files are licensed", each placed in the `LICENSES/` directory at the project's root and named "the SPDX
# License Identifier of the license followed by an appropriate file extension" (`LICENSES/GPL-3.0-or-later.txt`),
# often with no LICENSE file at the top. Only the names are read: they are the ids (`MIT.txt` holding some other
# text is the project's error, not ours to second-guess). Names looked at there are capped like the bytes of a
# LICENSE file: a REUSE project has a handful (KDE's biggest, a dozen or two).
REUSE_DIR = "LICENSES"
REUSE_MAX_FILES = 1000
_REUSE_EXTENSIONS = (".txt", ".md", ".rst", ".text", ".markdown", ".html")
_REF_ID = re.compile(r"(?:DocumentRef-[A-Za-z0-9.+-]+:)?LicenseRef-[A-Za-z0-9.+-]+")
_GNU_SUFFIX = re.compile(r"(-only|-or-later|\+)$", re.I)
# ids with no digit in them that a LICENSES/ file is named after, besides those in _KNOWN_IDS (a name without
# a digit, such as README.md or NUMPY_LICENSE, is otherwise not taken for an id)
_IDS_WITHOUT_DIGITS = {i.lower(): i for i in ("curl", "Beerware", "JSON", "OpenSSL", "Ruby", "Vim",
                                               "Linux-syscall-note", "LLVM-exception")}


def reuse_license_id(name: str) -> Optional[str]:
    """The SPDX id that a file name in a REUSE `LICENSES/` directory gives (`Apache-2.0.txt` -> `Apache-2.0`,
    `LicenseRef-Acme.txt`, `Apache-2.0` without an extension), in its canonical case where this module knows the
    id (`mit.txt` -> `MIT`, `gpl-3.0-or-later.txt` -> `GPL-3.0-or-later`); None for a name that is not a plausible
    id (`README.md`, `NUMPY_LICENSE`, `.gitkeep`): an id has a digit in it or is a known one."""
    ext = next((e for e in _REUSE_EXTENSIONS if name.lower().endswith(e)), "")
    stem = name[: len(name) - len(ext)]
    if _REF_ID.fullmatch(stem):
        return stem
    if not _SPDX_TOKEN.fullmatch(stem) or ":" in stem:
        return None
    suffix = _GNU_SUFFIX.search(stem)
    base, tail = (stem[: suffix.start()], suffix.group(1).lower()) if suffix else (stem, "")
    known = _KNOWN_IDS.get(base.lower()) or _IDS_WITHOUT_DIGITS.get(base.lower())
    if known:
        return known + tail
    return stem if any(c.isdigit() for c in stem) else None


def reuse_spdx(names: Iterable[str]) -> Optional[str]:
    """The license of a REUSE tree's files that state none of their own, from the names of the files in its
    `LICENSES/` (None when none is a license id): one license there is every file's. With several, REUSE leaves
    each file's license to the file (its `SPDX-License-Identifier` header, a `.license` sidecar, REUSE.toml):
    the directory lists the licenses the files are under between them, not under which one a file without a
    header is. `A AND B` would put every such file under both, `A OR B` would let a GPL file be taken as MIT:
    neither is stated anywhere, so NOASSERTION."""
    ids = {i.lower(): i for i in map(reuse_license_id, names) if i}
    if not ids:
        return None
    return next(iter(ids.values())) if len(ids) == 1 else "NOASSERTION"
