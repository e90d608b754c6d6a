"""`winnow export SHARDS --format megatron|mds|llmc --output DIR`: token shards already written by
`winnow tokenize` (Parquet or Arrow) rewritten in the format another trainer reads, with a `manifest.json`
(`schemas.trainer_formats`, format `winnow.trainer/1`) that `winnow verify` and `winnow stats` accept.

Input shard `shard-i-of-N.parquet` becomes `shard-i-of-N.bin` + `.idx` (megatron), `shard-i-of-N.bin` (llmc)
or `shard-i-of-N.mds` (mds, plus one `index.json`), in the same order, so the shards' global shuffle is kept.
A shard with no rows gets no output file.

The shards are checked against their manifest as `winnow verify` checks them, with verify's own functions and
messages, in the same pass that reads them: no unlisted shard file before anything is written, then each
shard's size and sha256 before it is read and its content (schema and row width against seq_len, row and
token counts, ids below vocab_size, doc_lengths, padding) before its output is written, then the totals and
packing figures before the export replaces a previous one. A manifest that does not describe its shards
(an edited seq_len, a shard listed twice, an empty shard list) is refused with verify's one line instead of
being exported wrong; the checks cost one max and one padding mask over each shard's tokens (3-10 % more
CPU, README "Trainer formats").

What a document is: the shards hold packed rows, so for megatron and llmc each row's segments
(`doc_lengths`, padding dropped) are the documents; a document longer than a row was already split by packing
into row-sized pieces, and only the last of them ends in `<|endoftext|>` in the rows. Each other piece gets
an `<|endoftext|>` appended here (`end_pieces`; their count is the manifest's `origin.eot_appended`): both
formats are read as one token stream in which `<|endoftext|>` is the only document boundary (llm.c's loader,
Megatron's GPTDataset and its EOD masks), so a piece without it ran on into the next, unrelated document (an
audit counted 219 of 400 EOT-delimited spans of a real run holding more than one document). A long document
is then trained as row-sized documents, as in the Parquet rows, where no attention crosses a segment.
`winnow tokenize --format megatron|llmc` writes whole documents instead. MDS samples are the rows themselves
(`tokens`, `doc_lengths` and `doc_ids` when the shards have them).

Memory: one shard at a time per `--workers` process (its bytes, its rows and the output file set: a megatron
`.idx` is 20 bytes a document, built in one buffer of its size); what has an entry per document (segment ends,
pointers, counts) is computed `ARRAY_CHUNK` documents at a time, so a shard of one-token documents needs its
output and little more (1.2 GB peak for 33M documents, was 3 GB). Time: linear in the tokens; the rows' pad is
dropped with one boolean mask per batch (megatron, llmc), MDS encodes a few bytes of header per row in Python.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import posixpath
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from apache_beam.io.filesystems import FileSystems

from schemas.arguments import worker_count
from pipelines.runtime.staging import StagedOutput, children, refuse_inputs_inside_output
from pipelines.runtime.files import read_bytes, write_bytes, write_pieces
from pipelines.tools.verify import check_listed, read_listed_shard
from schemas import DOC_IDS, MANIFEST_NAME
from schemas.errors import WinnowError
from schemas.progress import Progress, add_to
from schemas.shard_files import (SHARD_FILE_NAME, RowLengths, ShardTally, check_shard_content, check_totals,
                                 read_manifest)
from schemas.trainer_formats import (
    ARRAY_CHUNK, EOT, EOT_APPENDED, MDS_INDEX, TRAINER_FORMATS, dumps_manifest, encode_documents, encode_rows_mds,
    file_dtype, file_entry, is_trainer_manifest, mds_index, trainer_manifest, written_entry,
)

log = logging.getLogger(__name__)

SEGMENTS_NOTE = ("row segments of packed shards: a document longer than a row was split by packing into "
                 "row-sized pieces, each ending in <|endoftext|> (appended to all but the last: origin.eot_appended); "
                 "shorter documents are whole")
ROWS_NOTE = "MDS samples are the shards' rows (tokens, doc_lengths, doc_ids when present)"


def _read_existing(path: str) -> bytes:
    if not FileSystems.exists(path):  # Beam's open raises its own error type for a missing file
        raise FileNotFoundError(path)
    return read_bytes(path)


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0]


def segments(tokens: np.ndarray, lengths: RowLengths):
    """The rows' segments back to back (padding dropped) and their lengths (the shard's int32 doc_lengths, not
    an int64 copy: 8 bytes a segment for a shard of one-token documents), in row order."""
    keep = np.arange(tokens.shape[1])[None, :] < lengths.sums[:, None]
    return tokens[keep], lengths.flat


def end_pieces(flat: np.ndarray, lengths: np.ndarray, eot_id: Optional[int]) -> Tuple[np.ndarray, np.ndarray, int]:
    """(tokens, lengths, count) with `eot_id` appended to every segment that does not end in it: the pieces of a
    document that packing split, all but its last (tokenize ends every document with `<|endoftext|>`). The
    segments' ends are found `ARRAY_CHUNK` segments at a time (an int64 cumsum of all of them was 8 bytes a
    segment, twice); a copy of `lengths` is made only when a piece is found."""
    if eot_id is None or not lengths.size:
        return flat, lengths, 0
    open_ends, positions = [], []  # the open segments and where their eot goes in `flat`
    start = 0  # tokens before the chunk's first segment
    for a in range(0, lengths.size, ARRAY_CHUNK):
        ends = np.cumsum(lengths[a:a + ARRAY_CHUNK], dtype=np.int64)
        ends += start
        start = int(ends[-1])
        is_open = flat[ends - 1] != eot_id
        open_ends.append(np.flatnonzero(is_open) + a)
        positions.append(ends[is_open])
    open_ends = np.concatenate(open_ends)
    if not open_ends.size:
        return flat, lengths, 0
    flat = np.insert(flat, np.concatenate(positions), np.asarray(eot_id, dtype=flat.dtype))
    lengths = lengths.copy()
    lengths[open_ends] += 1
    return flat, lengths, int(open_ends.size)


def export_one_shard(task) -> Tuple[List[Dict[str, Any]], Optional[Dict[str, Any]], ShardTally, int]:
    """One input shard -> its output files, written once the shard passed verify's checks; returns their
    manifest entries, its MDS index entry, what the shard holds (for the totals) and the `<|endoftext|>`
    appended to pieces (`end_pieces`). `task`: (shards_dir, the
    manifest without its shard list, ShardInfo, dtype, output format, output dir, eot id), picklable so
    `--workers` can hand shards to processes."""
    shards_dir, manifest, shard, dtype, file_format, output_dir, eot_id = task
    tally = ShardTally(manifest.seq_len + 1, manifest.with_doc_ids)
    table, tokens, lengths = check_shard_content(manifest, shard, read_listed_shard(shards_dir, shard), tally)
    if not len(lengths):
        return [], None, tally, 0
    entry, appended = None, 0
    if file_format == "mds":
        name = _stem(shard.path) + ".mds"
        ids = table.column(DOC_IDS).to_pylist() if manifest.with_doc_ids else None
        out, counts, entry = encode_rows_mds(name, tokens, lengths.views(), ids, manifest.seq_len, dtype)
        outputs = [(name, out, counts)]
    else:
        flat, seg_lengths, appended = end_pieces(*segments(tokens, lengths), eot_id)
        outputs = encode_documents(file_format, _stem(shard.path), flat, seg_lengths, dtype, eot_id)
    files = []
    for name, out, counts in outputs:
        files.append(written_entry(name, write_pieces(FileSystems.join(output_dir, name), out), **counts))
    return files, entry, tally, appended


# The files an export writes (and a later export into the same directory replaces): the trainer formats'
# shards. Not token shards: owning every `shard-*` name deleted the .parquet/.arrow shards of an interrupted
# `winnow tokenize` found in --output.
EXPORT_FILE_NAME = re.compile(r"shard-\d+-of-\d+\.(?:bin|idx|mds)")


def _prepare_output(output_dir: str) -> StagedOutput:
    """Refuse a directory that holds token shards (Parquet/Arrow, with a manifest or without); the export is
    written under its staging directory, and replaces a previous export's files once it is complete
    (`publish`)."""
    manifest = FileSystems.join(output_dir, MANIFEST_NAME)
    if FileSystems.exists(manifest):
        try:
            ours = is_trainer_manifest(json.loads(read_bytes(manifest)))
        except ValueError:
            ours = False
        if not ours:
            raise WinnowError("--output holds a manifest.json that is not an export's (token shards?)", path=output_dir,
                              fix="write the export to a directory of its own")
    names = [posixpath.basename(p) for p in children(output_dir)]
    tokens = [n for n in names if SHARD_FILE_NAME.fullmatch(n) and not EXPORT_FILE_NAME.fullmatch(n)]
    if tokens:
        raise WinnowError(f"--output holds token shards ({tokens[0]}"
                          f"{', ...' if len(tokens) > 1 else ''}), which an export does not write", path=output_dir,
                          fix="write the export to a directory of its own")
    staged = StagedOutput(output_dir, (), last=MANIFEST_NAME, owned_files=(MDS_INDEX,), owned_names=EXPORT_FILE_NAME)
    staged.prepare()
    FileSystems.mkdirs(staged.staging)
    return staged


def export_shards(shards_dir: str, file_format: str, output_dir: str, workers: int = 1,
                  progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Writes the file set and manifest.json of `file_format` for the shards in `shards_dir` (`workers`
    processes, one shard at a time each; the files are the same for any count); returns the manifest dict.
    Bad arguments fail before anything is written. `progress` (schemas/progress.py) counts the shards
    exported (`shards`, of the manifest's list) and their `tokens`."""
    if file_format not in TRAINER_FORMATS:
        raise WinnowError(f"--format {file_format!r} is not one of {', '.join(TRAINER_FORMATS)}", path=output_dir)
    if workers < 1:
        raise WinnowError(f"--workers must be at least 1, got {workers}", path=output_dir)
    if FileSystems.join(shards_dir, "") == FileSystems.join(output_dir, ""):
        raise WinnowError("--output is the shards directory", path=output_dir,
                          fix="write the export to a directory of its own")
    manifest = read_manifest(shards_dir, _read_existing)  # a missing or foreign manifest: one line naming it
    manifest_bytes = read_bytes(FileSystems.join(shards_dir, MANIFEST_NAME))
    dtype = manifest.dtype
    refuse_inputs_inside_output([shards_dir], output_dir, "shards directory")
    check_listed(shards_dir, manifest)
    staged = _prepare_output(output_dir)
    try:
        result = _export(manifest, manifest_bytes, shards_dir, file_format, dtype, staged.staging, workers, progress)
        staged.publish()
    except BaseException:
        staged.discard()
        raise
    return result


