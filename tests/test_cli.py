"""The `winnow` console script: every command documents itself, bad usage fails clearly.

The `--help` and usage checks call `pipelines.cli.main` in this process (a child Python costs ~0.4 s each);
one test runs the installed console script itself, and the bad-input test runs `python -m pipelines.cli` in a
child so that nothing but its real stderr is judged.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from filters.classifier import roc_auc, train_quality_classifier
from pipelines.cli import main as cli_main
from pipelines.jobs.curate import run_curate
from pipelines.jobs.recipe import parse_recipe

REPO_ROOT = Path(__file__).resolve().parents[1]
WINNOW = [sys.executable, "-m", "pipelines.cli"]
COMMANDS = [["run"], ["crawl"], ["curate"], ["tokenize"], ["stats"], ["inspect"], ["verify"], ["train"],
            ["tokenizer", "train"], ["tokenizer", "eval"], ["classifier", "train"]]


def winnow(*args, check=True, env=None):
    proc = subprocess.run(WINNOW + list(args), capture_output=True, text=True, timeout=300,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        raise AssertionError(f"winnow {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def winnow_in_process(capsys, *args):
    """`winnow ARGS` through pipelines.cli.main in this process: (exit status, stdout, stderr)."""
    try:
        code = cli_main(list(args))
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_installed_console_script_lists_every_command():
    script = Path(sys.executable).with_name("winnow")  # setup.py's console_scripts entry, installed in the venv
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for cmd in ("run", "crawl", "curate", "tokenizer", "tokenize", "stats", "classifier", "inspect", "verify", "train"):
        assert f"    {cmd}" in proc.stdout, cmd


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(cmd, capsys):
    code, out, _ = winnow_in_process(capsys, *cmd, "--help")
    assert code == 0 and "usage:" in out and "--help" in out


def modules_loaded_after(commands, package):
    """Run `winnow` in-process in a fresh interpreter on each argv of `commands` (printing `exit CODE` for each
    SystemExit), then print which modules of `package` are loaded; returns (stdout lines, stderr)."""
    probe = ("import sys\nfrom pipelines.cli import main\n"
             f"for argv in {list(map(list, commands))!r}:\n"
             "    try:\n        main(argv)\n    except SystemExit as exc:\n        print('exit', exc.code)\n"
             f"print(sorted(m for m in sys.modules if m == {package!r} or m.startswith({package + '.'!r})))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return proc.stdout.split("\n"), proc.stderr


def test_train_help_and_a_refused_option_do_not_load_torch():
    # torch takes seconds to import (3.5 s here for `winnow train --help` when the trainer's module parsed it)
    lines, err = modules_loaded_after([["train", "--help"], ["train", "--shards", "x", "--lr", "inf"]], "torch")
    assert lines[-2:] == ["[]", ""], (lines[-20:], err[-2000:])
    out = "\n".join(lines)
    assert "--preset" in out and "exit 0" in out and "exit 2" in out
    assert "argument --lr" in err


def test_beam_commands_help_and_a_refused_option_do_not_load_beam():
    # importing Beam took ~1.5 s of the ~2 s that `winnow curate --help` took when the job's module declared
    # its options; a run still imports the job's module (and Beam) after its arguments are parsed
    lines, err = modules_loaded_after([["run", "--help"], ["crawl", "--help"], ["curate", "--help"],
                                       ["tokenize", "--help"],
                                       ["tokenize", "--input", "x", "--tokenizer", "t", "--seq-len", "0", "-o", "y"],
                                       ["curate", "-o", "y"]], "apache_beam")
    assert lines[-2:] == ["[]", ""], (lines[-20:], err[-2000:])
    out = "\n".join(lines)
    assert out.count("exit 0") == 4 and out.count("exit 2") == 2, out
    for option in ("--max-pages", "--seeds", "--recipe", "--seq-len", "--encoder", "--workers", "--runner"):
        assert option in out, option
    assert "argument --seq-len: 0 is not at least 1" in err
    assert "the following arguments are required: --input/-i" in err


def test_beam_commands_take_workers_and_runner(capsys):
    for cmd in ("run", "crawl", "curate", "tokenize"):
        _, out, _ = winnow_in_process(capsys, cmd, "--help")
        assert "--workers" in out and "--runner" in out, cmd


def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path):
    temp = tmp_path / "tmp"  # the job is refused after Beam's Pipeline made its temporary directory here
    temp.mkdir()
    proc = winnow("curate", "--input", str(tmp_path / "nothing.xyz"), "--output", str(tmp_path / "o"), check=False,
                  env={"TMPDIR": str(temp)})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "nothing.xyz" in proc.stderr
    assert not list(temp.iterdir())  # nothing left behind in $TMPDIR
    bad_recipe = tmp_path / "r.yaml"
    bad_recipe.write_text("extract: {}\nlanguge: {}\n")
    proc = winnow("curate", "--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "o"),
                  "--recipe", str(bad_recipe), check=False)
    assert proc.returncode == 1 and "unknown stage 'languge'" in proc.stderr


def test_output_into_a_reader_that_quits_ends_quietly(tmp_path):
    """`winnow stats DOCS --json | head`: once the reader has gone, the command stops as `cat` would (exit 141,
    nothing on stderr), instead of `winnow stats: error: [Errno 32] Broken pipe`."""
    import pyarrow as pa

    docs = tmp_path / "curated"
    (docs / "documents").mkdir(parents=True)
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(50)], "source": ["text"] * 50,
                             "text": [f"document number {i} with a few words" for i in range(50)]}),
                   docs / "documents" / "part-00000-of-00001.parquet")
    args = WINNOW + ["stats", str(docs), "--json", "--no-progress"]
    whole = subprocess.run(args, capture_output=True, text=True, timeout=300)  # a reader that reads it all
    assert whole.returncode == 0 and json.loads(whole.stdout)["kind"] == "documents", whole.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader quits before the command writes a byte
    try:
        proc = subprocess.run(args, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_non_beam_command_rejects_unknown_options(tmp_path, capsys):
    code, _, err = winnow_in_process(capsys, "stats", str(tmp_path), "--bogus")
    assert code == 2 and "winnow stats: error: unrecognized arguments: --bogus" in err  # the command's usage


def test_beam_job_refuses_a_misspelt_option_instead_of_running_on_defaults(tmp_path, capsys):
    # Beam drops arguments no pipeline option takes with a log warning; the job would then run the default
    # recipe, so a typo must stop it before any work
    docs = tmp_path / "in.jsonl"
    docs.write_text('{"text": "one document"}\n')
    out = tmp_path / "out"
    code, _, err = winnow_in_process(capsys, "curate", "--input", str(docs), "--output", str(out),
                                     "--recipie", "x.yaml")
    assert code == 1 and "winnow curate: error: unrecognized arguments: --recipie x.yaml" in err
    assert "nor a Beam or Dataflow pipeline option" in err and not out.exists()
    # what Beam or Dataflow does take still passes through to the runner
    from pipelines.runtime.options import unrecognised_beam_args

    assert unrecognised_beam_args(["--project", "p", "--region=us-central1", "--temp_location", "gs://b/t",
                                   "--experiments=a", "--experiments", "b", "--dry_run=True", "--setup_file",
                                   "./setup.py", "--sdk_container_image=img"]) == []
    assert unrecognised_beam_args(["--projcet", "p", "stray"]) == ["--projcet", "p", "stray"]


def test_input_and_seeds_given_twice_add_up(tmp_path, capsys):
    # `--input a --input b` read only b (argparse's nargs="+" replaced the first list), with exit 0
    inputs = []
    for k in range(3):
        path = tmp_path / f"in{k}.jsonl"
        path.write_text("".join(json.dumps({"id": f"f{k}d{i}", "text": f"document {i} of file {k}"}) + "\n"
                                for i in range(k + 1)))
        inputs.append(str(path))
    recipe = tmp_path / "none.yaml"
    recipe.write_text("name: read-only\n")
    out = tmp_path / "out"
    code, _, err = winnow_in_process(capsys, "curate", "--input", inputs[0], "--output", str(out), "--recipe",
                                     str(recipe), "-i", *inputs[1:])
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["stages"][0]["name"] == "read" and report["stages"][0]["in"] == 1 + 2 + 3

    ids = sorted(pq.read_table(out / "documents").column("id").to_pylist())
    assert ids == sorted(f"f{k}d{i}" for k in range(3) for i in range(k + 1))
    from pipelines.cli import _configure, build_parser

    parser = build_parser()
    argv = ["crawl", "--seeds", "http://a.test/", "--seeds", "http://b.test/", "seeds.txt", "--output", "o"]
    _configure(parser, argv)
    assert parser.parse_known_args(argv)[0].seeds == ["http://a.test/", "http://b.test/", "seeds.txt"]


def test_workers_with_another_runner_and_direct_counts_without_one_are_refused(tmp_path, capsys):
    # `--runner DirectRunner --workers 2` ran with no worker processes; `--direct_num_workers=2` alone was
    # overridden by --workers' default of 1: both exit 0, neither with the parallelism asked for
    docs = tmp_path / "in.jsonl"
    docs.write_text('{"text": "one document"}\n')
    out = tmp_path / "out"
    for extra, said in ((["--runner", "DirectRunner", "--workers", "2"], "--workers 2 sets the local runner's worker "
                         "processes and does nothing with --runner DirectRunner; leave --workers out and give that "
                         "runner's own option (DirectRunner: --direct_num_workers=N"),
                        (["--workers", "2", "--runner=DataflowRunner"], "does nothing with --runner DataflowRunner"),
                        (["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
                         "--direct_num_workers is replaced by --workers on the local runner; give --workers N instead")):
        code, _, err = winnow_in_process(capsys, "curate", "--input", str(docs), "--output", str(out), *extra)
        assert code == 1 and said in err and not out.exists(), (extra, err)
    from pipelines.runtime.options import make_pipeline_options

    assert make_pipeline_options(["--direct_num_workers=2"], runner="DirectRunner").view_as(
        __import__("apache_beam").options.pipeline_options.DirectOptions).direct_num_workers == 2


def test_row_options_with_a_whole_document_format_are_refused(tmp_path, capsys):
    # megatron and llmc write whole documents: --packing, --doc-ids and --row-group-mb gave byte-identical files
    for fmt in ("megatron", "llmc"):
        code, _, err = winnow_in_process(capsys, "tokenize", "--input", str(tmp_path), "--tokenizer", str(tmp_path),
                                         "--seq-len", "64", "--output", str(tmp_path / "o"), "--format", fmt,
                                         "--packing", "concat", "--doc-ids")
        assert code == 1 and (f"--format {fmt} writes whole documents, not packed rows: --packing, --doc-ids would do "
                              f"nothing; leave them out, or choose --format parquet, arrow or mds") in err, err
    code, _, err = winnow_in_process(capsys, "tokenize", "--input", str(tmp_path), "--tokenizer", str(tmp_path),
                                     "--seq-len", "64", "--output", str(tmp_path / "o"), "--format", "mds",
                                     "--packing", "concat", "--doc-ids")
    assert "whole documents" not in err  # mds holds packed rows: it goes on (and stops later on the empty input)


def test_run_does_not_replace_a_crawl_or_code_directory_it_did_not_write(tmp_path, capsys):
    # `winnow run -o .` in a project directory deleted the user's code/ and crawl/ (exit 0)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "mine.py").write_text("print('mine')\n")
    (tmp_path / "crawl").mkdir()
    code, _, err = winnow_in_process(capsys, "run", "-o", str(tmp_path), "--max-pages", "2", "--docs-port", "0")
    assert code == 1 and f"{tmp_path}: holds crawl/, code/, which `winnow run` replaces as a whole" in err, err
    assert (tmp_path / "code" / "mine.py").read_text() == "print('mine')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["code", "crawl"]
    from pipelines.demo.run import RUN_MARKER, refuse_foreign_subdirs

    (tmp_path / RUN_MARKER).write_text("")  # an earlier `winnow run` wrote here: its own directories may go
    refuse_foreign_subdirs(str(tmp_path), [str(tmp_path / "code"), str(tmp_path / "crawl")])


def test_tilde_in_path_options_means_home(tmp_path, capsys, monkeypatch):
    # `--output=~/x` (no shell expansion after `=`) wrote into ./~/x while the safety checks looked at $HOME/x
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "in.jsonl").write_text(json.dumps({"id": "a", "text": "one document"}) + "\n")
    (home / "none.yaml").write_text("name: read-only\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    code, _, err = winnow_in_process(capsys, "curate", "--input=~/in.jsonl", "--output=~/out", "--recipe=~/none.yaml")
    assert code == 0, err
    assert (home / "out" / "report.json").is_file() and list(work.iterdir()) == []


def test_one_file_under_two_spellings_is_read_once(tmp_path, capsys, monkeypatch):
    # `-i d/a.jsonl ./d/a.jsonl` read the file twice: every document twice, half of them renamed as repeated ids
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text("".join(json.dumps({"id": f"x{i}", "text": f"text {i}"}) + "\n"
                                                    for i in range(4)))
    recipe = tmp_path / "none.yaml"
    recipe.write_text("name: read-only\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = winnow_in_process(capsys, "curate", "-i", "d/a.jsonl", "./d/a.jsonl", str(tmp_path / "d/a.jsonl"),
                                     "d//a.jsonl", "-o", "out", "--recipe", str(recipe))
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["stages"][0]["in"] == 4 and "renamed" not in report["stages"][0], report["stages"][0]

    table = pq.read_table(tmp_path / "out" / "documents")
    assert sorted(table.column("id").to_pylist()) == ["x0", "x1", "x2", "x3"]
    # one pointer whatever the spelling or working directory (it was the first spelling, `./d/a.jsonl`)
    assert set(table.column("input_path").to_pylist()) == {str(tmp_path / "d" / "a.jsonl")}


def test_renamed_ids_do_not_depend_on_how_the_input_is_spelt(tmp_path, monkeypatch):
    # two files numbered from 0: the repeat is renamed `0@<path>:0`; the path was the spelling of the command line
    # (`0@ids/b.jsonl:0`, `0@./ids/b.jsonl:0`, `0@/abs/ids/b.jsonl:0` for one file), so ids changed between runs
    (tmp_path / "ids").mkdir()
    for name, text in (("a", "alpha beta gamma"), ("b", "other words here")):
        (tmp_path / "ids" / f"{name}.jsonl").write_text(json.dumps({"id": "0", "text": text}) + "\n")
    monkeypatch.chdir(tmp_path)
    ids = []
    for n, spec in enumerate(("ids/*.jsonl", "./ids/*.jsonl", str(tmp_path / "ids" / "*.jsonl"))):
        run_curate([spec], str(tmp_path / f"out{n}"), parse_recipe({"dedup_exact": {}}))
        ids.append(sorted(pq.read_table(tmp_path / f"out{n}" / "documents").column("id").to_pylist()))
    assert ids == [["0", f"0@{tmp_path / 'ids' / 'b.jsonl'}:0"]] * 3


@pytest.mark.parametrize("argv, said", [
    (["--log-level", "verbose", "stats", "x"], "--log-level: invalid choice: 'VERBOSE'"),  # was WARNING, silently
    (["tokenizer", "train", "--input", "x", "--vocab-size", "300", "--output", "o", "--sample-rate", "50"],
     "--sample-rate: 50 is not within (0, 1]"),  # was read as 1
    (["tokenizer", "eval", "--tokenizer", "t", "--input", "x", "--baseline", "b", "--no-baseline"],
     "argument --no-baseline: not allowed with argument --baseline"),  # the baseline was dropped
    (["train", "--shards", "s", "--max-steps", "-3"], "--max-steps: -3 is not at least 1"),  # an untrained ckpt.pt
    (["train", "--shards", "s", "--grad-accum", "0"], "--grad-accum: 0 is not at least 1"),  # became 1
    (["train", "--shards", "s", "--batch-size", "0"], "--batch-size: 0 is not at least 1"),  # ZeroDivisionError
    (["train", "--shards", "s", "--log-interval", "0"], "--log-interval: 0 is not at least 1"),
], ids=["log-level", "sample-rate", "baseline", "max-steps", "grad-accum", "batch-size", "log-interval"])
def test_out_of_range_or_contradictory_options_are_usage_errors(argv, said, capsys):
    code, _, err = winnow_in_process(capsys, *argv)
    assert code == 2 and said in err, err


def test_log_level_takes_any_case(tmp_path, capsys):
    code, _, err = winnow_in_process(capsys, "--log-level", "debug", "stats", str(tmp_path / "none"))
    assert code == 1 and "invalid choice" not in err and "no documents found" in err, err


def test_a_misspelt_source_weight_is_an_error_not_a_lost_share(tmp_path, capsys):
    # `--source-weight Web=3 --source-weight code=1` sampled code alone: web's share went to a source nobody has
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"{s}{i}", "source": s, "text": f"{s} text number {i} " * 20}) + "\n"
                            for s in ("web", "code") for i in range(10)))
    out = tmp_path / "tok"
    code, _, err = winnow_in_process(capsys, "tokenizer", "train", "--input", str(docs), "--vocab-size", "300",
                                     "--output", str(out), "--source-weight", "Web=3", "--source-weight", "code=1")
    assert code == 1 and "--source-weight names Web, which no document has: the documents' sources are code, web" in err
    code, _, err = winnow_in_process(capsys, "tokenizer", "train", "--input", str(docs), "--vocab-size", "300",
                                     "--output", str(out), "--source-weight", "web=3", "--source-weight", "code=1")
    assert code == 0, err
    assert json.loads((out / "tokenizer_meta.json").read_text())["sample"]["sources"].keys() == {"web", "code"}


def test_unknown_option_names_the_closest_one(tmp_path, capsys):
    code, _, err = winnow_in_process(capsys, "stats", str(tmp_path), "--jsno")
    assert code == 2 and "winnow stats: error: unrecognized arguments: --jsno; --jsno: did you mean --json?" in err


def test_roc_auc_matches_hand_computed_values():
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1]) == 1.0
    assert roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]) == 0.75
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5


@pytest.mark.shared_data
def test_classifier_separates_prose_from_code(shared_data, tmp_path):
    import gzip

    books = sorted((shared_data / "text" / "gutenberg").glob("pg*.txt"))[:4]
    prose = []
    for book in books:
        paragraphs = [p for p in book.read_text(encoding="utf-8", errors="replace").split("\n\n") if len(p) > 300]
        prose += paragraphs[50:250]
    code = []
    with gzip.open(shared_data / "code" / "linguist_samples_dev.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["encoding"] == "utf-8" and len(row["content"]) > 300:
                code.append(row["content"][:3000])
            if len(code) >= len(prose):
                break
    meta = train_quality_classifier(prose, code, str(tmp_path / "clf"), epoch=5)
    assert os.path.exists(tmp_path / "clf" / "model.bin")
    assert meta["held_out_examples"] > 50
    assert meta["held_out_auc"] > 0.95, meta


TOKENIZE = ["tokenize", "--input", "d", "--tokenizer", "t", "--output", "o"]


@pytest.mark.parametrize("command, option", [
    (["curate", "-i", "x.jsonl", "-o", "o"], "--workers"),
    (["export", "shards", "--format", "llmc", "--output", "o"], "--workers"),
    (TOKENIZE + ["--seq-len", "8"], "--batch-size"),
    (TOKENIZE, "--seq-len"),
    (["crawl", "--seeds", "s.txt", "--output", "o"], "--max-pages"),
])
def test_counts_below_one_are_usage_errors(capsys, command, option):
    code, _, err = winnow_in_process(capsys, *command, option, "0")
    assert code == 2 and f"{option}: 0 is not at least 1" in err, err
    code, _, err = winnow_in_process(capsys, *command, option, "two")
    assert code == 2 and f"{option}: 'two' is not a whole number" in err, err


def test_command_import_freezes_what_lives_and_keeps_no_garbage():
    """`_import_command` imports with the collector paused, then (once per process) collects and freezes what
    is alive: garbage made before is collected, not frozen; full collections are made rarer; the collector is
    left on or off as it was found."""
    script = textwrap.dedent(f"""
        import gc, sys, weakref
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from pipelines import cli

        class Node:
            pass

        gc.disable()  # no automatic collection may free the cycle before the call
        a, b = Node(), Node()
        a.other, b.other = b, a
        dead = weakref.ref(a)
        del a, b  # a cycle: garbage that only the cyclic collector frees
        before = gc.get_freeze_count()  # not 0 on every Python: 3.12 starts with some objects frozen
        assert dead() is not None
        cli._import_command("pipelines.jobs.curate")
        assert dead() is None, "garbage was frozen"
        assert not gc.isenabled()  # left off, as it was found
        frozen = gc.get_freeze_count()
        assert frozen > before + 10_000, (before, frozen)
        assert gc.get_threshold()[2] == cli.FULL_COLLECTION_EVERY > 10  # full collections made rarer
        gc.enable()
        cli._import_command("pipelines.jobs.tokenize")
        assert gc.isenabled() and gc.get_freeze_count() <= frozen  # left on; once per process: nothing more frozen
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_classifier_train_refuses_settings_that_train_nothing(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "some words here"}\n')
    code, _, err = winnow_in_process(capsys, "classifier", "train", "--positive", str(docs), "--negative", str(docs),
                                     "--output", str(tmp_path / "m"))
    assert code == 1 and "--positive and --negative are the same documents" in err
    # the same files under two names (a folder and a glob, a curate output and its documents/): trained on one
    # set as both classes, exit 0, held-out AUC 0.5
    code, _, err = winnow_in_process(capsys, "classifier", "train", "--positive", str(tmp_path),
                                     "--negative", str(tmp_path / "*.jsonl"), "--output", str(tmp_path / "m"))
    assert code == 1 and f"1 document file(s) on both sides, e.g. {docs}" in err, err
    code, _, err = winnow_in_process(capsys, "classifier", "train", "--positive", str(docs), "--negative",
                                     str(tmp_path / "other.jsonl"), "--output", str(tmp_path / "m"), "--epoch", "0")
    assert code == 2 and "argument --epoch: 0 is not at least 1" in err
