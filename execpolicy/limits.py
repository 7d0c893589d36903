"""Guards that keep a hostile rules file from crashing the process.

starlark-rust parses and evaluates recursively; a deeply nested expression
(``[[[[...`` or ``- - - -...`` a few thousand levels deep) overflows an 8 MiB
thread stack, which kills the whole Python process with SIGSEGV, not an
exception. So rules are evaluated on a thread with a large stack (address
space only: untouched pages cost nothing), and sources whose nesting could
outgrow even that are rejected up front with a clear error.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TypeVar

from .error import PolicyParseError

T = TypeVar("T")

# A 10,000-rule file is ~1 MiB; nothing legitimate comes near these.
MAX_SOURCE_BYTES = 32 * 1024 * 1024
MAX_NESTING = 10_000
# Measured: 20,000 levels of any nesting construct fit in 1 GiB with room to
# spare; MAX_NESTING keeps each construct (and realistic mixes) well below.
EVAL_STACK_BYTES = 1024 * 1024 * 1024

_BRACKETS = re.compile(r"[][(){}]")
_RUNS = (
    ("unary operators", re.compile(r"(?:[-+~]\s*){%d,}" % MAX_NESTING)),  # noqa: UP031
    ("`not` operators", re.compile(r"(?:\bnot\s+){%d,}" % MAX_NESTING)),  # noqa: UP031
    ("nested lambdas", re.compile(r"(?:\blambda\b[^:\n]*:\s*){%d,}" % MAX_NESTING)),  # noqa: UP031
)
_stack_size_lock = threading.Lock()


def check_source_limits(name: str, source: str) -> None:
    """Reject sources too large or too deeply nested to evaluate safely.

    Cheap counts decide whether the precise scans are needed at all, so an
    ordinary file pays a few ``str.count`` calls.
    """
    if len(source) > MAX_SOURCE_BYTES:
        _reject(name, source, 0, f"rules file is too large ({len(source)} characters; "
                f"the limit is {MAX_SOURCE_BYTES})")
    if sum(source.count(c) for c in "([{") > MAX_NESTING:
        depth = 0
        for match in _BRACKETS.finditer(source):
            depth += 1 if match.group() in "([{" else -1
            if depth > MAX_NESTING:
                _reject(name, source, match.start(),
                        f"brackets nested more than {MAX_NESTING} levels deep")
    counts = {"unary operators": sum(source.count(c) for c in "-+~"),
              "`not` operators": source.count("not"),
              "nested lambdas": source.count("lambda")}
    for what, pattern in _RUNS:
        if counts[what] > MAX_NESTING:
            found = pattern.search(source)
            if found:
                _reject(name, source, found.start(),
                        f"more than {MAX_NESTING} {what} in a row")


def _reject(name: str, source: str, offset: int, message: str) -> None:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    raise PolicyParseError(name, f"error: {message}\n --> {name}:{line}:{column}\n")


def run_on_large_stack(function: Callable[[], T]) -> T:
    """Call ``function`` on a fresh thread with an :data:`EVAL_STACK_BYTES` stack
    and return its result or raise its exception. Falls back to the calling
    thread if no such thread can be started (the source limits still hold)."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as error:  # handed over to the caller below
            outcome.append((False, error))

    with _stack_size_lock:
        previous = threading.stack_size(EVAL_STACK_BYTES)
        try:
            worker = threading.Thread(target=run, name="execguard-rules-eval", daemon=True)
            worker.start()
        except (RuntimeError, ValueError, MemoryError):
            worker = None
        finally:
            threading.stack_size(previous)
    if worker is None:
        return function()
    worker.join()
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[return-value]
    raise value  # type: ignore[misc]
