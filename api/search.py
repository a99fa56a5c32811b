"""Finding things: /search (HTML, and JSON for the header box's suggestions), browsable lists
of entities at /id/ and /id/<kind>/ with facets, filters, sort and paging, and the not-found
page that suggests the closest entities.

Everything answers from the build's search index (``kb.stores.search_index``: a SQLite file
written by each build, read through ``api.lookup``). A build made before builds wrote one
gets its index computed once, in one background thread, into a temporary folder of the
server's; a request waits for it at most ``Settings.timeout_s`` (then 503 with Retry-After;
the computation goes on).

A list (``/id/<kind>/``) takes, besides ``q`` (a text filter), ``page`` and ``format``:
``<facet>=<value>`` filters (several combine: a row must have each), ``sort=<column>`` or
``sort_desc=<column>`` (label, id, and year where the kind has dates), ``after=<id>``, a
keyset cursor: the rows after that record in the list's order, stable while the data
changes, unlike page numbers, and ``all_values=<facet>``: that facet shows all its values
(up to ``FACET_ALL_VALUES``), not only the most frequent. CSV and JSON give exactly the rows
the page shows. A list takes at most ``MAX_FILTERS`` filters: once that many are in force,
the page shows the other values without links to add them (a link would only be refused).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api import pagework
from api.lookup import (
    MAX_QUERY_CHARS,
    Entry,
    FacetValue,
    ListQuery,
    ListResult,
    SearchIndex,
    Sort,
    kind_label,
    sort_columns,
)
from api.negotiation import wants_html
from api.openapi import (
    ID_KINDS_RESPONSES,
    ID_LIST_RESPONSES,
    SEARCH_JSON_RESPONSES,
    SEARCH_RESPONSES,
)
from api.pages import render
from api.pagework import Deadline, PagesBusy, PageTimeout
from api.responses import plain
from api.settings import Settings
from api.state import ServedStore
from kb.display import spreadsheet_safe
from kb.model import schema
from kb.stores import search_index
from kb.stores.local import open_build
from kb.stores.search_index import FACETS, fold

router = APIRouter()
T = TypeVar("T")

PAGE_SIZE = 100  # rows of a list page
SEARCH_PAGE_LIMIT = 100  # results on /search
SUGGEST_LIMIT = 10  # results of /search.json by default
SUGGEST_MAX = 50  # results of /search.json at most
NOT_FOUND_SUGGESTIONS = 8
NOT_FOUND_WAIT_S = 2.0  # the not-found page waits this long for the index, at most
FUZZY_S = 1.0  # seconds the not-found page spends on close matches, at most
MAX_PAGE = 1_000_000
MAX_FILTERS = 10
#: Parameters of a list that are not facet filters.
LIST_PARAMS = ("q", "page", "after", "sort", "sort_desc", "format", "all_values")

__all__ = ["fold", "kind_label", "kind_plural"]


def kind_plural(kind: str) -> str:
    """How many of a kind are named to people ("territorial disputes")."""
    label = kind_label(kind)
    if label.endswith("cooperation"):
        return label
    if label.endswith("y") and not label.endswith("ey"):
        return label[:-1] + "ies"
    return label + "s"


def _open_build_index(build: Path) -> SearchIndex:
    """The search index of the build in ``build``: the one the build wrote, else one
    computed now into a temporary folder (a build made before builds wrote one)."""
    path = build / search_index.INDEX_NAME
    if path.is_file():
        try:
            return SearchIndex(path)
        except ValueError:  # an older format: computed afresh below
            pass
    folder = Path(tempfile.mkdtemp(prefix="geokb-index-"))
    try:
        return SearchIndex(search_index.write(open_build(build), folder))
    finally:
        # The open connection keeps the file readable; its name is no longer needed.
        shutil.rmtree(folder, ignore_errors=True)


_KEEP = 2  # builds whose index is kept open (the served one, and the one it replaced)
_kept: dict[Path, Future[SearchIndex]] = {}
_kept_lock = threading.Lock()
_computer = ThreadPoolExecutor(1, thread_name_prefix="geokb-index")


def _index_future(build: Path) -> Future[SearchIndex]:
    with _kept_lock:
        future = _kept.get(build)
        if future is None or (future.done() and future.exception() is not None):
            future = _computer.submit(_open_build_index, build)  # (a failure is tried again)
            _kept.pop(build, None)
            _kept[build] = future
            while len(_kept) > _KEEP:
                old = _kept.pop(next(iter(_kept)))
                old.add_done_callback(_close_later)
        return future


def _close_later(future: Future[SearchIndex]) -> None:
    # Not closed at once: a request may still be reading it; the lock is taken in turn.
    if future.exception() is None:
        index = future.result()
        timer = threading.Timer(60.0, index.close)
        timer.daemon = True  # a stopping server does not wait for it
        timer.start()


async def index_of(served: ServedStore, timeout: float) -> SearchIndex:
    """The index of the served build, waiting at most ``timeout`` s (else PageTimeout)."""
    future = asyncio.wrap_future(_index_future(served.current_path()))
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        raise PageTimeout(
            f"the search index is still being built (waited {timeout:g} s); try again shortly"
        ) from None


def _served(request: Request) -> ServedStore | None:
    served: ServedStore | None = request.app.state.store
    return served


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _remote() -> Response:
    return plain(501, "search and lists are not available with a remote store; query /sparql")


async def _run_with_index(
    request: Request, fn: Callable[[SearchIndex, Deadline], T]
) -> tuple[SearchIndex, T]:
    """The served build's index, and ``fn(index, deadline)`` run in a render slot."""
    served = _served(request)
    assert served is not None
    index = await index_of(served, _settings(request).timeout_s)
    result = await pagework.for_request(request).run(lambda d: fn(index, d))
    return index, result


