"""Run one probe (see `probes.py`) against an app-server over stdio and reduce
what happened to a normalised, implementation-independent *outcome*.

The same code drives the reference (`capture.py`) and our server
(`tests/test_app_server_reference.py`), so the two outcomes are comparable
with ``==``.

A probe runs in its own directory tree ``<base>/{work,home,codex-home}``:
``work`` is the server's cwd (``{cwd}``), ``home`` its ``$HOME`` (``{home}``),
``codex-home`` its ``$CODEX_HOME``. The base is created under the user's cache
directory rather than the temp dir: the reference refuses to create its
helper aliases for a ``CODEX_HOME`` under the temp dir and warns.

Steps (executed in order; every step is a one-key dict, plus options):

``{"send": <message>}``                 write one JSON message (placeholders substituted)
``{"raw": "<text>"}``                   write a raw line (a newline is appended)
``{"wait": <id>}``                      wait for the response to request ``id``
``{"wait_output": {"processId": p, "contains": s}}``
                                        wait until p's streamed bytes (any stream) contain s
``{"wait_file": "<name>"}``             wait until ``{cwd}/<name>`` exists and is non-empty
``{"sleep_ms": n}``                     sleep
``{"check_alive": {"label": l, "files": [...]}}``
                                        record how many pids listed in those files still live
``{"close_stdin": true}``               end the connection; wait for the server to exit,
                                        record ``checks.server_exit``
``{"kill_server": true}``               SIGKILL the server (records nothing)

Options of a ``send`` step: ``"truncate_error_after": s`` keeps the error
message only up to and including ``s``; ``"result": "keys"`` records only the
sorted key list of the result.

After the last step the runner waits for a response to every request sent,
then closes stdin and waits for the server to exit.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DELTA_METHOD = "command/exec/outputDelta"
# Strings longer than this are stored as {"len", "sha256"} (big outputs).
MAX_INLINE = 4096
DEFAULT_DEADLINE_S = 20.0
CLIENT_INFO = {"name": "execguard-probe", "version": "1.0.0"}
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_KEEP = ("responses", "deltas", "extra", "checks", "timing")


class ProbeError(Exception):
    """The probe could not be run (server died, a wait timed out, ...)."""


def probe_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(cache) / "execguard-reference" / "app-server-probes"
    root.mkdir(parents=True, exist_ok=True)
    return root


def probe_digest(probe: dict[str, Any]) -> str:
    """Identifies the probe's definition; fixtures recorded for another
    definition are stale."""
    relevant = {k: v for k, v in probe.items() if k not in ("divergence", "note")}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


class _Paths:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.cwd = base / "work"
        self.home = base / "home"
        self.codex_home = base / "codex-home"
        for p in (self.cwd, self.home, self.codex_home):
            p.mkdir()

    def substitute(self, value: Any) -> Any:
        if isinstance(value, str):
            return (value.replace("{cwd}", str(self.cwd)).replace("{home}", str(self.home))
                    .replace("{base}", str(self.base)).replace("{python}", sys.executable))
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        return value

    def normalise_text(self, text: str) -> str:
        # Longest first: work/home/codex-home live under base.
        for path, name in ((self.codex_home, "{codex_home}"), (self.cwd, "{cwd}"),
                           (self.home, "{home}"), (self.base, "{base}")):
            text = text.replace(str(path), name)
        return text.replace(sys.executable, "{python}")


class _Connection:
    """A server process and everything it has written, with receipt times."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=cwd,
                                     start_new_session=True)
        self.cond = threading.Condition()
        self.messages: list[tuple[float, Any]] = []  # (monotonic time, parsed or {"_raw": ..})
        self.eof = False
        self.stderr = bytearray()
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            try:
                message = json.loads(line)
            except ValueError:
                message = {"_unparseable": line.decode("utf-8", "replace")}
            with self.cond:
                self.messages.append((now, message))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        while chunk := os.read(fd, 65536):
            if len(self.stderr) < 1 << 20:
                self.stderr += chunk

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as error:
            raise ProbeError(f"server stdin closed: {error}") from None

    def wait_until(self, predicate: Any, deadline: float, what: str) -> None:
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProbeError(f"timed out waiting for {what}")
                if self.eof:
                    raise ProbeError(f"server closed stdout while waiting for {what}; "
                                     f"stderr: {self.stderr[-2000:].decode('utf-8', 'replace')}")
                self.cond.wait(min(remaining, 0.05))

    def response_for(self, ident: Any) -> tuple[float, dict[str, Any]] | None:
        for t, m in self.messages:
            if _is_response(m) and _same_id(m.get("id"), ident):
                return t, m
        return None

    def streamed(self, process_id: str) -> bytes:
        out = bytearray()
        for _, m in self.messages:
            if m.get("method") == DELTA_METHOD and m["params"].get("processId") == process_id:
                out += base64.b64decode(m["params"].get("deltaBase64", ""))
        return bytes(out)

    def close(self, timeout: float) -> int | None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for t in self._threads:
            t.join(2)


