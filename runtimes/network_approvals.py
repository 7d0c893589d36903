"""Per-host network approvals: the managed proxy's decider (spec 7.5, 7.6).

The proxy (:mod:`execguard.sandbox.network`) decides most requests on its
own: deny list, local/private targets, allow list. What is left, a host that
is simply not on the allow list (``not_allowed``), is a question for the
person running the session, and :class:`NetworkApprovalService` asks it:
``NetworkPolicy(domains, decider=service.decide)``.

Why a service rather than a bare callback:

* **One question per target.** A package manager opens many connections to
  the same host at once; the person must see one prompt, not twenty. Requests
  are keyed by (host, protocol, port) and concurrent requests for one key
  share one pending approval. A port or protocol the person did not see is a
  different question.
* **Session memory.** "Allow for this session" and persistent amendments must
  stop the prompts; a host the person denied must not come back as a prompt.
* **Fail closed.** No way to ask (no client, approval policy ``never``, a
  sandbox mode that never prompts), a client that errors, an answer we do not
  understand, an amendment naming another host: all deny. Nothing but an
  explicit "yes" for exactly what was shown turns an unknown host into allow.
* **Explaining failures.** A command whose connection was refused fails in
  confusing ways (a 403 inside some tool's stack trace). Every denial is
  recorded against the command that caused it (``NetworkCommandContext.item_id``)
  so the caller can turn the tool result into "rejected by user" or a policy
  sentence (:func:`outcome_message`), as Codex does.

Persistent amendments are appended to the user's rules file with
:func:`execguard.execpolicy.amend.append_network_rule` (off the event loop);
the live proxy policy is updated by the session through ``on_amendment``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, TypeAlias

from ..sandbox.network.decision import (
    REASON_NOT_ALLOWED,
    SOURCE_DECIDER,
    BlockedRequest,
    NetworkRequest,
    Verdict,
)
from ..sandbox.network.domains import normalize_host

__all__ = [
    "AmendmentAction",
    "AmendmentHook",
    "ApprovalCallback",
    "NetworkApprovalAnswer",
    "NetworkApprovalRequest",
    "NetworkApprovalService",
    "NetworkCommandContext",
    "NetworkDenial",
    "NetworkPolicyAmendment",
    "WireProtocol",
    "approval_request_params",
    "blocked_message",
    "outcome_message",
    "parse_approval_decision",
]

_log = logging.getLogger(__name__)

AmendmentAction = Literal["allow", "deny"]
WireProtocol = Literal["http", "https", "socks5Tcp", "socks5Udp"]

# Proxy protocol -> label of keys, ids and messages (`https://host:443`).
_KEY_LABELS = {"http": "http", "https_connect": "https", "socks5_tcp": "socks5-tcp",
               "socks5_udp": "socks5-udp"}
# Key label -> app-server `NetworkApprovalProtocol`.
_WIRE_PROTOCOLS: dict[str, WireProtocol] = {
    "http": "http", "https": "https", "socks5-tcp": "socks5Tcp", "socks5-udp": "socks5Udp"}
# Key label -> `network_rule(protocol=...)` and the proxy's own spelling, which
# the reference puts in the justification ("Allow https_connect access to h").
# The rule language here accepts socks5_tcp / socks5_udp (execpolicy.rule), as
# the reference's does, so SOCKS amendments are written as such, not as https.
_RULE_PROTOCOLS = {"http": "http", "https": "https", "socks5-tcp": "socks5_tcp",
                   "socks5-udp": "socks5_udp"}
_PROXY_LABELS = {"http": "http", "https": "https_connect", "socks5-tcp": "socks5_tcp",
                 "socks5-udp": "socks5_udp"}

# Sandbox policies under which a network prompt may be shown (spec 7.5 item 4:
# dangerFullAccess and externalSandbox never prompt).
_PROMPTING_SANDBOXES = frozenset({"readOnly", "workspaceWrite"})

_USER_REJECTION = "rejected by user"
_USER_DENIAL = "denied by user"
_EMPTY_HOST_MESSAGE = "Network access was blocked by policy."
_BLOCK_DETAILS = {
    "denied": "domain is explicitly denied by policy and cannot be approved from this prompt",
    "not_allowed": "domain is not on the allowlist for the current sandbox mode",
    "not_allowed_local": "local/private network addresses are blocked by the sandbox policy",
    "method_not_allowed": "request method is blocked by the current network mode",
    "proxy_disabled": "network proxy is disabled",
}
_OTHER_DETAIL = "request is blocked by network policy"

# A command retrying against many ports must not grow its record without end.
_MAX_DENIALS_PER_ITEM = 100


# -- values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkCommandContext:
    """The command behind a proxy request, attached as ``NetworkRequest.context``
    (``NetworkProxy(policy, context=...)``).

    ``command`` is the argv shown to the person, ``approval_policy`` one of
    ``untrusted``, ``on-failure``, ``on-request``, ``never``, ``sandbox_type``
    the sandbox policy's ``type``; ``item_id`` is the caller's id for the
    command, under which denials are recorded.
    """

    command: tuple[str, ...] = ()
    cwd: str | None = None
    approval_policy: str = "on-request"
    sandbox_type: str = "readOnly"
    item_id: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkPolicyAmendment:
    """A persistent allow / deny rule for one host (wire ``NetworkPolicyAmendment``)."""

    host: str
    action: AmendmentAction


NetworkApprovalAnswer: TypeAlias = (
    Literal["accept", "acceptForSession", "decline", "cancel"] | NetworkPolicyAmendment)
"""What the person answered. ``decline`` and ``cancel`` both deny; interrupting
the turn on ``cancel`` is the caller's business."""


