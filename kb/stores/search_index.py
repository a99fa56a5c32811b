"""The search index of a build: every entity's names and facet values in one SQLite file.

``write`` is called by the build (``kb.stores.local``) on the store it has just written (a
full build passes the N-Triples it loaded too, read instead of the store: much cheaper), and
puts ``search.sqlite`` in the build folder beside it; the server opens it read-only
(``api.lookup``). It holds, per entity (every record of every kind):

- ``entity``: IRI, kind, id, the label to show (English label first, else any label, a source's
  title, a label in another language; else the title its page has, composed from the record's
  fields by ``kb.model.titles``: "Iran administers Abu Musa since 1992", else its kind and
  id), its folded form (the order of lists) and a year (the order year of a transfer, the
  date of an event ...), for sorting;
- ``term``: every folded name (all labels in every language, ``skos:altLabel``, titles, the
  composed title, the id) and each of its word-starts ("russian federation", "federation"),
  for exact, prefix and word-prefix matching through one B-tree;
- ``names``: an FTS5 table with the trigram tokenizer over the entity's own names and id (not
  composed titles): substring matches, and candidates for typo-tolerant matching;
- ``facet``: (kind, field, value, entity) rows for the facets of ``FACETS``; ``facet_label``
  each value's label and count.

Folding (``fold``) removes case and accents, so matching ignores both. SQLite 3.40's trigram
tokenizer cannot remove diacritics itself: the text is folded before it is stored.

A full write at ~1M triples costs ~4.2 s of CPU alone (2026-11-25; 6.0-6.4 s before): about
half in Python (reading the N-Triples, facets, rows), half in SQLite (inserts, the indexes
built after them, the trigram index). Rows are built in one pass per entity and, where many
share a value, handed to SQLite as one JSON array (binding rows one by one costs ~7x
SQLite's own insert).
"""

from __future__ import annotations

import gc
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import pyoxigraph as ox

from kb.build.manifest import Manifest
from kb.build.manifest import load as load_manifest
from kb.model import schema, titles
from kb.model.rdf import NTriples

INDEX_NAME = "search.sqlite"
# PRAGMA user_version of the file: a reader refuses other formats (and computes an index
# afresh), a build rewrites them. 3: composed titles as the pages compose them (with dates).
FORMAT = 3
# PRAGMA application_id of a file whose term and names rows are numbered by entity: those of
# entity n are rowids n * _STRIDE to n * _STRIDE + _STRIDE - 1 (an update removes them by
# rowid range, not by a scan of both tables). Readers ignore it; a file without it is
# rewritten, not updated.
_LAYOUT = 0x67656B31
_REWRITE_MIN = 10_000  # records to update above which an update may be a rewrite instead
_TITLE_STEPS = 3  # how far, in references, a change can reach another record's title
_STRIDE = 1024  # > the terms of an entity: (MAX_NAMES + a composed title + its id) words
_BOUNDS = (_STRIDE, _STRIDE, _STRIDE - 1)
MAX_NAME_CHARS = 200  # characters kept of a name
MAX_NAMES = 16  # names kept per entity
MAX_TERM_WORDS = 12  # word-starts indexed per name

_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
_LABEL = ox.NamedNode(str(schema.LABEL.iri))
_TITLE = ox.NamedNode(str(schema.TITLE.iri))
_ALT_LABEL = ox.NamedNode("http://www.w3.org/2004/02/skos/core#altLabel")
_WORDS = re.compile(r"\w+")

#: Kinds in the order search results show them: states and disputes first, sources last.
KIND_ORDER = (
    "state",
    "dispute",
    "territory",
    "actor",
    "igo",
    "organization",
    "claim",
    "administration",
    "facility",
    "weapon",
    "event",
    "cooperation",
    "use",
    "transfer",
    "assertion",
    "source",
)
KIND_RANK = {name: n for n, name in enumerate(KIND_ORDER)}


def fold(text: str) -> str:
    """``text`` without case or accents, its runs of spaces made one ("Côte" -> "cote")."""
    if text.isascii():  # most names: nothing to decompose, and casefold is lower
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def word_starts(folded: str) -> list[str]:
    """``folded`` from each of its words on: "russian federation" -> [that, "federation"]."""
    if folded.isalnum():  # one word (str.isalnum is regex \w without "_")
        return [folded]
    return [
        folded,
        *(folded[m.start() :] for m in islice(_WORDS.finditer(folded), 1, MAX_TERM_WORDS)),
    ]


@dataclass(frozen=True)
class Facet:
    """A facet of a kind's list: URL parameter ``name``, shown as ``label``; its values are
    those of the field ``path[0]`` of the record (``path[1]`` then reads a field of what
    that refers to: a transfer's weapon systems' category); ``year``: the year of a date."""

    name: str
    label: str
    path: tuple[str, ...]
    year: bool = False
    fallback: tuple[str, ...] = ()  # the path read when ``path`` gives no value


def _facts(*extra: Facet) -> tuple[Facet, ...]:
    return (
        *extra,
        Facet("status", "fact status", ("status",)),
        Facet("confidence", "confidence", ("confidence",)),
    )


