"""Entity pages: every ``https://w3id.org/geokb/id/...`` IRI is served at ``/id/...``.

HTML for browsers (label, facts with sources and dates, incoming links), rendered from
api/templates/entity.html (which escapes every value), and RDF (Turtle, JSON-LD, ...) by
content negotiation.

A page reads at most LIMIT triples each way (and as many facts, transfers and register rows
in its other sections), in small steps under a deadline, with at most one render per core
at once (api/pagework.py). A cut section says so and links to the SPARQL query listing all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pyoxigraph as ox
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api import maps, pagework, search, views
from api.negotiation import wants_html
from api.openapi import ENTITY_RESPONSES
from api.pages import render
from api.pagework import Deadline, Facts, PagesBusy, PageTimeout, take
from api.responses import plain, rdf
from api.sparql import TRUNCATED_HEADER
from api.state import ServedStore
from kb.model import schema

router = APIRouter()

Term = ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple
SOURCE = ox.NamedNode(str(schema.SOURCE.iri))
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
CITATION = ox.NamedNode(str(schema.CITATION.iri))
HAS_GEOMETRY = ox.NamedNode(str(schema.HAS_GEOMETRY.iri))
AS_WKT = ox.NamedNode(str(schema.AS_WKT.iri))
_CITED = {
    str(schema.CITED_SOURCE.iri): "source",
    str(schema.LOCATOR.iri): "locator",
    str(schema.SAYS.iri): "says",
    str(schema.SUPPORTS.iri): "supports",
    str(schema.ACCESSED.iri): "accessed",
    str(schema.ARCHIVED_URL.iri): "archived_url",
}
CITATION_FIELDS = 20  # triples read per citation, at most
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
    citations: tuple[Citation, ...] = ()
    # what named the page's terms: the page's other sections name the same records again
    titles: views.Titles | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Citation:
    """One citation of a fact: where in which source it is stated, and what the source says
    there (in the curators' words). ``supports``: the property IRIs it backs (none: the
    whole fact)."""

    iri: str
    source: str = ""
    locator: str = ""
    says: str = ""
    accessed: str = ""
    archived_url: str = ""
    supports: tuple[str, ...] = ()


def _citation(facts: Facts, node: ox.NamedNode) -> Citation:
    values: dict[str, str] = {}
    supports: list[str] = []
    for n, quad in enumerate(facts.quads(node)):
        if n >= CITATION_FIELDS:
            break
        name = _CITED.get(quad.predicate.value)
        if name == "supports":
            supports.append(quad.object.value)  # type: ignore[union-attr]
        elif name is not None:
            values[name] = quad.object.value  # type: ignore[union-attr]
    return Citation(node.value, supports=tuple(sorted(set(supports))), **values)


def _geometry_text(facts: Facts, geometry: ox.NamedNode) -> str:
    """A geometry as people read coordinates: '25.867° N, 55.033° E'; '' if not a point."""
    for quad in facts.quads(geometry, AS_WKT):
        latlon = maps.point(quad.object.value) if isinstance(quad.object, ox.Literal) else None
        if latlon is not None:
            lat, lon = latlon
            north, east = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
            return f"{abs(lat):g}° {north}, {abs(lon):g}° {east}"
    return ""


def load_entity(facts: Facts, iri: str, deadline: Deadline, limit: int = LIMIT) -> Entity | None:
    """What the store says about ``iri`` (at most ``limit`` triples each way), or None."""
    try:
        node = ox.NamedNode(iri)
    except ValueError:  # not a valid IRI (e.g. '"' in the path): certainly not ours
        return None
    out, more_out = take(
        ((q.predicate, q.object) for q in facts.quads(node)),
        limit,
        deadline,
    )
    pairs_in: list[tuple[Term, ox.NamedNode]]
    pairs_in, more_in = take(
        ((q.subject, q.predicate) for q in facts.quads(None, None, node)),
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
    # Each citation's place in its source, read from its node (the page's statements show
    # them as Wikidata shows references under a statement).
    citations = []
    for n, (p, o) in enumerate(outgoing):
        if p == CITATION and isinstance(o, ox.NamedNode):
            if n % pagework.BATCH == 0:
                deadline.check()
            citations.append(_citation(facts, o))
        elif p == HAS_GEOMETRY and isinstance(o, ox.NamedNode):
            # a place's point, shown as coordinates with the geometry's own citations under it
            shown = _geometry_text(facts, o)
            if shown:
                labels[o.value] = shown
            found = facts.quads(o, CITATION)
            for c in dict.fromkeys(q.object for q in found):  # once, whatever the layout
                if isinstance(c, ox.NamedNode):
                    cited = _citation(facts, c)
                    citations.append(replace(cited, supports=(HAS_GEOMETRY.value,)))
    terms += [ox.NamedNode(c.source) for c in citations if c.source]
    # Records without a label (transfers, claims, administrations ...) get a title composed
    # from the model (views.Titles): the page's heading, 'Referenced by', values.
    titles = views.Titles(facts)
    for n, term in enumerate(terms):
        if n % pagework.BATCH == 0:
            deadline.check()
        if isinstance(term, ox.NamedNode) and term.value not in labels:
            label = titles.name(term)  # its own label or title
            if not label and term.value.startswith(schema.ID_BASE):
                label = titles.title(term.value)
            if label:
                labels[term.value] = label
    return Entity(
        iri, outgoing, incoming, labels, limit, more_out, more_in, tuple(citations), titles
    )


@dataclass(frozen=True)
class TermView:
    """An RDF term as the pages show it (macros.html's ``term``).

    ``kind``: "iri" (a link to ``href``, titled with the IRI), "literal" (text, with its
    language or datatype as a ``tag``), or "other" (a blank node or triple, as text).
    """

    kind: str
    text: str
    href: str = ""
    iri: str = ""
    tag: str = ""
    language: bool = False


def term_view(term: Term, labels: dict[str, str]) -> TermView:
    """How ``term`` is shown: an IRI by its label, linked; a literal with its tag."""
    if isinstance(term, ox.NamedNode):
        text = labels.get(term.value, term.value)
        return TermView("iri", text, views.local_href(term.value), term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return TermView("literal", term.value, tag=term.language, language=True)
        if term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            return TermView("literal", term.value, tag=term.datatype.value.rsplit("#", 1)[-1])
        return TermView("literal", term.value)
    return TermView("other", str(term))


_NOTE = str(schema.COMMENT.iri)


def field_order(iri: str) -> Callable[[tuple[str, object]], tuple[int, int]]:
    """The sort key of (property IRI, ...) pairs in the model's field order of ``iri``'s kind
    (kb/model/schema.py): the label first, then the kind's fields, then properties the model
    does not list for it (in the order given: sort stably), the note last."""
    found = schema.kind_of_iri(iri)
    fields = found[0].fields if found is not None else ()
    rank: dict[str, int] = {}
    for n, f in enumerate(fields):
        rank.setdefault(str(f.prop.iri), n)

    def key(item: tuple[str, object]) -> tuple[int, int]:
        p = item[0]
        if p == str(schema.LABEL.iri):
            return (0, 0)
        if p == _NOTE:
            return (3, 0)
        if p in rank:
            return (1, rank[p])
        return (2, 0)

    return key


@dataclass(frozen=True)
class Sections:
    """The parts of an entity page that read beyond the entity (see api/views.py)."""

    timeline: list[views.Moment]
    timeline_note: views.Capped | None = None
    network: views.Network | None = None
    register: list[views.RegisterTable] | None = None
    tables: tuple[views.FactTable, ...] = ()  # a dispute's claims, a territory's disputes ...
    map: maps.Map | None = None  # where the place is, or the state's outline and its places


def render_html(entity: Entity, sections: Sections | None = None) -> str:
    """The HTML page of an entity (entity.html), with its ``sections`` if given."""
    labels = entity.labels
    title = labels.get(entity.iri, entity.iri.rsplit("/", 1)[-1])
    types = [term_view(o, labels) for p, o in entity.outgoing if p == RDF_TYPE]
    by_property: dict[str, list[TermView]] = defaultdict(list)
    sources: list[TermView] = []
    for p, o in entity.outgoing:
        if p == SOURCE:
            sources.append(term_view(o, labels))
        elif p == HAS_GEOMETRY:  # the point's coordinates lead to the page's map
            by_property[p.value].append(replace(term_view(o, labels), href="#map"))
        elif p not in (RDF_TYPE, CITATION):
            by_property[p.value].append(term_view(o, labels))
    refs = [_reference(c, labels) for c in entity.citations]
    facts = [
        (
            term_view(ox.NamedNode(p), labels),
            vs,
            [r for r, c in zip(refs, entity.citations, strict=True) if p in c.supports],
        )
        for p, vs in sorted(by_property.items(), key=field_order(entity.iri))
    ]
    whole = [r for r, c in zip(refs, entity.citations, strict=True) if not c.supports]
    incoming = [(term_view(s, labels), term_view(p, labels)) for s, p in entity.incoming]
    # The notices' queries are shown to people (and run if they follow the link): the IRI is
    # written out in them, as a valid ox.NamedNode serializes it.
    node = str(ox.NamedNode(entity.iri))
    facts_note = incoming_note = None
    if entity.more_outgoing:
        facts_note = views.Capped(
            f"the first {entity.limit:,} statements", f"SELECT ?p ?o WHERE {{ {node} ?p ?o }}"
        )
    if entity.more_incoming:
        incoming_note = views.Capped(
            f"the first {entity.limit:,} references", f"SELECT ?s ?p WHERE {{ ?s ?p {node} }}"
        )
    return render(
        "entity.html",
        title=title,
        iri=entity.iri,
        types=types,
        facts=facts,
        whole_fact_refs=whole,
        sources=sources,
        incoming=incoming,
        facts_note=facts_note,
        incoming_note=incoming_note,
        sections=sections,
    )


@dataclass(frozen=True)
class Reference:
    """A citation as the page shows it under a statement."""

    source: TermView | None
    locator: str
    says: str
    accessed: str
    archived_url: str


def _reference(citation: Citation, labels: dict[str, str]) -> Reference:
    source = term_view(ox.NamedNode(citation.source), labels) if citation.source else None
    # only web addresses become links: a curated value is still no place for javascript:
    archived = citation.archived_url
    if not archived.startswith(("https://", "http://")):
        archived = ""
    return Reference(source, citation.locator, citation.says, citation.accessed, archived)


def sections(facts: Facts, entity: Entity, deadline: Deadline) -> Sections:
    """Timeline, supply network and (for states) the arms register, each capped."""
    name = entity.labels.get(entity.iri, entity.iri.rsplit("/", 1)[-1])
    # The timeline's facts are the entity and what refers to it: the (capped) incoming list.
    dated = [ox.NamedNode(entity.iri)]
    dated += dict.fromkeys(s for s, _ in entity.incoming if isinstance(s, ox.NamedNode))
    note = None
    if entity.more_incoming:
        note = views.Capped(
            f"the dated facts among the first {entity.limit:,} references",
            views.timeline_query(entity.iri),
        )
    titles = entity.titles or views.Titles(facts)
    moments = views.timeline(facts, dated, deadline, titles)
    network = views.network(facts, entity.iri, name, deadline, entity.limit)
    register = None
    found = schema.kind_of_iri(entity.iri)
    if found is not None and found[0].name == "state":
        register = views.register(facts, found[1], deadline, entity.limit, titles)
    kind = found[0].name if found is not None else ""
    tables = views.fact_tables(facts, entity.iri, kind, deadline, entity.limit, titles)
    where = maps.entity_map(facts, entity.iri, titles, deadline)
    return Sections(moments, note, network, register, tables, where)


def _rdf(entity: Entity) -> list[ox.Triple]:
    node = ox.NamedNode(entity.iri)
    triples = [ox.Triple(node, p, o) for p, o in entity.outgoing]
    triples += [ox.Triple(s, p, node) for s, p in entity.incoming]  # type: ignore[arg-type]
    return triples


@router.get(
    "/id/{path:path}",
    summary="An entity page (HTML, Turtle or JSON-LD)",
    response_class=Response,
    responses=ENTITY_RESPONSES,
)
async def entity_page(path: str, request: Request, format: str | None = None) -> Response:
    """Describe the entity ``https://w3id.org/geokb/id/{path}``."""
    if path in schema.KINDS_BY_NAME:  # a kind's name, typed without the final slash: its list
        query = request.url.query
        return RedirectResponse(f"/id/{path}/" + (f"?{query}" if query else ""), status_code=307)
    served: ServedStore | None = request.app.state.store
    if served is None:
        return plain(501, "entity pages are not available with a remote store; query /sparql")
    iri = schema.ID_BASE + path
    format = format or None  # ?format= left empty (a form's blank field): as if not given
    accept = request.headers.get("accept")
    html = (format in ("html", None) and wants_html(accept, default=True)) or format == "html"
    store = served.get()

    def work(deadline: Deadline) -> tuple[Entity | None, str]:
        facts = Facts.of(store)
        entity = load_entity(facts, iri, deadline)
        if entity is None or not html:
            return entity, ""
        return entity, render_html(entity, sections(facts, entity, deadline))

    try:
        entity, page = await pagework.for_request(request).run(work)
    except (PageTimeout, PagesBusy) as exc:
        return pagework.refusal(exc)
    if entity is None:
        message = f"Nothing is known about {iri}."
        return await search.not_found_page(request, message, path, html=html)
    if html:
        return HTMLResponse(page, headers={"Vary": "Accept"})
    response = rdf(_rdf(entity), accept, format, schema.PREFIXES)
    if entity.more_outgoing or entity.more_incoming:
        response.headers[TRUNCATED_HEADER] = (
            f"true; at most {entity.limit:,} triples each way; query /sparql for all"
        )
    return response
