"""The `quality` stage: FineWeb's chain of rule sets in FineWeb's order, each configurable or omitted.

Order (datatrove's examples/fineweb.py): Gopher repetition -> Gopher quality -> C4 -> FineWeb. Each set is given as
a mapping of its class's options (`{}` for the published defaults, which is also what an absent key means) or
None (YAML `null`) to leave it out. The first set that
drops a document names the reason (prefixed `gopher_rep_`, `gopher_`, `c4_`, `fineweb_`); later sets do not
run on it, as in a chained pipeline. C4's line removals rewrite the text that the FineWeb rules then see.
Repetition and Gopher quality share one tokenisation of the text.

A document gets at most `max_seconds` of wall time (filters/deadline.py, which fires on Beam's worker threads
too): spaCy's tokenizer is quadratic on long runs of symbols (see filters/text.py), so a hostile page could
otherwise hold a worker for hours. Past the limit the document is dropped with reason `quality_timeout`, its
text as it came in. Measured: ~1 s per MB of prose for all four sets, so the default leaves a 10 MB page room.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, List, Mapping, Optional

from filters.base import Document, DocumentFilter
from filters.deadline import DeadlineExceeded, deadline
from filters.c4 import C4QualityFilter
from filters.fineweb import FineWebQualityFilter
from filters.gopher import GopherQualityFilter
from filters.repetition import GopherRepetitionFilter
from filters.stage_options import OptionError, Positive, Sources, checked_options
from filters.text import word_tokens
from schemas import TEXT

PUBLISHED = MappingProxyType({})  # a rule set with its published thresholds
RULE_SETS = (("gopher_repetition", GopherRepetitionFilter), ("gopher", GopherQualityFilter),
             ("c4", C4QualityFilter), ("fineweb", FineWebQualityFilter))


@checked_options
class QualityFilter(DocumentFilter):
    name = "quality"

    def __init__(
        self,
        gopher_repetition: Optional[Mapping[str, Any]] = PUBLISHED,
        gopher: Optional[Mapping[str, Any]] = PUBLISHED,
        c4: Optional[Mapping[str, Any]] = PUBLISHED,
        fineweb: Optional[Mapping[str, Any]] = PUBLISHED,
        # Prose only: these are rules for natural-language pages; the `code` stage has the rules for code.
        sources: Sources = ("web", "text"),
        max_seconds: Optional[Positive] = 60.0,  # per-document wall limit (null: none) -> `quality_timeout`
    ):
        super().__init__(sources)
        self.max_seconds = max_seconds
        given = {"gopher_repetition": gopher_repetition, "gopher": gopher, "c4": c4, "fineweb": fineweb}
        self.rule_sets: List[tuple] = []
        for key, cls in RULE_SETS:
            opts = given[key]
            if opts is None:
                continue
            if "sources" in opts:
                raise OptionError(f"{key}.sources", "is not an option of a rule set: give `sources` to the quality stage")
            try:
                self.rule_sets.append((key, cls(**dict(opts))))
            except OptionError as exc:
                raise exc.within(key) from None
        if not self.rule_sets:
            raise ValueError("the quality stage needs at least one rule set: gopher_repetition, gopher, c4, fineweb")

    def apply(self, doc: Document) -> Optional[str]:
        text = doc[TEXT]
        try:
            with deadline(self.max_seconds, message=f"quality rules over {self.max_seconds:g}s"):
                return self._apply_sets(doc)
        except DeadlineExceeded:
            doc[TEXT] = text  # C4 may have rewritten it before the limit passed
            return "quality_timeout"

    def _apply_sets(self, doc: Document) -> Optional[str]:
        tokens = None
        for key, rules in self.rule_sets:
            if key in ("gopher_repetition", "gopher"):
                if tokens is None:
                    tokens = word_tokens(doc[TEXT])
                reason = rules.apply(doc, tokens)
            else:
                reason = rules.apply(doc)
            if reason is not None:
                return reason
        return None
