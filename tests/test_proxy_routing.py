"""The proxy route: a network-restricted bubblewrap sandbox reaches the
network only through the host's NetworkProxy, which serves the listeners
inside the sandbox's network namespace and tags each request with the
sandbox's context.

Everything is real: bubblewrap, the proxy on its event loop (in a thread of
its own, as in a server), an HTTP server on the host's 127.0.0.1 as the
upstream, and curl inside the sandbox, spawned the way the runtime spawns
(``Popen`` with the confinement's argv, env and fds, then
``confinement.after_spawn(pid)``). :func:`scenario` runs the main checks
and returns what it saw; it runs in this process and again as ``nobody``
(in a forked child) to show that the route needs no privileges.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]
import pytest

from execguard.sandbox import parse_policy
from execguard.sandbox.backend import Confinement
from execguard.sandbox.bwrap import _PLACEHOLDERS, BwrapBackend
from execguard.sandbox.network import (
    BlockedRequest,
    DomainPolicy,
    NetworkPolicy,
    NetworkProxy,
    NetworkRequest,
    Verdict,
)
from execguard.sandbox.proxy_routing import (
    ProxyRoute,
    ProxyRouter,
    ProxyRoutingError,
    _kill_sandbox,
    route_into_sandbox,
)

T = TypeVar("T")
_RESOLVER_THREAD = "proxy-routing-harness-resolver"
_REPO = Path(__file__).resolve().parent.parent
_TIMEOUT = 20
_NOBODY = 65534
_READ_ONLY = {"type": "readOnly"}
# The shell inside the sandbox reports one tab-separated line per probe.
_PROBES = r"""
printf 'env_http\t%s\n' "$HTTP_PROXY"
printf 'env_http_lower\t%s\n' "$http_proxy"
printf 'env_all\t%s\n' "$ALL_PROXY"
out=$(curl -sS -m 10 "http://localhost:$UP/allowed" 2>&1); printf 'http\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 -w ' %{http_code}' http://blocked.example/ 2>&1)
printf 'denied\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 -w ' %{http_code}' http://ask.example/ 2>&1)
printf 'asked\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 -p "http://localhost:$UP/tunnel" 2>&1); printf 'connect\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 --socks5-hostname "${ALL_PROXY#socks5h://}" "http://localhost:$UP/socks" 2>&1)
printf 'socks\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 --noproxy '*' "http://127.0.0.1:$UP/direct" 2>&1)
printf 'direct\t%s\t%s\n' "$?" "$out"
out=$(python3 -S -c 'import socket; socket.socket(socket.AF_UNIX)' 2>&1 | tail -n 1)
printf 'unix\t%s\n' "$out"
"""


# Once the proxy has closed (a request to /slow is in flight when it does).
_AFTER_CLOSE = r"""
out=$(curl -sS -m 20 "http://localhost:$UP/slow" 2>&1); printf 'in_flight\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 "http://localhost:$UP/after" 2>&1); printf 'http\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 -p "http://localhost:$UP/after" 2>&1); printf 'connect\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 --socks5-hostname "${ALL_PROXY#socks5h://}" "http://localhost:$UP/after" 2>&1)
printf 'socks\t%s\t%s\n' "$?" "$out"
out=$(curl -sS -m 10 --noproxy '*' "http://127.0.0.1:$UP/direct" 2>&1)
printf 'direct\t%s\t%s\n' "$?" "$out"
"""


# -- the harness -----------------------------------------------------------------------


class _Upstream(http.server.BaseHTTPRequestHandler):
    """Answers ``hello <path>``; ``/slow...`` is added to ``arrivals``, sets
    ``arrived`` and waits until the test releases it."""

    arrived: threading.Event
    arrivals: list[str]
    release: threading.Event

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            self.arrivals.append(self.path)
            self.arrived.set()
            self.release.wait(_TIMEOUT)
        body = b"hello " + self.path.encode()
        with contextlib.suppress(ConnectionError):  # the test cut the connection
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Run:
    popen: subprocess.Popen[bytes]
    confinement: Confinement
    route: ProxyRoute | None
    spawned_at: float
    routed_at: float

    def finish(self) -> tuple[int, str, str]:
        out, err = self.popen.communicate(timeout=_TIMEOUT)
        return self.popen.returncode, out.decode(), err.decode()


async def _unresolvable(host: str, port: int) -> Sequence[str]:
    raise OSError(f"no address for {host}")  # no DNS here; localhost is never asked


@dataclass
class Harness:
    """An upstream server, an event loop thread with a started proxy (that
    allows ``localhost``, denies ``blocked.example`` and asks its decider,
    which says no, about the rest) and its router. What the decider was
    asked and what was blocked is recorded."""

    arrived: threading.Event = field(default_factory=threading.Event)
    arrivals: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    asked: list[NetworkRequest] = field(default_factory=list)
    blocked: list[BlockedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        handler = type("Upstream", (_Upstream,), {"arrived": self.arrived,
                                                  "arrivals": self.arrivals,
                                                  "release": self.release})
        self.upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.upstream.daemon_threads = True
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        self.upstream_port = self.upstream.server_address[1]
        self.loop = asyncio.new_event_loop()
        # The proxy resolves names in the loop's executor: its threads are
        # the harness's, named so, and joined when it closes.
        self.executor = ThreadPoolExecutor(thread_name_prefix=_RESOLVER_THREAD)
        self.loop.set_default_executor(self.executor)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = NetworkProxy(NetworkPolicy(
            DomainPolicy(["localhost"], ["blocked.example"]), decider=self._decide,
            observer=self.blocked.append, resolver=_unresolvable))
        self.call(self.proxy.start())
        self.router = ProxyRouter.for_proxy(self.proxy)
        self.backend = BwrapBackend()
        self.failed: tuple[int, str] | None = None  # the last spawn whose route failed

    async def _decide(self, request: NetworkRequest) -> Verdict:
        self.asked.append(request)
        return "deny"

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_TIMEOUT)

    def spawn(self, argv: list[str], policy: Mapping[str, object] = _READ_ONLY, *,
              late: bool = False, context: object = None) -> Run:
        """Confine and start ``argv`` as the runtime does, its requests
        tagged with ``context``; ``late``: route only once the sandbox is
        waiting for it on the block fd."""
        confinement = self.backend.confine(
            argv, parse_policy(policy), "/tmp",
            {"PATH": "/usr/bin:/bin", "UP": str(self.upstream_port)}, proxy=self.router,
            proxy_context=context)
        before = set(self.router.routes)
        start = time.perf_counter()
        popen = subprocess.Popen(confinement.argv, env=confinement.env,
                                 pass_fds=confinement.pass_fds, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        spawned = time.perf_counter()
        try:
            if late:
                time.sleep(0.5)  # bwrap needs a few ms to get there
            assert confinement.after_spawn is not None
            confinement.after_spawn(popen.pid)
        except BaseException:
            out, _ = popen.communicate(timeout=_TIMEOUT)
            self.failed = (popen.returncode, out.decode())
            confinement.close()
            raise
        routed = time.perf_counter()
        new = set(self.router.routes) - before
        route = new.pop() if new else None
        return Run(popen, confinement, route, spawned - start, routed - spawned)

    def close(self) -> None:
        self.release.set()
        with contextlib.suppress(Exception):
            self.call(self.router.aclose())
        with contextlib.suppress(Exception):
            self.call(self.proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_TIMEOUT)
        self.loop.close()
        self.executor.shutdown(wait=True)
        self.upstream.shutdown()
        self.upstream.server_close()


@contextlib.contextmanager
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


def _until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """Read from pipe ``fd`` until ``marker`` has come (or end of file)."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        readable, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        assert readable, f"no {marker!r} in time: {data!r}"
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _socket_fds() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
    return count


