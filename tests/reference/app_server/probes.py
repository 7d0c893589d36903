"""Probes of the `command/exec` RPC family, as data.

Each probe is a dict:

``name``            unique, ``<area>.<what>``; ``spec`` names the row of
                    /work/shared/spec/runtimes_rpc.md it covers
``steps``           what the client does, in order (see `runner.py` for the step kinds);
                    strings may use ``{cwd}`` (the server's cwd, a fresh directory),
                    ``{home}`` (``$HOME``), ``{base}`` (the parent of ``{cwd}``) and
                    ``{python}`` (this interpreter)
``handshake``       False: no automatic ``initialize``/``initialized`` (default True)
``experimental``    True: ``initialize`` declares ``capabilities.experimentalApi``
``files``           created under ``{cwd}`` first (a name ending in ``/`` is a directory)
``server_env``      extra variables in the server's environment
``keep``            extra outcome fields to record: ``order`` (response arrival order),
                    ``deltas_before_response``, ``delta_counts``, ``cap_flags`` (the raw
                    per-delta sequence instead of the collapsed one)
``timing``          ``{"<json id>" | "first_delta:<processId>" | "server_exit": [lo, hi]}``
                    seconds; recorded as a bucket label
``ignore``          outcome fields not recorded (e.g. ``responses`` when the server is
                    killed or disconnected)
``deadline_s``      the whole probe's time limit (default 20 s)
``reference_only``  True: captured from the reference, never replayed against ours
                    (sandbox behaviour, 10 s timeouts, killing the server)
``divergence``      ``{"reason": ..., "exclude": [outcome paths]}``: a documented,
                    accepted difference; the replay ignores those paths

Every exec probe passes ``sandboxPolicy: dangerFullAccess`` (our server has
no sandbox backend) except the ``sandbox.*`` ones, which are reference-only.
"""

from __future__ import annotations

from typing import Any

DFA = {"type": "dangerFullAccess"}
# Tiny Python run as the direct child (so PR_GET_PDEATHSIG sees what the
# spawner set): open fds with their kind, session/group leadership,
# controlling tty, parent-death signal.
CHILD_STATE = r"""
import ctypes, os
def kind(fd):
    try:
        t = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    for prefix, name in (("pipe:", "pipe"), ("/dev/pts/", "pts"), ("socket:", "socket")):
        if t.startswith(prefix):
            return name
    return t
fds = [f"{fd}={kind(fd)}" for fd in range(1024) if kind(fd)]
pid = os.getpid()
print("fds", *fds)
print("session_leader", os.getsid(0) == pid, "group_leader", os.getpgrp() == pid)
try:
    os.close(os.open("/dev/tty", os.O_RDONLY))
    print("ctty yes")
except OSError:
    print("ctty no")
sig = ctypes.c_int()
ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)
print("pdeathsig", sig.value)
"""
LOOP = "while :; do sleep 0.05; done"


def exec_(ident: Any, command: Any, **params: Any) -> dict[str, Any]:
    """A ``command/exec`` send step (``sh -c`` when ``command`` is a string)."""
    argv = ["sh", "-c", command] if isinstance(command, str) else command
    body = {"command": argv, "sandboxPolicy": DFA, **params}
    return {"send": {"id": ident, "method": "command/exec", "params": body}}


def raw_exec(ident: Any, params: Any) -> dict[str, Any]:
    """A ``command/exec`` send step with exactly these params (no defaults)."""
    return {"send": {"id": ident, "method": "command/exec", "params": params}}


def call(ident: Any, method: str, params: Any, **options: Any) -> dict[str, Any]:
    return {"send": {"id": ident, "method": method, "params": params}, **options}


def write(ident: Any, pid: str, delta: str | None = None, close: bool | None = None,
          **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"processId": pid, **extra}
    if delta is not None:
        params["deltaBase64"] = delta
    if close is not None:
        params["closeStdin"] = close
    return call(ident, "command/exec/write", params)


def resize(ident: Any, pid: str, rows: int, cols: int) -> dict[str, Any]:
    return call(ident, "command/exec/resize", {"processId": pid,
                                               "size": {"rows": rows, "cols": cols}})


def terminate(ident: Any, pid: str) -> dict[str, Any]:
    return call(ident, "command/exec/terminate", {"processId": pid})


def wait_output(pid: str, text: str) -> dict[str, Any]:
    return {"wait_output": {"processId": pid, "contains": text}}


# The reference sets PR_SET_PDEATHSIG=SIGTERM in pipe mode; execguard's
# watchdog kills the whole process group of a dead server instead (no code in
# the child, faster spawns). fds and session are checked in
# tests/test_runtime_process.py::test_child_state.
PDEATHSIG_DIVERGENCE = {
    "reason": "no PR_SET_PDEATHSIG: execguard's watchdog kills the commands of a dead server "
              "(runtimes/process.py)",
    "exclude": ["responses.0.result.stdout"],
}


def probe(name: str, spec: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "spec": spec, "steps": steps, **extra}


