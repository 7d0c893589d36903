"""What the network proxy costs: HTTP latency and throughput through our
`NetworkProxy` against a direct connection, from the host and from inside a
real bubblewrap sandbox whose only way out is the proxy route.

* origin: `tests.network_servers.origin_process`, a threaded HTTP/1.1
  server in a process of its own on 127.0.0.1 (`/hello`, `/bytes/<n>`);
* proxy: `NetworkProxy` (HTTP and SOCKS5 listeners) allowing `127.0.0.1`
  (`allow_local_binding=True`), on an event loop in a thread of its own in
  this process, which does nothing else meanwhile (it only waits for the
  client processes). The sandbox's route (`ProxyRouter.for_proxy(proxy)`,
  listeners in the sandbox's network namespace) is served on the same loop,
  as in the server;
* client: this file run as a script (`network.py client ARGS`, standard
  library only, `python -I -S`), once on the host and once confined by
  `BwrapBackend().confine(..., proxy=router)` under
  `{"type": "readOnly", "networkAccess": false}`. Every request opens a new
  TCP connection (`Connection: close`) and reads to the end:
  - direct: to the origin (from the sandbox this must fail: no route);
  - HTTP proxy: `GET http://127.0.0.1:<port>/hello` to the HTTP listener;
  - CONNECT: a `CONNECT` tunnel, then the request through it;
  - SOCKS5: a no-auth SOCKS5 `CONNECT` (IPv4), then the request.
  Latency: `GET /hello`, N requests a mode (2000; `--quick` 200), modes
  interleaved round-robin after a warm-up; median and p99, and the median
  (p99) added to the host's direct median (p99). Throughput:
  `GET /bytes/<256 MiB>` (`--quick` 32 MiB), MB/s (10^6 bytes/s) of the
  body (timed from the connection's start to its end), median of the
  transfers, and the ratio to the host's direct figure.
* peak RSS: `ru_maxrss` of this process (the proxy's host), with its RSS
  before the proxy started.

Host and sandbox runs alternate over rounds (2; `--quick` 1) so that load
changes hit both. Run: ``.venv/bin/python -m benchmarks.network [--quick]``
(``benchmarks/run`` runs it too): about 30 s (``--quick``: 5 s). Exits 1
when a run fails (the table shows which, the other rows still print), 130
when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024
MODES = ("direct", "http", "connect", "socks")
PROXIED = ("http", "connect", "socks")
LABELS = {"direct": "direct", "http": "HTTP proxy", "connect": "CONNECT", "socks": "SOCKS5"}
WARMUP = 20
RUN_TIMEOUT_S = 600
SOCKET_TIMEOUT_S = 30
SANDBOX_POLICY = {"type": "readOnly", "networkAccess": False}


# -- the client (run as a script: standard library only) ------------------------------


class ClientError(Exception):
    pass


def _recv_head(sock: socket.socket) -> bytes:
    """The proxy's answer to CONNECT: nothing follows it before we send."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            raise ClientError("the proxy closed the connection during CONNECT")
        head += data
        if len(head) > 65536:
            raise ClientError("CONNECT answer too long")
    return head


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ClientError("the SOCKS5 proxy closed the connection")
        data += chunk
    return data


def _connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, port), timeout=SOCKET_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _open(mode: str, config: dict[str, Any]) -> tuple[socket.socket, str]:
    """A connection ready for the request, and the request target to use."""
    host, port = config["origin"]
    if mode == "direct":
        return _connect(port, host), ""
    if mode == "http":
        return _connect(config["http"]), f"http://{host}:{port}"
    if mode == "connect":
        sock = _connect(config["http"])
        try:
            sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
                         .encode())
            head = _recv_head(sock)
            if head.split(b" ", 2)[1:2] != [b"200"]:
                raise ClientError(f"CONNECT refused: {head[:200]!r}")
        except BaseException:
            sock.close()
            raise
        return sock, ""
    if mode == "socks":
        sock = _connect(config["socks"])
        try:
            sock.sendall(b"\x05\x01\x00")
            if _recv_exactly(sock, 2) != b"\x05\x00":
                raise ClientError("SOCKS5: no-auth refused")
            sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + port.to_bytes(2, "big"))
            reply = _recv_exactly(sock, 4)
            if reply[1] != 0:
                raise ClientError(f"SOCKS5 CONNECT refused: code {reply[1]}")
            rest = {1: 6, 4: 18}.get(reply[3])
            if rest is None:
                rest = _recv_exactly(sock, 1)[0] + 2
            _recv_exactly(sock, rest)
        except BaseException:
            sock.close()
            raise
        return sock, ""
    raise ClientError(f"unknown mode {mode}")


