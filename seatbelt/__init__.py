"""macOS Seatbelt profiles generated from the sandbox policies.

The same policy objects as on Linux (``readOnly``, ``workspaceWrite``)
become a Seatbelt profile and a ``/usr/bin/sandbox-exec`` command line::

    from execguard.seatbelt import build_profile, seatbelt_command, explain

    wrapped = seatbelt_command(["make"], policy, cwd, env)
    subprocess.run(wrapped.argv, env=wrapped.env)

Generation is pure given a file-system view (:class:`MemoryFileSystem`),
and paths take their macOS forms on any host (``/tmp`` →
``/private/tmp``), so a profile can be generated, inspected and tested on
Linux (:func:`explain`). :class:`SeatbeltBackend` plugs it into
:mod:`execguard.sandbox` on macOS.
"""

from .backend import PROXY_ACTIVE_ENV, SeatbeltBackend
from .errors import SeatbeltError
from .explain import explain
from .network import NetworkOptions, has_proxy_env, proxy_ports_from_env
from .paths import FileSystemView, MemoryFileSystem, RealFileSystem, canonical_path
from .profile import (
    NETWORK_DISABLED_ENV,
    SANDBOX_ENV,
    SEATBELT_EXECUTABLE,
    SeatbeltCommand,
    SeatbeltProfile,
    build_profile,
    seatbelt_command,
)
from .writable import Carveout, SeatbeltRoot

__all__ = [
    "NETWORK_DISABLED_ENV",
    "PROXY_ACTIVE_ENV",
    "SANDBOX_ENV",
    "SEATBELT_EXECUTABLE",
    "Carveout",
    "FileSystemView",
    "MemoryFileSystem",
    "NetworkOptions",
    "RealFileSystem",
    "SeatbeltBackend",
    "SeatbeltCommand",
    "SeatbeltError",
    "SeatbeltProfile",
    "SeatbeltRoot",
    "build_profile",
    "canonical_path",
    "explain",
    "has_proxy_env",
    "proxy_ports_from_env",
    "seatbelt_command",
]
