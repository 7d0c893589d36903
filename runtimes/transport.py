"""The app server's transports: stdio and WebSocket.

* stdio (the reference's default): one connection, newline-delimited JSON
  on stdin/stdout. End of stdin ends the connection: every running command
  is killed and the server exits at once.
* ``ws://IP:PORT``: any number of connections, one JSON-RPC message per
  text frame (binary frames are ignored), each connection initialized on
  its own, answers only to the connection that asked. The handshake is
  checked by :mod:`.auth` before the connection exists.

Both write with flow control: a message is handed over only when the send
buffer has room (asyncio's ``drain`` for stdio pipes, the websockets
library's write limit), so a client that stops reading stops its commands'
output pumps rather than growing the server's memory.

Shutdown (SIGINT / SIGTERM, see :class:`Shutdown`): stop reading requests
and accepting connections, give running commands up to the grace period
to finish and answer, then kill what is left. A second signal skips the
rest of the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from .server import AppServer, Connection

if TYPE_CHECKING:  # websockets is imported only when serving WebSocket
    from websockets.asyncio.server import ServerConnection

    from .auth import TokenAuth

__all__ = ["Shutdown", "serve_stdio", "serve_websocket"]

READ_CHUNK = 64 * 1024
# stdout: the asyncio write buffer and the pipe's kernel buffer (see
# `_stdout_writer`). Bounded, so a client that stops reading still stops
# the commands that write to it.
WRITE_BUFFER_BYTES = 4 * 1024 * 1024
PIPE_BYTES = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# A longer line is dropped (unanswered, like a line that is not JSON)
# instead of being buffered without bound. 8 MiB of stdin in one write
# is about 11 MiB of base64.
MAX_LINE = 256 * 1024 * 1024
MAX_WS_MESSAGE = MAX_LINE
# The WebSocket send buffer's high-water mark (bytes).
WS_WRITE_LIMIT = 256 * 1024
DEFAULT_GRACE_S = 5.0


class Shutdown:
    """The server is asked to stop: ``requested`` is set by the first
    signal, ``forced`` by the second (no more waiting)."""

    def __init__(self, grace: float = DEFAULT_GRACE_S) -> None:
        self.grace = grace
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()
        self._deadline: float | None = None

    def request(self) -> None:
        if self.requested.is_set():
            self.forced.set()
            return
        self._deadline = asyncio.get_running_loop().time() + self.grace
        self.requested.set()

    def remaining(self) -> float:
        if self._deadline is None or self.forced.is_set():
            return 0.0
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    async def drain(self, connection: Connection) -> None:
        """Let ``connection``'s commands finish within the grace period."""
        drained = asyncio.create_task(connection.drain(self.remaining()))
        forced = asyncio.create_task(self.forced.wait())
        try:
            await asyncio.wait({drained, forced}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
            forced.cancel()


async def _serve_connection(connection: Connection, reading: asyncio.Task[None],
                            broken: asyncio.Event, shutdown: Shutdown) -> None:
    """Run one connection until its peer goes away (``reading`` ends or a
    send fails) or the server stops; then close it (its commands die)."""
    stopping = asyncio.create_task(shutdown.requested.wait())
    failing = asyncio.create_task(broken.wait())
    try:
        await asyncio.wait({reading, stopping, failing}, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done() and not broken.is_set():
            reading.cancel()  # stop taking requests; let the running ones answer
            await shutdown.drain(connection)
    finally:
        for task in (reading, stopping, failing):
            task.cancel()
        await connection.close()


# -- stdio ---------------------------------------------------------------------------


def _is_stream(fd: int) -> bool:
    """Pipes and sockets go through the event loop; ttys and regular files
    (which epoll cannot watch, or which share a non-blocking flag with the
    terminal) through plain blocking I/O."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _stdin_reader(fd: int) -> Callable[[], Awaitable[bytes]]:
    loop = asyncio.get_running_loop()
    if _is_stream(fd):
        reader = asyncio.StreamReader(limit=READ_CHUNK * 4)
        pipe = os.fdopen(fd, "rb", buffering=0, closefd=False)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        return partial(reader.read, READ_CHUNK)
    # A daemon thread, so that a read blocked on a terminal never delays exit.
    chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    def pump() -> None:
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except OSError:
                chunk = b""
            try:
                asyncio.run_coroutine_threadsafe(chunks.put(chunk), loop).result()
            except Exception:  # the loop is gone: the server is exiting
                return
            if not chunk:
                return

    threading.Thread(target=pump, name="execguard-stdin", daemon=True).start()
    return chunks.get


async def _stdout_writer(fd: int) -> tuple[Callable[[Sequence[bytes]], Awaitable[None]],
                                           Callable[[], Awaitable[None]]]:
    """``(send, close)`` for stdout."""
    loop = asyncio.get_running_loop()
    if _is_stream(fd):
        pipe = os.fdopen(fd, "wb", buffering=0, closefd=False)
        transport, flow = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, pipe)
        # Room for a few output deltas: the command's output is read while
        # the previous delta is still being written, and fewer wake-ups.
        transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        writer = asyncio.StreamWriter(transport, flow, None, loop)
        # A message's pieces go out together, each once there is room: a
        # response of a gigabyte is never copied whole into the buffer.
        whole_messages = asyncio.Lock()

        async def send(parts: Sequence[bytes]) -> None:
            async with whole_messages:
                for part in parts:
                    if transport.is_closing():
                        raise ConnectionResetError("stdout is closed")
                    writer.write(part)
                    await writer.drain()

        async def close() -> None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=2.0)

        return send, close

    async def send_blocking(parts: Sequence[bytes]) -> None:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view):]

    async def nothing() -> None:
        return None

    return send_blocking, nothing


async def _feed_lines(read: Callable[[], Awaitable[bytes]], connection: Connection) -> None:
    """Split stdin into lines and hand each to the connection, until EOF."""
    pending = bytearray()
    oversized = False
    while True:
        chunk = await read()
        if not chunk:
            break
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if oversized:
                oversized = False
            elif pending:
                pending += chunk[start:end]
                line = bytes(pending)
                pending.clear()
                await connection.receive(line)
            else:
                await connection.receive(chunk[start:end])
            start = end + 1
        if not oversized:
            pending += chunk[start:]
            if len(pending) > MAX_LINE:
                pending.clear()
                oversized = True
    if pending and not oversized:
        await connection.receive(bytes(pending))


async def serve_stdio(server: AppServer, shutdown: Shutdown) -> None:
    """Serve the one stdio connection until stdin ends, stdout breaks or
    the server is asked to stop."""
    read = await _stdin_reader(sys.stdin.fileno())
    write, close_stdout = await _stdout_writer(sys.stdout.fileno())
    broken = asyncio.Event()

    async def send(text: str) -> None:
        await write((text.encode("utf-8") + b"\n",))

    connection = server.connect(send, on_broken=broken.set, send_line=write)
    reading = asyncio.create_task(_feed_lines(read, connection))
    try:
        await _serve_connection(connection, reading, broken, shutdown)
    finally:
        await close_stdout()


# -- WebSocket -----------------------------------------------------------------------


async def _feed_frames(websocket: ServerConnection, connection: Connection) -> None:
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        async for message in websocket:
            if isinstance(message, str):
                await connection.receive(message)


async def serve_websocket(server: AppServer, shutdown: Shutdown, host: str, port: int,
                          auth: TokenAuth | None,
                          on_listening: Callable[[str], None] | None = None) -> None:
    """Listen on ``host:port`` until asked to stop; raises ``OSError`` when
    the address cannot be bound. ``on_listening`` gets the bound URL (the
    port may have been 0)."""
    from websockets.asyncio.server import serve

    from .auth import check_handshake

    async def handle(websocket: ServerConnection) -> None:
        broken = asyncio.Event()
        connection = server.connect(websocket.send, on_broken=broken.set)
        reading = asyncio.create_task(_feed_frames(websocket, connection))
        try:
            await _serve_connection(connection, reading, broken, shutdown)
        finally:
            await websocket.close(1001 if shutdown.requested.is_set() else 1000)

    async with serve(handle, host, port, process_request=partial(check_handshake, auth),
                     compression=None, max_size=MAX_WS_MESSAGE, write_limit=WS_WRITE_LIMIT,
                     server_header=None) as listener:
        if on_listening is not None:
            bound = listener.sockets[0].getsockname()
            shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
            on_listening(f"ws://{shown}:{bound[1]}")
        await shutdown.requested.wait()
        # Stop accepting; the handlers drain and close their connections.
        listener.close(close_connections=False)
        await listener.wait_closed()
