"""C4's heuristics (Raffel et al. 2020, section 2.2; TFDS c4_utils), as datatrove's C4QualityFilter applies them.

Line-level removals (the line is deleted from the text, the document goes on): lines with a word over 1,000
characters, lines that do not end in terminal punctuation ('.', '?', '!', '"', "'", and not '...'), lines
with fewer than 3 words, lines mentioning "javascript", lines with cookie / terms-of-use / privacy-policy
phrases. Wikipedia-style citations ("[1]", "[edit]", "[citation needed]") are cut from each line first.
Document-level drops: a kept line containing "lorem ipsum" (`c4_lorem_ipsum`) or a curly bracket
(`c4_curly_bracket`), and fewer than 5 sentences left (`c4_too_few_sentences`). Lines are checked in datatrove's
order, so a curly bracket in a line already removed for another reason does not drop the page. The bad-words
list of C4 is not applied (FineWeb does not apply it either).

The kept lines (stripped) are joined with '\n' and replace the document text. The number of lines, of lines
removed for each reason and of sentences left are stored as scores (`c4_*`). FineWeb runs this filter with
`filter_no_terminal_punct: false`.
"""
from __future__ import annotations

import re
from typing import Dict, Optional

from filters.base import Document, DocumentFilter
from filters.stage_options import NonNegativeInt, PositiveInt, Sources, checked_options
from filters.text import sentence_count, word_tokens
from schemas import TEXT

CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")
LINE_REASONS = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


@checked_options
class C4QualityFilter(DocumentFilter):
    name = "quality"

    def __init__(
        self,
        remove_citations: bool = True,
        filter_no_terminal_punct: bool = True,
        min_num_sentences: Optional[NonNegativeInt] = 5,
        min_words_per_line: Optional[NonNegativeInt] = 3,
        max_word_length: Optional[PositiveInt] = 1000,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        sources: Sources = None,
    ):
        super().__init__(sources)
        self.remove_citations = remove_citations
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_num_sentences = min_num_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy

    def clean(self, text: str):
        """(kept text, scores, reason): the line removals, then the document decision."""
        removed: Dict[str, int] = dict.fromkeys(LINE_REASONS, 0)
        kept = []
        sentences = 0
        lines = text.splitlines()
        reason = None
        for line in lines:
            line = line.strip()
            words = line.split()
            if self.max_word_length is not None and any(len(w) > self.max_word_length for w in words):
                removed["too_long_word"] += 1
                continue
            if self.remove_citations:
                line = CITATION_RE.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                removed["no_terminal_punct"] += 1
                continue
            if self.min_words_per_line is not None and len(words) < self.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                reason = "c4_lorem_ipsum"
                break
            if self.filter_javascript and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if self.filter_curly_bracket and "{" in line:
                reason = "c4_curly_bracket"
                break
            if self.filter_policy and any(p in lower for p in POLICY_SUBSTRINGS):
                removed["policy"] += 1
                continue
            if self.min_num_sentences is not None:
                sentences += sentence_count(word_tokens(line))
            kept.append(line)
        scores = {"c4_lines": len(lines), "c4_lines_removed": sum(removed.values()), "c4_sentences": sentences}
        scores.update({f"c4_removed_{k}": v for k, v in removed.items()})
        if reason is None and self.min_num_sentences is not None and sentences < self.min_num_sentences:
            reason = "c4_too_few_sentences"
        return "\n".join(kept).strip(), scores, reason

    def apply(self, doc: Document) -> Optional[str]:
        text, scores, reason = self.clean(doc[TEXT])
        self.set_scores(doc, scores)
        if reason is None:
            doc[TEXT] = text
        return reason