@dataclass(frozen=True, slots=True)
class NetworkApprovalRequest:
    """One question for the person: may ``context``'s command reach ``host``?"""

    approval_id: str
    host: str
    port: int
    protocol: WireProtocol
    command: tuple[str, ...]
    reason: str
    proposed_amendments: tuple[NetworkPolicyAmendment, ...]
    context: NetworkCommandContext | None = None


@dataclass(frozen=True, slots=True)
class NetworkDenial:
    """One refused request, recorded for the command that made it.

    ``protocol`` is the key label (``http``, ``https``, ``socks5-tcp``),
    ``reason`` the proxy's block reason, ``message`` what was recorded when it
    happened, ``by_user`` whether the person said no."""

    host: str
    port: int
    protocol: str
    reason: str
    message: str
    by_user: bool = False


ApprovalCallback: TypeAlias = Callable[[NetworkApprovalRequest], Awaitable[NetworkApprovalAnswer]]
"""Shows the question to the person (or an automatic reviewer) and returns the
answer. May take as long as they take; the connection is held open meanwhile."""

AmendmentHook: TypeAlias = Callable[[str, AmendmentAction], Awaitable[None] | None]
"""Called with (host, action) for an accepted amendment, so the session owner
can add the host to the live proxy's allow or deny list."""


class _Key(NamedTuple):
    host: str
    protocol: str  # key label
    port: int


@dataclass(frozen=True, slots=True)
class _Resolution:
    verdict: Verdict
    message: str = ""
    by_user: bool = False


# -- messages ------------------------------------------------------------------------


def blocked_message(host: str, reason: str) -> str:
    """The sentence for a policy block of ``host`` (spec 7.5 item 7)."""
    host = host.strip()
    if not host:
        return _EMPTY_HOST_MESSAGE
    detail = _BLOCK_DETAILS.get(reason, _OTHER_DETAIL)
    return f'Network access to "{host}" was blocked: {detail}.'


def outcome_message(denial: NetworkDenial) -> str:
    """What the failed tool call says about ``denial``: ``rejected by user`` when
    the person said no, else the message recorded with it (or, failing that,
    :func:`blocked_message`)."""
    if denial.by_user:
        return _USER_REJECTION
    return denial.message or blocked_message(denial.host, denial.reason)


def _policy_denial_message(key: _Key) -> str:
    return f'Network access to "{key.protocol}://{key.host}:{key.port}" was blocked by policy.'


# -- wire ----------------------------------------------------------------------------

_DECISION_WORDS: dict[str, NetworkApprovalAnswer] = {
    "accept": "accept", "acceptForSession": "acceptForSession", "decline": "decline",
    "cancel": "cancel"}
_DECISION_FIELD = "decision"


