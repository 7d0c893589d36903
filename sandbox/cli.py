"""`execguard debug sandbox` and `execguard sandbox doctor`.

``debug sandbox`` answers "what does the sandbox do to this command?"
without an agent or the app server in the way: it confines one command the
way the runtime does (same :func:`confine`, same backends, failing closed),
passes its stdio through, and then says which backend and policy ran it and
whether the failure looks like a sandbox denial (the guess that makes an
agent offer "retry without sandbox?"). Defaults follow ``codex sandbox``:
readOnly, network off, the current directory.

``sandbox doctor`` answers "why is my command refused / which backend will
I get?": each backend's status and the kernel facts behind it.

Both print their reports on stderr (``debug sandbox``, whose stdout is the
command's) or stdout (``doctor``); exit status 2 is always a usage error.
"""

from __future__ import annotations

import errno
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TYPE_CHECKING, TypedDict

from ..cliargs import UsageError, option_value

if TYPE_CHECKING:
    from . import Confinement, SandboxPolicy

__all__ = ["debug_main", "doctor_main"]

DEBUG_USAGE = "Usage: execguard debug sandbox [OPTIONS] [--] [COMMAND]..."
DEBUG_HELP = """Run a command under the sandbox and report what it denied

Usage: execguard debug sandbox [OPTIONS] [--] [COMMAND]...

Runs COMMAND confined as an agent's command would be (default: readOnly, network off, in
the current directory, like `codex sandbox`). Its stdin, stdout and stderr pass through;
the exit status is its own (killed by signal N: 128+N). Afterwards a line on stderr names
the backend, the policy and the exit status, and a second one explains a likely sandbox
denial (the guess behind "retry without sandbox?"; it can be wrong both ways).

Policy (default: --read-only):
      --read-only            Everything readable, nothing writable (but a few devices)
      --workspace-write      Also writable: the working directory, /tmp and $TMPDIR, except
                             the metadata at their top (.git, .agents, .codex, .aws, .execguard)
      --writable-root <DIR>  With --workspace-write: one more writable root (repeatable;
                             relative to the current directory)
      --exclude-tmp          With --workspace-write: /tmp and $TMPDIR stay read-only
      --network              Allow network access
      --policy <JSON>        The policy as app-server wire JSON instead of the flags above,
                             e.g. '{"type":"workspaceWrite","writableRoots":["/data"]}'

Options:
      --backend <NAME>       Use this backend: bubblewrap (or bwrap) or landlock (default:
                             the first of them that works here)
      --cd <DIR>             Run COMMAND in DIR, the workspace of --workspace-write (default:
                             the current directory)
      --explain              First print how the command will be confined (mounts or Landlock
                             rules, seccomp) on stderr; without COMMAND, only print that
      --platform <OS>        With --explain and no COMMAND: explain for another platform;
                             `macos` prints the Seatbelt profile and sandbox-exec argv
      --json                 Instead of the summary lines, print one JSON object on stderr:
                             backend, policy, exit_code, denied, violation {reason, path}
  -h, --help                 Print help

Exit status: COMMAND's; 1 when no backend can enforce the policy here (COMMAND does not
run; see `execguard sandbox doctor`); 127 when COMMAND is not found; 2 for usage errors.
"""

DOCTOR_USAGE = "Usage: execguard sandbox doctor [--json]"
DOCTOR_HELP = """Report which sandbox backends work on this machine, and why not

Usage: execguard sandbox doctor [--json]

Lists each backend in the order they are tried, `ok` or `unavailable: <reason>`, the facts
behind the answers (kernel, Landlock ABI, bubblewrap and its version, the user namespace
switches, seccomp support) and the backend that readOnly and workspaceWrite commands get.

Options:
      --json  Print one JSON object instead
  -h, --help  Print help

Exit status: 0 when at least one backend works, 1 when none does (commands that need a
sandbox are then refused).
"""

# How much of each stream is kept for denial detection: the error that
# matters is almost always near the end.
TAIL_BYTES = 64 * 1024
_CHUNK = 64 * 1024
_HEAD_BYTES = 256
_POLL_S = 0.05  # only without pidfd_open (Linux < 5.3)
_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# What --explain alone confines (bubblewrap's argv line ends with it).
_EXPLAIN_ONLY_ARGV = ["COMMAND"]
_HOW = {"landlock": "Landlock + seccomp + dropped capabilities, in the command's own process; "
                    "no namespaces"}

