"""Errors raised while loading or amending policies.

Messages use the reference's category prefixes (``invalid decision: ``,
``invalid pattern element: ``, ``invalid example: ``, ``invalid rule: ``) so
that tools reading Codex errors read ours the same way.
"""

from __future__ import annotations

from .value import Value


class PolicyError(Exception):
    """A rule, pattern, example or amendment is invalid.

    Raised by the builtins while a rules file is evaluated (the loader turns
    it into a :class:`PolicyParseError` with the file location) and by the
    programmatic policy API.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PolicyReadError(PolicyError):
    """A rules file could not be read (missing, a directory, not UTF-8)."""

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(f"failed to read policy at {path}: {cause}")
        self.path = path
        self.cause = cause


class Location(Value):
    """A 1-based line and column in a rules file."""

    __slots__ = ("file", "line", "column")
    file: str
    line: int
    column: int

    def __init__(self, file: str, line: int, column: int) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "column", column)


class PolicyParseError(PolicyError):
    """A rules file is not a valid policy.

    ``detail`` is the full diagnostic (Starlark traceback and code frame, as
    the reference prints it after ``Caused by:``); ``message`` is its one-line
    summary; ``location`` points at the offending code when there is one
    (example-check failures are reported for the whole file, as the
    reference does).
    """

    def __init__(self, path: str, detail: str, *, from_starlark: bool = True) -> None:
        self.path = path
        self.detail = detail
        self.from_starlark = from_starlark
        import re  # only on errors: `re` is not needed to load a good policy

        self.location = _find_location(detail)
        match = re.search(r"^error: (?P<message>.*)$", detail, re.M)
        summary = match.group("message") if match else detail.strip().splitlines()[0]
        super().__init__(summary)

    def __str__(self) -> str:
        where = self.path
        if self.location is not None:
            where = f"{self.location.file}:{self.location.line}:{self.location.column}"
        return f"failed to parse policy at {where}: {self.message}"


def _find_location(detail: str) -> Location | None:
    import re

    match = re.search(r"^\s*--> (?P<file>.*):(?P<line>\d+):(?P<column>\d+)\s*$", detail, re.M)
    if match:
        return Location(match["file"], int(match["line"]), int(match["column"]))
    frame = re.search(r"^\s*\* (?P<file>.*):(?P<line>\d+), in ", detail, re.M)
    if frame:
        return Location(frame["file"], int(frame["line"]), 1)
    return None
