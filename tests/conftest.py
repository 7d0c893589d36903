"""Shared test setup."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from execguard.zsh_bridge import BridgeInstall

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _private_policy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled policies are cached by default; keep the suite's out of ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EXECGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("policy-cache")))
    yield
    patch.undo()




@pytest.fixture(scope="session")
def bridge_install() -> BridgeInstall:
    """The patched zsh and the exec wrapper, built by ``zsh-bridge/build``
    (``scripts/setup`` builds them; a warm cache answers in milliseconds).
    A failed build fails the tests that need it: nothing is skipped."""
    from execguard.zsh_bridge import BridgeInstall

    proc = subprocess.run([str(REPO / "zsh-bridge" / "build")], capture_output=True, text=True,
                          timeout=1800, check=False)
    if proc.returncode != 0:
        pytest.fail("zsh-bridge/build failed:\n" + proc.stderr[-4000:])
    paths = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return BridgeInstall(zsh=paths["zsh"], wrapper=paths["wrapper"])
