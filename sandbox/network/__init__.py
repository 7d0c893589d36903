"""The managed network proxy: the only way out of a network-restricted sandbox.

    from execguard.sandbox.network import (
        DomainPolicy, NetworkPolicy, NetworkProxy, proxy_environment)

    domains = DomainPolicy(allowed=["*.pypi.org", "files.pythonhosted.org"])
    async with NetworkProxy(NetworkPolicy(domains, decider=ask_user)) as proxy:
        env.update(proxy_environment(proxy.http_port, proxy.socks_port))
        ...  # run the sandboxed command with env

Each request goes deny list -> local/private check -> allow list -> decider
(spec section 7); blocked requests are reported to the policy's observer.
"""

from .addresses import Resolver, is_non_public_address, system_resolver
from .decision import (
    BlockedObserver,
    BlockedRequest,
    Decider,
    NetworkDecision,
    NetworkPolicy,
    NetworkRequest,
    Verdict,
)
from .domains import GLOBAL_WILDCARD_DENY_ERROR, DomainPatternError, DomainPolicy, normalize_host
from .environment import proxy_environment
from .proxy import NetworkProxy, ProxyListeners

__all__ = [
    "GLOBAL_WILDCARD_DENY_ERROR",
    "BlockedObserver",
    "BlockedRequest",
    "Decider",
    "DomainPatternError",
    "DomainPolicy",
    "NetworkDecision",
    "NetworkPolicy",
    "NetworkProxy",
    "NetworkRequest",
    "ProxyListeners",
    "Resolver",
    "Verdict",
    "is_non_public_address",
    "normalize_host",
    "proxy_environment",
    "system_resolver",
]
