"""Step 6 of the data path: write checked graphs into an on-disk pyoxigraph store.

Layout under the store folder (default ``.geokb/``)::

    builds/<stamp>/     one complete pyoxigraph store per successful build
    current -> builds/<stamp>    symlink to the last good build

A build writes a fresh store in ``builds/`` and only when it is complete swaps the
``current`` link to it with one atomic rename. A failed or killed build never touches
``current``, so the previous store keeps serving. The build before the current one is kept
too, and so is any build a reader holds a lease on (a shared ``flock`` on its folder, see
``lease``): a server hands build folders to query workers that open them later, and a build
must not delete one in between.

Each build lists its store files with their sizes and modification times
(``geokb-files.json``). RocksDB never rewrites a file once written, so a file that differs
from the list, or is missing, means the build was damaged from outside; the next build then
rebuilds in full (``damage``) and the server says so (``StoreDamaged``) instead of failing.

Each file's triples sit in a named graph of their own (for ``GRAPH``, ``FROM`` and the
protocol's dataset parameters), and the store's default graph holds the union of the data
and ontology graphs, each triple once: queries that name no graph read it, which answers
joins and scans several times faster than a union of ~100 named graphs computed per query.
An incremental build keeps it exact (``_update_default``). A build made before builds wrote
a default graph has an empty one: ``facts_graph`` says to read every graph instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import URIRef

from kb.build.manifest import Compiled
from kb.cores import available_cores
from kb.display import escape_controls
from kb.errors import StoreDamaged, StoreError, relative
from kb.model.rdf import NTriples
from kb.stores import search_index
from kb.stores.current import DEFAULT_STORE as DEFAULT_STORE
from kb.stores.current import check_built as check_built
from kb.stores.current import current_build as current_build

KEEP_BUILDS = 2
FILES_NAME = "geokb-files.json"
# RocksDB's info logs change while a store is open, and its LOCK file is not data.
_UNLISTED = ("LOG", "LOCK", FILES_NAME)


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: the new build folder and what happened to each graph."""

    path: Path
    written: dict[str, int]  # graph → triples now in it, for graphs (re)written
    removed: tuple[str, ...]
    kept: int  # graphs carried over unchanged from the previous build
    full: bool

    @property
    def triples(self) -> int:
        """Triples written in this build."""
        return sum(self.written.values())


#: The graph that holds every triple of a build once: the store's default graph.
FACTS = ox.DefaultGraph()


def facts_graph(store: ox.Store) -> ox.DefaultGraph | None:
    """Where to read every triple of a build once: the default graph, or None (every graph,
    as ``quads_for_pattern`` and ``use_default_graph_as_union`` take it) for a build made
    before builds wrote one. Costs one index seek (~2 us)."""
    found = next(store.quads_for_pattern(None, None, None, FACTS), None)
    return FACTS if found is not None else None


def open_current(root: Path) -> tuple[ox.Store, Path]:
    """The last good build, opened read-only, and its folder; StoreDamaged if it is damaged."""
    path = current_build(root)
    if path is None:
        if (root / "current").is_symlink():
            raise StoreDamaged(f"{relative(root / 'current')} points to no build folder")
        raise StoreError(f"no knowledge base built in {root}/ yet; run 'geokb build' first")
    return open_build(path), path


def open_build(path: Path) -> ox.Store:
    """The build in folder ``path``, opened read-only, or StoreDamaged saying what is wrong:
    a store file missing or changed since the build wrote it, or RocksDB refusing it."""
    problem = _files_problem(path)
    if problem:
        raise StoreDamaged(problem)
    try:
        store = ox.Store.read_only(str(path))
        next(store.named_graphs(), None)  # reads an index: some damage only shows there
        return store
    except (OSError, RuntimeError) as exc:  # pyoxigraph: RuntimeError for "Corruption: ..."
        raise StoreDamaged(_store_problem(path, exc)) from None


def damage(root: Path) -> str | None:
    """What is wrong with the current build under ``root``, or None if it is sound (or if
    nothing was built yet). A build that says something should be rebuilt in full."""
    try:
        open_current(root)
    except StoreDamaged as exc:
        return exc.detail
    except StoreError:
        return None  # nothing built yet
    return None


