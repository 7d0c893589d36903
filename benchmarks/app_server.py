"""The `command/exec` server, ours against the reference's, driven by the same
client: round trip of `true`, streaming / buffered / PTY throughput of 200 MiB,
the server's memory while streaming, and 100 concurrent streams checked
byte for byte.

Run: ``.venv/bin/python -m benchmarks.app_server [--quick] [--reference PATH]``
(``benchmarks/run`` runs it too). The reference is used only when its binary
is already on this machine (see `benchmarks.suite.find_reference`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

NO_SANDBOX = {"type": "dangerFullAccess"}
MIB = 1024 * 1024
# Targets of issue 4 (ours / reference).
TARGET_TRUE_RATIO = 0.5  # at most
TARGET_STREAM_RATIO = 1.5  # at least
TARGET_BUFFERED_RATIO = 1.0
TARGET_PTY_RATIO = 1.0
TARGET_SERVER_RSS_MIB = 100


@dataclass
class Client:
    """A newline-delimited JSON-RPC client over a server's stdio."""

    process: asyncio.subprocess.Process
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    deltas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 1
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], cwd: str) -> Client:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env, cwd=cwd, limit=1 << 31)
        client = cls(process)
        client.reader = asyncio.create_task(client._read())
        await client.request("initialize", {"clientInfo": {"name": "execguard-bench",
                                                           "version": "0"}})
        await client.notify("initialized")
        return client

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            if "id" in message and ("result" in message or "error" in message):
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("method") == "command/exec/outputDelta":
                params = message["params"]
                self.deltas.setdefault(params["processId"], []).append(params)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("server closed the connection"))

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def notify(self, method: str) -> None:
        await self.send({"method": method})

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ident = self.next_id
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.send({"id": ident, "method": method, "params": params})
        return await future

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self.reader is not None:
            await self.reader


