"""The managed network proxy over real sockets with real clients: curl (plain
HTTP, CONNECT tunnels, SOCKS5 with remote and local name resolution), Python's
urllib and a raw SOCKS5 client, against local HTTP servers on 127.0.0.1 and
::1 and a TCP echo server. Names other than localhost either fail to resolve
(there is no network here) or come from an injected resolver."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import socket
import socketserver
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from execguard.sandbox.network import (
    BlockedRequest,
    DomainPolicy,
    NetworkPolicy,
    NetworkProxy,
    NetworkRequest,
    Verdict,
    proxy_environment,
)

BIG = random.Random(7).randbytes(20 * 1024 * 1024)
BIG_SHA = hashlib.sha256(BIG).hexdigest()
CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

# -- local servers -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestServer"

    def do_GET(self) -> None:
        body = BIG if self.path == "/big" else (
            f"hello from {self.server.label} {self.path} "  # type: ignore[attr-defined]
            f"host={self.headers.get('Host')} proxy-hdr={self.headers.get('Proxy-Connection')}"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[::-1])

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        while data := sock.recv(1 << 16):
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Servers:
    def __init__(self) -> None:
        self.v4 = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.v6 = _V6Server(("::1", 0), _Handler)
        self.echo = _EchoServer(("127.0.0.1", 0), _Echo)
        self.v4.label, self.v6.label = "v4", "v6"  # type: ignore[attr-defined]
        for server in (self.v4, self.v6, self.echo):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def v4_port(self) -> int:
        return self.v4.server_address[1]

    @property
    def v6_port(self) -> int:
        return self.v6.server_address[1]

    @property
    def echo_port(self) -> int:
        return self.echo.server_address[1]

    def stop(self) -> None:
        for server in (self.v4, self.v6, self.echo):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    running = Servers()
    yield running
    running.stop()


# -- helpers -----------------------------------------------------------------


def run(scenario: Awaitable[None]) -> None:
    """Run in the main task (so ``all_tasks()`` is just it and the proxy's)."""

    async def bounded() -> None:
        async with asyncio.timeout(60):
            await scenario

    asyncio.run(bounded())


async def curl(*args: str) -> tuple[int, bytes, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--max-time", "30", *args, env=CLEAN_ENV,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out, err.decode()


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def curl_http(proxy: NetworkProxy, url: str, *extra: str) -> tuple[int, dict[str, str],
                                                                         bytes]:
    code, out, err = await curl("-i", "-g", "-x", f"http://127.0.0.1:{proxy.http_port}",
                                *extra, url)
    assert code == 0, err
    return parse_response(out)


def blocked_json(host: str, reason: str, port: int, *, source: str = "baseline_policy",
                 decision: str = "deny") -> bytes:
    message = {
        "denied": "Domain denied by the sandbox policy.",
        "not_allowed": "Domain not in allowlist.",
        "not_allowed_local": "Sandbox policy blocks local/private network addresses.",
    }[reason]
    return (f'{{"status":"blocked","host":"{host}","reason":"{reason}","decision":"{decision}",'
            f'"source":"{source}","protocol":"http","port":{port},"message":"{message}"}}'
            ).encode()


async def raw_exchange(port: int, data: bytes, *, half_close: bool = False,
                       timeout: float = 5.0) -> bytes:
    """Send ``data`` and read until the proxy closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(timeout):
            return await reader.read(-1)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def socks_open(port: int, atyp: int, address: bytes, dport: int, *, command: int = 1,
                     ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw SOCKS5 client: no-auth greeting, then ``command`` to the target.
    Returns the reply code and the open stream."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x05\x02\x02\x00")  # offers user/pass and no-auth
    assert await reader.readexactly(2) == b"\x05\x00"
    writer.write(bytes([5, command, 0, atyp]) + address + dport.to_bytes(2, "big"))
    version, code, _, bound_type = await reader.readexactly(4)
    assert version == 5 and bound_type in (1, 4)
    await reader.readexactly((4 if bound_type == 1 else 16) + 2)
    return code, reader, writer


def domain(name: str) -> bytes:
    return bytes([len(name)]) + name.encode()


def table_resolver(table: Mapping[str, Sequence[str]]) -> tuple[
        Callable[[str, int], Awaitable[Sequence[str]]], list[str]]:
    calls: list[str] = []

    async def resolver(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        if host == "localhost":
            return ["127.0.0.1"]
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolver, calls


async def echo_through(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       payload: bytes) -> bytes:
    """Write ``payload`` while reading the echo, half-close, read to EOF."""

    async def send() -> None:
        view = memoryview(payload)
        for start in range(0, len(view), 1 << 20):
            writer.write(view[start:start + (1 << 20)])
            await writer.drain()
        writer.write_eof()

    sender = asyncio.create_task(send())
    received = await reader.read(-1)
    await sender
    return received


def proxy_tasks() -> list[asyncio.Task[Any]]:
    """Live tasks running the proxy's code (connections, relays)."""
    return [t for t in asyncio.all_tasks()
            if "sandbox/network" in getattr(t.get_coro(), "cr_code", open_fds.__code__
                                            ).co_filename]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


SPEC_DOMAINS = [("localhost", "allow"), ("*.allowed.example", "allow"),
                ("denied.example", "deny")]

# -- the spec's observed case ------------------------------------------------


def test_spec_observed_case_through_curl(servers: Servers) -> None:
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy.from_rules(SPEC_DOMAINS), observer=blocked.append,
                           dns_timeout=1.0)

    async def scenario() -> None:
        async with NetworkProxy(policy, context="curl test") as proxy:
            status, headers, body = await curl_http(
                proxy, f"http://localhost:{servers.v4_port}/path?q=1")
            assert status == 200
            assert body.startswith(b"hello from v4 /path?q=1 host=localhost:")
            assert b"proxy-hdr=None" in body  # hop-by-hop proxy headers are not forwarded

            # localhost resolves to 127.0.0.1 and ::1; a server on ::1 only is reached too
            status, _, body = await curl_http(proxy, f"http://localhost:{servers.v6_port}/")
            assert (status, body[:13]) == (200, b"hello from v6")

            cases = [
                (f"http://127.0.0.1:{servers.v4_port}/", "127.0.0.1", servers.v4_port,
                 "not_allowed_local"),
                ("http://denied.example/", "denied.example", 80, "denied"),
                ("http://allowed.example:8080/", "allowed.example", 8080, "not_allowed"),
                ("http://x.allowed.example/", "x.allowed.example", 80, "not_allowed_local"),
            ]
            for url, host, port, reason in cases:
                status, headers, body = await curl_http(proxy, url)
                assert status == 403
                assert headers["content-type"] == "application/json"
                assert headers["x-proxy-error"] == (
                    "blocked-by-denylist" if reason == "denied" else "blocked-by-allowlist")
                assert body == blocked_json(host, reason, port)
            assert json.loads(blocked_json("denied.example", "denied", 80)) == {
                "status": "blocked", "host": "denied.example", "reason": "denied",
                "decision": "deny", "source": "baseline_policy", "protocol": "http",
                "port": 80, "message": "Domain denied by the sandbox policy."}

    run(scenario())
    assert [(b.host, b.port, b.reason, b.protocol, b.source, b.decision, b.method, b.context)
            for b in blocked] == [
        ("127.0.0.1", servers.v4_port, "not_allowed_local", "http", "baseline_policy", "deny",
         "GET", "curl test"),
        ("denied.example", 80, "denied", "http", "baseline_policy", "deny", "GET", "curl test"),
        ("allowed.example", 8080, "not_allowed", "http", "baseline_policy", "deny", "GET",
         "curl test"),
        ("x.allowed.example", 80, "not_allowed_local", "http", "baseline_policy", "deny", "GET",
         "curl test"),
    ]
    assert all(b.time > 0 for b in blocked)


def test_connect_tunnels_through_curl(servers: Servers) -> None:
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy.from_rules(SPEC_DOMAINS), observer=blocked.append)

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            proxy_url = f"http://127.0.0.1:{proxy.http_port}"
            code, out, err = await curl("-p", "-x", proxy_url,
                                        f"http://localhost:{servers.v4_port}/tunnelled")
            assert code == 0, err
            assert out.startswith(b"hello from v4 /tunnelled")

            code, _, err = await curl("-p", "-x", proxy_url,
                                      f"http://127.0.0.1:{servers.v4_port}/")
            assert code == 56 and "CONNECT tunnel failed, response 403" in err

            # the raw refusal: 403, text/plain, the header, the message
            raw = await raw_exchange(proxy.http_port,
                                     b"CONNECT denied.example:443 HTTP/1.1\r\n"
                                     b"Host: denied.example:443\r\n\r\n")
            status, headers, body = parse_response(raw)
            assert (status, headers["content-type"], headers["x-proxy-error"], body) == (
                403, "text/plain", "blocked-by-denylist", b"Domain denied by the sandbox policy.")

            # a CONNECT to the echo server carries arbitrary bytes both ways
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.http_port)
            writer.write(f"CONNECT localhost:{servers.echo_port} HTTP/1.1\r\n\r\n".encode()
                         + b"early bytes|")  # sent before the 200: must not be lost
            assert await reader.readuntil(b"\r\n\r\n") == (
                b"HTTP/1.1 200 Connection established\r\n\r\n")
            assert await echo_through(reader, writer, b"after") == b"early bytes|after"
            writer.close()

    run(scenario())
    assert [(b.host, b.protocol, b.method, b.reason) for b in blocked] == [
        ("127.0.0.1", "https_connect", "CONNECT", "not_allowed_local"),
        ("denied.example", "https_connect", "CONNECT", "denied"),
    ]


