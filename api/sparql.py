"""The SPARQL 1.1 Protocol endpoint: query via GET, POST form and POST sparql-query.

Without a query, ``GET /sparql`` answers with the SPARQL Service Description.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, StreamingResponse

from api import description
from api.cache import Answer, ResultCache
from api.executor import ClientThrottled, QueryPool, ServerBusy, WorkerFailed
from api.negotiation import NotAcceptable, choose, parse_accept
from api.openapi import error
from api.responses import plain
from api.settings import Settings
from api.state import ServedStore
from api.worker import Job
from kb.errors import QueryError, QueryRefused, QueryTimeout, QueryTooLong
from kb.sparql import formats, results
from kb.sparql import query as kbquery
from kb.stores.remote import RemoteStoreError, remote_run

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
TRUNCATED_HEADER = "X-Geokb-Truncated"
MAX_ROWS_HEADER = "X-Geokb-Max-Rows"
CACHE_HEADER = "X-Geokb-Cache"  # hit, miss, or bypass (volatile query, or the cache is off)


class ProtocolError(Exception):
    """A request that breaks the SPARQL protocol; carries the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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


def _prefers_html(accept: str | None) -> bool:
    """Whether a browser asked: text/html ranks above every RDF format in Accept."""
    ranges = parse_accept(accept or "")
    for media, q in ranges:
        if q <= 0:
            continue
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media != "*/*" and not media.endswith("/*") and media not in ("application/xml",):
            return False
    return False


async def sparql(request: Request) -> Response:
    """Answer one SPARQL protocol request (or describe the service when there is no query)."""
    settings: Settings = request.app.state.settings
    served: ServedStore = request.app.state.store
    pool: QueryPool = request.app.state.pool
    try:
        # a form-encoded body may be up to 3x the query (percent-encoding)
        query, params = await _request_params(request, 3 * settings.max_query_chars + 4096)
        if query is None:  # only a GET gets here without one
            if not params.get("format") and _prefers_html(request.headers.get("accept")):
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
            base_iri=str(request.url_for("sparql")),
        )
        # None: the cache is off, or this query's answer may not be kept
        cache: ResultCache | None = None if reading.volatile else request.app.state.cache
        key = (query, dataset, fmt.name, settings.max_rows)
        key_size = len(query) + sum(map(len, dataset.default_graphs + dataset.named_graphs))
        kept = cache.get(job.store, key) if cache is not None else None
        if kept is not None:
            return _answer(settings, fmt, kept.truncated, kept.body, None, "hit")
        execution = await pool.execute(job, request.client.host if request.client else "")
    except ProtocolError as exc:
        return plain(exc.status, str(exc))
    except NotAcceptable as exc:
        return plain(406, str(exc))
    except QueryTooLong as exc:
        return plain(413, str(exc))
    except QueryRefused as exc:
        return plain(403, str(exc))
    except (QueryTimeout, TimeoutError) as exc:
        return plain(503, str(exc), {"Retry-After": "5"})
    except RemoteStoreError as exc:
        return plain(502, str(exc))
    except ClientThrottled as exc:
        return plain(429, str(exc), {"Retry-After": str(exc.retry_after_s)})
    except ServerBusy as exc:
        return plain(503, str(exc), {"Retry-After": "5"})
    except WorkerFailed as exc:
        return plain(500, f"the query failed inside the server: {exc}")
    except QueryError as exc:
        return plain(400, str(exc))
    body, chunks = execution.body, execution.chunks
    if cache is not None:
        if body is not None:
            cache.put(job.store, key, Answer(execution.truncated, body), key_size)
        elif chunks is not None:
            chunks = cache.keep_stream(job.store, key, execution.truncated, chunks, key_size)
    state = "miss" if cache is not None else "bypass"
    return _answer(settings, fmt, execution.truncated, body, chunks, state)


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


_PARAMS = [
    {
        "name": "query",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The SPARQL query. Without it, GET returns the Service Description.",
    },
    {
        "name": "default-graph-uri",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "named-graph-uri",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Result format (json, xml, csv, tsv, turtle, ntriples, nquads, rdfxml, "
        "jsonld); overrides Accept.",
    },
]
_RESULTS = {
    "200": {
        "description": "Query results (SPARQL results or RDF, by content negotiation).",
        "content": {f.media_type: {"schema": {"type": "string"}} for f in formats.FORMATS},
    },
    **{
        code: error(text)
        for code, text in {
            "400": "Malformed query or request",
            "403": "Update or SERVICE refused",
            "406": "No acceptable result format",
            "413": "Query too long",
            "415": "Unsupported request media type",
            "503": "Query timed out or server busy",
            "303": "A browser asking without a query: redirected to the query page",
            "500": "A query worker failed (it is restarted)",
            "502": "The remote store failed",
        }.items()
    },
}


async def _forward(
    settings: Settings, query: str, dataset: kbquery.Dataset, fmt: formats.Format
) -> Response:
    """Answer from the remote store, under the same limits and in the same formats."""
    remote = settings.remote
    assert remote is not None
    out: list[bytes] = []

    def answer() -> bool:
        # All in one thread: pyoxigraph's parsed results must not cross threads.
        result = remote_run(
            remote,
            query,
            settings.timeout_s,
            dataset.default_graphs,
            dataset.named_graphs,
            settings.max_rows,
        )
        capped = results.cap(result, settings.max_rows)
        results.write(capped, fmt, out.append)
        return capped.truncated

    truncated = await run_in_threadpool(answer)
    headers = {"Vary": "Accept", MAX_ROWS_HEADER: str(settings.max_rows)}
    if truncated:
        headers[TRUNCATED_HEADER] = cut_message(settings, truncated)
    return StreamingResponse(iter(out), media_type=fmt.content_type, headers=headers)


_DESCRIPTION = (
    "SPARQL 1.1 Protocol, read-only: `query` by GET, POST form or POST "
    "`application/sparql-query`, with `default-graph-uri`, `named-graph-uri` and an optional "
    "`format`. Results by content negotiation. Without a query, GET returns the SPARQL Service "
    "Description."
)
router.add_api_route(
    "/sparql",
    sparql,
    methods=["GET"],
    name="sparql",
    operation_id="sparqlGet",
    summary="SPARQL 1.1 query (GET)",
    description=_DESCRIPTION,
    response_class=Response,
    openapi_extra={"parameters": _PARAMS, "responses": _RESULTS},
)
router.add_api_route(
    "/sparql",
    sparql,
    methods=["POST"],
    name="sparql_post",
    operation_id="sparqlPost",
    summary="SPARQL 1.1 query (POST)",
    description=_DESCRIPTION,
    response_class=Response,
    openapi_extra={
        "parameters": _PARAMS[1:],
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["query"],
                        "properties": {
                            "query": {"type": "string"},
                            "default-graph-uri": {"type": "array", "items": {"type": "string"}},
                            "named-graph-uri": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                },
                SPARQL_QUERY: {"schema": {"type": "string"}},
            },
        },
        "responses": _RESULTS,
    },
)
