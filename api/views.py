"""Parts of entity pages that read the store beyond one entity: a timeline of facts (an
undated group last), a picture of who supplied whom, a state's register of arms imports and
exports, a dispute's claims and administrations and a territory's disputes as tables; the
titles of records without a label, composed from the model (Titles); and the register as CSV
at /transfers.csv.

Each part is read here into plain data, and rendered on the server from its template in
api/templates/ (timeline.html, network.html, register.html), which escapes every value. Each
part reads at most ``limit`` facts or transfers in small steps under the page's deadline (see
api/pagework.py); a part that was cut says so and links to the SPARQL query that lists
everything (on the query page, which runs it and shows a table). The queries behind those
links are for reading: written out, the IRI in them.
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
from api.pagework import BATCH, Deadline, Facts, PagesBusy, PageTimeout, take
from api.settings import Settings
from api.sparql import MAX_ROWS_HEADER, TRUNCATED_HEADER
from kb.model import schema, titles
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
    """The link to the query page with ``query`` filled in and run (URL-encoded; templates
    escape it). Not /sparql itself: a browser asking it gets the raw results as XML."""
    return "/?" + urlencode({"query": query})


@dataclass(frozen=True)
class Capped:
    """The notice of a cut section: what it shows, and the query listing all of it."""

    shown: str
    query: str

    @property
    def href(self) -> str:
        """The link to all of it via SPARQL."""
        return sparql_href(self.query)


def _about(facts: Facts, node: ox.NamedNode) -> dict[str, list[Object]]:
    """The objects of ``node``'s triples by predicate IRI (at most _PER_FACT triples read)."""
    about: dict[str, list[Object]] = {}
    for q in islice(facts.quads(node), _PER_FACT):
        objects = about.setdefault(q.predicate.value, [])
        if q.object not in objects:
            objects.append(q.object)
    return about


def _label(facts: Facts, node: Object, cache: dict[str, str], english: bool) -> str:
    """A node's rdfs:label ('' if none): English only if ``english``, else English first."""
    if not isinstance(node, ox.NamedNode):
        return ""
    key = f"{english}{node.value}"
    if key not in cache:
        found = ""
        for q in facts.quads(node, _LABEL):
            if isinstance(q.object, ox.Literal):
                if q.object.language == "en":
                    found = q.object.value
                    break
                if not english and not found:
                    found = q.object.value
        cache[key] = found
    return cache[key]


_TITLE = ox.NamedNode("http://purl.org/dc/terms/title")


def own_name(facts: Facts, node: ox.NamedNode) -> str:
    """What to call ``node`` by its own labels and titles (``titles.best_name``: an English
    label first); '' if it has none."""
    return titles.best_name(
        (q.predicate.value, q.object.value, q.object.language or "")
        for predicate in (_LABEL, _TITLE)
        for q in facts.quads(node, predicate)
        if isinstance(q.object, ox.Literal)
    )


