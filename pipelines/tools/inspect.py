"""`winnow inspect PATH`: look at the rows behind the numbers.

On a curate output: a random sample of documents (optionally only one language or source), rejected
documents grouped by stage and reason with examples of each, and error rows with their input pointer. On a
shards directory: a random sample of packed sequences decoded, each document boundary marked `⟦|⟧` and the
padding counted, so packing and tokenization can be checked by eye.

Shards are decoded only with the tokenizer they were made with: its sha256 and vocabulary size are checked
against the manifest (`winnow verify --tokenizer`'s comparison). A `--tokenizer` that differs is refused; one
found next to the shards (`../tokenizer`, or in the directory) that differs is not used, with one line on
stderr, and the token ids are shown instead. The document filters (`--language`, `--source`, `--stage`,
`--reason`) select rows of a curate output's tables; on shards they are refused rather than ignored, as
`--tokenizer` is on a curate output.

`--doc-id X` answers "where did document X go": on a curate output, the table (documents, rejected with
stage and reason, errors) that holds it; on shards written with `--doc-ids`, every shard row that holds a
segment of X, with the segment's offset and length and its decoded text.

Sampling stays cheap on large outputs: it picks Parquet row groups (Arrow shards: record batches) at random
(from the file metadata, with `--seed`) and random rows inside them, reading only those row groups, until it
has `-n` rows that match.
Grouping rejected rows reads only the `stage` and `reason` columns; `--doc-id` reads only `id` or `doc_ids`.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import (DOC_IDS, DOC_LENGTHS, DUPLICATE_OF, ERROR, ID, INPUT_OFFSET, INPUT_PATH, LANGUAGE,
                     LANGUAGE_SCORE, MANIFEST_NAME, REASON, SOURCE, STAGE, TEXT, TOKENS, URL, Manifest)
from schemas.arguments import positive_int, seed_number
from schemas.errors import WinnowError, reading
from schemas.io import table_files
from schemas.shard_files import ShardFile, read_manifest
from schemas.shards import FIX_RETOKENIZE

BOUNDARY = " ⟦|⟧ "
TABLES = ("documents", "rejected", "errors")
DOCUMENT_FILTERS = ("language", "source", "stage", "reason")  # options that only apply to a curate output


def _row_groups(files: Sequence[str]) -> List[Tuple[str, int, int]]:
    out = []
    for f in files:
        with reading(f):  # a damaged file fails naming itself, not with pyarrow's bare message
            md = pq.ParquetFile(f).metadata
        out += [(f, i, md.row_group(i).num_rows) for i in range(md.num_row_groups)]
    return out


def _sample_groups(groups: Sequence[Any], read_group, n: int, seed: int) -> List[Dict[str, Any]]:
    """Up to `n` random rows: groups (row groups, record batches) in a seeded random order, each read by
    `read_group` (a table of the rows that may be taken, or None), random rows of each, until there are `n`."""
    rng = np.random.default_rng(seed)
    out: List[Dict[str, Any]] = []
    for gi in rng.permutation(len(groups)):
        table = read_group(groups[gi])
        if table is None or not table.num_rows:
            continue
        take = rng.permutation(table.num_rows)[: n - len(out)]
        out += table.take(pa.array(np.sort(take))).to_pylist()
        if len(out) >= n:
            break
    return out


def sample_rows(files: Sequence[str], columns: Sequence[str], n: int, seed: int = 0,
                where: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    """Up to `n` random rows (whose columns equal `where`), reading random row groups until enough match."""

    def read_group(group):
        f, i, _ = group
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if any(c not in names for c in (where or {})):
            return None  # a column this file does not have cannot match
        present = [c for c in columns if c in names]
        with reading(f):
            rg = pf.read_row_group(i, columns=present + [c for c in (where or {}) if c not in present])
        mask = None
        for col, value in (where or {}).items():
            m = pc.fill_null(pc.equal(rg.column(col), value), False)
            mask = m if mask is None else pc.and_(mask, m)
        return (rg if mask is None else rg.filter(mask)).select(present)

    return _sample_groups(_row_groups(files), read_group, n, seed)


def _snippet(text: Optional[str], width: int) -> str:
    text = " ".join((text or "").split())
    return textwrap.shorten(text, width=max(width, 20), placeholder=" ...") if text else "(empty)"


# ---------------------------------------------------------------------------------------------------------
# Curate outputs
# ---------------------------------------------------------------------------------------------------------

def rejected_groups(files: Sequence[str], examples: int, seed: int = 0) -> List[Dict[str, Any]]:
    """Rejected rows by (stage, reason), largest first, each with up to `examples` random rows."""
    counts: Dict[Tuple[str, str], int] = {}
    for f, i, _ in _row_groups(files):
        agg = (pq.ParquetFile(f).read_row_group(i, columns=[STAGE, REASON])
               .group_by([STAGE, REASON]).aggregate([(STAGE, "count")]).to_pydict())
        for s, r, c in zip(agg[STAGE], agg[REASON], agg[f"{STAGE}_count"]):
            counts[(s, r)] = counts.get((s, r), 0) + c
    out = []
    for (stage, reason), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rows = sample_rows(files, [ID, URL, TEXT, DUPLICATE_OF], examples, seed,
                           where={STAGE: stage, REASON: reason}) if examples else []
        out.append({"stage": stage, "reason": reason, "rows": count, "examples": rows})
    return out


def inspect_documents(path: str, n: int, width: int, language: Optional[str], source: Optional[str],
                      stage: Optional[str] = None, reason: Optional[str] = None, seed: int = 0) -> None:
    docs_dir = os.path.join(path, "documents")
    where = {k: v for k, v in ((LANGUAGE, language), (SOURCE, source)) if v}
    label = ", ".join(f"{k}={v}" for k, v in where.items())
    print(f"== documents ({docs_dir}){': ' + label if label else ''}, {n} sampled (seed {seed})")
    rows = sample_rows(table_files(path, "documents"), [ID, SOURCE, URL, LANGUAGE, LANGUAGE_SCORE, TEXT], n, seed, where)
    for row in rows:
        score = row.get(LANGUAGE_SCORE)
        print(f"- [{row[SOURCE]}/{row.get(LANGUAGE)}{'' if score is None else f' {score:.2f}'}] {row[ID]} {row.get(URL) or ''}")
        print("  " + _snippet(row[TEXT], width))
    if not rows:
        print("  (none match)")
    rejected_dir = os.path.join(path, "rejected")
    print(f"\n== rejected by stage and reason ({rejected_dir})")
    groups = rejected_groups(table_files(path, "rejected"), max(1, n // 2), seed)
    groups = [g for g in groups if (not stage or g["stage"] == stage) and (not reason or g["reason"] == reason)]
    for g in groups:
        print(f"* {g['stage']}/{g['reason']}: {g['rows']:,}")
        for row in g["examples"]:
            dup = f" (duplicate of {row[DUPLICATE_OF]})" if row.get(DUPLICATE_OF) else ""
            print(f"  - {row[ID]} {row.get(URL) or ''}{dup}: {_snippet(row[TEXT], width - 10)}")
    if not groups:
        print("  (none)")
    errors_dir = os.path.join(path, "errors")
    print(f"\n== errors ({errors_dir})")
    errors = sample_rows(table_files(path, "errors"), [STAGE, ERROR, INPUT_PATH, INPUT_OFFSET, URL], n, seed,
                         {STAGE: stage} if stage else None)
    for row in errors:
        print(f"- {row[STAGE]}: {(row[ERROR] or '')[:width]}  at {row.get(INPUT_PATH)}:{row.get(INPUT_OFFSET)}")
    if not errors:
        print("  (none)")


def find_document(path: str, doc_id: str) -> List[Dict[str, Any]]:
    """Rows with id `doc_id` in a curate output's documents, rejected and errors tables (reads `id` first)."""
    found = []
    for table_name in TABLES:
        for f, i, _ in _row_groups(table_files(path, table_name)):
            pf = pq.ParquetFile(f)
            if ID not in pf.schema_arrow.names:
                continue
            mask = pc.fill_null(pc.equal(pf.read_row_group(i, columns=[ID]).column(ID), doc_id), False)
            if pc.any(mask).as_py():
                for row in pf.read_row_group(i).filter(mask).to_pylist():
                    found.append(dict(row, table=table_name, file=os.path.basename(f)))
    return found


