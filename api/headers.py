"""Security headers on every response, and HEAD for every GET route, as plain ASGI middleware.

(Starlette's ``@app.middleware("http")`` wraps every response in a task group and memory
streams: measurable on a SPARQL endpoint that answers thousands of small requests.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Pages load only their own scripts and styles, and talk only to this server.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
_PAGES = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY")]
_EXTRA = _ALWAYS + _PAGES  # /docs too: its Swagger UI starts from a static script

RawHeaders = list[tuple[bytes, bytes]]


def secure(headers: RawHeaders) -> RawHeaders:
    """``headers`` with the security headers above that they do not set already."""
    present = {name.lower() for name, _ in headers}
    return headers + [(k, v) for k, v in _EXTRA if k not in present]


def cors_simple(headers: RawHeaders, origin: bytes | None, expose: bytes) -> RawHeaders:
    """What Starlette's CORSMiddleware (every origin allowed, no credentials, exposing
    ``expose``) does to the headers of a response that is not a preflight: with an
    ``Origin`` in the request, Access-Control-Allow-Origin ``*`` and the exposed headers;
    always, ``Origin`` added to ``Vary``. For ``/sparql``'s own route, which answers
    outside the middleware stack (``api.sparql.SparqlFront``)."""
    headers = list(headers)
    if origin is not None:
        _set(headers, b"access-control-allow-origin", b"*")
        _set(headers, b"access-control-expose-headers", expose)
    vary = [v for k, v in headers if k == b"vary"]
    _set(headers, b"vary", b", ".join([*vary, b"Origin"]))
    return headers


def _set(headers: RawHeaders, name: bytes, value: bytes) -> None:
    """Starlette's ``MutableHeaders[name] = value``: the first header of that name takes
    the value and the others go; without one, it is added at the end."""
    found = [i for i, (k, _) in enumerate(headers) if k == name]
    if not found:
        headers.append((name, value))
        return
    headers[found[0]] = (name, value)
    for i in reversed(found[1:]):
        del headers[i]


class SecurityHeaders:
    """Adds the headers above unless the response already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": secure(list(message.get("headers", [])))}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Answers HEAD as the GET of the same URL would, without the body.

    FastAPI routes declared with GET do not answer HEAD (405). The status and headers,
    content-length included, are the GET's; the body is read from the app and dropped.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # only the last (empty) body message goes out
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)
