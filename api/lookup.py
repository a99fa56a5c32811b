"""Reading a build's search index (``kb.stores.search_index``): search, closest names, and
the rows and facets of a kind's list.

The file is opened read-only and immutable, one connection per index, its queries taken in
turn under a lock (each is a few milliseconds). Every query runs under a ``Deadline``: SQLite
calls back every few thousand steps and the query is interrupted once the deadline passed.

Search ranks, best first: a name equal to the query, a name starting with it, a word of a name
starting with it, the query inside a name (3 letters or more), then close spellings
("Shahid 136" finds Shahed 136): names sharing trigrams with the query, kept when
difflib's ratio to the query (or to the name's start of the same length) is 0.7 or more.
Within a rank: by kind (states and disputes first, sources last), then by label.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.pagework import Deadline, PageTimeout
from kb.model import schema
from kb.stores.search_index import FACETS, FORMAT, Facet, fold, year_facet

MAX_QUERY_CHARS = 200  # characters of a query that are looked at
FUZZY_CANDIDATES = 200  # names sharing trigrams with a query that are scored
FUZZY_RATIO = 0.7
FACET_VALUES = 12  # values shown per facet
_WORDS = re.compile(r"\w+")
_TOP = "\U0010ffff"  # sorts after every character: the end of a prefix's range
EXACT, PREFIX, WORD_PREFIX, SUBSTRING, CLOSE = 0, 1, 2, 3, 4


def kind_label(kind: str) -> str:
    """How a kind is named to people ("territorial dispute")."""
    found = schema.KINDS_BY_NAME.get(kind)
    return found.label if found is not None else kind


@dataclass(frozen=True)
class Entry:
    """One entity found: its IRI, kind, id and the label to show."""

    iri: str
    kind: str
    id: str
    label: str
    year: int | None = None

    @property
    def url(self) -> str:
        """Where this server shows the entity."""
        return "/id/" + self.iri[len(schema.ID_BASE) :]

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)

    def json(self, base: str = "") -> dict[str, str]:
        """The entry as /search.json and the lists' JSON give it."""
        return {
            "label": self.label,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "id": self.id,
            "iri": self.iri,
            "url": base + self.url,
        }


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet with how many of the listed rows have it."""

    value: str
    label: str
    count: int


@dataclass(frozen=True)
class FacetCounts:
    """A facet of a list: its values with counts (the most frequent first)."""

    facet: Facet
    values: list[FacetValue]
    distinct: int  # how many values in all


@dataclass(frozen=True)
class Sort:
    """A list's order: by ``column`` (label, id, year), descending if ``desc``."""

    column: str = "label"
    desc: bool = False


# The SQL of each sort column; year sorts undated rows last either way.
_SORT_SQL = {
    "label": ("e.sort_key", "e.sort_key"),
    "id": ("e.id", "e.id"),
    "year": ("coalesce(e.year, 100000)", "coalesce(e.year, -100000)"),
}


def sort_columns(kind: str) -> list[str]:
    """The columns a list of ``kind`` can be sorted by."""
    return ["label", "id", *(["year"] if year_facet(kind) else [])]


@dataclass(frozen=True)
class ListQuery:
    """What a list shows: a kind's records matching ``q`` and every (facet, value) filter."""

    kind: str
    q: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    sort: Sort = Sort()