#: The facets of each kind's list, in the order shown. The states and disputes of the data
#: carry no region, so no region facet: one would need a region field in the model.
FACETS: dict[str, tuple[Facet, ...]] = {
    "transfer": _facts(
        Facet("supplier", "supplier", ("supplier",)),
        Facet("recipient", "recipient", ("recipient",)),
        Facet("category", "weapon category", ("weapon_systems", "category")),
        Facet("weapon", "weapon system", ("weapon_systems",)),
        Facet(
            "year",
            "year",  # ordered, else first delivered
            ("order_date",),
            True,
            ("delivery_start_date",),
        ),
        Facet("transfer_status", "transfer status", ("transfer_status",)),
    ),
    "dispute": _facts(
        Facet("claimant", "claimant", ("claimants",)),
        Facet("administrator", "administered by", ("administered_by",)),
        Facet("territory_type", "territory type", ("territories", "type")),
        Facet("year", "start year", ("start_date",), year=True),
    ),
    "state": (Facet("un_membership", "UN membership", ("un_membership",)),),
    "actor": (Facet("actor_type", "actor type", ("actor_type",)),),
    "territory": (
        Facet("type", "territory type", ("type",)),
        Facet("part_of", "part of", ("part_of",)),
    ),
    "organization": (Facet("country", "country", ("country",)),),
    "weapon": (
        Facet("category", "category", ("category",)),
        Facet("developer", "developed by", ("developed_by",)),
    ),
    "facility": (Facet("located_in", "located in", ("located_in",)),),
    "event": _facts(
        Facet("type", "event type", ("event_type",)),
        Facet("actor", "actor", ("actors",)),
        Facet("target", "target", ("targets",)),
        Facet("year", "year", ("date",), year=True),
    ),
    "cooperation": _facts(
        Facet("type", "cooperation type", ("cooperation_type",)),
        Facet("provider", "provider", ("providers",)),
        Facet("beneficiary", "beneficiary", ("beneficiaries",)),
        Facet("year", "start year", ("start_date",), year=True),
    ),
    "use": _facts(
        Facet("user", "user", ("user",)),
        Facet("weapon", "weapon system", ("weapon_systems",)),
        Facet("year", "start year", ("start_date",), year=True),
    ),
    "claim": _facts(
        Facet("claimant", "claimant", ("claimant",)),
        Facet("dispute", "dispute", ("dispute",)),
    ),
    "administration": _facts(
        Facet("administrator", "administered by", ("administered_by",)),
        Facet("territory", "territory", ("territory",)),
        Facet("year", "start year", ("start_date",), year=True),
    ),
    "assertion": _facts(
        Facet("stance", "stance", ("stance",)),
        Facet("asserted_by", "asserted by", ("asserted_by",)),
    ),
    "source": (
        Facet("publisher", "publisher", ("publisher",)),
        Facet("year", "year issued", ("issued",), year=True),
        Facet("type", "source type", ("type",)),
    ),
}


def year_facet(kind: str) -> Facet | None:
    """The facet giving the year a record of ``kind`` sorts by, if it has one."""
    return next((f for f in FACETS.get(kind, ()) if f.year), None)


# A fresh file, renamed into place only once complete: no journal, no syncs. (A larger page
# cache and temp_store=MEMORY for the sorts of the indexes built afterwards, and pages of 8 or
# 16 KiB, measured no faster at 1M triples.) names keeps no sizes of its rows (columnsize=0):
# only bm25 reads them, and the search does not rank by it; ~20% of the names' insert time.
_FRESH = "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
_SCHEMA = """
CREATE TABLE entity(
    n INTEGER PRIMARY KEY, iri TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
    label TEXT NOT NULL, sort_key TEXT NOT NULL, kind_rank INTEGER NOT NULL, year INTEGER);
CREATE TABLE term(text TEXT NOT NULL, entity INTEGER NOT NULL, pos INTEGER NOT NULL,
    kind_rank INTEGER NOT NULL);
CREATE TABLE facet(kind TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    entity INTEGER NOT NULL);
CREATE VIRTUAL TABLE names USING fts5(name, entity UNINDEXED, tokenize='trigram',
    columnsize=0);
CREATE TABLE facet_label(kind TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
    label TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, field, value)) WITHOUT ROWID;
"""
# Built after the rows are in. term_rank serves search: per (word-start or not, kind), the
# names in order from a prefix on, read only as far as needed. facet_label holds each facet
# value's label and its count over all of its kind (the facets of an unfiltered list);
# kinds, the count of each kind; gram, how many names each trigram is in (close-spelling
# search uses only the rarer ones: a common trigram would make it score half the index).
_INDEXES = """
CREATE UNIQUE INDEX entity_kind_id ON entity(kind, id);
CREATE INDEX entity_kind_label ON entity(kind, sort_key, id);
CREATE INDEX entity_kind_year ON entity(kind, year, sort_key, id);
CREATE INDEX term_text ON term(text, entity);
CREATE INDEX term_rank ON term(pos, kind_rank, text, entity);
CREATE INDEX facet_value ON facet(kind, field, value, entity);
CREATE INDEX facet_entity ON facet(entity, field, value);
CREATE INDEX facet_label_n ON facet_label(kind, field, n DESC, label);
CREATE TABLE kinds(kind TEXT PRIMARY KEY, n INTEGER NOT NULL, rank INTEGER NOT NULL);
CREATE VIRTUAL TABLE temp.names_vocab USING fts5vocab(main, names, row);
CREATE TABLE gram(gram TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO gram SELECT term, doc FROM temp.names_vocab;
"""


@dataclass(slots=True)
class _Entity:
    kind: str
    id: str
    names: dict[str, int]  # name -> priority (lowest is shown)
    own: set[str]  # names of its own (not composed)


def write(
    store: ox.Store | None,
    folder: Path,
    changed: Sequence[str] | None = None,
    graphs: Iterable[NTriples] | None = None,
) -> Path:
    """Write the search index of ``store`` into ``folder``; its path.

    ``changed``: for an incremental build, the IRIs of the graphs it replaced or removed.
    The index copied into ``folder`` with the previous build's store is then updated for
    the records those graphs held and the records that refer to them (up to three steps
    away: an assertion about a claim that names no territory is titled by the claim's
    dispute's territories), instead of written anew: only the rows
    that differ are written (``_update``), unless that reaches most records.

    ``graphs``: every graph of a full build (``changed`` None) as the build loaded it. The
    index then reads their N-Triples instead of the store: reading a triple back from
    RocksDB costs ~8 µs at 1M triples (its IRIs and literals are looked up by hash), which
    was half of the index's time. ``store`` may then be None: nothing is read from it, so
    the build can write the index in a thread while its store loads."""
    if store is None:
        if graphs is None or changed is not None:
            raise ValueError("only a full build's index can be written without its store")
        store = ox.Store()  # empty, in memory: the graphs answer every read
    # Millions of small tuples and no reference cycles: the collector's passes over them cost
    # ~1 s of 7.5 at 1M triples, for nothing to collect.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _write(store, folder, changed, graphs)
    finally:
        if collecting:
            gc.enable()