def fetch(mode: str, path: str, config: dict[str, Any], buffer: bytearray) -> int:
    """One request on a new connection, read to its end; the body's size."""
    host, port = config["origin"]
    sock, prefix = _open(mode, config)
    with sock:
        sock.sendall(f"GET {prefix}{path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        head: bytes | None = b""
        body = 0
        while True:
            received = sock.recv_into(buffer)
            if not received:
                break
            if head is None:
                body += received
                continue
            head += buffer[:received]
            end = head.find(b"\r\n\r\n")
            if end >= 0:
                status = head.split(b" ", 2)[1]
                if status != b"200":
                    raise ClientError(f"{mode} {path}: status {status.decode(errors='replace')}"
                                      f": {head[end + 4:end + 200]!r}")
                body = len(head) - end - 4
                head = None
    if head is not None:
        raise ClientError(f"{mode} {path}: the connection ended before the response head")
    return body


def client_main(argument: str) -> int:
    """Run the loops of ``argument`` (JSON) and print the times as JSON."""
    config = json.loads(argument)
    modes: list[str] = config["modes"]
    buffer = bytearray(1 << 20)
    result: dict[str, Any] = {"latency": {m: [] for m in modes},
                              "throughput": {m: [] for m in modes}, "errors": {}}
    if config.get("expect_blocked"):  # a direct connection must not get out
        try:
            fetch("direct", "/hello", config, buffer)
            result["blocked"] = "NOT BLOCKED: a direct connection reached the origin"
        except OSError as error:
            result["blocked"] = f"blocked: {type(error).__name__}"
    alive = list(modes)

    def timed(mode: str, path: str, expected: int) -> float | None:
        start = time.perf_counter()
        try:
            got = fetch(mode, path, config, buffer)
            if got != expected:
                raise ClientError(f"{mode} {path}: {got} bytes instead of {expected}")
        except (OSError, ClientError) as error:
            result["errors"][mode] = f"{type(error).__name__}: {error}"
            alive.remove(mode)
            return None
        return time.perf_counter() - start

    hello = len(f"hello from {config['origin'][0]}:{config['origin'][1]}")
    for index in range(WARMUP + config["latency_runs"]):
        for mode in list(alive):
            elapsed = timed(mode, "/hello", hello)
            if elapsed is not None and index >= WARMUP:
                result["latency"][mode].append(elapsed)
    size = config["size"]
    for _ in range(config["transfers"]):
        for mode in list(alive):
            elapsed = timed(mode, f"/bytes/{size}", size)
            if elapsed is not None:
                result["throughput"][mode].append(elapsed)
    print(json.dumps(result))
    return 0


# -- the harness -------------------------------------------------------------------------


@dataclass
class Figures:
    """Samples (s) of one side (host or sandbox), by mode."""

    latency: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    throughput: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    errors: dict[str, str] = field(default_factory=dict)
    blocked: str | None = None

    def add(self, result: dict[str, Any]) -> None:
        for kind in ("latency", "throughput"):
            for mode, samples in result[kind].items():
                getattr(self, kind)[mode].extend(samples)
        for mode, error in result["errors"].items():
            self.errors.setdefault(mode, error)
        if "blocked" in result:
            self.blocked = result["blocked"]

    def fail(self, modes: tuple[str, ...], error: str) -> None:
        for mode in modes:
            self.errors.setdefault(mode, error)

    def latency_ms(self, mode: str) -> tuple[float, float] | None:
        samples = self.latency[mode]
        if len(samples) < 2:
            return None
        p99 = statistics.quantiles(samples, n=100, method="inclusive")[98]
        return statistics.median(samples) * 1000, p99 * 1000

    def mbps(self, mode: str, size: int) -> float | None:
        samples = self.throughput[mode]
        return size / statistics.median(samples) / 1e6 if samples else None


class ProxyHost:
    """`NetworkProxy` on an event loop in a thread of its own, and the
    router of the sandboxes, on that loop."""

    def __init__(self) -> None:
        import asyncio
        import threading

        from execguard.sandbox.network import DomainPolicy, NetworkPolicy, NetworkProxy

        self._asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy-loop",
                                       daemon=True)
        self.thread.start()
        self.proxy = NetworkProxy(NetworkPolicy(DomainPolicy(["127.0.0.1"]),
                                                allow_local_binding=True))
        self.router: Any = None
        try:
            self.call(self.proxy.start())
        except BaseException:
            self.close()
            raise

    def call(self, coroutine: Any) -> Any:
        return self._asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    def make_router(self) -> Any:
        from execguard.sandbox.proxy_routing import ProxyRouter

        async def build() -> ProxyRouter:
            return ProxyRouter.for_proxy(self.proxy)  # routes serve on the proxy's loop

        self.router = self.call(build())
        return self.router

    def close(self) -> None:
        try:
            if self.router is not None:
                self.call(self.router.aclose())
            if self.loop.is_running():
                self.call(self.proxy.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            if not self.thread.is_alive():
                self.loop.close()


def _client_argv(config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), "client", json.dumps(config)]


