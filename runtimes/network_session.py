"""The managed network of one session: proxy, route, approvals, blocks.

A session (one app-server connection, one agent) that runs commands with a
restricted network may give them a way out: the managed proxy
(:class:`~execguard.sandbox.network.NetworkProxy`), the only thing such a
command can reach (on Linux through a route into its own network
namespace, :class:`~execguard.sandbox.proxy_routing.ProxyRouter`; on macOS
through the Seatbelt profile, which admits the proxy's ports alone).

What the proxy lets through is decided per request (spec 7.2): the deny
list, then local/private addresses, then the allow list, then the
:class:`~.network_approvals.NetworkApprovalService`, which asks a person
(or a reviewer) about hosts nobody listed. The lists come from the
session's :class:`NetworkConfig`, overlaid with the ``network_rule``\\ s of
the loaded execpolicy (spec execpolicy 10.4: a host's rule moves it to the
rule's list). Persistent answers are written back as ``network_rule``\\ s
and applied to the live lists at once.

Every request carries the :class:`~.network_approvals.NetworkCommandContext`
of the command that made it (the route tells sandboxes apart), so a prompt
can say which command wants the host, and each blocked request is filed
under that command for its result.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..execpolicy.policy import Policy
from ..sandbox.backend import ProxyEndpoint
from ..sandbox.network import (
    BlockedRequest,
    DomainPolicy,
    NetworkPolicy,
    NetworkProxy,
    Resolver,
    proxy_environment,
)
from ..sandbox.network.decision import BLOCK_MESSAGES
from ..sandbox.network.domains import DomainPattern
from .network_approvals import (
    ApprovalCallback,
    NetworkApprovalService,
    NetworkCommandContext,
    NetworkDenial,
)

if TYPE_CHECKING:
    from ..sandbox.proxy_routing import ProxyRouter

__all__ = ["BlockedListener", "NetworkConfig", "NetworkSession", "domain_policy"]

BlockedListener = Callable[[object, dict[str, object]], Awaitable[None]]
"""Told ``(context, notice)`` of each blocked request."""


@dataclass(frozen=True)
class NetworkConfig:
    """What a session's proxy starts from.

    ``allowed_domains``/``denied_domains``: domain patterns (``host``,
    ``*.host``, ``**.host``, mid-label globs, IP literals; spec 7.4).
    ``allow_local_binding``: loopback and private addresses may be reached
    (off: they are refused even when a name resolves to them).
    ``rules_file``: where persistent answers are written as
    ``network_rule(...)`` (``None``: such answers apply to the session only).
    ``approval_policy``: the session's; under ``never`` nobody is asked and
    unlisted hosts are refused."""

    allowed_domains: tuple[str, ...] = ()
    denied_domains: tuple[str, ...] = ()
    allow_local_binding: bool = False
    rules_file: str | None = None
    approval_policy: str = "on-request"
    dns_timeout: float = 5.0


def domain_policy(config: NetworkConfig, rules: Policy | None = None) -> DomainPolicy:
    """The config's lists with the execpolicy's ``network_rule``\\ s laid over
    them: a host's last allow/deny rule removes it from the other list and
    puts it on its own (``prompt`` rules change nothing). Raises
    :class:`~execguard.sandbox.network.DomainPatternError` for a bad pattern."""
    allowed = [_key(p) for p in config.allowed_domains]
    denied = [_key(p) for p in config.denied_domains]
    overlay: list[tuple[str, str]] = []
    if rules is not None:
        rule_allowed, rule_denied = rules.compiled_network_domains()
        overlay += [(host, "allow") for host in rule_allowed]
        overlay += [(host, "deny") for host in rule_denied]
    for host, action in overlay:
        allowed, denied = _moved(allowed, denied, _key(host), action)
    return DomainPolicy(allowed, denied)


def _key(pattern: str) -> str:
    """The canonical spelling of a pattern, so that a rule for ``Example.com.``
    replaces the config's ``example.com``."""
    return DomainPattern.parse(pattern).text


def _moved(allowed: list[str], denied: list[str], host: str, action: str
           ) -> tuple[list[str], list[str]]:
    allowed = [h for h in allowed if h != host]
    denied = [h for h in denied if h != host]
    (allowed if action == "allow" else denied).append(host)
    return allowed, denied


@dataclass(frozen=True)
class _ProxyPorts:
    """The proxy as Seatbelt sees it: loopback ports on the host itself."""

    http_port: int
    socks_port: int

    def environment(self) -> dict[str, str]:
        return proxy_environment(self.http_port, self.socks_port)


