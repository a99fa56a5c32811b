"""Entity pages: every ``https://w3id.org/geokb/id/...`` IRI is served at ``/id/...``.

HTML for browsers (label, facts with sources and dates, incoming links), and RDF (Turtle,
JSON-LD, ...) by content negotiation. Every data value is escaped before it reaches HTML.

A page reads at most LIMIT triples each way (and as many facts, transfers and register rows
in its other sections), in small steps under a deadline, with at most one render per core
at once (api/pagework.py). A cut section says so and links to the SPARQL query listing all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api import pagework, views
from api.negotiation import parse_accept
from api.openapi import ENTITY_RESPONSES
from api.pagework import Deadline, PagesBusy, PageTimeout, take
from api.responses import plain, rdf
from api.sparql import TRUNCATED_HEADER
from api.state import ServedStore
from kb.model import schema

router = APIRouter()

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
LABEL = ox.NamedNode(str(schema.LABEL.iri))
TITLE = ox.NamedNode(str(schema.TITLE.iri))
SOURCE = ox.NamedNode(str(schema.SOURCE.iri))
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
# Labels for the properties geokb borrows from other vocabularies (rdfs:, dcterms:, owl: ...)
_PROPERTY_LABELS = {str(p.iri): p.label for p in schema.properties()}
LIMIT = 1000  # triples each way, facts on the timeline, transfers counted, register rows


@dataclass(frozen=True)
class Entity:
    """What the store says about one IRI: its triples out and in, and labels of neighbours.

    At most ``limit`` triples each way; ``more_outgoing``/``more_incoming``: some left out.
    """

    iri: str
    outgoing: list[tuple[ox.NamedNode, Term]]
    incoming: list[tuple[Term, ox.NamedNode]]
    labels: dict[str, str]
    limit: int = LIMIT
    more_outgoing: bool = False
    more_incoming: bool = False


def _label_of(store: ox.Store, node: Term) -> str | None:
    if not isinstance(node, ox.NamedNode):
        return None
    best: str | None = None
    for predicate in (LABEL, TITLE):
        for quad in store.quads_for_pattern(node, predicate, None, None):
            obj = quad.object
            if isinstance(obj, ox.Literal):
                if obj.language in (None, "en"):
                    return obj.value
                best = best or obj.value
    return best


def load_entity(store: ox.Store, iri: str, deadline: Deadline, limit: int = LIMIT) -> Entity | None:
    """What the store says about ``iri`` (at most ``limit`` triples each way), or None."""
    try:
        node = ox.NamedNode(iri)
    except ValueError:  # not a valid IRI (e.g. '"' in the path): certainly not ours
        return None
    out, more_out = take(
        ((q.predicate, q.object) for q in store.quads_for_pattern(node, None, None, None)),
        limit,
        deadline,
    )
    pairs_in: list[tuple[Term, ox.NamedNode]]
    pairs_in, more_in = take(
        ((q.subject, q.predicate) for q in store.quads_for_pattern(None, None, node, None)),
        limit,
        deadline,
    )
    if not out and not pairs_in:
        return None
    outgoing = sorted(out, key=lambda po: (po[0].value, str(po[1])))
    incoming = sorted(pairs_in, key=lambda sp: (sp[1].value, str(sp[0])))
    # Labels of what the page shows, and of nothing else.
    labels: dict[str, str] = dict(_PROPERTY_LABELS)
    terms = [
        node,
        *(p for p, _ in outgoing),
        *(o for _, o in outgoing),
        *(s for s, _ in incoming),
        *(p for _, p in incoming),
    ]
    for n, term in enumerate(terms):
        if n % pagework.BATCH == 0:
            deadline.check()
        if isinstance(term, ox.NamedNode) and term.value not in labels:
            label = _label_of(store, term)
            if label:
                labels[term.value] = label
    return Entity(iri, outgoing, incoming, labels, limit, more_out, more_in)


def _term_html(term: Term, labels: dict[str, str]) -> str:
    if isinstance(term, ox.NamedNode):
        text = labels.get(term.value, term.value)
        href = escape(views.local_href(term.value))
        return f'<a href="{href}" title="{escape(term.value)}">{escape(text)}</a>'
    if isinstance(term, ox.Literal):
        extra = ""
        if term.language:
            extra = f' <span class="tag">@{escape(term.language)}</span>'
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            extra = f' <span class="tag">{escape(term.datatype.value.rsplit("#", 1)[-1])}</span>'
        return f"{escape(term.value)}{extra}"
    return escape(str(term))


def render_html(entity: Entity, extra: str = "") -> str:
    """The HTML page of an entity, with ``extra`` sections (already escaped HTML)."""
    labels = entity.labels
    title = labels.get(entity.iri, entity.iri.rsplit("/", 1)[-1])
    types = [o for p, o in entity.outgoing if p == RDF_TYPE]
    by_property: dict[str, list[Term]] = defaultdict(list)
    sources: list[Term] = []
    for p, o in entity.outgoing:
        if p == SOURCE:
            sources.append(o)
        elif p != RDF_TYPE:
            by_property[p.value].append(o)
    rows = "".join(
        f"<tr><th>{_term_html(ox.NamedNode(p), labels)}</th>"
        f"<td>{'<br>'.join(_term_html(v, labels) for v in values)}</td></tr>"
        for p, values in by_property.items()
    )
    source_items = "".join(f"<li>{_term_html(s, labels)}</li>" for s in sources)
    incoming = "".join(
        f"<li>{_term_html(s, labels)} <span class='via'>— {_term_html(p, labels)}</span></li>"
        for s, p in entity.incoming
    )
    type_links = ", ".join(_term_html(t, labels) for t in types)
    facts_note = incoming_note = ""
    if entity.more_outgoing:
        facts_note = views.capped_html(
            f"the first {entity.limit:,} statements",
            f"SELECT ?p ?o WHERE {{ <{entity.iri}> ?p ?o }}",
        )
    if entity.more_incoming:
        incoming_note = views.capped_html(
            f"the first {entity.limit:,} references",
            f"SELECT ?s ?p WHERE {{ ?s ?p <{entity.iri}> }}",
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} — geokb</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="alternate" type="text/turtle" href="?format=turtle">
<link rel="alternate" type="application/ld+json" href="?format=jsonld">
<link rel="stylesheet" href="/static/geokb.css">
</head><body>
<nav><a href="/">geokb</a> · <a href="/sparql">SPARQL</a></nav>
<h1>{escape(title)}</h1>
<p class="iri"><code>{escape(entity.iri)}</code> · {type_links}
 · <a href="?format=turtle">Turtle</a> · <a href="?format=jsonld">JSON-LD</a></p>
<h2>Facts</h2>
{facts_note}
<table class="facts">{rows or "<tr><td>No statements.</td></tr>"}</table>
<h2>Sources</h2>
<ul class="sources">{source_items or "<li>None cited.</li>"}</ul>
{extra}
<h2>Referenced by</h2>
{incoming_note}
<ul class="incoming">{incoming or "<li>Nothing refers to this.</li>"}</ul>
</body></html>
"""


