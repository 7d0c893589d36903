"""The process runtime (`runtimes.process`) against real processes: the
rows of the reference's behaviour table (spec §13) that need no RPC layer,
plus cleanup (no process, zombie or fd left behind on any path) and the
sandbox-policy chooser (`runtimes.sandboxing`).

Timing bounds are generous (a busy 2-core machine); each test's sleeps are
short so the file runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from execguard.runtimes import process as process_module
from execguard.runtimes import sandboxing
from execguard.runtimes.api import (
    DEFAULT_OUTPUT_CAP,
    ControlError,
    ExecResult,
    ExecSpec,
    SandboxRequest,
    SpawnError,
)
from execguard.runtimes.process import READ_SIZE, WATCHDOG, OutputCap, RunningProcess, run, spawn
from execguard.sandbox.bwrap import _PLACEHOLDERS

PATH = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
HOME = os.environ.get("HOME", "/root")
ENV = {"PATH": PATH, "HOME": HOME, "LC_ALL": "C"}
PY = sys.executable
REPO = str(Path(__file__).resolve().parent.parent)


def exact(message: str) -> str:
    return f"^{re.escape(message)}$"


def spec(argv: list[str], **kwargs: Any) -> ExecSpec:
    kwargs.setdefault("cwd", "/")
    kwargs.setdefault("env", dict(ENV))
    kwargs.setdefault("timeout_ms", 10_000)
    return ExecSpec(argv=argv, **kwargs)


def sh(script: str, **kwargs: Any) -> ExecSpec:
    return spec(["sh", "-c", script], **kwargs)


@dataclass
class Outcome:
    result: ExecResult
    chunks: list[tuple[str, bytes, bool]] = field(default_factory=list)
    elapsed: float = 0.0
    pid: int = 0

    def streamed(self, stream: str) -> bytes:
        return b"".join(data for name, data, _ in self.chunks if name == stream)


Scenario = Callable[[RunningProcess, "Recorder"], Awaitable[None]]


class Recorder:
    """An output sink that records chunks and lets a scenario wait for text."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, bytes, bool]] = []
        self.seen = bytearray()
        self._changed = asyncio.Event()

    async def __call__(self, stream: str, data: bytes, cap_reached: bool) -> None:
        self.chunks.append((stream, data, cap_reached))
        self.seen += data
        self._changed.set()

    async def wait_for(self, marker: bytes, timeout: float = 5.0) -> None:
        async def loop() -> None:
            while marker not in self.seen:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)


def execute(exec_spec: ExecSpec, scenario: Scenario | None = None) -> Outcome:
    """Spawn, optionally drive the process, and wait, in a fresh loop."""

    async def main() -> Outcome:
        recorder = Recorder()
        started = time.monotonic()
        process = await spawn(exec_spec, recorder if exec_spec.stream_output else None)
        if scenario is not None:
            await scenario(process, recorder)
        result = await process.wait()
        return Outcome(result, recorder.chunks, time.monotonic() - started, process.pid)

    return asyncio.run(main())


def live_group_members(pgid: int) -> list[int]:
    members = []
    for proc in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
    return members


