"""Step 7 of the data path: run read-only SPARQL queries on a store and serialise the results.

Before a query reaches the store it passes ``guard``: SPARQL Update (INSERT, DELETE, LOAD,
CLEAR, ...) and SERVICE are refused, because pyoxigraph would otherwise write to the store or
fetch remote URLs on a client's behalf.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyoxigraph as ox

from kb import schema
from kb.errors import QueryError, QueryRefused, QueryTooLong
from kb.formats import Format, ResultShape

MAX_QUERY_CHARS = 100_000
MAX_NESTING = 200  # pyoxigraph's recursive parser overflows its stack some way past 1,000

# pyoxigraph's results; a remote store's CONSTRUCT/DESCRIBE result is a list of triples
QueryResult = ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples | list[ox.Triple]

# Tokens that can hide keywords: strings (long ones first), IRIs and comments.
_OPAQUE = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'
    r"|#[^\n]*",
    re.DOTALL,
)
_KEYWORD = r"(?<![\w:?$.\-]){}(?![\w:\-])"
_UPDATE = re.compile(
    _KEYWORD.format(r"(INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH)"), re.IGNORECASE
)
_SERVICE = re.compile(_KEYWORD.format("SERVICE"), re.IGNORECASE)
_FORM = re.compile(_KEYWORD.format(r"(SELECT|ASK|CONSTRUCT|DESCRIBE)"), re.IGNORECASE)


@dataclass(frozen=True)
class Dataset:
    """The RDF dataset of a query, from the protocol's default-graph-uri / named-graph-uri."""

    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()


def code_of(query: str) -> str:
    """The query with strings, IRIs and comments blanked out, leaving only keywords and names."""
    return _OPAQUE.sub(lambda m: " " * len(m.group(0)), query)


def guard(query: str, max_chars: int = MAX_QUERY_CHARS) -> ResultShape:
    """Refuse what a read-only, no-outbound endpoint must not run; return the result shape."""
    if len(query) > max_chars:
        raise QueryTooLong(f"query is {len(query):,} characters long; the limit is {max_chars:,}")
    code = code_of(query)
    depth = _nesting(code)
    if depth > MAX_NESTING:
        raise QueryError(
            f"the query nests brackets {depth} deep; the limit is {MAX_NESTING} "
            "(deeper queries could crash the query parser)"
        )
    update = _UPDATE.search(code)
    if update:
        word = update.group(1).upper()
        extra = " and never fetches remote data" if word == "LOAD" else ""
        raise QueryRefused(
            f"SPARQL Update ({word}) is not allowed: this endpoint is read-only{extra}. "
            "Change the data in data/*.yaml and run 'geokb build'."
        )
    if _SERVICE.search(code):
        raise QueryRefused(
            "SERVICE is not allowed: this endpoint never sends requests to other endpoints on a "
            "client's behalf. Query the remote endpoint directly."
        )
    form = _FORM.search(code)
    if form is None:
        raise QueryError("not a SPARQL query: expected SELECT, ASK, CONSTRUCT or DESCRIBE")
    word = form.group(1).upper()
    return "solutions" if word in ("SELECT", "ASK") else "graph"


def _nesting(code: str) -> int:
    depth = deepest = 0
    for char in code:
        if char in "({[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")}]":
            depth -= 1
    return deepest


_LIMIT_AT_END = re.compile(
    r"(?:\bOFFSET\s+\d+\s+)?\bLIMIT\s+(\d+)(?:\s+OFFSET\s+\d+)?\s*$", re.IGNORECASE
)


def declared_limit(query: str) -> int | None:
    """The query's own top-level LIMIT, if it ends with one (a subquery's is inside braces)."""
    m = _LIMIT_AT_END.search(code_of(query))
    return int(m.group(1)) if m else None


def run(store: ox.Store, query: str, dataset: Dataset = Dataset()) -> QueryResult:
    """Run a guarded read-only query; the default graph is the union of all graphs."""
    guard(query)
    kwargs: dict[str, object] = {}
    if dataset.default_graphs:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in dataset.default_graphs]
    else:
        kwargs["use_default_graph_as_union"] = True
    if dataset.named_graphs:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in dataset.named_graphs]
    try:
        return store.query(query, prefixes=None, **kwargs)  # type: ignore[arg-type]
    except SyntaxError as exc:
        raise QueryError(f"SPARQL syntax error: {exc}") from None
    except ValueError as exc:  # e.g. an invalid IRI in default-graph-uri
        raise QueryError(str(exc)) from None
    except OSError as exc:
        raise QueryError(f"the query failed: {exc}") from None


def shape_of(result: QueryResult) -> ResultShape:
    """Whether ``result`` is solutions (SELECT/ASK) or a graph (CONSTRUCT/DESCRIBE)."""
    return "graph" if isinstance(result, ox.QueryTriples | list) else "solutions"


def serialize(result: QueryResult, fmt: Format) -> bytes:
    """The whole of ``result`` in ``fmt``; the format must suit the result's shape."""
    if isinstance(result, ox.QueryTriples | list):
        assert isinstance(fmt.ox_format, ox.RdfFormat)
        triples: Iterable[ox.Triple] = result
        prefixes = schema.PREFIXES if fmt.name in ("turtle", "rdfxml", "jsonld") else None
        out = ox.serialize(triples, format=fmt.ox_format, prefixes=prefixes)
    else:
        assert isinstance(fmt.ox_format, ox.QueryResultsFormat)
        out = result.serialize(format=fmt.ox_format)
    assert out is not None
    return out


def table(result: QueryResult) -> str:
    """SELECT/ASK results as an aligned text table for a terminal."""
    if isinstance(result, ox.QueryBoolean):
        return "yes" if bool(result) else "no"
    if isinstance(result, ox.QueryTriples | list):
        return "\n".join(f"{t.subject} {t.predicate} {t.object} ." for t in result)
    names = [v.value for v in result.variables]
    rows = [[_cell(sol[name]) for name in names] for sol in result]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _cell(term: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple | None) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        for prefix, ns in schema.PREFIXES.items():
            if term.value.startswith(ns):
                return f"{prefix}:{term.value[len(ns) :]}"
        return f"<{term.value}>"
    if isinstance(term, ox.Literal):
        return term.value
    return str(term)
