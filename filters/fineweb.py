"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets"), as datatrove's FineWebQualityFilter.

Published thresholds (the defaults), over the non-blank lines of the text: drop when fewer than 12 % of lines end
in terminal punctuation (`fineweb_line_punct_ratio`), when more than 67 % of lines are 30 characters or shorter
(`fineweb_short_line_ratio`), when duplicated lines hold more than 1 % of the characters (newlines excluded,
`fineweb_char_dup_ratio`), and when there are more than 0.3 newlines per word (`fineweb_list_ratio`; words are
`filters.text.word_tokens`, as datatrove counts them). Lines are not stripped before the end-punctuation test,
as in datatrove. Each ratio is stored as a score (`fineweb_*`); None disables a rule.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from filters.base import ScoredFilter
from filters.stage_options import Fraction, NonNegative, NonNegativeInt, OptionError, Sources, checked_options
from filters.repetition import duplicates
from filters.text import TERMINAL_PUNCTUATION, word_count


@checked_options
class FineWebQualityFilter(ScoredFilter):
    name = "quality"

    def __init__(
        self,
        line_punct_thr: Optional[Fraction] = 0.12,
        line_punct_exclude_zero: bool = False,
        stop_chars: Optional[List[str]] = None,
        short_line_thr: Optional[Fraction] = 0.67,
        short_line_length: NonNegativeInt = 30,
        char_duplicates_ratio: Optional[Fraction] = 0.01,
        new_line_ratio: Optional[NonNegative] = 0.3,  # newlines per word: a list of one-word lines is near 1
        sources: Sources = None,
    ):
        super().__init__(sources)
        if stop_chars is not None:
            # Lines are tested with str.endswith: '.!?' would be one three-character ending, not three characters.
            if not stop_chars:
                raise OptionError("stop_chars", "= [] is not allowed: no line would end in one of them, so every "
                                                "document would be dropped; list the characters, e.g. "
                                                "['.', '!', '?'], leave the option out for the defaults, or set "
                                                "line_punct_thr: null to turn the rule off")
            for entry in stop_chars:
                if len(entry) != 1:
                    single = [c for e in stop_chars for c in e] or ["."]
                    raise OptionError("stop_chars", f"= {stop_chars!r} is not allowed: each entry is one character "
                                                    f"a line may end with, and {entry!r} has {len(entry)}; write "
                                                    f"{list(dict.fromkeys(single))!r}")
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.stop_chars = tuple(TERMINAL_PUNCTUATION if stop_chars is None else stop_chars)
        self.short_line_thr = short_line_thr
        self.short_line_length = int(short_line_length)
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    def score(self, text: str) -> Dict[str, float]:
        lines = [l for l in text.split("\n") if l.strip()]
        n = max(len(lines), 1)
        n_words = word_count(text)
        return {
            "fineweb_lines": len(lines),
            "fineweb_line_punct_ratio": sum(l.endswith(self.stop_chars) for l in lines) / n,
            "fineweb_short_line_ratio": sum(len(l) <= self.short_line_length for l in lines) / n,
            "fineweb_char_dup_ratio": duplicates(lines)[1] / max(len(text) - text.count("\n"), 1),
            "fineweb_list_ratio": text.count("\n") / max(n_words, 1),
        }

    def decide(self, s: Dict[str, float]) -> Optional[str]:
        if s["fineweb_lines"] == 0:
            return "fineweb_empty"
        ratio = s["fineweb_line_punct_ratio"]
        if (self.line_punct_thr is not None and ratio < self.line_punct_thr
                and not (ratio == 0 and self.line_punct_exclude_zero)):
            return "fineweb_line_punct_ratio"
        if self.short_line_thr is not None and s["fineweb_short_line_ratio"] > self.short_line_thr:
            return "fineweb_short_line_ratio"
        if self.char_duplicates_ratio is not None and s["fineweb_char_dup_ratio"] > self.char_duplicates_ratio:
            return "fineweb_char_dup_ratio"
        if self.new_line_ratio is not None and s["fineweb_list_ratio"] > self.new_line_ratio:
            return "fineweb_list_ratio"
        return None