def _find_marker(marker: str) -> list[int]:
    """Processes (anyone's: orphans are not our children) whose command
    line mentions ``marker``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process.pid)
    return found


def _with_marker(marker: str) -> list[int]:
    """:func:`_find_marker`, after a moment for the dying to go."""
    _until(lambda: not _find_marker(marker))
    return _find_marker(marker)


def _threads() -> set[threading.Thread]:
    """Threads but a harness's resolver pool (which lives as long as the
    harness: the module's shared one outlives each test) and bwrap's
    placeholder timer (it ends by itself; see the fixture below)."""
    return {thread for thread in threading.enumerate()
            if not thread.name.startswith((_RESOLVER_THREAD, "execguard-placeholders"))}


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves no child process (live or zombie: the route's
    helper is reaped, and so is the child of :func:`_scenario_as`), no fd
    and no thread behind (what the module's shared harness holds is there
    before and after). A leaked child would fail the next test file, whose
    own check counts every child of this process."""
    children, fds, threads = _children(), _fds(), _threads()
    yield
    # Sandbox placeholders linger a moment for the next command, each with
    # its lock record open (sandbox/bwrap.py); gone after a flush. Closed
    # routes, relays and handler threads end a moment later.
    _PLACEHOLDERS.flush()
    _until(lambda: _children() <= children and _fds() <= fds and _threads() <= threads,
           _TIMEOUT)
    leaked = []
    for process in psutil.Process().children(recursive=True):
        if process.pid not in children:
            with contextlib.suppress(psutil.Error):  # gone meanwhile: not leaked
                leaked.append((process.pid, process.name(), process.status()))
    assert leaked == []
    assert _fds() - fds == set()
    assert _threads() - threads == set()


