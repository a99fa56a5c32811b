"""The SPARQL 1.1 Protocol endpoint: query via GET, POST form and POST sparql-query.

Without a query, ``GET /sparql`` answers with the SPARQL Service Description.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from api import description
from api.cache import Answer, ResultCache
from api.caching import Policy, Validation, answer_etag
from api.client_keys import client_key
from api.executor import Execution, QueryPool
from api.headers import cors_simple, secure
from api.negotiation import choose, wants_html
from api.openapi import FORM, SPARQL_DESCRIPTION, SPARQL_GET, SPARQL_POST, SPARQL_QUERY
from api.responses import error
from api.settings import Settings
from api.state import ServedStore
from api.worker import Job
from kb.errors import GeokbError, QueryTimeout
from kb.sparql import direct, formats, results
from kb.sparql import query as kbquery
from kb.sparql.reading import Reading
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


MAX_FORM_FIELDS = 256  # as the URL's parameters (api.http_server.MAX_URL_PARAMS)


def url_params(scope: Scope) -> dict[str, list[str]]:
    """The parameters in the request's URL (its query string, decoded as UTF-8)."""
    raw = scope["query_string"]
    if not raw:
        return {}
    try:
        return parse_qs(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ProtocolError(400, "the URL's query string is not valid UTF-8") from None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; of a repeated one, the first."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


async def _request_params(
    scope: Scope,
    receive: Receive,
    headers: dict[bytes, bytes],
    url: dict[str, list[str]],
    limit: int,
) -> tuple[str | None, dict[str, list[str]]]:
    """The query text (None if absent) and the other protocol parameters of a request."""
    if scope["method"] == "GET":
        if "update" in url:
            raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
        return _one(url, "query"), url
    raw_type = headers.get(b"content-type", b"").decode("latin-1")
    ctype = raw_type.split(";")[0].strip().lower()
    if ctype not in (FORM, SPARQL_QUERY, SPARQL_UPDATE):
        raise ProtocolError(
            415, f"unsupported Content-Type '{ctype or '(none)'}'; send {FORM} or {SPARQL_QUERY}"
        )
    if ctype == SPARQL_UPDATE:
        raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
    body = await _read_body(receive, headers.get(b"content-length"), limit)
    if ctype == FORM:
        if body.count(b"&") >= MAX_FORM_FIELDS:  # parsed in the server's one thread
            raise ProtocolError(400, f"the form has more than {MAX_FORM_FIELDS} fields")
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        if "update" in form:
            raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
        if "query" in url and "query" in form:
            raise ProtocolError(400, "'query' given both in the URL and in the form body")
        params = {**url, **{k: v + url.get(k, []) for k, v in form.items()}}
        query = _one(params, "query")
        if query is None:
            raise ProtocolError(400, "missing 'query' field in the form body")
        return query, params
    if "query" in url:
        raise ProtocolError(
            400, "the query was given both as the body and as a 'query' parameter; give it once"
        )
    try:
        return body.decode("utf-8"), url
    except UnicodeDecodeError:
        raise ProtocolError(400, "the query body is not valid UTF-8") from None


async def _read_body(receive: Receive, declared: bytes | None, limit: int) -> bytes:
    # Refuse oversized bodies while reading, without holding more than the limit in memory.
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"request body is {int(declared):,} bytes; the limit is {limit:,}")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the client went away
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > limit:
            raise ProtocolError(413, f"request body is over the limit of {limit:,} bytes")
        if not message.get("more_body", False):
            return bytes(body)


_BASES: dict[tuple[object, ...], str] = {}  # the endpoint's URL per scheme, host, root path
_MAX_BASES = 256  # (the Host header is the client's: keep few)


def _base_iri(scope: Scope, host: bytes | None) -> str:
    """This endpoint's own URL as the client named it: relative IRIs resolve against it.
    (``url_for`` builds it anew for each request: a measurable share of a point lookup.)"""
    key = (scope["scheme"], scope.get("server"), scope.get("root_path", ""), host)
    base = _BASES.get(key)
    if base is None:
        if len(_BASES) >= _MAX_BASES:
            _BASES.clear()
        base = _BASES[key] = str(Request(scope).url_for("sparql"))
    return base


async def sparql(request: Request) -> Response:
    """Answer one SPARQL protocol request (or describe the service when there is no query).

    The route FastAPI declares (for the OpenAPI description) and reaches for HEAD; GET and
    POST are answered by :class:`SparqlFront` before the app's middleware, by the same
    :func:`respond`. Errors are raised as geokb errors; each knows its HTTP status, and the
    app turns them into responses in one place (``api.app``).
    """
    scope = request.scope
    return await respond(scope, request.receive, _headers(scope), url_params(scope))


