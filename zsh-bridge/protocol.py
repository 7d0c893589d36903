"""The escalation wire protocol (spec zsh_bridge.md §4), server side.

Two layers, both ``AF_UNIX``:

* the handshake: a ``SOCK_DGRAM`` socket inherited by the shell; each
  intercepted exec sends one datagram (payload ``0x00``) carrying exactly one
  fd, the server's end of a fresh ``SOCK_STREAM`` pair;
* the session on that stream: frames of a 4-byte little-endian length and
  that many bytes of JSON. File descriptors ride as ``SCM_RIGHTS`` on the
  first bytes of a frame.

Everything here is about bytes and messages; what to decide is the server's
business. Every read is bounded: the peer is inside the sandbox and may be
hostile.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import socket
import struct

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

__all__ = [
    "MAX_FDS",
    "MAX_REQUEST_BYTES",
    "EscalateRequest",
    "ProtocolError",
    "SuperExecMessage",
    "close_fds",
    "deny_response",
    "read_frame",
    "receive_handshakes",
    "write_frame",
]

MAX_FDS = 16
# The largest request accepted. A request holds argv and the environment;
# Linux caps their sum at about a quarter of the stack limit (2 MiB by
# default), so 16 MiB leaves room for JSON escaping without letting a
# hostile peer make us buffer without bound.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_HEADER = struct.Struct("<I")
_HANDSHAKE_BUFFER = 8192
_CMSG_SPACE = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)


class ProtocolError(Exception):
    """The peer broke the protocol; the session ends (the wrapper then fails
    with ``Error: ...`` and exit status 1, it never runs the command)."""


class _Message(BaseModel):
    # Unknown fields are ignored, like serde's default in the reference.
    model_config = ConfigDict(extra="ignore", frozen=True)


class EscalateRequest(_Message):
    """wrapper → server: the exec zsh was about to do."""

    file: StrictStr
    argv: list[StrictStr] = Field(min_length=1)
    workdir: StrictStr
    env: dict[StrictStr, StrictStr]


class SuperExecMessage(_Message):
    """wrapper → server, for Escalate only: where each attached fd goes."""

    fds: list[StrictInt] = Field(max_length=MAX_FDS)


def run_response() -> bytes:
    return b'{"action":"Run"}'


def escalate_response() -> bytes:
    return b'{"action":"Escalate"}'


def deny_response(reason: str | None) -> bytes:
    return json.dumps({"action": {"Deny": {"reason": reason}}}).encode()


def exit_code_response(code: int) -> bytes:
    return b'{"exit_code":%d}' % code


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _fds_of(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """Every fd in ``ancillary`` (SCM_RIGHTS), whatever else it holds."""
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % array.array("i").itemsize
            fds.extend(array.array("i", data[:usable]))
    return fds


async def wait_readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    await _wait_fd(loop, sock.fileno(), writable=False)


async def _wait_fd(loop: asyncio.AbstractEventLoop, fd: int, *, writable: bool) -> None:
    waiter: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if writable:
        loop.add_writer(fd, ready)
    else:
        loop.add_reader(fd, ready)
    try:
        await waiter
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def receive_handshakes(sock: socket.socket) -> list[socket.socket]:
    """Drain the non-blocking datagram socket: one stream socket per valid
    handshake. A datagram without exactly one fd, or whose fd is not a
    stream socket, is dropped (its fds closed): the wrapper that sent it sees
    its stream end and fails."""
    accepted: list[socket.socket] = []
    while True:
        try:
            _, ancillary, flags, _ = sock.recvmsg(_HANDSHAKE_BUFFER, _CMSG_SPACE,
                                                  socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return accepted
        fds = _fds_of(ancillary)
        if len(fds) != 1 or flags & socket.MSG_CTRUNC:
            close_fds(fds)
            continue
        try:
            stream = socket.socket(fileno=fds[0])
        except OSError:
            close_fds(fds)
            continue
        if stream.family != socket.AF_UNIX or stream.type != socket.SOCK_STREAM:
            stream.close()
            continue
        stream.setblocking(False)
        accepted.append(stream)


async def _recv_some(sock: socket.socket, size: int, fds: list[int] | None) -> bytes:
    """At least one byte (b"" at end of file); fds attached to the bytes are
    appended to ``fds``, or closed when ``fds`` is None."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, ancillary, flags, _ = sock.recvmsg(size, _CMSG_SPACE, socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            await wait_readable(loop, sock)
            continue
        received = _fds_of(ancillary)
        if fds is None or flags & socket.MSG_CTRUNC:
            close_fds(received)
            if flags & socket.MSG_CTRUNC:
                raise ProtocolError("too many file descriptors attached")
            if received:
                raise ProtocolError("unexpected file descriptors attached")
        else:
            fds.extend(received)
            if len(fds) > MAX_FDS:
                raise ProtocolError("too many file descriptors attached")
        return data


