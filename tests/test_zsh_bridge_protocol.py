"""The exec bridge's server (`zsh-bridge/server.py`, `protocol.py`) against
hand-made clients: the wrapper side of spec zsh_bridge.md §4 played from
Python over real sockets, well-behaved and hostile.

Every session runs in this process: the test sends handshakes on the
datagram end the shell would inherit (``bridge.pass_fds[0]``) and talks on
its end of the stream pair. The server's fds are this process's fds, so a
leak shows in ``/proc/self/fd``: every test checks the count is back to
where it was once the bridge is closed. A session that ends without an
answer is seen by the client as end of file (no byte of a frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from execguard.zsh_bridge import Action, ExecBridge, ExecRequest, InterceptedExec, Verdict
from execguard.zsh_bridge import server as bridge_server
from execguard.zsh_bridge.protocol import MAX_FDS, MAX_REQUEST_BYTES

HEADER = struct.Struct("<I")
TIMEOUT_S = 8.0  # per test: a hang fails instead of blocking the suite
SH = "/bin/sh"
RUN = {"action": "Run"}
ESCALATE = {"action": "Escalate"}
PATH = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")


# -- harness ------------------------------------------------------------------------------


def run(main: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(main, TIMEOUT_S))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def encode(body: object) -> bytes:
    # ensure_ascii (the default) writes lone surrogates as \\udcXX escapes,
    # exactly as the C wrapper sends bytes that are not UTF-8.
    return json.dumps(body).encode()


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def request(file: str = "/bin/true", argv: Sequence[str] | None = None, workdir: str = "/",
            env: dict[str, str] | None = None) -> dict[str, Any]:
    return {"file": file, "argv": list(argv) if argv is not None else [os.path.basename(file)],
            "workdir": workdir, "env": env if env is not None else {"PATH": PATH}}


def alive(pid: int) -> bool:
    """Running (a zombie or a reaped process is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


async def wait_dead(pids: Iterable[int], within: float = 2.0) -> None:
    pids = list(pids)
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if alive(p)]}"
        await asyncio.sleep(0.02)


async def read_fd(fd: int, until: Callable[[bytes], bool] | None = None) -> bytes:
    """What ``fd`` (a pipe's read end) yields until end of file, or until
    ``until(data)`` holds."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    data = b""
    while until is None or not until(data):
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            continue
        if not chunk:
            break
        data += chunk
    return data


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def handshake(bridge: ExecBridge, fds: Sequence[int], payload: bytes = b"\0") -> None:
    """One datagram on the shell's end of the bridge, carrying ``fds``."""
    dgram = socket.socket(fileno=os.dup(bridge.pass_fds[0]))
    try:
        if fds:
            socket.send_fds(dgram, [payload], list(fds))
        else:
            dgram.send(payload)
    finally:
        dgram.close()


