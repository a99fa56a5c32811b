"""Step 7 of the data path: run read-only SPARQL queries on a store and serialise the results.

Before a query reaches the store it is read by ``kb.sparql.reading``, which follows the SPARQL
grammar's tokens as the engine does: SPARQL Update (INSERT, DELETE, LOAD, CLEAR, ...) and
SERVICE are refused, because pyoxigraph would otherwise write to the store or fetch remote
URLs on a client's behalf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyoxigraph as ox

from kb.errors import QueryError
from kb.model.prefixes import PREFIXES
from kb.sparql import reading as query_reading
from kb.sparql.formats import Format, ResultShape
from kb.sparql.reading import MAX_QUERY_CHARS, Reading

__all__ = ["MAX_QUERY_CHARS", "Dataset", "QueryResult", "run"]

# pyoxigraph's results; a remote store's CONSTRUCT/DESCRIBE result is a list of triples
QueryResult = ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | list[ox.Triple]

_DEFAULT_GRAPH = ox.DefaultGraph()


@dataclass(frozen=True)
class Dataset:
    """The RDF dataset of a query, from the protocol's default-graph-uri / named-graph-uri."""

    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()


def needs_union(store: ox.Store) -> bool:
    """Whether queries on ``store`` must ask for the union of its graphs: a build made
    before builds wrote the default graph has it empty, and the union of all graphs is then
    the same triples. (The union includes the default graph, so it must not be asked for
    when the default graph is written: each triple would come twice.) A build never changes:
    the answer may be kept as long as the store is open.

    (The test of kb.stores.local.facts_graph, one index seek, made here: that module's
    imports, rdflib among them, would cost every query worker ~18 MB.)"""
    return next(store.quads_for_pattern(None, None, None, _DEFAULT_GRAPH), None) is None


def run(
    store: ox.Store,
    query: str,
    dataset: Dataset = Dataset(),
    reading: Reading | None = None,
    base_iri: str | None = None,
    union: bool | None = None,
) -> QueryResult:
    """Run a read-only query (read here unless its ``reading`` is given).

    The dataset is, in order: the protocol's ``dataset`` if it names graphs (SPARQL 1.1
    Protocol §2.1.4: it overrides the query's own), else the query's FROM / FROM NAMED,
    else the store's default graph (the union of the data and ontology graphs, written by
    the build) with every named graph. Relative IRIs resolve against ``base_iri``.
    ``union``: :func:`needs_union` of the store, if known (else found here).
    """
    if reading is None:
        reading = query_reading.read(query)
    kwargs: dict[str, object] = {}
    if union is None:
        union = needs_union(store)
    if dataset.default_graphs or dataset.named_graphs:
        if dataset.default_graphs:
            kwargs["default_graph"] = _graphs(dataset.default_graphs, "default-graph-uri")
        elif union:
            kwargs["use_default_graph_as_union"] = True
        if dataset.named_graphs:
            kwargs["named_graphs"] = _graphs(dataset.named_graphs, "named-graph-uri")
    elif not reading.has_dataset and union:
        kwargs["use_default_graph_as_union"] = True
    try:
        return store.query(query, base_iri=base_iri, prefixes=None, **kwargs)  # type: ignore[arg-type]
    except SyntaxError as exc:
        raise QueryError(f"SPARQL syntax error: {exc}") from None
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    except OSError as exc:
        raise QueryError(f"the query failed: {exc}") from None


def check_dataset(dataset: Dataset) -> None:
    """Raise QueryError unless every graph the dataset names is an absolute IRI."""
    _graphs(dataset.default_graphs, "default-graph-uri")
    _graphs(dataset.named_graphs, "named-graph-uri")


def _graphs(iris: tuple[str, ...], parameter: str) -> list[ox.NamedNode]:
    nodes = []
    for iri in iris:
        try:
            nodes.append(ox.NamedNode(iri))
        except ValueError:
            raise QueryError(
                f"{parameter}: {iri!r} is not an absolute IRI; give a graph name such as "
                "https://w3id.org/geokb/graph/data/weapons.yaml"
            ) from None
    return nodes


def shape_of(result: QueryResult) -> ResultShape:
    """Whether ``result`` is solutions (SELECT/ASK) or a graph (CONSTRUCT/DESCRIBE)."""
    return "graph" if isinstance(result, ox.QueryTriples | list) else "solutions"


def serialize(result: QueryResult, fmt: Format) -> bytes:
    """The whole of ``result`` in ``fmt``; the format must suit the result's shape."""
    if isinstance(result, ox.QueryTriples | list):
        assert isinstance(fmt.ox_format, ox.RdfFormat)
        triples: Iterable[ox.Triple] = result
        prefixes = PREFIXES if fmt.name in ("turtle", "rdfxml", "jsonld") else None
        out = ox.serialize(triples, format=fmt.ox_format, prefixes=prefixes)
    else:
        assert isinstance(fmt.ox_format, ox.QueryResultsFormat)
        out = result.serialize(format=fmt.ox_format)
    assert out is not None
    return out
