"""The zsh EXEC_WRAPPER bridge: build the patched zsh and the wrapper, then check
what the patch intercepts (spec zsh_bridge.md section 8) and the wrapper's side
of the wire protocol (section 4) against a small in-test server.

The build (about 1-2 minutes on 2 cores, once per patch hash) downloads Debian's
zsh source; `scripts/setup` has normally done it already.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from execguard.zsh_bridge import BridgeInstall

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "zsh-bridge" / "build"
IS_PATCHED = REPO / "zsh-bridge" / "is-patched"


@pytest.fixture(scope="module")
def bridge(bridge_install: BridgeInstall) -> BridgeInstall:
    return bridge_install


def test_build_is_idempotent_and_cached(bridge: BridgeInstall) -> None:
    proc = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=60, check=True)
    assert f"zsh={bridge.zsh}" in proc.stdout.splitlines()
    assert f"wrapper={bridge.wrapper}" in proc.stdout.splitlines()
    assert "configure" not in proc.stderr  # nothing rebuilt
    assert os.access(bridge.zsh, os.X_OK) and os.access(bridge.wrapper, os.X_OK)
    # never installed over the system zsh
    cache = os.environ.get("ZSH_BRIDGE_CACHE") or str(REPO / ".cache" / "zsh-bridge")
    assert bridge.zsh.startswith(cache + "/zsh/") and bridge.wrapper.startswith(cache + "/")


def test_is_patched_probe(bridge: BridgeInstall, tmp_path: Path) -> None:
    assert subprocess.run([str(IS_PATCHED), bridge.zsh], check=False).returncode == 0
    # the raw probe from the spec
    env = {**os.environ, "EXEC_WRAPPER": "/usr/bin/false"}
    assert subprocess.run([bridge.zsh, "-fc", "/usr/bin/true"], env=env).returncode == 1
    stock = shutil.which("zsh")
    if stock and stock != bridge.zsh:
        assert subprocess.run([str(IS_PATCHED), stock], check=False).returncode == 1
    assert subprocess.run([str(IS_PATCHED), str(tmp_path / "nope")], check=False).returncode == 2


# --- what the patch intercepts (logging wrapper) ----------------------------


def _logging_wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper that logs `FILE [argv0] [argv1] ...` and then runs FILE."""
    log = tmp_path / "exec.log"
    script = tmp_path / "logwrap"
    script.write_text(
        "#!/bin/sh\n"
        "f=$1; shift\n"
        'line=$f; for a in "$@"; do line="$line [$a]"; done\n'
        # one write per line: the two sides of a pipe log concurrently
        f'printf "%s\\n" "$line" >> "{log}"\n'
        "shift\n"
        'exec "$f" "$@"\n'
    )
    script.chmod(0o755)
    return script, log


def _by_basename(line: str) -> str:
    file, _, rest = line.partition(" ")
    return f"{os.path.basename(file)} {rest}"


def _zsh(
    bridge: BridgeInstall, script: str, wrapper: str | Path, **kw: Any
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "EXEC_WRAPPER": str(wrapper)}
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [bridge.zsh, "-fc", script], env=env, capture_output=True, text=True, timeout=30, **kw
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("echo builtin-echo", []),
        ("ls -d /tmp > /dev/null", ["ls [ls] [-d] [/tmp]"]),
        ("/bin/true", ["/bin/true [/bin/true]"]),
        ("env true", ["env [env] [true]"]),
        ("(exec date +%Y) >/dev/null", ["date [date] [+%Y]"]),
        ("x=$(uname)", ["uname [uname]"]),
        ("cat /etc/hostname | wc -c >/dev/null", ["cat [cat] [/etc/hostname]", "wc [wc] [-c]"]),
        ("command -p true", ["true [true]"]),
    ],
)
def test_interception_table(
    bridge: BridgeInstall, tmp_path: Path, script: str, expected: list[str]
) -> None:
    wrapper, log = _logging_wrapper(tmp_path)
    proc = _zsh(bridge, script, wrapper)
    assert proc.returncode == 0, proc.stderr
    seen = log.read_text().splitlines() if log.exists() else []
    # PATH layouts differ (/bin vs /usr/bin): compare the file's basename
    assert sorted(map(_by_basename, seen)) == sorted(map(_by_basename, expected))
    if script == "/bin/true":
        assert seen == ["/bin/true [/bin/true]"]


def test_not_found_goes_to_first_path_candidate(bridge: BridgeInstall, tmp_path: Path) -> None:
    wrapper, log = _logging_wrapper(tmp_path)
    proc = _zsh(bridge, "nonexistent-cmd-xyz", wrapper, env={"PATH": f"{tmp_path}:/usr/bin"})
    assert proc.returncode != 0
    assert log.read_text().splitlines() == [f"{tmp_path}/nonexistent-cmd-xyz [nonexistent-cmd-xyz]"]