async def read_frame(sock: socket.socket, *, limit: int = MAX_REQUEST_BYTES,
                     fds: list[int] | None = None) -> bytes | None:
    """One frame's JSON bytes, or ``None`` at a clean end of file (before
    any byte of a frame). ``fds`` collects descriptors attached to the frame;
    without it, attached descriptors are a protocol error. The caller owns
    the collected fds even when this raises."""
    header = b""
    while len(header) < _HEADER.size:
        chunk = await _recv_some(sock, _HEADER.size - len(header), fds)
        if not chunk:
            if header:
                raise ProtocolError("connection closed inside a frame header")
            return None
        header += chunk
    (length,) = _HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes exceeds the limit of {limit}")
    body = bytearray()
    while len(body) < length:
        chunk = await _recv_some(sock, min(length - len(body), 1 << 20), fds)
        if not chunk:
            raise ProtocolError("connection closed inside a frame")
        body += chunk
    return bytes(body)


def drain(sock: socket.socket) -> bool:
    """Read and drop what the non-blocking ``sock`` has pending (one read;
    fds attached are closed). True when the peer is gone: end of file or an
    error."""
    try:
        data, ancillary, _, _ = sock.recvmsg(4096, _CMSG_SPACE, socket.MSG_CMSG_CLOEXEC)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    close_fds(_fds_of(ancillary))
    return not data


async def write_frame(sock: socket.socket, payload: bytes) -> None:
    """Send one frame; raises ``OSError`` if the peer is gone."""
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    loop = asyncio.get_running_loop()
    while data:
        try:
            sent = sock.send(data, socket.MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            await _wait_fd(loop, sock.fileno(), writable=True)
            continue
        data = data[sent:]


def parse_request(frame: bytes) -> EscalateRequest:
    """The request in ``frame``; strings may carry lone surrogates (the
    wrapper sends bytes that are not UTF-8 as ``\\udcXX``)."""
    try:
        request = EscalateRequest.model_validate(_json(frame))
    except ValidationError as error:
        raise ProtocolError(f"malformed request: {_first_error(error)}") from None
    # The wrapper sends getcwd(): always absolute. A relative one would make
    # the judged program and the escalated one relative to *our* directory.
    if not request.workdir.startswith("/"):
        raise ProtocolError("malformed request: workdir: not an absolute path")
    return request


def parse_super_exec(frame: bytes) -> SuperExecMessage:
    try:
        return SuperExecMessage.model_validate(_json(frame))
    except ValidationError as error:
        raise ProtocolError(f"malformed fd message: {_first_error(error)}") from None


def _json(frame: bytes) -> object:
    # The standard library's parser, not pydantic's: it keeps the lone
    # surrogates the wrapper uses for bytes that are not UTF-8.
    try:
        return json.loads(frame)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"invalid JSON: {error}") from None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "message"
    return f"{where}: {first.get('msg', 'invalid')}"