def wait_gone(pids: list[int], timeout: float = 2.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        if alive:
            time.sleep(0.02)
    return alive


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves no child (live or zombie) and no open fd behind
    (but the watchdog, which lives as long as this process)."""
    WATCHDOG.start()
    fds = open_fds()
    yield
    me = psutil.Process()

    def children() -> list[psutil.Process]:
        return [c for c in me.children(recursive=True) if c.pid != WATCHDOG.pid]

    deadline = time.monotonic() + 2.0
    while children() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert children() == []
    # Sandbox placeholders linger a moment for the next command, each with
    # its lock record open (sandbox/bwrap.py); gone after a flush.
    _PLACEHOLDERS.flush()
    assert open_fds() - fds == set()


# -- plain runs and exit codes -------------------------------------------------------


def test_buffered_stdout_and_stderr() -> None:
    outcome = execute(sh("printf out; printf err >&2"))
    assert outcome.result == ExecResult(0, b"out", b"err")


@pytest.mark.parametrize("code", [0, 7, 255])
def test_exit_codes(code: int) -> None:
    assert execute(sh(f"exit {code}")).result.exit_code == code


@pytest.mark.parametrize(
    ("sig", "pipe_code"), [("TERM", 143), ("KILL", 137), ("INT", 130), ("HUP", 129)]
)
def test_self_signal_exit_codes(sig: str, pipe_code: int) -> None:
    assert execute(sh(f"kill -{sig} $$")).result.exit_code == pipe_code
    assert execute(sh(f"kill -{sig} $$", tty=True)).result.exit_code == 1


def test_stdin_is_dev_null_when_not_streaming() -> None:
    outcome = execute(sh("cat; readlink /proc/self/fd/0"))
    assert outcome.result.stdout == b"/dev/null\n"
    assert outcome.elapsed < 2


def test_buffered_with_sink_gives_no_chunks() -> None:
    async def main() -> tuple[ExecResult, list[tuple[str, bytes, bool]]]:
        recorder = Recorder()
        process = await spawn(sh("echo hi"), recorder)  # stream_output not set
        return await process.wait(), recorder.chunks

    result, chunks = asyncio.run(main())
    assert result.stdout == b"hi\n"
    assert chunks == []


def test_run_convenience_uses_this_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECGUARD_TEST_MARKER", "from-parent")
    result = run(["sh", "-c", "echo $EXECGUARD_TEST_MARKER; pwd"], cwd="/tmp")
    assert result.stdout == b"from-parent\n/tmp\n"


# -- the child's state ---------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import ctypes, json, os
    fds = []
    for fd in range(0, 1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        fds.append(fd)
    kinds = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
    libc = ctypes.CDLL(None, use_errno=True)
    deathsig = ctypes.c_int(-1)
    libc.prctl(2, ctypes.byref(deathsig), 0, 0, 0)  # PR_GET_PDEATHSIG
    try:
        os.close(os.open("/dev/tty", os.O_RDWR))
        ctty = True
    except OSError:
        ctty = False
    status = dict(
        line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
        if line.startswith("Sig")
    )
    print(json.dumps({
        "fds": fds, "kinds": kinds, "pid": os.getpid(), "sid": os.getsid(0),
        "pgid": os.getpgid(0), "deathsig": deathsig.value, "ctty": ctty,
        "blocked": status["SigBlk"].strip(), "ignored": status["SigIgn"].strip(),
    }))
    """
)


