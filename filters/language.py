"""Language identification with fastText's lid.176 model (176 languages, ISO 639-1 style labels).

The model reads one line: fastText refuses a text with '\n' in `predict`, so newlines (and other line
breaks) become spaces first; the label of a document is that of its whole text. The filter annotates every
document with `language` (the code from `__label__xx`) and `language_score` (the top probability, clipped to
1.0: fastText's softmax can return 1.00001), optionally the top-k scores as `lang_<xx>`, then drops it when
the language is not wanted (`language`) or the score is below the threshold of that language
(`language_score`). FineWeb keeps English at score >= 0.65. A text with no letter or digit (empty, spaces,
emoji, NUL) gets no label: language "" and score 0.0, where fastText would label its end-of-line token alone
('en' at 0.12).

The model (~1 MB quantised) loads in `setup()`, once per worker, and is not pickled with the filter.
`apply_batch(docs)` labels a batch of documents with one fastText call (its multi-line predict), which the
`language` stage (`pipelines/transforms/language.py`) feeds with batches of documents; `apply(doc)` is the same
decision for one document.
"""
from __future__ import annotations

import re
import reprlib
from typing import Annotated, Dict, List, Optional, Sequence, Tuple

from filters.base import Document, DocumentFilter
from filters.models import lid_model_path
from filters.fasttext_files import fasttext_model_labels, has_words
from filters.stage_options import (Fraction, ModelPath, NonEmpty, NonNegativeInt, OptionError, Sources,
                                   checked_options)
from schemas import LANGUAGE, LANGUAGE_SCORE, TEXT

LABEL_PREFIX = "__label__"
# fastText reads one line and splits words on ASCII whitespace only: newlines end the input early, and
# non-breaking or other Unicode spaces (pydoc writes every space as &nbsp;) glue a sentence into one "word"
# and sink the score. Every run of Unicode whitespace becomes one ASCII space.
_WHITESPACE = re.compile(r"\s+")
# A refused list of codes is quoted in the message, abridged as filters/stage_options.py abridges values.
_SHOWN = reprlib.Repr()
_SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring = 8, 8, 80


def _silent(*_args, **_kwargs) -> None:
    pass


def load_fasttext_model(path: str):
    import fasttext

    # Older fasttext releases print a deprecation warning on every load_model through `eprint`.
    if hasattr(fasttext.FastText, "eprint"):
        fasttext.FastText.eprint = _silent
    return fasttext.load_model(str(path))


# A model whose labels are these is `winnow classifier train`'s quality classifier, not a language-ID model.
QUALITY_LABELS = frozenset({"__label__hq", "__label__lq"})


def one_line(text: str) -> str:
    # str.split() splits on the same Unicode whitespace as `_WHITESPACE` and is ~3x faster than re.sub.
    return " ".join(text.split())


def _unknown_code(value, code: str, known, model_path: Optional[str]) -> str:
    """OptionError's message for `code`, a language the model never produces: what to write instead."""
    model = f"the model {model_path}" if model_path else "lid.176"
    message = (f"= {_SHOWN.repr(value)} is not allowed: {code!r} is not a language {model} labels, so no document "
               f"would ever match it; ")
    plain = code.strip().lower()
    plain = plain[len(LABEL_PREFIX):] if plain.startswith(LABEL_PREFIX) else plain
    if plain in known:
        return message + f"write {plain!r}"
    return message + ("write one of its codes, lower-case and ISO 639-1 where one exists ('en', not 'eng'), e.g. "
                      + ", ".join(repr(c) for c in sorted(known)[:8]) + f" ({len(known)} in all)")


