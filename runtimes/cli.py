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
from dataclasses import dataclass
from urllib.parse import urlsplit

USAGE = "Usage: execguard app-server [OPTIONS]"
HELP = """Run the app server: the `command/exec` JSON-RPC API (Codex app-server compatible)

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

  -h, --help
          Print help

Shutdown: SIGINT or SIGTERM stops accepting requests, lets running commands finish for up
to 5 seconds, then kills the rest and exits 0. A second signal kills at once.
"""

SHUTDOWN_GRACE_S = 5.0


class UsageError(Exception):
    pass


@dataclass
class Options:
    listen: str = "stdio://"
    host: str | None = None
    port: int = 0
    auth_token_file: str | None = None


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
        if name in ("--listen", "--auth-token-file"):
            if has_value:
                value = inline
            elif index + 1 < len(args):
                index += 1
                value = args[index]
            else:
                shown = "<URL>" if name == "--listen" else "<PATH>"
                raise UsageError(f"a value is required for '{name} {shown}' but none was "
                                 "supplied")
            if name == "--listen":
                options.listen = value
            else:
                options.auth_token_file = value
        else:
            kind = "argument" if arg.startswith("-") else "positional argument"
            raise UsageError(f"unexpected {kind} '{arg}' found")
        index += 1
    _parse_listen(options.listen, options)
    if options.auth_token_file is not None and options.host is None:
        raise UsageError("'--auth-token-file <PATH>' only applies to --listen ws://IP:PORT")
    return options


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
    server = AppServer(os.getcwd())
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


def main(args: list[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[2:] if args is None else args)
    except UsageError as error:
        sys.stderr.write(f"error: {error}\n\n{USAGE}\n\nFor more information, try '--help'.\n")
        return 2
    if options is None:
        return 0
    return asyncio.run(_serve(options))
