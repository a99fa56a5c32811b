"""Facts where sources disagree, found by SPARQL over the store.

- Assertions about the same fact that give different quantities.
- Assertions about the same fact that confirm or report it while another denies it.
- Arms transfers with the same supplier, recipient and weapon system whose numbers differ.
- Sovereignty claims of one claimant in one dispute whose dates or positions differ.
- Administrations of one territory by different states whose periods overlap (the build
  refuses them unless both are marked partial or contested: these are the marked ones).

And, as warnings, gaps where facts that belong together are missing: a claimant of a dispute
without a sovereignty claim record in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyoxigraph as ox

from kb.build.consistency import MARKERS, Summary, overlaps, period
from kb.stores.local import facts_graph

_PREFIXES = """PREFIX gk: <https://w3id.org/geokb/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""

QUERIES = {
    "assertions give different quantities": """
SELECT ?fact ?a ?b ?x ?y
       (GROUP_CONCAT(DISTINCT ?sa; separator=" | ") AS ?sourcesA)
       (GROUP_CONCAT(DISTINCT ?sb; separator=" | ") AS ?sourcesB) WHERE {
  ?a a gk:Assertion ; gk:about ?fact ; gk:quantity ?x ; dcterms:source/dcterms:title ?sa .
  ?b a gk:Assertion ; gk:about ?fact ; gk:quantity ?y ; dcterms:source/dcterms:title ?sb .
  FILTER(STR(?a) < STR(?b) && ?x != ?y)
} GROUP BY ?fact ?a ?b ?x ?y""",
    "a party denies what others report or confirm": """
SELECT ?fact ?a ?b ?x ?y
       (GROUP_CONCAT(DISTINCT ?sa; separator=" | ") AS ?sourcesA)
       (GROUP_CONCAT(DISTINCT ?sb; separator=" | ") AS ?sourcesB) WHERE {
  ?a a gk:Assertion ; gk:about ?fact ; gk:stance gk:Denied ; gk:statement ?x ;
     dcterms:source/dcterms:title ?sa .
  ?b a gk:Assertion ; gk:about ?fact ; gk:stance ?stance ; gk:statement ?y ;
     dcterms:source/dcterms:title ?sb .
  FILTER(?stance IN (gk:Reported, gk:Confirmed))
} GROUP BY ?fact ?a ?b ?x ?y""",
    "transfers of the same weapons give different numbers": """
SELECT ?fact ?a ?b ?x ?y
       (GROUP_CONCAT(DISTINCT ?sa; separator=" | ") AS ?sourcesA)
       (GROUP_CONCAT(DISTINCT ?sb; separator=" | ") AS ?sourcesB) WHERE {
  VALUES ?q { gk:quantityOrdered gk:quantityDelivered }
  ?a a gk:ArmsTransfer ; gk:supplier ?s ; gk:recipient ?r ; gk:weaponSystem ?fact ;
     ?q ?x ; dcterms:source/dcterms:title ?sa .
  ?b a gk:ArmsTransfer ; gk:supplier ?s ; gk:recipient ?r ; gk:weaponSystem ?fact ;
     ?q ?y ; dcterms:source/dcterms:title ?sb .
  FILTER(STR(?a) < STR(?b) && ?x != ?y)
} GROUP BY ?fact ?a ?b ?x ?y""",
    "claims of one claimant in a dispute disagree": """
SELECT ?fact ?a ?b ?x ?y
       (GROUP_CONCAT(DISTINCT ?sa; separator=" | ") AS ?sourcesA)
       (GROUP_CONCAT(DISTINCT ?sb; separator=" | ") AS ?sourcesB) WHERE {
  VALUES ?p { gk:startDate gk:endDate gk:position }
  ?a a gk:SovereigntyClaim ; gk:inDispute ?fact ; gk:claimant ?c ; ?p ?va ;
     dcterms:source/dcterms:title ?sa .
  ?b a gk:SovereigntyClaim ; gk:inDispute ?fact ; gk:claimant ?c ; ?p ?vb ;
     dcterms:source/dcterms:title ?sb .
  FILTER(STR(?a) < STR(?b) && STR(?va) != STR(?vb))
  BIND(CONCAT(STRAFTER(STR(?p), "#"), " ", STR(?va)) AS ?x)
  BIND(CONCAT(STRAFTER(STR(?p), "#"), " ", STR(?vb)) AS ?y)
} GROUP BY ?fact ?a ?b ?x ?y""",
}

