"""A person's (or a reviewer's) answer to "may this command run?".

One vocabulary for every place that asks about a command: the shell-tool
flow (`runtimes.shell_tool`) and the exec bridge (`runtimes.exec_bridge`).
It mirrors the app-server's ``CommandExecutionApprovalDecision``:

* ``"accept"``: run it this once;
* ``"acceptForSession"``: run it, and do not ask again about the same
  command in the same place for the rest of the session;
* ``("amend", tokens)``: run it, and allow commands starting with
  ``tokens`` from now on (written to the rules file when one is set);
* ``"decline"``: do not run it;
* ``"cancel"``: do not run it, and stop what the call belongs to.

Asking never fails: a callback that raises or answers something else counts
as ``"decline"`` (fail closed), with the reason logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Literal, TypeAlias, TypeVar

__all__ = ["ApprovalAnswer", "answer_of", "ask", "checked_answer", "parse_exec_decision"]

log = logging.getLogger(__name__)

ApprovalAnswer: TypeAlias = (
    Literal["accept", "acceptForSession", "decline", "cancel"]
    | tuple[Literal["amend"], list[str]])

_WORDS = frozenset({"accept", "acceptForSession", "decline", "cancel"})

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .protocol import Response

Request = TypeVar("Request")
# An approver may be a coroutine function (a person behind a UI or a
# connection) or a plain function (an automatic reviewer).
Approver: TypeAlias = Callable[[Request], Awaitable[ApprovalAnswer] | ApprovalAnswer]


def checked_answer(answer: object) -> ApprovalAnswer | None:
    """``answer`` when it is one of the answers above (an amendment needs at
    least one token, every token a string), else ``None``."""
    if isinstance(answer, str) and answer in _WORDS:
        return answer  # type: ignore[return-value]
    if (isinstance(answer, tuple) and len(answer) == 2 and answer[0] == "amend"
            and isinstance(answer[1], list) and answer[1]
            and all(isinstance(token, str) for token in answer[1])):
        return ("amend", list(answer[1]))
    return None


async def ask(approve: Approver[Request], request: Request, *, who: str) -> ApprovalAnswer:
    """``approve(request)``, awaited when it returns an awaitable; a failure
    or an unknown answer is a refusal (``who`` names the asker in the log)."""
    try:
        answer: object = approve(request)
        if inspect.isawaitable(answer):
            answer = await answer
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s: the approval callback failed; declining", who)
        return "decline"
    checked = checked_answer(answer)
    if checked is None:
        log.warning("%s: unknown approval answer %r; declining", who, answer)
        return "decline"
    return checked


def parse_exec_decision(value: object) -> ApprovalAnswer:
    """The answer in a ``CommandExecutionRequestApprovalResponse.decision``
    about a command: an execpolicy amendment keeps its tokens; a network
    amendment (meaningless for a command) counts as accept when it allows
    and decline when it denies. Raises ``ValueError`` naming the field."""
    # The wire parsing lives with the network approvals (a host answer is
    # one of the decisions); imported here so `execguard run` need not load it.
    from .network_approvals import NetworkPolicyAmendment, parse_approval_decision

    answer = parse_approval_decision(value)
    if isinstance(value, dict) and "acceptWithExecpolicyAmendment" in value:
        tokens = value["acceptWithExecpolicyAmendment"]["execpolicy_amendment"]
        if not tokens:
            raise ValueError("decision.acceptWithExecpolicyAmendment.execpolicy_amendment: "
                             "expected at least one token")
        return ("amend", list(tokens))
    if isinstance(answer, NetworkPolicyAmendment):
        return "accept" if answer.action == "allow" else "decline"
    return answer


def answer_of(response: Response | None) -> ApprovalAnswer:
    """The answer in a client's response to ``item/commandExecution/requestApproval``:
    an error response, a malformed decision or no response at all (the
    connection closed) declines."""
    if response is None or response.error is not None or not isinstance(response.result, dict):
        return "decline"
    try:
        return parse_exec_decision(response.result.get("decision"))
    except ValueError:
        return "decline"