_LANDLOCK_LIMITATION = (
    "Landlock limitation: nothing can be created, deleted or renamed directly in a writable "
    "root that holds protected names, which every workspace does (`touch <ws>/new` fails, "
    "`touch <ws>/src/new` and writing existing files work); bubblewrap has no such limit"
)
_LANDLOCK_SIGNAL_SCOPE_ABI = 6




# -- debug sandbox: arguments ------------------------------------------------------------


@dataclass
class _DebugOptions:
    policy_json: str | None = None
    read_only: bool = False
    workspace_write: bool = False
    writable_roots: list[str] = field(default_factory=list)
    exclude_tmp: bool = False
    network: bool = False
    backend: str | None = None
    cd: str | None = None
    explain: bool = False
    json: bool = False
    platform: str | None = None
    command: list[str] = field(default_factory=list)
    # The policy flags in the order given, for conflict messages.
    policy_flags: list[str] = field(default_factory=list)


_FLAGS = {"--read-only", "--workspace-write", "--exclude-tmp", "--network", "--explain",
          "--json"}
_VALUED = {"--policy": "<JSON>", "--writable-root": "<DIR>", "--backend": "<NAME>",
           "--cd": "<DIR>", "--platform": "<OS>"}
_PLATFORMS = ("linux", "macos")


def _parse_debug(args: list[str]) -> _DebugOptions | None:
    """The options, or ``None`` when help was printed. Options end at
    ``--`` or at the first argument that is not one (the command's own
    options are never ours)."""
    options = _DebugOptions()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            index += 1
            break
        if arg in ("-h", "--help"):
            sys.stdout.write(DEBUG_HELP)
            return None
        if not arg.startswith("-") or arg == "-":
            break
        name, has_value, inline = arg.partition("=")
        if name in _FLAGS and not has_value:
            attribute = name[2:].replace("-", "_")
            setattr(options, attribute, True)
            if name in ("--read-only", "--workspace-write", "--exclude-tmp", "--network"):
                options.policy_flags.append(name)
        elif name in _VALUED:
            value, index = option_value(args, index, name, inline if has_value else None,
                                        _VALUED[name])
            if name == "--policy":
                options.policy_json = value
                options.policy_flags.append(name)
            elif name == "--writable-root":
                options.writable_roots.append(value)
                options.policy_flags.append(name)
            elif name == "--backend":
                options.backend = value
            elif name == "--platform":
                options.platform = value
            else:
                options.cd = value
        else:
            raise UsageError(f"unexpected argument '{arg}' found (to run a command that starts "
                             f"with '-', put '--' before it)")
        index += 1
    options.command = args[index:]
    if not options.command and not options.explain:
        raise UsageError("a COMMAND to run is required (or --explain alone)")
    if options.platform is not None:
        if options.platform not in _PLATFORMS:
            raise UsageError(f"invalid value '{options.platform}' for '--platform <OS>' "
                             f"[possible values: {', '.join(_PLATFORMS)}]")
        if not options.explain or options.command:
            raise UsageError("--platform only goes with --explain and no COMMAND (a command "
                             "runs on this machine's own sandbox)")
    return options


def _policy(options: _DebugOptions) -> SandboxPolicy:
    """The policy the flags (or ``--policy``) ask for. Raises
    :class:`UsageError` for conflicts and for an invalid policy."""
    from . import PolicyError, ReadOnly, WorkspaceWrite, parse_policy

    flags = options.policy_flags
    if options.policy_json is not None:
        others = [flag for flag in flags if flag != "--policy"]
        if others:
            raise UsageError(f"the argument '--policy <JSON>' cannot be used with '{others[0]}' "
                             "(put it in the JSON: networkAccess, writableRoots, ...)")
        if flags.count("--policy") > 1:
            raise UsageError("the argument '--policy <JSON>' was given more than once")
        try:
            value = json.loads(options.policy_json)
        except json.JSONDecodeError as error:
            raise UsageError(f"invalid value for '--policy <JSON>': not JSON ({error})") from None
        try:
            return parse_policy(value)
        except PolicyError as error:
            raise UsageError(f"invalid value for '--policy <JSON>': {error}") from None
    if options.read_only and options.workspace_write:
        raise UsageError("the argument '--read-only' cannot be used with '--workspace-write'")
    if not options.workspace_write:
        needs = next((flag for flag in flags if flag in ("--writable-root", "--exclude-tmp")),
                     None)
        if needs is not None:
            raise UsageError(f"the argument '{needs}' requires '--workspace-write'")
        return ReadOnly(network_access=options.network)
    roots = tuple(os.path.abspath(root) for root in options.writable_roots)
    for root in roots:
        if not os.path.exists(root):
            _note(f"warning: writable root {root} does not exist: skipped")
    return WorkspaceWrite(writable_roots=roots, network_access=options.network,
                          exclude_slash_tmp=options.exclude_tmp,
                          exclude_tmpdir_env_var=options.exclude_tmp)