ADMINISTRATIONS = """
SELECT ?a ?territory ?by ?start ?end
       (GROUP_CONCAT(DISTINCT ?note; separator=" ") AS ?notes)
       (GROUP_CONCAT(DISTINCT ?s; separator=" | ") AS ?sources) WHERE {
  ?a a gk:Administration ; gk:territory ?territory ; gk:administeredBy ?by .
  OPTIONAL { ?a gk:startDate ?start }
  OPTIONAL { ?a gk:endDate ?end }
  OPTIONAL { ?a rdfs:comment ?note }
  OPTIONAL { ?a dcterms:source/dcterms:title ?s }
} GROUP BY ?a ?territory ?by ?start ?end"""

OVERLAP = "administrations of one territory overlap"

#: Warnings: (kind, query); each answer names the fact (?fact), what is missing (?x) and the
#: fact's sources (?sources).
GAPS = {
    "claimant of a dispute without a sovereignty claim": """
SELECT ?fact ?x (GROUP_CONCAT(DISTINCT ?s; separator=" | ") AS ?sources) WHERE {
  ?fact a gk:TerritorialDispute ; gk:claimant ?x .
  FILTER NOT EXISTS { ?claim a gk:SovereigntyClaim ; gk:inDispute ?fact ; gk:claimant ?x }
  OPTIONAL { ?fact dcterms:source/dcterms:title ?s }
} GROUP BY ?fact ?x ORDER BY ?fact ?x""",
}


@dataclass(frozen=True)
class Contradiction:
    """Two records that disagree about one fact, each with its sources."""

    kind: str
    about: str
    first: str
    first_says: str
    first_sources: str
    second: str
    second_says: str
    second_sources: str
    level: str = "contradiction"  # or "warning": a gap, with only a first side

    def as_dict(self) -> dict[str, str]:
        """For JSON output."""
        return asdict(self)


def find(store: ox.Store) -> list[Contradiction]:
    """Every contradiction in the store, then every warning."""
    out = []
    for kind, query in QUERIES.items():
        for v in _rows(store, query):
            out.append(
                Contradiction(
                    kind, v["fact"], v["a"], v["x"], v["sourcesA"], v["b"], v["y"], v["sourcesB"]
                )
            )
    out += _overlaps(store)
    for kind, query in GAPS.items():
        for v in _rows(store, query):
            out.append(
                Contradiction(
                    kind, v["fact"], v["fact"], v["x"], v["sources"], "", "", "", "warning"
                )
            )
    return out


def _rows(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = store.query(_PREFIXES + query, use_default_graph_as_union=facts_graph(store) is None)
    assert isinstance(result, ox.QuerySolutions)
    return [
        {n.value: (t.value if (t := sol[n]) is not None else "") for n in result.variables}
        for sol in result
    ]


def _overlaps(store: ox.Store) -> list[Contradiction]:
    """Administrations of one territory that overlap, found as the build finds them."""
    rows, sources = [], {}
    for v in _rows(store, ADMINISTRATIONS):
        fields = {
            key: [(v[name], "", 0, 0)]
            for key, name in (
                ("territory", "territory"),
                ("administered_by", "by"),
                ("start_date", "start"),
                ("end_date", "end"),
            )
            if v[name]
        }
        marked = [m for m in MARKERS if m in v["notes"].lower()]
        if marked:
            fields["marker"] = [(marked[0], "", 0, 0)]
        rows.append(Summary("administration", v["a"], "", 0, 0, fields))
        sources[v["a"]] = v["sources"]
    out = []
    for o in overlaps({"": rows}):
        a, b = o.first[1], o.second[1]
        kind = OVERLAP + (" (both marked partial or contested)" if o.marked else "")
        out.append(
            Contradiction(
                kind,
                o.territory,
                a.id,
                f"{a.text('administered_by')}, {period(a)}",
                sources[a.id],
                b.id,
                f"{b.text('administered_by')}, {period(b)}",
                sources[b.id],
            )
        )
    return out


def report(found: list[Contradiction]) -> str:
    """The contradictions, then the warnings, as text for a person."""
    contradictions = [c for c in found if c.level != "warning"]
    warnings = [c for c in found if c.level == "warning"]
    lines = [] if contradictions else ["no contradictions: no two sources disagree about a fact"]
    for c in contradictions:
        lines += [
            f"{c.kind}: {c.about}",
            f"  {c.first}: {c.first_says}  [{c.first_sources}]",
            f"  {c.second}: {c.second_says}  [{c.second_sources}]",
        ]
    for c in warnings:
        lines.append(f"warning: {c.kind}: {c.about}: {c.first_says}  [{c.first_sources}]")
    counts = [f"{len(contradictions)} contradiction{'s' if len(contradictions) != 1 else ''}"]
    if warnings:
        counts.append(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}")
    if contradictions or warnings:
        lines.append(", ".join(counts))
    return "\n".join(lines)
