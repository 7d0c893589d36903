"""`shellTool/run` and `shellTool/cancel` end to end: the real `execguard
app-server` process over stdio, a scripted client answering
``item/commandExecution/requestApproval``, real commands in the real sandbox.

Every server runs with ``EXECGUARD_HOME`` in a temporary directory (the user
rules: ``rules/test.rules`` below, and ``rules/default.rules``, where
amendments go) and a temporary cwd outside any git checkout (no project
rules; an untrusted project's would not be read anyway), so the rules are
the shipped policy plus :data:`RULES`.

Nothing is mocked: a command that ran left a file behind, one that never
started left none.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from execguard.runtimes.shell_tool import REJECTED_BY_USER, RETRY_REASON, SANDBOX_DENIED_HINT
from tests.test_app_server import StdioClient, WsClient, WsServer, _wait_gone
from tests.test_network_approvals import load_schema, validate

APPROVAL = "item/commandExecution/requestApproval"
DELTA = "item/commandExecution/outputDelta"
EVENT = "shellTool/event"
RUN = "shellTool/run"
CANCEL = "shellTool/cancel"
BWRAP = "bubblewrap"

RULES = """\
prefix_rule(pattern=["mkdir"], decision="prompt", justification="creates directories")
prefix_rule(pattern=["rm"], decision="forbidden", justification="nothing is deleted here")
"""
MKDIR_REASON_END = "requires approval: creates directories"
AMENDMENT_LINE = 'prefix_rule(pattern=["touch", "f"], decision="allow")'


# -- the test bed ----------------------------------------------------------------------


@dataclass
class Bed:
    """An isolated EXECGUARD_HOME and cwd, and the servers started on them."""

    root: Path
    home: Path
    cwd: Path
    env: dict[str, str]
    clients: list[StdioClient] = field(default_factory=list)

    @property
    def user_rules(self) -> Path:
        return self.home / "rules" / "default.rules"

    def server(self, *args: str, initialize: bool = True) -> StdioClient:
        client = StdioClient(cwd=self.cwd, env=self.env, args=args)
        self.clients.append(client)
        if initialize:
            client.initialize()
        return client


@pytest.fixture
def bed(tmp_path: Path) -> Iterator[Bed]:
    home = tmp_path / "home"
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "test.rules").write_text(RULES)
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        # No login profile of the machine's user: `bash -lc` stays quiet.
        "HOME": str(tmp_path),
        "EXECGUARD_HOME": str(home),
        "EXECGUARD_CACHE_DIR": os.environ.get("EXECGUARD_CACHE_DIR",
                                              str(tmp_path / "policy-cache")),
    }
    made = Bed(tmp_path, home, cwd, env)
    yield made
    for client in made.clients:
        # Ended by EOF, not killed: the server removes the sandbox's mount
        # placeholders (`/tmp/.git`, ...) on its way out.
        with contextlib.suppress(Exception):
            client.close(timeout=10)
        client.kill()


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside every writable root of the workspace-write sandbox
    (but writable outside it: an unsandboxed retry may create files here)."""
    path = Path(tempfile.mkdtemp(prefix="execguard-rpc-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- client side helpers ---------------------------------------------------------------


def start(client: StdioClient | WsClient, command: list[str] | str, **params: Any) -> Any:
    """Send a `shellTool/run` (no waiting); the request id."""
    return client.request(RUN, {"command": command, **params})


def result_of(client: StdioClient | WsClient, request_id: Any, timeout: float = 15.0
              ) -> dict[str, Any]:
    message = client.wait(request_id, timeout)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


def error_of(client: StdioClient, request_id: Any) -> tuple[int, str]:
    message = client.wait(request_id)
    assert "error" in message, message
    return message["error"]["code"], message["error"]["message"]


def questions(client: StdioClient | WsClient) -> list[dict[str, Any]]:
    """Every approval request so far."""
    return client.messages(APPROVAL, 0, timeout=0)


def question(client: StdioClient | WsClient, number: int) -> dict[str, Any]:
    """The ``number``-th approval request of the connection (1-based), once it came."""
    found = client.messages(APPROVAL, number)
    assert len(found) >= number, f"only {len(found)} approval requests"
    return found[number - 1]


def answer(client: StdioClient | WsClient, request: dict[str, Any], decision: Any) -> None:
    client.send({"id": request["id"], "result": {"decision": decision}})


def of_item(client: StdioClient | WsClient, method: str, item_id: str) -> list[dict[str, Any]]:
    return [n["params"] for n in client.messages(method, 0, timeout=0)
            if n["params"].get("itemId") == item_id]


def events(client: StdioClient | WsClient, item_id: str) -> list[dict[str, Any]]:
    return [p["event"] for p in of_item(client, EVENT, item_id)]


def event_types(client: StdioClient | WsClient, item_id: str) -> list[str]:
    return [event["type"] for event in events(client, item_id)]


def streamed(client: StdioClient, item_id: str, stream: str | None = None) -> str:
    return "".join(d["delta"] for d in of_item(client, DELTA, item_id)
                   if stream is None or d["stream"] == stream)


def timeline(client: StdioClient, item_id: str, request_id: Any) -> list[str]:
    """What reached the client about one call, in arrival order: events by
    type, ``?`` for an approval request, ``delta``, and ``response``."""
    labels: list[str] = []
    notifications = iter(client.notifications)
    for kind, key in list(client.order):
        if kind == "response":
            if key == request_id:
                labels.append("response")
            continue
        message = next(notifications)
        params = message.get("params") or {}
        if params.get("itemId") != item_id:
            continue
        if message["method"] == EVENT:
            labels.append(params["event"]["type"])
        elif message["method"] == APPROVAL:
            labels.append("?")
        elif message["method"] == DELTA:
            labels.append("delta")
        else:
            labels.append(message["method"])
    # Consecutive deltas count once: their number depends on the pipe's timing.
    return [label for i, label in enumerate(labels)
            if not (label == "delta" and i > 0 and labels[i - 1] == "delta")]


def assert_events_carry_no_output(client: StdioClient | WsClient) -> None:
    for params in (n["params"] for n in client.messages(EVENT, 0, timeout=0)):
        assert {"threadId", "turnId", "itemId", "event"} == set(params)
        assert not {"stdout", "stderr"} & set(params["event"]), params


def assert_never_ran(result: dict[str, Any]) -> None:
    assert result["attempts"] == [] and result["exitCode"] is None
    assert result["sandbox"] is None
    assert result["stdout"] == "" and result["stderr"] == ""


def sleeping_pid(client: StdioClient, timeout: float = 10.0) -> int:
    """The pid of the (one) `sleep` the server runs."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[int] = [p.pid for p in client.descendants() if _name(p) == "sleep"]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, "no sleep process"
        time.sleep(0.05)


def _name(process: Any) -> str | None:
    try:
        name: str = process.name()
    except Exception:
        return None
    return name


# -- 1: the question ---------------------------------------------------------------------


def test_a_prompt_asks_with_codex_params_and_accept_runs(bed: Bed) -> None:
    client = bed.server()
    schema = load_schema("CommandExecutionRequestApprovalParams")
    before_ms = int(time.time() * 1000)
    script = "mkdir made && echo made"
    run = start(client, script, itemId="item-1", threadId="thread-1", turnId="turn-1")
    request = question(client, 1)
    params = request["params"]
    assert isinstance(request["id"], str | int)
    validate(params, schema, schema)
    assert set(params) <= set(schema["properties"])
    for key in ("threadId", "turnId", "itemId", "approvalId", "command", "cwd", "reason",
                "kind", "commandActions", "proposedExecpolicyAmendment", "startedAtMs"):
        assert key in params, key
    assert (params["threadId"], params["turnId"], params["itemId"]) == (
        "thread-1", "turn-1", "item-1")
    assert params["approvalId"] is None and params["kind"] == "command"
    assert params["command"] == f"bash -lc '{script}'"
    assert params["cwd"] == str(bed.cwd)
    assert isinstance(params["reason"], str) and params["reason"].endswith(MKDIR_REASON_END)
    assert params["proposedExecpolicyAmendment"] is None  # a rule's prompt proposes none
    actions = params["commandActions"]
    assert isinstance(actions, list) and actions
    assert all(isinstance(a, dict) and isinstance(a.get("type"), str) for a in actions)
    assert isinstance(params["startedAtMs"], int)
    assert before_ms - 1000 <= params["startedAtMs"] <= int(time.time() * 1000) + 1000
    assert not (bed.cwd / "made").exists()  # nothing runs before the answer

    answer(client, request, "accept")
    result = result_of(client, run)
    assert result["itemId"] == "item-1" and result["callId"] == "item-1"
    assert result["status"] == "completed" and result["exitCode"] == 0, result
    assert result["cancelled"] is False and result["reason"] is None
    assert result["approvals"] == [{"kind": "command", "answer": "accept"}]
    assert result["sandbox"] == BWRAP  # an approved prompt still runs sandboxed
    assert result["stdout"] == "made\n" == streamed(client, "item-1", "stdout")
    assert (bed.cwd / "made").is_dir()
    # Every step as an event, the question after the events before it, the
    # output between the run's start and end, the response last.
    assert timeline(client, "item-1", run) == [
        "decision", "approvalRequested", "?", "approval", "runStarted", "delta", "runEnded",
        "result", "response"]
    # The result event is the response without the output.
    final = events(client, "item-1")[-1]
    assert final == {"type": "result", **{k: v for k, v in result.items()
                                          if k not in ("itemId", "stdout", "stderr")}}
    deltas = of_item(client, DELTA, "item-1")
    assert all(set(d) == {"threadId", "turnId", "itemId", "delta", "stream"} for d in deltas)
    assert {(d["threadId"], d["turnId"]) for d in deltas} == {("thread-1", "turn-1")}

    # Without ids: itemId `tool-<request id>`, turnId the item, threadId the default.
    second = start(client, ["mkdir", "second"])
    params = question(client, 2)["params"]
    item = f"tool-{second}"
    assert (params["itemId"], params["turnId"], params["threadId"]) == (item, item, "shellTool")
    assert params["command"] == "mkdir second"
    assert params["commandActions"] == [{"type": "unknown", "command": "mkdir second"}]
    validate(params, schema, schema)
    answer(client, question(client, 2), "accept")
    assert result_of(client, second)["itemId"] == item
    assert (bed.cwd / "second").is_dir()
    assert_events_carry_no_output(client)


# -- 2, 3: every answer ------------------------------------------------------------------


def test_decline_cancel_and_every_malformed_answer_refuse(bed: Bed) -> None:
    client = bed.server()
    refusals: list[tuple[str, dict[str, Any], bool]] = [
        ("decline", {"result": {"decision": "decline"}}, False),
        ("cancel", {"result": {"decision": "cancel"}}, True),
        ("error", {"error": {"code": -32000, "message": "no UI here"}}, False),
        ("unknown-word", {"result": {"decision": "yes"}}, False),
        ("case", {"result": {"decision": "Accept"}}, False),
        ("null", {"result": {"decision": None}}, False),
        ("missing", {"result": {}}, False),
        ("not-an-object", {"result": "accept"}, False),
        ("empty-amendment", {"result": {"decision": {"acceptWithExecpolicyAmendment": {
            "execpolicy_amendment": []}}}}, False),
        ("string-amendment", {"result": {"decision": {"acceptWithExecpolicyAmendment": {
            "execpolicy_amendment": "mkdir"}}}}, False),
        ("extra-key", {"result": {"decision": {"acceptWithExecpolicyAmendment": {
            "execpolicy_amendment": ["mkdir"]}, "also": 1}}}, False),
    ]
    for number, (name, reply, cancelled) in enumerate(refusals, start=1):
        target = f"dir-{name}"
        run = start(client, ["mkdir", target], itemId=name)
        request = question(client, number)
        assert request["params"]["itemId"] == name
        client.send({"id": request["id"], **reply})
        result = result_of(client, run)
        assert result["status"] == "declined", (name, result)
        assert result["reason"] == REJECTED_BY_USER, (name, result)
        assert result["cancelled"] is cancelled, name
        assert result["approvals"] == [{"kind": "command",
                                        "answer": "cancel" if cancelled else "decline"}], name
        assert_never_ran(result)
        assert not (bed.cwd / target).exists(), name
        assert event_types(client, name) == ["decision", "approvalRequested", "approval",
                                             "result"], name
        assert of_item(client, DELTA, name) == []
    assert not (bed.user_rules).exists()  # no malformed amendment was written
    # The connection still works.
    assert result_of(client, start(client, ["echo", "alive"]))["stdout"] == "alive\n"


def test_accept_for_session_lasts_for_the_connection(bed: Bed) -> None:
    client = bed.server()
    script = "mkdir -p session-dir && echo ran"
    first = start(client, script, itemId="first")
    answer(client, question(client, 1), "acceptForSession")
    result = result_of(client, first)
    assert result["status"] == "completed" and result["stdout"] == "ran\n"
    assert result["approvals"] == [{"kind": "command", "answer": "acceptForSession"}]

    # The same command in the same place: not asked again on this connection.
    again = result_of(client, start(client, script, itemId="again"))
    assert again["status"] == "completed" and again["stdout"] == "ran\n"
    assert again["approvals"] == [{"kind": "command", "answer": "cached"}]
    assert len(questions(client)) == 1
    cached = [e for e in events(client, "again") if e["type"] == "approval"]
    assert cached == [{"type": "approval", "callId": "again", "kind": "command",
                       "answer": "cached", "source": "session"}]
    # Elsewhere it is another command: asked.
    (bed.cwd / "sub").mkdir()
    elsewhere = start(client, script, cwd="sub")
    assert question(client, 2)["params"]["cwd"] == str(bed.cwd / "sub")
    answer(client, question(client, 2), "decline")
    assert result_of(client, elsewhere)["status"] == "declined"
    assert not (bed.cwd / "sub" / "session-dir").exists()

    # A new connection (a new server) asks again.
    fresh = bed.server()
    later = start(fresh, script)
    answer(fresh, question(fresh, 1), "decline")
    assert result_of(fresh, later)["status"] == "declined"


def test_an_accepted_amendment_is_written_and_applies_here_and_in_new_servers(
        bed: Bed) -> None:
    client = bed.server()
    rules_before = (bed.home / "rules" / "test.rules").read_text()
    run = start(client, ["touch", "f"], approvalPolicy="untrusted", itemId="amend")
    request = question(client, 1)
    assert request["params"]["proposedExecpolicyAmendment"] == ["touch", "f"]
    assert request["params"]["reason"] is None
    answer(client, request, {"acceptWithExecpolicyAmendment": {
        "execpolicy_amendment": ["touch", "f"]}})
    result = result_of(client, run)
    assert result["status"] == "completed", result
    assert result["amendment"] == ["touch", "f"]
    assert result["approvals"] == [{"kind": "command", "answer": {
        "acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["touch", "f"]}}}]
    assert result["sandbox"] == BWRAP  # judged before the amendment: stays sandboxed
    assert (bed.cwd / "f").exists()
    assert AMENDMENT_LINE in bed.user_rules.read_text().splitlines()
    assert (bed.home / "rules" / "test.rules").read_text() == rules_before
    amendment_events = [e for e in events(client, "amend") if e["type"] == "amendment"]
    assert amendment_events == [{"type": "amendment", "callId": "amend",
                                 "tokens": ["touch", "f"], "rulesFile": str(bed.user_rules),
                                 "error": None}]

    # The same connection: allowed by the new rule now (so outside the sandbox).
    (bed.cwd / "f").unlink()
    now = result_of(client, start(client, ["touch", "f"], approvalPolicy="untrusted"))
    assert now["status"] == "completed" and now["approvals"] == []
    assert now["decision"]["requirement"]["type"] == "skip"
    assert now["decision"]["requirement"]["bypassSandbox"] is True
    assert now["sandbox"] is None and (bed.cwd / "f").exists()
    assert len(questions(client)) == 1

    # A new server reads it from the user rules file.
    (bed.cwd / "f").unlink()
    fresh = bed.server()
    later = result_of(fresh, start(fresh, ["touch", "f"], approvalPolicy="untrusted"))
    assert later["status"] == "completed" and later["approvals"] == []
    assert questions(fresh) == [] and (bed.cwd / "f").exists()
    # Only that prefix: another file is still asked about.
    other = start(fresh, ["touch", "g"], approvalPolicy="untrusted")
    answer(fresh, question(fresh, 1), "decline")
    assert result_of(fresh, other)["status"] == "declined"
    assert not (bed.cwd / "g").exists()


def test_an_amendment_accepted_on_one_websocket_connection_applies_to_new_ones(
        bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """One server, several connections: an amendment written to the user
    rules file is a persistent answer; a connection opened after it must not
    be asked again (a new stdio server is not, see above)."""
    monkeypatch.setenv("EXECGUARD_HOME", bed.env["EXECGUARD_HOME"])
    monkeypatch.setenv("HOME", bed.env["HOME"])
    monkeypatch.chdir(bed.cwd)
    server = WsServer("--listen", "ws://127.0.0.1:0")
    opened: list[WsClient] = []
    try:
        first = WsClient(server.url)
        opened.append(first)
        first.initialize()
        run = start(first, ["touch", "f"], approvalPolicy="untrusted")
        answer(first, question(first, 1), {"acceptWithExecpolicyAmendment": {
            "execpolicy_amendment": ["touch", "f"]}})
        assert result_of(first, run)["status"] == "completed"
        assert AMENDMENT_LINE in bed.user_rules.read_text()

        later = WsClient(server.url)
        opened.append(later)
        later.initialize()
        run = start(later, ["touch", "f"], approvalPolicy="untrusted")
        deadline = time.monotonic() + 10
        while run not in later.responses and not questions(later):
            assert time.monotonic() < deadline, "neither a response nor a question"
            time.sleep(0.02)
        asked = questions(later)
        if asked:
            answer(later, asked[0], "decline")
        assert asked == [], ("a connection opened after the amendment was asked again: "
                             f"{asked[0]['params']}")
        assert result_of(later, run)["status"] == "completed"
    finally:
        for client in opened:
            client.close()
        server.stop()


# -- 4: output ---------------------------------------------------------------------------


def test_output_streams_in_order_before_the_response(bed: Bed) -> None:
    client = bed.server()
    run = start(client, "printf a; sleep 0.3; printf b; printf c >&2; printf d",
                itemId="stream")
    result = result_of(client, run)
    assert result["status"] == "completed", result
    deltas = of_item(client, DELTA, "stream")
    assert streamed(client, "stream", "stdout") == "abd" == result["stdout"]
    assert streamed(client, "stream", "stderr") == "c" == result["stderr"]
    assert {d["stream"] for d in deltas} == {"stdout", "stderr"}
    # `a` went out while the command was still sleeping, not with the rest.
    stamps = [n["emittedAtMs"] for n in client.messages(DELTA, 0, timeout=0)
              if n["params"]["itemId"] == "stream"]
    assert deltas[0]["delta"] == "a" and stamps[-1] - stamps[0] >= 200
    assert timeline(client, "stream", run) == ["decision", "runStarted", "delta", "runEnded",
                                               "result", "response"]

    # A character split across two reads is kept whole; invalid bytes become U+FFFD.
    split = result_of(client, start(client, r"printf '\xc3'; sleep 0.2; printf '\xa9\n'",
                                    itemId="split"))
    assert streamed(client, "split") == "é\n" == split["stdout"]
    assert [d["delta"] for d in of_item(client, DELTA, "split")] == ["é\n"]
    invalid = result_of(client, start(client, r"printf 'x\xffy'", itemId="invalid"))
    assert streamed(client, "invalid") == "x\ufffdy" == invalid["stdout"]
    assert_events_carry_no_output(client)


# -- 5: the retry after a sandbox denial ---------------------------------------------------


def test_a_sandbox_denial_asks_to_retry_unsandboxed_under_on_failure(bed: Bed,
                                                                     outside: Path) -> None:
    client = bed.server()
    target = outside / "retried"
    run = start(client, ["touch", str(target)], approvalPolicy="on-failure", itemId="retry")
    request = question(client, 1)
    params = request["params"]
    assert params["reason"] == RETRY_REASON == "command failed; retry without sandbox?"
    assert params["kind"] == "command" and params["itemId"] == "retry"
    assert params["command"] == f"touch {target}"
    assert not target.exists()  # the sandboxed attempt could not write it
    answer(client, request, "accept")
    result = result_of(client, run)
    assert result["status"] == "completed", result
    first, second = result["attempts"]
    assert first["sandbox"] == BWRAP and first["exitCode"] != 0
    assert first["denial"] is not None and str(target) in first["denial"]
    assert second["sandbox"] is None and second["exitCode"] == 0
    assert result["sandbox"] is None and result["denials"] == [first["denial"]]
    assert result["approvals"] == [{"kind": "retry", "answer": "accept"}]
    assert target.exists()
    assert event_types(client, "retry") == [
        "decision", "runStarted", "runEnded", "approvalRequested", "approval", "retry",
        "runStarted", "runEnded", "result"]

    declined_target = outside / "declined"
    run = start(client, ["sh", "-c", f"echo before; touch {declined_target}"],
                approvalPolicy="on-failure", itemId="no-retry")
    assert question(client, 2)["params"]["reason"] == RETRY_REASON
    answer(client, question(client, 2), "decline")
    declined = result_of(client, run)
    assert declined["status"] == "declined"
    assert declined["reason"].startswith(REJECTED_BY_USER)
    assert len(declined["attempts"]) == 1 and declined["sandbox"] == BWRAP
    assert declined["stdout"] == "before\n"  # the sandboxed attempt's output stays
    assert not declined_target.exists()

    # on-request offers no retry: the failure goes back as it is.
    plain_target = outside / "on-request"
    failed = result_of(client, start(client, ["touch", str(plain_target)]))
    assert len(questions(client)) == 2
    assert failed["status"] == "failed" and failed["reason"] == SANDBOX_DENIED_HINT
    assert failed["denials"] and str(plain_target) in failed["denials"][0]
    assert len(failed["attempts"]) == 1 and failed["approvals"] == []
    assert not plain_target.exists()


# -- 6: cancelling -----------------------------------------------------------------------


def test_cancel_kills_a_running_call_and_ids_are_checked(bed: Bed) -> None:
    client = bed.server()
    run = start(client, ["sleep", "30"], itemId="x")
    pid = sleeping_pid(client)
    # One active call per itemId.
    assert error_of(client, start(client, ["true"], itemId="x")) == (
        -32600, 'duplicate active shellTool/run itemId "x"')
    assert error_of(client, client.request(CANCEL, {"itemId": "nope"})) == (
        -32600, 'no active shellTool/run call with itemId "nope"')
    began = time.monotonic()
    assert client.result(CANCEL, {"itemId": "x"}) == {}
    result = result_of(client, run, timeout=5)
    assert time.monotonic() - began < 3
    assert result["status"] == "failed" and result["cancelled"] is True
    assert result["reason"] == "cancelled while running"
    assert result["attempts"][0]["terminated"] is True
    assert _wait_gone([pid]) == []
    # Done: no longer cancellable, and the id is free again.
    assert error_of(client, client.request(CANCEL, {"itemId": "x"}))[0] == -32600
    assert result_of(client, start(client, ["echo", "reused"], itemId="x"))["stdout"] == (
        "reused\n")
    assert error_of(client, client.request(CANCEL, {}))[0] == -32602


def test_cancel_while_the_question_is_pending(bed: Bed) -> None:
    client = bed.server()
    run = start(client, ["mkdir", "pending"], itemId="q")
    request = question(client, 1)
    assert client.result(CANCEL, {"itemId": "q"}) == {}
    result = result_of(client, run, timeout=5)
    assert result["status"] == "declined" and result["cancelled"] is True
    assert result["approvals"] == [{"kind": "command", "answer": "cancel"}]
    assert_never_ran(result)
    # A late answer to the dropped question changes nothing.
    answer(client, request, "accept")
    assert result_of(client, start(client, ["echo", "after"]))["stdout"] == "after\n"
    assert not (bed.cwd / "pending").exists()


def test_calls_run_side_by_side_each_with_its_own_settings(bed: Bed, outside: Path) -> None:
    client = bed.server()
    waiting = start(client, ["mkdir", "later"], itemId="waiting")
    request = question(client, 1)
    # A pending question holds up no other call.
    meanwhile = result_of(client, start(client, ["echo", "meanwhile"], itemId="meanwhile"))
    assert meanwhile["stdout"] == "meanwhile\n"
    capped = result_of(client, start(client, "printf abcdef; printf ghijkl >&2",
                                     outputBytesCap=3, itemId="capped"))
    assert (capped["stdout"], capped["stderr"]) == ("abc", "ghi")
    assert [d["delta"] for d in of_item(client, DELTA, "capped")] == ["abc", "ghi"]
    environment = result_of(client, start(client, "echo $EXTRA-${LANG-unset}",
                                          env={"EXTRA": "given", "LANG": None}))
    assert environment["stdout"] == "given-unset\n"
    began = time.monotonic()
    slow = result_of(client, start(client, ["sleep", "5"], timeoutMs=200))
    assert slow["status"] == "failed" and slow["reason"] == "timed out"
    assert time.monotonic() - began < 3
    answer(client, request, "accept")
    assert result_of(client, waiting)["status"] == "completed"
    assert (bed.cwd / "later").is_dir()

    # Escalation: asked with the call's justification, then run outside the sandbox.
    target = outside / "escalated"
    escalated = start(client, ["touch", str(target)], sandboxPermissions="require_escalated",
                      justification="writes next to the workspace")
    request = question(client, 2)
    assert request["params"]["reason"] == "writes next to the workspace"
    answer(client, request, "accept")
    result = result_of(client, escalated)
    assert result["status"] == "completed" and result["sandbox"] is None and target.exists()
    # ... which only on-request allows.
    refused = result_of(client, start(client, ["touch", str(outside / "no")],
                                      sandboxPermissions="require_escalated",
                                      approvalPolicy="untrusted"))
    assert refused["status"] == "forbidden" and len(questions(client)) == 2
    assert not (outside / "no").exists()


# -- 7: forbidden ------------------------------------------------------------------------


@pytest.mark.parametrize("approval_policy", ["on-request", "untrusted"])
def test_forbidden_commands_never_start(bed: Bed, approval_policy: str) -> None:
    (bed.cwd / "x").mkdir()
    client = bed.server()
    run = start(client, "touch marker; rm -rf x", itemId="forbidden",
                approvalPolicy=approval_policy)
    result = result_of(client, run)
    assert result["status"] == "forbidden", result
    assert "rm" in result["reason"] and "nothing is deleted here" in json.dumps(
        result["decision"])
    assert_never_ran(result)
    assert result["approvals"] == []
    assert not (bed.cwd / "marker").exists() and (bed.cwd / "x").is_dir()
    assert questions(client) == [] and of_item(client, DELTA, "forbidden") == []
    assert event_types(client, "forbidden") == ["decision", "result"]
    # The shipped policy's own refusals too.
    shipped = result_of(client, start(client, ["kill", "-9", "-1"]))
    assert shipped["status"] == "forbidden" and questions(client) == []


# -- 8: parameters -----------------------------------------------------------------------


def test_bad_params_are_refused_naming_the_field(bed: Bed) -> None:
    client = bed.server(initialize=False)
    assert client.error(RUN, {"command": ["true"]}) == (-32600, "Not initialized")
    assert client.error(CANCEL, {"itemId": "x"}) == (-32600, "Not initialized")
    client.initialize()
    missing = bed.cwd / "missing"
    refused: list[tuple[Any, str]] = [
        ({"command": 5}, "shellTool/run: command: "),
        ({}, "shellTool/run: command: "),
        ({"command": []}, "shellTool/run: command: must not be empty"),
        ({"command": "  "}, "shellTool/run: command: must not be empty"),
        ({"command": ["true"], "bogus": 1}, "shellTool/run: bogus: unknown field"),
        ({"command": ["true"], "approvalPolicy": "bogus"}, "shellTool/run: approvalPolicy: "),
        ({"command": ["true"], "cwd": str(missing)},
         f"shellTool/run: cwd: not a directory: {missing}"),
        ({"command": ["true"], "cwd": "missing"},
         f"shellTool/run: cwd: not a directory: {missing}"),
        ({"command": ["true"], "timeoutMs": -1}, "shellTool/run: timeoutMs: "),
        ({"command": ["true"], "granular": {"x": True}}, "shellTool/run: granular.x: "),
        ({"command": ["true"], "sandboxPolicy": {"type": "bogus"}},
         "shellTool/run: sandboxPolicy: "),
        ({"command": ["true"], "itemId": 5}, "shellTool/run: itemId: "),
        (None, "shellTool/run: params must be an object"),
    ]
    for params, message in refused:
        code, text = client.error(RUN, params) or (0, "")
        assert code == -32602, (params, code, text)
        assert text.startswith(message), (params, text)
    assert client.error(CANCEL, {"itemId": "x", "more": 1}) == (
        -32602, "shellTool/cancel: more: unknown field")
    # A relative cwd joins the server's.
    (bed.cwd / "sub").mkdir()
    relative = result_of(client, start(client, ["pwd"], cwd="sub"))
    assert relative["stdout"] == f"{bed.cwd / 'sub'}\n"
    # Still serving, with nothing left active.
    assert result_of(client, start(client, ["echo", "ok"]))["stdout"] == "ok\n"
    assert questions(client) == []


def test_a_writable_root_with_a_nul_byte_gets_an_answer(bed: Bed) -> None:
    """Whatever goes wrong inside a call, the client gets a response
    (`command/exec` answers this one with -32603 "exec failed: embedded null
    byte"); it must not wait forever."""
    client = bed.server()
    run = start(client, ["true"], sandboxPolicy={"type": "workspaceWrite",
                                                 "writableRoots": ["/tmp/a\u0000b"]})
    try:
        message = client.wait(run, timeout=5)
    except AssertionError:
        pytest.fail("no response to a shellTool/run whose writableRoots hold a NUL byte")
    assert "error" in message, message
    assert result_of(client, start(client, ["echo", "ok"]))["stdout"] == "ok\n"


# -- 10: the audit log -------------------------------------------------------------------


def _records(path: Path, call_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [record for record in lines if record.get("callId") == call_id]


def test_the_audit_log_records_every_step_without_the_output(bed: Bed) -> None:
    log = bed.root / "audit" / "calls.jsonl"
    client = bed.server("--audit-log", str(log))
    script = "printf '%s-%s' sec ret"  # the output `sec-ret` is in no record's command
    result = result_of(client, start(client, script, itemId="audited"))
    assert result["stdout"] == "sec-ret"
    declined = start(client, ["mkdir", "nope"], itemId="asked")
    answer(client, question(client, 1), "decline")
    assert result_of(client, declined)["status"] == "declined"

    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "sec-ret" not in log.read_text()
    records = _records(log, "audited")
    assert [r["type"] for r in records] == ["decision", "runStarted", "runEnded", "result"]
    assert all(next(iter(r)) == "ts" for r in records)
    assert not any({"stdout", "stderr"} & set(r) for r in records)
    assert records[0]["command"] == ["bash", "-lc", script]
    assert records[-1]["status"] == "completed"
    assert [r["type"] for r in _records(log, "asked")] == [
        "decision", "approvalRequested", "approval", "result"]
    # The events the client got are the same records.
    assert [e["type"] for e in events(client, "audited")] == [r["type"] for r in records]

    with_output = bed.root / "audit" / "with-output.jsonl"
    verbose = bed.server("--audit-log", str(with_output), "--audit-output")
    assert result_of(verbose, start(verbose, script, itemId="audited"))["stdout"] == "sec-ret"
    [ended] = [r for r in _records(with_output, "audited") if r["type"] == "runEnded"]
    assert ended["stdout"] == "sec-ret" and ended["stderr"] == ""
    # The client's events never carry output.
    assert_events_carry_no_output(verbose)


# -- 11: the connection ends -------------------------------------------------------------


def test_closing_the_connection_kills_the_running_call(bed: Bed) -> None:
    client = bed.server()
    start(client, ["mkdir", "never"], itemId="asking")
    question(client, 1)
    start(client, ["sleep", "30"], itemId="long")
    pid = sleeping_pid(client)
    began = time.monotonic()
    assert client.close(timeout=10) == 0
    assert time.monotonic() - began < 8
    assert _wait_gone([pid]) == []
    assert not (bed.cwd / "never").exists()  # the unanswered question is a refusal
