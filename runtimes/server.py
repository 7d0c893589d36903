"""The `command/exec` JSON-RPC server, independent of the transport.

A transport (stdio, one WebSocket) opens a :class:`Connection` with a send
function, feeds it every incoming text message with :meth:`Connection.receive`
and calls :meth:`Connection.close` when the peer goes away. Everything the
reference keeps per connection lives here: the initialized flag, the
client's capabilities and the registry of running commands by ``processId``
(ids are connection-scoped, so two connections may use the same id).

Concurrency, as in the reference: every ``command/exec`` runs as its own
task, so responses come in completion order and a control call (write,
resize, terminate) is never queued behind a running command. ``receive``
does the decoding, the checks and the registry lookup synchronously, in
arrival order, so a ``terminate`` sent right after its ``command/exec``
finds the process; only the waiting parts run as tasks.

Backpressure: every outgoing message is awaited on the transport (which
blocks when its send buffer is full), and the runtime awaits each output
delta before reading more from the child, so a slow client slows the
command down instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import dataclasses
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from execguard import __version__

from ..execpolicy.policy import Policy
from ..sandbox import Confinement
from ..sandbox.backend import ProxyEndpoint
from ..zsh_bridge import BridgeUnavailable, InterceptedExec
from . import protocol
from .api import ControlError, ExecSpec, SandboxRequest, SpawnError
from .approvals import answer_of
from .decode import bytes_to_text
from .exec_bridge import (
    BridgedShell,
    BridgeOptions,
    ExecApprovalAnswer,
    ExecApprovalRequest,
    exec_approval_params,
    shell_script,
)
from .network_approvals import (
    NetworkApprovalAnswer,
    NetworkApprovalRequest,
    NetworkCommandContext,
    approval_request_params,
    parse_approval_decision,
)
from .network_session import NetworkConfig, NetworkSession
from .process import WATCHDOG, RunningProcess, spawn
from .protocol import Json, RequestId, RpcError, internal_error, invalid_request
from .sandboxing import SandboxUnavailable, confined, prepare

TYPE_CHECKING = False
if TYPE_CHECKING:  # the shell tool's modules load with its first call
    from .audit import AuditLog
    from .shell_tool_rpc import ShellToolEndpoint

__all__ = ["AppServer", "Connection", "Send"]

# Sends one encoded message; raises when the peer is gone.
Send = Callable[[str], Awaitable[None]]
SendLine = Callable[[Sequence[bytes]], Awaitable[None]]

METHOD_NOT_FOUND = -32601
_SANDBOX_PREFIX = "invalid sandbox policy: "
# stdin bytes accepted from a connection but not yet handed to the runtime;
# past this the connection's requests are not read until writes complete
# (a client cannot make the server hold unbounded input).
_PENDING_WRITE_LIMIT = 64 * 1024 * 1024
# How long closing a connection waits for its commands' tasks to unwind
# (the processes themselves are SIGKILLed at once).
_CLOSE_TIMEOUT_S = 5.0


def _execguard_home(env: Mapping[str, str]) -> str:
    """``$EXECGUARD_HOME``, else ``${XDG_CONFIG_HOME:-~/.config}/execguard``
    (the directory `execguard execpolicy` keeps user rules under); reported
    as ``codexHome`` because that is the field's meaning."""
    configured = env.get("EXECGUARD_HOME")
    if configured:
        return os.path.abspath(configured)
    xdg = env.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "execguard")
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config", "execguard")


def _platform_os() -> str:
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith("win"):
        return "windows"
    return sys.platform.rstrip("0123456789")


METHOD_REQUEST_APPROVAL = protocol.METHOD_REQUEST_APPROVAL
METHOD_NETWORK_BLOCKED = "command/exec/networkBlocked"
METHOD_EXEC_INTERCEPTED = "command/exec/intercepted"
# The `threadId` of approvals asked for a `command/exec` (it belongs to no thread).
EXEC_THREAD_ID = "command/exec"


