"""The steps of the data path that need one file at a time, in two rounds.

Round one reads a file into records (``yamlfile``, ``records``) and reports its ids; once
the ids of every file are indexed (``linking.index_ids``), round two resolves the file's
references, maps it to RDF and checks it against the shapes. Only small results leave a
round (problems, ids, N-Triples bytes), never the records, so the rounds can run in
worker processes that keep their files' records between them (``kb.build.workers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from rdflib import URIRef

from kb.build.checks import confidence_problems, node_problems
from kb.build.consistency import Summary, record_problems, summaries
from kb.build.linking import IdEntry, IdIndex, id_entries, resolve_refs, source_types
from kb.build.mapping import ntriples, to_nodes
from kb.build.records import Record, RefValue, records_from_yaml
from kb.build.yamlfile import MAX_FILE_BYTES, read_yaml
from kb.errors import DataError, Problem, relative
from kb.model.rdf import NTriples


@dataclass(frozen=True)
class FileRead:
    """Round one for one file: its problems and the ids it defines."""

    name: str
    problems: list[Problem]
    ids: list[IdEntry]
    source_types: dict[str, str] = field(default_factory=dict)  # by source id
    # what the checks across records need of the file's records (``kb.build.consistency``)
    summaries: list[Summary] = field(default_factory=list)


@dataclass(frozen=True)
class FileGraph:
    """Round two for one file: its problems, and its graph when it has none."""

    name: str
    problems: list[Problem]
    graph: NTriples
    records: int
    refs: list[str]  # "kind,kind/id" of each reference, for the manifest


class FileSteps:
    """Runs both rounds for the files it is given, keeping their records in between."""

    def __init__(self, files: dict[str, Path], max_bytes: int = MAX_FILE_BYTES) -> None:
        self.files = files
        self.max_bytes = max_bytes  # larger files are refused unread
        self.records: dict[str, list[Record]] = {}

    def read(self, names: list[str]) -> Iterator[FileRead]:
        """Round one for ``names``, in order."""
        for name in names:
            path = self.files[name]
            try:
                root = read_yaml(path, self.max_bytes)
            except DataError as exc:
                yield FileRead(name, exc.problems, [])
                continue
            records, problems = records_from_yaml(relative(path), root)
            problems += record_problems(records)
            self.records[name] = records
            yield FileRead(
                name, problems, id_entries(records), source_types(records), summaries(records)
            )

    def finish(self, index: IdIndex, build: bool) -> Iterator[FileGraph]:
        """Round two for every file read so far. With ``build`` false (other problems were
        found already) only references are checked: mapping would be wasted."""
        types = index.types() if build else {}
        for name, records in self.records.items():
            resolved, problems = resolve_refs(records, index)
            problems += confidence_problems(records, index.source_types)
            refs = sorted({f"{','.join(r.kinds)}/{r.id}" for r in _refs(records)})
            graph = NTriples(b"", 0)
            if build and not problems:
                nodes = to_nodes(records, resolved)
                problems = node_problems(nodes, partial(_by_iri, records), types)
                graph = ntriples(nodes)
            yield FileGraph(name, problems, graph, len(records), refs)


def _by_iri(records: list[Record]) -> dict[URIRef, Record]:
    return {r.iri: r for r in records}


def _refs(records: list[Record]) -> Iterator[RefValue]:
    for record in records:
        for values in record.values.values():
            for value in values:
                if isinstance(value, RefValue):
                    yield value