def _expected_decisions() -> str:
    words = ", ".join(f'"{w}"' for w in _DECISION_WORDS)
    return (f"expected one of {words}, {{\"acceptWithExecpolicyAmendment\": {{...}}}} or "
            f"{{\"applyNetworkPolicyAmendment\": {{...}}}}")


def parse_approval_decision(value: object) -> NetworkApprovalAnswer:
    """The answer in a ``CommandExecutionRequestApprovalResponse.decision``.

    ``acceptWithExecpolicyAmendment`` (a command-rule amendment, meaningless
    for a host) counts as ``accept``, as in the reference. Raises
    :class:`ValueError` naming the offending field for anything else.
    """
    if isinstance(value, str):
        word = _DECISION_WORDS.get(value)
        if word is not None:
            return word
        raise ValueError(f"{_DECISION_FIELD}: {_expected_decisions()} (got {value!r})")
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"{_DECISION_FIELD}: {_expected_decisions()} (got {_shown(value)})")
    ((tag, body),) = value.items()
    if tag == "acceptWithExecpolicyAmendment":
        where = f"{_DECISION_FIELD}.{tag}"
        tokens = _field(body, "execpolicy_amendment", where)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError(f"{where}.execpolicy_amendment: expected an array of strings "
                             f"(got {_shown(tokens)})")
        return "accept"
    if tag == "applyNetworkPolicyAmendment":
        where = f"{_DECISION_FIELD}.{tag}.network_policy_amendment"
        amendment = _field(body, "network_policy_amendment", f"{_DECISION_FIELD}.{tag}")
        host = _field(amendment, "host", where)
        action = _field(amendment, "action", where)
        if not isinstance(host, str):
            raise ValueError(f"{where}.host: expected a string (got {_shown(host)})")
        if action == "allow" or action == "deny":
            return NetworkPolicyAmendment(host, action)
        raise ValueError(f'{where}.action: expected "allow" or "deny" (got {_shown(action)})')
    raise ValueError(f"{_DECISION_FIELD}: unknown decision {tag!r}; {_expected_decisions()}")


def _field(body: object, name: str, where: str) -> object:
    if not isinstance(body, dict):
        raise ValueError(f"{where}: expected an object (got {_shown(body)})")
    if name not in body:
        raise ValueError(f"{where}.{name}: missing field")
    return body[name]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def approval_request_params(request: NetworkApprovalRequest, *, thread_id: str, turn_id: str,
                            item_id: str, started_at_ms: int) -> dict[str, Any]:
    """The params of the ``item/commandExecution/requestApproval`` server request
    that asks the client about ``request`` (``CommandExecutionRequestApprovalParams``)."""
    context = request.context
    return {
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": item_id,
        "approvalId": request.approval_id,
        "command": shlex.join(request.command),
        "cwd": context.cwd if context is not None else None,
        "reason": request.reason,
        "kind": "command",
        "networkApprovalContext": {"host": request.host, "protocol": request.protocol},
        "proposedNetworkPolicyAmendments": [
            {"host": a.host, "action": a.action} for a in request.proposed_amendments],
        "proposedExecpolicyAmendment": None,
        "commandActions": None,
        "startedAtMs": started_at_ms,
    }


# -- the service ---------------------------------------------------------------------


