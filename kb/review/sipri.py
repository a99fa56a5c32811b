"""Arms transfers as a register in the column layout of the SIPRI Arms Transfers Database.

One row per transfer and weapon system, like SIPRI's trade registers, written as CSV that
opens in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import pyoxigraph as ox

from kb.display import spreadsheet_safe
from kb.stores.local import facts_graph

_GK = "https://w3id.org/geokb/ontology#"
_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
_ARMS_TRANSFER = ox.NamedNode(_GK + "ArmsTransfer")
_SUPPLIER = ox.NamedNode(_GK + "supplier")
_RECIPIENT = ox.NamedNode(_GK + "recipient")
_WEAPON = ox.NamedNode(_GK + "weaponSystem")
_ORDER_DATE = ox.NamedNode(_GK + "orderDate")
_ALPHA3 = ox.NamedNode(_GK + "iso3166Alpha3")
_PER_TRANSFER = 500  # triples read about one transfer, at most (a record has about 15)
BATCH = 100  # transfers per register query when the register is read in steps

COLUMNS = (
    "Supplier",
    "Recipient",
    "Designation",
    "Weapon category",
    "Number ordered",
    "Order year",
    "Number delivered",
    "Delivery years",
    "Status",
    "Licensed production",
    "Comments",
    "Sources",
    "geokb id",
)

_QUERY = """
PREFIX gk: <https://w3id.org/geokb/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?t ?supplier ?recipient ?designation ?category ?ordered ?orderDate ?delivered
       ?deliveryStart ?deliveryEnd ?status ?licensed ?comment
       (GROUP_CONCAT(DISTINCT ?sourceTitle; separator=" | ") AS ?sources)
WHERE {
  __VALUES__
  ?t a gk:ArmsTransfer ; gk:supplier ?s ; gk:recipient ?r ; gk:weaponSystem ?w .
  ?s rdfs:label ?supplier FILTER(LANG(?supplier) = "en")
  ?r rdfs:label ?recipient FILTER(LANG(?recipient) = "en")
  ?w rdfs:label ?designation ; gk:category ?category .
  OPTIONAL { ?t gk:quantityOrdered ?ordered }
  OPTIONAL { ?t gk:orderDate ?orderDate }
  OPTIONAL { ?t gk:quantityDelivered ?delivered }
  OPTIONAL { ?t gk:deliveryStartDate ?deliveryStart }
  OPTIONAL { ?t gk:deliveryEndDate ?deliveryEnd }
  OPTIONAL { ?t gk:transferStatus/rdfs:label ?status }
  OPTIONAL { ?t gk:licensedProduction ?licensed }
  OPTIONAL { ?t rdfs:comment ?comment }
  OPTIONAL { ?t dcterms:source/dcterms:title ?sourceTitle }
  __FILTERS__
}
GROUP BY ?t ?supplier ?recipient ?designation ?category ?ordered ?orderDate ?delivered
         ?deliveryStart ?deliveryEnd ?status ?licensed ?comment
