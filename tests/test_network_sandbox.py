"""The managed network, end to end: real clients in the real sandbox.

Each test runs real programs (curl, Python's urllib, git, pip) inside a
bubblewrap sandbox whose network is restricted, through the runtime's own
path (``sandboxing.prepare`` with the session's proxy, ``spawn`` with the
sandbox's after-spawn step), against real origin servers on 127.0.0.1 and
in a network namespace the test creates. Names such as ``allowed.test`` are
given to the proxy by a resolver of the test's, so that the decision
pipeline (deny list, local addresses, allow list, approvals) sees names
while the origins listen on local addresses.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from execguard.execpolicy.load import load_policy
from execguard.runtimes.api import ExecResult, ExecSpec, SandboxRequest
from execguard.runtimes.network_approvals import (
    NetworkApprovalAnswer,
    NetworkApprovalRequest,
    NetworkCommandContext,
    NetworkPolicyAmendment,
)
from execguard.runtimes.network_session import NetworkConfig, NetworkSession, domain_policy
from execguard.runtimes.process import spawn
from execguard.runtimes.sandboxing import confined, prepare
from execguard.runtimes.server import METHOD_NETWORK_BLOCKED, METHOD_REQUEST_APPROVAL
from execguard.sandbox import backend_status

from .network_servers import (
    HttpOrigin,
    client_environment,
    git_http_origin,
    http_origin,
    netns_origin,
    pip_index_origin,
    tls_origin,
)
from .test_app_server import EXECGUARD, StdioClient

READ_ONLY: dict[str, object] = {"type": "readOnly", "networkAccess": False}
CURL = ["curl", "--silent", "--show-error", "--max-time", "20"]
# The proxy's verdict on a plain-HTTP request, as curl prints it with -w.
STATUS = ["--write-out", "\n%{http_code}"]


# -- harness -------------------------------------------------------------------------


def names_resolver(names: dict[str, str]) -> Callable[[str, int], Awaitable[list[str]]]:
    """DNS for the proxy: ``names`` (a leading ``*.`` covers subdomains), and
    nothing else resolves."""

    async def resolve(host: str, port: int) -> list[str]:
        for name, address in names.items():
            if host == name or (name.startswith("*.") and host.endswith(name[1:])):
                return [address]
        raise OSError(f"{host}: name not known to the test")

    return resolve


@dataclass
class Person:
    """Answers prompts: one answer for every prompt (or a function of it),
    after ``delay`` seconds; keeps what it was asked."""

    answer: NetworkApprovalAnswer | Callable[[NetworkApprovalRequest], NetworkApprovalAnswer]
    delay: float = 0.0
    prompts: list[NetworkApprovalRequest] = field(default_factory=list)

    async def __call__(self, request: NetworkApprovalRequest) -> NetworkApprovalAnswer:
        self.prompts.append(request)
        await asyncio.sleep(self.delay)
        return self.answer(request) if callable(self.answer) else self.answer


async def sandboxed(network: NetworkSession, argv: list[str], cwd: Path, *,
                    item_id: str = "cmd", policy: dict[str, object] | None = None,
                    backend: str | None = "bubblewrap",
                    env: dict[str, str] | None = None) -> ExecResult:
    """``argv`` in the sandbox, routed to ``network``'s proxy, as the server
    and the shell tool run commands."""
    context = network.context(argv, cwd=str(cwd), item_id=item_id)
    request = SandboxRequest(policy or READ_ONLY, str(cwd),
                             env if env is not None else client_environment(home=cwd),
                             backend=backend, proxy=network.endpoint, proxy_context=context)
    with prepare(argv, request) as confinement:
        spec = ExecSpec(argv=argv, cwd=str(cwd), env=request.env, timeout_ms=60_000)
        process = await spawn(confined(spec, confinement))
        return await process.wait()


def session(*, allowed: tuple[str, ...] = (), denied: tuple[str, ...] = (),
            names: dict[str, str] | None = None, local: bool = True,
            approve: Callable[[NetworkApprovalRequest], Awaitable[NetworkApprovalAnswer]]
            | None = None, rules_file: Path | None = None,
            approval_policy: str = "on-request", rules: Any = None) -> NetworkSession:
    config = NetworkConfig(allowed_domains=allowed, denied_domains=denied,
                           allow_local_binding=local, approval_policy=approval_policy,
                           rules_file=str(rules_file) if rules_file else None)
    return NetworkSession(config, approve=approve, rules=rules,
                          resolver=names_resolver(names or {}))


def body_and_status(result: ExecResult) -> tuple[str, str]:
    text = result.stdout.decode()
    body, _, status = text.rpartition("\n")
    return body, status


@pytest.fixture
def origin() -> Iterator[HttpOrigin]:
    with http_origin() as started:
        yield started


# -- the proxy is the way out, and the only one --------------------------------------


def test_allowed_host_through_every_proxy_protocol(tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        names = {"allowed.test": "127.0.0.1", "origin.test": "127.0.0.1"}
        with tls_origin("origin.test") as tls:
            async with session(allowed=("allowed.test", "origin.test"), names=names) as net:
                url = origin.url("/hello", host="allowed.test")
                plain = await sandboxed(net, [*CURL, url], tmp_path)
                assert plain.stdout.decode() == f"hello from 127.0.0.1:{origin.port}"
                https = await sandboxed(net, [*CURL, "--cacert", tls.ca_file,
                                              tls.name_url("/hello")], tmp_path)
                assert https.stdout.decode() == f"hello from 127.0.0.1:{tls.port}", https
                socks = await sandboxed(net, ["sh", "-c", f'exec curl -sS --max-time 20 '
                                              f'--proxy "$ALL_PROXY" {url}'], tmp_path)
                assert socks.stdout.decode() == f"hello from 127.0.0.1:{origin.port}", socks
                assert net.denials("cmd") == []

    asyncio.run(main())
    # The origin saw the name, not the proxy's address: it was forwarded.
    assert [r for r in origin.requests if "/hello" in r]


def test_python_urllib_uses_the_proxy(tmp_path: Path, origin: HttpOrigin) -> None:
    script = ("import urllib.request, sys\n"
              "print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())\n")

    async def main() -> None:
        async with session(allowed=("allowed.test",), names={"allowed.test": "127.0.0.1"}) as n:
            result = await sandboxed(n, [sys.executable, "-c", script,
                                         origin.url("/echo-host", host="allowed.test")],
                                     tmp_path)
            assert result.exit_code == 0, result
            assert result.stdout.decode().strip() == f"allowed.test:{origin.port}"

    asyncio.run(main())


def test_clients_that_ignore_the_proxy_reach_nothing(tmp_path: Path, origin: HttpOrigin) -> None:
    direct = ("import socket, sys\n"
              "try:\n"
              "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n"
              "except OSError as error:\n"
              "    print(type(error).__name__); sys.exit(3)\n")

    async def main() -> None:
        async with session(allowed=("*",), names={"allowed.test": "127.0.0.1"}) as net:
            curl = await sandboxed(net, [*CURL, "--noproxy", "*", origin.url("/hello")],
                                   tmp_path)
            assert curl.exit_code == 7, curl  # couldn't connect
            python = await sandboxed(net, [sys.executable, "-c", direct, str(origin.port)],
                                     tmp_path)
            assert python.exit_code == 3 and b"ConnectionRefusedError" in python.stdout
            # Other socket families are closed by seccomp.
            unix = await sandboxed(net, [sys.executable, "-c",
                                         "import socket; socket.socket(socket.AF_UNIX)"],
                                   tmp_path)
            assert unix.exit_code != 0 and b"PermissionError" in unix.stderr

    asyncio.run(main())
    assert origin.requests == []


def test_a_second_address_is_reached_only_through_the_proxy(tmp_path: Path) -> None:
    with netns_origin() as remote:
        async def main() -> None:
            async with session(allowed=("remote.test",),
                               names={"remote.test": remote.host}) as net:
                via = await sandboxed(net, [*CURL, remote.url("/hello", host="remote.test")],
                                      tmp_path)
                assert via.stdout.decode() == f"hello from {remote.host}:{remote.port}", via
                bypass = await sandboxed(net, [*CURL, "--noproxy", "*", remote.url("/hello")],
                                         tmp_path)
                assert bypass.exit_code == 7, bypass  # no route out of the namespace
                # The bare address is not on the allow list: the proxy asks no
                # one (no callback) and refuses.
                literal = await sandboxed(net, [*CURL, *STATUS, remote.url("/hello")], tmp_path,
                                          item_id="literal")
                assert body_and_status(literal)[1] == "403"
                assert [d.reason for d in net.denials("literal")] == ["not_allowed"]

        asyncio.run(main())
        assert len([r for r in remote.requests if "/hello" in r]) == 1


# -- decisions -----------------------------------------------------------------------


def test_denied_and_local_hosts_are_refused_with_reasons(tmp_path: Path,
                                                         origin: HttpOrigin) -> None:
    async def main() -> None:
        person = Person("accept")
        async with session(allowed=("rebind.test", "*.svc.test"), denied=("denied.test",),
                           names={"denied.test": "127.0.0.1", "rebind.test": "127.0.0.1",
                                  "*.svc.test": "127.0.0.1"},
                           local=False, approve=person) as net:
            denied = await sandboxed(net, [*CURL, *STATUS,
                                           origin.url("/hello", host="denied.test")], tmp_path)
            body, status = body_and_status(denied)
            assert status == "403"
            assert json.loads(body)["reason"] == "denied"
            # An allowed name that resolves to loopback (DNS rebinding) is refused.
            rebound = await sandboxed(net, [*CURL, *STATUS,
                                            origin.url("/hello", host="rebind.test")],
                                      tmp_path, item_id="rebind")
            assert json.loads(body_and_status(rebound)[0])["reason"] == "not_allowed_local"
            # So is a wildcard match, and the bare loopback address over CONNECT.
            wild = await sandboxed(net, [*CURL, origin.url("/hello", host="a.svc.test")],
                                   tmp_path, item_id="wild")
            assert b"not_allowed_local" in wild.stdout
            tunnel = await sandboxed(net, [*CURL, "--proxytunnel", origin.url("/hello")],
                                     tmp_path, item_id="tunnel")
            assert tunnel.exit_code != 0 and b"403" in tunnel.stderr
            assert [(d.host, d.reason) for d in net.denials("cmd")] == [
                ("denied.test", "denied")]
            assert [d.reason for d in net.denials("tunnel")] == ["not_allowed_local"]
            assert person.prompts == []  # none of these can be approved

    asyncio.run(main())
    assert origin.requests == []


def test_wildcards(tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        person = Person("decline")
        async with session(allowed=("*.svc.test", "**.both.test", "region*.mid.test"),
                           names={"*.svc.test": "127.0.0.1", "svc.test": "127.0.0.1",
                                  "both.test": "127.0.0.1", "*.both.test": "127.0.0.1",
                                  "*.mid.test": "127.0.0.1"},
                           approve=person) as net:
            async def status(host: str) -> str:
                result = await sandboxed(net, [*CURL, *STATUS, origin.url("/hello", host=host)],
                                         tmp_path)
                return body_and_status(result)[1]

            assert await status("a.svc.test") == "200"
            assert await status("deep.a.svc.test") == "200"
            assert await status("both.test") == "200"
            assert await status("x.both.test") == "200"
            assert await status("region1.mid.test") == "200"
            assert await status("svc.test") == "403"  # the apex is not `*.`
            assert await status("xregion1.mid.test") == "403"
            assert [p.host for p in person.prompts] == ["svc.test", "xregion1.mid.test"]

    asyncio.run(main())


def test_ask_then_allow_once_then_deny(tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        answers: Iterator[NetworkApprovalAnswer] = iter(["accept", "decline"])
        person = Person(lambda _: next(answers))
        async with session(names={"ask.test": "127.0.0.1"}, approve=person) as net:
            url = origin.url("/hello", host="ask.test")
            first = await sandboxed(net, [*CURL, *STATUS, url], tmp_path, item_id="first")
            assert body_and_status(first)[1] == "200"
            second = await sandboxed(net, [*CURL, *STATUS, url], tmp_path, item_id="second")
            body, status = body_and_status(second)
            assert status == "403" and json.loads(body)["source"] == "decider"
            prompt = person.prompts[0]
            assert (prompt.host, prompt.port, prompt.protocol) == ("ask.test", origin.port,
                                                                   "http")
            assert prompt.reason == "ask.test is not in the allowed_domains"
            # The prompt says which command wants the host.
            assert isinstance(prompt.context, NetworkCommandContext)
            assert prompt.context.item_id == "first" and prompt.context.command[0] == "curl"
            [denial] = net.denials("second")
            assert denial.by_user and net.denials("first") == []

    asyncio.run(main())


def test_session_approval_is_remembered_per_host_protocol_and_port(
        tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        person = Person("acceptForSession")
        async with session(names={"ask.test": "127.0.0.1"}, approve=person) as net:
            url = origin.url("/hello", host="ask.test")
            for item in ("a", "b", "c"):
                result = await sandboxed(net, [*CURL, url], tmp_path, item_id=item)
                assert result.stdout.decode().startswith("hello"), result
            assert len(person.prompts) == 1
            # CONNECT to the same host and port is another key: asked again.
            tunnel = await sandboxed(net, [*CURL, "--proxytunnel", url], tmp_path)
            assert tunnel.exit_code == 0, tunnel
            assert [p.protocol for p in person.prompts] == ["http", "https"]

    asyncio.run(main())


def test_concurrent_requests_share_one_prompt(tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        person = Person("accept", delay=0.5)
        async with session(names={"ask.test": "127.0.0.1"}, approve=person) as net:
            url = origin.url("/hello", host="ask.test")
            script = " & ".join(f"curl -sS --max-time 20 -o /dev/null -w '%{{http_code}}\\n' "
                                f"{url}" for _ in range(6)) + " & wait"
            result = await sandboxed(net, ["sh", "-c", script], tmp_path)
            assert result.stdout.decode().split() == ["200"] * 6, result
            assert len(person.prompts) == 1

    asyncio.run(main())


def test_never_refuses_without_asking(tmp_path: Path, origin: HttpOrigin) -> None:
    async def main() -> None:
        person = Person("accept")
        async with session(names={"ask.test": "127.0.0.1"}, approve=person,
                           approval_policy="never") as net:
            result = await sandboxed(net, [*CURL, *STATUS,
                                           origin.url("/hello", host="ask.test")], tmp_path)
            assert body_and_status(result)[1] == "403"
            assert person.prompts == []
            [denial] = net.denials("cmd")
            assert denial.message == (
                f'Network access to "http://ask.test:{origin.port}" was blocked by policy.')

    asyncio.run(main())


def test_a_persistent_answer_is_written_and_honoured_next_session(
        tmp_path: Path, origin: HttpOrigin) -> None:
    rules_file = tmp_path / "rules" / "default.rules"
    rules_file.parent.mkdir()
    work = tmp_path / "work"
    work.mkdir()

    async def main() -> None:
        names = {"ask.test": "127.0.0.1", "bad.test": "127.0.0.1"}
        person = Person(lambda r: NetworkPolicyAmendment(
            r.host, "allow" if r.host == "ask.test" else "deny"))
        async with session(names=names, approve=person, rules_file=rules_file) as net:
            for host in ("ask.test", "bad.test", "ask.test", "bad.test"):
                await sandboxed(net, [*CURL, origin.url("/hello", host=host)], work)
            assert len(person.prompts) == 2  # then the live lists decide
        text = rules_file.read_text()
        assert 'network_rule(host="ask.test", protocol="http", decision="allow"' in text
        assert 'network_rule(host="bad.test", protocol="http", decision="deny"' in text
        # A new session with those rules: no prompt, same outcome.
        rules = load_policy([str(rules_file)])
        assert domain_policy(NetworkConfig(), rules).allowed == ("ask.test",)
        later = Person("decline")
        async with session(names=names, approve=later, rules=rules) as net:
            ok = await sandboxed(net, [*CURL, origin.url("/hello", host="ask.test")], work)
            assert ok.stdout.decode().startswith("hello")
            refused = await sandboxed(net, [*CURL, origin.url("/hello", host="bad.test")],
                                      work, item_id="bad")
            assert [d.reason for d in net.denials("bad")] == ["denied"]
            assert refused.stdout and later.prompts == []

    asyncio.run(main())


# -- real tools ------------------------------------------------------------------------


def test_git_ls_remote_over_http(tmp_path: Path) -> None:
    with git_http_origin() as repo:
        async def main() -> None:
            async with session(allowed=("git.test",), names={"git.test": "127.0.0.1"}) as net:
                env = dict(repo.env)
                result = await sandboxed(net, ["git", "ls-remote", repo.url_via("git.test")],
                                         tmp_path, env=env)
                assert result.exit_code == 0, result
                listed = {}
                for line in result.stdout.decode().splitlines():
                    sha, name = line.split("\t")
                    listed[name] = sha
                assert listed == repo.refs

        asyncio.run(main())


def test_pip_download_from_a_local_index(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with pip_index_origin() as index:
        async def main() -> None:
            async with session(allowed=("pypi.test",), names={"pypi.test": "127.0.0.1"}) as net:
                argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                        "--disable-pip-version-check", "--trusted-host", "pypi.test",
                        "--index-url", index.index_url_via("pypi.test"),
                        "-d", str(work / "dist"), index.project]
                result = await sandboxed(net, argv, work, policy={
                    "type": "workspaceWrite", "networkAccess": False})
                assert result.exit_code == 0, result
                assert os.listdir(work / "dist") == [index.wheel_name]

        asyncio.run(main())


# -- failure ---------------------------------------------------------------------------


def test_when_the_proxy_dies_commands_lose_the_network(tmp_path: Path,
                                                       origin: HttpOrigin) -> None:
    async def main() -> None:
        net = session(allowed=("allowed.test",), names={"allowed.test": "127.0.0.1"})
        await net.start()
        url = origin.url("/hello", host="allowed.test")
        script = f"sleep 1; curl -sS --max-time 10 {url}; echo exit=$?"
        running = asyncio.create_task(sandboxed(net, ["sh", "-c", script], tmp_path))
        await asyncio.sleep(0.3)
        await net.close()
        result = await running
        assert b"exit=7" in result.stdout, result  # refused: nothing listens any more

    asyncio.run(main())
    assert origin.requests == []


def test_the_landlock_backend_keeps_the_network_closed(tmp_path: Path,
                                                       origin: HttpOrigin) -> None:
    if not any(s.works for s in backend_status() if s.name == "landlock"):
        pytest.fail("Landlock is expected to work on this machine (and on CI)")

    async def main() -> None:
        async with session(allowed=("*",), names={"allowed.test": "127.0.0.1"}) as net:
            result = await sandboxed(net, [*CURL, origin.url("/hello", host="allowed.test")],
                                     tmp_path, backend="landlock")
            assert result.exit_code != 0, result

    asyncio.run(main())
    assert origin.requests == []


# -- over JSON-RPC ---------------------------------------------------------------------


def test_app_server_asks_the_client_and_reports_blocks(tmp_path: Path,
                                                       origin: HttpOrigin) -> None:
    home = tmp_path / "home"
    rules_file = home / "rules" / "default.rules"
    rules_file.parent.mkdir(parents=True)
    env = client_environment(home=tmp_path, EXECGUARD_HOME=str(home))
    client = StdioClient(cwd=tmp_path, env=env, args=(
        "--network-proxy", "--allow-local-binding", "--allow-domain", "localhost",
        "--deny-domain", "127.0.0.2", "--rules-file", str(rules_file)))
    try:
        client.initialize()
        ask = origin.url("/hello")  # 127.0.0.1: not listed, so the client is asked

        def curl(process_id: str, url: str) -> Any:
            return client.exec([*CURL, *STATUS, url], processId=process_id,
                               sandboxPolicy=READ_ONLY, cwd=str(tmp_path))

        # Commands with the network they asked for are not routed.
        for policy in ({"type": "dangerFullAccess"}, {"type": "readOnly", "networkAccess": True}):
            plain = client.run(["sh", "-c", "echo ${HTTP_PROXY:-none}"], sandboxPolicy=policy,
                               cwd=str(tmp_path))
            assert plain["result"]["stdout"] == "none\n", (policy, plain)

        # Listed: no question.
        listed = client.wait(curl("listed", origin.url("/hello", host="localhost")))
        assert listed["result"]["stdout"].endswith("\n200"), listed

        # Asked, accepted once.
        first = curl("first", ask)
        [approval] = client.messages(METHOD_REQUEST_APPROVAL, 1)
        params = approval["params"]
        assert params["networkApprovalContext"] == {"host": "127.0.0.1", "protocol": "http"}
        assert params["itemId"] == "first" and params["threadId"] == "command/exec"
        assert params["proposedNetworkPolicyAmendments"] == [
            {"host": "127.0.0.1", "action": "allow"}, {"host": "127.0.0.1", "action": "deny"}]
        client.send({"id": approval["id"], "result": {"decision": "accept"}})
        assert client.wait(first)["result"]["stdout"].endswith("\n200")

        # Asked again (that was once), declined: 403 and a blocked notice.
        second = curl("second", ask)
        approval = client.messages(METHOD_REQUEST_APPROVAL, 2)[-1]
        client.send({"id": approval["id"], "result": {"decision": "decline"}})
        assert client.wait(second)["result"]["stdout"].endswith("\n403")
        blocked = client.messages(METHOD_NETWORK_BLOCKED, 1)
        assert blocked[-1]["params"]["processId"] == "second"
        assert blocked[-1]["params"]["source"] == "decider"

        # Denied by the list: refused without a question.
        denied = client.wait(curl("denied", f"http://127.0.0.2:{origin.port}/hello"))
        assert denied["result"]["stdout"].endswith("\n403")
        notice = client.messages(METHOD_NETWORK_BLOCKED, 2)[-1]["params"]
        assert (notice["processId"], notice["host"], notice["reason"]) == (
            "denied", "127.0.0.2", "denied")
        assert len(client.messages(METHOD_REQUEST_APPROVAL, 2, timeout=0)) == 2

        # A persistent allow: written to the rules file, no more questions.
        third = curl("third", ask)
        approval = client.messages(METHOD_REQUEST_APPROVAL, 3)[-1]
        client.send({"id": approval["id"], "result": {"decision": {
            "applyNetworkPolicyAmendment": {
                "network_policy_amendment": {"host": "127.0.0.1", "action": "allow"}}}}})
        assert client.wait(third)["result"]["stdout"].endswith("\n200")
        assert 'network_rule(host="127.0.0.1", protocol="http", decision="allow"' in (
            rules_file.read_text())
        again = client.wait(curl("again", ask))
        assert again["result"]["stdout"].endswith("\n200")
        assert len(client.messages(METHOD_REQUEST_APPROVAL, 4, timeout=0.5)) == 3

        # A client that answers with an error refuses.
        fourth = curl("fourth", f"http://127.0.0.3:{origin.port}/hello")
        approval = client.messages(METHOD_REQUEST_APPROVAL, 4)[-1]
        client.send({"id": approval["id"], "error": {"code": -1, "message": "no"}})
        assert client.wait(fourth)["result"]["stdout"].endswith("\n403")
    finally:
        client.kill()


def test_app_server_network_options_are_checked(tmp_path: Path) -> None:
    from execguard.cliargs import UsageError
    from execguard.runtimes.cli import parse_args

    with pytest.raises(UsageError, match="'--allow-domain' only applies with --network-proxy"):
        parse_args(["--allow-domain", "pypi.org"])
    with pytest.raises(UsageError, match="invalid value 'a b' for '--allow-domain <PATTERN>'"):
        parse_args(["--network-proxy", "--allow-domain", "a b"])
    with pytest.raises(UsageError, match="expected on-request or never"):
        parse_args(["--network-proxy", "--network-approval-policy", "always"])
    options = parse_args(["--network-proxy", "--allow-domain=*.pypi.org", "--deny-domain",
                          "evil.test", "--allow-local-binding"])
    assert options is not None and options.allow_domains == ["*.pypi.org"]
    # A list the proxy cannot use stops the server before it serves anyone.
    env = client_environment(home=tmp_path, EXECGUARD_HOME=str(tmp_path / "home"))
    refused = subprocess.run([str(EXECGUARD), "app-server", "--network-proxy",
                              "--deny-domain", "*"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert 'unsupported global wildcard domain pattern "*"' in refused.stderr
