"""The SPARQL 1.1 Protocol endpoint: query via GET, POST form and POST sparql-query."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.negotiation import NotAcceptable, choose
from api.state import ServedStore
from kb import query as kbquery
from kb.errors import QueryError, QueryRefused

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"


class ProtocolError(Exception):
    """A request that breaks the SPARQL protocol; carries the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _plain(status: int, message: str) -> Response:
    return Response(
        message.rstrip() + "\n", status_code=status, media_type="text/plain; charset=utf-8"
    )


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise ProtocolError(400, f"'{name}' was given {len(values)} times; give it once")
    return values[0] if values else None


async def _request_params(request: Request) -> tuple[str, dict[str, list[str]]]:
    """The query text and the other protocol parameters of a GET or POST request."""
    url_params = parse_qs(request.url.query, keep_blank_values=True)
    if request.method == "GET":
        query = _one(url_params, "query")
        if query is None:
            raise ProtocolError(400, "missing 'query' parameter")
        return query, url_params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if ctype == FORM:
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        if "update" in form:
            raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
        if "query" in url_params:
            raise ProtocolError(400, "'query' given both in the URL and in the form body")
        params = {**url_params, **form}
        query = _one(params, "query")
        if query is None:
            raise ProtocolError(400, "missing 'query' field in the form body")
        return query, params
    if ctype == SPARQL_QUERY:
        if "query" in url_params:
            raise ProtocolError(
                400, "the query was given both as the body and as a 'query' parameter; give it once"
            )
        try:
            return body.decode("utf-8"), url_params
        except UnicodeDecodeError:
            raise ProtocolError(400, "the query body is not valid UTF-8") from None
    if ctype == SPARQL_UPDATE:
        raise ProtocolError(403, "SPARQL Update is not allowed: this endpoint is read-only")
    raise ProtocolError(
        415, f"unsupported Content-Type '{ctype or '(none)'}'; send {FORM} or {SPARQL_QUERY}"
    )


async def sparql(request: Request) -> Response:
    """Answer one SPARQL protocol request."""
    served: ServedStore = request.app.state.store
    try:
        query, params = await _request_params(request)
        dataset = kbquery.Dataset(
            tuple(params.get("default-graph-uri", [])), tuple(params.get("named-graph-uri", []))
        )
        shape = kbquery.guard(query)
        fmt = choose(shape, request.headers.get("accept"), _one(params, "format"))
        result = await run_in_threadpool(
            lambda: kbquery.serialize(kbquery.run(served.get(), query, dataset), fmt)
        )
    except ProtocolError as exc:
        return _plain(exc.status, str(exc))
    except NotAcceptable as exc:
        return _plain(406, str(exc))
    except QueryRefused as exc:
        return _plain(403, str(exc))
    except QueryError as exc:
        return _plain(400, str(exc))
    return Response(result, media_type=fmt.content_type, headers={"Vary": "Accept"})


router.add_api_route(
    "/sparql",
    sparql,
    methods=["GET", "POST"],
    summary="SPARQL 1.1 query endpoint (read-only)",
    response_class=Response,
)