class AppServer:
    """What all connections share: the server's cwd (relative ``cwd``
    values are resolved against it), the managed network's configuration
    (``None``: network-restricted commands get no network at all) with the
    execpolicy whose ``network_rule``\\ s it follows, and the set of open
    connections, for shutdown."""

    def __init__(self, cwd: str | None = None, *, network: NetworkConfig | None = None,
                 rules: Policy | None = None, bridge: BridgeOptions | None = None,
                 rules_file: str | None = None, audit_log: AuditLog | None = None) -> None:
        self.cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
        self.network = network
        self.rules = rules
        # Shell tool calls (`shellTool/run`): amendments go to `rules_file`
        # (default: the user rules file), every step to `audit_log`.
        self.rules_file = rules_file
        self.audit_log = audit_log
        self._rules_loading = asyncio.Lock()
        # `[zsh, -lc|-c, script]` commands run through the exec bridge when set
        # (its `approve` and `on_exec` are each connection's own).
        self.bridge = bridge
        self.connections: set[Connection] = set()

    def connect(self, send: Send, on_broken: Callable[[], None] | None = None,
                send_line: SendLine | None = None) -> Connection:
        """A new connection; ``on_broken`` is called once if sending fails
        (the peer stopped reading for good), so the transport can end it.
        ``send_line``, if the transport has one, sends a message already
        encoded as UTF-8 JSON ending in a newline, in pieces that must go
        out together (output deltas: no re-encoding of megabytes of base64;
        buffered responses: no copy of the whole)."""
        connection = Connection(self, send, on_broken, send_line)
        self.connections.add(connection)
        return connection

    async def drain(self, timeout: float) -> None:
        """Let every running command finish, for at most ``timeout`` seconds."""
        await asyncio.gather(*(c.drain(timeout) for c in list(self.connections)))

    async def execpolicy(self) -> Policy:
        """The rules tool calls are decided by: the ones the server was given,
        else the discovered rules of its cwd, loaded on first use (raises
        :class:`~execguard.execpolicy.PolicyError` naming the file)."""
        if self.rules is None:
            async with self._rules_loading:
                if self.rules is None:
                    from ..execpolicy.discovery import load_discovered_policy

                    self.rules = await asyncio.to_thread(load_discovered_policy, self.cwd)
        return self.rules

    async def close(self) -> None:
        """Close every connection: their commands are killed."""
        await asyncio.gather(*(c.close() for c in list(self.connections)))


@dataclass(eq=False)
class _Command:
    """One `command/exec` of a connection, from its checks to its response."""

    process_id: str | None
    stream_stdin: bool
    started: asyncio.Future[RunningProcess | None]
    shell: BridgedShell | None = None
    # Writes to stdin are applied in arrival order.
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    process: RunningProcess | None = None


def _close_soon(shell: BridgedShell | None) -> None:
    """Close a bridge whose command never started."""
    if shell is not None:
        task = asyncio.get_running_loop().create_task(shell.close())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Task[None]] = set()


def _utf8(output: bytes) -> bytes:
    """Output as UTF-8: as it is when it already is (checked cheaply for
    ASCII), else through `bytes_to_text`'s decoding."""
    if output.isascii():
        return output
    return bytes_to_text(output).encode("utf-8")


