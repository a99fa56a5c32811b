"""Response descriptions for the OpenAPI document, shared by the routes."""

from __future__ import annotations

from typing import Any

from kb.sparql import formats

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"

_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def error(description: str) -> dict[str, Any]:
    """A plain-text error response."""
    return {"description": description, "content": _TEXT}


RDF_CONTENT = {
    f.media_type: {"schema": {"type": "string"}}
    for f in formats.FORMATS
    if f.shape in ("graph", "dataset")
}

ENTITY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The entity: HTML for browsers, or RDF by content negotiation.",
        "content": {"text/html": {"schema": {"type": "string"}}, **RDF_CONTENT},
    },
    404: {
        "description": "Nothing is known about this IRI.",
        "content": {"text/html": {"schema": {"type": "string"}}, **_TEXT},
    },
    # /id/<kind> (one segment) is redirected (307) to the kind's list, /id/<kind>/, which
    # refuses an unknown format= with 400: a client that follows redirects meets it here.
    307: {"description": "A kind's name without the final slash: its list, /id/<kind>/."},
    400: error("After the redirect to a kind's list: an unknown format, facet or sort column."),
    406: error("No acceptable format."),
    501: error("Not available with a remote store."),
}
VOID_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The VoID description, as RDF; a browser (HTML preferred, no `format`) gets its "
            "Turtle as `text/plain`, to read on screen."
        ),
        "content": {**RDF_CONTENT, "text/plain": {"schema": {"type": "string"}}},
    },
    406: error("No acceptable format."),
    501: error("Not available with a remote store."),
}
REGISTER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The register as CSV.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    400: error("A supplier or recipient that is not an ISO 3166-1 alpha-3 code."),
    501: error("Not available with a remote store."),
}


# The SPARQL endpoint's parameters and answers (api/sparql.py registers GET and POST).
SPARQL_DESCRIPTION = (
    "SPARQL 1.1 Protocol, read-only: `query` by GET, POST form or POST "
    "`application/sparql-query`, with `default-graph-uri`, `named-graph-uri` and an optional "
    "`format`. Results by content negotiation. Without a query, GET returns the SPARQL Service "
    "Description."
)
_PARAMS = [
    {
        "name": "query",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The SPARQL query. Without it, GET returns the Service Description.",
    },
    {
        "name": "default-graph-uri",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "named-graph-uri",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Result format (json, xml, csv, tsv, turtle, ntriples, nquads, rdfxml, "
        "jsonld); overrides Accept.",
    },
]
_RESULTS = {
    "200": {
        "description": "Query results (SPARQL results or RDF, by content negotiation).",
        "content": {f.media_type: {"schema": {"type": "string"}} for f in formats.FORMATS},
    },
    **{
        code: error(text)
        for code, text in {
            "400": "Malformed query or request",
            "403": "Update or SERVICE refused",
            "406": "No acceptable result format",
            "413": "Query too long",
            "415": "Unsupported request media type",
            "429": "This client's queries stopped several workers lately: refused a while",
            "503": "Query timed out, ran out of memory, or the server is busy",
            "303": "A browser asking without a query: redirected to the query page",
            "500": "A query worker failed (it is restarted)",
            "502": "The remote store failed",
        }.items()
    },
}
SPARQL_GET: dict[str, Any] = {"parameters": _PARAMS, "responses": _RESULTS}
SPARQL_POST: dict[str, Any] = {
    "parameters": _PARAMS[1:],
    "requestBody": {
        "required": True,
        "content": {
            FORM: {
                "schema": {
                    "type": "object",
                    "required": ["query"],
                    "properties": {
                        "query": {"type": "string"},
                        "default-graph-uri": {"type": "array", "items": {"type": "string"}},
                        "named-graph-uri": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
            SPARQL_QUERY: {"schema": {"type": "string"}},
        },
    },
    "responses": _RESULTS,
}

# Search and the lists of entities (api/search.py).
_HTML = {"text/html": {"schema": {"type": "string"}}}
_BUSY = error("The page ran out of time or waited too long for its turn; retry.")
SEARCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The matching entities, grouped by kind.", "content": _HTML},
    501: error("Not available with a remote store."),
    503: _BUSY,
}
SEARCH_JSON_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The best matches, best first (label, kind, id, IRI, page URL).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "q": {"type": "string"},
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    k: {"type": "string"}
                                    for k in ("label", "kind", "kind_label", "id", "iri", "url")
                                },
                            },
                        },
                        "total": {"type": "integer"},
                        "complete": {"type": "boolean"},
                    },
                }
            }
        },
    },
    400: error("A limit that is not a whole number from 1 to 50."),
    501: error("Not available with a remote store."),
    503: _BUSY,
}
ID_KINDS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The kinds of entities with their counts (HTML, or JSON with format=json).",
        "content": {**_HTML, "application/json": {"schema": {"type": "object"}}},
    },
    400: error("An unknown format."),
    501: error("Not available with a remote store."),
    503: _BUSY,
}
ID_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of the kind's entities: HTML, or CSV or JSON with format=.",
        "content": {
            **_HTML,
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    400: error(
        "An unknown format, facet or sort column; a page that is not a whole "
        "number; or page= and after= together."
    ),
    404: {"description": "No such kind of entity.", "content": {**_HTML, **_TEXT}},
    501: error("Not available with a remote store."),
    503: _BUSY,
}
