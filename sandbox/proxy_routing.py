"""The proxy route: listeners inside a sandbox's network namespace, served
by the host's :class:`~execguard.sandbox.network.NetworkProxy`.

A network-restricted sandbox gets a network namespace of its own
(``bwrap --unshare-net``) with nothing but loopback, and a seccomp filter
(``PROXY_ROUTED``) that allows only ``AF_INET``/``AF_INET6`` sockets. Its only
way out is therefore what listens on its own ``127.0.0.1``: this module puts
two listening sockets there, on the same port numbers as the host proxy's
HTTP and SOCKS5 listeners (a fresh namespace has every port free), so that
``proxy_environment(http_port, socks_port)`` is right on both sides, and
hands them to the proxy (:meth:`NetworkProxy.serve_sockets`), which serves
them like its own, with the route's context on every request: the decider
and the observer can tell which command asked, and which was blocked.

No process runs inside the sandbox and no interpreter starts per command:

1. bwrap reports its sandbox child's pid on ``--info-fd`` and waits on
   ``--block-fd`` before it executes the command;
2. we fork a helper that enters the child's network namespace, after the
   user namespace that owns it (``setns``; entering a user namespace needs
   a single-threaded process, and the owner of a user namespace has every
   capability in it, so this works unprivileged too; the owner, not
   ``/proc/PID/ns/user``: unprivileged, bwrap nests a second user namespace
   in the sandbox before it waits, which has no rights over the network
   namespace), creates, binds and
   listens the sockets there, sends them back over a socketpair
   (``SCM_RIGHTS``) and exits; it is reaped at once (whatever becomes of
   the event loop, no zombie is left). A socket stays in the namespace it
   was created in, so the proxy, in this process, accepts on them from then
   on, and its connections upstream leave from the host's namespace;
3. we write one byte to the block fd and bwrap executes the command.

Any failure (timeout, bwrap gone, ``setns`` refused, a port taken, the proxy
closed) kills the sandbox before the byte is written: the command never runs
with a half-built route. (End of file on the block fd would let bwrap go on,
which is why the pipe is closed only once the sandbox is known to be dead.)

Serving starts on the proxy's event loop a moment later (the route is built
in the spawner's thread, which must not wait for the loop); a connection
made before then waits in the listener's backlog. Nothing is relayed: the
sockets lead nowhere but into the proxy, so once the route or the proxy
closes, they are closed and the sandbox's connections are refused (or reset,
those in flight); no host port is involved that another program could take.
The proxy closing closes every route of its router.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import select
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from .backend import SandboxUnavailable
from .network.environment import proxy_environment
from .network.proxy import run_on_loop

if TYPE_CHECKING:
    from .network.proxy import NetworkProxy, ProxyListeners

__all__ = [
    "DEFAULT_SETUP_TIMEOUT",
    "BwrapRouteHook",
    "ProxyRoute",
    "ProxyRouter",
    "ProxyRoutingError",
    "route_into_sandbox",
]

_log = logging.getLogger(__name__)

DEFAULT_SETUP_TIMEOUT = 5.0
"""Seconds from spawning bwrap to a listening route (bwrap needs a few ms)."""

_LOOPBACK = "127.0.0.1"
_BACKLOG = 128
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)  # <linux/in.h>
_NS_GET_USERNS = 0xB701  # <linux/nsfs.h>: _IO(0xb7, 0x1)
_KILL_WAIT_S = 2.0
_OK = b"OK"


class ProxyRoutingError(SandboxUnavailable):
    """The route into a sandbox could not be built; the command must not run."""


# -- setns ---------------------------------------------------------------------------

def _load_setns() -> Callable[[int, int], int] | None:
    """``setns(2)``, loaded in the parent: the forked helper must not have
    to load a library (``dlopen`` takes locks another thread may have held
    at the fork)."""
    native = getattr(os, "setns", None)  # Python >= 3.12
    if native is not None:
        def call(fd: int, nstype: int) -> int:
            native(fd, nstype)
            return 0
        return call
    try:
        function = ctypes.CDLL(None, use_errno=True).setns
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int

    def call_libc(fd: int, nstype: int) -> int:
        if function(fd, nstype) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return 0
    return call_libc


_SETNS = _load_setns()


# -- the route -----------------------------------------------------------------------

class ProxyRoute:
    """The listeners inside one sandbox's network namespace, served by the
    router's proxy with the route's :attr:`context`.

    Created by :func:`route_into_sandbox`. It closes itself when the
    sandbox's first process exits (the whole sandbox is gone then; the
    sockets would otherwise keep its namespace alive) and when the proxy
    closes; :meth:`close` may be called earlier, from any thread, any number
    of times.
    """

    def __init__(self, router: ProxyRouter, sandbox_pid: int, sandbox_pidfd: int,
                 listeners: list[socket.socket], context: object = None) -> None:
        self.router = router
        self.sandbox_pid = sandbox_pid
        self.ports = router.ports
        self.context = context
        self._pidfd: int | None = sandbox_pidfd
        self._listeners = listeners
        self._lock = threading.Lock()
        self._closed = False
        self._started = False
        self._served: ProxyListeners | None = None
        self._serving: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def active_connections(self) -> int:
        """Connections from the sandbox being served now."""
        return 0 if self._served is None else self._served.active_connections

    @property
    def open_sockets(self) -> int:
        """Sockets of this route still open (listeners and connections): 0
        once it has closed."""
        return sum(s.fileno() >= 0 for s in self._listeners) + self.active_connections

    def close(self) -> None:
        """Stop listening and end every connection from the sandbox, with a
        reset (asynchronously, on the proxy's loop; :meth:`wait_closed`
        waits for it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not run_on_loop(self.router.loop, self._shutdown):
            self._release()  # the loop is closed: nothing runs on it any more

    async def wait_closed(self) -> None:
        """Wait (on the proxy's loop) until the listeners are closed and
        every connection from the sandbox has ended."""
        if self._done is None:
            self._done = self.router.loop.create_future()
            self._maybe_done()
        await asyncio.shield(self._done)

    # Everything below runs on the proxy's loop.

    def _start(self) -> None:
        if self._closed:
            self._release()
            return
        self._started = True
        if self._pidfd is not None:
            self.router.loop.add_reader(self._pidfd, self.close)
        self._serving = self.router.loop.create_task(self._serve())
        self._serving.add_done_callback(self._served_done)

    async def _serve(self) -> None:
        """Hand the listeners to the proxy; once they close (this route
        closed them, or the proxy closed), close the route."""
        http, socks = self._listeners
        try:
            served = await self.router.proxy.serve_sockets(
                http, socks, context=self.context, max_connections=self.router.max_connections)
        except Exception as error:  # the proxy closed the sockets: nothing listens
            _log.warning("the network proxy cannot serve the route of sandbox %d: %s",
                         self.sandbox_pid, error)
            self.close()
            return
        self._served = served
        if self._closed:  # closed while the proxy took the sockets over
            served.close()
        await served.wait_closed()
        self.close()  # the proxy closed: so does the route

    def _served_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            _log.error("proxy route task failed", exc_info=task.exception())
        self._maybe_done()

    def _shutdown(self) -> None:
        if not self._started:
            self._release()
            return
        if self._pidfd is not None:
            self.router.loop.remove_reader(self._pidfd)
        if self._served is not None:
            self._served.close()
        # Otherwise the serving task closes what the proxy returns.
        self._close_pidfd()
        self.router._forget(self)
        self._maybe_done()

    def _release(self) -> None:
        """Close what the proxy does not own (the route never started serving)."""
        for listener in self._listeners:
            listener.close()
        self._close_pidfd()
        self.router._forget(self)
        self._maybe_done()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def _maybe_done(self) -> None:
        if (self._done is not None and not self._done.done() and self._closed
                and (self._serving is None or self._serving.done())
                and self.open_sockets == 0):
            self._done.set_result(None)


# -- the router ----------------------------------------------------------------------


class ProxyRouter:
    """Routes sandboxes to one started host proxy, which serves each
    sandbox's listeners on its own event loop. Owned next to the proxy::

        async with NetworkProxy(policy) as proxy:
            router = ProxyRouter.for_proxy(proxy)
            try:
                confinement = BwrapBackend().confine(argv, policy, cwd, env,
                                                     proxy=router, proxy_context=command)
                ...  # Popen, then confinement.after_spawn(popen.pid)
            finally:
                await router.aclose()

    Closing the proxy closes the router and all its routes. ``setup_timeout``
    bounds building one route (bwrap's start included), ``max_connections``
    the connections one route has open at once (the proxy's own cap holds
    for all together).
    """

    def __init__(self, proxy: NetworkProxy, *,
                 setup_timeout: float = DEFAULT_SETUP_TIMEOUT,
                 max_connections: int = 256) -> None:
        if max_connections < 1:
            raise ValueError(f"invalid max_connections {max_connections}")
        self.proxy = proxy
        # The in-sandbox listeners get the proxy's port numbers.
        self.ports = (proxy.http_port, proxy.socks_port)
        self.loop = proxy.loop
        self.setup_timeout = setup_timeout
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._routes: set[ProxyRoute] = set()
        self._closed = False

    @classmethod
    def for_proxy(cls, proxy: NetworkProxy, *, setup_timeout: float = DEFAULT_SETUP_TIMEOUT,
                  max_connections: int = 256) -> ProxyRouter:
        """The router of a started ``NetworkProxy`` (from any thread)."""
        return cls(proxy, setup_timeout=setup_timeout, max_connections=max_connections)

    @property
    def http_port(self) -> int:
        return self.ports[0]

    @property
    def socks_port(self) -> int:
        return self.ports[1]

    @property
    def closed(self) -> bool:
        """Closed, or its proxy is: no route is built any more."""
        return self._closed or self.proxy.closed

    @property
    def routes(self) -> tuple[ProxyRoute, ...]:
        """The routes open now."""
        with self._lock:
            return tuple(self._routes)

    def environment(self) -> dict[str, str]:
        """The sandboxed command's proxy variables: the in-namespace
        listeners have the host proxy's port numbers."""
        return proxy_environment(*self.ports)

    def route(self, sandbox_pid: int, context: object = None, *,
              timeout: float | None = None) -> ProxyRoute:
        """See :func:`route_into_sandbox`."""
        return route_into_sandbox(sandbox_pid, self, context=context, timeout=timeout)

    def bwrap_hook(self, context: object = None) -> BwrapRouteHook:
        """The pipes and the after-spawn step of one bwrap command, whose
        requests the proxy tags with ``context``."""
        return BwrapRouteHook(self, context)

    def close(self) -> None:
        """Close every route and refuse new ones (thread-safe, idempotent)."""
        self._close()

    async def aclose(self) -> None:
        """:meth:`close`, then wait until every route has closed."""
        await asyncio.gather(*(route.wait_closed() for route in self._close()))

    def _close(self) -> list[ProxyRoute]:
        with self._lock:
            self._closed = True
            routes = list(self._routes)
        for route in routes:
            route.close()
        return routes

    def _check_open(self) -> None:
        if self._closed:
            raise ProxyRoutingError("the proxy router is closed")
        if self.proxy.closed:
            raise ProxyRoutingError("the proxy router is closed (its network proxy closed)")

    def _add(self, route: ProxyRoute) -> None:
        with self._lock:
            self._check_open()
            self._routes.add(route)

    def _forget(self, route: ProxyRoute) -> None:
        with self._lock:
            self._routes.discard(route)


def route_into_sandbox(sandbox_pid: int, router: ProxyRouter, *, context: object = None,
                       timeout: float | None = None) -> ProxyRoute:
    """Listen on ``127.0.0.1:<router's ports>`` in the network namespace of
    ``sandbox_pid`` and have the router's proxy serve those listeners, with
    ``context`` on every request from them.

    Synchronous and callable from any thread (the runtime calls it right
    after spawning, on its event loop: it blocks for the fork of one
    helper, a few milliseconds); serving starts on the proxy's loop, and
    connections made before that wait in the listeners' backlog. Raises
    :class:`ProxyRoutingError` (nothing is left listening) on any failure.
    """
    router._check_open()
    if not router.loop.is_running():
        raise ProxyRoutingError("the network proxy's event loop is not running")
    deadline = time.monotonic() + (router.setup_timeout if timeout is None else timeout)
    try:
        pidfd = os.pidfd_open(sandbox_pid)
    except OSError as error:
        raise ProxyRoutingError(f"the sandbox (pid {sandbox_pid}) is gone: {error}") from None
    try:
        listeners = _listen_in_namespace(sandbox_pid, pidfd, router.ports, deadline)
    except BaseException:
        os.close(pidfd)
        raise
    route = ProxyRoute(router, sandbox_pid, pidfd, listeners, context)
    try:
        router._add(route)
        router.loop.call_soon_threadsafe(route._start)
    except BaseException as error:
        with route._lock:
            route._closed = True
        route._release()
        if isinstance(error, RuntimeError):  # the loop closed meanwhile
            raise ProxyRoutingError(f"the network proxy cannot serve: {error}") from None
        raise
    return route


def _listen_in_namespace(sandbox_pid: int, pidfd: int, ports: tuple[int, ...],
                         deadline: float) -> list[socket.socket]:
    """The listening sockets, created in the sandbox's network namespace by
    a forked helper (see the module docstring). The helper is reaped here,
    on every path: it exits right after sending them (or is killed)."""
    if _SETNS is None:
        raise ProxyRoutingError("setns(2) is not available")
    namespaces: list[int] = []
    try:
        namespaces.append(os.open(f"/proc/{sandbox_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC))
        # The user namespace that owns it (see the module docstring).
        namespaces.insert(0, fcntl.ioctl(namespaces[0], _NS_GET_USERNS))
        # The pidfd pins the process, not its pid: if it is still running
        # now, the namespace files above are really its own.
        if _exited(pidfd):
            raise ProxyRoutingError(f"the sandbox (pid {sandbox_pid}) exited")
        own_user = os.stat("/proc/self/ns/user")
        target_user = os.fstat(namespaces[0])
        enter_user = (own_user.st_ino, own_user.st_dev) != (target_user.st_ino,
                                                            target_user.st_dev)
    except OSError as error:
        for fd in namespaces:
            os.close(fd)
        # An exiting process loses its namespaces a moment before its pidfd
        # reports the exit: tell that apart from a real failure.
        if _exited(pidfd, max(deadline - time.monotonic(), 0)):
            raise ProxyRoutingError(f"the sandbox (pid {sandbox_pid}) exited") from None
        raise ProxyRoutingError(
            f"cannot open the sandbox's namespaces (pid {sandbox_pid}): {error}") from None
    except BaseException:
        for fd in namespaces:
            os.close(fd)
        raise
    user_fd, net_fd = namespaces
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    helper = 0
    sent = False
    try:
        # Signals stay blocked in the helper: a handler of ours running
        # there would answer for the server (asyncio's wakeup fd is shared).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking a threaded process; the
                # helper only makes system calls (setns, socket, sendmsg) and
                # leaves with os._exit, so no lock another thread held matters.
                warnings.simplefilter("ignore", DeprecationWarning)
                helper = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
        if helper == 0:
            _helper(theirs, user_fd if enter_user else None, net_fd, ports)  # never returns
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        ours.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            message, fds, flags, _ = socket.recv_fds(ours, 512, len(ports),
                                                     socket.MSG_CMSG_CLOEXEC)
        except TimeoutError:
            raise ProxyRoutingError("building the proxy route timed out") from None
        listeners = [socket.socket(fileno=fd) for fd in fds]
        if message != _OK or len(listeners) != len(ports) or flags & socket.MSG_CTRUNC:
            for listener in listeners:
                listener.close()
            text = message.decode("utf-8", "replace") or "the helper exited"
            raise ProxyRoutingError(f"cannot listen in the sandbox's network namespace: {text}")
        sent = True
        for listener in listeners:
            listener.setblocking(False)
        return listeners
    finally:
        if helper > 0:
            # Synchronously: collecting it later (on an event loop that may
            # stop first) could leave a zombie. Once it has sent the sockets
            # it only has to exit; otherwise it is killed.
            _reap(helper, kill=not sent)
        ours.close()
        theirs.close()
        os.close(user_fd)
        os.close(net_fd)


def _helper(channel: socket.socket, user_fd: int | None, net_fd: int,
            ports: tuple[int, ...]) -> None:
    """The forked child: enter the namespaces, listen, send the sockets, exit."""
    code = 1
    try:
        assert _SETNS is not None
        if user_fd is not None:
            _SETNS(user_fd, _CLONE_NEWUSER)  # first: it grants the rights for the next
        _SETNS(net_fd, _CLONE_NEWNET)
        listeners = []
        for port in ports:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            # bwrap may not have brought loopback up yet; the bind must not
            # depend on it (the address is live by the time the command runs).
            listener.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
            listener.bind((_LOOPBACK, port))
            listener.listen(_BACKLOG)
            listeners.append(listener)
        socket.send_fds(channel, [_OK], [listener.fileno() for listener in listeners])
        code = 0
    except BaseException as error:
        with contextlib.suppress(BaseException):
            channel.sendall(f"{type(error).__name__}: {error}".encode()[:500])
    finally:
        os._exit(code)


def _reap(pid: int, *, kill: bool) -> None:
    """Collect the helper: it exits right after sending its answer; without
    one (a timeout, an error) it is killed first, so the wait is short."""
    with contextlib.suppress(ChildProcessError):  # someone reaps every child
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _exited(pidfd: int, timeout: float = 0.0) -> bool:
    """Whether the process of ``pidfd`` has exited (waiting up to ``timeout``)."""
    readable, _, _ = select.select([pidfd], [], [], timeout)
    return bool(readable)


# -- bubblewrap ----------------------------------------------------------------------

class BwrapRouteHook:
    """The bubblewrap side of one routed command.

    :attr:`args` go into bwrap's argv (``--info-fd``/``--block-fd``),
    :attr:`pass_fds` into the spawn, :meth:`environment` into the command's
    environment; :meth:`after_spawn` must be called with bwrap's pid right
    after it is spawned, and :meth:`close` once the command is over (or
    could not start)."""

    def __init__(self, router: ProxyRouter, context: object = None) -> None:
        self.router = router
        self.context = context
        self.route: ProxyRoute | None = None
        self._fds: dict[str, int] = {}
        self._spawned = False
        try:
            self._fds["info_read"], self._fds["info_write"] = os.pipe()
            self._fds["block_read"], self._fds["block_write"] = os.pipe()
        except BaseException:
            self.close()
            raise

    @property
    def args(self) -> list[str]:
        return ["--info-fd", str(self._fds["info_write"]),
                "--block-fd", str(self._fds["block_read"])]

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._fds["info_write"], self._fds["block_read"])

    def environment(self) -> dict[str, str]:
        return self.router.environment()

    def after_spawn(self, pid: int) -> None:
        """Build the route into the sandbox of bwrap ``pid``, then let bwrap
        execute the command. On failure the sandbox and bwrap are killed and
        :class:`ProxyRoutingError` is raised: the caller reaps ``pid`` and
        reports the command as not started. Except when the sandbox ended
        by itself before its command (bwrap could not set it up: a missing
        mount source, say): nothing can run then, and bwrap's own message
        and exit status say more than ours would, so it is left to report."""
        if self._spawned:
            raise RuntimeError("after_spawn may be called once")
        self._spawned = True
        # bwrap has its copies; ours would hide its exit from our reads.
        self._close("info_write")
        self._close("block_read")
        deadline = time.monotonic() + self.router.setup_timeout
        sandbox: int | None = None  # a pidfd: the sandbox, even once its pid is free
        reaped = False  # the sandbox had ended and bwrap had reaped it already
        try:
            if "block_write" not in self._fds:
                raise ProxyRoutingError("the route's pipes are closed")
            sandbox_pid = _read_child_pid(self._fds["info_read"], deadline)
            # bwrap reaps it only after it has exited: either it is still
            # this pid, or a zombie (pidfd_open then still works), or gone.
            try:
                sandbox = os.pidfd_open(sandbox_pid)
            except ProcessLookupError:
                reaped = True
            except OSError:
                pass
            self.route = route_into_sandbox(
                sandbox_pid, self.router, context=self.context,
                timeout=max(deadline - time.monotonic(), 0.001))
            os.write(self._fds["block_write"], b"1")
        except BaseException as error:
            if self.route is not None:
                self.route.close()
            if isinstance(error, Exception) and (
                    reaped or (sandbox is not None and _exited(sandbox))):
                self._close("block_write")
                return
            _kill_sandbox(pid, sandbox)
            if isinstance(error, ProxyRoutingError) or not isinstance(error, Exception):
                raise
            raise ProxyRoutingError(f"cannot route the sandbox through the proxy: {error}"
                                    ) from error
        finally:
            self._close("info_read")
            if sandbox is not None:
                os.close(sandbox)
        self._close("block_write")

    def close(self) -> None:
        """Release the pipes and the route (idempotent).

        Closing the block fd lets a waiting sandbox go on to its command.
        If bwrap was spawned but :meth:`after_spawn` never ran (the spawner
        failed in between, or does not know about it), the sandbox bwrap
        reported is killed first; killing bwrap is not enough (see
        :func:`_kill_sandbox`)."""
        if not self._spawned and "info_read" in self._fds and "block_write" in self._fds:
            self._spawned = True
            try:
                sandbox_pid: int | None = _read_child_pid(self._fds["info_read"],
                                                          time.monotonic())
            except (ProxyRoutingError, OSError):
                sandbox_pid = None  # never spawned (or not as far as a sandbox)
            if sandbox_pid is not None:
                with contextlib.suppress(OSError):
                    sandbox = os.pidfd_open(sandbox_pid)
                    try:
                        signal.pidfd_send_signal(sandbox, signal.SIGKILL)
                    finally:
                        os.close(sandbox)
        for name in list(self._fds):
            self._close(name)
        if self.route is not None:
            self.route.close()

    def _close(self, name: str) -> None:
        fd = self._fds.pop(name, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_child_pid(fd: int, deadline: float) -> int:
    """The ``child-pid`` of bwrap's ``--info-fd`` JSON."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        readable, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not readable:
            if remaining <= 0:
                raise ProxyRoutingError("bubblewrap did not report its sandbox in time")
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise ProxyRoutingError("bubblewrap exited before it reported its sandbox")
        data += chunk
        if b"}" in data:
            try:
                info = json.loads(data)
            except ValueError:
                continue  # a "}" in the middle of a longer report
            pid = info.get("child-pid") if isinstance(info, dict) else None
            if not isinstance(pid, int) or pid <= 0:
                raise ProxyRoutingError(f"unexpected bubblewrap info: {data[:200]!r}")
            return pid
        if len(data) > 64 * 1024:
            raise ProxyRoutingError("bubblewrap's info report is too long")


def _kill_sandbox(bwrap_pid: int, sandbox: int | None) -> None:
    """Kill the sandbox before its command can run, and bwrap.

    Killing bwrap is not enough: its sandbox child does not die with it
    (``--die-with-parent`` is about bwrap's parent) and would read end of
    file on the block fd once it is closed, then run the command. So bwrap
    is stopped first (it can then neither start nor reap a child), its
    sandbox child (``sandbox``, a pidfd; when bwrap did not report it,
    found among its children) is killed (as the first process of its pid
    namespace, with everything in it), then bwrap. Waits, without reaping
    (bwrap is the caller's child), until bwrap has exited."""
    try:
        bwrap: int | None = os.pidfd_open(bwrap_pid)
    except OSError:
        bwrap = None  # already reaped: its children are not ours to find
    try:
        if bwrap is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(bwrap, signal.SIGSTOP)
            _wait_stopped(bwrap_pid, bwrap)
        if sandbox is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(sandbox, signal.SIGKILL)
        else:
            for pid in _children(bwrap_pid):
                with contextlib.suppress(OSError):
                    victim = os.pidfd_open(pid)
                    try:
                        signal.pidfd_send_signal(victim, signal.SIGKILL)
                    finally:
                        os.close(victim)
        if bwrap is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(bwrap, signal.SIGKILL)
            _exited(bwrap, _KILL_WAIT_S)
    finally:
        if bwrap is not None:
            os.close(bwrap)


def _wait_stopped(pid: int, pidfd: int) -> None:
    """Wait (briefly) until ``pid`` is stopped or gone: a stop signal is
    delivered asynchronously."""
    deadline = time.monotonic() + _KILL_WAIT_S
    while time.monotonic() < deadline and not _exited(pidfd):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                state = handle.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            return
        if state in (b"T", b"t", b"Z", b"X"):
            return
        time.sleep(0.001)


def _children(pid: int) -> list[int]:
    """The children of single-threaded process ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return []