def test_socks5_through_curl(servers: Servers) -> None:
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy.from_rules(SPEC_DOMAINS), observer=blocked.append)

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            socks = f"127.0.0.1:{proxy.socks_port}"
            code, out, err = await curl("--socks5-hostname", socks,
                                        f"http://localhost:{servers.v4_port}/socks")
            assert code == 0, err
            assert out.startswith(b"hello from v4 /socks")
            code, _, err = await curl("--socks5-hostname", socks, "http://denied.example/")
            assert code == 97 and err.rstrip().endswith("(2)"), err  # reply 2: not allowed
            # --socks5 resolves locally: the proxy sees 127.0.0.1, which is not allowlisted
            code, _, err = await curl("--socks5", socks, f"http://localhost:{servers.v4_port}/")
            assert code == 97 and err.rstrip().endswith("(2)"), err  # reply 2: not allowed

    run(scenario())
    assert [(b.host, b.protocol, b.method, b.reason) for b in blocked] == [
        ("denied.example", "socks5_tcp", None, "denied"),
        ("127.0.0.1", "socks5_tcp", None, "not_allowed_local"),
    ]


def test_urllib_proxy_handler(servers: Servers, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    policy = NetworkPolicy(DomainPolicy.from_rules(SPEC_DOMAINS))

    def fetch(proxy_port: int, url: str, data: bytes | None = None) -> tuple[int, bytes, str]:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{proxy_port}"}))
        try:
            with opener.open(url, data=data, timeout=10) as response:
                return response.status, response.read(), response.headers.get("x-proxy-error", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("x-proxy-error", "")

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            status, body, _ = await asyncio.to_thread(
                fetch, proxy.http_port, f"http://localhost:{servers.v4_port}/urllib")
            assert status == 200 and body.startswith(b"hello from v4 /urllib")
            payload = os.urandom(300_000)
            status, body, _ = await asyncio.to_thread(
                fetch, proxy.http_port, f"http://localhost:{servers.v4_port}/echo", payload)
            assert (status, body) == (200, payload[::-1])  # request bodies are forwarded
            status, body, header = await asyncio.to_thread(
                fetch, proxy.http_port, f"http://127.0.0.1:{servers.v4_port}/")
            assert (status, header) == (403, "blocked-by-allowlist")
            assert body == blocked_json("127.0.0.1", "not_allowed_local", servers.v4_port)

    run(scenario())


def test_raw_socks5_client(servers: Servers) -> None:
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy(["localhost", "[::1]"]), observer=blocked.append)

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            port = proxy.socks_port
            code, reader, writer = await socks_open(port, 3, domain("localhost"),
                                                    servers.echo_port)
            assert code == 0
            assert await echo_through(reader, writer, b"ping" * 1000) == b"ping" * 1000
            writer.close()

            code, reader, writer = await socks_open(
                port, 4, socket.inet_pton(socket.AF_INET6, "::1"), servers.v6_port)
            assert code == 0
            writer.write(b"GET /v6 HTTP/1.0\r\nHost: x\r\n\r\n")
            assert b"hello from v6 /v6" in await reader.read(-1)
            writer.close()

            for atyp, address in ((1, socket.inet_aton("127.0.0.1")), (3, domain("127.0.0.1")),
                                  (3, domain("localhost.allowed.not")),
                                  (1, socket.inet_aton("10.0.0.1"))):
                code, reader, writer = await socks_open(port, atyp, address, servers.echo_port)
                assert code == 2, address
                assert await reader.read(-1) == b""  # and the proxy hangs up
                writer.close()

            for command in (2, 3):  # BIND, UDP ASSOCIATE
                code, reader, writer = await socks_open(port, 3, domain("localhost"),
                                                        servers.echo_port, command=command)
                assert code == 7
                writer.close()

            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x05\x01\x00\x05\x01\x00\x09")  # unknown address type
            assert await reader.read(-1) == b"\x05\x00\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00"
            writer.close()

            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"\x05\x01\x02")  # user/pass only
            assert await reader.read(-1) == b"\x05\xff"
            writer.close()

            code, reader, writer = await socks_open(port, 3, domain("localhost"), 1)
            assert code == 5  # nothing listens on port 1: connection refused
            writer.close()

    run(scenario())
    assert [(b.host, b.reason) for b in blocked] == [
        ("127.0.0.1", "not_allowed_local"), ("127.0.0.1", "not_allowed_local"),
        ("localhost.allowed.not", "not_allowed"), ("10.0.0.1", "not_allowed_local")]


