"""Prefix rules, the matches they produce, and network rules.

A prefix rule's pattern is a program name followed by tokens; each token is
one literal or a set of alternatives. A rule matches a command when the
command starts with the pattern (extra command tokens are ignored).
"""

from __future__ import annotations

from .choice import Choice
from .decision import Decision
from .error import PolicyError
from .value import Value

_set = object.__setattr__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


def canonical_form(token: str) -> str:
    """Unicode canonical caseless form: ``NFD(casefold(NFD(s)))``.

    Two strings are canonically equal when their forms are equal (``GIT`` ~
    ``git``, ``STRASSE`` ~ ``straße``, composed ~ decomposed accents), while
    compatibility forms (full-width letters) stay distinct.
    """
    folded = _CANONICAL_FORMS.get(token)
    if folded is None:
        from unicodedata import normalize

        folded = normalize("NFD", normalize("NFD", token).casefold())
        if len(_CANONICAL_FORMS) >= 4096:  # bounded: commands are attacker-chosen
            _CANONICAL_FORMS.clear()
        _CANONICAL_FORMS[token] = folded
    return folded


# Every lookup folds the command's program once a policy has canonical rules.
_CANONICAL_FORMS: dict[str, str] = {}


# A pattern token after the program: one literal, or alternatives (a tuple of
# at least two strings; one-element alternatives are stored as the literal).
PatternToken = str | tuple[str, ...]


class PrefixRule(Value):
    """One rule: ``program rest...`` → decision."""

    __slots__ = ("program", "rest", "decision", "justification", "canonical_matching",
                 "_folded_rest")
    program: str
    rest: tuple[PatternToken, ...]
    decision: Decision
    justification: str | None
    canonical_matching: bool
    # Canonical forms of `rest`, computed once so matching folds only the command.
    _folded_rest: tuple[str | frozenset[str], ...]

    def __init__(self, program: str, rest: tuple[PatternToken, ...], decision: Decision,
                 justification: str | None = None, canonical_matching: bool = False) -> None:
        # Direct slot writes: the cache rebuilds thousands of rules per process.
        _set(self, "program", program)
        _set(self, "rest", rest)
        _set(self, "decision", decision)
        _set(self, "justification", justification)
        _set(self, "canonical_matching", canonical_matching)
        _set(self, "_folded_rest", tuple(
            canonical_form(t) if isinstance(t, str) else frozenset(map(canonical_form, t))
            for t in rest
        ) if canonical_matching else ())

    @property
    def pattern(self) -> list[str | list[str]]:
        """The pattern as written in a rules file (program first)."""
        return [self.program, *(t if isinstance(t, str) else list(t) for t in self.rest)]

    def matches_rest(self, command: list[str]) -> bool:
        """Whether ``command[1:]`` starts with this rule's tokens (``command[0]`` is
        assumed to name this rule's program)."""
        rest = self.rest
        if len(command) <= len(rest):
            return False
        if self.canonical_matching:
            for i, want in enumerate(self._folded_rest, 1):
                got = canonical_form(command[i])
                if got != want if isinstance(want, str) else got not in want:
                    return False
            return True
        for i, token in enumerate(rest, 1):
            got = command[i]
            if got != token if isinstance(token, str) else got not in token:
                return False
        return True


class RuleMatch(Value):
    """A rule that matched a command.

    ``matched_prefix`` is the command's own spelling of the matched tokens;
    ``resolved_program`` is set when the match was found through
    host-executable resolution (an absolute path standing for a bare name).
    """

    __slots__ = ("matched_prefix", "decision", "resolved_program", "justification")
    matched_prefix: list[str]
    decision: Decision
    resolved_program: str | None
    justification: str | None

    def __init__(self, matched_prefix: list[str], decision: Decision,
                 resolved_program: str | None = None, justification: str | None = None) -> None:
        _set(self, "matched_prefix", matched_prefix)
        _set(self, "decision", decision)
        _set(self, "resolved_program", resolved_program)
        _set(self, "justification", justification)

    def to_json(self) -> dict[str, object]:
        """The reference's wire shape: ``{"prefixRuleMatch": {...}}``."""
        body: dict[str, object] = {
            "matchedPrefix": self.matched_prefix,
            "decision": self.decision.value,
        }
        if self.resolved_program is not None:
            body["resolvedProgram"] = self.resolved_program
        if self.justification is not None:
            body["justification"] = self.justification
        return {"prefixRuleMatch": body}