def _probes(stdout: str) -> dict[str, list[str]]:
    lines = {}
    for line in stdout.splitlines():
        key, _, rest = line.partition("\t")
        lines[key] = rest.split("\t")
    return lines


# -- the scenario (also run as nobody) --------------------------------------------------


def scenario() -> dict[str, Any]:
    """The main checks, in this process as whatever user runs it; returns
    what was observed (JSON-serialisable) for :func:`_check_scenario`."""
    seen: dict[str, Any] = {"uid": os.getuid()}
    with harness() as h:
        seen["ports"] = [h.proxy.http_port, h.proxy.socks_port, h.upstream_port]
        children = _children()
        sockets = _socket_fds()

        # 1. Every way out, from one sandboxed shell; its requests carry its context.
        run = h.spawn(["sh", "-c", _PROBES], context="probes")
        seen["argv"] = run.confinement.argv
        seen["explanation"] = run.confinement.explanation
        seen["route_during_run"] = run.route is not None and not run.route.closed
        code, out, err = run.finish()
        seen["exit"], seen["stderr"], seen["probes"] = code, err, _probes(out)
        seen["asked"] = [[r.host, r.protocol, r.context] for r in h.asked]
        seen["blocked"] = [[b.host, b.reason, b.source, b.context] for b in h.blocked]
        assert run.route is not None
        route = run.route
        # The route closes itself once the sandbox is gone...
        seen["route_closed_by_exit"] = _until(lambda: route.closed)
        run.confinement.close()
        h.call(route.wait_closed())
        seen["route_open_sockets"] = route.open_sockets
        seen["routes_left"] = len(h.router.routes)
        seen["sandbox_pid_gone"] = _until(lambda: not psutil.pid_exists(route.sandbox_pid))
        # ...and leaves no process (the helper is collected) and no socket.
        _until(lambda: _children() <= children)
        seen["children_left"] = sorted(_children() - children)
        seen["sockets_left"] = _socket_fds() - sockets

        # Routed however far the sandbox has gone: waiting on the block fd,
        # unprivileged, it is in a second user namespace of bwrap's.
        run = h.spawn(["sh", "-c", 'curl -sS -m 10 "http://localhost:$UP/late"'], late=True)
        seen["late"] = run.finish()[1]
        run.confinement.close()

        # 2. The proxy closes: the request in flight is reset, the route
        # closes (nothing listens in the sandbox any more: every later
        # connection is refused), so does the router, and the next command
        # is killed before it runs.
        run = h.spawn(["sh", "-c", _AFTER_CLOSE])
        assert run.route is not None
        route = run.route
        seen["in_flight_arrived"] = _until(h.arrived.is_set, _TIMEOUT)
        seen["in_flight_served"] = route.active_connections
        h.call(h.proxy.close())
        seen["route_closed_by_proxy"] = _until(lambda: route.closed)
        h.call(route.wait_closed())
        seen["route_open_sockets_after_close"] = route.open_sockets
        code, out, err = run.finish()
        run.confinement.close()
        seen["after_close"] = _probes(out)
        seen["router_closed"] = h.router.closed
        seen["routes_after_close"] = len(h.router.routes)
        marker = f"execguard-test-{uuid.uuid4()}"
        try:
            run = h.spawn(["sh", "-c", "echo ran", marker])
        except ProxyRoutingError as error:
            seen["refused"] = str(error)
            seen["refused_run"] = list(h.failed or ())
            seen["refused_left"] = _with_marker(marker)
        else:  # pragma: no cover - the failure being tested for
            seen["refused"] = None
            run.finish()
            run.confinement.close()
    return seen


