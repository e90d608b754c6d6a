"""SPDX id of a repository's license from its LICENSE/COPYING file, by the distinctive phrases of each
common license's text (the way licensee and go-license-detector start: normalise, then look for the
sentences no other license has). The licenses that name each other in their terms (GPL-3.0 section 13 and
MPL-2.0's "Secondary License" both name the GNU Affero GPL) are told apart by their title instead: the first
of those titles in the text that a version follows ("GNU GENERAL PUBLIC LICENSE Version 3", "Mozilla Public
License Version 2.0", "under the terms of the GNU General Public License ... either version 2") decides.
Of several licenses in one file, the one that starts first is the file's (`spdx_of_text`). Unknown text gives
"NOASSERTION"; no license file gives None. License file names match in any case. A source file that states
its own license (`SPDX-License-Identifier: MIT` in its first lines, as REUSE and the Linux kernel require) is
under that license, whatever the tree's (`spdx_header`)."""
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
)
_TITLE = re.compile("|".join(re.escape(title) for title, _ in _TITLES))
# The version that belongs to a title follows it closely: "Version 3, 29 June 2007", "v. 2.0", "- v 2.0",
# "as published by the Free Software Foundation; either version 2" (a title with none near is a mention).
_VERSION = re.compile(r"\b(?:version|v\.?)\s*(\d+(?:\.\d+)?)")
TITLE_VERSION_WINDOW = 120

# (spdx id, phrases that must all appear in the normalised text) for the licenses without a title above; the
# first match wins, so the more specific texts (BSD-3 before BSD-2) come first.
_RULES = (
    ("BSL-1.0", ("boost software license",)),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("Zlib", ("this software is provided 'as-is'", "altered source versions must be plainly marked")),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",
                      "this list of conditions and the following disclaimer")),
    ("MIT", ("permission is hereby granted, free of charge, to any person obtaining a copy",)),
    ("WTFPL", ("do what the fuck you want to public license",)),
    ("PSF-2.0", ("python software foundation license",)),
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
        version = _VERSION.search(norm, title.end(), title.end() + TITLE_VERSION_WINDOW + 20)
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


def tree_spdx(texts: Mapping[str, str]) -> Optional[str]:
    """The SPDX expression of a tree from the texts of its top-level license files (file name -> text; None when
    it has none): the preferred file's license (`find_license_file`), except that without a plain LICENSE the
    `LICENSE-<X>` files of the dual-licensing convention (Rust's `LICENSE-MIT` + `LICENSE-APACHE`) give each of
    their licenses, `MIT OR Apache-2.0`, where the first of them alone was taken before."""
    found = find_license_file(texts)
    if not found:
        return None
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
