"""The prefixes preset for queries, pages and serialisations, as plain strings.

Apart from ``kb.model.schema`` (which re-exports them) so that a query worker, which writes
Turtle with these prefixes but needs nothing else of the model, does not import rdflib
(~18 MB of memory in every worker).
"""

from __future__ import annotations

PREFIXES: dict[str, str] = {
    "gk": "https://w3id.org/geokb/ontology#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
    "schema": "https://schema.org/",
    "geo": "http://www.opengis.net/ont/geosparql#",
}
