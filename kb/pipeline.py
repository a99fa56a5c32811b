"""The data path from a folder of YAML files to checked RDF graphs, one call.

YAML (``yamlfile``) → records (``records``) → linked catalog (``linking``) → RDF
(``mapping``) → SHACL checks (``checks``). Problems of every step are collected and raised
together as one DataError; a later step runs only when the earlier ones found nothing, so one
mistake is reported once.

Given the manifest of the previous build, only files whose content changed (or that refer to
ids that changed) are re-read and re-checked; links from and to the other files are checked
through the ids and references the manifest keeps.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import URIRef

from kb import schema
from kb.checks import shape_problems
from kb.errors import DataError, Location, Problem, relative
from kb.linking import Catalog, link
from kb.manifest import FileEntry, Manifest, file_sha256, model_sha256
from kb.mapping import ox_quads, to_quads
from kb.ontology import ontology_graph
from kb.records import Record, RefValue, records_from_yaml
from kb.yamlfile import read_yaml

DATA_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Compiled:
    """Checked data: the graphs to write, the graphs to drop, and the new manifest.

    In a full build ``graphs`` holds every data file's graph and the ontology graph; in an
    incremental one only the graphs of files that were re-read.
    """

    graphs: dict[URIRef, list[ox.Quad]]
    removed: tuple[URIRef, ...]
    manifest: Manifest
    catalog: Catalog
    full: bool

    def triple_count(self) -> int:
        """Triples in the graphs to write."""
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


Progress = Callable[[str, int, int], None]  # (stage, done, total), for progress bars


def _silent(stage: str, done: int, total: int) -> None:
    pass


def compile_data(
    data_dir: Path, previous: Manifest | None = None, progress: Progress = _silent
) -> Compiled:
    """Read, check and map the data under ``data_dir``; raise DataError on any problem.

    With ``previous`` (the manifest of the last build) only what changed is re-read.
    ``progress`` is told how far each stage has got.
    """
    # Python's cycle collector rescans every live object as millions of YAML nodes,
    # records and terms pile up: at a million triples it cost more than half the build.
    # Nothing made here forms cycles, so reference counting alone frees it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(data_dir, previous, progress)
    finally:
        if enabled:
            gc.enable()


def _compile(data_dir: Path, previous: Manifest | None, progress: Progress) -> Compiled:
    files = {p.relative_to(data_dir).as_posix(): p for p in data_files(data_dir)}
    hashes = {name: _hash(path) for name, path in files.items()}
    model = model_sha256()
    if previous is not None and previous.model_sha256 != model:
        previous = None  # the model changed: every file must be checked against it again
    old = previous.files if previous is not None else {}
    unchanged = {n for n, h in hashes.items() if n in old and old[n].sha256 == h}

    problems: list[Problem] = []
    per_file = _read(files, sorted(set(files) - unchanged), problems, progress)
    # An unchanged file whose references no longer resolve (an id it uses was removed or
    # became ambiguous) is read again, so that its errors are reported where they are.
    ids = {key for n in unchanged for key in old[n].id_keys()}
    ids |= {(r.kind.name, r.id) for records in per_file.values() for r in records}
    broken = sorted(n for n in unchanged if not _resolves(old[n].ref_keys(), ids))
    unchanged -= set(broken)
    per_file.update(_read(files, broken, problems, progress))
    known = {
        key: shown for n in unchanged for shown in [relative(files[n])] for key in old[n].id_keys()
    }
    catalog, found = link((r for rs in per_file.values() for r in rs), known)
    problems.extend(found)
    if problems:
        raise DataError(problems)

    graphs: dict[URIRef, list[ox.Quad]] = {}
    union: list[ox.Quad] = []
    for name, records in per_file.items():
        iri = graph_iri(data_dir, files[name])
        graphs[iri] = to_quads(records, catalog, ox.NamedNode(str(iri)))
        union += graphs[iri]
    progress("checking against the shapes", 0, 1)
    problems.extend(shape_problems(union, catalog.by_iri, _bare_types(known)))
    progress("checking against the shapes", 1, 1)
    if problems:
        raise DataError(problems)

    entries = {n: old[n] for n in unchanged}
    for name, records in per_file.items():
        entries[name] = FileEntry(
            sha256=hashes[name],
            graph=str(graph_iri(data_dir, files[name])),
            triples=len(graphs[graph_iri(data_dir, files[name])]),
            ids=[f"{r.kind.name}/{r.id}" for r in records],
            refs=sorted(f"{','.join(kinds)}/{ref_id}" for kinds, ref_id in _refs(records)),
        )
    full = previous is None
    if full:
        graphs[schema.ONTOLOGY_GRAPH] = ox_quads(
            ontology_graph(), ox.NamedNode(str(schema.ONTOLOGY_GRAPH))
        )
    removed = tuple(URIRef(old[n].graph) for n in sorted(set(old) - set(files)))
    return Compiled(graphs, removed, Manifest(model, entries), catalog, full)


def _hash(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError:  # a directory named *.yaml, unreadable: read_yaml reports it
        return ""


def _read(
    files: dict[str, Path], names: list[str], problems: list[Problem], progress: Progress
) -> dict[str, list[Record]]:
    per_file: dict[str, list[Record]] = {}
    for done, name in enumerate(names):
        progress("reading data files", done, len(names))
        try:
            root = read_yaml(files[name])
        except DataError as exc:
            problems.extend(exc.problems)
            continue
        records, found = records_from_yaml(relative(files[name]), root)
        problems.extend(found)
        per_file[name] = records
    progress("reading data files", len(names), len(names))
    return per_file


def _refs(records: list[Record]) -> set[tuple[tuple[str, ...], str]]:
    return {
        (v.kinds, v.id)
        for r in records
        for values in r.values.values()
        for v in values
        if isinstance(v, RefValue)
    }


def _resolves(refs: list[tuple[list[str], str]], ids: set[tuple[str, str]]) -> bool:
    return all(sum((k, ref_id) in ids for k in kinds) == 1 for kinds, ref_id in refs)


def _bare_types(known: dict[tuple[str, str], str]) -> list[ox.Triple]:
    """The types of records not re-read, so that references to them can be checked."""
    rdf_type = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    triples = []
    for kind_name, record_id in known:
        kind = schema.KINDS_BY_NAME[kind_name]
        triples.append(
            ox.Triple(ox.NamedNode(kind.iri_text(record_id)), rdf_type, ox.NamedNode(str(kind.cls)))
        )
    return triples
