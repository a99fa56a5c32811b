"""Response descriptions for the OpenAPI document, shared by the routes."""

from __future__ import annotations

from typing import Any

from kb.sparql import formats

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
    406: error("No acceptable format."),
    501: error("Not available with a remote store."),
}
VOID_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The VoID description, as RDF.", "content": RDF_CONTENT},
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