class NetworkApprovalService:
    """Answers the proxy's ``not_allowed`` requests for one session.

    ``callback`` asks the person (``None``: nobody to ask, every such request
    is denied). ``rules_file`` receives persistent amendments; ``on_amendment``
    applies them to the live proxy policy. ``approval_policy`` and
    ``sandbox_type`` apply to requests without a :class:`NetworkCommandContext`.

    Failures to persist or apply an amendment do not change the answer for
    this session; they are logged and appended to :attr:`errors`.
    """

    def __init__(
        self,
        callback: ApprovalCallback | None = None,
        *,
        rules_file: str | os.PathLike[str] | None = None,
        on_amendment: AmendmentHook | None = None,
        approval_policy: str = "on-request",
        sandbox_type: str = "readOnly",
    ) -> None:
        self.callback = callback
        self.rules_file = rules_file
        self.on_amendment = on_amendment
        self.approval_policy = approval_policy
        self.sandbox_type = sandbox_type
        self.errors: list[str] = []
        self._approved: set[_Key] = set()
        self._denied: set[_Key] = set()
        self._pending: dict[_Key, asyncio.Task[_Resolution]] = {}
        self._denials: dict[str, list[NetworkDenial]] = {}
        self._closed = False

    # -- the decider -------------------------------------------------------------

    async def decide(self, request: NetworkRequest) -> Verdict:
        """``allow`` or ``deny`` for a ``not_allowed`` request (the proxy's
        :data:`~execguard.sandbox.network.Decider`)."""
        context = request.context if isinstance(request.context, NetworkCommandContext) else None
        item_id = context.item_id if context is not None else None
        host = normalize_host(request.host)
        label = _KEY_LABELS.get(request.protocol, request.protocol)
        key = _Key(host, label, request.port)
        if not host or label not in _WIRE_PROTOCOLS:
            self._deny(item_id, key, _policy_denial_message(key) if host else _EMPTY_HOST_MESSAGE)
            return "deny"
        if key in self._denied:
            self._deny(item_id, key, blocked_message(host, REASON_NOT_ALLOWED))
            return "deny"
        if key in self._approved:
            return "allow"
        if not self._can_prompt(context):
            self._deny(item_id, key, _policy_denial_message(key))
            return "deny"

        task = self._pending.get(key)
        if task is None or task.done():  # a settled "accept" was for its waiters only
            task = asyncio.get_running_loop().create_task(
                self._prompt(key, self._approval_request(key, context)))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._settled(key, done))
        try:
            # Shielded: a waiter whose client went away must not cancel the
            # question the others (and the person) are still looking at.
            resolution = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this waiter was cancelled, not the approval
            resolution = _Resolution("deny", _policy_denial_message(key))
        if resolution.verdict != "allow":
            self._deny(item_id, key, resolution.message, by_user=resolution.by_user)
            return "deny"
        return "allow"

    def _can_prompt(self, context: NetworkCommandContext | None) -> bool:
        policy = context.approval_policy if context is not None else self.approval_policy
        sandbox = context.sandbox_type if context is not None else self.sandbox_type
        return (not self._closed and self.callback is not None and policy != "never"
                and sandbox in _PROMPTING_SANDBOXES)

    @staticmethod
    def _approval_request(key: _Key, context: NetworkCommandContext | None,
                          ) -> NetworkApprovalRequest:
        return NetworkApprovalRequest(
            approval_id=f"network#{key.protocol}#{key.host}#{key.port}",
            host=key.host,
            port=key.port,
            protocol=_WIRE_PROTOCOLS[key.protocol],
            command=("network-access", f"{key.protocol}://{key.host}:{key.port}"),
            reason=f"{key.host} is not in the allowed_domains",
            proposed_amendments=(NetworkPolicyAmendment(key.host, "allow"),
                                 NetworkPolicyAmendment(key.host, "deny")),
            context=context,
        )

    def _settled(self, key: _Key, task: asyncio.Task[_Resolution]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _prompt(self, key: _Key, request: NetworkApprovalRequest) -> _Resolution:
        callback = self.callback
        assert callback is not None  # checked by _can_prompt
        try:
            answer = await callback(request)
            return await self._apply(key, answer)
        except Exception as error:  # a broken client must not open the network
            _log.warning("network approval for %s failed: %s", request.approval_id, error)
            return _Resolution("deny", f"Error while requesting approval: {error}")

    async def _apply(self, key: _Key, answer: object) -> _Resolution:
        if isinstance(answer, NetworkPolicyAmendment):
            if normalize_host(answer.host) != key.host or answer.action not in ("allow", "deny"):
                # Never widen (or aim) a rule beyond what the person was shown.
                _log.warning("ignoring network amendment %r for a prompt about %s; declined",
                             answer, key.host)
                return _Resolution("deny", _USER_REJECTION, by_user=True)
            await self._amend(key, answer.action)
            if answer.action == "allow":
                self._denied.discard(key)
                self._approved.add(key)
                return _Resolution("allow")
            self._approved.discard(key)
            self._denied.add(key)
            return _Resolution("deny", _USER_DENIAL, by_user=True)
        if answer == "accept":
            return _Resolution("allow")
        if answer == "acceptForSession":
            self._denied.discard(key)
            self._approved.add(key)
            return _Resolution("allow")
        if answer in ("decline", "cancel"):
            return _Resolution("deny", _USER_REJECTION, by_user=True)
        _log.warning("unexpected network approval answer %r; denied", answer)
        return _Resolution("deny", f"Error while requesting approval: unexpected answer "
                                   f"{_shown(answer)}")

    async def _amend(self, key: _Key, action: AmendmentAction) -> None:
        """Apply an amendment to the live policy, then to the rules file."""
        hook = self.on_amendment
        if hook is not None:
            try:
                result = hook(key.host, action)
                if inspect.isawaitable(result):
                    await result
            except Exception as error:
                self._error(f"Failed to apply network policy amendment ({action} {key.host}) "
                            f"to the live policy: {error}")
        if self.rules_file is not None:
            verb = "Allow" if action == "allow" else "Deny"
            justification = f"{verb} {_PROXY_LABELS[key.protocol]} access to {key.host}"
            problem = await asyncio.to_thread(
                _persist, self.rules_file, key.host, _RULE_PROTOCOLS[key.protocol], action,
                justification)
            if problem is not None:
                self._error(f"Failed to persist network policy amendment ({action} {key.host}): "
                            f"{problem}")

    def _error(self, message: str) -> None:
        _log.warning("%s", message)
        self.errors.append(message)

    # -- records -----------------------------------------------------------------

    def _deny(self, item_id: str | None, key: _Key, message: str, *, by_user: bool = False,
              ) -> None:
        self._record(item_id, NetworkDenial(key.host, key.port, key.protocol, REASON_NOT_ALLOWED,
                                            message, by_user))

    def _record(self, item_id: str | None, denial: NetworkDenial) -> None:
        if item_id is None:
            return  # nobody to tell
        denials = self._denials.setdefault(item_id, [])
        if denial not in denials and len(denials) < _MAX_DENIALS_PER_ITEM:
            denials.append(denial)

    def record_blocked(self, blocked: BlockedRequest) -> None:
        """Record a request the proxy itself refused (deny list, local address,
        ...) for the command in ``blocked.context``. Refusals this service
        decided (``source == "decider"``) are already recorded by :meth:`decide`
        and are skipped, as are ``ask`` decisions."""
        if blocked.decision != "deny" or blocked.source == SOURCE_DECIDER:
            return
        context = blocked.context if isinstance(blocked.context, NetworkCommandContext) else None
        if context is None:
            return
        host = normalize_host(blocked.host)
        self._record(context.item_id, NetworkDenial(
            host, blocked.port, _KEY_LABELS.get(blocked.protocol, blocked.protocol),
            blocked.reason, blocked_message(host, blocked.reason)))

    def denials_for(self, item_id: str) -> list[NetworkDenial]:
        """The denials recorded for ``item_id``, oldest first (a copy)."""
        return list(self._denials.get(item_id, ()))

    def outcome_for(self, item_id: str) -> str | None:
        """The rejection text for ``item_id``'s tool result, or ``None`` if none
        of its requests was denied: ``rejected by user`` when the person said
        no to any, else the first denial's :func:`outcome_message`."""
        denials = self._denials.get(item_id)
        if not denials:
            return None
        if any(d.by_user for d in denials):
            return _USER_REJECTION
        return outcome_message(denials[0])

    def forget(self, item_id: str) -> None:
        """Drop ``item_id``'s records (its command has finished)."""
        self._denials.pop(item_id, None)

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Cancel pending approvals (their waiters get ``deny`` as soon as the
        event loop runs them); later requests are denied without a prompt.
        Idempotent."""
        self._closed = True
        for task in list(self._pending.values()):
            task.cancel()


def _persist(path: str | os.PathLike[str], host: str, protocol: str, action: AmendmentAction,
             justification: str) -> str | None:
    """Append the rule (in a worker thread); the error text if that failed."""
    # Imported here: the rules machinery (Starlark) is only needed once a
    # person chooses a persistent amendment.
    from ..execpolicy.amend import AmendError, append_network_rule

    try:
        append_network_rule(path, host, protocol, action, justification)
    except (AmendError, OSError) as error:
        return str(error)
    return None