@pytest.mark.parametrize("mode", ["pipe", "stdin", "tty"])
def test_child_state(mode: str) -> None:
    leaked = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leaked, True)  # even an inheritable fd must not reach the child
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        outcome = execute(spec([PY, "-c", PROBE], stream_stdin=mode == "stdin", tty=mode == "tty"))
    finally:
        signal.signal(signal.SIGHUP, previous)
        os.close(leaked)
    assert outcome.result.exit_code == 0, outcome.result
    state = json.loads(outcome.result.stdout)
    assert state["fds"] == [0, 1, 2]
    kinds = [kind.split(":")[0] for kind in state["kinds"]]
    if mode == "pipe":
        assert kinds == ["/dev/null", "pipe", "pipe"]
    elif mode == "stdin":
        assert kinds == ["pipe", "pipe", "pipe"]
    else:
        assert all(kind.startswith("/dev/pts/") for kind in kinds)
    assert state["sid"] == state["pid"] == state["pgid"] == outcome.pid
    assert state["ctty"] is (mode == "tty")
    # No PR_SET_PDEATHSIG: the watchdog kills commands of a dead server.
    assert state["deathsig"] == 0
    assert state["blocked"] == "0000000000000000"
    # Python ignores SIGPIPE and SIGXFSZ itself: look at a C program instead.
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        status = execute(spec(["grep", "^Sig[BI]", "/proc/self/status"], tty=mode == "tty"))
    finally:
        signal.signal(signal.SIGHUP, previous)
    lines = status.result.stdout.decode().split()
    assert lines == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def test_the_watchdog_kills_the_commands_of_a_dead_server() -> None:
    helper = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {REPO!r})
        from execguard.runtimes.api import ExecSpec
        from execguard.runtimes.process import spawn

        async def main():
            process = await spawn(ExecSpec(argv=["sleep", "30"], cwd="/", env={ENV!r}))
            print(process.pid, flush=True)
            await asyncio.sleep(30)

        asyncio.run(main())
        """
    )
    server = subprocess.Popen([PY, "-c", helper], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        child = int(server.stdout.readline())
        assert _alive(child)
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    assert wait_gone([child]) == []


def test_environment_is_exactly_the_given_one() -> None:
    env = {"PATH": "/usr/bin:/bin", "BASELINE": "request", "EXTRA": "added"}
    outcome = execute(spec(["env"], env=env))
    assert sorted(outcome.result.stdout.decode().splitlines()) == sorted(
        f"{key}={value}" for key, value in env.items()
    )
    outcome = execute(sh('echo "$BASELINE|$EXTRA|${HOME-unset}"', env=env))
    assert outcome.result.stdout == b"request|added|unset\n"


def test_tty_environment_gains_shell_like_the_pty_library() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    outcome = execute(spec(["env"], env=env, tty=True))
    lines = sorted(outcome.result.stdout.decode().split("\r\n"))
    assert [line for line in lines if line] == sorted(["PATH=/usr/bin:/bin", _shell_line()])


def _shell_line() -> str:
    import pwd

    return f"SHELL={pwd.getpwuid(os.getuid()).pw_shell or '/bin/sh'}"


def test_missing_path_falls_back_to_a_default_search_path() -> None:
    assert execute(spec(["true"], env={})).result.exit_code == 0


# -- spawn errors --------------------------------------------------------------------

NOENT = "failed to spawn command: No such file or directory (os error 2)"


def test_spawn_errors(tmp_path: Path) -> None:
    with pytest.raises(SpawnError) as missing:
        execute(spec(["definitely-not-a-program-xyz"]))
    assert str(missing.value) == NOENT
    with pytest.raises(SpawnError) as no_cwd:
        execute(spec(["true"], cwd=str(tmp_path / "missing")))
    assert str(no_cwd.value) == NOENT
    with pytest.raises(SpawnError) as bad_path:
        execute(spec(["true"], env={"PATH": str(tmp_path / "nowhere")}))
    assert str(bad_path.value) == NOENT
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(SpawnError) as denied:
        execute(spec([str(script)]))
    assert str(denied.value) == "failed to spawn command: Permission denied (os error 13)"


def test_tty_spawn_errors(tmp_path: Path) -> None:
    path = f"{tmp_path}/bin:/nonexistent"
    with pytest.raises(SpawnError) as missing:
        execute(spec(["no-such-prog"], env={"PATH": path}, tty=True))
    assert str(missing.value) == (
        "failed to spawn command: Unable to spawn no-such-prog because:\n"
        f'No viable candidates found in PATH "{path}"'
    )
    with pytest.raises(SpawnError) as absolute:
        execute(spec([str(tmp_path / "nope")], tty=True))
    assert str(absolute.value) == (
        f"failed to spawn command: Unable to spawn {tmp_path}/nope because it doesn't "
        "exist on the filesystem (ENOENT: No such file or directory)"
    )


def test_tty_missing_cwd_runs_in_home(tmp_path: Path) -> None:
    env = dict(ENV, HOME=str(tmp_path))
    outcome = execute(spec(["pwd"], cwd=str(tmp_path / "missing"), env=env, tty=True))
    assert outcome.result.exit_code == 0
    assert outcome.result.stdout == f"{tmp_path}\r\n".encode()


# -- PTY behaviour -------------------------------------------------------------------


def test_tty_streams_everything_as_stdout() -> None:
    outcome = execute(
        sh(
            "[ -t 0 -a -t 1 -a -t 2 ] && echo tty; echo to-stderr >&2; exit 3",
            tty=True,
            stream_output=True,
        )
    )
    assert outcome.result == ExecResult(3, b"", b"")
    assert {name for name, _, _ in outcome.chunks} == {"stdout"}
    assert outcome.streamed("stdout") == b"tty\r\nto-stderr\r\n"


def test_tty_default_and_given_size() -> None:
    assert execute(spec(["stty", "size"], tty=True)).result.stdout == b"24 80\r\n"
    sized = execute(spec(["stty", "size"], tty=True, size=(31, 101)))
    assert sized.result.stdout == b"31 101\r\n"


def test_tty_resize_is_seen_by_stty_and_a_winch_trap() -> None:
    script = (
        "trap 'echo winch:$(stty size); exit 0' WINCH; echo start:$(stty size); "
        "while :; do sleep 0.05; done"
    )

    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await out.wait_for(b"start:")
        process.resize(45, 132)

    outcome = execute(sh(script, tty=True, stream_output=True, size=(31, 101)), scenario)
    text = outcome.streamed("stdout")
    assert b"start:31 101" in text
    assert b"winch:45 132" in text
    assert outcome.result.exit_code == 0


def test_tty_ctrl_c_reaches_a_trapping_loop() -> None:
    script = "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 0.05; done"

    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await out.wait_for(b"ready")
        await process.write(b"\x03")

    outcome = execute(sh(script, tty=True, stream_output=True), scenario)
    assert b"^Cgot-int" in outcome.streamed("stdout")
    assert outcome.result.exit_code == 5


def test_tty_close_stdin_ends_cat() -> None:
    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await process.write(b"abc\n")
        await out.wait_for(b"abc\r\nabc\r\n")
        await process.close_stdin()
        await process.close_stdin()  # twice is fine
        with pytest.raises(ControlError, match=exact("stdin is already closed")):
            await process.write(b"more")

    outcome = execute(spec(["cat"], tty=True, stream_output=True), scenario)
    assert outcome.result.exit_code == 0
    assert outcome.streamed("stdout").startswith(b"abc\r\nabc\r\n")
    assert outcome.elapsed < 3


@pytest.mark.parametrize("copiers", [True, False], ids=["copiers", "loop-reads-pty"])
def test_tty_output_beyond_the_pty_buffer_arrives_whole(
        copiers: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Megabytes through a PTY (which holds ~4 KiB), byte for byte, with the
    `cat` copiers and without them (no `cat` on PATH: the loop reads the PTY)."""
    if not copiers:
        monkeypatch.setattr(process_module, "_CAT", "")
    size = 3 * 1024 * 1024 + 7
    script = f"head -c {size} /dev/urandom | od -An -v -tx1 | tr -d ' \\n'; printf END"

    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await out.wait_for(b"END")

    outcome = execute(sh(script, tty=True, stream_output=True, output_cap=None), scenario)
    text = outcome.streamed("stdout")
    assert outcome.result.exit_code == 0
    assert text.endswith(b"END") and len(text) == 2 * size + 3
    assert set(text[:-3]) <= set(b"0123456789abcdef")


