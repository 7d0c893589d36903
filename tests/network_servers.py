"""Real origin servers for the network proof tests and the network benchmark.

Every server is a context manager that starts in well under a second and, on
the way out (also when the test body raised), stops accepting, ends every
open connection, joins every thread it started, closes every descriptor and
removes every file, process and namespace it created::

    with http_origin() as origin:            # in-process, threaded, HTTP/1.1
        urlopen(origin.url("/hello"))        # b"hello from 127.0.0.1:<port>"
    with tls_origin("origin.test") as origin:  # the same over HTTPS
        curl --cacert origin.ca_file origin.url("/hello")
    with git_http_origin() as repo:          # `git ls-remote repo.url`
    with pip_index_origin() as index:        # `pip download --index-url index.index_url`
    with netns_origin() as origin:           # in a network namespace of its own (root)

Endpoints of every origin: ``/hello`` (``hello from <host>:<port>``),
``/bytes/<n>`` (``n`` bytes of :func:`expected_bytes`, streamed in 256 KiB
chunks with a ``Content-Length``), ``/echo-host`` (the ``Host`` header it
received); any other path is served from the origin's static ``root``
directory when it has one (``dir/`` serves ``dir/index.html``, query strings
are ignored), else 404. Each origin logs what it received
(:attr:`Origin.log`: request line, ``Host`` header, the client's address;
:attr:`Origin.requests`: the request lines), thread-safely.

Clients run on the host by a test must not pick up a proxy from the
environment: :func:`client_environment` is the test process's environment
without proxy, ``GIT_*``, ``PIP_*`` and CA-bundle variables (and with a HOME
and git identity that work as root with any HOME). Run this file as a
script (``python tests/network_servers.py serve --host H``) to get an origin
in a process of its own (:func:`origin_process`; ``netns_origin`` runs one
inside its namespace); it uses the standard library only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import html
import http.server
import itertools
import json
import mimetypes
import os
import re
import select
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Self
from urllib.parse import unquote, urlsplit

__all__ = [
    "CHUNK",
    "GitOrigin",
    "HttpOrigin",
    "NetnsOrigin",
    "Origin",
    "PipIndexOrigin",
    "ProcessOrigin",
    "Request",
    "RequestLog",
    "TlsOrigin",
    "build_probe_wheel",
    "client_environment",
    "expected_bytes",
    "git_environment",
    "git_http_origin",
    "http_origin",
    "list_test_namespaces",
    "netns_origin",
    "origin_process",
    "pip_index_origin",
    "tls_origin",
]

CHUNK = 256 * 1024
"""Size of the chunks ``/bytes/<n>`` is written in."""

_PATTERN = bytes(range(256)) * (CHUNK // 256)
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_IDLE_TIMEOUT = 30.0  # an idle keep-alive connection (a stalled client) is dropped
_POLL_INTERVAL = 0.05  # how soon the accept loop notices a shutdown
_MAX_BYTES = 1 << 40

# Variables that would send a host-side client elsewhere than the origin, or
# give git and pip a configuration of the machine's.
_PROXY_VARIABLE = re.compile(r"(?i)^(.*_proxy|proxy_.*|no_proxy)$")
_CA_VARIABLES = frozenset({
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "PIP_CERT",
})


def expected_bytes(n: int) -> bytes:
    """What ``/bytes/<n>`` sends: the bytes 0..255 repeated, cut to ``n``."""
    whole, rest = divmod(n, len(_PATTERN))
    return _PATTERN * whole + _PATTERN[:rest]


def client_environment(home: str | os.PathLike[str] | None = None,
                       **extra: str) -> dict[str, str]:
    """The environment for a client a test runs on the host against an
    origin: this process's, without proxy variables (an inherited
    ``HTTP_PROXY`` would send the client around the origin), ``GIT_*``,
    ``PIP_*`` and CA-bundle variables (and ``PIP_CONFIG_FILE`` set to
    ``/dev/null``, so pip reads no configuration file), with :func:`git_environment` for
    ``home`` (a fresh HOME of the caller's; git then reads no configuration
    of the machine's), then ``extra``."""
    env = {name: value for name, value in os.environ.items()
           if not _PROXY_VARIABLE.match(name) and not name.startswith(("GIT_", "PIP_"))
           and name not in _CA_VARIABLES}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf of the machine's (extra indexes)
    if home is not None:
        env.update(git_environment(home))
    env.update(extra)
    return env


def git_environment(home: str | os.PathLike[str]) -> dict[str, str]:
    """Variables under which git works the same as root, as anyone, with any
    HOME: no system or global configuration, ``home`` as HOME, an identity
    and fixed dates for commits, no prompts."""
    return {
        "HOME": os.fspath(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "execguard tests",
        "GIT_AUTHOR_EMAIL": "tests@execguard.invalid",
        "GIT_COMMITTER_NAME": "execguard tests",
        "GIT_COMMITTER_EMAIL": "tests@execguard.invalid",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
        "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
        "LC_ALL": "C",
    }


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the request log -------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as the origin received it: ``line`` (``GET /hello
    HTTP/1.1``), the ``Host`` header (``None`` without one) and the address
    the connection came from (a proxy's egress address, say)."""

    line: str
    host: str | None
    peer: str


class RequestLog:
    """The requests an origin received, in order; safe to read while the
    origin's threads append."""

    def __init__(self) -> None:
        self._records: list[Request] = []
        self._changed = threading.Condition()

    def append(self, request: Request) -> None:
        with self._changed:
            self._records.append(request)
            self._changed.notify_all()

    def records(self) -> list[Request]:
        with self._changed:
            return list(self._records)

    def lines(self) -> list[str]:
        return [record.line for record in self.records()]

    def clear(self) -> None:
        with self._changed:
            self._records.clear()

    def wait_for(self, count: int, timeout: float = _START_TIMEOUT) -> bool:
        """Wait until at least ``count`` requests are logged (an origin in
        another process reports them a moment after answering)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._records) >= count, timeout)

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)


class Origin:
    """What every origin exposes: where it listens and what it received."""

    scheme = "http"

    def __init__(self, host: str, port: int, log: RequestLog | None = None) -> None:
        self.host = host
        self.port = port
        self.log = log if log is not None else RequestLog()

    def url(self, path: str = "/", host: str | None = None) -> str:
        """``scheme://host:port/path``; ``host`` replaces the address in the
        URL (a name the client resolves, or the proxy does)."""
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.scheme}://{_authority(host or self.host, self.port)}{path}"

    @property
    def authority(self) -> str:
        return _authority(self.host, self.port)

    @property
    def requests(self) -> list[str]:
        """The request lines received so far (a copy)."""
        return self.log.lines()


# -- the in-process server -------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    # The head and the body are two writes: without TCP_NODELAY, Nagle and a
    # client's delayed ACK can hold the body back for tens of milliseconds.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        server = self.server
        tls = server.tls
        if tls is None:
            server.track(self.request)
            super().setup()
            return
        raw: socket.socket = self.request
        raw.settimeout(self.timeout)
        # Wrapping detaches the raw socket's descriptor: register the TLS
        # socket under the server's lock so that a close sees one of them.
        wrapped = server.wrap(raw, tls)
        self.request = wrapped
        try:
            wrapped.do_handshake()  # here, not in the accept loop
            super().setup()
        except BaseException:
            server.untrack(wrapped)
            wrapped.close()
            raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)
            if self.server.tls is not None:
                # socketserver closes the raw socket it accepted, whose
                # descriptor the TLS socket took over.
                self.request.close()

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        server = self.server
        server.record(Request(self.requestline, self.headers.get("Host"),
                              str(self.client_address[0])))
        path = urlsplit(self.path).path
        if path == "/hello":
            self._send(200, f"hello from {server.origin_authority}".encode(), body=body)
        elif path == "/echo-host":
            self._send(200, (self.headers.get("Host") or "").encode(), body=body)
        elif path.startswith("/bytes/"):
            count = path[len("/bytes/"):]
            if not (count.isascii() and count.isdigit()) or int(count) > _MAX_BYTES:
                self._send(400, b"/bytes/<n>: n must be a byte count\n", body=body)
                return
            self._stream_pattern(int(count), body=body)
        elif server.root is not None:
            self._static(server.root, unquote(path), body=body)
        else:
            self._send(404, b"not found\n", body=body)

    def _send(self, status: int, payload: bytes, *, body: bool,
              content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _stream_pattern(self, count: int, *, body: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        if not body:
            return
        view = memoryview(_PATTERN)
        left = count
        while left > 0:
            step = min(left, CHUNK)
            self.wfile.write(view[:step])
            left -= step

    def _static(self, root: Path, path: str, *, body: bool) -> None:
        target = (root / path.lstrip("/")).resolve()
        if target != root and root not in target.parents:
            self._send(404, b"not found\n", body=body)
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            self._send(404, b"not found\n", body=body)
            return
        if target.suffix == ".html":
            content_type = "text/html; charset=utf-8"
        else:
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        with open(target, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                shutil.copyfileobj(file, self.wfile, CHUNK)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log says what arrived; stderr stays quiet


class _Server(http.server.HTTPServer):
    """``HTTPServer`` with a thread per connection, every one of them tracked:
    :meth:`stop` ends the open connections and joins the threads."""

    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, host: str, port: int, *, root: Path | None,
                 tls: ssl.SSLContext | None, on_request: Callable[[Request], None] | None,
                 log: RequestLog, name: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.root = root.resolve() if root is not None else None
        self.tls = tls
        self.on_request = on_request
        self.log = log
        self.name = name
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        super().__init__((host, port), _Handler)
        bound = self.socket.getsockname()
        self.origin_authority = _authority(host, bound[1])

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (getfqdn): slow or
        # hanging where there is no DNS, as in a fresh network namespace.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)

    # connections and threads

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"{self.name}-connection", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as error:
            self.handle_error(request, client_address, error)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any,
                     error: BaseException | None = None) -> None:
        if error is None:
            error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # resets, timeouts, TLS failures: expected
            with self._lock:
                self.errors.append(f"{client_address}: {error!r}")

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)
            stopping = self._stopping
        if stopping:
            _shut(sock)

    def wrap(self, raw: socket.socket, tls: ssl.SSLContext) -> ssl.SSLSocket:
        with self._lock:
            wrapped = tls.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            self._connections.add(wrapped)
            stopping = self._stopping
        if stopping:
            _shut(wrapped)
        return wrapped

    def untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def record(self, request: Request) -> None:
        self.log.append(request)
        if self.on_request is not None:
            self.on_request(request)

    def stop(self) -> list[str]:
        """End every connection, close the listener and join the
        connection threads; the names of threads that would not end."""
        with self._lock:
            self._stopping = True
            connections = list(self._connections)
        for sock in connections:
            _shut(sock)
        self.server_close()
        deadline = time.monotonic() + _STOP_TIMEOUT
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))
        return [t.name for t in threads if t.is_alive()]


def _shut(sock: socket.socket) -> None:
    """Wake whoever reads or writes ``sock`` (in another thread) with an
    end of file or an error, without touching a TLS socket's state."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class HttpOrigin(Origin):
    """A threaded HTTP/1.1 origin in this process (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, root: Path | None = None,
                 tls: ssl.SSLContext | None = None,
                 on_request: Callable[[Request], None] | None = None) -> None:
        super().__init__(host, port)
        self.root = root
        self._server = _Server(host, port, root=root, tls=tls, on_request=on_request,
                               log=self.log, name=f"origin-{self.scheme}")
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        args=(_POLL_INTERVAL,),
                                        name=f"origin-{self.scheme}-{self.port}", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def errors(self) -> list[str]:
        """Unexpected errors of the handlers (dropped connections excluded)."""
        return list(self._server.errors)

    def close(self) -> None:
        """Stop serving; idempotent. Raises if a thread would not end."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._server.shutdown()
        stuck = self._server.stop()
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            stuck.append(self._thread.name)
        if stuck:
            raise RuntimeError(f"origin threads did not end: {stuck}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def http_origin(host: str = "127.0.0.1", port: int = 0, *,
                root: str | os.PathLike[str] | None = None) -> Iterator[HttpOrigin]:
    """A threaded HTTP/1.1 origin on ``host:port`` (0: an ephemeral port)."""
    with HttpOrigin(host, port, root=Path(root) if root is not None else None) as origin:
        yield origin


# -- TLS -------------------------------------------------------------------------------


class TlsOrigin(HttpOrigin):
    """:class:`HttpOrigin` over HTTPS. ``ca_file`` is the throwaway CA that
    signed the origin's certificate (for ``hostname``, ``localhost``,
    ``127.0.0.1`` and ``host``): ``curl --cacert``, ``SSL_CERT_FILE``,
    ``ssl.create_default_context(cafile=...)``."""

    scheme = "https"

    def __init__(self, hostname: str, ca_file: Path, host: str = "127.0.0.1", port: int = 0,
                 *, root: Path | None = None, tls: ssl.SSLContext) -> None:
        self.hostname = hostname
        self.ca_file = str(ca_file)
        super().__init__(host, port, root=root, tls=tls)

    def name_url(self, path: str = "/") -> str:
        """The URL with the certificate's ``hostname`` (resolve it yourself:
        ``curl --resolve``, or through a proxy that knows it)."""
        return self.url(path, host=self.hostname)

    def ca_environment(self) -> dict[str, str]:
        """CA-bundle variables pointing at :attr:`ca_file` (curl, Python,
        git, pip, requests)."""
        return {name: self.ca_file for name in (
            "SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO",
            "PIP_CERT", "NODE_EXTRA_CA_CERTS")}


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("tls_origin needs the `openssl` program (Debian: apt-get install "
                           "openssl) to make its throwaway certificate")
    result = subprocess.run([openssl, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")


def make_certificate(directory: Path, hostname: str, addresses: tuple[str, ...] = ()
                     ) -> tuple[Path, Path, Path]:
    """``(ca.pem, cert.pem, key.pem)`` in ``directory``: a throwaway P-256 CA
    (valid 2 days) and a server certificate it signed for ``hostname``,
    ``localhost`` and the IP ``addresses`` (with the extensions strict
    verifiers want: SAN, serverAuth, key identifiers)."""
    names = dict.fromkeys([f"DNS:{hostname}", "DNS:localhost",
                           *(f"IP:{a}" for a in ("127.0.0.1", *addresses))])
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=execguard throwaway test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-new", *curve, "-keyout", "key.pem", "-out", "cert.csr",
             "-subj", f"/CN={hostname}", cwd=directory)
    (directory / "cert.ext").write_text(
        f"subjectAltName={','.join(names)}\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
             "-extfile", "cert.ext", "-out", "cert.pem", cwd=directory)
    return directory / "ca.pem", directory / "cert.pem", directory / "key.pem"


def _server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def tls_origin(hostname: str = "localhost", host: str = "127.0.0.1", port: int = 0, *,
               root: str | os.PathLike[str] | None = None) -> Iterator[TlsOrigin]:
    """:func:`http_origin` over HTTPS with a throwaway certificate for
    ``hostname`` (made with the ``openssl`` program, in a temporary
    directory that is removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="execguard-tls-origin-") as scratch:
        directory = Path(scratch)
        addresses = (host,) if _is_ip(host) else ()
        ca, cert, key = make_certificate(directory, hostname, addresses)
        with TlsOrigin(hostname, ca, host, port, root=Path(root) if root is not None else None,
                       tls=_server_context(cert, key)) as origin:
            yield origin


def _is_ip(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return True
    return False


@contextlib.contextmanager
def _origin(host: str, port: int, root: Path, tls: bool, hostname: str,
            ) -> Iterator[HttpOrigin]:
    if tls:
        with tls_origin(hostname, host, port, root=root) as secure:
            yield secure
    else:
        with http_origin(host, port, root=root) as plain:
            yield plain


# -- git over dumb HTTP ----------------------------------------------------------------


@dataclass
class GitOrigin:
    """A bare repository served over git's "dumb" HTTP protocol.

    ``url``: the repository's URL (``git ls-remote``/``git clone`` it);
    ``refs``: what ``git ls-remote url`` lists (``HEAD``, ``refs/heads/main``,
    ``refs/heads/feature``, name -> sha); ``head_sha``: the commit of
    ``HEAD`` (``main``, one commit); ``feature`` has one more commit on top.
    ``origin``: the HTTP server (its log shows git's requests); ``env``: a
    :func:`client_environment` for git with a HOME of its own."""

    url: str
    head_sha: str
    branch: str
    refs: dict[str, str]
    origin: HttpOrigin
    env: dict[str, str]

    @property
    def host(self) -> str:
        return self.origin.host

    @property
    def port(self) -> int:
        return self.origin.port

    def url_via(self, host: str) -> str:
        """:attr:`url` with another host in it (a name the proxy knows)."""
        return self.origin.url(urlsplit(self.url).path, host=host)


def _git(*args: str, cwd: Path, env: Mapping[str, str]) -> str:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git_http_origin needs the `git` program (Debian: apt-get install git)")
    result = subprocess.run([git, *args], cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: "
                           f"{result.stderr.decode(errors='replace')}")
    return result.stdout.decode().strip()


def make_git_repository(root: Path, env: Mapping[str, str], name: str = "repo.git"
                        ) -> tuple[Path, dict[str, str]]:
    """A bare repository ``root/name`` (``main``: one commit, ``feature``: one
    more) prepared for dumb HTTP; returns it and its refs (``HEAD`` included)."""
    work = root / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work, env=env)
    (work / "README").write_text("served by execguard's git_http_origin\n")
    _git("add", "README", cwd=work, env=env)
    _git("commit", "-q", "-m", "first", cwd=work, env=env)
    _git("checkout", "-q", "-b", "feature", cwd=work, env=env)
    (work / "FEATURE").write_text("on the feature branch\n")
    _git("add", "FEATURE", cwd=work, env=env)
    _git("commit", "-q", "-m", "feature", cwd=work, env=env)
    _git("checkout", "-q", "main", cwd=work, env=env)
    bare = root / name
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=root, env=env)
    _git("update-server-info", cwd=bare, env=env)
    shutil.rmtree(work)
    refs = {"HEAD": _git("rev-parse", "HEAD", cwd=bare, env=env)}
    for line in _git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads",
                     cwd=bare, env=env).splitlines():
        sha, ref = line.split(" ", 1)
        refs[ref] = sha
    return bare, refs


@contextlib.contextmanager
def git_http_origin(host: str = "127.0.0.1", port: int = 0, *, tls: bool = False,
                    hostname: str = "localhost") -> Iterator[GitOrigin]:
    """A bare git repository (see :class:`GitOrigin`) served by the static
    origin over dumb HTTP (HTTPS with ``tls``, certificate for ``hostname``)."""
    with tempfile.TemporaryDirectory(prefix="execguard-git-origin-") as scratch:
        root = Path(scratch)
        home = root / "home"
        served = root / "served"
        home.mkdir()
        served.mkdir()
        env = client_environment(home)
        _bare, refs = make_git_repository(served, env)
        with _origin(host, port, served, tls, hostname) as origin:
            if isinstance(origin, TlsOrigin):
                env = {**env, "GIT_SSL_CAINFO": origin.ca_file}
            yield GitOrigin(url=origin.url("/repo.git"), head_sha=refs["HEAD"], branch="main",
                            refs=refs, origin=origin, env=env)


# -- a PEP 503 index with one wheel ----------------------------------------------------


@dataclass
class PipIndexOrigin:
    """A PEP 503 simple index serving one pure-Python wheel.

    ``index_url``: give it to ``pip download/install --index-url``;
    ``project``/``version``: what to ask for (``execguard-probe``, ``1.0``);
    ``wheel_name``/``wheel_sha256``: the file pip must fetch and its hash
    (the index links carry ``#sha256=``, so pip checks it). pip accepts a
    plain-http index only from localhost/127.0.0.0/8 unless told
    ``--trusted-host``."""

    index_url: str
    project: str
    version: str
    wheel_name: str
    wheel_sha256: str
    wheel_path: Path
    origin: HttpOrigin

    @property
    def host(self) -> str:
        return self.origin.host

    @property
    def port(self) -> int:
        return self.origin.port

    def index_url_via(self, host: str) -> str:
        return self.origin.url("/simple/", host=host)


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_probe_wheel(directory: Path, project: str = "execguard-probe",
                      version: str = "1.0") -> Path:
    """A tiny, valid, pure-Python wheel (``py3-none-any``) of ``project``:
    one module, METADATA, WHEEL and RECORD with sha256 hashes; the same
    bytes every time."""
    distribution = re.sub(r"[-_.]+", "_", project).lower()
    info = f"{distribution}-{version}.dist-info"
    files = {
        f"{distribution}/__init__.py":
            f'"""Installed by execguard\'s network tests."""\n\nVERSION = "{version}"\n'.encode(),
        f"{info}/METADATA": (
            "Metadata-Version: 2.1\n"
            f"Name: {project}\n"
            f"Version: {version}\n"
            "Summary: A probe package served by execguard's network tests\n"
            "Requires-Python: >=3.8\n\n").encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\n"
            b"Generator: execguard-tests (1.0)\n"
            b"Root-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"),
        f"{info}/top_level.txt": f"{distribution}\n".encode(),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    path = directory / f"{distribution}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return path


def _index_page(title: str, links: list[tuple[str, str, str | None]]) -> str:
    anchors = "\n".join(
        f'    <a href="{html.escape(href)}"'
        + (f' data-requires-python="{html.escape(requires)}"' if requires else "")
        + f">{html.escape(text)}</a><br>" for href, text, requires in links)
    return ("<!DOCTYPE html>\n<html>\n  <head>\n"
            '    <meta name="pypi:repository-version" content="1.0">\n'
            f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
            f"    <h1>{html.escape(title)}</h1>\n{anchors}\n  </body>\n</html>\n")


@contextlib.contextmanager
def pip_index_origin(host: str = "127.0.0.1", port: int = 0, *, tls: bool = False,
                     hostname: str = "localhost", project: str = "execguard-probe",
                     version: str = "1.0") -> Iterator[PipIndexOrigin]:
    """A PEP 503 index (``/simple/``, ``/simple/<project>/``, the wheel under
    ``/packages/``) served by the static origin (HTTPS with ``tls``)."""
    with tempfile.TemporaryDirectory(prefix="execguard-pip-origin-") as scratch:
        root = Path(scratch)
        packages = root / "packages"
        normalized = re.sub(r"[-_.]+", "-", project).lower()
        project_dir = root / "simple" / normalized
        packages.mkdir()
        project_dir.mkdir(parents=True)
        wheel = build_probe_wheel(packages, project, version)
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        (root / "simple" / "index.html").write_text(
            _index_page("Simple index", [(f"{normalized}/", normalized, None)]))
        (project_dir / "index.html").write_text(_index_page(
            f"Links for {normalized}",
            [(f"../../packages/{wheel.name}#sha256={sha256}", wheel.name, ">=3.8")]))
        with _origin(host, port, root, tls, hostname) as origin:
            yield PipIndexOrigin(index_url=origin.url("/simple/"), project=project,
                                 version=version, wheel_name=wheel.name, wheel_sha256=sha256,
                                 wheel_path=wheel, origin=origin)


# -- an origin in a process of its own -------------------------------------------------


class ProcessOrigin(Origin):
    """:func:`http_origin` in a child process (this file run as a script):
    no thread of it competes with the caller's for the GIL. The child exits
    when its stdin closes, so it never outlives this process; it reports
    each request on its stdout, read by one thread here."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.process = process
        self._stderr = stderr
        self._ready = threading.Event()
        self._address: tuple[str, int] | None = None
        log = RequestLog()  # before the reader, which fills it
        self._reader = threading.Thread(target=self._read, args=(log,),
                                        name="origin-process-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(_START_TIMEOUT) or self._address is None:
            failure = self._failure()
            self.close()
            raise RuntimeError(f"the origin process did not start: {failure}")
        super().__init__(*self._address, log=log)

    def _read(self, log: RequestLog) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if "port" in message:
                self._address = (message["host"], message["port"])
                self._ready.set()
            elif "line" in message:
                log.append(Request(message["line"], message["host"], message["peer"]))
        self._ready.set()  # ended before it was ready: the caller reports it

    def _failure(self) -> str:
        code = self.process.poll()
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
            if text:
                return text[-2000:]
        return f"exit status {code}" if code is not None else "no answer in time"

    def close(self) -> None:
        """Stop the child (end of its stdin, then SIGKILL if it lingers),
        join the reader and close the pipes; idempotent."""
        process = self.process
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._reader.join(_STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _spawn_origin(host: str, port: int, *, prefix: list[str], report_requests: bool,
                  kind: type[ProcessOrigin] = ProcessOrigin) -> ProcessOrigin:
    argv = [*prefix, sys.executable, "-I", os.path.abspath(__file__), "serve", "--host", host,
            "--port", str(port)]
    if not report_requests:
        argv.append("--quiet")
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (the origin closes it)
    try:
        # A session of its own: a ^C at the terminal is for the parent,
        # which stops the child by closing its stdin.
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr, start_new_session=True,
                                   env=client_environment())
    except BaseException:
        stderr.close()
        raise
    return kind(process, stderr)


@contextlib.contextmanager
def origin_process(host: str = "127.0.0.1", port: int = 0, *,
                   report_requests: bool = True) -> Iterator[ProcessOrigin]:
    """:func:`http_origin` in a child process (see :class:`ProcessOrigin`);
    ``report_requests=False`` leaves its log empty (for benchmarks)."""
    with _spawn_origin(host, port, prefix=[], report_requests=report_requests) as origin:
        yield origin


# -- an origin in a network namespace --------------------------------------------------

_NETNS_PREFIX = "execguard-test-"
_NETNS_NAME = re.compile(rf"^{_NETNS_PREFIX}(\d+)-(\d+)$")
_VETH_NAME = re.compile(r"^egv(\d+)[hn](\d+)$")
_SLOTS = 1 << 14  # /30 subnets in 10.231.0.0/16
_netns_counter = itertools.count()
_netns_lock = threading.Lock()


class NetnsOrigin(ProcessOrigin):
    """An origin process inside a network namespace of its own, reachable
    from the host over a veth pair: ``gateway`` (the host's end,
    10.231.x.y/30) and ``host`` (the namespace's, the next address)."""

    namespace: str
    host_veth: str
    namespace_veth: str
    gateway: str


def _ip_command() -> str:
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.access(p, os.X_OK)), None)
    if ip is None:
        raise RuntimeError("netns_origin needs iproute2's `ip` program "
                           "(Debian: apt-get install iproute2)")
    return ip


def _run_ip(ip: str, args: list[str], batch: str | None = None) -> str:
    result = subprocess.run([ip, *args], input=(batch or "").encode(), capture_output=True,
                            check=False)
    if result.returncode != 0:
        command = " ".join(args) + (f" <<< {batch!r}" if batch else "")
        raise RuntimeError(f"ip {command} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_test_namespaces() -> list[str]:
    """The network namespaces that ``netns_origin`` created and that exist now."""
    ip = _ip_command()
    names = []
    for line in _run_ip(ip, ["netns", "list"]).splitlines():
        name = line.split(" ", 1)[0]
        if _NETNS_NAME.match(name):
            names.append(name)
    return names


def _links(ip: str) -> list[str]:
    names = []
    for line in _run_ip(ip, ["-o", "link", "show"]).splitlines():
        parts = line.split(": ", 2)
        if len(parts) >= 2:
            names.append(parts[1].split("@", 1)[0])
    return names


def _remove_stale(ip: str) -> None:
    """Remove what a crashed run (a process that no longer exists) left:
    its namespaces and host-side veths (their names carry its pid)."""
    for name in list_test_namespaces():
        match = _NETNS_NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _teardown_netns(ip, name, None)
    for link in _links(ip):
        match = _VETH_NAME.match(link)
        if match and not _pid_alive(int(match.group(1))):
            subprocess.run([ip, "link", "del", link], capture_output=True, check=False)


def _teardown_netns(ip: str, namespace: str, host_veth: str | None) -> list[str]:
    """Delete the veth pair (at once: deleting the namespace would destroy
    it only later, asynchronously) and the namespace; what failed."""
    problems = []
    if host_veth is not None:
        result = subprocess.run([ip, "link", "del", host_veth], capture_output=True,
                                check=False)
        stderr = result.stderr.decode(errors="replace")
        if result.returncode != 0 and "Cannot find device" not in stderr:
            problems.append(f"ip link del {host_veth}: {stderr.strip()}")
    result = subprocess.run([ip, "netns", "del", namespace], capture_output=True, check=False)
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0 and "No such file" not in stderr:
        problems.append(f"ip netns del {namespace}: {stderr.strip()}")
    return problems


def _pick_subnet(ip: str, index: int) -> tuple[str, str]:
    """(host side, namespace side) of a /30 in 10.231.0.0/16 that no
    interface of the host uses, starting from one derived from our pid."""
    used = set(re.findall(r"inet (10\.231\.\d+\.\d+)/", _run_ip(ip, ["-4", "-o", "addr"])))
    start = (os.getpid() * 131 + index) % _SLOTS
    for offset in range(_SLOTS):
        slot = (start + offset) % _SLOTS
        third, base = divmod(slot, 64)
        gateway = f"10.231.{third}.{base * 4 + 1}"
        if gateway not in used:
            return gateway, f"10.231.{third}.{base * 4 + 2}"
    raise RuntimeError("no free /30 in 10.231.0.0/16 for netns_origin")


@contextlib.contextmanager
def netns_origin(port: int = 0, *, report_requests: bool = True) -> Iterator[NetnsOrigin]:
    """An HTTP origin (:func:`http_origin`'s endpoints) in a new network
    namespace, on its veth address, reachable from the host.

    Needs root (``ip netns add``): raises ``RuntimeError`` saying so
    otherwise. Names carry our pid and a counter (``execguard-test-<pid>-<n>``,
    ``egv<pid>h<n>``/``egv<pid>n<n>``); the /30 is one no host interface
    uses. The namespace and the veth pair are deleted on exit, on failure,
    at interpreter exit if the caller never exits the block (a finaliser),
    and, if this process is killed, by the next ``netns_origin`` of any
    process (stale names of dead pids)."""
    if os.geteuid() != 0:
        raise RuntimeError(
            "netns_origin needs root: it creates a network namespace and a veth pair "
            "(ip netns add, ip link add). Run the network proof tests as root "
            "(they run as root on CI).")
    ip = _ip_command()
    pid = os.getpid()
    _netns_lock.acquire()
    index = next(_netns_counter) % 10000
    namespace = f"{_NETNS_PREFIX}{pid}-{index}"
    host_veth, ns_veth = f"egv{pid}h{index}", f"egv{pid}n{index}"
    # Registered before anything exists, so every partial setup is undone.
    finalizer = weakref.finalize(_EXIT_SENTINEL, _teardown_netns, ip, namespace, host_veth)
    origin: NetnsOrigin | None = None
    failed = False
    try:
        try:  # one subnet per origin of this process: choose and claim it at once
            _remove_stale(ip)
            gateway, address = _pick_subnet(ip, index)
            _run_ip(ip, ["-batch", "-"], "\n".join([
                f"netns add {namespace}",
                f"link add {host_veth} type veth peer name {ns_veth} netns {namespace}",
                f"addr add {gateway}/30 dev {host_veth}",
                f"link set {host_veth} up", ""]))
        finally:
            _netns_lock.release()
        _run_ip(ip, ["-n", namespace, "-batch", "-"], "\n".join([
            "link set lo up",
            f"addr add {address}/30 dev {ns_veth}",
            f"link set {ns_veth} up", ""]))
        spawned = _spawn_origin(address, port, prefix=[ip, "netns", "exec", namespace],
                                report_requests=report_requests, kind=NetnsOrigin)
        assert isinstance(spawned, NetnsOrigin)
        origin = spawned
        origin.namespace, origin.host_veth = namespace, host_veth
        origin.namespace_veth, origin.gateway = ns_veth, gateway
        yield origin
    except BaseException:
        failed = True
        raise
    finally:
        try:
            if origin is not None:
                origin.close()
        finally:
            finalizer.detach()
            problems = _teardown_netns(ip, namespace, host_veth)
            if problems and not failed:
                raise RuntimeError("netns_origin cleanup failed: " + "; ".join(problems))


class _Sentinel:
    """A long-lived object for the finalisers: they run at interpreter exit
    if a ``netns_origin`` block was never left."""


_EXIT_SENTINEL = _Sentinel()


# -- the origin process ----------------------------------------------------------------


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="network_servers.py serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="do not report requests")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    out = sys.stdout
    lock = threading.Lock()

    def report(message: dict[str, Any]) -> None:
        with lock, contextlib.suppress(OSError, ValueError):
            out.write(json.dumps(message) + "\n")
            out.flush()

    def on_request(request: Request) -> None:
        report({"line": request.line, "host": request.host, "peer": request.peer})

    with HttpOrigin(options.host, options.port,
                    on_request=None if options.quiet else on_request) as origin:
        report({"host": origin.host, "port": origin.port})
        # Until the parent closes our stdin (or dies).
        while True:
            readable, _, _ = select.select([sys.stdin.buffer], [], [])
            if readable and not os.read(sys.stdin.fileno(), 4096):
                break
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        print("usage: network_servers.py serve [--host H] [--port P] [--quiet]",
              file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(_serve(sys.argv[2:]))