# ---------------------------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------------------------

def shard_tokenizer(path: str, tokenizer: Optional[str], manifest: Manifest, command: str,
                    instead: str = "showing token ids") -> Optional[str]:
    """The tokenizer.json to decode the shards at `path` with (`find_tokenizer`: `tokenizer`, else one next to
    the shards), or None. Its sha256 and vocabulary size must be the manifest's (`winnow verify --tokenizer`'s
    comparison): an explicit `tokenizer` that differs is refused (WinnowError); one found next to the shards that
    differs is not used, and one line on stderr says so (`instead`: what the command does without it)."""
    from tokenizer.encode import find_tokenizer, tokenizer_mismatch

    tok_path = find_tokenizer(path, tokenizer)
    if not tok_path:
        if tokenizer:  # a typo would otherwise show ids, as if no tokenizer had been asked for
            raise WinnowError(f"--tokenizer: no tokenizer.json at {tokenizer}", fix="pass the tokenizer.json the "
                              "shards were made with, or its directory, or no --tokenizer")
        return None
    with open(tok_path, "rb") as f:  # find_tokenizer gives local files only
        problem = tokenizer_mismatch(f.read(), tok_path, manifest.tokenizer.sha256, manifest.tokenizer.vocab_size)
    if problem:
        if tokenizer:
            raise WinnowError(f"--tokenizer: {problem}", fix="pass the tokenizer the shards were made with, or no "
                              "--tokenizer")
        print(f"winnow {command}: not using the tokenizer found next to the shards ({problem}); {instead}",
              file=sys.stderr)
        return None
    return tok_path


