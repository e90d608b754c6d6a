"""A trainable fastText quality classifier (as in DCLM and FineWeb-Edu's fastText baselines).

Training: positive and negative documents become `__label__hq` / `__label__lq` lines (newlines folded to
spaces, the form fastText reads); a deterministic 10 % of each side, chosen by a hash of the text, is held
out, and the held-out ROC AUC of P(hq) is reported and written beside the model. Filtering: the
`classifier` recipe stage scores each document with P(hq) (kept in the `classifier_hq` score column) and
drops documents below a threshold with reason `classifier_low_score`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from filters.base import Document, DocumentFilter
from filters.stage_options import Fraction, ModelPath, OptionError, Sources, checked_options
from schemas import TEXT, ID
from schemas.arguments import positive_int, seed_number
from schemas.io import document_files, iter_documents

POSITIVE, NEGATIVE = "__label__hq", "__label__lq"


def fasttext_line(text: str) -> str:
    return " ".join(text.split())


def _held_out(text: str, fraction: float) -> bool:
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2 ** 64 < fraction


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve by the rank statistic (ties get average ranks)."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs at least one positive and one negative example in the held-out set")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _load_fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load-model warning
    return fasttext


def train_quality_classifier(positive: Iterable[str], negative: Iterable[str], output_dir: str,
                             held_out: float = 0.1, epoch: int = 5, lr: float = 0.1, word_ngrams: int = 2,
                             dim: int = 64, seed: int = 0, max_docs: int = 200_000) -> dict:
    train_lines: List[str] = []
    test: List[Tuple[int, str]] = []
    for label, texts in ((1, positive), (0, negative)):
        for n, text in enumerate(texts):
            if n >= max_docs:
                break
            line = fasttext_line(text or "")
            if not line:
                continue
            if _held_out(line, held_out):
                test.append((label, line))
            else:
                train_lines.append(f"{POSITIVE if label else NEGATIVE} {line}")
    if not train_lines or not test:
        raise ValueError("not enough documents to train and hold out (need several positive and negative documents)")
    for label, side in ((1, "positive"), (0, "negative")):
        if not any(l == label for l, _ in test):  # the AUC needs both classes among the held-out documents
            raise ValueError(f"no {side} document fell in the held-out {held_out:.0%} (chosen by a hash of the text): "
                             f"give more {side} documents (or a larger --max-docs)")
    # fastText shuffles nothing itself: present the examples in a fixed, label-mixed order.
    train_lines.sort(key=lambda l: hashlib.blake2b(f"{seed}:{l}".encode(), digest_size=8).digest())
    fasttext = _load_fasttext()
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(train_lines) + "\n")
        train_path = f.name
    try:
        model = fasttext.train_supervised(input=train_path, epoch=epoch, lr=lr, wordNgrams=word_ngrams, dim=dim,
                                          thread=1, seed=seed, verbose=0)
    finally:
        os.unlink(train_path)
    model_path = os.path.join(output_dir, "model.bin")
    model.save_model(model_path)
    scores = [_p_hq(model, line) for _, line in test]
    auc = roc_auc([label for label, _ in test], scores)
    meta = {"model": "model.bin", "held_out_auc": round(auc, 6), "train_examples": len(train_lines),
            "held_out_examples": len(test), "labels": [POSITIVE, NEGATIVE],
            "params": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "seed": seed}}
    with open(os.path.join(output_dir, "classifier_meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return meta


def _p_hq(model, line: str) -> float:
    labels, probs = model.predict(line, k=2)
    for label, prob in zip(labels, probs):
        if label == POSITIVE:
            return float(prob)
    return 0.0


@checked_options
class QualityClassifierFilter(DocumentFilter):
    name = "classifier"

    def __init__(self, model_path: ModelPath, threshold: Fraction = 0.5, sources: Sources = None):
        super().__init__(sources)
        self.model_path, self.threshold = model_path, float(threshold)
        # Any fastText file passes model_path's header check; one without the label read here (lid.176, say)
        # would score every document 0.0 and drop it. The model checked is kept for this process (not pickled:
        # a worker loads it in setup()).
        self._model = _load_fasttext().load_model(model_path)
        labels = self._model.get_labels()
        if POSITIVE not in labels:
            shown = ", ".join(labels[:8]) + (f", ... ({len(labels)} in all)" if len(labels) > 8 else "")
            raise OptionError("model_path", f"= {model_path!r} is not allowed: the model's labels are {shown}, "
                                            f"without the {POSITIVE} (and {NEGATIVE}) of a quality classifier, so "
                                            f"every document would score 0.0; give the model.bin that `winnow "
                                            f"classifier train` writes")

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_model"] = None  # a C++ object: each worker loads the model in setup()
        return state

    def setup(self) -> None:
        if self._model is not None:
            return
        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"classifier model {self.model_path} not found (train one with `winnow classifier train`)")
        self._model = _load_fasttext().load_model(self.model_path)

    def apply(self, doc: Document) -> Optional[str]:
        score = _p_hq(self._model, fasttext_line(doc[TEXT]))
        self.set_score(doc, "classifier_hq", score)
        return None if score >= self.threshold else "classifier_low_score"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--positive", required=True, help="high-quality documents (curate output, Parquet or JSONL)")
    parser.add_argument("--negative", required=True, help="low-quality documents (curate output, Parquet or JSONL)")
    parser.add_argument("--output", required=True, help="directory for model.bin and classifier_meta.json")
    parser.add_argument("--epoch", type=positive_int, default=5, help="fastText training epochs (default 5)")
    parser.add_argument("--max-docs", type=positive_int, default=200_000, help="cap per side (default 200,000)")
    parser.add_argument("--seed", type=seed_number, default=0, help="seed of the training order and of fastText (default 0)")


def _same_documents(positive: str, negative: str) -> str:
    """What the two sides share ("" when nothing): the same path, or document files both resolve to (a curate
    output and its documents/ directory, a glob and a file)."""
    if os.path.realpath(positive) == os.path.realpath(negative):
        return "the same path"
    try:
        both = ({os.path.realpath(f) for f in document_files(positive)}
                & {os.path.realpath(f) for f in document_files(negative)})
    except (OSError, ValueError):  # a side with no documents: reading it reports that
        return ""
    return f"{len(both)} document file(s) on both sides, e.g. {sorted(both)[0]}" if both else ""


def main(args: argparse.Namespace) -> int:
    shared = _same_documents(args.positive, args.negative)
    if shared:
        raise ValueError(f"--positive and --negative are the same documents ({args.positive}, {args.negative}: "
                         f"{shared}): give the high-quality and the low-quality examples separately")
    pos = (d[TEXT] for d in iter_documents(args.positive, [ID, TEXT]))
    neg = (d[TEXT] for d in iter_documents(args.negative, [ID, TEXT]))
    meta = train_quality_classifier(pos, neg, args.output, epoch=args.epoch, seed=args.seed, max_docs=args.max_docs)
    print(json.dumps({"model": os.path.join(args.output, "model.bin"), **meta}, indent=2))
    return 0