def test_ipv6_literals_and_allow_local_binding(servers: Servers) -> None:
    async def scenario() -> None:
        v6_url = f"http://[::1]:{servers.v6_port}/six"
        async with NetworkProxy(NetworkPolicy(DomainPolicy(["[::1]"]))) as proxy:
            status, _, body = await curl_http(proxy, v6_url)
            assert status == 200 and body.startswith(b"hello from v6 /six host=[::1]:")
            status, _, body = await curl_http(proxy, f"http://[::ffff:127.0.0.1]:{servers.v4_port}/")
            assert status == 403
            assert body == blocked_json("::ffff:127.0.0.1", "not_allowed_local", servers.v4_port)

        async with NetworkProxy(NetworkPolicy(DomainPolicy(["*"]))) as proxy:
            for url in (v6_url, f"http://127.0.0.1:{servers.v4_port}/",
                        f"http://localhost:{servers.v4_port}/"):
                status, _, body = await curl_http(proxy, url)
                assert (status, json.loads(body)["reason"]) == (403, "not_allowed_local"), url

        local = NetworkPolicy(DomainPolicy(["*"], ["localhost"]), allow_local_binding=True)
        async with NetworkProxy(local) as proxy:
            status, _, _ = await curl_http(proxy, v6_url)
            assert status == 200
            status, _, _ = await curl_http(proxy, f"http://127.0.0.1:{servers.v4_port}/")
            assert status == 200
            status, _, body = await curl_http(proxy, f"http://localhost:{servers.v4_port}/")
            assert (status, json.loads(body)["reason"]) == (403, "denied")
            status, _, body = await curl_http(proxy, "http://unresolvable.invalid/")
            assert status == 502 and b"resolve" in body

    run(scenario())