class Connection:
    """One client. Create through :meth:`AppServer.connect`."""

    def __init__(self, server: AppServer, send: Send,
                 on_broken: Callable[[], None] | None = None,
                 send_line: SendLine | None = None) -> None:
        self._server = server
        self._send_raw = send
        self._send_line = send_line if send_line is not None else self._line_as_text
        self._on_broken = on_broken
        self._closed = False
        self._initialized = False
        self._experimental_api = False
        self._registry: dict[str, _Command] = {}
        self._commands: dict[_Command, asyncio.Task[None]] = {}
        self._controls: set[asyncio.Task[None]] = set()
        self._pending_write_bytes = 0
        self._write_room = asyncio.Event()
        # Our requests to the client (approvals), by id, awaiting its response.
        self._next_request_id = 0
        self._client_requests: dict[RequestId, asyncio.Future[protocol.Response]] = {}
        self._network: NetworkSession | None = None
        self._shell_tool: ShellToolEndpoint | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running_commands(self) -> int:
        return len(self._commands) + (self._shell_tool.running if self._shell_tool else 0)

    # -- incoming ------------------------------------------------------------------

    async def receive(self, text: str | bytes) -> None:
        """Handle one incoming message. Returns once the request has been
        checked and answered or handed to a task; never waits for a
        running command. Anything that is not a request is ignored."""
        if self._closed:
            return
        message = protocol.parse_message(text)
        if isinstance(message, protocol.Response):
            waiter = self._client_requests.pop(message.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            return  # else a response to nothing we asked: dropped, as the reference does
        if not isinstance(message, protocol.Request):
            return  # not JSON, a notification (`initialized`)
        try:
            await self._dispatch(message)
        except RpcError as error:
            await self._send_error(message.id, error)
        except Exception as error:  # a bug: answer rather than drop the connection
            await self._send_error(message.id, internal_error(f"internal error: {error!r}"))

    async def _dispatch(self, request: protocol.Request) -> None:
        method = request.method
        if method in protocol.SHELL_TOOL_METHODS:
            if not self._initialized:
                raise invalid_request(protocol.NOT_INITIALIZED)
            self._shell_tools().receive(request.id, method, request.params)
            return
        if method not in protocol.IMPLEMENTED_METHODS:
            if not protocol.is_reference_method(method):
                raise invalid_request(protocol.unknown_method_message(method))
            if not self._initialized:
                raise invalid_request(protocol.NOT_INITIALIZED)
            raise RpcError(METHOD_NOT_FOUND, protocol.not_implemented_message(method))
        params = protocol.decode_params(request)
        if isinstance(params, protocol.InitializeParams):
            await self._initialize(request.id, params)
            return
        if not self._initialized:
            raise invalid_request(protocol.NOT_INITIALIZED)
        if isinstance(params, protocol.CommandExecParams):
            self._exec(request.id, params)
        elif isinstance(params, protocol.CommandExecWriteParams):
            await self._write(request.id, params)
        elif isinstance(params, protocol.CommandExecResizeParams):
            await self._resize(request.id, params)
        elif isinstance(params, protocol.CommandExecTerminateParams):
            await self._terminate(request.id, params)

    async def _initialize(self, request_id: RequestId, params: protocol.InitializeParams
                          ) -> None:
        if self._initialized:
            raise invalid_request(protocol.ALREADY_INITIALIZED)
        self._initialized = True
        capabilities = params.capabilities
        self._experimental_api = capabilities is not None and capabilities.experimental_api
        client = params.client_info
        user_agent = (f"execguard/{__version__} ({platform.system()} {platform.release()}; "
                      f"{platform.machine()}) ({client.name}; {client.version})")
        response = protocol.InitializeResponse(
            user_agent=user_agent,
            codex_home=_execguard_home(os.environ),
            platform_family="windows" if os.name == "nt" else "unix",
            platform_os=_platform_os(),
        )
        if self._server.network is not None:
            # One proxy per session (connection), up before any command needs it.
            network = NetworkSession(self._server.network, approve=self._ask_network,
                                     rules=self._server.rules,
                                     on_blocked=self._report_blocked)
            try:
                await network.start()
            except Exception as error:
                raise internal_error(f"cannot start the network proxy: {error}") from None
            self._network = network
        await self._send_result(request_id, protocol.dump(response))

    # -- command/exec --------------------------------------------------------------

    def _exec(self, request_id: RequestId, params: protocol.CommandExecParams) -> None:
        """Spec §3, rows 0–13, then start the command in its own task
        (row 14, spawning, is reported by that task)."""
        protocol.check_experimental(params, self._experimental_api)
        plan = protocol.plan_exec(params, server_cwd=self._server.cwd,
                                  server_env=os.environ)
        # Row 11: the sandbox layer builds the request. It also judges the
        # policy, after the parameter checks, so that a request is told
        # about its own mistakes first whatever this machine can enforce.
        # How the client knows this command in approvals and notifications.
        item_id = plan.process_id if plan.process_id is not None else f"exec-{request_id}"
        proxy, context = self._network_for(item_id, plan)
        shell = self._bridged_shell(plan, item_id)
        argv, env = plan.argv, plan.env
        try:
            if shell is not None:
                argv, env = shell.start(argv, env)
            confinement = prepare(argv, SandboxRequest(
                plan.sandbox_policy, plan.cwd, env, tty=plan.tty,
                proxy=proxy, proxy_context=context, exec_bridge=shell is not None))
        except SandboxUnavailable as error:
            _close_soon(shell)
            message = str(error)
            if not message.startswith(_SANDBOX_PREFIX):
                message = _SANDBOX_PREFIX + message
            raise invalid_request(message) from None
        except Exception as error:
            _close_soon(shell)
            raise internal_error(f"exec failed: {error}") from None
        try:
            protocol.check_process_id(plan)
            if plan.process_id is not None and plan.process_id in self._registry:
                raise invalid_request(protocol.duplicate_id_message(plan.process_id))
        except BaseException:
            confinement.close()
            _close_soon(shell)
            raise
        spec = confined(ExecSpec(argv=argv, cwd=plan.cwd, env=env, tty=plan.tty,
                                 stream_stdin=plan.stream_stdin,
                                 stream_output=plan.stream_output, output_cap=plan.output_cap,
                                 timeout_ms=plan.timeout_ms, size=plan.size,
                                 pass_fds=shell.pass_fds if shell is not None else (),
                                 on_kill=shell.kill_escalated if shell is not None else None),
                        confinement)
        command = _Command(plan.process_id, plan.stream_stdin,
                           asyncio.get_running_loop().create_future(), shell)
        if command.process_id is not None:
            self._registry[command.process_id] = command
        task = asyncio.create_task(self._run(command, request_id, spec, confinement))
        # Also when the task is cancelled before it ever runs (its `finally`
        # would not): the seccomp memfd and the placeholders are released.
        task.add_done_callback(lambda _: confinement.close())
        if shell is not None:
            task.add_done_callback(lambda _: _close_soon(shell))
        if context is not None and context.item_id is not None and self._network is not None:
            network, item_id = self._network, context.item_id
            task.add_done_callback(lambda _: network.forget(item_id))
        self._commands[command] = task

    # -- shell tool calls ------------------------------------------------------------

    def _shell_tools(self) -> ShellToolEndpoint:
        if self._shell_tool is None:
            from ..execpolicy.discovery import user_rules_file
            from .shell_tool_rpc import ShellToolEndpoint

            server = self._server
            self._shell_tool = ShellToolEndpoint(
                cwd=server.cwd, rules=server.execpolicy,
                rules_file=server.rules_file or str(user_rules_file()),
                audit_log=server.audit_log, network=lambda: self._network,
                request=self._request, notify=self._notify, answer=self._send_result,
                fail=self._send_error)
        return self._shell_tool

    # -- the exec bridge -------------------------------------------------------------

    def _bridged_shell(self, plan: protocol.ExecPlan, item_id: str) -> BridgedShell | None:
        """A bridge for this command when the server runs one and the
        command is ``[zsh, -lc|-c, script]``; its prompts and audit records
        go to this connection, tagged with ``item_id``."""
        options = self._server.bridge
        if options is None or shell_script(plan.argv) is None:
            return None
        approvals = itertools.count(1)

        async def approve(request: ExecApprovalRequest) -> ExecApprovalAnswer:
            params = exec_approval_params(
                request, thread_id=EXEC_THREAD_ID, turn_id=item_id, item_id=item_id,
                approval_id=f"{item_id}#exec#{next(approvals)}",
                started_at_ms=int(time.time() * 1000))
            return answer_of(await self._request(METHOD_REQUEST_APPROVAL, params))

        def on_exec(record: InterceptedExec) -> None:
            if not self._closed:
                task = asyncio.get_running_loop().create_task(self._notify(
                    METHOD_EXEC_INTERCEPTED, {"processId": item_id, **record.to_json()}))
                self._controls.add(task)
                task.add_done_callback(self._controls.discard)

        try:
            return BridgedShell(dataclasses.replace(options, approve=approve, on_exec=on_exec),
                                plan.sandbox_policy, plan.cwd, watcher=WATCHDOG)
        except BridgeUnavailable as error:
            raise internal_error(f"exec failed: exec bridge unavailable: {error}") from None
        except SandboxUnavailable as error:
            raise invalid_request(str(error)) from None

    # -- the managed network -------------------------------------------------------

    def _network_for(self, item_id: str, plan: protocol.ExecPlan
                     ) -> tuple[ProxyEndpoint | None, NetworkCommandContext | None]:
        """The session's proxy and the tag of this command's requests to it
        (none when the server runs no proxy). The sandbox layer routes the
        command there only when its policy restricts the network."""
        network = self._network
        if network is None or network.closed:
            return None, None
        policy = plan.sandbox_policy
        kind = policy.get("type") if isinstance(policy, dict) else None
        context = network.context(plan.argv, cwd=plan.cwd, item_id=item_id,
                                  sandbox_type=kind if isinstance(kind, str) else "readOnly")
        return network.endpoint, context

    async def _ask_network(self, request: NetworkApprovalRequest) -> NetworkApprovalAnswer:
        """Ask the client about a host (spec 7.6); whatever goes wrong (an
        error response, a malformed decision, the connection closing) is a
        refusal."""
        context = request.context
        item_id = context.item_id if isinstance(context, NetworkCommandContext) else None
        params = approval_request_params(
            request, thread_id=EXEC_THREAD_ID, turn_id=item_id or "", item_id=item_id or "",
            started_at_ms=int(time.time() * 1000))
        response = await self._request(METHOD_REQUEST_APPROVAL, params)
        if response is None or response.error is not None or not isinstance(response.result, dict):
            return "decline"
        try:
            return parse_approval_decision(response.result.get("decision"))
        except ValueError:
            return "decline"

    async def _report_blocked(self, context: object, notice: dict[str, object]) -> None:
        """Tell the client at once that a command's request was blocked."""
        if isinstance(context, NetworkCommandContext) and context.item_id is not None:
            await self._notify(METHOD_NETWORK_BLOCKED, {"processId": context.item_id, **notice})

    async def _request(self, method: str, params: Json) -> protocol.Response | None:
        """Send a request to the client and wait for its response (``None``
        if the connection closes first)."""
        if self._closed:
            return None
        self._next_request_id += 1
        request_id = f"execguard-{self._next_request_id}"
        waiter: asyncio.Future[protocol.Response] = asyncio.get_running_loop().create_future()
        self._client_requests[request_id] = waiter
        try:
            await self._send({"id": request_id, "method": method, "params": params})
            return await waiter
        except asyncio.CancelledError:
            if self._closed:
                return None
            raise
        finally:
            self._client_requests.pop(request_id, None)

    async def _run(self, command: _Command, request_id: RequestId, spec: ExecSpec,
                   confinement: Confinement) -> None:
        try:
            sink = None
            if spec.stream_output:
                assert command.process_id is not None
                sink = self._output_sink(command.process_id)
            try:
                process = await spawn(spec, sink)
            except SpawnError as error:
                self._forget(command)
                await self._send_error(request_id, internal_error(str(error)))
                return
            command.process = process
            if command.shell is not None:
                command.shell.attach(process.hold_timeout, process.terminate)
            command.started.set_result(process)
            result = await process.wait()
            # Free the id before answering: a client may reuse it as soon as
            # it has read the response.
            self._forget(command)
            # The response as pieces of bytes, written one after the other:
            # buffered output can be hundreds of megabytes, six times that
            # escaped (`CommandExecResponse` is the same shape).
            line = [
                b'{"id":', json.dumps(request_id).encode("ascii"),
                b',"result":{"exitCode":%d,"stdout":' % result.exit_code,
                *protocol.json_string_parts(_utf8(result.stdout)),
                b',"stderr":', *protocol.json_string_parts(_utf8(result.stderr)),
                b'}}\n']
            if not self._closed:
                try:
                    await self._send_line(line)
                except Exception:
                    self._broken()
        except asyncio.CancelledError:
            # The connection closed; cancelling `wait` kills the process group.
            raise
        except Exception as error:
            if command.process is not None:
                command.process.terminate()
            self._forget(command)
            await self._send_error(request_id, internal_error(f"exec failed: {error}"))
        finally:
            confinement.close()
            if command.shell is not None:
                await command.shell.close()
            self._forget(command)
            self._commands.pop(command, None)

    def _forget(self, command: _Command) -> None:
        if command.process_id is not None and self._registry.get(command.process_id) is command:
            del self._registry[command.process_id]
        if not command.started.done():
            command.started.set_result(None)

    def _output_sink(self, process_id: str) -> Callable[[str, bytes, bool], Awaitable[None]]:
        # The hot path of streaming: each delta is written as text directly
        # (base64 needs no JSON escaping) instead of building a model and a
        # dict that the JSON encoder would walk again; the same message as
        # `protocol.CommandExecOutputDelta` would give.
        head = ('{"method":"' + protocol.METHOD_OUTPUT_DELTA + '","params":{"processId":'
                + json.dumps(process_id) + ',"stream":"').encode("ascii")
        streams = {"stdout": b'stdout","deltaBase64":"', "stderr": b'stderr","deltaBase64":"'}
        capped = {True: b'","capReached":true},"emittedAtMs":',
                  False: b'","capReached":false},"emittedAtMs":'}

        async def sink(stream: str, data: bytes, cap_reached: bool) -> None:
            if self._closed:
                return
            line = (b"".join((head, streams.get(stream, streams["stdout"]),
                              binascii.b2a_base64(data, newline=False), capped[cap_reached],
                              b"%d}\n" % int(time.time() * 1000))),)
            try:
                await self._send_line(line)
            except Exception:
                self._broken()

        return sink

    # -- control calls -------------------------------------------------------------

    def _lookup(self, process_id: str) -> _Command:
        command = self._registry.get(process_id)
        if command is None:
            raise invalid_request(protocol.no_active_message(process_id))
        return command

    @staticmethod
    def _live(command: _Command, process: RunningProcess | None) -> RunningProcess:
        """The process a control call acts on, or the reference's error for
        a command that failed to start or has already exited."""
        assert command.process_id is not None
        if process is None:
            raise invalid_request(protocol.no_active_message(command.process_id))
        if not process.running:
            raise invalid_request(protocol.no_longer_running_message(command.process_id))
        return process

    async def _write(self, request_id: RequestId, params: protocol.CommandExecWriteParams
                     ) -> None:
        data = protocol.check_write(params)
        command = self._lookup(params.process_id)

        async def write() -> None:
            try:
                # The lock first: writes reach the child in the order they came.
                async with command.write_lock:
                    process = self._live(command, await command.started)
                    if not command.stream_stdin:
                        raise invalid_request(protocol.STDIN_NOT_ENABLED)
                    # Nothing to write is not a write: `"", closeStdin` after
                    # a close is fine, as in the reference.
                    if data:
                        await process.write(data)
                    if params.close_stdin:
                        await process.close_stdin()
            finally:
                self._pending_write_bytes -= len(data)
                if self._pending_write_bytes <= _PENDING_WRITE_LIMIT:
                    self._write_room.set()

        self._pending_write_bytes += len(data)
        self._control(request_id, write())
        while self._pending_write_bytes > _PENDING_WRITE_LIMIT and not self._closed:
            self._write_room.clear()
            await self._write_room.wait()

    async def _resize(self, request_id: RequestId, params: protocol.CommandExecResizeParams
                      ) -> None:
        protocol.check_size(params.size)
        command = self._lookup(params.process_id)

        async def resize() -> None:
            self._live(command, await command.started).resize(params.size.rows,
                                                              params.size.cols)

        await self._control_now(request_id, command, resize())

    async def _terminate(self, request_id: RequestId,
                         params: protocol.CommandExecTerminateParams) -> None:
        command = self._lookup(params.process_id)

        async def terminate() -> None:
            self._live(command, await command.started).terminate()

        await self._control_now(request_id, command, terminate())

    async def _control_now(self, request_id: RequestId, command: _Command,
                           action: Awaitable[None]) -> None:
        """Resize and terminate do not block: run them right here when the
        process has started (so ``{}`` goes out before anything the kill
        causes), else in a task that waits for the start."""
        if command.started.done():
            await self._answer_control(request_id, action)
        else:
            self._control(request_id, action)

    def _control(self, request_id: RequestId, action: Awaitable[None]) -> None:
        task = asyncio.create_task(self._answer_control(request_id, action))
        self._controls.add(task)
        task.add_done_callback(self._controls.discard)

    async def _answer_control(self, request_id: RequestId, action: Awaitable[None]) -> None:
        try:
            await action
        except RpcError as error:
            await self._send_error(request_id, error)
        except ControlError as error:
            await self._send_error(request_id, invalid_request(str(error)))
        except Exception as error:
            await self._send_error(request_id, internal_error(str(error)))
        else:
            await self._send_result(request_id, {})

    # -- outgoing ------------------------------------------------------------------

    async def _send(self, message: Mapping[str, Json]) -> None:
        if self._closed:
            return
        try:
            await self._send_raw(protocol.encode(message))
        except Exception:
            self._broken()

    def _broken(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._on_broken is not None:
            self._on_broken()

    async def _line_as_text(self, line: Sequence[bytes]) -> None:
        await self._send_raw(b"".join(line)[:-1].decode("utf-8"))

    async def _send_result(self, request_id: RequestId, result: Json) -> None:
        await self._send({"id": request_id, "result": result})

    async def _send_error(self, request_id: RequestId, error: RpcError) -> None:
        await self._send({"error": {"code": error.code, "message": error.message},
                          "id": request_id})

    async def _notify(self, method: str, params: Json) -> None:
        await self._send({"method": method, "params": params,
                          "emittedAtMs": int(time.time() * 1000)})

    # -- ending --------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the running commands to end
        (and their responses to be sent)."""
        tasks = list(self._commands.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self._shell_tool is not None:
            await self._shell_tool.drain(timeout)

    async def close(self) -> None:
        """The peer is gone (or the server stops): kill every process of
        this connection, as the reference does, and drop what is pending."""
        self._closed = True
        self._server.connections.discard(self)
        for waiter in self._client_requests.values():
            waiter.cancel()
        for command in list(self._commands):
            if command.process is not None:
                command.process.terminate()
        tasks = [*self._commands.values(), *self._controls]
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_S)
        if self._shell_tool is not None:
            await self._shell_tool.close()
        if self._network is not None:
            with contextlib.suppress(Exception):
                await self._network.close()