class Titles:
    """What the pages call a node: its label (English first) or a source's title; for a record
    without either (a transfer, claim, administration, event ...), the title composed from its
    fields that search results and lists show too (``kb.model.titles``), e.g. 'Iran → Russia:
    Shahed-131, Shahed-136 (arms transfer)', 'Iran administers Abu Musa since 1992'. A
    citation node is 'citation 1 of' its fact. Each node is read once per page (at most
    _PER_FACT triples)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._names: dict[str, str] = {}
        self._about: dict[str, dict[str, list[Object]]] = {}
        self._titles = titles.Titles(self._own_name, self._values)

    def name(self, node: Object) -> str:
        """What to call ``node`` by its own labels and titles (``own_name``); '' if none."""
        if not isinstance(node, ox.NamedNode):
            return ""
        return self._own_name(node.value)

    def _own_name(self, iri: str) -> str:
        found = self._names.get(iri)
        if found is None:
            found = self._names[iri] = own_name(self.facts, ox.NamedNode(iri))
        return found

    def _values(self, iri: str, kind: str, key: str) -> list[titles.Value]:
        """The values of field ``key`` of the ``kind`` record ``iri`` (its triples read once)."""
        field = schema.KINDS_BY_NAME[kind].field(key)
        if field is None:
            return []
        about = self._about.get(iri)
        if about is None:
            about = self._about[iri] = _about(self.facts, ox.NamedNode(iri))
        return [
            (o.value, isinstance(o, ox.NamedNode))
            for o in about.get(str(field.prop.iri), [])
            if isinstance(o, ox.NamedNode | ox.Literal)
        ]

    def title(self, iri: str, about: dict[str, list[Object]] | None = None, depth: int = 0) -> str:
        """What to call ``iri``: its name, a composed title, else its kind and id (or the IRI).

        ``about``: its triples by predicate, if already read."""
        try:
            ox.NamedNode(iri)
        except ValueError:
            return iri
        if about is not None:
            self._about.setdefault(iri, about)
        return self._titles.title(iri, depth)


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


def timeline(
    facts: Facts,
    nodes: Iterable[ox.NamedNode],
    deadline: Deadline,
    titles: Titles | None = None,
) -> list[Moment]:
    """The facts among ``nodes`` (an entity itself and what refers to it), oldest first, one
    moment per date; a fact with no date once, with the date '' (the "undated" group, last).

    Reads each one's own triples; the caller bounds how many ``nodes`` there are.
    """
    titles = titles or Titles(facts)
    moments: set[Moment] = set()
    for n, fact in enumerate(nodes):
        if n % BATCH == 0:
            deadline.check()
        about = _about(facts, fact)
        if _FACT not in about.get(_TYPE.value, []):
            continue
        label = titles.title(fact.value, about)
        dated = False
        for d in _DATES:
            for date in about.get(_GK + d, []):
                if isinstance(date, ox.Literal):
                    moments.add(Moment(date.value, fact.value, label, _DATE_LABELS[d]))
                    dated = True
        if not dated:
            moments.add(Moment("", fact.value, label, ""))
    # oldest first; the undated facts last, as a group of their own
    return sorted(moments, key=lambda m: (m.date == "", m.date, m.label))


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


def network(facts: Facts, iri: str, name: str, deadline: Deadline, limit: int) -> Network | None:
    """Who supplied ``iri`` (left) and whom it supplied (right); None if nobody.

    Counts at most ``limit`` transfers each way; if there were more, the picture carries a
    notice.
    """
    node = ox.NamedNode(iri)
    counts: dict[tuple[str, str], int] = {}
    cut = False
    labels: dict[str, str] = {}
    for direction, own, other in (("in", _RECIPIENT, _SUPPLIER), ("out", _SUPPLIER, _RECIPIENT)):
        subjects = (q.subject for q in facts.quads(None, own, node))
        transfers, more = take(subjects, limit, deadline)
        cut = cut or more
        for n, t in enumerate(transfers):
            if n % BATCH == 0:
                deadline.check()
            if not isinstance(t, ox.NamedNode) or not any(facts.quads(t, _TYPE, _ARMS_TRANSFER)):
                continue
            partners = {q.object for q in facts.quads(t, other)}
            for partner in partners:
                if isinstance(partner, ox.NamedNode):
                    key = (direction, partner.value)
                    counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    rows = sorted(
        (
            (_label(facts, ox.NamedNode(other_iri), labels, english=True), other_iri, d, count)
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

    ``rows``: for each transfer and weapon system, each column's values (text, links).
    """

    title: str
    param: str  # the /transfers.csv parameter selecting it: "supplier" or "recipient"
    code: str
    columns: list[str]
    rows: list[list[Cell]]
    note: Capped | None = None


_REGISTER_COLUMNS = [c for c in sipri.COLUMNS if c not in ("geokb id", "Comments")]
_RECORD = "Record"


def register(
    facts: Facts, code: str, deadline: Deadline, limit: int, titles: Titles | None = None
) -> list[RegisterTable]:
    """A state's arms exports and imports in the SIPRI register's columns; the Sources
    column lists the cited sources' titles, linked; the last column links to the transfer.

    Each table holds at most ``limit`` rows, read in steps; a cut table says so.
    """
    titles = titles or Titles(facts)
    sources: dict[str, Cell] = {}

    def cited(transfer: str) -> Cell:
        if transfer not in sources:
            found = facts.quads(ox.NamedNode(transfer), _SOURCE)
            nodes = dict.fromkeys(q.object for q in islice(found, _PER_FACT))
            links = sorted(_links(titles, nodes), key=lambda link: link.text)
            sources[transfer] = tuple(links)
        return sources[transfer]

    def cell(row: dict[str, str], column: str) -> Cell:
        transfer = row["geokb id"]
        if column == "Sources":
            return cited(transfer)
        if column == _RECORD:
            return (Link(titles.title(transfer), local_href(transfer), transfer),)
        if column == "Designation":
            return (Link(row[column], local_href(transfer), transfer),)
        return (Link(row[column]),) if row[column] else ()

    tables = []
    for title, only in (
        ("Exports", sipri.RegisterFilter(supplier=code)),
        ("Imports", sipri.RegisterFilter(recipient=code)),
    ):
        selection = sipri.select(facts.store, only, limit, deadline.check)
        rows: list[dict[str, str]] = []
        for batch in sipri.batches(selection.transfers):
            deadline.check()
            rows += sipri.rows_of(facts.store, batch)
        note = None
        if selection.more:
            note = Capped(f"the first {limit:,} rows", sipri.query_text(only))
        columns = [*_REGISTER_COLUMNS, _RECORD]
        cells = []
        for n, r in enumerate(rows):
            if n % BATCH == 0:
                deadline.check()
            cells.append([cell(r, c) for c in columns])
        param = "supplier" if only.supplier else "recipient"
        tables.append(RegisterTable(title, param, code, columns, cells, note))
    return tables