def test_tty_streaming_cap() -> None:
    outcome = execute(sh("printf abcdefgh", tty=True, stream_output=True, output_cap=4))
    assert outcome.chunks == [("stdout", b"abcd", True)]


# -- timeouts ------------------------------------------------------------------------


def test_timeout_kills_and_reports_124() -> None:
    outcome = execute(spec(["sleep", "5"], timeout_ms=500))
    assert outcome.result.exit_code == 124
    assert outcome.result.timed_out
    assert 0.4 < outcome.elapsed < 2


def test_timeout_zero_is_immediate() -> None:
    outcome = execute(spec(["sleep", "5"], timeout_ms=0))
    assert outcome.result.exit_code == 124
    assert outcome.elapsed < 1


def test_timeout_keeps_partial_output() -> None:
    outcome = execute(sh("echo start; echo err >&2; sleep 5", timeout_ms=500))
    assert outcome.result == ExecResult(124, b"start\n", b"err\n", timed_out=True)


def test_timeout_ignores_sigterm_traps() -> None:
    outcome = execute(sh("trap '' TERM; echo armed; sleep 5", timeout_ms=300))
    assert outcome.result.exit_code == 124
    assert outcome.elapsed < 1.5


@pytest.mark.parametrize("mode", ["tty", "streaming"])
def test_timeout_in_streaming_modes(mode: str) -> None:
    outcome = execute(
        sh("echo started; sleep 5", tty=mode == "tty", stream_output=True, timeout_ms=400)
    )
    assert outcome.result.exit_code == 124
    assert outcome.streamed("stdout").startswith(b"started")
    assert outcome.elapsed < 2


def test_timeout_with_an_escaped_child_holding_the_pipe() -> None:
    # The escaped child (its own session: the group kill misses it) holds
    # stdout for 6 s; the result comes at the timeout plus the 2 s drain.
    # The timeout leaves a loaded machine time to start that child.
    outcome = execute(sh("setsid sleep 6.17 & sleep 9", timeout_ms=1000))
    try:
        assert outcome.result.exit_code == 124
        assert 2.9 < outcome.elapsed < 5
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if proc.info["cmdline"] == ["sleep", "6.17"]:
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def test_background_job_delays_the_result_and_is_killed_after() -> None:
    outcome = execute(sh("sleep 5 & echo hi", timeout_ms=None))
    assert outcome.result == ExecResult(0, b"hi\n", b"")
    assert 1.8 < outcome.elapsed < 3.5
    assert wait_gone(live_group_members(outcome.pid), 1.0) == []


def test_disabled_timeout() -> None:
    assert execute(spec(["sleep", "0.3"], timeout_ms=None)).result.exit_code == 0


