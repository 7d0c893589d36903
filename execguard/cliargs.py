"""What the hand-rolled command lines share (`execguard app-server`,
`execguard debug sandbox`): usage errors and options that take a value,
given as ``--name VALUE`` or ``--name=VALUE``, with clap's wording."""

from __future__ import annotations

__all__ = ["UsageError", "option_value"]


class UsageError(Exception):
    """Bad arguments: the command prints the message and exits with status 2."""


def option_value(args: list[str], index: int, name: str, inline: str | None,
                 placeholder: str) -> tuple[str, int]:
    """The value of option ``name`` found at ``args[index]`` (``inline``:
    what followed ``=`` there, if anything) and the index of its last
    argument."""
    if inline is not None:
        return inline, index
    if index + 1 < len(args):
        return args[index + 1], index + 1
    raise UsageError(f"a value is required for '{name} {placeholder}' but none was supplied")