def test_leading_blank_disables(bridge: BridgeInstall, tmp_path: Path) -> None:
    wrapper, log = _logging_wrapper(tmp_path)
    proc = _zsh(bridge, "/bin/echo plain", f" {wrapper}")
    assert proc.returncode == 0 and proc.stdout == "plain\n"
    assert not log.exists()
    proc = _zsh(bridge, "/bin/echo plain", "")
    assert proc.returncode == 0 and proc.stdout == "plain\n"


def test_missing_wrapper_fails_every_command(bridge: BridgeInstall, tmp_path: Path) -> None:
    proc = _zsh(bridge, "ls", tmp_path / "missing")
    assert proc.returncode == 127
    assert "command not found: ls" in proc.stderr


def test_unstartable_wrapper_fails_closed(bridge: BridgeInstall, tmp_path: Path) -> None:
    """A wrapper that cannot be exec'd must not let zsh's #!/sh fallback run the target."""
    bad = tmp_path / "bad-wrapper"
    bad.write_bytes(b"\x7fELF-not-really\n")
    bad.chmod(0o755)
    marker = tmp_path / "ran"
    target = tmp_path / "target"
    target.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    target.chmod(0o755)
    noshebang = tmp_path / "noshebang"
    noshebang.write_text(f"touch '{marker}'\n")
    noshebang.chmod(0o755)
    for script in (str(target), str(noshebang)):
        proc = _zsh(bridge, script, bad)
        assert proc.returncode != 0
        assert not marker.exists(), script


# --- the wrapper against an in-test server -----------------------------------


def _read_exact(sock: socket.socket, n: int, fds: list[int]) -> bytes:
    data = b""
    while len(data) < n:
        chunk, got, _flags, _addr = socket.recv_fds(sock, n - len(data), 16)
        fds.extend(got)
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[Any, list[int]]:
    fds: list[int] = []
    (length,) = struct.unpack("<I", _read_exact(sock, 4, fds))
    return json.loads(_read_exact(sock, length, fds)), fds


def _send_frame(sock: socket.socket, obj: Any, raw: bytes | None = None) -> None:
    body = raw if raw is not None else json.dumps(obj).encode()
    sock.sendall(struct.pack("<I", len(body)) + body)


Decide = Callable[[dict[str, Any]], Any]
RunServed = Callable[..., tuple[subprocess.CompletedProcess[str], "Server"]]


@dataclass
class Server:
    decide: Decide
    requests: list[dict[str, Any]] = field(default_factory=list)
    escalated: list[tuple[list[int], int]] = field(default_factory=list)

    def session(self, stream: socket.socket) -> None:
        with stream:
            request, fds = _read_frame(stream)
            for fd in fds:
                os.close(fd)
            self.requests.append(request)
            answer = self.decide(request)
            if isinstance(answer, bytes):
                _send_frame(stream, None, raw=answer)
                return
            _send_frame(stream, answer)
            if answer == {"action": "Escalate"}:
                message, fds = _read_frame(stream)
                try:
                    assert len(fds) == len(message["fds"])
                    target = dict(zip(message["fds"], fds, strict=True))
                    argv = request["argv"]
                    proc = subprocess.run(
                        ["/bin/sh", "-c", f"echo escalated {argv[-1]}; exit 42"],
                        stdin=target[0],
                        stdout=target[1],
                        stderr=target[2],
                        check=False,
                    )
                    self.escalated.append((message["fds"], proc.returncode))
                finally:
                    for fd in fds:
                        os.close(fd)
                _send_frame(stream, {"exit_code": proc.returncode})

    def serve(self, dgram: socket.socket, stop: threading.Event) -> None:
        dgram.settimeout(0.1)
        workers = []
        while not stop.is_set():
            try:
                msg, fds, _flags, _addr = socket.recv_fds(dgram, 8192, 16)
            except TimeoutError:
                continue
            if msg != b"\0" or len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                continue
            t = threading.Thread(target=self.session, args=(socket.socket(fileno=fds[0]),))
            t.start()
            workers.append(t)
        for t in workers:
            t.join(5)


