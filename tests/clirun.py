"""Running `winnow` commands in the test's own process, and reading their one-line errors."""
from __future__ import annotations

from pipelines import cli


def winnow(capsys, *args) -> tuple:
    """(exit status, stdout, stderr) of `winnow ARGS`, run in this process."""
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def last_error_line(err: str, command: str) -> str:
    """The `winnow COMMAND: error: ...` line that ends `err` (and no traceback before it)."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and "Traceback" not in err, err
    assert lines[-1].startswith(f"winnow {command}: error: "), err
    return lines[-1]
