"""What to call a record that has no name of its own: a title composed from its fields, e.g.
'Iran → Russia: Shahed-131, Shahed-136 (arms transfer)', 'Iran administers Abu Musa since
1992', 'Nigeria administered Bakassi Peninsula until 2006-08-14'.

The one implementation of a record's title: the entity pages (``api.views.Titles``), ``POST
/names`` and the search index a build writes (``kb.stores.search_index``: search results and
the kinds' lists) all call ``Titles.title``, so a record is called the same everywhere. How a
node's own name and a record's field values are read is the caller's: a page reads the
store, the index the triples of a build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

from kb.model import schema

Value = tuple[str, bool]  # a field's value: an IRI or a literal's lexical form; whether an IRI
Name = Callable[[str], str]  # a node's own name (label, title), by IRI; '' if it has none
Values = Callable[[str, str, str], Sequence[Value]]  # (IRI, kind, field key) -> its values

MAX_LISTED = 4  # values listed in a title (weapon systems, parties), then '…'

LABEL, TITLE = str(schema.LABEL.iri), str(schema.TITLE.iri)
#: How a node's labels and titles rank as what to call it, lowest first, by (predicate,
#: language): an English label, a label without a language, a title in English or none ...
NAME_RANKS = {(LABEL, "en"): 0, (LABEL, ""): 1, (TITLE, "en"): 2, (TITLE, ""): 2}
OTHER_LANGUAGE = {LABEL: 3, TITLE: 4}  # ... then a label in another language, then a title
UNNAMED = 5  # the ranks from here on are not names of a node's own (a composed title ...)
MAX_DEPTH = 2  # steps from a record into what it refers to, composing their titles too

#: The fields each kind's composed title reads (``compose`` asks for no others; a claim that
#: names no territories reads its dispute's).
KEYS: dict[str, tuple[str, ...]] = {
    "transfer": ("supplier", "recipient", "weapon_systems"),
    "administration": ("administered_by", "territory", "start_date", "end_date"),
    "claim": ("claimant", "territories", "dispute", "end_date"),
    "dispute": ("territories", "claimants"),
    "event": ("actors", "event_type", "targets", "date"),
    "cooperation": ("cooperation_type", "providers", "beneficiaries", "participants"),
    "use": ("user", "weapon_systems", "targets", "start_date", "end_date"),
    "assertion": ("asserted_by", "stance", "about"),
}


def name_rank(predicate: str, language: str) -> int:
    """The rank of a ``predicate`` (rdfs:label or dcterms:title) literal in ``language`` ('':
    none) as what to call the node it names (``NAME_RANKS``)."""
    return NAME_RANKS.get((predicate, language), OTHER_LANGUAGE[predicate])


def best_name(names: Iterable[tuple[str, str, str]]) -> str:
    """What to call a node by its own (predicate, text, language) labels and titles: the
    best-ranked (then the first in text order); '' if none."""
    ranked = [(name_rank(predicate, language), text) for predicate, text, language in names]
    return min(ranked)[1] if ranked else ""


def compose(kind: str, names: Callable[[str], str]) -> str:
    """A title for a record of ``kind`` from its fields' values (``names(key)``: the names
    of field ``key``'s values, listed), or '' if the fields it needs are empty."""
    if kind == "transfer":
        supplier, recipient = names("supplier"), names("recipient")
        if supplier and recipient:
            weapons = names("weapon_systems")
            listed = f": {weapons}" if weapons else ""
            return f"{supplier} → {recipient}{listed} (arms transfer)"
    elif kind == "administration":
        who, where = names("administered_by"), names("territory")
        if who and where:
            since, until = names("start_date"), names("end_date")
            if until:
                period = f" from {since} to {until}" if since else f" until {until}"
                return f"{who} administered {where}{period}"
            return f"{who} administers {where}" + (f" since {since}" if since else "")
    elif kind == "claim":
        who, what = names("claimant"), names("territories") or names("dispute")
        if who and what:
            until = names("end_date")
            if until:
                return f"{who} claimed {what} until {until}"
            return f"{who} claims {what}"
    elif kind == "dispute":
        where = names("territories")
        if where:
            who = names("claimants")
            return f"Dispute over {where}" + (f" ({who})" if who else "")
    elif kind == "event":
        who, what = names("actors"), names("event_type")
        if who and what:
            whom, when = names("targets"), names("date")
            return f"{who}: {what}" + (f" → {whom}" if whom else "") + (f", {when}" if when else "")
    elif kind == "cooperation":
        what = names("cooperation_type")
        givers, takers = names("providers"), names("beneficiaries")
        parties = f"{givers} → {takers}" if givers and takers else names("participants")
        parties = parties or givers or takers
        if parties and what:
            return f"{parties}: {what} (military cooperation)"
    elif kind == "use":
        who, weapons = names("user"), names("weapon_systems")
        if who and weapons:
            whom, since, until = names("targets"), names("start_date"), names("end_date")
            return (
                f"{who} uses {weapons}"
                + (f" against {whom}" if whom else "")
                + (f" since {since}" if since and not until else "")
            )
    elif kind == "assertion":
        what = names("about")
        if what:
            said = " ".join(x for x in (names("asserted_by"), names("stance")) if x)
            return f"{said}: {what}" if said else what
    return ""


