"""What a sandbox costs: a sandboxed `true` against an unsandboxed spawn,
ours against the reference (Codex 0.169.0).

1. baseline: `subprocess.Popen(["/bin/true"]).wait()` on the host;
2. library: `execguard.sandbox.confine(["true"], policy, ...)`, then
   `subprocess.run(c.argv, env=c.env, pass_fds=c.pass_fds, preexec_fn=c.preexec)`,
   then `c.close()`, for readOnly and workspaceWrite (one extra writable root),
   each with and without network, on both backends; overhead = its median
   minus the baseline's (the targets of the issue: <= 10 ms read-only,
   <= 15 ms workspace-write with one extra root);
3. app-server: `command/exec` of `["true"]` over stdio JSON-RPC under
   dangerFullAccess, readOnly and workspaceWrite{writableRoots: [extra]},
   `execguard app-server` and `codex app-server` driven by the same client;
   overhead = policy median minus the same server's dangerFullAccess median;
4. CLI: one whole `codex sandbox -- true` against one whole
   `execguard debug sandbox -- true` (read-only, workspace-write + 1 root),
   when that subcommand exists.

Runs are interleaved round-robin (baseline, every case, ours and the
reference's in turn) after a warm-up, so machine load hits all alike. Before
anything is timed, every sandbox (ours and the reference's) must show that it
confines: a write to the extra root and to a directory outside every
writable root must fail read-only; under workspace-write only the extra
root may be written. A reference that does not confine is not timed (its
columns show "—" with the reason), so we never compare against an
unsandboxed fallback. The scratch directories live outside the temporary
directory when possible (/var/tmp): the reference refuses to create its
`codex-linux-sandbox` helper under a temporary `CODEX_HOME`, and then every
sandboxed command of it fails at once.

A run that fails (another process racing for the same mount points in
/tmp, say) is counted and left out of the samples, not fatal; the report
names it. No process outlives the benchmark: ^C and SIGTERM unwind through
every cleanup, and whatever descendant remains at the end is killed.

Run: ``.venv/bin/python -m benchmarks.sandbox [--quick] [--reference PATH]``
(``benchmarks/run`` runs it too): about 1 min (``--quick``: 30 s). Exits 1
when one of our sandboxes does not confine or one of our runs fails, 130
when interrupted; missed targets are reported, not errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psutil  # type: ignore[import-untyped]

from benchmarks.app_server import Client
from benchmarks.suite import child_env, find_reference

TARGET_READ_ONLY_MS = 10.0
TARGET_WORKSPACE_WRITE_MS = 15.0
NO_SANDBOX: dict[str, Any] = {"type": "dangerFullAccess"}
# Every timed child is waited for without a timeout: `Popen.wait(timeout)`
# polls with sleeps doubling from 0.5 ms, which would round each sample up
# (a 9 ms command reaped at 15.5 ms). A SIGALRM deadline guards them instead.
TIMEOUT_S = 60
WARMUP = 5


class BenchError(Exception):
    pass


# -- samples ------------------------------------------------------------------------


@dataclass
class Samples:
    """The times (s) of one case's successful runs and the errors of the others."""

    times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.times) * 1000 if self.times else None

    @property
    def p90_ms(self) -> float | None:
        if len(self.times) < 2:
            return None
        return statistics.quantiles(self.times, n=10, method="inclusive")[-1] * 1000

    def shown(self) -> str:
        if self.median_ms is None or self.p90_ms is None:
            return "—"
        return f"{self.median_ms:.2f} ({self.p90_ms:.2f})"

    def record(self, elapsed: float, error: str | None, *, timed: bool) -> None:
        if error is not None:
            self.failures.append(error)
        elif timed:
            self.times.append(elapsed)

    def failure_note(self, case: str) -> str | None:
        if not self.failures:
            return None
        return (f"{case}: {len(self.failures)} run(s) failed and were left out of the "
                f"samples; first: {self.failures[0][:300]}")


def _median(samples: Samples | None) -> float | None:
    return samples.median_ms if samples is not None else None


