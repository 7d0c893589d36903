"""What Seatbelt would do to a command, in words, from any machine:
``execguard debug sandbox --explain --platform macos``."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence

from ..sandbox.policy import DangerFullAccess, ExternalSandbox, SandboxPolicy
from .network import NetworkOptions
from .paths import FileSystemView
from .profile import SEATBELT_EXECUTABLE, SeatbeltCommand, SeatbeltProfile, seatbelt_command
from .regex import subtree_regex

__all__ = ["describe", "explain"]

_NETWORK = {
    "off": "off (no network rule: (deny default) refuses every socket, Unix ones too)",
    "full": "on (any outbound and inbound traffic)",
    "unix-sockets": "off, but for the allowed Unix sockets",
}
# How argv shows the profile (printed in full below it).
_PROFILE_PLACEHOLDER = "<profile>"


def _show(path: str) -> str:
    """``path`` as is, or quoted when it would garble the line (a newline,
    a control character)."""
    return path if path.isprintable() else repr(path)


def _network_line(profile: SeatbeltProfile) -> str:
    if profile.network != "proxy":
        return "network: " + _NETWORK[profile.network]
    if not profile.proxy_ports:
        return "network: none (a proxy is required but has no loopback port)"
    ports = ", ".join(f"localhost:{port}" for port in profile.proxy_ports)
    return f"network: only through the proxy ({ports})"


def explain(policy: SandboxPolicy, cwd: str, *, command: Sequence[str] = ("COMMAND",),
            env: Mapping[str, str] | None = None, fs: FileSystemView | None = None,
            tmpdir: str | None = None, network: NetworkOptions | None = None,
            exec_bridge: bool = False) -> list[str]:
    """Lines describing how ``command`` would be confined on macOS under
    ``policy``: writable roots and what stays read-only, network, the
    environment markers, the ``sandbox-exec`` argv (profile shown as
    ``<profile>``), then the profile itself, indented. Paths are looked up
    in ``fs`` (default: this machine, with macOS's ``/private`` forms);
    ``exec_bridge``: the command is a shell using the zsh exec bridge.
    Raises :class:`~.errors.SeatbeltError` like :func:`~.profile.build_profile`."""
    wrapped = seatbelt_command(command, policy, cwd, env or {}, fs=fs, tmpdir=tmpdir,
                               network=network, exec_bridge=exec_bridge)
    return describe(wrapped, policy, env or {})


def describe(wrapped: SeatbeltCommand, policy: SandboxPolicy, env: Mapping[str, str]
             ) -> list[str]:
    """:func:`explain`'s lines for a command already wrapped, ``env`` being
    the environment it was given."""
    markers = {key: value for key, value in wrapped.env.items() if env.get(key) != value}
    marker_text = " ".join(f"{key}={value}" for key, value in sorted(markers.items())) or "none"
    profile = wrapped.profile
    if profile is None:
        assert isinstance(policy, DangerFullAccess | ExternalSandbox)
        return [f"backend: none ({policy.type} is not wrapped: the command runs as it is)",
                f"policy: {policy.type}", f"env: {marker_text}",
                "argv: " + shlex.join(wrapped.argv)]
    lines = [f"backend: seatbelt ({SEATBELT_EXECUTABLE}), profile for macOS",
             f"policy: {policy.type}",
             "filesystem: everything readable" + (
                 "; writable beneath the roots below, except what stays read-only"
                 if profile.roots else "; nothing writable (but /dev/null)")]
    for index, root in enumerate(profile.roots):
        lines.append(f"writable: {_show(root.path)}  (WRITABLE_ROOT_{index})")
        excluded = 0
        patterns: dict[str, list[str]] = {}  # directory -> names, in order
        for carveout in root.carveouts:
            if carveout.by_regex:
                directory, name = posixpath.split(carveout.path)
                patterns.setdefault(directory, []).append(name)
            else:
                lines.append(f"  read-only: {_show(carveout.path)}  "
                             f"(WRITABLE_ROOT_{index}_EXCLUDED_{excluded})")
                excluded += 1
        for directory, names in patterns.items():
            example = subtree_regex(posixpath.join(directory, names[0]))
            lines.append(f"  read-only whether they exist or not: {directory}/"
                         f"{{{','.join(names)}}}  (patterns such as {example})")
    for index, path in enumerate(profile.protected_ancestors):
        lines.append(f"cannot be renamed or removed: {_show(path)}  (PROTECTED_ANCESTOR_{index})")
    lines.append(_network_line(profile))
    for index, path in enumerate(profile.unix_sockets):
        lines.append(f"unix socket: {_show(path)} and beneath  (UNIX_SOCKET_PATH_{index})")
    if profile.exec_bridge:
        lines.append("exec bridge: AF_UNIX socketpairs may be created, and fds passed over them "
                     "and over the inherited escalation socket (exec_bridge.sbpl; no socket "
                     "path, bind or connect)")
    lines.append(f"env: {marker_text}")
    shown = [_PROFILE_PLACEHOLDER if index == 2 else arg
             for index, arg in enumerate(wrapped.argv)]
    lines.append("argv: " + shlex.join(shown))
    lines.append("profile:")
    lines += ["  " + line if line else "" for line in profile.text.splitlines()]
    return lines
