"""The environment that points a sandboxed command at the managed proxy (spec 7.3).

Tools disagree on which variable they read (upper or lower case, their own
``NPM_CONFIG_*``/``YARN_*``/``BUNDLE_*``/``PIP_*``/``DOCKER_*`` names, Node
only with ``NODE_USE_ENV_PROXY``), so all of them are set. ``NO_PROXY`` is
set empty on purpose: an inherited ``NO_PROXY=localhost,...`` would send
those hosts around the proxy, where the sandbox has no route anyway, and the
command would fail without a policy message. SOCKS clients get ``socks5h``
so that names are resolved by the proxy (which checks them), not locally.
"""

from __future__ import annotations

import os

__all__ = ["CA_BUNDLE_VARIABLES", "proxy_environment", "system_ca_bundle"]

CA_BUNDLE_VARIABLES = (
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "AWS_CA_BUNDLE",
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "HTTPLIB2_CA_CERTS",
    "NIX_SSL_CERT_FILE",
)
"""Variables naming a CA bundle *file*; ``SSL_CERT_DIR`` names the directory."""

# Debian/Ubuntu, Fedora/RHEL, openSUSE, Alpine, macOS (Homebrew openssl).
_BUNDLE_CANDIDATES = (
    ("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"),
    ("/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/tls/certs"),
    ("/etc/ssl/ca-bundle.pem", "/etc/ssl/certs"),
    ("/etc/ssl/cert.pem", "/etc/ssl/certs"),
)


def system_ca_bundle() -> tuple[str, str] | None:
    """``(bundle file, certificate directory)`` of the host, or ``None``.

    Pointing every CA variable at the system bundle undoes per-tool overrides
    inherited from the parent that may name files the sandbox cannot read.
    """
    for bundle, directory in _BUNDLE_CANDIDATES:
        if os.path.isfile(bundle):
            return bundle, directory if os.path.isdir(directory) else os.path.dirname(bundle)
    return None


def proxy_environment(http_port: int, socks_port: int) -> dict[str, str]:
    """The variables to add to a sandboxed command's environment so that it
    uses the HTTP proxy on ``127.0.0.1:http_port`` and the SOCKS5 proxy on
    ``127.0.0.1:socks_port``."""
    http = f"http://127.0.0.1:{http_port}"
    socks = f"socks5h://127.0.0.1:{socks_port}"
    env: dict[str, str] = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "WS_PROXY", "WSS_PROXY"):
        env[name] = env[name.lower()] = http
    for name in ("ALL_PROXY", "FTP_PROXY"):
        env[name] = env[name.lower()] = socks
    env["NO_PROXY"] = env["no_proxy"] = ""
    for name in ("NPM_CONFIG_HTTP_PROXY", "NPM_CONFIG_HTTPS_PROXY", "NPM_CONFIG_PROXY"):
        env[name] = env[name.lower()] = http
    env["NPM_CONFIG_NOPROXY"] = env["npm_config_noproxy"] = ""
    for name in ("YARN_HTTP_PROXY", "YARN_HTTPS_PROXY", "BUNDLE_HTTP_PROXY",
                 "BUNDLE_HTTPS_PROXY", "PIP_PROXY", "DOCKER_HTTP_PROXY", "DOCKER_HTTPS_PROXY"):
        env[name] = http
    env["BUNDLE_NO_PROXY"] = ""
    env["NODE_USE_ENV_PROXY"] = "1"
    env["ELECTRON_GET_USE_PROXY"] = "true"
    env["CODEX_NETWORK_PROXY_ACTIVE"] = "1"
    ca = system_ca_bundle()
    if ca is not None:
        bundle, directory = ca
        for name in CA_BUNDLE_VARIABLES:
            env[name] = bundle
        env["SSL_CERT_DIR"] = directory
    return env
