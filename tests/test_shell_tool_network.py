"""Tool calls under a managed network session: a network-restricted sandbox
reaches allowed hosts through the proxy, and what the proxy blocked is in
the call's result (real proxy, real curl, real bubblewrap)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from execguard.runtimes.shell_tool import ShellToolSession, ToolCall

from .network_servers import HttpOrigin, http_origin
from .test_network_sandbox import CURL, STATUS, session


@pytest.fixture
def origin() -> Iterator[HttpOrigin]:
    with http_origin() as started:
        yield started


def test_blocked_hosts_are_reported_with_the_call(tmp_path: Path, origin: HttpOrigin) -> None:
    names = {"allowed.test": "127.0.0.1", "other.test": "127.0.0.1"}

    async def main() -> None:
        async with session(allowed=("allowed.test",), names=names) as net:
            tools = ShellToolSession(network=net, backend="bubblewrap")
            env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
            allowed = await tools.run(ToolCall(
                [*CURL, origin.url("/hello", host="allowed.test")], cwd=str(tmp_path),
                sandbox_policy={"type": "workspaceWrite"}, env=env))
            assert allowed.status == "completed", allowed
            assert allowed.stdout.decode() == f"hello from 127.0.0.1:{origin.port}"
            assert allowed.denials == []
            blocked = await tools.run(ToolCall(
                [*CURL, *STATUS, origin.url("/secret", host="other.test")],
                cwd=str(tmp_path), sandbox_policy={"type": "workspaceWrite"}, env=env))
            assert blocked.stdout.decode().endswith("403"), blocked
            assert blocked.denials == [
                f"network: other.test:{origin.port} blocked (not_allowed)"]
            # Forgotten once the call is over: a later call starts clean.
            assert net.denials(blocked.call_id) == []

    asyncio.run(main())
    assert not [r for r in origin.requests if "/secret" in r]
