"""The only place a path is written into profile text: the pattern that keeps
a protected name read-only before it exists (``(require-not (regex #"…"))``).

Everything else reaches Seatbelt as a ``-D`` parameter, which needs no
escaping. A pattern cannot be a parameter here without changing the
profile's shape from the reference's, so it is written inline, and the
path in it must be escaped twice: for the regular expression, and for the
``#"…"`` literal that carries it.

How Seatbelt reads ``#"…"`` is not documented. Apple's own profiles use it
for patterns such as ``#"^/dev/ttys[0-9]+"`` and ``#"\\.plist$"``, so a
backslash before a metacharacter reaches the regex engine unchanged; what a
backslash before ``"`` or before another backslash does is unknown (a raw
reader would end the literal at that quote; a string reader would fold the
pair). Chromium's sandbox, from empirical tests, only hands the engine
printable ASCII up to ``}``. So a pattern is only written for a path whose
characters are all printable ASCII from space to ``}`` except ``"`` and
``\\`` (:func:`regex_safe`); metacharacters get a backslash, nothing else
does. The literal then contains no quote and no backslash pair, and reads
the same under every plausible reader. Protected paths under any other
root (a quote, a backslash, ``~``, a newline, non-ASCII) are excluded by
``-D`` parameters instead (literal and subpath), which protects exactly
the same paths without writing them into the profile.
"""

from __future__ import annotations

from .errors import SeatbeltError

__all__ = ["REGEX_METACHARACTERS", "regex_literal", "regex_safe", "subtree_regex"]

# Characters with a meaning in a regular expression; each gets a backslash.
REGEX_METACHARACTERS = frozenset(".^$[](){}|*+?")
_UNSAFE = frozenset('"\\')


def regex_safe(path: str) -> bool:
    """Whether a pattern for ``path`` can be written into profile text."""
    return all(" " <= char <= "}" and char not in _UNSAFE for char in path)


def subtree_regex(path: str) -> str:
    """The pattern matching ``path`` and everything beneath it, and nothing
    else: ``^<path>(/.*)?$`` with metacharacters escaped."""
    if not path.startswith("/") or path.endswith("/") or not regex_safe(path):
        raise SeatbeltError(f"no Seatbelt pattern can be written for {path!r}")
    escaped = "".join("\\" + char if char in REGEX_METACHARACTERS else char for char in path)
    return f"^{escaped}(/.*)?$"


def regex_literal(pattern: str) -> str:
    """``pattern`` as an SBPL regex literal. Only patterns from
    :func:`subtree_regex` (or fixed ones) are accepted: no quote, no
    backslash pair, no trailing backslash."""
    if '"' in pattern or "\\\\" in pattern or pattern.endswith("\\"):
        raise SeatbeltError(f"pattern {pattern!r} cannot be written as an SBPL regex literal")
    return f'#"{pattern}"'
