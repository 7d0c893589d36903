"""The origin servers of the network proof tests work with real clients
(curl, urllib, git, pip) from the host, start fast, and leave nothing
behind: no thread, descriptor, child process, network namespace or veth."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tests.network_servers import (
    CHUNK,
    HttpOrigin,
    TlsOrigin,
    _record_hash,
    client_environment,
    expected_bytes,
    git_http_origin,
    http_origin,
    list_test_namespaces,
    netns_origin,
    origin_process,
    pip_index_origin,
    tls_origin,
)

_TIMEOUT = 30
# urllib without the proxies of the environment (HTTP_PROXY would be used).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _fds() -> dict[int, str]:
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
    return fds


@contextlib.contextmanager
def no_leaks() -> Iterator[None]:
    """The block leaves no new thread, open descriptor or child process."""
    threads = set(threading.enumerate())
    fds = _fds()
    me = psutil.Process()
    children = {c.pid for c in me.children(recursive=True)}
    yield
    new_threads = [t.name for t in threading.enumerate() if t not in threads]
    assert not new_threads, f"threads left running: {new_threads}"
    new_fds = {fd: target for fd, target in _fds().items() if fds.get(fd) != target}
    assert not new_fds, f"descriptors left open: {new_fds}"
    new_children = [c.pid for c in me.children(recursive=True) if c.pid not in children]
    assert not new_children, f"child processes left: {new_children}"


def _get(url: str, *, context: ssl.SSLContext | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    opener = _DIRECT
    if context is not None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", str(_TIMEOUT), *args],
                          capture_output=True, env=client_environment(), timeout=_TIMEOUT,
                          check=False)


# -- HTTP ------------------------------------------------------------------------------


def test_http_origin_endpoints_with_urllib_and_curl() -> None:
    with no_leaks():
        started = time.perf_counter()
        with http_origin() as origin:
            assert time.perf_counter() - started < 1
            where = f"127.0.0.1:{origin.port}"
            assert (origin.host, origin.url("/hello")) == ("127.0.0.1", f"http://{where}/hello")
            assert _get(origin.url("/hello")) == (200, f"hello from {where}".encode())
            assert _get(origin.url("/echo-host", host="localhost")) == (
                200, f"localhost:{origin.port}".encode())
            size = 3 * CHUNK + 17
            assert _get(origin.url(f"/bytes/{size}")) == (200, expected_bytes(size))
            assert _get(origin.url("/bytes/0")) == (200, b"")
            assert _get(origin.url("/bytes/lots"))[0] == 400
            assert _get(origin.url("/nothing-here"))[0] == 404

            curl = _curl("-H", "Host: origin.example", origin.url("/echo-host"))
            assert (curl.returncode, curl.stdout) == (0, b"origin.example")
            curl = _curl("-o", "/dev/null", "-w", "%{size_download}", origin.url("/bytes/5000000"))
            assert (curl.returncode, curl.stdout) == (0, b"5000000")

            # HTTP/1.1 keep-alive: two requests on one connection.
            connection = http.client.HTTPConnection(origin.host, origin.port, timeout=_TIMEOUT)
            try:
                for _ in range(2):
                    connection.request("GET", "/hello")
                    response = connection.getresponse()
                    assert response.read() == f"hello from {where}".encode()
                connection.request("HEAD", "/bytes/100")
                response = connection.getresponse()
                assert response.getheader("Content-Length") == "100"
                assert response.read() == b""
            finally:
                connection.close()

            assert origin.requests == [
                "GET /hello HTTP/1.1", "GET /echo-host HTTP/1.1", f"GET /bytes/{size} HTTP/1.1",
                "GET /bytes/0 HTTP/1.1", "GET /bytes/lots HTTP/1.1", "GET /nothing-here HTTP/1.1",
                "GET /echo-host HTTP/1.1", "GET /bytes/5000000 HTTP/1.1",
                "GET /hello HTTP/1.1", "GET /hello HTTP/1.1", "HEAD /bytes/100 HTTP/1.1"]
            records = origin.log.records()
            assert records[1].host == f"localhost:{origin.port}"
            assert {r.peer for r in records} == {"127.0.0.1"}
            assert origin.errors == []


def test_http_origin_serves_concurrent_clients() -> None:
    with no_leaks(), http_origin() as origin:
        results: list[tuple[int, bytes]] = []
        lock = threading.Lock()

        def fetch() -> None:
            result = _get(origin.url("/bytes/300000"))
            with lock:
                results.append(result)

        threads = [threading.Thread(target=fetch) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(_TIMEOUT)
        assert results == [(200, expected_bytes(300000))] * 16


def test_close_ends_idle_and_stalled_connections_at_once() -> None:
    with no_leaks():
        origin = HttpOrigin()
        idle = http.client.HTTPConnection(origin.host, origin.port, timeout=_TIMEOUT)
        stalled = socket.create_connection((origin.host, origin.port))
        try:
            # An idle keep-alive connection, and a download nobody reads
            # (the server blocks in send once the socket buffers are full).
            idle.request("GET", "/hello")
            assert idle.getresponse().read().startswith(b"hello from")
            stalled.sendall(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert origin.log.wait_for(2)
            started = time.perf_counter()
            origin.close()
            assert time.perf_counter() - started < 1
            assert idle.sock is not None
            assert idle.sock.recv(4096) == b""  # the server ended it
            origin.close()  # idempotent
        finally:
            idle.close()
            stalled.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((origin.host, origin.port)).close()


# -- TLS -------------------------------------------------------------------------------


def test_tls_origin_verifies_with_its_ca() -> None:
    with no_leaks():
        started = time.perf_counter()
        with tls_origin("origin.test") as origin:
            assert time.perf_counter() - started < 1
            where = f"127.0.0.1:{origin.port}"
            assert origin.url("/hello") == f"https://{where}/hello"
            assert origin.name_url("/x") == f"https://origin.test:{origin.port}/x"

            curl = _curl("--cacert", origin.ca_file, origin.url("/hello"))
            assert (curl.returncode, curl.stdout) == (0, f"hello from {where}".encode())
            curl = _curl("--cacert", origin.ca_file,
                         "--resolve", f"origin.test:{origin.port}:127.0.0.1",
                         origin.name_url("/echo-host"))
            assert (curl.returncode, curl.stdout) == (0, f"origin.test:{origin.port}".encode())
            # The system's CAs do not know it: verification fails.
            curl = _curl("--cacert", "/dev/null", origin.url("/hello"))
            assert curl.returncode in (60, 77), curl  # bad certificate / CA file

            context = ssl.create_default_context(cafile=origin.ca_file)
            assert _get(origin.url(f"/bytes/{CHUNK + 1}"), context=context) == (
                200, expected_bytes(CHUNK + 1))
            assert _get(origin.url("/echo-host", host="localhost"), context=context) == (
                200, f"localhost:{origin.port}".encode())
            with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
                _get(origin.url("/hello"), context=ssl.create_default_context(
                    cafile=origin.ca_file.replace("ca.pem", "cert.pem")))

            # A client that never sends its hello does not hold up the others or close().
            silent = socket.create_connection((origin.host, origin.port))
            try:
                assert _get(origin.url("/hello"), context=context)[0] == 200
                assert origin.ca_environment()["SSL_CERT_FILE"] == origin.ca_file
            finally:
                started = time.perf_counter()
                origin.close()
                assert time.perf_counter() - started < 1
                silent.close()
        assert not os.path.exists(origin.ca_file)


# -- git -------------------------------------------------------------------------------


def test_git_ls_remote_and_clone_over_dumb_http() -> None:
    with no_leaks(), git_http_origin() as repo:
        env = repo.env
        assert env["HOME"] != os.environ.get("HOME") and env["GIT_CONFIG_NOSYSTEM"] == "1"
        listed = subprocess.run(["git", "ls-remote", repo.url], env=env, capture_output=True,
                                timeout=_TIMEOUT, check=True).stdout.decode()
        refs = {ref: sha for sha, ref in (line.split("\t") for line in listed.splitlines())}
        assert refs == repo.refs
        assert refs["HEAD"] == refs["refs/heads/main"] == repo.head_sha
        assert refs["refs/heads/feature"] != repo.head_sha
        assert repo.origin.requests[0].startswith("GET /repo.git/info/refs")

        with tempfile.TemporaryDirectory() as scratch:
            clone = Path(scratch, "clone")
            subprocess.run(["git", "clone", "-q", repo.url, str(clone)], env=env,
                           capture_output=True, timeout=_TIMEOUT, check=True)
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, env=env,
                                  capture_output=True, check=True).stdout.decode().strip()
            assert head == repo.head_sha
            assert (clone / "README").read_text().startswith("served by")


# -- pip -------------------------------------------------------------------------------


def test_pip_download_from_the_simple_index() -> None:
    with no_leaks(), pip_index_origin() as index, tempfile.TemporaryDirectory() as into:
        assert index.index_url == f"http://127.0.0.1:{index.port}/simple/"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
             "--disable-pip-version-check", "--index-url", index.index_url, index.project,
             "-d", into],
            env=client_environment(), capture_output=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert os.listdir(into) == [index.wheel_name] == ["execguard_probe-1.0-py3-none-any.whl"]
        data = Path(into, index.wheel_name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == index.wheel_sha256
        assert index.origin.requests == [
            "GET /simple/execguard-probe/ HTTP/1.1",
            f"GET /packages/{index.wheel_name} HTTP/1.1"]
        status, body = _get(index.index_url + "execguard-probe/")
        assert status == 200 and f"#sha256={index.wheel_sha256}".encode() in body

        with zipfile.ZipFile(Path(into, index.wheel_name)) as wheel:
            info = "execguard_probe-1.0.dist-info"
            metadata = wheel.read(f"{info}/METADATA").decode()
            assert "Name: execguard-probe\n" in metadata and "Version: 1.0\n" in metadata
            assert "Tag: py3-none-any" in wheel.read(f"{info}/WHEEL").decode()
            record = wheel.read(f"{info}/RECORD").decode().splitlines()
            assert sorted(line.split(",")[0] for line in record) == sorted(wheel.namelist())
            for line in record:
                name, digest, size = line.split(",")
                if name.endswith("RECORD"):
                    assert (digest, size) == ("", "")
                    continue
                content = wheel.read(name)
                assert (digest, int(size)) == (_record_hash(content), len(content))


# -- an origin in a process and in a network namespace ----------------------------------


def test_origin_process_answers_and_exits() -> None:
    with no_leaks():
        with origin_process() as origin:
            pid = origin.process.pid
            assert _get(origin.url("/hello")) == (200,
                                                  f"hello from 127.0.0.1:{origin.port}".encode())
            assert origin.log.wait_for(1)
            assert origin.requests == ["GET /hello HTTP/1.1"]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def _links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, check=True,
                          text=True).stdout


def test_netns_origin_is_reachable_from_the_host_and_removed_afterwards() -> None:
    with no_leaks():
        started = time.perf_counter()
        with netns_origin() as origin:
            assert time.perf_counter() - started < 1
            assert origin.namespace in list_test_namespaces()
            assert origin.host_veth in _links()
            assert origin.host.startswith("10.231.") and origin.gateway.startswith("10.231.")
            where = f"{origin.host}:{origin.port}"
            assert origin.url("/hello") == f"http://{where}/hello"
            curl = _curl(origin.url("/hello"))
            assert (curl.returncode, curl.stdout) == (0, f"hello from {where}".encode())
            assert _get(origin.url("/bytes/100000")) == (200, expected_bytes(100000))
            assert origin.log.wait_for(2)
            assert [(r.line, r.peer) for r in origin.log.records()] == [
                ("GET /hello HTTP/1.1", origin.gateway),
                ("GET /bytes/100000 HTTP/1.1", origin.gateway)]
            # Only the namespace has the address: nothing of the host listens there.
            inside = subprocess.run(
                ["ip", "netns", "exec", origin.namespace, "ip", "-4", "-o", "addr"],
                capture_output=True, text=True, check=True).stdout
            assert f"inet {origin.host}/30" in inside
            pid = origin.process.pid
        assert origin.namespace not in list_test_namespaces()
        assert origin.host_veth not in _links()
        assert not psutil.pid_exists(pid)


def test_netns_origin_is_removed_when_the_test_fails() -> None:
    with no_leaks():
        with pytest.raises(ZeroDivisionError), netns_origin() as origin:
            namespace = origin.namespace
            raise ZeroDivisionError
        assert namespace not in list_test_namespaces()
        assert origin.host_veth not in _links()


def test_netns_origin_removes_what_a_crashed_run_left() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    namespace, veth = f"execguard-test-{dead.pid}-0", f"egv{dead.pid}h0"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name",
                    f"egv{dead.pid}n0"], check=True)
    try:
        with netns_origin() as origin:
            assert namespace not in list_test_namespaces()
            assert f" {veth}@" not in _links()
            assert origin.namespace in list_test_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)


def test_netns_origin_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeError, match="netns_origin needs root"), netns_origin():
        pass


def test_git_and_pip_origins_over_https() -> None:
    with no_leaks(), git_http_origin(tls=True, hostname="git.test") as repo, \
            pip_index_origin(tls=True) as index, tempfile.TemporaryDirectory() as into:
        assert repo.url.startswith("https://127.0.0.1:")
        listed = subprocess.run(["git", "ls-remote", repo.url], env=repo.env,
                                capture_output=True, timeout=_TIMEOUT, check=True).stdout
        assert f"{repo.head_sha}\tHEAD".encode() in listed

        assert isinstance(index.origin, TlsOrigin)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
             "--disable-pip-version-check", "--cert", index.origin.ca_file,
             "--index-url", index.index_url, index.project, "-d", into],
            env=client_environment(), capture_output=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert os.listdir(into) == [index.wheel_name]