def store_damage(path: Path, exc: BaseException) -> StoreDamaged | None:
    """``exc``, raised while reading the build in ``path``, as StoreDamaged when it says the
    store's files are corrupt or missing; None when it is some other error."""
    if isinstance(exc, RuntimeError | OSError) and any(
        word in str(exc) for word in ("Corruption", "IO error", "No such file")
    ):
        return StoreDamaged(_store_problem(path, exc))
    return None


def _store_problem(path: Path, exc: BaseException) -> str:
    # RocksDB names files by their absolute path: the detail names the build as typed.
    text = str(exc).replace(str(path.resolve()), relative(path)).replace(str(path), relative(path))
    return f"the store in {relative(path)} cannot be read: {escape_controls(text.strip())}"


def _list_files(build: Path) -> None:
    """Write the list of ``build``'s store files, with their sizes and modification times."""
    files = {
        p.name: [st.st_size, st.st_mtime_ns]
        for p in sorted(build.iterdir())
        if p.name not in _UNLISTED and not p.name.startswith("LOG.old.")
        for st in [p.stat()]
    }
    (build / FILES_NAME).write_text(json.dumps({"files": files}), encoding="utf-8")


def _files_problem(build: Path) -> str | None:
    """What differs between ``build``'s store files and the list written with it."""
    try:
        listed = json.loads((build / FILES_NAME).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return None  # a build made before builds listed their files: RocksDB checks alone
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{relative(build / FILES_NAME)} cannot be read: {exc}"
    for name, (size, mtime_ns) in sorted(listed.items()):
        try:
            st = (build / name).stat()
        except OSError:
            return f"store file {relative(build / name)} is missing"
        if st.st_size != size:
            return f"store file {relative(build / name)} is {st.st_size} bytes; it was {size}"
        if st.st_mtime_ns != mtime_ns:
            return f"store file {relative(build / name)} was changed after the build wrote it"
    return None


def lease(build: Path) -> int | None:
    """Take a reader's lease on a build folder: a shared lock that keeps any build from
    pruning it until ``release``. Returns the lease (a file descriptor), or None when the
    folder is gone or being pruned (the ``current`` link has then moved on: read it again).
    """
    try:
        fd = os.open(build, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        # The folder may have been pruned between open and flock: a removed directory has
        # no links left.
        if os.fstat(fd).st_nlink > 0:
            return fd
    except BlockingIOError:
        pass  # a build holds it exclusively: it is being pruned
    os.close(fd)
    return None


def release(held: int) -> None:
    """Give back a lease taken with ``lease``."""
    os.close(held)  # closing the descriptor drops its flock


def write_build(root: Path, compiled: Compiled) -> BuildReport:
    """Write checked data as a new build and make it current.

    A full build writes every graph into a fresh store. An incremental one starts from a copy
    of the current build (its immutable table files hard-linked, so the copy is cheap) and
    replaces only the graphs of files that changed. Either way the current build is never
    written to: until the final swap, readers see the previous build whole.
    """
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    with (root / "build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"another build is writing to {root}/; wait for it") from None
        return _write_locked(root, builds, compiled)


def _write_locked(root: Path, builds: Path, compiled: Compiled) -> BuildReport:
    ns = time.time_ns()  # one clock reading, so names sort in build order
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 10**9))
    target = builds / f"{stamp}-{ns % 10**9:09d}"
    partial = target.with_name(target.name + ".partial")
    base = None if compiled.full else current_build(root)
    if not compiled.full and base is None:
        raise StoreError(f"no previous build in {root}/ to update; build in full")
    if base is not None:
        problem = _files_problem(base)
        if problem:  # the copy would carry the damage into the new build
            raise StoreDamaged(problem)
    indexing: Future[Path] | None = None
    try:
        if base is not None:
            _copy_store(base, partial)
        store = ox.Store(str(partial))
        graphs = compiled.graphs
        if base is None:
            # Graphs with blank nodes go in quad by quad, each step taking the GIL: first,
            # before the index thread holds it (behind it, the ontology's 1,232 triples
            # took ~1.3 s at 1M triples, with a core idle). A rebuild adds them once the
            # graphs they replace are removed, below.
            graphs = _extend_blank_node_graphs(store, graphs, into_default=True)
            # A full build's index is read from the graphs, not the store (see
            # search_index.write): it is written in a thread while the store loads, as
            # bulk_load parses and writes without holding the GIL.
            indexing = _INDEXER.submit(
                search_index.write, None, partial, None, list(compiled.graphs.values())
            )
        kept = len(list(store.named_graphs())) if base is not None else 0
        old: list[bytes] = []  # the triples of the graphs replaced or removed
        for iri in (*compiled.removed, *compiled.graphs):
            name = ox.NamedNode(str(iri))
            if base is not None and store.contains_named_graph(name):
                old.append(store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=name) or b"")
                store.remove_graph(name)
                kept -= 1
        if base is not None:
            graphs = _extend_blank_node_graphs(store, graphs, into_default=False)
        _bulk_load(store, graphs, into_default=base is None)
        if base is None:
            # bulk_load leaves table files as it wrote them; RocksDB's compaction rewrites
            # them with the store's own table options (filters, one sorted run per index).
            # At 1M triples it costs ~2.5 s and halves the time of joins, aggregates and
            # scans (bench/serve.py).
            store.optimize()
        else:
            _update_default(store, old, compiled.graphs)
        store.flush()
        del store  # closes the RocksDB handle (no cycles: no need for a costly gc.collect)
        if indexing is not None:
            indexing.result()  # raises what the index raised
        else:
            # An incremental build updates the index from the store, through a handle of
            # its own, read-only: a reference it kept in a cycle (recursive closures do)
            # would keep a writer open, and RocksDB could still change its files after
            # they are listed below.
            changed = [str(g) for g in (*compiled.removed, *compiled.graphs)]
            search_index.write(ox.Store.read_only(str(partial)), partial, changed)
        compiled.manifest.save(partial)
        _list_files(partial)
        partial.rename(target)
        _swap(root, target)
    except (OSError, RuntimeError) as exc:  # pyoxigraph: RuntimeError for "Corruption: ..."
        _settle(indexing)
        shutil.rmtree(partial, ignore_errors=True)
        damaged = store_damage(base, exc) if base is not None else None
        if damaged is not None:  # the copy of the current build is what failed
            raise damaged from None
        raise StoreError(f"could not write the store in {relative(builds)}: {exc}") from None
    except BaseException:
        _settle(indexing)  # the index must not write into a folder being removed
        raise
    _prune(builds, keep={target, current_build(root)})
    written = {str(iri): g.count for iri, g in compiled.graphs.items()}
    return BuildReport(target, written, tuple(map(str, compiled.removed)), kept, compiled.full)


