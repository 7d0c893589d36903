"""`execguard app-server`: serve the `command/exec` JSON-RPC family.

Same surface as ``codex app-server``: stdio by default, or WebSocket with
``--listen ws://IP:PORT``. Exit status 0 after a normal end (stdin closed,
or SIGINT/SIGTERM once running commands had their grace period), 2 for
usage errors, 1 when the server cannot start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..cliargs import UsageError, option_value

if TYPE_CHECKING:  # the server's modules load only when it runs (fast --help)
    from ..execpolicy.policy import Policy
    from .exec_bridge import BridgeOptions
    from .network_session import NetworkConfig

USAGE = "Usage: execguard app-server [OPTIONS]"
HELP = """Run the app server: the `command/exec` JSON-RPC API (Codex app-server compatible),
and `shellTool/run`, which runs an agent's shell tool call through execguard's whole flow
(decide by the execpolicy rules, ask the client, run sandboxed, offer a retry outside the
sandbox); see docs/protocol.md

Usage: execguard app-server [OPTIONS]

Options:
      --listen <URL>
          Transport endpoint: `stdio://` (default: newline-delimited JSON on stdin/stdout, one
          connection; closing stdin stops the server and kills its commands) or
          `ws://IP:PORT` (WebSocket, one JSON-RPC message per text frame, any number of
          connections; port 0 picks a free port; the bound address is printed on stderr)

      --auth-token-file <PATH>
          WebSocket only: require `Authorization: Bearer <token>` on the handshake, with the
          token read from PATH (keep it private: chmod 600). Without it, anyone who can
          connect can run commands as this user: only listen on a loopback address then.
          Listening on any other address without a token is allowed but warned about loudly.
          Requests that carry an `Origin` header (browsers) are always refused.

      --network-proxy
          Give commands whose sandbox restricts the network a managed proxy as their only way
          out (HTTP, HTTPS via CONNECT, SOCKS5; one per connection). Each host is decided in
          this order: --deny-domain, local/private addresses (refused), --allow-domain, then
          the client is asked with an `item/commandExecution/requestApproval` request. The
          `network_rule`s of your execpolicy rules apply on top, and persistent answers are
          written there. Every blocked request is sent as a `command/exec/networkBlocked`
          notification. See docs/protocol.md

      --allow-domain <PATTERN>
          With --network-proxy: a host commands may reach without asking (repeatable):
          `example.com`, `*.example.com` (subdomains), `**.example.com` (both), `*` (any)

      --deny-domain <PATTERN>
          With --network-proxy: a host that is always refused, never asked about (repeatable)

      --allow-local-binding
          With --network-proxy: loopback and private addresses may be reached (refused by
          default, also when a name resolves to one)

      --network-approval-policy <POLICY>
          With --network-proxy: `on-request` (default: ask the client about unlisted hosts)
          or `never` (refuse them without asking)

      --zsh-bridge
          Run `zsh -lc SCRIPT` and `zsh -c SCRIPT` commands in the patched zsh (built by
          zsh-bridge/build) whose every exec is decided here: by your execpolicy rules
          (a `git` rule covers /usr/bin/git), asking the client with
          `item/commandExecution/requestApproval` when a rule or the approval policy says
          prompt. A denied exec fails (status 1) and the script goes on; rules that allow
          a command run it outside the sandbox. Every exec is reported as a
          `command/exec/intercepted` notification. See docs/protocol.md

      --approval-policy <POLICY>
          With --zsh-bridge: `untrusted`, `on-failure`, `on-request` (default) or `never`
          (prompts are refused)

      --rules-file <PATH>
          Where persistent answers are written (prefix_rule(...) for `shellTool/run` and
          --zsh-bridge, network_rule(...) with --network-proxy; default: the user rules
          file, see `execguard execpolicy`)

      --audit-log <PATH>
          Append every `shellTool/run` decision, approval and run to PATH as JSON lines
          (created 0600), without the commands' output

      --audit-output
          With --audit-log: also record the commands' output

  -h, --help
          Print help

