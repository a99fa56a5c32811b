"""Facts where sources disagree, found by SPARQL over the store.

- Assertions about the same fact that give different quantities.
- Assertions about the same fact that confirm or report it while another denies it.
- Arms transfers with the same supplier, recipient and weapon system whose numbers differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pyoxigraph as ox

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

    def as_dict(self) -> dict[str, str]:
        """For JSON output."""
        return asdict(self)


def find(store: ox.Store) -> list[Contradiction]:
    """Every contradiction in the store."""
    out = []
    for kind, query in QUERIES.items():
        result = store.query(_PREFIXES + query, use_default_graph_as_union=True)
        assert isinstance(result, ox.QuerySolutions)
        for sol in result:
            v = {n.value: (t.value if (t := sol[n]) is not None else "") for n in result.variables}
            out.append(
                Contradiction(
                    kind, v["fact"], v["a"], v["x"], v["sourcesA"], v["b"], v["y"], v["sourcesB"]
                )
            )
    return out


def report(found: list[Contradiction]) -> str:
    """The contradictions as text for a person."""
    if not found:
        return "no contradictions: no two sources disagree about a fact"
    lines = []
    for c in found:
        lines += [
            f"{c.kind}: {c.about}",
            f"  {c.first}: {c.first_says}  [{c.first_sources}]",
            f"  {c.second}: {c.second_says}  [{c.second_sources}]",
        ]
    lines.append(f"{len(found)} contradiction{'s' if len(found) != 1 else ''}")
    return "\n".join(lines)
