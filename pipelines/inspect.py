"""`winnow inspect PATH`: look at the rows behind the numbers.

On a curate output: sample documents (optionally by language or source), rejected documents grouped by
stage and reason, and error rows. On a shards directory: packed sequences decoded, with each document
boundary marked, so packing and tokenization can be checked by eye.
"""
from __future__ import annotations

import argparse
import glob
import os
import textwrap
from typing import Optional

import pyarrow.parquet as pq

from schemas import (DOC_IDS, DOC_LENGTHS, ERROR, ID, INPUT_OFFSET, INPUT_PATH, LANGUAGE, LANGUAGE_SCORE,
                     MANIFEST_NAME, REASON, SOURCE, STAGE, TEXT, TOKENS, URL, Manifest)

BOUNDARY = " ⟦|⟧ "


def _rows(directory: str, columns=None, limit: int = 1000):
    """Up to `limit` rows from the Parquet files of `directory`, read row group by row group."""
    n = 0
    for f in sorted(glob.glob(os.path.join(directory, "*.parquet"))):
        pf = pq.ParquetFile(f)
        present = [c for c in (columns or pf.schema_arrow.names) if c in pf.schema_arrow.names]
        for i in range(pf.num_row_groups):
            for row in pf.read_row_group(i, columns=present).to_pylist():
                yield row
                n += 1
                if n >= limit:
                    return


def _snippet(text: Optional[str], width: int) -> str:
    text = " ".join((text or "").split())
    return textwrap.shorten(text, width=width, placeholder=" ...") if text else "(empty)"


def inspect_documents(path: str, n: int, width: int, language: Optional[str], source: Optional[str]) -> None:
    docs_dir = os.path.join(path, "documents")
    print(f"== documents ({docs_dir})")
    shown = 0
    for row in _rows(docs_dir, [ID, SOURCE, URL, LANGUAGE, LANGUAGE_SCORE, TEXT], limit=100_000):
        if (language and row.get(LANGUAGE) != language) or (source and row.get(SOURCE) != source):
            continue
        score = row.get(LANGUAGE_SCORE)
        print(f"- [{row[SOURCE]}/{row.get(LANGUAGE)}{'' if score is None else f' {score:.2f}'}] {row[ID]} {row.get(URL) or ''}")
        print("  " + _snippet(row[TEXT], width))
        shown += 1
        if shown >= n:
            break
    if not shown:
        print("  (none match)")
    rejected_dir = os.path.join(path, "rejected")
    groups = {}
    for row in _rows(rejected_dir, [ID, STAGE, REASON, URL, TEXT, "duplicate_of"], limit=200_000):
        key = (row[STAGE], row[REASON])
        groups.setdefault(key, [0, []])
        groups[key][0] += 1
        if len(groups[key][1]) < max(1, n // 3):
            groups[key][1].append(row)
    print(f"\n== rejected by stage and reason ({rejected_dir})")
    for (stage, reason), (count, rows) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        print(f"* {stage}/{reason}: {count}")
        for row in rows:
            dup = f" (duplicate of {row['duplicate_of']})" if row.get("duplicate_of") else ""
            print(f"  - {row[ID]} {row.get(URL) or ''}{dup}: {_snippet(row[TEXT], width - 10)}")
    print(f"\n== errors ({os.path.join(path, 'errors')})")
    errors = list(_rows(os.path.join(path, "errors"), [STAGE, ERROR, INPUT_PATH, INPUT_OFFSET, URL], limit=n))
    for row in errors:
        print(f"- {row[STAGE]}: {row[ERROR][:width]}  at {row.get(INPUT_PATH)}:{row.get(INPUT_OFFSET)}")
    if not errors:
        print("  (none)")


def inspect_shards(path: str, n: int, width: int, tokenizer: Optional[str]) -> None:
    from pipelines.stats import _find_tokenizer

    manifest = Manifest.load(os.path.join(path, MANIFEST_NAME))
    tok_path = _find_tokenizer(path, tokenizer)
    tok = None
    if tok_path:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(tok_path)
    print(f"== sequences ({path}); tokenizer {tok_path or 'not found: showing ids'}; document boundaries as {BOUNDARY.strip()}")
    shown = 0
    if manifest.file_format == "parquet":
        for row in _rows(path, [TOKENS, DOC_LENGTHS, DOC_IDS], limit=n):
            tokens, start, parts = row[TOKENS], 0, []
            for length in row[DOC_LENGTHS]:
                seg = tokens[start:start + length]
                parts.append(tok.decode(seg, skip_special_tokens=False) if tok else " ".join(map(str, seg[:20])))
                start += length
            pad = len(tokens) - start
            ids = f" docs={row[DOC_IDS]}" if row.get(DOC_IDS) else ""
            print(f"- row {shown}: {len(row[DOC_LENGTHS])} segments {row[DOC_LENGTHS]}, {pad} pad{ids}")
            print("  " + _snippet(BOUNDARY.join(parts), width * 2))
            shown += 1
    else:
        print("  (Arrow IPC shards: use `winnow stats` for totals)")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a curate output directory or a shards directory")
    parser.add_argument("-n", type=int, default=5, help="rows to show per section (default 5)")
    parser.add_argument("--language", help="only documents of this language")
    parser.add_argument("--source", help="only documents of this source")
    parser.add_argument("--width", type=int, default=160, help="characters per text snippet")
    parser.add_argument("--tokenizer", help="tokenizer.json or its directory (shards)")


def main(args: argparse.Namespace) -> int:
    if os.path.exists(os.path.join(args.path, MANIFEST_NAME)):
        inspect_shards(args.path, args.n, args.width, args.tokenizer)
    elif os.path.isdir(os.path.join(args.path, "documents")):
        inspect_documents(args.path, args.n, args.width, args.language, args.source)
    else:
        raise FileNotFoundError(f"{args.path} is neither a curate output (documents/) nor a shards directory (manifest.json)")
    return 0
