"""A trainable fastText quality classifier (as in DCLM and FineWeb-Edu's fastText baselines).

Training: positive and negative documents become `__label__hq` / `__label__lq` lines (newlines folded to
spaces, the form fastText reads); a deterministic 10 % of each side, chosen by a hash of the text, is held
out, and the held-out ROC AUC of P(hq) is reported and written beside the model. Filtering: the
`classifier` recipe stage scores each document with P(hq) (kept in the `classifier_hq` score column) and
drops documents below a threshold with reason `classifier_low_score`.

Both read text through `fasttext_line`: a word that begins with fastText's label prefix `__label__` loses its
leading underscores (`__label__spam` -> `label__spam`), because fastText takes such a word in a training line for
one more label (a positive text holding `__label__spam __label__ham` made a four-label model that dropped every
good document). A text with no word character (empty, whitespace, NUL bytes, punctuation or emoji only) has
nothing to classify: it scores 0.0 and is not used for training.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import tempfile
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np

from filters.base import Document, DocumentFilter
from filters.fasttext_files import has_words
from filters.stage_options import (Fraction, ModelPath, OptionError, Sources, checked_options,
                                   fasttext_model_labels)
from schemas import TEXT, ID
from schemas.arguments import fasttext_seed, positive_int
from schemas.io import document_files, iter_documents
from schemas.progress import Progress, add_to, hand_over_terminal

POSITIVE, NEGATIVE = "__label__hq", "__label__lq"
QUALITY_LABELS = (POSITIVE, NEGATIVE)  # exactly the labels of a model this module trains and the stage accepts
LABEL_PREFIX = "__label__"  # fastText's default `-label`: a word of a training line starting with it is a label
# fastText's hash buckets for word n-grams (its default): the input matrix has (words + bucket) rows of `dim`
# floats, so bucket x dim x 4 bytes is most of the model (2,000,000 x 64 x 4 = 512 MB).
DEFAULT_BUCKET = 2_000_000
MAX_BUCKET = 100_000_000


def fasttext_line(text: str) -> str:
    """`text` as one fastText line: split at whitespace (Python's, which covers fastText's, and NUL, which fastText
    also splits at), words joined by single spaces, and a word beginning with `__label__` stripped of its leading
    underscores so that no text adds a label to a model (used by training and scoring alike)."""
    words = text.replace("\0", " ").split()
    return " ".join(w.lstrip("_") if w.startswith(LABEL_PREFIX) else w for w in words)


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


# glibc's mallopt(M_PERTURB, 255): until reset to 0, malloc fills what it hands out with 255 ^ 0xff = zero bytes.
_M_PERTURB, _ZERO_FILL = -6, 255


@contextlib.contextmanager
def _zero_filled_allocations():
    """Make fastText's training start from the same weights in any process.

    fasttext-numpy2 holds a matrix in memory from posix_memalign, which is not zeroed, and, training on one
    thread, sets only the first tenth of the input matrix to random values (upstream fastText's std::vector
    zero-fills the rest). The other nine tenths were whatever the heap held: zeros in a fresh process, but after
    a fastText model had been freed in the same process, leftovers (values up to 1e35), so a second training
    raised "Encountered NaN" or trained on garbage. glibc's M_PERTURB zero-fills every allocation while training
    runs; elsewhere (no mallopt) nothing changes. A matrix over ~32 MB (the default 2,000,000 buckets) is fresh
    mmap'd memory, zero either way: models trained before this guard are unchanged."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        yield
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    mallopt(_M_PERTURB, _ZERO_FILL)
    try:
        yield
    finally:
        mallopt(_M_PERTURB, 0)


def _side_problem(name: str, read: int, usable: int, train: int, held: int, held_out: float,
                  capped: bool) -> Optional[str]:
    """Why one side's documents cannot train and evaluate a classifier (None when they can)."""
    if usable == 0:
        why = f" ({read:,} read: all empty, whitespace or without a word character)" if read else " (none read)"
        return f"{name} has no document with text{why}"
    more = "give more documents" + (" (or a larger --max-docs)" if capped else "")
    if train == 0:  # fastText would train a one-label model that scores every document P(hq) = 1 (or 0)
        return (f"{name} has too few documents with text ({usable:,}): all fell in the held-out {held_out:.0%} "
                f"(chosen by a hash of the text), leaving none of this class to train on; {more}")
    if held == 0:  # the AUC needs both classes among the held-out documents
        return (f"{name} has too few documents with text ({usable:,}): none fell in the held-out {held_out:.0%} "
                f"(chosen by a hash of the text), which the AUC needs; {more}")
    return None