def _check_backend(name: str | None) -> None:
    if name is None:
        return
    from . import SandboxUnavailable, get_backend

    try:
        get_backend(name)
    except SandboxUnavailable as error:
        raise UsageError(f"invalid value '{name}' for '--backend <NAME>': {error}") from None


def _workdir(cd: str | None) -> str:
    if cd is None:
        return os.getcwd()
    path = os.path.abspath(cd)
    if not os.path.isdir(path):
        raise UsageError(f"invalid value '{cd}' for '--cd <DIR>': not a directory")
    return path


# -- debug sandbox: running ------------------------------------------------------------


def _note(line: str) -> None:
    sys.stderr.write(f"execguard: {line}\n")
    sys.stderr.flush()


def _headline(backend: str | None, policy: SandboxPolicy) -> str:
    """``bubblewrap sandbox, readOnly, network off``: what confines the command."""
    from . import network_restricted

    text = f"{backend} sandbox" if backend else "no sandbox"
    text += f", {policy.type}"
    if policy.type != "dangerFullAccess":
        text += ", network " + ("off" if network_restricted(policy) else "on")
    return text


def _explanation(confinement: Confinement, policy: SandboxPolicy) -> list[str]:
    lines = list(confinement.explanation)
    if confinement.backend is None:
        return ["no sandbox: the command runs as it is"]
    if not any(line.startswith("backend:") for line in lines):  # Landlock's lines
        how = _HOW.get(confinement.backend)
        lines[:0] = [f"backend: {confinement.backend}" + (f" ({how})" if how else ""),
                     f"policy: {policy.type}"]
    return lines


def _find_command(argv0: str, cwd: str, env: dict[str, str]) -> bool:
    """Whether the command exists, so that a missing one gives 127 under
    every backend (bwrap would say exit 1, Landlock's spawn an OSError)."""
    if "/" in argv0:
        return os.path.exists(os.path.join(cwd, argv0))
    return shutil.which(argv0, path=env.get("PATH", os.defpath)) is not None


class _Stream:
    """One of the command's output pipes: forwarded to our fd as it comes,
    its last :data:`TAIL_BYTES` kept."""

    def __init__(self, pipe: IO[bytes], target: int) -> None:
        self.pipe = pipe
        self.fd = pipe.fileno()
        self.target = target
        self.tail = bytearray()
        self.head = b""  # the start, where bwrap's own error would be

    def pump(self) -> bool:
        """Move one chunk; False at end of file, or when our side is gone
        (the pipe is then closed, so the command gets SIGPIPE as it would
        writing to our fd directly)."""
        data = os.read(self.fd, _CHUNK)
        if not data:
            self.pipe.close()
            return False
        if len(self.head) < _HEAD_BYTES:
            self.head += data[: _HEAD_BYTES - len(self.head)]
        self.tail += data
        if len(self.tail) > TAIL_BYTES:
            del self.tail[:-TAIL_BYTES]
        try:
            _write_all(self.target, data)
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.EBADF):
                raise
            self.pipe.close()
            return False
        return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:  # an inherited non-blocking fd
            select.select([], [fd], [])


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _pump(process: subprocess.Popen[bytes], streams: list[_Stream]) -> None:
    """Forward both streams until they end. Once the command has exited,
    only what is already buffered is read: a background process it left
    holding the pipes must not keep us waiting."""
    pidfd = _pidfd(process.pid)
    exited = False
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream.fd, selectors.EVENT_READ, stream)
        if pidfd is not None:
            selector.register(pidfd, selectors.EVENT_READ, None)
        open_streams = len(streams)
        try:
            while open_streams:
                drained = exited
                if exited:
                    timeout: float | None = 0
                else:
                    timeout = None if pidfd is not None else _POLL_S
                events = selector.select(timeout)
                if drained and not events:
                    break
                for key, _ in events:
                    if key.data is None:
                        exited = True
                        selector.unregister(key.fd)
                    elif not key.data.pump():
                        selector.unregister(key.fd)
                        open_streams -= 1
                if pidfd is None and not exited:
                    exited = process.poll() is not None
        finally:
            if pidfd is not None:
                os.close(pidfd)


