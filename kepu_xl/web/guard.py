"""The page's door: who may talk to it, and what the browser may do with what it gets.

- Host: only 127.0.0.1 / localhost (a page of another site that re-points its name at 127.0.0.1 — DNS
  rebinding — still sends its own name as Host, and is refused).
- Token: a random token per run, given once in the printed address (`?token=…`); the first visit turns it
  into a cookie (HttpOnly, SameSite=Strict, named after the port) and drops it from the address bar. A
  request with neither is refused, static files included.
- CSRF: every state-changing request (POST) carries a second random token, from the page (a header sent
  by htmx and the page's script, or a hidden form field), compared in constant time.
- Headers: a strict Content-Security-Policy (scripts and styles only from this server, no inline script,
  no frames), no referrer, no caching, no MIME sniffing.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Flask, Response, abort, redirect, request

HOSTS = frozenset({"127.0.0.1", "localhost"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass
class Keys:
    """The run's two secrets: the access token (in the address, then a cookie) and the CSRF token."""

    port: int = 0  # set once the server is bound (port 0 lets the system choose)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def cookie(self) -> str:
        return f"kepuxl_{self.port}"  # cookies ignore ports: two pages on two ports keep their own


def install(app: Flask, keys: Keys) -> None:
    """Check every request before any view runs; harden every response."""

    @app.before_request
    def check() -> Response | None:
        if _hostname(request.host) not in HOSTS:
            abort(403)
        given = request.args.get("token")
        if given is not None:
            if not _same(given, keys.token):
                abort(403)
            return _enter(keys)
        if not _same(request.cookies.get(keys.cookie, ""), keys.token):
            abort(403)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
            if not _same(sent, keys.csrf):
                abort(403)
        return None

    @app.after_request
    def harden(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        # pages and downloads are never cached; the page's own scripts and styles may be, for an hour
        static = request.path.startswith("/static/") and response.status_code == 200
        response.headers["Cache-Control"] = "private, max-age=3600" if static else "no-store"
        return response


def _enter(keys: Keys) -> Response:
    """The first visit: the token becomes a cookie and leaves the address (history, screenshots)."""
    rest = {k: v for k, v in request.args.items(multi=True) if k != "token"}
    target = request.path + (f"?{urlencode(rest)}" if rest else "")
    response = redirect(target, code=303)
    response.set_cookie(keys.cookie, keys.token, httponly=True, samesite="Strict", path="/")
    return response


def _hostname(host: str) -> str:
    """'127.0.0.1:8765' → '127.0.0.1'; '[::1]:80' → '[::1]' (refused: the server binds 127.0.0.1 only)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