def _export(manifest, manifest_bytes: bytes, shards_dir: str, file_format: str, dtype: str, output_dir: str,
            workers: int, progress: Optional[Progress] = None) -> Dict[str, Any]:
    # each task carries the fields the checks read, not the whole shard list (tasks x shards to pickle)
    header = dataclasses.replace(manifest, shards=[])
    stems: Dict[str, str] = {}
    for shard in manifest.shards:  # two shards of one stem (x.parquet, x.zst) wrote one file: half the tokens lost
        other = stems.setdefault(_stem(shard.path), shard.path)
        if other != shard.path:
            raise WinnowError(f"shards {other!r} and {shard.path!r} would both be exported as {_stem(shard.path)}.*",
                              path=shards_dir, fix="give each shard a name of its own before the suffix")
    tasks = [(shards_dir, header, shard, dtype, file_format, output_dir, manifest.tokenizer.special_ids.get(EOT))
             for shard in manifest.shards]
    tally = ShardTally(manifest.seq_len + 1, manifest.with_doc_ids)
    files: List[Dict[str, Any]] = []
    entries = []
    appended = 0

    if progress is not None:
        progress.total = len(tasks)

    def collect(done) -> None:
        nonlocal appended
        # one shard's tally at a time, in the manifest's order (ProcessPoolExecutor.map keeps it)
        for shard, (shard_files, entry, shard_tally, shard_appended) in zip(manifest.shards, done):
            add_to(progress, shards=1, tokens=shard.tokens)
            files.extend(shard_files)
            appended += shard_appended
            if entry is not None:
                entries.append(entry)
            tally.merge(shard_tally)

    if workers > 1 and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        # not multiprocessing.Pool: a worker killed (out of memory) lost its task and imap waited forever
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn")) as pool:
            try:
                collect(pool.map(export_one_shard, tasks))
            except BrokenProcessPool:
                raise WinnowError("a worker process died before its shard was written (killed, or out of memory?)",
                                  path=posixpath.dirname(output_dir.rstrip("/")),  # the --output, not its staging
                                  fix="run again with fewer --workers") from None
    else:
        collect(export_one_shard(t) for t in tasks)
    check_totals(manifest, tally)  # the manifest's totals and packing are those of the shards, as verify requires
    if file_format == "mds":
        index = mds_index(entries)
        write_bytes(FileSystems.join(output_dir, MDS_INDEX), index)
        files.append(file_entry(MDS_INDEX, index))
    result = trainer_manifest(
        file_format, file_dtype(file_format, dtype), vars(manifest.tokenizer), files,
        {k: vars(v) for k, v in manifest.sources.items()}, seed=manifest.seed, seq_len=manifest.seq_len,
        documents_are=ROWS_NOTE if file_format == "mds" else SEGMENTS_NOTE,
        origin={"command": "winnow export", "shards_file_format": manifest.file_format,
                "shards_manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                "shards_totals": vars(manifest.totals),
                **({} if file_format == "mds" else {EOT_APPENDED: appended})},
        versions={"numpy": np.__version__}, packing=vars(manifest.packing))
    write_bytes(FileSystems.join(output_dir, MANIFEST_NAME), dumps_manifest(result))
    return result


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Rewrite token shards (`winnow tokenize` output, Parquet or Arrow) in a trainer's format: megatron "
        "(Megatron-LM/NeMo indexed dataset .bin + .idx), mds (MosaicML streaming, index.json) or llmc "
        "(nanoGPT/llm.c .bin with the 256-int32 header: uint16 tokens, uint32 for vocabularies over 65,536), with a manifest.json `winnow verify` checks.")
    parser.add_argument("shards", help="directory written by `winnow tokenize` (with manifest.json)")
    parser.add_argument("--format", dest="file_format", required=True, choices=TRAINER_FORMATS,
                        help="output format: megatron, mds or llmc")
    parser.add_argument("--output", required=True, help="directory for the exported files and manifest.json")
    parser.add_argument("--workers", type=worker_count, default=1,
                        help="processes, each exporting one shard at a time (default 1; `auto`: one per usable "
                             "core; same files for any count)")
    return parser


def main(args: Any = None) -> int:
    if args is None or isinstance(args, (list, tuple)):
        args = configure_parser(argparse.ArgumentParser(prog="winnow export")).parse_args(args)
    with Progress("export", ("shards", "tokens"), unit="shards") as progress:
        m = export_shards(args.shards, args.file_format, args.output, workers=args.workers, progress=progress)
    t = m["totals"]
    print(f"export: {m['file_format']}: {len(m['files'])} files, {t['tokens']:,} tokens, {t['documents']:,} "
          f"documents{', %d samples' % t['samples'] if 'samples' in t else ''} in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