class NetworkSession:
    """One session's proxy and approvals. Use as ``async with`` (or
    :meth:`start`/:meth:`close`) on the event loop that runs the commands::

        async with NetworkSession(NetworkConfig(allowed_domains=("pypi.org",)),
                                  approve=ask_user) as network:
            context = network.context(argv, cwd=cwd, item_id="call-1")
            confinement = confine(argv, policy, cwd, env, proxy=network.endpoint,
                                  proxy_context=context)
            ...
            blocked = network.denials("call-1")

    ``approve`` answers prompts for unlisted hosts (none: they are refused);
    ``rules``: the loaded execpolicy whose ``network_rule``\\ s apply;
    ``resolver`` replaces DNS (tests); ``on_blocked`` hears of every blocked
    request as it happens, with its command's context and the facts a
    client shows (host, port, protocol, reason, source, decision, message)."""

    def __init__(self, config: NetworkConfig | None = None, *,
                 approve: ApprovalCallback | None = None, rules: Policy | None = None,
                 resolver: Resolver | None = None,
                 on_blocked: BlockedListener | None = None) -> None:
        self.config = config if config is not None else NetworkConfig()
        self.approvals = NetworkApprovalService(
            approve,
            approval_policy=self.config.approval_policy,
            rules_file=self.config.rules_file,
            on_amendment=self._amend,
        )
        self.policy = NetworkPolicy(
            domain_policy(self.config, rules),
            allow_local_binding=self.config.allow_local_binding,
            decider=self.approvals.decide,
            observer=self._blocked,
            resolver=resolver,
            dns_timeout=self.config.dns_timeout,
        )
        self.proxy = NetworkProxy(self.policy)
        self._on_blocked = on_blocked
        self._endpoint: ProxyEndpoint | None = None
        self._router: ProxyRouter | None = None
        self._started = False
        self._closed = False

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("NetworkSession.start() may be called once")
        self._started = True
        await self.proxy.start()
        try:
            if sys.platform == "linux":
                from ..sandbox.proxy_routing import ProxyRouter

                router = ProxyRouter.for_proxy(self.proxy)
                self._router = router
                self._endpoint = router
            else:
                self._endpoint = _ProxyPorts(self.proxy.http_port, self.proxy.socks_port)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Refuse every pending prompt, close every route and the proxy.
        Idempotent; commands still running lose their network at once."""
        if self._closed:
            return
        self._closed = True
        self.approvals.close()
        router = self._router
        if router is not None:
            with contextlib.suppress(Exception):
                await router.aclose()
        await self.proxy.close()

    async def __aenter__(self) -> NetworkSession:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def endpoint(self) -> ProxyEndpoint:
        """What the sandbox layer needs (``confine(..., proxy=)``)."""
        if self._endpoint is None or self._closed:
            raise RuntimeError("the network session is not running")
        return self._endpoint

    def context(self, command: Iterable[str], *, cwd: str | None = None,
                item_id: str | None = None, approval_policy: str | None = None,
                sandbox_type: str = "readOnly") -> NetworkCommandContext:
        """The tag of one command's requests (``confine(..., proxy_context=)``)."""
        return NetworkCommandContext(
            command=tuple(command), cwd=cwd,
            approval_policy=approval_policy or self.config.approval_policy,
            sandbox_type=sandbox_type, item_id=item_id)

    def denials(self, item_id: str) -> list[NetworkDenial]:
        """What was blocked for the command ``item_id`` so far."""
        return self.approvals.denials_for(item_id)

    def forget(self, item_id: str) -> None:
        self.approvals.forget(item_id)

    # -- internals -------------------------------------------------------------------

    async def _blocked(self, blocked: BlockedRequest) -> None:
        self.approvals.record_blocked(blocked)
        if self._on_blocked is not None:
            notice: dict[str, object] = {
                "host": blocked.host, "port": blocked.port, "protocol": blocked.protocol,
                "reason": blocked.reason, "source": blocked.source,
                "decision": blocked.decision,
                "message": BLOCK_MESSAGES.get(blocked.reason, "Request blocked by policy."),
            }
            await self._on_blocked(blocked.context, notice)

    def _amend(self, host: str, action: str) -> None:
        """A persistent answer also changes the live lists (spec 7.5)."""
        domains = self.policy.domains
        allowed, denied = _moved(list(domains.allowed), list(domains.denied),
                                 _key(host), action)
        self.policy.domains = DomainPolicy(allowed, denied)
