"""Did the sandbox cause this failure? (spec sandbox.md §3)

No signal says for sure that a failed command was stopped by the sandbox:
a line in the user's shell profile can fail, or a command can fail for
its own reasons and print "permission denied". Like the reference
(codex-rs ``sandboxing/src/denial.rs`` and ``violation.rs``) we guess from
well-known keywords and exit codes, and the caller uses the guess to offer
"retry without sandbox?". The guess is knowingly loose (ordinary failures
that print one of the keywords count as denials) because a missed denial
leaves the agent stuck, while a false one only costs an approval prompt.

:func:`is_likely_sandbox_denied` is the reference's heuristic, rule for
rule. :func:`classify_violation` answers the same question (it returns a
violation exactly when that function returns ``True``) and adds what the
reference logs: a reason, the denied path when a line names one, and the
start of the output. :func:`describe` is that log line; :func:`explain`
says the same to a user.

Deliberate differences from the reference, all in path extraction (the
yes/no answer is unchanged):

* a quoted last segment counts, as coreutils, git and Python print paths
  (``‘/w/d’``, ``'/w/f'``, ``"/w/f"``); the reference only strips quotes
  from a segment that is nothing but the path, so it finds no path in
  ``mkdir: cannot create directory ‘/w/d’: Read-only file system``;
* dash's redirection errors, ``sh: 1: cannot create /w/f: <error>`` (and
  ``cannot open``), the most common denial message of all;
* Python's ``[Errno 13] Permission denied: '/etc/x'``, where the path
  follows the marker.

On a line where the reference finds a path we find the same one (we may
stop at an earlier line it passes over). ``describe`` prints ``-`` for an
unknown path where the reference prints ``unknown``.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SandboxViolation",
    "ViolationReason",
    "classify_violation",
    "describe",
    "explain",
    "is_likely_sandbox_denied",
]

ViolationReason = Literal[
    "operation_not_permitted",
    "permission_denied",
    "read_only_file_system",
    "policy_denied",
    "failed_to_write_file",
    "sigsys",
]

Output = str | bytes

# Checked in this order, so the first keyword of the list found in a
# section decides the reason, wherever it appears in the text.
_KEYWORDS: tuple[tuple[str, ViolationReason], ...] = (
    ("operation not permitted", "operation_not_permitted"),
    ("permission denied", "permission_denied"),
    ("read-only file system", "read_only_file_system"),
    ("seccomp", "policy_denied"),
    ("sandbox", "policy_denied"),
    ("landlock", "policy_denied"),
    ("failed to write file", "failed_to_write_file"),
)

# 2: shell builtin misuse, 126: not executable, 127: not found. Such
# failures are the shell's own, unless a keyword says otherwise.
_QUICK_REJECT_EXIT_CODES = frozenset({2, 126, 127})

# A seccomp filter that kills (rather than fails) a syscall raises SIGSYS;
# only the Linux backends install one. The exit code is the shell's
# 128+signal (159 on x86 and arm); Python's negative returncode for the
# same death is accepted too, so a raw ``Popen.returncode`` works.
_SIGSYS = int(getattr(signal, "SIGSYS", 31))
_SIGSYS_EXIT_CODES = frozenset({128 + _SIGSYS, -_SIGSYS})

# Backend names as the reference logs them; "landlock" is our short name
# for the reference's legacy Landlock backend.
_LOG_NAMES = {"landlock": "legacy_landlock"}
_LINUX_BACKENDS = frozenset({"bubblewrap", "landlock", "legacy_landlock"})

_SNIPPET_MAX_CHARS = 512

# The errors that name a path. Matched ASCII case-insensitively (so
# offsets into the original line stay valid), each in two shapes: after a
# colon with the path before it, ``<program>: <path>: <error>``, and
# Python's ``[Errno <n>] <error>: '<path>'``.
_PATH_ERRORS = ("operation not permitted", "permission denied", "read-only file system")
_PATH_MARKERS = tuple(
    (
        re.compile(": " + re.escape(error), re.IGNORECASE | re.ASCII),
        re.compile(r"\[Errno \d+\] " + re.escape(error) + ": ['\"]", re.IGNORECASE | re.ASCII),
    )
    for error in _PATH_ERRORS
)
_ANY_PATH_ERROR = re.compile("|".join(map(re.escape, _PATH_ERRORS)), re.IGNORECASE | re.ASCII)
_QUOTE_PAIRS = {"’": "‘", "'": "'", '"': '"', "”": "“"}
_DASH_PREFIXES = ("cannot create ", "cannot open ")

_REASON_TEXT: dict[ViolationReason, str] = {
    "operation_not_permitted": "operation not permitted",
    "permission_denied": "permission denied",
    "read_only_file_system": "read-only file system",
    "policy_denied": "sandbox policy",
    "failed_to_write_file": "failed to write file",
    "sigsys": "SIGSYS",
}


@dataclass(frozen=True, slots=True)
class SandboxViolation:
    """A failure that the sandbox most likely caused (a filesystem
    violation in the reference's terms: it files seccomp kills and
    keyword matches there too).

    ``backend`` is the backend's log name (``bubblewrap``,
    ``legacy_landlock``, ``seatbelt``, ...); ``path`` is the denied path
    when an output line names one; ``snippet`` is the start of the first
    non-blank output (stderr first), at most 512 characters, for logs.
    """

    reason: ViolationReason
    path: str | None
    backend: str
    snippet: str


def is_likely_sandbox_denied(
    backend: str | None,
    exit_code: int,
    stdout: Output,
    stderr: Output,
    aggregated: Output | None = None,
) -> bool:
    """Whether a command run under ``backend`` (``None``: no sandbox) most
    likely failed because of the sandbox. ``aggregated`` is the
    interleaved output when the caller keeps one (it can hold text that
    the separate streams lost to truncation). Bytes are decoded as UTF-8,
    invalid sequences replaced."""
    return _reason(backend, exit_code, _sections(stdout, stderr, aggregated)) is not None


def classify_violation(
    backend: str | None,
    exit_code: int,
    stdout: Output,
    stderr: Output,
    aggregated: Output | None = None,
) -> SandboxViolation | None:
    """The violation behind a failed sandboxed command, or ``None`` when
    :func:`is_likely_sandbox_denied` would say ``False``."""
    sections = _sections(stdout, stderr, aggregated)
    reason = _reason(backend, exit_code, sections)
    if reason is None or backend is None:
        return None
    path = None
    if reason != "sigsys":
        path = next(filter(None, map(_denied_path, sections)), None)
    return SandboxViolation(
        reason=reason,
        path=path,
        backend=_LOG_NAMES.get(backend, backend),
        snippet=_snippet(sections),
    )


def describe(violation: SandboxViolation) -> str:
    """The log line the reference writes for a violation (``-`` when no
    path is known)."""
    return (
        "recorded sandbox violation: resource=filesystem "
        f"backend={violation.backend} reason={violation.reason} "
        f"path={violation.path or '-'}"
    )


def explain(violation: SandboxViolation) -> str:
    """A short sentence for the user, e.g. ``the sandbox denied writing
    /w/f (read-only file system)``. A read-only file system and a failed
    file write only happen on writes; the other errors can come from any
    kind of access, so the sentence does not claim one."""
    reason = violation.reason
    if reason == "sigsys":
        return "the sandbox blocked a system call (the command was killed by SIGSYS)"
    if reason in ("read_only_file_system", "failed_to_write_file"):
        what = f"writing {violation.path}" if violation.path else "a write"
    else:
        what = f"access to {violation.path}" if violation.path else "an operation"
    return f"the sandbox denied {what} ({_REASON_TEXT[reason]})"


# -- internals ------------------------------------------------------------------------


def _sections(stdout: Output, stderr: Output, aggregated: Output | None) -> list[str]:
    """The texts to search, in the reference's order: stderr, stdout,
    aggregated."""
    texts = [stderr, stdout] if aggregated is None else [stderr, stdout, aggregated]
    return [_text(text) for text in texts]


def _text(output: Output) -> str:
    if isinstance(output, str):
        return output
    return output.decode("utf-8", errors="replace")


def _reason(backend: str | None, exit_code: int, sections: list[str]) -> ViolationReason | None:
    """The reference's rules, in its order: a keyword wins over the quick
    rejects, which win over SIGSYS."""
    if backend is None or exit_code == 0:
        return None
    for section in sections:
        lowered = section.lower()
        for keyword, reason in _KEYWORDS:
            if keyword in lowered:
                return reason
    if exit_code in _QUICK_REJECT_EXIT_CODES:
        return None
    if backend in _LINUX_BACKENDS and exit_code in _SIGSYS_EXIT_CODES:
        return "sigsys"
    return None


def _denied_path(text: str) -> str | None:
    """The path named by the first line that names one next to a path
    marker. Only lines holding a marker and a slash are looked at (found
    with one regex scan), so multi-megabyte output costs one pass."""
    done_until = -1
    for hit in _ANY_PATH_ERROR.finditer(text):
        if hit.start() < done_until:
            continue  # a later marker on a line already looked at
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.end())
        done_until = len(text) if end == -1 else end
        if text.find("/", start, done_until) == -1:
            continue  # every path we accept holds a slash
        path = _path_in_line(text[start:done_until].removesuffix("\r"))
        if path is not None:
            return path
    return None


def _path_in_line(line: str) -> str | None:
    # As the reference: each error in turn, at its first occurrence.
    for after_colon, python_form in _PATH_MARKERS:
        hit = after_colon.search(line)
        if hit is not None:
            path = _path_before(line[: hit.start()])
            if path is not None:
                return path
        hit = python_form.search(line)
        if hit is not None:
            path = _quoted_from(line, hit.end() - 1)
            if path is not None:
                return path
    return None


def _path_before(prefix: str) -> str | None:
    """The path at the end of ``<program>: ... <path>``."""
    # The reference: the last ": "-separated segment, trimmed, unquoted.
    segment = prefix.rsplit(": ", 1)[-1].strip().strip('"').strip("'")
    if _is_path(segment):
        return segment
    # A quoted path ending the prefix; it may itself contain ": ".
    quoted = _quoted_at_end(prefix.rstrip())
    if quoted is not None:
        return quoted
    # dash: "sh: 1: cannot create /w/f: Read-only file system"
    for lead in _DASH_PREFIXES:
        if segment.startswith(lead) and _is_path(segment[len(lead) :]):
            return segment[len(lead) :]
    return None


def _quoted_at_end(text: str) -> str | None:
    if not text or text[-1] not in _QUOTE_PAIRS:
        return None
    opening = text.rfind(_QUOTE_PAIRS[text[-1]], 0, len(text) - 1)
    if opening == -1:
        return None
    inner = text[opening + 1 : -1]
    return inner if _is_path(inner) else None


def _quoted_from(line: str, opening: int) -> str | None:
    """The path quoted from ``line[opening]`` to the same quote (how
    Python's ``OSError`` shows a file name)."""
    closing = line.find(line[opening], opening + 1)
    if closing == -1:
        return None
    inner = line[opening + 1 : closing]
    return inner if _is_path(inner) else None


def _is_path(candidate: str) -> bool:
    return candidate.startswith(("/", "./", "../"))


def _snippet(sections: list[str]) -> str:
    for section in sections:
        trimmed = section.strip()
        if trimmed:
            return trimmed[:_SNIPPET_MAX_CHARS]
    return ""