NULLABLE_FIELDS = ["processId", "tty", "streamStdin", "streamStdoutStderr", "outputBytesCap",
                   "disableOutputCap", "timeoutMs", "disableTimeout", "cwd", "env", "size"]
INIT = {"clientInfo": {"name": "execguard-probe", "version": "1.0.0"}}
STREAM = {"streamStdoutStderr": True}

# --------------------------------------------------------------------------
# §1 transport and lifecycle
TRANSPORT = [
    probe("transport.request_before_initialize", "§1 lifecycle", [
        exec_(1, "true"),
        call(2, "initialize", INIT, result="keys"),
        {"send": {"method": "initialized"}},
        exec_(3, "printf ok"),
    ], handshake=False),
    probe("transport.second_initialize", "§1 lifecycle", [
        call(1, "initialize", INIT),
        exec_(2, "printf still-usable"),
    ]),
    probe("transport.unknown_method", "§1 unknown method (prefix only)", [
        call(1, "command/nope", {}, truncate_error_after="expected one of"),
    ]),
    probe("transport.non_json_line_ignored", "§1 non-JSON line", [
        {"raw": "this is not json"},
        {"raw": '{"id": 7, "method": "command/exec", "params": '},
        exec_(1, "printf alive"),
        {"sleep_ms": 100},
    ]),
    probe("transport.json_but_not_a_request", "§1 (lines that parse but are no request)", [
        {"raw": "42"},
        {"raw": "[]"},
        {"raw": '{"foo": 1}'},
        {"send": {"method": "no/such-notification", "params": {}}},
        exec_(1, "printf alive"),
        {"sleep_ms": 100},
    ]),
    probe("transport.null_params", "§1 params: null", [
        {"send": {"id": 1, "method": "command/exec", "params": None}},
        {"send": {"id": 2, "method": "command/exec/terminate", "params": None}},
    ]),
    probe("transport.string_id", "§1 ids round-trip", [
        exec_("str-id-1", "printf s"),
    ]),
    probe("transport.big_int_id", "§1 ids round-trip", [
        exec_(9223372036854775807, "printf big"),
        exec_(0, "printf zero"),
    ]),
    probe("transport.jsonrpc_member_tolerated", "§1 jsonrpc member", [
        {"send": {"jsonrpc": "2.0", "id": 1, "method": "command/exec",
                  "params": {"command": ["sh", "-c", "printf j"], "sandboxPolicy": DFA}}},
    ]),
    probe("transport.missing_params", "§1 missing params", [
        {"send": {"id": 1, "method": "command/exec"}},
    ]),
]

