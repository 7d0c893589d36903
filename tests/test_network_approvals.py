"""The network approval service (the proxy's decider, spec 7.5/7.6): every
answer kind, session memory keyed by (host, protocol, port), one prompt for
concurrent requests, fail-closed errors, persistence to a rules file, the
per-command denial records and their messages, the app-server wire shapes
(checked against the reference JSON schemas), one run through the real proxy
and a property: nothing but an allow list entry, a session grant or a "yes"
to that very prompt ever lets an unlisted host through."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execguard.execpolicy import Decision, NetworkProtocol, NetworkRule, load_policy
from execguard.runtimes.network_approvals import (
    NetworkApprovalAnswer,
    NetworkApprovalRequest,
    NetworkApprovalService,
    NetworkCommandContext,
    NetworkDenial,
    NetworkPolicyAmendment,
    approval_request_params,
    blocked_message,
    outcome_message,
    parse_approval_decision,
)
from execguard.sandbox.network import (
    BlockedRequest,
    DomainPolicy,
    NetworkPolicy,
    NetworkProxy,
    NetworkRequest,
    normalize_host,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "reference" / "app-server-schema"
HOST = "api.example.com"
CTX = NetworkCommandContext(("pip", "install", "requests"), cwd="/work", item_id="call-1")
POLICY_MESSAGE = f'Network access to "https://{HOST}:443" was blocked by policy.'

T = TypeVar("T")


def run(scenario: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(30):
            return await scenario

    return asyncio.run(bounded())


def request(host: str = HOST, port: int = 443, protocol: str = "https_connect",
            context: object = CTX) -> NetworkRequest:
    return NetworkRequest(host, port, protocol, context=context)  # type: ignore[arg-type]


class Asker:
    """A scripted person: answers from ``answers`` in order (the last one
    repeats), optionally only once ``gate`` is set; records every question."""

    def __init__(self, *answers: object, gate: asyncio.Event | None = None) -> None:
        self.answers = list(answers)
        self.gate = gate
        self.asked: list[NetworkApprovalRequest] = []

    async def __call__(self, approval: NetworkApprovalRequest) -> NetworkApprovalAnswer:
        self.asked.append(approval)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return cast(NetworkApprovalAnswer, answer)


def service_with(*answers: object, **kwargs: Any) -> tuple[NetworkApprovalService, Asker]:
    asker = Asker(*answers)
    return NetworkApprovalService(asker, **kwargs), asker


# -- answers -----------------------------------------------------------------------


def test_accept_allows_this_request_only() -> None:
    service, asker = service_with("accept")

    async def scenario() -> None:
        assert await service.decide(request()) == "allow"
        assert await service.decide(request()) == "allow"

    run(scenario())
    assert len(asker.asked) == 2  # "accept" is not remembered
    approval = asker.asked[0]
    assert approval == NetworkApprovalRequest(
        approval_id=f"network#https#{HOST}#443", host=HOST, port=443, protocol="https",
        command=("network-access", f"https://{HOST}:443"),
        reason=f"{HOST} is not in the allowed_domains",
        proposed_amendments=(NetworkPolicyAmendment(HOST, "allow"),
                             NetworkPolicyAmendment(HOST, "deny")),
        context=CTX)
    assert service.denials_for("call-1") == [] and service.outcome_for("call-1") is None


def test_accept_for_session_is_keyed_by_host_protocol_and_port() -> None:
    service, asker = service_with("acceptForSession", "decline")

    async def scenario() -> None:
        assert await service.decide(request()) == "allow"
        # the same key in another spelling: no prompt
        assert await service.decide(request("API.Example.COM.")) == "allow"
        assert len(asker.asked) == 1
        # same host, other port / other protocol: new questions (declined)
        assert await service.decide(request(port=8443)) == "deny"
        assert await service.decide(request(port=443, protocol="http")) == "deny"
        assert await service.decide(request(port=443, protocol="socks5_tcp")) == "deny"

    run(scenario())
    assert [a.approval_id for a in asker.asked] == [
        f"network#https#{HOST}#443", f"network#https#{HOST}#8443", f"network#http#{HOST}#443",
        f"network#socks5-tcp#{HOST}#443"]


@pytest.mark.parametrize("answer", ["decline", "cancel"])
def test_decline_and_cancel_deny_once_as_the_user(answer: str) -> None:
    service, asker = service_with(answer, "accept")

    async def scenario() -> None:
        assert await service.decide(request()) == "deny"
        assert await service.decide(request()) == "allow"  # asked again

    run(scenario())
    assert len(asker.asked) == 2
    denial = NetworkDenial(HOST, 443, "https", "not_allowed", "rejected by user", by_user=True)
    assert service.denials_for("call-1") == [denial]
    assert outcome_message(denial) == service.outcome_for("call-1") == "rejected by user"


@pytest.mark.parametrize(("protocol", "label", "wire", "rule"), [
    ("http", "http", "http", NetworkProtocol.HTTP),
    ("https_connect", "https", "https", NetworkProtocol.HTTPS),
    ("socks5_tcp", "socks5-tcp", "socks5Tcp", NetworkProtocol.SOCKS5_TCP),
])
def test_amendment_allow_persists_updates_the_live_policy_and_the_session(
        tmp_path: Path, protocol: str, label: str, wire: str, rule: NetworkProtocol) -> None:
    rules = tmp_path / "rules" / "default.rules"
    hooked: list[tuple[str, str]] = []

    def hook(host: str, action: str) -> None:
        hooked.append((host, action))

    service, asker = service_with(NetworkPolicyAmendment(HOST, "allow"), rules_file=rules,
                                  on_amendment=hook)

    async def scenario() -> None:
        assert await service.decide(request(port=80, protocol=protocol)) == "allow"
        assert await service.decide(request(port=80, protocol=protocol)) == "allow"
        assert len(asker.asked) == 1  # treated as for-session
        # another port: asked again; the same amendment is not written twice
        assert await service.decide(request(port=8080, protocol=protocol)) == "allow"

    run(scenario())
    assert asker.asked[0].protocol == wire
    assert asker.asked[0].approval_id == f"network#{label}#{HOST}#80"
    assert hooked == [(HOST, "allow"), (HOST, "allow")]
    proxy_label = {"http": "http", "https": "https_connect", "socks5-tcp": "socks5_tcp"}[label]
    assert load_policy([rules], use_cache=False).network_rules == [
        NetworkRule(HOST, rule, Decision.ALLOW, f"Allow {proxy_label} access to {HOST}")]
    assert rules.read_text().count("network_rule(") == 1
    assert service.errors == []


def test_amendment_deny_persists_and_denies_for_the_session(tmp_path: Path) -> None:
    rules = tmp_path / "default.rules"
    hooked: list[tuple[str, str]] = []

    async def hook(host: str, action: str) -> None:  # an async hook is awaited
        await asyncio.sleep(0)
        hooked.append((host, action))

    service, asker = service_with(NetworkPolicyAmendment(HOST.upper(), "deny"), "accept",
                                  rules_file=rules, on_amendment=hook)

    async def scenario() -> None:
        assert await service.decide(request()) == "deny"
        assert await service.decide(request()) == "deny"  # session-denied: no prompt

    run(scenario())
    assert len(asker.asked) == 1
    assert hooked == [(HOST, "deny")]
    assert load_policy([rules], use_cache=False).network_rules == [
        NetworkRule(HOST, NetworkProtocol.HTTPS, Decision.FORBIDDEN,
                    f"Deny https_connect access to {HOST}")]
    user = NetworkDenial(HOST, 443, "https", "not_allowed", "denied by user", by_user=True)
    session = NetworkDenial(HOST, 443, "https", "not_allowed", blocked_message(HOST, "not_allowed"))
    assert service.denials_for("call-1") == [user, session]
    assert service.outcome_for("call-1") == "rejected by user"


@pytest.mark.parametrize("amendment", [
    NetworkPolicyAmendment("evil.example", "allow"),
    NetworkPolicyAmendment("example.com", "allow"),  # a parent domain is wider
    NetworkPolicyAmendment(f"*.{HOST}", "allow"),
    NetworkPolicyAmendment("", "deny"),
    NetworkPolicyAmendment(HOST, "maybe"),  # type: ignore[arg-type]
])
def test_amendment_for_anything_but_the_shown_host_is_a_decline(
        tmp_path: Path, amendment: NetworkPolicyAmendment, caplog: pytest.LogCaptureFixture,
) -> None:
    rules = tmp_path / "default.rules"
    hooked: list[tuple[str, str]] = []
    service, asker = service_with(amendment, rules_file=rules,
                                  on_amendment=lambda h, a: hooked.append((h, a)))
    with caplog.at_level(logging.WARNING, logger="execguard.runtimes.network_approvals"):
        assert run(service.decide(request())) == "deny"
        assert run(service.decide(request())) == "deny"
    assert len(asker.asked) == 2  # not remembered: the next request asks again
    assert hooked == [] and not rules.exists()
    assert service.outcome_for("call-1") == "rejected by user"
    assert "ignoring network amendment" in caplog.text


def test_unexpected_answers_deny() -> None:
    for answer in ["bogus", None, 42, {"decision": "accept"}, "Accept"]:
        service, _ = service_with(answer)
        assert run(service.decide(request())) == "deny"
        (denial,) = service.denials_for("call-1")
        assert not denial.by_user
        assert denial.message.startswith("Error while requesting approval: unexpected answer")


# -- persistence failures ----------------------------------------------------------


def test_write_failure_still_applies_for_the_session(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    rules = blocker / "default.rules"  # its parent is a file: cannot be written (even as root)
    hooked: list[tuple[str, str]] = []
    service, asker = service_with(NetworkPolicyAmendment(HOST, "allow"), rules_file=rules,
                                  on_amendment=lambda h, a: hooked.append((h, a)))

    async def scenario() -> None:
        assert await service.decide(request()) == "allow"
        assert await service.decide(request()) == "allow"

    with caplog.at_level(logging.WARNING, logger="execguard.runtimes.network_approvals"):
        run(scenario())
    assert len(asker.asked) == 1 and hooked == [(HOST, "allow")]
    (error,) = service.errors
    assert error.startswith(f"Failed to persist network policy amendment (allow {HOST}): ")
    assert "default.rules" in error
    assert error in caplog.text


def test_hook_failure_is_recorded_and_the_answer_stands(tmp_path: Path) -> None:
    def broken(host: str, action: str) -> None:
        raise RuntimeError("policy is frozen")

    rules = tmp_path / "default.rules"
    service, _ = service_with(NetworkPolicyAmendment(HOST, "deny"), rules_file=rules,
                              on_amendment=broken)
    assert run(service.decide(request())) == "deny"
    assert service.errors == [f"Failed to apply network policy amendment (deny {HOST}) to the "
                              "live policy: policy is frozen"]
    assert len(load_policy([rules], use_cache=False).network_rules) == 1  # still persisted


# -- concurrency -------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "verdict"), [("accept", "allow"), ("decline", "deny")])
def test_concurrent_requests_for_one_key_share_one_prompt(answer: str, verdict: str) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        asker = Asker(answer, gate=gate)
        service = NetworkApprovalService(asker)
        contexts = [NetworkCommandContext(("curl",), item_id=f"call-{i % 4}") for i in range(20)]
        tasks = [asyncio.create_task(service.decide(request(context=c))) for c in contexts]
        while not asker.asked:
            await asyncio.sleep(0)
        for _ in range(10):
            await asyncio.sleep(0)
        assert not any(t.done() for t in tasks)  # all held open
        gate.set()
        assert await asyncio.gather(*tasks) == [verdict] * 20
        assert len(asker.asked) == 1
        for i in range(4):  # every command that was refused has its record, once
            expected = [] if verdict == "allow" else [
                NetworkDenial(HOST, 443, "https", "not_allowed", "rejected by user", True)]
            assert service.denials_for(f"call-{i}") == expected

    run(scenario())


def test_different_keys_are_asked_in_parallel() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        asker = Asker("acceptForSession", gate=gate)
        service = NetworkApprovalService(asker)
        keys = [("a.example", 443, "https_connect"), ("a.example", 80, "http"),
                ("b.example", 443, "https_connect"), ("a.example", 443, "socks5_tcp")]
        tasks = [asyncio.create_task(service.decide(request(h, p, proto)))
                 for h, p, proto in keys for _ in range(3)]
        async with asyncio.timeout(5):
            while len(asker.asked) < len(keys):  # all four asked before any answer
                await asyncio.sleep(0.01)
        gate.set()
        assert await asyncio.gather(*tasks) == ["allow"] * len(tasks)
        assert len(asker.asked) == len(keys)

    run(scenario())


@pytest.mark.parametrize("failure", [RuntimeError("client went away"),
                                     asyncio.CancelledError()])
def test_a_failing_prompt_denies_every_waiter_and_is_asked_again(failure: BaseException) -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        asker = Asker(failure, "accept", gate=gate)
        service = NetworkApprovalService(asker)
        tasks = [asyncio.create_task(service.decide(request())) for _ in range(5)]
        while not asker.asked:
            await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*tasks) == ["deny"] * 5
        assert len(asker.asked) == 1
        (denial,) = service.denials_for("call-1")
        assert not denial.by_user
        if isinstance(failure, RuntimeError):
            assert denial.message == "Error while requesting approval: client went away"
        else:
            assert denial.message == POLICY_MESSAGE
        assert await service.decide(request()) == "allow"  # a fresh prompt
        assert len(asker.asked) == 2

    run(scenario())


def test_a_waiter_going_away_does_not_cancel_the_prompt() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        asker = Asker("acceptForSession", gate=gate)
        service = NetworkApprovalService(asker)
        first = asyncio.create_task(service.decide(request()))
        second = asyncio.create_task(service.decide(request()))
        while not asker.asked:
            await asyncio.sleep(0)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        assert first.cancelled()
        gate.set()
        assert await second == "allow"
        assert await service.decide(request()) == "allow"
        assert len(asker.asked) == 1

    run(scenario())


def test_close_denies_pending_and_later_requests() -> None:
    async def scenario() -> None:
        asker = Asker("accept", gate=asyncio.Event())  # never answers
        service = NetworkApprovalService(asker)
        tasks = [asyncio.create_task(service.decide(request())) for _ in range(3)]
        while not asker.asked:
            await asyncio.sleep(0)
        service.close()
        assert await asyncio.gather(*tasks) == ["deny"] * 3
        assert await service.decide(request(port=8443)) == "deny"
        assert len(asker.asked) == 1
        service.close()  # idempotent

    run(scenario())


# -- when nobody may be asked ------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "context"), [
    ({"callback": None}, CTX),
    ({}, NetworkCommandContext(item_id="call-1", approval_policy="never")),
    ({}, NetworkCommandContext(item_id="call-1", sandbox_type="dangerFullAccess")),
    ({}, NetworkCommandContext(item_id="call-1", sandbox_type="externalSandbox")),
    ({}, NetworkCommandContext(item_id="call-1", sandbox_type="somethingNew")),
])
def test_no_prompt_possible_denies_with_the_policy_message(kwargs: dict[str, Any],
                                                           context: NetworkCommandContext) -> None:
    asker = Asker("accept")
    service = NetworkApprovalService(kwargs.get("callback", asker))
    assert run(service.decide(request(context=context))) == "deny"
    assert asker.asked == []
    assert service.denials_for("call-1") == [
        NetworkDenial(HOST, 443, "https", "not_allowed", POLICY_MESSAGE)]
    assert service.outcome_for("call-1") == POLICY_MESSAGE


@pytest.mark.parametrize(("kwargs", "prompts"), [
    ({}, True),
    ({"approval_policy": "never"}, False),
    ({"sandbox_type": "workspaceWrite"}, True),
    ({"sandbox_type": "dangerFullAccess"}, False),
])
def test_requests_without_a_command_context_use_the_service_defaults(
        kwargs: dict[str, Any], prompts: bool) -> None:
    service, asker = service_with("accept", **kwargs)
    for context in (None, "some other tag"):
        assert run(service.decide(request(context=context))) == ("allow" if prompts else "deny")
    assert len(asker.asked) == (2 if prompts else 0)
    assert all(a.context is None for a in asker.asked)


def test_session_grants_apply_even_where_no_prompt_could_be_shown() -> None:
    service, asker = service_with("acceptForSession")
    never = NetworkCommandContext(item_id="call-2", approval_policy="never")
    assert run(service.decide(request())) == "allow"
    assert run(service.decide(request(context=never))) == "allow"
    assert run(service.decide(request(port=1, context=never))) == "deny"
    assert len(asker.asked) == 1


def test_empty_host_and_unknown_protocol_are_denied_without_asking() -> None:
    service, asker = service_with("accept")
    assert run(service.decide(request(host=" "))) == "deny"
    assert run(service.decide(request(protocol="gopher"))) == "deny"
    assert asker.asked == []
    assert [d.message for d in service.denials_for("call-1")] == [
        "Network access was blocked by policy.",
        f'Network access to "gopher://{HOST}:443" was blocked by policy.']


# -- records and messages ----------------------------------------------------------


@pytest.mark.parametrize(("reason", "detail"), [
    ("denied", "domain is explicitly denied by policy and cannot be approved from this prompt"),
    ("not_allowed", "domain is not on the allowlist for the current sandbox mode"),
    ("not_allowed_local", "local/private network addresses are blocked by the sandbox policy"),
    ("method_not_allowed", "request method is blocked by the current network mode"),
    ("proxy_disabled", "network proxy is disabled"),
    ("mitm_required", "request is blocked by network policy"),
    ("", "request is blocked by network policy"),
])
def test_outcome_messages(reason: str, detail: str) -> None:
    expected = f'Network access to "x.example" was blocked: {detail}.'
    assert blocked_message("x.example", reason) == expected
    assert blocked_message("  ", reason) == "Network access was blocked by policy."
    policy = NetworkDenial("x.example", 80, "http", reason, "")
    assert outcome_message(policy) == expected
    assert outcome_message(NetworkDenial("x.example", 80, "http", reason, "custom")) == "custom"
    for message in ("denied by user", "rejected by user"):
        user = NetworkDenial("x.example", 80, "http", reason, message, by_user=True)
        assert outcome_message(user) == "rejected by user"


def blocked(host: str, reason: str, *, context: object = CTX, source: str = "baseline_policy",
            decision: str = "deny", protocol: str = "https_connect") -> BlockedRequest:
    return BlockedRequest(reason=reason, host=host, port=443, protocol=protocol,  # type: ignore[arg-type]
                          source=source, decision=decision, context=context)


def test_record_blocked_feeds_the_same_record() -> None:
    service = NetworkApprovalService()
    service.record_blocked(blocked("denied.example", "denied"))
    service.record_blocked(blocked("denied.example", "denied"))  # kept once
    service.record_blocked(blocked("10.0.0.1", "not_allowed_local", protocol="socks5_tcp"))
    service.record_blocked(blocked("x.example", "not_allowed", source="decider"))  # decide() did
    service.record_blocked(blocked("x.example", "not_allowed", decision="ask"))
    service.record_blocked(blocked("y.example", "denied", context="not a command context"))
    service.record_blocked(blocked("y.example", "denied", context=NetworkCommandContext()))
    assert service.denials_for("call-1") == [
        NetworkDenial("denied.example", 443, "https", "denied",
                      blocked_message("denied.example", "denied")),
        NetworkDenial("10.0.0.1", 443, "socks5-tcp", "not_allowed_local",
                      blocked_message("10.0.0.1", "not_allowed_local")),
    ]
    assert service.outcome_for("call-1") == (
        'Network access to "denied.example" was blocked: domain is explicitly denied by policy '
        "and cannot be approved from this prompt.")
    service.denials_for("call-1").clear()  # a copy
    assert len(service.denials_for("call-1")) == 2
    service.forget("call-1")
    assert service.denials_for("call-1") == [] and service.outcome_for("call-1") is None
    service.forget("call-1")  # unknown ids are fine


def test_records_are_per_item_and_bounded() -> None:
    service = NetworkApprovalService()
    other = NetworkCommandContext(item_id="call-2")
    for port in range(500):
        run(service.decide(request(port=port)))
    run(service.decide(request(context=other)))
    assert len(service.denials_for("call-1")) == 100
    assert len(service.denials_for("call-2")) == 1


# -- wire shapes -------------------------------------------------------------------


def validate(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "$") -> None:
    """The subset of JSON Schema (draft 7) the app-server schemas use."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        validate(value, root["definitions"][name], root, path)
        return
    kinds = schema.get("type")
    if kinds is not None:
        checks = {"string": lambda v: isinstance(v, str), "null": lambda v: v is None,
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
                  "boolean": lambda v: isinstance(v, bool)}
        allowed = [kinds] if isinstance(kinds, str) else kinds
        assert any(checks[k](value) for k in allowed), f"{path}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    for sub in schema.get("allOf", []):
        validate(value, sub, root, path)
    for keyword, wanted in (("anyOf", None), ("oneOf", 1)):
        if keyword in schema:
            passing = sum(_valid(value, sub, root) for sub in schema[keyword])
            assert passing >= 1 if wanted is None else passing == wanted, (
                f"{path}: {passing} of {keyword} match {value!r}")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{path}: missing {name}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(properties), f"{path}: extra {set(value) - set(properties)}"
        for name, item in value.items():
            if name in properties:
                validate(item, properties[name], root, f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], root, f"{path}[{index}]")