@checked_options
class LanguageFilter(DocumentFilter):
    name = "language"

    def __init__(
        self,
        languages: Optional[Annotated[List[str], NonEmpty()]] = None,
        min_score: Fraction = 0.0,
        per_language_min_score: Optional[Dict[str, Fraction]] = None,
        top_k: NonNegativeInt = 0,
        model_path: Optional[ModelPath] = None,  # None: $WINNOW_LID_MODEL, else the packaged lid.176
        # Prose only: lid.176 labels source code as some natural language, which would drop or mislabel it.
        sources: Sources = ("web", "text"),
    ):
        super().__init__(sources)
        self.languages = frozenset(languages) if languages else None
        self.min_score = float(min_score)
        self.per_language_min_score = dict(per_language_min_score or {})
        self.top_k = int(top_k)
        self.model_path = model_path
        self._model = None
        # The model is checked now (filters/fasttext_files.py: loaded whole in a child process, its labels
        # cached), not kept: each worker loads it in setup().
        path = str(lid_model_path(self.model_path))
        labels = fasttext_model_labels(path)
        if labels and set(labels) <= QUALITY_LABELS:
            raise OptionError("model_path", f"= {path!r} is not allowed: it is a quality classifier (labels "
                                            f"{', '.join(sorted(labels))}), not a language-ID model; give it to "
                                            f"`classifier: {{model_path: ...}}` and leave language.model_path out "
                                            f"for lid.176")
        # A code the model never produces (`EN`, `eng`) would drop every document.
        known = {label[len(LABEL_PREFIX):] for label in labels}
        for option, value in (("languages", languages or ()), ("per_language_min_score", per_language_min_score or {})):
            for code in value:
                if code not in known:
                    raise OptionError(option, _unknown_code(value, code, known, self.model_path))

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = None  # the fastText model is a C++ object: reload it in setup() on the worker
        return state

    def setup(self) -> None:
        if self._model is None:
            self._model = load_fasttext_model(lid_model_path(self.model_path))

    @property
    def model(self):
        if self._model is None:
            self.setup()
        return self._model

    def _predict(self, texts: Sequence[str], k: int) -> List[Tuple[Sequence[str], Sequence[float]]]:
        """fastText's (labels, probabilities) of each text, in one call for all of them; none for a text with no
        letter or digit (fasttext_files.has_words)."""
        lines = [one_line(t) for t in texts]
        worded = [i for i, line in enumerate(lines) if has_words(line)]
        out: List[Tuple[Sequence[str], Sequence[float]]] = [((), ())] * len(lines)
        if worded:
            labels, probs = self.model.predict([lines[i] for i in worded], k=k)
            for i, lab, p in zip(worded, labels, probs):
                out[i] = (lab, p)
        return out

    def predict(self, text: str, k: int = 1) -> List[Tuple[str, float]]:
        """The top-k (language, probability) pairs of one text, best first (none for a text without words)."""
        labels, probs = self._predict([text], k)[0]
        return [(label[len(LABEL_PREFIX):], min(float(p), 1.0)) for label, p in zip(labels, probs)]

    def predict_languages(self, texts: Sequence[str]) -> List[Tuple[str, float]]:
        """Top (language, probability) of each text, in one fastText call for the whole batch ("", 0.0 for a
        text without words)."""
        return [(lab[0][len(LABEL_PREFIX):], min(float(p[0]), 1.0)) if len(lab) else ("", 0.0)
                for lab, p in self._predict(texts, 1)]

    def threshold_for(self, language: str) -> float:
        return self.per_language_min_score.get(language, self.min_score)

    def decide(self, language: str, score: float) -> Optional[str]:
        if self.languages is not None and language not in self.languages:
            return "language"
        if score < self.threshold_for(language):
            return "language_score"
        return None

    def _annotate(self, doc: Document, labels, probs) -> Optional[str]:
        top = [(label[len(LABEL_PREFIX):], min(float(p), 1.0)) for label, p in zip(labels, probs)]
        language, score = top[0] if top else ("", 0.0)
        doc[LANGUAGE] = language
        doc[LANGUAGE_SCORE] = score
        for lang, p in top[: self.top_k]:
            self.set_score(doc, f"lang_{lang}", p)
        return self.decide(language, score)

    def apply(self, doc: Document) -> Optional[str]:
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: Sequence[Document]) -> List[Optional[str]]:
        """The decision of `apply` for each document, with one fastText call for the batch."""
        predicted = self._predict([d[TEXT] for d in docs], max(1, self.top_k))
        return [self._annotate(d, lab, p) for d, (lab, p) in zip(docs, predicted)]
