"""Parts of entity pages that read the store beyond one entity: a timeline of dated facts, a
picture of who supplied whom, and a state's register of arms imports and exports.

Everything is rendered on the server; every data value is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import pyoxigraph as ox

from kb import schema, sipri

_DATES = ("date", "startDate", "endDate", "orderDate", "deliveryStartDate", "deliveryEndDate")
_DATE_LABELS = {
    "date": "",
    "startDate": "from",
    "endDate": "until",
    "orderDate": "ordered",
    "deliveryStartDate": "deliveries from",
    "deliveryEndDate": "deliveries until",
}


@dataclass(frozen=True)
class Moment:
    """One dated fact on a timeline."""

    date: str
    fact: str
    label: str
    what: str


def _select(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = store.query(query, use_default_graph_as_union=True)
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    return [{n: t.value for n in names if (t := sol[n]) is not None} for sol in result]


def timeline(store: ox.Store, iri: str) -> list[Moment]:
    """The dated facts about ``iri`` (or ``iri`` itself, if it is a fact), oldest first."""
    values = " ".join(f"gk:{d}" for d in _DATES)
    rows = _select(
        store,
        f"""
        PREFIX gk: <{schema.GK}>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?fact ?p ?date (SAMPLE(?named) AS ?label) (SAMPLE(?s) AS ?supplier)
               (SAMPLE(?r) AS ?recipient) (GROUP_CONCAT(DISTINCT ?w; separator=", ") AS ?weapons)
        WHERE {{
          {{ ?fact ?link <{iri}> }} UNION {{ BIND(<{iri}> AS ?fact) }}
          ?fact a gk:Fact ; ?p ?date .
          VALUES ?p {{ {values} }}
          OPTIONAL {{ ?fact rdfs:label ?named }}
          OPTIONAL {{ ?fact gk:supplier/rdfs:label ?s FILTER(LANG(?s) = "en") }}
          OPTIONAL {{ ?fact gk:recipient/rdfs:label ?r FILTER(LANG(?r) = "en") }}
          OPTIONAL {{ ?fact gk:weaponSystem/rdfs:label ?w }}
        }} GROUP BY ?fact ?p ?date""",
    )
    moments = {
        Moment(r["date"], r["fact"], _fact_label(r), _DATE_LABELS[r["p"].rsplit("#", 1)[-1]])
        for r in rows
    }
    return sorted(moments, key=lambda m: (m.date, m.label))


def _fact_label(row: dict[str, str]) -> str:
    """A fact's label, or for an unlabelled transfer 'supplier → recipient: weapons'."""
    if row.get("label"):
        return row["label"]
    if row.get("supplier") and row.get("recipient"):
        weapons = f": {row['weapons']}" if row.get("weapons") else ""
        return f"{row['supplier']} → {row['recipient']}{weapons}"
    return row["fact"].rsplit("/", 1)[-1]


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


def network_svg(store: ox.Store, iri: str, name: str) -> str:
    """Who supplied ``iri`` (left) and whom it supplied (right), as SVG; '' if nobody."""
    rows = _select(
        store,
        f"""
        PREFIX gk: <{schema.GK}>
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT ?other ?label ?direction (COUNT(DISTINCT ?t) AS ?n) WHERE {{
          {{ ?t a gk:ArmsTransfer ; gk:supplier ?other ; gk:recipient <{iri}> .
             BIND("in" AS ?direction) }}
          UNION
          {{ ?t a gk:ArmsTransfer ; gk:recipient ?other ; gk:supplier <{iri}> .
             BIND("out" AS ?direction) }}
          OPTIONAL {{ ?other rdfs:label ?label FILTER(LANG(?label) = "en") }}
        }} GROUP BY ?other ?label ?direction ORDER BY ?label""",
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
    return "\n".join(parts)


def register_html(store: ox.Store, code: str) -> str:
    """A state's arms imports and exports in the SIPRI register's columns, with CSV links."""
    out = []
    for title, only in (
        ("Exports", sipri.RegisterFilter(supplier=code)),
        ("Imports", sipri.RegisterFilter(recipient=code)),
    ):
        rows = sipri.rows(store, only)
        param = "supplier" if only.supplier else "recipient"
        out.append(
            f'<h3>{title} <a class="tag" href="/transfers.csv?{param}={escape(code)}">CSV</a></h3>'
        )
        if not rows:
            out.append("<p>None recorded.</p>")
            continue
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
