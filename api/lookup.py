"""Reading a build's search index (``kb.stores.search_index``): search, closest names, and
the rows and facets of a kind's list.

The file is opened read-only and immutable, one connection per index, its queries taken in
turn under a lock (each is a few milliseconds). Every query runs under a ``Deadline``: SQLite
calls back every few thousand steps and the query is interrupted once the deadline passed.

Search ranks, best first: a name equal to the query, a name starting with it, a word of a name
starting with it, the query inside a name (3 letters or more), names whose words start with
each word of the query, in any order ("iran russia" finds "drones from Iran to Russia"), then
close spellings
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
FACET_ALL_VALUES = 1_000  # values shown of the one facet a list is asked to show in full
FEW_ROWS = 5_000  # picked rows sorted outright, at most
MAX_TOTAL = 10_000  # matches of a search counted, at most
RARE_GRAM_DOCS = 2_000  # a trigram in more names is not used to find close spellings
_WORDS = re.compile(r"\w+")
_TOP = "\U0010ffff"  # sorts after every character: the end of a prefix's range
EXACT, PREFIX, WORD_PREFIX, SUBSTRING, CLOSE = 0, 1, 2, 3, 4


def _distinct_words(q: str) -> list[str]:
    """The words of ``q`` (folded already), each once, in order."""
    return list(dict.fromkeys(_WORDS.findall(q)))


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
    """What a list shows: a kind's records matching ``q`` and every (facet, value) filter;
    ``all_values``: the facet whose values are all shown (up to FACET_ALL_VALUES), if any."""

    kind: str
    q: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    sort: Sort = Sort()
    all_values: str = ""


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
            rows = db.execute("SELECT kind, n FROM kinds ORDER BY rank, kind").fetchall()
        return [(str(k), int(n)) for k, n in rows]

    # --- search ---------------------------------------------------------------------------

    def search(
        self, text: str, limit: int, deadline: Deadline, kind: str | None = None
    ) -> tuple[list[Entry], int]:
        """The best ``limit`` matches of ``text`` (ranked) and how many matched (counted up
        to MAX_TOTAL: a two-letter prefix can match most of a large knowledge base)."""
        q = fold(text[:MAX_QUERY_CHARS])
        if not q:
            return [], 0
        hi = q + _TOP
        found: dict[int, None] = {}  # entity numbers, best first
        with self._reading(deadline) as db:
            ranks = [r for (r,) in db.execute("SELECT rank FROM kinds ORDER BY rank")]
            if kind is not None:
                ranks = [r for (r,) in db.execute("SELECT rank FROM kinds WHERE kind = ?", (kind,))]
            # a whole name, then names starting with it, then words starting with it: each
            # read in the order of the index (pos, kind, name), only as far as needed
            stages = [
                ("SELECT entity FROM term WHERE pos = 0 AND kind_rank = :k AND text = :q", {}),
                (
                    """SELECT entity FROM term WHERE pos = :pos AND kind_rank = :k
                       AND text >= :q AND text < :hi ORDER BY text LIMIT :n""",
                    {"pos": 0},
                ),
                (
                    """SELECT entity FROM term WHERE pos = :pos AND kind_rank = :k
                       AND text >= :q AND text < :hi ORDER BY text LIMIT :n""",
                    {"pos": 1},
                ),
            ]
            for sql, extra in stages:
                for rank in ranks:
                    if len(found) >= limit:
                        break
                    params = {"q": q, "hi": hi, "k": rank, "n": limit, **extra}
                    for (n,) in db.execute(sql, params):
                        found.setdefault(n)
            total = db.execute(
                """SELECT count(DISTINCT t.entity) FROM (SELECT entity FROM term
                   WHERE text >= :q AND text < :hi LIMIT :cap) t"""
                + (" JOIN entity e ON e.n = t.entity AND e.kind = :kind" if kind else ""),
                {"q": q, "hi": hi, "cap": MAX_TOTAL, "kind": kind},
            ).fetchone()[0]
            if len(found) < limit and len(q) >= 3:  # the query inside a name
                inside = db.execute(
                    "SELECT entity FROM names WHERE names MATCH :phrase LIMIT :cap",
                    {"phrase": _phrase(q), "cap": MAX_TOTAL},
                ).fetchall()
                extra_hits = [n for (n,) in inside if n not in found]
                for n in self._ordered(db, extra_hits, kind):
                    total += 1
                    if len(found) < limit:
                        found.setdefault(n)
            words = _distinct_words(q)
            if len(words) > 1 and len(found) < limit:  # each word, anywhere in the names
                every = [n for n in self._all_words(db, words) if n not in found]
                for n in self._ordered(db, every, kind):
                    total += 1
                    if len(found) < limit:
                        found.setdefault(n)
            hits = self._entries(db, list(found)[:limit], kind)
        if len(hits) < limit and len(q) >= 3:
            seen = {h.iri for h in hits}
            for entry in self._close(q, deadline, kind):
                if entry.iri not in seen and len(hits) < limit:
                    seen.add(entry.iri)
                    hits.append(entry)
                    total += 1
        return hits, min(total, MAX_TOTAL)

    @staticmethod
    def _all_words(db: sqlite3.Connection, words: list[str]) -> list[int]:
        """Entities with, for each of ``words`` (folded), a word of a name starting with it.

        The longest word's entities are read first (at most MAX_TOTAL: none if it has more),
        then narrowed by each other word in turn."""
        first, *rest = sorted(words, key=len, reverse=True)
        rows = db.execute(
            "SELECT DISTINCT entity FROM term WHERE text >= :q AND text < :hi LIMIT :cap",
            {"q": first, "hi": first + _TOP, "cap": MAX_TOTAL + 1},
        ).fetchall()
        if len(rows) > MAX_TOTAL:
            return []
        found = [n for (n,) in rows]
        for word in rest:
            if not found:
                break
            marks = ", ".join("?" * len(found))
            found = [
                n
                for (n,) in db.execute(
                    f"""SELECT DISTINCT entity FROM term WHERE text >= ? AND text < ?
                        AND entity IN ({marks})""",
                    [word, word + _TOP, *found],
                )
            ]
        return found

    @staticmethod
    def _ordered(db: sqlite3.Connection, numbers: list[int], kind: str | None) -> list[int]:
        """``numbers`` (entities) of ``kind`` (any if None), by kind then label."""
        if not numbers:
            return []
        marks = ", ".join("?" * len(numbers))
        only = " AND kind = ?" if kind else ""
        rows = db.execute(
            f"SELECT n FROM entity WHERE n IN ({marks}){only} ORDER BY kind_rank, sort_key",
            [*numbers, *([kind] if kind else [])],
        ).fetchall()
        return [n for (n,) in rows]

    @staticmethod
    def _entries(db: sqlite3.Connection, numbers: list[int], kind: str | None) -> list[Entry]:
        """The entries of entities ``numbers``, in that order (only of ``kind`` if given)."""
        if not numbers:
            return []
        marks = ", ".join("?" * len(numbers))
        rows = db.execute(
            f"SELECT n, iri, kind, id, label, year FROM entity WHERE n IN ({marks})", numbers
        ).fetchall()
        by_n = {row[0]: _entry(row[1:]) for row in rows}
        return [by_n[n] for n in numbers if n in by_n and (kind is None or by_n[n].kind == kind)]

    def _close(self, q: str, deadline: Deadline, kind: str | None = None) -> list[Entry]:
        """Entities with a name spelt close to ``q`` (folded), closest first."""
        grams = sorted({q[i : i + 3] for i in range(len(q) - 2)})
        with self._reading(deadline) as db:
            marks = ", ".join("?" * len(grams))
            counted = db.execute(
                f"SELECT gram, docs FROM gram WHERE gram IN ({marks}) ORDER BY docs", grams
            ).fetchall()
            # the rarer trigrams only: a misspelling keeps some of them, and a common one
            # (in "transfer", say) would make SQLite score most names
            rare = [g for g, docs in counted if docs <= RARE_GRAM_DOCS] or [
                g for g, _ in counted[:2]
            ]
            if not rare:
                return []
            match = " OR ".join(_phrase(g) for g in rare)
            rows = db.execute(
                """SELECT c.name, e.iri, e.kind, e.id, e.label, e.year, e.kind_rank
                    FROM (SELECT name, entity FROM names WHERE names MATCH :match
                          ORDER BY rank LIMIT :n) c
                    JOIN entity e ON e.n = c.entity""",
                {"match": match, "n": FUZZY_CANDIDATES},
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
            if kind is not None and entry.kind != kind:
                continue
            if best >= FUZZY_RATIO and best > scored.get(entry.iri, (0.0,))[0]:
                scored[entry.iri] = (best, rank, entry.label, entry)
        ordered = sorted(scored.values(), key=lambda s: (-s[0], s[1], s[2]))
        return [s[3] for s in ordered]

    def closest(self, text: str, limit: int, deadline: Deadline) -> list[Entry]:
        """Entities whose names or ids are closest to ``text`` (a mistyped name or id)."""
        hits, _ = self.search(text, limit, deadline)
        return hits

    # --- lists ----------------------------------------------------------------------------

    def list_page(
        self,
        query: ListQuery,
        limit: int,
        deadline: Deadline,
        offset: int = 0,
        after: str | None = None,
    ) -> ListResult | None:
        """One page of a list: at most ``limit`` rows from ``offset``, or after the row whose
        id is ``after`` (a keyset cursor, stable as rows come and go), with the count and
        facets of the whole list; None if ``after`` is no row of the kind.

        The rows the filters pick are put in a temporary table once; the count, the page
        and each facet's counts are read from it (an unfiltered list reads the counts the
        build stored)."""
        with self._reading(deadline) as db:
            picked = self._pick(db, query)
            if picked:
                total = db.execute("SELECT count(*) FROM temp.picked").fetchone()[0]
            else:
                found = db.execute("SELECT n FROM kinds WHERE kind = ?", (query.kind,)).fetchone()
                total = found[0] if found else 0
            few = total <= FEW_ROWS
            rows = self._page(db, query, picked, limit + 1, offset, after, few)
            if rows is None:
                return None
            facets = self._facets(db, query.kind, picked, query.all_values)
            values = self._values(db, rows[:limit])
            labels = {
                (name, value): self._label(db, query.kind, name, value)
                for name, value in query.filters
            }
        return ListResult(rows[:limit], len(rows) > limit, total, facets, values, labels)

    def _pick(self, db: sqlite3.Connection, query: ListQuery) -> bool:
        """Fill temp.picked with the rows the list's filters pick; False if there are none."""
        parts: list[str] = []
        params: dict[str, object] = {"kind": query.kind}
        for n, (name, value) in enumerate(query.filters):
            parts.append(
                f"SELECT entity FROM facet WHERE kind = :kind AND field = :f{n} AND value = :v{n}"
            )
            params[f"f{n}"], params[f"v{n}"] = name, value
        q = fold(query.q[:MAX_QUERY_CHARS])
        if q:
            found = "SELECT entity FROM term WHERE text >= :q AND text < :hi"
            if len(q) >= 3:
                found += " UNION SELECT entity FROM names WHERE names MATCH :phrase"
                params["phrase"] = _phrase(q)
            params.update(q=q, hi=q + _TOP)
            parts.append(found)
            if not query.filters:
                parts.append("SELECT n FROM entity WHERE kind = :kind")
        if not parts:
            return False
        db.execute("CREATE TEMP TABLE IF NOT EXISTS picked(n INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM temp.picked")
        db.execute("INSERT INTO temp.picked " + " INTERSECT ".join(parts), params)
        words = _distinct_words(q)
        if len(words) > 1 and not db.execute("SELECT 1 FROM temp.picked LIMIT 1").fetchone():
            # Nothing holds the words as typed: the rows whose names hold each of them, in any
            # order, as search finds them ("iran russia"). Only then: reading each word's
            # range of the index costs ~30-40 ms at ~1M triples ("transfer 12" has 77k rows).
            each = " INTERSECT ".join(
                f"SELECT entity FROM term WHERE text >= :w{n} AND text < :wh{n}"
                for n in range(len(words))
            )
            parts[len(query.filters)] = each  # in place of the text as typed
            for n, word in enumerate(words):
                params[f"w{n}"], params[f"wh{n}"] = word, word + _TOP
            db.execute("INSERT INTO temp.picked " + " INTERSECT ".join(parts), params)
        return True

    @staticmethod
    def _page(
        db: sqlite3.Connection,
        query: ListQuery,
        picked: bool,
        limit: int,
        offset: int,
        after: str | None,
        few: bool = False,
    ) -> list[Entry] | None:
        """The rows of a page; ``few``: the picked rows are few enough to sort outright
        (else the kind's rows are read in the index's order, each looked up in them)."""
        column = _SORT_SQL[query.sort.column][1 if query.sort.desc else 0]
        direction = "DESC" if query.sort.desc else "ASC"
        where = "e.kind = :kind" + (" AND e.n IN temp.picked" if picked else "")
        source = "entity e"
        if picked and few:  # read the picked rows, then sort them
            source = "temp.picked p CROSS JOIN entity e ON e.n = p.n"
        params: dict[str, object] = {"kind": query.kind, "limit": limit, "offset": offset}
        if after is not None:
            key = db.execute(
                f"SELECT {column}, e.id FROM entity e WHERE e.kind = :kind AND e.id = :after",
                {"kind": query.kind, "after": after},
            ).fetchone()
            if key is None:
                return None
            sign = "<" if query.sort.desc else ">"
            where += f" AND ({column}, e.id) {sign} (:after_key, :after_id)"
            params.update(after_key=key[0], after_id=key[1], offset=0)
        found = db.execute(
            f"""SELECT e.iri, e.kind, e.id, e.label, e.year FROM {source} WHERE {where}
                ORDER BY {column} {direction}, e.id {direction} LIMIT :limit OFFSET :offset""",
            params,
        ).fetchall()
        return [_entry(row) for row in found]

    @staticmethod
    def _facets(
        db: sqlite3.Connection, kind: str, picked: bool, all_values: str = ""
    ) -> list[FacetCounts]:
        out = []
        for facet in FACETS.get(kind, ()):
            shown = FACET_ALL_VALUES if facet.name == all_values else FACET_VALUES
            params = {"kind": kind, "field": facet.name, "n": shown}
            if not picked:
                rows = db.execute(
                    """SELECT value, label, n FROM facet_label WHERE kind = :kind
                       AND field = :field ORDER BY n DESC, label LIMIT :n""",
                    params,
                ).fetchall()
                distinct = db.execute(
                    "SELECT count(*) FROM facet_label WHERE kind = :kind AND field = :field",
                    params,
                ).fetchone()[0]
            else:  # from the picked rows (CROSS JOIN: read them first, then their values)
                counted = db.execute(
                    """SELECT f.value, count(*) AS c FROM temp.picked p
                       CROSS JOIN facet f ON f.entity = p.n AND f.field = :field
                       GROUP BY f.value ORDER BY c DESC""",
                    params,
                ).fetchall()
                distinct = len(counted)
                rows = [(v, SearchIndex._label(db, kind, facet.name, v), c) for v, c in counted]
                rows.sort(key=lambda r: (-r[2], r[1]))
                rows = rows[:shown]
            values = [FacetValue(v, label, n) for v, label, n in rows]
            out.append(FacetCounts(facet, values, distinct))
        return out

    @staticmethod
    def _label(db: sqlite3.Connection, kind: str, name: str, value: str) -> str:
        row = db.execute(
            "SELECT label FROM facet_label WHERE kind = ? AND field = ? AND value = ?",
            (kind, name, value),
        ).fetchone()
        return value if row is None else str(row[0])

    @staticmethod
    def _values(
        db: sqlite3.Connection, entries: list[Entry]
    ) -> dict[str, dict[str, list[FacetValue]]]:
        """The facet values of each of ``entries`` (by IRI, then facet name)."""
        out: dict[str, dict[str, list[FacetValue]]] = {e.iri: {} for e in entries}
        if not entries:
            return out
        marks = ", ".join("?" * len(entries))
        for iri, name, value, label in db.execute(
            f"""SELECT e.iri, f.field, f.value, l.label FROM entity e
                CROSS JOIN facet f ON f.entity = e.n
                JOIN facet_label l ON l.kind = f.kind AND l.field = f.field AND l.value = f.value
                WHERE e.kind = ? AND e.id IN ({marks}) ORDER BY l.label""",
            [entries[0].kind, *(e.id for e in entries)],
        ):
            out[iri].setdefault(name, []).append(FacetValue(value, label, 1))
        return out


@dataclass(frozen=True)
class ListResult:
    """One page of a list: its rows, whether more follow, how many rows the list has in all,
    the facets' counts, each row's facet values, and the label of each filter's value."""

    rows: list[Entry]
    more: bool
    total: int
    facets: list[FacetCounts]
    values: dict[str, dict[str, list[FacetValue]]]
    labels: dict[tuple[str, str], str]


def _phrase(text: str) -> str:
    """``text`` as one FTS5 phrase (a substring, with the trigram tokenizer).

    A NUL would end FTS5's reading of the query mid-string ('unterminated string'): no name
    holds one, so it is dropped."""
    return '"' + text.replace("\x00", "").replace('"', '""') + '"'


def _entry(row: tuple[object, ...]) -> Entry:
    iri, kind, record_id, label, year = row[:5]
    return Entry(
        str(iri), str(kind), str(record_id), str(label), year if isinstance(year, int) else None
    )
