"""The dashboard's web app (Starlette): the page, its JSON API, server-sent events, `/metrics`.

    GET /                          the page (static/index.html)
    GET /static/...                its scripts and styles (vendored libraries carry versions)
    GET /api/jobs                  every source and job with its verdict (views.hub_summary)
    GET /api/jobs/{key}?at=T       one job's graph and diagnosis now, or at epoch second T
    GET /api/jobs/{key}/timeline   per-task busy / backpressured / idle and rates per interval
    GET /api/events                server-sent events: `jobs` (the /api/jobs body) on change
    GET /metrics                   Prometheus exposition (per-vertex gauges)

Safe by default: with a token every request needs `Authorization: Bearer TOKEN` or
`?token=TOKEN`; responses forbid inline scripts (Content-Security-Policy), so a name from Flink
can only ever be text; only the hosts given are accepted (guards a loopback server against DNS
rebinding). Nothing here writes to Flink.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowscope.web import exporter, views
from flowscope.web.hub import Hub

STATIC = Path(__file__).parent / "static"
# How often an open event stream looks for news, and how long it may stay silent (seconds).
SSE_TICK_S = 0.5
SSE_KEEPALIVE_S = 15.0
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
     b"frame-ancestors 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class TokenAuth:
    """Rejects any request without the token, as a bearer header or a `token` query item."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _presented(self, scope: Scope) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return bytes(value[7:].strip())
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = query.get("token")
        return given[0].encode() if given else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = self._presented(scope)
            if given is None or not hmac.compare_digest(given, self.token):
                response = PlainTextResponse(
                    "flowscope: this dashboard needs its token: send 'Authorization: Bearer "
                    "TOKEN' or add ?token=TOKEN to the address\n",
                    status_code=401, headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Adds the headers above to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": what}, status_code=404)


def create_app(hub: Hub, *, token: str | None = None,
               allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The ASGI app over a hub. `allowed_hosts=None` accepts any Host header."""
    registry = exporter.registry_for(hub)
    query = "?token=" + quote(token, safe="") if token else ""
    page = (STATIC / "index.html").read_text().replace("{{q}}", html.escape(query))

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    def jobs(request: Request) -> Response:
        return JSONResponse(views.hub_summary(hub), headers={"cache-control": "no-store"})

    def job(request: Request) -> Response:
        feed = hub.feed(request.path_params["key"])
        if feed is None:
            return _not_found(f"no job {request.path_params['key']!r}")
        at: float | None = None
        raw = request.query_params.get("at")
        if raw:
            try:
                at = float(raw)
            except ValueError:
                at = math.nan
            if not math.isfinite(at):
                return JSONResponse({"error": "at must be epoch seconds"}, status_code=400)
        body = views.job_view(feed, at)
        if body is None:
            return _not_found(f"job {feed.name!r} has no sample yet")
        return JSONResponse(body, headers={"cache-control": "no-store"})

    def timeline(request: Request) -> Response:
        feed = hub.feed(request.path_params["key"])
        if feed is None:
            return _not_found(f"no job {request.path_params['key']!r}")
        return JSONResponse(views.timeline_view(feed), headers={"cache-control": "no-store"})

    async def events(request: Request) -> Response:
        return StreamingResponse(
            _event_stream(hub), media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    def metrics(request: Request) -> Response:
        body, content_type = exporter.exposition(registry)
        return Response(body, media_type=content_type)

    routes = [
        Route("/", index),
        Route("/api/jobs", jobs),
        Route("/api/jobs/{key}", job),
        Route("/api/jobs/{key}/timeline", timeline),
        Route("/api/events", events),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    if token:
        middleware.append(Middleware(TokenAuth, token=token))
    middleware.append(Middleware(GZipMiddleware, minimum_size=1024))
    return Starlette(routes=routes, middleware=middleware)


async def _event_stream(hub: Hub) -> AsyncIterator[str]:
    """`jobs` events whenever a feed changes (first one at once), comments to keep it open."""
    yield "retry: 3000\n\n"
    last = None
    quiet = 0.0
    while True:
        seen = hub.versions()
        if seen != last:
            body = await run_in_threadpool(views.hub_summary, hub)
            yield f"event: jobs\ndata: {json.dumps(body, allow_nan=False)}\n\n"
            last, quiet = seen, 0.0
        elif quiet >= SSE_KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(SSE_TICK_S)
        quiet += SSE_TICK_S
