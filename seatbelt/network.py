"""The network section of a profile, and the Unix sockets it may open.

Three outcomes, decided in this order (the reference's
``dynamic_network_policy_for_network``):

1. **Proxy-only** when a proxy is in play (loopback proxy ports, any proxy
   configured, managed enforcement) or the network is off but some Unix
   socket is allowed: only ``localhost:<port>`` of each proxy port is
   reachable (plus, with ``allow_local_binding``, binding and loopback
   traffic, and DNS when there are proxy ports), then the allowed Unix
   sockets and ``network.sbpl``. Never a blanket outbound rule: a proxy
   configured without a usable port leaves no way out (fail closed).
2. **Full** when the policy enables the network: any outbound and inbound
   traffic, the allowed Unix sockets, ``network.sbpl``.
3. **Off** otherwise: no rule at all; ``(deny default)`` refuses every
   socket, Unix ones included.

Allowed Unix socket paths (a zsh exec bridge's socket, a browser helper's)
reach the profile as ``UNIX_SOCKET_PATH_<i>`` parameters: absolute (a
relative path is refused), canonical, deduplicated, sorted, each allowed
for ``bind`` and ``connect`` at that path and beneath it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import SeatbeltError
from .paths import FileSystemView, canonical_path, check_param_value

__all__ = [
    "PROXY_ENV_KEYS",
    "NetworkOptions",
    "has_proxy_env",
    "network_policy_text",
    "network_section",
    "proxy_ports_from_env",
    "unix_socket_paths",
]

# The proxy variables a managed proxy sets (upper and lower case).
PROXY_ENV_KEYS = tuple(key for name in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY",
                                        "ALL_PROXY", "FTP_PROXY")
                       for key in (name, name.lower()))
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class NetworkOptions:
    """What the network section needs beyond the policy's on/off.

    ``proxy_ports``: loopback ports of the managed proxy (the only
    destinations then). ``proxy_configured``: a proxy is configured, even
    without a usable loopback port (the network then stays closed rather
    than open). ``managed``: managed network enforcement is on.
    ``allow_local_binding``: servers may bind and talk over loopback.
    ``unix_sockets``: absolute socket paths (or directories of sockets)
    that may be bound and connected to. ``allow_all_unix_sockets``: any
    Unix socket (``unix_sockets`` is then moot)."""

    proxy_ports: tuple[int, ...] = ()
    proxy_configured: bool = False
    managed: bool = False
    allow_local_binding: bool = False
    unix_sockets: tuple[str, ...] = ()
    allow_all_unix_sockets: bool = False

    def __post_init__(self) -> None:
        for port in self.proxy_ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise SeatbeltError(f"proxy port {port!r} is not a TCP port (1-65535)")
        for path in self.unix_sockets:
            if not isinstance(path, str) or not path.startswith("/"):
                raise SeatbeltError(f"unix socket path {path!r} must be absolute")


def _proxy_port(value: str) -> int | None:
    """The loopback port a proxy URL points at, or None (not loopback, or
    not a URL)."""
    value = value.strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        parsed = urllib.parse.urlsplit(value)
        port = parsed.port
    except ValueError:
        return None
    if parsed.hostname is None or parsed.hostname.lower() not in _LOOPBACK_HOSTS:
        return None
    return port if port is not None else _DEFAULT_PORTS.get(parsed.scheme.lower(), 80)


def proxy_ports_from_env(env: Mapping[str, str]) -> tuple[int, ...]:
    """The loopback ports the proxy variables of ``env`` name (sorted,
    deduplicated; default ports by scheme: https 443, socks 1080, else 80)."""
    ports = {port for key in PROXY_ENV_KEYS
             if (port := _proxy_port(env.get(key, ""))) is not None}
    return tuple(sorted(ports))


def has_proxy_env(env: Mapping[str, str]) -> bool:
    """Whether ``env`` configures a proxy at all (usable or not)."""
    return any(env.get(key, "").strip() for key in PROXY_ENV_KEYS)


@cache
def network_policy_text() -> str:
    """``network.sbpl``: the services any network use needs."""
    return resources.files(__package__).joinpath("network.sbpl").read_text("utf-8")


def unix_socket_paths(options: NetworkOptions, fs: FileSystemView) -> list[str]:
    """The allowed socket paths, canonical, deduplicated and sorted: the
    values of ``UNIX_SOCKET_PATH_0..n``. Empty when all sockets are allowed."""
    if options.allow_all_unix_sockets:
        return []
    return sorted({check_param_value(canonical_path(path, fs)) for path in options.unix_sockets})


def _unix_socket_rules(options: NetworkOptions, params: Sequence[str]) -> str:
    if options.allow_all_unix_sockets:
        rules = ["(allow network-bind (local unix-socket))",
                 "(allow network-outbound (remote unix-socket))"]
    elif params:
        rules = []
        for key in params:
            # subpath: a directory grants the sockets created beneath it.
            rules.append(f'(allow network-bind (local unix-socket (subpath (param "{key}"))))')
            rules.append(
                f'(allow network-outbound (remote unix-socket (subpath (param "{key}"))))')
    else:
        return ""
    return "\n".join(["; allow unix domain sockets for local IPC",
                      "(allow system-socket (socket-domain AF_UNIX))", *rules]) + "\n"


def network_section(restricted: bool, options: NetworkOptions,
                    socket_params: Sequence[str]) -> tuple[str, str]:
    """The network section for a policy whose network is ``restricted`` (or
    not), with the ``UNIX_SOCKET_PATH_<i>`` parameter names; and its mode:
    ``proxy``, ``unix-sockets`` (network off but for allowed sockets),
    ``full`` or ``off``."""
    sockets = _unix_socket_rules(options, socket_params)
    proxied = bool(options.proxy_ports or options.proxy_configured or options.managed)
    if proxied or (restricted and sockets):
        if options.proxy_ports:
            lines = ["; network: only through the proxy's loopback ports"]
        elif proxied:
            lines = ["; network: a proxy is required but has no loopback port: no way out"]
        else:
            lines = ["; network: off, but for the allowed Unix sockets"]
        if options.allow_local_binding:
            lines += ["; local servers: bind anywhere, talk over loopback",
                      '(allow network-bind (local ip "*:*"))',
                      '(allow network-inbound (local ip "localhost:*"))',
                      '(allow network-outbound (remote ip "localhost:*"))']
            if options.proxy_ports:
                lines += ["; name resolution, while other traffic still goes through the proxy",
                          '(allow network-outbound (remote ip "*:53"))']
        lines += [f'(allow network-outbound (remote ip "localhost:{port}"))'
                  for port in sorted(set(options.proxy_ports))]
        mode = "proxy" if proxied else "unix-sockets"
        return "\n".join(lines) + "\n" + sockets + "\n" + network_policy_text(), mode
    if not restricted:
        full = "; network: full access\n(allow network-outbound)\n(allow network-inbound)\n"
        return full + sockets + "\n" + network_policy_text(), "full"
    return "", "off"