class Titles:
    """What to call each node, given how to read its own ``name`` and a record's field
    ``values``; each title computed once."""

    def __init__(self, name: Name, values: Values) -> None:
        self._name = name
        self._values = values
        self._titles: list[dict[str, str]] = [{} for _ in range(MAX_DEPTH + 1)]  # by depth

    def title(self, iri: str, depth: int = 0) -> str:
        """What to call ``iri``: its own name; for a record without one, a title composed
        from its fields (the records it refers to called by theirs, up to MAX_DEPTH steps
        away), else its kind and id; a fragment of a record's IRI (a citation node) is
        'citation 1 of' the record; any other IRI is itself.

        ``depth``: the steps from the record being titled (its values are titled at
        ``depth + 1``): past MAX_DEPTH, a record without a name goes by its kind and id."""
        depth = min(depth, MAX_DEPTH)
        held = self._titles[depth]
        found = held.get(iri)
        if found is None:
            found = held[iri] = self._name(iri) or self._untitled(iri, depth)
        return found

    def _untitled(self, iri: str, depth: int) -> str:
        if "#" in iri:
            base, _, fragment = iri.partition("#")
            if base.startswith(schema.ID_BASE) and depth < MAX_DEPTH:
                return f"{fragment.replace('-', ' ')} of {self.title(base, depth + 1)}"
        found = schema.kind_of_iri(iri)
        if found is None:
            return iri
        kind, record_id = found
        if depth < MAX_DEPTH and kind.is_fact:
            composed = compose(kind.name, partial(self._listed, iri, kind.name, depth))
            if composed:
                return composed
        return f"{kind.label} {record_id}"

    def _listed(self, iri: str, kind: str, depth: int, key: str) -> str:
        """The names of field ``key``'s values of record ``iri``, sorted, at most MAX_LISTED."""
        values = self._values(iri, kind, key)
        if not values and kind == "claim" and key == "territories":
            # a claim to the whole dispute: the dispute's territories
            values = [
                place
                for dispute, is_iri in self._values(iri, kind, "dispute")
                if is_iri
                for place in self._values(dispute, "dispute", "territories")
            ]
        if not values:
            return ""
        if len(values) == 1:  # most fields
            value, is_iri = values[0]
            return self.title(value, depth + 1) if is_iri else value
        listed = sorted({self.title(v, depth + 1) if is_iri else v for v, is_iri in values})
        if len(listed) > MAX_LISTED:
            listed = [*listed[:MAX_LISTED], "…"]
        return ", ".join(listed)
