"""The bridge server: one per shell run, deciding every exec of its shell.

Usage (the runtime does this)::

    bridge = ExecBridge(decide, wrapper=install.wrapper, writable_roots=roots)
    bridge.start()                      # in the event loop that will serve it
    env.update(bridge.environment())    # CODEX_ESCALATE_SOCKET, EXEC_WRAPPER
    ... spawn [install.zsh, "-lc", script] with pass_fds=bridge.pass_fds ...
    ... when the run ends, however: bridge.kill_escalated(); await bridge.close()

The shell inherits one end of a datagram socketpair; each intercepted exec
arrives on the other end as a stream socket (spec §4), served by its own
task so the two sides of a pipeline proceed independently. Nothing the peer
sends can hang the server or the shell: frames are bounded, a malformed
frame or a wrong fd count ends that one session (the wrapper fails with
``Error: ...``, status 1, and never runs the command), a wrapper that dies
mid-request takes its escalated program down with it, and a decider that
raises denies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable
from typing import Protocol

from . import protocol
from .decision import Action, Decider, ExecRequest, InterceptedExec, Verdict
from .escalation import kill_group, spawn_escalated, unsafe_location
from .protocol import ProtocolError

__all__ = ["BRIDGE_VARIABLES", "ExecBridge", "GroupWatcher"]

log = logging.getLogger(__name__)

SOCKET_VARIABLE = "CODEX_ESCALATE_SOCKET"
WRAPPER_VARIABLES = ("EXEC_WRAPPER", "BASH_EXEC_WRAPPER")
BRIDGE_VARIABLES = (SOCKET_VARIABLE, *WRAPPER_VARIABLES)
# More concurrent execs than a shell can sensibly have in flight: past this,
# new ones are refused (their wrapper fails) rather than exhaust our fds.
MAX_SESSIONS = 256
# A wrapper sends its request at once; one that does not is stuck or hostile.
REQUEST_TIMEOUT_S = 30.0
DENIED_BY_ERROR = "execguard could not decide"


class GroupWatcher(Protocol):
    """Kills registered process groups if this process dies (execguard's
    runtime passes its watchdog)."""

    def watch(self, pgid: int) -> None: ...

    def forget(self, pgid: int) -> None: ...


class ExecBridge:
    """The server side of one shell run's exec bridge.

    ``decide`` judges each exec; ``wrapper`` is the compiled wrapper's path;
    ``writable_roots`` are the paths the sandbox may write (an escalation of
    a program under one of them runs inside the sandbox instead, see
    :mod:`.escalation`); ``sandboxed=False`` means the shell runs without a
    sandbox, so there is nothing to escalate out of and escalations simply
    run. ``on_exec`` receives every :class:`InterceptedExec` (also kept in
    :attr:`execs`).
    """

    def __init__(self, decide: Decider, *, wrapper: str,
                 writable_roots: Iterable[str] = (), sandboxed: bool = True,
                 on_exec: Callable[[InterceptedExec], None] | None = None,
                 watcher: GroupWatcher | None = None) -> None:
        self._decide = decide
        self._wrapper = wrapper
        self._writable_roots = tuple(writable_roots)
        self._sandboxed = sandboxed
        self._on_exec = on_exec
        self._watcher = watcher
        self.execs: list[InterceptedExec] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server_end: socket.socket | None = None
        self._client_end: socket.socket | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._escalated: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Create the socketpair and serve it in the running event loop."""
        if self._server_end is not None:
            raise RuntimeError("the bridge is already started")
        self._loop = asyncio.get_running_loop()
        server_end, client_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        server_end.setblocking(False)
        self._server_end, self._client_end = server_end, client_end
        self._loop.add_reader(server_end.fileno(), self._accept)

    def environment(self) -> dict[str, str]:
        """The variables the shell needs (spec §3)."""
        if self._client_end is None:
            raise RuntimeError("the bridge is not started")
        wrapper = self._wrapper
        return {SOCKET_VARIABLE: str(self._client_end.fileno()), "EXEC_WRAPPER": wrapper,
                "BASH_EXEC_WRAPPER": wrapper}

    @property
    def pass_fds(self) -> tuple[int, ...]:
        """The fd the shell must inherit (at the same number)."""
        if self._client_end is None:
            raise RuntimeError("the bridge is not started")
        return (self._client_end.fileno(),)

    def kill_escalated(self) -> None:
        """The run is ending: SIGKILL every escalated program still running
        (and its group), and answer nothing more. A wrapper left waiting
        keeps its shell waiting until the shell is killed; an answer (even
        the killed program's exit status) would let the shell run its next
        command in the moment before it dies. Safe to call from any point of
        the run's teardown, repeatedly."""
        self._stopping = True
        for pid, child in list(self._escalated.items()):
            if child.returncode is None:
                kill_group(pid)

    async def close(self) -> None:
        """Stop serving: escalated programs are killed, sessions end, every
        fd is closed."""
        if self._closed:
            return
        self._closed = True
        self.kill_escalated()
        if self._server_end is not None and self._loop is not None:
            self._loop.remove_reader(self._server_end.fileno())
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        for end in (self._server_end, self._client_end):
            if end is not None:
                end.close()

    # -- accepting ------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._server_end is not None and self._loop is not None
        for stream in protocol.receive_handshakes(self._server_end):
            if self._closed or self._stopping or len(self._sessions) >= MAX_SESSIONS:
                log.warning("exec bridge: refusing an exec (%d in flight)", len(self._sessions))
                stream.close()
                continue
            task = self._loop.create_task(self._serve(stream))
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)

    # -- one exec -------------------------------------------------------------------

    async def _serve(self, stream: socket.socket) -> None:
        try:
            await self._session(stream)
        except ProtocolError as error:
            log.warning("exec bridge: %s", error)
        except OSError as error:  # the wrapper went away
            log.info("exec bridge: wrapper connection lost: %s", error)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug of ours must not take the server down
            log.exception("exec bridge: session failed")
        finally:
            stream.close()

    async def _session(self, stream: socket.socket) -> None:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            frame = await protocol.read_frame(stream)
        if frame is None:
            return
        message = protocol.parse_request(frame)
        request = ExecRequest(message.file, tuple(message.argv), message.workdir,
                              _without_bridge_variables(message.env))
        verdict = await self._judge(request)
        if verdict.action is Action.DENY:
            await self._reply(stream, protocol.deny_response(verdict.reason))
            self._report(InterceptedExec(tuple(request.command), request.workdir, Action.DENY,
                                         verdict.reason))
            return
        real, note = None, None
        if verdict.action is Action.ESCALATE and self._sandboxed:
            real, note = unsafe_location(request.program, self._writable_roots)
            if real is None:
                note = f"ran inside the sandbox: {note}"
        elif verdict.action is Action.ESCALATE:
            note = "no sandbox to leave: ran in place"
        if real is None:
            await self._reply(stream, protocol.run_response())
            self._report(InterceptedExec(tuple(request.command), request.workdir, Action.RUN,
                                         verdict.reason, note=note))
            return
        await self._reply(stream, protocol.escalate_response())
        code = await self._escalate(stream, request, real, verdict.reason)
        await self._reply(stream, protocol.exit_code_response(code))

    async def _reply(self, stream: socket.socket, payload: bytes) -> None:
        if self._stopping:  # see kill_escalated: hold the wrapper until close()
            await asyncio.Event().wait()
        await protocol.write_frame(stream, payload)

    async def _judge(self, request: ExecRequest) -> Verdict:
        if any("\0" in part for part in (request.file, request.workdir, *request.argv)):
            return Verdict.deny("argument contains a NUL byte")
        try:
            return await self._decide(request)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("exec bridge: the decider failed")
            return Verdict.deny(f"{DENIED_BY_ERROR}: {error}")

    async def _escalate(self, stream: socket.socket, request: ExecRequest, real: str,
                        reason: str | None) -> int:
        """Run the escalation; reported once the program has ended (or
        could not start), whether or not the wrapper is still there."""

        def report(code: int, note: str | None = None) -> None:
            self._report(InterceptedExec(tuple(request.command), request.workdir,
                                         Action.ESCALATE, reason, exit_code=code, note=note))

        fds: list[int] = []
        try:
            # The wrapper sends its fds right after the answer, as it sends
            # its request: one that does not is stuck or hostile.
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                frame = await protocol.read_frame(stream, limit=64 * 1024, fds=fds)
            if frame is None:
                raise ProtocolError("wrapper left before sending its fds")
            targets = protocol.parse_super_exec(frame).fds
            if len(targets) != len(fds):
                raise ProtocolError(f"{len(fds)} fds attached for {len(targets)} destinations")
            if len(set(targets)) != len(targets) or not set(targets) <= {0, 1, 2}:
                raise ProtocolError(f"bad fd destinations {targets}: expected some of 0, 1, 2")
            try:
                child = spawn_escalated(real, request.argv, request.workdir, request.env,
                                        dict(zip(targets, fds, strict=True)))
            except (OSError, ValueError) as error:
                text = error.strerror if isinstance(error, OSError) else str(error)
                _write_stderr(dict(zip(targets, fds, strict=True)).get(2),
                              f"execguard: cannot run {request.program}: {text}\n")
                report(127)
                return 127
        finally:
            protocol.close_fds(fds)
        return await self._wait_escalated(child, stream, report)

    async def _wait_escalated(self, child: subprocess.Popen[bytes], stream: socket.socket,
                              report: Callable[[int, str | None], None]) -> int:
        """The child's exit code (128+N for a signal). If the wrapper goes
        away first (the shell run was killed), the child is killed too.
        ``report`` gets the exit code however the wait ends."""
        assert self._loop is not None
        loop = self._loop
        pid = child.pid
        self._escalated[pid] = child
        if self._watcher is not None:
            self._watcher.watch(pid)
        exited: asyncio.Future[None] = loop.create_future()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # out of fds: do not leave the program running unwatched
            kill_group(pid)
            code = await asyncio.to_thread(child.wait)
            del self._escalated[pid]
            if self._watcher is not None:
                self._watcher.forget(pid)
            report(128 - code if code < 0 else code, "killed: could not watch it")
            raise
        loop.add_reader(pidfd, _resolve, exited)
        gone = loop.create_task(_peer_gone(stream))
        waited = False
        try:
            await asyncio.wait([exited, gone], return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                kill_group(pid)
                await exited
            # Background jobs it left in its group go with it (as for the run).
            kill_group(pid)
            waited = True
        finally:
            if not exited.done():  # cancelled: the run is being torn down
                kill_group(pid)
            loop.remove_reader(pidfd)
            os.close(pidfd)
            gone.cancel()
            code = child.wait()
            del self._escalated[pid]
            if self._watcher is not None:
                self._watcher.forget(pid)
            left = gone.done() and not gone.cancelled()
            status = code if code >= 0 else 128 - code
            # It ran outside the sandbox: it goes on the record however it ended.
            note = None
            if code == -signal.SIGKILL and left:
                note = "killed: its wrapper went away"
            elif code == -signal.SIGKILL and (not waited or self._stopping):
                note = "killed: the run ended"
            report(status, note)
            # The watch must let go of the stream's fd before the caller
            # closes it: its number may be reused at once.
            await asyncio.wait([gone])
        if left:
            raise ProtocolError("wrapper left while its escalated program ran")
        return status

    def _report(self, record: InterceptedExec) -> None:
        self.execs.append(record)
        if self._on_exec is not None:
            try:
                self._on_exec(record)
            except Exception:
                log.exception("exec bridge: on_exec failed")


async def _peer_gone(stream: socket.socket) -> None:
    """Returns when the wrapper's end closes (it sends nothing more)."""
    loop = asyncio.get_running_loop()
    while True:
        await protocol.wait_readable(loop, stream)
        # Stray bytes (and fds) are dropped: the watch goes on until the end.
        if protocol.drain(stream):
            return


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _without_bridge_variables(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in BRIDGE_VARIABLES}


def _write_stderr(fd: int | None, text: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, text.encode("utf-8", "surrogateescape"))