#: Writes a full build's search index while the store loads (one build at a time: the lock).
_INDEXER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geokb-index")


def _settle(indexing: Future[Path] | None) -> None:
    """Wait for the index writer of a build that failed, whatever it raised: the build's
    own error is the one reported, and the partial folder is removed only once nothing
    writes into it."""
    if indexing is not None:
        indexing.cancel()
        with contextlib.suppress(BaseException):
            indexing.result()


#: Graphs are loaded in batches of about this many bytes of N-Triples.
BATCH_BYTES = 16 * 1024 * 1024


def _extend_blank_node_graphs(
    store: ox.Store, graphs: dict[URIRef, NTriples], into_default: bool
) -> dict[URIRef, NTriples]:
    """Add the graphs that hold blank nodes to their named graphs and, ``into_default``, to
    the default graph (``FACTS``); return the others, for :func:`_bulk_load`."""
    rest = {}
    for iri, graph in graphs.items():
        if b"_:" in graph.data:  # bulk_load renames blank nodes: builds would differ
            name = ox.NamedNode(str(iri))
            targets = (name, FACTS) if into_default else (name,)
            triples = graph.triples()
            store.bulk_extend(
                ox.Quad(t.subject, t.predicate, t.object, g) for t in triples for g in targets
            )
        else:
            rest[iri] = graph
    return rest


def _bulk_load(store: ox.Store, graphs: dict[URIRef, NTriples], into_default: bool) -> None:
    """Load graphs without blank nodes into their named graphs and, ``into_default``, into
    the default graph (``FACTS``)."""
    batches: list[list[tuple[URIRef, bytes]]] = [[]]
    size = 0
    for iri, graph in sorted(graphs.items(), key=lambda g: -len(g[1].data)):
        if size + len(graph.data) > BATCH_BYTES and batches[-1]:
            batches.append([])
            size = 0
        batches[-1].append((iri, graph.data))
        size += len(graph.data)
    # bulk_load parses without holding the GIL and each call writes its own table files:
    # two batches at a time keep both cores busy, and batches of several graphs make fewer,
    # larger files. At 1M triples: 4.6 s one graph at a time -> 3.2 s. The default graph
    # goes in the same loads: a key-value store holds a triple loaded twice once.
    with ThreadPoolExecutor(max_workers=min(2, available_cores())) as pool:
        done = [
            pool.submit(_load_batch, store, batch, into_default) for batch in batches if batch
        ]
        for future in done:
            future.result()  # raises what the load raised


