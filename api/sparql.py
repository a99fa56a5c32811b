"""The SPARQL 1.1 Protocol endpoint: query via GET, POST form and POST sparql-query.

Without a query, ``GET /sparql`` answers with the SPARQL Service Description.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api import description
from api.cache import Answer, ResultCache
from api.executor import QueryPool
from api.negotiation import choose, wants_html
from api.openapi import FORM, SPARQL_DESCRIPTION, SPARQL_GET, SPARQL_POST, SPARQL_QUERY
from api.responses import error
from api.settings import Settings
from api.state import ServedStore
from api.worker import Job
from kb.errors import GeokbError, QueryTimeout
from kb.sparql import formats, results
from kb.sparql import query as kbquery
from kb.stores.remote import remote_answer

router = APIRouter()

SPARQL_UPDATE = "application/sparql-update"
TRUNCATED_HEADER = "X-Geokb-Truncated"
MAX_ROWS_HEADER = "X-Geokb-Max-Rows"
CACHE_HEADER = "X-Geokb-Cache"  # hit, miss, or bypass (volatile query, or the cache is off)


class ProtocolError(GeokbError):
    """A request that breaks the SPARQL protocol; carries its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = status


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise ProtocolError(400, f"'{name}' was given {len(values)} times; give it once")
    return values[0] if values else None


async def _request_params(request: Request, limit: int) -> tuple[str | None, dict[str, list[str]]]:
    """The query text (None if absent) and the other protocol parameters of a request."""
    url_params = parse_qs(request.url.query, keep_blank_values=True)
    if request.method == "GET":
        if "update" in url_params:
            raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
        return _one(url_params, "query"), url_params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (FORM, SPARQL_QUERY, SPARQL_UPDATE):
        raise ProtocolError(
            415, f"unsupported Content-Type '{ctype or '(none)'}'; send {FORM} or {SPARQL_QUERY}"
        )
    if ctype == SPARQL_UPDATE:
        raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
    body = await _read_body(request, limit)
    if ctype == FORM:
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        if "update" in form:
            raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
        if "query" in url_params and "query" in form:
            raise ProtocolError(400, "'query' given both in the URL and in the form body")
        params = {**url_params, **{k: v + url_params.get(k, []) for k, v in form.items()}}
        query = _one(params, "query")
        if query is None:
            raise ProtocolError(400, "missing 'query' field in the form body")
        return query, params
    if "query" in url_params:
        raise ProtocolError(
            400, "the query was given both as the body and as a 'query' parameter; give it once"
        )
    try:
        return body.decode("utf-8"), url_params
    except UnicodeDecodeError:
        raise ProtocolError(400, "the query body is not valid UTF-8") from None


async def _read_body(request: Request, limit: int) -> bytes:
    # Refuse oversized bodies while reading, without holding more than the limit in memory.
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"request body is {int(declared):,} bytes; the limit is {limit:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ProtocolError(413, f"request body is over the limit of {limit:,} bytes")
    return bytes(body)


_BASES: dict[tuple[object, ...], str] = {}  # the endpoint's URL per scheme, host, root path
_MAX_BASES = 256  # (the Host header is the client's: keep few)


def _base_iri(request: Request) -> str:
    """This endpoint's own URL as the client named it: relative IRIs resolve against it.
    (``url_for`` builds it anew for each request: a measurable share of a point lookup.)"""
    scope = request.scope
    host = request.headers.get("host")
    key = (scope["scheme"], scope.get("server"), scope.get("root_path", ""), host)
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) >= _MAX_BASES:
            _BASES.clear()
        base = _BASES[key] = str(request.url_for("sparql"))
    return base


async def sparql(request: Request) -> Response:
    """Answer one SPARQL protocol request (or describe the service when there is no query).

    Errors are raised as geokb errors; each knows its HTTP status, and the app turns them
    into responses in one place (``api.app``).
    """
    settings: Settings = request.app.state.settings
    served: ServedStore = request.app.state.store
    pool: QueryPool = request.app.state.pool
    # a form-encoded body may be up to 3x the query (percent-encoding)
    query, params = await _request_params(request, 3 * settings.max_query_chars + 4096)
    if query is None:  # only a GET gets here without one
        if not params.get("format") and wants_html(request.headers.get("accept")):
            return RedirectResponse("/", status_code=303)  # a person: the query page
        return description.service_description_response(request, _one(params, "format"))
    dataset = kbquery.Dataset(
        tuple(params.get("default-graph-uri", [])), tuple(params.get("named-graph-uri", []))
    )
    kbquery.check_dataset(dataset)
    # The one reading of the query: every decision below is taken on it.
    reading = request.app.state.readings.read(query, settings.max_query_chars)
    fmt = choose(reading.shape, request.headers.get("accept"), _one(params, "format"))
    if settings.remote is not None:
        return await _forward(settings, query, dataset, fmt)
    job = Job(
        str(served.current_path()),
        query,
        dataset,
        fmt.name,
        settings.max_rows,
        settings.max_answer_mb * 1024 * 1024,
        reading,
        base_iri=_base_iri(request),
    )
    # None: the cache is off, or this query's answer may not be kept
    cache: ResultCache | None = None if reading.volatile else request.app.state.cache
    key = (query, dataset, fmt.name, settings.max_rows)
    key_size = len(query) + sum(map(len, dataset.default_graphs + dataset.named_graphs))
    kept = cache.get(job.store, key) if cache is not None else None
    if kept is not None:
        return _answer(settings, fmt, kept.truncated, kept.body, None, "hit")
    execution = await pool.execute(job, request.client.host if request.client else "")
    body, chunks = execution.body, execution.chunks
    if cache is not None:
        if body is not None:
            cache.put(job.store, key, Answer(execution.truncated, body), key_size)
        elif chunks is not None:
            chunks = cache.keep_stream(job.store, key, execution.truncated, chunks, key_size)
    state = "miss" if cache is not None else "bypass"
    return _answer(settings, fmt, execution.truncated, body, chunks, state)