async def respond(
    scope: Scope,
    receive: Receive,
    headers: dict[bytes, bytes],
    url: dict[str, list[str]],
    reading: Reading | None = None,
    folder: Path | None = None,
) -> Response:
    """The answer to the SPARQL protocol request in ``scope`` (its ``headers`` and ``url``
    parameters read already; ``reading``: of the query in ``url``, if it was read; ``folder``:
    the current build, if it was looked up); raises geokb errors."""
    state = scope["app"].state
    settings: Settings = state.settings
    # a form-encoded body may be up to 3x the query (percent-encoding)
    query, params = await _request_params(
        scope, receive, headers, url, 3 * settings.max_query_chars + 4096
    )
    accept = headers.get(b"accept")
    accept_text = accept.decode("latin-1") if accept is not None else None
    if query is None:  # only a GET gets here without one
        if not params.get("format") and wants_html(accept_text):
            return RedirectResponse("/", status_code=303)  # a person: the query page
        request = Request(scope, receive)
        return description.service_description_response(request, _one(params, "format"))
    dataset = kbquery.Dataset(
        tuple(params.get("default-graph-uri", ())), tuple(params.get("named-graph-uri", ()))
    )
    kbquery.check_dataset(dataset)
    # The one reading of the query: every decision below is taken on it.
    if reading is None:
        reading = state.readings.read(query, settings.max_query_chars)
    fmt = choose(reading.shape, accept_text, params.get("format"))
    if settings.remote is not None:
        # a GET's (or HEAD's) answer gets an ETag; POST answers are not stored by caches
        tagged = scope["method"] != "POST" and not reading.volatile
        return await _forward(settings, query, dataset, fmt, tagged)
    if folder is None:
        served: ServedStore = state.store
        folder = served.current_path()
    job = Job(
        str(folder),
        query,
        dataset,
        fmt.name,
        settings.max_rows,
        settings.max_answer_mb * 1024 * 1024,
        reading,
        base_iri=_base_iri(scope, headers.get(b"host")),
    )
    # None: the cache is off, or this query's answer may not be kept
    cache: ResultCache | None = None if reading.volatile else state.cache
    key = (query, dataset, fmt.name, settings.max_rows)
    kept = cache.get(job.store, key) if cache is not None else None
    if kept is not None:
        return _answer(settings, fmt, kept.truncated, kept.body, None, "hit")
    execution = _direct(state.store, folder, reading, dataset, fmt, job)
    if execution is None:
        pool: QueryPool = state.pool
        client = scope.get("client")
        execution = await pool.execute(job, client_key(client[0]) if client else "")
    body, chunks = execution.body, execution.chunks
    if cache is not None:
        key_size = len(query) + sum(map(len, dataset.default_graphs + dataset.named_graphs))
        if body is not None:
            cache.put(job.store, key, Answer(execution.truncated, body), key_size)
        elif chunks is not None:
            chunks = cache.keep_stream(job.store, key, execution.truncated, chunks, key_size)
    cache_state = "miss" if cache is not None else "bypass"
    return _answer(settings, fmt, execution.truncated, body, chunks, cache_state)


def _direct(
    served: ServedStore,
    folder: Path,
    reading: Reading,
    dataset: kbquery.Dataset,
    fmt: formats.Format,
    job: Job,
) -> Execution | None:
    """The answer to a one-pattern lookup, read from the store's index here in the server
    (``kb.sparql.direct``: no query engine, so no worker is needed); None when the query is
    not one, or the lookup gives up (too many triples): a worker then runs it."""
    if reading.lookup is None or dataset.default_graphs or dataset.named_graphs:
        return None
    store = served.indexed(folder)
    if store is None:
        return None
    try:
        bounded = direct.answer(store, reading.lookup, fmt, job.max_rows, job.max_bytes)
    except (OSError, RuntimeError):  # a damaged store: the worker's answer says so
        return None
    if bounded is None:
        return None
    return Execution(truncated="", body=b"".join(bounded.parts))


