"""A Seatbelt profile for a sandbox policy, and the ``sandbox-exec`` command
that applies it.

::

    /usr/bin/sandbox-exec -p PROFILE -DWRITABLE_ROOT_0=/Users/me/ws ... -- COMMAND...

Only the absolute ``/usr/bin/sandbox-exec`` is used: a ``PATH`` lookup
could pick a planted binary. The profile's sections, in order:

1. ``base.sbpl``: deny by default, processes, devices, system services;
2. reading: the whole file system (both policies read everything);
3. writing (``workspaceWrite`` only): one ``(allow file-write* …)`` whose
   components are the writable roots minus their protected metadata (see
   :mod:`.writable`), then the denials that keep roots and the directories
   leading to protected paths from being renamed away;
4. the network section (see :mod:`.network`);
5. with ``exec_bridge`` only, ``exec_bridge.sbpl``: a shell using the zsh
   exec bridge may create ``AF_UNIX`` socketpairs (passing fds over them and
   over the inherited escalation socket needs no rule). Appended last, so
   the profile is otherwise the same as without it.

Paths reach Seatbelt as ``-D`` parameters, in this order: writable roots
with their exclusions (``WRITABLE_ROOT_<i>``,
``WRITABLE_ROOT_<i>_EXCLUDED_<j>``), protected ancestors
(``PROTECTED_ANCESTOR_<k>``), Unix sockets (``UNIX_SOCKET_PATH_<n>``). The
profile text itself holds no path but the patterns of :mod:`.regex`.

The command's environment gets ``CODEX_SANDBOX=seatbelt``, and
``CODEX_SANDBOX_NETWORK_DISABLED=1`` when the policy's network is off (even
if a proxy or Unix sockets are reachable: the marker reports the policy).
``dangerFullAccess`` and ``externalSandbox`` are not wrapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..sandbox.policy import (
    NETWORK_DISABLED_ENV,
    DangerFullAccess,
    ExternalSandbox,
    ReadOnly,
    SandboxPolicy,
    WorkspaceWrite,
    network_restricted,
    with_network_marker,
)
from .errors import SeatbeltError
from .network import NetworkOptions, network_section, unix_socket_paths
from .paths import FileSystemView, RealFileSystem, check_param_value
from .regex import regex_literal, subtree_regex
from .writable import SeatbeltRoot, protected_ancestors, seatbelt_writable_roots

__all__ = [
    "NETWORK_DISABLED_ENV",
    "SANDBOX_ENV",
    "SEATBELT_EXECUTABLE",
    "SeatbeltCommand",
    "SeatbeltProfile",
    "base_policy_text",
    "build_profile",
    "exec_bridge_policy_text",
    "seatbelt_command",
    "seatbelt_env",
]

SEATBELT_EXECUTABLE = "/usr/bin/sandbox-exec"
SANDBOX_ENV = "CODEX_SANDBOX"
SANDBOX_ENV_VALUE = "seatbelt"

_READ_SECTION = "; reading: the whole file system\n(allow file-read*)\n"


@cache
def base_policy_text() -> str:
    """``base.sbpl``: what every confined command may do."""
    return resources.files(__package__).joinpath("base.sbpl").read_text("utf-8")


@cache
def exec_bridge_policy_text() -> str:
    """``exec_bridge.sbpl``: what a shell using the zsh exec bridge needs
    beyond the rest of the profile."""
    return resources.files(__package__).joinpath("exec_bridge.sbpl").read_text("utf-8")


@dataclass(frozen=True)
class SeatbeltProfile:
    """A profile and the ``-D`` parameters it refers to, in argv order."""

    text: str
    params: tuple[tuple[str, str], ...]
    policy: SandboxPolicy
    roots: tuple[SeatbeltRoot, ...] = ()
    protected_ancestors: tuple[str, ...] = ()
    unix_sockets: tuple[str, ...] = ()
    network: str = "off"  # proxy, unix-sockets, full or off (see network_section)
    proxy_ports: tuple[int, ...] = ()
    exec_bridge: bool = False  # exec_bridge.sbpl appended

    def argv(self, command: Sequence[str]) -> list[str]:
        """``sandbox-exec`` running ``command`` under this profile."""
        return [SEATBELT_EXECUTABLE, "-p", self.text,
                *(f"-D{key}={value}" for key, value in self.params), "--", *command]


def _write_section(roots: Sequence[SeatbeltRoot], ancestors: Sequence[str]
                   ) -> tuple[str, list[tuple[str, str]]]:
    if not roots:
        return "", []
    params: list[tuple[str, str]] = []
    components = []
    for index, root in enumerate(roots):
        key = f"WRITABLE_ROOT_{index}"
        params.append((key, root.path))
        if not root.carveouts:
            components.append(f'  (subpath (param "{key}"))')
            continue
        parts = [f'  (require-all (subpath (param "{key}"))']
        excluded = 0
        for carveout in root.carveouts:
            if carveout.by_regex:
                literal = regex_literal(subtree_regex(carveout.path))
                parts.append(f"    (require-not (regex {literal}))")
                continue
            excluded_key = f"{key}_EXCLUDED_{excluded}"
            excluded += 1
            params.append((excluded_key, carveout.path))
            # literal: creating the name itself; subpath: anything beneath it.
            parts.append(f'    (require-not (literal (param "{excluded_key}")))')
            parts.append(f'    (require-not (subpath (param "{excluded_key}")))')
        components.append("\n".join(parts) + ")")
    lines = ["; writing: beneath the writable roots only, never into their protected",
             "; metadata (excluded by parameter, and by pattern so that names not there",
             "; yet cannot be created)",
             "(allow file-write*", *components, ")",
             "; a writable root, or a directory on the way to protected metadata, cannot",
             "; be renamed or removed: moved elsewhere, its contents would escape the rules",
             "; above"]
    for index in range(len(roots)):
        lines.append("(deny file-write-unlink (require-all (vnode-type DIRECTORY)"
                     f' (literal (param "WRITABLE_ROOT_{index}"))))')
    for index, path in enumerate(ancestors):
        key = f"PROTECTED_ANCESTOR_{index}"
        params.append((key, path))
        lines.append("(deny file-write-unlink (require-all (vnode-type DIRECTORY)"
                     f' (literal (param "{key}"))))')
    return "\n".join(lines) + "\n", params


def build_profile(policy: SandboxPolicy, cwd: str, *, fs: FileSystemView | None = None,
                  tmpdir: str | None = None, network: NetworkOptions | None = None,
                  exec_bridge: bool = False) -> SeatbeltProfile:
    """The profile confining a command run in ``cwd`` (absolute) under
    ``policy`` (readOnly or workspaceWrite).

    ``fs``: where paths are looked up (default: this machine's file
    system, see :class:`~.paths.RealFileSystem`); with a
    :class:`~.paths.MemoryFileSystem` the result depends on nothing else.
    ``tmpdir``: the server's ``$TMPDIR`` (default: this process's; ``""``
    for none). ``network``: proxy ports and Unix sockets. ``exec_bridge``:
    the command is a shell using the zsh exec bridge; ``exec_bridge.sbpl``
    is appended (see the module docstring).

    Raises :class:`SeatbeltError` for a policy Seatbelt does not enforce,
    a relative ``cwd``, or a path that cannot be handed to Seatbelt."""
    if not isinstance(policy, ReadOnly | WorkspaceWrite):
        raise SeatbeltError(f"{policy.type} is not enforced by Seatbelt (the command runs "
                            "unwrapped)")
    if not cwd.startswith("/"):
        raise SeatbeltError(f"the working directory must be absolute: {cwd!r}")
    fs = fs if fs is not None else RealFileSystem()
    if tmpdir is None:
        tmpdir = os.environ.get("TMPDIR")
    network = network if network is not None else NetworkOptions()
    restricted = network_restricted(policy)

    roots = (seatbelt_writable_roots(policy, cwd, fs, tmpdir)
             if isinstance(policy, WorkspaceWrite) else [])
    ancestors = protected_ancestors(roots)
    write, params = _write_section(roots, ancestors)
    sockets = unix_socket_paths(network, fs)
    socket_keys = [f"UNIX_SOCKET_PATH_{index}" for index in range(len(sockets))]
    params += zip(socket_keys, sockets, strict=True)
    net, mode = network_section(restricted, network, socket_keys)
    for _, value in params:
        check_param_value(value)
    sections = [base_policy_text(), _READ_SECTION, write, net,
                exec_bridge_policy_text() if exec_bridge else ""]
    text = "\n".join(section if section.endswith("\n") else section + "\n"
                     for section in sections if section)
    return SeatbeltProfile(text=text, params=tuple(params), policy=policy, roots=tuple(roots),
                           protected_ancestors=tuple(ancestors), unix_sockets=tuple(sockets),
                           network=mode, proxy_ports=tuple(sorted(set(network.proxy_ports))),
                           exec_bridge=exec_bridge)


def seatbelt_env(policy: SandboxPolicy, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the markers of a command confined by Seatbelt under
    ``policy`` (readOnly or workspaceWrite)."""
    marked = dict(env)
    marked[SANDBOX_ENV] = SANDBOX_ENV_VALUE
    return with_network_marker(policy, marked)


@dataclass(frozen=True)
class SeatbeltCommand:
    """What to run instead of a command: ``argv`` and its whole ``env``;
    ``profile`` is None when the policy is not enforced by Seatbelt."""

    argv: list[str]
    env: dict[str, str]
    profile: SeatbeltProfile | None


def seatbelt_command(argv: Sequence[str], policy: SandboxPolicy, cwd: str,
                     env: Mapping[str, str], *, fs: FileSystemView | None = None,
                     tmpdir: str | None = None, network: NetworkOptions | None = None,
                     exec_bridge: bool = False) -> SeatbeltCommand:
    """``argv`` under ``policy`` on macOS. ``dangerFullAccess`` and
    ``externalSandbox`` run as they are (the latter with the network marker
    when its network is restricted); see :func:`build_profile` for the rest."""
    if isinstance(policy, DangerFullAccess | ExternalSandbox):
        return SeatbeltCommand(list(argv), with_network_marker(policy, env), None)
    profile = build_profile(policy, cwd, fs=fs, tmpdir=tmpdir, network=network,
                            exec_bridge=exec_bridge)
    return SeatbeltCommand(profile.argv(argv), seatbelt_env(policy, env), profile)