def train_quality_classifier(positive: Iterable[str], negative: Iterable[str], output_dir: str,
                             held_out: float = 0.1, epoch: int = 5, lr: float = 0.1, word_ngrams: int = 2,
                             dim: int = 64, seed: int = 0, max_docs: int = 200_000,
                             bucket: int = DEFAULT_BUCKET,
                             names: Tuple[str, str] = ("the positive side", "the negative side"),
                             progress: Optional[Progress] = None) -> dict:
    """Train on up to `max_docs` documents with text per side and write model.bin and classifier_meta.json.
    `names`: how errors name the two sides (the command passes `--positive PATH`, `--negative PATH`).
    `progress` (schemas/progress.py) counts each side's documents read (counters `positive`, `negative`); on a
    terminal it is closed once both are read, and fastText's own progress line shows the training."""
    train_lines: List[str] = []
    test: List[Tuple[int, str]] = []
    problems = []
    sides = {}
    for label, texts, name in ((1, positive, names[0]), (0, negative, names[1])):
        read = usable = train = held = 0
        capped = False
        for text in texts:
            if usable >= max_docs:
                capped = True
                break
            read += 1
            add_to(progress, **{"positive" if label else "negative": 1})
            line = fasttext_line(text or "")
            if not has_words(line):  # nothing to learn from; such a document scores 0.0
                continue
            usable += 1
            if _held_out(line, held_out):
                test.append((label, line))
                held += 1
            else:
                train_lines.append(f"{POSITIVE if label else NEGATIVE} {line}")
                train += 1
        # what each side gave: documents read, those skipped for want of a word, the cap, the split
        sides["positive" if label else "negative"] = {
            "input": name, "documents_read": read, "skipped_without_words": read - usable, "capped_at_max_docs": capped,
            "train_examples": train, "held_out_examples": held}
        problem = _side_problem(name, read, usable, train, held, held_out, capped)
        if problem:
            problems.append(problem)
    if problems:
        raise ValueError("; ".join(problems))
    # fastText shuffles nothing itself: present the examples in a fixed, label-mixed order.
    train_lines.sort(key=lambda l: hashlib.blake2b(f"{seed}:{l}".encode(), digest_size=8).digest())
    fasttext = _load_fasttext()
    bars = hand_over_terminal(progress)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(train_lines) + "\n")
        train_path = f.name
    try:
        with _zero_filled_allocations():  # thread=1: the same examples in the same order, the same model
            model = fasttext.train_supervised(input=train_path, epoch=epoch, lr=lr, wordNgrams=word_ngrams,
                                              dim=dim, bucket=bucket, thread=1, seed=seed, verbose=2 if bars else 0)
    finally:
        os.unlink(train_path)
    labels = list(model.get_labels())
    if sorted(labels) != sorted(QUALITY_LABELS):  # fasttext_line keeps texts from adding labels: a defect if seen
        raise ValueError(f"the trained model's labels are {', '.join(labels)}, not exactly {POSITIVE} and "
                         f"{NEGATIVE}; nothing was written")
    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, "model.bin")
    model.save_model(model_path)
    scores = [_p_hq(model, line) for _, line in test]
    auc = roc_auc([label for label, _ in test], scores)
    meta = {"model": "model.bin", "held_out_auc": round(auc, 6), "train_examples": len(train_lines),
            "held_out_examples": len(test), "labels": labels, "sides": sides,
            "params": {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "bucket": bucket,
                       "seed": seed, "held_out": held_out, "max_docs": max_docs}}
    with open(os.path.join(output_dir, "classifier_meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return meta


def _p_hq(model, line: str) -> float:
    """P(hq) of a `fasttext_line`, within [0, 1] (fastText's softmax output can exceed 1 by ~1e-5)."""
    labels, probs = model.predict(line, k=2)
    for label, prob in zip(labels, probs):
        if label == POSITIVE:
            return min(1.0, max(0.0, float(prob)))
    return 0.0


def quality_score(model, text: str) -> float:
    """P(hq) of a document's text; 0.0 for a text with no word character (fastText would give such an empty line
    the classes' prior, ~0.95 on a typical model, and keep it as high quality)."""
    line = fasttext_line(text or "")
    return _p_hq(model, line) if has_words(line) else 0.0


def _shown_labels(labels: Sequence[str]) -> str:
    return ", ".join(labels[:8]) + (f", ... ({len(labels)} in all)" if len(labels) > 8 else "")


@checked_options
class QualityClassifierFilter(DocumentFilter):
    name = "classifier"

    def __init__(self, model_path: ModelPath, threshold: Fraction = 0.5, sources: Sources = None):
        super().__init__(sources)
        self.model_path, self.threshold = model_path, float(threshold)
        # The labels come from model_path's check (a child process loads the model once, cached per file): this
        # process keeps no copy of a model that can be ~0.5 GB; each worker loads it in setup().
        self._model = None
        try:
            labels = fasttext_model_labels(model_path)
        except ValueError as exc:
            raise OptionError("model_path", f"= {model_path!r} is not allowed: {exc}") from None
        if POSITIVE not in labels:  # lid.176, say: every document would score 0.0 and be dropped
            raise OptionError("model_path", f"= {model_path!r} is not allowed: the model's labels are "
                                            f"{_shown_labels(labels)}, without the {POSITIVE} (and {NEGATIVE}) "
                                            f"of a quality classifier, so every document would score 0.0; give "
                                            f"the model.bin that `winnow classifier train` writes")
        if sorted(labels) != sorted(QUALITY_LABELS):  # P(hq) shared with other labels is no quality score
            raise OptionError("model_path", f"= {model_path!r} is not allowed: the model's labels are "
                                            f"{_shown_labels(labels)}, not exactly the {POSITIVE} and {NEGATIVE} "
                                            f"of a quality classifier (texts holding __label__ words, read as "
                                            f"labels in training, add some), so P(hq) is no quality score; train "
                                            f"it again with `winnow classifier train`")

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
        if self._model is None:  # used outside a Beam worker, without setup()
            self.setup()
        score = quality_score(self._model, doc[TEXT])
        self.set_score(doc, "classifier_hq", score)
        return None if score >= self.threshold else "classifier_low_score"


def _bucket(value: str) -> int:
    """argparse type of --bucket: 1 to MAX_BUCKET (0 made fastText divide by zero with word n-grams)."""
    number = positive_int(value)
    if number > MAX_BUCKET:
        raise argparse.ArgumentTypeError(f"{number:,} is over {MAX_BUCKET:,} (a model of {number:,} x dim 64 x 4 "
                                         f"bytes, {number * 256 / 1e9:,.0f} GB)")
    return number


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train a fastText quality classifier: --positive documents are labelled __label__hq, --negative "
        "__label__lq; a 10% held-out set (by a hash of each text) gives the ROC AUC written to "
        "classifier_meta.json. Documents without a word character are skipped (the classifier stage scores them "
        "0.0). model.bin holds (words + bucket) x 64 floats: about 512 MB at the default --bucket 2,000,000 "
        "(fastText's), a few MB at --bucket 10000 (word pairs then share hash slots: check the held-out AUC).")
    parser.add_argument("--positive", required=True, help="high-quality documents (curate output, Parquet or JSONL)")
    parser.add_argument("--negative", required=True, help="low-quality documents (curate output, Parquet or JSONL)")
    parser.add_argument("--output", required=True, help="directory for model.bin and classifier_meta.json")
    parser.add_argument("--epoch", type=positive_int, default=5, help="fastText training epochs (default 5)")
    parser.add_argument("--max-docs", type=positive_int, default=200_000,
                        help="cap of documents with text per side (default 200,000)")
    parser.add_argument("--bucket", type=_bucket, default=DEFAULT_BUCKET,
                        help=f"fastText hash buckets for word pairs, 1 to {MAX_BUCKET:,} (default "
                             f"{DEFAULT_BUCKET:,}, fastText's): bucket x 64 floats of model.bin, 512 MB at the "
                             f"default")
    parser.add_argument("--seed", type=fasttext_seed, default=0,
                        help="seed of the training order and of fastText (0 to 2**31-1; default 0)")


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
    with Progress("classifier train", ("positive", "negative"), unit="docs") as progress:
        meta = train_quality_classifier(pos, neg, args.output, epoch=args.epoch, seed=args.seed,
                                         max_docs=args.max_docs, bucket=args.bucket,
                                         names=(f"--positive {args.positive}", f"--negative {args.negative}"),
                                         progress=progress)
    # meta's "model" is relative to its own directory; the summary names the file
    print(json.dumps({**meta, "model": os.path.join(args.output, "model.bin")}, indent=2))
    return 0
