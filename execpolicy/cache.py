"""A cache of compiled policies, keyed by the content of their rules files.

Evaluating rules (Starlark) dominates a short-lived `execguard` process:
10,000 rules take ~0.3 s, and even a 3-rule file costs ~20 ms of imports.
A cache hit costs a read and an unmarshal.

An entry stores the exact source bytes it was built from and is used only
when they equal the files being loaded, so the file name (a CRC of the
content) needs no cryptographic strength. A policy whose load-time example
checks resolved a relative program also depends on the working directory and
``$HOME``; its entry records those and is used only where they are the same.

Entries are `marshal` data (never pickle: loading one runs no code), written
atomically with mode 0600 in a 0700 directory, and ignored unless owned by
the current user. Whoever can write the cache directory can change the
policy, exactly as whoever can write the rules files can; the sandbox must
keep it read-only (docs/compatibility.md).
"""

from __future__ import annotations

import marshal
import os
import zlib

from .decision import Decision
from .error import PolicyError
from .policy import Policy
from .rule import NetworkProtocol, NetworkRule, PrefixRule

# `typing` is not imported at run time: a cache hit is the whole work of a
# short `execguard execpolicy check` process, and importing it costs more.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# Bump when the stored shape or the loader's semantics change.
_FORMAT = "execguard-policy-cache-4"
_MAX_ENTRIES = 128


def cache_dir() -> str:
    configured = os.environ.get("EXECGUARD_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "execguard", "policies")


def cache_key(sources: Sequence[bytes]) -> str:
    """A file name for an entry built from ``sources`` (not a proof of content:
    entries carry their sources)."""
    crc = 0
    for source in sources:
        crc = zlib.crc32(len(source).to_bytes(8, "little"), crc)
        crc = zlib.crc32(source, crc)
    return f"{crc:08x}-{len(sources)}-{sum(map(len, sources)):x}"


def environment() -> tuple[str, str | None] | None:
    """What resolving a relative program reads: the cwd and ``$HOME``."""
    try:
        return (os.getcwd(), os.environ.get("HOME"))
    except OSError:
        return None


def load_cached(sources: Sequence[bytes]) -> Policy | None:
    """The cached policy built from exactly ``sources``, if any applies here."""
    path = os.path.join(cache_dir(), cache_key(sources))
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_uid != os.getuid():
                return None
            # One read, then `loads`: `marshal.load` on a file reads it in
            # tiny pieces (~30 ms slower for 10,000 rules).
            data = marshal.loads(handle.read())
        if not (isinstance(data, tuple) and len(data) == 7 and data[0] == _FORMAT):
            return None
        _, stored_sources, stored_environment, *policy = data
        if stored_sources != list(sources):
            return None
        if stored_environment is not None and tuple(stored_environment) != environment():
            return None
        return _decode(*policy)
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def store(sources: Sequence[bytes], policy: Policy, *, depends_on_environment: bool) -> None:
    """Best effort: a cache that cannot be written is simply not used."""
    import tempfile  # only on a miss: costs more to import than a cache hit

    stored_environment = environment() if depends_on_environment else None
    if depends_on_environment and stored_environment is None:
        return
    directory = cache_dir()
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                marshal.dump((_FORMAT, list(sources), stored_environment, *_encode(policy)),
                             handle)
            os.replace(tmp, os.path.join(directory, cache_key(sources)))
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
    # Each program's rules are a marshal blob of their own, decoded only when
    # a command names that program: a check reads one group of thousands.
    groups = {
        program: marshal.dumps([(r.rest, r.decision.value, r.justification,
                                 r.canonical_matching) for r in group])
        for program, group in policy.rules_by_program.items()
    }
    hosts = list(policy.host_executables.items())
    network = [(n.host, n.protocol.value, n.decision.value, n.justification)
               for n in policy.network_rules]
    return (groups, dict(policy._canonical_programs), hosts, network)


_DECISIONS = {decision.value: decision for decision in Decision.members()}


def _decode_group(program: str, blob: bytes) -> list[PrefixRule]:
    try:
        return [PrefixRule(program, tuple(rest), _DECISIONS[decision], justification,
                           bool(canonical))
                for rest, decision, justification, canonical in marshal.loads(blob)]
    except (EOFError, ValueError, TypeError, KeyError):
        # Entries are written atomically, so this is a damaged disk or a
        # tampered file: fail loudly rather than check against a partial policy.
        raise PolicyError(f"corrupt policy cache entry in {cache_dir()} (rules for "
                          f"{program!r}); delete the directory to rebuild it") from None


def _decode(groups: Any, canonical_programs: Any, hosts: Any, network: Any) -> Policy:
    if not all(isinstance(g, bytes) for g in groups.values()):
        raise ValueError("not a policy cache entry")
    policy = Policy._with_encoded_groups(groups, canonical_programs, _decode_group)
    for name, paths in hosts:
        policy.host_executables[name] = tuple(paths)
    for host, protocol, decision, justification in network:
        policy.network_rules.append(NetworkRule(
            host, NetworkProtocol(protocol), _DECISIONS[decision], justification))
    return policy
