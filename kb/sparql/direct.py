"""Answer a one-pattern lookup (``kb.sparql.lookups``) from the store's index, without the
query engine: the same answer, byte for byte, as the engine gives, for a fraction of the cost.

Only reads of the store's indexes happen here (``Store.quads_for_pattern``): no query text
reaches pyoxigraph's parser or evaluator, so nothing here can fetch a URL, whatever the
query said. That is why the server may call this in its own process, outside the query
workers' sandbox (``api.sandbox``), which exists to contain the engine.

The work is bounded: a lookup that finds more than ``most`` triples is given up (``None``)
and the caller sends the query to a worker as before, where the timeout, row and byte caps
apply. The answer is the engine's because it is made the same way:

* a SELECT scans the default graph's index for the pattern, in the index's order, which is
  the order the engine reads it in; its rows are written by ``kb.sparql.results``, whose
  JSON and XML writers are byte-identical to pyoxigraph's (``tests/test_direct.py`` checks
  every subject of the knowledge base). Its CSV and TSV are not (pyoxigraph leaves an IRI
  with a comma unquoted in CSV, and shortens numbers in TSV), so those go to the engine;
* a DESCRIBE gives the subject's triples, then those of each blank node they reach, depth
  first, each node once: Oxigraph's concise bounded description, in its order. The graph is
  written by ``pyoxigraph.serialize``, as the worker writes it.
"""

from __future__ import annotations

from itertools import islice

import pyoxigraph as ox

from kb.sparql import results
from kb.sparql.formats import Format
from kb.sparql.lookups import Lookup, Position

#: Triples a lookup may find before it is left to a worker. A lookup that gives up has read
#: this many for nothing (~5 us each), so it is kept near the cost of one lookup: a client
#: sending such queries costs the server's one thread little more than any other request.
#: (No subject of the knowledge base has more than 28 triples.)
MOST = 64

_DEFAULT = ox.DefaultGraph()
# the result formats kb.sparql.results writes byte for byte as pyoxigraph does
_WRITTEN_LIKE_THE_ENGINE = frozenset(["json", "xml"])


def answer(
    store: ox.Store, lookup: Lookup, fmt: Format, max_rows: int, max_bytes: int, most: int = MOST
) -> results.Bounded | None:
    """The answer to ``lookup`` on ``store``'s default graph in ``fmt``, within the caps; None
    when it must go to the engine (a format written differently, more than ``most`` triples
    or ``max_rows`` rows, more than ``max_bytes`` bytes, an IRI the engine would refuse)."""
    bound = min(most, max_rows)
    try:
        if lookup.form == "DESCRIBE":
            if fmt.shape != "graph":
                return None
            assert lookup.subject.iri is not None
            triples = _describe(store, ox.NamedNode(lookup.subject.iri), bound)
            if triples is None:
                return None
            capped = results.Capped(triples, False)
        else:
            if fmt.name not in _WRITTEN_LIKE_THE_ENGINE:
                return None
            rows = _select(store, lookup, bound)
            if rows is None:
                return None
            capped = results.Capped((list(lookup.columns), rows), False)
    except ValueError:  # an IRI pyoxigraph does not accept: the engine says why
        return None
    bounded = results.write_bounded(capped, fmt, max_bytes)
    return None if bounded.cut else bounded


def _node(position: Position) -> ox.NamedNode | None:
    return None if position.iri is None else ox.NamedNode(position.iri)


def _select(store: ox.Store, lookup: Lookup, bound: int) -> list[results.Row] | None:
    """The rows of a one-pattern SELECT, or None past ``bound``."""
    quads = store.quads_for_pattern(
        _node(lookup.subject), _node(lookup.predicate), _node(lookup.object), _DEFAULT
    )
    want = bound + 1 if lookup.limit is None else min(lookup.limit, bound + 1)
    found = list(islice(quads, want))
    if len(found) > bound:
        return None
    places = {
        p.var: i
        for i, p in enumerate((lookup.subject, lookup.predicate, lookup.object))
        if p.var is not None
    }
    take = [places[c] for c in lookup.columns]
    # a quad iterates subject, predicate, object, graph
    return [[quad[i] for i in take] for quad in found]


def _describe(store: ox.Store, subject: ox.NamedNode, bound: int) -> list[ox.Triple] | None:
    """The engine's DESCRIBE of ``subject``, or None past ``bound`` triples."""
    found: list[ox.Triple] = []
    seen: set[ox.NamedNode | ox.BlankNode] = {subject}
    todo: list[ox.NamedNode | ox.BlankNode] = [subject]
    while todo:
        node = todo.pop()
        for quad in store.quads_for_pattern(node, None, None, _DEFAULT):
            found.append(ox.Triple(quad.subject, quad.predicate, quad.object))
            if len(found) > bound:
                return None
            obj = quad.object
            if isinstance(obj, ox.BlankNode) and obj not in seen:
                seen.add(obj)
                todo.append(obj)
    return found