def _check_scenario(seen: dict[str, Any]) -> None:
    http_port, socks_port, upstream = seen["ports"]
    assert seen["exit"] == 0, seen["stderr"]
    argv = seen["argv"]
    assert "--unshare-net" in argv
    assert "--info-fd" in argv and "--block-fd" in argv
    assert argv.index("--block-fd") < argv.index("--")
    explanation = "\n".join(seen["explanation"])
    assert "network: only through the proxy" in explanation
    assert "socket: only AF_INET/AF_INET6" in explanation  # seccomp PROXY_ROUTED
    probes = seen["probes"]
    # The variables name 127.0.0.1 with the host proxy's own port numbers.
    assert probes["env_http"] == [f"http://127.0.0.1:{http_port}"]
    assert probes["env_http_lower"] == [f"http://127.0.0.1:{http_port}"]
    assert probes["env_all"] == [f"socks5h://127.0.0.1:{socks_port}"]
    assert probes["http"] == ["0", "hello /allowed"]
    code, denied = probes["denied"]
    assert code == "0" and denied.endswith(" 403")
    blocked = json.loads(denied.removesuffix(" 403"))
    assert blocked["status"] == "blocked" and blocked["reason"] == "denied"
    assert blocked["host"] == "blocked.example"
    code, asked = probes["asked"]
    assert code == "0" and asked.endswith(" 403")
    assert json.loads(asked.removesuffix(" 403"))["source"] == "decider"
    # The decider and the observer see the sandbox's context, not the proxy's (None).
    assert seen["asked"] == [["ask.example", "http", "probes"]]
    assert seen["blocked"] == [["blocked.example", "denied", "baseline_policy", "probes"],
                               ["ask.example", "not_allowed", "decider", "probes"]]
    assert probes["connect"] == ["0", "hello /tunnel"]
    assert probes["socks"] == ["0", "hello /socks"]
    # Around the proxy, the host's loopback is not there.
    assert probes["direct"][0] == "7", probes["direct"]
    assert f"port {upstream}" in probes["direct"][1]
    assert probes["unix"] == ["PermissionError: [Errno 1] Operation not permitted"]
    assert seen["route_during_run"]
    assert seen["route_closed_by_exit"]
    assert seen["route_open_sockets"] == 0
    assert seen["routes_left"] == 0
    assert seen["sandbox_pid_gone"]
    assert seen["children_left"] == []
    assert seen["sockets_left"] == 0
    assert seen["late"] == "hello /late"
    # Fail closed once the proxy is gone: the request in flight is reset
    # (empty reply: 52, reset while receiving: 56), every later connection
    # refused (7), through any proxy variable or around them.
    assert seen["in_flight_arrived"] and seen["in_flight_served"] == 1
    assert seen["route_closed_by_proxy"]
    assert seen["route_open_sockets_after_close"] == 0
    after = seen["after_close"]
    assert after["in_flight"][0] in ("52", "56"), after
    for probe in ("http", "connect", "socks", "direct"):
        assert after[probe][0] == "7", after
        assert "hello" not in after[probe][1]
    assert "Connection refused" in after["http"][1] or "Couldn't connect" in after["http"][1]
    assert seen["router_closed"]
    assert seen["routes_after_close"] == 0
    assert seen["refused"] is not None and "router is closed" in seen["refused"]
    assert seen["refused_run"] == [-9, ""]  # killed before `echo ran` could run
    assert seen["refused_left"] == []


