"""The managed network proxy: an HTTP proxy and a SOCKS5 proxy on loopback.

A sandboxed command can only leave its network namespace through these two
listeners, so every outgoing connection is decided by :class:`NetworkPolicy`
first. The HTTP listener forwards plain ``http://`` requests given in
absolute form (one request per connection: the proxy sends
``Connection: close`` upstream and closes the client side when the upstream
answer ends) and tunnels ``CONNECT host:port`` (HTTPS, or anything else over
TCP). The SOCKS5 listener implements no-auth ``CONNECT`` for IPv4, IPv6 and
domain-name targets.

Both are hardened against the programs they serve: request heads are bounded
in size and time, handshakes time out, relays apply back-pressure, any
connection that misbehaves is closed without disturbing the others, and
:meth:`NetworkProxy.close` cancels every connection it started.

Besides its own pair, the proxy serves any pair of listening sockets it is
given (:meth:`NetworkProxy.serve_sockets`), each pair with a context of its
own: this is how a sandbox with a network namespace of its own reaches it
(``proxy_routing`` creates the pair inside that namespace), and how every
request and every block is attributed to the command that made it. Such a
pair (:class:`ProxyListeners`) closes on its own, ending only its own
connections, and closes with the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import struct
import threading
import types
from collections.abc import Awaitable, Callable

from .decision import NetworkDecision, NetworkPolicy, NetworkRequest, Protocol
from .domains import normalize_host

__all__ = ["NetworkProxy", "ProxyListeners"]

_log = logging.getLogger(__name__)

_LOOPBACK = "127.0.0.1"
_RELAY_CHUNK = 256 * 1024
_UPSTREAM_BUFFER = 256 * 1024
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 256 * 1024
_WRITE_CLOSE_SECONDS = 2.0

# Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own; never forwarded.
_HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "upgrade",
})
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_REASON_PHRASES = {
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}

# SOCKS5 (RFC 1928) reply codes.
_SOCKS_OK = 0
_SOCKS_FAILURE = 1
_SOCKS_NOT_ALLOWED = 2
_SOCKS_HOST_UNREACHABLE = 4
_SOCKS_REFUSED = 5
_SOCKS_COMMAND_UNSUPPORTED = 7
_SOCKS_ADDRESS_UNSUPPORTED = 8

_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# A protocol handler: the client's streams and the context of its requests.
_ProtocolHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, object],
                            Awaitable[None]]


class _HttpError(Exception):
    """Answer the client with ``status`` and a plain-text ``text``, then close."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class NetworkProxy:
    """The HTTP and SOCKS5 proxies of one session, on ephemeral loopback ports.

        async with NetworkProxy(NetworkPolicy(DomainPolicy(["*.pypi.org"]))) as proxy:
            env = proxy_environment(proxy.http_port, proxy.socks_port)

    ``context`` is attached to every :class:`NetworkRequest` from its own
    listeners (e.g. the command the session runs), for the decider and the
    observer; listeners added by :meth:`serve_sockets` have their own.
    ``header_timeout`` bounds the wait for an HTTP request head or a SOCKS5
    handshake, ``max_header_bytes`` the head's size, ``connect_timeout`` each
    upstream connection attempt, ``max_connections`` the connections served
    at once (every listener together; more are closed on arrival).
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        context: object = None,
        header_timeout: float = 30.0,
        max_header_bytes: int = 64 * 1024,
        connect_timeout: float = 10.0,
        max_connections: int = 512,
    ) -> None:
        self.policy = policy
        self.context = context
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self._servers: list[asyncio.Server] = []
        self._ports: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._extra: set[ProxyListeners] = set()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Bind both listeners to ``127.0.0.1`` on ephemeral ports."""
        if self._servers or self._closing:
            raise RuntimeError("NetworkProxy.start() may be called once")
        self._loop = asyncio.get_running_loop()
        try:
            for handler in (self._handle_http, self._handle_socks):
                self._servers.append(await asyncio.start_server(
                    self._connection(handler, None), _LOOPBACK, 0,
                    limit=self.max_header_bytes))
        except BaseException:
            await self.close()
            raise
        http_port, socks_port = (s.sockets[0].getsockname()[1] for s in self._servers)
        self._ports = (http_port, socks_port)

    async def serve_sockets(self, http: socket.socket, socks: socket.socket, *,
                            context: object = None, max_connections: int | None = None,
                            ) -> ProxyListeners:
        """Serve two more listening sockets: HTTP on ``http``, SOCKS5 on
        ``socks``, exactly as the proxy's own, except that ``context`` (not
        :attr:`context`) is attached to every request from them.

        The proxy takes both sockets over, whatever happens: they are closed
        with the returned :class:`ProxyListeners`, or at once if this raises
        (:class:`RuntimeError` when the proxy is not started or is closing;
        then nothing listens on them any more). Connections count against
        the proxy's ``max_connections``, and at most ``max_connections``
        (when given) come through this pair at once. Call on the proxy's
        loop (from another thread: ``asyncio.run_coroutine_threadsafe``)."""
        sockets = (http, socks)
        try:
            if self._loop is None:
                raise RuntimeError("NetworkProxy is not started")
            if self._closing:
                raise RuntimeError("NetworkProxy is closed")
            if asyncio.get_running_loop() is not self._loop:
                raise RuntimeError("serve_sockets() must run on the proxy's event loop")
            if max_connections is not None and max_connections < 1:
                raise ValueError(f"invalid max_connections {max_connections}")
            listeners = ProxyListeners(self, sockets, context, max_connections)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._extra.add(listeners)
        try:
            for sock, handler in zip(sockets, (self._handle_http, self._handle_socks),
                                     strict=True):
                if listeners.closed:
                    break
                # Created without a suspension point, and recorded before
                # serving starts (which takes a loop turn, when close() may
                # run): whatever happens, close() finds every server.
                server = await asyncio.start_server(
                    self._connection(handler, listeners), sock=sock,
                    limit=self.max_header_bytes, start_serving=False)
                listeners._add_server(server, sock)
                if not listeners.closed:
                    await server.start_serving()
        except BaseException:
            listeners.close()
            listeners._release()
            raise
        if listeners.closed:  # only close() can have closed it: no one else has it yet
            listeners._release()
            raise RuntimeError("NetworkProxy is closed")
        return listeners

    @property
    def listeners(self) -> tuple[ProxyListeners, ...]:
        """The pairs added by :meth:`serve_sockets` that are still open."""
        return tuple(self._extra)

    async def close(self) -> None:
        """Stop listening and end every open connection (pending decisions and
        tunnels included), those of :meth:`serve_sockets` too. Idempotent."""
        self._closing = True
        for server in self._servers:
            server.close()
        for listeners in list(self._extra):
            listeners.close()
        await asyncio.sleep(0)  # let just-accepted connections see _closing
        while self._connections:
            tasks = list(self._connections)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def __aenter__(self) -> NetworkProxy:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: types.TracebackType | None) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has begun (then no listener is served again).
        Safe to read from any thread."""
        return self._closing

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the proxy serves on (the one that started it)."""
        if self._loop is None:
            raise RuntimeError("NetworkProxy is not started")
        return self._loop

    @property
    def http_port(self) -> int:
        """Port of the HTTP proxy (``HTTP_PROXY=http://127.0.0.1:<port>``)."""
        return self._started()[0]

    @property
    def socks_port(self) -> int:
        """Port of the SOCKS5 proxy (``ALL_PROXY=socks5h://127.0.0.1:<port>``)."""
        return self._started()[1]

    def _started(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("NetworkProxy is not started")
        return self._ports

    def _connection(self, handler: _ProtocolHandler,
                    listeners: ProxyListeners | None) -> _Handler:
        """Wrap a protocol handler for the proxy's own listeners (``None``)
        or a pair from :meth:`serve_sockets`: track it for close(), contain
        every error to its own connection, and always close the client
        socket."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if (self._closing or task is None or len(self._connections) >= self.max_connections
                    or (listeners is not None and not listeners._admit())):
                # Over the cap: a command opening connections without end must
                # not exhaust the file descriptors of the process hosting us.
                writer.transport.abort()
                return
            self._connections.add(task)
            if listeners is not None:
                listeners._connections.add(task)
            try:
                await handler(reader, writer,
                              self.context if listeners is None else listeners.context)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                pass  # the peer went away or stalled: nothing to answer
            except asyncio.CancelledError:
                # Only close() cancels connections. End the task normally:
                # Python 3.11's stream callback logs cancelled handler tasks.
                if listeners is not None:
                    # A reset: an orderly end could pass for the end of a
                    # response (one delimited by the close) or of a tunnel.
                    _set_reset_on_close(writer)
                writer.transport.abort()
            except Exception:
                _log.exception("network proxy connection failed")
            finally:
                self._connections.discard(task)
                try:
                    await _close(writer)
                finally:
                    if listeners is not None:
                        listeners._forget(task)

        return serve

    # -- HTTP ------------------------------------------------------------------

    async def _handle_http(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter, context: object) -> None:
        try:
            async with asyncio.timeout(self.header_timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await _reply_and_linger(reader, writer, _text_response(
                431, "request head exceeds the proxy's limit\n"))
            return
        except TimeoutError:
            await _reply_and_linger(reader, writer, _text_response(
                408, "request head not received in time\n"))
            return
        except asyncio.IncompleteReadError:
            return  # the client went away (or half-closed) mid-head
        try:
            method, target, version, headers = _parse_head(head)
            if method == "CONNECT":
                await self._http_connect(reader, writer, target, context)
            else:
                await self._http_forward(reader, writer, method, target, version, headers,
                                         context)
        except _HttpError as error:
            await _reply_and_linger(reader, writer, _text_response(error.status, error.text))

    async def _http_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            target: str, context: object) -> None:
        host, port = _split_authority(target, default_port=None)
        decision = await self._evaluate(host, port, "https_connect", "CONNECT", context)
        if not decision.allowed:
            body = decision.message.encode()
            await _reply_and_linger(reader, writer, _response(
                403, [("content-type", "text/plain"), ("x-proxy-error", decision.header)], body))
            return
        up_reader, up_writer = await self._open_upstream_http(decision, port)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _relay(reader, writer, up_reader, up_writer, until_upstream_eof=False)
        finally:
            await _close(up_writer)

    async def _http_forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            method: str, target: str, version: str,
                            headers: list[tuple[str, str]], context: object) -> None:
        if target[:7].lower() != "http://":
            if target[:8].lower() == "https://":
                raise _HttpError(400, "https:// URLs must be requested with CONNECT\n")
            raise _HttpError(400, "the proxy needs an absolute http:// URL\n")
        rest = target[7:]
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority = rest[:end].rpartition("@")[2]  # userinfo never reaches the upstream
        path = rest[end:].partition("#")[0]
        if not path.startswith("/"):
            path = "/" + path
        host, port = _split_authority(authority, default_port=80)

        decision = await self._evaluate(host, port, "http", method, context)
        if not decision.allowed:
            body = json.dumps({
                "status": "blocked",
                "host": host,
                "reason": decision.reason,
                "decision": decision.decision,
                "source": decision.source,
                "protocol": "http",
                "port": port,
                "message": decision.message,
            }, separators=(",", ":")).encode()
            await _reply_and_linger(reader, writer, _response(
                403, [("content-type", "application/json"), ("x-proxy-error", decision.header)],
                body))
            return
        up_reader, up_writer = await self._open_upstream_http(decision, port)
        try:
            up_writer.write(_upstream_head(method, path, version, authority, headers))
            await up_writer.drain()
            await _relay(reader, writer, up_reader, up_writer, until_upstream_eof=True)
        finally:
            await _close(up_writer)

    async def _open_upstream_http(self, decision: NetworkDecision, port: int,
                                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not decision.addresses:
            raise _HttpError(502, "could not resolve the host\n")
        try:
            return await _open_upstream(decision.addresses, port, self.connect_timeout)
        except TimeoutError:
            raise _HttpError(504, "connecting to the upstream timed out\n") from None
        except OSError as exc:
            raise _HttpError(502, f"could not connect to the upstream: {exc.strerror or exc}\n"
                             ) from None

    # -- SOCKS5 ----------------------------------------------------------------

    async def _handle_socks(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter, context: object) -> None:
        async with asyncio.timeout(self.header_timeout):
            version, count = await reader.readexactly(2)
            if version != 5:
                return
            methods = await reader.readexactly(count)
            if 0 not in methods:
                writer.write(b"\x05\xff")  # no acceptable authentication method
                await writer.drain()
                return
            writer.write(b"\x05\x00")
            await writer.drain()
            version, command, _reserved, address_type = await reader.readexactly(4)
            if version != 5:
                return
            if address_type == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif address_type == 4:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            elif address_type == 3:
                (length,) = await reader.readexactly(1)
                raw = await reader.readexactly(length)
                try:
                    host = raw.decode("utf-8")
                except UnicodeDecodeError:
                    await _socks_reply(writer, _SOCKS_FAILURE)
                    return
            else:
                await _socks_reply(writer, _SOCKS_ADDRESS_UNSUPPORTED)
                return
            port = int.from_bytes(await reader.readexactly(2), "big")
        if command != 1:  # only CONNECT; BIND and UDP ASSOCIATE are not offered
            await _socks_reply(writer, _SOCKS_COMMAND_UNSUPPORTED)
            return
        if not normalize_host(host) or port == 0:
            await _socks_reply(writer, _SOCKS_FAILURE)
            return

        decision = await self._evaluate(host, port, "socks5_tcp", None, context)
        if not decision.allowed:
            await _socks_reply(writer, _SOCKS_NOT_ALLOWED)
            return
        if not decision.addresses:
            await _socks_reply(writer, _SOCKS_HOST_UNREACHABLE)
            return
        try:
            up_reader, up_writer = await _open_upstream(
                decision.addresses, port, self.connect_timeout)
        except ConnectionRefusedError:
            await _socks_reply(writer, _SOCKS_REFUSED)
            return
        except (OSError, TimeoutError):
            await _socks_reply(writer, _SOCKS_HOST_UNREACHABLE)
            return
        try:
            bound = up_writer.get_extra_info("sockname")
            await _socks_reply(writer, _SOCKS_OK, bound[0], bound[1])
            await _relay(reader, writer, up_reader, up_writer, until_upstream_eof=False)
        finally:
            await _close(up_writer)

    # -- shared ----------------------------------------------------------------

    async def _evaluate(self, host: str, port: int, protocol: Protocol,
                        method: str | None, context: object) -> NetworkDecision:
        return await self.policy.evaluate(NetworkRequest(
            host=host, port=port, protocol=protocol, method=method, context=context))


class ProxyListeners:
    """A pair of listening sockets served by a :class:`NetworkProxy` (see
    :meth:`NetworkProxy.serve_sockets`), with the context of their requests.

    :meth:`close` (from any thread, any number of times) stops listening on
    both and ends every connection accepted through them, pending decisions
    and tunnels included, with a reset; the proxy's other listeners and
    their connections are not touched. :meth:`wait_closed` waits for it (on
    the proxy's loop). Closing the proxy closes it too.
    """

    def __init__(self, proxy: NetworkProxy, sockets: tuple[socket.socket, ...],
                 context: object, max_connections: int | None) -> None:
        self.proxy = proxy
        self.context = context
        self.max_connections = max_connections
        self._sockets = sockets
        self._servers: list[asyncio.Server] = []
        self._taken: set[socket.socket] = set()  # the sockets of _servers
        self._connections: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._closed = False  # close() was called
        self._shut = False  # ... and has run on the loop
        self._done: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def active_connections(self) -> int:
        """Connections being served now."""
        return len(self._connections)

    @property
    def open_sockets(self) -> int:
        """Sockets still open: the two listeners (until closed) and one per
        connection. 0 once :meth:`wait_closed` has returned."""
        return sum(sock.fileno() >= 0 for sock in self._sockets) + len(self._connections)

    def close(self) -> None:
        """Stop listening and end every connection accepted through these
        listeners (asynchronously when called off the proxy's loop)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not run_on_loop(self.proxy.loop, self._shutdown):
            # The loop is closed: nothing is served on it any more.
            for sock in self._sockets:
                sock.close()

    async def wait_closed(self) -> None:
        """Wait until the listeners are closed and every connection accepted
        through them has ended (on the proxy's loop)."""
        if self._done is None:
            self._done = self.proxy.loop.create_future()
            self._maybe_done()
        await asyncio.shield(self._done)

    # Everything below runs on the proxy's loop.

    def _add_server(self, server: asyncio.Server, sock: socket.socket) -> None:
        self._servers.append(server)
        self._taken.add(sock)
        if self._shut:
            server.close()

    def _release(self) -> None:
        """Close the sockets no server took over (a server closes its own;
        closing one under it would leave it polling a stale fd)."""
        for sock in self._sockets:
            if sock not in self._taken:
                sock.close()
        self._maybe_done()

    def _admit(self) -> bool:
        return not self._closed and (self.max_connections is None
                                     or len(self._connections) < self.max_connections)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._maybe_done()

    def _shutdown(self) -> None:
        self._shut = True
        for server in self._servers:
            server.close()  # and its socket
        for task in list(self._connections):
            task.cancel()  # the connection handler resets the client
        self.proxy._extra.discard(self)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if (self._done is not None and not self._done.done() and self._shut
                and self.open_sockets == 0):
            self._done.set_result(None)


def run_on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    """Run ``callback`` on ``loop``: now when called there, else soon from
    any thread. False when the loop is closed (``callback`` never runs)."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback()
        return True
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        return False
    return True


# -- HTTP helpers --------------------------------------------------------------

def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    """``(method, target, version, headers)`` of a request head, or
    :class:`_HttpError` 400/505 for anything malformed."""
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN_CHARS or not parts[1]:
        raise _HttpError(400, "malformed request line\n")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise _HttpError(400, "malformed header line\n")
        if any(c in value for c in "\r\n\0"):
            raise _HttpError(400, "malformed header value\n")
        headers.append((name, value.strip(" \t")))
    return method, target, version, headers


def _split_authority(authority: str, *, default_port: int | None) -> tuple[str, int]:
    """``host:port`` (IPv6 bracketed) -> (normalised host, port)."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _HttpError(400, "malformed IPv6 authority\n")
        raw_host, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _HttpError(400, "malformed authority\n")
        raw_port = rest[1:] if rest else ""
    else:
        raw_host, colon, raw_port = authority.rpartition(":")
        if not colon:
            raw_host, raw_port = authority, ""
        elif ":" in raw_host:
            raise _HttpError(400, "IPv6 hosts must be bracketed\n")
    if raw_port:
        if not (raw_port.isascii() and raw_port.isdigit()) or not 0 < int(raw_port) < 65536:
            raise _HttpError(400, "invalid port\n")
        port = int(raw_port)
    elif default_port is None:
        raise _HttpError(400, "CONNECT needs host:port\n")
    else:
        port = default_port
    host = normalize_host(raw_host)
    if not host or any(c in host for c in " \t/\\@"):
        raise _HttpError(400, "invalid host\n")
    return host, port


def _upstream_head(method: str, path: str, version: str, authority: str,
                   headers: list[tuple[str, str]]) -> bytes:
    """The request head sent upstream: origin-form target, hop-by-hop headers
    dropped, ``Host`` from the URL, ``Connection: close`` (or the upgrade the
    client asked for, so WebSockets through ``WS_PROXY`` keep working)."""
    tokens = {t.strip().lower() for n, v in headers if n.lower() in ("connection",
                                                                     "proxy-connection")
              for t in v.split(",")}
    upgrade = next((v for n, v in headers if n.lower() == "upgrade"), None)
    lines = [f"{method} {path} {version}", f"Host: {authority}"]
    for name, value in headers:
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in tokens or lower == "host":
            continue
        lines.append(f"{name}: {value}")
    if upgrade is not None and "upgrade" in tokens:
        lines += [f"Upgrade: {upgrade}", "Connection: Upgrade"]
    else:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} {_REASON_PHRASES.get(status, 'Error')}"]
    head += [f"{name}: {value}" for name, value in headers]
    head += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _text_response(status: int, text: str) -> bytes:
    return _response(status, [("content-type", "text/plain")], text.encode())


async def _reply_and_linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            response: bytes) -> None:
    """Send a final response, then read (and drop) what the client still sends
    for a moment before closing: closing with unread input makes the kernel
    send a reset, which can destroy the response before the client reads it."""
    writer.write(response)
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError, asyncio.LimitOverrunError):
        async with asyncio.timeout(_LINGER_SECONDS):
            drained = 0
            while drained < _LINGER_BYTES:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                drained += len(chunk)