async def transfers_csv(request: Request, store: ox.Store, only: sipri.RegisterFilter) -> Response:
    """The register as CSV: at most ``Settings.max_rows`` rows, streamed batch by batch.

    Which transfers (and so whether the answer is cut, said in X-Geokb-Truncated) is settled
    before the first byte; then each batch is read holding a render slot, under one deadline
    of ``Settings.timeout_s``. A stream that runs out of time mid-way is broken off (the
    client sees an incomplete response, never a short file that looks whole).
    """
    settings: Settings = request.app.state.settings
    work = pagework.for_request(request)
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


# --- Tables of the facts about a dispute or a territory -------------------------------------


@dataclass(frozen=True)
class Link:
    """One value in a table cell: text, linked to ``href`` (titled with ``iri``) if given."""

    text: str
    href: str = ""
    iri: str = ""


Cell = tuple[Link, ...]


@dataclass(frozen=True)
class FactTable:
    """A section of a page as a table (macros.html's ``fact_table``): each row's cells."""

    heading: str
    columns: tuple[str, ...]
    rows: list[list[Cell]]
    note: Capped | None = None


def _gk(name: str) -> ox.NamedNode:
    return ox.NamedNode(_GK + name)


_IN_DISPUTE = _gk("inDispute")
_CLAIMANT = _gk("claimant")
_POSITION = _gk("position")
_START = _gk("startDate")
_END = _gk("endDate")
_CITATION = _gk("citation")
_CITED = _gk("citedSource")
_LOCATOR = _gk("locator")
_SOURCE = ox.NamedNode("http://purl.org/dc/terms/source")
_DISPUTED = _gk("disputedTerritory")
_TERRITORY = _gk("territory")
_ADMINISTERED_BY = _gk("administeredBy")
_CLAIMANTS_QUERY = """PREFIX gk: <{gk}>
SELECT ?claim ?claimant ?position ?since ?until WHERE {{
  ?claim gk:inDispute {node} ; gk:claimant ?claimant .
  OPTIONAL {{ ?claim gk:position ?position }}
  OPTIONAL {{ ?claim gk:startDate ?since }}
  OPTIONAL {{ ?claim gk:endDate ?until }}
}} ORDER BY ?claimant ?since"""
_ADMINISTRATION_QUERY = """PREFIX gk: <{gk}>
SELECT ?territory ?administration ?who ?from ?to WHERE {{
  {territories}
  ?administration gk:territory ?territory ; gk:administeredBy ?who .
  OPTIONAL {{ ?administration gk:startDate ?from }}
  OPTIONAL {{ ?administration gk:endDate ?to }}
}} ORDER BY ?territory ?from"""
_DISPUTES_QUERY = """PREFIX gk: <{gk}>
SELECT ?dispute ?claimant ?since ?until WHERE {{
  ?dispute gk:disputedTerritory {node} .
  OPTIONAL {{ ?dispute gk:claimant ?claimant }}
  OPTIONAL {{ ?dispute gk:startDate ?since }}
  OPTIONAL {{ ?dispute gk:endDate ?until }}
}} ORDER BY ?dispute"""


def _link(titles: Titles, node: Object) -> Link:
    if isinstance(node, ox.NamedNode):
        return Link(titles.title(node.value), local_href(node.value), node.value)
    if isinstance(node, ox.Literal):
        return Link(node.value)
    return Link(str(node))


def _links(titles: Titles, nodes: Iterable[Object]) -> Cell:
    return tuple(sorted((_link(titles, n) for n in nodes), key=lambda link: link.text))


def _first(about: dict[str, list[Object]], predicate: ox.NamedNode) -> str:
    return next((o.value for o in about.get(predicate.value, []) if isinstance(o, ox.Literal)), "")


def _citations(facts: Facts, about: dict[str, list[Object]], titles: Titles) -> Cell:
    """A fact's citations as their sources' titles (and locators); else its dcterms:source."""
    cited: list[Link] = []
    for node in sorted(about.get(_CITATION.value, []), key=str):
        if not isinstance(node, ox.NamedNode):
            continue
        parts = _about(facts, node)
        source = next((o for o in parts.get(_CITED.value, []) if isinstance(o, ox.NamedNode)), None)
        if source is None:
            continue
        locator = _first(parts, _LOCATOR)
        title = titles.title(source.value) + (f", {locator}" if locator else "")
        cited.append(Link(title, local_href(source.value), source.value))
    if cited:
        return tuple(cited)
    return _links(titles, about.get(_SOURCE.value, []))