def test_routed_sandbox_reaches_only_the_proxy() -> None:
    _check_scenario(scenario())


def _scenario_as(uid: int) -> dict[str, Any]:
    """:func:`scenario` in a forked child that has become ``uid``. A fork,
    not a new interpreter: the checkout and its virtualenv may live where
    ``uid`` cannot read (under /root on CI); every module the scenario
    needs is loaded already (the parent ran it)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read)
            os.chdir("/tmp")
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.environ["HOME"] = "/tmp"
            data = json.dumps(scenario()).encode()
            while data:
                data = data[os.write(write, data):]
            status = 0
        except BaseException as error:  # reported through the pipe
            with contextlib.suppress(BaseException):
                os.write(write, json.dumps({"error": repr(error)}).encode())
        finally:
            os._exit(status)
    os.close(write)
    reaped = False
    try:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:  # interrupted: the child must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    seen: dict[str, Any] = json.loads(data.decode() or "{}")
    assert os.waitstatus_to_exitcode(status) == 0, seen
    return seen


def test_unprivileged_server_routes_too() -> None:
    """As an unprivileged user the helper has to enter the sandbox's user
    namespace first (it owns it, so it has the rights there). Run by a
    non-root user, the same scenario runs in-process."""
    if os.geteuid() != 0:
        _check_scenario(scenario())
        return
    _check_scenario(scenario())  # loads every module the child will need
    seen = _scenario_as(_NOBODY)
    assert seen["uid"] == _NOBODY
    _check_scenario(seen)


# -- failures and lifetimes -------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[Harness]:
    with harness() as h:
        yield h


def test_closing_the_route_ends_its_connections(shared: Harness) -> None:
    """A connection in flight is reset when the route closes (the runtime
    closes the confinement), without waiting for either end."""
    shared.release.clear()
    shared.arrived.clear()
    run = shared.spawn(["curl", "-sS", "-m", str(_TIMEOUT),
                        f"http://localhost:{shared.upstream_port}/slow"])
    route = run.route
    assert route is not None
    try:
        # Forwarded, and curl is waiting for the answer (an accepted
        # connection alone may be reset before curl saw its connect end).
        assert _until(shared.arrived.is_set, _TIMEOUT)
        assert route.active_connections == 1
        started = time.monotonic()
        run.confinement.close()
        code, out, err = run.finish()
        assert time.monotonic() - started < 5
        assert code in (52, 56), err  # empty reply / connection reset
        assert "hello" not in out
        shared.call(route.wait_closed())
        assert route.active_connections == 0 and route.open_sockets == 0
        assert shared.router.routes == ()
        assert not shared.router.closed  # the proxy is fine: only this route ended
    finally:
        shared.release.set()  # the upstream's handler thread ends (no other test waits on it)


def test_closing_a_route_spares_the_others(shared: Harness) -> None:
    """Two sandboxes with a CONNECT tunnel each in flight: closing one's
    route resets its tunnel; the other's goes on to the end."""
    shared.release.clear()
    shared.arrivals.clear()
    runs = [shared.spawn(["curl", "-sS", "-m", str(_TIMEOUT), "-p",
                          f"http://localhost:{shared.upstream_port}/slow-{name}"],
                         context=name) for name in ("closed", "spared")]
    closed, spared = (run.route for run in runs)
    assert closed is not None and spared is not None
    try:
        assert _until(lambda: len(shared.arrivals) == 2, _TIMEOUT)
        assert closed.active_connections == spared.active_connections == 1
        started = time.monotonic()
        runs[0].confinement.close()
        code, out, err = runs[0].finish()
        assert time.monotonic() - started < 5
        assert code in (52, 56), err
        assert "hello" not in out
        shared.call(closed.wait_closed())
        assert closed.open_sockets == 0
        assert shared.router.routes == (spared,) and not spared.closed
        assert spared.active_connections == 1  # the tunnel is still there...
        shared.release.set()
        assert runs[1].finish() == (0, "hello /slow-spared", "")  # ...and carries the answer
    finally:
        shared.release.set()
        for run in runs:
            run.confinement.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.popen.communicate(timeout=_TIMEOUT)
    assert _until(lambda: not shared.router.routes)