# -- SOCKS helpers -------------------------------------------------------------

async def _socks_reply(writer: asyncio.StreamWriter, code: int, address: str = "0.0.0.0",
                       port: int = 0) -> None:
    ip = ipaddress.ip_address(address.partition("%")[0])
    address_type = b"\x01" if ip.version == 4 else b"\x04"
    writer.write(bytes([5, code, 0]) + address_type + ip.packed + port.to_bytes(2, "big"))
    await writer.drain()


# -- connections ---------------------------------------------------------------

async def _open_upstream(addresses: tuple[str, ...], port: int, timeout: float,
                         ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first reachable of the *checked* ``addresses``. Each is
    an IP literal, turned into a socket address with ``AI_NUMERICHOST`` so no
    name is ever looked up here (the check and the connection must agree)."""
    loop = asyncio.get_running_loop()
    error: BaseException = OSError("no address to connect to")
    for address in addresses:
        sock: socket.socket | None = None
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(
                    address, port, type=socket.SOCK_STREAM,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
                family, kind, proto, _, sockaddr = infos[0]
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                await loop.sock_connect(sock, sockaddr)
            reader, writer = await asyncio.open_connection(sock=sock, limit=_UPSTREAM_BUFFER)
            return reader, writer
        except (OSError, TimeoutError) as exc:
            error = exc
            if sock is not None:
                sock.close()
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    raise error


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of input, then half-close the sink so the other side
    sees the end of this direction while the opposite one keeps flowing."""
    while True:
        data = await source.read(_RELAY_CHUNK)
        if not data:
            break
        sink.write(data)
        await sink.drain()
    if sink.can_write_eof() and not sink.is_closing():
        sink.write_eof()


async def _relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                 up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter, *,
                 until_upstream_eof: bool) -> None:
    """Relay both directions. A tunnel ends when both directions have ended
    or either fails; a forwarded plain request ends with the upstream's answer."""
    upward = asyncio.create_task(_pump(client_reader, up_writer))
    downward = asyncio.create_task(_pump(up_reader, client_writer))
    tasks = {upward, downward}
    try:
        pending: set[asyncio.Task[None]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(t.cancelled() or t.exception() is not None for t in done):
                break
            if until_upstream_eof and downward in done:
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _set_reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a stream: flush briefly when closing normally, abort at once when
    the connection is being cancelled or the peer does not read."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        writer.transport.abort()
    elif not writer.transport.is_closing():
        writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), _WRITE_CLOSE_SECONDS)
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    except Exception:  # reset by peer, flush timed out: nothing left to save
        writer.transport.abort()