# -- output caps ---------------------------------------------------------------------

TWO_STREAMS = "printf abcdef; printf ABCDEF >&2"


def test_buffered_caps() -> None:
    assert execute(sh("printf abcdef; printf uvwxyz >&2", output_cap=5)).result == ExecResult(
        0, b"abcde", b"uvwxy"
    )
    assert execute(sh(TWO_STREAMS, output_cap=0)).result == ExecResult(0, b"", b"")


def test_streaming_cap_five() -> None:
    outcome = execute(
        sh(
            TWO_STREAMS + "; sleep 0.1; echo later; echo later >&2",
            stream_output=True,
            output_cap=5,
        )
    )
    assert sorted(outcome.chunks) == [("stderr", b"ABCDE", True), ("stdout", b"abcde", True)]
    assert outcome.result == ExecResult(0, b"", b"")


def test_streaming_cap_zero() -> None:
    outcome = execute(sh(TWO_STREAMS, stream_output=True, output_cap=0))
    assert sorted(outcome.chunks) == [("stderr", b"", True), ("stdout", b"", True)]


def test_streaming_output_exactly_the_cap_or_below() -> None:
    exact = execute(sh("printf abcde", stream_output=True, output_cap=5))
    assert exact.chunks == [("stdout", b"abcde", True)]
    below = execute(sh("printf abcde", stream_output=True, output_cap=10))
    assert below.chunks == [("stdout", b"abcde", False)]


def test_streaming_split_output() -> None:
    script = "printf out1; printf err1 >&2; sleep 0.2; printf out2; printf err2 >&2"
    outcome = execute(sh(script, stream_output=True))
    assert outcome.streamed("stdout") == b"out1out2"
    assert outcome.streamed("stderr") == b"err1err2"
    assert not any(reached for _, _, reached in outcome.chunks)
    assert outcome.result == ExecResult(0, b"", b"")


@pytest.mark.parametrize("stream_output", [False, True])
def test_capped_writer_is_drained_not_blocked(stream_output: bool) -> None:
    outcome = execute(
        spec(["head", "-c", "5000000", "/dev/zero"], output_cap=10, stream_output=stream_output)
    )
    assert outcome.result.exit_code == 0
    assert (outcome.streamed("stdout") if stream_output else outcome.result.stdout) == b"\0" * 10


def test_default_cap_and_no_cap() -> None:
    code = "import sys; sys.stdout.write('a' * 3000000); sys.stderr.write('b' * 1500000)"
    script = f'{PY} -c "{code}"'
    capped = execute(sh(script))
    assert len(capped.result.stdout) == len(capped.result.stderr) == DEFAULT_OUTPUT_CAP
    uncapped = execute(sh(script, output_cap=None))
    assert len(uncapped.result.stdout) == 3_000_000
    assert len(uncapped.result.stderr) == 1_500_000
    streamed = execute(sh(script, stream_output=True))
    assert len(streamed.streamed("stdout")) == DEFAULT_OUTPUT_CAP
    stdout_chunks = [chunk for chunk in streamed.chunks if chunk[0] == "stdout"]
    assert stdout_chunks[-1][2] is True
    assert [reached for _, _, reached in stdout_chunks].count(True) == 1


def test_streaming_seq_is_byte_exact() -> None:
    expected = subprocess.run(["seq", "1", "6000000"], capture_output=True, check=True).stdout
    outcome = execute(spec(["seq", "1", "6000000"], stream_output=True, output_cap=None))
    assert outcome.streamed("stdout") == expected
    assert max(len(data) for _, data, _ in outcome.chunks) <= 256 * 1024
    assert outcome.result.exit_code == 0


def test_streaming_memory_stays_bounded() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 0

    async def main() -> ExecResult:
        nonlocal total

        async def sink(stream: str, data: bytes, cap_reached: bool) -> None:
            nonlocal total
            total += len(data)

        process = await spawn(
            spec(["head", "-c", "200M", "/dev/zero"], stream_output=True, output_cap=None), sink
        )
        return await process.wait()

    assert asyncio.run(main()).exit_code == 0
    assert total == 200 * 1024 * 1024
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024