def _difference(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _ratio(ours: float | None, reference: float | None) -> str:
    if ours is None or not reference:
        return "—"
    return f"{ours / reference:.2f}x"


def _met(value: float | None, bound: float) -> str:
    return "—" if value is None else ("yes" if value <= bound else "NO")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} ms"


@dataclass
class Results:
    """Everything measured so far: a failing stage leaves the others' figures."""

    baseline: Samples | None = None
    library: dict[tuple[str, str], Samples] = field(default_factory=dict)  # (backend, case)
    library_unavailable: dict[str, str] = field(default_factory=dict)  # backend -> why
    servers: dict[tuple[str, str], Samples] = field(default_factory=dict)  # (who, case)
    cli: dict[tuple[str, str], Samples] = field(default_factory=dict)  # (who, mode)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ours failed: exit status 1


# -- deadlines and leftovers ---------------------------------------------------------


class TimedOut(BenchError):
    pass


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise TimedOut(f"a command ran longer than {TIMEOUT_S} s")


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def deadline() -> Iterator[None]:
    """`TimedOut` in the main thread if the block lasts over TIMEOUT_S
    (whoever waits for a child then kills it). Needs `guarded`."""
    signal.alarm(TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)


def reap_leftovers() -> list[str]:
    """Kill whatever descendant of ours is still alive (none, normally)."""
    left = []
    with contextlib.suppress(psutil.Error):
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                left.append(f"{child.pid} {' '.join(child.cmdline())[:80]}")
                child.kill()
        psutil.wait_procs(children, timeout=5)
    return left