def _subjects(
    facts: Facts, predicate: ox.NamedNode, node: ox.NamedNode, limit: int, deadline: Deadline
) -> tuple[list[ox.NamedNode], bool]:
    found = (q.subject for q in facts.quads(None, predicate, node))
    subjects, more = take(found, limit, deadline)
    named = [s for s in dict.fromkeys(subjects) if isinstance(s, ox.NamedNode)]
    return named, more


def _query_note(shown: str, template: str, **values: str) -> Capped:
    return Capped(shown, template.format(gk=schema.GK, **values))


def _administrations(
    facts: Facts,
    territories: list[ox.NamedNode],
    deadline: Deadline,
    limit: int,
    titles: Titles,
) -> FactTable | None:
    """Who administered ``territories`` when: one row per administration, by territory and date."""
    rows: list[tuple[str, str, str, list[Cell]]] = []
    cut = False
    for territory in territories:
        found, more = _subjects(facts, _TERRITORY, territory, limit, deadline)
        cut = cut or more
        for n, record in enumerate(found):
            if n % BATCH == 0:
                deadline.check()
            about = _about(facts, record)
            since, until = _first(about, _START), _first(about, _END)
            cells = [
                (_link(titles, territory),),
                _links(titles, about.get(_ADMINISTERED_BY.value, [])),
                (Link(since),) if since else (),
                (Link(until),) if until else (),
                _citations(facts, about, titles),
                (_link(titles, record),),
            ]
            rows.append((titles.title(territory.value), since or "~", record.value, cells))
    if not rows:
        return None
    note = None
    if cut:
        values = " ".join(str(t) for t in territories)
        note = _query_note(
            f"the first {limit:,} administrations of each territory",
            _ADMINISTRATION_QUERY,
            territories=f"VALUES ?territory {{ {values} }}",
        )
    columns = ("Territory", "Administered by", "From", "To", "Citations", "Record")
    return FactTable("Administration", columns, [r[-1] for r in sorted(rows)], note)


def fact_tables(
    facts: Facts, iri: str, kind: str, deadline: Deadline, limit: int, titles: Titles
) -> tuple[FactTable, ...]:
    """The tables of a dispute's page (each claimant's position; who administered its
    territories when) and of a territory's (the disputes it is in; who administered it when).
    Each reads at most ``limit`` records per step; a cut table says so."""
    node = ox.NamedNode(iri)
    tables: list[FactTable | None] = []
    if kind == "dispute":
        claims, more = _subjects(facts, _IN_DISPUTE, node, limit, deadline)
        rows = []
        for n, claim in enumerate(claims):
            if n % BATCH == 0:
                deadline.check()
            about = _about(facts, claim)
            claimants = about.get(_CLAIMANT.value, [])
            since, until = _first(about, _START), _first(about, _END)
            cells = [
                _links(titles, claimants),
                (Link(p),) if (p := _first(about, _POSITION)) else (),
                (Link(since),) if since else (),
                (Link(until),) if until else (),
                _citations(facts, about, titles),
                (_link(titles, claim),),
            ]
            who = ", ".join(c.text for c in cells[0])
            rows.append((who, since, claim.value, cells))
        if rows:
            note = None
            if more:
                note = _query_note(f"the first {limit:,} claims", _CLAIMANTS_QUERY, node=str(node))
            heads = ("Claimant", "Position", "Since", "Until", "Citations", "Record")
            tables.append(FactTable("Claims", heads, [r[-1] for r in sorted(rows)], note))
        about = _about(facts, node)
        territories = [t for t in about.get(_DISPUTED.value, []) if isinstance(t, ox.NamedNode)]
        tables.append(_administrations(facts, territories, deadline, limit, titles))
    elif kind == "territory":
        disputes, more = _subjects(facts, _DISPUTED, node, limit, deadline)
        rows = []
        for n, dispute in enumerate(disputes):
            if n % BATCH == 0:
                deadline.check()
            about = _about(facts, dispute)
            since, until = _first(about, _START), _first(about, _END)
            cells = [
                (_link(titles, dispute),),
                _links(titles, about.get(_CLAIMANT.value, [])),
                _links(titles, about.get(_ADMINISTERED_BY.value, [])),
                (Link(since),) if since else (),
                (Link(until),) if until else (),
            ]
            rows.append((cells[0][0].text, since, dispute.value, cells))
        if rows:
            note = None
            if more:
                note = _query_note(f"the first {limit:,} disputes", _DISPUTES_QUERY, node=str(node))
            columns = ("Dispute", "Claimants", "Administered by", "Since", "Until")
            tables.append(FactTable("Disputes", columns, [r[-1] for r in sorted(rows)], note))
        tables.append(_administrations(facts, [node], deadline, limit, titles))
    return tuple(t for t in tables if t is not None)
