"""The shell tool flow over JSON-RPC: `shellTool/run` and `shellTool/cancel`
(execguard's own methods; documented in docs/protocol.md).

`shellTool/run` runs one tool call through `runtimes.shell_tool`: the client
is asked with ``item/commandExecution/requestApproval`` (Codex's
``CommandExecutionRequestApprovalParams``, with ``commandActions`` and
``proposedExecpolicyAmendment``), output streams as
``item/commandExecution/outputDelta`` notifications, every step of the flow
is reported as a ``shellTool/event`` notification (the audit log's records,
without output), and the response is the structured result.

This module holds the wire types and their mapping; the connection logic is
in `runtimes.server`.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from ..execpolicy import GranularApproval, Policy, PolicyError
from ..execpolicy.render import render_command
from . import protocol
from .api import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT_MS
from .approvals import ApprovalAnswer, answer_of
from .audit import OUTPUT_FIELDS, AuditLog
from .protocol import (
    RequestId,
    RpcError,
    internal_error,
    invalid_params,
    invalid_request,
    merge_env,
    resolve_cwd,
)
from .shell_tool import ApprovalRequest, ShellToolSession, ToolCall, ToolCallError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .network_session import NetworkSession

__all__ = [
    "METHODS",
    "METHOD_CANCEL",
    "METHOD_EVENT",
    "METHOD_OUTPUT_DELTA",
    "METHOD_RUN",
    "ShellToolCancelParams",
    "ShellToolEndpoint",
    "ShellToolRunParams",
    "approval_params",
    "event_params",
    "parse_params",
    "text_decoder",
    "tool_call",
]

log = logging.getLogger(__name__)

METHOD_RUN = protocol.METHOD_SHELL_TOOL_RUN
METHOD_CANCEL = protocol.METHOD_SHELL_TOOL_CANCEL
METHOD_EVENT = "shellTool/event"
METHOD_OUTPUT_DELTA = "item/commandExecution/outputDelta"
METHOD_REQUEST_APPROVAL = protocol.METHOD_REQUEST_APPROVAL
METHODS = protocol.SHELL_TOOL_METHODS
# The threadId / turnId of a tool call whose client gave none.
DEFAULT_THREAD_ID = "shellTool"


class _Params(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True,
                              extra="forbid", strict=True)


class GranularParams(_Params):
    sandbox_approval: bool = True
    rules: bool = True


class ShellToolRunParams(_Params):
    """``shellTool/run`` params. ``command``: argv, or a script string run as
    ``bash -lc``. ``cwd``: relative paths join the server's cwd. ``env``:
    overrides of the server's environment (``null`` removes a variable).
    ``itemId`` names the call in approvals, notifications and
    ``shellTool/cancel`` (default ``tool-<request id>``)."""

    command: list[str] | str
    cwd: str | None = None
    approval_policy: Literal["untrusted", "on-failure", "on-request", "never",
                             "granular"] = "on-request"
    granular: GranularParams | None = None
    sandbox_policy: dict[str, Any] | None = None
    sandbox_permissions: Literal["use_default", "require_escalated"] = "use_default"
    justification: str | None = None
    prefix_rule: list[str] | None = None
    env: dict[str, str | None] | None = None
    timeout_ms: int | None = Field(default=DEFAULT_TIMEOUT_MS, ge=0)
    output_bytes_cap: int | None = Field(default=DEFAULT_OUTPUT_CAP, ge=0)
    thread_id: str | None = None
    turn_id: str | None = None
    item_id: str | None = None


class ShellToolCancelParams(_Params):
    item_id: str


def parse_params(model: type[_Params], params: object, method: str) -> Any:
    """Validate ``params``; ``-32602`` naming the first bad field otherwise."""
    if not isinstance(params, dict):
        raise invalid_params(f"{method}: params must be an object")
    try:
        return model.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        # A union's member shows up in the location (`command.list[str]`): keep
        # only the field path the client wrote.
        if first["type"] == "extra_forbidden":
            where, message = ".".join(map(str, first["loc"])), "unknown field"
        else:
            path = [str(part) for part in first["loc"]
                    if isinstance(part, int) or part in _FIELD_NAMES]
            where = ".".join(path) or "params"
            message = _EXPECTED.get(where, first["msg"])
        raise invalid_params(f"{method}: {where}: {message}") from None


_FIELD_NAMES = frozenset(
    name for model in (ShellToolRunParams, ShellToolCancelParams, GranularParams)
    for field_name, info in model.model_fields.items()
    for name in (field_name, info.alias) if name)
_EXPECTED = {"command": "expected an array of strings (argv) or a string (a script)"}


def tool_call(params: ShellToolRunParams, *, server_cwd: str,
              server_env: Mapping[str, str]) -> ToolCall:
    granular = params.granular
    return ToolCall(
        command=params.command, cwd=resolve_cwd(params.cwd, server_cwd),
        approval_policy=params.approval_policy,
        sandbox_policy=params.sandbox_policy,
        sandbox_permissions=params.sandbox_permissions,
        justification=params.justification, prefix_rule=params.prefix_rule,
        granular=GranularApproval(granular.sandbox_approval, granular.rules)
        if granular is not None else None,
        env=merge_env(server_env, params.env),
        timeout_ms=params.timeout_ms, output_cap=params.output_bytes_cap)


def approval_params(request: ApprovalRequest, *, thread_id: str, turn_id: str,
                    item_id: str) -> dict[str, Any]:
    """``CommandExecutionRequestApprovalParams`` for a tool call's question
    (``approvalId`` is null for shell approvals, as in Codex)."""
    return {
        "threadId": thread_id, "turnId": turn_id, "itemId": item_id, "approvalId": None,
        "command": render_command(request.command), "cwd": request.cwd,
        "reason": request.reason, "kind": "command",
        "proposedExecpolicyAmendment": request.proposed_amendment,
        "commandActions": [action.to_json() for action in request.actions],
        "startedAtMs": int(time.time() * 1000),
    }


def event_params(event: Mapping[str, Any], *, thread_id: str, turn_id: str,
                 item_id: str) -> dict[str, Any]:
    """A ``shellTool/event`` notification's params: the flow's record,
    never with output (that went out as deltas)."""
    return {"threadId": thread_id, "turnId": turn_id, "itemId": item_id,
            "event": {k: v for k, v in event.items() if k not in OUTPUT_FIELDS}}


def text_decoder() -> Callable[[bytes], str]:
    """An incremental UTF-8 decoder for one output stream: a character split
    across two chunks is kept whole; invalid bytes become U+FFFD."""
    return codecs.getincrementaldecoder("utf-8")("replace").decode


# -- one connection's tool calls -------------------------------------------------------

Request = Callable[[str, Any], Awaitable["protocol.Response | None"]]
Notify = Callable[[str, Any], Awaitable[None]]
Answer = Callable[[RequestId, Any], Awaitable[None]]
Fail = Callable[[RequestId, RpcError], Awaitable[None]]


@dataclass
class _Running:
    """One `shellTool/run` in flight: its ids, its cancel switch and the
    queue that keeps its notifications in order."""

    thread_id: str
    turn_id: str
    item_id: str
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: asyncio.Queue[tuple[str, Any] | None] = field(default_factory=asyncio.Queue)


class ShellToolEndpoint:
    """The `shellTool/*` methods of one connection. Its approvals cache
    (``acceptForSession``) lives as long as the connection.

    ``rules`` gives the execpolicy (loaded on the first call); ``network``
    the connection's managed network session, if any; ``request``,
    ``notify``, ``answer`` and ``fail`` send to the client."""

    def __init__(self, *, cwd: str, rules: Callable[[], Awaitable[Policy]],
                 rules_file: str | None, audit_log: AuditLog | None,
                 network: Callable[[], NetworkSession | None], request: Request,
                 notify: Notify, answer: Answer, fail: Fail) -> None:
        self._cwd = cwd
        self._rules = rules
        self._rules_file = rules_file
        self._audit_log = audit_log
        self._network = network
        self._request = request
        self._notify = notify
        self._answer = answer
        self._fail = fail
        self._session: ShellToolSession | None = None
        self._running: dict[str, _Running] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    def receive(self, request_id: RequestId, method: str, params: object) -> None:
        """Check a request at once (raising :class:`RpcError`) and start it."""
        if method == METHOD_CANCEL:
            cancel = parse_params(ShellToolCancelParams, params, method)
            running = self._running.get(cancel.item_id)
            if running is None:
                raise invalid_request(f"no active shellTool/run call with itemId "
                                      f"{json.dumps(cancel.item_id)}")
            running.cancel.set()
            self._start(self._answer(request_id, {}))
            return
        run = parse_params(ShellToolRunParams, params, method)
        item_id = run.item_id if run.item_id is not None else f"tool-{request_id}"
        if item_id in self._running:
            raise invalid_request(f"duplicate active shellTool/run itemId {json.dumps(item_id)}")
        call = tool_call(run, server_cwd=self._cwd, server_env=os.environ)
        thread_id = run.thread_id or DEFAULT_THREAD_ID
        running = _Running(thread_id, run.turn_id or item_id, item_id)
        self._running[item_id] = running
        self._start(self._run(request_id, call, running))

    def _start(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _session_for_calls(self) -> ShellToolSession:
        if self._session is None:
            policy = await self._rules()
            if self._session is None:
                # One policy for the whole server: an amendment accepted on
                # one connection applies on every other at once.
                self._session = ShellToolSession(
                    policy, approve=self._approve, rules_file=self._rules_file,
                    audit_log=self._audit_log, network=self._network(), shared_policy=True)
        return self._session

    async def _run(self, request_id: RequestId, call: ToolCall, running: _Running) -> None:
        writer = asyncio.ensure_future(self._send_in_order(running))
        ids = {"threadId": running.thread_id, "turnId": running.turn_id,
               "itemId": running.item_id}
        decoders = {"stdout": text_decoder(), "stderr": text_decoder()}

        async def on_output(stream: str, data: bytes) -> None:
            text = decoders[stream](data)
            if text:
                running.outbox.put_nowait((METHOD_OUTPUT_DELTA,
                                           {**ids, "delta": text, "stream": stream}))
                await running.outbox.join()  # backpressure: the client sets the pace

        def on_event(event: dict[str, Any]) -> None:
            running.outbox.put_nowait((METHOD_EVENT, event_params(
                event, thread_id=running.thread_id, turn_id=running.turn_id,
                item_id=running.item_id)))

        try:
            try:
                session = await self._session_for_calls()
                result = await session.run(call, on_output=on_output, on_event=on_event,
                                           cancel=running.cancel, call_id=running.item_id)
            except ToolCallError as error:
                failure: RpcError | None = invalid_params(f"{METHOD_RUN}: {error}")
            except PolicyError as error:
                failure = internal_error(f"cannot load the execpolicy rules: {error}")
            except Exception as error:  # a bug: answer rather than leave the client waiting
                log.exception("shellTool/run failed")
                failure = internal_error(f"shellTool/run failed: {error}")
            else:
                failure = None
            running.outbox.put_nowait(None)
            await writer
            if failure is not None:
                await self._fail(request_id, failure)
            else:
                await self._answer(request_id, {"itemId": running.item_id, **result.to_json()})
        finally:
            writer.cancel()
            self._running.pop(running.item_id, None)

    async def _send_in_order(self, running: _Running) -> None:
        while True:
            message = await running.outbox.get()
            try:
                if message is None:
                    return
                await self._notify(*message)
            finally:
                running.outbox.task_done()

    async def _approve(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Ask the client; an error, a malformed decision or the connection
        closing is a refusal."""
        running = self._running.get(request.call_id)
        if running is None:
            return "decline"
        await running.outbox.join()  # the question follows the events before it
        return answer_of(await self._request(METHOD_REQUEST_APPROVAL, approval_params(
            request, thread_id=running.thread_id, turn_id=running.turn_id,
            item_id=running.item_id)))

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        """The connection is gone: cancel every call (their commands are killed)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=5.0)
