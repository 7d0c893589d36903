"""What the zsh exec bridge costs: the latency it adds to every external
exec of the patched zsh, on the host and inside a real bubblewrap sandbox.

The work: a zsh script running a tiny external program N times (N = 1000;
``--quick`` 200) by absolute path, so that every iteration is one fork and
one exec that the patched zsh sends through ``EXEC_WRAPPER`` when set. The
program is ``/bin/true``, or ``noop``, a symlink to ``/bin/true`` in the
scratch directory: the same binary, but no rule names it, so the real
policy lets it run where it is instead of escalating it (below). Every
shell is ``<patched zsh> -lc SCRIPT`` with ``HOME`` an empty scratch
directory (no startup files), ``PATH`` the zsh's directory then
``/usr/bin:/bin``, and ``cwd`` the scratch directory. Cases:

* (a) the patched zsh with ``EXEC_WRAPPER`` unset: every exec is a plain
  ``execve``, as in stock zsh (the patch only acts when the variable is
  set). A system ``zsh``, if one is installed, is timed too, as "stock";
* (b) through an :class:`~execguard.zsh_bridge.ExecBridge` whose decider
  always answers ``Verdict.run()``: the cost of the mechanism alone (exec of
  the wrapper, handshake over the inherited socket, one request and its
  answer on this process's event loop, exec of the program);
* (c) the same with the real decider, ``PolicyDecider(BridgeOptions(policy),
  policy_dict, writable_roots)``: ``policies/default.rules`` loaded by
  ``load_policy`` (uncached), approval policy ``on-request``, sandbox policy
  ``workspaceWrite`` normalized for the scratch cwd and its writable roots.
  ``true`` is allowed by a rule, so the verdict is *escalate*; the bridge
  has no sandbox here (``sandboxed=False``, as for a run without one) and
  lets the wrapper run it in place, like (b). No sandbox in (a)-(c): only
  the bridge is measured;
* (d) in bubblewrap (``{"type": "workspaceWrite"}``, backend forced to
  ``bubblewrap``): (d0) no bridge, ``runtimes.sandboxing.prepare`` +
  ``confined`` + ``runtimes.process.spawn`` as the runtime does for a
  sandboxed command; (d1) ``run_bridged([zsh, "-lc", script], options, ...,
  sandbox_policy={"type": "workspaceWrite"})`` with the real decider of
  (c): every ``/bin/true`` is escalated, i.e. run by this process outside
  the sandbox on the wrapper's stdio, the wrapper waiting for its exit
  code; (d2) the same running ``noop``, which the decider lets run inside
  the sandbox (verdict *run*). (d1) and (d2) are compared with (d0).
  Host cases are spawned by the same ``runtimes.process.spawn`` as (d).

Per-exec latency: the shell times each exec itself. Around every
``PROGRAM || exit 3`` the script reads the clock (``$epochtime`` of
``zsh/datetime``: one ``clock_gettime(CLOCK_REALTIME)``, seconds and
nanoseconds) just before and just after, and keeps the difference in an
array printed at the end (arithmetic outside the timed span). So each sample
is what the exec costs the shell: fork, exec (of the wrapper, its round
trip to the bridge and its exec of the program, or the escalation), the
program, and the wait. All samples of a case are pooled (N per run times
the rounds); the table shows their median and p99, and the "added" figures
subtract the baseline's median (p99): (a) for the host, (d0) in the
sandbox. Timing single-exec scripts instead would bury the sub-millisecond
difference under the shell's start-up (and the sandbox's); reading the
decider's arrival times would miss the wrapper's exec and the answer's way
back.

Total: a second, uninstrumented script, ``repeat N; do PROGRAM || exit 3;
done``, timed from this process (from before the bridge and the sandbox are
set up to the shell's result: whole run), median over the rounds; "added
per exec" = (median total of the case - that of its baseline) / N. Every
run must exit 0, and a bridged one must have reported exactly N execs, all
with the expected action; a failed run is left out and named.

Runs: one warm-up round (20 execs a case), then the rounds (3; ``--quick``
1), each running every case's two scripts in turn, so that load changes hit
all alike. The decider runs on this process's event loop, which does
nothing else meanwhile. Target: <= 2 ms median added per exec. There is no
reference figure: Codex 0.169.0 no longer ships the feature (spec
zsh_bridge.md §0).

Run: ``.venv/bin/python -m benchmarks.zsh_bridge [--quick]``
(``benchmarks/run`` runs it too): about 1 min (``--quick``: 5 s). Exits 1
when a run fails (the table shows which, the other rows still print), 0
with a note when the patched zsh is not built (``zsh-bridge/build``), 130
when interrupted; a missed target is reported, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "policies" / "default.rules"
TARGET_ADDED_MS = 2.0
SANDBOX_POLICY: dict[str, object] = {"type": "workspaceWrite"}
BACKEND = "bubblewrap"
RUN_TIMEOUT_S = 600
WARMUP_EXECS = 20
TRUE = "/bin/true"

# The clock is read right before and right after each exec; the arithmetic
# (and the array append) happens outside that span.
TIMED_SCRIPT = """\
zmodload zsh/datetime || exit 4
typeset -a s0 s1 d
l0=($epochtime)
repeat {n}; do
  s0=($epochtime); {program} || exit 3; s1=($epochtime)
  d+=($(( (s1[1] - s0[1]) * 1000000000 + s1[2] - s0[2] )))
