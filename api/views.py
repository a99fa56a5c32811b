"""Parts of entity pages that read the store beyond one entity: a timeline of dated facts, a
picture of who supplied whom, and a state's register of arms imports and exports; and the
register as CSV at /transfers.csv.

Each part is read here into plain data, and rendered on the server from its template in
api/templates/ (timeline.html, network.html, register.html), which escapes every value. Each
part reads at most ``limit`` facts or transfers in small steps under the page's deadline (see
api/pagework.py); a part that was cut says so and links to the SPARQL query that lists
everything. The queries behind those links are for reading: written out, the IRI in them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from urllib.parse import urlencode

import pyoxigraph as ox
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from api import pagework
from api.pagework import BATCH, Deadline, PagesBusy, PageTimeout, take
from api.settings import Settings
from api.sparql import MAX_ROWS_HEADER, TRUNCATED_HEADER
from kb.model import schema
from kb.review import sipri

_DATES = ("date", "startDate", "endDate", "orderDate", "deliveryStartDate", "deliveryEndDate")
_DATE_LABELS = {
    "date": "",
    "startDate": "from",
    "endDate": "until",
    "orderDate": "ordered",
    "deliveryStartDate": "deliveries from",
    "deliveryEndDate": "deliveries until",
}
_GK = str(schema.GK)
_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
_FACT = ox.NamedNode(_GK + "Fact")
_ARMS_TRANSFER = ox.NamedNode(_GK + "ArmsTransfer")
_SUPPLIER = ox.NamedNode(_GK + "supplier")
_RECIPIENT = ox.NamedNode(_GK + "recipient")
_WEAPON = ox.NamedNode(_GK + "weaponSystem")
_PER_FACT = 500  # triples read about one fact, at most (a record has about 15)

Object = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple


def sparql_href(query: str) -> str:
    """The link to /sparql with ``query`` filled in (URL-encoded; templates escape it)."""
    return "/sparql?" + urlencode({"query": query})


@dataclass(frozen=True)
class Capped:
    """The notice of a cut section: what it shows, and the query listing all of it."""

    shown: str
    query: str

    @property
    def href(self) -> str:
        """The link to all of it via SPARQL."""
        return sparql_href(self.query)


def _about(store: ox.Store, node: ox.NamedNode) -> dict[str, list[Object]]:
    """The objects of ``node``'s triples by predicate IRI (at most _PER_FACT triples read)."""
    about: dict[str, list[Object]] = {}
    for q in islice(store.quads_for_pattern(node, None, None, None), _PER_FACT):
        objects = about.setdefault(q.predicate.value, [])
        if q.object not in objects:
            objects.append(q.object)
    return about


def _label(store: ox.Store, node: Object, cache: dict[str, str], english: bool) -> str:
    """A node's rdfs:label ('' if none): English only if ``english``, else English first."""
    if not isinstance(node, ox.NamedNode):
        return ""
    key = f"{english}{node.value}"
    if key not in cache:
        found = ""
        for q in store.quads_for_pattern(node, _LABEL, None, None):
            if isinstance(q.object, ox.Literal):
                if q.object.language == "en":
                    found = q.object.value
                    break
                if not english and not found:
                    found = q.object.value
        cache[key] = found
    return cache[key]


@dataclass(frozen=True)
class Moment:
    """One dated fact on a timeline."""

    date: str
    fact: str
    label: str
    what: str

    @property
    def href(self) -> str:
        """Where this server shows the fact."""
        return local_href(self.fact)


def timeline_query(iri: str) -> str:
    """The SPARQL query of ``iri``'s whole timeline (what a cut timeline links to).

    For reading (and running from /sparql): the IRI is written out, as ox.NamedNode writes it.
    """
    values = " ".join(f"gk:{d}" for d in _DATES)
    node = ox.NamedNode(iri)
    return f"""PREFIX gk: <{schema.GK}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?date ?p ?fact (SAMPLE(?named) AS ?label) WHERE {{
  {{ ?fact ?link {node} }} UNION {{ BIND({node} AS ?fact) }}
  ?fact a gk:Fact ; ?p ?date .
  VALUES ?p {{ {values} }}
  OPTIONAL {{ ?fact rdfs:label ?named }}
}} GROUP BY ?fact ?p ?date ORDER BY ?date"""


