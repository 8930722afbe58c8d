"""The socket's Origin check: exactly the site's own origin, or one of CSRF_TRUSTED_ORIGINS.

Channels' `AllowedHostsOriginValidator` compares only the Origin's host with ALLOWED_HOSTS, so
`http://localhost:9999` passes for a site on `http://localhost:8000`. This check is the one
Django's CSRF middleware makes for a POST: the Origin must equal the scheme, host and port the
request was made to (the Host header, itself an allowed host), or be a trusted origin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None


def _is_secure(scope: dict[str, Any]) -> bool:
    """As `HttpRequest.is_secure()`: TLS to this server, or the trusted proxy header says so."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if not proxy_header:
        return False
    meta_name, secure_value = proxy_header
    header = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1")
    value = _header(scope, header)
    return value is not None and value.split(",", 1)[0].strip() == secure_value


def site_origin(scope: dict[str, Any]) -> str | None:
    """The origin this socket was opened on, if its Host is an allowed host."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return f"{'https' if _is_secure(scope) else 'http'}://{host.lower()}"


def _trusted(origin: str) -> bool:
    """Django's rule for CSRF_TRUSTED_ORIGINS: exact, or `scheme://*.domain` for subdomains."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        pattern = urlsplit(trusted)
        if "*" in pattern.netloc and pattern.scheme == parsed.scheme:
            if is_same_domain(parsed.netloc, pattern.netloc.replace("*", "")):
                return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    origin = origin.lower()
    return origin == site_origin(scope) or _trusted(origin)


class SiteOriginValidator:
    """ASGI middleware: a WebSocket handshake from any other origin is refused (HTTP 403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