def test_slow_sink_stops_the_reader() -> None:
    """Backpressure: while the sink does not return, nothing more is read
    and the writer blocks on the full pipe."""

    async def main() -> tuple[ExecResult, int, int]:
        release = asyncio.Event()
        total = 0

        async def sink(stream: str, data: bytes, cap_reached: bool) -> None:
            nonlocal total
            total += len(data)
            await release.wait()

        process = await spawn(
            spec(["head", "-c", "10M", "/dev/zero"], stream_output=True, output_cap=None), sink
        )
        await asyncio.sleep(0.5)
        held = total
        assert process.running  # blocked on the pipe
        release.set()
        result = await process.wait()
        return result, held, total

    result, held, total = asyncio.run(main())
    assert result.exit_code == 0
    assert held <= READ_SIZE  # one read, then nothing until the sink returns
    assert total == 10 * 1024 * 1024


@given(
    data=st.binary(max_size=64),
    cuts=st.lists(st.integers(min_value=0, max_value=64), max_size=8),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=70)),
)
def test_output_cap_on_any_chunking(data: bytes, cuts: list[int], limit: int | None) -> None:
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut <= len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    cap = OutputCap(limit)
    forwarded = []
    for chunk in chunks:
        piece, reached = cap.accept(chunk)
        if piece or reached:
            forwarded.append((piece, reached))
    kept = b"".join(piece for piece, _ in forwarded)
    assert kept == (data if limit is None else data[:limit])
    flags = [reached for _, reached in forwarded]
    should_reach = limit is not None and len(data) >= limit and len(data) > 0
    assert flags.count(True) == (1 if should_reach else 0)
    if should_reach:
        assert flags[-1] is True


# -- concurrency ---------------------------------------------------------------------


def test_twenty_parallel_sleeps() -> None:
    async def main() -> list[ExecResult]:
        processes = [await spawn(spec(["sleep", "1"])) for _ in range(20)]
        return list(await asyncio.gather(*(process.wait() for process in processes)))

    started = time.monotonic()
    results = asyncio.run(main())
    assert [result.exit_code for result in results] == [0] * 20
    assert time.monotonic() - started < 2.5


# -- terminate, stdin, control errors ------------------------------------------------


@pytest.mark.parametrize("mode", ["pipe", "streaming", "stdin", "tty"])
def test_terminate_kills_the_group(mode: str) -> None:
    tty = mode == "tty"
    streaming = mode in ("streaming", "tty")
    members: list[int] = []

    async def scenario(process: RunningProcess, out: Recorder) -> None:
        if streaming:
            await out.wait_for(b"started")
        else:
            await asyncio.sleep(0.3)
        members.extend(live_group_members(process.pid))
        process.terminate()
        process.terminate()  # idempotent

    outcome = execute(
        sh(
            "sleep 30 & sleep 30 & echo started; wait",
            tty=tty,
            stream_output=streaming,
            stream_stdin=mode == "stdin",
        ),
        scenario,
    )
    assert outcome.result.exit_code == (1 if tty else 137)
    assert outcome.result.terminated
    assert len(members) == 3
    assert wait_gone(members, 1.0) == []
    if not streaming:
        assert outcome.result.stdout == b"started\n"


def test_large_stdin_writes_arrive_intact() -> None:
    async def scenario(process: RunningProcess, out: Recorder) -> None:
        for _ in range(8):
            await process.write(b"x" * (1024 * 1024))
        await process.close_stdin()

    outcome = execute(spec(["wc", "-c"], stream_stdin=True), scenario)
    assert outcome.result.stdout.strip() == b"8388608"


def test_pipe_streaming_with_stdin() -> None:
    script = "echo out-start; echo err-start >&2; read line; echo out:$line; echo err:$line >&2"

    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await out.wait_for(b"out-start")
        await out.wait_for(b"err-start")
        await process.write(b"hello\n")
        await process.close_stdin()

    outcome = execute(sh(script, stream_stdin=True, stream_output=True), scenario)
    assert outcome.streamed("stdout") == b"out-start\nout:hello\n"
    assert outcome.streamed("stderr") == b"err-start\nerr:hello\n"
    assert outcome.result == ExecResult(0, b"", b"")


NOT_ENABLED = "stdin streaming is not enabled for this command/exec"
NOT_A_PTY = "failed to resize PTY: process is not attached to a PTY"