def test_requests_carry_their_sandboxs_context(shared: Harness) -> None:
    """Concurrent sandboxes, each with a context of its own: every request
    that reaches the decider, and every block the observer is told about,
    names the sandbox that made it, whichever way it came (HTTP, CONNECT,
    SOCKS5)."""
    del shared.asked[:], shared.blocked[:]
    script = ('curl -sS -m 10 "http://$NAME.ask.example/"; '
              'curl -sS -m 10 -p "http://$NAME.ask.example/"; '
              'curl -sS -m 10 --socks5-hostname "${ALL_PROXY#socks5h://}" '
              '"http://$NAME.ask.example/"; '
              'curl -sS -m 10 http://blocked.example/; '
              'curl -sS -m 10 "http://localhost:$UP/$NAME"')
    contexts = {"one": ("command", 1), "two": ("command", 2), "three": None}
    runs = {name: shared.spawn(["env", f"NAME={name}", "sh", "-c", script], context=context)
            for name, context in contexts.items()}
    for name, run in runs.items():
        _, out, _ = run.finish()
        run.confinement.close()
        assert out.endswith(f"hello /{name}"), out  # the last request went through
    asked = sorted((r.host, r.protocol, str(r.context)) for r in shared.asked)
    assert asked == sorted(
        (f"{name}.ask.example", protocol, str(context))
        for name, context in contexts.items()
        for protocol in ("http", "https_connect", "socks5_tcp"))
    blocked = sorted((b.host, b.reason, str(b.context)) for b in shared.blocked)
    assert blocked == sorted(
        [(f"{name}.ask.example", "not_allowed", str(context))
         for name, context in contexts.items() for _ in range(3)]
        + [("blocked.example", "denied", str(context)) for context in contexts.values()])


