"""Host normalisation and the allow / deny domain patterns of the network proxy.

Every host the proxy sees (an absolute URI, a CONNECT authority, a SOCKS5
target) and every pattern it is configured with goes through
:func:`normalize_host` first, so that ``Example.COM.``, ``example.com:443`` and
``example.com`` are one host to the policy. Patterns (spec 7.4):

==========================  ===================================================
``example.com``             exactly that host
``*.example.com``           any subdomain (one or more labels), not the apex
``**.example.com``          the apex and any subdomain
``region*.v2.example.com``  a glob: ``*`` is any run of characters, ``?`` one
``*``                       every host; allow list only
``[::1]``                   an IPv6 literal (``[fe80::1%25lo0]`` keeps its zone)
==========================  ===================================================

As in the reference (which compiles patterns to ``globset`` globs), ``*``
inside a glob may span dots: ``region*.v2.example.com`` also matches
``region1.x.v2.example.com``. That keeps a deny pattern at least as wide as
the reference's; allow patterns should therefore use literal labels.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "GLOBAL_WILDCARD_DENY_ERROR",
    "DomainPattern",
    "DomainPatternError",
    "DomainPolicy",
    "PatternKind",
    "normalize_host",
]

GLOBAL_WILDCARD_DENY_ERROR = (
    'unsupported global wildcard domain pattern "*"; use exact hosts or scoped '
    "wildcards like *.example.com or **.example.com"
)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# Characters that can never be part of a host and would make a pattern mean
# something other than what it says (URL syntax, globset classes/alternations).
_FORBIDDEN_PATTERN_CHARS = frozenset("/\\@#[]{},!\"'<>|^`")


class DomainPatternError(ValueError):
    """A domain pattern that cannot be compiled; the message names the pattern."""


def normalize_host(raw: str) -> str:
    """The policy's spelling of a host: trimmed, ASCII lower-cased, without
    IPv6 brackets, without a ``:port`` (only when there is exactly one colon,
    so bare IPv6 literals survive), without trailing dots, IPv6 literals in
    canonical form with the zone kept (``%25`` decoded to ``%``).

    Idempotent. Bracketed text that is not an IP literal normalises to ``""``
    (an invalid host), because brackets only ever delimit IPv6 literals and
    anything else inside them is an attempt to confuse the parser.
    """
    host = raw.strip()
    if host.startswith("["):
        end = host.find("]")
        if end >= 0:
            inner = _finish(host[1:end])
            return inner if _ip_literal(inner) is not None else ""
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return _finish(host)


def _finish(host: str) -> str:
    host = host.translate(_ASCII_LOWER)
    while True:  # "a. ." -> "a": whitespace and trailing dots, until stable
        trimmed = host.strip().rstrip(".")
        if trimmed == host:
            break
        host = trimmed
    return _canonical_ip(host) or host


def _canonical_ip(host: str) -> str | None:
    ip = _ip_literal(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # Python 3.11 prints ::ffff:7f00:1; the dotted form is what people write.
        zone = f"%{ip.scope_id}" if ip.scope_id else ""
        return f"::ffff:{ip.ipv4_mapped}{zone}"
    return str(ip)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address. A URL-encoded zone (``fe80::1%25lo0``) is
    decoded, unless decoding would leave another ``%25`` behind (then the
    ``%25…`` is taken as the zone itself), which keeps normalisation idempotent."""
    if not host or not (host[0].isdigit() or host[0] in ":abcdef"):
        return None
    if "%25" in host:
        decoded = host.replace("%25", "%", 1)
        if "%25" not in decoded:
            try:
                return ipaddress.ip_address(decoded)
            except ValueError:
                pass
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class PatternKind(Enum):
    """How a :class:`DomainPattern` matches."""

    EXACT = "exact"
    SUBDOMAINS = "subdomains"  # *.d
    APEX_AND_SUBDOMAINS = "apex_and_subdomains"  # **.d
    GLOB = "glob"  # region*.d
    ANY = "any"  # *


