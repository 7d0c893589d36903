"""A cache of compiled policies, keyed by the content of their rules files.

Evaluating a large rules file dominates a short-lived `execguard` process
(10,000 rules take ~0.3 s of Starlark); a cache hit costs a few ms.

A policy whose example checks resolved a relative program (so depend on the
working directory and ``$HOME``) is stored under :func:`environment_key`,
which also covers those.

Entries are `marshal` data (never pickle: loading one runs no code) rebuilt
into rule objects, written atomically with mode 0600 in a 0700 directory.
Whoever can write the cache directory can change the policy, exactly as
whoever can write the rules files can; the sandbox must keep it read-only
(docs/compatibility.md).
"""

from __future__ import annotations

import gc
import hashlib
import marshal
import os
from collections.abc import Sequence

from .decision import Decision
from .policy import Policy
from .rule import NetworkProtocol, NetworkRule, PrefixRule

# `typing` is not imported at run time: a cache hit is the whole work of a
# short `execguard execpolicy check` process, and importing it costs more.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Bump when the stored shape or the loader's semantics change.
_FORMAT = b"execguard-policy-cache-2"
_MAX_ENTRIES = 64
# Below this much source text, evaluating is about as fast as a cache hit.
MIN_CACHED_BYTES = 16 * 1024


def cache_dir() -> str:
    configured = os.environ.get("EXECGUARD_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "execguard", "policies")


def cache_key(sources: Sequence[bytes]) -> str:
    digest = hashlib.sha256(_FORMAT)
    for source in sources:
        digest.update(len(source).to_bytes(8, "little"))
        digest.update(source)
    return digest.hexdigest()


def environment_key(key: str) -> str | None:
    """``key`` extended with what resolving a relative program reads (the
    working directory and ``$HOME``); ``None`` if the cwd is gone."""
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    home = os.environ.get("HOME")
    digest = hashlib.sha256(_FORMAT + b"\0env\0" + key.encode())
    for part in (cwd, "\0" if home is None else "=" + home):
        encoded = os.fsencode(part)
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def load_cached(key: str) -> Policy | None:
    path = os.path.join(cache_dir(), key)
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():
                return None
            # One read, then `loads`: `marshal.load` on a file reads it in
            # tiny pieces (~30 ms slower for 10,000 rules).
            source = handle.read()
        # Rebuilding allocates tens of thousands of objects, none of them
        # garbage: collections meanwhile would only slow it down (~25%).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return _decode(marshal.loads(source))
        finally:
            if collecting:
                gc.enable()
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def store(key: str, policy: Policy) -> None:
    """Best effort: a cache that cannot be written is simply not used."""
    import tempfile  # only on a miss: costs more to import than a cache hit

    directory = cache_dir()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                marshal.dump(_encode(policy), handle)
            os.replace(tmp, os.path.join(directory, key))
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(directory)
    except OSError:
        pass


def _prune(directory: str) -> None:
    import contextlib

    entries = [e for e in os.scandir(directory) if not e.name.startswith(".")]
    if len(entries) <= _MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for entry in entries[: len(entries) - _MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _encode(policy: Policy) -> tuple[Any, ...]:
    # Grouped by program (in first-definition order, as `Policy.rules`): each
    # program's name is stored once, which halves the time to unmarshal.
    rules = [
        (program, [(r.rest, r.decision.value, r.justification, r.canonical_matching)
                   for r in group])
        for program, group in policy.rules_by_program.items()
    ]
    hosts = list(policy.host_executables.items())
    network = [(n.host, n.protocol.value, n.decision.value, n.justification)
               for n in policy.network_rules]
    return (_FORMAT, rules, hosts, network)


_DECISIONS = {decision.value: decision for decision in Decision}

# Rebuilding rules through the dataclass `__init__` (frozen: one
# `object.__setattr__` per field, then `__post_init__`) is most of a large
# cache hit; rules without canonical matching (whose `__post_init__` does
# nothing) get their slots filled directly, 3x faster. Only while the slots
# are exactly these: any change to `PrefixRule` falls back to `__init__`.
_RULE_SLOTS = ("program", "rest", "decision", "justification", "canonical_matching",
               "folded_rest")
_SLOT_SETTERS: tuple[Any, ...] | None = (
    tuple(vars(PrefixRule)[name].__set__ for name in _RULE_SLOTS)
    if getattr(PrefixRule, "__slots__", None) == _RULE_SLOTS else None)


def _decode(data: object) -> Policy:
    if not isinstance(data, tuple) or len(data) != 4 or data[0] != _FORMAT:
        raise ValueError("not a policy cache entry")
    _, rules, hosts, network = data
    policy = Policy()
    new = object.__new__
    fast = _SLOT_SETTERS is not None
    (set_program, set_rest, set_decision, set_justification, set_canonical,
     set_folded) = _SLOT_SETTERS if _SLOT_SETTERS is not None else (None,) * 6
    for program, group in rules:
        program = str(program)
        same_program = policy.rules_by_program.setdefault(program, [])
        for rest, decision, justification, canonical in group:
            if canonical or not fast:
                policy.add_rule(PrefixRule(program, tuple(rest), _DECISIONS[decision],
                                           justification, bool(canonical)))
                continue
            rule = new(PrefixRule)
            set_program(rule, program)
            set_rest(rule, tuple(rest))
            set_decision(rule, _DECISIONS[decision])
            set_justification(rule, justification)
            set_canonical(rule, False)
            set_folded(rule, ())
            same_program.append(rule)
    for name, paths in hosts:
        policy.host_executables[str(name)] = tuple(paths)
    for host, protocol, decision, justification in network:
        policy.network_rules.append(NetworkRule(
            host, NetworkProtocol(protocol), _DECISIONS[decision], justification))
    return policy
