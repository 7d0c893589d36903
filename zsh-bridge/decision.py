"""What the bridge asks about each intercepted exec, and the answers.

The bridge does not decide by itself: the caller gives it a *decider*, an
async function from :class:`ExecRequest` to :class:`Verdict` (execguard's
runtime plugs in the execpolicy engine and its approval flow). Every exec
then ends as an :class:`InterceptedExec`, the audit trail of what really
ran.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Action", "Decider", "ExecRequest", "InterceptedExec", "Verdict"]


class Action(enum.Enum):
    RUN = "run"  # the wrapper execs the program itself, inside the sandbox
    ESCALATE = "escalate"  # the server runs it outside the sandbox, with the wrapper's stdio
    DENY = "deny"  # the wrapper prints "Execution denied: <reason>" and exits 1


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str | None = None

    @classmethod
    def run(cls) -> Verdict:
        return cls(Action.RUN)

    @classmethod
    def escalate(cls) -> Verdict:
        return cls(Action.ESCALATE)

    @classmethod
    def deny(cls, reason: str | None) -> Verdict:
        return cls(Action.DENY, reason)


@dataclass(frozen=True)
class ExecRequest:
    """One exec the shell was about to do.

    ``file`` is the path zsh passed to ``execve`` (maybe relative), ``argv``
    the arguments with ``argv[0]`` as the shell set it, ``workdir`` the
    shell's directory, ``env`` its environment (without the bridge's own
    variables). ``program`` is ``file`` made absolute against ``workdir``
    (lexically: ``..`` is folded, symlinks are not followed), and
    :attr:`command` is what the policy judges: ``[program, *argv[1:]]``.
    """

    file: str
    argv: tuple[str, ...]
    workdir: str
    env: Mapping[str, str]
    program: str = field(init=False)

    def __post_init__(self) -> None:
        program = os.path.normpath(os.path.join(self.workdir, self.file))
        if program.startswith("//"):
            program = "/" + program.lstrip("/")
        object.__setattr__(self, "program", program)

    @property
    def command(self) -> list[str]:
        return [self.program, *self.argv[1:]]


Decider = Callable[[ExecRequest], Awaitable[Verdict]]


@dataclass(frozen=True)
class InterceptedExec:
    """The audit record of one intercepted exec, reported once it is over
    for the server (after the answer for run and deny, after the program
    exited for escalate).

    ``action`` is what happened, which can be stricter than the verdict: an
    escalation the bridge refused to do outside the sandbox runs inside it
    (``action`` run, ``note`` says why). ``exit_code`` is set for escalated
    programs only (the server saw them end); ``None`` otherwise.
    """

    command: tuple[str, ...]
    workdir: str
    action: Action
    reason: str | None = None
    exit_code: int | None = None
    note: str | None = None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"command": list(self.command), "cwd": self.workdir,
                                   "action": self.action.value}
        if self.reason is not None:
            body["reason"] = self.reason
        if self.exit_code is not None:
            body["exitCode"] = self.exit_code
        if self.note is not None:
            body["note"] = self.note
        return body
