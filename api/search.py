"""Finding things: a label index of the served build, /search (HTML and JSON for the header
box's suggestions), browsable lists of entities at /id/ and /id/<kind>/, and the not-found page
that suggests the closest entities.

The index holds every entity IRI of the build with its labels and titles (all languages) and
its kind. It is computed once per build, in one background thread, and kept (like the VoID
statistics of api/description.py); a request waits for it at most ``Settings.timeout_s`` (then
503 with Retry-After; the computation goes on). It is bounded: at most MAX_ENTITIES entities,
MAX_NAMES names each, MAX_NAME_CHARS characters a name, MAX_CHARS characters in all, BUILD_S
seconds to read; an index cut short says so on the pages that use it.

Matching folds case and accents (NFKD without combining marks, then casefold). A name matches
a query exactly, by its start, by the starts of its words (every word of the query starts a
word of the name), or anywhere in it; results are ranked in that order, then by kind (states
and disputes first, sources last), then by label. Ids match too, but not as substrings.
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import heapq
import io
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api import pagework, views
from api.negotiation import wants_html
from api.openapi import (
    ID_KINDS_RESPONSES,
    ID_LIST_RESPONSES,
    SEARCH_JSON_RESPONSES,
    SEARCH_RESPONSES,
)
from api.pages import render
from api.pagework import BATCH, Deadline, PagesBusy, PageTimeout
from api.responses import plain
from api.settings import Settings
from api.state import ServedStore
from kb.model import schema
from kb.stores.local import open_build

router = APIRouter()
T = TypeVar("T")

MAX_ENTITIES = 200_000  # entities the index holds, at most
MAX_NAMES = 16  # names (labels, titles) kept per entity
MAX_NAME_CHARS = 200  # characters kept of a name
MAX_CHARS = 20_000_000  # characters of names in all, at most (some 100 MB with their folds)
BUILD_S = 120.0  # seconds the index may take to read a build
MAX_QUERY_CHARS = 200  # characters of a query that are looked at
PAGE_SIZE = 100  # rows of a list page
SEARCH_PAGE_LIMIT = 100  # results on /search
SUGGEST_LIMIT = 10  # results of /search.json by default
SUGGEST_MAX = 50  # results of /search.json at most
NOT_FOUND_SUGGESTIONS = 8
NOT_FOUND_WAIT_S = 2.0  # the not-found page waits this long for the index, at most
FUZZY_S = 1.0  # seconds the not-found page spends on close matches, at most
MAX_PAGE = 1_000_000

_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_LABEL = ox.NamedNode(str(schema.LABEL.iri))
_TITLE = ox.NamedNode(str(schema.TITLE.iri))
# Kinds in the order results show them: states and disputes first, sources last.
_KIND_ORDER = (
    "state",
    "dispute",
    "territory",
    "actor",
    "igo",
    "organization",
    "claim",
    "administration",
    "facility",
    "weapon",
    "event",
    "cooperation",
    "use",
    "transfer",
    "assertion",
    "source",
)
_KIND_RANK = {name: n for n, name in enumerate(_KIND_ORDER)}
_WORDS = re.compile(r"\w+")
# Ranks of a match
EXACT, PREFIX, WORD_PREFIX, SUBSTRING = 0, 1, 2, 3


def fold(text: str) -> str:
    """``text`` without case or accents, its runs of spaces made one ("Côte" -> "cote")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def kind_label(kind: str) -> str:
    """How a kind is named to people ("territorial dispute")."""
    found = schema.KINDS_BY_NAME.get(kind)
    return found.label if found is not None else kind


def kind_plural(kind: str) -> str:
    """How many of a kind are named to people ("territorial disputes")."""
    label = kind_label(kind)
    if label.endswith("cooperation"):
        return label
    if label.endswith("y") and not label.endswith("ey"):
        return label[:-1] + "ies"
    return label + "s"


@dataclass(frozen=True)
class Entry:
    """One entity in the index: its IRI, kind, id, label to show and folded names."""

    iri: str
    kind: str
    id: str
    label: str
    key: str  # the folded label: the order of lists
    names: tuple[str, ...]  # folded labels and titles
    words: tuple[frozenset[str], ...]  # the words of each name
    folded_id: str

    @property
    def url(self) -> str:
        """Where this server shows the entity."""
        return "/id/" + self.iri[len(schema.ID_BASE) :]

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    def rank(self, query: str, words: list[str]) -> int | None:
        """How well the folded ``query`` (its ``words``) matches, or None if it does not."""
        best: int | None = None
        for name, name_words in zip(self.names, self.words, strict=True):
            r = _rank(name, name_words, query, words, substring=True)
            if r is not None and (best is None or r < best):
                best = r
                if best == EXACT:
                    return best
        r = _rank(self.folded_id, _id_words(self.folded_id), query, words, substring=False)
        if r is not None and (best is None or r < best):
            best = r
        return best

    def json(self, base: str = "") -> dict[str, str]:
        """The entry as /search.json and the lists' JSON give it."""
        return {
            "label": self.label,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "id": self.id,
            "iri": self.iri,
            "url": base + self.url,
        }