@dataclass(frozen=True)
class Group:
    """Results of one kind on the search page."""

    kind: str
    label: str
    entries: list[Entry]


def _groups(entries: Iterable[Entry]) -> list[Group]:
    """``entries`` grouped by kind, the group of the best result first."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.kind, []).append(entry)
    return [Group(k, kind_plural(k), es) for k, es in groups.items()]


@router.get(
    "/search",
    summary="Search entities by name (HTML)",
    response_class=HTMLResponse,
    responses=SEARCH_RESPONSES,
)
async def search_page(request: Request, q: str = "") -> Response:
    """Entities whose names (any language), titles or ids match ``q``, grouped by kind."""
    if _served(request) is None:
        return _remote()
    q = q[: MAX_QUERY_CHARS * 5]

    def work(index: SearchIndex, d: Deadline) -> tuple[list[Entry], int, list[tuple[str, int]]]:
        hits, total = index.search(q, SEARCH_PAGE_LIMIT, d)
        return hits, total, index.kinds(d)

    try:
        _, (hits, total, kinds) = await _run_with_index(request, work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    page = render(
        "search.html",
        q=q,
        search_q=q,
        shown=len(hits),
        total=total,
        groups=_groups(hits),
        complete=True,
        kinds=[(k, kind_plural(k), n) for k, n in kinds],
    )
    return HTMLResponse(page)


@router.get(
    "/search.json",
    summary="Search entities by name (JSON, for autocomplete)",
    response_class=JSONResponse,
    responses=SEARCH_JSON_RESPONSES,
)
async def search_json(request: Request, q: str = "", limit: str | None = None) -> Response:
    """At most ``limit`` (default 10, at most 50) entities matching ``q``, best first."""
    if _served(request) is None:
        return _remote()
    n = SUGGEST_LIMIT
    if limit is not None:
        try:
            n = int(limit)
        except ValueError:
            return plain(400, "limit must be a whole number")
        if not 1 <= n <= SUGGEST_MAX:
            return plain(400, f"limit must be between 1 and {SUGGEST_MAX}")
    q = q[: MAX_QUERY_CHARS * 5]
    try:
        _, (hits, total) = await _run_with_index(request, lambda index, d: index.search(q, n, d))
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    return JSONResponse(
        {
            "q": q[:MAX_QUERY_CHARS],
            "results": [e.json() for e in hits],
            "total": total,
            "complete": True,
        }
    )


def _page_number(page: str | None) -> int | None:
    if page is None or page == "":
        return 1
    try:
        n = int(page)
    except ValueError:
        return None
    return n if 1 <= n <= MAX_PAGE else None


@router.get(
    "/id/",
    summary="The kinds of entities, with counts",
    response_class=HTMLResponse,
    responses=ID_KINDS_RESPONSES,
)
async def kinds_page(request: Request, format: str | None = None) -> Response:
    """Each kind of entity, how many the knowledge base has, and a link to the list."""
    if _served(request) is None:
        return _remote()
    if format not in (None, "", "html", "json"):
        return plain(400, "format must be html or json")
    try:
        _, counts = await _run_with_index(request, lambda index, d: index.kinds(d))
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    kinds = [(k, kind_plural(k), n) for k, n in counts]
    if format == "json":
        return JSONResponse(
            {
                "kinds": [
                    {"kind": k, "label": label, "count": n, "url": f"/id/{k}/"}
                    for k, label, n in kinds
                ],
                "complete": True,
            }
        )
    return HTMLResponse(
        render("list.html", mode="kinds", kinds=kinds, complete=True),
        headers={"Vary": "Accept"},
    )


class _Link:
    """Links to a list with its parameters changed (the rest kept, in their order)."""

    def __init__(self, path: str, params: list[tuple[str, str]]) -> None:
        self.path = path
        self.params = params

    def href(
        self,
        drop: Iterable[str] = (),
        add: Iterable[tuple[str, str]] = (),
        without: tuple[str, str] | None = None,
    ) -> str:
        dropped = set(drop)
        kept = [
            (k, v) for k, v in self.params if k not in dropped and (k, v) != without and v != ""
        ]
        kept += [(k, v) for k, v in add if (k, v) not in kept]
        query = urlencode(kept)
        return self.path + ("?" + query if query else "")


@dataclass(frozen=True)
class Filter:
    """A facet filter in force: its facet's label, the value's label, the link without it."""

    name: str
    label: str
    value: str
    value_label: str
    remove_href: str


@dataclass(frozen=True)
class ShownFacet:
    """A facet as the list page shows it: values with counts and links adding them."""

    name: str
    label: str
    values: list[tuple[FacetValue, str, bool]]  # (value, link adding or removing it, in force)
    distinct: int
    all_href: str = ""  # the list with all of this facet's values, if some are not shown


def _list_query(
    kind: str, request: Request, q: str
) -> tuple[ListQuery, list[tuple[str, str]]] | str:
    """The list's query from the request's parameters, or what is wrong with them."""
    names = {f.name for f in FACETS.get(kind, ())}
    params = list(request.query_params.multi_items())
    filters: list[tuple[str, str]] = []
    for key, value in params:
        if key in LIST_PARAMS:
            continue
        if key not in names:
            known = ", ".join(sorted(names)) or "none"
            return f"{key!r} is not a facet of {kind_plural(kind)} (facets: {known})"
        if value and (key, value) not in filters:
            filters.append((key, value[:MAX_QUERY_CHARS]))
    if len(filters) > MAX_FILTERS:
        return f"at most {MAX_FILTERS} filters at once"
    sort = Sort()
    asked = request.query_params.get("sort"), request.query_params.get("sort_desc")
    if asked[0] and asked[1]:
        return "give sort or sort_desc, not both"
    column = asked[0] or asked[1]
    if column:
        if column not in sort_columns(kind):
            return f"sort by one of: {', '.join(sort_columns(kind))}"
        sort = Sort(column, desc=bool(asked[1]))
    all_values = request.query_params.get("all_values", "")
    if all_values and all_values not in names:
        known = ", ".join(sorted(names)) or "none"
        return f"all_values: {all_values!r} is not a facet of {kind_plural(kind)} (facets: {known})"
    return ListQuery(kind, q, tuple(filters), sort, all_values), params


@router.get(
    "/id/{kind}/",
    summary="The entities of one kind: facets, filters, sort, 100 a page",
    response_class=HTMLResponse,
    responses=ID_LIST_RESPONSES,
)
async def kind_list(
    kind: str,
    request: Request,
    q: str = "",
    page: str | None = None,
    after: str | None = None,
    format: str | None = None,
) -> Response:
    """One page of the entities of ``kind`` (filtered by ``q`` and by facet values, sorted
    by ``sort``/``sort_desc``, from ``page`` or ``after`` a record): HTML, CSV or JSON."""
    if _served(request) is None:
        return _remote()
    if format not in (None, "", "html", "csv", "json"):
        return plain(400, "format must be html, csv or json")
    number = _page_number(page)
    if number is None:
        return plain(400, f"page must be a whole number from 1 to {MAX_PAGE:,}")
    if after is not None and page not in (None, ""):
        return plain(400, "give page or after, not both")
    if kind not in schema.KINDS_BY_NAME:
        message = f"There is no kind of entity called {kind!r}."
        html = format in (None, "", "html") and wants_html(request.headers.get("accept"), True)
        return await not_found_page(request, message, kind, html)
    q = q[: MAX_QUERY_CHARS * 5]
    asked = _list_query(kind, request, q)
    if isinstance(asked, str):
        return plain(400, asked)
    query, params = asked

    def work(index: SearchIndex, deadline: Deadline) -> ListResult | None:
        offset = (number - 1) * PAGE_SIZE
        return index.list_page(query, PAGE_SIZE, deadline, offset, after or None)

    try:
        _, found = await _run_with_index(request, work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    if found is None:
        return plain(400, f"after: there is no {kind_label(kind)} with the id {after!r}")
    path = f"/id/{kind}/"
    link = _Link(path, params)
    base = str(request.base_url).rstrip("/")
    rows = found.rows
    facets = FACETS.get(kind, ())
    next_href = None
    if found.more:
        next_href = link.href(drop=("page", "after"), add=[("after", rows[-1].id)])
    if format == "json":
        return JSONResponse(
            {
                "kind": kind,
                "q": q,
                "filters": [{"facet": n, "value": v} for n, v in query.filters],
                "sort": query.sort.column,
                "sort_desc": query.sort.desc,
                "page": None if after else number,
                "after": after,
                "total": found.total,
                "page_size": PAGE_SIZE,
                "rows": [
                    {
                        **e.json(base),
                        **{
                            f.name: [v.label for v in found.values[e.iri].get(f.name, [])]
                            for f in facets
                        },
                    }
                    for e in rows
                ],
                "facets": [
                    {
                        "facet": c.facet.name,
                        "label": c.facet.label,
                        "distinct": c.distinct,
                        "values": [
                            {"value": v.value, "label": v.label, "count": v.count} for v in c.values
                        ],
                    }
                    for c in found.facets
                ],
                "next": _with_format(next_href, "json") if next_href else None,
                "complete": True,
            }
        )
    if format == "csv":
        return _csv(kind, rows, found, base, number if not after else None)
    first = (number - 1) * PAGE_SIZE + 1
    in_force = set(query.filters)
    full = len(in_force) >= MAX_FILTERS  # no link adds a filter: the list would refuse it

    def value_href(name: str, value: str) -> str:
        """The list without the value if in force, else with it added ('' if no more fit)."""
        if (name, value) in in_force:
            return link.href(drop=("page", "after"), without=(name, value))
        if full:
            return ""
        return link.href(drop=("page", "after"), add=[(name, value)])

    shown = [
        ShownFacet(
            c.facet.name,
            c.facet.label,
            [
                (v, value_href(c.facet.name, v.value), (c.facet.name, v.value) in in_force)
                for v in c.values
            ],
            c.distinct,
            link.href(drop=("all_values",), add=[("all_values", c.facet.name)])
            if c.distinct > len(c.values) and c.facet.name != query.all_values
            else "",
        )
        for c in found.facets
    ]
    filters = [
        Filter(
            name,
            next(f.label for f in facets if f.name == name),
            value,
            found.labels[(name, value)],
            link.href(drop=("page", "after"), without=(name, value)),
        )
        for name, value in query.filters
    ]
    sorts = [
        (
            column,
            link.href(drop=("page", "after", "sort", "sort_desc"), add=[("sort", column)]),
            link.href(drop=("page", "after", "sort", "sort_desc"), add=[("sort_desc", column)]),
        )
        for column in sort_columns(kind)
    ]
    prev_href = None
    if not after and number > 1:
        prev_href = link.href(drop=("page",), add=[("page", str(number - 1))] if number > 2 else [])
    page_html = render(
        "list.html",
        mode="list",
        kind=kind,
        kind_label=kind_plural(kind),
        q=q,
        rows=rows,
        values=found.values,
        columns=facets,
        facets=shown,
        filters=filters,
        max_filters=MAX_FILTERS,
        all_values=query.all_values,
        sort=query.sort,
        sorts=sorts,
        total=found.total,
        page=number,
        after=after,
        first=first,
        last=first + len(rows) - 1,
        prev_href=prev_href,
        next_href=next_href,
        first_href=link.href(drop=("page", "after")) if after or number > 1 else None,
        csv_href=_with_format(link.href(), "csv"),
        json_href=_with_format(link.href(), "json"),
        complete=True,
    )
    return HTMLResponse(page_html, headers={"Vary": "Accept"})


def _with_format(href: str, format: str) -> str:
    path, _, query = href.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("format=")]
    return path + "?" + "&".join([*kept, f"format={format}"])


def _csv(
    kind: str, rows: list[Entry], found: ListResult, base: str, number: int | None
) -> Response:
    """The rows as CSV: label, kind, id, IRI, URL, then each facet's values ("; "-joined).

    Cells that a spreadsheet would run as a formula are escaped (``spreadsheet_safe``)."""
    facets = FACETS.get(kind, ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["label", "kind", "id", "iri", "url", *(f.name for f in facets)])
    for e in rows:
        cells = [e.label, e.kind, e.id, e.iri, base + e.url]
        cells += ["; ".join(v.label for v in found.values[e.iri].get(f.name, [])) for f in facets]
        writer.writerow([spreadsheet_safe(c) for c in cells])
    name = f"geokb-{kind}" + (f"-page-{number}" if number and number > 1 else "") + ".csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _asked_text(asked: str) -> str:
    """What a person was looking for in a path: its last segment, as words."""
    last = [s for s in asked.split("/") if s][-1:] or [""]
    return " ".join(re.split(r"[-_.+%]+", last[0]))[:MAX_QUERY_CHARS].strip()


NOT_FOUND_SHOWN = 600  # characters of what was asked a 404 repeats


async def not_found_page(
    request: Request, message: str, asked: str, html: bool | None = None
) -> Response:
    """404: the not-found page (with the entities closest to ``asked``) if ``html`` (by
    default: if the client does not ask for something else), plain text otherwise."""
    if html is None:
        html = wants_html(request.headers.get("accept"), default=True)
    if len(message) > NOT_FOUND_SHOWN:  # a path as long as a URL may be: not copied whole
        message = message[:NOT_FOUND_SHOWN] + "..."
    if not html:
        return plain(404, message)
    text = _asked_text(asked[:NOT_FOUND_SHOWN])
    suggestions: list[Entry] = []
    served = _served(request)
    if served is not None and text:
        try:
            index = await index_of(served, min(NOT_FOUND_WAIT_S, _settings(request).timeout_s))
            work = pagework.for_request(request)
            suggestions = await work.run(
                lambda d: index.closest(text, NOT_FOUND_SUGGESTIONS, Deadline(FUZZY_S))
            )
        except (PageTimeout, PagesBusy):
            suggestions = []  # the page without suggestions, rather than none
    page = render(
        "not_found.html", message=message, suggestions=suggestions, search_q=text, asked=text
    )
    return HTMLResponse(page, status_code=404, headers={"Vary": "Accept"})