Shutdown: SIGINT or SIGTERM stops accepting requests, lets running commands finish for up
to 5 seconds, then kills the rest and exits 0. A second signal kills at once.
"""

SHUTDOWN_GRACE_S = 5.0




@dataclass
class Options:
    listen: str = "stdio://"
    host: str | None = None
    port: int = 0
    auth_token_file: str | None = None
    network_proxy: bool = False
    allow_domains: list[str] = field(default_factory=list)
    deny_domains: list[str] = field(default_factory=list)
    allow_local_binding: bool = False
    network_approval_policy: str = "on-request"
    rules_file: str | None = None
    zsh_bridge: bool = False
    approval_policy: str | None = None
    audit_log: str | None = None
    audit_output: bool = False


# Options that take a value: the placeholder shown in errors.
_VALUE_OPTIONS = {
    "--listen": "<URL>", "--auth-token-file": "<PATH>", "--allow-domain": "<PATTERN>",
    "--deny-domain": "<PATTERN>", "--network-approval-policy": "<POLICY>",
    "--rules-file": "<PATH>", "--approval-policy": "<POLICY>", "--audit-log": "<PATH>",
}
_NETWORK_APPROVAL_POLICIES = ("on-request", "never")
_BRIDGE_APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")


def _parse_listen(url: str, options: Options) -> None:
    if url in ("stdio://", "stdio"):
        options.host = None
        return
    if not url.startswith("ws://"):
        raise UsageError(f"invalid value '{url}' for '--listen <URL>': expected stdio:// or "
                         "ws://IP:PORT (wss:// is not supported: put a TLS proxy in front)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UsageError(f"invalid value '{url}' for '--listen <URL>': {error}") from None
    host = parts.hostname
    if not host or port is None or parts.path not in ("", "/") or parts.query or parts.username:
        raise UsageError(f"invalid value '{url}' for '--listen <URL>': expected ws://IP:PORT "
                         "(for example ws://127.0.0.1:4500)")
    from .auth import is_loopback

    if host != "localhost" and not is_loopback(host):
        import ipaddress

        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"invalid value '{url}' for '--listen <URL>': the host must be an "
                             "IP address (or localhost)") from None
    options.host = host
    options.port = port


def parse_args(args: list[str]) -> Options | None:
    """The options, or ``None`` when help was printed."""
    options = Options()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-h", "--help"):
            sys.stdout.write(HELP)
            return None
        name, has_value, inline = arg.partition("=")
        if name in _VALUE_OPTIONS:
            value, index = option_value(args, index, name, inline if has_value else None,
                                        _VALUE_OPTIONS[name])
            _set_value(options, name, value)
        elif arg == "--network-proxy":
            options.network_proxy = True
        elif arg == "--allow-local-binding":
            options.allow_local_binding = True
        elif arg == "--zsh-bridge":
            options.zsh_bridge = True
        elif arg == "--audit-output":
            options.audit_output = True
        else:
            kind = "argument" if arg.startswith("-") else "positional argument"
            raise UsageError(f"unexpected {kind} '{arg}' found")
        index += 1
    _parse_listen(options.listen, options)
    if options.auth_token_file is not None and options.host is None:
        raise UsageError("'--auth-token-file <PATH>' only applies to --listen ws://IP:PORT")
    if not options.network_proxy:
        for name, given in (("--allow-domain", options.allow_domains),
                            ("--deny-domain", options.deny_domains),
                            ("--allow-local-binding", options.allow_local_binding)):
            if given:
                raise UsageError(f"'{name}' only applies with --network-proxy")
    if options.audit_output and options.audit_log is None:
        raise UsageError("'--audit-output' only applies with --audit-log")
    if options.approval_policy is not None and not options.zsh_bridge:
        raise UsageError("'--approval-policy' only applies with --zsh-bridge")
    return options


def _set_value(options: Options, name: str, value: str) -> None:
    if name == "--listen":
        options.listen = value
    elif name == "--auth-token-file":
        options.auth_token_file = value
    elif name in ("--allow-domain", "--deny-domain"):
        from ..sandbox.network.domains import DomainPattern

        try:
            DomainPattern.parse(value)
        except ValueError as error:
            raise UsageError(f"invalid value '{value}' for '{name} <PATTERN>': {error}"
                             ) from None
        (options.allow_domains if name == "--allow-domain" else options.deny_domains
         ).append(value)
    elif name == "--network-approval-policy":
        if value not in _NETWORK_APPROVAL_POLICIES:
            raise UsageError(f"invalid value '{value}' for '{name} <POLICY>': expected "
                             + " or ".join(_NETWORK_APPROVAL_POLICIES))
        options.network_approval_policy = value
    elif name == "--approval-policy":
        if value not in _BRIDGE_APPROVAL_POLICIES:
            raise UsageError(f"invalid value '{value}' for '{name} <POLICY>': expected one of "
                             + ", ".join(_BRIDGE_APPROVAL_POLICIES))
        options.approval_policy = value
    elif name == "--audit-log":
        options.audit_log = value
    else:
        options.rules_file = value


def _warn(message: str) -> None:
    sys.stderr.write(f"execguard app-server: {message}\n")
    sys.stderr.flush()


async def _serve(options: Options) -> int:
    from .auth import AuthError, TokenAuth, is_loopback, load_token
    from .server import AppServer
    from .transport import Shutdown, serve_stdio, serve_websocket

    loop = asyncio.get_running_loop()
    shutdown = Shutdown(SHUTDOWN_GRACE_S)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, shutdown.request)
    try:
        network, rules = _network_options(options)
    except ValueError as error:  # a bad rules file or domain list
        _warn(f"error: {error}")
        return 1
    try:
        bridge = _bridge_options(options, rules)
    except ValueError as error:  # no patched zsh, bad rules
        _warn(f"error: {error}")
        return 1
    audit_log = None
    if options.audit_log is not None:
        from .audit import AuditLog, AuditLogError

        try:
            audit_log = AuditLog(options.audit_log, include_output=options.audit_output)
        except AuditLogError as error:
            _warn(f"error: {error}")
            return 1
    server = AppServer(os.getcwd(), network=network, rules=rules, bridge=bridge,
                       rules_file=options.rules_file, audit_log=audit_log)
    if options.host is None:
        await serve_stdio(server, shutdown)
        return 0
    auth: TokenAuth | None = None
    if options.auth_token_file is not None:
        try:
            auth, warnings = load_token(options.auth_token_file)
        except AuthError as error:
            _warn(f"error: {error}")
            return 1
        for warning in warnings:
            _warn(f"WARNING: {warning}")
    elif not is_loopback(options.host):
        banner = "!" * 78
        _warn(f"\n{banner}\nWARNING: listening on the non-loopback address {options.host} "
              "WITHOUT AUTHENTICATION.\nAnyone who can reach this port can run commands as "
              f"this user. Use --auth-token-file PATH.\n{banner}")
    try:
        await serve_websocket(server, shutdown, options.host, options.port, auth,
                              on_listening=lambda url: _warn(f"listening on {url}"))
    except OSError as error:
        _warn(f"error: cannot listen on {options.host}:{options.port}: "
              f"{error.strerror or error}")
        return 1
    return 0


def _network_options(options: Options) -> tuple[NetworkConfig | None, Policy | None]:
    """The managed network's configuration and the execpolicy whose
    ``network_rule``\\ s it follows (user and project rules, as
    `execguard execpolicy` discovers them)."""
    if not options.network_proxy:
        return None, None
    from ..execpolicy.discovery import load_discovered_policy, user_rules_file
    from ..execpolicy.error import PolicyError
    from .network_session import NetworkConfig, domain_policy

    try:
        rules = load_discovered_policy(os.getcwd())
    except PolicyError as error:
        raise ValueError(f"cannot load the execpolicy rules: {error}") from None
    config = NetworkConfig(
        allowed_domains=tuple(options.allow_domains),
        denied_domains=tuple(options.deny_domains),
        allow_local_binding=options.allow_local_binding,
        rules_file=options.rules_file or str(user_rules_file()),
        approval_policy=options.network_approval_policy,
    )
    domain_policy(config, rules)  # refuse a bad list before serving, not per connection
    return config, rules


def _bridge_options(options: Options, rules: Policy | None) -> BridgeOptions | None:
    """The exec bridge's options: the discovered execpolicy, the patched
    zsh (located now, so a missing build stops the server at start)."""
    if not options.zsh_bridge:
        return None
    from ..execpolicy.discovery import load_discovered_policy, user_rules_file
    from ..execpolicy.error import PolicyError
    from ..zsh_bridge import BridgeUnavailable, locate
    from .exec_bridge import BridgeOptions

    try:
        install = locate()
    except BridgeUnavailable as error:
        raise ValueError(f"--zsh-bridge: {error}") from None
    if rules is None:
        try:
            rules = load_discovered_policy(os.getcwd())
        except PolicyError as error:
            raise ValueError(f"cannot load the execpolicy rules: {error}") from None
    return BridgeOptions(policy=rules, approval_policy=options.approval_policy or "on-request",
                         rules_file=options.rules_file or str(user_rules_file()),
                         install=install)


def main(args: list[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[2:] if args is None else args)
    except UsageError as error:
        sys.stderr.write(f"error: {error}\n\n{USAGE}\n\nFor more information, try '--help'.\n")
        return 2
    if options is None:
        return 0
    return asyncio.run(_serve(options))
