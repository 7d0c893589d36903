"""The sandbox backend for machines where bubblewrap cannot create namespaces.

Inside many containers, and on distributions that forbid unprivileged user
namespaces, ``bwrap`` cannot start. This backend confines a command without
any namespace, in the forked child just before ``exec``
(:attr:`Confinement.preexec`, which the runtime passes as ``preexec_fn``):

1. every capability is dropped and ``no_new_privs`` is set
   (:mod:`.privileges`): the command runs in the caller's namespaces, so a
   root caller's command would otherwise keep root's powers;
2. Landlock (:mod:`.landlock`) restricts the filesystem: everything is
   readable, only the policy's writable places (and a few devices) writable;
   on ABI 6+ signals to processes outside the sandbox are denied as well;
3. seccomp (:mod:`.seccomp`) restricts the network: ``RESTRICTED`` when the
   policy keeps the network off, else ``VSOCK_ONLY``.

Capabilities go first because the other two steps need nothing but
``no_new_privs``, and seccomp goes last so its filter never has to allow
what the setup itself calls. Before all three, a command without a PTY of
its own (``tty=False``) leaves the caller's session, as ``bwrap
--new-session`` does, so it cannot push keystrokes into an inherited
terminal (``TIOCSTI``; without capabilities that only works on one's
controlling terminal). Everything that can fail for an ordinary
reason (no Landlock, an unsupported architecture, a missing path) fails in
the parent, in :meth:`LandlockBackend.confine`, as
:class:`SandboxUnavailable`; the child only makes syscalls.

The argv and the environment stay the command's own: no wrapper process,
only the marker ``CODEX_SANDBOX_NETWORK_DISABLED=1`` when the network is
off (``CODEX_SANDBOX`` is never set on Linux, as in the reference).

Writable roots and protected names
----------------------------------

Landlock rules only *allow*, and a rule on a directory covers everything
beneath it, so "``<ws>`` writable except ``<ws>/.git``" cannot be said
directly. Let P be every read-only path of every writable root (see
:mod:`.roots`; the protected names count whether they exist or not, so
that they cannot be created either). A root R is granted like this:

* no path of P at or inside R: one writable rule for R;
* otherwise R itself gets no write rule, and each entry E of R (listed with
  ``os.scandir``, symlinks not followed) is considered in turn: E is
  skipped if it is in P, or if it is a symlink (a rule on a symlink is a
  rule on its target: a link to ``/etc`` must never grant ``/etc``); E is
  split the same way if a path of P lies inside it; otherwise E gets one
  writable rule.

The consequence is a deliberate, fail-safe divergence from the bubblewrap
backend: **nothing new can be created directly in a writable root that
contains protected names** (and nothing there can be deleted or renamed),
because that needs a write rule on the root itself, which would cover the
missing protected names too. Every workspace root contains them (they are
protected whether they exist or not), so in practice: ``touch <ws>/new``
fails with ``EACCES``, ``touch <ws>/src/new`` works, and writing existing
files anywhere in the root works. ``/tmp`` and ``$TMPDIR`` are the
exception, so that ``mktemp`` works: there only protected names that exist
and are not empty directories count (bubblewrap also keeps the missing ones
from being created), unless
a workspace lies inside them, which splits them as above. The explanation
lines say so per root.

The split is safe against the command itself: the directories that are
listed are exactly those that get no write rule, so a sandboxed command
cannot swap one of their entries for a symlink. Rules are bound to inodes
when they are built; as a last check every writable rule must have
resolved to the path that was listed (a concurrent, unsandboxed swap makes
:meth:`LandlockBackend.confine` fail rather than grant the wrong place).

A workspace with many top-level entries costs one rule each; the total is
capped (:data:`MAX_RULES` by default) so that a huge ``/tmp`` cannot make
setup slow or memory-hungry: beyond it the command is refused with
:class:`SandboxUnavailable`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from .backend import Confinement, ProxyEndpoint, SandboxBackend, SandboxUnavailable
from .landlock import LandlockUnavailable, Restriction, abi_version
from .policy import (
    DangerFullAccess,
    ExternalSandbox,
    ReadOnly,
    SandboxPolicy,
    WorkspaceWrite,
    network_restricted,
    with_network_marker,
)
from .privileges import prepare_drop_capabilities
from .roots import WritableRoot, resolve_writable_roots
from .seccomp import NetworkSeccomp, SeccompUnsupported, native_arch, prepare_install
from .seccomp import describe as describe_seccomp

__all__ = ["MAX_RULES", "LandlockBackend", "plan_writable"]

MAX_RULES: Final = 10_000
"""Default cap on the writable rules of one command (each costs a syscall
and kernel memory, and listing a directory that large is slow)."""


# Landlock ABI that scopes signals and abstract unix sockets (Linux 6.12),
# and the one with TCP port rules (Linux 6.7).
_ABI_SCOPE: Final = 6
_ABI_NET: Final = 4

_ENABLE_HINT: Final = (
    "Landlock needs Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK=y and listed among "
    "the active LSMs: add it to the lsm= kernel boot parameter (e.g. "
    "lsm=landlock,lockdown,yama,integrity,apparmor,bpf; the current list is in "
    "/sys/kernel/security/lsm) and reboot"
)

_CAPABILITY_LINE: Final = (
    "capabilities: all dropped before exec (ambient, bounding when the caller holds "
    "CAP_SETPCAP, inheritable, permitted, effective); no_new_privs set, so setuid "
    "binaries and file capabilities grant nothing"
)


class _TooManyRules(Exception):
    pass


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or beneath it (both canonical)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _holds_something(path: str) -> bool:
    """Whether ``path`` exists and is not an empty directory."""
    if not os.path.lexists(path):
        return False
    if os.path.islink(path) or not os.path.isdir(path):
        return True
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is not None
    except OSError:
        return True


def plan_writable(roots: Sequence[WritableRoot], *, max_rules: int = MAX_RULES,
                  ) -> tuple[list[str], list[str], list[str]]:
    """The writable-rule paths for ``roots`` (see the module docstring).

    Returns ``(writable, split, unlisted)``: the paths that get a writable
    rule (each beneath some root, deduplicated), the roots and directories
    that were split (no rule of their own, so nothing can be created
    directly in them), and directories that could not be listed (nothing
    in them is writable). Raises :class:`SandboxUnavailable` beyond
    ``max_rules`` writable rules.
    """
    # In /tmp and $TMPDIR only the protected names that hold something
    # count: a missing /tmp/.git (or an empty one, such as bubblewrap's
    # mount points) would otherwise make every new file in /tmp fail.
    protected = {path for root in roots for path in root.read_only
                 if not root.temporary or _holds_something(path)}
    writable: list[str] = []
    seen: set[str] = set()
    split: list[str] = []
    unlisted: list[str] = []

    def add(path: str) -> None:
        if path in seen:
            return
        if len(writable) >= max_rules:
            raise _TooManyRules
        seen.add(path)
        writable.append(path)

    def grant(path: str) -> None:
        if not any(_inside(p, path) for p in protected):
            add(path)
            return
        if path not in split:
            split.append(path)
        try:
            with os.scandir(path) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError:
            unlisted.append(path)
            return
        for name in names:
            entry = os.path.join(path, name)
            if entry in protected or os.path.islink(entry):
                continue
            if any(_inside(p, entry) for p in protected):
                if os.path.isdir(entry):
                    grant(entry)
                continue
            add(entry)

    try:
        for root in roots:
            grant(root.path)
    except _TooManyRules:
        raise SandboxUnavailable(
            f"the Landlock sandbox would need more than {max_rules} writable rules for "
            f"{', '.join(root.path for root in roots)} (a writable root with protected names "
            "gets one rule per entry); use a smaller working directory or exclude /tmp and "
            "$TMPDIR (excludeSlashTmp, excludeTmpdirEnvVar)"
        ) from None
    return writable, split, unlisted


@functools.cache
def _probe() -> str | None:
    """Why the backend cannot work on this machine, or None. Building a
    ruleset (not only asking for the ABI) also catches a seccomp filter of
    a container runtime that blocks the Landlock syscalls."""
    try:
        native_arch()
    except SeccompUnsupported as err:
        return f"the Landlock sandbox cannot restrict the network here: {err}"
    if abi_version() == 0:
        try:
            Restriction.build(["/"], [], scope_signals=False).close()
        except (LandlockUnavailable, OSError) as err:
            return f"Landlock is unavailable: {err}. {_ENABLE_HINT}."
    return None


class LandlockBackend:
    """Landlock + seccomp + dropped capabilities, without namespaces.

    ``max_rules`` caps the writable Landlock rules of one command (see the
    module docstring); tests lower it.
    """

    name = "landlock"

    def __init__(self, *, max_rules: int = MAX_RULES) -> None:
        self.max_rules = max_rules

    def unavailable_reason(self) -> str | None:
        """None when usable; else a sentence saying why and how to fix it.
        Probed once per process."""
        return _probe()

    def confine(self, argv: Sequence[str], policy: SandboxPolicy, cwd: str,
                env: Mapping[str, str], *, tty: bool = False,
                proxy: ProxyEndpoint | None = None,
                proxy_context: object = None, exec_bridge: bool = False) -> Confinement:
        """``argv`` confined by ``policy`` (readOnly or workspaceWrite).
        Builds the ruleset, the seccomp filter and the capability drop here,
        in the parent; raises :class:`SandboxUnavailable` when any cannot be
        built, or for policies this backend does not enforce.

        Without ``tty`` the child also becomes the leader of a new session
        (unless the spawner already made it one), as ``bwrap
        --new-session`` does: a command must not push keystrokes
        (``TIOCSTI``) into a terminal it inherited. With ``tty`` the
        spawner gives the command a PTY of its own as controlling terminal,
        and the session is the spawner's business.

        ``proxy`` is not used: this backend has no network namespace to
        bring the proxy into, and Landlock filters TCP by port only, so a
        rule for the proxy's port would also admit that port on every other
        host. A restricted network therefore stays closed here (fail closed;
        the explanation says so).

        ``exec_bridge`` changes no enforcement: inherited fds stay open
        across the ``exec`` (the spawner's ``pass_fds``), every seccomp mode
        allows ``socketpair(AF_UNIX)`` and ``sendmsg``/``recvmsg``
        (``SCM_RIGHTS`` included), and Landlock's abstract-socket scope
        does not cover unnamed socketpairs; it only adds a line to the
        explanation."""
        if isinstance(policy, DangerFullAccess | ExternalSandbox):
            raise SandboxUnavailable(
                f"the Landlock backend only enforces readOnly and workspaceWrite, not "
                f"{policy.type} (which runs without a sandbox)"
            )
        reason = self.unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(reason)
        abi = abi_version()
        restricted = network_restricted(policy)
        scoped = abi >= _ABI_SCOPE

        limitations: list[str] = []
        writable: list[str] = []
        if isinstance(policy, WorkspaceWrite):
            writable, split, unlisted = plan_writable(
                resolve_writable_roots(policy, cwd), max_rules=self.max_rules)
            limitations += [
                f"Landlock limitation: nothing can be created, deleted or renamed directly in "
                f"{path} (it holds protected names, so it has no write rule of its own); "
                f"existing files in it and its existing subdirectories stay writable"
                for path in split
            ]
            limitations += [f"Landlock: could not list {path}; nothing in it is writable"
                            for path in unlisted]
        elif not isinstance(policy, ReadOnly):  # pragma: no cover - exhaustive above
            raise SandboxUnavailable(f"unknown sandbox policy {policy!r}")
        if proxy is not None and restricted:
            limitations.append(
                "Landlock limitation: the network proxy is not reachable (no network "
                "namespace to bring it into); the network stays closed")
        if not scoped:
            limitations.append(
                f"Landlock ABI {abi} < {_ABI_SCOPE}: the command can send signals to host "
                "processes of the same user (no signal scoping before Linux 6.12)")

        try:
            restriction = Restriction.build(
                ["/"], writable,
                scope_signals=scoped,
                # Defence in depth where seccomp already denies connect()/bind().
                scope_abstract_unix=scoped and restricted,
                tcp_connect_ports=() if restricted and abi >= _ABI_NET else None,
            )
        except (LandlockUnavailable, OSError) as err:
            raise SandboxUnavailable(f"cannot build the Landlock ruleset: {err}") from err
        try:
            _check_targets(restriction)
            mode = NetworkSeccomp.RESTRICTED if restricted else NetworkSeccomp.VSOCK_ONLY
            install_seccomp = prepare_install(mode)
            drop_capabilities = prepare_drop_capabilities()
            explanation = [
                *restriction.describe(),
                *(f"seccomp ({mode.value}): {line}" for line in describe_seccomp(mode)),
                _CAPABILITY_LINE,
                *limitations,
            ]
            if exec_bridge:
                explanation.append(
                    "exec bridge: the shell's inherited escalation socket (an AF_UNIX "
                    "socketpair end) is passed through; socketpair(AF_UNIX) and "
                    f"sendmsg/recvmsg with SCM_RIGHTS stay allowed (seccomp {mode.value}; "
                    "Landlock's abstract-socket scope does not cover unnamed sockets); no "
                    "socket path, bind or connect is involved")
        except SeccompUnsupported as err:
            restriction.close()
            raise SandboxUnavailable(f"cannot build the seccomp filter: {err}") from err
        except BaseException:
            restriction.close()
            raise

        child_env = with_network_marker(policy, env)
        confinement = Confinement(
            argv=list(argv),
            env=child_env,
            backend=self.name,
            preexec=_chain(*(() if tty else (_new_session,)),
                           drop_capabilities, restriction.apply, install_seccomp),
            explanation=explanation,
        )
        confinement.on_close(restriction.close)
        return confinement


def _check_targets(restriction: Restriction) -> None:
    """Every writable rule must sit on the path that was planned: a path
    replaced by a symlink between listing and building would otherwise
    grant the link's target."""
    for rule in restriction.rules:
        if rule.writable and not rule.device_default and rule.target != rule.path:
            raise SandboxUnavailable(
                f"{rule.path} changed while the sandbox was being set up (it now resolves "
                f"to {rule.target}); retry the command"
            )


def _new_session() -> None:
    """In the child: leave the caller's session (and so its controlling
    terminal) unless already the leader of a session of its own."""
    if os.getsid(0) != os.getpid():
        os.setsid()


def _chain(*steps: Callable[[], None]) -> Callable[[], None]:
    """One ``preexec_fn`` running ``steps`` in order; the first that raises
    stops the spawn."""

    def preexec() -> None:
        for step in steps:
            step()

    return preexec


# Checked by mypy: the class satisfies the protocol.
_BACKEND: type[SandboxBackend] = LandlockBackend
