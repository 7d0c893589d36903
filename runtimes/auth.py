"""Who may open a WebSocket connection to `execguard app-server`.

A connection can run any command as the server's user, so the handshake
is checked before anything else (before ``initialize``):

* a request carrying an ``Origin`` header is refused with 403: browsers
  always send one, and a web page must never reach a local server through
  the visitor's browser (cross-site WebSocket hijacking); agents and other
  non-browser clients do not send it;
* with ``--auth-token-file``, the client must present the file's token as
  ``Authorization: Bearer <token>``, else 401. Only the token's SHA-256 is
  kept in memory and digests are compared in constant time;
* without a token, only loopback addresses are reasonable; listening on
  any other address without a token starts with a loud warning on stderr
  (anyone who can reach the port can run commands).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import stat
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

__all__ = ["AuthError", "TokenAuth", "check_handshake", "is_loopback", "load_token"]

_BEARER = "bearer "


class AuthError(Exception):
    """The token file cannot be used; the message says why."""


class TokenAuth:
    """A capability token, kept as its SHA-256 only."""

    def __init__(self, token: str) -> None:
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()

    def accepts(self, presented: str) -> bool:
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        return hmac.compare_digest(digest, self._digest)


def load_token(path: str) -> tuple[TokenAuth, list[str]]:
    """The token in ``path`` (surrounding whitespace and the final newline
    are not part of it) and warnings to show: a token file that other
    users can read gives them the server."""
    warnings: list[str] = []
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            raw = file.read(64 * 1024 + 1)
    except OSError as error:
        raise AuthError(f"cannot read the auth token file {path}: {error.strerror}") from None
    if len(raw) > 64 * 1024:
        raise AuthError(f"the auth token file {path} is too large (more than 64 KiB)")
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise AuthError(f"the auth token file {path} is not UTF-8 text") from None
    if not token:
        raise AuthError(f"the auth token file {path} is empty")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise AuthError(f"the auth token in {path} contains whitespace or control characters "
                        "(it must fit in an HTTP header)")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(
            f"the auth token file {path} is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o}); restrict it with: chmod 600 {path}")
    return TokenAuth(token), warnings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_handshake(auth: TokenAuth | None, connection: ServerConnection, request: Request
                    ) -> Response | None:
    """The handshake's verdict: ``None`` to accept, else the HTTP error."""
    if "Origin" in request.headers:
        return connection.respond(HTTPStatus.FORBIDDEN,
                                  "Forbidden: requests with an Origin header are refused\n")
    if auth is None:
        return None
    header = request.headers.get("Authorization", "")
    token = header[len(_BEARER):].strip() if header.lower().startswith(_BEARER) else None
    if token is None or not auth.accepts(token):
        response = connection.respond(HTTPStatus.UNAUTHORIZED,
                                      "Unauthorized: present the token as "
                                      "'Authorization: Bearer <token>'\n")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return None