done
l1=($epochtime)
print -r -- $(( (l1[1] - l0[1]) * 1000000000 + l1[2] - l0[2] ))
print -r -- $d
"""
PLAIN_SCRIPT = "repeat {n}; do {program} || exit 3; done\n"


class BenchError(Exception):
    pass


@dataclass
class Case:
    key: str
    label: str
    program: str  # "true" or "noop"
    decider: str | None = None  # None: no bridge; "run": always run; "policy": PolicyDecider
    sandbox: bool = False
    zsh: str | None = None  # another zsh than the patched one (the system's)
    baseline: str | None = None
    expect: str | None = None  # the action every intercepted exec must end with
    per_exec_ns: list[int] = field(default_factory=list)
    totals_s: list[float] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def per_exec_ms(self) -> tuple[float, float] | None:
        if len(self.per_exec_ns) < 2:
            return None
        p99 = statistics.quantiles(self.per_exec_ns, n=100, method="inclusive")[98]
        return statistics.median(self.per_exec_ns) / 1e6, p99 / 1e6

    def total_ms(self) -> float | None:
        return statistics.median(self.totals_s) * 1000 if self.totals_s else None


@dataclass
class Context:
    install: Any  # BridgeInstall
    policy: Any  # execpolicy Policy
    cwd: str
    env: dict[str, str]
    programs: dict[str, str]


def _check_execs(case: Case, execs: list[Any], n: int) -> None:
    """A bridged run must have intercepted exactly its N execs, each ending
    as the case expects."""
    if len(execs) != n:
        raise BenchError(f"{len(execs)} intercepted execs instead of {n}")
    for record in execs:
        note = f" ({record.note})" if record.note else ""
        case.actions[f"{record.action.value}{note}"] += 1
        if record.action.value != case.expect:
            raise BenchError(f"an exec ended as {record.action.value}{note} "
                             f"({record.reason}), expected {case.expect}")
        if record.exit_code not in (None, 0):
            raise BenchError(f"an escalated program exited with {record.exit_code}")


def _finish(result: Any) -> bytes:
    if result.timed_out:
        raise BenchError(f"timed out after {RUN_TIMEOUT_S} s")
    if result.exit_code != 0:
        raise BenchError(f"the shell exited with {result.exit_code}: "
                         f"{result.stderr.decode(errors='replace').strip()[-600:]}")
    stdout: bytes = result.stdout
    return stdout


async def run_once(case: Case, context: Context, script: str, n: int) -> tuple[bytes, float]:
    """Run ``script`` as ``case`` says; its stdout and the wall time of the
    whole run (bridge and sandbox set-up and teardown included)."""
    from execguard.runtimes.api import ExecSpec, SandboxRequest
    from execguard.runtimes.exec_bridge import BridgeOptions, PolicyDecider, run_bridged
    from execguard.runtimes.process import spawn
    from execguard.runtimes.sandboxing import confined, normalize_policy, prepare
    from execguard.sandbox import WorkspaceWrite, parse_policy, resolve_writable_roots
    from execguard.zsh_bridge import ExecBridge, ExecRequest, Verdict

    install = context.install
    argv = [case.zsh or install.zsh, "-lc", script]
    timeout_ms = RUN_TIMEOUT_S * 1000
    start = time.perf_counter()
    if case.sandbox and case.decider is not None:
        options = BridgeOptions(policy=context.policy, approval_policy="on-request",
                                install=install)
        bridged = await run_bridged(argv, options, cwd=context.cwd, env=context.env,
                                    sandbox_policy=SANDBOX_POLICY, timeout_ms=timeout_ms,
                                    output_cap=None, backend=BACKEND)
        elapsed = time.perf_counter() - start
        out = _finish(bridged.result)
        _check_execs(case, bridged.execs, n)
        return out, elapsed
    if case.sandbox:
        confinement = prepare(argv, SandboxRequest(SANDBOX_POLICY, context.cwd, context.env,
                                                   backend=BACKEND))
        try:
            spec = confined(ExecSpec(argv=argv, cwd=context.cwd, env=context.env,
                                     timeout_ms=timeout_ms, output_cap=None), confinement)
            process = await spawn(spec)
            result = await process.wait()
        finally:
            confinement.close()
        elapsed = time.perf_counter() - start
        return _finish(result), elapsed
    env, bridge = context.env, None
    pass_fds: tuple[int, ...] = ()
    if case.decider is not None:
        if case.decider == "run":
            async def decide(request: ExecRequest) -> Verdict:
                return Verdict.run()
            roots: list[str] = []
        else:
            policy = normalize_policy(SANDBOX_POLICY, context.cwd)
            parsed = parse_policy(policy)
            assert isinstance(parsed, WorkspaceWrite)
            roots = [root.path for root in resolve_writable_roots(parsed, context.cwd)]
            decide = PolicyDecider(BridgeOptions(policy=context.policy,
                                                 approval_policy="on-request"), policy, roots)
        bridge = ExecBridge(decide, wrapper=install.wrapper, writable_roots=roots,
                            sandboxed=False)
        bridge.start()
        env = {**env, **bridge.environment()}
        pass_fds = bridge.pass_fds
    try:
        process = await spawn(ExecSpec(argv=argv, cwd=context.cwd, env=env,
                                       timeout_ms=timeout_ms, output_cap=None,
                                       pass_fds=pass_fds))
        result = await process.wait()
    finally:
        if bridge is not None:
            await bridge.close()
    elapsed = time.perf_counter() - start
    out = _finish(result)
    if bridge is not None:
        _check_execs(case, bridge.execs, n)
    return out, elapsed


async def run_timed(case: Case, context: Context, n: int, keep: bool) -> None:
    script = TIMED_SCRIPT.format(n=n, program=context.programs[case.program])
    try:
        out, _ = await run_once(case, context, script, n)
        lines = out.decode().split("\n")
        samples = [int(word) for word in lines[1].split()]
        if len(samples) != n:
            raise BenchError(f"the timed script printed {len(samples)} samples, not {n}")
    except Exception as error:  # BenchError, ValueError, SandboxUnavailable, SpawnError, ...
        case.failures.append(f"timed script: {type(error).__name__}: {error}")
        return
    if keep:
        case.per_exec_ns.extend(samples)


async def run_plain(case: Case, context: Context, n: int, keep: bool) -> None:
    script = PLAIN_SCRIPT.format(n=n, program=context.programs[case.program])
    try:
        _, elapsed = await run_once(case, context, script, n)
    except Exception as error:  # BenchError, OSError, SandboxUnavailable, SpawnError, ...
        case.failures.append(f"plain script: {type(error).__name__}: {error}")
        return
    if keep:
        case.totals_s.append(elapsed)


def system_zsh(patched: str) -> tuple[str | None, str]:
    """A stock zsh installed on this machine, and what was found."""
    from execguard.zsh_bridge import is_patched

    found = shutil.which("zsh", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        return None, ("no system zsh on this machine: (a) is the patched zsh with "
                      "EXEC_WRAPPER unset, which execs as stock zsh does")
    if os.path.realpath(found) == os.path.realpath(patched) or is_patched(found):
        return None, f"the system zsh ({found}) is a patched one: not timed as stock"
    return found, f"stock zsh: {found} (the system's), timed as (a')"


def outside_dir(cwd: str) -> tuple[str | None, str]:
    """A directory of ours outside the sandbox's writable roots for ``cwd``
    (to check that (d*) confine), and the note saying what was checked."""
    from execguard.runtimes.sandboxing import normalize_policy
    from execguard.sandbox import WorkspaceWrite, parse_policy, resolve_writable_roots

    parsed = parse_policy(normalize_policy(SANDBOX_POLICY, cwd))
    assert isinstance(parsed, WorkspaceWrite)
    roots = [os.path.realpath(root.path) for root in resolve_writable_roots(parsed, cwd)]
    for parent in ("/var/tmp", os.path.expanduser("~")):
        real = os.path.realpath(parent)
        if any(real == root or real.startswith(root.rstrip("/") + "/") for root in roots):
            continue
        try:
            outside = tempfile.mkdtemp(prefix="execguard-zsh-bridge-probe-", dir=parent)
        except OSError:
            continue
        return outside, (f"confinement: before timing, each (d*) shell failed to write in "
                         f"{parent} (outside its writable roots {roots}), which this "
                         "process can")
    return None, "confinement: NOT checked (no directory of ours outside the writable roots)"


def make_cases(stock: str | None) -> list[Case]:
    cases = [Case("a", "(a) patched zsh, EXEC_WRAPPER unset", "true")]
    if stock is not None:
        cases.append(Case("a'", f"(a') stock zsh {stock}", "true", zsh=stock, baseline="a"))
    cases += [
        Case("b", "(b) bridge, always-run decider", "true", decider="run", baseline="a",
             expect="run"),
        Case("c", "(c) bridge, PolicyDecider", "true", decider="policy", baseline="a",
             expect="run"),
        Case("d0", "(d0) bwrap, no bridge", "true", sandbox=True),
        Case("d1", "(d1) bwrap+bridge, true escalated", "true", decider="policy",
             sandbox=True, baseline="d0", expect="escalate"),
        Case("d2", "(d2) bwrap+bridge, noop run inside", "noop", decider="policy",
             sandbox=True, baseline="d0", expect="run"),
    ]
    return cases


async def check_confinement(cases: list[Case], context: Context, outside: str) -> None:
    """Every sandboxed case must fail to write ``outside`` (a directory of
    ours out of the writable roots) before it is timed."""
    target = os.path.join(outside, "probe")
    script = f"print -n x > {target} 2>/dev/null && exit 5; exit 0\n"
    for case in cases:
        if not case.sandbox:
            continue
        try:
            await run_once(case, context, script, 0)
        except Exception as error:
            case.failures.append(f"confinement check: {type(error).__name__}: {error}")
        if os.path.lexists(target):
            case.failures.append(f"NOT CONFINED: it wrote {target}")
            os.unlink(target)


async def measure(cases: list[Case], context: Context, *, n: int, rounds: int,
                  outside: str | None) -> None:
    if outside is not None:
        await check_confinement(cases, context, outside)
    for case in cases:  # warm-up: page cache, bytecode, bwrap
        await run_timed(case, context, WARMUP_EXECS, keep=False)
        await run_plain(case, context, WARMUP_EXECS, keep=False)
    for case in cases:
        case.actions.clear()
    for _ in range(rounds):
        for case in cases:
            await run_timed(case, context, n, keep=True)
            await run_plain(case, context, n, keep=True)


# -- the report --------------------------------------------------------------------------


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _row(name: str, cells: tuple[str, ...]) -> None:
    print(f"{name:38s} " + " ".join(f"{cell:>17s}" for cell in cells))


def report(cases: list[Case], *, n: int, rounds: int) -> list[str]:
    by_key = {case.key: case for case in cases}
    errors: list[str] = []
    print(f"{'case (ms)':38s} {'per exec med(p99)':>17s} {'added med(p99)':>17s} "
          f"{f'{n}-exec wall':>17s} {'added/exec':>17s} {'vs target':>17s}")
    for case in cases:
        base = by_key.get(case.baseline) if case.baseline else None
        figure = case.per_exec_ms()
        base_figure = base.per_exec_ms() if base is not None else None
        total, base_total = case.total_ms(), base.total_ms() if base is not None else None
        shown = "—" if figure is None else f"{figure[0]:.3f} ({figure[1]:.3f})"
        added, versus = "—", "—"
        if figure is not None and base_figure is not None:
            added_median = figure[0] - base_figure[0]
            added = f"{added_median:+.3f} ({figure[1] - base_figure[1]:+.3f})"
            if case.decider is not None:
                met = "met" if added_median <= TARGET_ADDED_MS else "MISSED"
                versus = f"{added_median / TARGET_ADDED_MS:.2f}x {met}"
        wall = "—" if total is None else f"{total:.1f}"
        per_exec = "—"
        if total is not None and base_total is not None:
            per_exec = f"{(total - base_total) / n:+.3f}"
        if case.failures:
            shown = f"ERROR ({len(case.failures)})"
        _row(case.label, (shown, added, wall, per_exec, versus))
    print()
    print(f"target: <= {TARGET_ADDED_MS:g} ms median added per exec (\"vs target\": added "
          "median / 2 ms, bridged cases; host vs (a), sandbox vs (d0))")
    print("reference: none, so no reference ratio: Codex 0.169.0 no longer ships the zsh "
          "exec bridge (spec zsh_bridge.md §0)")
    print(f"* per exec: median (p99) of {n * rounds} execs a case ({rounds} run(s) of {n}), "
          "each timed by the shell itself ($epochtime right before and after "
          "`PROGRAM || exit 3`); added: minus the baseline's median (p99)")
    print(f"* {n}-exec wall: whole `zsh -lc 'repeat {n}; do PROGRAM || exit 3; done'` run "
          "timed from this process (bridge and sandbox set-up included), median of "
          f"{rounds} run(s); added/exec = (wall - baseline's wall) / {n}")
    print(f"* PROGRAM: {TRUE}; (d2): noop, a symlink to {TRUE} that no rule names; decider "
          "of (c), (d1), (d2): default.rules, on-request, workspaceWrite; (a)-(c) "
          f"unsandboxed; (d*) {BACKEND} workspaceWrite")
    for case in cases:
        if case.actions:
            done = ", ".join(f"{action}: {count}" for action, count in case.actions.items())
            print(f"* {case.key}: intercepted execs of the timed runs (both scripts): {done}")
    for case in cases:
        for failure in case.failures:
            print(f"* FAILED {case.key}: {failure}")
            errors.append(f"{case.key}: {failure}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.zsh_bridge")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 200 execs a case instead of 3 rounds of 1000")
    options = parser.parse_args(argv)
    n = 200 if options.quick else 1000
    rounds = 1 if options.quick else 3
    from execguard.execpolicy import load_policy
    from execguard.zsh_bridge import BridgeUnavailable, locate

    try:
        install = locate()
    except BridgeUnavailable as error:
        print(f"zsh exec bridge: not measured: {error}")
        return 0
    started = time.perf_counter()
    load_start = _load()
    scratch = tempfile.mkdtemp(prefix="execguard-zsh-bridge-bench-")
    outside = None
    try:
        home = os.path.join(scratch, "home")
        os.mkdir(home)
        os.mkdir(os.path.join(scratch, "bin"))
        noop = os.path.join(scratch, "bin", "noop")
        os.symlink(TRUE, noop)
        env = {"PATH": f"{os.path.dirname(install.zsh)}:/usr/bin:/bin", "HOME": home,
               "LC_ALL": "C"}
        context = Context(install, load_policy([RULES], use_cache=False), scratch, env,
                          {"true": TRUE, "noop": noop})
        outside, confinement_note = outside_dir(scratch)
        stock, stock_note = system_zsh(install.zsh)
        cases = make_cases(stock)
        asyncio.run(measure(cases, context, n=n, rounds=rounds, outside=outside))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if outside is not None:
            shutil.rmtree(outside, ignore_errors=True)
    errors = report(cases, n=n, rounds=rounds)
    print(f"* {confinement_note}")
    print(f"* {stock_note}")
    print(f"* zsh: {install.zsh}; wrapper: {install.wrapper}")
    print(f"* load average: {load_start} at the start, {_load()} at the end; "
          f"took {time.perf_counter() - started:.0f} s")
    for message in errors:
        print(f"benchmarks.zsh_bridge: error: {message}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("benchmarks.zsh_bridge: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