# --------------------------------------------------------------------------
# §3 validation order
S3 = "§3 row "
VALIDATION = [
    probe("validation.0.permission_profile_without_experimental", S3 + "0", [
        raw_exec(1, {"command": ["true"], "permissionProfile": ":read-only"}),
        # 0 wins over 1 (serde error in `command`).
        raw_exec(2, {"command": "true", "permissionProfile": ":read-only"}),
    ]),
    probe("validation.1.serde_shapes", S3 + "1", [
        raw_exec(1, {"sandboxPolicy": DFA}),
        raw_exec(2, {"command": "ls", "sandboxPolicy": DFA}),
        raw_exec(3, {"command": ["true"], "timeoutMs": 1.5, "sandboxPolicy": DFA}),
        raw_exec(4, {"command": ["true"], "outputBytesCap": -1, "sandboxPolicy": DFA}),
        raw_exec(5, {"command": ["true"], "tty": True, "processId": "p5",
                     "size": {"rows": 70000, "cols": 80}, "sandboxPolicy": DFA}),
        raw_exec(6, {"command": ["true"], "processId": 5, "sandboxPolicy": DFA}),
        raw_exec(7, {"command": ["true"], "tty": "yes", "sandboxPolicy": DFA}),
        raw_exec(8, {"command": ["true"], "env": {"A": 1}, "sandboxPolicy": DFA}),
        raw_exec(9, {"command": ["true", 1], "sandboxPolicy": DFA}),
        raw_exec(10, {"command": ["true"], "sandboxPolicy": {"type": "bogus"}}),
        raw_exec(11, {"command": ["true"], "size": {"rows": 1}, "tty": True,
                      "processId": "p11", "sandboxPolicy": DFA}),
        raw_exec(12, ["true"]),
    ]),
    probe("validation.1.unknown_fields_and_nulls", S3 + "1 (unknown fields, explicit nulls)", [
        raw_exec(1, {"command": ["sh", "-c", "printf ok"], "noSuchField": [1, 2],
                     "sandboxPolicy": DFA}),
        # One explicit null per request: Option fields accept it, plain
        # (defaulted) booleans do not.
        *[raw_exec(i, {"command": ["sh", "-c", "printf ok"], field: None, "sandboxPolicy": DFA})
          for i, field in enumerate(NULLABLE_FIELDS, 2)],
    ]),
    probe("validation.2.empty_command", S3 + "2", [
        exec_(1, []),
        # 2 wins over 4 (size without tty).
        exec_(2, [], size={"rows": 10, "cols": 10}),
    ]),
    probe("validation.3.profile_and_policy_experimental", S3 + "3", [
        # 3 wins over 4 (size without tty).
        exec_(1, ["true"], permissionProfile=":read-only", size={"rows": 10, "cols": 10}),
        exec_(2, ["true"], permissionProfile=":read-only"),
    ], experimental=True),
    probe("validation.3.profile_and_policy_without_experimental", S3 + "0 before 3", [
        exec_(1, ["true"], permissionProfile=":read-only", size={"rows": 10, "cols": 10}),
    ]),
    probe("validation.4.size_without_tty", S3 + "4", [
        exec_(1, ["true"], size={"rows": 10, "cols": 10}),
        exec_(2, ["true"], size={"rows": 10, "cols": 10}, tty=False),
        # 4 wins over 5.
        exec_(3, ["true"], size={"rows": 10, "cols": 10}, outputBytesCap=5,
              disableOutputCap=True),
    ]),
    probe("validation.5.both_caps", S3 + "5", [
        exec_(1, ["true"], outputBytesCap=5, disableOutputCap=True),
        # 5 wins over 6.
        exec_(2, ["true"], outputBytesCap=5, disableOutputCap=True, timeoutMs=5,
              disableTimeout=True),
        # disableOutputCap:false with a cap is fine.
        exec_(3, "printf abcdef", outputBytesCap=3, disableOutputCap=False),
    ]),
    probe("validation.6.both_timeouts", S3 + "6", [
        exec_(1, ["true"], timeoutMs=100, disableTimeout=True),
        # 6 wins over 7.
        exec_(2, ["true"], timeoutMs=-1, disableTimeout=True),
        exec_(3, "printf ok", timeoutMs=5000, disableTimeout=False),
    ]),
    probe("validation.7.negative_timeout", S3 + "7", [
        exec_(1, ["true"], timeoutMs=-1),
        # 7 wins over 10 (zero size) and 12 (no processId).
        exec_(2, ["true"], timeoutMs=-5, tty=True, size={"rows": 0, "cols": 80}),
    ]),
    probe("validation.9.unknown_permission_profile", S3 + "9", [
        raw_exec(1, {"command": ["true"], "permissionProfile": ":no-such-profile"}),
        raw_exec(2, {"command": ["true"], "permissionProfile": "custom"}),
    ], experimental=True, reference_only=True,
        note="permission profiles are experimental and need the sandbox/config layer"),
    probe("validation.10.size_zero", S3 + "10", [
        exec_(1, ["true"], tty=True, processId="z1", size={"rows": 0, "cols": 80}),
        exec_(2, ["true"], tty=True, processId="z2", size={"rows": 24, "cols": 0}),
        # 10 wins over 12 (no processId).
        exec_(3, ["true"], tty=True, size={"rows": 0, "cols": 0}),
    ]),
    probe("validation.12.streaming_without_process_id", S3 + "12", [
        exec_(1, ["true"], tty=True),
        exec_(2, ["true"], streamStdin=True),
        exec_(3, ["true"], streamStdoutStderr=True),
        # 12 wins over 14 (spawn failure).
        exec_(4, ["no-such-program-eg"], streamStdoutStderr=True),
        # Explicit false flags need no id.
        exec_(5, "printf ok", tty=False, streamStdin=False, streamStdoutStderr=False),
    ]),
    probe("validation.13.duplicate_process_id", S3 + "13 / §13 same id while running", [
        exec_(1, "echo 1 > ready; exec sleep 30", processId="dup"),
        {"wait_file": "ready"},
        exec_(2, ["true"], processId="dup"),
        # 13 wins over 14.
        exec_(3, ["no-such-program-eg"], processId="dup"),
        {"wait": 2}, {"wait": 3},
        terminate(4, "dup"),
        {"wait": 1},
    ], keep=["order"]),
    probe("validation.13.duplicate_quoted_id", S3 + "13 (id JSON-quoted)", [
        exec_(1, "echo 1 > ready; exec sleep 30", processId='a"b'),
        {"wait_file": "ready"},
        exec_(2, ["true"], processId='a"b'),
        {"wait": 2},
        terminate(3, 'a"b'),
        {"wait": 1},
    ]),
    probe("validation.14.spawn_failures", S3 + "14", [
        exec_(1, ["no-such-program-eg"]),
        exec_(2, ["true"], cwd="{cwd}/missing"),
        exec_(3, ["true"], env={"PATH": "/nonexistent"}),
        exec_(4, ["no-such-program-eg"], processId="s4", streamStdoutStderr=True),
        exec_(5, ["true"], cwd="missing-relative"),
        # Unsetting PATH falls back to a default search path.
        exec_(6, ["true"], env={"PATH": None}),
        exec_(7, ["./no-such-file"]),
    ]),
    probe("validation.14b.tty_missing_program", S3 + "14b", [
        exec_(1, ["no-such-program-eg"], tty=True, processId="t1",
              env={"PATH": "/nonexistent:/also-missing"}),
    ]),
]

