"""Parts of entity pages that read the store beyond one entity: a timeline of dated facts, a
picture of who supplied whom, and a state's register of arms imports and exports; and the
register as CSV at /transfers.csv.

Everything is rendered on the server; every data value is escaped. Each part reads at most
``limit`` facts or transfers in small steps under the page's deadline (see api/pagework.py);
a part that was cut says so and links to the SPARQL query that lists everything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from html import escape
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
    """The link to /sparql with ``query`` filled in (URL-encoded; escape it for HTML)."""
    return "/sparql?" + urlencode({"query": query})


def capped_html(shown: str, query: str) -> str:
    """The notice of a cut section: what it shows, and a link to all of it via SPARQL."""
    return (
        f'<p class="capped">Showing {escape(shown)} — '
        f'<a href="{escape(sparql_href(query))}">all of them via SPARQL</a>.</p>'
    )


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


def timeline_query(iri: str) -> str:
    """The SPARQL query of ``iri``'s whole timeline (what a cut timeline links to)."""
    values = " ".join(f"gk:{d}" for d in _DATES)
    return f"""PREFIX gk: <{schema.GK}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?date ?p ?fact (SAMPLE(?named) AS ?label) WHERE {{
  {{ ?fact ?link <{iri}> }} UNION {{ BIND(<{iri}> AS ?fact) }}
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


def timeline_html(moments: list[Moment]) -> str:
    """A timeline as an ordered list."""
    if not moments:
        return "<p>No dated facts.</p>"
    items = "".join(
        f'<li><time datetime="{escape(m.date)}">{escape(m.date)}</time> '
        f'<a href="{escape(local_href(m.fact))}">{escape(m.label)}</a>'
        + (f' <span class="tag">{escape(m.what)}</span>' if m.what else "")
        + "</li>"
        for m in moments
    )
    return f'<ol class="timeline">{items}</ol>'


def local_href(iri: str) -> str:
    """Where this server shows ``iri``: entity pages, the ontology's page; else the IRI."""
    if iri.startswith(schema.ID_BASE):
        return "/id/" + iri[len(schema.ID_BASE) :]
    if iri.startswith(str(schema.GK)):
        return "/ontology#" + iri[len(str(schema.GK)) :]
    return iri


def network_query(iri: str) -> str:
    """The SPARQL query counting all of ``iri``'s suppliers and recipients."""
    return f"""PREFIX gk: <{schema.GK}>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?other ?label ?direction (COUNT(DISTINCT ?t) AS ?n) WHERE {{
  {{ ?t a gk:ArmsTransfer ; gk:supplier ?other ; gk:recipient <{iri}> .
     BIND("in" AS ?direction) }}
  UNION
  {{ ?t a gk:ArmsTransfer ; gk:recipient ?other ; gk:supplier <{iri}> .
     BIND("out" AS ?direction) }}
  OPTIONAL {{ ?other rdfs:label ?label FILTER(LANG(?label) = "en") }}
}} GROUP BY ?other ?label ?direction ORDER BY ?label"""


def network_svg(store: ox.Store, iri: str, name: str, deadline: Deadline, limit: int) -> str:
    """Who supplied ``iri`` (left) and whom it supplied (right), as SVG; '' if nobody.

    Counts at most ``limit`` transfers each way; if there were more, a notice follows the
    picture.
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
    rows = sorted(
        (
            {
                "direction": direction,
                "other": other_iri,
                "label": _label(store, ox.NamedNode(other_iri), labels, english=True),
                "n": str(count),
            }
            for (direction, other_iri), count in counts.items()
        ),
        key=lambda r: (r["label"], r["other"]),
    )
    suppliers = [r for r in rows if r["direction"] == "in"]
    recipients = [r for r in rows if r["direction"] == "out"]
    if not rows:
        return ""
    row_h, width = 26, 760
    height = max(len(suppliers), len(recipients), 1) * row_h + 40
    cx, cy = width // 2, height // 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="network" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>Arms transfers to and from {escape(name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>",
    ]
    for side, group, x in (("supplier", suppliers, 150), ("recipient", recipients, 610)):
        for i, r in enumerate(group):
            y = 30 + i * row_h
            label = r.get("label") or r["other"].rsplit("/", 1)[-1]
            x1, y1, x2, y2 = (
                (x + 5, y, cx - 70, cy) if side == "supplier" else (cx + 70, cy, x - 5, y)
            )
            parts.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
                f'class="edge" marker-end="url(#arrow)"/>'
            )
            anchor = "end" if side == "supplier" else "start"
            parts.append(
                f'<a href="{escape(local_href(r["other"]))}"><text x="{x}" y="{y + 4}" '
                f'text-anchor="{anchor}" class="{side}">{escape(label)} '
                f"({escape(r['n'])})</text></a>"
            )
    parts.append(
        f'<text x="{cx}" y="{cy + 5}" text-anchor="middle" class="center">'
        f"{escape(name)}</text></svg>"
    )
    if cut:
        parts.append(
            capped_html(f"counts from the first {limit:,} transfers each way", network_query(iri))
        )
    return "\n".join(parts)


def register_html(store: ox.Store, code: str, deadline: Deadline, limit: int) -> str:
    """A state's arms exports and imports in the SIPRI register's columns, with CSV links.

    Each table holds at most ``limit`` rows, read in steps; a cut table says so.
    """
    out = []
    for title, only in (
        ("Exports", sipri.RegisterFilter(supplier=code)),
        ("Imports", sipri.RegisterFilter(recipient=code)),
    ):
        selection = sipri.select(store, only, limit, deadline.check)
        rows: list[dict[str, str]] = []
        for batch in sipri.batches(selection.transfers):
            deadline.check()
            rows += sipri.rows_of(store, batch)
        param = "supplier" if only.supplier else "recipient"
        out.append(
            f'<h3>{title} <a class="tag" href="/transfers.csv?{param}={escape(code)}">CSV</a></h3>'
        )
        if not rows:
            out.append("<p>None recorded.</p>")
            continue
        if selection.more:
            out.append(capped_html(f"the first {limit:,} rows", sipri.query_text(only)))
        columns = [c for c in sipri.COLUMNS if c not in ("Sources", "geokb id", "Comments")]
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(
                f'<td><a href="{escape(local_href(r["geokb id"]))}">{escape(r[c])}</a></td>'
                if c == "Designation"
                else f"<td>{escape(r[c])}</td>"
                for c in columns
            )
            + "</tr>"
            for r in rows
        )
        out.append(f'<table class="register"><tr>{head}</tr>{body}</table>')
    return "\n".join(out)


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