@contextlib.contextmanager
def guarded(notes: list[str]) -> Iterator[None]:
    """SIGALRM for `deadline`, SIGTERM unwinding like ^C (every `finally`
    closes what it started), and no descendant left alive at the end."""
    previous = {signal.SIGALRM: signal.signal(signal.SIGALRM, _alarm),
                signal.SIGTERM: signal.signal(signal.SIGTERM, _terminate)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        left = reap_leftovers()
        if left:
            notes.append("killed processes left behind: " + "; ".join(left))


def _wait(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise


# -- the scratch layout and the confinement check --------------------------------------


@dataclass(frozen=True)
class Layout:
    """cwd: where commands run; extra: the extra writable root; outside: a
    directory no policy makes writable, unless it is in the temporary
    directory (``isolated`` false: workspace-write may write it);
    codex_home: the reference's."""

    root: Path
    cwd: Path
    extra: Path
    outside: Path
    codex_home: Path
    isolated: bool

    @classmethod
    def create(cls, root: Path, *, isolated: bool) -> Layout:
        layout = cls(root, root / "cwd", root / "extra", root / "outside", root / "codex-home",
                     isolated)
        for path in (layout.cwd, layout.extra, layout.outside, layout.codex_home):
            path.mkdir()
        for path in layout.probe_dirs:
            path.mkdir()
        return layout

    @property
    def probe_dirs(self) -> tuple[Path, Path]:
        """Where the write checks create files: a subdirectory of the extra
        root (the Landlock backend cannot let anything be created at the top
        of a writable root, where it must keep protected names such as
        `.git` from being created) and one of `outside`."""
        return self.extra / "sub", self.outside / "sub"


def scratch_base() -> tuple[str | None, str]:
    """A directory outside the temporary directory (and so outside every
    writable root of workspace-write), else None (the system default)."""
    temporary = {os.path.realpath(tempfile.gettempdir()), "/tmp"}
    real = os.path.realpath("/var/tmp")  # not /dev/shm: sandboxes get a /dev of their own
    inside = any(real == t or real.startswith(t + "/") for t in temporary)
    if not inside and os.path.isdir(real) and os.access(real, os.W_OK | os.X_OK):
        return real, f"scratch directories in {real}"
    return None, ("scratch directories in the temporary directory (/var/tmp is missing "
                  "or inside it): the reference may refuse to run there, and the write "
                  "checks cannot tell workspace-write's roots apart")


def probe_argv(layout: Layout, tag: str) -> list[str]:
    """A command that tries to create one file in the extra root and one
    outside every writable root; `observe` says which it managed."""
    targets = " ".join(shlex.quote(str(d / f"probe-{tag}")) for d in layout.probe_dirs)
    return ["sh", "-c", f"for f in {targets}; do touch \"$f\" 2>/dev/null; done; exit 0"]


def observe(layout: Layout, tag: str) -> tuple[bool, bool]:
    """(wrote the extra root, wrote outside), removing what was written."""
    seen = []
    for directory in layout.probe_dirs:
        probe = directory / f"probe-{tag}"
        seen.append(probe.exists())
        probe.unlink(missing_ok=True)
    return seen[0], seen[1]


def expected_writes(policy: dict[str, Any]) -> tuple[bool, bool]:
    kind = policy["type"]
    return (kind != "readOnly", kind == "dangerFullAccess")


def check_writes(layout: Layout, tag: str, policy: dict[str, Any]) -> str | None:
    """None when the writes came out as ``policy`` allows; else what went wrong."""
    got = observe(layout, tag)
    want = expected_writes(policy)
    if not layout.isolated and policy["type"] == "workspaceWrite":
        got = (got[0], want[1])  # `outside` is in $TMPDIR or /tmp: writable
    if got == want:
        return None
    parts = []
    for name, allowed, wrote in (("the extra root", want[0], got[0]),
                                 ("a directory outside every writable root", want[1], got[1])):
        if wrote and not allowed:
            parts.append(f"wrote {name}")
        elif allowed and not wrote:
            parts.append(f"could not write {name}")
    return f"{policy['type']}: " + ", ".join(parts)


# -- 1 + 2: the library ----------------------------------------------------------------


# The overhead target (ms) of each case: the issue sets them for read-only and
# for workspace-write with one extra root; the network variants get the same.
LIBRARY_TARGETS = {
    "readOnly": TARGET_READ_ONLY_MS,
    "readOnly + network": TARGET_READ_ONLY_MS,
    "workspaceWrite + 1 root": TARGET_WORKSPACE_WRITE_MS,
    "workspaceWrite + 1 root + network": TARGET_WORKSPACE_WRITE_MS,
}
SERVER_TARGETS: dict[str, float | None] = {
    "dangerFullAccess": None,
    "readOnly": TARGET_READ_ONLY_MS,
    "workspaceWrite + 1 root": TARGET_WORKSPACE_WRITE_MS,
}
PROBE_ATTEMPTS = 3  # a probe that fails to run (not one that writes) is retried


def library_policies(layout: Layout) -> dict[str, dict[str, Any]]:
    """The policy of each library case (the keys of `LIBRARY_TARGETS`)."""
    extra = [str(layout.extra)]
    return {
        "readOnly": {"type": "readOnly"},
        "readOnly + network": {"type": "readOnly", "networkAccess": True},
        "workspaceWrite + 1 root": {"type": "workspaceWrite", "writableRoots": extra},
        "workspaceWrite + 1 root + network": {"type": "workspaceWrite",
                                              "writableRoots": extra, "networkAccess": True},
    }


def spawn_host() -> str | None:
    _wait(subprocess.Popen(["/bin/true"], stdin=subprocess.DEVNULL))
    return None


def run_confined(argv: list[str], policy: dict[str, Any], backend: str, layout: Layout,
                 env: dict[str, str]) -> tuple[int, str]:
    """Exit status and stderr of ``argv`` confined by our library."""
    from execguard.sandbox import confine

    with tempfile.TemporaryFile() as err:
        confinement = confine(argv, policy, str(layout.cwd), env, backend=backend)
        try:
            # No timeout (see TIMEOUT_S); `run` kills the child on an exception.
            code = subprocess.run(confinement.argv, env=confinement.env,
                                  pass_fds=confinement.pass_fds, preexec_fn=confinement.preexec,
                                  cwd=layout.cwd, stdin=subprocess.DEVNULL, stderr=err,
                                  check=False).returncode
        finally:
            confinement.close()
        err.seek(0)
        return code, err.read().decode(errors="replace").strip()


def measure_library(results: Results, layout: Layout, env: dict[str, str], runs: int) -> None:
    from execguard.sandbox import backend_status

    statuses = backend_status()
    results.library_unavailable = {s.name: s.reason for s in statuses if s.reason is not None}
    backends = [s.name for s in statuses if s.reason is None]
    policies = library_policies(layout)
    for backend in backends:
        for index, policy in enumerate(policies.values()):
            tag = f"lib-{backend}-{index}"
            for _ in range(PROBE_ATTEMPTS):
                with deadline():
                    code, err = run_confined(probe_argv(layout, tag), policy, backend, layout,
                                             env)
                problem = check_writes(layout, tag, policy)
                if code == 0 or problem:
                    break
            if code != 0 or problem:
                raise BenchError(f"our {backend} backend, {policy}: "
                                 f"{problem or f'the write check exited with {code}: {err}'}")

    def confined(backend: str, policy: dict[str, Any]) -> Callable[[], str | None]:
        def run() -> str | None:
            code, err = run_confined(["true"], policy, backend, layout, env)
            return f"exit status {code}: {err}" if code != 0 else None
        return run

    results.baseline = Samples()
    timed: list[tuple[Samples, Callable[[], str | None]]] = [(results.baseline, spawn_host)]
    for backend in backends:
        for name, policy in policies.items():
            results.library[backend, name] = Samples()
            timed.append((results.library[backend, name], confined(backend, policy)))
    for round_ in range(WARMUP + runs):
        for samples, run in timed:
            with deadline():
                start = time.perf_counter()
                error = run()
                elapsed = time.perf_counter() - start
            samples.record(elapsed, error, timed=round_ >= WARMUP)


# -- 3: the app-server -----------------------------------------------------------------


def server_policies(layout: Layout) -> dict[str, dict[str, Any]]:
    """The policy of each app-server case (the keys of `SERVER_TARGETS`)."""
    return {
        "dangerFullAccess": NO_SANDBOX,
        "readOnly": {"type": "readOnly"},
        "workspaceWrite + 1 root": {"type": "workspaceWrite",
                                    "writableRoots": [str(layout.extra)]},
    }


async def _exec(client: Client, command: list[str], policy: dict[str, Any]) -> dict[str, Any]:
    return await asyncio.wait_for(client.request("command/exec", {
        "command": command, "sandboxPolicy": policy}), TIMEOUT_S)


def _reply_error(reply: dict[str, Any]) -> str | None:
    if reply.get("result", {}).get("exitCode") == 0:
        return None
    return json.dumps(reply)[:300]


async def confinement_problem(client: Client, layout: Layout, who: str,
                              policies: dict[str, dict[str, Any]]) -> str | None:
    for index, (name, policy) in enumerate(policies.items()):
        tag = f"server-{who.replace(' ', '-')}-{index}"
        for _ in range(PROBE_ATTEMPTS):
            error = _reply_error(await _exec(client, probe_argv(layout, tag), policy))
            problem = check_writes(layout, tag, policy)
            if error is None or problem:
                break
        if error or problem:
            return f"{who} app-server does not confine {name}: {problem or error}"
    return None


async def sandbox_programs(client: Client, policy: dict[str, Any]) -> str:
    """The bubblewrap binaries among the server's descendants while a
    sandboxed `sleep` runs (which bwrap the server uses)."""
    request = asyncio.create_task(_exec(client, ["sleep", "0.4"], policy))
    seen: set[str] = set()
    try:
        await asyncio.sleep(0.2)
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(client.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    exe = child.exe()
                    if "bwrap" in os.path.basename(exe):
                        seen.add(exe)
        await request
    finally:
        if not request.done():
            request.cancel()
        elif not request.cancelled():
            request.exception()  # retrieved: no "never retrieved" warning
    return ", ".join(sorted(seen)) or "no bwrap process"


async def _start(argv: list[str], env: dict[str, str], cwd: Path) -> Client:
    """`Client.start`, closing the server again if the handshake fails or
    is cancelled."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, env=env, cwd=cwd, limit=1 << 31)
    client = Client(process)
    client.reader = asyncio.create_task(client._read())
    try:
        await asyncio.wait_for(client.request("initialize", {"clientInfo": {
            "name": "execguard-bench", "version": "0"}}), TIMEOUT_S)
        await client.notify("initialized")
    except BaseException:
        with contextlib.suppress(Exception):
            await _close(client)
        raise
    return client


async def measure_servers(results: Results, layout: Layout, ours_argv: list[str],
                          env: dict[str, str], reference: list[str] | None,
                          reference_env: dict[str, str], runs: int) -> None:
    policies = server_policies(layout)
    clients: dict[str, Client] = {}
    try:
        clients["ours"] = await _start(ours_argv, env, layout.cwd)
        problem = await confinement_problem(clients["ours"], layout, "our", policies)
        if problem:
            raise BenchError(problem)
        if reference is not None:
            try:
                clients["reference"] = await _start(reference, reference_env, layout.cwd)
            except (OSError, ConnectionError, TimeoutError) as error:
                results.notes.append(f"reference app-server not timed: it did not start "
                                     f"({error!r})")
            else:
                problem = await confinement_problem(clients["reference"], layout,
                                                    "the reference", policies)
                if problem:
                    results.notes.append(f"reference app-server not timed: {problem}")
                    await clients.pop("reference").close()
        for who, client in clients.items():
            results.notes.append(f"{who} app-server's sandbox process: "
                                 + await sandbox_programs(client, policies["readOnly"]))
        for who in clients:
            for name in policies:
                results.servers[who, name] = Samples()
        for round_ in range(WARMUP + runs):
            for name, policy in policies.items():
                for who, client in clients.items():
                    start = time.perf_counter()
                    reply = await _exec(client, ["true"], policy)
                    elapsed = time.perf_counter() - start
                    results.servers[who, name].record(elapsed, _reply_error(reply),
                                                      timed=round_ >= WARMUP)
    finally:
        for client in clients.values():
            await _close(client)


async def _close(client: Client) -> None:
    """Close a server; kill it if that fails (the loop is about to go)."""
    try:
        await client.close()
    except BaseException:
        if client.process.returncode is None:
            client.process.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.process.wait(), 5)
        raise


def run_async(main: Coroutine[Any, Any, None]) -> None:
    """`asyncio.run`, with SIGTERM cancelling the main task as ^C does
    (a KeyboardInterrupt raised inside a task would skip the cleanups)."""
    async def cancellable() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await main

    handler = signal.getsignal(signal.SIGTERM)
    try:
        asyncio.run(cancellable())
    except asyncio.CancelledError:
        raise KeyboardInterrupt(f"signal {int(signal.SIGTERM)}") from None
    finally:
        signal.signal(signal.SIGTERM, handler)


# -- 4: the CLI ------------------------------------------------------------------------


CLI_MODES = ("read-only", "workspace-write + 1 root")


def _run_cli(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """Wall time, exit status and stderr of one whole process."""
    with tempfile.TemporaryFile() as err, deadline():
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=err)
        code = _wait(process)
        elapsed = time.perf_counter() - start
        err.seek(0)
        return elapsed, code, err.read().decode(errors="replace").strip()


def ours_cli(script: Path, env: dict[str, str]) -> tuple[bool, str]:
    try:
        done = subprocess.run([str(script), "debug", "sandbox", "--help"], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"`execguard debug sandbox --help` failed ({error}): our CLI rows show —"
    if done.returncode == 0:
        return True, "`execguard debug sandbox` found"
    return False, "`execguard debug sandbox` does not exist (yet): our CLI rows show —"


def measure_cli(results: Results, layout: Layout, script: Path | None, env: dict[str, str],
                reference: str | None, reference_env: dict[str, str], runs: int) -> None:
    extra = str(layout.extra)
    # (who, mode) -> (the command line without the sandboxed command, its env)
    candidates: dict[tuple[str, str], tuple[list[str], dict[str, str]]] = {}
    if reference is not None:
        candidates["reference", "read-only"] = ([reference, "sandbox", "--"], reference_env)
        candidates["reference", "workspace-write + 1 root"] = ([
            reference, "sandbox", "-c", 'sandbox_mode="workspace-write"',
            "-c", f"sandbox_workspace_write.writable_roots=[{json.dumps(extra)}]", "--"],
            reference_env)
    if script is not None:
        candidates["ours", "read-only"] = (
            [str(script), "debug", "sandbox", "--read-only", "--"], env)
        candidates["ours", "workspace-write + 1 root"] = ([
            str(script), "debug", "sandbox", "--workspace-write", "--writable-root", extra,
            "--"], env)
    cases = {}
    for index, ((who, mode), (prefix, case_env)) in enumerate(candidates.items()):
        tag = f"cli-{index}"
        policy = {"type": "readOnly" if mode == "read-only" else "workspaceWrite"}
        for _ in range(PROBE_ATTEMPTS):
            _, code, err = _run_cli(prefix + probe_argv(layout, tag), case_env, layout.cwd)
            problem = check_writes(layout, tag, policy)
            if code == 0 or problem:
                break
        if code != 0 or problem:
            message = (f"{who} CLI {mode} not timed: "
                       f"{problem or f'the write check exited with {code}: {err[:300]}'}")
            if who == "ours":
                results.errors.append(message)
            else:
                results.notes.append(message)
            continue
        cases[who, mode] = (prefix, case_env)
        results.cli[who, mode] = Samples()
    for round_ in range(3 + runs):
        for key, (prefix, case_env) in cases.items():
            elapsed, code, err = _run_cli([*prefix, "true"], case_env, layout.cwd)
            error = f"exit status {code}: {err}" if code != 0 else None
            results.cli[key].record(elapsed, error, timed=round_ >= 3)


# -- the report ------------------------------------------------------------------------


def tmp_note() -> str:
    """What of /tmp changes the workspace-write figures: where /tmp holds a
    protected name (`.git`, ...), Landlock gives each of its entries a rule
    of its own, and bubblewrap one more read-only bind."""
    from execguard.sandbox import PROTECTED_NAMES

    try:
        entries = os.listdir("/tmp")
    except OSError as error:
        return f"/tmp: cannot list it ({error.strerror})"
    present = [name for name in PROTECTED_NAMES if name in entries]
    return (f"/tmp: {len(entries)} entries; protected names in it: "
            + (", ".join(present) + " (so Landlock gives each entry of /tmp a rule of its "
               "own: its workspace-write cost grows with /tmp)" if present else "none"))


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox")
    parser.add_argument("--quick", action="store_true", help="30 samples a case instead of 100")
    parser.add_argument("--reference", help="path of the reference codex binary")
    options = parser.parse_args(argv)
    runs = 30 if options.quick else 100
    cli_runs = 30 if options.quick else 50
    started = time.perf_counter()
    load_start = _load()
    results = Results()
    base, where = scratch_base()
    reference_path, how = find_reference(options.reference)
    with tempfile.TemporaryDirectory(prefix="execguard-sandbox-bench-", dir=base) as scratch, \
            guarded(results.notes):
        layout = Layout.create(Path(scratch), isolated=base is not None)
        env = child_env(layout.root)
        reference_env = {**env, "CODEX_HOME": str(layout.codex_home)}
        script = Path(sys.executable).parent / "execguard"
        has_cli, cli_note = ours_cli(script, env)
        stages: list[tuple[str, Callable[[], object]]] = [
            ("library", lambda: measure_library(results, layout, env, runs)),
            ("app-server", lambda: run_async(measure_servers(
                results, layout, [str(script), "app-server"], env,
                [reference_path, "app-server"] if reference_path else None, reference_env,
                runs))),
            ("CLI", lambda: measure_cli(results, layout, script if has_cli else None, env,
                                        reference_path, reference_env, cli_runs)),
        ]
        for stage, run in stages:
            try:
                run()
            except (BenchError, subprocess.SubprocessError, OSError, ConnectionError) as error:
                results.errors.append(f"{stage}: {error}")
    report(results, runs, cli_runs)
    print(f"* reference: {reference_path or 'not available'} ({how})")
    print(f"* {where}; {cli_note}")
    print(f"* {tmp_note()}")
    for note in results.notes:
        print(f"* {note}")
    print(f"* load average: {load_start} at the start, {_load()} at the end; "
          f"took {time.perf_counter() - started:.0f} s")
    ours = [results.baseline, *results.library.values(),
            *(s for (who, _), s in [*results.servers.items(), *results.cli.items()]
              if who == "ours")]
    if any(s is not None and s.failures for s in ours):
        results.errors.append("some of our runs failed (see FAILED RUNS above)")
    for message in results.errors:
        print(f"benchmarks.sandbox: error: {message}", file=sys.stderr)
    return 1 if results.errors else 0


def report(results: Results, runs: int, cli_runs: int) -> None:
    # (case, ours, reference, target)
    rows: list[tuple[str, Samples | None, Samples | None, str]] = [
        ("host spawn of /bin/true (Popen + wait)", results.baseline, None, "")]
    overheads: list[str] = []
    failures: list[str] = []
    baseline = _median(results.baseline)
    for (backend, name), samples in results.library.items():
        bound = LIBRARY_TARGETS[name]
        overhead = _difference(samples.median_ms, baseline)
        met = _met(overhead, bound)
        rows.append((f"library {backend}: {name}", samples, None,
                     f"overhead <= {bound:g} ms {met}"))
        overheads.append(f"library {backend}, {name}: {_ms(overhead)} (<= {bound:g} ms: {met})")
    for backend, reason in results.library_unavailable.items():
        overheads.append(f"library {backend}: not available here ({reason})")
    ours_base = _median(results.servers.get(("ours", "dangerFullAccess")))
    their_base = _median(results.servers.get(("reference", "dangerFullAccess")))
    if results.servers:
        for name, bound_or_none in SERVER_TARGETS.items():
            ours = results.servers.get(("ours", name))
            theirs = results.servers.get(("reference", name))
            target = ""
            if bound_or_none is not None:
                bound = bound_or_none
                ours_overhead = _difference(_median(ours), ours_base)
                their_overhead = _difference(_median(theirs), their_base)
                met = _met(ours_overhead, bound)
                target = f"overhead <= {bound:g} ms {met}"
                overheads.append(
                    f"app-server {name}: ours {_ms(ours_overhead)}, reference "
                    f"{_ms(their_overhead)}, ratio {_ratio(ours_overhead, their_overhead)} "
                    f"(ours <= {bound:g} ms: {met})")
            rows.append((f"app-server command/exec `true`: {name}", ours, theirs, target))
    for mode in CLI_MODES:
        rows.append((f"CLI `sandbox -- true`: {mode}", results.cli.get(("ours", mode)),
                     results.cli.get(("reference", mode)), "reported only"))
    print(f"{'case (ms: median (p90))':56s} {'ours':>15s} {'reference':>15s} {'ratio':>7s}"
          "  target")
    for name, ours_s, theirs_s, target in rows:
        for who, side in (("ours", ours_s), ("reference", theirs_s)):
            note = side.failure_note(f"{name}, {who}") if side is not None else None
            if note:
                failures.append(note)
        shown = [s.shown() if s is not None else "—" for s in (ours_s, theirs_s)]
        print(f"{name:56s} {shown[0]:>15s} {shown[1]:>15s} "
              f"{_ratio(_median(ours_s), _median(theirs_s)):>7s}  {target}")
    print()
    print("Overhead (median minus the baseline's median: the host spawn for the library, "
          "the same server's dangerFullAccess for the app-server):")
    for line in overheads:
        print(f"  {line}")
    print()
    print(f"* {runs} samples a case ({cli_runs} for the CLI) after {WARMUP} warm-up rounds "
          "(3 for the CLI), interleaved round-robin; p90 in parentheses; ratio = ours / "
          "reference")
    print("* before timing, every sandbox (ours and the reference's) had to deny a write "
          "outside its writable roots and, read-only, to the extra root")
    for note in failures:
        print(f"* FAILED RUNS {note}")


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt as interrupt:  # ^C or SIGTERM, after every cleanup ran
        print(f"benchmarks.sandbox: interrupted ({interrupt or 'SIGINT'})", file=sys.stderr)
        raise SystemExit(130) from None