def test_dns_rebinding_is_checked_on_every_address_and_never_re_resolved(
        servers: Servers) -> None:
    resolver, calls = table_resolver({
        "rebind.example": ["127.0.0.1"],
        "mixed.example": ["93.184.216.34", "127.0.0.1"],
        "metadata.example": ["169.254.169.254"],
    })
    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy(["*.example"]), resolver=resolver,
                           observer=blocked.append)

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            for name in ("rebind.example", "mixed.example", "metadata.example"):
                status, _, body = await curl_http(proxy, f"http://{name}:{servers.v4_port}/")
                assert body == blocked_json(name, "not_allowed_local", servers.v4_port)
            code, _, err = await curl("-p", "-x", f"http://127.0.0.1:{proxy.http_port}",
                                      f"http://rebind.example:{servers.v4_port}/")
            assert "response 403" in err
            code, _, err = await curl("--socks5-hostname", f"127.0.0.1:{proxy.socks_port}",
                                      f"http://rebind.example:{servers.v4_port}/")
            assert code == 97

        # With local targets allowed, the first answer is the one connected to:
        # a later answer (an unroutable TEST-NET address) is never asked for.
        answers = iter([["127.0.0.1"], ["192.0.2.1"], ["192.0.2.1"]])
        flips: list[str] = []

        async def flipping(host: str, port: int) -> Sequence[str]:
            flips.append(host)
            return next(answers)

        flip = NetworkPolicy(DomainPolicy(["flip.example"]), resolver=flipping,
                             allow_local_binding=True)
        async with NetworkProxy(flip) as proxy:
            status, _, body = await curl_http(proxy, f"http://flip.example:{servers.v4_port}/")
            assert (status, body[:13]) == (200, b"hello from v4")
        assert flips == ["flip.example"]

    run(scenario())
    assert calls == ["rebind.example", "mixed.example", "metadata.example", "rebind.example",
                     "rebind.example"]
    assert {b.reason for b in blocked} == {"not_allowed_local"} and len(blocked) == 5


def test_decider_approves_and_denies_concurrent_requests(servers: Servers) -> None:
    resolver, _ = table_resolver({"approve.test": ["127.0.0.1"], "deny.test": ["127.0.0.1"]})
    release = asyncio.Event()
    asked: list[NetworkRequest] = []

    async def decider(request: NetworkRequest) -> Verdict:
        asked.append(request)
        await release.wait()
        verdicts: dict[str, Verdict] = {"approve.test": "allow", "ask.test": "ask"}
        return verdicts.get(request.host, "deny")

    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy(["localhost"]), decider=decider, resolver=resolver,
                           allow_local_binding=True, observer=blocked.append)

    async def scenario() -> None:
        nonlocal release
        release = asyncio.Event()
        async with NetworkProxy(policy, context=("python", "-m", "pip")) as proxy:
            proxy_url = f"http://127.0.0.1:{proxy.http_port}"
            jobs = [curl("-i", "-x", proxy_url, f"http://approve.test:{servers.v4_port}/{i}")
                    for i in range(5)]
            jobs += [curl("-i", "-x", proxy_url, f"http://deny.test:{servers.v4_port}/")
                     for _ in range(2)]
            jobs.append(curl("-p", "-x", proxy_url, f"http://ask.test:{servers.v4_port}/"))
            jobs.append(curl("--socks5-hostname", f"127.0.0.1:{proxy.socks_port}",
                             f"http://approve.test:{servers.v4_port}/socks"))
            tasks = [asyncio.create_task(job) for job in jobs]
            async with asyncio.timeout(15):
                while len(asked) < len(jobs):
                    await asyncio.sleep(0.02)
            # allowlisted hosts do not wait for pending approvals of others
            status, _, _ = await curl_http(proxy, f"http://localhost:{servers.v4_port}/")
            assert status == 200
            assert not any(task.done() for task in tasks)  # every request is held open
            release.set()
            results = await asyncio.gather(*tasks)

        for code, out, _ in results[:5]:
            status, _, body = parse_response(out)
            assert (code, status, body[:13]) == (0, 200, b"hello from v4")
        for _, out, _ in results[5:7]:
            status, headers, body = parse_response(out)
            assert (status, headers["x-proxy-error"]) == (403, "blocked-by-allowlist")
            assert body == blocked_json("deny.test", "not_allowed", servers.v4_port,
                                        source="decider")
        assert "response 403" in results[7][2]
        assert results[8][0] == 0 and results[8][1].startswith(b"hello from v4 /socks")

    run(scenario())
    assert sorted({(r.host, r.protocol, r.method) for r in asked}) == [
        ("approve.test", "http", "GET"), ("approve.test", "socks5_tcp", None),
        ("ask.test", "https_connect", "CONNECT"), ("deny.test", "http", "GET")]
    assert {r.context for r in asked} == {("python", "-m", "pip")}
    assert {r.port for r in asked} == {servers.v4_port}
    assert sorted((b.host, b.source, b.decision) for b in blocked) == [
        ("ask.test", "decider", "ask"), ("deny.test", "decider", "deny"),
        ("deny.test", "decider", "deny")]


