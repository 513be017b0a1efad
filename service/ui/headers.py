"""Security headers of every moderation page: a Content-Security-Policy without inline scripts or styles."""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))
"""Scripts, styles and images from this server only; nothing inline, no plugins, no framing."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show comments and keys: keep them out of shared caches
}


def add_security_headers(response: Response) -> Response:
    """Set SECURITY_HEADERS on a moderation page's response."""
    response.headers.update(SECURITY_HEADERS)
    return response
