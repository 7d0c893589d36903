"""Loading policies from rules files or strings."""

from __future__ import annotations

import os

from . import cache as policy_cache
from .error import PolicyReadError

# `.parser` (and Starlark) is imported only when a policy is evaluated: a
# cache hit, the whole work of a short `execguard` process, needs neither.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .parser import PolicyParser
    from .policy import Policy


def load_policy(
    paths: Iterable[str | os.PathLike[str]], *, use_cache: bool | None = None
) -> Policy:
    """Evaluate rules files in order into one policy.

    Raises :class:`PolicyReadError` or :class:`PolicyParseError` (naming the
    file, line and column) for the first file that fails, as the reference
    reports them. Compiled policies are cached by content (see
    ``cache.py``); ``use_cache=False`` (or ``EXECGUARD_POLICY_CACHE=0``)
    turns that off.
    """
    shown = [os.fspath(p) for p in paths]
    if use_cache is None:
        use_cache = os.environ.get("EXECGUARD_POLICY_CACHE", "1") != "0"
    if use_cache:
        raw = _read_all(shown)
        if raw is not None:
            cached = policy_cache.load_cached(raw)
            if cached is not None:
                return cached
            parser = _new_parser()
            for name, data in zip(shown, raw, strict=True):
                parser.parse(name, decode_rules_source(name, data))
            policy_cache.store(raw, parser.policy,
                               depends_on_environment=parser.depends_on_environment)
            return parser.policy
    parser = _new_parser()
    for name in shown:
        parser.parse_file(name)
    return parser.policy


def load_policy_from_strings(sources: Sequence[tuple[str, str]]) -> Policy:
    """Evaluate ``(name, text)`` pairs in order; names appear in errors."""
    parser = _new_parser()
    for name, text in sources:
        parser.parse(name, text)
    return parser.policy


def _new_parser() -> PolicyParser:
    from .parser import PolicyParser

    return PolicyParser()


def _read_all(paths: Sequence[str]) -> list[bytes] | None:
    """Every file's bytes, or ``None`` if one cannot be read (the uncached path
    then reports errors in the reference's order: file by file)."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                out.append(handle.read())
        except OSError:
            return None
    return out


def decode_rules_source(name: str, data: bytes) -> str:
    """A rules file's bytes as strict UTF-8, with the reference's error cause."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyReadError(name, "stream did not contain valid UTF-8") from None
