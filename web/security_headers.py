"""Security headers on every response: console pages, static files, API answers, errors and event streams.

The console is served from this origin only, so the policy allows 'self' and nothing else: no inline
scripts, handlers or style attributes (the pages set styles through the CSSOM, which the policy allows),
no plugins, no <base>, no framing. Text from outside that slipped into markup still could not run.
"""

from __future__ import annotations

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # on_response_prepare runs before the headers go out, also for static files and streamed responses,
    # which a middleware returning after the handler could not reach.
    response.headers.update(SECURITY_HEADERS)


def install(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
