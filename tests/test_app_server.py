"""`execguard app-server`, driven as a subprocess over stdio and WebSocket.

Expected texts and orders are the reference's (spec runtimes_rpc.md §1–§4,
§7–§9, §13; observed on codex 0.169.0). Commands run with
``dangerFullAccess``: the sandbox backends are not part of this suite, and
a request without a policy must fail closed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from execguard.runtimes.protocol import Base64Error, decode_base64

EXECGUARD = Path(sys.executable).parent / "execguard"
DANGER = {"type": "dangerFullAccess"}
CLIENT_INFO = {"name": "execguard-tests", "version": "1.0.0"}
WAIT_S = 15.0
MiB = 1024 * 1024


def _message_error(message: dict[str, Any]) -> tuple[int, str] | None:
    error = message.get("error")
    return None if error is None else (error["code"], error["message"])


class Client:
    """A JSON-RPC client over some line/frame transport: responses by id,
    notifications in arrival order, and the order of everything."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.order: list[tuple[str, Any]] = []
        self.raw: list[str] = []
        self._next_id = 1000
        self.ended = False

    # transport hooks
    def _send_text(self, text: str) -> None:
        raise NotImplementedError

    def _received(self, text: str) -> None:
        message = json.loads(text)
        with self._lock:
            self.raw.append(text)
            if "id" in message and "method" not in message:
                self.responses[message["id"]] = message
                self.order.append(("response", message["id"]))
            else:
                self.notifications.append(message)
                self.order.append(("notification", message.get("method")))
            self._lock.notify_all()

    def _ended(self) -> None:
        with self._lock:
            self.ended = True
            self._lock.notify_all()

    # API
    def send(self, message: dict[str, Any] | str) -> None:
        self._send_text(message if isinstance(message, str) else json.dumps(message))

    def request(self, method: str, params: Any = None, *, id: Any = None,
                omit_params: bool = False) -> Any:
        if id is None:
            self._next_id += 1
            id = self._next_id
        message: dict[str, Any] = {"id": id, "method": method}
        if not omit_params:
            message["params"] = params
        self.send(message)
        return id

    def wait(self, id: Any, timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while id not in self.responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended:
                    raise AssertionError(f"no response to {id!r}; got {self.raw[-5:]}")
                self._lock.wait(remaining)
            return self.responses[id]

    def call(self, method: str, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self.wait(self.request(method, params, **kwargs))

    def result(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        response = self.call(method, params, **kwargs)
        assert "result" in response, response
        return response["result"]

    def error(self, method: str, params: Any = None, **kwargs: Any) -> tuple[int, str] | None:
        return _message_error(self.call(method, params, **kwargs))

    def initialize(self, **capabilities: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"clientInfo": CLIENT_INFO}
        if capabilities:
            params["capabilities"] = capabilities
        result: dict[str, Any] = self.result("initialize", params)
        self.send({"method": "initialized"})
        return result

    def exec(self, command: list[str], *, id: Any = None, **params: Any) -> Any:
        """Start a command (no waiting); returns the request id."""
        params.setdefault("sandboxPolicy", DANGER)
        return self.request("command/exec", {"command": command, **params}, id=id)

    def run(self, command: list[str], **params: Any) -> dict[str, Any]:
        return self.wait(self.exec(command, **params))

    def messages(self, method: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The notifications and server requests named ``method``, once there
        are ``count`` of them (or whatever came within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [n for n in self.notifications if n.get("method") == method]
                if len(found) >= count or time.monotonic() > deadline:
                    return found
                self._lock.wait(0.05)

    def deltas(self, process_id: str, stream: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [n["params"] for n in self.notifications
                    if n.get("method") == "command/exec/outputDelta"
                    and n["params"]["processId"] == process_id
                    and (stream is None or n["params"]["stream"] == stream)]

    def output(self, process_id: str, stream: str | None = None) -> bytes:
        return b"".join(base64.b64decode(d["deltaBase64"]) for d in self.deltas(process_id, stream))

    def wait_output(self, process_id: str, needle: bytes, timeout: float = WAIT_S) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            data = self.output(process_id)
            if needle in data:
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in the output of {process_id}: {data!r}")
            with self._lock:
                self._lock.wait(0.05)


class StdioClient(Client):
    def __init__(self, cwd: Path | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.proc = subprocess.Popen([str(EXECGUARD), "app-server", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                                     env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._received(line.decode("utf-8"))
        self._ended()

    def _send_text(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def descendants(self) -> list[psutil.Process]:
        try:
            found: list[psutil.Process] = psutil.Process(self.proc.pid).children(recursive=True)
            return found
        except psutil.NoSuchProcess:
            return []

    def close(self, timeout: float = 10.0) -> int:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class WsClient(Client):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(url, compression=None, max_size=None, **kwargs))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                assert isinstance(message, str)
                self._received(message)
        except Exception:
            pass
        self._ended()

    def _send_text(self, text: str) -> None:
        self.ws.send(text)

    def close(self) -> None:
        self._stack.close()
        self._reader.join(5)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[StdioClient]:
    started = StdioClient(cwd=tmp_path)
    yield started
    started.kill()


@pytest.fixture(scope="module")
def shared() -> Iterator[StdioClient]:
    """One initialized server for the stateless checks."""
    started = StdioClient()
    started.initialize()
    yield started
    started.kill()


class WsServer:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([str(EXECGUARD), "app-server", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        self.stderr: list[str] = []
        while True:
            line = self.proc.stderr.readline()
            assert line, f"server ended: {''.join(self.stderr)}"
            self.stderr.append(line)
            found = re.search(r"listening on (ws://\S+)", line)
            if found:
                self.url = found.group(1)
                break
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def ws_server() -> Iterator[WsServer]:
    server = WsServer("--listen", "ws://127.0.0.1:0")
    yield server
    server.stop()


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := _alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _wait_children(client: StdioClient, count: int, timeout: float = 10.0
                   ) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while len(found := client.descendants()) < count:
        assert time.monotonic() < deadline, f"only {found}"
        time.sleep(0.05)
    return found


# -- transport and lifecycle ---------------------------------------------------------


def test_lifecycle_errors_and_initialize_response(client: StdioClient) -> None:
    assert client.error("command/exec", {"command": ["true"]}) == (-32600, "Not initialized")
    # Shape errors are reported before the lifecycle error, as in the reference.
    assert client.error("command/exec", {}) == (-32600, "Invalid request: missing field `command`")
    result = client.initialize()
    assert set(result) == {"userAgent", "codexHome", "platformFamily", "platformOs"}
    assert result["userAgent"].startswith("execguard/")
    assert os.path.isabs(result["codexHome"])
    assert result["platformFamily"] == "unix"
    assert client.error("initialize", {"clientInfo": CLIENT_INFO}) == (-32600,
                                                                     "Already initialized")
    # An incoming "jsonrpc" member is tolerated; none is ever sent.
    client.send({"jsonrpc": "2.0", "id": "j", "method": "command/exec",
                 "params": {"command": ["true"], "sandboxPolicy": DANGER}})
    assert client.wait("j")["result"] == {"exitCode": 0, "stdout": "", "stderr": ""}
    assert all('"jsonrpc"' not in raw for raw in client.raw)
    assert list(json.loads(client.raw[-1])) == ["id", "result"]


def test_unknown_method_before_and_after_initialize(client: StdioClient) -> None:
    prefix = ("Invalid request: unknown variant `no/such`, expected one of `initialize`, "
              "`server/diagnostics`, ")
    for initialized in (False, True):
        code, message = client.error("no/such", {}) or (0, "")
        assert code == -32600
        assert message.startswith(prefix)
        assert "`command/exec`, `command/exec/write`" in message
        if not initialized:
            client.initialize()
    code, message = client.error("initialized") or (0, "")
    assert message.startswith("Invalid request: unknown variant `initialized`")
    # The reference's other methods exist in the protocol; execguard does not serve them.
    assert client.error("thread/start", {}) == (
        -32601, "method not implemented by execguard: thread/start")


def test_non_json_lines_and_odd_messages_are_ignored(shared: StdioClient) -> None:
    before = len(shared.raw)
    for junk in ("not json", "", "[1, 2]", "5", '"text"', "{", '{"id": 1.5, "method": "x"}',
                 '{"id": null, "method": "command/exec", "params": {"command": []}}',
                 '{"id": 3, "params": {}}', '{"result": {}, "id": 9}',
                 '{"id": 4, "method": "command/exec", "method": "command/exec", "params": {}}',
                 '{"id": 5, "method": "command/exec", "params": {"command": ["\\ud800"]}}',
                 '{"id": 6, "method": "command/exec", "params": {"command": [NaN]}}',
                 "[" * 200 + "]" * 200, '{"id": 7, "method": "x", "params": ' + "[" * 200):
        shared.send(junk)
    assert shared.result("command/exec", {"command": ["true"], "sandboxPolicy": DANGER},
                         id="after-junk")["exitCode"] == 0
    assert len(shared.raw) == before + 1


@pytest.mark.parametrize("request_id", ["str-id-1", "", 2**63 - 1, -5, 0])
def test_request_ids_echoed(shared: StdioClient, request_id: Any) -> None:
    response = shared.call("command/exec", {"command": []}, id=request_id)
    assert response["id"] == request_id and type(response["id"]) is type(request_id)
    assert _message_error(response) == (-32600, "command must not be empty")


def test_notifications_carry_emitted_at(client: StdioClient) -> None:
    client.initialize()
    client.run(["echo", "hi"], processId="n", streamStdoutStderr=True)
    (delta,) = [n for n in client.notifications if n["method"] == "command/exec/outputDelta"]
    assert list(delta) == ["method", "params", "emittedAtMs"]
    assert abs(delta["emittedAtMs"] / 1000 - time.time()) < 60
    assert list(delta["params"]) == ["processId", "stream", "deltaBase64", "capReached"]
    assert delta["params"] == {"processId": "n", "stream": "stdout", "deltaBase64": "aGkK",
                               "capReached": False}


# -- command/exec validation (spec §3) -----------------------------------------------

_PARSE_ERRORS: list[tuple[Any, str]] = [
    (None, "missing field `params`"),
    ({}, "missing field `command`"),
    ({"command": "ls"}, 'invalid type: string "ls", expected a sequence'),
    ({"command": ["ls"], "timeoutMs": 1.5}, "invalid type: floating point `1.5`, expected i64"),
    ({"command": ["ls"], "outputBytesCap": -1}, "invalid value: integer `-1`, expected usize"),
    ({"command": ["ls"], "tty": True, "size": {"rows": 70000, "cols": 1}},
     "invalid value: integer `70000`, expected u16"),
    ({"command": [1]}, "invalid type: integer `1`, expected a string"),
    ({"command": ["ls"], "tty": "yes"}, 'invalid type: string "yes", expected a boolean'),
    ({"command": ["ls"], "tty": None}, "invalid type: null, expected a boolean"),
    ({"command": ["ls"], "env": []}, "invalid type: sequence, expected a map"),
    ({"command": ["ls"], "env": {"A": 1}}, "invalid type: integer `1`, expected a string"),
    ({"command": ["ls"], "size": {"rows": 1}}, "missing field `cols`"),
    ({"command": ["ls"], "size": "x"},
     'invalid type: string "x", expected struct CommandExecTerminalSize'),
    ({"command": ["ls"], "size": [1]},
     "invalid length 1, expected struct CommandExecTerminalSize with 2 elements"),
    ({"command": ["ls"], "timeoutMs": 2**63}, f"invalid value: integer `{2**63}`, expected i64"),
    ({"command": ["ls"], "timeoutMs": 2**64},
     f"invalid type: integer `{2**64}` as u128, expected any value"),
    ({"command": ["ls"], "timeoutMs": True}, "invalid type: boolean `true`, expected i64"),
    ({"command": ["ls"], "processId": 5}, "invalid type: integer `5`, expected a string"),
    ({"command": ["ls"], "cwd": 5}, "invalid type: integer `5`, expected path string"),
    ({"command": ["ls"], "sandboxPolicy": {"type": "bogus"}},
     "unknown variant `bogus`, expected one of `dangerFullAccess`, `readOnly`, "
     "`externalSandbox`, `workspaceWrite`"),
    ({"command": ["ls"], "sandboxPolicy": {}}, "missing field `type`"),
    ({"command": ["ls"], "sandboxPolicy": "x"},
     'invalid type: string "x", expected internally tagged enum SandboxPolicyDeserialize'),
    ({"command": ["ls"], "sandboxPolicy": {"type": "externalSandbox", "networkAccess": "x"}},
     "unknown variant `x`, expected `restricted` or `enabled`"),
    ({"command": ["ls"], "sandboxPolicy": {"type": "workspaceWrite", "writableRoots": ["r"]}},
     "AbsolutePathBuf deserialized without a base path"),
    ([], "invalid length 0, expected struct CommandExecParams with 14 elements"),
    (["ls"], 'invalid type: string "ls", expected a sequence'),
    ("x", 'invalid type: string "x", expected struct CommandExecParams'),
    # The first bad value in document order wins.
    ({"timeoutMs": 1.5, "command": "ls"}, "invalid type: floating point `1.5`, expected i64"),
    ({"command": "ls", "timeoutMs": 1.5}, 'invalid type: string "ls", expected a sequence'),
    ({"command": ["ls"], "tty": 'a"b\n\x01é\t'},
     'invalid type: string "a\\"b\\n\\u{1}é\\t", expected a boolean'),
]


@pytest.mark.parametrize(("params", "message"), _PARSE_ERRORS)
def test_exec_parse_errors(shared: StdioClient, params: Any, message: str) -> None:
    assert shared.error("command/exec", params, omit_params=params is None) == (
        -32600, f"Invalid request: {message}")


_SIZE_WITHOUT_TTY = (-32602, "command/exec size requires tty: true")
_BOTH_CAPS = (-32602, "command/exec cannot set both outputBytesCap and disableOutputCap")
_BOTH_TIMEOUTS = (-32602, "command/exec cannot set both timeoutMs and disableTimeout")
_NEGATIVE = (-32602, "command/exec timeoutMs must be non-negative, got -1")
_ZERO_SIZE = (-32602, "command/exec size rows and cols must be greater than 0")
_NEEDS_ID = (-32600, "command/exec tty or streaming requires a client-supplied processId")
_ENOENT = (-32603, "failed to spawn command: No such file or directory (os error 2)")

_CHECKS: list[tuple[dict[str, Any], tuple[int, str]]] = [
    ({"command": ["true"], "permissionProfile": ":read-only"},
     (-32600, "command/exec.permissionProfile requires experimentalApi capability")),
    ({"command": [], "permissionProfile": ":read-only"},
     (-32600, "command/exec.permissionProfile requires experimentalApi capability")),
    ({"command": [], "size": {"rows": 1, "cols": 1}}, (-32600, "command must not be empty")),
    ({"command": ["true"], "size": {"rows": 0, "cols": 1}, "disableOutputCap": True,
      "outputBytesCap": 5}, _SIZE_WITHOUT_TTY),
    ({"command": ["true"], "size": [24, 80]}, _SIZE_WITHOUT_TTY),
    ({"command": ["true"], "disableOutputCap": True, "outputBytesCap": 5,
      "disableTimeout": True, "timeoutMs": -1}, _BOTH_CAPS),
    ({"command": ["true"], "disableTimeout": True, "timeoutMs": -1}, _BOTH_TIMEOUTS),
    ({"command": ["true"], "timeoutMs": -1, "tty": True, "size": {"rows": 0, "cols": 1}},
     _NEGATIVE),
    ({"command": ["true"], "tty": True, "size": {"rows": 0, "cols": 1}}, _ZERO_SIZE),
    ({"command": ["true"], "tty": True, "size": {"rows": 5, "cols": 0}}, _ZERO_SIZE),
    ({"command": ["true"], "tty": True}, _NEEDS_ID),
    ({"command": ["true"], "streamStdin": True}, _NEEDS_ID),
    ({"command": ["true"], "streamStdoutStderr": True}, _NEEDS_ID),
    ({"command": ["no-such-program-xyz"]}, _ENOENT),
    ({"command": ["no-such-program-xyz"], "streamStdin": True}, _NEEDS_ID),
    ({"command": ["true"], "cwd": "/nonexistent-dir-xyz"}, _ENOENT),
    ({"command": ["true"], "cwd": "relative-missing/x"}, _ENOENT),
    ({"command": ["true"], "env": {"PATH": "/nonexistent-dir-xyz"}}, _ENOENT),
    ({"command": ["sh", "-c", "true"], "env": {"PATH": "/nonexist"}, "tty": True,
      "processId": "q"},
     (-32603, 'failed to spawn command: Unable to spawn sh because:\n'
              'No viable candidates found in PATH "/nonexist"')),
]


@pytest.mark.parametrize(("params", "expected"), _CHECKS)
def test_exec_checks_in_reference_order(shared: StdioClient, params: dict[str, Any],
                                        expected: tuple[int, str]) -> None:
    params = {"sandboxPolicy": DANGER, **params}
    assert shared.error("command/exec", params) == expected


def test_exec_checks_with_experimental_api(client: StdioClient) -> None:
    client.initialize(experimentalApi=True)
    assert client.error("command/exec", {"command": ["true"], "sandboxPolicy": DANGER,
                                         "permissionProfile": ":read-only",
                                         "size": {"rows": 1, "cols": 1}}) == (
        -32600, "`permissionProfile` cannot be combined with `sandboxPolicy`")
    code, message = client.error("command/exec", {"command": ["true"],
                                                  "permissionProfile": ":nope"}) or (0, "")
    assert code == -32600 and message.startswith("invalid permission profile: ")


def test_missing_sandbox_policy_means_read_only(shared: StdioClient, tmp_path: Path) -> None:
    """No policy is the server's default, read-only with the network off:
    the command runs, confined (the reference's default too)."""
    marker = tmp_path / "ran"
    for policy in ({}, {"sandboxPolicy": None}, {"sandboxPolicy": {"type": "readOnly"}}):
        result = shared.result("command/exec", {"command": ["touch", str(marker)], **policy})
        assert result["exitCode"] == 1
        assert result["stderr"] == (f"touch: cannot touch '{marker}': Read-only file system\n")
    assert not marker.exists()
    result = shared.result("command/exec",
                           {"command": ["sh", "-c", "echo $CODEX_SANDBOX_NETWORK_DISABLED"]})
    assert result["stdout"] == "1\n"


# -- control calls (spec §8) ---------------------------------------------------------

_CONTROL_ERRORS: list[tuple[str, dict[str, Any], tuple[int, str]]] = [
    ("command/exec/write", {}, (-32600, "Invalid request: missing field `processId`")),
    ("command/exec/write", {"processId": "x"},
     (-32602, "command/exec/write requires deltaBase64 or closeStdin")),
    ("command/exec/write", {"processId": "x", "deltaBase64": None, "closeStdin": False},
     (-32602, "command/exec/write requires deltaBase64 or closeStdin")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "YQ==", "closeStdin": None},
     (-32600, "Invalid request: invalid type: null, expected a boolean")),
    ("command/exec/write", {"processId": 5, "deltaBase64": "YQ=="},
     (-32600, "Invalid request: invalid type: integer `5`, expected a string")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "!"},
     (-32602, "invalid deltaBase64: Invalid symbol 33, offset 0.")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "YQ"},
     (-32602, "invalid deltaBase64: Invalid padding")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "YWJj\nZA=="},
     (-32602, "invalid deltaBase64: Invalid symbol 10, offset 4.")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "-_8="},
     (-32602, "invalid deltaBase64: Invalid symbol 45, offset 0.")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "YWJ="},
     (-32602, "invalid deltaBase64: Invalid last symbol 74, offset 2.")),
    ("command/exec/write", {"processId": "x", "deltaBase64": "YWJjZ"},
     (-32602, "invalid deltaBase64: Invalid input length: 5")),
    ("command/exec/write", {"processId": "x", "closeStdin": True},
     (-32600, 'no active command/exec for process id "x"')),
    ("command/exec/write", {"processId": "x", "deltaBase64": ""},
     (-32600, 'no active command/exec for process id "x"')),
    ("command/exec/resize", {"processId": "x"}, (-32600, "Invalid request: missing field `size`")),
    ("command/exec/resize", {"processId": "x", "size": {"rows": 0, "cols": 5}}, _ZERO_SIZE),
    ("command/exec/resize", {"processId": "x", "size": {"rows": 5, "cols": 5}},
     (-32600, 'no active command/exec for process id "x"')),
    ("command/exec/terminate", {}, (-32600, "Invalid request: missing field `processId`")),
    ("command/exec/terminate", {"processId": None},
     (-32600, "Invalid request: invalid type: null, expected a string")),
    ("command/exec/terminate", {"processId": 'a"b'},
     (-32600, 'no active command/exec for process id "a\\"b"')),
]


@pytest.mark.parametrize(("method", "params", "expected"), _CONTROL_ERRORS)
def test_control_call_errors(shared: StdioClient, method: str, params: dict[str, Any],
                             expected: tuple[int, str]) -> None:
    assert shared.error(method, params) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("Y===", "Invalid symbol 61, offset 1."), ("YQ=a", "Invalid symbol 61, offset 2."),
    ("YW==", "Invalid last symbol 87, offset 1."), ("=YQ=", "Invalid symbol 61, offset 0."),
    ("YQ==YQ==", "Invalid symbol 61, offset 2."), ("é", "Invalid symbol 195, offset 0."),
    ("YWJjZGVm-", "Invalid symbol 45, offset 8."), ("YWJjZGVmZ", "Invalid input length: 9"),
    ("YWJjZGVmZ==", "Invalid symbol 61, offset 9."),
    ("YWJjZGVmZ===", "Invalid symbol 61, offset 9."),
])
def test_base64_errors_match_the_rust_crate(text: str, message: str) -> None:
    with pytest.raises(Base64Error) as raised:
        decode_base64(text)
    assert str(raised.value) == message


def test_base64_round_trip() -> None:
    for size in range(0, 40):
        data = os.urandom(size)
        assert decode_base64(base64.b64encode(data).decode()) == data


# -- running commands ----------------------------------------------------------------


def test_buffered_exec_exit_codes_env_and_cwd(client: StdioClient, tmp_path: Path) -> None:
    client.initialize()
    assert client.run(["sh", "-c", "printf out; printf err >&2"])["result"] == {
        "exitCode": 0, "stdout": "out", "stderr": "err"}
    assert client.run(["sh", "-c", "exit 7"])["result"]["exitCode"] == 7
    assert client.run(["sh", "-c", "kill -TERM $$"])["result"]["exitCode"] == 143
    # Streaming flags without output still answer in the buffered shape.
    assert client.run(["true"], processId="p")["result"] == {"exitCode": 0, "stdout": "",
                                                            "stderr": ""}
    env = {"BASELINE": "request", "EXTRA": "added", "HOME": None}
    script = 'printf "%s|%s|%s" "$BASELINE" "$EXTRA" "${HOME-unset}"'
    assert client.run(["sh", "-c", script], env=env)["result"]["stdout"] == "request|added|unset"
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    for cwd, expected in (("sub/dir", tmp_path / "sub" / "dir"), ("..", tmp_path.parent),
                          ("sub/../sub", tmp_path / "sub"), ("/usr/../usr/./", Path("/usr"))):
        assert client.run(["pwd"], cwd=cwd)["result"]["stdout"] == f"{expected}\n"
    assert client.run(["pwd"])["result"]["stdout"] == f"{tmp_path}\n"


def test_streaming_deltas_precede_the_response_byte_exact(client: StdioClient) -> None:
    client.initialize()
    script = "seq 1 400000; seq 1 250000 >&2"
    request = client.exec(["sh", "-c", script], processId="big", streamStdoutStderr=True,
                          disableOutputCap=True)
    response = client.wait(request, timeout=30)
    assert response["result"] == {"exitCode": 0, "stdout": "", "stderr": ""}
    expected_out = "".join(f"{n}\n" for n in range(1, 400001)).encode()
    expected_err = "".join(f"{n}\n" for n in range(1, 250001)).encode()
    assert len(expected_out) > 2_500_000
    assert client.output("big", "stdout") == expected_out
    assert client.output("big", "stderr") == expected_err
    position = client.order.index(("response", request))
    assert sum(1 for kind, _ in client.order[position:] if kind == "notification") == 0
    assert all(not d["capReached"] for d in client.deltas("big"))


def test_output_caps(client: StdioClient) -> None:
    client.initialize()
    script = "printf abcdef; printf uvwxyz >&2"
    assert client.run(["sh", "-c", script], outputBytesCap=5)["result"] == {
        "exitCode": 0, "stdout": "abcde", "stderr": "uvwxy"}
    assert client.run(["sh", "-c", script], outputBytesCap=0)["result"]["stdout"] == ""
    client.run(["sh", "-c", script], outputBytesCap=5, processId="c5", streamStdoutStderr=True)
    assert [(d["stream"], base64.b64decode(d["deltaBase64"]), d["capReached"])
            for d in sorted(client.deltas("c5"), key=lambda d: d["stream"])] == [
        ("stderr", b"uvwxy", True), ("stdout", b"abcde", True)]
    client.run(["sh", "-c", script], outputBytesCap=0, processId="c0", streamStdoutStderr=True)
    assert sorted((d["stream"], d["deltaBase64"], d["capReached"])
                  for d in client.deltas("c0")) == [("stderr", "", True), ("stdout", "", True)]
    big = client.run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"])["result"]
    assert len(big["stdout"]) == MiB
    # A writer far beyond a tiny cap is drained, not blocked or SIGPIPE'd.
    assert client.run(["sh", "-c", "head -c 5000000 /dev/zero"], outputBytesCap=10,
                      processId="drained", streamStdoutStderr=True)["result"]["exitCode"] == 0


def test_timeout(client: StdioClient) -> None:
    client.initialize()
    started = time.monotonic()
    result = client.run(["sh", "-c", "echo start; sleep 5"], timeoutMs=300)["result"]
    assert result == {"exitCode": 124, "stdout": "start\n", "stderr": ""}
    assert time.monotonic() - started < 3
    assert client.run(["sleep", "1"], timeoutMs=0)["result"]["exitCode"] == 124


def test_tty_write_resize_terminate(client: StdioClient) -> None:
    client.initialize()
    script = ("stty size; [ -t 0 -a -t 1 -a -t 2 ] && echo tty; read a; echo got:$a; "
              "read b; stty size; echo err >&2; sleep 30")
    request = client.exec(["sh", "-c", script], processId="t", tty=True,
                          size={"rows": 31, "cols": 101})
    client.wait_output("t", b"31 101\r\ntty\r\n")
    assert client.result("command/exec/write",
                         {"processId": "t", "deltaBase64": base64.b64encode(b"hello\n").decode()}
                         ) == {}
    client.wait_output("t", b"got:hello\r\n")
    assert client.result("command/exec/resize",
                         {"processId": "t", "size": {"rows": 45, "cols": 132}}) == {}
    client.result("command/exec/write", {"processId": "t", "deltaBase64": "eAo="})
    client.wait_output("t", b"45 132\r\nerr\r\n")
    assert {d["stream"] for d in client.deltas("t")} == {"stdout"}
    terminate = client.request("command/exec/terminate", {"processId": "t"})
    assert client.wait(terminate)["result"] == {}
    assert client.wait(request)["result"] == {"exitCode": 1, "stdout": "", "stderr": ""}
    assert client.order.index(("response", terminate)) < client.order.index(("response", request))
    assert client.error("command/exec/terminate", {"processId": "t"}) == (
        -32600, 'no active command/exec for process id "t"')


def test_tty_default_size_and_close_stdin(client: StdioClient) -> None:
    client.initialize()
    request = client.exec(["sh", "-c", "stty size; cat"], processId="c", tty=True)
    client.wait_output("c", b"24 80\r\n")
    assert client.result("command/exec/write", {"processId": "c", "closeStdin": True}) == {}
    assert client.wait(request)["result"]["exitCode"] == 0


def test_pipe_stdin_streaming(client: StdioClient) -> None:
    client.initialize()
    script = "echo out-start; echo err-start >&2; read line; echo out:$line; echo err:$line >&2"
    request = client.exec(["sh", "-c", script], processId="p", streamStdin=True,
                          streamStdoutStderr=True)
    client.wait_output("p", b"err-start")
    client.wait_output("p", b"out-start")
    assert client.result("command/exec/write",
                         {"processId": "p", "deltaBase64": base64.b64encode(b"hello\n").decode(),
                          "closeStdin": True}) == {}
    assert client.wait(request)["result"] == {"exitCode": 0, "stdout": "", "stderr": ""}
    assert client.output("p", "stdout") == b"out-start\nout:hello\n"
    assert client.output("p", "stderr") == b"err-start\nerr:hello\n"

    # Large writes arrive intact and in order.
    request = client.exec(["wc", "-c"], processId="wc", streamStdin=True)
    chunk = base64.b64encode(b"x" * MiB).decode()
    writes = [client.request("command/exec/write", {"processId": "wc", "deltaBase64": chunk})
              for _ in range(8)]
    writes.append(client.request("command/exec/write", {"processId": "wc", "closeStdin": True}))
    for write in writes:
        assert client.wait(write)["result"] == {}
    assert client.wait(request)["result"]["stdout"].strip() == str(8 * MiB)


def test_stdin_errors_on_running_commands(client: StdioClient) -> None:
    client.initialize()
    buffered = client.exec(["sleep", "30"], processId="b")
    streaming = client.exec(["cat"], processId="s", streamStdin=True)
    _wait_children(client, 2)
    not_enabled = (-32600, "stdin streaming is not enabled for this command/exec")
    assert client.error("command/exec/write", {"processId": "b", "deltaBase64": ""}) == not_enabled
    assert client.error("command/exec/write", {"processId": "b", "closeStdin": True}
                        ) == not_enabled
    assert client.error("command/exec/resize", {"processId": "b",
                                                "size": {"rows": 5, "cols": 5}}) == (
        -32600, "failed to resize PTY: process is not attached to a PTY")
    assert client.result("command/exec/write", {"processId": "s", "closeStdin": True}) == {}
    # Closing twice is fine; writing after closing is not (if cat is still running).
    for call in ({"processId": "s", "closeStdin": True}, {"processId": "s", "deltaBase64": "YQ=="}):
        error = client.error("command/exec/write", call)
        assert error in (None, (-32600, "stdin is already closed"),
                         (-32600, 'no active command/exec for process id "s"'),
                         (-32600, 'command/exec "s" is no longer running'))
    assert client.wait(streaming)["result"]["exitCode"] == 0
    assert client.result("command/exec/terminate", {"processId": "b"}) == {}
    assert client.wait(buffered)["result"]["exitCode"] == 137


def test_duplicate_ids_and_reuse(client: StdioClient) -> None:
    client.initialize()
    first = client.exec(["sleep", "30"], processId="dup")
    _wait_children(client, 1)
    assert client.error("command/exec", {"command": ["true"], "processId": "dup",
                                         "sandboxPolicy": DANGER}) == (
        -32600, 'duplicate active command/exec process id: "dup"')
    quoted = client.exec(["sleep", "30"], processId='a"b')
    _wait_children(client, 2)
    assert client.error("command/exec", {"command": ["true"], "processId": 'a"b',
                                         "sandboxPolicy": DANGER}) == (
        -32600, 'duplicate active command/exec process id: "a\\"b"')
    for process_id, request in (("dup", first), ('a"b', quoted)):
        assert client.result("command/exec/terminate", {"processId": process_id}) == {}
        assert client.wait(request)["result"]["exitCode"] == 137
    # Ids are free again once the response was sent; an empty id is an id.
    assert client.run(["true"], processId="dup")["result"]["exitCode"] == 0
    assert client.run(["echo", "x"], processId="", streamStdin=True)["result"]["exitCode"] == 0


def test_internal_ids_are_not_addressable(client: StdioClient) -> None:
    client.initialize()
    request = client.exec(["sleep", "30"])
    _wait_children(client, 1)
    for process_id in ("0", "1"):
        assert client.error("command/exec/terminate", {"processId": process_id}) == (
            -32600, f'no active command/exec for process id "{process_id}"')
    client.close()
    assert request not in client.responses


def test_concurrent_commands_and_control_calls(client: StdioClient) -> None:
    client.initialize()
    long = client.exec(["sleep", "30"], processId="long")
    started = time.monotonic()
    requests = [client.exec(["sleep", "1"]) for _ in range(20)]
    # Control calls and short commands are answered while everything runs.
    control = client.request("command/exec/terminate", {"processId": "other"})
    assert _message_error(client.wait(control)) == (
        -32600, 'no active command/exec for process id "other"')
    short = client.exec(["true"])
    assert client.wait(short)["result"]["exitCode"] == 0
    for request in requests:
        assert client.wait(request)["result"]["exitCode"] == 0
    first_sleep = min(client.order.index(("response", request)) for request in requests)
    assert client.order.index(("response", control)) < first_sleep
    assert client.order.index(("response", short)) < first_sleep
    elapsed = time.monotonic() - started
    assert 0.95 < elapsed < 3.0, elapsed
    assert long not in client.responses
    assert client.result("command/exec/terminate", {"processId": "long"}) == {}
    assert client.wait(long)["result"]["exitCode"] == 137


def test_responses_come_in_completion_order(client: StdioClient) -> None:
    client.initialize()
    slow = client.exec(["sleep", "0.6"])
    fast = client.exec(["true"])
    client.wait(slow)
    assert client.order.index(("response", fast)) < client.order.index(("response", slow))


def test_backpressure_bounds_server_memory(tmp_path: Path) -> None:
    """A client that does not read blocks the producing command (no growth)."""
    marker = tmp_path / "done"
    proc = subprocess.Popen([str(EXECGUARD), "app-server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        init = {"id": 1, "method": "initialize", "params": {"clientInfo": CLIENT_INFO}}
        proc.stdin.write(json.dumps(init).encode() + b"\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        script = f"head -c 100000000 /dev/zero; touch {marker}"
        request = {"id": 2, "method": "command/exec",
                   "params": {"command": ["sh", "-c", script], "processId": "f",
                              "streamStdoutStderr": True, "disableOutputCap": True,
                              "sandboxPolicy": DANGER}}
        proc.stdin.write(json.dumps(request).encode() + b"\n")
        proc.stdin.flush()
        time.sleep(1.5)  # nobody reads stdout meanwhile
        assert not marker.exists()
        assert psutil.Process(proc.pid).memory_info().rss < 150 * MiB
        received = 0
        for line in proc.stdout:
            message = json.loads(line)
            if message.get("id") == 2:
                assert message["result"]["exitCode"] == 0
                break
            received += len(base64.b64decode(message["params"]["deltaBase64"]))
        assert received == 100_000_000
        assert marker.exists()
    finally:
        proc.kill()
        proc.wait()


# -- connection end and shutdown (spec §9) -------------------------------------------


def test_closing_stdin_kills_every_command(client: StdioClient) -> None:
    client.initialize()
    client.exec(["sleep", "60"], processId="pipe", streamStdoutStderr=True)
    client.exec(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    client.exec(["cat"], processId="stdin", streamStdin=True)
    client.exec(["sh", "-c", "sleep 60"], processId="tty", tty=True)
    pids = [p.pid for p in _wait_children(client, 6)]
    started = time.monotonic()
    assert client.close() == 0
    assert time.monotonic() - started < 3
    assert _wait_gone(pids) == []


def test_sigterm_lets_running_commands_finish_then_kills(client: StdioClient) -> None:
    client.initialize()
    short = client.exec(["sh", "-c", "sleep 0.5; echo done"])
    long = client.exec(["sleep", "60"])
    pids = [p.pid for p in _wait_children(client, 2)]
    started = time.monotonic()
    client.proc.send_signal(signal.SIGTERM)
    assert client.wait(short)["result"] == {"exitCode": 0, "stdout": "done\n", "stderr": ""}
    assert client.proc.wait(15) == 0
    assert 4.0 < time.monotonic() - started < 9.0
    assert long not in client.responses
    assert _wait_gone(pids) == []


def test_second_sigint_kills_at_once(client: StdioClient) -> None:
    client.initialize()
    client.exec(["sleep", "60"])
    pids = [p.pid for p in _wait_children(client, 1)]
    started = time.monotonic()
    client.proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    client.proc.send_signal(signal.SIGINT)
    assert client.proc.wait(10) == 0
    assert time.monotonic() - started < 3
    assert _wait_gone(pids) == []


def test_sigterm_when_idle_exits_at_once(client: StdioClient) -> None:
    client.initialize()
    started = time.monotonic()
    client.proc.send_signal(signal.SIGTERM)
    assert client.proc.wait(10) == 0
    assert time.monotonic() - started < 2


# -- WebSocket -----------------------------------------------------------------------


def test_websocket_connections_are_separate(ws_server: WsServer, tmp_path: Path) -> None:
    first = WsClient(ws_server.url)
    second = WsClient(ws_server.url)
    try:
        assert second.error("command/exec", {"command": ["true"]}) == (-32600, "Not initialized")
        first.initialize()
        second.initialize()
        marker = tmp_path / "marker-shared"
        request = first.exec(["sh", "-c", f"touch {marker}; exec sleep 60"],
                             processId="shared", streamStdoutStderr=True, id="first-shared")
        deadline = time.monotonic() + 10
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        sleepers = [p.pid for p in psutil.process_iter(["cmdline"])
                    if p.info["cmdline"] == ["sleep", "60"]]
        assert sleepers
        assert second.error("command/exec/terminate", {"processId": "shared"}) == (
            -32600, 'no active command/exec for process id "shared"')
        # The other connection may use the same id concurrently.
        assert second.run(["echo", "second"], processId="shared")["result"]["stdout"] == (
            "second\n")
        assert request not in second.responses and request not in first.responses
        first.close()
        assert _wait_gone(sleepers) == []
        assert second.run(["true"])["result"]["exitCode"] == 0
    finally:
        first.close()
        second.close()


def test_websocket_many_concurrent_clients(ws_server: WsServer) -> None:
    clients = [WsClient(ws_server.url) for _ in range(5)]
    try:
        for index, ws in enumerate(clients):
            ws.initialize()
            ws.exec(["sh", "-c", f"sleep 0.3; echo {index}"], id="run")
        for index, ws in enumerate(clients):
            assert ws.wait("run")["result"]["stdout"] == f"{index}\n"
    finally:
        for ws in clients:
            ws.close()


def test_websocket_buffered_output_keeps_text_and_escapes(ws_server: WsServer) -> None:
    """Buffered responses go out as UTF-8 text frames: non-ASCII output,
    control characters and invalid bytes arrive as the stdio transport
    sends them."""
    ws = WsClient(ws_server.url)
    try:
        ws.initialize()
        script = "printf 'h\\303\\251\\000\\377 \\342\\202\\254\\n'; printf 'e\\t' >&2"
        result = ws.run(["sh", "-c", script])["result"]
        assert result == {"exitCode": 0, "stdout": "h\u00e9\u0000\ufffd \u20ac\n",
                          "stderr": "e\t"}
    finally:
        ws.close()


def _handshake(url: str, **kwargs: Any) -> None:
    with connect(url, **kwargs):
        pass


def test_websocket_rejects_origin_even_without_auth(ws_server: WsServer) -> None:
    with pytest.raises(InvalidStatus) as raised:
        _handshake(ws_server.url, origin="http://evil.example")
    assert raised.value.response.status_code == 403


def test_websocket_token_auth(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o600)
    server = WsServer("--listen", "ws://127.0.0.1:0", "--auth-token-file", str(token_file))
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                        {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
            with pytest.raises(InvalidStatus) as raised:
                _handshake(server.url, additional_headers=headers)
            assert raised.value.response.status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        with pytest.raises(InvalidStatus) as raised:
            _handshake(server.url, additional_headers=good, origin="http://localhost")
        assert raised.value.response.status_code == 403
        ws = WsClient(server.url, additional_headers=good)
        try:
            ws.initialize()
            assert ws.run(["echo", "ok"])["result"]["stdout"] == "ok\n"
        finally:
            ws.close()
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert not any("WARNING" in line for line in server.stderr)


def test_token_file_readable_by_others_is_warned_about(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t0ken")
    token_file.chmod(0o644)
    server = WsServer("--listen", "ws://127.0.0.1:0", "--auth-token-file", str(token_file))
    server.stop()
    assert any("accessible by other users" in line for line in server.stderr)


def test_non_loopback_without_auth_warns_loudly() -> None:
    server = WsServer("--listen", "ws://0.0.0.0:0")
    server.stop()
    text = "".join(server.stderr)
    assert "WITHOUT AUTHENTICATION" in text
    assert server.proc.returncode == 0


# -- command line --------------------------------------------------------------------


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["--listen", "foo"], 2, "expected stdio:// or ws://IP:PORT"),
    (["--listen", "ws://127.0.0.1"], 2, "expected ws://IP:PORT"),
    (["--listen", "ws://example.com:80"], 2, "must be an IP address"),
    (["--auth-token-file", "/x"], 2, "only applies to --listen ws://"),
    (["--listen"], 2, "a value is required"),
    (["extra"], 2, "unexpected positional argument 'extra'"),
    (["--listen", "ws://127.0.0.1:0", "--auth-token-file", "/nonexistent/token"], 1,
     "cannot read the auth token file"),
])
def test_command_line_errors(args: list[str], code: int, needle: str) -> None:
    done = subprocess.run([str(EXECGUARD), "app-server", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)
    assert done.returncode == code, done.stderr
    assert needle in done.stderr


def test_help() -> None:
    done = subprocess.run([str(EXECGUARD), "app-server", "--help"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0
    assert "--listen <URL>" in done.stdout and "--auth-token-file <PATH>" in done.stdout
    top = subprocess.run([str(EXECGUARD), "--help"], capture_output=True, text=True, timeout=30)
    assert "app-server" in top.stdout


def test_buffered_responses_escape_exactly_as_the_json_encoder() -> None:
    """The buffered response is written as bytes (protocol.json_string),
    which must equal what the JSON encoder writes, for any output."""
    import json as json_module
    import random

    from execguard.runtimes.protocol import json_string

    alphabet = ['a', '"', '\\', '\n', '\t', '\x00', '\x1f', '\x7f', 'é', '\u2028', '\r', '\x08',
                '\x0c', '😀']
    generator = random.Random(7)
    for _ in range(2000):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        assert json_string(text.encode()) == json_module.dumps(text, ensure_ascii=False).encode()
