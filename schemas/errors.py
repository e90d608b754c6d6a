"""The project's error type and how a command reports it: one line that names the file and the fix.

Code that knows which file is wrong raises `WinnowError(problem, path=..., fix=...)`; the `winnow` command
line (`report_errors`, called by pipelines/cli.py and training/train.py) prints it as
`winnow CMD: error: <path>: <problem>; <fix>` and exits non-zero, without a traceback. Well-known library
errors (OSError with a file name, pyarrow, zstandard) get the same one line. `WINNOW_DEBUG=1` (or
`winnow --log-level DEBUG`) shows the traceback as well; anything else (a bug) keeps its traceback.
Only the standard library is imported at module level, so every package can use this.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import tempfile
from typing import Callable, Iterator, Optional

DEBUG_ENV = "WINNOW_DEBUG"


class WinnowError(ValueError):
    """An input, output or configuration problem the user can fix. A ValueError, so callers that caught bad
    input as ValueError before keep working. The message is one line: `<path>: <problem>; <fix>`."""

    def __init__(self, problem: str, *args, path: Optional[str] = None, fix: Optional[str] = None):
        # Beam re-raises a DoFn's exception as type(exn)(args[0] + annotation, *args[1:]): keep that working.
        message = f"{path}: {problem}" if path else str(problem)
        if fix:
            message = f"{message}; {fix}"
        super().__init__(message, *args)
        self.path, self.fix = path, fix


_OS_FIXES = {
    errno.EACCES: "check its permissions, or choose a location you can write to",
    errno.EPERM: "check its permissions (read-only or immutable?), or choose a location you can write to",
    errno.EROFS: "the file system is read-only: choose another location",
    errno.ENOSPC: "the disk is full: free space or choose another location",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: check the path",
    errno.EISDIR: "it is a directory: give a file",
}


def one_line(exc: BaseException) -> Optional[str]:
    """The one-line message for an error the user can act on, or None for anything else (a bug)."""
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        problem = (exc.strerror or str(exc)).strip()
        fix = _OS_FIXES.get(exc.errno or 0)
        return f"{exc.filename}: {problem[:1].lower() + problem[1:]}" + (f"; {fix}" if fix else "")
    known: tuple = (WinnowError, ValueError, OSError, RuntimeError)
    try:
        import pyarrow as pa

        known += (pa.ArrowException,)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    zstd = sys.modules.get("zstandard")
    if zstd is not None:
        known += (zstd.ZstdError,)
    if not isinstance(exc, known):
        return None
    text = str(exc).strip() or type(exc).__name__
    # A runner that re-raises a worker's error may append the worker's traceback: keep the message part.
    text = text.split("Traceback (most recent call last)", 1)[0].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


FIX_DAMAGED = "the file is damaged or truncated: restore it or write it again"


@contextlib.contextmanager
def reading(path: str, fix: str = FIX_DAMAGED) -> Iterator[None]:
    """Errors of decoding `path` (pyarrow, zstd, an OSError without a file name such as "ZSTD decompression
    failed") become one WinnowError naming it; the library's own message does not say which file."""
    try:
        yield
    except WinnowError:
        raise
    except Exception as exc:
        if isinstance(exc, OSError) and getattr(exc, "filename", None):
            raise  # already names its file
        if not _is_decode_error(exc):
            raise
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise WinnowError(f"cannot be read ({problem})", path=path, fix=fix) from exc


def _is_decode_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    try:
        import pyarrow as pa

        if isinstance(exc, pa.ArrowException):
            return True
    except ImportError:  # pragma: no cover
        pass
    zstd = sys.modules.get("zstandard")
    return zstd is not None and isinstance(exc, zstd.ZstdError)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no") or \
        logging.getLogger("winnow").isEnabledFor(logging.DEBUG)


EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for `cat` when the reader of its output quits


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reading end has been closed (`winnow stats --json | head`)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), or stdout is not a real file
        return False


def interrupted(exc: BaseException) -> bool:
    """Whether `exc` is a Ctrl-C that a runner wrapped: a KeyboardInterrupt among its causes, or a message that
    starts with one (`KeyboardInterrupt [while running 'DedupExact/...']`, as Beam's runners re-raise it)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt) or str(exc).lstrip().startswith("KeyboardInterrupt"):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def report_errors(command: str, run: Callable[[], int], exit_code: int = 1) -> int:
    """Run a command; an error the user can fix becomes `winnow COMMAND: error: ...` on stderr and
    `exit_code`, Ctrl-C becomes 130. Output cut short because its reader quit (`| head`) ends the command
    quietly, as it ends `cat`: exit 141 and nothing on stderr. Other exceptions propagate with their traceback."""
    try:
        code = int(run() or 0)
        sys.stdout.flush()  # what is still buffered goes now, where a reader that has quit is handled below
        return code
    except KeyboardInterrupt:
        print(f"winnow {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if interrupted(exc):  # Beam re-raises a Ctrl-C inside a running transform as its own error
            print(f"winnow {command}: interrupted", file=sys.stderr)
            return 130
        if isinstance(exc, BrokenPipeError) and stdout_reader_gone():  # not a pipe of the job's own
            # nothing more can reach the reader; what is still buffered for it goes nowhere instead of raising
            # again when the interpreter flushes stdout on exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return EXIT_STDOUT_CLOSED
        message = one_line(exc)
        if message is None:
            raise
        if debugging():
            import traceback

            traceback.print_exc()
        print(f"winnow {command}: error: {message}", file=sys.stderr)
        return exit_code


def check_writable_dir(path: str, option: str = "--output") -> None:
    """Fail before any work when nothing can be written at `path` (a directory, existing or to be made).

    A real probe file is created and removed in the directory, or in its nearest existing parent when it does
    not exist yet: permission bits do not tell (root ignores them; read-only mounts and immutable directories
    refuse root too). Object-store URIs are left to the job.
    """
    if "://" in path:
        return
    target = os.path.abspath(path)
    probe = target
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise WinnowError(f"{probe} is a file, not a directory", path=path, fix=f"choose another {option}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".winnow-write-check-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problem = (f"is not writable ({reason})" if probe == target
                   else f"cannot be created: {probe} is not writable ({reason})")
        raise WinnowError(problem, path=path, fix=f"make it writable or choose another {option}") from exc
