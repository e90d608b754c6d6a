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
has `-n` rows that match. Grouping rejected rows is one pass over the `stage` and `reason` columns:
`--stage`/`--reason` select the groups first, each group keeps the rows with the lowest seeded random
priorities (a uniform sample), and only the row groups that hold those rows are then read for their text.
`--doc-id` reads only `id` or `doc_ids`.

Every data value printed goes through `printable`: a document is untrusted input, and a control or bidi
character in its text, id or url would otherwise drive the terminal (clear it, retitle it, reorder a line).
Paths are local: a `scheme://` path is refused in one line, not reported as missing.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
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
from schemas.progress import Progress, add_to
from schemas.shard_files import ShardFile, read_manifest, shard_problems
from schemas.shards import FIX_RETOKENIZE, ShardInfo, shard_schema

BOUNDARY = " ⟦|⟧ "
TABLES = ("documents", "rejected", "errors")
DOCUMENT_FILTERS = ("language", "source", "stage", "reason")  # options that only apply to a curate output

# C0 controls, DEL, C1 controls (U+009B alone is a CSI to some terminals), the bidi embeddings, overrides and
# isolates (U+202A-202E, U+2066-2069: they reorder the rest of the line) and lone surrogates (which stdout
# cannot encode: a traceback instead of the line).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: "re.Match[str]") -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """`str(value)` safe to print on a terminal: control, bidi and surrogate characters become `\\xNN` /
    `\\uNNNN`. Every data value that `inspect` and `stats` print goes through it (`--json` escapes controls
    itself, and report_html escapes the HTML)."""
    text = value if isinstance(value, str) else str(value)
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


def refuse_remote(path: str, command: str) -> None:
    """These tools read local files: a `gs://` path would otherwise be reported as not found."""
    if "://" in path:
        raise WinnowError(f"winnow {command} reads local files only", path=path,
                          fix="copy the directory to a local disk first (e.g. `gsutil -m cp -r`)")


def _row_groups(files: Sequence[str]) -> List[Tuple[str, int, int]]:
    out = []
    for f in files:
        with reading(f):  # a damaged file fails naming itself, not with pyarrow's bare message
            md = pq.ParquetFile(f).metadata
        out += [(f, i, md.row_group(i).num_rows) for i in range(md.num_row_groups)]
    return out


def _read_rows(f: str, i: int, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """Row group `i` of Parquet file `f` (only the `columns` it has), its strings checked as UTF-8: a damaged
    string fails here naming the file, not as a bare UnicodeDecodeError when the rows become Python values."""
    with reading(f):
        pf = pq.ParquetFile(f)
        present = None if columns is None else [c for c in columns if c in pf.schema_arrow.names]
        table = pf.read_row_group(i, columns=present)
        table.validate(full=True)
    return table


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


# How `stats` and `inspect` name the language of a document that has none (a null, or no language column: code,
# documents not written by curate); `inspect --language unknown` selects those documents.
UNKNOWN_LANGUAGE = "unknown"


def _is_unknown_language(col: str, value: str) -> bool:
    return col == LANGUAGE and value == UNKNOWN_LANGUAGE


def sample_rows(files: Sequence[str], columns: Sequence[str], n: int, seed: int = 0,
                where: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    """Up to `n` random rows (whose columns equal `where`; language "unknown" is a null or missing language),
    reading random row groups until enough match."""

    def read_group(group):
        f, i, _ = group
        with reading(f):
            names = pq.ParquetFile(f).schema_arrow.names
        if any(c not in names and not _is_unknown_language(c, v) for c, v in (where or {}).items()):
            return None  # a column this file does not have cannot match
        present = [c for c in columns if c in names]
        rg = _read_rows(f, i, present + [c for c in (where or {}) if c not in present and c in names])
        mask = None
        for col, value in (where or {}).items():
            if col not in names:  # no language column: every row's language is unknown
                continue
            m = pc.equal(rg.column(col), value)
            m = pc.fill_null(m, True) if _is_unknown_language(col, value) else pc.fill_null(m, False)
            mask = m if mask is None else pc.and_(mask, m)
        return (rg if mask is None else rg.filter(mask)).select(present)

    return _sample_groups(_row_groups(files), read_group, n, seed)


def _snippet(text: Optional[str], width: int) -> str:
    """Whitespace folded, cut to `width` (at a space when one is near the end, else mid-word: a text that is
    one long word must still show its start), then made `printable`."""
    text = " ".join((text or "").split())
    if not text:
        return "(empty)"
    width = max(width, 20)
    if len(text) > width:
        cut = text[: width - 4]
        space = cut.rfind(" ")
        text = (cut[:space] if space > width // 2 else cut) + " ..."
    return printable(text)


# ---------------------------------------------------------------------------------------------------------
# Curate outputs
# ---------------------------------------------------------------------------------------------------------

def _column_or_nulls(table: pa.Table, name: str) -> pa.Array:
    """A string column of `table`, or nulls where the file has no such column (an errors file without `stage`)."""
    if name in table.column_names:
        return table.column(name).combine_chunks()
    return pa.nulls(table.num_rows, pa.string())


def _sort_key(kv) -> Tuple[int, str, str]:
    """Largest group first, then by stage and reason; a null stage or reason sorts as "" (None < str fails)."""
    (stage, reason), count = kv
    return -count, stage or "", reason or ""


def rejected_groups(files: Sequence[str], examples: int, seed: int = 0, stage: Optional[str] = None,
                    reason: Optional[str] = None) -> List[Dict[str, Any]]:
    """Rejected rows by (stage, reason), largest first, each with up to `examples` random rows; only the groups
    of `stage` and `reason` when given.

    One pass over the `stage` and `reason` columns: every row gets a seeded random priority, and each group
    keeps the rows of its `examples` lowest priorities (a uniform sample without replacement); then only the
    row groups holding those rows are read for their id, url and text. Re-reading the table for each group's
    examples cost minutes with a thousand reasons, and before any `--stage` had selected them."""
    rng = np.random.default_rng(seed)
    groups = _row_groups(files)
    counts: Dict[Tuple[Optional[str], Optional[str]], int] = {}
    kept: Dict[Tuple[Optional[str], Optional[str]], List[Tuple[float, int, int]]] = {}  # (priority, group, row)
    for gi, (f, i, _) in enumerate(groups):
        rg = _read_rows(f, i, [STAGE, REASON])
        prios = rng.random(rg.num_rows)  # for every row: a seed picks the same rows with or without filters
        stages, reasons = _column_or_nulls(rg, STAGE), _column_or_nulls(rg, REASON)
        mask = None
        for column, value in ((stages, stage), (reasons, reason)):
            if value is not None:
                m = pc.fill_null(pc.equal(column, value), False)
                mask = m if mask is None else pc.and_(mask, m)
        rows = np.arange(rg.num_rows)
        if mask is not None:
            keep = mask.to_numpy(zero_copy_only=False)
            stages, reasons, rows, prios = stages.filter(mask), reasons.filter(mask), rows[keep], prios[keep]
        if not len(rows):
            continue
        s_enc, r_enc = pc.dictionary_encode(stages), pc.dictionary_encode(reasons)
        s_keys, r_keys = [None] + s_enc.dictionary.to_pylist(), [None] + r_enc.dictionary.to_pylist()
        s_idx = pc.fill_null(s_enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        r_idx = pc.fill_null(r_enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        codes = s_idx * len(r_keys) + r_idx
        order = np.lexsort((prios, codes))  # by group, then priority
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        rank = np.arange(len(order)) - np.repeat(starts, sizes)
        for start, size in zip(starts.tolist(), sizes.tolist()):
            code = int(sorted_codes[start])
            key = (s_keys[code // len(r_keys)], r_keys[code % len(r_keys)])
            counts[key] = counts.get(key, 0) + size
        if examples:
            for j in np.flatnonzero(rank < examples).tolist():
                code = int(sorted_codes[j])
                key = (s_keys[code // len(r_keys)], r_keys[code % len(r_keys)])
                best = kept.setdefault(key, [])
                best.append((float(prios[order[j]]), gi, int(rows[order[j]])))
                if len(best) > examples:
                    best.sort()
                    del best[examples:]
    wanted: Dict[int, List[int]] = {}
    for picks in kept.values():
        for _, gi, row in picks:
            wanted.setdefault(gi, []).append(row)
    fetched: Dict[Tuple[int, int], Dict[str, Any]] = {}
    for gi, rows in sorted(wanted.items()):
        f, i, _ = groups[gi]
        rows = sorted(set(rows))
        for row, values in zip(rows, _read_rows(f, i, [ID, URL, TEXT, DUPLICATE_OF]).take(pa.array(rows)).to_pylist()):
            fetched[(gi, row)] = values
    return [{"stage": s, "reason": r, "rows": count,
             "examples": [fetched[(gi, row)] for _, gi, row in sorted(kept.get((s, r), []), key=lambda p: p[1:])]}
            for (s, r), count in sorted(counts.items(), key=_sort_key)]


def inspect_documents(path: str, n: int, width: int, language: Optional[str], source: Optional[str],
                      stage: Optional[str] = None, reason: Optional[str] = None, seed: int = 0) -> None:
    docs_dir = os.path.join(path, "documents")
    where = {k: v for k, v in ((LANGUAGE, language), (SOURCE, source)) if v}
    label = ", ".join(f"{k}={v}" for k, v in where.items())
    print(printable(f"== documents ({docs_dir}){': ' + label if label else ''}, {n} sampled (seed {seed})"))
    rows = sample_rows(table_files(path, "documents"), [ID, SOURCE, URL, LANGUAGE, LANGUAGE_SCORE, TEXT], n, seed, where)
    for row in rows:  # documents not written by curate may lack any column but text
        score = row.get(LANGUAGE_SCORE)
        score = "" if not isinstance(score, (int, float)) else f" {score:.2f}"
        language = row.get(LANGUAGE) or UNKNOWN_LANGUAGE
        print(f"- [{printable(row.get(SOURCE))}/{printable(language)}{score}] {printable(row.get(ID))} "
              f"{printable(row.get(URL) or '')}")
        print("  " + _snippet(row.get(TEXT), width))
    if not rows:
        print("  (none match)")
    rejected_dir = os.path.join(path, "rejected")
    print("\n" + printable(f"== rejected by stage and reason ({rejected_dir})"))
    groups = rejected_groups(table_files(path, "rejected"), max(1, n // 2), seed, stage=stage, reason=reason)
    for g in groups:
        print(f"* {printable(g['stage'])}/{printable(g['reason'])}: {g['rows']:,}")
        for row in g["examples"]:
            dup = f" (duplicate of {printable(row[DUPLICATE_OF])})" if row.get(DUPLICATE_OF) else ""
            print(f"  - {printable(row.get(ID))} {printable(row.get(URL) or '')}{dup}: "
                  f"{_snippet(row.get(TEXT), width - 10)}")
    if not groups:
        print("  (none)")
    errors_dir = os.path.join(path, "errors")
    print("\n" + printable(f"== errors ({errors_dir})"))
    errors = sample_rows(table_files(path, "errors"), [STAGE, ERROR, INPUT_PATH, INPUT_OFFSET, URL], n, seed,
                         {STAGE: stage} if stage else None)
    for row in errors:
        print(f"- {printable(row.get(STAGE))}: {printable((row.get(ERROR) or '')[:width])}  "
              f"at {printable(row.get(INPUT_PATH))}:{printable(row.get(INPUT_OFFSET))}")
    if not errors:
        print("  (none)")


def find_document(path: str, doc_id: str, progress: Optional[Progress] = None) -> List[Dict[str, Any]]:
    """Rows with id `doc_id` in a curate output's documents, rejected and errors tables (reads `id` first).
    `progress` counts the rows scanned (`rows`, its total set here) and the rows found (`found`)."""
    groups = [(name, f, i, n) for name in TABLES for f, i, n in _row_groups(table_files(path, name))]
    if progress is not None:
        progress.total = sum(n for *_, n in groups)
    found = []
    for table_name, f, i, n in groups:
        with reading(f):
            pf = pq.ParquetFile(f)
            mask = (pc.fill_null(pc.equal(pf.read_row_group(i, columns=[ID]).column(ID), doc_id), False)
                    if ID in pf.schema_arrow.names else None)
        if mask is not None and pc.any(mask).as_py():
            for row in _read_rows(f, i).filter(mask).to_pylist():
                found.append(dict(row, table=table_name, file=os.path.basename(f)))
                add_to(progress, found=1)
        add_to(progress, rows=n)
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


def shard_schema_problem(manifest: Manifest, shard: ShardInfo, shard_file: ShardFile) -> Optional[str]:
    """What is wrong with a shard's schema (verify's wording, `shard_problems`, without the shard's name), or
    None when it is the manifest's: a shard without `doc_lengths`, or of another width, cannot be decoded or
    counted row by row."""
    if shard_file.schema.equals(shard_schema(manifest.seq_len, manifest.dtype, manifest.with_doc_ids),
                                check_metadata=False):
        return None
    problem = shard_problems(manifest, shard, shard_file.num_rows, shard_file.schema)[0]
    return problem[len(shard.path) + 2:] if problem.startswith(f"{shard.path}: ") else problem  # named by the caller


def _shard_files(path: str, manifest: Manifest) -> List[str]:
    shards = sorted(manifest.shards, key=lambda s: s.path)
    files = [os.path.join(path, s.path) for s in shards]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:  # a sample of what is left would pass for the shards
        raise WinnowError(f"{len(missing)} of the {len(files)} shards listed in {MANIFEST_NAME} are missing "
                          f"({os.path.basename(missing[0])}{', ...' if len(missing) > 1 else ''})", path=path,
                          fix="re-run `winnow tokenize` into this directory (`winnow verify` checks every shard)")
    for shard, f in zip(shards, files):  # footers only: rows of another shape would fail mid-print
        with reading(f, FIX_RETOKENIZE):
            problem = shard_schema_problem(manifest, shard, ShardFile(f, manifest.file_format))
        if problem:
            raise WinnowError(f"not the shard its manifest describes: {problem}", path=f,
                              fix=f"{FIX_RETOKENIZE} (`winnow verify` checks every shard)")
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
    files = _shard_files(path, manifest)
    print(printable(f"== {n} sequences sampled (seed {seed}) from {path}; tokenizer "
                    f"{tok_path or 'none: showing ids (--tokenizer DIR decodes them)'}; document boundaries as "
                    f"{BOUNDARY.strip()}"))
    rows = sample_shard_rows(files, manifest.file_format, [TOKENS, DOC_LENGTHS, DOC_IDS], n, seed)
    for shown, row in enumerate(rows):
        parts, pad = decode_sequence(row[TOKENS], row[DOC_LENGTHS], tok)
        ids = f" docs={printable(row[DOC_IDS])}" if row.get(DOC_IDS) else ""
        print(f"- sequence {shown}: {len(row[DOC_LENGTHS])} segments {row[DOC_LENGTHS]}, {pad} pad{ids}")
        print("  " + _snippet(BOUNDARY.join(parts), width * 2))
    if not rows:
        print("  (no sequences)")


def inspect_doc_id(path: str, doc_id: str, width: int, tokenizer: Optional[str]) -> int:
    if os.path.exists(os.path.join(path, MANIFEST_NAME)):
        from pipelines.tools.lineage import find_document_segments

        manifest = read_manifest(path)
        files = _shard_files(path, manifest)  # missing or misshapen shards refused before the scan
        with Progress("inspect", ("rows", "found"), total=sum(s.sequences for s in manifest.shards)) as prog:
            hits = [dict(h, shard=os.path.basename(h["shard"])) for h in find_document_segments(path, doc_id, prog)]
        tok, _ = _load_tokenizer(path, tokenizer, manifest)
        print(printable(f"== document {doc_id}: {len(hits)} segment(s) in {path}"))
        wanted = {(h["shard"], h["row"]) for h in hits}
        texts: Dict[Tuple[str, int], Dict[str, Any]] = {}
        holding = [f for f in files if os.path.basename(f) in {shard for shard, _ in wanted}]  # only those read
        for f, start, piece in _iter_shard_pieces(holding, manifest.file_format, [TOKENS, DOC_LENGTHS]):
            for shard, row in wanted:
                if shard == os.path.basename(f) and start <= row < start + piece.num_rows:
                    texts[(shard, row)] = piece.slice(row - start, 1).to_pylist()[0]
        for h in hits:
            row = texts[(h["shard"], h["row"])]
            seg = row[TOKENS][h["offset"]:h["offset"] + h["length"]]
            text = tok.decode(seg, skip_special_tokens=False) if tok else " ".join(map(str, seg))
            print(f"- {printable(h['shard'])} row {h['row']}: segment {h['segment']} of {len(row[DOC_LENGTHS])}, "
                  f"tokens {h['offset']}..{h['offset'] + h['length']}")
            print("  " + _snippet(text, width))
        return 0 if hits else 1
    with Progress("inspect", ("rows", "found")) as prog:
        rows = find_document(path, doc_id, prog)
    print(printable(f"== document {doc_id}: {len(rows)} row(s) in {path}"))
    for row in rows:
        where = {"documents": "kept", "rejected": f"rejected at {row.get(STAGE)}: {row.get(REASON)}",
                 "errors": f"error at {row.get(STAGE)}: {row.get(ERROR)}"}[row["table"]]
        dup = f" (duplicate of {row[DUPLICATE_OF]})" if row.get(DUPLICATE_OF) else ""
        print(printable(f"- {row['table']}/{row['file']}: {where}{dup}; source {row.get(SOURCE)}, "
                        f"language {row.get(LANGUAGE) or UNKNOWN_LANGUAGE}, url {row.get(URL)}"))
        print("  " + _snippet(row.get(TEXT), width))
    return 0 if rows else 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a curate output directory or a shards directory")
    parser.add_argument("-n", type=positive_int, default=5, help="rows to show per section (default 5)")
    parser.add_argument("--language", help=f"only documents of this language ({UNKNOWN_LANGUAGE!r}: those without one, "
                                           "as `winnow stats` counts them)")
    parser.add_argument("--source", help="only documents of this source")
    parser.add_argument("--stage", help="only rejected/error rows of this stage")
    parser.add_argument("--reason", help="only rejected rows with this reason")
    parser.add_argument("--doc-id", help="where document ID is: its table (curate output) or its shard rows")
    parser.add_argument("--seed", type=seed_number, default=0, help="sampling seed (default 0)")
    parser.add_argument("--width", type=positive_int, default=160, help="characters per text snippet")
    parser.add_argument("--tokenizer", help="tokenizer.json or its directory (shards)")


def main(args: argparse.Namespace) -> int:
    refuse_remote(args.path, "inspect")
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