def test_control_errors() -> None:
    async def scenario(process: RunningProcess, out: Recorder) -> None:
        with pytest.raises(ControlError, match=exact(NOT_ENABLED)):
            await process.write(b"x")
        with pytest.raises(ControlError, match=exact(NOT_ENABLED)):
            await process.close_stdin()
        with pytest.raises(ControlError, match=exact(NOT_A_PTY)):
            process.resize(10, 20)

    execute(spec(["true"]), scenario)

    async def closed(process: RunningProcess, out: Recorder) -> None:
        await process.write(b"")  # accepted, writes nothing
        await process.close_stdin()
        await process.close_stdin()
        for data in (b"x", b""):
            with pytest.raises(ControlError, match=exact("stdin is already closed")):
                await process.write(data)

    assert execute(spec(["cat"], stream_stdin=True), closed).result.exit_code == 0


def test_writing_to_an_exited_child_is_harmless() -> None:
    async def scenario(process: RunningProcess, out: Recorder) -> None:
        await asyncio.sleep(0.2)  # `true` has exited; its stdin pipe has no reader
        await process.write(b"ignored" * 100_000)
        await process.close_stdin()

    assert execute(spec(["true"], stream_stdin=True), scenario).result.exit_code == 0


# -- every way out cleans up ---------------------------------------------------------


def test_cancelling_wait_kills_and_releases() -> None:
    members: list[int] = []

    async def main() -> None:
        process = await spawn(
            sh("sleep 30 & sleep 30 & echo started; wait", stream_output=True), Recorder()
        )
        waiter = asyncio.create_task(process.wait())
        await asyncio.sleep(0.3)
        members.extend(live_group_members(process.pid))
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

    asyncio.run(main())
    assert len(members) == 3
    assert wait_gone(members, 1.0) == []


def test_sink_exception_kills_and_propagates() -> None:
    members: list[int] = []

    async def main() -> None:
        async def sink(stream: str, data: bytes, cap_reached: bool) -> None:
            members.extend(live_group_members(process.pid))
            raise RuntimeError("client went away")

        process = await spawn(sh("sleep 30 & echo started; sleep 30", stream_output=True), sink)
        with pytest.raises(RuntimeError, match="client went away"):
            await process.wait()

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 3
    assert members
    assert wait_gone(members, 1.0) == []


def test_no_fd_or_process_left_after_a_batch() -> None:
    fds = open_fds()
    for exec_spec in [
        sh("echo hi"),
        sh("echo hi", tty=True),
        sh("cat", stream_stdin=True, timeout_ms=200),
        sh("sleep 5", timeout_ms=50, tty=True),
        sh("printf abc", stream_output=True, output_cap=1),
    ]:
        execute(exec_spec)
    for failing in [
        spec(["no-such-program-xyz"]),
        spec(["no-such-program-xyz"], tty=True),
        spec(["true"], cwd="/no/such/dir"),
    ]:
        with pytest.raises(SpawnError):
            execute(failing)
    assert open_fds() == fds
    assert [c.pid for c in psutil.Process().children(recursive=True)] == [WATCHDOG.pid]


# -- the sandbox's after-spawn step ---------------------------------------------------


def _gated(tmp_path: Path) -> tuple[ExecSpec, int]:
    """A command that prints only once a byte arrives on an inherited pipe:
    the step releases it, so output proves the order."""
    gate_read, gate_write = os.pipe()
    spec = ExecSpec(argv=["sh", "-c", f"head -c1 /dev/fd/{gate_read} >/dev/null && echo started"],
                    cwd=str(tmp_path), env={"PATH": os.defpath}, pass_fds=(gate_read,))
    return spec, gate_write


@pytest.mark.parametrize("tty", [False, True])
def test_after_spawn_runs_with_the_pid_before_the_command(tmp_path: Path, tty: bool) -> None:
    spec, gate = _gated(tmp_path)
    seen: list[tuple[int, str]] = []

    def step(pid: int) -> None:
        seen.append((pid, threading.current_thread().name))
        os.write(gate, b"1")

    try:
        outcome = execute(replace(spec, after_spawn=step, tty=tty))
    finally:
        os.close(gate)
        os.close(spec.pass_fds[0])
    assert outcome.result.exit_code == 0
    assert outcome.result.stdout.strip() == b"started"
    # The step blocks (it waits for a sandbox to come up): never on the loop's thread.
    assert seen[0][0] == outcome.pid and seen[0][1] != "MainThread"