def test_garbage_never_hurts_the_proxy(servers: Servers) -> None:
    policy = NetworkPolicy(DomainPolicy(["localhost"]))
    rng = random.Random(11)

    async def scenario() -> None:
        async with NetworkProxy(policy, header_timeout=0.5) as proxy:
            http, socks = proxy.http_port, proxy.socks_port
            noise = [rng.randbytes(rng.randrange(1, 5000)).replace(b"\r\n\r\n", b"")
                     for _ in range(20)]
            jobs: list[Awaitable[bytes]] = []
            jobs += [raw_exchange(http, n, half_close=True) for n in noise]
            jobs += [raw_exchange(socks, n, half_close=True) for n in noise]
            jobs += [raw_exchange(http, n + b"\r\n\r\n") for n in noise[:5]]
            results = await asyncio.gather(*jobs)
            assert all(r == b"" for r in results[:20])  # no head: hang up silently
            assert all(not r or r[:1] == b"\x05" for r in results[20:40])
            for raw in results[40:]:
                assert parse_response(raw)[0] in (400, 505)

            # a head over 64 KiB: 431 and hang up
            huge = b"GET http://localhost/ HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
            assert parse_response(await raw_exchange(http, huge))[0] == 431

            # malformed requests that do end their head
            for head in (b"GET / HTTP/1.1\r\n\r\n", b"GET https://localhost/ HTTP/1.1\r\n\r\n",
                         b"CONNECT localhost HTTP/1.1\r\n\r\n", b"CONNECT :80 HTTP/1.1\r\n\r\n",
                         b"CONNECT [::1 HTTP/1.1\r\n\r\n", b"CONNECT a:99999 HTTP/1.1\r\n\r\n",
                         b"GET http://[zz]/ HTTP/1.1\r\n\r\n",
                         b"GET http://localhost/ HTTP/1.1\r\nBad Header\r\n\r\n",
                         b"GET http://localhost/ HTTP/2.0\r\n\r\n",
                         b"G\x00T http://localhost/ HTTP/1.1\r\n\r\n"):
                status = parse_response(await raw_exchange(http, head))[0]
                assert status in (400, 505), head

            # half-open: part of a head, then the client shuts its side
            assert await raw_exchange(http, b"GET http://localhost/ HTTP/1.1\r\nHo",
                                      half_close=True) == b""
            # slowloris: part of a head, then nothing: 408 after the header timeout
            raw = await raw_exchange(http, b"GET http://localhost/ HTTP/1.1\r\nHo", timeout=3)
            assert parse_response(raw)[0] == 408
            # a stalled SOCKS handshake is dropped too
            assert await raw_exchange(socks, b"\x05\x01", timeout=3) == b""
            # a client that vanishes right after connecting
            for _ in range(20):
                sock = socket.create_connection(("127.0.0.1", http))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                sock.close()  # RST

            status, _, body = await curl_http(proxy, f"http://localhost:{servers.v4_port}/ok")
            assert (status, body[:17]) == (200, b"hello from v4 /ok")
            async with asyncio.timeout(5):  # every connection task has ended
                while proxy_tasks():
                    await asyncio.sleep(0.02)

    run(scenario())


def test_connections_beyond_the_cap_are_closed_on_arrival(servers: Servers) -> None:
    async def scenario() -> None:
        policy = NetworkPolicy(DomainPolicy(["localhost"]))
        async with NetworkProxy(policy, max_connections=2) as proxy:
            held = [await asyncio.open_connection("127.0.0.1", port)
                    for port in (proxy.http_port, proxy.socks_port)]
            async with asyncio.timeout(5):
                while len(proxy_tasks()) < 2:
                    await asyncio.sleep(0.01)
            for port in (proxy.http_port, proxy.socks_port):
                try:
                    refused = await raw_exchange(port, b"\x05\x01\x00")
                except ConnectionResetError:
                    refused = b""
                assert refused == b""
            for _, writer in held:
                writer.close()
            async with asyncio.timeout(5):
                while proxy_tasks():
                    await asyncio.sleep(0.01)
            status, _, _ = await curl_http(proxy, f"http://localhost:{servers.v4_port}/")
            assert status == 200

    run(scenario())


