"""Where the patched zsh and the wrapper are, and whether they are usable.

``zsh-bridge/build`` installs both into a cache keyed by the hash of their
sources (``<cache>/zsh/<sha256 of zexecve.patch>/bin/zsh``,
``<cache>/wrapper/<sha256 of wrapper.c>/execguard-execve-wrapper``), so a
changed patch or wrapper is never mistaken for the built one. The cache is
``$ZSH_BRIDGE_CACHE``, by default ``.cache/zsh-bridge`` in the checkout.
``EXECGUARD_ZSH`` and ``EXECGUARD_EXEC_WRAPPER`` name other builds; a zsh
named so is probed (it must honour ``EXEC_WRAPPER``) before it is used.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BridgeInstall", "BridgeUnavailable", "is_patched", "locate"]

_HERE = Path(__file__).resolve().parent
_BUILD_HINT = "run zsh-bridge/build (scripts/setup does)"


class BridgeUnavailable(Exception):
    """No usable patched zsh or wrapper; the message says how to get one."""


@dataclass(frozen=True)
class BridgeInstall:
    zsh: str
    wrapper: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache() -> Path:
    configured = os.environ.get("ZSH_BRIDGE_CACHE")
    return Path(configured) if configured else _HERE.parent / ".cache" / "zsh-bridge"


def is_patched(zsh: str) -> bool:
    """Whether ``zsh`` honours ``EXEC_WRAPPER`` (the spec's probe, in
    ``is-patched``: a patched zsh runs the wrapper, here ``false``, in place
    of ``true``)."""
    try:
        probe = subprocess.run([str(_HERE / "is-patched"), zsh], capture_output=True,
                               timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@functools.cache
def _probed(zsh: str) -> bool:
    return is_patched(zsh)


def locate() -> BridgeInstall:
    """The built bridge, or :class:`BridgeUnavailable` saying what is missing."""
    zsh = os.environ.get("EXECGUARD_ZSH")
    if zsh:
        if not _probed(zsh):
            raise BridgeUnavailable(f"EXECGUARD_ZSH={zsh} is not a zsh patched for EXEC_WRAPPER")
    else:
        built = _cache() / "zsh" / _sha256(_HERE / "zexecve.patch")
        if not (built / ".built").is_file():
            raise BridgeUnavailable(f"the patched zsh is not built ({built}): {_BUILD_HINT}")
        zsh = str(built / "bin" / "zsh")
    wrapper = os.environ.get("EXECGUARD_EXEC_WRAPPER") or str(
        _cache() / "wrapper" / _sha256(_HERE / "wrapper.c") / "execguard-execve-wrapper")
    if not os.access(wrapper, os.X_OK):
        raise BridgeUnavailable(f"the exec wrapper is not built ({wrapper}): {_BUILD_HINT}")
    return BridgeInstall(zsh=zsh, wrapper=os.path.abspath(wrapper))