def _forward_signals(process: subprocess.Popen[bytes]) -> Callable[[], None]:
    """Pass the signals a user sends us (Ctrl-C reaches only us: the command
    runs in a session of its own) on to the command; returns the undo."""
    def forward(signum: int, _frame: FrameType | None) -> None:
        if process.returncode is None:
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED_SIGNALS}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


class _SpawnFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Outcome:
    code: int  # 128+N for signal N
    stdout: bytes  # the tails
    stderr: bytes
    stderr_head: bytes


def _run(confinement: Confinement, cwd: str) -> _Outcome:
    """Run the confined command, its output passed through. Raises
    :class:`_SpawnFailed` when it cannot be started."""
    try:
        process = subprocess.Popen(
            confinement.argv, cwd=cwd, env=confinement.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=confinement.pass_fds,
            preexec_fn=confinement.preexec, close_fds=True, restore_signals=True)
    except OSError as error:
        raise _SpawnFailed(127 if error.errno == errno.ENOENT else 126,
                           f"cannot run {confinement.argv[0]}: {error.strerror or error}"
                           ) from None
    except subprocess.SubprocessError as error:  # the sandbox's preexec_fn raised
        raise _SpawnFailed(1, f"error: the sandbox could not be applied to the command: "
                              f"{error}") from None
    restore = _forward_signals(process)
    try:
        assert process.stdout is not None and process.stderr is not None
        out = _Stream(process.stdout, sys.stdout.fileno())
        err = _Stream(process.stderr, sys.stderr.fileno())
        _pump(process, [out, err])
        code = process.wait()
    finally:
        restore()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    return _Outcome(128 - code if code < 0 else code, bytes(out.tail), bytes(err.tail),
                    err.head)


def _report(options: _DebugOptions, backend: str | None, policy: SandboxPolicy,
            outcome: _Outcome) -> None:
    from . import classify_violation, policy_json
    from .denial import explain

    code = outcome.code
    violation = classify_violation(backend, code, outcome.stdout, outcome.stderr)
    if options.json:
        document = {
            "backend": backend,
            "policy": policy_json(policy),
            "exit_code": code,
            "denied": violation is not None,
            "violation": (None if violation is None
                          else {"reason": violation.reason, "path": violation.path}),
        }
        sys.stderr.write(json.dumps(document) + "\n")
        sys.stderr.flush()
        return
    _note(f"{_headline(backend, policy)}: exit {code}")
    if backend == "bubblewrap" and code == 1 and outcome.stderr_head.startswith(b"bwrap: "):
        # Not the command's failure: bwrap's own (mounts, namespaces, exec),
        # which no denial guess should be made from.
        _note("the command did not run: bubblewrap failed (its message is above)")
    elif violation is not None:
        _note(explain(violation))


def debug_main(args: list[str]) -> int:
    """``execguard debug sandbox``; see :data:`DEBUG_HELP`."""
    try:
        options = _parse_debug(args)
        if options is None:
            return 0
        policy = _policy(options)
        _check_backend(options.backend)
        cwd = _workdir(options.cd)
    except UsageError as error:
        sys.stderr.write(f"error: {error}\n\n{DEBUG_USAGE}\n\n"
                         "For more information, try '--help'.\n")
        return 2

    from . import SandboxUnavailable, backend_status, confine

    env = dict(os.environ)
    if options.platform == "macos":
        return _explain_seatbelt(policy, cwd, env)
    command = options.command
    if command and not _find_command(command[0], cwd, env):
        _note(f"{command[0]}: command not found")
        return 127
    try:
        confinement = confine(command or _EXPLAIN_ONLY_ARGV, policy, cwd, env,
                              backend=options.backend)
    except SandboxUnavailable as error:
        _note(f"error: the command was not run: {error}")
        for status in backend_status():
            _note(f"  {status.name}: " + ("ok" if status.works else
                                           f"unavailable: {status.reason}"))
        return 1
    try:
        if options.explain:
            _note(_headline(confinement.backend, policy) + ":")
            for line in _explanation(confinement, policy):
                sys.stderr.write(f"  {line}\n")
            sys.stderr.flush()
            if not command:
                return 0
        try:
            outcome = _run(confinement, cwd)
        except _SpawnFailed as failure:
            _note(failure.message)
            return failure.code
    finally:
        confinement.close()
    _report(options, confinement.backend, policy, outcome)
    return outcome.code