def timeline(store: ox.Store, facts: Iterable[ox.NamedNode], deadline: Deadline) -> list[Moment]:
    """The dated facts among ``facts`` (an entity itself and what refers to it), oldest first.

    Reads each one's own triples; the caller bounds how many ``facts`` there are.
    """
    labels: dict[str, str] = {}
    moments: set[Moment] = set()
    for n, fact in enumerate(facts):
        if n % BATCH == 0:
            deadline.check()
        about = _about(store, fact)
        if _FACT not in about.get(_TYPE.value, []):
            continue
        label = _fact_label(store, fact, about, labels)
        for d in _DATES:
            for date in about.get(_GK + d, []):
                if isinstance(date, ox.Literal):
                    moments.add(Moment(date.value, fact.value, label, _DATE_LABELS[d]))
    return sorted(moments, key=lambda m: (m.date, m.label))


def _fact_label(
    store: ox.Store, fact: ox.NamedNode, about: dict[str, list[Object]], cache: dict[str, str]
) -> str:
    """A fact's label, or for an unlabelled transfer 'supplier → recipient: weapons'."""
    named = _label(store, fact, cache, english=False)
    if named:
        return named
    supplier = next(
        (x for o in about.get(_SUPPLIER.value, []) if (x := _label(store, o, cache, True))), ""
    )
    recipient = next(
        (x for o in about.get(_RECIPIENT.value, []) if (x := _label(store, o, cache, True))), ""
    )
    if supplier and recipient:
        weapons = ", ".join(
            dict.fromkeys(
                x for o in about.get(_WEAPON.value, []) if (x := _label(store, o, cache, False))
            )
        )
        return f"{supplier} → {recipient}" + (f": {weapons}" if weapons else "")
    return fact.value.rsplit("/", 1)[-1]


def local_href(iri: str) -> str:
    """Where this server shows ``iri``: entity pages, the ontology's page; else the IRI."""
    if iri.startswith(schema.ID_BASE):
        return "/id/" + iri[len(schema.ID_BASE) :]
    if iri.startswith(str(schema.GK)):
        return "/ontology#" + iri[len(str(schema.GK)) :]
    return iri


def network_query(iri: str) -> str:
    """The SPARQL query counting all of ``iri``'s suppliers and recipients (for reading)."""
    node = ox.NamedNode(iri)
    return f"""PREFIX gk: <{schema.GK}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?other ?label ?direction (COUNT(DISTINCT ?t) AS ?n) WHERE {{
  {{ ?t a gk:ArmsTransfer ; gk:supplier ?other ; gk:recipient {node} .
     BIND("in" AS ?direction) }}
  UNION
  {{ ?t a gk:ArmsTransfer ; gk:recipient ?other ; gk:supplier {node} .
     BIND("out" AS ?direction) }}
  OPTIONAL {{ ?other rdfs:label ?label FILTER(LANG(?label) = "en") }}
}} GROUP BY ?other ?label ?direction ORDER BY ?label"""


@dataclass(frozen=True)
class Partner:
    """One supplier (left) or recipient (right) in the picture, and its arrow."""

    side: str  # "supplier" or "recipient"
    x: int
    y: int
    line: tuple[int, int, int, int]  # x1, y1, x2, y2
    href: str
    label: str
    count: int

    @property
    def anchor(self) -> str:
        """Where the text hangs from its point: suppliers end there, recipients start."""
        return "end" if self.side == "supplier" else "start"

    @property
    def x1(self) -> int:
        """Where the arrow starts (x)."""
        return self.line[0]

    @property
    def y1(self) -> int:
        """Where the arrow starts (y)."""
        return self.line[1]

    @property
    def x2(self) -> int:
        """Where the arrow ends (x)."""
        return self.line[2]

    @property
    def y2(self) -> int:
        """Where the arrow ends (y)."""
        return self.line[3]


@dataclass(frozen=True)
class Network:
    """Who supplied a state and whom it supplied, laid out for network.html."""

    name: str
    width: int
    height: int
    partners: list[Partner]
    note: Capped | None = None

    @property
    def cx(self) -> int:
        """The centre (x), where the state itself is."""
        return self.width // 2

    @property
    def cy(self) -> int:
        """The centre (y)."""
        return self.height // 2


