"""fastText model files checked before a job uses them: loaded once in a child process, with a time and a memory
limit, so that a damaged file is one line at recipe load instead of a crash of the whole command.

fastText's loader trusts the file: a .ftz cut short segfaulted `winnow curate` (exit 139, no output), a .bin cut
short made it read past the end forever, growing by ~0.1 GB a second, and a .bin cut after its header loaded
without complaint with zero weights (every document then scored 0.5). The magic number at the start says none of
this. The check loads the model in `sys.executable -c ...`, asks it for a prediction, and saves it again into
a pipe that counts the bytes: the loader reads what the header promises, so a whole file saves at its own size
and one cut short at more. The result and the model's labels are cached per (path, size, mtime), so a recipe
built twice, or many filters over one model, check it once (lid.176.ftz in ~0.3 s, a 513 MB quality model in
~0.7 s, measured on the 2-core development machine).
"""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
from typing import List, Optional, Tuple

# fastText's model files (.bin and quantised .ftz) start with this little-endian int32 (FASTTEXT_FILEFORMAT_MAGIC_INT32).
FASTTEXT_MAGIC = 793712314
# The child's limits: a whole model loads at hundreds of MB/s, so 20 s plus a second per 20 MB is ample; its
# memory is the file's size about once (the weights), and three times that plus 2 GiB for the interpreter stops a
# runaway read (a .bin cut in its header grew by ~0.1 GB a second) long before it troubles the machine.
LOAD_SECONDS_BASE, LOAD_BYTES_PER_SECOND = 20.0, 20e6
MEMORY_BASE, MEMORY_PER_FILE_BYTE = 2 << 30, 3

_CHILD = r"""
import json, os, shutil, subprocess, sys, tempfile
COUNT = "import sys\nwith open(sys.argv[1], 'rb') as f: print(sum(len(b) for b in iter(lambda: f.read(1 << 20), b'')))"
import fasttext
if hasattr(fasttext.FastText, "eprint"):
    fasttext.FastText.eprint = lambda *a, **k: None
model = fasttext.load_model(sys.argv[1])
model.predict("a sentence to check that the model predicts", k=1)  # a cut .ftz crashed here, not at load
# The loader reads what the header promises and fills the rest with whatever it has: saved again, a whole file
# comes out at its own size, one cut short at more. Saved into a pipe that another process counts, not onto a
# disk (save_model keeps the GIL, so a thread of this process could not drain the pipe).
folder = tempfile.mkdtemp(prefix="winnow-fasttext-check-")
try:
    pipe = os.path.join(folder, "model")
    os.mkfifo(pipe)
    counter = subprocess.Popen([sys.executable, "-c", COUNT, pipe], stdout=subprocess.PIPE)
    model.save_model(pipe)
    saved = int(counter.communicate()[0])
finally:
    shutil.rmtree(folder, ignore_errors=True)
print(json.dumps({"labels": model.get_labels(), "saved": saved}))
"""


# A text with no letter or digit has nothing for a fastText model to read: fastText would label its end-of-line
# token alone ('en' at 0.12 from lid.176, P(hq) 0.95 from a quality classifier).
_LETTER_OR_DIGIT = re.compile(r"[^\W_]")


def has_words(line: str) -> bool:
    """Whether a text holds a letter or digit (the language and classifier stages score nothing else)."""
    return _LETTER_OR_DIGIT.search(line) is not None


def has_fasttext_header(path: str) -> bool:
    """Whether `path` is a regular file that starts with fastText's magic number."""
    if not os.path.isfile(path):  # a named pipe would block the read below
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and int.from_bytes(head, "little", signed=True) == FASTTEXT_MAGIC


def _limit_memory(cap: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@functools.lru_cache(maxsize=32)
def _load_in_child(path: str, size: int, _mtime_ns: int) -> Tuple[Optional[str], Tuple[str, ...]]:
    """(why the file cannot be used, or None; the model's labels) of a file with a fastText header."""
    seconds = LOAD_SECONDS_BASE + size / LOAD_BYTES_PER_SECOND
    cap = MEMORY_BASE + MEMORY_PER_FILE_BYTE * size
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, path], capture_output=True, timeout=seconds,
                              preexec_fn=functools.partial(_limit_memory, cap), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"fastText did not finish loading it in {seconds:.0f} s: the file is damaged or cut short", ()
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.valid_signals() else "a signal"
        return f"fastText crashed loading it ({name}): the file is damaged or cut short", ()
    last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
    if proc.returncode != 0:
        if "MemoryError" in last or "bad_alloc" in last:
            return (f"fastText ran out of the {cap / 2 ** 30:.1f} GiB allowed for loading a {size:,}-byte file: "
                    f"the file is damaged or cut short"), ()
        return f"fastText cannot load it ({last[:300]}): the file is damaged or cut short", ()
    try:
        info = json.loads(proc.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "fastText loaded it but reported nothing readable", ()
    if size < info["saved"]:
        return (f"the file holds {size:,} bytes, fewer than the {info['saved']:,} its header promises: it is cut "
                f"short"), ()
    return None, tuple(info["labels"])


def _checked(path: str) -> Tuple[Optional[str], Tuple[str, ...]]:
    if not has_fasttext_header(path):
        return "the file is not a fastText model (wrong header)", ()
    st = os.stat(path)
    return _load_in_child(os.path.realpath(path), st.st_size, st.st_mtime_ns)


def model_problem(path: str) -> Optional[str]:
    """Why `path` is no usable fastText model (None when it loads whole)."""
    return _checked(path)[0]


def fasttext_model_labels(path: str) -> List[str]:
    """The labels of the fastText model at `path`, from the checked load (ValueError with the reason when the
    file is no usable model)."""
    problem, labels = _checked(path)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return list(labels)