# --------------------------------------------------------------------------
# §8 control RPCs
S8 = "§8 "
CONTROL = [
    probe("control.write.requires_delta_or_close", S8 + "write without delta/close", [
        write(1, "ghost"),
        write(2, "ghost", None, False, deltaBase64=None),
        write(3, "ghost", None, False),
        write(4, "ghost", "aGk="),  # valid: then the lookup fails
        write(5, "ghost", None, True),
    ]),
    probe("control.write.bad_base64", S8 + "bad base64 (before the lookup)", [
        write(1, "ghost", "!!!!"),
        write(2, "ghost", "abc"),
        write(3, "ghost", "-___"),
        write(4, "ghost", "YWJj\nZGVm"),
        write(5, "ghost", "YQ"),
        write(6, "ghost", "YWJ=YWJj"),
        write(7, "ghost", " YWJj"),
    ]),
    probe("control.write.not_streaming", S8 + "write to a non-streaming process", [
        exec_(1, "echo 1 > ready; exec sleep 30", processId="ns"),
        {"wait_file": "ready"},
        write(2, "ns", "aGk="),
        write(3, "ns", None, True),
        write(4, "ns", ""),
        terminate(5, "ns"),
        {"wait": 1},
    ]),
    probe("control.write.after_close", S8 + "write after close, close twice, empty write", [
        exec_(1, "cat; echo eof; exec sleep 30", processId="wc", streamStdin=True,
              streamStdoutStderr=True),
        write(2, "wc", ""),
        write(3, "wc", "aGkK"),
        wait_output("wc", "hi\n"),
        write(4, "wc", None, True),
        wait_output("wc", "eof"),
        write(5, "wc", "aGk="),
        write(6, "wc", None, True),
        write(7, "wc", "", True),
        terminate(8, "wc"),
        {"wait": 1},
    ]),
    probe("control.write.stream_then_close", S8 + "/§17 pipe streaming + write", [
        exec_(1, 'printf out-start; printf err-start >&2; read line; '
                 'printf "out:%s" "$line"; printf "err:%s" "$line" >&2',
              processId="ps", streamStdin=True, streamStdoutStderr=True),
        wait_output("ps", "out-start"),
        wait_output("ps", "err-start"),
        write(2, "ps", "aGVsbG8K", True),
        {"wait": 1},
    ], keep=["deltas_before_response"]),
    probe("control.write.buffered_stdin_large", S8 + "8 × 1 MiB into wc -c", [
        exec_(1, ["wc", "-c"], processId="big", streamStdin=True),
        *[write(i, "big", "YWJj" * 349525 + "YQ==") for i in range(2, 10)],
        write(10, "big", None, True),
        {"wait": 1},
    ]),
    probe("control.resize.errors", S8 + "resize zero / non-pty / unknown", [
        resize(1, "ghost", 0, 80),
        resize(2, "ghost", 24, 0),
        resize(3, "ghost", 24, 80),
        exec_(4, "echo 1 > ready; exec sleep 30", processId="np"),
        {"wait_file": "ready"},
        resize(5, "np", 24, 80),
        resize(6, "np", 0, 0),
        call(7, "command/exec/resize", {"processId": "np"}),
        terminate(8, "np"),
        {"wait": 4},
    ]),
    probe("control.terminate.unknown", S8 + "terminate unknown", [
        terminate(1, "ghost"),
        call(2, "command/exec/terminate", {}),
    ]),
    probe("control.terminate.internal_id_not_addressable", "§4 internal ids", [
        exec_(1, "sleep 0.5; printf done"),
        terminate(2, "1"),
        terminate(3, "0"),
        {"wait": 1},
    ]),
    probe("control.terminate.twice", S8 + "second terminate", [
        exec_(1, "echo 1 > ready; exec sleep 30", processId="t2"),
        {"wait_file": "ready"},
        terminate(2, "t2"),
        {"wait": 1},
        terminate(3, "t2"),
    ], keep=["order"]),
    probe("control.terminate.buffered_keeps_output", S8 + "terminate keeps buffered output", [
        exec_(1, "echo started; echo 1 > ready; exec sleep 30", processId="tb"),
        {"wait_file": "ready"},
        terminate(2, "tb"),
        {"wait": 1},
    ], keep=["order"]),
]

# --------------------------------------------------------------------------
# §13 observed behaviour
S13 = "§13 "


def _terminate_probe(name: str, **params: Any) -> dict[str, Any]:
    return probe(f"terminate.{name}", S13 + "terminate (pipe / streaming / stdin-stream / tty)", [
        exec_(1, "echo 1 > ready; exec sleep 30", processId="t", **params),
        {"wait_file": "ready"},
        terminate(2, "t"),
        {"wait": 1},
    ], keep=["order"], timing={"1": [0, 1.5]})


def _disconnect_cmd(n: int) -> str:
    return f'sleep 30 & echo "$! $$" > d{n}.pid; wait'