ORDER BY ?supplier ?recipient ?orderDate ?designation
"""


@dataclass(frozen=True)
class RegisterFilter:
    """Restrict the register to a supplier and/or recipient (ISO alpha-3 codes)."""

    supplier: str | None = None
    recipient: str | None = None


def _year(date: str) -> str:
    return date[:4]


def _delivery_years(start: str, end: str) -> str:
    first, last = _year(start), _year(end)
    if first and last and first != last:
        return f"{first}-{last}"
    return first or last


def _check(code: str | None) -> str | None:
    if code is not None and not (len(code) == 3 and code.isalpha()):
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-3 code")
    return None if code is None else code.upper()


def query_text(only: RegisterFilter = RegisterFilter()) -> str:
    """The SPARQL query of the whole register (or one state's part of it)."""
    filters = []
    for field, code in (("s", _check(only.supplier)), ("r", _check(only.recipient))):
        if code is not None:
            filters.append(f"?{field} gk:iso3166Alpha3 {ox.Literal(code)} .")  # checked
    return _QUERY.replace("__VALUES__\n  ", "").replace("__FILTERS__", "\n  ".join(filters))


def rows(store: ox.Store, only: RegisterFilter = RegisterFilter()) -> list[dict[str, str]]:
    """The register rows, one per transfer and weapon system (all of them, in one query)."""
    return _run(store, query_text(only))


def _run(store: ox.Store, query: str) -> list[dict[str, str]]:
    result = store.query(query, use_default_graph_as_union=facts_graph(store) is None)
    assert isinstance(result, ox.QuerySolutions)
    out = []
    for sol in result:
        v = {n.value: (t.value if (t := sol[n]) is not None else "") for n in result.variables}
        out.append(
            {
                "Supplier": v["supplier"],
                "Recipient": v["recipient"],
                "Designation": v["designation"],
                "Weapon category": v["category"],
                "Number ordered": v["ordered"],
                "Order year": _year(v["orderDate"]),
                "Number delivered": v["delivered"],
                "Delivery years": _delivery_years(v["deliveryStart"], v["deliveryEnd"]),
                "Status": v["status"],
                "Licensed production": "yes" if v["licensed"] == "true" else "",
                "Comments": v["comment"],
                "Sources": v["sources"],
                "geokb id": v["t"],
            }
        )
    return out


def to_csv(register: list[dict[str, str]], header: bool = True) -> str:
    """The register as CSV text (RFC 4180, CRLF line ends), header first unless told not."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    if header:
        writer.writeheader()
    # cells a spreadsheet would run as formulas are escaped (kb.display.spreadsheet_safe)
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in register)
    return buffer.getvalue()


# --- The register read in bounded steps (for the server: pages and /transfers.csv) -----------
#
# One SPARQL query over a big register sorts and groups every transfer in one call that cannot
# be interrupted. Instead: first list the transfers (lazily, at most ``limit`` rows' worth,
# with their sort keys), then run the register query for BATCH of them at a time, with
# ``check`` (which raises to stop) called between steps.


@dataclass(frozen=True)
class Selection:
    """The transfers of a register read in steps, in register order; ``more``: some left out."""

    transfers: list[str]
    rows: int  # how many register rows they make (one per weapon system)
    more: bool


def _states(store: ox.Store, code: str) -> set[ox.NamedNode]:
    literal = ox.Literal(code)
    return {
        q.subject
        for q in store.quads_for_pattern(None, _ALPHA3, literal, facts_graph(store))
        if isinstance(q.subject, ox.NamedNode)
    }


def _en_label(store: ox.Store, node: ox.NamedNode | None, cache: dict[str, str]) -> str:
    if node is None:
        return ""
    if node.value not in cache:
        cache[node.value] = next(
            (
                q.object.value
                for q in store.quads_for_pattern(node, _LABEL, None, facts_graph(store))
                if isinstance(q.object, ox.Literal) and q.object.language == "en"
            ),
            "",
        )
    return cache[node.value]


def _candidates(store: ox.Store, only: RegisterFilter) -> Iterator[ox.NamedNode]:
    """Transfers that may be in the register, read lazily from the store's indexes."""
    supplier, recipient = _check(only.supplier), _check(only.recipient)
    if supplier is not None or recipient is not None:
        predicate = _SUPPLIER if supplier is not None else _RECIPIENT
        code = supplier if supplier is not None else recipient
        assert code is not None
        for state in _states(store, code):
            for q in store.quads_for_pattern(None, predicate, state, facts_graph(store)):
                if isinstance(q.subject, ox.NamedNode):
                    yield q.subject
    else:
        for q in store.quads_for_pattern(None, _TYPE, _ARMS_TRANSFER, facts_graph(store)):
            if isinstance(q.subject, ox.NamedNode):
                yield q.subject


def select(
    store: ox.Store, only: RegisterFilter, limit: int, check: Callable[[], None]
) -> Selection:
    """The transfers of the register, up to ``limit`` rows' worth, sorted like the register.

    Which ones are kept when there are more is the order of the store's index, not the
    register's: sorting all of them would need reading all of them.
    """
    suppliers = _states(store, c) if (c := _check(only.supplier)) else None
    recipients = _states(store, c) if (c := _check(only.recipient)) else None
    labels: dict[str, str] = {}
    seen: set[str] = set()
    keyed: list[tuple[str, str, str, str]] = []
    total = 0
    for n, t in enumerate(_candidates(store, only)):
        if n % BATCH == 0:
            check()
        if t.value in seen:  # the same triple in several graphs
            continue
        seen.add(t.value)
        triples = islice(store.quads_for_pattern(t, None, None, facts_graph(store)), _PER_TRANSFER)
        about: dict[str, list[ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]] = {}
        for q in triples:
            about.setdefault(q.predicate.value, []).append(q.object)
        if _ARMS_TRANSFER not in about.get(_TYPE.value, []):
            continue
        sup = [o for o in about.get(_SUPPLIER.value, []) if isinstance(o, ox.NamedNode)]
        rec = [o for o in about.get(_RECIPIENT.value, []) if isinstance(o, ox.NamedNode)]
        if suppliers is not None and not suppliers.intersection(sup):
            continue
        if recipients is not None and not recipients.intersection(rec):
            continue
        weapons = len(set(map(str, about.get(_WEAPON.value, []))))
        if total + weapons > limit:
            return Selection([k[-1] for k in sorted(keyed)], total, True)
        total += weapons
        dates = sorted(
            o.value for o in about.get(_ORDER_DATE.value, []) if isinstance(o, ox.Literal)
        )
        keyed.append(
            (
                _en_label(store, sup[0] if sup else None, labels),
                _en_label(store, rec[0] if rec else None, labels),
                dates[0] if dates else "",
                t.value,
            )
        )
    return Selection([k[-1] for k in sorted(keyed)], total, False)


def rows_of(store: ox.Store, transfers: Sequence[str]) -> list[dict[str, str]]:
    """The register rows of these transfers (one query), in their order, then by designation.

    Meant for a BATCH of transfers at a time.
    """
    if not transfers:
        return []
    # VALUES first: oxigraph then starts from these transfers instead of joining them last.
    # One query for the batch, not one per transfer with ?t bound by ``substitutions=`` (which
    # binds one value): each query costs about 1 ms before it reads anything, 5.6 times the
    # batch's time. So the IRIs are written by pyoxigraph, each checked by ox.NamedNode, which
    # refuses what is not an IRI ('>', spaces, quotes ...): no text is pasted in as it came.
    nodes = [ox.NamedNode(t) for t in transfers]
    values = "VALUES ?t { " + " ".join(map(str, nodes)) + " }"
    order = {t: i for i, t in enumerate(transfers)}
    found = _run(store, _QUERY.replace("__VALUES__", values).replace("__FILTERS__", ""))
    return sorted(found, key=lambda r: (order[r["geokb id"]], r["Designation"]))


def batches(transfers: Sequence[str]) -> Iterable[Sequence[str]]:
    """``transfers`` in slices of BATCH."""
    return (transfers[i : i + BATCH] for i in range(0, len(transfers), BATCH))
