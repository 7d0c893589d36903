"""Shared test setup."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_policy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled policies are cached by default; keep the suite's out of ~/.cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EXECGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("policy-cache")))
    yield
    patch.undo()


