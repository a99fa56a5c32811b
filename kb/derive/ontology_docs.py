"""HTML documentation of the ontology, derived from ``kb.model.schema`` via the ontology graph.

``geokb generate`` writes it to ``docs/ontology.html``; the server shows it at ``/ontology``.
Never edited by hand.
"""

from __future__ import annotations

from html import escape

from rdflib import OWL, RDF, RDFS, SKOS, Graph, URIRef
from rdflib.term import Node

from kb.model import schema
from kb.model.ontology import VERSION, ontology_graph, shapes_graph


def _local(term: Node) -> str:
    text = str(term)
    return text.split("#")[-1] if "#" in text else text.rsplit("/", 1)[-1]


def _label(g: Graph, term: Node) -> str:
    return str(g.value(term, RDFS.label) or _local(term))


def _link(g: Graph, term: Node | None) -> str:
    if term is None:
        return "-"
    if isinstance(term, URIRef) and str(term).startswith(str(schema.GK)):
        return f'<a href="#{escape(_local(term))}"><code>gk:{escape(_local(term))}</code></a>'
    if isinstance(term, URIRef):
        return f"<code>{escape(str(term))}</code>"
    members = g.value(term, OWL.unionOf)
    if members is not None:
        return " or ".join(_link(g, m) for m in g.items(members))
    return escape(str(term))


def ontology_html() -> str:
    """The ontology as one HTML page: classes with their fields, properties, value lists."""
    g = ontology_graph()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>geokb ontology</title>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='stylesheet' href='/static/geokb.css'></head><body>",
        "<nav><a href='/'>geokb</a> · <a href='/sparql'>SPARQL</a></nav>",
        "<h1>geokb ontology</h1>",
        f"<p><code>{escape(str(schema.GK))}</code> (prefix <code>gk:</code>), version "
        f"{escape(VERSION)}. Generated from <code>kb/schema.py</code> by "
        "<code>geokb generate</code>; the Turtle is <code>ontology/geokb.ttl</code>, the "
        "SHACL shapes <code>ontology/shapes.ttl</code>.</p>",
        "<h2>Classes</h2>",
    ]
    shapes = shapes_graph()
    for kind in schema.SHAPED:
        cls = kind.cls
        parent = g.value(cls, RDFS.subClassOf)
        parts.append(
            f"<section id='{escape(_local(cls))}'><h3>{escape(kind.label)} "
            f"<code>gk:{escape(_local(cls))}</code></h3>"
        )
        parts.append(f"<p>{escape(str(g.value(cls, SKOS.definition)))}</p>")
        if parent is not None:
            parts.append(f"<p>Subclass of {_link(g, parent)}.</p>")
        if isinstance(kind, schema.Kind):
            parts.append(
                f"<p>YAML section <code>{escape(kind.section)}:</code>, ids are "
                f"{escape(kind.id_hint)}; instances are "
                f"<code>{escape(schema.ID_BASE + kind.name)}/&lt;id&gt;</code>.</p>"
            )
        else:
            parts.append(
                f"<p>Written as a mapping in a fact's list; instances are "
                f"<code>&lt;fact-iri&gt;#{escape(kind.name)}-1</code>, "
                f"<code>#{escape(kind.name)}-2</code> ... in the order written.</p>"
            )
        rows = []
        for fld in kind.fields:
            need = "required" if fld.required else "optional"
            if fld.required and fld.alternative:
                need = f"required unless <code>{escape(fld.alternative)}</code> is given"
            many = "one or more" if fld.many else "one"
            rows.append(
                f"<tr><td><code>{escape(fld.key)}</code></td>"
                f"<td>{_link(g, fld.prop.iri)}</td><td>{need}, {many}</td>"
                f"<td>{escape(fld.prop.definition)}</td></tr>"
            )
        parts.append(
            "<table class='facts'><tr><th>YAML key</th><th>property</th>"
            "<th>how many</th><th>meaning</th></tr>" + "".join(rows) + "</table>"
        )
        parts.append("</section>")
    parts.append("<h2>Properties</h2>")
    for prop in sorted(
        set(g.subjects(RDF.type, OWL.ObjectProperty))
        | set(g.subjects(RDF.type, OWL.DatatypeProperty)),
        key=_local,
    ):
        parts.append(
            f"<section id='{escape(_local(prop))}'><h3><code>gk:{escape(_local(prop))}</code> "
            f"— {escape(_label(g, prop))}</h3><p>{escape(str(g.value(prop, SKOS.definition)))}"
            f"</p><p>Domain: {_link(g, g.value(prop, RDFS.domain))}"
            + (f"; range: {_link(g, rng)}" if (rng := g.value(prop, RDFS.range)) else "")
            + ".</p></section>"
        )
    parts.append("<h2>Value lists</h2>")
    for choice in schema.CHOICES:
        items = "".join(
            f"<li id='{escape(o.local)}'><code>{escape(o.key)}</code> → "
            f"<code>gk:{escape(o.local)}</code>: {escape(o.label)}"
            + (f". {escape(o.definition)}" if o.definition else "")
            + "</li>"
            for o in choice.options
        )
        parts.append(
            f"<section id='{escape(choice.cls_name)}'><h3><code>gk:"
            f"{escape(choice.cls_name)}</code></h3><p>{escape(choice.definition)}</p>"
            f"<ul>{items}</ul></section>"
        )
    parts.append(f"<p class='tag'>{len(shapes)} SHACL triples check these terms.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