def test_a_route_serves_at_most_its_connections(shared: Harness, tmp_path: Path) -> None:
    """One sandbox cannot take the whole proxy: past the router's
    ``max_connections`` its connections are reset on arrival, while another
    sandbox's are served."""
    router = ProxyRouter.for_proxy(shared.proxy, max_connections=1)
    shared.release.clear()
    shared.arrivals.clear()
    flag = tmp_path / "first-is-served"
    tmp_path.chmod(0o755)  # readable in the sandbox as whoever runs it
    script = (f'curl -sS -m {_TIMEOUT} "http://localhost:$UP/slow" & '
              f'while [ ! -e {flag} ]; do sleep 0.05; done; '
              'curl -sS -m 10 "http://localhost:$UP/second"; echo " rc=$?"; wait')
    confinement = shared.backend.confine(
        ["sh", "-c", script], parse_policy(_READ_ONLY), "/tmp",
        {"PATH": "/usr/bin:/bin", "UP": str(shared.upstream_port)}, proxy=router)
    popen = subprocess.Popen(confinement.argv, env=confinement.env,
                             pass_fds=confinement.pass_fds, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert confinement.after_spawn is not None
        confinement.after_spawn(popen.pid)
        assert _until(lambda: len(shared.arrivals) == 1, _TIMEOUT)
        other = shared.spawn(["curl", "-sS", "-m", "10",
                              f"http://localhost:{shared.upstream_port}/other"])
        assert other.finish() == (0, "hello /other", "")
        other.confinement.close()
        flag.touch()
        # The second connection ends (reset) while the first is held open.
        assert popen.stdout is not None
        first = _read_until(popen.stdout.fileno(), b"rc=", _TIMEOUT)
        assert router.routes[0].active_connections == 1
        shared.release.set()
        out, err = popen.communicate(timeout=_TIMEOUT)
    finally:
        shared.release.set()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.communicate(timeout=_TIMEOUT)
        confinement.close()
        shared.call(router.aclose())
    text = (first + out).decode()
    assert popen.returncode == 0, err
    assert text.startswith((" rc=52", " rc=56")), (text, err)  # empty reply / reset
    assert text.rstrip().endswith("hello /slow"), text
    assert shared.arrivals == ["/slow"]  # the second one never reached the upstream


def test_setup_timeout_kills_the_command(shared: Harness) -> None:
    """A spawn that never reports a sandbox (here: not bwrap at all) is
    killed when the setup time is up."""
    router = ProxyRouter.for_proxy(shared.proxy, setup_timeout=0.3)
    hook = router.bwrap_hook()
    popen = subprocess.Popen(["sleep", "30"], pass_fds=hook.pass_fds)
    started = time.monotonic()
    try:
        with pytest.raises(ProxyRoutingError, match="did not report its sandbox in time"):
            hook.after_spawn(popen.pid)
        assert popen.wait(5) == -9
        assert time.monotonic() - started < 3
    finally:
        hook.close()
        popen.kill()
        popen.wait()
    assert router.routes == ()


def test_an_unreported_sandbox_is_found_and_killed(shared: Harness) -> None:
    """If bwrap never reports its sandbox (the info read timed out), the
    sandbox child is still killed: killing bwrap alone would leave it
    running (bwrap's --die-with-parent does not cover it), and it would go
    on to the command at the end of file on the block fd."""
    marker = f"execguard-test-{uuid.uuid4()}"
    confinement = shared.backend.confine(["sh", "-c", "echo ran", marker],
                                         parse_policy(_READ_ONLY), "/tmp", {},
                                         proxy=shared.router)
    popen = subprocess.Popen(confinement.argv, env=confinement.env,
                             pass_fds=confinement.pass_fds, stdout=subprocess.PIPE)
    try:
        assert _until(lambda: len(_find_marker(marker)) == 2)  # bwrap and its sandbox child
        _kill_sandbox(popen.pid, None)
        assert popen.wait(5) == -9
    finally:
        confinement.close()  # end of file on the block fd
    assert _with_marker(marker) == []
    assert popen.communicate(timeout=5)[0] == b""


def test_a_spawn_without_after_spawn_never_runs(shared: Harness) -> None:
    """A spawner that kills bwrap and closes the confinement without having
    called after_spawn (it failed in between) must not let the sandbox,
    which outlives bwrap, run the command at the end of file on the block
    fd: closing kills the sandbox bwrap reported."""
    marker = f"execguard-test-{uuid.uuid4()}"
    confinement = shared.backend.confine(["sh", "-c", "echo ran", marker],
                                         parse_policy(_READ_ONLY), "/tmp", {},
                                         proxy=shared.router)
    info_fd = confinement.argv[confinement.argv.index("--info-fd") + 1]
    popen = subprocess.Popen(confinement.argv, env=confinement.env,
                             pass_fds=confinement.pass_fds, stdout=subprocess.PIPE)
    try:
        # bwrap closes its --info-fd once it has written the whole report
        # (the sandbox's pid), which it does before it lets the sandbox go
        # on; the sandbox then waits on the block fd for as long as it takes.
        assert _until(lambda: not os.path.lexists(f"/proc/{popen.pid}/fd/{info_fd}"),
                      _TIMEOUT)
        assert popen.poll() is None  # it reported: it did not fail
        assert len(_find_marker(marker)) == 2  # bwrap and its sandbox child
        popen.kill()
        assert popen.wait(_TIMEOUT) == -9
        assert len(_find_marker(marker)) == 1  # the sandbox outlives bwrap...
    finally:
        confinement.close()  # ...until this kills it, before the end of file on the block fd
    # Nothing but the sandbox held bwrap's stdout: it is gone, and never ran the command.
    assert popen.communicate(timeout=_TIMEOUT)[0] == b""
    assert _with_marker(marker) == []
    assert shared.router.routes == ()


def test_bwrap_setup_errors_stay_bwraps_to_report(shared: Harness) -> None:
    """A sandbox that bwrap cannot build (its writable root vanished) ends
    before its command whatever we do; its own message is the useful one."""
    root = tempfile.mkdtemp(dir="/var/tmp", prefix="execguard-route-")
    policy = parse_policy({"type": "workspaceWrite", "writableRoots": [root],
                           "excludeSlashTmp": True, "excludeTmpdirEnvVar": True})
    confinement = shared.backend.confine(["echo", "ran"], policy, "/tmp", {},
                                         proxy=shared.router)
    shutil.rmtree(root)
    try:
        popen = subprocess.Popen(confinement.argv, env=confinement.env,
                                 pass_fds=confinement.pass_fds, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        assert confinement.after_spawn is not None
        confinement.after_spawn(popen.pid)
        out, err = popen.communicate(timeout=_TIMEOUT)
    finally:
        confinement.close()
    assert popen.returncode == 1 and out == b""
    assert f"Can't find source path {root}" in err.decode()
    assert _until(lambda: shared.router.routes == ())


def test_bwrap_failing_early_is_reported(shared: Harness) -> None:
    router = ProxyRouter.for_proxy(shared.proxy)
    hook = router.bwrap_hook()
    popen = subprocess.Popen(["true"], pass_fds=hook.pass_fds)
    try:
        with pytest.raises(ProxyRoutingError, match="exited before it reported"):
            hook.after_spawn(popen.pid)
    finally:
        hook.close()
        popen.wait()


def test_a_failed_route_leaves_nothing_listening(shared: Harness) -> None:
    """Our own network namespace already has the proxy's ports taken (as
    root; unprivileged, entering it is refused): the route fails whole."""
    sockets = _socket_fds()
    with pytest.raises(ProxyRoutingError,
                       match=r"Address already in use|Operation not permitted"):
        route_into_sandbox(os.getpid(), shared.router)
    with pytest.raises(ProxyRoutingError, match="gone"):
        route_into_sandbox(2**22 + 12345, shared.router)  # above pid_max's default
    assert shared.router.routes == ()
    assert _until(lambda: _socket_fds() == sockets)


def test_full_network_ignores_the_proxy(shared: Harness) -> None:
    """With network access the policy is not restricted: nothing to route,
    and bwrap's argv is what it was without a proxy."""
    policy = parse_policy({"type": "readOnly", "networkAccess": True})
    with shared.backend.confine(["true"], policy, "/tmp", {}, proxy=shared.router) as routed, \
            shared.backend.confine(["true"], policy, "/tmp", {}) as plain:
        assert routed.after_spawn is None and len(routed.pass_fds) == 1  # the seccomp memfd
        fd = routed.argv.index("--seccomp") + 1
        assert routed.argv[:fd] + routed.argv[fd + 1:] == plain.argv[:fd] + plain.argv[fd + 1:]
        assert routed.env == plain.env
        assert "--unshare-net" not in routed.argv


def test_routing_costs_a_few_milliseconds(shared: Harness) -> None:
    """The route is built between the spawn and the command's start; keep
    it well under the cost of starting bwrap itself (a loose bound: the
    point is to notice a regression to a process start per command)."""
    costs = []
    for _ in range(5):
        run = shared.spawn(["true"])
        costs.append(run.routed_at)
        assert run.finish()[0] == 0
        run.confinement.close()
    assert sorted(costs)[2] < 0.1, costs