def test_close_ends_every_connection_and_leaves_nothing_behind(servers: Servers) -> None:
    asked = asyncio.Event()

    async def never(request: NetworkRequest) -> Verdict:
        asked.set()
        await asyncio.Event().wait()
        return "allow"

    async def scenario() -> None:
        nonlocal asked
        asked = asyncio.Event()
        await asyncio.sleep(0)
        baseline = open_fds()
        policy = NetworkPolicy(DomainPolicy(["localhost"]), decider=never)
        proxy = NetworkProxy(policy)
        await proxy.start()
        http, socks = proxy.http_port, proxy.socks_port

        idle = await asyncio.open_connection("127.0.0.1", http)
        idle[1].write(b"GET http://localhost/ HTTP/1.1\r\n")
        pending = asyncio.create_task(curl("-x", f"http://127.0.0.1:{http}",
                                           "http://waiting.example/"))
        tunnel = await asyncio.open_connection("127.0.0.1", http)
        tunnel[1].write(f"CONNECT localhost:{servers.echo_port} HTTP/1.1\r\n\r\n".encode())
        await tunnel[0].readuntil(b"\r\n\r\n")
        tunnel[1].write(b"x")
        assert await tunnel[0].readexactly(1) == b"x"
        code, socks_reader, socks_writer = await socks_open(socks, 3, domain("localhost"),
                                                            servers.echo_port)
        assert code == 0
        await asyncio.wait_for(asked.wait(), 10)
        assert len(proxy_tasks()) >= 4  # the check below would see them

        await proxy.close()
        await proxy.close()  # idempotent
        assert proxy_tasks() == []
        code, _, _ = await pending
        assert code == 52  # curl: empty reply from server
        for reader in (idle[0], tunnel[0], socks_reader):
            assert await asyncio.wait_for(reader.read(-1), 5) == b""
        for writer in (idle[1], tunnel[1], socks_writer):
            writer.close()
        for port in (http, socks):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
        async with asyncio.timeout(5):  # the echo server closes its ends on its own time
            while open_fds() > baseline:
                await asyncio.sleep(0.02)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario())


def test_twenty_megabytes_byte_exact_through_connect_and_socks(servers: Servers,
                                                             tmp_path: Path) -> None:
    policy = NetworkPolicy(DomainPolicy(["localhost"]))

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            url = f"http://localhost:{servers.v4_port}/big"
            outputs = [tmp_path / "connect.bin", tmp_path / "socks.bin"]
            results = await asyncio.gather(
                curl("-p", "-x", f"http://127.0.0.1:{proxy.http_port}", "-o", str(outputs[0]),
                     url),
                curl("--socks5-hostname", f"127.0.0.1:{proxy.socks_port}", "-o",
                     str(outputs[1]), url),
            )
            assert [r[0] for r in results] == [0, 0], results
            for output in outputs:
                assert hashlib.sha256(output.read_bytes()).hexdigest() == BIG_SHA

            # and upwards: 20 MB echoed through each, concurrently, half-closed at the end
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.http_port)
            writer.write(f"CONNECT localhost:{servers.echo_port} HTTP/1.1\r\n\r\n".encode())
            await reader.readuntil(b"\r\n\r\n")
            code, socks_reader, socks_writer = await socks_open(
                proxy.socks_port, 1, socket.inet_aton("127.0.0.1"), servers.echo_port)
            assert code == 2  # the IP literal is not the allowlisted name
            socks_writer.close()
            code, socks_reader, socks_writer = await socks_open(
                proxy.socks_port, 3, domain("localhost"), servers.echo_port)
            assert code == 0
            echoed = await asyncio.gather(echo_through(reader, writer, BIG),
                                          echo_through(socks_reader, socks_writer, BIG))
            assert [hashlib.sha256(e).hexdigest() for e in echoed] == [BIG_SHA, BIG_SHA]
            writer.close()
            socks_writer.close()

    run(scenario())