def _load_tokenizer(path: str, tokenizer: Optional[str], manifest: Manifest):
    from tokenizer.encode import read_tokenizer_file

    tok_path = shard_tokenizer(path, tokenizer, manifest, "inspect")
    if not tok_path:
        return None, None

    return read_tokenizer_file(tok_path), tok_path


def _shard_files(path: str, manifest: Manifest) -> List[str]:
    files = [os.path.join(path, s.path) for s in sorted(manifest.shards, key=lambda s: s.path)]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:  # a sample of what is left would pass for the shards
        raise WinnowError(f"{len(missing)} of the {len(files)} shards listed in {MANIFEST_NAME} are missing "
                          f"({os.path.basename(missing[0])}{', ...' if len(missing) > 1 else ''})", path=path,
                          fix="re-run `winnow tokenize` into this directory (`winnow verify` checks every shard)")
    return files


def _iter_shard_pieces(files: Sequence[str], file_format: str, columns: Sequence[str]
                       ) -> Iterator[Tuple[str, int, pa.RecordBatch]]:
    """(file, index of the piece's first row in its file, rows) for every row group / record batch."""
    for f in files:
        start = 0
        with reading(f, FIX_RETOKENIZE):  # a damaged shard fails naming itself
            for piece in ShardFile(f, file_format).iter_batches(columns):
                yield f, start, piece
                start += piece.num_rows


def sample_shard_rows(files: Sequence[str], file_format: str, columns: Sequence[str], n: int,
                      seed: int = 0) -> List[Dict[str, Any]]:
    """Up to `n` random rows of the shards: Parquet as `sample_rows`; Arrow the same way over record batches
    (random batches, from the files' footers, then random rows inside each)."""
    if file_format == "parquet":
        return sample_rows(files, columns, n, seed)
    shard_files: Dict[str, ShardFile] = {}
    groups: List[Tuple[str, int]] = []
    for f in files:
        with reading(f, FIX_RETOKENIZE):
            shard_files[f] = ShardFile(f, file_format)
        groups += [(f, i) for i, rows in enumerate(shard_files[f].batch_rows) if rows]

    def read_group(group):
        f, i = group
        with reading(f, FIX_RETOKENIZE):
            return shard_files[f].read_batch(i, columns)

    return _sample_groups(groups, read_group, n, seed)


def decode_sequence(tokens: Sequence[int], doc_lengths: Sequence[int], tok) -> Tuple[List[str], int]:
    """The decoded segments of one packed row (ids when no tokenizer) and its padding length."""
    start, parts = 0, []
    for length in doc_lengths:
        seg = list(tokens[start:start + length])
        parts.append(tok.decode(seg, skip_special_tokens=False) if tok else " ".join(map(str, seg)))
        start += length
    return parts, len(tokens) - start


def inspect_shards(path: str, n: int, width: int, tokenizer: Optional[str], seed: int = 0) -> None:
    manifest = read_manifest(path)
    tok, tok_path = _load_tokenizer(path, tokenizer, manifest)
    print(f"== {n} sequences sampled (seed {seed}) from {path}; tokenizer {tok_path or 'none: showing ids'}; "
          f"document boundaries as {BOUNDARY.strip()}")
    files = _shard_files(path, manifest)
    rows = sample_shard_rows(files, manifest.file_format, [TOKENS, DOC_LENGTHS, DOC_IDS], n, seed)
    for shown, row in enumerate(rows):
        parts, pad = decode_sequence(row[TOKENS], row[DOC_LENGTHS], tok)
        ids = f" docs={row[DOC_IDS]}" if row.get(DOC_IDS) else ""
        print(f"- sequence {shown}: {len(row[DOC_LENGTHS])} segments {row[DOC_LENGTHS]}, {pad} pad{ids}")
        print("  " + _snippet(BOUNDARY.join(parts), width * 2))
    if not rows:
        print("  (no sequences)")


