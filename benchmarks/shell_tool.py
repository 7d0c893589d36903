"""What the shell tool flow costs on top of the sandboxed run it wraps.

The command is ``touch stamp`` in a scratch directory under the shipped
policy, approval policy ``on-request`` and ``{"type": "workspaceWrite"}``:
no rule matches ``touch``, so the flow decides it runs in the sandbox
without asking (the common case of an agent's call). Backend: bubblewrap.

In process, interleaved round-robin after a warm-up (N rounds; ``--quick``
fewer), median and p99 of:

* runtime: what the runtime alone does for a sandboxed command
  (``runtimes.sandboxing.prepare`` + ``confined`` + ``process.spawn`` +
  ``wait``, streaming to a sink that discards);
* flow: ``ShellToolSession.run(ToolCall(...))``: the checks, the decision
  (full script analysis), the events, the same sandboxed run, the denial
  check and the result;
* flow + audit log: the same writing every event to a JSON-lines file;
* decision only: ``execpolicy.assess`` for the same call.

Over JSON-RPC, one ``execguard app-server`` and one client: ``command/exec``
of the same command and policy against ``shellTool/run`` (decision, events
as notifications, the structured response).

No reference counterpart: Codex runs tool calls only inside a model turn.
Run: ``.venv/bin/python -m benchmarks.shell_tool [--quick]`` (also from
``benchmarks/run``). Exits 1 when a run does not complete as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.app_server import Client
from execguard.execpolicy import assess, load_policy
from execguard.runtimes.api import ExecSpec, SandboxRequest
from execguard.runtimes.audit import AuditLog
from execguard.runtimes.process import spawn
from execguard.runtimes.sandboxing import confined, prepare
from execguard.runtimes.shell_tool import ShellToolSession, ToolCall

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["touch", "stamp"]
POLICY: dict[str, Any] = {"type": "workspaceWrite"}
BACKEND = "bubblewrap"
WARMUP = 5


async def _discard(_stream: str, _data: bytes, _cap: bool) -> None:
    return None


def _env(scratch: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8"}


async def runtime_only(cwd: Path, env: dict[str, str]) -> None:
    confinement = prepare(COMMAND, SandboxRequest(POLICY, str(cwd), env, backend=BACKEND))
    try:
        spec = confined(ExecSpec(argv=COMMAND, cwd=str(cwd), env=env, stream_output=True),
                        confinement)
        result = await (await spawn(spec, _discard)).wait()
    finally:
        confinement.close()
    if result.exit_code != 0:
        raise RuntimeError(f"runtime: exit {result.exit_code}")


def flow(session: ShellToolSession, cwd: Path, env: dict[str, str]
         ) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        result = await session.run(ToolCall(COMMAND, cwd=str(cwd), sandbox_policy=POLICY,
                                            env=env))
        if result.status != "completed" or result.sandbox is None:
            raise RuntimeError(f"flow: {result.status} {result.reason} {result.sandbox}")
    return run


async def measure_in_process(rounds: int, scratch: Path) -> dict[str, list[float]]:
    cwd = scratch / "work"
    cwd.mkdir()
    env = _env(scratch)
    policy = load_policy([str(ROOT / "policies" / "default.rules")])
    plain = ShellToolSession(policy, backend=BACKEND)
    audited = ShellToolSession(policy, backend=BACKEND,
                               audit_log=AuditLog(scratch / "audit.jsonl"))

    async def decide() -> None:
        assess(policy, COMMAND, approval_policy="on-request", sandbox="workspace-write",
               cwd=str(cwd))

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "runtime (prepare + spawn + wait)": lambda: runtime_only(cwd, env),
        "flow (ShellToolSession.run)": flow(plain, cwd, env),
        "flow + audit log": flow(audited, cwd, env),
        "decision only (assess)": decide,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for index in range(WARMUP + rounds):
        for name, case in cases.items():
            start = time.perf_counter()
            await case()
            if index >= WARMUP:
                samples[name].append(time.perf_counter() - start)
    return samples


async def measure_server(rounds: int, scratch: Path) -> dict[str, list[float]]:
    cwd = scratch / "server"
    cwd.mkdir()
    env = {**os.environ, "EXECGUARD_HOME": str(scratch / "home")}
    client = await Client.start([str(ROOT / ".venv" / "bin" / "execguard"), "app-server"],
                                env, str(cwd))
    try:
        exec_params = {"command": COMMAND, "sandboxPolicy": POLICY}
        tool_params = {"command": COMMAND, "sandboxPolicy": POLICY}
        samples: dict[str, list[float]] = {"command/exec": [], "shellTool/run": []}
        for index in range(WARMUP + rounds):
            for method, params in (("command/exec", exec_params),
                                   ("shellTool/run", tool_params)):
                start = time.perf_counter()
                reply = await client.request(method, params)
                elapsed = time.perf_counter() - start
                result = reply.get("result") or {}
                if result.get("exitCode") != 0:
                    raise RuntimeError(f"{method}: {reply}")
                if index >= WARMUP:
                    samples[method].append(elapsed)
        return samples
    finally:
        await client.close()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _row(name: str, values: list[float], base: float | None) -> str:
    median = statistics.median(values)
    added = "" if base is None else f"{(median - base) * 1000:+8.2f} ms"
    return f"  {name:<36} {median * 1000:8.2f} ms {_p99(values) * 1000:8.2f} ms {added}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.shell_tool")
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args(argv)
    rounds = 30 if options.quick else 150
    with tempfile.TemporaryDirectory(prefix="execguard-bench-tool-") as name:
        scratch = Path(name)
        try:
            local = asyncio.run(measure_in_process(rounds, scratch))
            served = asyncio.run(measure_server(rounds, scratch))
        except RuntimeError as error:
            print(f"shell tool benchmark failed: {error}", file=sys.stderr)
            return 1
    print(f"shell tool flow: `{' '.join(COMMAND)}` in bubblewrap workspace-write, "
          f"{rounds} rounds")
    print(f"  {'case':<36} {'median':>11} {'p99':>11} {'added':>11}")
    base = statistics.median(local["runtime (prepare + spawn + wait)"])
    for case, values in local.items():
        print(_row(case, values, None if case.startswith(("runtime", "decision")) else base))
    exec_median = statistics.median(served["command/exec"])
    print(_row("app-server command/exec", served["command/exec"], None))
    print(_row("app-server shellTool/run", served["shellTool/run"], exec_median))
    ratio = statistics.median(served["shellTool/run"]) / exec_median
    print(f"  shellTool/run / command/exec: {ratio:.2f}x (no reference counterpart)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
