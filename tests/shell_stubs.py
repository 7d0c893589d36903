"""Shared by the tests that check analysis against what real programs run:
stub programs that record their argv, bash running a script over them, and
whether an analysed argv (literal and dynamic words) covers a recorded one."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from execguard.execpolicy.words import Word

# One file per process, so concurrent pipeline stages never interleave.
STUB = '#!/bin/sh\nprintf \'%s\\0\' "${0##*/}" "$@" > "$ARGV_DIR/$$"\n'


def write_stubs(bin_dir: Path, names: Iterable[str]) -> None:
    for name in names:
        stub = bin_dir / name
        stub.write_text(STUB)
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)


def run_group(argv: Sequence[str], *, env: dict[str, str], cwd: Path | None = None,
              input: bytes = b"", timeout: float = 20) -> bool:
    """Run ``argv`` in its own process group and kill whatever is left of
    the group afterwards: a generated case may leave background jobs
    behind, which must not outlive it. Waits for the command and for every
    process still holding its output; ``False`` if that took too long."""
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        process.communicate(input, timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def bash_argvs(script: str, bin_dir: Path) -> list[list[str]]:
    """The argv of every stub run by ``bash -c script``, in no order."""
    bash = shutil.which("bash")
    assert bash is not None
    with tempfile.TemporaryDirectory() as log_dir:
        run_group([bash, "-c", script], env={"PATH": str(bin_dir), "ARGV_DIR": log_dir})
        return [[os.fsdecode(f) for f in record.read_bytes().split(b"\0")[:-1]]
                for record in Path(log_dir).iterdir()]


def words_match(pattern: Sequence[Word], argv: Sequence[str]) -> bool:
    """Whether ``argv`` is a value ``pattern`` can take: literal words equal,
    a single dynamic word any one argument starting with its prefix, another
    dynamic word any number of them, each starting with its prefix."""
    if not pattern:
        return not argv
    first, rest = pattern[0], pattern[1:]
    if first.text is not None:
        return bool(argv) and argv[0] == first.text and words_match(rest, argv[1:])
    if first.single:
        return bool(argv) and argv[0].startswith(first.prefix) and words_match(rest, argv[1:])
    return any(all(arg.startswith(first.prefix) for arg in argv[:taken])
               and words_match(rest, argv[taken:]) for taken in range(len(argv) + 1))
