"""The data path from a folder of YAML files to checked RDF graphs, one call.

YAML (``yamlfile``) → records (``records``) → ids indexed, references resolved
(``linking``) → RDF (``mapping``) → SHACL checks (``checks``). The steps that need one file
at a time run in two rounds (``per_file``), in worker processes when there is much to read
(``workers``). Problems of every step are collected and raised together as one DataError;
files are mapped and checked only when reading and linking found nothing, so one mistake is
reported once.

Given the manifest of the previous build, only files whose content changed (or that refer to
ids that changed) are re-read and re-checked; links from and to the other files are checked
through the ids and references the manifest keeps.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import quote

from rdflib import URIRef

from kb.build.consistency import Summary, cross_problems
from kb.build.linking import IdIndex, index_ids
from kb.build.manifest import Compiled, FileEntry, Manifest, model_sha256
from kb.build.per_file import FileGraph, FileRead
from kb.build.workers import Steps, per_file_steps
from kb.build.yamlfile import MAX_FILE_BYTES, read_bytes
from kb.errors import DataError, Location, Problem, relative
from kb.model import schema
from kb.model.ontology import ontology_graph
from kb.model.rdf import NTriples, ox_quads

DATA_SUFFIXES = (".yaml", ".yml")


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
    """The named graph IRI of a data file: derived from its path under the data folder
    (percent-encoded: a space, say, is not allowed in an IRI)."""
    # surrogateescape: a name's bytes that are not UTF-8 are percent-encoded as they are
    path = quote(file.relative_to(data_dir).as_posix(), safe="/", errors="surrogateescape")
    return URIRef(f"{schema.GRAPH_BASE}data/{path}")


Progress = Callable[[str, int, int], None]  # (stage, done, total), for progress bars


def _silent(stage: str, done: int, total: int) -> None:
    pass


def compile_data(
    data_dir: Path,
    previous: Manifest | None = None,
    progress: Progress = _silent,
    jobs: int | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> Compiled:
    """Read, check and map the data under ``data_dir``; raise DataError on any problem.

    With ``previous`` (the manifest of the last build) only what changed is re-read.
    ``progress`` is told how far each stage has got. ``jobs`` worker processes share the
    files (default: one per core when there is enough to read, else none). A file over
    ``max_file_bytes`` bytes, or one that is not a regular file, is refused unread.
    """
    # Python's cycle collector rescans every live object as millions of YAML nodes,
    # records and terms pile up: at a million triples it cost more than half the build.
    # Nothing made here forms cycles, so reference counting alone frees it.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile(data_dir, previous, progress, jobs, max_file_bytes)
    finally:
        if enabled:
            gc.enable()


def _compile(
    data_dir: Path,
    previous: Manifest | None,
    progress: Progress,
    jobs: int | None,
    max_bytes: int,
) -> Compiled:
    files = {p.relative_to(data_dir).as_posix(): p for p in data_files(data_dir)}
    hashes = {name: _hash(path, max_bytes) for name, path in files.items()}
    model = model_sha256()
    if previous is not None and previous.model_sha256 != model:
        previous = None  # the model changed: every file must be checked against it again
    old = previous.files if previous is not None else {}
    unchanged = {n for n, h in hashes.items() if n in old and old[n].sha256 == h}
    changed = sorted(set(files) - unchanged)

    steps = per_file_steps(files, changed, jobs, max_bytes)
    try:
        reads = _read(steps, changed, progress)
        defined = {r.name: _keys(r) for r in reads}
        # An unchanged file whose references no longer resolve (an id it uses was removed
        # or became ambiguous) is read again, so that its errors are reported where they are.
        ids: set[str] = set().union(*(old[n].ids for n in unchanged), *defined.values())
        broken = sorted(n for n in unchanged if not _resolves(old[n].refs, ids))
        unchanged -= set(broken)
        reread = _read(steps, broken, progress)
        reads += reread
        defined.update((r.name, _keys(r)) for r in reread)
        known = {
            key: shown for n in unchanged for shown in [relative(files[n])] for key in old[n].ids
        }
        problems = [p for r in reads for p in r.problems]
        index, found = index_ids((entry for r in reads for entry in r.ids), known)
        index.source_types.update((k, v) for r in reads for k, v in r.source_types.items())
        problems += found
        # checks across records run over every file's summaries: those read now, and those
        # the manifest keeps for the files not re-read
        summaries = {r.name: r.summaries for r in reads}
        problems += cross_problems(_summaries(files, old, unchanged, summaries))
        results = _finish(steps, index, not problems, len(reads), progress)
    finally:
        steps.close()
    problems += [p for r in results for p in r.problems]
    if problems:
        raise DataError(problems)

    graphs: dict[URIRef, NTriples] = {}
    entries = {n: old[n] for n in unchanged}
    for result in results:
        iri = graph_iri(data_dir, files[result.name])
        graphs[iri] = result.graph
        entries[result.name] = FileEntry(
            sha256=hashes[result.name],
            graph=str(iri),
            triples=result.graph.count,
            ids=defined[result.name],
            refs=result.refs,
            checks=[s.as_json() for s in summaries[result.name]],
        )
    full = previous is None
    if full:
        graphs[schema.ONTOLOGY_GRAPH] = _ontology()
    removed = tuple(URIRef(old[n].graph) for n in sorted(set(old) - set(files)))
    records = sum(r.records for r in results)
    return Compiled(graphs, removed, Manifest(model, entries), records, full)


@cache
def _ontology() -> NTriples:
    return NTriples.of([q.triple for q in ox_quads(ontology_graph())])


def _hash(path: Path, max_bytes: int) -> str:
    # Read the way read_yaml reads: a FIFO or /dev/zero named *.yaml must not hang the
    # build here, before it is refused.
    try:
        return hashlib.sha256(read_bytes(path, max_bytes)).hexdigest()
    except DataError:  # not a regular file, too large, unreadable: read_yaml reports it
        return ""


def _read(steps: Steps, names: list[str], progress: Progress) -> list[FileRead]:
    progress("reading data files", 0, len(names))
    reads = []
    for done, read in enumerate(steps.read(names), 1):
        reads.append(read)
        progress("reading data files", done, len(names))
    order = {name: i for i, name in enumerate(names)}
    return sorted(reads, key=lambda r: order[r.name])  # workers answer in any order


def _finish(
    steps: Steps,
    index: IdIndex,
    build: bool,
    total: int,
    progress: Progress,
) -> list[FileGraph]:
    stage = "mapping and checking" if build else "checking references"
    progress(stage, 0, total)
    results = []
    for done, result in enumerate(steps.finish(index, build), 1):
        results.append(result)
        progress(stage, done, total)
    return sorted(results, key=lambda r: r.name)


def _summaries(
    files: dict[str, Path],
    old: dict[str, FileEntry],
    unchanged: set[str],
    read: dict[str, list[Summary]],
) -> dict[str, list[Summary]]:
    """What the checks across records need of every file, by the file's name as shown."""
    out = {relative(files[n]): [Summary.from_json(row) for row in old[n].checks] for n in unchanged}
    out.update((relative(files[n]), rows) for n, rows in read.items())
    return out


def _keys(read: FileRead) -> list[str]:
    """The "kind/id" of each record a file defines, as the manifest keeps them."""
    return [f"{kind}/{i}" for kind, i, _ in read.ids]


def _resolves(refs: list[str], ids: set[str]) -> bool:
    """Whether each reference ("kind,kind/id", as the manifest keeps it) names one record."""
    for ref in refs:
        if ref in ids:  # one kind, and found
            continue
        kinds, _, ref_id = ref.partition("/")
        if sum(f"{k}/{ref_id}" in ids for k in kinds.split(",")) != 1:
            return False
    return True
