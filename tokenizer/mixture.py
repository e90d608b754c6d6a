"""Mixtures for `winnow tokenize --mixture FILE`: several document inputs, each with a share of the output
tokens (`weight`) or a number of epochs, optionally a token budget for the whole output (`total_tokens`).
Parsing and validation of the YAML, and every selection decision, as plain functions; the Beam composites
(`pipelines.transforms.tokenize.SelectMixture`) only route documents and counts between them.

Selection. A document of source S gets a bucket `sample_hash("mixture", S, id; seed) % BUCKETS` (a hash
independent of the packing-group hash, so kept documents spread over every group). A source asked for E
epochs (given, or its requested tokens / its available tokens) writes every document floor(E) times, plus one
more copy of the documents whose bucket is in a selected set. The set is chosen on a histogram of the
source's documents and tokens over the buckets (`histogram_entry` summed over the corpus: BUCKETS x 2 integers
a source, whatever the corpus size) to hit the fractional part's target -- documents for an `epochs` source
(0.3 keeps 30 % of the documents), tokens for a `weight` source or a budget: `fill_buckets` takes buckets in
hash order while they fit, then fills the remaining gap (less than one bucket) with later buckets that still
fit. A plain threshold on the bucket order misses by up to half its boundary bucket, which on real corpora
is one document, and code and books have documents of 10^5 tokens; per-document coin flips miss by the
binomial noise (benchmarks/RESULTS.md, mixture). The fill favours short documents only for the last part of
a bucket's worth of tokens. The set travels as a bitmap of BUCKETS bits (8 KiB a source).

Shares. `weight`s are normalised over the weighted sources. `epochs` sources take their tokens first; the
weighted sources share the rest: `total_tokens` minus those, or, without `total_tokens`, as much as the
weighted sources give without repeating any (the scarcest one, relative to its weight, is used once whole
and the others subsampled to match). A weighted source asked for more than it has is repeated.

Repeats. Copy c >= 2 of a document is the id `ID#c` (distinct ids: lineage names each copy) and packs in
the group (hash(seed, ID) + c - 1) % groups, with at least as many groups as the largest copy count, so two
copies of a document never share a packing group, hence never a row, and the row shuffle places them
independently (different shards with probability 1 - 1/shards). Copy 1 keeps its id and the group the
single-input path gives it; only an id that itself ends in `#<n>` gets `#1` (`x#2` is `x#2#1`, its copy
`x#2#2`), so that no document's id is another's copy id and the id alone gives document and copy back.

Overlaps. Two entries that read the same file (the same input twice, or a glob and a file it matches) are
refused unless their `source:` selectors differ (`refuse_shared_files`): their documents would share ids, and
the copies of one entry would not keep out of the other's rows. One entry with more weight or epochs says the
same thing.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import yaml

from schemas.yaml_files import DuplicateKeyError, load_unique_keys, number_as_text_hint
from tokenizer.pack_groups import groups_for
from tokenizer.train import sample_hash

BUCKETS = 1 << 16
# Passes over one source's documents, at most: each pass writes every document again (a copy id, a place in
# every packing group), so `total_tokens: 1e12` over a corpus of 1.3M tokens planned 750,000 copies of each
# document and ran until the machine gave out. Upsampled sources in published mixtures repeat a few to tens of
# times; past this the budget or the weight is a mistake.
MAX_EPOCHS = 1000
COPY_SEPARATOR = "#"
SOURCE_KEYS = ("name", "input", "weight", "epochs", "source")
# The `source` values Winnow's readers give documents (pipelines/ingest/inputs.py SOURCE_*, the same as
# filters/stage_options.py DOCUMENT_SOURCES; tokenizer imports neither package): all a curate output holds.
CURATED_SOURCES = ("web", "text", "code")
TOP_KEYS = ("sources", "total_tokens")

# (source name, bucket, tokens) -> one document's entry; a histogram is {name: {bucket: [documents, tokens]}}
Histogram = Dict[str, Dict[int, List[int]]]


class MixtureError(ValueError):
    """A mixture file that cannot run: the message names the file, the entry and what to change."""


@dataclass(frozen=True)
class MixtureSource:
    name: str
    input: str
    weight: Optional[float] = None
    epochs: Optional[float] = None
    source: Optional[str] = None  # keep only documents whose `source` column equals this
    written_input: Optional[str] = None  # `input` as the file wrote it (the manifest records it: no local paths)


@dataclass(frozen=True)
class MixtureSpec:
    sources: Tuple[MixtureSource, ...]
    total_tokens: Optional[int] = None


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise MixtureError(f"{where}: {what} must be a positive number, got {value!r}{number_as_text_hint(value)}")
    return float(value)


def parse_mixture(text: str, where: str = "mixture", base_dir: Optional[str] = None,
                  curated_inputs: Sequence[str] = ()) -> MixtureSpec:
    """The MixtureSpec of a mixture YAML document; every problem raises MixtureError naming `where` and the
    entry. A relative local `input` is resolved against `base_dir` (the mixture file's directory).
    `curated_inputs`: inputs known to be curate outputs (a recipe's `mixture:` reading its run's curated
    documents), whose `source` selector must be one of CURATED_SOURCES: any other selects nothing, which would
    only show once the documents are read."""
    try:
        doc = load_unique_keys(text)
    except DuplicateKeyError as exc:
        raise MixtureError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise MixtureError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list) or not doc["sources"]:
        raise MixtureError(f"{where}: expected a mapping with a non-empty `sources:` list, e.g. "
                           f"{{sources: [{{name: web, input: DOCS, weight: 0.6}}, {{name: code, input: DOCS2, "
                           f"weight: 0.4}}], total_tokens: 1000000}}")
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise MixtureError(f"{where}: unknown key(s) {unknown}; allowed: {list(TOP_KEYS)}")
    total = doc.get("total_tokens")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total <= 0):
        raise MixtureError(f"{where}: total_tokens must be a positive integer, got {total!r}")
    sources: List[MixtureSource] = []
    for i, entry in enumerate(doc["sources"]):
        at = f"{where}: sources[{i}]"
        if not isinstance(entry, dict):
            raise MixtureError(f"{at} must be a mapping {{name, input, weight or epochs}}, got {entry!r}")
        unknown = sorted(set(entry) - set(SOURCE_KEYS))
        if unknown:
            raise MixtureError(f"{at}: unknown key(s) {unknown}; allowed: {list(SOURCE_KEYS)}")
        name, path = entry.get("name"), entry.get("input")
        if not isinstance(name, str) or not name.strip() or COPY_SEPARATOR in name:
            raise MixtureError(f"{at}: `name` must be a non-empty string without {COPY_SEPARATOR!r}, got {name!r}")
        at = f"{where}: source {name!r}"
        if not isinstance(path, str) or not path:
            raise MixtureError(f"{at}: `input` must be a documents path, glob or URI, got {path!r}")
        if ("weight" in entry) == ("epochs" in entry):
            raise MixtureError(f"{at}: give exactly one of `weight` (share of the output tokens) or `epochs` "
                               f"(passes over its documents, fractional allowed)")
        selector = entry.get("source")
        if selector is not None and (not isinstance(selector, str) or not selector):
            raise MixtureError(f"{at}: `source` selects documents by their source column: a string, got {selector!r}")
        if selector is not None and path in curated_inputs and selector not in CURATED_SOURCES:
            raise MixtureError(f"{at}: `source` must be one of {', '.join(CURATED_SOURCES)} (the sources of curated "
                               f"documents), got {selector!r}; write one of those, or leave `source` out to "
                               f"take every document")
        if base_dir and "://" not in path and not path.startswith("code:") and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        weight = _number(entry["weight"], "weight", at) if "weight" in entry else None
        epochs = _number(entry["epochs"], "epochs", at) if "epochs" in entry else None
        if epochs is not None and epochs > MAX_EPOCHS:
            raise MixtureError(f"{at}: epochs {epochs:g} is more than {MAX_EPOCHS:,} passes over the same documents; "
                               f"write at most {MAX_EPOCHS}")
        sources.append(MixtureSource(name=name, input=path, weight=weight, epochs=epochs, source=selector,
                                     written_input=entry["input"]))
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MixtureError(f"{where}: source names must be unique, {duplicates} repeat")
    if total is not None and not any(s.weight is not None for s in sources):
        raise MixtureError(f"{where}: total_tokens needs at least one source with a `weight` to fill it "
                           f"(`epochs` sources write a fixed number of tokens)")
    return MixtureSpec(sources=tuple(sources), total_tokens=total)


# -- per-document decisions ----------------------------------------------------------------------------------

def selection_bucket(name: str, doc_id: str, seed: int) -> int:
    return sample_hash(f"mixture\x00{name}\x00{doc_id}", seed) % BUCKETS


def histogram_entry(name: str, doc_id: str, n_tokens: int, seed: int) -> Tuple[str, int, int]:
    return name, selection_bucket(name, doc_id, seed), n_tokens


def add_entry(histogram: Histogram, entry: Tuple[str, int, int]) -> Histogram:
    name, bucket, tokens = entry
    cell = histogram.setdefault(name, {}).setdefault(bucket, [0, 0])
    cell[0] += 1
    cell[1] += tokens
    return histogram


def merge_histograms(histograms: Iterable[Histogram]) -> Histogram:
    merged: Histogram = {}
    for h in histograms:
        for name, buckets in h.items():
            into = merged.setdefault(name, {})
            for bucket, (docs, tokens) in buckets.items():
                cell = into.setdefault(bucket, [0, 0])
                cell[0] += docs
                cell[1] += tokens
    return merged


def _copy_suffix(doc_id: str) -> Optional[Tuple[str, int]]:
    """(ID, c) when `doc_id` ends in a copy number `#c` (c >= 1, ASCII digits without a leading zero)."""
    base, sep, suffix = doc_id.rpartition(COPY_SEPARATOR)
    if sep and suffix.isascii() and suffix.isdigit() and not suffix.startswith("0"):
        return base, int(suffix)
    return None


def copy_id(doc_id: str, copy: int) -> str:
    """The id written for copy `copy` of document `doc_id`: copy c >= 2 is `ID#c`; copy 1 keeps its id, unless
    the id itself ends like a copy (`x#2`, which copy 2 of `x` is written as): then it is `ID#1`. Every (id,
    copy) pair thus has its own string, which `split_copy_id` reads back."""
    if copy == 1 and _copy_suffix(doc_id) is None:
        return doc_id
    return f"{doc_id}{COPY_SEPARATOR}{copy}"


def split_copy_id(doc_id: str) -> Tuple[str, int]:
    """(document id, copy) of an id `copy_id` wrote."""
    return _copy_suffix(doc_id) or (doc_id, 1)


def mixture_group(doc_id: str, total_tokens: int, row_len: int, rows_per_group: int, seed: int) -> int:
    """The packing group of a (copy of a) document: copy c of ID goes c - 1 groups after copy 1, which has the
    group `tokenizer.pack_groups.packing_group` gives it."""
    base, copy = split_copy_id(doc_id)
    return (sample_hash(base, seed) + copy - 1) % groups_for(total_tokens, row_len, rows_per_group)


# -- the plan ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourcePlan:
    name: str
    full_copies: int  # every document this many times ...
    extra: bytes  # ... plus once more when its bucket's bit is set (np.packbits of BUCKETS booleans)
    available_documents: int
    available_tokens: int
    requested_epochs: float
    requested_documents: float
    requested_tokens: float
    planned_documents: int
    planned_tokens: int

    def copies(self, bucket: int) -> int:
        return self.full_copies + ((self.extra[bucket >> 3] >> (7 - (bucket & 7))) & 1)


@dataclass(frozen=True)
class MixturePlan:
    sources: Tuple[SourcePlan, ...]

    def source(self, name: str) -> SourcePlan:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def planned_tokens(self) -> int:
        return sum(s.planned_tokens for s in self.sources)

    @property
    def max_copies(self) -> int:
        return max([s.full_copies + (1 if any(s.extra) else 0) for s in self.sources] or [1])

    def group_tokens(self, row_len: int, rows_per_group: int) -> int:
        """The token count that sizes the packing groups: the planned output, raised so that there are at
        least `max_copies` groups (copies of one document then never share a group)."""
        return max(self.planned_tokens, (self.max_copies - 1) * row_len * rows_per_group + 1)


def _dense(buckets: Mapping[int, Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
    docs, tokens = np.zeros(BUCKETS, dtype=np.int64), np.zeros(BUCKETS, dtype=np.int64)
    for b, (d, t) in buckets.items():
        docs[b], tokens[b] = d, t
    return docs, tokens


def prefix_buckets(unit: np.ndarray, target: float) -> np.ndarray:
    """The buckets below the threshold whose cumulative `unit` comes nearest `target` (kept for comparison:
    `fill_buckets` is what the plan uses)."""
    cumulative = np.concatenate([[0], np.cumsum(unit)])
    mask = np.zeros(len(unit), dtype=bool)
    mask[:int(np.argmin(np.abs(cumulative - target))) if target > 0 else 0] = True
    return mask


def fill_buckets(unit: np.ndarray, target: float) -> np.ndarray:
    """Buckets in hash order while their cumulative `unit` stays within `target`, then, for the gap left (less
    than the first bucket that did not fit), every later non-empty bucket that still fits, in order."""
    mask = np.zeros(len(unit), dtype=bool)
    if target <= 0:
        return mask
    cumulative = np.cumsum(unit)
    k = int(np.searchsorted(cumulative, target, side="right"))
    mask[:k] = True
    gap = target - (float(cumulative[k - 1]) if k else 0.0)
    for b in np.flatnonzero(unit[k:]) + k:
        if gap < 1:
            break
        if unit[b] <= gap:
            mask[b] = True
            gap -= float(unit[b])
    return mask


def _plan_source(name: str, epochs: float, by_documents: bool, docs: np.ndarray, tokens: np.ndarray) -> SourcePlan:
    """floor(epochs) copies of everything plus one more for the buckets `fill_buckets` selects for the
    fractional part's target (documents or tokens)."""
    n_docs, n_tokens = int(docs.sum()), int(tokens.sum())
    if epochs > MAX_EPOCHS:  # a weighted source's epochs come from the budget: known only once its tokens are
        raise MixtureError(f"mixture source {name!r} would be written {epochs:,.0f} times over to give its share "
                           f"({epochs * n_tokens:,.0f} tokens; it has {n_tokens:,}): more than {MAX_EPOCHS:,} passes "
                           f"over the same documents; lower total_tokens or its weight, or give it more documents")
    full = int(math.floor(epochs + 1e-12))
    unit = docs if by_documents else tokens
    mask = fill_buckets(unit, (epochs - full) * float(unit.sum()))
    planned_tokens = full * n_tokens + int(tokens[mask].sum())
    # an `epochs` source asks for documents: its requested tokens are those of the documents it asks for (the
    # tokens of a random 30 % of documents are not 30 % of the tokens), so the requested shares add up to 1
    return SourcePlan(name=name, full_copies=full, extra=np.packbits(mask).tobytes(), available_documents=n_docs,
                      available_tokens=n_tokens, requested_epochs=epochs, requested_documents=epochs * n_docs,
                      requested_tokens=float(planned_tokens) if by_documents else epochs * n_tokens,
                      planned_documents=full * n_docs + int(docs[mask].sum()), planned_tokens=planned_tokens)


def plan_mixture(spec: MixtureSpec, histogram: Histogram) -> MixturePlan:
    """Each source's copies and selected buckets from the corpus histogram (raises MixtureError when a source has no
    documents or the budget cannot be met)."""
    dense = {s.name: _dense(histogram.get(s.name, {})) for s in spec.sources}
    for s in spec.sources:
        if not dense[s.name][1].sum():
            selector = f" with source {s.source!r}" if s.source else ""
            raise MixtureError(f"mixture source {s.name!r} has no documents{selector} in {s.input}: fix its "
                               f"`input` or `source`, or remove the entry")
    plans: Dict[str, SourcePlan] = {}
    for s in spec.sources:
        if s.epochs is not None:
            plans[s.name] = _plan_source(s.name, s.epochs, True, *dense[s.name])
    fixed = sum(p.planned_tokens for p in plans.values())
    weighted = [s for s in spec.sources if s.weight is not None]
    if weighted:
        # weights relative to the largest: two weights of 1e308 summed to inf and planned NaN tokens
        top = max(s.weight for s in weighted)
        weight = {s.name: s.weight / top for s in weighted}
        if not all(weight.values()):  # a weight 1e300 times smaller than another underflows to 0
            raise MixtureError(f"weights {[s.weight for s in weighted]} are too far apart to share a budget: "
                               f"give weights of comparable size (they are relative)")
        total_weight = sum(weight.values())
        if spec.total_tokens is not None:
            budget = spec.total_tokens - fixed
            if budget <= 0:
                raise MixtureError(f"total_tokens {spec.total_tokens:,} leaves nothing for the weighted sources: "
                                   f"the `epochs` sources already write {fixed:,} tokens; raise total_tokens")
        else:
            budget = min(float(dense[s.name][1].sum()) * total_weight / weight[s.name] for s in weighted)
        for s in weighted:
            available = float(dense[s.name][1].sum())
            plans[s.name] = _plan_source(s.name, budget * weight[s.name] / total_weight / available, False,
                                         *dense[s.name])
    return MixturePlan(sources=tuple(plans[s.name] for s in spec.sources))


def refuse_shared_files(spec: MixtureSpec, files: Sequence[Iterable[str]], where: str = "mixture") -> None:
    """Raises MixtureError when two entries read one file and may select the same documents from it (no
    `source:` on one of them, or the same on both): those documents would be written under one id by each
    entry, and the copies of one entry would not keep out of the rows of the other's. `files`: the files each
    entry's input matches, in the spec's order. Entries that split one input by different `source:` values
    (the embedded default's docs and code) read disjoint documents and pass."""
    # a local file by its real path: a symlink to another entry's file, or the same file through a linked
    # directory, read the same documents under the same ids
    matched = [{p if "://" in p else os.path.realpath(p) for p in f} for f in files]
    for i, a in enumerate(spec.sources):
        for j in range(i + 1, len(spec.sources)):
            b = spec.sources[j]
            if a.source is not None and b.source is not None and a.source != b.source:
                continue
            shared = sorted(matched[i] & matched[j])
            if shared:
                more = f" (and {len(shared) - 1} more files)" if len(shared) > 1 else ""
                raise MixtureError(f"{where}: sources {a.name!r} and {b.name!r} both read {shared[0]}{more}: its "
                                   f"documents would be written twice under the same ids; give each file one "
                                   f"entry (raise its weight or epochs to repeat it), or select different "
                                   f"documents of it with different `source:` values")


def document_copies(plan: MixturePlan, name: str, doc_id: str, seed: int) -> int:
    return plan.source(name).copies(selection_bucket(name, doc_id, seed))


def mixture_manifest(spec: MixtureSpec, plan: MixturePlan,
                     written: Iterable[Tuple[str, Sequence[int]]]) -> Dict[str, Any]:
    """The manifest's `mixture` entry: per source what was asked (weight or epochs, documents, tokens, share)
    and what was written (documents, tokens, epochs = written / available tokens, share of the output tokens,
    padding excluded)."""
    counts = {name: (int(c[0]), int(c[1])) for name, c in written}
    total_written = sum(t for _, t in counts.values())
    total_requested = sum(p.requested_tokens for p in plan.sources)
    entries = []
    for s, p in zip(spec.sources, plan.sources):
        docs, tokens = counts.get(s.name, (0, 0))
        entries.append({
            "name": s.name, "input": s.written_input or s.input, "source": s.source, "weight": s.weight,
            "requested_epochs": p.requested_epochs, "requested_documents": round(p.requested_documents),
            "requested_tokens": round(p.requested_tokens),
            "requested_share": p.requested_tokens / total_requested if total_requested else 0.0,
            "available_documents": p.available_documents, "available_tokens": p.available_tokens,
            "documents": docs, "tokens": tokens,
            "epochs": tokens / p.available_tokens if p.available_tokens else 0.0,
            "share": tokens / total_written if total_written else 0.0,
        })
    return {"total_tokens": spec.total_tokens, "tokens": total_written, "buckets": BUCKETS, "sources": entries}


def spec_to_json(spec: MixtureSpec) -> Dict[str, Any]:
    return {"sources": [asdict(s) for s in spec.sources], "total_tokens": spec.total_tokens}


def spec_from_json(d: Mapping[str, Any]) -> MixtureSpec:
    return MixtureSpec(sources=tuple(MixtureSource(**s) for s in d["sources"]), total_tokens=d.get("total_tokens"))
