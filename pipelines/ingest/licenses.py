"""SPDX id of a repository's license from its LICENSE/COPYING file, by the distinctive phrases of each
common license's text (the way licensee and go-license-detector start: normalise, then look for the
sentences no other license has). Unknown text gives "NOASSERTION"; no license file gives None."""
from __future__ import annotations

import re
from typing import Iterable, Optional

LICENSE_FILE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENSE.rst", "LICENCE", "LICENCE.md",
                      "LICENCE.txt", "COPYING", "COPYING.md", "COPYING.txt", "LICENSE-MIT", "LICENSE-APACHE",
                      "UNLICENSE", "license", "license.md", "license.txt")

# (spdx id, phrases that must all appear in the normalised text); the first match wins, so the more
# specific texts (AGPL before GPL, LGPL before GPL, BSD-3 before BSD-2) come first.
_RULES = (
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("LGPL-2.0", ("gnu library general public license", "version 2")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("EPL-2.0", ("eclipse public license", "v 2.0")),
    ("EPL-1.0", ("eclipse public license", "v 1.0")),
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


def spdx_of_text(text: str) -> str:
    norm = normalise(text)
    for spdx, phrases in _RULES:
        if all(p in norm for p in phrases):
            return spdx
    return "NOASSERTION"


def find_license_file(names: Iterable[str]) -> Optional[str]:
    """The license file among a tree's top-level file names, by LICENSE_FILE_NAMES order."""
    names = set(names)
    for candidate in LICENSE_FILE_NAMES:
        if candidate in names:
            return candidate
    return None
