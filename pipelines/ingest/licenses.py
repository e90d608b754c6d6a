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
top-level license file is under the license its `LICENSES/` directory names, when it names one (`reuse_spdx`).

REUSE (https://reuse.software/spec-3.3/) also states a file's license outside the file. A `.license` sidecar
beside it (`foo.json.license`) is the file's own statement, in place of its header (`sidecar_spdx`). The
`[[annotations]]` tables of a REUSE.toml (`parse_reuse_toml`) cover paths by globs (`reuse_glob`, matched by
`AnnotationMatcher`); the last table that covers a file decides, by its precedence: "closest" yields to the file's
own statement, "override" does not, "aggregate" joins both with AND (`file_license`, from the rule `license_rule`
gives a tree's listing). Any directory may have a REUSE.toml, covering the files at and below it (`TreeAnnotations`):
the outermost override decides, the deepest "closest" applies, and every "aggregate" adds (`nested_rule`). The
deprecated `.reuse/dep5` (Debian copyright format 1.0) is read where there is no root REUSE.toml, each `Files:`
paragraph an "aggregate" annotation (`parse_dep5`). Not read: copyright (`SPDX-FileCopyrightText`),
snippets (`SPDX-SnippetBegin`), `REUSE-IgnoreStart`/`REUSE-IgnoreEnd` blocks, and which files REUSE leaves
uncovered (`LICENSES/`, `.reuse/`, files git ignores): an annotation's glob covers those like any other file."""
from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

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
    return spdx_expression(_SPDX_CLOSERS.sub("", match.group(1))) if match else None


def spdx_expression(value: str) -> Optional[str]:
    """An SPDX license expression as this module writes it (operators in capitals, the ids it knows in their
    canonical case, `(A OR B)` without spaces inside the parentheses); None when `value` is not one."""
    tokens = value.replace("(", " ( ").replace(")", " ) ").split()
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


# A file's license stated outside the file (REUSE 3.3, "Comment headers", "REUSE.toml", "Order of precedence"; and
# DEP5, which REUSE deprecates, as the Debian copyright format 1.0 writes it).
#
# `foo.json.license` beside `foo.json` holds foo.json's licensing information ("an adjacent text file of the same
# name with the additional extension `.license`"); where the file also states its own, the sidecar's "takes
# precedence, and the Commentable File's contents are ignored". A sidecar larger than SIDECAR_MAX_BYTES is not
# read (as a LICENSE file over its cap is not a license file): the file's own header decides.
SIDECAR_SUFFIX = ".license"
SIDECAR_MAX_BYTES = 64 << 10
SIDECAR_MAX_IDENTIFIERS = 64
# REUSE.toml at a tree's root, and DEP5 at `.reuse/dep5`; a bigger one is not read (a warning).
REUSE_TOML = "REUSE.toml"
REUSE_DEP5 = ".reuse/dep5"
REUSE_CONFIG_MAX_BYTES = 1 << 20
PRECEDENCES = ("closest", "aggregate", "override")

# A glob, as tokens: ("lit", character), ("star",) any run of characters but `/`, ("globstar",) any run of
# characters, ("one",) any one character.
Token = Tuple[str, ...]
_STAR, _GLOBSTAR, _ONE = ("star",), ("globstar",), ("one",)


class ReuseConfigError(ValueError):
    """A REUSE.toml or DEP5 file that does not follow its format (the message says where)."""


@dataclass(frozen=True)
class Annotation:
    """One `[[annotations]]` table of a REUSE.toml (or one `Files:` paragraph of a DEP5 file): the paths it
    covers as written and as globs, its precedence, and the license expression it states (its
    `SPDX-License-Identifier` values joined with AND; None when it states none)."""
    paths: Tuple[str, ...]
    globs: Tuple[Tuple[Token, ...], ...]
    precedence: str
    license: Optional[str]


def is_sidecar(rel: str) -> bool:
    """Whether a tree path names a REUSE `.license` sidecar (`data/cat.jpg.license`; a file named `.license`
    alone covers no file)."""
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(SIDECAR_SUFFIX) and name != SIDECAR_SUFFIX


def sidecar_spdx(text: str) -> Optional[str]:
    """The license a `.license` sidecar states: each of its `SPDX-License-Identifier` lines ("one or more"),
    joined with AND (a line that is no SPDX expression is skipped; the first SIDECAR_MAX_IDENTIFIERS lines are
    read: a real sidecar has one to a few, and 64 KB of them took ~36 ms to join); None when it states none."""
    matches = itertools.islice(_SPDX_HEADER.finditer(text), SIDECAR_MAX_IDENTIFIERS)
    found = [spdx_expression(_SPDX_CLOSERS.sub("", m.group(1))) for m in matches]
    return and_expressions(e for e in found if e)


def _top_level(tokens: Sequence[str], operator: str) -> List[List[str]]:
    """The tokens of an expression split at each `operator` outside parentheses."""
    parts: List[List[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += (token == "(") - (token == ")")
        if token == operator and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def and_expressions(expressions: Iterable[Optional[str]]) -> Optional[str]:
    """Several SPDX expressions that all apply, as one: their operands joined with AND, each once, in the order
    first given; an operand with an OR outside parentheses is put in parentheses (AND binds tighter than OR:
    `MIT OR Apache-2.0` and `GPL-3.0-only` give `(MIT OR Apache-2.0) AND GPL-3.0-only`). None for none."""
    operands: Dict[str, None] = {}  # ordered, and a set: a sidecar of thousands of lines stays linear
    for expression in expressions:
        if not expression:
            continue
        tokens = re.findall(r"\(|\)|[^\s()]+", expression)
        parts = [tokens] if len(_top_level(tokens, "OR")) > 1 else [p for p in _top_level(tokens, "AND") if p]
        for part in parts:
            text = " ".join(part).replace("( ", "(").replace(" )", ")")
            if len(_top_level(part, "OR")) > 1:
                text = f"({text})"
            operands.setdefault(text)
    return " AND ".join(operands) if operands else None


def _add(tokens: List[Token], token: Token) -> None:
    """Append a glob token; two wildcards in a row are one (`**/*` is `**`), so that none follows another."""
    if token in (_STAR, _GLOBSTAR) and tokens and tokens[-1] in (_STAR, _GLOBSTAR):
        tokens[-1] = _GLOBSTAR if _GLOBSTAR in (token, tokens[-1]) else _STAR
    else:
        tokens.append(token)


def reuse_glob(path: str) -> Tuple[Token, ...]:
    """A REUSE.toml `path` as glob tokens (spec 3.3): `*` matches everything but `/`; `**` and `**/` match
    everything, `/` included (as the reference tool, reuse-tool, reads them: `**/x.py` is `x.py` in any
    directory, and also any name that ends in `x.py`); a backslash takes the next character as it is (`\\*` an
    asterisk, `\\\\` a backslash: in TOML, "\\\\*" and "\\\\\\\\"). `?` and `[...]` are plain characters: spec 3.2
    gave them a meaning that 3.3 dropped."""
    tokens: List[Token] = []
    i, n = 0, len(path)
    while i < n:
        if path[i] == "\\":
            if i + 1 < n:
                _add(tokens, ("lit", path[i + 1]))
            i += 2
        elif path.startswith("**", i):
            while i < n and path[i] == "*":
                i += 1
            while i < n and path[i] == "/":
                i += 1
            _add(tokens, _GLOBSTAR)
        elif path[i] == "*":
            _add(tokens, _STAR)
            i += 1
        else:
            _add(tokens, ("lit", path[i]))
            i += 1
    return tuple(tokens)


def dep5_glob(pattern: str) -> Tuple[Token, ...]:
    """A DEP5 `Files:` pattern as glob tokens (Debian copyright format 1.0): `*` matches any run of characters
    and `?` any one, `/` included; `\\*`, `\\?` and `\\\\` are those characters themselves."""
    tokens: List[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            _add(tokens, ("lit", pattern[i + 1]))
            i += 2
            continue
        _add(tokens, _GLOBSTAR if char == "*" else _ONE if char == "?" else ("lit", char))
        i += 1
    return tuple(tokens)


class AnnotationMatcher:
    """The annotations of a tree, matched against its paths all at once: their globs are one automaton whose
    states are the bits of an int, run over the path a character at a time. A file is matched in time linear in
    its path's length whatever the globs, where a regular expression for `**a**a**a**b` backtracks without end
    over a long hostile name; the state after a directory's path is kept for that directory's other files."""

    def __init__(self, annotations: Sequence[Annotation]):
        self.annotations = list(annotations)
        self._lit: Dict[str, int] = {}  # bit j: the token after state j is this character
        self._one = self._skip = self._stay = self._stay_in_name = self._start = self._accept = 0
        self._firsts: List[int] = []    # per annotation, its first state (a later annotation's are higher)
        bit = 0
        for annotation in self.annotations:
            self._firsts.append(bit)
            for glob in annotation.globs:
                self._start |= 1 << bit
                for token in glob:  # state `bit` is before `token`, bit + 1 after it
                    if token[0] == "lit":
                        self._lit[token[1]] = self._lit.get(token[1], 0) | 1 << bit
                    elif token == _ONE:
                        self._one |= 1 << bit
                    else:  # a wildcard: matches nothing (state `bit` is also after it) or loops on bit + 1
                        self._skip |= 1 << bit
                        if token == _GLOBSTAR:
                            self._stay |= 1 << bit + 1
                        else:
                            self._stay_in_name |= 1 << bit + 1
                    bit += 1
                self._accept |= 1 << bit
                bit += 1
        self._initial = self._close(self._start)
        self._dirs: Dict[str, int] = {}

    def _close(self, states: int) -> int:
        return states | (states & self._skip) << 1  # no wildcard follows another (`_add`): one step is all

    def _run(self, states: int, text: str) -> int:
        for char in text:
            if not states:
                break
            states = self._close(((states & (self._lit.get(char, 0) | self._one)) << 1) | (states & self._stay)
                                 | (states & self._stay_in_name if char != "/" else 0))
        return states

    def annotation(self, rel: str) -> Optional[Annotation]:
        """The annotation that covers a '/'-separated path relative to the tree's root: the last one whose paths
        match it ("exclusively the last matching table in the file is used"); None when none does."""
        if not self.annotations:
            return None
        head, sep, name = rel.rpartition("/")
        states = self._dirs.get(head) if sep else self._initial
        if states is None:
            if len(self._dirs) >= 4096:
                self._dirs.clear()
            states = self._dirs[head] = self._run(self._initial, head + sep)
        accepted = self._run(states, name) & self._accept
        if not accepted:
            return None
        return self.annotations[bisect.bisect_right(self._firsts, accepted.bit_length() - 1) - 1]

    def rule(self, rel: str, tree_license: Optional[str]) -> Optional[str]:
        """The license rule of a file of the tree (`license_rule`)."""
        return license_rule(self.annotation(rel), tree_license)


def _strings(value: Any, key: str, where: str, required: bool) -> List[str]:
    if value is None and not required:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values) or (required and not values):
        raise ReuseConfigError(f"{where}: `{key}` must be a string or a list of strings, not {value!r}"[:300])
    return values


def _license_of(values: Sequence[str], where: str) -> Optional[str]:
    expressions = []
    for value in values:
        expression = spdx_expression(value)
        if expression is None:
            raise ReuseConfigError(f"{where}: {value!r} is not an SPDX license expression"[:300])
        expressions.append(expression)
    return and_expressions(expressions)


def parse_reuse_toml(text: str) -> List[Annotation]:
    """The `[[annotations]]` tables of a REUSE.toml, in file order (`version = 1`; `path`, a string or a list of
    strings, required; `precedence`, one of PRECEDENCES, "closest" when absent; `SPDX-License-Identifier`, a string
    or a list of strings, each an SPDX expression; other keys, the copyright ones included, are not read). Raises
    ReuseConfigError for text that is not TOML or not this schema: the reference tool rejects such a file whole."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReuseConfigError(f"not valid TOML: {exc}") from exc
    version = data.get("version")
    if type(version) is not int:
        raise ReuseConfigError(f"`version` must be an integer (1), not {version!r}"[:300])
    if version != 1:
        raise ReuseConfigError(f"version {version} is not one this reader knows (1)")
    tables = data.get("annotations", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ReuseConfigError("`annotations` must be an array of tables ([[annotations]])")
    annotations = []
    for number, table in enumerate(tables, 1):
        where = f"annotation {number}"
        paths = _strings(table.get("path"), "path", where, required=True)
        precedence = table.get("precedence", "closest")
        if precedence not in PRECEDENCES:
            raise ReuseConfigError(f"{where}: `precedence` must be one of {', '.join(PRECEDENCES)}, not "
                                   f"{precedence!r}"[:300])
        values = _strings(table.get("SPDX-License-Identifier"), "SPDX-License-Identifier", where, required=False)
        annotations.append(Annotation(tuple(paths), tuple(map(reuse_glob, paths)), precedence,
                                      _license_of(values, where)))
    return annotations


def parse_dep5(text: str) -> List[Annotation]:
    """The `Files:` paragraphs of a REUSE project's `.reuse/dep5` (Debian copyright format 1.0: paragraphs apart
    by blank lines, a field's continuation lines indented, `#` lines comments), each an annotation of precedence
    "aggregate" (REUSE: what DEP5 says is aggregated with what the file says) whose license is the first line of
    its `License:` field. Raises ReuseConfigError for a `Files:` paragraph without a `License:` that is an SPDX
    expression."""
    annotations = []
    for number, paragraph in enumerate(re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip()), 1):
        fields: Dict[str, str] = {}
        name = None
        for line in paragraph.split("\n"):
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and name:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                fields[name] = value.strip()
        if "files" not in fields:
            continue
        where = f"paragraph {number}"
        paths = fields["files"].split()
        if not paths or "license" not in fields:
            raise ReuseConfigError(f"{where}: a `Files:` paragraph needs its paths and a `License:`")
        annotations.append(Annotation(tuple(paths), tuple(map(dep5_glob, paths)), "aggregate",
                                      _license_of([fields["license"].split("\n", 1)[0]], where)))
    return annotations


# What a tree's listing says of one file's license (`license_rule`), for the reading of the file to complete with
# what the file states itself (`file_license`): an SPDX expression, which the file's own statement replaces (the
# tree's license, or a REUSE.toml annotation of precedence "closest"), or "override=<expression>" or
# "aggregate=<expression>" (no SPDX expression has an `=` in it). A tree without REUSE.toml or DEP5 gives every
# file its tree license, as before either was read.
_RULE_PREFIXES = ("override=", "aggregate=")


def license_rule(annotation: Optional[Annotation], tree_license: Optional[str]) -> Optional[str]:
    """The license rule of a file: its annotation's license with the annotation's precedence, or the tree's license
    where no annotation covers the file or the one that does states no license (it speaks of copyright only)."""
    if annotation is None or annotation.license is None:
        return tree_license
    if annotation.precedence == "closest":
        return annotation.license
    return f"{annotation.precedence}={annotation.license}"


# A file covered by the REUSE.toml files of several of its directories has a rule of several parts, one per
# annotation, joined with RULE_SEPARATOR (no SPDX expression has a `;` in it): `nested_rule`.
RULE_SEPARATOR = ";"


def nested_rule(found: Sequence[Annotation], tree_license: Optional[str]) -> Optional[str]:
    """The license rule of a file that the REUSE.toml files of its directories cover, `found` holding the annotation
    each gives it, from the tree's root down, and ending at the first "override" (REUSE 3.3: the outermost override
    decides, in place of what the file states; of the annotations of precedence "closest", the deepest, which
    yields to the file's own statement and to an override below it; every "aggregate" adds its license). `found`
    holds only annotations that state a license: one of copyright only says nothing of it (`TreeAnnotations.rule`
    leaves those out). One annotation gives `license_rule`'s rule; none, the tree's license."""
    if len(found) <= 1:
        return license_rule(found[0] if found else None, tree_license)
    parts = [f"{a.precedence}={a.license}" for a in found if a.precedence != "closest"]
    closest = [] if found[-1].precedence == "override" else [a.license for a in found if a.precedence == "closest"]
    return RULE_SEPARATOR.join(parts + closest[-1:])


def file_license(rule: Optional[str], own: Optional[str]) -> str:
    """The license of one file of a code tree, from its tree's rule (`license_rule`, `nested_rule`) and `own`, what
    the file states itself (its `.license` sidecar, else its `SPDX-License-Identifier` header): "override", the
    annotation's license whatever the file says (and the licenses of the annotations above it that aggregate);
    "aggregate", both (`own AND annotation`, once where they are the same); otherwise the file's own license, else
    the rule's; "NOASSERTION" when neither says one."""
    parts = rule.split(RULE_SEPARATOR) if rule else []
    override = [p.split("=", 1)[1] for p in parts if p.startswith("override=")]
    aggregate = [p.split("=", 1)[1] for p in parts if p.startswith("aggregate=")]
    closest = next((p for p in parts if not p.startswith(_RULE_PREFIXES)), None)
    operands = [e for e in (override + aggregate + [closest] if override else [own or closest] + aggregate) if e]
    if len(operands) <= 1:  # as stated, not rewritten by and_expressions
        return operands[0] if operands else "NOASSERTION"
    return and_expressions(operands) or "NOASSERTION"


class TreeAnnotations:
    """The annotations of every REUSE.toml of a tree (REUSE 3.3: any directory may have one, covering the files
    at and below it, its paths relative to it), or of its root `.reuse/dep5`: one AnnotationMatcher per
    directory ('' for the root, 'src/vendor' for src/vendor/REUSE.toml). `add` may be called while a tree is walked
    from its root down, before the files of the directory it names are ruled."""

    def __init__(self, root: Optional[AnnotationMatcher] = None):
        self.matchers: Dict[str, AnnotationMatcher] = {}
        if root is not None:
            self.add("", root)

    def add(self, directory: str, matcher: AnnotationMatcher) -> None:
        if matcher.annotations:
            self.matchers[directory] = matcher

    @property
    def annotations(self) -> bool:
        """Whether any REUSE.toml (or DEP5) of the tree has an annotation (without one, every rule is the tree's
        license)."""
        return bool(self.matchers)

    def rule(self, rel: str, tree_license: Optional[str]) -> Optional[str]:
        """The license rule of a file of the tree (`nested_rule`), `rel` its '/'-separated path from the root."""
        if not self.matchers:
            return tree_license
        found: List[Annotation] = []
        parts = rel.split("/")
        for depth in range(len(parts)):
            matcher = self.matchers.get("/".join(parts[:depth]))
            annotation = matcher.annotation("/".join(parts[depth:])) if matcher is not None else None
            if annotation is not None and annotation.license is not None:
                found.append(annotation)
                if annotation.precedence == "override":
                    break
        return nested_rule(found, tree_license)