def _sections(store: ox.Store, entity: Entity, deadline: Deadline) -> str:
    """Timeline, supply network and (for states) the arms register, each capped."""
    name = entity.labels.get(entity.iri, entity.iri.rsplit("/", 1)[-1])
    # The timeline's facts are the entity and what refers to it: the (capped) incoming list.
    facts = [ox.NamedNode(entity.iri)]
    facts += dict.fromkeys(s for s, _ in entity.incoming if isinstance(s, ox.NamedNode))
    parts = ["<h2>Timeline</h2>"]
    if entity.more_incoming:
        parts.append(
            views.capped_html(
                f"the dated facts among the first {entity.limit:,} references",
                views.timeline_query(entity.iri),
            )
        )
    parts.append(views.timeline_html(views.timeline(store, facts, deadline)))
    svg = views.network_svg(store, entity.iri, name, deadline, entity.limit)
    if svg:
        parts += ["<h2>Who supplied whom</h2>", svg]
    found = schema.kind_of_iri(entity.iri)
    if found is not None and found[0].name == "state":
        parts += [
            "<h2>Arms transfers register</h2>",
            views.register_html(store, found[1], deadline, entity.limit),
        ]
    return "\n".join(parts)


def _rdf(entity: Entity) -> list[ox.Triple]:
    node = ox.NamedNode(entity.iri)
    triples = [ox.Triple(node, p, o) for p, o in entity.outgoing]
    triples += [ox.Triple(s, p, node) for s, p in entity.incoming]  # type: ignore[arg-type]
    return triples


def _wants_html(accept: str | None) -> bool:
    for media, q in parse_accept(accept or "*/*"):
        if q > 0 and media in ("text/html", "application/xhtml+xml"):
            return True
        if q > 0 and media != "*/*":
            return False
    return True


@router.get(
    "/id/{path:path}",
    summary="An entity page (HTML, Turtle or JSON-LD)",
    response_class=Response,
    responses=ENTITY_RESPONSES,
)
async def entity_page(path: str, request: Request, format: str | None = None) -> Response:
    """Describe the entity ``https://w3id.org/geokb/id/{path}``."""
    served: ServedStore | None = request.app.state.store
    if served is None:
        return plain(501, "entity pages are not available with a remote store; query /sparql")
    iri = schema.ID_BASE + path
    accept = request.headers.get("accept")
    html = (format in ("html", None) and _wants_html(accept)) or format == "html"
    store = served.get()

    def work(deadline: Deadline) -> tuple[Entity | None, str]:
        entity = load_entity(store, iri, deadline)
        if entity is None or not html:
            return entity, ""
        return entity, render_html(entity, _sections(store, entity, deadline))

    try:
        entity, page = await pagework.for_app(request.app).run(work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    if entity is None:
        message = f"Nothing is known about {iri}."
        if html:
            return HTMLResponse(
                f"<!doctype html><title>Not found — geokb</title>"
                f"<p>{escape(message)} <a href='/'>Query page</a></p>",
                status_code=404,
            )
        return plain(404, message)
    if html:
        return HTMLResponse(page, headers={"Vary": "Accept"})
    response = rdf(_rdf(entity), accept, format, schema.PREFIXES)
    if entity.more_outgoing or entity.more_incoming:
        response.headers[TRUNCATED_HEADER] = (
            f"true; at most {entity.limit:,} triples each way; query /sparql for all"
        )
    return response