def _write(
    store: ox.Store,
    folder: Path,
    changed: Sequence[str] | None,
    graphs: Iterable[NTriples] | None,
) -> Path:
    path = folder / INDEX_NAME
    graph = _graph(store)
    if changed is not None and _format(path) == (FORMAT, _LAYOUT):
        previous = load_manifest(folder)  # the previous build's, copied with its store
        if previous is not None and _update(store, graph, path, previous, changed):
            return path
    read = _parse(graphs) if graphs is not None and changed is None else None
    entities = _entities(store, graph, read=read)
    objects = _Objects(store, graph, read=read)
    _compose_titles(objects, entities)  # before the facets: their values' labels use them
    numbers = list(enumerate(entities, 1))
    facets, labels, groups = _facet_rows(objects, entities, numbers)
    del objects  # (holds the store)
    tmp = folder / (INDEX_NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    try:
        db.executescript(_FRESH + _SCHEMA)
        _fill(db, _rows(entities, facets, numbers, groups))
        db.executescript(_INDEXES)
        _update_kinds(db, Counter(e.kind for e in entities.values()))
        _facet_labels(db, labels)
        db.execute("INSERT INTO names(names) VALUES ('optimize')")
        db.execute(f"PRAGMA user_version = {FORMAT}")
        db.execute(f"PRAGMA application_id = {_LAYOUT}")
        db.commit()
    finally:
        db.close()
    tmp.replace(path)
    return path


def _format(path: Path) -> tuple[int, int] | None:
    """The format and layout of the index at ``path``, or None if there is none."""
    if not path.is_file():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        layout: int = db.execute("PRAGMA application_id").fetchone()[0]
        return version, layout
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()


def _update(
    store: ox.Store,
    graph: ox.DefaultGraph | None,
    path: Path,
    previous: Manifest,
    changed: Sequence[str],
) -> bool:
    """Update the index at ``path`` for the graphs ``changed`` since ``previous``: the rows
    of the records they held or hold and of the records that refer to them are computed
    anew, and only those that differ from the rows held are written (an entity keeps its
    number). Most of an update's cost was writing pages all over the file's indexes.

    False, the index untouched, when the records to update are more than ``_REWRITE_MIN``
    and a third of those held (a change to the states reaches nearly every record two steps
    away): reading each from the store costs ~2x a whole rewrite then."""
    graphs = set(changed)
    touched = {
        schema.ID_BASE + key
        for entry in previous.files.values()
        if entry.graph in graphs
        for key in entry.ids
    }
    for name in graphs:
        for quad in store.quads_for_pattern(None, _RDF_TYPE, None, ox.NamedNode(name)):
            if isinstance(quad.subject, ox.NamedNode) and _entity_kind(quad.subject.value):
                touched.add(quad.subject.value)
    affected, frontier = set(touched), touched
    # The records that refer to them, those that refer to these, and one step more: a title
    # reads the records its record refers to, and theirs (titles.MAX_DEPTH = 2), and a claim
    # naming no territory reads its dispute's, so a territory renamed reaches the title of
    # an assertion about such a claim in three steps.
    for _ in range(_TITLE_STEPS):
        found = {
            q.subject.value
            for iri in frontier
            for q in store.quads_for_pattern(None, None, ox.NamedNode(iri), graph)
            if isinstance(q.subject, ox.NamedNode)
            and q.subject.value not in affected
            and _entity_kind(q.subject.value)
        }
        affected |= found
        frontier = found
    db = sqlite3.connect(path)
    try:
        held_count = db.execute("SELECT sum(n) FROM kinds").fetchone()[0] or 0
        if len(affected) > _REWRITE_MIN and 3 * len(affected) > held_count:
            return False
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        db.execute("CREATE TEMP TABLE affected(kind TEXT, id TEXT)")
        db.executemany(
            "INSERT INTO temp.affected VALUES (?, ?)",
            (k for k in (_entity_kind(iri) for iri in affected) if k is not None),
        )
        old_entity = db.execute(
            """SELECT e.* FROM temp.affected a CROSS JOIN entity e
               ON e.kind = a.kind AND e.id = a.id"""
        ).fetchall()
        held = {row[1]: row[0] for row in old_entity}  # IRI -> number
        numbered = set(held.values())
        old = _held_rows(db, sorted(numbered))
        read, triples = _by_subject(store, graph, sorted(affected))
        fresh = _entities(store, graph, read=read)
        known = _Known(fresh, db)
        objects = _Objects(store, graph, per_subject=True, triples=triples)
        first = (db.execute("SELECT max(n) FROM entity").fetchone()[0] or 0) + 1
        numbers: list[tuple[int, str]] = []
        for iri in fresh:
            n = held.get(iri)
            if n is None:
                n, first = first, first + 1
            numbers.append((n, iri))
        _compose_titles(objects, known, only=list(fresh))
        facets, labels, groups = _facet_rows(objects, known, numbers)
        del objects  # (holds the store)
        new = _rows(known, facets, numbers, groups)
        counts, removed, added = _apply(db, old, new)
        _update_facet_labels(db, labels, counts)
        kinds: Counter[str] = Counter(row[2] for row in new.entity if row[0] not in numbered)
        kinds.subtract(row[2] for row in old_entity if row[1] not in fresh)
        _update_kinds(db, kinds)
        _update_grams(db, removed, added)
        db.commit()
    finally:
        db.close()
    return True


def _held_rows(db: sqlite3.Connection, numbers: list[int]) -> _Rows:
    """The rows the index holds for the entities ``numbers``."""
    listed = json.dumps(numbers)
    # each entity's term and names rows by their rowid range (see _LAYOUT), in one query
    ranges = "json_each(?) j CROSS JOIN {} ON {}.rowid BETWEEN j.value * {} AND j.value * {} + {}"
    entity = db.execute(
        "SELECT * FROM entity WHERE n IN (SELECT value FROM json_each(?))", (listed,)
    ).fetchall()
    kinds = {row[0]: row[2] for row in entity}
    facet: dict[FacetKey, list[int]] = {}
    # (the kind from the entity: the rest from the facet_entity index alone, not the rows)
    for n, field, value in db.execute(
        "SELECT entity, field, value FROM facet WHERE entity IN (SELECT value FROM json_each(?))",
        (listed,),
    ):
        facet.setdefault((kinds[n], field, value), []).append(n)
    return _Rows(
        entity,
        db.execute(
            "SELECT t.rowid, t.* FROM " + ranges.format("term t", "t", *_BOUNDS), (listed,)
        ).fetchall(),
        db.execute(
            "SELECT m.rowid, m.name, m.entity FROM " + ranges.format("names m", "m", *_BOUNDS),
            (listed,),
        ).fetchall(),
        facet,
    )


def _apply(
    db: sqlite3.Connection, old: _Rows, new: _Rows
) -> tuple[Counter[FacetKey], list[str], list[str]]:
    """Write ``new`` over ``old`` (the rows held for the same entities, and those of
    entities gone): only the rows that differ. The change of each facet value's count, and
    the names removed from and added to the names table."""
    entity_new = {row[0]: row for row in new.entity}
    entity_old = {row[0]: row for row in old.entity}
    db.executemany(
        "DELETE FROM entity WHERE n = ?", ((n,) for n in entity_old.keys() - entity_new.keys())
    )
    db.executemany(
        "INSERT OR REPLACE INTO entity VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (row for n, row in entity_new.items() if entity_old.get(n) != row),
    )
    term_old, term_new = set(old.term), set(new.term)
    db.executemany("DELETE FROM term WHERE rowid = ?", ((r[0],) for r in term_old - term_new))
    db.executemany(
        "INSERT INTO term(rowid, text, entity, pos, kind_rank) VALUES (?, ?, ?, ?, ?)",
        term_new - term_old,
    )
    names_old, names_new = set(old.names), set(new.names)
    gone_names, new_names = names_old - names_new, names_new - names_old
    db.executemany("DELETE FROM names WHERE rowid = ?", ((r[0],) for r in gone_names))
    db.executemany("INSERT INTO names(rowid, name, entity) VALUES (?, ?, ?)", new_names)
    facet_old = {(*key, n) for key, numbers in old.facet.items() for n in numbers}
    facet_new = {(*key, n) for key, numbers in new.facet.items() for n in numbers}
    gone_facets, new_facets = facet_old - facet_new, facet_new - facet_old
    db.executemany(
        "DELETE FROM facet WHERE entity = ?4 AND field = ?2 AND value = ?3 AND kind = ?1",
        gone_facets,
    )
    db.executemany("INSERT INTO facet VALUES (?, ?, ?, ?)", new_facets)
    counts: Counter[FacetKey] = Counter(row[:3] for row in new_facets)
    counts.subtract(row[:3] for row in gone_facets)
    return counts, [r[1] for r in gone_names], [r[1] for r in new_names]


def _update_facet_labels(
    db: sqlite3.Connection, labels: dict[FacetKey, str], counts: Counter[FacetKey]
) -> None:
    """Apply to facet_label the change of each value's count (``counts``) and the labels of
    the values of the rows written (``labels``): as ``_facet_labels`` would rewrite it."""
    db.executemany(
        """INSERT INTO facet_label VALUES (?1, ?2, ?3, coalesce(?4, ?3), ?5)
           ON CONFLICT (kind, field, value)
           DO UPDATE SET n = n + ?5, label = coalesce(?4, label)""",
        (
            (*key, labels.get(key), counts.get(key, 0))
            for key in {*labels, *(k for k, n in counts.items() if n)}
        ),
    )
    db.execute("DELETE FROM facet_label WHERE n <= 0")


def _update_grams(db: sqlite3.Connection, removed: list[str], added: list[str]) -> None:
    """Apply to gram the names ``removed`` from and ``added`` to the names table: each
    trigram's count of names changes by how many of those hold it, as the table's own
    tokenizer finds them (in a small table of each; recounting the whole table read every
    name's trigrams: ~50 ms at 1M triples)."""
    change: Counter[str] = Counter()
    for sign, texts in ((-1, removed), (1, added)):
        table = "gone_names" if sign < 0 else "new_names"
        db.execute(f"CREATE VIRTUAL TABLE temp.{table} USING fts5(name, tokenize='trigram')")
        db.execute(f"CREATE VIRTUAL TABLE temp.{table}_vocab USING fts5vocab(temp, {table}, row)")
        db.executemany(f"INSERT INTO temp.{table} VALUES (?)", ((t,) for t in texts))
        for gram, docs in db.execute(f"SELECT term, doc FROM temp.{table}_vocab"):
            change[gram] += sign * docs
    db.executemany(
        """INSERT INTO gram VALUES (?1, ?2) ON CONFLICT (gram) DO UPDATE SET docs = docs + ?2""",
        ((gram, n) for gram, n in change.items() if n),
    )
    db.execute("DELETE FROM gram WHERE docs <= 0")


def _update_kinds(db: sqlite3.Connection, change: Counter[str]) -> None:
    """Apply to kinds the change of each kind's count."""
    for kind, delta in change.items():
        if not delta:
            continue
        row = db.execute("SELECT n FROM kinds WHERE kind = ?", (kind,)).fetchone()
        n = (row[0] if row else 0) + delta
        if n <= 0:
            db.execute("DELETE FROM kinds WHERE kind = ?", (kind,))
        else:
            rank = KIND_RANK.get(kind, 99)
            db.execute("INSERT OR REPLACE INTO kinds VALUES (?, ?, ?)", (kind, n, rank))


def _graph(store: ox.Store) -> ox.DefaultGraph | None:
    """Where to read each triple once: the default graph when the build wrote the union of
    its graphs there (reading one graph is ~9x faster per triple than reading across all of
    them at 1M triples), else None: every graph (triples in several are then read again)."""
    found = next(store.quads_for_pattern(None, None, None, ox.DefaultGraph()), None)
    return ox.DefaultGraph() if found is not None else None


def _entity_kind(iri: str) -> tuple[str, str] | None:
    if "#" in iri or not iri.startswith(schema.ID_BASE):  # "#": a fact's citation node
        return None
    kind, _, record_id = iri[len(schema.ID_BASE) :].partition("/")
    if not record_id or "/" in record_id or kind not in schema.KINDS_BY_NAME:
        return None
    return kind, record_id


def _entities(
    store: ox.Store, graph: ox.DefaultGraph | None, read: _Read | None = None
) -> dict[str, _Entity]:
    """The entities of ``store`` (those ``read`` holds, if given) with their own names
    (labels, titles, alternative names)."""
    entities: dict[str, _Entity] = {}
    typed: Iterable[str]
    if read is not None:
        typed = read.typed
    else:
        typed = (
            q.subject.value
            for q in store.quads_for_pattern(None, _RDF_TYPE, None, graph)
            if isinstance(q.subject, ox.NamedNode)
        )
    for subject in typed:
        if subject not in entities:
            found = _entity_kind(subject)
            if found is not None:
                entities[subject] = _Entity(found[0], found[1], {}, set())
    for predicate in (_LABEL, _TITLE, _ALT_LABEL):
        rows: Iterable[Sequence[str]]
        if read is not None:
            rows = read.names.get(predicate.value, [])
        else:
            rows = (
                (q.subject.value, q.object.value, q.object.language or "")
                for q in store.quads_for_pattern(None, predicate, None, graph)
                if isinstance(q.subject, ox.NamedNode) and isinstance(q.object, ox.Literal)
            )
        # ranked as the pages rank them (kb.model.titles): an English label first ...; the
        # alternative names last, after a composed title
        ranks = titles.NAME_RANKS.items()
        priorities = {lang: rank for (p, lang), rank in ranks if p == predicate.value}
        other = titles.OTHER_LANGUAGE.get(predicate.value, _ALTERNATIVE)
        for subject, value, language in rows:
            entity = entities.get(subject)
            if entity is None:
                continue
            text = " ".join(value.split())[:MAX_NAME_CHARS]
            if not text or (len(entity.names) >= MAX_NAMES and text not in entity.names):
                continue
            priority = priorities.get(language, other)
            entity.names[text] = min(priority, entity.names.get(text, priority))
            entity.own.add(text)
    return entities


def _choice_labels() -> dict[str, str]:
    """The label of every option of every Choice of the model, by its IRI."""
    out: dict[str, str] = {}
    for prop in schema.properties():
        if isinstance(prop.range, schema.Choice):
            for option in prop.range.options:
                out[str(schema.GK[option.local])] = option.label
    return out


Node = tuple[str, bool]  # an object of a triple: its IRI or lexical form, and whether an IRI


def _objects(
    store: ox.Store, predicate: str, graph: ox.DefaultGraph | None
) -> dict[str, list[Node]]:
    """The objects of every ``predicate`` triple, by subject IRI (each once)."""
    out: dict[str, list[Node]] = {}
    for quad in store.quads_for_pattern(None, ox.NamedNode(predicate), None, graph):
        obj = quad.object
        if isinstance(quad.subject, ox.NamedNode) and isinstance(obj, ox.NamedNode | ox.Literal):
            node = (obj.value, isinstance(obj, ox.NamedNode))
            mine = out.setdefault(quad.subject.value, [])
            if node not in mine:
                mine.append(node)
    return out


@dataclass
class _Read:
    """The triples the index reads, parsed from a build's N-Triples (each once)."""

    typed: dict[str, None]  # the IRIs with an rdf:type, in order
    names: dict[str, list[tuple[str, str, str]]]  # name predicate -> (subject, text, language)
    objects: dict[str, dict[str, list[Node]]]  # field predicate -> subject -> its objects


def _by_subject(
    store: ox.Store, graph: ox.DefaultGraph | None, iris: Iterable[str]
) -> tuple[_Read, dict[str, dict[str, list[Node]]]]:
    """The typed subjects and names among ``iris``, and the objects of each, by predicate:
    every triple of each read in one call (a call per predicate cost ~3x as much)."""
    read = _Read({}, {p.value: [] for p in (_LABEL, _TITLE, _ALT_LABEL)}, {})
    return read, {iri: _subject_triples(store, graph, iri, read) for iri in iris}


def _subject_triples(
    store: ox.Store, graph: ox.DefaultGraph | None, iri: str, read: _Read | None = None
) -> dict[str, list[Node]]:
    """The objects of ``iri``'s triples by predicate (each once); its type and names noted
    in ``read``, if given."""
    out: dict[str, list[Node]] = {}
    for quad in store.quads_for_pattern(ox.NamedNode(iri), None, None, graph):
        predicate, obj = quad.predicate.value, quad.object
        if read is not None and predicate == _RDF_TYPE.value:
            read.typed[iri] = None
        if isinstance(obj, ox.Literal):
            node = (obj.value, False)
            said = read.names.get(predicate) if read is not None else None
            if said is not None:
                said.append((iri, obj.value, obj.language or ""))
        elif isinstance(obj, ox.NamedNode):
            node = (obj.value, True)
        else:
            continue
        nodes = out.setdefault(predicate, [])
        if node not in nodes:
            nodes.append(node)
    return out


def _subject_objects(
    store: ox.Store, graph: ox.DefaultGraph | None, iri: str, predicate: str
) -> list[Node]:
    """The objects of ``iri``'s ``predicate`` triples (each once)."""
    out: list[Node] = []
    for quad in store.quads_for_pattern(ox.NamedNode(iri), ox.NamedNode(predicate), None, graph):
        obj = quad.object
        if isinstance(obj, ox.NamedNode | ox.Literal):
            node = (obj.value, isinstance(obj, ox.NamedNode))
            if node not in out:
                out.append(node)
    return out


def _field_predicates() -> set[str]:
    """The predicates of every field a facet or a composed title reads."""
    keys = {k for facets in FACETS.values() for f in facets for k in (*f.path, *f.fallback)}
    keys |= {key for read in titles.KEYS.values() for key in read}  # what composed titles read
    return {
        str(field.prop.iri)
        for kind in schema.KINDS_BY_NAME.values()
        for key in keys
        if (field := kind.field(key)) is not None
    }


_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPED = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(text: str) -> str:
    """An N-Triples string's escapes (``\\n``, ``\\"``, ``\\u00e9`` ...) undone."""
    return _ESCAPE.sub(
        lambda m: _ESCAPED[m[0][1]] if len(m[0]) == 2 else chr(int(m[0][2:], 16)), text
    )


def _parse(documents: Iterable[NTriples]) -> _Read:
    """The typed subjects, names and field values of ``documents`` (N-Triples as pyoxigraph
    writes it: one triple a line, terms one space apart, ending in " .")."""
    read = _Read({}, {p.value: [] for p in (_LABEL, _TITLE, _ALT_LABEL)}, {})
    for predicate in _field_predicates():
        read.objects[predicate] = {}
    rdf_type = f"<{_RDF_TYPE.value}>"
    # one lookup a line: what a predicate's triples feed (its field values, its names)
    wanted: dict[str, tuple[dict[str, list[Node]] | None, list[tuple[str, str, str]] | None]]
    wanted = {f"<{p}>": (found, None) for p, found in read.objects.items()}
    for p, rows in read.names.items():
        wanted[f"<{p}>"] = (read.objects.get(p), rows)
    typed = read.typed
    for document in documents:
        for line in document.data.decode("utf-8").split("\n"):
            if line[:1] != "<":  # a blank line, or a blank node's triple
                continue
            subject, predicate, term = line.split(" ", 2)  # term ends in " ."
            if predicate == rdf_type:
                typed[subject[1:-1]] = None
                continue
            want = wanted.get(predicate)
            if want is None:
                continue
            found, said = want
            subject = subject[1:-1]
            first = term[0]
            if first == "<":
                node = (term[1:-3], True)
            elif first == '"':
                end = term.rindex('"')
                value = term[1:end]
                if "\\" in value:
                    value = _unescape(value)
                node = (value, False)
                if said is not None:
                    language = term[end + 2 : -2] if term[end + 1 : end + 2] == "@" else ""
                    said.append((subject, value, language))
            else:  # a blank node
                continue
            if found is not None:
                mine = found.get(subject)
                if mine is None:
                    found[subject] = [node]
                elif node not in mine:
                    mine.append(node)
    return read


FacetValues = dict[str, dict[str, list[tuple[str, str]]]]  # IRI -> facet -> [(value, label)]
FacetKey = tuple[str, str, str]  # (kind, facet, value)
Getter = Callable[[str], "list[Node] | None"]  # a field's objects of a record, by its IRI


class _Objects:
    """The objects of a record's field, each predicate read from the store once, on demand.

    (Functions at module level, not closures: a closure cycle holding the store would keep
    RocksDB open past ``write_build``'s ``del store``, and its later close would change the
    store's files after they were listed.)"""

    def __init__(
        self,
        store: ox.Store,
        graph: ox.DefaultGraph | None,
        per_subject: bool = False,
        read: _Read | None = None,
        triples: dict[str, dict[str, list[Node]]] | None = None,
    ) -> None:
        self.store = store
        self.graph = graph
        self.per_subject = per_subject  # read each record's triples, not each predicate's
        self.triples = triples if triples is not None else {}  # IRI -> predicate -> objects
        self.read: dict[str, dict[str, list[Node]]] = dict(read.objects) if read else {}
        self.fields: dict[tuple[str, str], dict[str, list[Node]]] = {}
        self.others: dict[tuple[str, str], list[Node]] = {}  # (IRI, predicate) -> objects

    def of(self, kind: str, key: str, iri: str) -> list[Node]:
        """The objects of field ``key`` of the ``kind`` record ``iri``."""
        if self.per_subject:
            field = schema.KINDS_BY_NAME[kind].field(key)
            if field is None:
                return []
            predicate = str(field.prop.iri)
            mine = self.triples.get(iri)
            if mine is not None:
                return mine.get(predicate, [])
            # a record not read whole (a transfer's weapon, for its category): the one field
            found = self.others.get((iri, predicate))
            if found is None:
                found = self.others[(iri, predicate)] = _subject_objects(
                    self.store, self.graph, iri, predicate
                )
            return found
        return self._field(kind, key).get(iri, [])

    def getter(self, kind: str, key: str) -> Getter:
        """``of`` for field ``key`` of ``kind`` records, given the IRI; None: no objects."""
        if self.per_subject:
            return partial(self.of, kind, key)
        return self._field(kind, key).get

    def _field(self, kind: str, key: str) -> dict[str, list[Node]]:
        """The objects of field ``key`` of ``kind`` records, by subject."""
        found = self.fields.get((kind, key))
        if found is None:
            field = schema.KINDS_BY_NAME[kind].field(key)
            predicate = str(field.prop.iri) if field is not None else ""
            if predicate and predicate not in self.read:
                self.read[predicate] = _objects(self.store, predicate, self.graph)
            found = self.fields[(kind, key)] = self.read.get(predicate, {})
        return found


def _follow(
    objects: _Objects, entities: dict[str, _Entity], kind: str, iri: str, path: tuple[str, ...]
) -> list[Node]:
    """The values at the end of ``path`` (field keys, hop by hop) from record ``iri``."""
    nodes = objects.of(kind, path[0], iri)
    if len(path) == 1:
        return nodes
    further: list[Node] = []
    for node in nodes:
        target = entities.get(node[0]) if node[1] else None
        if target is not None:
            further += _follow(objects, entities, target.kind, node[0], path[1:])
    return further


def _labelled(
    node: Node,
    year: bool,
    shown: _Shown,
    choices: dict[str, str],
) -> tuple[str, str] | None:
    """A facet value and its label: an entity's id path and name, an option and its label."""
    iri, is_iri = node
    if not is_iri:
        text = iri[:4] if year else " ".join(iri.split())[:MAX_NAME_CHARS]
        return (text, text) if text else None
    name = shown.get(iri)
    if name is not None:
        return iri[len(schema.ID_BASE) :], name
    if iri in choices:
        return iri.rsplit("#", 1)[-1], choices[iri]
    return iri, iri


class _Shown:
    """The name each entity is shown by, computed once."""

    def __init__(self, entities: dict[str, _Entity]) -> None:
        self.entities = entities
        self.names: dict[str, str] = {}

    def get(self, iri: str) -> str | None:
        name = self.names.get(iri)
        if name is None:
            entity = self.entities.get(iri)
            if entity is None:
                return None
            name = self.names[iri] = shown_name(entity)
        return name


class _Known(dict[str, _Entity]):
    """Entities by IRI; one missing is looked up in an index (an incremental update: its
    names did not change, so the label the index holds is its name)."""

    def __init__(self, entities: dict[str, _Entity], db: sqlite3.Connection) -> None:
        super().__init__(entities)
        self.db = db
        self.missing: set[str] = set()

    def get(self, iri: str, default: object = None) -> _Entity | None:  # type: ignore[override]
        found = super().get(iri)
        if found is None and iri not in self.missing:
            key = _entity_kind(iri)
            row = None
            if key is not None:
                row = self.db.execute(
                    "SELECT label FROM entity WHERE kind = ? AND id = ?", key
                ).fetchone()
            if row is None:
                self.missing.add(iri)  # not an entity (an option of a Choice, say)
                return None
            found = self[iri] = _Entity(key[0], key[1], {row[0]: 0}, set())  # type: ignore[index]
        return found


def _facet_rows(
    objects: _Objects, entities: dict[str, _Entity], numbers: Sequence[tuple[int, str]]
) -> tuple[FacetValues, dict[FacetKey, str], dict[FacetKey, list[int]]]:
    """The facet values (value, label) of the entities ``numbers`` gives (number, IRI), by
    facet name (``entities`` may name others: those the index holds, by their labels); the
    label of each value found; the entities (numbers) of each value."""
    choices = _choice_labels()
    shown = _Shown(entities)
    plans: dict[str, list[_Plan]] = {}
    labels: dict[FacetKey, str] = {}
    out: FacetValues = {}
    for n, iri in numbers:
        kind = entities[iri].kind
        plan = plans.get(kind)
        if plan is None:
            plan = plans[kind] = [
                _Plan(f, objects.getter(kind, f.path[0])) for f in FACETS.get(kind, ())
            ]
        mine: dict[str, list[tuple[str, str]]] = {}
        for step in plan:
            nodes = step.get(iri)
            if nodes and step.further:
                nodes = step.follow(objects, entities, nodes)
            facet = step.facet
            if not nodes:
                if not facet.fallback:
                    continue
                nodes = _follow(objects, entities, kind, iri, facet.fallback)
            met = step.met
            if len(nodes) == 1:  # most fields: one value, met before
                node = nodes[0]
                if node in met:
                    found = met[node]
                    if found is not None:
                        mine[facet.name] = [found]
                        step.numbers[found[0]].append(n)
                    continue
            values: list[tuple[str, str]] = []
            for node in nodes:
                if node in met:
                    found = met[node]
                else:
                    found = met[node] = _labelled(node, facet.year, shown, choices)
                    if found is not None:
                        labels[(kind, facet.name, found[0])] = found[1]
                if found is not None and found not in values:
                    values.append(found)
                    held = step.numbers.get(found[0])
                    if held is None:
                        step.numbers[found[0]] = [n]
                    else:
                        held.append(n)
            if values:
                mine[facet.name] = values
        if mine:
            out[iri] = mine
    groups = {
        (kind, step.facet.name, value): held
        for kind, plan in plans.items()
        for step in plan
        for value, held in step.numbers.items()
    }
    return out, labels, groups


class _Plan:
    """How a facet of a kind reads its values: the first step of its path (``get``), the
    rest of it from there (``further``, followed once per node met), and the value of each
    node met (the same states, options and years recur across tens of thousands of records)."""

    def __init__(self, facet: Facet, get: Getter) -> None:
        self.facet = facet
        self.get = get
        self.further = facet.path[1:]
        self.met: dict[Node, tuple[str, str] | None] = {}
        self.reached: dict[Node, list[Node]] = {}
        self.numbers: dict[str, list[int]] = {}  # the entities of each value

    def follow(
        self, objects: _Objects, entities: dict[str, _Entity], nodes: list[Node]
    ) -> list[Node]:
        """The values at the end of the path from ``nodes``, the values of its first step."""
        out: list[Node] = []
        for node in nodes:
            found = self.reached.get(node)
            if found is None:
                target = entities.get(node[0]) if node[1] else None
                found = self.reached[node] = (
                    _follow(objects, entities, target.kind, node[0], self.further)
                    if target is not None
                    else []
                )
            out += found
        return out


def shown_name(entity: _Entity) -> str:
    """The name an entity is shown by: its best-ranked name, else its id."""
    names = entity.names
    if len(names) < 2:  # most records: a single label
        return next(iter(names)) if names else entity.id
    return min(names, key=lambda t: (names[t], t))


_COMPOSED = titles.UNNAMED  # the rank of a composed title among an entity's names
_ALTERNATIVE = _COMPOSED + 1  # an alternative name's


def _own_name(entity: _Entity) -> str:
    """The name an entity has of its own, as its page shows it (a label or title, not an
    alternative name nor a composed title); '' if none."""
    own = [(rank, text) for text, rank in entity.names.items() if rank < _COMPOSED]
    return min(own)[1] if own else ""


def _compose_titles(
    objects: _Objects, entities: dict[str, _Entity], only: Iterable[str] | None = None
) -> None:
    """The title of each record without a name of its own (of ``only``, if given), as its
    page, search results and lists call it (``kb.model.titles``): kept among its names."""
    reader = _TitleReader(objects, entities)
    composer = titles.Titles(reader.name, reader.values)
    for iri in entities if only is None else only:
        entity = entities[iri]
        names = entity.names
        if names and min(names.values()) < _COMPOSED:  # most records: a name of their own
            continue
        entity.names[composer.title(iri)[:MAX_NAME_CHARS]] = _COMPOSED


class _TitleReader:
    """What ``titles.Titles`` reads, from a build's entities and their field values."""

    def __init__(self, objects: _Objects, entities: dict[str, _Entity]) -> None:
        self.objects = objects
        self.entities = entities
        self.choices = _choice_labels()
        self.getters = {
            (kind, key): objects.getter(kind, key)
            for kind, keys in titles.KEYS.items()
            for key in keys
        }

    def name(self, iri: str) -> str:
        """The own name of entity ``iri``; an option's label; else ''."""
        entity = self.entities.get(iri)
        if entity is None:
            return self.choices.get(iri, "")
        return _own_name(entity)

    def values(self, iri: str, kind: str, key: str) -> Sequence[titles.Value]:
        """The values of field ``key`` of the ``kind`` record ``iri``."""
        return self.getters[(kind, key)](iri) or ()


Listed = list[tuple[int, str, str, str, str, str, int, int | None]]


def _fill(db: sqlite3.Connection, rows: _Rows) -> None:
    """Insert ``rows`` into a new index."""
    db.executemany("INSERT INTO entity VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows.entity)
    db.executemany(
        "INSERT INTO term(rowid, text, entity, pos, kind_rank) VALUES (?, ?, ?, ?, ?)", rows.term
    )
    db.executemany("INSERT INTO names(rowid, name, entity) VALUES (?, ?, ?)", rows.names)
    # A row per facet value (~3k at 1M triples), its entities as one JSON array: binding
    # ~475k rows one by one cost ~7x SQLite's own work. In (kind, field, value) order, the
    # order of the index built on them afterwards, which is then cheaper to sort.
    db.executemany(
        "INSERT INTO facet SELECT ?, ?, ?, value FROM json_each(?)",
        ((*key, json.dumps(rows.facet[key])) for key in sorted(rows.facet)),
    )


Term = tuple[int, str, int, int, int]  # rowid (see _LAYOUT), text, entity, pos, kind_rank
Name = tuple[int, str, int]  # rowid, folded name, entity


@dataclass
class _Rows:
    """The rows of some entities, as the index holds them."""

    entity: Listed
    term: list[Term]
    names: list[Name]
    facet: dict[FacetKey, list[int]]  # the entities of each facet value


def _rows(
    entities: dict[str, _Entity],
    facets: FacetValues,
    numbers: Iterable[tuple[int, str]],
    groups: dict[FacetKey, list[int]],
) -> _Rows:
    """The rows of the entities ``numbers`` gives (number, IRI), with the facet values'
    entities ``groups`` (from ``_facet_rows``). (One pass, each name folded once: at 1M
    triples, the rows of ~80k entities and ~250k terms.)"""
    years_of = {kind: f.name for kind in schema.KINDS_BY_NAME if (f := year_facet(kind))}
    listed: Listed = []
    terms: list[Term] = []
    names: list[Name] = []
    for n, iri in numbers:
        e = entities[iri]
        kind, record_id = e.kind, e.id
        rank = KIND_RANK.get(kind, 99)
        own = fold(record_id)
        held = e.names
        if len(held) == 1 and len(e.own) == 1:  # most records: one name of their own
            (label,) = held
            key = fold(label)
            texts: Iterable[str] = (key, own) if key != own else (key,)
            owned = texts
        else:
            folded = {text: fold(text) for text in held}
            label = shown_name(e)
            key = folded.get(label, own)
            texts = dict.fromkeys((*folded.values(), own))
            owned = dict.fromkeys([*(folded.get(t) or fold(t) for t in e.own), own])
        year = None
        mine = facets.get(iri)
        years = mine.get(years_of.get(kind, "")) if mine else None
        if years and years[0][0].isdigit():
            year = int(years[0][0])
        listed.append((n, iri, kind, record_id, label, key, rank, year))
        base = n * _STRIDE
        seen: set[str] = set()
        for text in texts:
            for pos, term in enumerate(word_starts(text)):
                if term not in seen:
                    terms.append((base + len(seen), term, n, 1 if pos else 0, rank))
                    seen.add(term)
        names += [(base + j, text, n) for j, text in enumerate(owned)]
    return _Rows(listed, terms, names, groups)


def _facet_labels(db: sqlite3.Connection, labels: dict[FacetKey, str]) -> None:
    """(Re)write facet_label: each value's label (``labels``, else the one held) and count."""
    held = {
        (k, f, v): label
        for k, f, v, label in db.execute("SELECT kind, field, value, label FROM facet_label")
    }
    held.update(labels)
    counted = db.execute(
        "SELECT kind, field, value, count(*) FROM facet GROUP BY kind, field, value"
    ).fetchall()
    db.execute("DELETE FROM facet_label")
    db.executemany(
        "INSERT INTO facet_label VALUES (?, ?, ?, ?, ?)",
        ((k, f, v, held.get((k, f, v), v), n) for k, f, v, n in counted),
    )
