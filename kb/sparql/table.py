"""Query results as an aligned text table, for people at a terminal (``geokb query``)."""

from __future__ import annotations

import pyoxigraph as ox

from kb.model import schema
from kb.sparql.query import QueryResult


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