def _explain_seatbelt(policy: SandboxPolicy, cwd: str, env: dict[str, str]) -> int:
    """The Seatbelt profile and argv a policy would get on macOS, generated
    here (paths in their macOS forms), for review from any OS."""
    from ..seatbelt import SeatbeltError, explain

    try:
        lines = explain(policy, cwd, env=env)
    except SeatbeltError as error:
        _note(f"error: {error}")
        return 1
    _note(f"seatbelt sandbox (macOS), {policy.type}:")
    for line in lines:
        sys.stderr.write(f"  {line}\n")
    sys.stderr.flush()
    return 0


# -- sandbox doctor ---------------------------------------------------------------------


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


class _Backend(TypedDict):
    name: str
    ok: bool
    reason: str | None


class _Kernel(TypedDict):
    system: str
    release: str
    machine: str


class _Bwrap(TypedDict):
    path: str
    version: str | None


class _UserNamespaces(TypedDict):
    allowed: bool
    blocked_by: list[str]
    max_user_namespaces: int | None
    unprivileged_userns_clone: int | None
    apparmor_restrict_unprivileged_userns: int | None


class _Seccomp(TypedDict):
    arch: str | None
    supported: bool
    reason: str | None
    seccomp_mode: int | None
    no_new_privs: bool | None


class _Report(TypedDict):
    backends: list[_Backend]
    kernel: _Kernel
    euid: int
    landlock_abi: int
    bwrap: _Bwrap | None
    user_namespaces: _UserNamespaces
    seccomp: _Seccomp
    selection: dict[str, str | None]
    limitations: list[str]


def _user_namespaces() -> _UserNamespaces:
    """The switches that decide whether an unprivileged process may create a
    user namespace (bubblewrap needs one); absent ones are ``None``."""
    maximum = _read_int("/proc/sys/user/max_user_namespaces")
    clone = _read_int("/proc/sys/kernel/unprivileged_userns_clone")
    apparmor = _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    blockers = []
    if maximum == 0:
        blockers.append("user.max_user_namespaces = 0")
    if clone == 0:
        blockers.append("kernel.unprivileged_userns_clone = 0")
    if apparmor == 1:
        blockers.append("kernel.apparmor_restrict_unprivileged_userns = 1 (AppArmor allows "
                        "them only to programs whose profile grants userns)")
    return {"allowed": not blockers, "blocked_by": blockers, "max_user_namespaces": maximum,
            "unprivileged_userns_clone": clone,
            "apparmor_restrict_unprivileged_userns": apparmor}


def _bwrap_facts() -> _Bwrap | None:
    from .bwrap import find_bwrap

    path = find_bwrap()
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5,
                              check=False, stdin=subprocess.DEVNULL)
        version = done.stdout.strip() or done.stderr.strip() or None
    except (OSError, subprocess.TimeoutExpired) as error:
        version = f"cannot run it: {error}"
    return {"path": path, "version": version}


def _seccomp_facts() -> _Seccomp:
    """Whether we have filters for this architecture, and this process's own
    seccomp mode and no_new_privs: a container runtime's filter shows here
    (and can be what blocks bwrap or the Landlock syscalls)."""
    from .seccomp import SeccompUnsupported, native_arch

    facts: _Seccomp = {"arch": None, "supported": True, "reason": None, "seccomp_mode": None,
                       "no_new_privs": None}
    try:
        facts["arch"] = native_arch()
    except SeccompUnsupported as error:
        facts["supported"], facts["reason"] = False, str(error)
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key == "Seccomp":
                    facts["seccomp_mode"] = int(value)
                elif key == "NoNewPrivs":
                    facts["no_new_privs"] = int(value) != 0
    except (OSError, ValueError):
        pass
    return facts