def test_environment_points_real_clients_at_the_proxy(servers: Servers) -> None:
    policy = NetworkPolicy(DomainPolicy(["localhost"]))

    async def scenario() -> None:
        async with NetworkProxy(policy) as proxy:
            env = {**CLEAN_ENV, "NO_PROXY": "localhost", "no_proxy": "localhost",
                   **proxy_environment(proxy.http_port, proxy.socks_port)}
            for extra in ([], ["--proxy", env["ALL_PROXY"]]):
                proc = await asyncio.create_subprocess_exec(
                    "curl", "-sS", "-i", *extra, f"http://127.0.0.1:{servers.v4_port}/", env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await proc.communicate()
                if extra:  # through SOCKS: refused by ruleset
                    assert proc.returncode == 97, err
                else:  # through HTTP_PROXY (NO_PROXY was emptied): the JSON refusal
                    assert parse_response(out)[0] == 403

    run(scenario())


# -- more listeners: serve_sockets -------------------------------------------


def tcp_listener() -> socket.socket:
    return socket.create_server(("127.0.0.1", 0))


def unix_listener() -> tuple[socket.socket, str]:
    """A listening Unix socket (abstract: no file to clean up) and its name."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0execguard-test-{uuid.uuid4()}"
    sock.bind(name)
    sock.listen()
    return sock, name


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port


async def socks_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          host: str, port: int) -> int:
    """A SOCKS5 CONNECT to ``host`` (by name) on an open stream: the reply code."""
    writer.write(b"\x05\x01\x00")
    assert await reader.readexactly(2) == b"\x05\x00"
    writer.write(b"\x05\x01\x00\x03" + domain(host) + port.to_bytes(2, "big"))
    reply = await reader.readexactly(10)
    return reply[1]


async def open_tunnel(port: int, target_port: int,
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A CONNECT tunnel to ``localhost:target_port`` (the echo server), checked."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"CONNECT localhost:{target_port} HTTP/1.1\r\n\r\n".encode())
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection established\r\n\r\n"
    writer.write(b"x")
    assert await reader.readexactly(1) == b"x"
    return reader, writer


async def ended(reader: asyncio.StreamReader) -> bool:
    """Whether the connection ends (end of stream or reset) with nothing more."""
    try:
        return await asyncio.wait_for(reader.read(-1), 5) == b""
    except ConnectionResetError:
        return True


async def rejected(port: int) -> bool:
    """Whether a connection to ``port`` is accepted and closed at once."""
    try:
        return await raw_exchange(port, b"\x05\x01\x00") == b""
    except ConnectionResetError:
        return True


def test_served_sockets_tag_requests_with_their_own_context(servers: Servers) -> None:
    """Each pair given to serve_sockets is a full proxy (HTTP, CONNECT,
    SOCKS5; TCP or Unix listeners alike) whose requests carry the pair's
    context; the proxy's own listeners keep the proxy's."""
    resolver, _ = table_resolver({})
    asked: list[NetworkRequest] = []

    async def decider(request: NetworkRequest) -> Verdict:
        asked.append(request)
        return "deny"

    blocked: list[BlockedRequest] = []
    policy = NetworkPolicy(DomainPolicy(["localhost"], ["denied.example"]), decider=decider,
                           resolver=resolver, observer=blocked.append)

    async def scenario() -> None:
        async with NetworkProxy(policy, context="own") as proxy:
            tcp_http, tcp_socks = tcp_listener(), tcp_listener()
            http = f"http://127.0.0.1:{port_of(tcp_http)}"
            socks = f"127.0.0.1:{port_of(tcp_socks)}"
            tcp = await proxy.serve_sockets(tcp_http, tcp_socks, context=("tcp", 1))
            (unix_http, http_name), (unix_socks, socks_name) = unix_listener(), unix_listener()
            unix = await proxy.serve_sockets(unix_http, unix_socks, context="unix")
            assert set(proxy.listeners) == {tcp, unix}
            assert (tcp.context, unix.context) == (("tcp", 1), "unix")

            url = f"http://localhost:{servers.v4_port}/pair"
            for args in (["-x", http], ["-p", "-x", http], ["--socks5-hostname", socks]):
                code, out, err = await curl(*args, url)
                assert (code, out[:19]) == (0, b"hello from v4 /pair"), err
                await curl(*args, "http://tcp.example/")  # asked, refused
            status, _, _ = parse_response((await curl("-i", "-x", http,
                                                      "http://denied.example/"))[1])
            assert status == 403

            reader, writer = await asyncio.open_unix_connection(http_name)
            writer.write(b"GET http://unix.example/ HTTP/1.1\r\n\r\n")
            assert parse_response(await reader.read(-1))[0] == 403
            writer.close()
            reader, writer = await asyncio.open_unix_connection(socks_name)
            assert await socks_handshake(reader, writer, "unix.example", 80) == 2
            writer.close()

            await curl("-x", f"http://127.0.0.1:{proxy.http_port}", "http://own.example/")

    run(scenario())
    tcp_context = str(("tcp", 1))
    assert sorted((r.host, r.protocol, str(r.context)) for r in asked) == [
        ("own.example", "http", "own"),
        ("tcp.example", "http", tcp_context),
        ("tcp.example", "https_connect", tcp_context),
        ("tcp.example", "socks5_tcp", tcp_context),
        ("unix.example", "http", "unix"),
        ("unix.example", "socks5_tcp", "unix"),
    ]
    assert sorted((b.host, b.reason, str(b.context)) for b in blocked) == [
        ("denied.example", "denied", tcp_context),
        ("own.example", "not_allowed", "own"),
        *[("tcp.example", "not_allowed", tcp_context)] * 3,
        *[("unix.example", "not_allowed", "unix")] * 2,
    ]


def test_closing_served_sockets_ends_only_their_connections(servers: Servers) -> None:
    """Closing a pair (from another thread) stops its listeners and ends its
    tunnels and pending decisions, with a reset; the other pair and the
    proxy's own listeners go on. Closing the proxy then ends the rest."""
    asked: list[NetworkRequest] = []

    async def never(request: NetworkRequest) -> Verdict:
        asked.append(request)
        await asyncio.Event().wait()
        return "allow"

    resolver, _ = table_resolver({})
    policy = NetworkPolicy(DomainPolicy(["localhost"]), decider=never, resolver=resolver)

    async def scenario() -> None:
        await asyncio.sleep(0)
        baseline = open_fds()
        proxy = NetworkProxy(policy)
        await proxy.start()
        pairs, ports = {}, {}
        for name in ("closed", "spared"):
            http, socks = tcp_listener(), tcp_listener()
            ports[name] = (port_of(http), port_of(socks))
            pairs[name] = await proxy.serve_sockets(http, socks, context=name)
        ports["own"] = (proxy.http_port, proxy.socks_port)
        streams: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        for name, (http_port, socks_port) in ports.items():
            tunnel = await open_tunnel(http_port, servers.echo_port)
            code, socks_reader, socks_writer = await socks_open(
                socks_port, 3, domain("localhost"), servers.echo_port)
            assert code == 0
            pending = await asyncio.open_connection("127.0.0.1", http_port)
            pending[1].write(b"GET http://held.example/ HTTP/1.1\r\n\r\n")
            streams[name] = [tunnel, (socks_reader, socks_writer), pending]
        async with asyncio.timeout(10):
            while len(asked) < 3:
                await asyncio.sleep(0.01)
        assert sorted(str(r.context) for r in asked) == ["None", "closed", "spared"]
        closed, spared = pairs["closed"], pairs["spared"]
        assert closed.active_connections == spared.active_connections == 3
        assert closed.open_sockets == 2 + 3

        await asyncio.to_thread(closed.close)
        await closed.wait_closed()
        closed.close()  # idempotent
        assert closed.closed and closed.active_connections == closed.open_sockets == 0
        assert proxy.listeners == (spared,)
        for reader, _ in streams["closed"]:
            assert await ended(reader)
        for port in ports["closed"]:
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)
        for name in ("spared", "own"):
            tunnel, socks_stream, (pending_reader, _) = streams[name]
            for reader, writer in (tunnel, socks_stream):
                writer.write(b"still there")
                assert await reader.readexactly(11) == b"still there"
            with pytest.raises(TimeoutError):  # still waiting for its decision
                await asyncio.wait_for(pending_reader.read(1), 0.2)
        assert spared.active_connections == 3 and not spared.closed

        await proxy.close()
        assert spared.closed and spared.open_sockets == 0 and proxy.listeners == ()
        await spared.wait_closed()
        for name in ("spared", "own"):
            for reader, _ in streams[name]:
                assert await ended(reader)
        for name_streams in streams.values():
            for _, writer in name_streams:
                writer.close()
        assert proxy_tasks() == []
        async with asyncio.timeout(5):  # the echo server closes its ends on its own time
            while open_fds() > baseline:
                await asyncio.sleep(0.02)

    run(scenario())


