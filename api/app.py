"""The FastAPI application: wires the routes to the store of the last good build."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from api import description, entities, names, pages, search, sparql, views
from api.cache import ResultCache
from api.caching import HttpCaching, Validation
from api.executor import QueryPool
from api.headers import HeadAsGet, SecurityHeaders
from api.negotiation import wants_html
from api.openapi import REGISTER_RESPONSES, VOID_RESPONSES
from api.responses import error, plain
from api.settings import Settings
from api.state import ServedStore
from kb.errors import GeokbError
from kb.review import sipri
from kb.sparql.reading import ReadingCache

STATIC = Path(__file__).parent / "static"
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>geokb — API</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
<link rel="icon" href="/static/swagger/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/swagger/init.js"></script>
</body>
</html>
"""


# What CORS lets a page on another origin read of a /sparql answer.
EXPOSED = [sparql.TRUNCATED_HEADER, sparql.MAX_ROWS_HEADER]


class GeokbApp(FastAPI):
    """FastAPI with ``GET`` and ``POST /sparql`` answered in front of it, by
    ``api.sparql.SparqlFront`` (set by :func:`create_app`), past its routing and middleware."""

    sparql_front: sparql.SparqlFront | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.sparql_front
        if front is not None and front.handles(scope):
            scope["app"] = self  # as Starlette sets it: the route reads the app's state
            await front(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | Path) -> FastAPI:
    """The geokb web app serving the last good build (a Path is the store folder)."""
    if isinstance(settings, Path):
        settings = Settings(store=settings)
    # With a remote store, /sparql forwards queries there; pages that read the embedded store
    # answer 501. Otherwise this fails early, with a message, if nothing was built.
    # A build a queued or running query may still open is kept from pruning this long.
    grace_s = 2 * (settings.queue_timeout_s + settings.timeout_s)
    served = None if settings.remote else ServedStore(settings.store, grace_s=grace_s)
    pool = QueryPool(
        settings,
        size=0 if served is None else None,  # None: as many as the settings say
        store=None if served is None else served.current_path,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        try:
            yield
        finally:
            await pool.stop()
            if served is not None:
                served.close()

    app = GeokbApp(
        title="geokb",
        description=(
            "A geopolitical event knowledge base: a read-only SPARQL 1.1 endpoint, entity "
            "pages and a query page. Every fact carries its source."
        ),
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from vendored files: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = served
    app.state.pool = pool
    app.state.readings = ReadingCache()  # a repeated query text is read once
    embedded = settings.remote is None and settings.cache_mb > 0
    app.state.cache = ResultCache(settings.cache_mb * 1024 * 1024) if embedded else None
    validation = Validation(settings, served)
    # GET and POST /sparql: answered in front of the app, with what the middleware below add
    app.sparql_front = sparql.SparqlFront(validation, ", ".join(EXPOSED).encode())
    # CORS wraps HttpCaching's 304s
    app.add_middleware(HttpCaching, settings=settings, served=served, validation=validation)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST"],
        allow_headers=["Accept", "Content-Type"],
        expose_headers=EXPOSED,
        max_age=86400,
    )

    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)  # outermost: the app below sees a GET

    @app.exception_handler(GeokbError)
    async def geokb_error(request: Request, exc: GeokbError) -> Response:
        # Every geokb error knows its status: api.responses.error turns it into a response.
        return error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def plain_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # e.g. a path no route matches (/id/ with a newline in it): plain text, like ours;
        # a person's browser gets the not-found page, with suggestions
        if exc.status_code == 404 and wants_html(request.headers.get("accept")):
            asked = request.url.path[:500]
            return await search.not_found_page(request, f"There is no page at {asked}.", asked)
        return PlainTextResponse(
            f"{exc.detail}\n", status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    app.include_router(sparql.router)
    app.include_router(pages.router)
    app.include_router(names.router)
    app.include_router(search.router)  # before entities: /id/ and /id/<kind>/ are lists
    app.include_router(entities.router)

    @app.get(
        "/.well-known/void",
        summary="VoID description of the dataset",
        response_class=Response,
        responses=VOID_RESPONSES,
    )
    async def void(request: Request, format: str | None = None) -> Response:
        if served is None:
            return plain(501, "not available with a remote store")
        return await description.void_response(request, served, format)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # Swagger UI from vendored files, started by a static script (not FastAPI's inline
        # one), so /docs has the same Content-Security-Policy as every other page.
        return HTMLResponse(DOCS_PAGE)

    @app.get(
        "/transfers.csv",
        summary="Arms transfers as a SIPRI-style register (CSV)",
        response_class=Response,
        responses=REGISTER_RESPONSES,
    )
    async def transfers_csv(
        request: Request, supplier: str | None = None, recipient: str | None = None
    ) -> Response:
        """The register, optionally for one supplier and/or recipient (ISO alpha-3 codes).

        At most max_rows rows, streamed; a cut register says so in X-Geokb-Truncated.
        """
        if served is None:
            return plain(501, "not available with a remote store; query /sparql")
        only = sipri.RegisterFilter(supplier, recipient)
        try:
            sipri.query_text(only)  # checks the codes
        except ValueError as exc:
            return plain(400, str(exc))
        return await views.transfers_csv(request, served.get(), only)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