class SparqlRoute:
    """``GET`` and ``POST /sparql`` as plain ASGI middleware, the innermost of the app's.

    The endpoint answers thousands of small requests a second: FastAPI's routing, its
    dependency solving and exception middleware cost about as much as running a point
    lookup. Requests for ``/sparql`` are answered here, by the same :func:`sparql`, with
    geokb errors turned into responses by ``api.responses.error`` as the app's handler does;
    every other request, and other methods on ``/sparql`` (405), go on to the app. The routes
    declared below stay for the OpenAPI description.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != "/sparql"
            or scope["method"] not in ("GET", "POST")
        ):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        scope["router"] = app.router  # for url_for, as the router would set it
        try:
            response = await sparql(Request(scope, receive))
        except GeokbError as exc:
            response = error(exc)
        await response(scope, receive, send)


def cut_message(settings: Settings, cut: str | bool) -> str:
    """The value of the truncation header for an answer cut by ``cut`` ("rows" or "bytes")."""
    if cut == "bytes":
        return f"true; the answer was cut at {settings.max_answer_mb:,} MB"
    return f"true; the result was cut to the first {settings.max_rows:,} rows"


def _answer(
    settings: Settings,
    fmt: formats.Format,
    truncated: str | bool,
    body: bytes | None,
    chunks: AsyncIterator[bytes] | None,
    cache_state: str,
) -> Response:
    headers = {
        "Vary": "Accept",
        MAX_ROWS_HEADER: str(settings.max_rows),
        CACHE_HEADER: cache_state,
    }
    if truncated:
        headers[TRUNCATED_HEADER] = cut_message(settings, truncated)
    if body is not None:
        return Response(body, media_type=fmt.content_type, headers=headers)
    assert chunks is not None
    return StreamingResponse(chunks, media_type=fmt.content_type, headers=headers)


async def _forward(
    settings: Settings, query: str, dataset: kbquery.Dataset, fmt: formats.Format
) -> Response:
    """Answer from the remote store, under the same limits and in the same formats."""
    remote = settings.remote
    assert remote is not None

    def answer() -> tuple[results.Bounded, str | None]:
        # All in one thread: pyoxigraph's parsed results must not cross threads.
        answered = remote_answer(
            remote,
            query,
            settings.timeout_s,
            dataset.default_graphs,
            dataset.named_graphs,
            settings.max_rows,
        )
        try:
            capped = results.cap(answered.result, settings.max_rows)
        except SyntaxError as exc:  # the answer broke off: say what the store said
            raise answered.broken(exc) from None
        bounded = results.write_bounded(capped, fmt, settings.max_answer_mb * 1024 * 1024)
        return bounded, answered.store_cut

    try:
        bounded, store_cut = await run_in_threadpool(answer)
    except TimeoutError as exc:
        raise QueryTimeout(str(exc)) from None
    if bounded.size <= 256 * 1024:
        response = _answer(settings, fmt, bounded.cut, b"".join(bounded.parts), None, "bypass")
    else:
        response = _answer(settings, fmt, bounded.cut, None, _pieces(bounded.parts), "bypass")
    if store_cut and not bounded.cut:  # the store's own row cap (or partial answer)
        response.headers[TRUNCATED_HEADER] = store_cut
    return response


async def _pieces(parts: list[bytes]) -> AsyncIterator[bytes]:
    """A large answer sent as it is held, in pieces (chunked), not copied into one."""
    for part in parts:
        yield part


router.add_api_route(
    "/sparql",
    sparql,
    methods=["GET"],
    name="sparql",
    operation_id="sparqlGet",
    summary="SPARQL 1.1 query (GET)",
    description=SPARQL_DESCRIPTION,
    response_class=Response,
    openapi_extra=SPARQL_GET,
)
router.add_api_route(
    "/sparql",
    sparql,
    methods=["POST"],
    name="sparql_post",
    operation_id="sparqlPost",
    summary="SPARQL 1.1 query (POST)",
    description=SPARQL_DESCRIPTION,
    response_class=Response,
    openapi_extra=SPARQL_POST,
)
