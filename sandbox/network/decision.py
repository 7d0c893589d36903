"""The per-request decision of the network proxy (spec 7.2).

Order matters and is fixed: the deny list first (a denied host can never be
approved from a prompt), then the local/private check (so that no allow
pattern or approval can open loopback, the LAN or a metadata endpoint by
name), then the allow list, and only for what is left the decider (the
approval flow). A request with no decider is denied as ``not_allowed``.

An allowed decision carries the addresses that were checked; the proxy must
connect to one of those and never resolve the name again (DNS rebinding).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from .addresses import DNS_TIMEOUT, Resolver, is_non_public_address, parse_ip_literal, resolve
from .domains import DomainPolicy, normalize_host

__all__ = [
    "BLOCK_MESSAGES",
    "REASON_DENIED",
    "REASON_NOT_ALLOWED",
    "REASON_NOT_ALLOWED_LOCAL",
    "SOURCE_BASELINE_POLICY",
    "SOURCE_DECIDER",
    "BlockedObserver",
    "BlockedRequest",
    "Decider",
    "NetworkDecision",
    "NetworkPolicy",
    "NetworkRequest",
    "Protocol",
    "Verdict",
    "proxy_error_header",
]

_log = logging.getLogger(__name__)

Protocol = Literal["http", "https_connect", "socks5_tcp"]
Verdict = Literal["allow", "deny", "ask"]

REASON_DENIED = "denied"
REASON_NOT_ALLOWED = "not_allowed"
REASON_NOT_ALLOWED_LOCAL = "not_allowed_local"

SOURCE_BASELINE_POLICY = "baseline_policy"
SOURCE_DECIDER = "decider"

BLOCK_MESSAGES = {
    REASON_DENIED: "Domain denied by the sandbox policy.",
    REASON_NOT_ALLOWED: "Domain not in allowlist.",
    REASON_NOT_ALLOWED_LOCAL: "Sandbox policy blocks local/private network addresses.",
}
_DEFAULT_MESSAGE = "Request blocked by the sandbox network policy."

_PROXY_ERROR_HEADERS = {
    REASON_DENIED: "blocked-by-denylist",
    REASON_NOT_ALLOWED: "blocked-by-allowlist",
    REASON_NOT_ALLOWED_LOCAL: "blocked-by-allowlist",
}

# `localhost` is loopback by definition (RFC 6761); pinning it keeps an
# allowlisted `localhost` from following an odd /etc/hosts entry elsewhere.
_LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")


def proxy_error_header(reason: str) -> str:
    """The ``x-proxy-error`` value for a block reason (``not_allowed_local``
    shares ``blocked-by-allowlist`` with ``not_allowed``, as in the reference)."""
    return _PROXY_ERROR_HEADERS.get(reason, "blocked-by-policy")


@dataclass(frozen=True, slots=True)
class NetworkRequest:
    """One connection attempt as the policy sees it.

    ``host`` is normalised by :meth:`NetworkPolicy.evaluate` before anything
    reads it. ``context`` is opaque to the proxy: whatever the caller attached
    (the command, a turn id) so that the decider and the observer can tell
    which command asked.
    """

    host: str
    port: int
    protocol: Protocol
    method: str | None = None
    context: object = None


@dataclass(frozen=True, slots=True)
class NetworkDecision:
    """The outcome for one request. Allowed: ``addresses`` are the checked
    IPs to connect to (empty only when the name could not be resolved and no
    local check was required: the proxy answers that as a gateway error, not a
    policy block). Blocked: ``reason``, ``source`` and ``decision`` (``deny``,
    or ``ask`` when the decider wants a prompt it did not run inline)."""

    allowed: bool
    reason: str | None = None
    source: str | None = None
    decision: Literal["deny", "ask"] | None = None
    addresses: tuple[str, ...] = ()

    @classmethod
    def allow(cls, addresses: tuple[str, ...]) -> NetworkDecision:
        return cls(True, addresses=addresses)

    @classmethod
    def deny(cls, reason: str, source: str = SOURCE_BASELINE_POLICY,
             decision: Literal["deny", "ask"] = "deny") -> NetworkDecision:
        return cls(False, reason, source, decision)

    @property
    def message(self) -> str:
        """The human sentence for a block (spec 7.2), e.g. "Domain not in allowlist."."""
        return BLOCK_MESSAGES.get(self.reason or "", _DEFAULT_MESSAGE)

    @property
    def header(self) -> str:
        """The ``x-proxy-error`` header value for a block."""
        return proxy_error_header(self.reason or "")


@dataclass(frozen=True, slots=True)
class BlockedRequest:
    """What the observer is told about each blocked request, so the caller can
    explain a failed command ("network blocked: not_allowed_local for ...")."""

    reason: str
    host: str
    port: int
    protocol: Protocol
    source: str
    decision: str
    method: str | None = None
    context: object = None
    time: float = field(default_factory=time.time)


Decider = Callable[[NetworkRequest], Awaitable[Verdict]]
"""Consulted only for requests that are ``not_allowed``. May take as long as
a user takes to answer; the connection is held open meanwhile."""

BlockedObserver = Callable[[BlockedRequest], Awaitable[None] | None]
"""Told about every blocked request, before the client sees the refusal."""


class NetworkPolicy:
    """Everything the proxy needs to decide: the domain lists, whether local
    targets are allowed, the decider, the observer and how to resolve names."""

    def __init__(
        self,
        domains: DomainPolicy,
        *,
        allow_local_binding: bool = False,
        decider: Decider | None = None,
        observer: BlockedObserver | None = None,
        resolver: Resolver | None = None,
        dns_timeout: float = DNS_TIMEOUT,
    ) -> None:
        self.domains = domains
        self.allow_local_binding = allow_local_binding
        self.decider = decider
        self.observer = observer
        self.resolver = resolver
        self.dns_timeout = dns_timeout

    async def evaluate(self, request: NetworkRequest) -> NetworkDecision:
        """Decide ``request`` and report a block to the observer."""
        host = normalize_host(request.host)
        if host != request.host:
            request = replace(request, host=host)
        decision = await self._decide(request)
        if not decision.allowed:
            await self._report(request, decision)
        return decision

    async def _decide(self, request: NetworkRequest) -> NetworkDecision:
        host, port = request.host, request.port
        if not host:
            return NetworkDecision.deny(REASON_NOT_ALLOWED)
        if self.domains.is_denied(host):
            return NetworkDecision.deny(REASON_DENIED)

        allowlisted = self.domains.is_allowed(host)
        literal = parse_ip_literal(host)
        addresses: tuple[str, ...] = ()
        if literal is not None:
            addresses = (str(literal),)
        elif host == "localhost":
            addresses = _LOCALHOST_ADDRESSES

        check_local = not self.allow_local_binding
        if check_local:
            if addresses:  # a literal: only an exact allow entry exempts it
                local = host == "localhost" or is_non_public_address(addresses[0])
                if local and not self.domains.is_literally_allowed(host):
                    return NetworkDecision.deny(REASON_NOT_ALLOWED_LOCAL)
            else:
                resolution = await resolve(host, port, resolver=self.resolver,
                                           timeout=self.dns_timeout)
                if resolution.non_public:
                    return NetworkDecision.deny(REASON_NOT_ALLOWED_LOCAL)
                if resolution.error is not None and allowlisted:
                    # Fail closed: an unchecked name could be anything.
                    _log.debug("blocking %s: %s", host, resolution.error)
                    return NetworkDecision.deny(REASON_NOT_ALLOWED_LOCAL)
                addresses = resolution.addresses

        if not allowlisted:
            if self.decider is None:
                return NetworkDecision.deny(REASON_NOT_ALLOWED)
            verdict = await self._ask(self.decider, request)
            if verdict != "allow":
                return NetworkDecision.deny(
                    REASON_NOT_ALLOWED, SOURCE_DECIDER, "ask" if verdict == "ask" else "deny")

        if not addresses:
            # Approved by the decider after a failed lookup, or no local check.
            resolution = await resolve(host, port, resolver=self.resolver,
                                       timeout=self.dns_timeout)
            if check_local and (resolution.error is not None or resolution.non_public):
                return NetworkDecision.deny(REASON_NOT_ALLOWED_LOCAL)
            addresses = resolution.addresses
        return NetworkDecision.allow(addresses)

    @staticmethod
    async def _ask(decider: Decider, request: NetworkRequest) -> str:
        try:
            verdict = await decider(request)
        except Exception:  # a broken decider must not open the network
            _log.exception("network decider failed for %s:%s", request.host, request.port)
            return "deny"
        return verdict if verdict in ("allow", "deny", "ask") else "deny"

    async def _report(self, request: NetworkRequest, decision: NetworkDecision) -> None:
        if self.observer is None:
            return
        blocked = BlockedRequest(
            reason=decision.reason or "",
            host=request.host,
            port=request.port,
            protocol=request.protocol,
            source=decision.source or SOURCE_BASELINE_POLICY,
            decision=decision.decision or "deny",
            method=request.method,
            context=request.context,
        )
        try:
            result = self.observer(blocked)
            if inspect.isawaitable(result):
                await result
        except Exception:  # reporting must never turn a block into a crash
            _log.exception("blocked-request observer failed")
