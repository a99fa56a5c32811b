"""Arms transfers as a register in the column layout of the SIPRI Arms Transfers Database.

One row per transfer and weapon system, like SIPRI's trade registers, written as CSV that
opens in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pyoxigraph as ox

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


def rows(store: ox.Store, only: RegisterFilter = RegisterFilter()) -> list[dict[str, str]]:
    """The register rows, one per transfer and weapon system."""
    filters = []
    for field, code in (("s", only.supplier), ("r", only.recipient)):
        if code is not None:
            if not (len(code) == 3 and code.isalpha()):
                raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-3 code")
            filters.append(f'?{field} gk:iso3166Alpha3 "{code.upper()}" .')
    query = _QUERY.replace("__FILTERS__", "\n  ".join(filters))
    result = store.query(query, use_default_graph_as_union=True)
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


def to_csv(register: list[dict[str, str]]) -> str:
    """The register as CSV text (RFC 4180, CRLF line ends), header first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(register)
    return buffer.getvalue()