def test_serve_sockets_only_while_the_proxy_serves() -> None:
    """serve_sockets refuses (and closes the sockets it was given) before the
    proxy starts, on another event loop, with a bad cap, and once the proxy
    is closing, even in the middle of the call."""
    policy = NetworkPolicy(DomainPolicy(["localhost"]))

    def given() -> tuple[socket.socket, socket.socket]:
        pair = (tcp_listener(), tcp_listener())
        offered.append(pair)
        return pair

    offered: list[tuple[socket.socket, socket.socket]] = []

    async def scenario() -> None:
        await asyncio.sleep(0)
        baseline = open_fds()
        proxy = NetworkProxy(policy)
        with pytest.raises(RuntimeError, match="not started"):
            await proxy.serve_sockets(*given())
        await proxy.start()
        with pytest.raises(RuntimeError, match="event loop"):
            await asyncio.to_thread(asyncio.run, proxy.serve_sockets(*given()))
        with pytest.raises(ValueError, match="max_connections"):
            await proxy.serve_sockets(*given(), max_connections=0)
        # The proxy closes while the call is serving its first socket.
        starting = asyncio.create_task(proxy.serve_sockets(*given(), context="late"))
        await asyncio.sleep(0)
        assert [pair.context for pair in proxy.listeners] == ["late"]  # in the middle
        await proxy.close()
        with pytest.raises(RuntimeError, match="closed"):
            await starting
        with pytest.raises(RuntimeError, match="closed"):
            await proxy.serve_sockets(*given())
        assert proxy.listeners == ()
        assert [sock.fileno() for pair in offered for sock in pair] == [-1] * 10
        assert open_fds() == baseline
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario())


def test_served_sockets_have_their_own_cap_and_share_the_proxys(servers: Servers) -> None:
    async def scenario() -> None:
        policy = NetworkPolicy(DomainPolicy(["localhost"]))
        async with NetworkProxy(policy, max_connections=3) as proxy:
            capped_ports = tcp_listener(), tcp_listener()
            capped_http, capped_socks = (port_of(sock) for sock in capped_ports)
            capped = await proxy.serve_sockets(*capped_ports, max_connections=1)
            free_ports = tcp_listener(), tcp_listener()
            free_http, free_socks = (port_of(sock) for sock in free_ports)
            free = await proxy.serve_sockets(*free_ports)

            held = [await asyncio.open_connection("127.0.0.1", capped_http)]
            async with asyncio.timeout(5):
                while capped.active_connections < 1:
                    await asyncio.sleep(0.01)
            assert await rejected(capped_http) and await rejected(capped_socks)
            held += [await asyncio.open_connection("127.0.0.1", port)
                     for port in (free_http, free_socks)]
            async with asyncio.timeout(5):
                while free.active_connections < 2:
                    await asyncio.sleep(0.01)
            # Three in all: the proxy's cap holds for every listener.
            for port in (proxy.http_port, free_http, free_socks):
                assert await rejected(port)
            assert (capped.active_connections, free.active_connections) == (1, 2)

            for _, writer in held:
                writer.close()
            async with asyncio.timeout(5):
                while proxy_tasks():
                    await asyncio.sleep(0.01)
            for port in (capped_http, free_http, proxy.http_port):
                code, out, err = await curl("-x", f"http://127.0.0.1:{port}",
                                            f"http://localhost:{servers.v4_port}/")
                assert (code, out[:13]) == (0, b"hello from v4"), err

    run(scenario())