def _is_response(m: Any) -> bool:
    return isinstance(m, dict) and "id" in m and "method" not in m and (
        "result" in m or "error" in m)


def _same_id(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _pids_in(paths: _Paths, names: list[str]) -> list[int]:
    pids = []
    for name in names:
        try:
            text = (paths.cwd / name).read_text()
        except FileNotFoundError:
            continue
        pids += [int(w) for w in text.split() if w.isdigit()]
    return pids


def _kill_leftovers(paths: _Paths) -> None:
    """Probes that leave processes behind (setsid escapees, server SIGKILL)
    list their pids in ``*.pid`` files."""
    for pid in _pids_in(paths, sorted(p.name for p in paths.cwd.glob("*.pid"))):
        try:  # only our own probe processes (sleep / sh), never a recycled pid
            if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith((b"sleep", b"sh")):
                continue
        except OSError:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _shrink(value: Any, paths: _Paths) -> Any:
    if isinstance(value, str):
        value = paths.normalise_text(value)
        if len(value) > MAX_INLINE:
            return {"len": len(value), "sha256": hashlib.sha256(value.encode()).hexdigest()}
        return value
    if isinstance(value, list):
        return [_shrink(v, paths) for v in value]
    if isinstance(value, dict):
        return {k: _shrink(v, paths) for k, v in value.items()}
    return value


def _bytes_record(data: bytes, paths: _Paths) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if len(data) > MAX_INLINE:
            return {"len": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return {"base64": base64.b64encode(data).decode("ascii")}
    return _shrink(text, paths)


def _bucket(elapsed: float, bounds: list[float]) -> str:
    lo, hi = bounds
    label = f"{lo:g}..{hi:g} s"
    return label if lo <= elapsed <= hi else f"outside {label}: {elapsed:.2f} s"


def server_env(paths: _Paths, extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": BASE_PATH, "HOME": str(paths.home), "CODEX_HOME": str(paths.codex_home),
           "LANG": "C.UTF-8"}
    # Our own server's knobs (policy cache, ...) pass through.
    env.update({k: v for k, v in os.environ.items() if k.startswith("EXECGUARD_")})
    env.update(extra)
    return env


def run_probe(probe: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """Run ``probe`` against the server started as ``argv`` and return its
    normalised outcome."""
    base = Path(tempfile.mkdtemp(prefix="p-", dir=probe_root()))
    paths = _Paths(base)
    try:
        return _run(probe, argv, paths)
    finally:
        _kill_leftovers(paths)
        shutil.rmtree(base, ignore_errors=True)


def _materialise(paths: _Paths, files: dict[str, str]) -> None:
    for name, content in files.items():
        target = paths.cwd / name
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)


def _run(probe: dict[str, Any], argv: list[str], paths: _Paths) -> dict[str, Any]:
    _materialise(paths, probe.get("files", {}))
    deadline = time.monotonic() + probe.get("deadline_s", DEFAULT_DEADLINE_S)
    conn = _Connection(argv, server_env(paths, probe.get("server_env", {})), paths.cwd)
    checks: dict[str, Any] = {}
    sent: list[tuple[Any, float, dict[str, Any]]] = []  # (id, send time, options)
    exec_sends: dict[str, float] = {}  # processId -> send time of its latest command/exec
    exit_timing: float | None = None
    try:
        handshake = probe.get("handshake", True)
        if handshake:
            init: dict[str, Any] = {"clientInfo": CLIENT_INFO}
            if probe.get("experimental"):
                init["capabilities"] = {"experimentalApi": True}
            conn.write(json.dumps({"id": "handshake", "method": "initialize",
                                   "params": init}).encode() + b"\n")
            conn.wait_until(lambda: conn.response_for("handshake") is not None, deadline,
                            "the initialize response")
            conn.write(b'{"method":"initialized"}\n')
        handshake_count = len(conn.messages)

        for step in probe["steps"]:
            if "send" in step:
                message = paths.substitute(step["send"])
                now = time.monotonic()
                conn.write(json.dumps(message).encode() + b"\n")
                if "id" in message and "method" in message:
                    sent.append((message["id"], now, step))
                    if message["method"] == "command/exec":
                        params = message.get("params")
                        if isinstance(params, dict) and isinstance(params.get("processId"), str):
                            exec_sends[params["processId"]] = now
            elif "raw" in step:
                conn.write(step["raw"].encode() + b"\n")
            elif "wait" in step:
                ident = step["wait"]
                conn.wait_until(lambda i=ident: conn.response_for(i) is not None, deadline,
                                f"the response to {ident!r}")
            elif "wait_output" in step:
                spec = step["wait_output"]
                needle = paths.substitute(spec["contains"]).encode()
                conn.wait_until(lambda s=spec, n=needle: n in conn.streamed(s["processId"]),
                                deadline, f"output {spec!r}")
            elif "wait_file" in step:
                target = paths.cwd / step["wait_file"]
                conn.wait_until(lambda t=target: t.exists() and t.stat().st_size > 0,
                                deadline, f"file {step['wait_file']}")
            elif "sleep_ms" in step:
                time.sleep(step["sleep_ms"] / 1000)
            elif "check_alive" in step:
                spec = step["check_alive"]
                pids = _pids_in(paths, spec["files"])
                checks[spec["label"]] = {"listed": len(pids),
                                         "alive": sum(map(_pid_alive, pids))}
            elif "close_stdin" in step:
                start = time.monotonic()
                code = conn.close(max(0.1, deadline - start))
                exit_timing = time.monotonic() - start
                checks["server_exit"] = code
            elif "kill_server" in step:
                os.kill(conn.proc.pid, signal.SIGKILL)
                conn.proc.wait()
            else:
                raise ProbeError(f"unknown step {step!r}")

        if conn.proc.poll() is None:
            for ident, _, _ in sent:
                conn.wait_until(lambda i=ident: conn.response_for(i) is not None, deadline,
                                f"the response to {ident!r}")
            conn.close(5)
    finally:
        conn.kill()

    messages = conn.messages[handshake_count:] if handshake else conn.messages
    return _outcome(probe, paths, conn, messages, sent, exec_sends, checks, exit_timing)


def _outcome(probe: dict[str, Any], paths: _Paths, conn: _Connection,
             messages: list[tuple[float, Any]], sent: list[tuple[Any, float, dict[str, Any]]],
             exec_sends: dict[str, float], checks: dict[str, Any],
             exit_timing: float | None) -> dict[str, Any]:
    sent_ids = [ident for ident, _, _ in sent]
    responses: list[Any] = []
    for ident, _, step in sent:
        found = conn.response_for(ident)
        if found is None:
            responses.append({"id": ident, "missing": True})
            continue
        message = dict(found[1])
        if step.get("result") == "keys" and isinstance(message.get("result"), dict):
            message["result"] = sorted(message["result"])
        cut = step.get("truncate_error_after")
        if cut and isinstance(message.get("error"), dict):
            text = message["error"].get("message", "")
            if cut in text:
                message["error"] = {**message["error"],
                                    "message": text[: text.index(cut) + len(cut)]}
        responses.append(_shrink(message, paths))

    extra: list[Any] = []
    order: list[Any] = []
    chunks: dict[str, dict[str, list[dict[str, Any]]]] = {}
    last_delta_index: dict[str, int] = {}
    first_delta_time: dict[str, float] = {}
    response_index: dict[str, int] = {}
    exec_ids = {json.dumps(i): s["send"]["params"].get("processId")
                for i, _, s in sent
                if s["send"].get("method") == "command/exec"
                and isinstance(s["send"].get("params"), dict)}
    for index, (t, m) in enumerate(messages):
        if not isinstance(m, dict) or "_unparseable" in m:
            extra.append(_shrink(m, paths))
        elif m.get("method") == DELTA_METHOD:
            params = m.get("params", {})
            pid = params.get("processId")
            key = pid if isinstance(pid, str) else json.dumps(pid)
            chunks.setdefault(key, {}).setdefault(params.get("stream"), []).append(params)
            last_delta_index[key] = index
            first_delta_time.setdefault(key, t)
            if set(params) != {"processId", "stream", "deltaBase64", "capReached"}:
                extra.append({"delta_keys": sorted(params)})
        elif _is_response(m):
            if any(_same_id(m["id"], i) for i in sent_ids):
                order.append(m["id"])
                pid = exec_ids.get(json.dumps(m["id"]))
                if isinstance(pid, str):
                    response_index[pid] = index
            else:
                extra.append(_shrink(m, paths))
        elif "method" in m and "id" in m:
            extra.append({"server_request": m["method"]})
        # Other notifications (configWarning, remoteControl/status/changed, ...) are ignored.

    deltas: dict[str, Any] = {}
    for pid, streams in sorted(chunks.items()):
        deltas[pid] = {}
        for stream, params in sorted(streams.items()):
            data = b"".join(base64.b64decode(p.get("deltaBase64", "")) for p in params)
            flags: list[Any] = []
            for p in params:
                if not flags or flags[-1] != p.get("capReached"):
                    flags.append(p.get("capReached"))
            record: dict[str, Any] = {"bytes": _bytes_record(data, paths), "capReached": flags}
            if "delta_counts" in probe.get("keep", ()):
                record["count"] = len(params)
            if "cap_flags" in probe.get("keep", ()):
                record["capReached"] = [p.get("capReached") for p in params]
            deltas[pid][stream] = record

    before = {pid: last_delta_index[pid] < response_index[pid]
              for pid in sorted(last_delta_index) if pid in response_index}

    timing: dict[str, str] = {}
    send_times = {json.dumps(i): t for i, t, _ in sent}
    for key, bounds in probe.get("timing", {}).items():
        if key == "server_exit":
            elapsed = exit_timing
        elif key.startswith("first_delta:"):
            pid = key.split(":", 1)[1]
            elapsed = (first_delta_time[pid] - exec_sends[pid]
                       if pid in first_delta_time and pid in exec_sends else None)
        else:
            found = conn.response_for(json.loads(key))
            elapsed = (found[0] - send_times[key]
                       if found is not None and key in send_times else None)
        timing[key] = "never" if elapsed is None else _bucket(elapsed, bounds)

    full = {"responses": responses, "deltas": deltas, "extra": extra, "checks": checks,
            "timing": timing, "order": order, "deltas_before_response": before}
    keep = (set(DEFAULT_KEEP) | set(probe.get("keep", ()))) - set(probe.get("ignore", ()))
    return {k: v for k, v in full.items() if k in keep}


def compare(expected: dict[str, Any], actual: dict[str, Any],
            exclude: Sequence[str] = ()) -> list[str]:
    """Differences between two outcomes as readable lines; paths in
    ``exclude`` (dotted, list indices as numbers) are not compared."""
    diffs: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if path in exclude:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                sub = f"{path}.{k}" if path else str(k)
                if k not in a:
                    if sub not in exclude:
                        diffs.append(f"{sub}: unexpected {json.dumps(b[k])[:300]}")
                elif k not in b:
                    if sub not in exclude:
                        diffs.append(f"{sub}: missing, expected {json.dumps(a[k])[:300]}")
                else:
                    walk(a[k], b[k], sub)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}.{i}")
        elif a != b or type(a) is not type(b):
            diffs.append(f"{path}: expected {json.dumps(a)[:400]}, got {json.dumps(b)[:400]}")

    walk(expected, actual, "")
    return diffs