class Client:
    """The wrapper's end of one session's stream."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock

    async def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        if fds:
            sent = socket.send_fds(self.sock, [data], list(fds))
            data = data[sent:]
        if data:
            await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def send_json(self, body: object, fds: Sequence[int] = ()) -> None:
        await self.send(frame(encode(body)), fds)

    async def _recv_exact(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        data = b""
        while len(data) < n:
            try:
                chunk = await loop.sock_recv(self.sock, n - len(data))
            except ConnectionResetError:  # the server closed with our bytes unread
                chunk = b""
            if not chunk:
                break
            data += chunk
        return data

    async def response(self) -> Any:
        header = await self._recv_exact(HEADER.size)
        assert len(header) == HEADER.size, f"the server ended the session (got {header!r})"
        (length,) = HEADER.unpack(header)
        body = await self._recv_exact(length)
        assert len(body) == length
        return json.loads(body)

    async def rest(self) -> bytes:
        """Everything the server still sends, up to the end of the session."""
        return await self._recv_exact(1 << 30)

    def pending(self) -> bool:
        """The session is still open and the server has sent nothing."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            pass
        return False

    def shutdown(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class Decide:
    """The decider: answers ``verdict`` (or raises it), keeps every
    request; a request whose argv[0] is "hold" waits for :attr:`release`."""

    def __init__(self, verdict: Verdict | Exception | None = None) -> None:
        self.verdict = verdict if verdict is not None else Verdict.run()
        self.requests: list[ExecRequest] = []
        self.release = asyncio.Event()

    async def __call__(self, request: ExecRequest) -> Verdict:
        self.requests.append(request)
        if request.argv[0] == "hold":
            await self.release.wait()
        if isinstance(self.verdict, Exception):
            raise self.verdict
        return self.verdict


class Harness:
    def __init__(self, bridge: ExecBridge, decide: Decide) -> None:
        self.bridge = bridge
        self.decide = decide
        self._clients: list[Client] = []
        self._fds: list[int] = []

    def connect(self) -> Client:
        """A fresh stream pair whose server end went over the handshake."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs:
            handshake(self.bridge, [theirs.fileno()])
        client = Client(mine)
        self._clients.append(client)
        return client

    def pipe(self) -> tuple[int, int]:
        """A pipe closed at the end unless :meth:`close` closed an end before."""
        r, w = os.pipe()
        self._fds += [r, w]
        return r, w

    def close(self, fd: int) -> None:
        self._fds.remove(fd)  # never closed twice: its number may be reused
        os.close(fd)

    def close_all(self) -> None:
        for client in self._clients:
            client.close()
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    async def ask(self, body: object) -> Any:
        """A well-behaved Run/Deny exchange: the answer, then the end."""
        client = self.connect()
        await client.send_json(body)
        answer = await client.response()
        assert await client.rest() == b""
        client.close()
        return answer

    async def still_serves(self) -> None:
        """A good client after the abuse is answered (and recorded)."""
        before = len(self.bridge.execs)
        verdict, self.decide.verdict = self.decide.verdict, Verdict.run()
        try:
            assert await self.ask(request("/bin/true", workdir="/")) == RUN
        finally:
            self.decide.verdict = verdict
        assert len(self.bridge.execs) == before + 1
        assert self.bridge.execs[-1].command == ("/bin/true",)

    async def escalate(self, body: object, *, stdin: bytes = b"",
                       destinations: Sequence[int] = (0, 1, 2)) -> tuple[Any, bytes, bytes]:
        """A well-behaved Escalate exchange: (final answer, stdout, stderr)."""
        client = self.connect()
        await client.send_json(body)
        assert await client.response() == ESCALATE
        in_r, in_w = self.pipe()
        out_r, out_w = self.pipe()
        err_r, err_w = self.pipe()
        os.write(in_w, stdin)
        self.close(in_w)
        ends = {0: in_r, 1: out_w, 2: err_w}
        await client.send_json({"fds": list(destinations)}, [ends[d] for d in destinations])
        for fd in (in_r, out_w, err_w):
            self.close(fd)
        answer = await client.response()
        assert await client.rest() == b""
        client.close()
        return answer, await read_fd(out_r), await read_fd(err_r)


@contextlib.asynccontextmanager
async def serving(decide: Decide | None = None, **options: Any) -> AsyncIterator[Harness]:
    """A started bridge; on the way out everything is closed and the
    process must hold exactly the fds it held before."""
    decide = decide if decide is not None else Decide()
    before = open_fds()
    bridge = ExecBridge(decide, wrapper="/nonexistent/wrapper", **options)
    bridge.start()
    harness = Harness(bridge, decide)
    try:
        yield harness
    finally:
        harness.close_all()
        await bridge.close()
    assert open_fds() == before, "the bridge leaked file descriptors"


def escalated(program: str, argv: Sequence[str], workdir: Path | str,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    return request(program, argv, str(workdir), env if env is not None else {"PATH": PATH})


# -- well-formed round trips -------------------------------------------------------------


def test_run_round_trip_and_the_bridge_variables_are_not_shown() -> None:
    async def main() -> None:
        async with serving() as h:
            env = {"PATH": PATH, "KEEP": "1", "CODEX_ESCALATE_SOCKET": "7",
                   "EXEC_WRAPPER": "/w", "BASH_EXEC_WRAPPER": "/w"}
            body = request("/usr/bin/ls", ["ls", "-l", "x y"], "/tmp", env)
            assert await h.ask(body) == RUN
            [seen] = h.decide.requests
            assert (seen.file, seen.argv, seen.workdir) == ("/usr/bin/ls", ("ls", "-l", "x y"),
                                                           "/tmp")
            assert dict(seen.env) == {"PATH": PATH, "KEEP": "1"}
            assert h.bridge.execs == [
                InterceptedExec(("/usr/bin/ls", "-l", "x y"), "/tmp", Action.RUN)]

    run(main())


@pytest.mark.parametrize("reason", ["not on my watch", None, "ünïcode \"quoted\""])
def test_deny_round_trip(reason: str | None) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.deny(reason))) as h:
            answer = await h.ask(request("/usr/bin/rm", ["rm", "-rf", "/"]))
            assert answer == {"action": {"Deny": {"reason": reason}}}
            assert h.bridge.execs == [
                InterceptedExec(("/usr/bin/rm", "-rf", "/"), "/", Action.DENY, reason)]

    run(main())


def test_escalate_round_trip_runs_outside_with_the_wrappers_stdio(tmp_path: Path) -> None:
    script = 'read line; echo "$KEY $line $(pwd)"; echo oops >&2; exit 42'

    async def main() -> None:
        async with serving(Decide(Verdict.escalate()), writable_roots=[str(tmp_path)]) as h:
            body = escalated(SH, ["sh", "-c", script], tmp_path, {"PATH": PATH, "KEY": "hello"})
            answer, out, err = await h.escalate(body, stdin=b"from-stdin\n")
            assert answer == {"exit_code": 42}
            assert out == f"hello from-stdin {tmp_path}\n".encode()
            assert err == b"oops\n"
            assert h.bridge.execs == [InterceptedExec((SH, "-c", script), str(tmp_path),
                                                      Action.ESCALATE, exit_code=42)]

    run(main())


def test_escalate_destinations_in_any_order_and_missing_ones_are_dev_null(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            body = escalated(SH, ["sh", "-c", "cat; echo out; echo err >&2"], tmp_path)
            # attached in the order of the list: stderr's pipe first
            answer, out, err = await h.escalate(body, stdin=b"in\n", destinations=(2, 0, 1))
            assert (answer, out, err) == ({"exit_code": 0}, b"in\nout\n", b"err\n")
            # stdin not handed over: /dev/null, so `cat` ends at once
            answer, out, err = await h.escalate(body, stdin=b"in\n", destinations=(1, 2))
            assert (answer, out, err) == ({"exit_code": 0}, b"out\n", b"err\n")

    run(main())


def test_escalated_signal_death_and_unstartable_programs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a program\n")

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:  # no writable roots
            answer, _, _ = await h.escalate(escalated(SH, ["sh", "-c", "kill -TERM $$"], tmp_path))
            assert answer == {"exit_code": 128 + 15}
            # a regular file the escalation may run, but not executable
            answer, _, err = await h.escalate(escalated(str(data), ["x"], tmp_path))
            assert answer == {"exit_code": 127}
            assert err == f"execguard: cannot run {data}: Permission denied\n".encode()
            # a working directory that does not exist
            answer, _, err = await h.escalate(escalated(SH, ["sh"], tmp_path / "gone"))
            assert answer == {"exit_code": 127} and err.startswith(b"execguard: cannot run")
            assert [(r.action, r.exit_code) for r in h.bridge.execs] == [
                (Action.ESCALATE, 143), (Action.ESCALATE, 127), (Action.ESCALATE, 127)]

    run(main())


def test_relative_file_is_resolved_against_the_workdir() -> None:
    async def main() -> None:
        async with serving() as h:
            cases = [("./bin/../tool", "/work/dir", "/work/dir/tool"),
                     ("tool", "/work/dir/", "/work/dir/tool"),
                     ("../../../etc/x", "/a", "/etc/x"),
                     ("/abs/./p", "/ignored", "/abs/p")]
            for file, workdir, program in cases:
                assert await h.ask(request(file, ["argv0", "arg"], workdir)) == RUN
                seen = h.decide.requests[-1]
                assert (seen.file, seen.program) == (file, program)
                assert seen.command == [program, "arg"] and seen.argv[0] == "argv0"
                assert h.bridge.execs[-1].command == (program, "arg")

    run(main())


# -- where an escalation may not run ------------------------------------------------------


def test_escalation_of_a_program_the_sandbox_can_write_runs_inside(tmp_path: Path) -> None:
    marker = tmp_path / "ran-outside"
    tool = tmp_path / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\ntouch {marker}\n")
    tool.chmod(0o755)
    link = tmp_path / "bin" / "true"  # a link in a writable root to a program outside
    link.symlink_to("/usr/bin/true")

    async def main() -> None:
        async with serving(Decide(Verdict.escalate()),
                           writable_roots=[str(tmp_path / "elsewhere"), f"{tmp_path}/"]) as h:
            assert await h.ask(request("bin/tool", ["tool"], str(tmp_path))) == RUN
            refused = [("/proc/self/environ", "is under /proc"), ("/dev/null", "not a regular"),
                       (str(tmp_path / "missing"), "cannot resolve")]
            for file, _ in refused:
                assert await h.ask(request(file, ["x"])) == RUN
            notes = [(r.action, r.note) for r in h.bridge.execs]
            assert notes[0][0] is Action.RUN and notes[0][1] is not None
            assert notes[0][1].startswith(f"ran inside the sandbox: {tool} is writable")
            for (action, note), (_, why) in zip(notes[1:], refused, strict=True):
                assert action is Action.RUN and note is not None and why in note
            assert not marker.exists()
            # the link's target is outside every root: that real path escalates
            answer, _, _ = await h.escalate(request(str(link), ["true"], str(tmp_path)))
            assert answer == {"exit_code": 0}
            assert h.bridge.execs[-1].action is Action.ESCALATE

    run(main())


def test_without_a_sandbox_escalations_run_in_place() -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate()), sandboxed=False) as h:
            assert await h.ask(request("/usr/bin/true", ["true"])) == RUN
            [record] = h.bridge.execs
            assert record.action is Action.RUN
            assert record.note == "no sandbox to leave: ran in place"

    run(main())


# -- the decider ---------------------------------------------------------------------------


def test_a_decider_that_raises_denies() -> None:
    async def main() -> None:
        async with serving(Decide(RuntimeError("boom"))) as h:
            answer = await h.ask(request())
            assert answer == {"action": {"Deny": {"reason": "execguard could not decide: boom"}}}
            [record] = h.bridge.execs
            assert record.action is Action.DENY and record.reason is not None
            assert record.reason.startswith("execguard could not decide")
            await h.still_serves()

    run(main())


@pytest.mark.parametrize("field", ["file", "argv0", "argv1", "workdir"])
def test_a_nul_byte_denies_without_asking(field: str) -> None:
    body = request("/usr/bin/echo", ["echo", "hi"], "/tmp")
    if field == "file":
        body["file"] = "/usr/bin/echo\0/evil"
    elif field == "workdir":
        body["workdir"] = "/tmp\0/x"
    else:
        body["argv"][int(field[-1])] += "\0x"

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            answer = await h.ask(body)
            assert answer == {"action": {"Deny": {"reason": "argument contains a NUL byte"}}}
            assert h.decide.requests == []
            assert [r.action for r in h.bridge.execs] == [Action.DENY]

    run(main())


def test_a_slow_decision_does_not_hold_up_other_execs() -> None:
    async def main() -> None:
        async with serving() as h:
            slow = h.connect()
            await slow.send_json(request("/bin/true", ["hold"]))
            assert await h.ask(request("/bin/false", ["false"])) == RUN
            assert slow.pending()
            h.decide.release.set()
            assert await slow.response() == RUN
            assert [r.command[0] for r in h.bridge.execs] == ["/bin/false", "/bin/true"]

    run(main())


# -- bytes that are not UTF-8 --------------------------------------------------------------


def test_lone_surrogates_reach_the_decider_and_the_escalated_program(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            env = {"PATH": PATH, "V": "a\udcffb", "K\udce9": "1"}
            body = escalated(SH, ["sh", "-c", 'printf "%s|%s" "$1" "$V"', "sh", "x\udcfe"],
                             tmp_path, env)
            raw = encode(body)
            assert b"\\udcff" in raw and b"\\udcfe" in raw  # escapes on the wire
            answer, out, _ = await h.escalate(body)
            assert answer == {"exit_code": 0}
            assert out == b"x\xfe|a\xffb"
            [seen] = h.decide.requests
            assert seen.argv[-1] == "x\udcfe" and seen.env["V"] == "a\udcffb"
            assert seen.env["K\udce9"] == "1"
            # a surrogate that stands for no byte cannot be passed on: 127
            body = escalated(SH, ["sh", "-c", "exit 0"], tmp_path, {"V": "\ud800"})
            answer, _, err = await h.escalate(body)
            assert answer == {"exit_code": 127} and err.startswith(b"execguard: cannot run")

    run(main())


# -- the escalated program's environment ---------------------------------------------------


def test_escalated_programs_do_not_get_code_injecting_variables(tmp_path: Path) -> None:
    env = {"PATH": PATH, "FOO": "bar", "LANG": "C", "LD_PRELOAD": "/tmp/evil.so",
           "LD_LIBRARY_PATH": "/tmp", "BASH_ENV": "/tmp/rc", "ENV": "/tmp/rc",
           "GIT_CONFIG_KEY_0": "core.pager", "GIT_CONFIG_VALUE_0": "evil",
           "GIT_CONFIG_COUNT": "1", "GIT_SSH_COMMAND": "evil", "PYTHONPATH": "/tmp",
           "PYTHONSTARTUP": "/tmp/x.py", "NODE_OPTIONS": "--require /tmp/x",
           "DYLD_INSERT_LIBRARIES": "/tmp/x", "GCONV_PATH": "/tmp", "PERL5OPT": "-d",
           "CODEX_ESCALATE_SOCKET": "3", "EXEC_WRAPPER": "/w"}

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            answer, out, _ = await h.escalate(escalated("/usr/bin/env", ["env"], tmp_path, env))
            assert answer == {"exit_code": 0}
            assert sorted(out.decode().splitlines()) == ["FOO=bar", "LANG=C", f"PATH={PATH}"]
            # the decider judges what the shell really had
            [seen] = h.decide.requests
            assert seen.env["LD_PRELOAD"] == "/tmp/evil.so" and "EXEC_WRAPPER" not in seen.env

    run(main())


# -- hostile handshakes ---------------------------------------------------------------------


def _bad_handshake(kind: str) -> tuple[list[int], list[socket.socket]]:
    """(fds to send, which the test closes once sent; the peers whose
    sessions must end unserved)."""
    if kind == "no fd":
        return [], []
    if kind == "a pipe":
        r, w = os.pipe()
        os.close(w)
        return [r], []
    if kind == "/dev/null":
        return [os.open("/dev/null", os.O_RDONLY)], []
    if kind == "an internet socket":
        inet = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        return [inet.detach()], []
    pairs = {"a datagram socket": (socket.SOCK_DGRAM, 1), "a seqpacket socket":
             (socket.SOCK_SEQPACKET, 1), "two stream sockets": (socket.SOCK_STREAM, 2),
             f"{MAX_FDS + 1} stream sockets": (socket.SOCK_STREAM, MAX_FDS + 1)}
    kind_type, count = pairs[kind]
    fds: list[int] = []
    peers: list[socket.socket] = []
    for _ in range(count):
        peer, server_end = socket.socketpair(socket.AF_UNIX, kind_type)
        fds.append(server_end.detach())
        if kind_type == socket.SOCK_DGRAM:  # no end of file to see
            peer.close()
        else:
            peers.append(peer)
    return fds, peers


@pytest.mark.parametrize("kind", ["no fd", "two stream sockets", f"{MAX_FDS + 1} stream sockets",
                                  "a pipe", "/dev/null", "a datagram socket",
                                  "a seqpacket socket", "an internet socket"])
def test_a_bad_handshake_is_dropped_and_its_fds_closed(kind: str) -> None:
    async def main() -> None:
        async with serving() as h:
            before = open_fds()
            fds, peers = _bad_handshake(kind)
            for peer in peers:  # a request waits on each: none may be read
                peer.sendall(frame(encode(request("/bin/false", ["false"]))))
            handshake(h.bridge, fds)
            for fd in fds:  # the server got copies; ours go
                os.close(fd)
            await h.still_serves()  # the datagram before it was handled
            for peer in peers:  # the server closed it with the request unread
                peer.settimeout(1)
                with pytest.raises(ConnectionResetError):
                    peer.recv(100)
                peer.close()
            assert open_fds() == before
            assert [r.argv[0] for r in h.decide.requests] == ["true"]
            assert [r.command for r in h.bridge.execs] == [("/bin/true",)]

    run(main())


# -- hostile requests -----------------------------------------------------------------------


def _frame_of(body: object) -> bytes:
    return frame(body if isinstance(body, bytes) else encode(body))


GOOD = request()
MALFORMED = {
    "not JSON": _frame_of(b"{not json"),
    "empty frame": _frame_of(b""),
    "not UTF-8": _frame_of(b'{"file":"\xff\xfe","argv":["x"],"workdir":"/","env":{}}'),
    "a list": _frame_of(b"[]"),
    "a string": _frame_of(b'"hello"'),
    "deep nesting": _frame_of(b"[" * 200_000),
    "huge integer": _frame_of(b"[" + b"9" * 10_000 + b"]"),
    "argv empty": _frame_of({**GOOD, "argv": []}),
    "argv of ints": _frame_of({**GOOD, "argv": [1, 2]}),
    "argv a string": _frame_of({**GOOD, "argv": "ls"}),
    "env a list": _frame_of({**GOOD, "env": ["A=1"]}),
    "env value int": _frame_of({**GOOD, "env": {"A": 1}}),
    "env value null": _frame_of({**GOOD, "env": {"A": None}}),
    "file int": _frame_of({**GOOD, "file": 7}),
    "workdir null": _frame_of({**GOOD, "workdir": None}),
    "workdir relative": _frame_of({**GOOD, "workdir": "relative/dir"}),
    "workdir empty": _frame_of({**GOOD, "workdir": ""}),
    "no env": _frame_of({k: v for k, v in GOOD.items() if k != "env"}),
    "over the size limit": HEADER.pack(MAX_REQUEST_BYTES + 1) + b"{" * 1000,
    "length 2**32-1": HEADER.pack(0xFFFFFFFF),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_ends_the_session_unanswered(data: bytes) -> None:
    async def main() -> None:
        async with serving() as h:
            client = h.connect()
            await client.send(data)
            # no shutdown: the server must end it by itself, long before
            # REQUEST_TIMEOUT_S (30 s) and this test's own timeout
            assert await client.rest() == b""
            assert h.decide.requests == [] and h.bridge.execs == []
            await h.still_serves()

    run(main())


@pytest.mark.parametrize("data", [b"", b"\x10\x00\x00", frame(encode(GOOD))[:-3]],
                         ids=["nothing", "half a header", "half a body"])
def test_a_client_that_leaves_early_gets_no_answer(data: bytes) -> None:
    async def main() -> None:
        async with serving() as h:
            client = h.connect()
            await client.send(data)
            client.shutdown()
            assert await client.rest() == b""
            assert h.decide.requests == [] and h.bridge.execs == []
            await h.still_serves()

    run(main())


def test_fds_attached_to_a_request_end_the_session_and_are_closed() -> None:
    async def main() -> None:
        async with serving() as h:
            before = open_fds()
            client = h.connect()
            r, w = os.pipe()
            data = frame(encode(GOOD))
            await client.send(data[:2], [r, w])  # on the header, as the wrapper would
            os.close(r)
            os.close(w)
            await client.send(data[2:])
            assert await client.rest() == b""
            client.close()
            assert open_fds() == before  # the pipe's two ends were closed by the server
            assert h.decide.requests == [] and h.bridge.execs == []
            await h.still_serves()

    run(main())


@pytest.mark.parametrize("data", [b"", b"\x10\x00", frame(encode(GOOD))[:-1]],
                         ids=["nothing", "half a header", "all but one byte"])
def test_a_stalled_client_times_out(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(bridge_server, "REQUEST_TIMEOUT_S", 0.2)

    async def main() -> None:
        async with serving() as h:
            client = h.connect()
            started = time.monotonic()
            await client.send(data)
            assert await client.rest() == b""
            assert 0.15 < time.monotonic() - started < 2
            assert h.decide.requests == [] and h.bridge.execs == []
            await h.still_serves()

    run(main())


def test_a_request_in_tiny_pieces_is_answered() -> None:
    async def main() -> None:
        async with serving() as h:
            client = h.connect()
            data = frame(encode(request("/bin/echo", ["echo", "pieces"])))
            for i in range(0, len(data), 3):
                await client.send(data[i:i + 3])
                await asyncio.sleep(0)
            assert await client.response() == RUN
            assert h.bridge.execs[0].command == ("/bin/echo", "pieces")

    run(main())


def test_a_huge_legal_request_is_answered() -> None:
    env = {f"VAR_{i}": chr(ord("a") + i % 26) * 1024 for i in range(1000)}
    argv = ["echo", *(f"arg{i}" * 50 for i in range(2000))]

    async def main() -> None:
        async with serving() as h:
            body = request("/bin/echo", argv, "/", env)
            assert len(encode(body)) > 1_300_000
            assert await h.ask(body) == RUN
            [seen] = h.decide.requests
            assert dict(seen.env) == env and list(seen.argv) == argv

    run(main())


def test_too_many_sessions_are_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_server, "MAX_SESSIONS", 3)

    async def main() -> None:
        async with serving() as h:
            stalled = [h.connect() for _ in range(3)]
            extra = [h.connect() for _ in range(2)]
            for client in extra:  # closed at once (REQUEST_TIMEOUT_S is 30 s)
                assert await client.rest() == b""
            assert all(client.pending() for client in stalled)
            # a finished session frees its place
            stalled[0].shutdown()
            assert await stalled[0].rest() == b""
            await asyncio.sleep(0.01)
            await h.still_serves()
            assert all(client.pending() for client in stalled[1:])

    run(main())


# -- hostile escalations ---------------------------------------------------------------------


def _fds_messages() -> dict[str, tuple[bytes, int]]:
    """The wrapper's second message, wrong: (bytes, number of fds attached)."""
    def msg(body: object) -> bytes:
        return _frame_of(body)
    return {
        "two fds for three destinations": (msg({"fds": [0, 1, 2]}), 2),
        "three fds for two destinations": (msg({"fds": [0, 1]}), 3),
        "no fds for three destinations": (msg({"fds": [0, 1, 2]}), 0),
        "destination 5": (msg({"fds": [0, 1, 5]}), 3),
        "duplicate destination": (msg({"fds": [1, 1, 2]}), 3),
        "negative destination": (msg({"fds": [-1, 1, 2]}), 3),
        "destination as a string": (msg({"fds": ["0", 1, 2]}), 3),
        "destination as a boolean": (msg({"fds": [True, 1, 2]}), 3),
        "no fds key": (msg({"fd": [0, 1, 2]}), 3),
        "not JSON": (msg(b"{"), 3),
        f"{MAX_FDS + 1} fds attached": (msg({"fds": [0, 1, 2]}), MAX_FDS + 1),
        "over 64 KiB": (HEADER.pack(64 * 1024 + 1) + b" " * 100, 3),
        "a request again": (msg(GOOD), 0),
    }


@pytest.mark.parametrize("name", list(_fds_messages()))
def test_a_bad_fds_message_runs_nothing(tmp_path: Path, name: str) -> None:
    data, count = _fds_messages()[name]
    marker = tmp_path / "marker"

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            body = escalated(SH, ["sh", "-c", f"echo ran > {marker}"], tmp_path)
            before = open_fds()
            client = h.connect()
            await client.send_json(body)
            assert await client.response() == ESCALATE
            r, w = os.pipe()
            fds = [w] * count
            await client.send(data[:4], fds)
            await client.send(data[4:])
            os.close(r)
            os.close(w)
            assert await client.rest() == b""  # no exit code: nothing ran
            client.close()
            assert open_fds() == before  # every fd attached was closed
            assert not marker.exists() and h.bridge.execs == []
            # the same request, well-behaved, does run: the marker shows it
            answer, _, _ = await h.escalate(body)
            assert answer == {"exit_code": 0} and marker.read_text() == "ran\n"

    run(main())


def test_a_client_that_leaves_before_its_fds_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            client = h.connect()
            await client.send_json(escalated(SH, ["sh", "-c", f"touch {marker}"], tmp_path))
            assert await client.response() == ESCALATE
            client.shutdown()
            assert await client.rest() == b""
            assert not marker.exists() and h.bridge.execs == []
            await h.still_serves()

    run(main())


def test_a_client_that_never_sends_its_fds_times_out(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_server, "REQUEST_TIMEOUT_S", 0.2)
    marker = tmp_path / "marker"

    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            client = h.connect()
            await client.send_json(escalated(SH, ["sh", "-c", f"touch {marker}"], tmp_path))
            assert await client.response() == ESCALATE
            started = time.monotonic()
            await client.send(b"\x10\x00")  # and then nothing
            assert await client.rest() == b""
            assert 0.15 < time.monotonic() - started < 2
            assert not marker.exists() and h.bridge.execs == []

    run(main())


# -- escalated programs that outlive their wrapper -----------------------------------------

# Prints its background child's pid and its own, then waits: the whole
# group must go when the server kills the program.
FOREVER = "sleep 30 & echo $!; echo $$; wait; touch {marker}"


async def _start_forever(h: Harness, tmp_path: Path) -> tuple[Client, list[int], int]:
    """An escalated FOREVER, running: (client, its pids, its stdout's read end)."""
    marker = tmp_path / "marker"
    client = h.connect()
    await client.send_json(escalated(SH, ["sh", "-c", FOREVER.format(marker=marker)], tmp_path))
    assert await client.response() == ESCALATE
    out_r, out_w = h.pipe()
    null = os.open("/dev/null", os.O_RDWR)
    await client.send_json({"fds": [0, 1, 2]}, [null, out_w, null])
    os.close(null)
    h.close(out_w)
    pids = [int(line) for line in (await read_fd(out_r, lambda d: d.count(b"\n") >= 2)).split()]
    assert len(pids) == 2 and all(alive(pid) for pid in pids)
    return client, pids, out_r


@pytest.mark.parametrize("how", ["close", "shutdown", "stray bytes then close",
                                 "stray fds then close"])
def test_a_wrapper_that_dies_takes_its_escalated_program_along(tmp_path: Path, how: str) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            client, pids, out_r = await _start_forever(h, tmp_path)
            started = time.monotonic()
            if how.startswith("stray"):
                r, w = os.pipe()
                await client.send(b"junk", [r] if "fds" in how else [])
                os.close(r)
                os.close(w)
                await asyncio.sleep(0.05)
                assert all(alive(pid) for pid in pids)  # stray bytes kill nothing
            if how == "shutdown":
                client.shutdown()
            else:
                client.close()
            await wait_dead(pids)
            assert time.monotonic() - started < 1.5
            assert await read_fd(out_r) == b""  # killed before it went on
            assert not (tmp_path / "marker").exists()
            # it ran outside the sandbox: the audit trail says so
            [record] = h.bridge.execs
            assert record.action is Action.ESCALATE and record.exit_code == 128 + 9
            assert record.note == "killed: its wrapper went away"
            await h.still_serves()

    run(main())


def test_background_jobs_an_escalated_program_leaves_are_killed(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            body = escalated(SH, ["sh", "-c", "sleep 30 & echo $!"], tmp_path)
            answer, out, _ = await h.escalate(body)  # its stdout ends: the job is gone
            assert answer == {"exit_code": 0}
            await wait_dead([int(out)], within=1)

    run(main())


def test_stray_bytes_from_a_live_wrapper_do_not_stop_the_exit_code(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            client = h.connect()
            await client.send_json(escalated(SH, ["sh", "-c", "sleep 0.2; exit 3"], tmp_path))
            assert await client.response() == ESCALATE
            null = os.open("/dev/null", os.O_RDWR)
            await client.send_json({"fds": [0, 1, 2]}, [null] * 3)
            await client.send(b"junk", [null])
            os.close(null)
            assert await client.response() == {"exit_code": 3}
            assert [(r.action, r.exit_code) for r in h.bridge.execs] == [(Action.ESCALATE, 3)]

    run(main())


def test_kill_escalated_kills_and_answers_nothing_more(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            client, pids, _ = await _start_forever(h, tmp_path)
            deciding = h.connect()
            await deciding.send_json(request("/bin/true", ["hold"]))
            while len(h.decide.requests) < 2:
                await asyncio.sleep(0.01)
            h.bridge.kill_escalated()
            await wait_dead(pids, within=1)
            h.decide.release.set()
            # the run is ending: no wrapper may let its shell go on
            late = h.connect()
            assert await late.rest() == b""  # refused at once
            await asyncio.sleep(0.05)
            assert client.pending() and deciding.pending()
            [record] = h.bridge.execs
            assert (record.action, record.exit_code) == (Action.ESCALATE, 128 + 9)
            assert record.note == "killed: the run ended"
            h.bridge.kill_escalated()  # again: harmless
            await h.bridge.close()
            assert await client.rest() == b"" and await deciding.rest() == b""
            assert len(h.bridge.execs) == 1

    run(main())


def test_close_with_sessions_in_flight_returns_promptly_and_kills(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(Decide(Verdict.escalate())) as h:
            running, pids, _ = await _start_forever(h, tmp_path)
            stalled = h.connect()  # sent nothing: waits for its request
            deciding = h.connect()
            await deciding.send_json(request("/bin/true", ["hold"]))  # the decider never answers
            half = h.connect()
            await half.send(b"\x10\x00")
            while len(h.decide.requests) < 2:  # FOREVER, then "hold"
                await asyncio.sleep(0.01)
            started = time.monotonic()
            await h.bridge.close()
            assert time.monotonic() - started < 1
            await wait_dead(pids, within=1)
            for client in (running, stalled, deciding, half):
                assert await client.rest() == b""
            [record] = h.bridge.execs  # the escalated program, killed
            assert (record.action, record.exit_code) == (Action.ESCALATE, 128 + 9)
            assert record.note == "killed: the run ended"
            await h.bridge.close()  # again: nothing to do

    run(main())


def test_a_program_with_a_hard_link_in_reach_of_the_sandbox_is_not_escalated(
        tmp_path: Path) -> None:
    from execguard.zsh_bridge.escalation import unsafe_location

    tools, workspace = tmp_path / "tools", tmp_path / "ws"
    tools.mkdir()
    workspace.mkdir()
    program = tools / "tool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert unsafe_location(str(program), [str(workspace)]) == (str(program), None)
    os.link(program, workspace / "alias")  # writing ws/alias would rewrite tools/tool
    real, why = unsafe_location(str(program), [str(workspace)])
    assert real is None and why is not None and "hard links" in why
    # A writable root on another file system cannot hold such a name.
    assert unsafe_location(str(program), ["/proc"])[0] == str(program)