def _id_words(folded_id: str) -> frozenset[str]:
    return frozenset(_WORDS.findall(folded_id.replace("_", " ")))


def _rank(
    name: str, name_words: frozenset[str], query: str, words: list[str], substring: bool
) -> int | None:
    if name == query:
        return EXACT
    if name.startswith(query):
        return PREFIX
    if words and all(any(w.startswith(q) for w in name_words) for q in words):
        return WORD_PREFIX
    if substring and query in name:
        return SUBSTRING
    return None


@dataclass
class Index:
    """The label index of one build. ``complete``: False if a bound cut it short."""

    entries: list[Entry]
    complete: bool = True
    by_kind: dict[str, list[Entry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.entries.sort(key=lambda e: (e.key, e.iri))
        for entry in self.entries:
            self.by_kind.setdefault(entry.kind, []).append(entry)
        self.by_kind = dict(
            sorted(self.by_kind.items(), key=lambda kv: (_KIND_RANK.get(kv[0], 99), kv[0]))
        )

    def search(
        self, query: str, limit: int, deadline: Deadline, kind: str | None = None
    ) -> tuple[list[Entry], int]:
        """The best ``limit`` matches of ``query`` (ranked) and how many matched in all."""
        folded, words = _query(query)
        if not folded:
            return [], 0
        found: list[tuple[tuple[int, int, str, str], Entry]] = []
        pool = self.entries if kind is None else self.by_kind.get(kind, [])
        for n, entry in enumerate(pool):
            if n % BATCH == 0:
                deadline.check()
            r = entry.rank(folded, words)
            if r is not None:
                found.append(((r, _KIND_RANK.get(entry.kind, 99), entry.key, entry.iri), entry))
        best = heapq.nsmallest(limit, found, key=lambda f: f[0])
        return [e for _, e in best], len(found)

    def filter(self, entries: list[Entry], query: str, deadline: Deadline) -> list[Entry]:
        """The ``entries`` that match ``query``, in their order (all of them without one)."""
        folded, words = _query(query)
        if not folded:
            return entries
        out = []
        for n, entry in enumerate(entries):
            if n % BATCH == 0:
                deadline.check()
            if entry.rank(folded, words) is not None:
                out.append(entry)
        return out

    def closest(self, text: str, limit: int, deadline: Deadline) -> list[Entry]:
        """Entities whose label or id is closest to ``text`` (a mistyped name or id).

        Search first; then close spellings (difflib), as many as time allows.
        """
        hits, _ = self.search(text, limit, deadline)
        if len(hits) >= limit:
            return hits
        target, _ = _query(text)
        if not target:
            return hits
        scored: list[tuple[float, str, Entry]] = []
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(target)
        try:
            for n, entry in enumerate(self.entries):
                if n % BATCH == 0:
                    deadline.check()
                best = 0.0
                for name in (*entry.names, entry.folded_id):
                    matcher.set_seq1(name)
                    if matcher.real_quick_ratio() > 0.6 and matcher.quick_ratio() > 0.6:
                        best = max(best, matcher.ratio())
                if best > 0.6:
                    scored.append((-best, entry.key, entry))
        except PageTimeout:
            pass  # the close matches found so far
        seen = {e.iri for e in hits}
        for _, _, entry in sorted(scored, key=lambda s: (s[0], s[1])):
            if len(hits) >= limit:
                break
            if entry.iri not in seen:
                hits.append(entry)
                seen.add(entry.iri)
        return hits


def _query(text: str) -> tuple[str, list[str]]:
    folded = fold(text[:MAX_QUERY_CHARS])
    return folded, _WORDS.findall(folded)[:20]


def _entity_kind(iri: str) -> tuple[str, str] | None:
    if "#" in iri:  # a citation node of a fact, not an entity
        return None
    found = schema.kind_of_iri(iri)
    if found is None or "/" in found[1]:
        return None
    return found[0].name, found[1]


def compute(store: ox.Store, deadline: Deadline) -> Index:
    """The label index of ``store``, cut short (not ``complete``) at a bound or the deadline."""
    kinds: dict[str, tuple[str, str]] = {}
    names: dict[str, dict[str, int]] = {}  # IRI -> name -> priority (lowest is shown)
    complete = True
    chars = 0
    try:
        for n, quad in enumerate(store.quads_for_pattern(None, _RDF_TYPE, None, None)):
            if n % BATCH == 0:
                deadline.check()
            subject = quad.subject
            if not isinstance(subject, ox.NamedNode) or subject.value in kinds:
                continue
            found = _entity_kind(subject.value)
            if found is None:
                continue
            if len(kinds) >= MAX_ENTITIES:
                complete = False
                break
            kinds[subject.value] = found
        for predicate in (_LABEL, _TITLE):
            for n, quad in enumerate(store.quads_for_pattern(None, predicate, None, None)):
                if n % BATCH == 0:
                    deadline.check()
                subject, obj = quad.subject, quad.object
                if not isinstance(obj, ox.Literal) or not isinstance(subject, ox.NamedNode):
                    continue
                if subject.value not in kinds:
                    continue
                mine = names.setdefault(subject.value, {})
                text = " ".join(obj.value.split())[:MAX_NAME_CHARS]
                if not text or (len(mine) >= MAX_NAMES and text not in mine):
                    continue
                if text not in mine:
                    chars += len(text)
                    if chars > MAX_CHARS:
                        complete = False
                        break
                language = obj.language or ""
                priority = {"en": 0, "": 1}.get(language, 3) if predicate == _LABEL else 2
                mine[text] = min(priority, mine.get(text, priority))
        # A record without a label (a claim, a transfer ...) goes by the title its page
        # composes from the model ("Russia claims Crimea"), found by it too.
        titles = views.Titles(store)
        for n, iri in enumerate(i for i in kinds if i not in names):
            if n % BATCH == 0:
                deadline.check()
            title = " ".join(titles.title(iri).split())[:MAX_NAME_CHARS]
            if title and title != iri:
                chars += len(title)
                if chars > MAX_CHARS:
                    complete = False
                    break
                names[iri] = {title: 4}
    except PageTimeout:
        complete = False
    entries = []
    for iri, (kind, record_id) in kinds.items():
        mine = names.get(iri, {})
        shown = sorted(mine, key=lambda t: (mine[t], t))
        label = shown[0] if shown else record_id
        folded = tuple(dict.fromkeys(fold(t) for t in shown))
        entries.append(
            Entry(
                iri,
                kind,
                record_id,
                label,
                fold(label),
                folded,
                tuple(frozenset(_WORDS.findall(f)) for f in folded),
                fold(record_id),
            )
        )
    return Index(entries, complete)


def _compute_build(build: Path) -> Index:
    return compute(open_build(build), Deadline(BUILD_S))


_KEEP = 2  # builds whose index is kept (the served one, and the one it replaced)
_kept: dict[Path, Future[Index]] = {}
_kept_lock = threading.Lock()
_computer = ThreadPoolExecutor(1, thread_name_prefix="geokb-index")


def _index_future(build: Path) -> Future[Index]:
    with _kept_lock:
        future = _kept.get(build)
        if future is None or (future.done() and future.exception() is not None):
            future = _computer.submit(_compute_build, build)  # (a failure is tried again)
            _kept.pop(build, None)
            _kept[build] = future
            while len(_kept) > _KEEP:
                del _kept[next(iter(_kept))]
        return future


async def index_of(served: ServedStore, timeout: float) -> Index:
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


async def _run_with_index(request: Request, fn: Callable[[Index, Deadline], T]) -> tuple[Index, T]:
    """The served build's index, and ``fn(index, deadline)`` run in a render slot."""
    served = _served(request)
    assert served is not None
    index = await index_of(served, _settings(request).timeout_s)
    result = await pagework.for_app(request.app).run(lambda d: fn(index, d))
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
    summary="Search entities by label (HTML)",
    response_class=HTMLResponse,
    responses=SEARCH_RESPONSES,
)
async def search_page(request: Request, q: str = "") -> Response:
    """Entities whose labels, titles or ids match ``q``, grouped by kind, best first."""
    if _served(request) is None:
        return _remote()
    q = q[: MAX_QUERY_CHARS * 5]
    try:
        index, (hits, total) = await _run_with_index(
            request, lambda index, d: index.search(q, SEARCH_PAGE_LIMIT, d)
        )
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    page = render(
        "search.html",
        q=q,
        search_q=q,
        shown=len(hits),
        total=total,
        groups=_groups(hits),
        complete=index.complete,
        kinds=[(k, kind_plural(k), len(es)) for k, es in index.by_kind.items()],
    )
    return HTMLResponse(page)


@router.get(
    "/search.json",
    summary="Search entities by label (JSON, for autocomplete)",
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
        index, (hits, total) = await _run_with_index(
            request, lambda index, d: index.search(q, n, d)
        )
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    return JSONResponse(
        {
            "q": q[:MAX_QUERY_CHARS],
            "results": [e.json() for e in hits],
            "total": total,
            "complete": index.complete,
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
    served = _served(request)
    assert served is not None
    try:
        index = await index_of(served, _settings(request).timeout_s)
    except PageTimeout as exc:
        return pagework.refusal(exc)
    kinds = [(k, kind_plural(k), len(es)) for k, es in index.by_kind.items()]
    if format == "json":
        return JSONResponse(
            {
                "kinds": [
                    {"kind": k, "label": label, "count": n, "url": f"/id/{k}/"}
                    for k, label, n in kinds
                ],
                "complete": index.complete,
            }
        )
    return HTMLResponse(
        render("list.html", mode="kinds", kinds=kinds, complete=index.complete),
        headers={"Vary": "Accept"},
    )


def _href(path: str, **params: str | int | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", 1)})
    return path + ("?" + query if query else "")


@router.get(
    "/id/{kind}/",
    summary="The entities of one kind, sorted by label, 100 a page",
    response_class=HTMLResponse,
    responses=ID_LIST_RESPONSES,
)
async def kind_list(
    kind: str,
    request: Request,
    q: str = "",
    page: str | None = None,
    format: str | None = None,
) -> Response:
    """One page of the entities of ``kind`` (filtered by ``q``): HTML, CSV or JSON."""
    if _served(request) is None:
        return _remote()
    if format not in (None, "", "html", "csv", "json"):
        return plain(400, "format must be html, csv or json")
    number = _page_number(page)
    if number is None:
        return plain(400, f"page must be a whole number from 1 to {MAX_PAGE:,}")
    if kind not in schema.KINDS_BY_NAME:
        message = f"There is no kind of entity called {kind!r}."
        html = format in (None, "", "html") and wants_html(request.headers.get("accept"), True)
        return await not_found_page(request, message, kind, html)
    q = q[: MAX_QUERY_CHARS * 5]

    def work(index: Index, deadline: Deadline) -> tuple[list[Entry], int]:
        matching = index.filter(index.by_kind.get(kind, []), q, deadline)
        start = (number - 1) * PAGE_SIZE
        return matching[start : start + PAGE_SIZE], len(matching)

    try:
        index, (rows, total) = await _run_with_index(request, work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    pages = max(1, -(-total // PAGE_SIZE))
    path = f"/id/{kind}/"
    base = str(request.base_url).rstrip("/")
    if format == "json":
        return JSONResponse(
            {
                "kind": kind,
                "q": q,
                "page": number,
                "pages": pages,
                "total": total,
                "page_size": PAGE_SIZE,
                "rows": [e.json(base) for e in rows],
                "next": _href(path, q=q, page=number + 1, format="json")
                if number < pages
                else None,
                "complete": index.complete,
            }
        )
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["label", "kind", "id", "iri", "url"])
        for e in rows:
            writer.writerow([e.label, e.kind, e.id, e.iri, base + e.url])
        name = f"geokb-{kind}" + (f"-page-{number}" if number > 1 else "") + ".csv"
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    first = (number - 1) * PAGE_SIZE + 1
    page_html = render(
        "list.html",
        mode="list",
        kind=kind,
        kind_label=kind_plural(kind),
        q=q,
        rows=rows,
        total=total,
        page=number,
        pages=pages,
        first=first,
        last=first + len(rows) - 1,
        prev_href=_href(path, q=q, page=number - 1) if number > 1 else None,
        next_href=_href(path, q=q, page=number + 1) if number < pages else None,
        csv_href=_href(path, q=q, page=number, format="csv"),
        json_href=_href(path, q=q, page=number, format="json"),
        complete=index.complete,
    )
    return HTMLResponse(page_html, headers={"Vary": "Accept"})


def _asked_text(asked: str) -> str:
    """What a person was looking for in a path: its last segment, as words."""
    last = [s for s in asked.split("/") if s][-1:] or [""]
    return " ".join(re.split(r"[-_.+%]+", last[0]))[:MAX_QUERY_CHARS].strip()


async def not_found_page(
    request: Request, message: str, asked: str, html: bool | None = None
) -> Response:
    """404: the not-found page (with the entities closest to ``asked``) if ``html`` (by
    default: if the client does not ask for something else), plain text otherwise."""
    if html is None:
        html = wants_html(request.headers.get("accept"), default=True)
    if not html:
        return plain(404, message)
    text = _asked_text(asked)
    suggestions: list[Entry] = []
    served = _served(request)
    if served is not None and text:
        try:
            index = await index_of(served, min(NOT_FOUND_WAIT_S, _settings(request).timeout_s))
            work = pagework.for_app(request.app)
            suggestions = await work.run(
                lambda d: index.closest(text, NOT_FOUND_SUGGESTIONS, Deadline(FUZZY_S))
            )
        except (PageTimeout, PagesBusy):
            suggestions = []  # the page without suggestions, rather than none
    page = render(
        "not_found.html", message=message, suggestions=suggestions, search_q=text, asked=text
    )
    return HTMLResponse(page, status_code=404, headers={"Vary": "Accept"})