async def exec_true_latency(client: Client, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        reply = await client.request("command/exec", {"command": ["true"],
                                                      "sandboxPolicy": NO_SANDBOX})
        times.append(time.perf_counter() - start)
        assert reply.get("result", {}).get("exitCode") == 0, reply
    return times


async def stream_throughput(client: Client, size: int, *, tty: bool, buffered: bool,
                            sample_rss: int | None) -> tuple[float, int, float]:
    """MB/s for `head -c SIZE /dev/zero`, the bytes received, and the peak
    RSS (MiB) of process ``sample_rss`` meanwhile."""
    params: dict[str, Any] = {"command": ["head", "-c", str(size), "/dev/zero"],
                              "sandboxPolicy": NO_SANDBOX, "disableOutputCap": True,
                              "disableTimeout": True}
    process_id = f"stream-{time.monotonic_ns()}"
    if tty:
        params.update(tty=True, processId=process_id)
    elif not buffered:
        params.update(streamStdoutStderr=True, processId=process_id)
    peak = 0.0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        if sample_rss is None:
            return
        try:
            process = psutil.Process(sample_rss)
            while not done.is_set():
                peak = max(peak, process.memory_info().rss / MIB)
                await asyncio.sleep(0.05)
        except psutil.Error:
            pass

    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    reply = await client.request("command/exec", params)
    elapsed = time.perf_counter() - start
    done.set()
    await watcher
    assert "result" in reply, reply
    if buffered:
        received = len(reply["result"]["stdout"])
    else:
        deltas = client.deltas.pop(process_id, [])
        received = sum(len(base64.b64decode(d["deltaBase64"])) for d in deltas)
    return size / elapsed / 1e6, received, peak


async def concurrent_streams(client: Client, count: int, size: int) -> tuple[bool, float]:
    """Start ``count`` streaming commands that each print a different
    deterministic byte pattern; check every stream arrives whole and in
    order (SHA-256 against the expected bytes)."""
    script = ("import sys,hashlib;n=int(sys.argv[1]);s=sys.argv[2].encode();"
              "out=sys.stdout.buffer;i=0\n"
              "while n>0:\n"
              " b=hashlib.sha256(s+str(i).encode()).hexdigest().encode()[:min(n,64)]"
              ";out.write(b);n-=len(b);i+=1\n")

    def expected(seed: str) -> str:
        digest, n, i = hashlib.sha256(), size, 0
        while n > 0:
            chunk = hashlib.sha256(seed.encode() + str(i).encode()).hexdigest().encode()
            chunk = chunk[: min(n, 64)]
            digest.update(chunk)
            n -= len(chunk)
            i += 1
        return digest.hexdigest()

    seeds = [f"s{k}" for k in range(count)]
    start = time.perf_counter()
    replies = await asyncio.gather(*(client.request("command/exec", {
        "command": [sys.executable, "-c", script, str(size), seed], "processId": seed,
        "streamStdoutStderr": True, "sandboxPolicy": NO_SANDBOX, "disableOutputCap": True,
        "timeoutMs": 120_000}) for seed in seeds))
    elapsed = time.perf_counter() - start
    ok = all(r.get("result", {}).get("exitCode") == 0 for r in replies)
    for seed in seeds:
        digest = hashlib.sha256()
        for delta in client.deltas.pop(seed, []):
            if delta["stream"] == "stdout":
                digest.update(base64.b64decode(delta["deltaBase64"]))
        ok = ok and digest.hexdigest() == expected(seed)
    return ok, elapsed


@dataclass
class Figures:
    true_median_ms: float
    stream_mbps: float
    buffered_mbps: float
    pty_mbps: float
    stream_peak_rss_mib: float
    concurrent_ok: bool | None = None
    concurrent_s: float | None = None


async def measure(argv: list[str], env: dict[str, str], *, quick: bool,
                  concurrent: bool) -> Figures:
    with tempfile.TemporaryDirectory() as cwd:
        client = await Client.start(argv, env, cwd)
        try:
            await exec_true_latency(client, 5)
            true_times = await exec_true_latency(client, 20 if quick else 50)
            size = (20 if quick else 200) * MIB
            stream, got, peak = await stream_throughput(client, size, tty=False, buffered=False,
                                                        sample_rss=client.process.pid)
            assert got == size, (got, size)
            buffered_size = size // (4 if quick else 1)
            buffered, got_buffered, _ = await stream_throughput(
                client, buffered_size, tty=False, buffered=True, sample_rss=None)
            assert got_buffered == buffered_size, (got_buffered, buffered_size)
            pty, _, _ = await stream_throughput(client, size, tty=True, buffered=False,
                                                sample_rss=None)
            figures = Figures(statistics.median(true_times) * 1000, stream, buffered, pty,
                              peak)
            if concurrent:
                ok, elapsed = await concurrent_streams(client, 100, (256 if quick else 2048)
                                                       * 1024)
                figures.concurrent_ok, figures.concurrent_s = ok, elapsed
            return figures
        finally:
            await client.close()


def _ratio(ours: float, reference: float | None) -> str:
    return f"{ours / reference:.2f}x" if reference else "—"


Row = tuple[str, float, float | None, str, bool | None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.app_server")
    parser.add_argument("--quick", action="store_true", help="20 MiB instead of 200 MiB")
    parser.add_argument("--reference", help="path of the reference codex binary")
    options = parser.parse_args(argv)
    from benchmarks.suite import find_reference

    ours_argv = [str(Path(sys.executable).parent / "execguard"), "app-server"]
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_BACKTRACE",)}
    ours = asyncio.run(measure(ours_argv, env, quick=options.quick, concurrent=True))
    reference_path, how = find_reference(options.reference)
    reference = None
    if reference_path is not None:
        with tempfile.TemporaryDirectory() as home:
            reference = asyncio.run(measure([reference_path, "app-server"],
                                            {**env, "CODEX_HOME": home}, quick=options.quick,
                                            concurrent=False))
    def ref(name: str) -> float | None:
        return float(getattr(reference, name)) if reference is not None else None

    def ratio_met(name: str, bound: float, at_most: bool) -> bool | None:
        theirs = ref(name)
        if not theirs:
            return None
        ratio = float(getattr(ours, name)) / theirs
        return ratio <= bound if at_most else ratio >= bound

    rows: list[Row] = [
        ("command/exec `true`, median round trip (ms)", ours.true_median_ms,
         ref("true_median_ms"), f"ratio <= {TARGET_TRUE_RATIO}",
         ratio_met("true_median_ms", TARGET_TRUE_RATIO, True)),
        ("streaming throughput (MB/s)", ours.stream_mbps, ref("stream_mbps"),
         f"ratio >= {TARGET_STREAM_RATIO}", ratio_met("stream_mbps", TARGET_STREAM_RATIO, False)),
        ("buffered throughput (MB/s)", ours.buffered_mbps, ref("buffered_mbps"),
         f"ratio >= {TARGET_BUFFERED_RATIO}",
         ratio_met("buffered_mbps", TARGET_BUFFERED_RATIO, False)),
        ("PTY throughput (MB/s)", ours.pty_mbps, ref("pty_mbps"),
         f"ratio >= {TARGET_PTY_RATIO}", ratio_met("pty_mbps", TARGET_PTY_RATIO, False)),
        ("server peak RSS while streaming (MiB)", ours.stream_peak_rss_mib,
         ref("stream_peak_rss_mib"), f"< {TARGET_SERVER_RSS_MIB} MiB",
         ours.stream_peak_rss_mib < TARGET_SERVER_RSS_MIB),
    ]
    print(f"{'case':46s} {'ours':>10s} {'reference':>10s} {'ratio':>7s}  target")
    for name, value, theirs, target, met in rows:
        shown_ref = f"{theirs:10.2f}" if theirs else f"{'—':>10s}"
        mark = "—" if met is None else ("yes" if met else "NO")
        print(f"{name:46s} {value:10.2f} {shown_ref} {_ratio(value, theirs):>7s}  {target} {mark}")
    print(f"100 concurrent streams, checksums: {'all match' if ours.concurrent_ok else 'MISMATCH'}"
          f" ({ours.concurrent_s:.1f} s)")
    print(f"* reference: {reference_path or 'not available'} ({how})")
    print("* size: " + ("20 MiB (--quick)" if options.quick else "200 MiB")
          + "; buffered mode uses NUL bytes, sent as \\u0000 escapes by both servers")
    return 0 if ours.concurrent_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