class SearchIndex:
    """A build's search index, opened read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"file:{path}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        found = self._db.execute("PRAGMA user_version").fetchone()[0]
        if found != FORMAT:
            self._db.close()
            raise ValueError(f"{path} is a search index of format {found}, not {FORMAT}")

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    @contextmanager
    def _reading(self, deadline: Deadline) -> Iterator[sqlite3.Connection]:
        """The connection, held alone, interrupted once ``deadline`` passed."""
        end = deadline.end
        with self._lock:
            deadline.check()
            self._db.set_progress_handler(lambda: int(time.monotonic() > end), 10_000)
            try:
                yield self._db
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise PageTimeout(
                        f"the search took longer than the server's limit of {deadline.seconds:g} s"
                    ) from None
                raise
            finally:
                self._db.set_progress_handler(None, 0)

    # --- the kinds ------------------------------------------------------------------------

    def kinds(self, deadline: Deadline) -> list[tuple[str, int]]:
        """Each kind with how many entities it has, in the order results show kinds."""
        with self._reading(deadline) as db:
            rows = db.execute(
                "SELECT kind, count(*) FROM entity GROUP BY kind ORDER BY min(kind_rank), kind"
            ).fetchall()
        return [(str(k), int(n)) for k, n in rows]

    # --- search ---------------------------------------------------------------------------

    def search(
        self, text: str, limit: int, deadline: Deadline, kind: str | None = None
    ) -> tuple[list[Entry], int]:
        """The best ``limit`` matches of ``text`` (ranked) and how many matched in all."""
        q = fold(text[:MAX_QUERY_CHARS])
        if not q:
            return [], 0
        only = " AND e.kind = :kind" if kind else ""
        params = {"q": q, "hi": q + _TOP, "kind": kind, "limit": limit}
        with self._reading(deadline) as db:
            ranked = db.execute(
                f"""SELECT e.iri, e.kind, e.id, e.label, e.year, min(CASE
                        WHEN t.pos = 0 AND t.text = :q THEN {EXACT}
                        WHEN t.pos = 0 THEN {PREFIX} ELSE {WORD_PREFIX} END) AS r
                    FROM term t JOIN entity e ON e.n = t.entity
                    WHERE t.text >= :q AND t.text < :hi{only}
                    GROUP BY t.entity ORDER BY r, e.kind_rank, e.sort_key, e.iri LIMIT :limit""",
                params,
            ).fetchall()
            total = db.execute(
                f"""SELECT count(DISTINCT t.entity) FROM term t JOIN entity e ON e.n = t.entity
                    WHERE t.text >= :q AND t.text < :hi{only}""",
                params,
            ).fetchone()[0]
            hits = [_entry(row) for row in ranked]
            seen = {h.iri for h in hits}
            if len(q) >= 3:
                inside = db.execute(
                    f"""SELECT DISTINCT e.iri, e.kind, e.id, e.label, e.year FROM names
                        JOIN entity e ON e.n = names.entity
                        WHERE names MATCH :phrase{only}
                        ORDER BY e.kind_rank, e.sort_key LIMIT :more""",
                    {**params, "phrase": _phrase(q), "more": limit + len(seen)},
                ).fetchall()
                for row in inside:
                    entry = _entry(row)
                    if entry.iri not in seen:
                        total += 1
                        seen.add(entry.iri)
                        if len(hits) < limit:
                            hits.append(entry)
        if len(hits) < limit and len(q) >= 3:
            for entry in self._close(q, deadline, kind):
                if entry.iri not in seen and len(hits) < limit:
                    seen.add(entry.iri)
                    hits.append(entry)
                    total += 1
        return hits, total

    def _close(self, q: str, deadline: Deadline, kind: str | None = None) -> list[Entry]:
        """Entities with a name spelt close to ``q`` (folded), closest first."""
        grams = sorted({q[i : i + 3] for i in range(len(q) - 2)})
        if not grams:
            return []
        match = " OR ".join(_phrase(g) for g in grams)
        only = " AND e.kind = :kind" if kind else ""
        with self._reading(deadline) as db:
            rows = db.execute(
                f"""SELECT c.name, e.iri, e.kind, e.id, e.label, e.year, e.kind_rank
                    FROM (SELECT name, entity FROM names WHERE names MATCH :match
                          ORDER BY rank LIMIT :n) c
                    JOIN entity e ON e.n = c.entity WHERE 1{only}""",
                {"match": match, "n": FUZZY_CANDIDATES, "kind": kind},
            ).fetchall()
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(q)
        scored: dict[str, tuple[float, int, str, Entry]] = {}
        for name, *row, rank in rows:
            best = 0.0
            for candidate in (name, name[: len(q)]):
                matcher.set_seq1(candidate)
                best = max(best, matcher.ratio())
            entry = _entry(tuple(row))
            if best >= FUZZY_RATIO and best > scored.get(entry.iri, (0.0,))[0]:
                scored[entry.iri] = (best, rank, entry.label, entry)
        ordered = sorted(scored.values(), key=lambda s: (-s[0], s[1], s[2]))
        return [s[3] for s in ordered]

    def closest(self, text: str, limit: int, deadline: Deadline) -> list[Entry]:
        """Entities whose names or ids are closest to ``text`` (a mistyped name or id)."""
        hits, _ = self.search(text, limit, deadline)
        return hits

    # --- lists ----------------------------------------------------------------------------

    def _where(self, query: ListQuery) -> tuple[str, dict[str, object]]:
        """The SQL condition on ``e`` (an entity) of a list, and its parameters."""
        clauses = ["e.kind = :kind"]
        params: dict[str, object] = {"kind": query.kind}
        for n, (name, value) in enumerate(query.filters):
            clauses.append(
                f"""e.n IN (SELECT entity FROM facet WHERE kind = :kind
                    AND field = :f{n} AND value = :v{n})"""
            )
            params[f"f{n}"] = name
            params[f"v{n}"] = value
        q = fold(query.q[:MAX_QUERY_CHARS])
        if q:
            found = "SELECT entity FROM term WHERE text >= :q AND text < :hi"
            if len(q) >= 3:
                found += " UNION SELECT entity FROM names WHERE names MATCH :phrase"
                params["phrase"] = _phrase(q)
            clauses.append(f"e.n IN ({found})")
            params.update(q=q, hi=q + _TOP)
        return " AND ".join(clauses), params

    def count(self, query: ListQuery, deadline: Deadline) -> int:
        """How many rows the list has."""
        where, params = self._where(query)
        with self._reading(deadline) as db:
            found: int = db.execute(
                f"SELECT count(*) FROM entity e WHERE {where}", params
            ).fetchone()[0]
        return found

    def rows(
        self,
        query: ListQuery,
        limit: int,
        deadline: Deadline,
        offset: int = 0,
        after: str | None = None,
    ) -> list[Entry] | None:
        """At most ``limit`` rows of the list, from ``offset`` or after the row whose id is
        ``after`` (a keyset cursor, stable as rows come and go); None if ``after`` is no
        row of the kind."""
        where, params = self._where(query)
        column = _SORT_SQL[query.sort.column][1 if query.sort.desc else 0]
        direction = "DESC" if query.sort.desc else "ASC"
        order = f"{column} {direction}, e.id {direction}"
        with self._reading(deadline) as db:
            if after is not None:
                key = db.execute(
                    f"SELECT {column}, e.id FROM entity e WHERE e.kind = :kind AND e.id = :after",
                    {"kind": query.kind, "after": after},
                ).fetchone()
                if key is None:
                    return None
                sign = "<" if query.sort.desc else ">"
                where += f" AND ({column}, e.id) {sign} (:after_key, :after_id)"
                params.update(after_key=key[0], after_id=key[1])
                offset = 0
            found = db.execute(
                f"""SELECT e.iri, e.kind, e.id, e.label, e.year FROM entity e WHERE {where}
                    ORDER BY {order} LIMIT :limit OFFSET :offset""",
                {**params, "limit": limit, "offset": offset},
            ).fetchall()
        return [_entry(row) for row in found]

    def values_of(
        self, entries: list[Entry], deadline: Deadline
    ) -> dict[str, dict[str, list[FacetValue]]]:
        """The facet values of each of ``entries`` (by IRI, then facet name)."""
        if not entries:
            return {}
        iris = [e.iri for e in entries]
        marks = ", ".join("?" * len(iris))
        out: dict[str, dict[str, list[FacetValue]]] = {iri: {} for iri in iris}
        with self._reading(deadline) as db:
            for iri, name, value, label in db.execute(
                f"""SELECT e.iri, f.field, f.value, f.label FROM entity e
                    JOIN facet f ON f.entity = e.n WHERE e.iri IN ({marks})
                    ORDER BY f.label""",
                iris,
            ):
                out[iri].setdefault(name, []).append(FacetValue(value, label, 1))
        return out

    def facets(self, query: ListQuery, deadline: Deadline) -> list[FacetCounts]:
        """The facets of the list's kind, counted over the rows the list has."""
        where, params = self._where(query)
        filtered = where != "e.kind = :kind"
        within = f" AND entity IN (SELECT e.n FROM entity e WHERE {where})" if filtered else ""
        out = []
        with self._reading(deadline) as db:
            for facet in FACETS.get(query.kind, ()):
                rows = db.execute(
                    f"""SELECT value, max(label), count(*) AS n FROM facet
                        WHERE kind = :kind AND field = :field{within}
                        GROUP BY value ORDER BY n DESC, max(label)""",
                    {**params, "field": facet.name},
                ).fetchall()
                values = [FacetValue(v, label, n) for v, label, n in rows[:FACET_VALUES]]
                out.append(FacetCounts(facet, values, len(rows)))
        return out

    def has_value(self, kind: str, name: str, value: str, deadline: Deadline) -> str | None:
        """The label of facet ``name``'s ``value`` in ``kind`` (None if no row has it)."""
        with self._reading(deadline) as db:
            row = db.execute(
                "SELECT label FROM facet WHERE kind = ? AND field = ? AND value = ? LIMIT 1",
                (kind, name, value),
            ).fetchone()
        return None if row is None else str(row[0])


def _phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (a substring, with the trigram tokenizer)."""
    return '"' + text.replace('"', '""') + '"'


def _entry(row: tuple[object, ...]) -> Entry:
    iri, kind, record_id, label, year = row[:5]
    return Entry(
        str(iri), str(kind), str(record_id), str(label), year if isinstance(year, int) else None
    )