def test_a_failed_after_spawn_kills_the_command_and_fails_the_spawn(tmp_path: Path) -> None:
    spec, gate = _gated(tmp_path)
    pids: list[int] = []

    def step(pid: int) -> None:
        pids.append(pid)
        raise RuntimeError("cannot route the sandbox through the proxy: boom")

    async def main() -> None:
        with pytest.raises(SpawnError) as failure:
            await spawn(replace(spec, after_spawn=step))
        assert str(failure.value) == (
            "failed to spawn command: cannot route the sandbox through the proxy: boom")

    try:
        asyncio.run(main())
        # Released: the gate's write end sees no reader left.
        assert wait_gone(pids) == []
    finally:
        os.close(gate)
        os.close(spec.pass_fds[0])


def test_a_spawn_cancelled_during_after_spawn_leaves_nothing_behind(tmp_path: Path) -> None:
    spec, gate = _gated(tmp_path)
    pids: list[int] = []
    entered = threading.Event()
    release = threading.Event()

    def step(pid: int) -> None:
        pids.append(pid)
        entered.set()
        release.wait(10)

    async def main() -> None:
        task = asyncio.create_task(spawn(replace(spec, after_spawn=step)))
        await asyncio.to_thread(entered.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The command is killed at once, before the step has let go.
        assert wait_gone(pids, timeout=5) == []
        release.set()
        while process_module._DISCARDS:
            await asyncio.sleep(0.01)

    try:
        asyncio.run(main())
    finally:
        release.set()
        os.close(gate)
        os.close(spec.pass_fds[0])


# -- sandbox policy chooser ----------------------------------------------------------


def test_sandbox_unconfined_only_when_asked() -> None:
    request = SandboxRequest(policy={"type": "dangerFullAccess"}, cwd="/", env={"A": "1"})
    confinement = sandboxing.prepare(["ls"], request)
    assert (confinement.argv, confinement.env, confinement.backend) == (["ls"], {"A": "1"}, None)
    external = SandboxRequest(policy={"type": "externalSandbox"}, cwd="/", env={})
    confinement = sandboxing.prepare(["ls"], external)
    assert (confinement.argv, confinement.env) == (["ls"], {"CODEX_SANDBOX_NETWORK_DISABLED": "1"})
    enabled = replace(external, policy={"type": "externalSandbox", "networkAccess": "enabled"})
    assert sandboxing.prepare(["ls"], enabled).env == {}
    # No policy is the server's default: read-only, confined.
    policies: list[dict[str, object] | None] = [
        None, {"type": "readOnly"}, {"type": "workspaceWrite"}]
    for policy in policies:
        with sandboxing.prepare(["ls"], SandboxRequest(policy=policy, cwd="/")) as confined:
            assert confined.backend == "bubblewrap"
            assert confined.argv[0].endswith("bwrap") and confined.argv[-2:] == ["--", "ls"]


def test_sandbox_fails_closed_without_a_working_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from execguard.sandbox import selection
    from execguard.sandbox.bwrap import BwrapBackend

    monkeypatch.setattr(selection, "_backends",
                        lambda: {"bubblewrap": BwrapBackend("/nonexistent/bwrap")})
    policies: list[dict[str, object] | None] = [
        None, {"type": "readOnly"}, {"type": "workspaceWrite"}]
    for policy in policies:
        with pytest.raises(sandboxing.SandboxUnavailable) as failure:
            sandboxing.prepare(["ls"], SandboxRequest(policy=policy, cwd="/"))
        message = str(failure.value)
        assert message.startswith("invalid sandbox policy: no sandbox can enforce")
        assert "bubblewrap: bubblewrap could not be run" in message
        assert message.endswith("use dangerFullAccess to run without a sandbox")
    with pytest.raises(sandboxing.SandboxUnavailable, match="unknown sandbox backend 'x'"):
        sandboxing.prepare(["ls"], SandboxRequest(policy=None, cwd="/", backend="x"))


def test_sandbox_policy_validation() -> None:
    with pytest.raises(sandboxing.SandboxUnavailable) as unknown:
        sandboxing.prepare(["ls"], SandboxRequest(policy={"type": "yolo"}, cwd="/"))
    assert str(unknown.value) == (
        "invalid sandbox policy: unknown variant `yolo`, expected one of "
        "`dangerFullAccess`, `readOnly`, `externalSandbox`, `workspaceWrite`"
    )
    with pytest.raises(sandboxing.SandboxUnavailable, match="missing field `type`"):
        sandboxing.prepare(["ls"], SandboxRequest(policy={}, cwd="/"))
    with pytest.raises(sandboxing.SandboxUnavailable, match="expected a boolean"):
        sandboxing.normalize_policy({"type": "readOnly", "networkAccess": "yes"})