def inspect_doc_id(path: str, doc_id: str, width: int, tokenizer: Optional[str]) -> int:
    if os.path.exists(os.path.join(path, MANIFEST_NAME)):
        from pipelines.tools.lineage import find_document_segments

        hits = [dict(h, shard=os.path.basename(h["shard"])) for h in find_document_segments(path, doc_id)]
        manifest = read_manifest(path)
        tok, _ = _load_tokenizer(path, tokenizer, manifest)
        print(f"== document {doc_id}: {len(hits)} segment(s) in {path}")
        wanted = {(h["shard"], h["row"]) for h in hits}
        texts: Dict[Tuple[str, int], Dict[str, Any]] = {}
        for f, start, piece in _iter_shard_pieces(_shard_files(path, manifest), manifest.file_format, [TOKENS, DOC_LENGTHS]):
            for shard, row in wanted:
                if shard == os.path.basename(f) and start <= row < start + piece.num_rows:
                    texts[(shard, row)] = piece.slice(row - start, 1).to_pylist()[0]
        for h in hits:
            row = texts[(h["shard"], h["row"])]
            seg = row[TOKENS][h["offset"]:h["offset"] + h["length"]]
            text = tok.decode(seg, skip_special_tokens=False) if tok else " ".join(map(str, seg))
            print(f"- {h['shard']} row {h['row']}: segment {h['segment']} of {len(row[DOC_LENGTHS])}, "
                  f"tokens {h['offset']}..{h['offset'] + h['length']}")
            print("  " + _snippet(text, width))
        return 0 if hits else 1
    rows = find_document(path, doc_id)
    print(f"== document {doc_id}: {len(rows)} row(s) in {path}")
    for row in rows:
        where = {"documents": "kept", "rejected": f"rejected at {row.get(STAGE)}: {row.get(REASON)}",
                 "errors": f"error at {row.get(STAGE)}: {row.get(ERROR)}"}[row["table"]]
        dup = f" (duplicate of {row[DUPLICATE_OF]})" if row.get(DUPLICATE_OF) else ""
        print(f"- {row['table']}/{row['file']}: {where}{dup}; source {row.get(SOURCE)}, language {row.get(LANGUAGE)}, "
              f"url {row.get(URL)}")
        print("  " + _snippet(row.get(TEXT), width))
    return 0 if rows else 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a curate output directory or a shards directory")
    parser.add_argument("-n", type=positive_int, default=5, help="rows to show per section (default 5)")
    parser.add_argument("--language", help="only documents of this language")
    parser.add_argument("--source", help="only documents of this source")
    parser.add_argument("--stage", help="only rejected/error rows of this stage")
    parser.add_argument("--reason", help="only rejected rows with this reason")
    parser.add_argument("--doc-id", help="where document ID is: its table (curate output) or its shard rows")
    parser.add_argument("--seed", type=seed_number, default=0, help="sampling seed (default 0)")
    parser.add_argument("--width", type=int, default=160, help="characters per text snippet")
    parser.add_argument("--tokenizer", help="tokenizer.json or its directory (shards)")


def main(args: argparse.Namespace) -> int:
    is_shards = os.path.exists(os.path.join(args.path, MANIFEST_NAME))
    if not is_shards and not os.path.isdir(os.path.join(args.path, "documents")):
        raise FileNotFoundError(f"{args.path} is neither a curate output (documents/) nor a shards directory (manifest.json)")
    if is_shards:
        given = [f"--{name}" for name in DOCUMENT_FILTERS if getattr(args, name, None)]
        if given:  # they select rows of a curate output's tables: on shards they would be silently ignored
            raise WinnowError(f"{', '.join(given)} select rows of a curate output, and {args.path} is a shards "
                              f"directory (manifest.json)", fix="drop them, or inspect the curate output")
    elif args.tokenizer:  # it decodes shards only: on a curate output it would be silently ignored
        raise WinnowError(f"--tokenizer decodes shards, and {args.path} is a curate output (documents/, no "
                          f"{MANIFEST_NAME})", fix="drop it, or inspect the shards")
    if args.doc_id is not None:  # an empty id is an id (a JSONL `"id": ""` is kept as one)
        return inspect_doc_id(args.path, args.doc_id, args.width, args.tokenizer)
    if is_shards:
        inspect_shards(args.path, args.n, args.width, args.tokenizer, args.seed)
    else:
        inspect_documents(args.path, args.n, args.width, args.language, args.source, args.stage, args.reason, args.seed)
    return 0
