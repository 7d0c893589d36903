"""A cache of compiled policies, keyed by the content of their rules files.

Evaluating a large rules file dominates a short-lived `execguard` process
(10,000 rules take ~0.3 s of Starlark); a cache hit costs a few ms.

Entries are `marshal` data (never pickle: loading one runs no code) rebuilt
into rule objects, written atomically with mode 0600 in a 0700 directory.
Whoever can write the cache directory can change the policy, exactly as
whoever can write the rules files can; the sandbox must keep it read-only
(docs/compatibility.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from .decision import Decision
from .policy import Policy
from .rule import NetworkProtocol, NetworkRule, PrefixRule

# Bump when the stored shape or the loader's semantics change.
_FORMAT = b"execguard-policy-cache-1"
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


def load_cached(key: str) -> Policy | None:
    path = os.path.join(cache_dir(), key)
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():
                return None
            data = marshal.load(handle)
        return _decode(data)
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def store(key: str, policy: Policy) -> None:
    """Best effort: a cache that cannot be written is simply not used."""
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
    entries = [e for e in os.scandir(directory) if not e.name.startswith(".")]
    if len(entries) <= _MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for entry in entries[: len(entries) - _MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _encode(policy: Policy) -> tuple[Any, ...]:
    rules = [
        (r.program, r.rest, r.decision.value, r.justification, r.canonical_matching)
        for r in policy.rules
    ]
    hosts = list(policy.host_executables.items())
    network = [(n.host, n.protocol.value, n.decision.value, n.justification)
               for n in policy.network_rules]
    return (_FORMAT, rules, hosts, network)


def _decode(data: object) -> Policy:
    if not isinstance(data, tuple) or len(data) != 4 or data[0] != _FORMAT:
        raise ValueError("not a policy cache entry")
    _, rules, hosts, network = data
    policy = Policy()
    for program, rest, decision, justification, canonical in rules:
        policy.add_rule(PrefixRule(str(program), tuple(rest), Decision(decision),
                                   justification, bool(canonical)))
    for name, paths in hosts:
        policy.host_executables[str(name)] = tuple(paths)
    for host, protocol, decision, justification in network:
        policy.network_rules.append(NetworkRule(
            host, NetworkProtocol(protocol), Decision(decision), justification))
    return policy
