"""The zsh exec bridge: a patched zsh asks this server about every exec.

    from execguard.zsh_bridge import ExecBridge, Verdict, locate

    install = locate()                       # the built zsh and wrapper
    bridge = ExecBridge(decide, wrapper=install.wrapper, writable_roots=roots)
    bridge.start()
    # spawn [install.zsh, "-lc", script] with bridge.environment() added to
    # its environment and bridge.pass_fds inherited, inside the sandbox

``decide`` is an async function from :class:`ExecRequest` to
:class:`Verdict` (run here, escalate out of the sandbox, deny); every exec
ends up in :attr:`ExecBridge.execs` as an :class:`InterceptedExec`. The
wire protocol and the C wrapper follow the Codex contract (spec
zsh_bridge.md); the build and the patch are in this directory.
"""

from .decision import Action, Decider, ExecRequest, InterceptedExec, Verdict
from .escalation import UNSAFE_VARIABLES
from .install import BridgeInstall, BridgeUnavailable, is_patched, locate
from .server import BRIDGE_VARIABLES, ExecBridge, GroupWatcher

__all__ = [
    "BRIDGE_VARIABLES",
    "UNSAFE_VARIABLES",
    "Action",
    "BridgeInstall",
    "BridgeUnavailable",
    "Decider",
    "ExecBridge",
    "ExecRequest",
    "GroupWatcher",
    "InterceptedExec",
    "Verdict",
    "is_patched",
    "locate",
]