@dataclass(frozen=True, slots=True)
class DomainPattern:
    """One compiled allow / deny pattern.

    ``text`` is the normalised pattern (``**.example.com``, ``::1``), ``base``
    the host part after any ``*.`` / ``**.`` prefix.
    """

    text: str
    kind: PatternKind
    base: str
    _regex: re.Pattern[str] | None = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: str) -> DomainPattern:
        """Compile ``raw``; raise :class:`DomainPatternError` naming it when it
        is empty, contains URL or glob-class syntax, or uses ``**`` anywhere
        but as a leading ``**.`` label."""
        text = raw.strip()
        if text and set(text) == {"*"}:
            return cls("*", PatternKind.ANY, "", None)
        if text.startswith("**."):
            kind, base = PatternKind.APEX_AND_SUBDOMAINS, text[3:]
        elif text.startswith("*."):
            kind, base = PatternKind.SUBDOMAINS, text[2:]
        else:
            kind, base = PatternKind.EXACT, text
        problem = _pattern_problem(base)
        if problem is None:
            base = normalize_host(base)
            problem = "is empty" if not base else None
        if problem is not None:
            raise DomainPatternError(f'invalid domain pattern "{raw}": {problem}')
        if kind is PatternKind.EXACT:
            if _has_glob(base) and _ip_literal(base) is None:
                return cls(base, PatternKind.GLOB, base,
                           re.compile(_glob_regex(base), re.DOTALL))
            return cls(base, kind, base, None)
        prefix = "**." if kind is PatternKind.APEX_AND_SUBDOMAINS else "*."
        body = _glob_regex(base)
        regex = f"(?:.+\\.)?{body}" if kind is PatternKind.APEX_AND_SUBDOMAINS else f".+\\.{body}"
        return cls(prefix + base, kind, base, re.compile(regex, re.DOTALL))

    def matches(self, host: str) -> bool:
        """Whether the already-normalised ``host`` matches this pattern."""
        if not host:
            return False
        if self.kind is PatternKind.ANY:
            return True
        if self._regex is None:
            return host == self.base
        return self._regex.fullmatch(host) is not None

    @property
    def is_literal(self) -> bool:
        """An exact host with no wildcard: the only kind that can exempt a
        local/private literal (``localhost``, ``127.0.0.1``) from the local check."""
        return self.kind is PatternKind.EXACT


def _pattern_problem(base: str) -> str | None:
    stripped = base.strip()
    if not stripped:
        return "is empty"
    if "://" in stripped:
        return "must be a host, not a URL"
    if stripped.startswith("[") and "]" in stripped:
        end = stripped.index("]")
        port = stripped[end + 1 :]
        if _ip_literal(_finish(stripped[1:end])) is None:
            return "brackets may only enclose an IPv6 literal"
        if port and not (port.startswith(":") and port[1:].isascii() and port[1:].isdigit()):
            return f"unexpected text after the IPv6 literal: {port}"
        return None
    if any(c.isspace() for c in stripped):
        return "contains whitespace"
    bad = sorted({c for c in stripped if c in _FORBIDDEN_PATTERN_CHARS})
    if bad:
        return f"contains unsupported character(s) {' '.join(bad)}"
    if "**" in stripped:
        return "'**' is only supported as a leading '**.' label"
    return None


def _has_glob(text: str) -> bool:
    return "*" in text or "?" in text


