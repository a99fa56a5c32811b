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
        ("application/x-turtle", "ttl"),
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
        "rdfxml", "application/rdf+xml", "rdf", "graph", ox.RdfFormat.RDF_XML, ("rdf", "xml-rdf")
    ),
    Format("jsonld", "application/ld+json", "jsonld", "graph", ox.RdfFormat.JSON_LD, ("json-ld",)),
)

_BY_NAME: dict[str, Format] = {}
for _f in FORMATS:
    for _key in (_f.name, _f.media_type, _f.extension, *_f.also):
        _BY_NAME.setdefault(_key.lower(), _f)


def lookup(name: str) -> Format | None:
    """The format called ``name`` (a short name, media type or file extension), if any."""
    return _BY_NAME.get(name.strip().lower())


def for_shape(shape: ResultShape) -> list[Format]:
    """Formats that can carry results of ``shape`` (graphs also go out as N-Quads)."""
    if shape == "graph":
        return [f for f in FORMATS if f.shape in ("graph", "dataset")]
    return [f for f in FORMATS if f.shape == shape]


def names(shape: ResultShape) -> str:
    """The short names of the formats for ``shape``, for messages."""
    return ", ".join(f.name for f in for_shape(shape))