class NetworkProtocol(Choice):
    """Protocols a network rule can name (canonical spellings)."""

    __slots__ = ()
    HTTP: ClassVar[NetworkProtocol]
    HTTPS: ClassVar[NetworkProtocol]
    SOCKS5_TCP: ClassVar[NetworkProtocol]
    SOCKS5_UDP: ClassVar[NetworkProtocol]

    @classmethod
    def parse(cls, raw: str) -> NetworkProtocol:
        protocol = _PROTOCOL_ALIASES.get(raw)
        if protocol is None:
            raise PolicyError(
                "invalid rule: network_rule protocol must be one of "
                f"http, https, socks5_tcp, socks5_udp (got {raw})"
            )
        return protocol


NetworkProtocol.HTTP = NetworkProtocol._define("http")
NetworkProtocol.HTTPS = NetworkProtocol._define("https")
NetworkProtocol.SOCKS5_TCP = NetworkProtocol._define("socks5_tcp")
NetworkProtocol.SOCKS5_UDP = NetworkProtocol._define("socks5_udp")

_PROTOCOL_ALIASES = {
    "http": NetworkProtocol.HTTP,
    "https": NetworkProtocol.HTTPS,
    "https_connect": NetworkProtocol.HTTPS,
    "http-connect": NetworkProtocol.HTTPS,
    "socks5_tcp": NetworkProtocol.SOCKS5_TCP,
    "socks5_udp": NetworkProtocol.SOCKS5_UDP,
}


class NetworkRule(Value):
    """A host-wide allow / prompt / deny record for the network proxy."""

    __slots__ = ("host", "protocol", "decision", "justification")
    host: str
    protocol: NetworkProtocol
    decision: Decision
    justification: str | None

    def __init__(self, host: str, protocol: NetworkProtocol, decision: Decision,
                 justification: str | None = None) -> None:
        _set(self, "host", host)
        _set(self, "protocol", protocol)
        _set(self, "decision", decision)
        _set(self, "justification", justification)

    @classmethod
    def parse(cls, host: str, protocol: str, decision: str,
              justification: str | None = None) -> NetworkRule:
        """Validate a `network_rule(...)` in the reference's order (protocol,
        decision, justification, host) and normalise its host."""
        parsed_protocol = NetworkProtocol.parse(protocol)
        parsed_decision = Decision.parse_network(decision)
        validate_justification(justification)
        return cls(normalize_network_host(host), parsed_protocol, parsed_decision, justification)


# Rust's `char::is_whitespace` (Unicode White_Space). Python's `str.isspace`
# differs: it also counts U+001C..U+001F, which Rust does not.
_RUST_WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def rust_trim(text: str) -> str:
    """Trim Unicode White_Space from both ends, as Rust's `str::trim` does."""
    start, end = 0, len(text)
    while start < end and text[start] in _RUST_WHITESPACE:
        start += 1
    while end > start and text[end - 1] in _RUST_WHITESPACE:
        end -= 1
    return text[start:end]


def validate_justification(justification: str | None) -> str | None:
    if justification is not None and not rust_trim(justification):
        raise PolicyError("invalid rule: justification cannot be empty")
    return justification


def normalize_network_host(raw: str) -> str:
    """Normalise a `network_rule` host: strip a port, brackets and trailing
    dots, lower-case; reject schemes, paths, wildcards and whitespace."""

    def invalid(reason: str) -> PolicyError:
        return PolicyError(f"invalid rule: network_rule host {reason}")

    host = rust_trim(raw)
    if not host:
        raise invalid("cannot be empty")
    if "://" in host or any(c in host for c in "/?#"):
        raise invalid("must be a hostname or IP literal (without scheme or path)")
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            raise invalid("has an invalid bracketed IPv6 literal")
        suffix = host[close + 1 :]
        if suffix and not (
            suffix.startswith(":") and len(suffix) > 1 and suffix[1:].isascii()
            and suffix[1:].isdigit()
        ):
            raise invalid(f"contains an unsupported suffix: {raw}")
        host = host[1:close]
    elif host.count(":") == 1:
        name, port = host.split(":")
        if name and port and port.isascii() and port.isdigit():
            host = name
    host = _ascii_lower(rust_trim(host.rstrip(".")))
    if not host:
        raise invalid("cannot be empty")
    if "*" in host:
        raise invalid("must be a specific host; wildcards are not allowed")
    if any(c in _RUST_WHITESPACE for c in host):
        raise invalid("cannot contain whitespace")
    return host


def _ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only (Rust `to_ascii_lowercase`)."""
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)