def _glob_regex(glob: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


_PRECEDENCE = {"none": 0, "allow": 1, "deny": 2}


class DomainPolicy:
    """The allow and deny lists of the proxy, compiled once.

    An empty allow list allows nothing. ``*`` is accepted in the allow list
    only; in the deny list it raises :class:`DomainPatternError` with
    :data:`GLOBAL_WILDCARD_DENY_ERROR` (a deny-everything list is a disabled
    proxy, which should be said explicitly, not by pattern).
    """

    __slots__ = ("_allowed", "_allowed_exact", "_allowed_globs", "_denied", "_denied_exact",
                 "_denied_globs")

    def __init__(self, allowed: Iterable[str] = (), denied: Iterable[str] = ()) -> None:
        self._allowed = _compile(allowed)
        self._denied = _compile(denied)
        if any(p.kind is PatternKind.ANY for p in self._denied):
            raise DomainPatternError(GLOBAL_WILDCARD_DENY_ERROR)
        # Exact hosts are a set lookup; only wildcard patterns cost a regex each.
        self._allowed_exact = frozenset(p.base for p in self._allowed if p.is_literal)
        self._denied_exact = frozenset(p.base for p in self._denied if p.is_literal)
        self._allowed_globs = tuple(p for p in self._allowed if not p.is_literal)
        self._denied_globs = tuple(p for p in self._denied if not p.is_literal)

    @classmethod
    def from_rules(cls, rules: Iterable[tuple[str, str]]) -> DomainPolicy:
        """Build from ``(pattern, decision)`` pairs, ``decision`` one of
        ``allow``, ``deny``, ``none``. A pattern listed several times (after
        normalisation) keeps its strongest decision: none < allow < deny.

        Hosts of execpolicy ``network_rule``\\ s fit directly:
        ``[(r.host, "deny" if r.decision is Decision.FORBIDDEN else "allow") ...]``
        (``prompt`` rules are ``none``: they leave the host to the decider).
        """
        strongest: dict[str, tuple[int, str]] = {}
        for pattern, decision in rules:
            rank = _PRECEDENCE.get(decision)
            if rank is None:
                raise ValueError(
                    f'invalid decision "{decision}" for domain pattern "{pattern}": '
                    "expected allow, deny or none")
            key = DomainPattern.parse(pattern).text
            if key not in strongest or rank > strongest[key][0]:
                strongest[key] = (rank, decision)
        return cls(
            allowed=[k for k, (_, d) in strongest.items() if d == "allow"],
            denied=[k for k, (_, d) in strongest.items() if d == "deny"],
        )

    @property
    def allowed(self) -> tuple[str, ...]:
        """The normalised allow patterns, in configuration order, de-duplicated."""
        return tuple(p.text for p in self._allowed)

    @property
    def denied(self) -> tuple[str, ...]:
        """The normalised deny patterns, in configuration order, de-duplicated."""
        return tuple(p.text for p in self._denied)

    def is_denied(self, host: str) -> bool:
        """Whether ``host`` (any spelling) matches a deny pattern."""
        host = normalize_host(host)
        return bool(host) and (host in self._denied_exact
                               or any(p.matches(host) for p in self._denied_globs))

    def is_allowed(self, host: str) -> bool:
        """Whether ``host`` (any spelling) matches an allow pattern. Does not
        consult the deny list: callers check that first."""
        host = normalize_host(host)
        return bool(host) and (host in self._allowed_exact
                               or any(p.matches(host) for p in self._allowed_globs))

    def is_literally_allowed(self, host: str) -> bool:
        """Whether ``host`` is named by a wildcard-free allow pattern. Only
        such an entry may exempt ``localhost`` or a private IP literal from the
        local/private check: ``*`` or ``*.corp`` must never open loopback."""
        host = normalize_host(host)
        return bool(host) and host in self._allowed_exact

    def __repr__(self) -> str:
        return f"DomainPolicy(allowed={list(self.allowed)!r}, denied={list(self.denied)!r})"


def _compile(patterns: Iterable[str]) -> tuple[DomainPattern, ...]:
    if isinstance(patterns, str):
        raise TypeError("domain patterns must be an iterable of strings, not a string")
    seen: dict[str, DomainPattern] = {}
    for raw in patterns:
        pattern = DomainPattern.parse(raw)
        seen.setdefault(pattern.text, pattern)
    return tuple(seen.values())