def network(store: ox.Store, iri: str, name: str, deadline: Deadline, limit: int) -> Network | None:
    """Who supplied ``iri`` (left) and whom it supplied (right); None if nobody.

    Counts at most ``limit`` transfers each way; if there were more, the picture carries a
    notice.
    """
    node = ox.NamedNode(iri)
    counts: dict[tuple[str, str], int] = {}
    cut = False
    labels: dict[str, str] = {}
    for direction, own, other in (("in", _RECIPIENT, _SUPPLIER), ("out", _SUPPLIER, _RECIPIENT)):
        subjects = (q.subject for q in store.quads_for_pattern(None, own, node, None))
        transfers, more = take(subjects, limit, deadline)
        cut = cut or more
        for n, t in enumerate(transfers):
            if n % BATCH == 0:
                deadline.check()
            if not isinstance(t, ox.NamedNode) or not any(
                store.quads_for_pattern(t, _TYPE, _ARMS_TRANSFER, None)
            ):
                continue
            partners = {q.object for q in store.quads_for_pattern(t, other, None, None)}
            for partner in partners:
                if isinstance(partner, ox.NamedNode):
                    key = (direction, partner.value)
                    counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    rows = sorted(
        (
            (_label(store, ox.NamedNode(other_iri), labels, english=True), other_iri, d, count)
            for (d, other_iri), count in counts.items()
        ),
    )
    suppliers = [r for r in rows if r[2] == "in"]
    recipients = [r for r in rows if r[2] == "out"]
    row_h, width = 26, 760
    height = max(len(suppliers), len(recipients), 1) * row_h + 40
    cx, cy = width // 2, height // 2
    placed = []
    for side, group, x in (("supplier", suppliers, 150), ("recipient", recipients, 610)):
        for i, (label, other_iri, _, count) in enumerate(group):
            y = 30 + i * row_h
            line = (x + 5, y, cx - 70, cy) if side == "supplier" else (cx + 70, cy, x - 5, y)
            shown = label or other_iri.rsplit("/", 1)[-1]
            placed.append(Partner(side, x, y, line, local_href(other_iri), shown, count))
    note = None
    if cut:
        note = Capped(f"counts from the first {limit:,} transfers each way", network_query(iri))
    return Network(name, width, height, placed, note)


@dataclass(frozen=True)
class RegisterTable:
    """A state's exports or imports in the SIPRI register's columns, for register.html.

    ``rows``: for each transfer and weapon system, each column's text and link (or None).
    """

    title: str
    param: str  # the /transfers.csv parameter selecting it: "supplier" or "recipient"
    code: str
    columns: list[str]
    rows: list[list[tuple[str, str | None]]]
    note: Capped | None = None


_REGISTER_COLUMNS = [c for c in sipri.COLUMNS if c not in ("Sources", "geokb id", "Comments")]


def register(store: ox.Store, code: str, deadline: Deadline, limit: int) -> list[RegisterTable]:
    """A state's arms exports and imports in the SIPRI register's columns.

    Each table holds at most ``limit`` rows, read in steps; a cut table says so.
    """
    tables = []
    for title, only in (
        ("Exports", sipri.RegisterFilter(supplier=code)),
        ("Imports", sipri.RegisterFilter(recipient=code)),
    ):
        selection = sipri.select(store, only, limit, deadline.check)
        rows: list[dict[str, str]] = []
        for batch in sipri.batches(selection.transfers):
            deadline.check()
            rows += sipri.rows_of(store, batch)
        note = None
        if selection.more:
            note = Capped(f"the first {limit:,} rows", sipri.query_text(only))
        cells = [
            [
                (r[c], local_href(r["geokb id"]) if c == "Designation" else None)
                for c in _REGISTER_COLUMNS
            ]
            for r in rows
        ]
        param = "supplier" if only.supplier else "recipient"
        tables.append(RegisterTable(title, param, code, _REGISTER_COLUMNS, cells, note))
    return tables


async def transfers_csv(request: Request, store: ox.Store, only: sipri.RegisterFilter) -> Response:
    """The register as CSV: at most ``Settings.max_rows`` rows, streamed batch by batch.

    Which transfers (and so whether the answer is cut, said in X-Geokb-Truncated) is settled
    before the first byte; then each batch is read holding a render slot, under one deadline
    of ``Settings.timeout_s``. A stream that runs out of time mid-way is broken off (the
    client sees an incomplete response, never a short file that looks whole).
    """
    settings: Settings = request.app.state.settings
    work = pagework.for_app(request.app)
    try:
        async with work.slot():
            deadline = work.deadline()
            selection = await work.call(
                lambda: sipri.select(store, only, settings.max_rows, deadline.check)
            )
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)

    def rows(batch: Sequence[str]) -> bytes:
        deadline.check()
        return sipri.to_csv(sipri.rows_of(store, batch), header=False).encode()

    async def body() -> AsyncIterator[bytes]:
        yield sipri.to_csv([]).encode()  # the header line
        for batch in sipri.batches(selection.transfers):
            async with work.slot(deadline):  # shared fairly with pages, batch by batch
                chunk = await work.call(partial(rows, batch))
            yield chunk

    headers = {
        "Content-Disposition": 'attachment; filename="transfers.csv"',
        MAX_ROWS_HEADER: str(settings.max_rows),
    }
    if selection.more:
        headers[TRUNCATED_HEADER] = (
            f"true; the register was cut to the first {selection.rows:,} rows "
            f"(the limit is {settings.max_rows:,})"
        )
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