@pytest.fixture
def run_served(bridge: BridgeInstall) -> Iterator[RunServed]:
    stops: list[tuple[threading.Event, threading.Thread, socket.socket]] = []

    def run(
        script: str, decide: Decide, zsh_flags: str = "-fc"
    ) -> tuple[subprocess.CompletedProcess[str], Server]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        server = Server(decide)
        stop = threading.Event()
        thread = threading.Thread(target=server.serve, args=(ours, stop))
        thread.start()
        stops.append((stop, thread, ours))
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "EXECGUARD_TEST_VAR": 'caf\u00e9 "quoted"\n',
            "EXEC_WRAPPER": bridge.wrapper,
            "BASH_EXEC_WRAPPER": bridge.wrapper,
            "CODEX_ESCALATE_SOCKET": str(theirs.fileno()),
        }
        try:
            proc = subprocess.run(
                [bridge.zsh, zsh_flags, script],
                env=env,
                pass_fds=[theirs.fileno()],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        finally:
            theirs.close()
        stop.set()
        thread.join(10)
        return proc, server

    yield run
    for stop, thread, sock in stops:
        stop.set()
        thread.join(10)
        sock.close()


def test_wrapper_run_sends_request(run_served: Any, tmp_path: Path) -> None:
    proc, server = run_served("cd / && /bin/echo run-ok", lambda _r: {"action": "Run"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "run-ok\n"
    (request,) = server.requests
    assert request["file"] == "/bin/echo"
    assert request["argv"] == ["/bin/echo", "run-ok"]
    assert request["workdir"] == "/"
    env = request["env"]
    assert env["EXECGUARD_TEST_VAR"] == 'caf\u00e9 "quoted"\n'
    for name in ("CODEX_ESCALATE_SOCKET", "EXEC_WRAPPER", "BASH_EXEC_WRAPPER"):
        assert name not in env


def test_wrapper_deny(run_served: Any) -> None:
    proc, _ = run_served(
        "/bin/echo nope; echo status=$?",
        lambda _r: {"action": {"Deny": {"reason": "Execution forbidden by policy"}}},
    )
    assert proc.stdout == "status=1\n"
    assert proc.stderr == "Execution denied: Execution forbidden by policy\n"
    proc, _ = run_served("/bin/echo nope", lambda _r: {"action": {"Deny": {"reason": None}}})
    assert proc.returncode == 1 and proc.stderr == "Execution denied\n"


def test_wrapper_escalate_hands_over_stdio(run_served: Any) -> None:
    proc, server = run_served("/bin/false hello; echo status=$?", lambda _r: {"action": "Escalate"})
    assert proc.stdout == "escalated hello\nstatus=42\n", proc.stderr
    assert server.escalated == [([0, 1, 2], 42)]


def test_nested_shell_and_pipeline_are_intercepted(run_served: Any, bridge: BridgeInstall) -> None:
    proc, server = run_served(
        f"{bridge.zsh} -fc '/bin/echo inner' | /bin/cat", lambda _r: {"action": "Run"}
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "inner\n"
    files = sorted(r["file"] for r in server.requests)
    assert files == sorted([bridge.zsh, "/bin/echo", "/bin/cat"])


@pytest.mark.parametrize(
    "answer",
    [b"not json", b'{"action":"Explode"}', b'{"other":1}', b"", b'{"action":"Run"} x'],
)
def test_wrapper_rejects_bad_answers(run_served: Any, answer: bytes) -> None:
    proc, _ = run_served("/bin/echo never; echo status=$?", lambda _r: answer)
    assert proc.stdout == "status=1\n"
    assert proc.stderr.startswith("Error: ")


def test_wrapper_without_socket_refuses(bridge: BridgeInstall) -> None:
    proc = _zsh(bridge, "/bin/echo x", bridge.wrapper)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "CODEX_ESCALATE_SOCKET" in proc.stderr


def test_bridge_inside_the_bwrap_sandbox(bridge: BridgeInstall, tmp_path: Path) -> None:
    """Spec section 7: the socket and SCM_RIGHTS cross bubblewrap + our seccomp filter."""
    from execguard.sandbox import confine

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    server = Server(
        lambda r: {"action": "Escalate"} if r["argv"][0] == "/bin/false" else {"action": "Run"}
    )
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(ours, stop))
    thread.start()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EXEC_WRAPPER": bridge.wrapper,
        "CODEX_ESCALATE_SOCKET": str(theirs.fileno()),
    }
    script = "/bin/echo inside; touch /etc/nope 2>/dev/null || echo ro; /bin/false x; echo $?"
    try:
        conf = confine([bridge.zsh, "-lc", script], {"type": "readOnly"}, str(tmp_path), env,
                       exec_bridge=True)
        with conf:
            proc = subprocess.Popen(
                conf.argv,
                env=conf.env,
                cwd=tmp_path,
                preexec_fn=conf.preexec,
                pass_fds=(*conf.pass_fds, theirs.fileno()),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            if conf.after_spawn:
                conf.after_spawn(proc.pid)
            out, err = proc.communicate(timeout=60)
    finally:
        theirs.close()
        stop.set()
        thread.join(10)
        ours.close()
    assert (proc.returncode, out, err) == (0, "inside\nro\nescalated x\n42\n", "")
    assert [r["file"] for r in server.requests] == ["/bin/echo", "/usr/bin/touch", "/bin/false"]
    assert server.escalated == [([0, 1, 2], 42)]


def test_wrapper_refuses_a_non_socket(bridge: BridgeInstall) -> None:
    env = {"CODEX_ESCALATE_SOCKET": "0"}
    proc = _zsh(bridge, "/bin/echo x < /dev/null", bridge.wrapper, env=env)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "not a datagram socket" in proc.stderr