def _doctor_report() -> _Report:
    from . import backend_status
    from .landlock import abi_version

    statuses = backend_status()
    chosen = next((status.name for status in statuses if status.works), None)
    abi = abi_version()
    limitations = []
    if chosen == "landlock":
        limitations.append(_LANDLOCK_LIMITATION)
        if abi < _LANDLOCK_SIGNAL_SCOPE_ABI:
            limitations.append(f"Landlock ABI {abi} < {_LANDLOCK_SIGNAL_SCOPE_ABI}: commands "
                               "can send signals to host processes of the same user")
    uname = os.uname()
    return {
        "backends": [{"name": status.name, "ok": status.works, "reason": status.reason}
                     for status in statuses],
        "kernel": {"system": uname.sysname, "release": uname.release, "machine": uname.machine},
        "euid": os.geteuid(),
        "landlock_abi": abi,
        "bwrap": _bwrap_facts(),
        "user_namespaces": _user_namespaces(),
        "seccomp": _seccomp_facts(),
        "selection": {"readOnly": chosen, "workspaceWrite": chosen},
        "limitations": limitations,
    }


_SECCOMP_MODES = {0: "none", 1: "strict", 2: "filtered"}


def _doctor_text(report: _Report) -> list[str]:
    lines = ["backends, in the order they are tried:"]
    for backend in report["backends"]:
        state = "ok" if backend["ok"] else f"unavailable: {backend['reason']}"
        lines.append(f"  {backend['name']}: {state}")
    if not report["backends"]:
        lines.append(f"  none for {sys.platform}")
    kernel = report["kernel"]
    lines.append(f"kernel: {kernel['system']} {kernel['release']} ({kernel['machine']}); "
                 f"running as uid {report['euid']}")
    abi = report["landlock_abi"]
    lines.append(f"Landlock ABI: {abi}" + ("" if abi else " (no usable Landlock)"))
    bwrap = report["bwrap"]
    lines.append("bwrap: not installed" if bwrap is None
                 else f"bwrap: {bwrap['path']} ({bwrap['version'] or 'unknown version'})")
    userns = report["user_namespaces"]
    switches = [f"{name} = {value}" for name, value in (
        ("user.max_user_namespaces", userns["max_user_namespaces"]),
        ("kernel.unprivileged_userns_clone", userns["unprivileged_userns_clone"]),
        ("kernel.apparmor_restrict_unprivileged_userns",
         userns["apparmor_restrict_unprivileged_userns"])) if value is not None]
    verdict = "allowed" if userns["allowed"] else "blocked by " + "; ".join(userns["blocked_by"])
    lines.append(f"unprivileged user namespaces: {verdict}"
                 + (f" ({', '.join(switches)})" if switches and userns["allowed"] else ""))
    seccomp = report["seccomp"]
    support = (f"filters for {seccomp['arch']} supported" if seccomp["supported"]
               else f"unsupported: {seccomp['reason']}")
    mode = seccomp["seccomp_mode"]
    current = "" if mode is None else (
        f"; this process: seccomp {_SECCOMP_MODES.get(mode, str(mode))}, no_new_privs "
        + ("on" if seccomp["no_new_privs"] else "off"))
    lines.append(f"seccomp: {support}{current}")
    for policy, chosen in report["selection"].items():
        lines.append(f"{policy} → {chosen or 'none: commands needing a sandbox will be refused'}")
    lines += report["limitations"]
    return lines


def doctor_main(args: list[str]) -> int:
    """``execguard sandbox doctor``; see :data:`DOCTOR_HELP`."""
    as_json = False
    for arg in args:
        if arg in ("-h", "--help"):
            sys.stdout.write(DOCTOR_HELP)
            return 0
        if arg == "--json":
            as_json = True
        else:
            kind = "argument" if arg.startswith("-") else "positional argument"
            sys.stderr.write(f"error: unexpected {kind} '{arg}' found\n\n{DOCTOR_USAGE}\n\n"
                             "For more information, try '--help'.\n")
            return 2
    report = _doctor_report()
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("".join(f"{line}\n" for line in _doctor_text(report)))
    return 0 if any(report["selection"].values()) else 1
