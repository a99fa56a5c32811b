"""The data path from a folder of YAML files to checked RDF graphs, one call.

YAML (``yamlfile``) → records (``records``) → linked catalog (``linking``) → RDF
(``mapping``) → SHACL checks (``checks``). Problems of every step are collected and raised
together as one DataError; a later step runs only when the earlier ones found nothing, so one
mistake is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, URIRef

from kb import schema
from kb.checks import shacl_problems
from kb.errors import DataError, Location, Problem, relative
from kb.linking import Catalog, link
from kb.mapping import new_graph, to_graph
from kb.ontology import ontology_graph
from kb.records import Record, records_from_yaml
from kb.yamlfile import read_yaml

DATA_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Compiled:
    """Checked data: one RDF graph per data file plus the ontology graph."""

    graphs: dict[URIRef, Graph]
    catalog: Catalog

    def triple_count(self) -> int:
        """Triples over all graphs."""
        return sum(len(g) for g in self.graphs.values())


def data_files(data_dir: Path) -> list[Path]:
    """The data files under ``data_dir``, in a stable order."""
    if not data_dir.is_dir():
        raise DataError(
            [
                Problem(
                    Location(relative(data_dir)),
                    "",
                    "data directory not found",
                    "run from the repository root or pass --data DIR",
                )
            ]
        )
    return sorted(p for p in data_dir.rglob("*") if p.suffix in DATA_SUFFIXES)


def graph_iri(data_dir: Path, file: Path) -> URIRef:
    """The named graph IRI of a data file: derived from its path under the data folder."""
    return URIRef(f"{schema.GRAPH_BASE}data/{file.relative_to(data_dir).as_posix()}")


def compile_data(data_dir: Path) -> Compiled:
    """Read, check and map every data file under ``data_dir``; raise DataError on any problem."""
    problems: list[Problem] = []
    per_file: dict[Path, list[Record]] = {}
    for path in data_files(data_dir):
        try:
            root = read_yaml(path)
        except DataError as exc:
            problems.extend(exc.problems)
            continue
        records, found = records_from_yaml(relative(path), root)
        problems.extend(found)
        per_file[path] = records
    catalog, found = link(r for records in per_file.values() for r in records)
    problems.extend(found)
    if problems:
        raise DataError(problems)

    graphs: dict[URIRef, Graph] = {}
    union = new_graph()
    for path, records in per_file.items():
        # duplicates were refused above, so every record here is the one in the catalog
        graph = to_graph(records, catalog, graph_iri(data_dir, path))
        graphs[graph_iri(data_dir, path)] = graph
        union += graph
    problems.extend(shacl_problems(union, catalog.by_iri()))
    if problems:
        raise DataError(problems)
    graphs[schema.ONTOLOGY_GRAPH] = ontology_graph()
    return Compiled(graphs, catalog)
