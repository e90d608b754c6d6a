"""The one shape every per-document decision has.

A `DocumentFilter` is a small class with a stage `name` and `apply(doc)`, which returns `None` to keep the
document or a named reason to drop it, and may annotate the document (language, scores) on the way. Heavy
state (a fastText model) loads in `setup()`, which the Beam shell calls once per worker, never per record.
Scores go into `doc["scores"]` so thresholds can be re-tuned later without recomputing (NeMo Curator's
ScoreFilter idea); the decision itself stays a plain function of those scores.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from schemas import SCORES, SOURCE, TEXT

Document = Dict[str, Any]


class DocumentFilter:
    name: str = "filter"

    def __init__(self, sources: Optional[list] = None):
        # `sources`: apply only to documents of these sources (others pass untouched); None means all.
        self.sources = frozenset(sources) if sources else None

    def setup(self) -> None:
        """Load heavy state. Called once per worker before the first document."""

    def applies_to(self, doc: Document) -> bool:
        return self.sources is None or doc.get(SOURCE) in self.sources

    def apply(self, doc: Document) -> Optional[str]:
        """Return None to keep `doc`, or the reason it is dropped."""
        raise NotImplementedError

    @staticmethod
    def set_score(doc: Document, key: str, value: float) -> None:
        scores = doc.get(SCORES)
        if scores is None:
            scores = doc[SCORES] = {}
        scores[key] = float(value)

    @classmethod
    def set_scores(cls, doc: Document, scores: Dict[str, float]) -> None:
        for key, value in scores.items():
            cls.set_score(doc, key, value)


class ScoredFilter(DocumentFilter):
    """A filter whose decision is a function of scores of the text: `score(text)` computes them (kept in the
    document's `scores`), `decide(scores)` returns None or the reason. Thresholds re-tune on stored scores."""

    def score(self, text: str) -> Dict[str, float]:
        raise NotImplementedError

    def decide(self, scores: Dict[str, float]) -> Optional[str]:
        raise NotImplementedError

    def apply(self, doc: Document) -> Optional[str]:
        scores = self.score(doc[TEXT])
        self.set_scores(doc, scores)
        return self.decide(scores)