def _valid(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    try:
        validate(value, schema, root)
    except AssertionError:
        return False
    return True


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


def test_the_validator_rejects_what_it_should() -> None:
    schema = load_schema("CommandExecutionRequestApprovalParams")
    good = {"threadId": "t", "turnId": "u", "itemId": "i", "startedAtMs": 1}
    validate(good, schema, schema)
    for bad in [{**good, "startedAtMs": "1"}, {**good, "kind": "other"},
                {**good, "networkApprovalContext": {"host": "h", "protocol": "ftp"}},
                {**good, "proposedNetworkPolicyAmendments": [{"host": "h"}]},
                {k: v for k, v in good.items() if k != "turnId"}]:
        assert not _valid(bad, schema, schema), bad


@pytest.mark.parametrize(("protocol", "wire", "command"), [
    ("https_connect", "https", f"network-access https://{HOST}:443"),
    ("http", "http", f"network-access http://{HOST}:443"),
    ("socks5_tcp", "socks5Tcp", f"network-access socks5-tcp://{HOST}:443"),
])
def test_approval_request_params_match_the_schema(protocol: str, wire: str, command: str) -> None:
    service, asker = service_with("decline")
    run(service.decide(request(protocol=protocol)))
    params = approval_request_params(asker.asked[0], thread_id="thr", turn_id="turn",
                                     item_id="call-1", started_at_ms=1_700_000_000_000)
    schema = load_schema("CommandExecutionRequestApprovalParams")
    validate(params, schema, schema)
    assert set(params) <= set(schema["properties"])
    label = command.split()[1].split(":")[0]
    assert params == {
        "threadId": "thr", "turnId": "turn", "itemId": "call-1",
        "approvalId": f"network#{label}#{HOST}#443",
        "command": command, "cwd": "/work", "reason": f"{HOST} is not in the allowed_domains",
        "kind": "command",
        "networkApprovalContext": {"host": HOST, "protocol": wire},
        "proposedNetworkPolicyAmendments": [{"host": HOST, "action": "allow"},
                                            {"host": HOST, "action": "deny"}],
        "proposedExecpolicyAmendment": None, "commandActions": None,
        "startedAtMs": 1_700_000_000_000,
    }
    json.dumps(params)  # plain JSON


def test_approval_request_params_quote_and_tolerate_no_context() -> None:
    approval = NetworkApprovalRequest("network#http#h#80", "h", 80, "http",
                                      ("network-access", "it's here"), "r", ())
    params = approval_request_params(approval, thread_id="t", turn_id="u", item_id="i",
                                     started_at_ms=0)
    assert params["command"] == "network-access 'it'\"'\"'s here'"
    assert params["cwd"] is None and params["proposedNetworkPolicyAmendments"] == []
    schema = load_schema("CommandExecutionRequestApprovalParams")
    validate(params, schema, schema)


VALID_DECISIONS: list[tuple[object, NetworkApprovalAnswer]] = [
    ("accept", "accept"),
    ("acceptForSession", "acceptForSession"),
    ("decline", "decline"),
    ("cancel", "cancel"),
    ({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["curl", "x"]}}, "accept"),
    ({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": []}}, "accept"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment":
                                      {"host": HOST, "action": "allow"}}},
     NetworkPolicyAmendment(HOST, "allow")),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment":
                                      {"host": HOST, "action": "deny", "extra": 1}}},
     NetworkPolicyAmendment(HOST, "deny")),
]