class SparqlFront:
    """``GET`` and ``POST /sparql`` as plain ASGI, in front of the whole app.

    The endpoint answers thousands of small requests a second: FastAPI's routing and
    middleware layers, each wrapping the response, cost about as much as running a point
    lookup. Here one function does what they do to a ``/sparql`` answer, in the same order:
    HTTP caching (``api.caching``, GET only), CORS (``api.headers.cors_simple``) and the
    security headers; geokb errors become responses by ``api.responses.error`` as the app's
    handler does. Every other request (HEAD, OPTIONS, other paths) goes to the app, where the
    middleware do the same to the same answers (``tests/test_protocol.py`` compares them).
    """

    def __init__(self, validation: Validation, expose: bytes) -> None:
        self.validation = validation
        self.expose = expose  # the headers CORS exposes

    @staticmethod
    def handles(scope: Scope) -> bool:
        """Whether this request is one for :meth:`__call__`."""
        return (
            scope["type"] == "http"
            and scope["path"] == "/sparql"
            and scope["method"] in ("GET", "POST")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a GET or POST to /sparql (``scope["app"]`` is the app)."""
        headers = _headers(scope)
        origin = headers.get(b"origin")
        policy = None
        try:
            url = url_params(scope)
            if scope["method"] == "GET":
                reading = self._reading(scope, url)
                folder = self._folder(scope)  # looked up once for the policy and the query
                volatile = reading is not None and reading.volatile
                policy = self.validation.policy(scope, volatile, folder)
                if policy.not_modified:  # the client's copy is this build's: nothing runs
                    await self._send_304(send, policy, origin)
                    return
                response = await respond(scope, receive, headers, url, reading, folder)
            else:
                response = await respond(scope, receive, headers, url)
        except GeokbError as exc:
            response = error(exc)
            if policy is None and scope["method"] == "GET":  # the URL could not be read
                policy = self.validation.policy(scope, volatile=True)  # an error: no-store

        async def send_answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                if policy is not None:
                    message = policy.start(message)
                head = cors_simple(message.get("headers", []), origin, self.expose)
                message = {**message, "headers": secure(head)}
            elif policy is not None and policy.dropping:  # a 200 turned 304: no body
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await response(scope, receive, send_answer)

    async def _send_304(self, send: Send, policy: Policy, origin: bytes | None) -> None:
        start = policy.start({"type": "http.response.start", "status": 304})
        head = cors_simple(start["headers"], origin, self.expose)
        await send({**start, "headers": secure(head)})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    def _reading(scope: Scope, url: dict[str, list[str]]) -> Reading | None:
        """The reading of the GET's query (through the app's reading cache), None if there
        is none to run (the route then says why: its error is not stored either)."""
        texts = url.get("query", ())
        if len(texts) != 1:
            return None  # the route refuses it, or describes the service
        state = scope["app"].state
        try:
            reading: Reading = state.readings.read(texts[0], state.settings.max_query_chars)
        except GeokbError:
            return None
        return reading

    @staticmethod
    def _folder(scope: Scope) -> Path | None:
        """The current build's folder; None with a remote store, or a damaged build (the
        route then says so)."""
        served: ServedStore | None = scope["app"].state.store
        if served is None:
            return None
        try:
            return served.current_path()
        except GeokbError:
            return None


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
    settings: Settings,
    query: str,
    dataset: kbquery.Dataset,
    fmt: formats.Format,
    tagged: bool = False,
) -> Response:
    """Answer from the remote store, under the same limits and in the same formats.

    With ``tagged`` (a GET or HEAD of a query not meant to differ each time), an answer not
    cut at a limit carries a strong ``ETag``: a hash of its bytes, media type and row cap
    (``api.caching.answer_etag``). The store can change at any time, so nothing short of
    running the query tells whether a client's copy is current: ``If-None-Match`` is compared
    with this tag afterwards (``api.caching.Policy``), and a ``304`` saves sending the answer,
    not the query. Every answer is held whole before its head is sent (large ones go out in
    pieces, but are all read from the store first), so each can have its tag in the head.
    Cut answers get none: they are ``no-store``, as with the embedded store.
    """
    remote = settings.remote
    assert remote is not None
    max_rows = str(settings.max_rows)

    def answer() -> tuple[results.Bounded, str | None, bytes | None]:
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
        etag = None
        if tagged and not bounded.cut and not answered.store_cut:  # hashed here, off the loop
            etag = answer_etag(fmt.content_type.encode(), max_rows.encode(), bounded.parts)
        return bounded, answered.store_cut, etag

    try:
        bounded, store_cut, etag = await run_in_threadpool(answer)
    except TimeoutError as exc:
        raise QueryTimeout(str(exc)) from None
    if bounded.size <= 256 * 1024:
        response = _answer(settings, fmt, bounded.cut, b"".join(bounded.parts), None, "bypass")
    else:
        response = _answer(settings, fmt, bounded.cut, None, _pieces(bounded.parts), "bypass")
    if store_cut and not bounded.cut:  # the store's own row cap (or partial answer)
        response.headers[TRUNCATED_HEADER] = store_cut
    if etag is not None:
        response.headers["ETag"] = etag.decode()
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
