"""The one table of result formats: name, media type, file extension and serialiser.

Every edge (CLI ``--format``, HTTP ``Accept`` and ``format=``) looks formats up here, so a new
format is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyoxigraph as ox

ResultShape = Literal["solutions", "graph", "dataset"]


@dataclass(frozen=True)
class Format:
    """A serialisation of query results or RDF."""

    name: str
    media_type: str
    extension: str
    shape: ResultShape
    ox_format: ox.QueryResultsFormat | ox.RdfFormat
    also: tuple[str, ...] = ()  # other media types and names clients use for it

    @property
    def content_type(self) -> str:
        """The Content-Type header value, with charset for text formats."""
        return f"{self.media_type}; charset=utf-8"


FORMATS: tuple[Format, ...] = (
    Format(
        "json",
        "application/sparql-results+json",
        "srj",
        "solutions",
        ox.QueryResultsFormat.JSON,
        ("application/json", "srj"),
    ),
    Format(
        "xml",
        "application/sparql-results+xml",
        "srx",
        "solutions",
        ox.QueryResultsFormat.XML,
        ("application/xml", "text/xml", "srx"),
    ),
    Format("csv", "text/csv", "csv", "solutions", ox.QueryResultsFormat.CSV),
    Format("tsv", "text/tab-separated-values", "tsv", "solutions", ox.QueryResultsFormat.TSV),
    Format(
        "turtle",
        "text/turtle",
        "ttl",
        "graph",
        ox.RdfFormat.TURTLE,
        ("application/x-turtle", "application/turtle", "n3", "text/n3", "text/rdf+n3"),
    ),
    Format(
        "ntriples",
        "application/n-triples",
        "nt",
        "graph",
        ox.RdfFormat.N_TRIPLES,
        ("text/plain", "nt", "n-triples"),
    ),
    Format(
        "nquads", "application/n-quads", "nq", "dataset", ox.RdfFormat.N_QUADS, ("nq", "n-quads")
    ),
    Format(
        "rdfxml",
        "application/rdf+xml",
        "rdf",
        "graph",
        ox.RdfFormat.RDF_XML,
        ("xml", "rdf/xml", "application/xml", "text/xml"),
    ),
    Format(
        "jsonld",
        "application/ld+json",
        "jsonld",
        "graph",
        ox.RdfFormat.JSON_LD,
        ("json-ld", "json", "application/json", "application/x-json+ld"),
    ),
)


def names_of(fmt: Format) -> tuple[str, ...]:
    """Every name a client may use for ``fmt``: short name, media types, file extension."""
    return (fmt.name, fmt.media_type, fmt.extension, *fmt.also)


def lookup(name: str, shape: ResultShape | None = None) -> Format | None:
    """The format called ``name`` (a short name, media type or file extension), if any.

    With ``shape``, only formats for that shape count: 'xml' is SPARQL XML results for a
    SELECT and RDF/XML for a CONSTRUCT, as clients such as SPARQLWrapper expect.
    """
    key = name.strip().lower()
    candidates = for_shape(shape) if shape else list(FORMATS)
    return next((f for f in candidates if key in names_of(f)), None)


def for_shape(shape: ResultShape) -> list[Format]:
    """Formats that can carry results of ``shape`` (graphs also go out as N-Quads)."""
    if shape == "graph":
        return [f for f in FORMATS if f.shape in ("graph", "dataset")]
    return [f for f in FORMATS if f.shape == shape]


def names(shape: ResultShape) -> str:
    """The short names of the formats for ``shape``, for messages."""
    return ", ".join(f.name for f in for_shape(shape))