def _finish(process: subprocess.Popen[bytes], what: str) -> dict[str, Any]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"{what} exited with {process.returncode}: "
                           f"{err.decode(errors='replace').strip()[-800:]}")
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        raise RuntimeError(f"{what} printed no result: {out[-300:]!r} "
                           f"{err.decode(errors='replace')[-500:]}") from None
    return result


def run_host(config: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    process = subprocess.Popen(_client_argv(config), env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _finish(process, "the host client")


def run_sandboxed(config: dict[str, Any], env: dict[str, str], router: Any) -> dict[str, Any]:
    from execguard.sandbox import parse_policy
    from execguard.sandbox.bwrap import BwrapBackend

    cwd = tempfile.gettempdir()
    confinement = BwrapBackend().confine(_client_argv(config), parse_policy(SANDBOX_POLICY),
                                         cwd, env, proxy=router)
    try:
        if confinement.after_spawn is None:
            raise RuntimeError("the confinement has no proxy route (after_spawn is None)")
        process = subprocess.Popen(confinement.argv, env=confinement.env,
                                   pass_fds=confinement.pass_fds,
                                   preexec_fn=confinement.preexec, cwd=cwd,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        try:
            confinement.after_spawn(process.pid)
        except BaseException:
            process.kill()
            process.communicate()
            raise
        return _finish(process, "the sandboxed client")
    finally:
        confinement.close()


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@dataclass
class Results:
    host: Figures = field(default_factory=Figures)
    sandbox: Figures = field(default_factory=Figures)
    rss_before_mib: float = 0.0
    rss_peak_mib: float = 0.0
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def measure(results: Results, *, runs: int, size: int, transfers: int, rounds: int) -> None:
    from tests.network_servers import client_environment, origin_process

    env = client_environment()
    results.rss_before_mib = _rss_mib()
    with origin_process(report_requests=False) as origin:
        proxy = ProxyHost()
        try:
            router = None
            try:
                router = proxy.make_router()
            except Exception as error:  # the sandbox rows report it
                results.sandbox.fail(PROXIED, f"ProxyRouter.for_proxy: {error}")
            base = {"origin": [origin.host, origin.port], "http": proxy.proxy.http_port,
                    "socks": proxy.proxy.socks_port, "latency_runs": runs // rounds,
                    "size": size, "transfers": transfers}
            for _ in range(rounds):
                try:
                    results.host.add(run_host({**base, "modes": list(MODES)}, env))
                except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                    results.host.fail(MODES, str(error))
                if router is None:
                    continue
                try:
                    results.sandbox.add(run_sandboxed(
                        {**base, "modes": list(PROXIED), "expect_blocked": True}, env, router))
                except Exception as error:  # ProxyRoutingError, SandboxUnavailable, ...
                    results.sandbox.fail(PROXIED, f"{type(error).__name__}: {error}")
        finally:
            proxy.close()
            results.rss_peak_mib = _peak_rss_mib()


# -- the report --------------------------------------------------------------------------


def _row(name: str, cells: tuple[str, str, str, str]) -> None:
    print(f"{name:36s} " + " ".join(f"{cell:>15s}" for cell in cells))


def report(results: Results, *, runs: int, size: int, transfers: int, rounds: int) -> None:
    host, sandbox = results.host, results.sandbox
    direct = host.latency_ms("direct")
    direct_mbps = host.mbps("direct", size)
    print(f"{'case':36s} {'host':>15s} {'host vs direct':>15s} {'in sandbox':>15s} "
          f"{'sandbox vs dir.':>15s}")
    failures: list[str] = []

    def latency_cells(side: Figures, mode: str) -> tuple[str, str]:
        if mode in side.errors:
            failures.append(f"{'host' if side is host else 'sandbox'} {mode}: "
                            f"{side.errors[mode]}")
            return "ERROR", "—"
        figure = side.latency_ms(mode)
        if figure is None:
            return "—", "—"
        shown = f"{figure[0]:.3f} ({figure[1]:.3f})"
        if direct is None or (side is host and mode == "direct"):
            return shown, "—"
        return shown, f"+{figure[0] - direct[0]:.3f} ({figure[1] - direct[1]:+.3f})"

    def throughput_cells(side: Figures, mode: str) -> tuple[str, str]:
        if mode in side.errors:
            return "ERROR", "—"
        mbps = side.mbps(mode, size)
        if mbps is None:
            return "—", "—"
        return f"{mbps:.0f}", f"{mbps / direct_mbps:.2f}x" if direct_mbps else "—"

    for mode in MODES:
        if mode == "direct":
            blocked = sandbox.blocked or "—"
            sandbox_cells = ("blocked", "") if blocked.startswith("blocked") else (blocked, "")
        else:
            sandbox_cells = latency_cells(sandbox, mode)
        _row(f"GET /hello latency, {LABELS[mode]} (ms)",
             (*latency_cells(host, mode), *sandbox_cells))
    for mode in MODES:
        sandbox_cells = ("—", "") if mode == "direct" else throughput_cells(sandbox, mode)
        _row(f"{size // MIB} MiB download, {LABELS[mode]} (MB/s)",
             (*throughput_cells(host, mode), *sandbox_cells))
    _row("proxy's process peak RSS (MiB)",
         (f"{results.rss_peak_mib:.1f}", f"before: {results.rss_before_mib:.1f}", "", ""))
    print()
    print(f"* latency: median (p99) of {runs} requests a mode and side (after {WARMUP} "
          "warm-up requests), each on a new TCP connection, modes interleaved; "
          "\"vs direct\": added to the host's direct median (p99); HTTP proxy: "
          "absolute-URI GET to the HTTP listener; CONNECT: a tunnel through it; SOCKS5: "
          "no-auth CONNECT (IPv4)")
    print(f"* throughput: median of {transfers * rounds} downloads of {size // MIB} MiB a mode "
          "and side, MB/s = 10^6 bytes/s of body, connection set-up included; ratio to the "
          "host's direct figure")
    print("* in sandbox: bubblewrap, readOnly without network access; the only way out is "
          "the proxy route (ProxyRouter: listeners in the sandbox's network namespace, "
          "served on the proxy's loop); a direct connection to the origin must fail: "
          f"{sandbox.blocked or 'not checked'}")
    print("* the proxy runs on its own event loop thread in this process; the origin and "
          "the clients are processes of their own; peak RSS is this process's ru_maxrss "
          "(it hosts only the proxy, the router and the harness)")
    for note in results.notes:
        print(f"* {note}")
    for note in failures:
        print(f"* FAILED {note}")
    if sandbox.blocked is not None and not sandbox.blocked.startswith("blocked"):
        results.errors.append(f"sandbox: {sandbox.blocked}")
    for side, figures in (("host", host), ("sandbox", sandbox)):
        for mode, error in figures.errors.items():
            results.errors.append(f"{side} {mode}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.network")
    parser.add_argument("--quick", action="store_true",
                        help="200 requests and 32 MiB downloads instead of 2000 and 256 MiB")
    options = parser.parse_args(argv)
    runs = 200 if options.quick else 2000
    size = (32 if options.quick else 256) * MIB
    transfers = 3 if options.quick else 2
    rounds = 1 if options.quick else 2
    started = time.perf_counter()
    load_start = _load()
    results = Results()
    try:
        measure(results, runs=runs, size=size, transfers=transfers, rounds=rounds)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        results.errors.append(f"setup: {error}")
    report(results, runs=runs, size=size, transfers=transfers, rounds=rounds)
    print(f"* load average: {load_start} at the start, {_load()} at the end; "
          f"took {time.perf_counter() - started:.0f} s")
    for message in results.errors:
        print(f"benchmarks.network: error: {message}", file=sys.stderr)
    return 1 if results.errors else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        raise SystemExit(client_main(sys.argv[2]))
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("benchmarks.network: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