@pytest.mark.parametrize(("wire", "answer"), VALID_DECISIONS)
def test_parse_approval_decision(wire: object, answer: NetworkApprovalAnswer) -> None:
    schema = load_schema("CommandExecutionRequestApprovalResponse")
    validate({"decision": wire}, schema, schema)
    assert parse_approval_decision(wire) == answer
    assert parse_approval_decision(json.loads(json.dumps(wire))) == answer


INVALID_DECISIONS: list[tuple[object, str]] = [
    ("approved", "decision: expected one of \"accept\""),
    ("", "decision: expected one of"),
    (None, "decision: expected one of"),
    (1, "decision: expected one of"),
    ([], "decision: expected one of"),
    ({}, "decision: expected one of"),
    ({"accept": {}}, "decision: unknown decision 'accept'"),
    ({"acceptForSession": {}, "decline": {}}, "decision: expected one of"),
    ({"acceptWithExecpolicyAmendment": {}},
     "decision.acceptWithExecpolicyAmendment.execpolicy_amendment: missing field"),
    ({"acceptWithExecpolicyAmendment": "x"},
     "decision.acceptWithExecpolicyAmendment: expected an object"),
    ({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": "curl"}},
     "decision.acceptWithExecpolicyAmendment.execpolicy_amendment: expected an array of strings"),
    ({"acceptWithExecpolicyAmendment": {"execpolicy_amendment": [1]}},
     "execpolicy_amendment: expected an array of strings"),
    ({"applyNetworkPolicyAmendment": {}},
     "decision.applyNetworkPolicyAmendment.network_policy_amendment: missing field"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment": None}},
     "decision.applyNetworkPolicyAmendment.network_policy_amendment: expected an object"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment": {"action": "allow"}}},
     "decision.applyNetworkPolicyAmendment.network_policy_amendment.host: missing field"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment": {"host": 3, "action": "allow"}}},
     "network_policy_amendment.host: expected a string"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment": {"host": "h"}}},
     "network_policy_amendment.action: missing field"),
    ({"applyNetworkPolicyAmendment": {"network_policy_amendment":
                                      {"host": "h", "action": "ask"}}},
     "network_policy_amendment.action: expected \"allow\" or \"deny\" (got 'ask')"),
]


@pytest.mark.parametrize(("wire", "error"), INVALID_DECISIONS)
def test_parse_approval_decision_rejects_clearly(wire: object, error: str) -> None:
    schema = load_schema("CommandExecutionRequestApprovalResponse")
    assert not _valid({"decision": wire}, schema, schema)  # the schema agrees
    with pytest.raises(ValueError) as info:
        parse_approval_decision(wire)
    assert error in str(info.value)


# -- through the real proxy --------------------------------------------------------


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def proxied_get(proxy_port: int, url: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        authority = url.split("/")[2]
        writer.write(f"GET {url} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
                     .encode())
        await writer.drain()
        raw = await reader.read(-1)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_through_the_real_proxy(http_server: int) -> None:
    port = http_server

    async def resolver(host: str, _port: int) -> Sequence[str]:
        if host in ("ask.test", "localhost"):
            return ["127.0.0.1"]
        raise OSError(f"unknown host {host}")

    asker = Asker("accept", "decline")
    service = NetworkApprovalService(asker)
    context = NetworkCommandContext(("curl", "http://ask.test/"), cwd="/tmp", item_id="call-9")
    policy = NetworkPolicy(DomainPolicy(["localhost"], ["denied.test"]), decider=service.decide,
                           observer=service.record_blocked, allow_local_binding=True,
                           resolver=resolver)

    async def scenario() -> None:
        async with NetworkProxy(policy, context=context) as proxy:
            status, body = await proxied_get(proxy.http_port, f"http://ask.test:{port}/one")
            assert (status, body) == (200, b"hello /one")
            status, body = await proxied_get(proxy.http_port, f"http://ask.test:{port}/two")
            assert status == 403
            assert json.loads(body) == {
                "status": "blocked", "host": "ask.test", "reason": "not_allowed",
                "decision": "deny", "source": "decider", "protocol": "http", "port": port,
                "message": "Domain not in allowlist."}
            status, _ = await proxied_get(proxy.http_port, "http://denied.test/")
            assert status == 403
            status, body = await proxied_get(proxy.http_port, f"http://localhost:{port}/ok")
            assert (status, body) == (200, b"hello /ok")  # allow list: no prompt

    run(scenario())
    assert [a.approval_id for a in asker.asked] == [f"network#http#ask.test#{port}"] * 2
    assert asker.asked[0].context == context and asker.asked[0].protocol == "http"
    assert service.denials_for("call-9") == [
        NetworkDenial("ask.test", port, "http", "not_allowed", "rejected by user", True),
        NetworkDenial("denied.test", 80, "http", "denied",
                      blocked_message("denied.test", "denied")),
    ]
    assert service.outcome_for("call-9") == "rejected by user"


# -- the safety property -----------------------------------------------------------

HOSTS = ["a.test", "b.test", "c.test"]
PROTOCOLS = ["http", "https_connect", "socks5_tcp"]
LABELS = {"http": "http", "https_connect": "https", "socks5_tcp": "socks5-tcp"}

answers = st.one_of(
    st.sampled_from(["accept", "acceptForSession", "decline", "cancel", "raise", "bogus", None]),
    st.builds(NetworkPolicyAmendment, st.sampled_from([*HOSTS, "A.TEST.", "other.test", ""]),
              st.sampled_from(["allow", "deny", "ask"])),
)
steps = st.lists(st.tuples(st.sampled_from(HOSTS), st.sampled_from([80, 443]),
                           st.sampled_from(PROTOCOLS), answers), max_size=25)


def grants(answer: object, host: str) -> bool:
    if isinstance(answer, NetworkPolicyAmendment):
        return answer.action == "allow" and normalize_host(answer.host) == host
    return answer in ("accept", "acceptForSession")


@settings(max_examples=150, deadline=None)
@given(allowed=st.sets(st.sampled_from(HOSTS)), denied=st.sets(st.sampled_from(HOSTS)),
       script=steps)
def test_unknown_never_becomes_allow(allowed: set[str], denied: set[str],
                                     script: list[tuple[str, int, str, object]]) -> None:
    pending: list[object] = []
    asked: list[NetworkApprovalRequest] = []

    async def callback(approval: NetworkApprovalRequest) -> NetworkApprovalAnswer:
        asked.append(approval)
        answer = pending.pop()
        if answer == "raise":
            raise RuntimeError("no answer")
        return cast(NetworkApprovalAnswer, answer)

    async def resolver(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34"]  # public: only the lists and the decider decide

    policy = NetworkPolicy(DomainPolicy(allowed, denied - allowed), resolver=resolver)

    def hook(host: str, action: str) -> None:
        allow, deny = set(policy.domains.allowed), set(policy.domains.denied)
        (allow if action == "allow" else deny).add(host)
        (deny if action == "allow" else allow).discard(host)
        policy.domains = DomainPolicy(allow, deny)

    service = NetworkApprovalService(callback, on_amendment=hook)
    policy.decider = service.decide
    granted: set[tuple[str, str, int]] = set()  # the model's session grants

    async def scenario() -> None:
        for host, port, protocol, answer in script:
            key = (host, LABELS[protocol], port)
            listed = policy.domains.is_allowed(host) and not policy.domains.is_denied(host)
            pending[:] = [answer]
            before = len(asked)
            decision = await policy.evaluate(request(host, port, protocol))
            prompted = len(asked) > before
            assert len(asked) - before <= 1
            if decision.allowed:
                assert listed or key in granted or (prompted and grants(answer, host))
            if prompted:
                assert not listed and key not in granted
                assert decision.allowed == grants(answer, host)
                if grants(answer, host) and answer != "accept":
                    granted.add(key)
            elif key in granted and not policy.domains.is_denied(host):
                assert decision.allowed

    run(scenario())