BEHAVIOUR = [
    probe("exec.buffered_basic", S13 + "printf out / err", [
        exec_(1, "printf out; printf err >&2"),
    ]),
    probe("exec.buffered_with_process_id", S13 + "buffered with a processId: zero deltas", [
        exec_(1, "printf out; printf err >&2", processId="b1"),
    ]),
    probe("exec.exit_codes", S13 + "exit 7 / exit 255", [
        exec_(1, "exit 7"), exec_(2, "exit 255"), exec_(3, ["true"]), exec_(4, ["false"]),
    ]),
    probe("exec.self_signal_pipe", S13 + "self SIGTERM/KILL/INT/HUP (pipe)", [
        exec_(i, f"kill -{sig} $$") for i, sig in enumerate(["TERM", "KILL", "INT", "HUP"], 1)
    ]),
    probe("exec.self_signal_tty", S13 + "same in tty", [
        exec_(i, f"kill -{sig} $$", tty=True, processId=f"s{i}")
        for i, sig in enumerate(["TERM", "KILL", "INT", "HUP"], 1)
    ]),
    probe("exec.stdin_is_dev_null", S13 + "stdin when not streaming", [
        exec_(1, ["cat"]),
        exec_(2, ["readlink", "/proc/self/fd/0"]),
    ], timing={"1": [0, 1.5]}),
    probe("exec.child_state_pipe", S13 + "fds / session (pipe)", [
        exec_(1, ["{python}", "-c", CHILD_STATE]),
    ], divergence=PDEATHSIG_DIVERGENCE),
    probe("exec.child_state_stdin_stream", S13 + "fds / session (stdin-stream)", [
        exec_(1, ["{python}", "-c", CHILD_STATE], processId="cs", streamStdin=True),
    ], divergence=PDEATHSIG_DIVERGENCE),
    probe("exec.child_state_tty", S13 + "fds / session (tty)", [
        exec_(1, ["{python}", "-c", CHILD_STATE], processId="ct", tty=True),
    ]),
    # The program's own status: a shell's (`/proc/$$`) shows everything
    # blocked whenever dash is waiting for its child, a race.
    probe("exec.signal_masks", "§5 blocked/ignored signal masks", [
        exec_(1, ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]),
    ]),
    probe("exec.streaming_basic", S13 + "streaming out1/err1/out2/err2", [
        exec_(1, "printf out1; printf err1 >&2; sleep .2; printf out2; printf err2 >&2",
              processId="st", **STREAM),
    ], keep=["deltas_before_response"]),
    probe("exec.streaming_first_delta_live", S13 + "first delta latency", [
        exec_(1, "printf first; sleep 1; printf second", processId="live", **STREAM),
    ], timing={"first_delta:live": [0, 0.5], "1": [0.9, 2.0]}, keep=["deltas_before_response"]),
    probe("exec.tty_basic", S13 + "tty -t checks, stderr merged, exit 3", [
        exec_(1, "[ -t 0 -a -t 1 -a -t 2 ] && echo tty; echo to-stderr >&2; exit 3",
              processId="tty", tty=True),
    ], keep=["deltas_before_response"]),
    probe("exec.tty_default_size", S13 + "tty default size", [
        exec_(1, ["stty", "size"], processId="sz", tty=True),
    ]),
    probe("exec.tty_size_and_resize", S13 + "tty size 31×101 then resize 45×132", [
        exec_(1, 'echo "start:$(stty size)"; read x; echo "after:$(stty size)"',
              processId="rs", tty=True, size={"rows": 31, "cols": 101}),
        wait_output("rs", "start:"),
        resize(2, "rs", 45, 132),
        {"wait": 2},
        write(3, "rs", "Cg=="),
        {"wait": 1},
    ]),
    probe("exec.tty_winch_trap", S13 + "trap on WINCH", [
        exec_(1, f"trap 'echo \"winch:$(stty size)\"; exit 0' WINCH; echo ready; {LOOP}",
              processId="w", tty=True),
        wait_output("w", "ready"),
        resize(2, "w", 10, 20),
        {"wait": 1},
    ]),
    probe("exec.tty_ctrl_c", S13 + "tty write \\x03 to a trapping loop", [
        exec_(1, f"trap 'echo got-int; exit 5' INT; echo ready; {LOOP}",
              processId="cc", tty=True),
        wait_output("cc", "ready"),
        write(2, "cc", "Aw=="),
        {"wait": 1},
    ]),
    probe("exec.tty_ctrl_d_ends_cat", "§8 tty \\x04 at line start ends cat", [
        exec_(1, ["cat"], processId="cd", tty=True),
        {"sleep_ms": 200},
        write(2, "cd", "BA=="),
        {"wait": 1},
    ]),
    probe("exec.tty_close_stdin_cat", S13 + "tty closeStdin on cat", [
        exec_(1, ["cat"], processId="cat", tty=True),
        {"sleep_ms": 200},
        write(2, "cat", "YWJjCg=="),
        wait_output("cat", "abc\r\nabc\r\n"),
        write(3, "cat", None, True),
        {"wait": 1},
    ], timing={"1": [0, 2.0]}),
    probe("exec.tty_write_echo", "§17 tty echo of a written line", [
        exec_(1, 'read line; echo "got:$line"', processId="te", tty=True),
        {"sleep_ms": 200},
        write(2, "te", "aGVsbG8K"),
        {"wait": 1},
    ]),
    probe("exec.tty_missing_cwd", S13 + "tty missing cwd runs in $HOME", [
        exec_(1, ["pwd"], processId="mc", tty=True, cwd="{cwd}/missing"),
    ]),
    probe("timeout.500ms", S13 + "timeoutMs 500 on sleep 5", [
        exec_(1, ["sleep", "5"], timeoutMs=500),
    ], timing={"1": [0.4, 1.5]}),
    probe("timeout.zero", S13 + "timeoutMs 0", [
        exec_(1, ["sleep", "5"], timeoutMs=0),
    ], timing={"1": [0, 0.5]}),
    probe("timeout.partial_output", S13 + "timeout with partial output", [
        exec_(1, "echo start; echo err >&2; exec sleep 5", timeoutMs=300),
    ], timing={"1": [0.2, 1.5]}),
    probe("timeout.tty", S13 + "timeout, tty", [
        exec_(1, "echo start; exec sleep 5", timeoutMs=300, tty=True, processId="tt"),
    ], timing={"1": [0.2, 1.5]}),
    probe("timeout.streaming", S13 + "timeout, streaming", [
        exec_(1, "echo start; echo err >&2; exec sleep 5", timeoutMs=300, processId="ts",
              **STREAM),
    ], timing={"1": [0.2, 1.5]}, keep=["deltas_before_response"]),
    probe("timeout.ignores_sigterm", S13 + "timeout on a SIGTERM-ignoring child", [
        exec_(1, "trap '' TERM; sleep 5; sleep 5", timeoutMs=300),
    ], timing={"1": [0.2, 1.5]}),
    probe("timeout.setsid_child_holds_pipe", S13 + "timeout with a setsid child holding the pipe", [
        exec_(1, "setsid sleep 6 & echo $! > escapee.pid; exec sleep 5", timeoutMs=300),
        {"wait": 1},
        {"check_alive": {"label": "escapee", "files": ["escapee.pid"]}},
    ], timing={"1": [2.1, 3.2]}),
    probe("timeout.default_not_needed", S13 + "default timeout (short form: 1 s command)", [
        exec_(1, ["sleep", "1"]),
        exec_(2, "sleep 1; echo tty", tty=True, processId="dt"),
    ], timing={"1": [0.9, 2.0], "2": [0.9, 2.0]}),
    probe("timeout.disable_timeout_short", S13 + "disableTimeout (short form)", [
        exec_(1, ["sleep", "1"], disableTimeout=True),
    ], timing={"1": [0.9, 2.0]}),
    probe("timeout.default_10s", S13 + "default timeout 10 s; disableTimeout on sleep 11", [
        exec_(1, ["sleep", "15"]),
        exec_(2, ["sleep", "15"], tty=True, processId="d2"),
        exec_(3, ["sleep", "15"], processId="d3", **STREAM),
        exec_(4, ["sleep", "15"], disableOutputCap=True),
        exec_(5, ["sleep", "11"], disableTimeout=True),
    ], timing={"1": [9.5, 11.0], "2": [9.5, 11.0], "3": [9.5, 11.0], "4": [9.5, 11.0],
               "5": [10.9, 12.5]}, deadline_s=30, reference_only=True,
        note="slow (11 s); replayed in short form by timeout.default_not_needed and "
             "timeout.disable_timeout_short"),
    probe("drain.background_child", S13 + "sleep N & echo hi", [
        exec_(1, "sleep 5 & echo $! > bg.pid; echo hi"),
        {"wait": 1},
        {"sleep_ms": 300},
        {"check_alive": {"label": "background", "files": ["bg.pid"]}},
    ], timing={"1": [1.8, 3.0]}),
    probe("cap.buffered_5", S13 + "cap 5 buffered", [
        exec_(1, "printf abcdef; printf uvwxyz >&2", outputBytesCap=5),
    ]),
    probe("cap.buffered_0", S13 + "cap 0 buffered", [
        exec_(1, "printf abcdef; printf uvwxyz >&2", outputBytesCap=0),
    ]),
    probe("cap.streaming_5", S13 + "cap 5 streaming", [
        exec_(1, "printf abcdef; printf ABCDEF >&2; sleep .1; printf ghi; printf GHI >&2",
              outputBytesCap=5, processId="c5", **STREAM),
    ], keep=["delta_counts", "cap_flags", "deltas_before_response"]),
    probe("cap.streaming_0", S13 + "cap 0 streaming", [
        exec_(1, "printf abc; printf ABC >&2", outputBytesCap=0, processId="c0", **STREAM),
        exec_(2, "printf abc", outputBytesCap=0, processId="c0out", **STREAM),
    ], keep=["delta_counts", "cap_flags", "deltas_before_response"]),
    probe("cap.streaming_exact", S13 + "cap = output length", [
        exec_(1, "printf abcdef", outputBytesCap=6, processId="ce", **STREAM),
    ], keep=["delta_counts", "cap_flags"]),
    probe("cap.streaming_under", S13 + "output < cap", [
        exec_(1, "printf abcdef; printf x >&2", outputBytesCap=100, processId="cu", **STREAM),
    ], keep=["delta_counts", "cap_flags"]),
    probe("cap.tty_4", S13 + "tty cap 4", [
        exec_(1, "printf abcdefgh", outputBytesCap=4, processId="ct", tty=True),
    ], keep=["delta_counts", "cap_flags"]),
    probe("cap.default_buffered", S13 + "default cap, 3 MB + 1.5 MB buffered", [
        exec_(1, "head -c 3000000 /dev/zero | tr '\\0' a; "
                 "head -c 1500000 /dev/zero | tr '\\0' b >&2"),
    ]),
    probe("cap.default_streaming", "§6 default cap applies to streaming", [
        exec_(1, "head -c 3000000 /dev/zero | tr '\\0' a", processId="ds", **STREAM),
    ], keep=["deltas_before_response"]),
    probe("cap.disabled_buffered", S13 + "disableOutputCap, 3 MB buffered", [
        exec_(1, "head -c 3000000 /dev/zero | tr '\\0' a", disableOutputCap=True),
    ]),
    probe("cap.writer_not_blocked", "§6 5 MB writer with cap 10 exits 0", [
        exec_(1, "yes | head -c 5000000; echo done >&2", outputBytesCap=10),
    ], timing={"1": [0, 3.0]}),
    probe("cap.buffered_cap_splits_utf8", "§6 cap splitting a UTF-8 sequence", [
        exec_(1, "printf 'h\\303\\251'", outputBytesCap=2),
    ], divergence={"reason": "the reference charset-sniffs non-UTF-8 buffered output "
                             "(chardetng) and decodes the lone 0xC3 as windows-1250 'Ă'; "
                             "we decode lossily (U+FFFD)",
                   "exclude": ["responses.0.result.stdout"]}),
    probe("output.large_streaming", S13 + "seq streaming (1 000 000 lines, no cap)", [
        exec_(1, ["seq", "1", "1000000"], processId="seq", disableOutputCap=True, **STREAM),
    ], keep=["deltas_before_response"]),
    probe("output.large_buffered", S13 + "seq buffered (1 000 000 lines, no cap)", [
        exec_(1, ["seq", "1", "1000000"], disableOutputCap=True),
    ]),
    probe("output.nul_bytes", "§6 NUL bytes preserved", [
        exec_(1, "printf 'a\\000b'; printf 'c\\000' >&2"),
    ]),
    probe("output.latin1_text", "§6 charset sniffing", [
        exec_(1, "printf 'caf\\351 na\\357ve'"),
    ], divergence={"reason": "the reference charset-sniffs non-UTF-8 buffered output "
                             "(chardetng) and decodes it as windows-1252 ('café naïve'); "
                             "we decode lossily (U+FFFD)",
                   "exclude": ["responses.0.result.stdout"]}),
    probe("output.invalid_utf8_lossy", "§6 undecodable bytes become U+FFFD", [
        exec_(1, "printf '\\377\\376abc'"),
    ]),
    probe("output.non_utf8_streaming", "§6 deltas carry raw bytes", [
        exec_(1, "printf 'caf\\351'; printf '\\377' >&2", processId="raw", **STREAM),
    ]),
    probe("concurrency.parallel_sleeps", S13 + "20 × sleep 1 in parallel", [
        exec_(i, ["sleep", "1"]) for i in range(1, 21)
    ], timing={str(i): [0.9, 2.5] for i in range(1, 21)}),
    probe("concurrency.completion_order", "§4 responses in completion order", [
        exec_(1, "sleep 0.5; printf slow"),
        exec_(2, "printf fast"),
        terminate(3, "ghost"),
        {"wait": 1},
    ], keep=["order"]),
    probe("ids.reuse_after_exit", S13 + "reuse id after exit", [
        exec_(1, "printf one", processId="r"),
        {"wait": 1},
        exec_(2, "printf two", processId="r"),
    ]),
    probe("ids.empty_string", "§4 empty client id", [
        exec_(1, "printf x", processId="", **STREAM),
    ]),
    _terminate_probe("pipe"),
    _terminate_probe("streaming", **STREAM),
    _terminate_probe("stdin_stream", streamStdin=True),
    _terminate_probe("tty", tty=True),
    probe("terminate.kills_children", S13 + "terminate kills sleep & sleep & wait children", [
        exec_(1, 'sleep 30 & a=$!; sleep 30 & echo "$a $! $$" > kids.pid; wait',
              processId="k"),
        {"wait_file": "kids.pid"},
        terminate(2, "k"),
        {"wait": 1},
        {"sleep_ms": 300},
        {"check_alive": {"label": "children", "files": ["kids.pid"]}},
    ]),
    probe("env.override", S13 + "env override", [
        exec_(1, 'printf "%s|%s|%s|%s|%s" "$BASELINE" "$EXTRA" "${EMPTY-unset}" '
                 '"${HOME-unset}" "$INHERITED_SECRET_TOKEN"',
              env={"BASELINE": "request", "EXTRA": "added", "HOME": None, "EMPTY": ""}),
        exec_(2, 'printf "%s|%s" "$BASELINE" "$HOME"'),
    ], server_env={"BASELINE": "server", "INHERITED_SECRET_TOKEN": "tok"}),
    probe("env.server_added_variables", "§5 variables the reference server adds", [
        exec_(1, 'printf "%s|%s" "${CODEX_APPLY_PATCH_PRESERVE_LINE_ENDINGS-unset}" '
                 '"${CODEX_SANDBOX_NETWORK_DISABLED-unset}"'),
        exec_(2, 'printf "%s" "${TERM-unset}"', tty=True, processId="term"),
        exec_(3, 'printf "%s" "${TERM-unset}"'),
    ], divergence={"reason": "the reference server process sets "
                             "CODEX_APPLY_PATCH_PRESERVE_LINE_ENDINGS=1 in its own environment "
                             "(an apply_patch detail); our server need not",
                   "exclude": ["responses.0.result.stdout"]}),
    probe("cwd.relative", S13 + "cwd relative / .. / normalisation", [
        exec_(1, ["pwd"], cwd="sub/dir"),
        exec_(2, ["pwd"], cwd=".."),
        exec_(3, ["pwd"], cwd="sub/../sub"),
        exec_(4, ["pwd"], cwd="/usr/../usr/./"),
        exec_(5, ["pwd"], cwd="{cwd}/sub"),
        exec_(6, ["pwd"]),
    ], files={"sub/dir/": ""}),
    probe("disconnect.kills_everything", S13 + "disconnect with 4 running commands", [
        exec_(1, _disconnect_cmd(1), processId="d1"),
        exec_(2, _disconnect_cmd(2), processId="d2", tty=True),
        exec_(3, _disconnect_cmd(3), processId="d3", streamStdin=True),
        exec_(4, _disconnect_cmd(4), processId="d4", **STREAM),
        {"wait_file": "d1.pid"}, {"wait_file": "d2.pid"},
        {"wait_file": "d3.pid"}, {"wait_file": "d4.pid"},
        {"sleep_ms": 100},
        {"close_stdin": True},
        {"sleep_ms": 300},
        {"check_alive": {"label": "processes",
                         "files": ["d1.pid", "d2.pid", "d3.pid", "d4.pid"]}},
    ], timing={"server_exit": [0, 1.0]}, ignore=["responses"],
        note="whether a killed command's response still gets out before the exit is a race"),
    # ---- reference only -------------------------------------------------
    probe("server_sigkill.children", S13 + "server SIGKILL", [
        exec_(1, 'sleep 30 & a=$!; sleep 30 & echo "$a $!" > grand.pid; echo $$ > direct.pid; '
                 'wait', processId="k1"),
        exec_(2, 'sleep 30 & echo "$! $$" > tty.pid; wait', processId="k2", tty=True),
        {"wait_file": "grand.pid"}, {"wait_file": "direct.pid"}, {"wait_file": "tty.pid"},
        {"sleep_ms": 100},
        {"kill_server": True},
        {"sleep_ms": 300},
        {"check_alive": {"label": "pipe_grandchildren", "files": ["grand.pid"]}},
        {"check_alive": {"label": "pipe_direct_child", "files": ["direct.pid"]}},
        {"check_alive": {"label": "tty_processes", "files": ["tty.pid"]}},
    ], reference_only=True, ignore=["responses"],
        note="kills the server; behaviour after the server's death"),
    probe("sandbox.default_write_cwd", S13 + "default sandbox write to cwd", [
        raw_exec(1, {"command": ["sh", "-c", 'touch x; printf "%s" '
                                             '"${CODEX_SANDBOX_NETWORK_DISABLED-unset}"']}),
    ], note="default (read-only, bubblewrap) sandbox"),
    probe("sandbox.default_missing_program", S13 + "default sandbox, missing program", [
        raw_exec(1, {"command": ["no-such-program-eg"]}),
    ], note="default (bubblewrap) sandbox", divergence={
        "exclude": ["responses.0.result.exitCode", "responses.0.result.stderr"],
        "reason": "the reference's inner stage panics (exit 101, a Rust panic message); "
               "ours is bwrap's own `bwrap: execvp no-such-program-eg: No such file or "
               "directory`, exit 1 (docs/compatibility.md)"}),
    probe("sandbox.default_background_child", S13 + "same (background child) in default sandbox", [
        raw_exec(1, {"command": ["sh", "-c", "sleep 5 & echo hi"]}),
    ], timing={"1": [0, 1.0]}, note="default (bubblewrap) sandbox"),
    probe("sandbox.workspace_write", "§10 workspaceWrite allows writes in the cwd", [
        raw_exec(1, {"command": ["sh", "-c", "touch x && echo wrote"],
                     "sandboxPolicy": {"type": "workspaceWrite"}}),
    ], note="sandboxed"),
]

PROBES: list[dict[str, Any]] = [*TRANSPORT, *VALIDATION, *CONTROL, *BEHAVIOUR]


def _check() -> None:
    names = [p["name"] for p in PROBES]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate probe names: {dupes}")


_check()