def _load_batch(store: ox.Store, batch: list[tuple[URIRef, bytes]], into_default: bool) -> None:
    # N-Triples to N-Quads: each line ends in " .\n", which cannot occur inside a term
    # (N-Triples escapes line breaks in literals), so the graph goes before it. The lines
    # as they are, with no graph, are the default graph's.
    quads = b"".join(
        part
        for iri, data in batch
        for part in (
            data.replace(b" .\n", b" <%s> .\n" % str(iri).encode()),
            data if into_default else b"",
        )
    )
    store.bulk_load(quads, ox.RdfFormat.N_QUADS)


def _update_default(store: ox.Store, old: list[bytes], new: dict[URIRef, NTriples]) -> None:
    """Keep the default graph the union after a rebuild replaced or removed graphs (``old``:
    their triples as N-Triples): add what the new graphs say that the old did not, then
    remove what the old said that the new do not and no named graph still holds.

    The comparison is of N-Triples lines: a triple spelled two ways is only written or looked
    up needlessly, and the store decides. The additions are an ordinary transaction, not
    bulk_load: bulk_load would add a table file spanning every subject for a handful of new
    triples, and each join's index seeks would then read two files (joins ~40% slower after a
    one-line edit at 1M triples); a transaction's few keys go to a small file seeks pass by."""
    before = set(b"".join(old).splitlines())
    after = set(b"".join(graph.data for graph in new.values()).splitlines())
    added, gone = after - before, before - after
    added.discard(b"")
    gone.discard(b"")
    if added:
        store.extend(
            ox.Quad(q.subject, q.predicate, q.object, FACTS) for q in _parse_lines(added)
        )
    for quad in _parse_lines(gone):
        t = quad.triple
        holders = store.quads_for_pattern(t.subject, t.predicate, t.object, None)
        if not any(q.graph_name != FACTS for q in holders):
            store.remove(ox.Quad(t.subject, t.predicate, t.object, FACTS))


def _parse_lines(lines: set[bytes]) -> list[ox.Quad]:
    if not lines:
        return []
    data = b"\n".join(sorted(lines)) + b"\n"
    return list(ox.parse(data, format=ox.RdfFormat.N_TRIPLES))


def _copy_store(source: Path, target: Path) -> None:
    # RocksDB never changes a table file (*.sst) once written, so the copy can share them.
    def link_or_copy(src: str, dst: str) -> object:
        if src.endswith(".sst"):
            try:
                os.link(src, dst)
                return dst
            except OSError:
                pass
        return shutil.copy2(src, dst)

    # RocksDB's old info logs are not part of the data; copying them would grow each build.
    shutil.copytree(
        source, target, copy_function=link_or_copy, ignore=shutil.ignore_patterns("LOG.old.*")
    )


def _swap(root: Path, target: Path) -> None:
    tmp = root / f"current.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target.relative_to(root))
    os.replace(tmp, root / "current")  # atomic on POSIX


def _prune(builds: Path, keep: set[Path | None]) -> None:
    # Runs under the build lock, so any *.partial left is from a build that was killed.
    for path in builds.glob("*.partial"):
        shutil.rmtree(path, ignore_errors=True)
    done = sorted((p for p in builds.iterdir() if p.is_dir()), key=lambda p: p.name)
    old = [p for p in done if p.resolve() not in keep]
    # Keep the newest build before the current one: a running server may still read it.
    for path in old[: max(0, len(old) - (KEEP_BUILDS - 1))]:
        _remove_unleased(path)


def _remove_unleased(build: Path) -> None:
    """Delete a build folder unless a reader holds a lease on it (a later build will)."""
    try:
        fd = os.open(build, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # leased: a server may have handed it to a query worker
        # Deleted while locked, so a reader cannot take a lease half-way through.
        shutil.rmtree(build, ignore_errors=True)
    finally:
        os.close(fd)
